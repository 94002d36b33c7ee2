"""Prometheus alerting rules as typed models: a rule (its expression parsed when it is made and
checked against a metric catalog on demand), a rule group, and the Flux alerts (failing,
suspended, slow, controller down) with severities, `for` durations and thresholds from typed
settings with staging and production presets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Self

import pydantic
from pydantic import AfterValidator, Field

from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.model import FILLED
from gitops_sdk.services.flux_metrics import (
    FLUX_KINDS,
    RECONCILED_KINDS,
    FluxKind,
    object_namespace_label,
)
from gitops_sdk.services.metric_catalog import MetricCatalog
from gitops_sdk.services.promql import check, check_template_labels
from gitops_sdk.services.promql_syntax import PromDuration

__all__ = [
    "AlertRule",
    "FluxRuleSettings",
    "RuleGroup",
    "RuleSettings",
    "Severity",
    "SlowRuleSettings",
    "flux_alert_rules",
]

Severity = Literal["none", "info", "warning", "critical"]
"""Alert severity label, as kube-prometheus-stack's Alertmanager routes use it."""

_ALERT_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:]*$")


def _check_alert_name(value: str) -> str:
    if not _ALERT_NAME.match(value):
        raise ValueError("is not an alert name (letters, digits, '_' and ':'; e.g. 'FluxDown')")
    return value


class AlertRule(FluxModel):
    """One alerting rule; its expression is parsed when the rule is made."""

    alert: Annotated[str, AfterValidator(_check_alert_name)]
    """Name of the alert, e.g. `FluxReconciliationFailure`."""
    expr: str
    """PromQL expression; every result series is a firing alert."""
    for_: PromDuration | None = Field(default=None, alias="for")
    """How long the expression must hold before the alert fires; default: at once."""
    keep_firing_for: PromDuration | None = None
    """How long the alert keeps firing after the expression stops holding."""
    labels: dict[str, str] = {}
    """Labels added to the alert, e.g. `severity`."""
    annotations: dict[str, str] = {}
    """Annotations, e.g. `summary` and `description` (Go templates over `$labels`)."""

    @pydantic.model_validator(mode="after")
    def _parses(self) -> Self:
        check(self.expr, where=f"alert {self.alert!r}: expr")
        return self

    def check(self, catalog: MetricCatalog, *, where: str = "") -> None:
        """Check the expression's metrics and labels, and the labels annotations name."""
        at = f"{where} alert {self.alert!r}".strip()
        checked = check(self.expr, catalog, where=f"{at}: expr")
        for key, text in self.annotations.items():
            check_template_labels(
                text, checked.labels, style="alert", where=f"{at}: annotation {key!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The rule as the PrometheusRule spec lists it."""
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_:
            out["for"] = self.for_
        if self.keep_firing_for:
            out["keep_firing_for"] = self.keep_firing_for
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


class RuleGroup(FluxModel):
    """A group of rules evaluated together."""

    name: str
    """Group name, unique in the PrometheusRule."""
    interval: PromDuration | None = None
    """Evaluation interval; default: Prometheus' global one."""
    rules: Annotated[list[AlertRule], Field(min_length=1)]
    """The rules."""

    @pydantic.model_validator(mode="after")
    def _unique_alerts(self) -> Self:
        first: dict[str, int] = {}
        for i, rule in enumerate(self.rules):
            if rule.alert in first:
                raise Invalid(
                    f"rules[{i}].alert",
                    rule.alert,
                    f"is the name of rules[{first[rule.alert]}] too; alert names must be unique "
                    "in a group",
                )
            first[rule.alert] = i
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.interval:
            out["interval"] = self.interval
        out["rules"] = [r.to_dict() for r in self.rules]
        return out


class RuleSettings(FluxModel):
    """Severity and `for` duration of one of the Flux alerts."""

    enabled: bool = True
    """Render the rule."""
    severity: Severity
    """`severity` label of the alert."""
    for_: PromDuration = Field(alias="for")
    """How long the condition must hold before the alert fires."""


class SlowRuleSettings(RuleSettings):
    """Settings of the slow-reconciliation alert."""

    quantile: Annotated[float, Field(gt=0, lt=1)] = 0.99
    """Quantile of `gotk_reconcile_duration_seconds` compared with the threshold."""
    threshold_seconds: Annotated[float, Field(gt=0)] = 300
    """Reconciliations slower than this (at the quantile) alert."""
    window: PromDuration = "10m"
    """Rate window of the histogram."""


_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # Production pages: failures and a dead controller wake someone up.
    "production": {
        "failing": {"severity": "critical", "for": "10m"},
        "suspended": {"severity": "warning", "for": "5m"},
        "slow": {"severity": "warning", "for": "15m"},
        "controller_down": {"severity": "critical", "for": "5m"},
    },
    # Staging only warns: things break there on purpose.
    "staging": {
        "failing": {"severity": "warning", "for": "10m"},
        "suspended": {"severity": "info", "for": "5m"},
        "slow": {"severity": "warning", "for": "15m"},
        "controller_down": {"severity": "warning", "for": "5m"},
    },
}


class FluxRuleSettings(FluxModel):
    """What the Flux alerts fire on and how loud they are. `preset` (`staging` warns,
    `production` pages) fills the settings that are not given."""

    preset: Literal["staging", "production"] = "production"
    """Defaults for the rules below."""
    failing: RuleSettings = FILLED
    """A Flux object not ready (reconciliation failing)."""
    suspended: RuleSettings = FILLED
    """A Flux object suspended."""
    slow: SlowRuleSettings = FILLED
    """Reconciliations slower than a threshold."""
    controller_down: RuleSettings = FILLED
    """A controller not scraped, or no controller target at all."""
    rule_labels: dict[str, str] = {}
    """Labels added to every alert, e.g. `cluster: kubestaging`."""
    extra_rules: list[AlertRule] = []
    """More rules for the same group, checked like the built-in ones."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names = {info.alias or f: f for f, info in cls.model_fields.items()}
        given = {names.get(k, k): v for k, v in data.items()}
        preset = given.get("preset", "production")
        # An unknown preset is reported by the Literal check; production fills the rest meanwhile.
        defaults = _PRESETS.get(preset if isinstance(preset, str) else "", _PRESETS["production"])
        for rule, values in defaults.items():
            mine = given.get(rule)
            if mine is None:
                given[rule] = dict(values)
            elif isinstance(mine, dict):
                mine = {"for" if k == "for_" else k: v for k, v in mine.items()}
                given[rule] = {**values, **mine}
        return given

    @classmethod
    def for_environment(cls, environment: Literal["staging", "production"], **changes: Any) -> Self:
        """The preset for `environment`, with `changes` (e.g. `failing={"for": "15m"}`)."""
        return cls(preset=environment, **changes)


def _kind_regex(kinds: Sequence[str]) -> str:
    return "|".join(kinds)


def flux_alert_rules(
    settings: FluxRuleSettings,
    *,
    job: str = "flux-system/flux-system",
    kinds: Sequence[FluxKind] = FLUX_KINDS,
    honor_labels: bool = False,
) -> RuleGroup:
    """The Flux rule group: failing and suspended objects (from `gotk_resource_info`), slow
    reconciliations (from the duration histogram) and controllers that are down."""
    object_ns = object_namespace_label(honor_labels)
    reconciled = [k for k in kinds if k in RECONCILED_KINDS]
    by_object = "customresource_kind, exported_namespace, name"
    rules: list[AlertRule] = []

    def add(rule: RuleSettings, alert: str, expr: str, summary: str, description: str) -> None:
        if not rule.enabled:
            return
        rules.append(
            AlertRule(
                alert=alert,
                expr=expr,
                for_=rule.for_,
                labels={**settings.rule_labels, "severity": rule.severity},
                annotations={"summary": summary, "description": description},
            )
        )

    obj = "{{ $labels.customresource_kind }} {{ $labels.exported_namespace }}/{{ $labels.name }}"
    # kube-state-metrics reports only the configured kinds: filter only for a narrower list.
    narrower = set(kinds) != set(FLUX_KINDS)
    kind_filter = f', customresource_kind=~"{_kind_regex(kinds)}"' if narrower else ""
    if reconciled:
        add(
            settings.failing,
            "FluxReconciliationFailure",
            f"max by ({by_object}) "
            f'(gotk_resource_info{{ready="False", suspended!="true"{kind_filter}}}) > 0',
            f"{obj} is not ready",
            f"{obj} has been failing to reconcile for more than {settings.failing.for_}.",
        )
    add(
        settings.suspended,
        "FluxResourceSuspended",
        f'max by ({by_object}) (gotk_resource_info{{suspended="true"{kind_filter}}}) > 0',
        f"{obj} is suspended",
        f"{obj} has been suspended for more than {settings.suspended.for_}; "
        "Flux does not apply changes to it.",
    )
    slow = settings.slow
    if reconciled:
        dur = "{{ $labels.kind }} {{ $labels." + object_ns + " }}/{{ $labels.name }}"
        selector = (
            f'{{kind=~"{_kind_regex(reconciled)}"}}'
            if set(reconciled) != set(RECONCILED_KINDS)
            else ""
        )
        add(
            slow,
            "FluxReconciliationSlow",
            f"histogram_quantile({slow.quantile:g}, sum by (kind, {object_ns}, name, le) "
            f"(rate(gotk_reconcile_duration_seconds_bucket{selector}[{slow.window}]))) "
            f"> {slow.threshold_seconds:g}",
            f"{dur} reconciles slowly",
            f"The p{slow.quantile * 100:g} reconciliation time of {dur} has been above "
            f"{slow.threshold_seconds:g}s for more than {slow.for_}.",
        )
    add(
        settings.controller_down,
        "FluxControllerDown",
        f'up{{job="{job}"}} == 0 or absent(up{{job="{job}"}})',
        "A Flux controller is down",
        f"Prometheus cannot scrape {{{{ $labels.pod }}}} of job {job} (or finds no Flux "
        f"controller at all) for more than {settings.controller_down.for_}.",
    )
    rules.extend(settings.extra_rules)
    return RuleGroup(name="flux", rules=rules)
