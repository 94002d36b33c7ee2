"""gitops_sdk: a typed Python SDK and Pulumi components for FluxCD GitOps.

Models (pure data, validated on construction) live in one module per Flux API group:
`source`, `kustomize`, `helm`, `image`, `notification`. Pulumi registration is in
`resources` and `components`; layers and stack config in `layers` and `config`.
"""

from . import helm, image, kustomize, notification, source, synth
from ._model import FluxObject, from_manifest
from .components import GitSource, Layers
from .config import GitopsConfig
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
from .resources import FluxResource, register
from .source import (
    Bucket,
    ExternalArtifact,
    GitRepository,
    HelmChart,
    HelmRepository,
    OCIRepository,
)

__all__ = [
    "Alert",
    "Bucket",
    "ConfigError",
    "CrossReferenceError",
    "DependencyCycleError",
    "ExternalArtifact",
    "FluxGraph",
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
    "OCIRepository",
    "Provider",
    "Receiver",
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
    "source",
    "stack_context",
    "synth",
]
