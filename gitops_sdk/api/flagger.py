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
CanaryRelease("demo-app", canary, target=deployment)
```
"""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any, ClassVar, Literal, Self

import pulumi
import pydantic
from pydantic import AfterValidator, PrivateAttr

from gitops_sdk.components.resource import FluxResource
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError
from gitops_sdk.core.fields import Duration, Name, Namespace
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
    "CanaryRelease",
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

_FLAGGER_INTERVAL = re.compile(r"^[0-9]+(m|s)")


def _check_flagger_interval(value: str) -> str:
    # Flagger's CRD pattern is `^[0-9]+(m|s)`: a Go duration that starts in seconds or minutes.
    if not _FLAGGER_INTERVAL.match(value):
        raise ValueError(
            "must start with a number of seconds or minutes (Flagger's CRD pattern "
            "'^[0-9]+(m|s)'), e.g. '30s', '1m', '90m'"
        )
    return value


FlaggerDuration = Annotated[Duration, AfterValidator(_check_flagger_interval)]
"""A Go duration Flagger accepts: `30s`, `1m`, `1m30s` (not `1h`: write `60m`)."""

Percent = Annotated[int, pydantic.Field(ge=0, le=100)]
Weight = Annotated[int, pydantic.Field(gt=0, le=100)]


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
    def of(cls, resource: pulumi.CustomResource, name: str | None = None) -> Self:
        """A reference to a `pulumi_kubernetes` Deployment, DaemonSet or Service resource.

        `name` is the Kubernetes name (default: the Pulumi resource name); `CanaryRelease`
        checks it against the resource's real `metadata.name` when that is known.
        """
        kind = _resource_kind(resource)
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
    def resource(self) -> pulumi.CustomResource | None:
        """The Pulumi resource this reference was built from, if any."""
        return self._resource  # type: ignore[no-any-return]


def _resource_kind(resource: Any) -> str | None:
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


class ThresholdRange(FluxModel):
    """Accepted range of a metric: fails below `min` or above `max`."""

    min: int | float | None = None
    """Lowest accepted value."""
    max: int | float | None = None
    """Highest accepted value."""

    @pydantic.model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise Invalid("min", MISSING, "set min, max or both; an empty range never fails")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise Invalid("min", self.min, f"is greater than max ({self.max:g})")
        return self


class MetricTemplateRef(FluxModel):
    """A Flagger MetricTemplate holding a custom query."""

    name: Name
    """Name of the MetricTemplate."""
    namespace: Namespace | None = None
    """Its namespace; default: the Canary's."""


BUILTIN_METRICS = ("request-success-rate", "request-duration")
"""Metrics Flagger computes itself from the provider's Prometheus data."""


class CanaryMetric(FluxModel):
    """One metric check of the analysis."""

    name: str
    """`request-success-rate` (percent), `request-duration` (ms) or a custom name."""
    threshold_range: ThresholdRange | None = None
    """Accepted range of the value."""
    interval: FlaggerDuration | None = None
    """Window the metric is computed over, e.g. `1m`."""
    template_ref: MetricTemplateRef | None = None
    """MetricTemplate with the query of a custom metric."""
    template_variables: dict[str, str] | None = None
    """Extra variables for the template's query."""

    @classmethod
    def request_success_rate(cls, *, min: int | float, interval: str = "1m") -> Self:
        """Fail when fewer than `min` percent of requests succeed (non-5xx)."""
        return cls(name="request-success-rate", threshold_range={"min": min}, interval=interval)

    @classmethod
    def request_duration(cls, *, max: int | float, interval: str = "1m") -> Self:
        """Fail when the P99 request duration exceeds `max` milliseconds."""
        return cls(name="request-duration", threshold_range={"max": max}, interval=interval)

    @pydantic.model_validator(mode="after")
    def _fits_metric(self) -> Self:
        rng = self.threshold_range
        if self.name in BUILTIN_METRICS:
            if self.template_ref is not None:
                raise Invalid(
                    "templateRef",
                    self.template_ref.to_dict(),
                    f"{self.name!r} is built in; a custom query needs another metric name",
                )
            if self.name == "request-success-rate":
                if rng is None or rng.min is None:
                    raise Invalid(
                        "thresholdRange.min",
                        MISSING,
                        "request-success-rate needs a minimum success rate in percent, e.g. 99",
                    )
                for bound, value in (("min", rng.min), ("max", rng.max)):
                    if value is not None and not 0 <= value <= 100:
                        raise Invalid(
                            f"thresholdRange.{bound}",
                            value,
                            "is a success rate in percent: expected 0 to 100",
                        )
            else:
                if rng is None or rng.max is None:
                    raise Invalid(
                        "thresholdRange.max",
                        MISSING,
                        "request-duration needs a maximum duration in milliseconds, e.g. 500",
                    )
                if rng.max <= 0:
                    raise Invalid(
                        "thresholdRange.max", rng.max, "is a duration in milliseconds: expected > 0"
                    )
            return self
        if self.template_ref is None:
            raise Invalid(
                "templateRef",
                MISSING,
                f"{self.name!r} is not a built-in metric ({', '.join(BUILTIN_METRICS)}): "
                "point templateRef at a MetricTemplate with its query",
            )
        if rng is None:
            raise Invalid(
                "thresholdRange", MISSING, "is needed: a metric without a range never fails"
            )
        return self


_WEBHOOK_TYPES = Literal[
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
    "event",
]


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(
            "must be an http:// or https:// URL, e.g. 'http://flagger-loadtester.test/'"
        )
    return value


class CanaryWebhook(FluxModel):
    """A hook Flagger calls during the analysis: tests, load generation, gates."""

    name: str
    """Name of the hook, unique within the analysis."""
    url: Annotated[str, AfterValidator(_check_url)]
    """Address Flagger POSTs to."""
    type: _WEBHOOK_TYPES | None = None
    """When it runs: `pre-rollout`, `rollout` (default, each step), `post-rollout`, ..."""
    timeout: FlaggerDuration | None = None
    """How long a call may take."""
    retries: Annotated[int, pydantic.Field(ge=0)] | None = None
    """Retries of a failed call."""
    mute_alert: bool | None = None
    """Do not alert when this hook fails."""
    disable_tls: bool | None = pydantic.Field(default=None, alias="disableTLS")
    """Skip TLS verification."""
    metadata: dict[str, str] | None = None
    """Payload fields, e.g. `{type: bash, cmd: ...}` for the load tester."""


class CanaryAnalysis(FluxModel):
    """How traffic moves and when a release fails."""

    interval: FlaggerDuration
    """Time between steps, e.g. `1m`."""
    threshold: Annotated[int, pydantic.Field(ge=1, le=100)]
    """Failed checks tolerated before rollback."""
    max_weight: Weight | None = None
    """Highest percentage of traffic the canary gets before promotion; default 100."""
    step_weight: Weight | None = None
    """Traffic added per step, in percent."""
    step_weights: list[Weight] | None = None
    """Explicit traffic steps in percent, ascending (instead of `stepWeight`)."""
    step_weight_promotion: Weight | None = None
    """Traffic moved per step during promotion; default: all at once."""
    iterations: Annotated[int, pydantic.Field(ge=1)] | None = None
    """Checks to run for A/B testing or blue/green (instead of weights)."""
    mirror: bool | None = None
    """Mirror traffic to the canary (blue/green with Istio)."""
    mirror_weight: Percent | None = None
    """Percentage of traffic mirrored."""
    primary_ready_threshold: Percent | None = None
    """Percent of primary pods that must be ready; default 100."""
    canary_ready_threshold: Percent | None = None
    """Percent of canary pods that must be ready; default 100."""
    metrics: list[CanaryMetric] | None = None
    """Metric checks run at every step."""
    webhooks: list[CanaryWebhook] | None = None
    """Hooks called before, during and after the analysis."""

    _STRATEGIES: ClassVar[tuple[str, ...]] = ("iterations", "stepWeight", "stepWeights")

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Self:
        chosen = [
            name
            for name, value in zip(
                self._STRATEGIES,
                (self.iterations, self.step_weight, self.step_weights),
                strict=True,
            )
            if value is not None
        ]
        if len(chosen) != 1:
            found = f"found {' and '.join(chosen)}" if chosen else "none is set"
            blame = chosen[1] if len(chosen) > 1 else "stepWeight"
            raise Invalid(
                blame,
                getattr(self, _snake(blame)) if chosen else MISSING,
                "set exactly one of iterations (A/B, blue/green), stepWeight or stepWeights "
                f"(canary); {found}",
            )
        if self.iterations is not None and self.max_weight is not None:
            raise Invalid(
                "maxWeight",
                self.max_weight,
                "applies to weighted canaries (stepWeight/stepWeights), not to iterations",
            )
        max_weight = self.max_weight if self.max_weight is not None else 100
        if self.step_weight is not None and max_weight < self.step_weight:
            raise Invalid(
                "maxWeight",
                max_weight,
                f"is less than stepWeight ({self.step_weight}), so not even the first traffic "
                "step fits; set maxWeight to at least stepWeight",
            )
        if self.step_weights is not None:
            steps = self.step_weights
            if any(b <= a for a, b in itertools.pairwise(steps)):
                raise Invalid("stepWeights", steps, "must be strictly ascending")
            if steps[-1] > max_weight:
                raise Invalid(
                    "stepWeights",
                    steps,
                    f"ends at {steps[-1]}, above maxWeight ({max_weight})",
                )
        for what, items in (("metrics", self.metrics), ("webhooks", self.webhooks)):
            names = [m.name for m in items or []]
            if dupes := sorted({n for n in names if names.count(n) > 1}):
                raise Invalid(what, dupes, "names must be unique")
        return self


def _snake(camel: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)


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
    metrics_server: str | None = None
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
        target: str | pulumi.CustomResource | CanaryTargetRef,
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


class CanaryRelease(pulumi.ComponentResource):
    """Registers a Canary, ordered after its target when `target` (or the ref) is a resource.

    When the target resource's `metadata.name` or namespace becomes known and differs from the
    Canary's `targetRef.name` or namespace, the deployment fails with a SpecError instead of
    leaving Flagger waiting for a workload that does not exist.
    """

    canary: FluxResource[Canary]

    def __init__(
        self,
        name: str,
        canary: Canary,
        *,
        target: pulumi.CustomResource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        ref = canary.spec.target_ref
        target = target if target is not None else ref.resource
        if target is not None:
            kind = _resource_kind(target)
            if kind != ref.kind:
                raise SpecError(
                    "Canary",
                    canary.name,
                    [
                        FieldIssue(
                            "spec.targetRef.kind",
                            ref.kind,
                            f"the target resource is {_a(kind or type(target).__name__)}, "
                            f"not {_a(ref.kind)}",
                        )
                    ],
                )
        super().__init__("gitops:flagger:CanaryRelease", name, None, opts)
        deps: list[pulumi.Resource] = [target] if target is not None else []
        if target is not None:
            metadata = getattr(target, "metadata", None)
            if isinstance(metadata, pulumi.Output):
                metadata.apply(lambda meta: _check_target(canary, meta))
        self.canary = FluxResource(
            f"{name}-canary", canary, pulumi.ResourceOptions(parent=self, depends_on=deps)
        )
        self.register_outputs(
            {
                "name": canary.name,
                "target": f"{ref.kind}/{ref.name}",
                "provider": canary.spec.provider,
            }
        )


def _a(word: str) -> str:
    return ("an " if word[:1] in "AEIOU" else "a ") + word


def _check_target(canary: Canary, meta: Any) -> Any:
    def get(key: str) -> Any:
        return meta.get(key) if isinstance(meta, dict) else getattr(meta, key, None)

    ref = canary.spec.target_ref
    issues = []
    actual = get("name")
    if isinstance(actual, str) and actual != ref.name:
        issues.append(
            FieldIssue(
                "spec.targetRef.name",
                ref.name,
                f"the target {ref.kind} is named {actual!r}; Flagger would wait for a "
                f"{ref.kind} that does not exist",
            )
        )
    namespace = get("namespace") or "default"
    if canary.namespace and isinstance(namespace, str) and namespace != canary.namespace:
        issues.append(
            FieldIssue(
                "metadata.namespace",
                canary.namespace,
                f"the target {ref.kind} is in namespace {namespace!r}; a Canary must be in "
                "its target's namespace",
            )
        )
    if issues:
        raise SpecError("Canary", canary.name, issues)
    return meta


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
