"""PromQL syntax: promql-parser (a port of Prometheus' own grammar and type checks) is the one
grammar; this module gives its errors a position and a caret, lets Grafana variables through, and
holds the Prometheus duration type.

promql-parser's tree carries no offsets, so a light tokenizer finds where a problem is: the
bracket left open, the first character the lexer refused, the first token no continuation can
follow, or the smallest sub-expression that fails the same way.
"""

from __future__ import annotations

import datetime
import difflib
import itertools
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import promql_parser
from pydantic import AfterValidator, BeforeValidator

from gitops_sdk.core.errors import GitopsError
from gitops_sdk.core.fields import re_compile_go
from gitops_sdk.services.promql_tokens import (
    PAIRS,
    Brackets,
    Token,
    arguments,
    substitute_variables,
    tokenize,
)

__all__ = [
    "FUNCTIONS",
    "PromDuration",
    "PromQLError",
    "ValueType",
    "check_prom_duration",
    "closest",
    "parse",
    "prom_duration",
    "value_type",
]


class PromQLError(GitopsError):
    """A PromQL expression does not parse, or uses a metric, label or value that does not exist."""

    def __init__(self, expr: str, position: int, problem: str, *, where: str | None = None) -> None:
        self.expr = expr
        self.position = max(0, min(position, len(expr)))
        self.problem = problem
        self.where = where
        line_no = expr.count("\n", 0, self.position) + 1
        start = expr.rfind("\n", 0, self.position) + 1
        end = expr.find("\n", self.position)
        line = expr[start : end if end != -1 else len(expr)]
        column = self.position - start
        at = f"line {line_no} column {column + 1}" if "\n" in expr else f"column {column + 1}"
        self.line = line_no
        self.column = column + 1
        head = f"{where}: " if where else ""
        super().__init__(f"{head}{problem} (at {at})\n    {line}\n    {' ' * column}^")


def closest(word: str, options: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for the option closest to `word`, or nothing."""
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


_FUNCTION_NAMES = (
    "abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes "
    "clamp clamp_max clamp_min cos cosh count_over_time days_in_month day_of_month day_of_week "
    "day_of_year deg delta deriv double_exponential_smoothing end exp first_over_time floor "
    "histogram_avg histogram_count histogram_fraction histogram_quantile histogram_quantiles "
    "histogram_stddev histogram_stdvar histogram_sum hour idelta increase info irate "
    "label_join label_replace last_over_time ln log10 log2 mad_over_time max_of max_over_time "
    "min_of min_over_time minute month pi predict_linear present_over_time quantile_over_time "
    "rad range rate resets round scalar sgn sin sinh sort sort_by_label sort_by_label_desc "
    "sort_desc sqrt start stddev_over_time stdvar_over_time step sum_over_time tan tanh time "
    "timestamp ts_of_first_over_time ts_of_last_over_time ts_of_max_over_time "
    "ts_of_min_over_time vector year"
)
FUNCTIONS = frozenset(_FUNCTION_NAMES.split())
"""Names of the PromQL functions promql-parser knows (for suggestions; it has the last word)."""

# --- value types ---------------------------------------------------------------------------------

ValueType = Literal["scalar", "vector", "matrix", "string"]

_RETURNS: list[tuple[Any, ValueType]] = [
    (promql_parser.ValueType.Scalar, "scalar"),
    (promql_parser.ValueType.Vector, "vector"),
    (promql_parser.ValueType.Matrix, "matrix"),
    (promql_parser.ValueType.String, "string"),
]


def value_type(node: promql_parser.Expr) -> ValueType:
    """What a parsed expression evaluates to."""
    if isinstance(node, promql_parser.NumberLiteral):
        return "scalar"
    if isinstance(node, promql_parser.StringLiteral):
        return "string"
    if isinstance(node, (promql_parser.MatrixSelector, promql_parser.SubqueryExpr)):
        return "matrix"
    if isinstance(node, (promql_parser.ParenExpr, promql_parser.UnaryExpr)):
        return value_type(node.expr)
    if isinstance(node, promql_parser.Call):
        returns = node.func.return_type
        return next((name for t, name in _RETURNS if t == returns), "vector")
    if isinstance(node, promql_parser.BinaryExpr):
        sides = {value_type(node.lhs), value_type(node.rhs)}
        return "scalar" if sides == {"scalar"} else "vector"
    return "vector"


# --- parsing and error positions -----------------------------------------------------------------


def _panicked(err: BaseException) -> bool:
    # promql-parser's Rust panics surface as pyo3's PanicException, a BaseException.
    return type(err).__name__ == "PanicException"


def _error(text: str) -> str | None:
    """promql-parser's complaint about `text`, or None when it parses."""
    try:
        promql_parser.parse(text)
    except ValueError as err:
        return str(err)
    except BaseException as err:
        if not _panicked(err):
            raise
        return f"promql-parser failed: {err}"
    return None


_UNCLOSED = {
    "unclosed left parenthesis": "(",
    "too many left parentheses": "(",
    "unexpected end of input inside braces": "{",
    "unexpected end of input inside brackets": "[",
}
_LEXICAL = (
    "unexpected character",
    "unexpected right",
    "unexpected left",
    "unknown escape",
    "escape sequence",
    "unterminated quoted string",
    "unexpected second colon",
    "expect duration before",
    "bad number",
    "'!' can not",
    "invalid syntax",
)
_GRAMMAR = re.compile(
    r"^(invalid promql query|no expression found|unexpected end of input in |unexpected <|"
    r"trailing commas|Number expected|missing unit|.* in label matching|.* in grouping opts|"
    r"invalid label matcher)"
)


def _kind(message: str) -> Literal["unclosed", "lexical", "grammar", "semantic"]:
    if message in _UNCLOSED:
        return "unclosed"
    if message.startswith(_LEXICAL):
        return "lexical"
    return "grammar" if _GRAMMAR.match(message) else "semantic"


def _first_failing_prefix(text: str, message: str) -> int | None:
    """The last character of the shortest prefix promql-parser refuses with `message`: where
    the lexer stopped."""
    for end in range(1, len(text) + 1):
        if _error(text[:end]) == message:
            return end - 1
    return None


_MIDDLES = ("", " x", '="v"', '"v"', " 5m", " (a)", " (a) (x)", " (a) x", "()", " 1")
_TAILS = ("", " x", " (x)")


def _viable(text: str, tokens: list[Token]) -> bool:
    """Whether some short continuation turns the prefix `text` into a whole expression (one
    that parses, or fails only on types or arity). The innermost bracket may be a `by (...)` or
    `on (...)` list, so what follows its closer is tried there as well as at the end."""
    closers = [PAIRS[tokens[i].text] for i in reversed(Brackets.of(tokens).unclosed)]
    first, rest = "".join(closers[:1]), "".join(closers[1:])
    for middle, inner, tail in itertools.product(_MIDDLES, _TAILS, _TAILS):
        if rest == "" and inner != "":
            continue
        message = _error(text + middle + first + inner + rest + tail)
        if message is None or _kind(message) == "semantic":
            return True
    return False


def _first_stuck_token(text: str, tokens: list[Token]) -> int:
    """The first token after which no continuation parses (the end if every prefix can go on)."""
    for k in range(1, len(tokens)):
        if not _viable(text[: tokens[k - 1].end], tokens[:k]):
            return tokens[k - 1].pos
    return len(text)


def _smallest_failing_span(text: str, tokens: list[Token], message: str) -> int | None:
    """The start of the smallest run of tokens promql-parser refuses with `message` alone."""
    body = tokens[:-1]
    for length in range(1, len(body) + 1):
        for i in range(len(body) - length + 1):
            if _error(text[body[i].pos : body[i + length - 1].end]) == message:
                return _refine(text, body, i, message)
    return None


_ARG_TYPE = re.compile(r"^expected type \w+ in (call to function|aggregation expr).* got (\w+)$")


def _refine(text: str, tokens: list[Token], start: int, message: str) -> int:
    """For a wrongly typed argument, the argument rather than the call."""
    m = _ARG_TYPE.match(message)
    if m is None:
        return tokens[start].pos
    brackets = Brackets.of(tokens)
    k = start + 1
    if k < len(tokens) and tokens[k].is_("by", "without"):
        k = brackets.match.get(k + 1, k) + 1
    if k >= len(tokens) or not tokens[k].is_("(") or k not in brackets.match:
        return tokens[start].pos
    for first, stop in arguments(tokens, brackets, k):
        try:
            node = promql_parser.parse(text[tokens[first].pos : tokens[stop - 1].end])
        except ValueError:
            continue
        if value_type(node) == m.group(2):
            return tokens[first].pos
    return tokens[start].pos


def _locate(text: str, tokens: list[Token], message: str) -> int:
    kind = _kind(message)
    brackets = Brackets.of(tokens)
    if kind == "unclosed":
        opener = _UNCLOSED[message]
        open_ = [i for i in brackets.unclosed if tokens[i].text == opener]
        return tokens[open_[-1]].pos if open_ else len(text)
    if message.startswith("unexpected right") and brackets.unopened:
        return tokens[brackets.unopened[0]].pos
    if kind == "grammar":
        return _first_stuck_token(text, tokens)
    if message.startswith("illegal regex for "):
        pattern = message.removeprefix("illegal regex for ")
        values = [t for k, t in enumerate(tokens[2:], 2) if tokens[k - 1].is_("=~", "!~")]
        spelled = [t for t in values if t.text[1:-1].replace("\\\\", "\\") == pattern]
        if spelled or values:
            return (spelled or values)[0].pos
    found = (
        _first_failing_prefix(text, message)
        if kind == "lexical"
        else _smallest_failing_span(text, tokens, message)
    )
    if found is not None and message.startswith(("unknown escape", "invalid syntax")):
        found = text.rfind("\\", 0, found + 1) if "\\" in text[: found + 1] else found
    return found if found is not None else 0


def _explain(message: str) -> str:
    if m := re.match(r"unknown function with name '(\w+)'", message):
        return message + closest(m.group(1), FUNCTIONS)
    if message.startswith("unknown escape sequence"):
        return (
            f'{message} in a string (a regexp\'s backslash must be doubled, e.g. "\\\\d+", or '
            "use a `raw string`)"
        )
    return message


_REGEX_OPS: tuple[Any, ...] = (promql_parser.MatchOp.Re, promql_parser.MatchOp.NotRe)


def _check_regexps(expr: str, text: str, tree: promql_parser.Expr, where: str | None) -> None:
    """Prometheus compiles regexp matchers with Go's regexp package: refuse what only
    promql-parser's engine accepts."""
    patterns: list[tuple[str, str]] = []

    def collect(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            groups = [node.matchers.matchers, *node.matchers.or_matchers]
            patterns.extend((m.name, m.value) for g in groups for m in g if m.op in _REGEX_OPS)

    promql_parser.walk(tree, pre_visit=collect)
    tokens = tokenize(text)
    written = [t.pos for k, t in enumerate(tokens[1:], 1) if tokens[k - 1].is_("=~", "!~")]
    for index, (label, pattern) in enumerate(patterns):
        try:
            re_compile_go(pattern)
        except ValueError as err:
            position = written[index] if index < len(written) else 0
            raise PromQLError(
                expr, position, f"the value of {label!r} {err}", where=where
            ) from None


def parse(expr: str, *, grafana: bool = False, where: str | None = None) -> promql_parser.Expr:
    """Parse one expression with promql-parser; `grafana` allows dashboard variables
    (`$__rate_interval`, `${var}`). Raises `PromQLError` naming the position of the problem."""
    text = substitute_variables(expr) if grafana else expr
    try:
        tree = promql_parser.parse(text)
    except ValueError as err:
        message = str(err)
    except BaseException as err:
        if not _panicked(err):
            raise
        raise PromQLError(expr, 0, f"promql-parser failed: {err}", where=where) from None
    else:
        _check_regexps(expr, text, tree, where)
        return tree
    position = _locate(text, tokenize(text), message)
    raise PromQLError(expr, position, _explain(message), where=where)


# --- durations -----------------------------------------------------------------------------------
# Built like core.fields' Go durations; Prometheus adds the units d, w and y.

_PROM_DURATION = re.compile(
    r"^(?:[0-9]+y)?(?:[0-9]+w)?(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?"
    r"(?:[0-9]+s)?(?:[0-9]+ms)?$"
)


def prom_duration(value: datetime.timedelta) -> str:
    """A timedelta in Prometheus' duration syntax (`1h30m`, `90s` -> `1m30s`)."""
    ms = round(value.total_seconds() * 1000)
    if ms <= 0:
        raise ValueError(f"duration must be positive, got {value}")
    out = ""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, ms = divmod(ms, size)
        out += f"{count}{unit}" if count else ""
    return out + (f"{ms}ms" if ms else "")


def _from_timedelta(value: Any) -> Any:
    """A timedelta as a Prometheus duration; anything else unchanged (a before-validator)."""
    return prom_duration(value) if isinstance(value, datetime.timedelta) else value


def check_prom_duration(value: str) -> str:
    """`value` if it is a Prometheus duration; else a ValueError saying what was expected."""
    if not value or value == "0" or not _PROM_DURATION.match(value):
        raise ValueError(
            "is not a Prometheus duration (expected units in the order y, w, d, h, m, s, ms, "
            "e.g. '30s', '5m', '1h30m')"
        )
    return value


PromDuration = Annotated[str, BeforeValidator(_from_timedelta), AfterValidator(check_prom_duration)]
"""A Prometheus duration such as `30s`, `10m` or `1h30m` (or a timedelta)."""
