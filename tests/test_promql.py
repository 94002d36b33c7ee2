"""PromQL checking: promql-parser's verdict with a position, and the catalog's label flow."""

from __future__ import annotations

import promql_parser
import pytest

from gitops_sdk.core.errors import GitopsError, stack_context
from gitops_sdk.services.promql import (
    MetricCatalog,
    MetricInfo,
    PromQLError,
    check,
    check_template_labels,
    parse,
)

CATALOG = MetricCatalog(
    [
        MetricInfo(
            "flux_reconcile_seconds",
            "histogram",
            frozenset({"kind", "name", "exported_namespace", "job"}),
            values={"kind": frozenset({"Kustomization", "HelmRelease"})},
        ),
        MetricInfo(
            "flux_info",
            "info",
            frozenset({"customresource_kind", "name", "exported_namespace", "ready", "job"}),
            values={"ready": frozenset({"True", "False", "Unknown"})},
        ),
        MetricInfo("up", "gauge", frozenset({"job", "instance", "pod"})),
    ],
    removed={"old_condition": 'use flux_info{ready="False"}'},
)


VALID = [
    'up{job="flux-system/flux-system"} == 0 or absent(up{job="flux-system/flux-system"})',
    "sum by (kind) (rate(x_total[5m]))",
    "sum(rate(x_total[5m])) by (kind)",
    "histogram_quantile(0.99, sum by (le, kind) (rate(x_bucket[10m]))) > 300",
    'count without (pod) (x{a=~"b|c", d!~"e.*", f!=""})',
    "a + on (x) group_left (y) b",
    "a * ignoring (pod) group_right b",
    "a > bool 1",
    "-2 ^ 2",
    'label_replace(x, "dst", "$1", "src", "(.*)")',
    "max_over_time(rate(x[5m])[1h:5m])",
    "x offset 1h",
    "x[5m] offset -5m",
    "x @ end()",
    'topk(3, x{a="b"})',
    'count_values("version", x)',
    "vector(1) or x",
    "time() - timestamp(x) > 600",
    "quantile_over_time(0.9, x[10m])",
    "round(x, 0.5) + clamp(x, 0, 1)",
    "x # a comment\n  + y",
    "0x1f + Inf + 1e3",
    "(x)",
    '{__name__="x", a="b"}',
    'x{a=~"\\\\d+"}',
    # Prometheus 3: a range or offset without a unit counts seconds, a duration is a number.
    "rate(x[5])",
    "5m + x",
]


@pytest.mark.parametrize("expr", VALID)
def test_valid_expressions_parse(expr: str) -> None:
    parse(expr)


@pytest.mark.parametrize("expr", VALID)
def test_the_reference_parser_agrees(expr: str) -> None:
    promql_parser.parse(expr)


SYNTAX_ERRORS = [
    ("sum(rate(x[5m])", 4, r"unclosed left parenthesis"),
    ("(x", 1, r"unclosed left parenthesis"),
    ("x ) ", 3, r"unexpected right parenthesis '\)'"),
    ('x{a="b"', 2, r"unexpected end of input inside braces"),
    ("x[5m", 2, r"unexpected end of input inside brackets"),
    ("rate(x)", 6, r"expected type matrix in call to function 'rate', got vector"),
    ("histogram_quantile(0.9)", 1, r"expected 2 argument\(s\) in call to 'histogram_quantile'"),
    ("rat(x[5m])", 1, r"unknown function with name 'rat' \(did you mean 'rate'\?\)"),
    ("sum(rate(x[5m]))[5m]", 4, r"ranges only allowed for vector selectors"),
    ("rate(x[5m]) offset 5m", 5, r"offset modifier must be preceded by an vector selector"),
    ("foo bar", 5, r"invalid promql query"),
    ("1 > 2", 1, r"comparisons between scalars must use BOOL modifier"),
    ("a + group_left b", 5, r"invalid promql query"),
    ("a and on (x) group_left b", 1, r"no grouping allowed for 'and' operation"),
    ("x{a=1}", 5, r"unexpected character inside braces: '1'"),
    ('x{a~"b"}', 4, r"unexpected character inside braces: '~'"),
    ('x{a=~"\\d+"}', 7, r"unknown escape sequence 'd' in a string \(a regexp's backslash must be"),
    ('x{a=~"("}', 6, r"illegal regex for \("),
    ('{a=""}', 1, r"vector selector must contain at least one non-empty matcher"),
    ("sum by (a) (x) without (b)", 16, r"invalid promql query"),
    ("x + ", 5, r"invalid promql query"),
    ("", 1, r"no expression found in input"),
    ('x{__name__="y"}', 1, r"metric name must not be set twice: 'x' or 'y'"),
    ("x[1h] + 1", 1, r"binary expression must contain only scalar and instant vector types"),
    ('"a" + 1', 1, r"binary expression must contain only scalar and instant vector types"),
    ("count_values(1, x)", 14, r"expected type string in aggregation expression, got scalar"),
    ("x offset", 9, r"unexpected end of input in offset, expected duration"),
    ("a + on(x) b c", 13, r"invalid promql query"),
    # Prometheus compiles matchers with Go's regexp: what only other engines accept is refused.
    ('x{a=~"(?x)a b"}', 6, r"the value of 'a' is not a valid Go regexp: invalid perl operator"),
    ('x{a!~"a**"}', 6, r"the value of 'a' is not a valid Go regexp: bad repetition operator"),
]


@pytest.mark.parametrize(("expr", "column", "problem"), SYNTAX_ERRORS)
def test_syntax_errors_name_the_position(expr: str, column: int, problem: str) -> None:
    with pytest.raises(PromQLError, match=problem) as info:
        parse(expr)
    assert info.value.column == column
    assert info.value.expr == expr
    assert f"(at column {column})" in str(info.value)


def test_error_shows_the_expression_and_a_caret() -> None:
    with pytest.raises(PromQLError) as info:
        parse("sum(rate(x[5m])", where="alert 'X': expr")
    assert str(info.value) == (
        "alert 'X': expr: unclosed left parenthesis (at column 4)\n    sum(rate(x[5m])\n       ^"
    )
    assert isinstance(info.value, GitopsError)


def test_multi_line_position_names_the_line() -> None:
    with pytest.raises(PromQLError, match=r"\(at line 2 column 3\)\n    \+ rat\(x\)\n      \^"):
        parse("sum(x)\n+ rat(x)")


def test_errors_name_the_stack() -> None:
    with stack_context("staging"), pytest.raises(PromQLError, match=r"^staging: alert 'X': "):
        parse("(x", where="alert 'X'")


def test_grafana_variables_only_where_allowed() -> None:
    parse('rate(x[$__rate_interval]) * on (a) y{b=~"$namespace"}', grafana=True)
    parse("max_over_time(x[${__range}:$__interval]) > $threshold", grafana=True)
    with pytest.raises(PromQLError, match=r"unexpected character inside brackets: '\$'") as info:
        parse("rate(x[$__rate_interval])")
    assert info.value.column == 8
    with pytest.raises(PromQLError, match=r"rate\(\$y\[\$__rate_interval\]\)") as info:
        parse("sum(rate($y[$__rate_interval])", grafana=True)
    assert info.value.column == 4  # offsets are the written ones, variables and all


@pytest.mark.parametrize(("expr", "column", "problem"), SYNTAX_ERRORS[:-2])
def test_promql_parser_is_the_grammar(expr: str, column: int, problem: str) -> None:
    """The one grammar: every syntax error is promql-parser's own verdict, with a position."""
    with pytest.raises(ValueError) as reference:
        promql_parser.parse(expr)
    with pytest.raises(PromQLError) as ours:
        parse(expr)
    assert ours.value.problem.startswith(str(reference.value))


# --- catalog -------------------------------------------------------------------------------------


def test_result_labels_follow_the_expression() -> None:
    assert check(
        "sum by (kind) (rate(flux_reconcile_seconds_count[5m]))", CATALOG
    ).labels == frozenset({"kind"})
    bucket = "sum by (le, kind) (rate(flux_reconcile_seconds_bucket[5m]))"
    assert check(f"histogram_quantile(0.9, {bucket})", CATALOG).labels == frozenset({"kind"})
    assert check(
        'label_replace(up, "host", "$1", "instance", "(.*):.*")', CATALOG
    ).labels == frozenset(
        {
            "job",
            "instance",
            "pod",
            "host",
        }
    )
    assert check("up * on (job) group_left (ready) flux_info", CATALOG).labels == frozenset(
        {
            "job",
            "instance",
            "pod",
            "ready",
        }
    )
    assert check("up * on (job) flux_reconcile_seconds_count", CATALOG).labels == frozenset({"job"})
    assert check('absent(up{job="x"})', CATALOG).labels == frozenset({"job"})
    assert check("count(up) > 1", CATALOG).labels == frozenset()


@pytest.mark.parametrize(
    ("expr", "column", "problem"),
    [
        (
            'max(old_condition{ready="False"}) by (name)',
            5,
            r"metric 'old_condition' no longer exists: use flux_info\{ready=\"False\"\}",
        ),
        ("flux_info_typo", 1, r"unknown metric 'flux_info_typo' \(did you mean 'flux_info'\?\)"),
        (
            "rate(flux_reconcile_seconds[5m])",
            6,
            r"'flux_reconcile_seconds' is a histogram: query flux_reconcile_seconds_bucket",
        ),
        (
            'flux_reconcile_seconds_count{kidn="Kustomization"}',
            30,
            r"flux_reconcile_seconds_count has no label 'kidn' \(did you mean 'kind'\?\); its "
            r"labels: exported_namespace, job, kind, name",
        ),
        (
            'flux_info{ready="false"}',
            17,
            r"flux_info\{ready\} is never 'false' \(did you mean 'False'\?\); its values: False, "
            r"True, Unknown",
        ),
        (
            'flux_reconcile_seconds_count{kind=~"Kustomization|HelmRelase"}',
            36,
            r"is never 'HelmRelase' \(did you mean 'HelmRelease'\?\)",
        ),
        (
            "sum by (namespace) (flux_info)",
            9,
            r"by \(namespace\): the series aggregated by sum have no label 'namespace'",
        ),
        (
            "histogram_quantile(0.9, sum by (kind) (rate(flux_reconcile_seconds_bucket[5m])))",
            25,
            r"histogram_quantile needs the 'le' label of a _bucket series: aggregate with "
            r"'by \(le, ...\)'; this argument has labels: kind",
        ),
        (
            "sum by (kind) (flux_reconcile_seconds_count) * on (name) flux_info",
            52,
            r"on \(name\): the left-hand side has no label 'name'; its labels: kind",
        ),
        (
            "up * on (job) group_left (revision) flux_reconcile_seconds_count",
            27,
            r"group_left copies label 'revision', which the other side does not have",
        ),
        (
            'label_replace(up, "host", "$1", "instanse", "(.*)")',
            33,
            r"label_replace reads label 'instanse', which its input does not have \(did you "
            r"mean 'instance'\?\)",
        ),
    ],
)
def test_catalog_errors_name_the_position(expr: str, column: int, problem: str) -> None:
    with pytest.raises(PromQLError, match=problem) as info:
        check(expr, CATALOG)
    assert info.value.column == column


def test_template_labels_must_exist_on_the_result() -> None:
    labels = check("sum by (kind, name) (flux_reconcile_seconds_count)", CATALOG).labels
    check_template_labels("{{ $labels.kind }}/{{ $labels.name }}", labels, style="alert")
    with pytest.raises(
        PromQLError,
        match=r"annotation 'summary': the template uses label 'namespace' "
        r"\(did you mean 'name'\?\), which the query's result does not have; its labels: "
        r"kind, name \(at column 31\)",
    ):
        check_template_labels(
            "{{ $labels.kind }} {{ $labels.namespace }}",
            labels,
            style="alert",
            where="annotation 'summary'",
        )
    with pytest.raises(PromQLError, match=r"label 'knd' \(did you mean 'kind'\?\)"):
        check_template_labels("{{knd}}", labels, style="legend")


def test_label_flow_through_functions_the_old_grammar_lacked() -> None:
    up = frozenset({"job", "instance", "pod"})
    assert check('sort_by_label(up, "job")', CATALOG).labels == up
    assert check("limitk(2, up)", CATALOG).labels == up
    assert check("limit_ratio(0.5, up) * sin(up)", CATALOG).labels == up
    assert check("mad_over_time(up[5m])", CATALOG).labels == up
    assert check("histogram_count(flux_reconcile_seconds_count)", CATALOG).labels is not None
    # info() adds the labels of info series: unknown, so nothing above it is label-checked
    assert check("info(up)", CATALOG).labels is None
    check("sum by (k8s_cluster) (info(up))", CATALOG)


@pytest.mark.parametrize(
    ("expr", "column", "problem"),
    [
        ("sin(flux_info_typo)", 5, r"unknown metric 'flux_info_typo'"),
        ("limitk(2, up{jbo='x'})", 14, r"up has no label 'jbo' \(did you mean 'job'\?\)"),
        ("sum by (pdo) (limitk(2, up))", 9, r"by \(pdo\): the series aggregated by sum have no"),
        ('sort_by_label(flux_info{ready="yes"}, "name")', 31, r"flux_info\{ready\} is never"),
        ('{"flux_info", "ready"="no"}', 23, r"flux_info\{ready\} is never 'no'"),
        ('{__name__="nope"}', 11, r"unknown metric 'nope'"),
        ('up or on (pod) flux_info{ready="True"}', 11, r"on \(pod\): the right-hand side has no"),
    ],
)
def test_catalog_errors_inside_any_function(expr: str, column: int, problem: str) -> None:
    with pytest.raises(PromQLError, match=problem) as info:
        check(expr, CATALOG)
    assert info.value.column == column


def test_catalog_errors_in_grafana_queries_point_at_the_written_text() -> None:
    expr = 'sum by (kind) (rate(flux_reconcile_seconds_count{kind=~"$kind", nme="x"}[$__range]))'
    with pytest.raises(PromQLError, match=r"has no label 'nme'") as info:
        check(expr, CATALOG, grafana=True, where="panel 'p'")
    assert info.value.expr == expr
    assert info.value.column == expr.index("nme") + 1
    assert str(info.value).startswith("panel 'p': ")
