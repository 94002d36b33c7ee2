"""PromQL checking: the strict front end (positions), the reference parser, catalog label flow."""

from __future__ import annotations

import pytest

from gitops_sdk.core.errors import GitopsError, stack_context
from gitops_sdk.services import promql
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
]


@pytest.mark.parametrize("expr", VALID)
def test_valid_expressions_parse(expr: str) -> None:
    parse(expr)


@pytest.mark.parametrize("expr", VALID)
def test_the_reference_parser_agrees(expr: str) -> None:
    reference = pytest.importorskip("promql_parser")
    reference.parse(expr)


@pytest.mark.parametrize(
    ("expr", "column", "problem"),
    [
        ("sum(rate(x[5m])", 4, r"unclosed '\(' of sum\(: expected '\)'"),
        ("(x", 1, r"unclosed '\(': expected '\)' to close the parenthesis"),
        ("x ) ", 3, r"unbalanced '\)': nothing to close"),
        ('x{a="b"', 2, r"unclosed '\{': expected '\}'"),
        ("x[5m", 2, r"unclosed '\[': expected '\]' to close the range"),
        ("rate(x)", 6, r"argument 1 of rate\(\) must be a range vector \(e.g. x\[5m\]\), got an "),
        ("rate(x[5])", 8, r"'5' has no unit in a range: write e.g. '5m' or '30s'"),
        ("histogram_quantile(0.9)", 23, r"histogram_quantile\(\) takes 2 arguments, got 1"),
        ("rat(x[5m])", 1, r"unknown function 'rat' \(did you mean 'rate'\?\)"),
        ("sum(rate(x[5m]))[5m]", 17, r"a range \[..\] only follows a metric selector"),
        ("rate(x[5m]) offset 5m", 13, r"'offset' only follows a metric selector"),
        ("foo bar", 5, r"unexpected 'bar' after a complete expression"),
        ("1 > 2", 3, r"a comparison between two scalars needs 'bool'"),
        ("a + group_left b", 5, r"group_left needs on\(...\) or ignoring\(...\) before it"),
        ("a and on (x) group_left b", 14, r"no group_left with the set operator 'and'"),
        ("x{a=1}", 5, r'label values are quoted strings: expected "...", found \'1\''),
        ('x{a~"b"}', 4, r"unexpected character '~'"),
        ('x{a=~"\\d+"}', 7, r"unknown escape sequence '\\d' in a string"),
        ('x{a=~"("}', 6, r"the value of 'a' is not a valid Go regexp: missing \)"),
        ('{a=""}', 1, r"a selector needs a metric name or a matcher that does not match"),
        ("sum by (a) (x) without (b)", 16, r"sum has a by/without clause already"),
        ("x + ", 5, r"expected an expression, found the end of the expression"),
        ("", 1, r"empty expression"),
        ("5m + x", 1, r"a duration \('5m'\) only goes in a range"),
        ('x{__name__="y"}', 3, r"the metric name is already 'x'; drop __name__"),
        ("x[1h] + 1", 1, r"operand of '\+' is a range vector"),
        ('"a" + 1', 1, r"operand of '\+' is a string"),
    ],
)
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
        "alert 'X': expr: unclosed '(' of sum(: expected ')' (at column 4)\n"
        "    sum(rate(x[5m])\n"
        "       ^"
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
    with pytest.raises(PromQLError, match=r"unexpected character '\$'"):
        parse("rate(x[$__rate_interval])")


def test_the_reference_parser_has_the_last_word(monkeypatch: pytest.MonkeyPatch) -> None:
    def strict(text: str) -> object:
        raise ValueError("unexpected 'legacy'")

    monkeypatch.setattr(promql, "_reference_parser", lambda: strict)
    with pytest.raises(
        PromQLError,
        match=r"rejected by the Prometheus grammar \(promql-parser\): unexpected 'legacy'",
    ) as info:
        parse("x + legacy")
    assert info.value.column == 5


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
