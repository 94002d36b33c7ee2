"""PromQL checking: every expression the SDK emits must parse and may only use metrics and labels
that really exist, so a rule on a metric Flux stopped exporting fails at program time instead of
silently never firing.

promql-parser (services/promql_syntax.py) parses; a `MetricCatalog` says which series exist and
with which labels. `check()` follows labels through promql-parser's tree (aggregations, vector
matching, `histogram_quantile`, `label_replace`, ...), so `sum by (kind) (...)` over a series
without `kind`, or `on (namespace)` where one side lost that label, is reported where it is
written. A function whose effect on labels the flow does not know leaves them unknown (nothing
above it is label-checked) rather than being refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import promql_parser

from gitops_sdk.services.metric_catalog import MetricCatalog, MetricInfo
from gitops_sdk.services.promql_syntax import FUNCTIONS, PromQLError, closest, parse, value_type
from gitops_sdk.services.promql_tokens import Brackets, Token, substitute_variables, tokenize

__all__ = [
    "Checked",
    "MetricCatalog",
    "MetricInfo",
    "PromQLError",
    "check",
    "check_template_labels",
    "parse",
]

Labels = frozenset[str] | None
"""The labels of an expression's result; None where they cannot be known."""

_GROUPING = frozenset(
    {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "quantile"}
)
_KEEPING = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})
"""Aggregations that select series and keep all their labels."""
_OWN_RULES = frozenset(
    {"absent", "absent_over_time", "histogram_quantile", "label_join", "label_replace", "vector"}
)
_ADDING = frozenset({"info", "histogram_quantiles", "min_of", "max_of"})
"""Functions that add or merge labels in ways the flow does not model."""
_KEEPS_LABELS = FUNCTIONS - _OWN_RULES - _ADDING
"""Functions whose result has the labels of their first vector or range argument."""
_SET_OPS = frozenset({"and", "or", "unless"})
_MATCH_OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Checked:
    """An expression that parsed and passed the catalog: its tree and the labels of its result
    (None where the labels cannot be known, e.g. after a selector without a metric name)."""

    expr: str
    tree: promql_parser.Expr
    labels: frozenset[str] | None


def _fmt(labels: Iterable[str]) -> str:
    names = sorted(labels)
    return ", ".join(names) if names else "none"


def _unquote(tok: Token) -> str:
    return tok.text[1:-1] if tok.kind == "string" else tok.text


@dataclass
class _Written:
    """Where the parts of a selector are written: each matcher's label and value offsets."""

    start: int
    matchers: list[tuple[str, int, int]]

    def find(self, label: str, used: set[int]) -> tuple[int, int]:
        for index, (name, label_pos, value_pos) in enumerate(self.matchers):
            if name == label and index not in used:
                used.add(index)
                return label_pos, value_pos
        return self.start, self.start


class _Flow:
    """Walks promql-parser's tree in source order beside the tokens (which give each part its
    offset), checking metrics, labels and values, and returning the result's labels."""

    def __init__(self, expr: str, text: str, catalog: MetricCatalog | None, where: str | None):
        self.expr = expr
        self.tokens = tokenize(text)
        self.brackets = Brackets.of(self.tokens)
        self.catalog = catalog
        self.where = where

    def tok(self, i: int) -> Token:
        return self.tokens[min(i, len(self.tokens) - 1)]

    def after(self, i: int) -> int:
        """The index after the bracket pair opened at `i` (`i` if none opens there)."""
        if self.tok(i).is_("(", "{", "[") and i in self.brackets.match:
            return self.brackets.match[i] + 1
        return i

    def label_list(self, i: int) -> list[tuple[str, int]]:
        """The label names in the parentheses opened at `i`, with their offsets."""
        if not self.tok(i).is_("("):
            return []
        close = self.brackets.match.get(i, i)
        return [
            (_unquote(t), t.pos)
            for t in self.tokens[i + 1 : close]
            if t.kind in ("ident", "string")
        ]

    def error(self, pos: int, problem: str) -> PromQLError:
        return PromQLError(self.expr, pos, problem, where=self.where)

    # walking

    def visit(self, node: Any, i: int) -> tuple[Labels, int]:
        """The labels of `node`, written from token `i`, and the index of the token after it."""
        if isinstance(node, promql_parser.NumberLiteral):
            while self.tok(i).is_("+", "-"):
                i += 1
            return frozenset(), i + 1
        while self.tok(i).is_("+"):  # promql-parser drops a unary plus
            i += 1
        if isinstance(node, promql_parser.StringLiteral):
            return frozenset(), i + 1
        if isinstance(node, promql_parser.VectorSelector):
            written, i = self.selector_tokens(i)
            return self.selector(node, written), self.modifiers(i)
        if isinstance(node, promql_parser.MatrixSelector):
            written, i = self.selector_tokens(i)
            return self.selector(node.vector_selector, written), self.modifiers(self.after(i))
        if isinstance(node, promql_parser.SubqueryExpr):
            labels, i = self.visit(node.expr, i)
            return labels, self.modifiers(self.after(i))
        if isinstance(node, promql_parser.ParenExpr):
            labels, _ = self.visit(node.expr, i + 1)
            return labels, self.after(i)
        if isinstance(node, promql_parser.UnaryExpr):
            return self.visit(node.expr, i + 1 if self.tok(i).is_("-") else i)
        if isinstance(node, promql_parser.Call):
            return self.call(node, i)
        if isinstance(node, promql_parser.AggregateExpr):
            return self.aggregation(node, i)
        if isinstance(node, promql_parser.BinaryExpr):
            return self.binary(node, i)
        return None, i  # a node this walk does not know: its labels are unknown

    def selector_tokens(self, i: int) -> tuple[_Written, int]:
        written = _Written(self.tok(i).pos, [])
        if self.tok(i).kind == "ident":
            i += 1
        if not self.tok(i).is_("{"):
            return written, i
        k, close = i + 1, self.brackets.match.get(i, i)
        while k < close:
            t = self.tok(k)
            if t.kind in ("ident", "string") and self.tok(k + 1).is_(*_MATCH_OPS):
                written.matchers.append((_unquote(t), t.pos, self.tok(k + 2).pos))
                k += 3
                continue
            if t.kind == "string":  # a quoted metric name: {"name", ...}
                written.matchers.append(("__name__", t.pos, t.pos))
            k += 1
        return written, self.after(i)

    def modifiers(self, i: int) -> int:
        """The index after any `offset` and `@` modifiers from `i`."""
        while self.tok(i).is_("offset", "@"):
            i += 1
            while self.tok(i).is_("+", "-"):
                i += 1
            if self.tok(i).is_("start", "end") and self.tok(i + 1).is_("("):
                i += 1
            i = self.after(i) if self.tok(i).is_("(") else i + 1
        return i

    def arguments(self, nodes: Sequence[Any], i: int) -> tuple[list[Labels], list[int]]:
        """Visit call or aggregation arguments starting after the `(` at `i`."""
        labels: list[Labels] = []
        starts: list[int] = []
        k = i + 1
        for node in nodes:
            starts.append(self.tok(k).pos)
            result, k = self.visit(node, k)
            labels.append(result)
            if self.tok(k).is_(","):
                k += 1
        return labels, starts

    # checks

    def selector(self, node: promql_parser.VectorSelector, written: _Written) -> Labels:
        matchers = [*node.matchers.matchers, *(m for g in node.matchers.or_matchers for m in g)]
        used: set[int] = set()
        places = [written.find(m.name, used) for m in matchers]
        name, pos = node.name, written.start
        if name is None:
            named = [
                (m, p)
                for m, p in zip(matchers, places, strict=True)
                if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal
            ]
            if not named:
                return None
            name, pos = named[0][0].value, named[0][1][1]
        if self.catalog is None:
            return None
        metric = self.catalog.series(name)
        if metric is None:
            raise self.error(pos, self.catalog.unknown(name))
        for m, (label_pos, value_pos) in zip(matchers, places, strict=True):
            if m.name == "__name__":
                continue
            if m.name not in metric.labels:
                raise self.error(
                    label_pos,
                    f"{name} has no label {m.name!r}{closest(m.name, metric.labels)}; "
                    f"its labels: {_fmt(metric.labels)}",
                )
            self.value(metric, m, value_pos)
        return metric.labels

    def value(self, metric: MetricInfo, m: promql_parser.Matcher, pos: int) -> None:
        allowed = metric.values.get(m.name)
        if allowed is None or m.value == "":
            return
        if m.op in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.NotEqual):
            candidates = [m.value]
        elif re.fullmatch(r"[A-Za-z0-9_.-]+(\|[A-Za-z0-9_.-]+)*", m.value):
            candidates = m.value.split("|")
        else:
            return
        for value in candidates:
            if value not in allowed:
                raise self.error(
                    pos,
                    f"{metric.name}{{{m.name}}} is never {value!r}"
                    f"{closest(value, allowed)}; its values: {_fmt(allowed)}",
                )

    def call(self, node: promql_parser.Call, i: int) -> tuple[Labels, int]:
        func, args = node.func.name, list(node.args)
        labels, starts = self.arguments(args, i + 1)
        end = self.after(i + 1)
        if value_type(node) != "vector" or func == "vector":
            return frozenset(), end
        if func in ("absent", "absent_over_time"):
            arg = args[0]
            if isinstance(arg, promql_parser.MatrixSelector):
                arg = arg.vector_selector
            if not isinstance(arg, promql_parser.VectorSelector):
                return frozenset(), end
            equal = [m for m in arg.matchers.matchers if m.op == promql_parser.MatchOp.Equal]
            return frozenset(m.name for m in equal if m.name != "__name__"), end
        if func == "histogram_quantile":
            inner = labels[1]
            if inner is not None and "le" not in inner:
                raise self.error(
                    starts[1],
                    "histogram_quantile needs the 'le' label of a _bucket series: aggregate with "
                    f"'by (le, ...)'; this argument has labels: {_fmt(inner)}",
                )
            return (None if inner is None else inner - {"le"}), end
        if func in ("label_replace", "label_join"):
            return self.relabel(func, args, labels[0], starts), end
        if func not in _KEEPS_LABELS:
            return None, end
        first = next((k for k, a in enumerate(args) if value_type(a) in ("vector", "matrix")), None)
        return (frozenset() if first is None else labels[first]), end

    def relabel(self, func: str, args: list[Any], inner: Labels, starts: list[int]) -> Labels:
        # label_replace(v, dst, replacement, src, regex); label_join(v, dst, sep, src...)
        sources = range(3, 4) if func == "label_replace" else range(3, len(args))
        for k in sources:
            src = args[k]
            if not isinstance(src, promql_parser.StringLiteral) or not src.val:
                continue
            if inner is not None and src.val not in inner:
                raise self.error(
                    starts[k],
                    f"{func} reads label {src.val!r}, which its input does not have"
                    f"{closest(src.val, inner)}; input labels: {_fmt(inner)}",
                )
        dst = args[1]
        if inner is None or not isinstance(dst, promql_parser.StringLiteral):
            return None
        return inner | {dst.val}

    def aggregation(self, node: promql_parser.AggregateExpr, i: int) -> tuple[Labels, int]:
        op = str(node.op)
        k = i + 1
        grouping: list[tuple[str, int]] = []
        if self.tok(k).is_("by", "without"):
            grouping = self.label_list(k + 1)
            k = self.after(k + 1)
        params = [] if node.param is None else [node.param]
        labels, _ = self.arguments([*params, node.expr], k)
        k = self.after(k)
        if not grouping and self.tok(k).is_("by", "without"):
            grouping = self.label_list(k + 1)
            k = self.after(k + 1)
        inner = labels[-1]
        modifier = node.modifier
        without = modifier is not None and modifier.type == promql_parser.AggModifierType.Without
        names = list(modifier.labels) if modifier is not None else []
        for name, pos in _positions(names, grouping, self.tok(i).pos):
            if inner is not None and name not in inner:
                raise self.error(
                    pos,
                    f"{'without' if without else 'by'} ({name}): the series aggregated by {op} "
                    f"have no label {name!r}{closest(name, inner)}; their labels: {_fmt(inner)}",
                )
        if op in _KEEPING:
            return inner, k
        if op not in _GROUPING and op != "count_values":
            return None, k
        grouping_names = frozenset(names)
        result: Labels = grouping_names
        if without:
            result = None if inner is None else inner - grouping_names
        if op == "count_values" and isinstance(node.param, promql_parser.StringLiteral):
            result = None if result is None else result | {node.param.val}
        return result, k

    def binary(self, node: promql_parser.BinaryExpr, i: int) -> tuple[Labels, int]:
        lhs, k = self.visit(node.lhs, i)
        k += 1  # the operator
        modifier = node.modifier
        fill = modifier is not None and (
            modifier.fill_values.lhs is not None or modifier.fill_values.rhs is not None
        )
        on: list[tuple[str, int]] = []
        include: list[tuple[str, int]] = []
        while True:
            t = self.tok(k)
            if t.is_("bool"):
                k += 1
            elif t.is_("on", "ignoring"):
                on, k = self.label_list(k + 1), self.after(k + 1)
            elif t.is_("group_left", "group_right"):
                include, k = self.label_list(k + 1), self.after(k + 1)
            elif fill and t.is_("fill", "fill_left", "fill_right"):
                k = self.after(k + 1)
            else:
                break
        rhs, k = self.visit(node.rhs, k)
        return self.match(node, lhs, rhs, on, include, fill), k

    def match(
        self,
        node: promql_parser.BinaryExpr,
        lhs: Labels,
        rhs: Labels,
        on: list[tuple[str, int]],
        include: list[tuple[str, int]],
        fill: bool,
    ) -> Labels:
        if value_type(node.lhs) == "scalar":
            return rhs
        if value_type(node.rhs) == "scalar":
            return lhs
        op = str(node.op)
        modifier = node.modifier
        matching = None if modifier is None else modifier.matching
        if matching is None:
            if op == "or":
                return None if lhs is None or rhs is None else lhs | rhs
            return None if fill else lhs
        is_on = matching.type == promql_parser.LabelModifierType.Include
        start = self.tok(0).pos
        for name, pos in _positions(matching.labels, on, start):
            sides = [("left", lhs), ("right", rhs)]
            missing = [s for s, have in sides if have is not None and name not in have]
            if (is_on and missing) or len(missing) == 2:
                have = lhs if missing[0] == "left" else rhs
                raise self.error(
                    pos,
                    f"{'on' if is_on else 'ignoring'} ({name}): the {missing[0]}-hand side has "
                    f"no label {name!r}{closest(name, have or ())}; its labels: "
                    f"{_fmt(have or ())}",
                )
        card = modifier.card if modifier is not None else None
        many_to_one = card == promql_parser.VectorMatchCardinality.ManyToOne
        one_side = rhs if many_to_one else lhs
        group = list(modifier.group_labels or []) if modifier is not None else []
        for name, pos in _positions(group, include, start):
            if one_side is not None and name not in one_side:
                raise self.error(
                    pos,
                    f"{'group_left' if many_to_one else 'group_right'} copies label {name!r}, "
                    f"which the other side does not have; its labels: {_fmt(one_side)}",
                )
        if op in _SET_OPS:
            return lhs if op != "or" or lhs is None or rhs is None else lhs | rhs
        if fill:
            return None
        if many_to_one:
            return None if lhs is None else lhs | frozenset(group)
        if card == promql_parser.VectorMatchCardinality.OneToMany:
            return None if rhs is None else rhs | frozenset(group)
        if is_on:
            return frozenset(matching.labels)
        return None if lhs is None else lhs - frozenset(matching.labels)


def _positions(
    names: Sequence[str], written: list[tuple[str, int]], default: int
) -> list[tuple[str, int]]:
    """Each of `names` with the offset it is written at (in order; `default` if not found)."""
    place = _Written(default, [(n, p, p) for n, p in written])
    used: set[int] = set()
    return [(name, place.find(name, used)[0]) for name in names]


def check(
    expr: str,
    catalog: MetricCatalog | None = None,
    *,
    where: str | None = None,
    grafana: bool = False,
) -> Checked:
    """Parse `expr` and, with a catalog, check every metric, label and known label value in it.

    `where` prefixes errors (e.g. "PrometheusRule 'flux' alert 'FluxReconciliationFailure'");
    `grafana` accepts dashboard variables (`$__rate_interval`, `$namespace`).
    """
    tree = parse(expr, grafana=grafana, where=where)
    if catalog is None:
        return Checked(expr, tree, None)
    text = substitute_variables(expr) if grafana else expr
    labels, _ = _Flow(expr, text, catalog, where).visit(tree, 0)
    return Checked(expr, tree, labels)


_TEMPLATE_LABEL = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")
_LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def check_template_labels(
    text: str,
    labels: frozenset[str] | None,
    *,
    style: Literal["alert", "legend"],
    where: str | None = None,
) -> None:
    """Check the labels a template names exist on the result: `{{ $labels.x }}` in alert
    annotations (`style="alert"`), `{{x}}` in Grafana legends (`style="legend"`)."""
    if labels is None:
        return
    pattern = _TEMPLATE_LABEL if style == "alert" else _LEGEND_LABEL
    for m in pattern.finditer(text):
        name = m.group(1)
        if name not in labels:
            raise PromQLError(
                text,
                m.start(1),
                f"the template uses label {name!r}{closest(name, labels)}, which the query's "
                f"result does not have; its labels: {_fmt(labels)}",
                where=where,
            )
