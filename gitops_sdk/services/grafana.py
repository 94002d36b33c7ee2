"""A Grafana dashboard as a typed model (panels of PromQL targets on a 24-column grid, label
variables) with its JSON rendering and a check of every query and legend against a metric
catalog; and the Flux dashboard built from it."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from gitops_sdk.core.base import FluxModel
from gitops_sdk.services.flux_metrics import object_namespace_label
from gitops_sdk.services.metric_catalog import MetricCatalog
from gitops_sdk.services.promql import check, check_template_labels

__all__ = [
    "Dashboard",
    "DashboardUid",
    "Panel",
    "Target",
    "Threshold",
    "Variable",
    "check_uid",
    "flux_dashboard",
]


class Target(FluxModel):
    """One query of a panel."""

    expr: str
    """PromQL; Grafana variables (`$namespace`, `$__rate_interval`) are allowed."""
    legend: str | None = None
    """Legend template, e.g. `{{kind}}`; its labels must exist on the result."""
    instant: bool = False
    """Query only the latest value (tables, stats)."""
    table: bool = False
    """Return a table instead of time series."""


class Threshold(FluxModel):
    """A colour step: from `value` up (None: from minus infinity)."""

    value: float | None = None
    color: str


class Panel(FluxModel):
    """A dashboard panel; panels flow left to right on a 24-column grid."""

    title: str
    kind: Literal["stat", "timeseries", "table", "bargauge"]
    """Grafana panel type."""
    targets: Annotated[list[Target], Field(min_length=1)]
    width: Annotated[int, Field(ge=1, le=24)] = 12
    height: Annotated[int, Field(ge=1)] = 8
    unit: str | None = None
    """Grafana unit, e.g. `s`, `short`."""
    description: str | None = None
    thresholds: list[Threshold] = []
    """Colour steps (stats and bar gauges)."""


_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_variable_name(value: str) -> str:
    if not _VARIABLE_NAME.match(value) or value.startswith("__"):
        raise ValueError("is not a variable name (letters, digits and '_', not starting '__')")
    return value


class Variable(FluxModel):
    """A dashboard variable listing the values of one label: `label_values(metric, label)`."""

    name: Annotated[str, AfterValidator(_check_variable_name)]
    label: str
    """What the variable is called on screen."""
    metric: str
    label_name: str
    multi: bool = True
    include_all: bool = True


def check_uid(value: str) -> str:
    """`value` if it is a dashboard uid; else a ValueError saying what was expected."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", value):
        raise ValueError("is not a dashboard uid (1 to 40 letters, digits, '-' and '_')")
    return value


DashboardUid = Annotated[str, AfterValidator(check_uid)]
"""A Grafana dashboard uid: 1 to 40 letters, digits, '-' and '_'."""


class Dashboard(FluxModel):
    """A Grafana dashboard on a Prometheus data source chosen with the `datasource` variable."""

    title: str
    uid: DashboardUid
    tags: list[str] = []
    refresh: str = "1m"
    time_from: str = "now-6h"
    variables: list[Variable] = []
    panels: Annotated[list[Panel], Field(min_length=1)]

    def queries(self) -> list[str]:
        """Every panel query."""
        return [t.expr for p in self.panels for t in p.targets]

    def check(self, catalog: MetricCatalog) -> None:
        """Check every query and legend against `catalog` (and the variables' metric/label)."""
        for var in self.variables:
            check(
                f'{var.metric}{{{var.label_name}!=""}}',
                catalog,
                where=f"dashboard {self.uid!r} variable {var.name!r}",
            )
        for panel in self.panels:
            for i, target in enumerate(panel.targets):
                where = f"dashboard {self.uid!r} panel {panel.title!r} query {i + 1}"
                checked = check(target.expr, catalog, where=where, grafana=True)
                if target.legend:
                    check_template_labels(
                        target.legend, checked.labels, style="legend", where=f"{where} legend"
                    )

    def to_json(self) -> dict[str, Any]:
        """The dashboard JSON model Grafana's sidecar loads."""
        datasource = {"type": "prometheus", "uid": "${datasource}"}
        templating: list[dict[str, Any]] = [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            }
        ]
        for var in self.variables:
            query = f"label_values({var.metric}, {var.label_name})"
            templating.append(
                {
                    "name": var.name,
                    "label": var.label,
                    "type": "query",
                    "datasource": datasource,
                    "query": {"query": query, "refId": f"var-{var.name}"},
                    "definition": query,
                    "refresh": 2,
                    "multi": var.multi,
                    "includeAll": var.include_all,
                    "allValue": ".*" if var.include_all else None,
                    "current": {},
                    "sort": 1,
                    "hide": 0,
                }
            )
        panels = []
        x = y = row_height = 0
        for index, panel in enumerate(self.panels, start=1):
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(self._panel_json(panel, index, datasource, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        return {
            "uid": self.uid,
            "title": self.title,
            "tags": list(self.tags),
            "editable": False,
            "schemaVersion": 39,
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "timezone": "browser",
            "templating": {"list": templating},
            "annotations": {"list": []},
            "panels": panels,
        }

    @staticmethod
    def _panel_json(
        panel: Panel, index: int, datasource: dict[str, str], x: int, y: int
    ) -> dict[str, Any]:
        targets = []
        for i, t in enumerate(panel.targets):
            target: dict[str, Any] = {
                "refId": chr(ord("A") + i),
                "datasource": datasource,
                "expr": t.expr,
                "instant": t.instant,
                "range": not t.instant,
                "format": "table" if t.table else "time_series",
            }
            if t.legend:
                target["legendFormat"] = t.legend
            targets.append(target)
        defaults: dict[str, Any] = {}
        if panel.unit:
            defaults["unit"] = panel.unit
        if panel.thresholds:
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"value": s.value, "color": s.color} for s in panel.thresholds],
            }
        out: dict[str, Any] = {
            "id": index,
            "type": panel.kind,
            "title": panel.title,
            "datasource": datasource,
            "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
            "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {},
        }
        if panel.description:
            out["description"] = panel.description
        return out


def flux_dashboard(
    *,
    title: str = "Flux",
    uid: str = "flux-gitops",
    job: str = "flux-system/flux-system",
    honor_labels: bool = False,
) -> Dashboard:
    """The Flux dashboard: object status, failures per kind and namespace, reconciliation rates
    and durations, controller health. Filtered by the `namespace` and `kind` variables."""
    ns = object_namespace_label(honor_labels)
    info = 'gotk_resource_info{exported_namespace=~"$namespace", customresource_kind=~"$kind"'
    dur = f'{ns}=~"$namespace", kind=~"$kind"'
    rate = "[$__rate_interval]"
    green_red = [Threshold(color="green"), Threshold(value=1, color="red")]
    p99 = (
        "histogram_quantile(0.99, sum by ({by}, le) "
        "(rate(gotk_reconcile_duration_seconds_bucket{{{sel}}}{rate})))"
    )
    panels = [
        Panel(
            title="Flux objects",
            kind="stat",
            width=6,
            height=4,
            targets=[Target(expr=f"count({info}}})", instant=True)],
        ),
        Panel(
            title="Not ready",
            kind="stat",
            width=6,
            height=4,
            thresholds=green_red,
            targets=[Target(expr=f'count({info}, ready="False"}}) or vector(0)', instant=True)],
        ),
        Panel(
            title="Suspended",
            kind="stat",
            width=6,
            height=4,
            thresholds=[Threshold(color="green"), Threshold(value=1, color="orange")],
            targets=[Target(expr=f'count({info}, suspended="true"}}) or vector(0)', instant=True)],
        ),
        Panel(
            title="Controllers up",
            kind="stat",
            width=6,
            height=4,
            targets=[Target(expr=f'sum(up{{job="{job}"}})', instant=True)],
        ),
        Panel(
            title="Reconciliation status",
            kind="table",
            width=24,
            description="Every Flux object with its readiness, suspension and revision.",
            targets=[Target(expr=info + "}", instant=True, table=True)],
        ),
        Panel(
            title="Failing objects per kind",
            kind="timeseries",
            targets=[
                Target(
                    expr=f'count by (customresource_kind) ({info}, ready="False"}})',
                    legend="{{customresource_kind}}",
                )
            ],
        ),
        Panel(
            title="Failing objects per namespace",
            kind="timeseries",
            targets=[
                Target(
                    expr=f'count by (exported_namespace) ({info}, ready="False"}})',
                    legend="{{exported_namespace}}",
                )
            ],
        ),
        Panel(
            title="Reconciliation duration p99 per kind",
            kind="timeseries",
            unit="s",
            targets=[Target(expr=p99.format(by="kind", sel=dur, rate=rate), legend="{{kind}}")],
        ),
        Panel(
            title="Reconciliation duration p99 per namespace",
            kind="timeseries",
            unit="s",
            targets=[Target(expr=p99.format(by=ns, sel=dur, rate=rate), legend=f"{{{{{ns}}}}}")],
        ),
        Panel(
            title="Reconciliations per kind",
            kind="timeseries",
            unit="ops",
            targets=[
                Target(
                    expr=f"sum by (kind) (rate(gotk_reconcile_duration_seconds_count{{{dur}}}"
                    f"{rate}))",
                    legend="{{kind}}",
                )
            ],
        ),
        Panel(
            title="Reconcile errors per controller",
            kind="timeseries",
            unit="ops",
            targets=[
                Target(
                    expr='sum by (controller) (rate(controller_runtime_reconcile_total{job="'
                    + job
                    + '", result="error"}'
                    + rate
                    + "))",
                    legend="{{controller}}",
                )
            ],
        ),
    ]
    return Dashboard(
        title=title,
        uid=uid,
        tags=["flux", "gitops"],
        variables=[
            Variable(
                name="namespace",
                label="Namespace",
                metric="gotk_resource_info",
                label_name="exported_namespace",
            ),
            Variable(
                name="kind",
                label="Kind",
                metric="gotk_resource_info",
                label_name="customresource_kind",
            ),
        ],
        panels=panels,
    )
