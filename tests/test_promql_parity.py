"""One grammar: whatever promql-parser accepts, the SDK accepts too (and its label-flow walk
lines every part of the tree up with the written text)."""

from __future__ import annotations

import itertools

import promql_parser
import pytest

from gitops_sdk.services.metric_catalog import MetricCatalog, MetricInfo
from gitops_sdk.services.promql import PromQLError, _Flow, check
from gitops_sdk.services.promql_syntax import FUNCTIONS, parse
from gitops_sdk.services.promql_tokens import tokenize

VALID = [
    # functions the former hand-written grammar refused
    "sin(x)",
    "limitk(2, x)",
    "info(x)",
    "histogram_count(x)",
    "mad_over_time(x[5m])",
    'sort_by_label(x, "a")',
    'sort_by_label_desc(x, "a", "b")',
    "limit_ratio(0.5, x)",
    "double_exponential_smoothing(x[10m], 0.5, 0.5)",
    "histogram_fraction(0, 0.2, x)",
    "ts_of_max_over_time(x[1h])",
    "first_over_time(x[5m])",
    "acosh(x) + x atan2 1 * deg(x) - rad(x)",
    "pi() * x",
    'histogram_quantiles(x, "q", 0.5, 0.9)',
    'info(x, {__name__="target_info"})',
    # selectors
    'x{a="b", c!="d", e=~"f|g", h!~"i.*"}',
    '{__name__="x", a="b"}',
    '{"x.y", "a.b"="c"}',
    'x{a="b" or c="d"}',
    'x{a="b",}',
    "job:x:rate5m",
    "x offset 1h30m",
    "x offset -5m @ 1609746000",
    "x @ start()",
    "x[5m] @ end() offset 1m",
    # aggregations
    "sum by (a, b) (x)",
    "sum(x) without (a)",
    "sum by () (x)",
    'count_values("v", x) by (a)',
    "quantile(0.9, x) by (a)",
    "topk(3, x) by (a)",
    "group without (a) (x)",
    "stddev(x) + stdvar(x)",
    # binary operators and matching
    "a + on (x) group_left (y) b",
    "a * ignoring (pod) group_right b",
    "a / on () group_left b",
    "a > bool 1",
    "a and on (x) b or c unless ignoring (y) d",
    "-2 ^ 2 ^ -1",
    "1 - -2",
    "+x - -(-y)",
    "a % 2 == bool 0",
    # subqueries, nesting, literals
    "max_over_time(rate(x[5m])[1h:5m])",
    "min_over_time(rate(x[5m])[30m:] offset 5m)",
    "rate(x[5m:1m])",
    "rate(x[5])",
    "5m + x",
    "(((x)))",
    "x # a comment\n  + y",
    "0x1f + Inf + NaN + 1e3 + .5",
    'label_join(x, "dst", ",", "a", "b")',
    'label_replace(x, "dst", "$1", "src", "(.*)")',
    "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))",
    'absent_over_time(x{a="b"}[5m])',
    "vector(1) or x * scalar(x) * time()",
    "day_of_month() + day_of_week(x) + hour()",
    "clamp(x, 0, 1) + clamp_min(x, 0) + clamp_max(x, 1) + round(x, 0.5) + round(x)",
    "predict_linear(x[1h], 3600) < 0",
    "a + fill(0) b",
    "sort(x) + sort_desc(x) + timestamp(x)",
]

_VECTOR = ['x{a="b"}', "x offset 5m", "(x)", "-x"]
_RANGE = ["x[5m]", 'x{a=~"b"}[1h] offset 1m', "rate(x[5m])[10m:1m]"]
_ARGUMENTS = [
    "",
    "{v}",
    "{m}",
    "{v}, 1",
    "1, {v}",
    '{v}, "a"',
    "{m}, 0.5, 0.5",
    "0.5, {m}",
    "0.1, 0.9, {v}",
    "{v}, 0, 1",
    "{v}, {v}",
    '{v}, "a", ",", "b"',
    '{v}, "a", "$1", "b", "(.*)"',
    '{v}, "q", 0.5',
]
_AGGREGATIONS = [
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk(3, ",
    "bottomk(1, ",
    "limitk(2, ",
    "limit_ratio(0.5, ",
    "quantile(0.9, ",
    'count_values("v", ',
]
_GROUPINGS = ["", " by (a)", " without (a, b)"]
_OPERATORS = ["+", "-", "*", "/", "%", "^", "==", "!=", ">", "<=", "and", "or", "unless", "atan2"]
_MATCHING = [
    "",
    " bool",
    " on (a)",
    " ignoring (a)",
    " on (a) group_left (b)",
    " ignoring (a) group_right",
]


def _accepted(expr: str) -> bool:
    try:
        promql_parser.parse(expr)
    except ValueError:
        return False
    return True


def generated() -> list[str]:
    """Calls of every function with each argument shape, every aggregation with each grouping,
    every operator with each matching: those promql-parser accepts."""
    out: list[str] = []
    for func, args, (v, m) in itertools.product(
        sorted(FUNCTIONS), _ARGUMENTS, zip(_VECTOR, itertools.cycle(_RANGE), strict=False)
    ):
        out.append(f"{func}({args.format(v=v, m=m)})")
    for agg, grouping in itertools.product(_AGGREGATIONS, _GROUPINGS):
        call = f"{agg}x)" if agg.endswith(" ") else f"{agg}(x)"
        head = agg.split("(")[0]
        out += [call + grouping, f"{head}{grouping} ({call.removeprefix(head)[1:-1]})"]
    for op, matching, lhs in itertools.product(_OPERATORS, _MATCHING, ["a", "1", "sum by (a) (a)"]):
        out.append(f"{lhs} {op}{matching} b{{c='d'}}")
    return sorted({e for e in out if _accepted(e)})


GENERATED = generated()


def test_the_lists_are_large_and_varied() -> None:
    assert len(VALID) >= 40
    assert len(GENERATED) >= 400
    called = {e.split("(")[0] for e in GENERATED}
    assert len(called & FUNCTIONS) >= len(FUNCTIONS) - 5


@pytest.mark.parametrize("expr", VALID + GENERATED)
def test_what_promql_parser_accepts_the_sdk_accepts(expr: str) -> None:
    assert _accepted(expr), expr
    parse(expr)
    assert check(expr).labels is None


@pytest.mark.parametrize("expr", VALID + GENERATED)
def test_the_label_walk_covers_the_whole_expression(expr: str) -> None:
    flow = _Flow(expr, expr, None, None)
    _, end = flow.visit(parse(expr), 0)
    assert end == len(tokenize(expr)) - 1, f"{expr!r}: the walk stopped at token {end}"


def _everything(expr: str) -> MetricCatalog:
    """A catalog where each metric of `expr` has every label name written in it."""
    words = {t.text for t in tokenize(expr) if t.kind == "ident"}
    words |= {t.text[1:-1] for t in tokenize(expr) if t.kind == "string"}
    return MetricCatalog([MetricInfo(w, "gauge", frozenset(words | {"le"})) for w in words])


@pytest.mark.parametrize("expr", VALID + GENERATED)
def test_the_label_flow_never_fails_other_than_on_labels(expr: str) -> None:
    try:
        check(expr, _everything(expr))
    except PromQLError as err:
        assert "label" in err.problem, err
