"""gitops_sdk: a typed Python SDK and Pulumi components for FluxCD GitOps.

Models (pure data, validated on construction) live in one module per Flux API group:
`source`, `kustomize`, `helm`, `image`, `notification`. Pulumi registration is in
`resources` and `components`; layers and stack config in `layers` and `config`.
"""

from gitops_sdk import _compat
from gitops_sdk.api import helm, image, kustomize, notification, source
from gitops_sdk.api.helm import HelmRelease
from gitops_sdk.api.image import ImagePolicy, ImageRepository, ImageUpdateAutomation, TagPolicy
from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.api.notification import Alert, Provider, Receiver
from gitops_sdk.api.source import (
    Bucket,
    ExternalArtifact,
    GitRepository,
    HelmChart,
    HelmRepository,
    OCIRepository,
)
from gitops_sdk.components.flux_install import (
    ControllerTuning,
    FluxInstall,
    FluxInstallArgs,
    Scheduling,
)
from gitops_sdk.components.git_source import GitSource, Layers
from gitops_sdk.components.resource import FluxResource, register, register_all
from gitops_sdk.components.secrets import (
    AgeKeySecret,
    DecryptionError,
    NotEncryptedError,
    SopsSecret,
)
from gitops_sdk.core.errors import (
    ConfigError,
    CrossReferenceError,
    DependencyCycleError,
    GitopsError,
    SpecError,
    ToolError,
    UnknownKindError,
    UnsupportedApiVersionError,
    stack_context,
)
from gitops_sdk.core.model import FluxObject, from_manifest
from gitops_sdk.stack import synth
from gitops_sdk.stack.config import GitopsConfig
from gitops_sdk.stack.graph import FluxGraph
from gitops_sdk.stack.layers import LayerSet

__all__ = [
    "AgeKeySecret",
    "Alert",
    "Bucket",
    "ConfigError",
    "ControllerTuning",
    "CrossReferenceError",
    "DecryptionError",
    "DependencyCycleError",
    "ExternalArtifact",
    "FluxGraph",
    "FluxInstall",
    "FluxInstallArgs",
    "FluxObject",
    "FluxResource",
    "GitRepository",
    "GitSource",
    "GitopsConfig",
    "GitopsError",
    "HelmChart",
    "HelmRelease",
    "HelmRepository",
    "ImagePolicy",
    "ImageRepository",
    "ImageUpdateAutomation",
    "Kustomization",
    "LayerSet",
    "Layers",
    "NotEncryptedError",
    "OCIRepository",
    "Provider",
    "Receiver",
    "Scheduling",
    "SopsSecret",
    "SpecError",
    "TagPolicy",
    "ToolError",
    "UnknownKindError",
    "UnsupportedApiVersionError",
    "from_manifest",
    "helm",
    "image",
    "kustomize",
    "notification",
    "register",
    "register_all",
    "source",
    "stack_context",
    "synth",
]

_compat.install()
