"""flagger.app/v1beta1: progressive delivery with Flagger's `Canary`.

Flagger watches a Deployment (the canary's `targetRef`), and on every change shifts traffic
to the new version step by step through the ingress provider (traefik in the homelab),
checking metrics and webhooks at each step; too many failed checks roll it back.

```python
canary = Canary.for_deployment(
    "demo-app",
    namespace="staging",
    service={"port": 80, "target_port": 80},
    analysis=CanaryAnalysis(
        interval="1m", threshold=5, max_weight=50, step_weight=10,
        metrics=[CanaryMetric.request_success_rate(min=99),
                 CanaryMetric.request_duration(max=500, interval="30s")],
    ),
)
CanaryRelease("demo-app", CanaryReleaseArgs(canary=canary, target=deployment))
```
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

import pydantic
from pydantic import AfterValidator, PrivateAttr

from gitops_sdk.api.flagger_analysis import (
    BUILTIN_METRICS,
    CanaryAnalysis,
    CanaryMetric,
    CanaryWebhook,
    MetricTemplateRef,
    ThresholdRange,
)
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError
from gitops_sdk.core.fields import Name, Namespace, url_check
from gitops_sdk.core.model import FILLED, FluxObject

__all__ = [
    "API_VERSION",
    "BUILTIN_METRICS",
    "AutoscalerRef",
    "Canary",
    "CanaryAnalysis",
    "CanaryConfig",
    "CanaryEntry",
    "CanaryMetric",
    "CanaryProvider",
    "CanaryService",
    "CanarySpec",
    "CanaryTargetRef",
    "CanaryWebhook",
    "MetricTemplateRef",
    "ThresholdRange",
]

API_VERSION = "flagger.app/v1beta1"

CanaryProvider = Literal[
    "apisix",
    "appmesh",
    "appmesh:v1beta2",
    "contour",
    "gatewayapi:v1",
    "gatewayapi:v1beta1",
    "gloo",
    "istio",
    "knative",
    "kubernetes",
    "kuma",
    "linkerd",
    "nginx",
    "osm",
    "skipper",
    "smi:v1alpha1",
    "smi:v1alpha2",
    "smi:v1alpha3",
    "traefik",
]
"""Traffic providers Flagger's CRD accepts in `spec.provider`."""


class CanaryTargetRef(FluxModel):
    """The workload Flagger manages: a Deployment, DaemonSet or Service.

    Build it from a name (`CanaryTargetRef.deployment("demo-app")`) or from the Pulumi resource
    (`CanaryTargetRef.of(deployment)`), which also orders the Canary after it.
    """

    api_version: str = FILLED
    """API version of the target; filled from the kind (`apps/v1`, or `v1` for a Service)."""
    kind: Literal["Deployment", "DaemonSet", "Service"]
    """Kind of the target."""
    name: Name
    """Name of the target, in the Canary's namespace."""

    _resource: Any = PrivateAttr(default=None)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _api_version_from_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "apiVersion" not in data and "api_version" not in data:
            kind = data.get("kind")
            if kind in ("Deployment", "DaemonSet"):
                return {**data, "apiVersion": "apps/v1"}
            if kind == "Service":
                return {**data, "apiVersion": "v1"}
        return data

    @classmethod
    def deployment(cls, name: str) -> Self:
        """A Deployment by name."""
        return cls(kind="Deployment", name=name)

    @classmethod
    def daemon_set(cls, name: str) -> Self:
        """A DaemonSet by name."""
        return cls(kind="DaemonSet", name=name)

    @classmethod
    def of(cls, resource: Any, name: str | None = None) -> Self:
        """A reference to a `pulumi_kubernetes` Deployment, DaemonSet or Service resource.

        `name` is the Kubernetes name (default: the Pulumi resource name); `CanaryRelease`
        checks it against the resource's real `metadata.name` when that is known.
        """
        kind = resource_kind(resource)
        if kind is None:
            raise SpecError(
                "CanaryTargetRef",
                None,
                [
                    FieldIssue(
                        "kind",
                        type(resource).__name__,
                        "the target must be a pulumi_kubernetes Deployment, DaemonSet or Service",
                    )
                ],
            )
        ref = cls(kind=kind, name=name or resource.pulumi_resource_name)
        ref._resource = resource
        return ref

    @property
    def resource(self) -> Any:
        """The Pulumi resource this reference was built from, if any."""
        return self._resource


def resource_kind(resource: Any) -> str | None:
    """The kind of a pulumi_kubernetes workload resource a canary can target, or None."""
    kind = type(resource).__name__
    module = type(resource).__module__
    if module.startswith("pulumi_kubernetes.") and kind in ("Deployment", "DaemonSet", "Service"):
        return kind
    return None


class AutoscalerRef(FluxModel):
    """The autoscaler Flagger copies for the primary: an HPA or a KEDA ScaledObject."""

    api_version: str = FILLED
    """API version; filled from the kind (`autoscaling/v2`, `keda.sh/v1alpha1`)."""
    kind: Literal["HorizontalPodAutoscaler", "ScaledObject"]
    """Kind of the autoscaler."""
    name: Name
    """Its name."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _api_version_from_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "apiVersion" not in data and "api_version" not in data:
            versions = {
                "HorizontalPodAutoscaler": "autoscaling/v2",
                "ScaledObject": "keda.sh/v1alpha1",
            }
            if data.get("kind") in versions:
                return {**data, "apiVersion": versions[data["kind"]]}
        return data


class CanaryService(FluxModel):
    """The Service Flagger generates (`<name>`, `<name>-primary`, `<name>-canary`)."""

    name: Name | None = None
    """Service name; default: the target's name."""
    port: Annotated[int, pydantic.Field(ge=1, le=65535)]
    """Port the Service exposes."""
    port_name: str | None = None
    """Name of that port; default `http`."""
    target_port: Annotated[int, pydantic.Field(ge=1, le=65535)] | str | None = None
    """Container port number or name; default: `port`."""
    app_protocol: str | None = None
    """Application protocol of the port, e.g. `http`."""
    port_discovery: bool | None = None
    """Also expose every other container port."""
    headless: bool | None = None
    """Generate headless Services."""
    timeout: str | None = None
    """HTTP or gRPC request timeout (provider dependent)."""


_METRICS_HINT = "Flagger reads Prometheus credentials from a MetricTemplate's provider secretRef"


class CanarySpec(FluxModel):
    """Spec of a Canary."""

    target_ref: CanaryTargetRef
    """The Deployment (or DaemonSet, Service) Flagger progressively delivers."""
    analysis: CanaryAnalysis
    """Steps, checks and hooks of a release."""
    provider: CanaryProvider | None = None
    """Traffic provider; default: Flagger's `-mesh-provider` (homelab: traefik)."""
    service: CanaryService | None = None
    """The Service Flagger generates; needed for traffic shifting."""
    progress_deadline_seconds: Annotated[int, pydantic.Field(ge=1)] | None = None
    """Seconds the target may take to make progress before rollback; default 600."""
    autoscaler_ref: AutoscalerRef | None = None
    """Autoscaler Flagger copies for the primary."""
    metrics_server: (
        Annotated[str, AfterValidator(url_check(("http", "https"), _METRICS_HINT))] | None
    ) = None
    """Prometheus address; default: Flagger's `-metrics-server`."""
    skip_analysis: bool | None = None
    """Promote without analysis."""
    revert_on_deletion: bool | None = None
    """Restore the target when the Canary is deleted."""
    suspend: bool | None = None
    """Pause all canary runs."""

    @pydantic.model_validator(mode="after")
    def _service_for_traffic(self) -> Self:
        if self.service is None and self.provider is not None and self.provider != "kubernetes":
            raise Invalid(
                "service",
                MISSING,
                f"is needed with provider {self.provider!r}: Flagger routes traffic through the "
                "primary and canary Services it generates from it",
            )
        return self


class Canary(FluxObject):
    """A Flagger Canary: progressive delivery of one workload."""

    api_version = API_VERSION
    kind = "Canary"

    spec: CanarySpec = FILLED

    @classmethod
    def for_deployment(
        cls,
        target: str | CanaryTargetRef | Any,
        *,
        namespace: str,
        analysis: CanaryAnalysis | dict[str, Any],
        service: CanaryService | dict[str, Any],
        name: str | None = None,
        provider: CanaryProvider = "traefik",
        **spec: Any,
    ) -> Canary:
        """A Canary for a Deployment given by name, Pulumi resource or reference.

        The Canary is named after its target unless `name` is given; `provider` defaults to
        traefik, the homelab's ingress.
        """
        if isinstance(target, CanaryTargetRef):
            ref = target
        elif isinstance(target, str):
            ref = CanaryTargetRef.deployment(target)
        else:
            ref = CanaryTargetRef.of(target)
        try:
            spec_model = CanarySpec(
                target_ref=ref, analysis=analysis, service=service, provider=provider, **spec
            )
        except SpecError as err:
            # Blame the Canary, with paths below spec, as the flat constructor would.
            issues = [FieldIssue(f"spec.{i.path}", i.value, i.problem) for i in err.issues]
            raise SpecError("Canary", name or ref.name, issues) from None
        return Canary(metadata={"name": name or ref.name, "namespace": namespace}, spec=spec_model)


class CanaryEntry(FluxModel):
    """One canary in the `gitops:canary` stack key."""

    namespace: Namespace
    """Namespace of the target and the Canary."""
    target: Name
    """Name of the target workload."""
    kind: Literal["Deployment", "DaemonSet"] = "Deployment"
    """Kind of the target."""
    service: CanaryService
    """The Service Flagger generates."""
    analysis: CanaryAnalysis
    """Steps, checks and hooks."""
    progress_deadline_seconds: Annotated[int, pydantic.Field(ge=1)] | None = None
    """Seconds the target may take to progress before rollback; default 600."""
    provider: CanaryProvider | None = None
    """Traffic provider; default: the key's `provider`."""


class CanaryConfig(FluxModel):
    """The `gitops:canary` stack key: Flagger canaries, off unless `enabled`."""

    enabled: bool = False
    """Render the canaries (production turns this on)."""
    provider: CanaryProvider = "traefik"
    """Traffic provider of every canary that names none."""
    canaries: dict[Name, CanaryEntry] = {}
    """Canaries by name."""

    def build(self) -> list[Canary]:
        """The Canary objects, or none when disabled."""
        if not self.enabled:
            return []
        out = []
        for name, entry in self.canaries.items():
            out.append(
                Canary.for_deployment(
                    CanaryTargetRef(kind=entry.kind, name=entry.target),
                    name=name,
                    namespace=entry.namespace,
                    service=entry.service,
                    analysis=entry.analysis,
                    provider=entry.provider or self.provider,
                    progress_deadline_seconds=entry.progress_deadline_seconds,
                )
            )
        return out
