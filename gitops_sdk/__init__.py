"""gitops_sdk: a typed Python SDK and Pulumi components for FluxCD GitOps.

Everything a stack program uses is importable from here. The package is laid out in layers,
each importing only the ones before it: `core` (base model, field types, errors), `api` (typed
Flux and third-party kinds, no Pulumi), `services` (sops, GitHub, PromQL, the install manifest),
`components` (Pulumi components), `stack` (config, layers, graph, synth) and `cli`.
"""

from gitops_sdk import _compat
from gitops_sdk.api import helm, image, kustomize, notification, source
from gitops_sdk.api.eso_stores import ClusterSecretStore, SecretStore
from gitops_sdk.api.external_secrets import ExternalSecret
from gitops_sdk.api.flagger import Canary, CanaryTargetRef
from gitops_sdk.api.flagger_analysis import CanaryAnalysis, CanaryMetric
from gitops_sdk.api.helm import HelmRelease
from gitops_sdk.api.image import ImagePolicy, ImageRepository, TagPolicy
from gitops_sdk.api.image_automation import ImageAutomationSettings, SetterMarkerError
from gitops_sdk.api.image_update import ImageUpdateAutomation
from gitops_sdk.api.install import ControllerTuning, FluxInstallSettings, Scheduling
from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.api.notification import Alert, Provider, Receiver
from gitops_sdk.api.source import GitRepository, HelmChart, HelmRepository, OCIRepository
from gitops_sdk.api.source_storage import Bucket, ExternalArtifact
from gitops_sdk.components.alert_rules import FluxAlertRules, FluxAlertRulesArgs
from gitops_sdk.components.alerting import EventSource, FluxAlert, FluxAlertArgs
from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.canary import CanaryRelease, CanaryReleaseArgs
from gitops_sdk.components.dashboard import FluxDashboard, FluxDashboardArgs
from gitops_sdk.components.external_secrets import (
    SecretBackend,
    SecretBackendArgs,
    SyncedSecret,
    SyncedSecretArgs,
)
from gitops_sdk.components.flux_install import FluxInstall, FluxInstallArgs
from gitops_sdk.components.git_source import GitSource, GitSourceArgs
from gitops_sdk.components.github import (
    GithubConfig,
    GithubDeployKey,
    GithubDeployKeyArgs,
    GithubReceiver,
    GithubReceiverArgs,
)
from gitops_sdk.components.image_automation import ImageAutomation, ImageAutomationArgs
from gitops_sdk.components.layers import Layers, LayersArgs
from gitops_sdk.components.monitoring import FluxMonitoring, FluxMonitoringArgs
from gitops_sdk.components.notification_provider import (
    NotificationProvider,
    NotificationProviderArgs,
)
from gitops_sdk.components.notifications import (
    AlertingArgs,
    FluxNotifications,
    FluxNotificationsArgs,
)
from gitops_sdk.components.ordering import after, placed
from gitops_sdk.components.receiver import FluxReceiver, FluxReceiverArgs, ReceiverSettings
from gitops_sdk.components.resource import (
    FluxKey,
    FluxResource,
    flux_key,
    register,
    register_all,
)
from gitops_sdk.components.scrape import (
    FluxPodMonitor,
    FluxPodMonitorArgs,
    FluxStateMetrics,
    FluxStateMetricsArgs,
)
from gitops_sdk.components.secrets import (
    AgeKeySecret,
    AgeKeySecretArgs,
    SopsSecret,
    SopsSecretArgs,
)
from gitops_sdk.core.errors import (
    ArgumentError,
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
from gitops_sdk.core.model import FluxObject, LabelSelector, from_manifest
from gitops_sdk.core.placeholders import Placeholder, ValidationNote
from gitops_sdk.services.github_errors import GithubError
from gitops_sdk.services.install_manifest import InstallManifestError
from gitops_sdk.services.promql_syntax import PromQLError
from gitops_sdk.services.sops import DecryptionError, NotEncryptedError
from gitops_sdk.stack import synth
from gitops_sdk.stack.config import GitopsConfig
from gitops_sdk.stack.graph import FluxGraph, UncheckedRef
from gitops_sdk.stack.layers import LayerSet
from gitops_sdk.stack.presets import Preset, presets
from gitops_sdk.stack.sources import SourceConfig
from gitops_sdk.stack.units import UnitConfig

__all__ = [
    "AgeKeySecret",
    "AgeKeySecretArgs",
    "Alert",
    "AlertingArgs",
    "ArgumentError",
    "Bucket",
    "Canary",
    "CanaryAnalysis",
    "CanaryMetric",
    "CanaryRelease",
    "CanaryReleaseArgs",
    "CanaryTargetRef",
    "ClusterSecretStore",
    "ComponentArgs",
    "ConfigError",
    "ControllerTuning",
    "CrossReferenceError",
    "DecryptionError",
    "DependencyCycleError",
    "EventSource",
    "ExternalArtifact",
    "ExternalSecret",
    "FluxAlert",
    "FluxAlertArgs",
    "FluxAlertRules",
    "FluxAlertRulesArgs",
    "FluxDashboard",
    "FluxDashboardArgs",
    "FluxGraph",
    "FluxInstall",
    "FluxInstallArgs",
    "FluxInstallSettings",
    "FluxKey",
    "FluxMonitoring",
    "FluxMonitoringArgs",
    "FluxNotifications",
    "FluxNotificationsArgs",
    "FluxObject",
    "FluxPodMonitor",
    "FluxPodMonitorArgs",
    "FluxReceiver",
    "FluxReceiverArgs",
    "FluxResource",
    "FluxStateMetrics",
    "FluxStateMetricsArgs",
    "GitRepository",
    "GitSource",
    "GitSourceArgs",
    "GithubConfig",
    "GithubDeployKey",
    "GithubDeployKeyArgs",
    "GithubError",
    "GithubReceiver",
    "GithubReceiverArgs",
    "GitopsConfig",
    "GitopsError",
    "HelmChart",
    "HelmRelease",
    "HelmRepository",
    "ImageAutomation",
    "ImageAutomationArgs",
    "ImageAutomationSettings",
    "ImagePolicy",
    "ImageRepository",
    "ImageUpdateAutomation",
    "InstallManifestError",
    "Kustomization",
    "LabelSelector",
    "LayerSet",
    "Layers",
    "LayersArgs",
    "NotEncryptedError",
    "NotificationProvider",
    "NotificationProviderArgs",
    "OCIRepository",
    "Placeholder",
    "Preset",
    "PromQLError",
    "Provider",
    "Receiver",
    "ReceiverSettings",
    "Scheduling",
    "SecretBackend",
    "SecretBackendArgs",
    "SecretStore",
    "SetterMarkerError",
    "SopsSecret",
    "SopsSecretArgs",
    "SourceConfig",
    "SpecError",
    "SyncedSecret",
    "SyncedSecretArgs",
    "TagPolicy",
    "ToolError",
    "UncheckedRef",
    "UnitConfig",
    "UnknownKindError",
    "UnsupportedApiVersionError",
    "ValidationNote",
    "after",
    "flux_key",
    "from_manifest",
    "helm",
    "image",
    "kustomize",
    "notification",
    "placed",
    "presets",
    "register",
    "register_all",
    "source",
    "stack_context",
    "synth",
]

_compat.install()
