"""PromQL checking: every expression the SDK emits must parse and may only use metrics and labels
that really exist, so a rule on a metric Flux stopped exporting fails at program time instead of
silently never firing.

Two layers:

- A strict recursive-descent front end for the PromQL the SDK writes (selectors with matchers,
  functions with their arity and argument types, aggregations with `by`/`without`, binary
  operators with `bool`, `on`/`ignoring` and `group_left`/`group_right`, ranges, subqueries,
  offsets, `@`, number and string literals). It reports the exact line and column of a problem and
  gives the tree the metric and label checks walk.
- `promql-parser` (a port of Prometheus' own grammar and type checks), when installed, has the last
  word: an expression it rejects is rejected even if the front end let it through.

A `MetricCatalog` says which series exist and with which labels; `check()` follows labels through
the expression (aggregations, vector matching, `histogram_quantile`, `label_replace`, ...), so
`sum by (kind) (...)` over a series without `kind`, or `on (namespace)` where one side lost that
label, is reported where it is written.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from gitops_sdk.core.errors import GitopsError
from gitops_sdk.core.fields import re_compile_go

__all__ = [
    "Checked",
    "MetricCatalog",
    "MetricInfo",
    "PromQLError",
    "check",
    "check_template_labels",
    "parse",
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


# --- lexer ---------------------------------------------------------------------------------------

TokenKind = Literal["ident", "number", "duration", "string", "op", "var", "eof"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    pos: int
    value: str = ""
    """The unescaped text of a string token."""


_DURATION = re.compile(r"(?:[0-9]+(?:ms|[smhdwy]))+(?![A-Za-z0-9_.])")
_NUMBER = re.compile(
    r"(?:0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_.])"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_:]*")
_GRAFANA_VAR = re.compile(r"\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")
_OPERATORS = ("=~", "!~", "!=", "==", ">=", "<=", "=", ">", "<", "+", "-", "*", "/", "%", "^")
_PUNCT = "(){}[],:@"
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}


def _unescape(expr: str, start: int, quote: str) -> tuple[str, int]:
    """Read a quoted string starting at `start` (the quote); return (value, end offset)."""
    i = start + 1
    out: list[str] = []
    if quote == "`":
        end = expr.find("`", i)
        if end == -1:
            raise PromQLError(expr, start, "unterminated raw string")
        return expr[i:end], end + 1
    while i < len(expr):
        ch = expr[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\n":
            break
        if ch == "\\":
            nxt = expr[i + 1 : i + 2]
            if nxt == quote:
                out.append(quote)
                i += 2
                continue
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            hexes = {"x": 2, "u": 4, "U": 8}.get(nxt)
            digits = expr[i + 2 : i + 2 + hexes] if hexes else ""
            if hexes and len(digits) == hexes and re.fullmatch(r"[0-9a-fA-F]+", digits):
                out.append(chr(int(digits, 16)))
                i += 2 + hexes
                continue
            if re.fullmatch(r"[0-7]{3}", expr[i + 1 : i + 4]):
                out.append(chr(int(expr[i + 1 : i + 4], 8)))
                i += 4
                continue
            raise PromQLError(
                expr,
                i,
                f"unknown escape sequence '\\{nxt}' in a string (a regexp's backslash must be "
                'doubled, e.g. "\\\\d+", or use a `raw string`)',
            )
        out.append(ch)
        i += 1
    raise PromQLError(expr, start, f"unterminated string (no closing {quote})")


def tokenize(expr: str, *, grafana: bool = False) -> list[Token]:
    """Split an expression into tokens; `grafana` also accepts `$var` / `${var}` (as durations)."""
    tokens: list[Token] = []
    i = 0
    n = len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "#":
            nl = expr.find("\n", i)
            i = n if nl == -1 else nl
            continue
        if ch in "\"'`":
            value, end = _unescape(expr, i, ch)
            tokens.append(Token("string", expr[i:end], i, value))
            i = end
            continue
        if grafana and (m := _GRAFANA_VAR.match(expr, i)):
            tokens.append(Token("var", m.group(), i))
            i = m.end()
            continue
        if ch.isdigit() or (ch == "." and expr[i + 1 : i + 2].isdigit()):
            if m := _DURATION.match(expr, i):
                tokens.append(Token("duration", m.group(), i))
            elif m := _NUMBER.match(expr, i):
                tokens.append(Token("number", m.group(), i))
            else:
                bad = re.match(r"[0-9A-Za-z_.:]+", expr[i:])
                text = bad.group() if bad else ch
                raise PromQLError(
                    expr, i, f"{text!r} is neither a number nor a duration (e.g. 0.99, 5m, 1h30m)"
                )
            i += len(tokens[-1].text)
            continue
        if m := _IDENT.match(expr, i):
            tokens.append(Token("ident", m.group(), i))
            i = m.end()
            continue
        op = next((o for o in _OPERATORS if expr.startswith(o, i)), None)
        if op is None and ch in _PUNCT:
            op = ch
        if op is None:
            raise PromQLError(expr, i, f"unexpected character {ch!r}")
        tokens.append(Token("op", op, i))
        i += len(op)
    tokens.append(Token("eof", "", n))
    return tokens


# --- tree ----------------------------------------------------------------------------------------

ValueType = Literal["scalar", "vector", "matrix", "string"]

_TYPE_NAMES: dict[str, str] = {
    "scalar": "a scalar",
    "vector": "an instant vector",
    "matrix": "a range vector (e.g. x[5m])",
    "string": "a string",
}


@dataclass(frozen=True)
class Label:
    """A label name as written, with its offset."""

    name: str
    pos: int


@dataclass(frozen=True)
class Node:
    """Base of the tree; `pos` is the offset the node starts at."""

    pos: int

    @property
    def type(self) -> ValueType:
        raise NotImplementedError


@dataclass(frozen=True)
class NumberLiteral(Node):
    value: float

    @property
    def type(self) -> ValueType:
        return "scalar"


@dataclass(frozen=True)
class StringLiteral(Node):
    value: str

    @property
    def type(self) -> ValueType:
        return "string"


@dataclass(frozen=True)
class Matcher:
    label: Label
    op: str
    value: str
    value_pos: int


@dataclass(frozen=True)
class Selector(Node):
    name: str | None
    matchers: tuple[Matcher, ...]
    offset: str | None = None
    at: str | None = None

    @property
    def type(self) -> ValueType:
        return "vector"


@dataclass(frozen=True)
class Range(Node):
    """`selector[5m]` (step None, subquery False) or `expr[5m:1m]` (a subquery)."""

    expr: Node
    range: str
    subquery: bool = False
    step: str | None = None
    offset: str | None = None
    at: str | None = None

    @property
    def type(self) -> ValueType:
        return "matrix"


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]

    @property
    def type(self) -> ValueType:
        return _FUNCTIONS[self.func].returns


@dataclass(frozen=True)
class Aggregation(Node):
    op: str
    expr: Node
    param: Node | None = None
    grouping: tuple[Label, ...] | None = None
    without: bool = False

    @property
    def type(self) -> ValueType:
        return "vector"


@dataclass(frozen=True)
class VectorMatching:
    on: bool
    labels: tuple[Label, ...]
    card: Literal["one-to-one", "many-to-one", "one-to-many"] = "one-to-one"
    include: tuple[Label, ...] = ()


@dataclass(frozen=True)
class Binary(Node):
    op: str
    lhs: Node
    rhs: Node
    return_bool: bool = False
    matching: VectorMatching | None = None

    @property
    def type(self) -> ValueType:
        if self.lhs.type == "scalar" and self.rhs.type == "scalar":
            return "scalar"
        return "vector"


@dataclass(frozen=True)
class Unary(Node):
    op: str
    expr: Node

    @property
    def type(self) -> ValueType:
        return self.expr.type


@dataclass(frozen=True)
class Paren(Node):
    expr: Node

    @property
    def type(self) -> ValueType:
        return self.expr.type


# --- functions and operators ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Signature:
    args: tuple[ValueType, ...]
    returns: ValueType
    optional: int = 0
    """How many of the trailing `args` may be left out."""
    variadic: ValueType | None = None
    """Type of any number of further arguments."""


_VALUE_TYPES: dict[str, ValueType] = {t: t for t in ("scalar", "vector", "matrix", "string")}


def _sig(
    args: str, returns: ValueType, optional: int = 0, variadic: ValueType | None = None
) -> _Signature:
    return _Signature(tuple(_VALUE_TYPES[a] for a in args.split()), returns, optional, variadic)


_V_TO_V = ("abs", "ceil", "exp", "floor", "ln", "log2", "log10", "sgn", "sqrt", "sort", "sort_desc")
_M_TO_V = (
    "changes",
    "delta",
    "deriv",
    "idelta",
    "increase",
    "irate",
    "rate",
    "resets",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "last_over_time",
    "present_over_time",
    "absent_over_time",
)
_TIME_FUNCS = (
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "hour",
    "minute",
    "month",
    "year",
)

_FUNCTIONS: dict[str, _Signature] = {
    **{f: _sig("vector", "vector") for f in _V_TO_V},
    **{f: _sig("matrix", "vector") for f in _M_TO_V},
    **{f: _sig("vector", "vector", optional=1) for f in _TIME_FUNCS},
    "absent": _sig("vector", "vector"),
    "clamp": _sig("vector scalar scalar", "vector"),
    "clamp_max": _sig("vector scalar", "vector"),
    "clamp_min": _sig("vector scalar", "vector"),
    "histogram_quantile": _sig("scalar vector", "vector"),
    "label_join": _sig("vector string string", "vector", variadic="string"),
    "label_replace": _sig("vector string string string string", "vector"),
    "predict_linear": _sig("matrix scalar", "vector"),
    "quantile_over_time": _sig("scalar matrix", "vector"),
    "round": _sig("vector scalar", "vector", optional=1),
    "scalar": _sig("vector", "scalar"),
    "time": _sig("", "scalar"),
    "timestamp": _sig("vector", "vector"),
    "vector": _sig("scalar", "vector"),
}

_AGGREGATIONS = {
    "sum": None,
    "avg": None,
    "min": None,
    "max": None,
    "count": None,
    "group": None,
    "stddev": None,
    "stdvar": None,
    "topk": "scalar",
    "bottomk": "scalar",
    "quantile": "scalar",
    "count_values": "string",
}
"""Aggregation operators and the type of their parameter (None: they take none)."""

_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    "<=": 3,
    "<": 3,
    ">=": 3,
    ">": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "atan2": 5,
    "^": 6,
}
_COMPARISONS = frozenset({"==", "!=", "<=", "<", ">=", ">"})
_SET_OPS = frozenset({"and", "or", "unless"})
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
)


def _closest(word: str, options: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _describe(tok: Token) -> str:
    return "the end of the expression" if tok.kind == "eof" else repr(tok.text)


# --- parser --------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, expr: str, grafana: bool, where: str | None) -> None:
        self.expr = expr
        self.where = where
        self.tokens = tokenize_at(expr, grafana=grafana, where=where)
        self.i = 0
        self.parens: list[int] = []

    # token helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def error(self, pos: int, problem: str) -> PromQLError:
        return PromQLError(self.expr, pos, problem, where=self.where)

    def is_op(self, text: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "op" and tok.text == text

    def is_word(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "ident" and tok.text in words

    def expect(self, text: str, context: str, opened: Token | None = None) -> Token:
        tok = self.peek()
        if tok.kind == "op" and tok.text == text:
            return self.advance()
        if opened is not None and tok.kind == "eof":
            raise self.error(opened.pos, f"unclosed {opened.text!r}: expected {text!r} {context}")
        raise self.error(tok.pos, f"expected {text!r} {context}, found {_describe(tok)}")

    # grammar

    def parse(self) -> Node:
        if self.peek().kind == "eof":
            raise self.error(0, "empty expression")
        node = self.expression(0)
        tok = self.peek()
        if tok.kind != "eof":
            if tok.kind == "op" and tok.text in ")]}":
                raise self.error(tok.pos, f"unbalanced {tok.text!r}: nothing to close")
            raise self.error(tok.pos, f"unexpected {_describe(tok)} after a complete expression")
        return node

    def binary_op(self) -> str | None:
        tok = self.peek()
        if tok.kind == "op" and tok.text in _PRECEDENCE:
            return tok.text
        if tok.kind == "ident" and tok.text in ("and", "or", "unless", "atan2"):
            return tok.text
        return None

    def expression(self, min_prec: int) -> Node:
        lhs = self.unary()
        while (op := self.binary_op()) is not None and _PRECEDENCE[op] >= min_prec:
            op_tok = self.advance()
            return_bool = False
            if self.is_word("bool"):
                bool_tok = self.advance()
                if op not in _COMPARISONS:
                    raise self.error(bool_tok.pos, "'bool' only goes after a comparison operator")
                return_bool = True
            matching = self.vector_matching(op)
            prec = _PRECEDENCE[op]
            rhs = self.expression(prec if op == "^" else prec + 1)
            lhs = self.check_binary(Binary(op_tok.pos, op, lhs, rhs, return_bool, matching))
        return lhs

    def vector_matching(self, op: str) -> VectorMatching | None:
        if not self.is_word("on", "ignoring", "group_left", "group_right"):
            return None
        tok = self.advance()
        if tok.text in ("group_left", "group_right"):
            raise self.error(tok.pos, f"{tok.text} needs on(...) or ignoring(...) before it")
        labels = self.label_list(f"after {tok.text}")
        card: Literal["one-to-one", "many-to-one", "one-to-many"] = "one-to-one"
        include: tuple[Label, ...] = ()
        if self.is_word("group_left", "group_right"):
            group = self.advance()
            if op in _SET_OPS:
                raise self.error(group.pos, f"no {group.text} with the set operator {op!r}")
            card = "many-to-one" if group.text == "group_left" else "one-to-many"
            if self.is_op("("):
                include = self.label_list(f"after {group.text}")
        return VectorMatching(tok.text == "on", labels, card, include)

    def check_binary(self, node: Binary) -> Binary:
        for side in (node.lhs, node.rhs):
            if side.type not in ("scalar", "vector"):
                raise self.error(
                    side.pos,
                    f"operand of {node.op!r} is {_TYPE_NAMES[side.type]}; binary operators take "
                    "scalars and instant vectors",
                )
        scalars = node.lhs.type == "scalar" and node.rhs.type == "scalar"
        if node.op in _SET_OPS and (node.lhs.type != "vector" or node.rhs.type != "vector"):
            raise self.error(
                node.pos, f"set operator {node.op!r} needs instant vectors on both sides"
            )
        if node.op in _COMPARISONS and scalars and not node.return_bool:
            raise self.error(node.pos, "a comparison between two scalars needs 'bool'")
        if node.matching is not None and (node.lhs.type != "vector" or node.rhs.type != "vector"):
            raise self.error(node.pos, "vector matching (on/ignoring) needs vectors on both sides")
        return node

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("+", "-"):
            self.advance()
            operand = self.expression(_PRECEDENCE["^"])
            if operand.type not in ("scalar", "vector"):
                raise self.error(
                    operand.pos, f"unary {tok.text!r} needs a scalar or an instant vector"
                )
            return Unary(tok.pos, tok.text, operand)
        return self.postfix(self.primary())

    def duration(self, context: str) -> str:
        tok = self.peek()
        if tok.kind in ("duration", "var"):
            return self.advance().text
        if tok.kind == "number":
            raise self.error(
                tok.pos, f"{tok.text!r} has no unit {context}: write e.g. '5m' or '30s'"
            )
        raise self.error(tok.pos, f"expected a duration {context}, found {_describe(tok)}")

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text == "[":
                node = self.range(node, tok)
            elif tok.kind == "ident" and tok.text == "offset":
                self.advance()
                sign = "-" if self.is_op("-") else ""
                if sign:
                    self.advance()
                dur = sign + self.duration("after 'offset'")
                node = self.modify(node, tok, offset=dur)
            elif tok.kind == "op" and tok.text == "@":
                self.advance()
                at_tok = self.peek()
                if at_tok.kind == "number":
                    at = self.advance().text
                elif self.is_word("start", "end") and self.is_op("(", 1):
                    at = self.advance().text + "()"
                    self.advance()
                    self.expect(")", f"after {at[:-2]}(")
                else:
                    raise self.error(at_tok.pos, "expected a timestamp, start() or end() after '@'")
                node = self.modify(node, tok, at=at)
            else:
                return node

    def modify(self, node: Node, tok: Token, **change: str) -> Node:
        key = next(iter(change))
        if not isinstance(node, (Selector, Range)):
            raise self.error(
                tok.pos,
                f"{tok.text!r} only follows a metric selector, a range or a subquery, "
                "not a function call or an aggregation",
            )
        if getattr(node, key) is not None:
            raise self.error(tok.pos, f"{tok.text!r} is given twice")
        values = {k: getattr(node, k) for k in node.__dataclass_fields__}
        values.update(change)
        return type(node)(**values)

    def range(self, node: Node, open_tok: Token) -> Node:
        self.advance()
        length = self.duration("in a range")
        if self.is_op(":"):
            self.advance()
            step = None if self.is_op("]") else self.duration("as a subquery step")
            self.expect("]", "to close the subquery", open_tok)
            if node.type != "vector":
                raise self.error(
                    open_tok.pos,
                    f"a subquery needs an instant vector, not {_TYPE_NAMES[node.type]}",
                )
            return Range(node.pos, node, length, subquery=True, step=step)
        self.expect("]", "to close the range", open_tok)
        if not isinstance(node, Selector):
            raise self.error(
                open_tok.pos,
                "a range [..] only follows a metric selector; for an expression use a subquery "
                "such as [5m:1m]",
            )
        if node.offset is not None or node.at is not None:
            raise self.error(open_tok.pos, "the range [..] goes before 'offset' and '@'")
        return Range(node.pos, node, length)

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "number":
            self.advance()
            text = tok.text.lower()
            return NumberLiteral(tok.pos, float(int(text, 16)) if "x" in text else float(text))
        if tok.kind == "string":
            self.advance()
            return StringLiteral(tok.pos, tok.value)
        if tok.kind in ("duration", "var"):
            raise self.error(
                tok.pos,
                f"a duration ({tok.text!r}) only goes in a range [..], a subquery or after "
                "'offset'",
            )
        if tok.kind == "op" and tok.text == "(":
            self.advance()
            inner = self.expression(0)
            self.expect(")", "to close the parenthesis", tok)
            return Paren(tok.pos, inner)
        if tok.kind == "op" and tok.text == "{":
            return self.selector(None, tok.pos)
        if tok.kind == "ident":
            return self.identifier(tok)
        raise self.error(tok.pos, f"expected an expression, found {_describe(tok)}")

    def identifier(self, tok: Token) -> Node:
        word = tok.text
        follows_paren = self.is_op("(", 1)
        if word in _AGGREGATIONS and (follows_paren or self.peek(1).text in ("by", "without")):
            return self.aggregation()
        if follows_paren:
            if word not in _FUNCTIONS:
                raise self.error(
                    tok.pos,
                    f"unknown function {word!r}{_closest(word, [*_FUNCTIONS, *_AGGREGATIONS])}",
                )
            return self.call()
        if word in _KEYWORDS or word in ("and", "or", "unless", "atan2"):
            raise self.error(tok.pos, f"unexpected keyword {word!r} where an expression belongs")
        if word.lower() in ("inf", "nan"):
            self.advance()
            return NumberLiteral(tok.pos, float(word))
        self.advance()
        return self.selector(word, tok.pos)

    def selector(self, name: str | None, pos: int) -> Selector:
        matchers: list[Matcher] = []
        if self.is_op("{"):
            open_tok = self.advance()
            while not self.is_op("}"):
                matchers.append(self.matcher(name, open_tok))
                if self.is_op(","):
                    self.advance()
                elif not self.is_op("}"):
                    tok = self.peek()
                    if tok.kind == "eof":
                        raise self.error(open_tok.pos, "unclosed '{': expected '}'")
                    raise self.error(
                        tok.pos, f"expected ',' or '}}' between matchers, found {_describe(tok)}"
                    )
            self.advance()
        if name is None and not any(not _matches_empty(m) for m in matchers):
            raise self.error(
                pos,
                "a selector needs a metric name or a matcher that does not match the empty string",
            )
        return Selector(pos, name, tuple(matchers))

    def matcher(self, metric: str | None, open_tok: Token) -> Matcher:
        tok = self.peek()
        if tok.kind == "eof":
            raise self.error(open_tok.pos, "unclosed '{': expected '}'")
        if tok.kind != "ident" or ":" in tok.text:
            raise self.error(tok.pos, f"expected a label name, found {_describe(tok)}")
        self.advance()
        op = self.peek()
        if op.kind != "op" or op.text not in ("=", "!=", "=~", "!~"):
            raise self.error(
                op.pos, f"expected =, !=, =~ or !~ after label {tok.text!r}, found {_describe(op)}"
            )
        self.advance()
        value = self.peek()
        if value.kind != "string":
            raise self.error(
                value.pos,
                f'label values are quoted strings: expected "...", found {_describe(value)}',
            )
        self.advance()
        if tok.text == "__name__" and metric is not None:
            raise self.error(tok.pos, f"the metric name is already {metric!r}; drop __name__")
        if op.text in ("=~", "!~"):
            try:
                re_compile_go(value.value)
            except ValueError as err:
                raise self.error(value.pos, f"the value of {tok.text!r} {err}") from None
        return Matcher(Label(tok.text, tok.pos), op.text, value.value, value.pos)

    def label_list(self, context: str) -> tuple[Label, ...]:
        open_tok = self.expect("(", f"{context} (a list of label names)")
        labels: list[Label] = []
        while not self.is_op(")"):
            tok = self.peek()
            if tok.kind == "eof":
                raise self.error(open_tok.pos, "unclosed '(': expected ')' after the label list")
            if tok.kind != "ident" or ":" in tok.text:
                raise self.error(tok.pos, f"expected a label name, found {_describe(tok)}")
            labels.append(Label(tok.text, tok.pos))
            self.advance()
            if self.is_op(","):
                self.advance()
            elif not self.is_op(")"):
                raise self.error(
                    self.peek().pos,
                    f"expected ',' or ')' in the label list, found {_describe(self.peek())}",
                )
        self.advance()
        return tuple(labels)

    def arguments(self, name: str) -> tuple[list[Node], Token]:
        open_tok = self.expect("(", f"after {name}")
        args: list[Node] = []
        if self.is_op(")"):
            return args, self.advance()
        while True:
            args.append(self.expression(0))
            if self.is_op(","):
                self.advance()
                continue
            tok = self.peek()
            if tok.kind == "eof":
                raise self.error(open_tok.pos, f"unclosed '(' of {name}(: expected ')'")
            if not self.is_op(")"):
                raise self.error(
                    tok.pos,
                    f"expected ',' or ')' in the arguments of {name}, found {_describe(tok)}",
                )
            return args, self.advance()

    def call(self) -> Call:
        tok = self.advance()
        sig = _FUNCTIONS[tok.text]
        args, close = self.arguments(tok.text)
        low = len(sig.args) - sig.optional
        high = None if sig.variadic else len(sig.args)
        if len(args) < low or (high is not None and len(args) > high):
            want = f"{low}" if low == high else f"{low} to {high}" if high else f"at least {low}"
            raise self.error(
                close.pos if len(args) < low else args[high or 0].pos,
                f"{tok.text}() takes {want} argument{'s' if want != '1' else ''}, got {len(args)}",
            )
        for i, arg in enumerate(args):
            want_type = sig.args[i] if i < len(sig.args) else sig.variadic
            if arg.type != want_type:
                want_name = _TYPE_NAMES[want_type or "scalar"]
                raise self.error(
                    arg.pos,
                    f"argument {i + 1} of {tok.text}() must be {want_name}, "
                    f"got {_TYPE_NAMES[arg.type]}",
                )
        return Call(tok.pos, tok.text, tuple(args))

    def aggregation(self) -> Aggregation:
        tok = self.advance()
        grouping: tuple[Label, ...] | None = None
        without = False
        if self.is_word("by", "without"):
            without = self.advance().text == "without"
            grouping = self.label_list(f"after {'without' if without else 'by'}")
        args, _ = self.arguments(tok.text)
        if self.is_word("by", "without"):
            mod = self.advance()
            if grouping is not None:
                raise self.error(mod.pos, f"{tok.text} has a by/without clause already")
            without = mod.text == "without"
            grouping = self.label_list(f"after {mod.text}")
        param_type = _AGGREGATIONS[tok.text]
        want = 2 if param_type else 1
        if len(args) != want:
            usage = (
                f"{tok.text}(<{param_type}>, <vector>)" if param_type else f"{tok.text}(<vector>)"
            )
            raise self.error(
                tok.pos, f"{tok.text} takes {want} argument{'s' * (want > 1)}: {usage}"
            )
        param = args[0] if param_type else None
        inner = args[-1]
        if param is not None and param.type != param_type:
            raise self.error(
                param.pos, f"the parameter of {tok.text} must be {_TYPE_NAMES[param_type or '']}"
            )
        if inner.type != "vector":
            raise self.error(
                inner.pos, f"{tok.text} aggregates an instant vector, not {_TYPE_NAMES[inner.type]}"
            )
        return Aggregation(tok.pos, tok.text, inner, param, grouping, without)


def _matches_empty(m: Matcher) -> bool:
    if m.op == "=":
        return m.value == ""
    if m.op == "!=":
        return m.value != ""
    matched = re_compile_go(m.value).fullmatch("") is not None
    return matched if m.op == "=~" else not matched


def tokenize_at(expr: str, *, grafana: bool = False, where: str | None = None) -> list[Token]:
    """`tokenize`, with `where` in any error."""
    try:
        return tokenize(expr, grafana=grafana)
    except PromQLError as err:
        if where is None:
            raise
        raise PromQLError(expr, err.position, err.problem, where=where) from None


def parse(expr: str, *, grafana: bool = False, where: str | None = None) -> Node:
    """Parse one expression into a tree (syntax and types only); `grafana` allows `$variables`
    where durations go. Raises `PromQLError` naming the position."""
    node = _Parser(expr, grafana, where).parse()
    _reference_check(expr, grafana=grafana, where=where)
    return node


# --- the reference parser ----------------------------------------------------------------------


def _reference_parser() -> Callable[[str], object] | None:
    try:
        from promql_parser import parse as reference_parse
    except ImportError:  # pragma: no cover - promql-parser is a dependency; stay usable without
        return None
    return reference_parse


def _reference_check(expr: str, *, grafana: bool, where: str | None) -> None:
    reference = _reference_parser()
    if reference is None:
        return
    text = expr
    if grafana:
        # Grafana substitutes its variables before Prometheus sees the query.
        tokens = tokenize(expr, grafana=True)
        for tok in reversed(tokens):
            if tok.kind == "var":
                text = text[: tok.pos] + "5m" + text[tok.pos + len(tok.text) :]
    try:
        reference(text)
    except ValueError as err:
        message = str(err)
        quoted = re.search(r"'([^']+)'", message)
        pos = expr.find(quoted.group(1)) if quoted else -1
        raise PromQLError(
            expr,
            max(pos, 0),
            f"rejected by the Prometheus grammar (promql-parser): {message}",
            where=where,
        ) from None


# --- metric catalog ------------------------------------------------------------------------------

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
        return f"unknown metric {name!r}{_closest(name, self._series)}"


# --- label flow ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """An expression that parsed and passed the catalog: its tree and the labels of its result
    (None where the labels cannot be known, e.g. after a selector without a metric name)."""

    expr: str
    tree: Node
    labels: frozenset[str] | None


def _fmt(labels: Iterable[str]) -> str:
    names = sorted(labels)
    return ", ".join(names) if names else "none"


class _LabelFlow:
    def __init__(self, expr: str, catalog: MetricCatalog, where: str | None) -> None:
        self.expr = expr
        self.catalog = catalog
        self.where = where

    def error(self, pos: int, problem: str) -> PromQLError:
        return PromQLError(self.expr, pos, problem, where=self.where)

    def labels(self, node: Node) -> frozenset[str] | None:
        if isinstance(node, (NumberLiteral, StringLiteral)):
            return frozenset()
        if isinstance(node, Selector):
            return self.selector(node)
        if isinstance(node, (Range, Paren, Unary)):
            return self.labels(node.expr)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Aggregation):
            return self.aggregation(node)
        if isinstance(node, Binary):
            return self.binary(node)
        raise TypeError(f"unexpected node {node!r}")  # pragma: no cover

    def selector(self, node: Selector) -> frozenset[str] | None:
        if node.name is None:
            named = [m for m in node.matchers if m.label.name == "__name__" and m.op == "="]
            if not named:
                return None
            name, pos = named[0].value, named[0].value_pos
        else:
            name, pos = node.name, node.pos
        metric = self.catalog.series(name)
        if metric is None:
            raise self.error(pos, self.catalog.unknown(name))
        for m in node.matchers:
            if m.label.name == "__name__":
                continue
            if m.label.name not in metric.labels:
                raise self.error(
                    m.label.pos,
                    f"{name} has no label {m.label.name!r}{_closest(m.label.name, metric.labels)}; "
                    f"its labels: {_fmt(metric.labels)}",
                )
            self.value(metric, m)
        return metric.labels

    def value(self, metric: MetricInfo, m: Matcher) -> None:
        allowed = metric.values.get(m.label.name)
        if allowed is None or m.value == "":
            return
        if m.op in ("=", "!="):
            candidates = [m.value]
        elif re.fullmatch(r"[A-Za-z0-9_.-]+(\|[A-Za-z0-9_.-]+)*", m.value):
            candidates = m.value.split("|")
        else:
            return
        for value in candidates:
            if value not in allowed:
                raise self.error(
                    m.value_pos,
                    f"{metric.name}{{{m.label.name}}} is never {value!r}"
                    f"{_closest(value, allowed)}; its values: {_fmt(allowed)}",
                )

    def call(self, node: Call) -> frozenset[str] | None:
        if node.func in ("time", "vector", "scalar"):
            for arg in node.args:
                self.labels(arg)
            return frozenset()
        if node.func in ("absent", "absent_over_time"):
            self.labels(node.args[0])
            arg = node.args[0].expr if isinstance(node.args[0], Range) else node.args[0]
            if isinstance(arg, Selector):
                return frozenset(m.label.name for m in arg.matchers if m.op == "=")
            return frozenset()
        arg_labels = [self.labels(arg) for arg in node.args]
        if node.func == "histogram_quantile":
            inner = arg_labels[1]
            if inner is not None and "le" not in inner:
                raise self.error(
                    node.args[1].pos,
                    "histogram_quantile needs the 'le' label of a _bucket series: aggregate with "
                    f"'by (le, ...)'; this argument has labels: {_fmt(inner)}",
                )
            return None if inner is None else inner - {"le"}
        if node.func in ("label_replace", "label_join"):
            inner = arg_labels[0]
            dst = node.args[1]
            # label_replace(v, dst, replacement, src, regex); label_join(v, dst, sep, src...)
            sources = node.args[3:4] if node.func == "label_replace" else node.args[3:]
            for src in sources:
                if (
                    inner is not None
                    and isinstance(src, StringLiteral)
                    and src.value
                    and src.value not in inner
                ):
                    raise self.error(
                        src.pos,
                        f"{node.func} reads label {src.value!r}, which its input does not have"
                        f"{_closest(src.value, inner)}; input labels: {_fmt(inner)}",
                    )
            if inner is None or not isinstance(dst, StringLiteral):
                return None
            return inner | {dst.value}
        first = next((i for i, a in enumerate(node.args) if a.type in ("vector", "matrix")), None)
        return frozenset() if first is None else arg_labels[first]

    def aggregation(self, node: Aggregation) -> frozenset[str] | None:
        inner = self.labels(node.expr)
        if node.param is not None:
            self.labels(node.param)
        for label in node.grouping or ():
            if inner is not None and label.name not in inner:
                raise self.error(
                    label.pos,
                    f"{'without' if node.without else 'by'} ({label.name}): the series "
                    f"aggregated by {node.op} have no label {label.name!r}"
                    f"{_closest(label.name, inner)}; their labels: {_fmt(inner)}",
                )
        grouping = frozenset(label.name for label in node.grouping or ())
        if node.op in ("topk", "bottomk"):
            return inner
        result = (None if inner is None else inner - grouping) if node.without else grouping
        if node.op == "count_values" and isinstance(node.param, StringLiteral):
            result = None if result is None else result | {node.param.value}
        return result

    def binary(self, node: Binary) -> frozenset[str] | None:
        lhs = self.labels(node.lhs)
        rhs = self.labels(node.rhs)
        if node.lhs.type == "scalar":
            return rhs
        if node.rhs.type == "scalar":
            return lhs
        matching = node.matching
        if matching is None:
            if node.op == "or":
                return None if lhs is None or rhs is None else lhs | rhs
            return lhs
        for label in matching.labels:
            sides = [("left", lhs), ("right", rhs)]
            missing = [s for s, have in sides if have is not None and label.name not in have]
            if (matching.on and missing) or len(missing) == 2:
                have = lhs if missing[0] == "left" else rhs
                raise self.error(
                    label.pos,
                    f"{'on' if matching.on else 'ignoring'} ({label.name}): the {missing[0]}-hand "
                    f"side has no label {label.name!r}{_closest(label.name, have or ())}; its "
                    f"labels: {_fmt(have or ())}",
                )
        one_side = rhs if matching.card == "many-to-one" else lhs
        for label in matching.include:
            if one_side is not None and label.name not in one_side:
                raise self.error(
                    label.pos,
                    f"{'group_left' if matching.card == 'many-to-one' else 'group_right'} copies "
                    f"label {label.name!r}, which the other side does not have; its labels: "
                    f"{_fmt(one_side)}",
                )
        included = frozenset(label.name for label in matching.include)
        names = frozenset(label.name for label in matching.labels)
        if node.op in _SET_OPS:
            return lhs if node.op != "or" or lhs is None or rhs is None else lhs | rhs
        if matching.card == "many-to-one":
            return None if lhs is None else lhs | included
        if matching.card == "one-to-many":
            return None if rhs is None else rhs | included
        if matching.on:
            return names
        return None if lhs is None else lhs - names


def check(
    expr: str,
    catalog: MetricCatalog | None = None,
    *,
    where: str | None = None,
    grafana: bool = False,
) -> Checked:
    """Parse `expr` and, with a catalog, check every metric, label and known label value in it.

    `where` prefixes errors (e.g. "PrometheusRule 'flux' alert 'FluxReconciliationFailure'");
    `grafana` accepts dashboard variables (`$__rate_interval`, `$namespace`) as durations.
    """
    tree = parse(expr, grafana=grafana, where=where)
    labels = None if catalog is None else _LabelFlow(expr, catalog, where).labels(tree)
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
                f"the template uses label {name!r}{_closest(name, labels)}, which the query's "
                f"result does not have; its labels: {_fmt(labels)}",
                where=where,
            )
