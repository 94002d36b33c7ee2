"""A metric catalog: the series a PromQL query may use, each with the labels its series carry
once scraped, and the metrics that were removed with what replaces them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from gitops_sdk.services.promql_syntax import closest

__all__ = ["MetricCatalog", "MetricInfo", "MetricType"]

MetricType = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True)
class MetricInfo:
    """One metric that exists, with every label its series carry once scraped."""

    name: str
    type: MetricType
    labels: frozenset[str]
    help: str = ""
    values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Labels whose values are a known, closed set (e.g. `ready`: True, False, Unknown)."""


_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


class MetricCatalog:
    """The series a query may use: metrics (histograms expand to `_bucket`, `_sum`, `_count`) and
    metrics that were removed, with what replaces them."""

    def __init__(self, metrics: Iterable[MetricInfo], *, removed: Mapping[str, str] = {}) -> None:
        self.metrics = {m.name: m for m in metrics}
        self.removed = dict(removed)
        self._series: dict[str, MetricInfo] = {}
        for m in self.metrics.values():
            if m.type != "histogram":
                self._series[m.name] = m
                continue
            for suffix in _HISTOGRAM_SUFFIXES:
                labels = m.labels | {"le"} if suffix == "_bucket" else m.labels
                self._series[m.name + suffix] = MetricInfo(
                    m.name + suffix, "counter", labels, m.help, m.values
                )

    def series(self, name: str) -> MetricInfo | None:
        """The series `name`, or None when no such series exists."""
        return self._series.get(name)

    def names(self) -> list[str]:
        """Every series name, sorted."""
        return sorted(self._series)

    def unknown(self, name: str) -> str:
        """Why `name` is not a series, and what to use instead."""
        if name in self.removed:
            return f"metric {name!r} no longer exists: {self.removed[name]}"
        metric = self.metrics.get(name)
        if metric is not None and metric.type == "histogram":
            return (
                f"{name!r} is a histogram: query {name}_bucket (with histogram_quantile), "
                f"{name}_sum or {name}_count"
            )
        return f"unknown metric {name!r}{closest(name, self._series)}"
