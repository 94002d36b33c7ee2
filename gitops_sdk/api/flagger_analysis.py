"""Flagger canary analysis: the metrics, thresholds and webhooks checked at every step, and
the step schedule itself (interval, weights, iterations)."""

from __future__ import annotations

import itertools
import re
from typing import Annotated, ClassVar, Literal, Self

import pydantic
from pydantic import AfterValidator

from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import MISSING
from gitops_sdk.core.fields import Duration, Name, Namespace, url_check

__all__ = [
    "BUILTIN_METRICS",
    "CanaryAnalysis",
    "CanaryMetric",
    "CanaryWebhook",
    "MetricTemplateRef",
    "ThresholdRange",
]


def _snake(camel: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)


_FLAGGER_INTERVAL = re.compile(r"^[0-9]+(m|s)")


def check_flagger_interval(value: str) -> str:
    # Flagger's CRD pattern is `^[0-9]+(m|s)`: a Go duration that starts in seconds or minutes.
    if not _FLAGGER_INTERVAL.match(value):
        raise ValueError(
            "must start with a number of seconds or minutes (Flagger's CRD pattern "
            "'^[0-9]+(m|s)'), e.g. '30s', '1m', '90m'"
        )
    return value


FlaggerDuration = Annotated[Duration, AfterValidator(check_flagger_interval)]
"""A Go duration Flagger accepts: `30s`, `1m`, `1m30s` (not `1h`: write `60m`)."""

Percent = Annotated[int, pydantic.Field(ge=0, le=100)]
Weight = Annotated[int, pydantic.Field(gt=0, le=100)]


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


_check_url = url_check(
    ("http", "https"), "pass credentials in the webhook's metadata or the receiver's own config"
)


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
