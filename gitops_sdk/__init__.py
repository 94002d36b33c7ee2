"""gitops_sdk: a typed Python SDK and Pulumi components for FluxCD GitOps.

Models (pure data, validated on construction) live in one module per Flux API group:
`source`, `kustomize`, `helm`, `image`, `notification`. Pulumi registration is in
`resources` and `components`; layers and stack config in `layers` and `config`.
"""

from . import helm, image, kustomize, notification, source, synth
from ._model import FluxObject, from_manifest
from .components import GitSource, Layers
from .config import GitopsConfig
from .controller import ControllerTuning, FluxInstall, FluxInstallArgs, Scheduling
from .errors import (
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
from .graph import FluxGraph
from .helm import HelmRelease
from .image import ImagePolicy, ImageRepository, ImageUpdateAutomation, TagPolicy
from .kustomize import Kustomization
from .layers import LayerSet
from .notification import Alert, Provider, Receiver
from .resources import FluxResource, register, register_all
from .secrets import AgeKeySecret, DecryptionError, NotEncryptedError, SopsSecret
from .source import (
    Bucket,
    ExternalArtifact,
    GitRepository,
    HelmChart,
    HelmRepository,
    OCIRepository,
)

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
