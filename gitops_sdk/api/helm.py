"""helm.toolkit.fluxcd.io/v2: HelmRelease, a Helm chart Flux installs and keeps up to date."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

import pydantic
from pydantic import AfterValidator, Field, StringConstraints

from gitops_sdk.api.kustomize import (
    CommonMetadata,
    CustomHealthCheck,
    DependencyReference,
    IgnoreRule,
    Image,
    KindReference,
    KubeConfigReference,
    Patch,
)
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import MISSING
from gitops_sdk.core.fields import (
    Annotations,
    Duration,
    JsonObject,
    Labels,
    Name,
    Namespace,
    SemverRange,
    is_dns_subdomain,
)
from gitops_sdk.core.model import FILLED, FluxObject
from gitops_sdk.core.refs import ObjectRef, SecretRef

__all__ = [
    "API_VERSION",
    "ChartKind",
    "ChartReference",
    "ChartSourceKind",
    "DriftDetection",
    "Filter",
    "HelmChartSourceReference",
    "HelmChartTemplate",
    "HelmChartTemplateMetadata",
    "HelmChartTemplateSpec",
    "HelmChartTemplateVerification",
    "HelmRelease",
    "HelmReleaseDependencyReference",
    "HelmReleaseSpec",
    "Install",
    "InstallRemediation",
    "KustomizePostRenderer",
    "PostRenderer",
    "ReleaseName",
    "Rollback",
    "Strategy",
    "Test",
    "Uninstall",
    "Upgrade",
    "UpgradeRemediation",
    "ValuesReference",
    "WaitStrategy",
]

API_VERSION = "helm.toolkit.fluxcd.io/v2"
_REMOVED = {"v2beta1": "Flux 2.7", "v2beta2": "Flux 2.8"}

_VALUES_KEY = re.compile(r"^[\-._a-zA-Z0-9]+$")
_TARGET_PATH = re.compile(r"^([a-zA-Z0-9_\-.\\/]|\[[0-9]{1,5}\])+$")


def _check_release_name(value: str) -> str:
    if not is_dns_subdomain(value, max_length=53):
        raise ValueError(
            "is not a Helm release name (expected lowercase letters, digits, '-' and '.', "
            "starting and ending alphanumeric, 1 to 53 characters)"
        )
    return value


def _check_values_key(value: str) -> str:
    if len(value) > 253 or not _VALUES_KEY.match(value):
        raise ValueError(
            "is not a valid data key (expected letters, digits, '-', '_' and '.', "
            "1 to 253 characters)"
        )
    return value


def _check_target_path(value: str) -> str:
    if len(value) > 250 or not _TARGET_PATH.match(value):
        raise ValueError(
            "is not a Helm --set path (expected letters, digits, '_', '-', '.', '/', '\\' "
            "and list indexes like '[0]', at most 250 characters)"
        )
    return value


ReleaseName = Annotated[str, AfterValidator(_check_release_name)]
"""A Helm release name: a DNS-1123 subdomain of at most 53 characters."""


# --- chart ---------------------------------------------------------------------------------------

ChartSourceKind = Literal["HelmRepository", "GitRepository", "Bucket"]
"""The source kinds a chart template can fetch a chart from."""

ChartKind = Literal["OCIRepository", "HelmChart", "ExternalArtifact"]
"""The kinds `chartRef` can point at."""


class HelmChartSourceReference(KindReference):
    """The source of a chart template; build it from the object or by name."""

    expected_kinds = get_args(ChartSourceKind)
    kind: ChartSourceKind
    """Kind of the source."""


class HelmChartTemplateVerification(FluxModel):
    """Signature verification of a chart from an OCI HelmRepository."""

    provider: Literal["cosign", "notation"]
    """The verification tool (the API server defaults it to `cosign`)."""
    secret_ref: SecretRef | None = None
    """Secret with trusted public keys or certificates; default: keyless (cosign)."""


class HelmChartTemplateSpec(FluxModel):
    """What chart to fetch, from where and which version: the HelmChart Flux creates."""

    chart: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    """Chart name (HelmRepository) or path in the source (GitRepository, Bucket)."""
    version: SemverRange | None = None
    """Semver range of chart versions; default `*` (the newest); ignored for Git and Bucket."""
    source_ref: HelmChartSourceReference
    """The HelmRepository, GitRepository or Bucket with the chart."""
    interval: Duration | None = None
    """How often to check for a new chart; default: the HelmRelease's `interval`."""
    reconcile_strategy: Literal["ChartVersion", "Revision"] | None = None
    """New artifact on a new chart version (default `ChartVersion`) or source `Revision`."""
    values_files: list[str] | None = None
    """Values files in the chart to merge, in order; default: the chart's values.yaml."""
    ignore_missing_values_files: bool | None = None
    """Skip values files that do not exist instead of failing; default false."""
    verify: HelmChartTemplateVerification | None = None
    """Verify the chart's signature (OCI only); default: no verification."""


class HelmChartTemplateMetadata(FluxModel):
    """Labels and annotations of the HelmChart object Flux creates."""

    labels: Labels | None = None
    """Labels of the HelmChart; default: none."""
    annotations: Annotations | None = None
    """Annotations of the HelmChart; default: none."""


class HelmChartTemplate(FluxModel):
    """A template of the HelmChart Flux creates in the source's namespace."""

    metadata: HelmChartTemplateMetadata | None = None
    """Labels and annotations of the HelmChart; default: none."""
    spec: HelmChartTemplateSpec
    """Chart, version and source."""


class ChartReference(KindReference):
    """A chart Flux already fetched: an OCIRepository, HelmChart or ExternalArtifact."""

    expected_kinds = get_args(ChartKind)
    kind: ChartKind
    """Kind of the object."""


# --- references, values ----------------------------------------------------------------------


class HelmReleaseDependencyReference(DependencyReference):
    """A HelmRelease this one waits for; build it from the object or from a name."""

    expected_kinds = ("HelmRelease",)


class ValuesReference(ObjectRef):
    """Values taken from a key of a ConfigMap or Secret in the HelmRelease's namespace."""

    expected_kinds = ("Secret", "ConfigMap")

    kind: Literal["Secret", "ConfigMap"]
    """Kind of the object with the values."""
    name: Name
    """Name of the object."""
    values_key: Annotated[str, AfterValidator(_check_values_key)] | None = None
    """Data key with the values; default `values.yaml`."""
    target_path: Annotated[str, AfterValidator(_check_target_path)] | None = None
    """Put the key's value at this `--set` path instead of merging it; default: merge."""
    optional: bool | None = None
    """Carry on when the object or key does not exist; default false."""
    literal: bool | None = None
    """With `target_path`, set the value literally (`--set-literal`); default false."""


# --- actions -----------------------------------------------------------------------------------


class Strategy(FluxModel):
    """What to do when an install or upgrade fails."""

    name: Literal["RemediateOnFailure", "RetryOnFailure"]
    """Remediate (uninstall or roll back) or retry; default `RemediateOnFailure`."""
    retry_interval: Duration | None = None
    """Wait between retries; default `5m`; only with `RetryOnFailure`."""

    @pydantic.model_validator(mode="after")
    def _retry_interval_needs_retry(self) -> Self:
        if self.retry_interval is not None and self.name != "RetryOnFailure":
            raise Invalid(
                "retryInterval",
                self.retry_interval,
                f"can only be set when name is 'RetryOnFailure', not {self.name!r}",
            )
        return self


class InstallRemediation(FluxModel):
    """How to remediate a failed install."""

    retries: int | None = None
    """Retries before giving up (uninstalling in between); default 0; negative: no limit."""
    ignore_test_failures: bool | None = None
    """Do not remediate failed tests; default: `test.ignore_failures`."""
    remediate_last_failure: bool | None = None
    """Also remediate the last failure, when retries are used up; default false."""


class UpgradeRemediation(FluxModel):
    """How to remediate a failed upgrade."""

    retries: int | None = None
    """Retries before giving up (remediating in between); default 0; negative: no limit."""
    ignore_test_failures: bool | None = None
    """Do not remediate failed tests; default: `test.ignore_failures`."""
    remediate_last_failure: bool | None = None
    """Also remediate the last failure; default false unless `retries` > 0."""
    strategy: Literal["rollback", "uninstall"] | None = None
    """How to remediate; default `rollback`."""


_Crds = Literal["Skip", "Create", "CreateReplace"]
_ServerSideApply = Literal["enabled", "disabled", "auto"]


class _HooksAndWaits(FluxModel):
    """Switches install, upgrade and rollback share."""

    disable_hooks: bool | None = None
    """Do not run the chart's hooks; default false."""
    disable_wait: bool | None = None
    """Do not wait for resources to be ready; default false."""
    disable_wait_for_jobs: bool | None = None
    """Do not wait for Jobs to complete; default false."""


class _Checks(_HooksAndWaits):
    """Switches install and upgrade share: which checks Helm skips."""

    disable_open_api_validation: bool | None = Field(default=None, alias="disableOpenAPIValidation")
    """Do not validate the rendered manifests against the Kubernetes OpenAPI schema."""
    disable_schema_validation: bool | None = None
    """Do not validate values against the chart's JSON schema; default false."""
    disable_take_ownership: bool | None = None
    """Do not adopt existing objects the release renders; default false."""


class Install(_Checks):
    """How to install the release."""

    timeout: Duration | None = None
    """Timeout of the install; default: the HelmRelease's `timeout`."""
    remediation: InstallRemediation | None = None
    """What to do when the install fails; default: no retries."""
    strategy: Strategy | None = None
    """Remediate or retry on failure; default `RemediateOnFailure`."""
    crds: _Crds | None = None
    """What to do with the chart's CRDs; default `Create`."""
    create_namespace: bool | None = None
    """Create the target namespace; default false."""
    replace: bool | None = None
    """Reuse the name of a deleted release still in the history; default false."""
    server_side_apply: bool | None = None
    """Apply with server-side apply; default true."""
    skip_crds: bool | None = Field(default=None, alias="skipCRDs")
    """Deprecated: use `crds='Skip'`."""


class Upgrade(_Checks):
    """How to upgrade the release."""

    timeout: Duration | None = None
    """Timeout of the upgrade; default: the HelmRelease's `timeout`."""
    remediation: UpgradeRemediation | None = None
    """What to do when the upgrade fails; default: no retries."""
    strategy: Strategy | None = None
    """Remediate or retry on failure; default `RemediateOnFailure`."""
    crds: _Crds | None = None
    """What to do with the chart's CRDs; default `Skip`."""
    chart_name_change_strategy: Literal["InPlaceUpdate", "Reinstall"] | None = None
    """What to do when the chart name changes; default `Reinstall`."""
    cleanup_on_fail: bool | None = None
    """Delete new resources when the upgrade fails; default false."""
    force: bool | None = None
    """Replace resources (delete and recreate) when needed; ignored with server-side apply."""
    preserve_values: bool | None = None
    """Reuse the last release's values, merged with these; default false (not declarative)."""
    server_side_apply: _ServerSideApply | None = None
    """Server-side apply: `enabled`, `disabled` or `auto` (as the last release; default)."""


class Filter(FluxModel):
    """A Helm test to run or skip."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    """Name of the test."""
    exclude: bool | None = None
    """Skip this test instead of running only the listed ones; default false."""


class Test(FluxModel):
    """Whether and how to run Helm tests after install and upgrade."""

    enable: bool | None = None
    """Run the chart's tests; default false."""
    filters: list[Filter] | None = None
    """Tests to run or skip; default: all."""
    ignore_failures: bool | None = None
    """Keep the release ready when tests fail; default false."""
    timeout: Duration | None = None
    """Timeout of the tests; default: the HelmRelease's `timeout`."""


class Rollback(_HooksAndWaits):
    """How to roll back when remediating a failed upgrade."""

    timeout: Duration | None = None
    """Timeout of the rollback; default: the HelmRelease's `timeout`."""
    cleanup_on_fail: bool | None = None
    """Delete new resources when the rollback fails; default false."""
    force: bool | None = None
    """Replace resources when needed; ignored with server-side apply; default false."""
    recreate: bool | None = None
    """Deprecated, does nothing with the Helm 4 SDK."""
    server_side_apply: _ServerSideApply | None = None
    """Server-side apply: `enabled`, `disabled` or `auto` (as the release; default)."""


class Uninstall(FluxModel):
    """How to uninstall the release (on deletion or remediation)."""

    timeout: Duration | None = None
    """Timeout of the uninstall; default: the HelmRelease's `timeout`."""
    deletion_propagation: Literal["background", "foreground", "orphan"] | None = None
    """How dependents of deleted objects are deleted; default `background`."""
    disable_hooks: bool | None = None
    """Do not run the chart's hooks; default false."""
    disable_wait: bool | None = None
    """Do not wait for resources to be deleted; default false."""
    keep_history: bool | None = None
    """Keep the release history; default false."""


class DriftDetection(FluxModel):
    """Whether to compare the cluster with the release and correct what differs."""

    mode: Literal["enabled", "warn", "disabled"] | None = None
    """Correct drift (`enabled`), only report it (`warn`) or not check (default `disabled`)."""
    ignore: list[IgnoreRule] | None = None
    """Fields to leave out of the comparison; default: none."""


class KustomizePostRenderer(FluxModel):
    """Kustomize patches and image overrides applied to the rendered chart."""

    patches: list[Patch] | None = None
    """Strategic merge or JSON6902 patches; default: none."""
    images: list[Image] | None = None
    """Image name, tag and digest overrides; default: none."""


class PostRenderer(FluxModel):
    """A post-renderer of the chart's manifests."""

    kustomize: KustomizePostRenderer | None = None
    """Apply kustomize patches and image overrides; default: none."""


class WaitStrategy(FluxModel):
    """How to wait for resources to become ready."""

    name: Literal["poller", "legacy"]
    """`poller` (kstatus, default) or Helm's `legacy` wait."""


# --- HelmRelease -------------------------------------------------------------------------------


class HelmReleaseSpec(FluxModel):
    """Spec of a HelmRelease: exactly one of `chart` or `chart_ref`."""

    chart: HelmChartTemplate | None = None
    """The chart to fetch from a HelmRepository, GitRepository or Bucket."""
    chart_ref: ChartReference | None = None
    """A chart already fetched: an OCIRepository, HelmChart or ExternalArtifact."""
    interval: Duration
    """How often to reconcile (and correct drift, when enabled)."""
    release_name: ReleaseName | None = None
    """Helm release name; default `[target_namespace-]name`."""
    target_namespace: Namespace | None = None
    """Namespace to install into; default: the HelmRelease's."""
    storage_namespace: Namespace | None = None
    """Namespace of the release's Helm storage; default: the HelmRelease's."""
    service_account_name: Name | None = None
    """Service account to impersonate; default: the controller's."""
    kube_config: KubeConfigReference | None = None
    """Install into a remote cluster; default: the cluster Flux runs in."""
    depends_on: list[HelmReleaseDependencyReference] | None = None
    """HelmReleases that must be ready first; default: none."""
    values: JsonObject | None = None
    """Inline values, rendered verbatim; they win over `values_from` without a target path."""
    values_from: list[ValuesReference] | None = None
    """Values from ConfigMaps and Secrets, merged in order; default: none."""
    timeout: Duration | None = None
    """Timeout of each Helm action; default `5m0s`."""
    max_history: int | None = None
    """Release revisions to keep; default 5; 0: no limit."""
    persistent_client: bool | None = None
    """Reuse one Kubernetes client for all Helm actions; default true."""
    install: Install | None = None
    """How to install; default: Helm's defaults."""
    upgrade: Upgrade | None = None
    """How to upgrade; default: Helm's defaults."""
    test: Test | None = None
    """Run Helm tests after install and upgrade; default: no tests."""
    rollback: Rollback | None = None
    """How to roll back a failed upgrade; default: Helm's defaults."""
    uninstall: Uninstall | None = None
    """How to uninstall; default: Helm's defaults."""
    drift_detection: DriftDetection | None = None
    """Detect and correct drift of the cluster from the release; default: disabled."""
    post_renderers: list[PostRenderer] | None = None
    """Post-renderers applied to the rendered manifests, in order; default: none."""
    post_render_strategy: Literal["nohooks", "combined", "separate"] | None = None
    """Which manifests post-renderers see: hooks too (`combined`, default), apart or not."""
    wait_strategy: WaitStrategy | None = None
    """How to wait for readiness; default `poller`."""
    health_check_exprs: list[CustomHealthCheck] | None = None
    """CEL health checks for custom resource kinds (`poller` only); default: none."""
    common_metadata: CommonMetadata | None = None
    """Labels and annotations set on every object of the release; default: none."""
    suspend: bool | None = None
    """Stop reconciling; default false."""

    @pydantic.model_validator(mode="after")
    def _chart_or_chart_ref(self) -> Self:
        # The CRD's CEL rule: exactly one of chart and chartRef.
        if self.chart is not None and self.chart_ref is not None:
            raise Invalid(
                "chartRef",
                self.chart_ref.to_dict(),
                "cannot be set together with spec.chart: exactly one of spec.chart or "
                "spec.chartRef is needed",
            )
        if self.chart is None and self.chart_ref is None:
            raise Invalid("chart", MISSING, "exactly one of spec.chart or spec.chartRef is needed")
        return self


class HelmRelease(FluxObject):
    """A Helm chart Flux installs, upgrades, tests and remediates."""

    api_version = API_VERSION
    kind = "HelmRelease"
    removed_versions = _REMOVED

    spec: HelmReleaseSpec = FILLED

    if TYPE_CHECKING:
        # The flat form (`HelmRelease(name=..., interval=...)`) under mypy: the pydantic plugin
        # synthesizes __init__(metadata, spec) for every subclass that lacks its own, and the
        # `init_forbid_extra = false` setting does not add **kwargs when extra="forbid".
        def __init__(self, /, **data: Any) -> None: ...
