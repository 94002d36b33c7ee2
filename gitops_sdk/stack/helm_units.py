"""A HelmRelease unit rendered from its settings, its preset and the stack's sources.

The release lives in the Flux namespace (so `dependsOn` and source references stay in one
namespace); it installs into its target namespace, which the stack creates, and keeps its Helm
storage there, so `helm list -n <namespace>` shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitops_sdk.api.helm import HelmRelease
from gitops_sdk.core.errors import ConfigError
from gitops_sdk.core.mappings import deep_merge
from gitops_sdk.core.model import FluxObject
from gitops_sdk.stack.units import UnitConfig

__all__ = [
    "INSTALL_DEFAULTS",
    "UPGRADE_DEFAULTS",
    "on_architectures",
    "provided_groups",
    "render_helm",
    "target_ns",
]

INSTALL_DEFAULTS: dict[str, Any] = {"remediation": {"retries": 3}}
"""A failed install is retried (uninstalled and installed again) three times."""
UPGRADE_DEFAULTS: dict[str, Any] = {
    "cleanupOnFail": True,
    "remediation": {"retries": 3, "remediateLastFailure": True, "strategy": "rollback"},
}
"""A failed upgrade is rolled back, so the release stays on the last version that worked."""
DRIFT_DEFAULT: dict[str, Any] = {"mode": "enabled"}
"""Flux puts back what was changed by hand in the cluster."""


def target_ns(short: str, settings: UnitConfig, inherited: str | None) -> str:
    """The namespace a release installs into: the unit's, else its preset's, else the layer's
    `targetNamespace`, else the release name."""
    preset = settings.preset_data
    if "target_namespace" in settings.model_fields_set and settings.target_namespace:
        return settings.target_namespace
    if preset is not None:
        return preset.namespace
    return inherited or release_name(short, settings)


def release_name(short: str, settings: UnitConfig) -> str:
    preset = settings.preset_data
    return settings.release_name or (preset.release_name if preset else None) or short


ARCH_LABEL = "kubernetes.io/arch"
PRESET_ARCH = "arm64"
"""The architecture the presets schedule on; other clusters get theirs instead."""


def on_architectures(values: Any, architectures: Sequence[str]) -> Any:
    """Preset values with their `kubernetes.io/arch: arm64` selectors set to the cluster's one
    architecture, or dropped when the cluster runs several."""
    if list(architectures) == [PRESET_ARCH]:
        return values
    if isinstance(values, dict):
        out = {}
        for key, value in values.items():
            if key == ARCH_LABEL and value == PRESET_ARCH:
                if len(architectures) == 1:
                    out[key] = architectures[0]
                continue
            out[key] = on_architectures(value, architectures)
        return out
    if isinstance(values, list):
        return [on_architectures(v, architectures) for v in values]
    return values


def provided_groups(settings: UnitConfig) -> list[str]:
    """The API groups the unit's CRDs bring: the preset's and the unit's own `provides`."""
    preset = settings.preset_data
    return sorted({*(preset.provides if preset else ()), *settings.provides})


def render_helm(
    name: str,
    short: str,
    settings: UnitConfig,
    tuning: Mapping[str, Any],
    *,
    namespace: str,
    labels: Mapping[str, str],
    sources: Mapping[str, FluxObject],
    ha: bool,
    depends_on: Sequence[HelmRelease],
    chart_values: Mapping[str, Mapping[str, Any]] | None = None,
    architectures: Sequence[str] = ("arm64",),
) -> HelmRelease:
    """The HelmRelease `name` for a unit; `tuning` is the merged defaults/layer/unit tuning."""
    preset = settings.preset_data
    spec: dict[str, Any] = {"interval": tuning["interval"]}
    if settings.chart_ref:
        spec["chart_ref"] = sources[settings.chart_ref]
    else:
        source_name = settings.source or (preset.source.name if preset else None)
        chart = settings.chart or (preset.chart if preset else None)
        version = settings.version or (preset.version if preset else None)
        if source_name is None or source_name not in sources:
            raise ConfigError(f"unit {name!r}: source {source_name!r} is not declared")
        spec["chart"] = {
            "spec": {"chart": chart, "version": version, "source_ref": sources[source_name]}
        }
    ns = target_ns(short, settings, tuning.get("target_namespace"))
    spec["release_name"] = release_name(short, settings)
    spec["target_namespace"] = ns
    spec["storage_namespace"] = ns
    for key in ("timeout", "suspend"):
        if tuning.get(key) is not None:
            spec[key] = tuning[key]
    values: dict[str, Any] = {}
    if preset is not None:
        values = deep_merge(preset.values, preset.ha) if ha else dict(preset.values)
        values = on_architectures(values, architectures)
    chart_name = settings.chart or (preset.chart if preset else None)
    values = deep_merge(values, (chart_values or {}).get(chart_name or "", {}))
    values = deep_merge(values, settings.values)
    if values:
        spec["values"] = values
    if settings.values_from:
        spec["values_from"] = [v.to_dict() for v in settings.values_from]
    crds = {"crds": preset.crds} if preset is not None and preset.crds else {}
    spec["install"] = deep_merge({**INSTALL_DEFAULTS, **crds}, settings.install)
    spec["upgrade"] = deep_merge({**UPGRADE_DEFAULTS, **crds}, settings.upgrade)
    spec["drift_detection"] = (
        settings.drift_detection.to_dict() if settings.drift_detection else DRIFT_DEFAULT
    )
    if depends_on:
        spec["depends_on"] = list(depends_on)
    return HelmRelease(name=name, namespace=namespace, labels=dict(labels), **spec)
