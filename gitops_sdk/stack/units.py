"""The schema of a layer's units in `gitops:layers`: shared tuning, Kustomization units (a path
in a Git or OCI source) and HelmRelease units (a chart, a `chartRef` or a preset)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator, Field

from gitops_sdk.api.helm import DriftDetection, Install, ReleaseName, Upgrade, ValuesReference
from gitops_sdk.api.kustomize import (
    CommonMetadata,
    CustomHealthCheck,
    Decryption,
    HealthCheckReference,
    IgnoreRule,
    KubeConfigReference,
    Patch,
    SourceReference,
    SubstituteReference,
)
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.fields import (
    CpuQuantity,
    Duration,
    FreeObject,
    JsonObject,
    MemoryQuantity,
    Name,
    Namespace,
    SemverRange,
)
from gitops_sdk.stack.presets import Preset, preset_names, presets

__all__ = [
    "HELM_ONLY",
    "KUSTOMIZATION_AS_WRITTEN",
    "KUSTOMIZATION_ONLY",
    "ApiGroupName",
    "ConfigModel",
    "Defaults",
    "ImageOverride",
    "LayerConfig",
    "ResourceSpec",
    "Resources",
    "Tuning",
    "UnitConfig",
]


class ConfigModel(FluxModel):
    """Base of config sections: camelCase keys in YAML, strict about unknown keys."""


def _check_api_group(value: str) -> str:
    if not value or "/" in value or value != value.strip() or value.lower() != value:
        raise ValueError("is not an API group (expected e.g. 'cert-manager.io', no version)")
    return value


def _check_preset(value: str) -> str:
    if value not in presets():
        raise ValueError(f"is not a preset the SDK ships; known: {', '.join(preset_names())}")
    return value


def _check_manifest(value: dict[str, Any]) -> dict[str, Any]:
    meta = value.get("metadata")
    ok = (
        isinstance(value.get("apiVersion"), str)
        and isinstance(value.get("kind"), str)
        and isinstance(meta, dict)
        and isinstance(meta.get("name"), str)
    )
    if not ok:
        raise ValueError("expected a Kubernetes object with apiVersion, kind and metadata.name")
    if extra := sorted(set(value) - {"apiVersion", "kind", "metadata", "spec"}):
        raise ValueError(
            f"has {', '.join(extra)}: only custom resources (apiVersion, kind, metadata, spec) "
            "are taken here; Secrets and ConfigMaps belong in a Kustomization's files"
        )
    return value


ApiGroupName = Annotated[str, AfterValidator(_check_api_group)]
Manifest = Annotated[FreeObject, AfterValidator(_check_manifest)]


class ResourceSpec(ConfigModel):
    """CPU and memory quantities, e.g. `{cpu: 100m, memory: 128Mi}`."""

    cpu: CpuQuantity | None = None
    memory: MemoryQuantity | None = None


class Resources(ConfigModel):
    """Container requests and limits."""

    container: Namespace | None = None  # a container name has a DNS label's syntax
    """Container to set them on; default: the container named like the Deployment."""
    requests: ResourceSpec | None = None
    limits: ResourceSpec | None = None


class ImageOverride(ConfigModel):
    """A kustomize image override: pin a tag or digest, or rename the image."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None


class Tuning(ConfigModel):
    """Settings a layer passes to its units, and a unit may override."""

    interval: Duration | None = None
    """How often Flux re-applies the unit."""
    retry_interval: Duration | None = None
    """How soon Flux retries after a failure."""
    timeout: Duration | None = None
    """How long an apply and health check may take."""
    prune: bool | None = None
    """Delete objects removed from Git."""
    wait: bool | None = None
    """Wait for every applied object to become ready."""
    decryption: bool | None = None
    """Decrypt SOPS-encrypted manifests with the stack's age key."""
    substitute: dict[str, str] | None = None
    """postBuild variables (`${name}` in manifests)."""
    target_namespace: Namespace | None = None
    """Namespace every namespaced object of the unit goes to (a HelmRelease's is created by
    the stack)."""
    suspend: bool | None = None
    """Stop Flux reconciling the unit."""


KUSTOMIZATION_AS_WRITTEN = (
    "source_ref",
    "substitute_from",
    "substitute_strategy",
    "decryption_spec",
    "patches",
    "components",
    "ignore_missing_components",
    "common_metadata",
    "name_prefix",
    "name_suffix",
    "service_account_name",
    "kube_config",
    "force",
    "deletion_policy",
    "ignore",
    "build_metadata",
    "health_check_exprs",
)
"""Kustomization fields a unit renders as written (what `gitops import` keeps of a
repository's Kustomizations), in its spec under the same name."""
HELM_ONLY = (
    "chart",
    "chart_ref",
    "preset",
    "version",
    "release_name",
    "values",
    "values_from",
    "install",
    "upgrade",
    "drift_detection",
)
"""UnitConfig fields that only a HelmRelease unit takes."""
KUSTOMIZATION_ONLY = (
    "path",
    "prune",
    "wait",
    "decryption",
    "substitute",
    "replicas",
    "images",
    "resources",
    "health_checks",
    *KUSTOMIZATION_AS_WRITTEN,
)
"""UnitConfig fields that only a Kustomization unit takes."""


class UnitConfig(Tuning):
    """One unit of a layer, e.g. `infrastructure-traefik`: a Flux Kustomization of a path in a
    Git or OCI source, or a Flux HelmRelease of a chart (`chart`, `chartRef` or `preset`)."""

    enabled: bool = True
    """Render this unit."""
    depends_on: list[str] = []
    """Units of the same layer (`metallb`), other layers (`monitoring`) or `layer/unit`."""
    source: Name | None = None
    """A source of `gitops:sources` by name: the Git or OCI source of a Kustomization's path
    (default: the cluster's repository), or the Helm repository of a `chart`."""
    provides: list[ApiGroupName] = []
    """API groups whose CRDs this unit installs (presets know their own): objects of those
    groups are registered after the unit is Ready."""
    manifests: list[Manifest] = []
    """Objects registered once the unit is Ready, e.g. MetalLB's IPAddressPool; a namespaced
    one without a namespace goes to the unit's target namespace."""
    # Kustomization units
    path: str | None = None
    """Path in the source; default `./<layer>/<unit>`."""
    replicas: dict[Name, Annotated[int, Field(ge=0, le=2**31 - 1)]] = {}
    """Replica count per Deployment name (rendered as a kustomize patch)."""
    images: list[ImageOverride] = []
    """Image tag/digest pins (kustomize `images`)."""
    resources: dict[Name, Resources] = {}
    """Container resources per Deployment name (rendered as a kustomize patch)."""
    health_checks: list[HealthCheckReference] = []
    """Objects whose health gates the Kustomization's readiness (used when `wait` is off)."""
    source_ref: SourceReference | None = None
    """The source as a Flux reference (kind, name, namespace), for one that is not a named
    source: an ExternalArtifact, a source in another namespace or in `gitops:objects`."""
    substitute_from: list[SubstituteReference] = []
    """postBuild ConfigMaps and Secrets with more variables (`substitute` wins)."""
    substitute_strategy: Literal["WithVariables", "Always"] | None = None
    """postBuild substitution strategy."""
    decryption_spec: Decryption | None = None
    """SOPS decryption with a Secret made outside the stack (instead of `decryption: true`,
    which uses the stack's age key)."""
    patches: list[Patch] = []
    """Kustomize patches, after those `replicas` and `resources` render."""
    components: list[str] = []
    """Kustomize Components to include, relative to `path`."""
    ignore_missing_components: bool | None = None
    common_metadata: CommonMetadata | None = None
    """Labels and annotations set on every applied object."""
    name_prefix: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    name_suffix: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    service_account_name: str | None = None
    """Service account to impersonate when applying."""
    kube_config: KubeConfigReference | None = None
    """Apply to a remote cluster."""
    force: bool | None = None
    """Recreate objects whose immutable fields changed."""
    deletion_policy: Literal["MirrorPrune", "Delete", "WaitForTermination", "Orphan"] | None = None
    ignore: list[IgnoreRule] = []
    """Fields to leave alone on applied objects."""
    build_metadata: list[Literal["originAnnotations", "transformerAnnotations"]] = []
    health_check_exprs: list[CustomHealthCheck] = []
    """CEL health checks for custom resource kinds."""
    # HelmRelease units
    preset: Annotated[str, AfterValidator(_check_preset)] | None = None
    """A chart the SDK knows (`gitops_sdk/data/presets`): its source, version, namespace,
    provided API groups and values are the defaults of this unit."""
    chart: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    """Chart name in the `source` Helm repository."""
    chart_ref: Name | None = None
    """An OCIRepository source (`gitops:sources`, type oci) holding the chart."""
    version: SemverRange | None = None
    """Chart version or semver range (`v1.21.1`, `^1.21.0`)."""
    release_name: ReleaseName | None = None
    """Helm release name; default: the unit's name."""
    values: JsonObject = {}
    """Helm values, deep-merged over the preset's."""
    values_from: list[ValuesReference] = []
    """Values from ConfigMaps and Secrets (in the target namespace's HelmRelease namespace)."""
    install: dict[str, Any] = {}
    """HelmRelease `install` settings, merged over the SDK's (remediation retries, CRDs)."""
    upgrade: dict[str, Any] = {}
    """HelmRelease `upgrade` settings, merged over the SDK's."""
    drift_detection: DriftDetection | None = None
    """Drift detection; default `mode: enabled` (Flux corrects changes made by hand)."""

    @property
    def is_helm(self) -> bool:
        return bool(self.chart or self.chart_ref or self.preset)

    @property
    def preset_data(self) -> Preset | None:
        return presets()[self.preset] if self.preset else None

    @pydantic.field_validator("install", "upgrade")
    @classmethod
    def _helm_actions(cls, value: dict[str, Any], info: pydantic.ValidationInfo) -> dict[str, Any]:
        model = Install if info.field_name == "install" else Upgrade
        model.model_validate(value)
        return value

    @pydantic.model_validator(mode="after")
    def _one_kind(self) -> UnitConfig:
        given = self.model_fields_set
        if self.source and self.source_ref:
            raise Invalid(
                "sourceRef",
                self.source_ref.to_dict(),
                "cannot be set with source: name a source of gitops:sources or give the "
                "reference, not both",
            )
        if self.decryption and self.decryption_spec:
            raise Invalid(
                "decryptionSpec",
                self.decryption_spec.to_dict(),
                "cannot be set with decryption: true, which uses the stack's age key",
            )
        if self.chart and self.chart_ref:
            raise Invalid(
                "chartRef",
                self.chart_ref,
                "cannot be set with chart: name the chart or the "
                "OCIRepository source that holds it, not both",
            )
        if self.chart and self.path is not None:
            raise Invalid(
                "path",
                self.path,
                "cannot be set with chart: a unit is a HelmRelease (chart) "
                "or a Kustomization (path), not both",
            )
        if self.chart_ref and "version" in given:
            raise Invalid(
                "version",
                self.version,
                "cannot be set with chartRef: the OCIRepository "
                "source's ref (gitops:sources.<name>.ref) picks the chart version",
            )
        if self.is_helm:
            for field in KUSTOMIZATION_ONLY:
                if field in given:
                    alias = type(self).model_fields[field].alias or field
                    raise Invalid(
                        alias,
                        getattr(self, field),
                        "applies to Kustomization units only; "
                        "this unit is a HelmRelease (chart, chartRef or preset): use values",
                    )
        else:
            for field in HELM_ONLY:
                if field in given:
                    alias = type(self).model_fields[field].alias or field
                    raise Invalid(
                        alias,
                        getattr(self, field),
                        "applies to HelmRelease units only; "
                        "set chart (with source and version), chartRef or preset",
                    )
        if self.chart and not self.source and not self.preset:
            raise Invalid(
                "source",
                None,
                "is needed with chart: name the Helm repository of "
                "gitops:sources that serves the chart",
            )
        if self.chart and not self.version and not self.preset:
            raise Invalid(
                "version",
                None,
                "is needed with chart: pin an exact version or a semver "
                "range, e.g. '1.2.3' or '^1.2.0'",
            )
        return self


class LayerConfig(UnitConfig):
    """A layer: one Kustomization, or a group of units sharing defaults."""

    units: dict[Name, UnitConfig] = {}
    """The layer's units; empty means the layer is one Kustomization at `path`."""


class Defaults(Tuning):
    """Defaults for every layer; null leaves a setting unset unless a layer or unit sets it."""

    interval: Duration = "10m"
    retry_interval: Duration | None = "2m"
    timeout: Duration | None = "5m"
    prune: bool = True
    wait: bool | None = True
