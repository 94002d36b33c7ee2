"""gitops_sdk: a typed Python SDK and Pulumi components for FluxCD GitOps.

Everything a stack program uses is importable from here. The package is laid out in layers,
each importing only the ones before it: `core` (base model, field types, errors), `api` (typed
Flux and third-party kinds, no Pulumi), `services` (sops, GitHub, PromQL, the install manifest),
`components` (Pulumi components), `stack` (config, layers, graph, synth) and `cli`.

Names load on first use (PEP 562), so `import gitops_sdk` itself is cheap: every
`pulumi preview` pays for it, and so does the process Pulumi starts for the SDK's dynamic
providers, which needs one module, not the whole SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gitops_sdk import _compat

if TYPE_CHECKING:
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
    from gitops_sdk.api.kinds import from_manifest
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
    from gitops_sdk.components.kube_object import KubeObject
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
    from gitops_sdk.components.ordering import after, placed, send_registrations
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
    from gitops_sdk.core.model import FluxObject, LabelSelector
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

_MODULES: dict[str, str] = {
    "helm": "gitops_sdk.api.helm",
    "image": "gitops_sdk.api.image",
    "kustomize": "gitops_sdk.api.kustomize",
    "notification": "gitops_sdk.api.notification",
    "source": "gitops_sdk.api.source",
    "synth": "gitops_sdk.stack.synth",
}
"""Modules exported by name."""

_NAMES: dict[str, tuple[str, ...]] = {
    "gitops_sdk.api.eso_stores": ("ClusterSecretStore", "SecretStore"),
    "gitops_sdk.api.external_secrets": ("ExternalSecret",),
    "gitops_sdk.api.flagger": ("Canary", "CanaryTargetRef"),
    "gitops_sdk.api.flagger_analysis": ("CanaryAnalysis", "CanaryMetric"),
    "gitops_sdk.api.helm": ("HelmRelease",),
    "gitops_sdk.api.image": ("ImagePolicy", "ImageRepository", "TagPolicy"),
    "gitops_sdk.api.image_automation": ("ImageAutomationSettings", "SetterMarkerError"),
    "gitops_sdk.api.image_update": ("ImageUpdateAutomation",),
    "gitops_sdk.api.install": ("ControllerTuning", "FluxInstallSettings", "Scheduling"),
    "gitops_sdk.api.kinds": ("from_manifest",),
    "gitops_sdk.api.kustomize": ("Kustomization",),
    "gitops_sdk.api.notification": ("Alert", "Provider", "Receiver"),
    "gitops_sdk.api.source": ("GitRepository", "HelmChart", "HelmRepository", "OCIRepository"),
    "gitops_sdk.api.source_storage": ("Bucket", "ExternalArtifact"),
    "gitops_sdk.components.alert_rules": ("FluxAlertRules", "FluxAlertRulesArgs"),
    "gitops_sdk.components.alerting": ("EventSource", "FluxAlert", "FluxAlertArgs"),
    "gitops_sdk.components.base": ("ComponentArgs",),
    "gitops_sdk.components.canary": ("CanaryRelease", "CanaryReleaseArgs"),
    "gitops_sdk.components.dashboard": ("FluxDashboard", "FluxDashboardArgs"),
    "gitops_sdk.components.external_secrets": (
        "SecretBackend",
        "SecretBackendArgs",
        "SyncedSecret",
        "SyncedSecretArgs",
    ),
    "gitops_sdk.components.flux_install": ("FluxInstall", "FluxInstallArgs"),
    "gitops_sdk.components.git_source": ("GitSource", "GitSourceArgs"),
    "gitops_sdk.components.github": (
        "GithubConfig",
        "GithubDeployKey",
        "GithubDeployKeyArgs",
        "GithubReceiver",
        "GithubReceiverArgs",
    ),
    "gitops_sdk.components.image_automation": ("ImageAutomation", "ImageAutomationArgs"),
    "gitops_sdk.components.kube_object": ("KubeObject",),
    "gitops_sdk.components.layers": ("Layers", "LayersArgs"),
    "gitops_sdk.components.monitoring": ("FluxMonitoring", "FluxMonitoringArgs"),
    "gitops_sdk.components.notification_provider": (
        "NotificationProvider",
        "NotificationProviderArgs",
    ),
    "gitops_sdk.components.notifications": (
        "AlertingArgs",
        "FluxNotifications",
        "FluxNotificationsArgs",
    ),
    "gitops_sdk.components.ordering": ("after", "placed", "send_registrations"),
    "gitops_sdk.components.receiver": ("FluxReceiver", "FluxReceiverArgs", "ReceiverSettings"),
    "gitops_sdk.components.resource": (
        "FluxKey",
        "FluxResource",
        "flux_key",
        "register",
        "register_all",
    ),
    "gitops_sdk.components.scrape": (
        "FluxPodMonitor",
        "FluxPodMonitorArgs",
        "FluxStateMetrics",
        "FluxStateMetricsArgs",
    ),
    "gitops_sdk.components.secrets": (
        "AgeKeySecret",
        "AgeKeySecretArgs",
        "SopsSecret",
        "SopsSecretArgs",
    ),
    "gitops_sdk.core.errors": (
        "ArgumentError",
        "ConfigError",
        "CrossReferenceError",
        "DependencyCycleError",
        "GitopsError",
        "SpecError",
        "ToolError",
        "UnknownKindError",
        "UnsupportedApiVersionError",
        "stack_context",
    ),
    "gitops_sdk.core.model": ("FluxObject", "LabelSelector"),
    "gitops_sdk.core.placeholders": ("Placeholder", "ValidationNote"),
    "gitops_sdk.services.github_errors": ("GithubError",),
    "gitops_sdk.services.install_manifest": ("InstallManifestError",),
    "gitops_sdk.services.promql_syntax": ("PromQLError",),
    "gitops_sdk.services.sops": ("DecryptionError", "NotEncryptedError"),
    "gitops_sdk.stack.config": ("GitopsConfig",),
    "gitops_sdk.stack.graph": ("FluxGraph", "UncheckedRef"),
    "gitops_sdk.stack.layers": ("LayerSet",),
    "gitops_sdk.stack.presets": ("Preset", "presets"),
    "gitops_sdk.stack.sources": ("SourceConfig",),
    "gitops_sdk.stack.units": ("UnitConfig",),
}
"""The module of each exported name, loaded on first use of one of its names."""

_WHERE = {name: module for module, names in _NAMES.items() for name in names}

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
    "KubeObject",
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
    "send_registrations",
    "source",
    "stack_context",
    "synth",
]


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value: Any = importlib.import_module(_MODULES[name])
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module 'gitops_sdk' has no attribute {name!r}")
    globals()[name] = value  # from now on a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


_compat.install()
