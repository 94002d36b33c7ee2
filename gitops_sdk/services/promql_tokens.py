"""PromQL tokens: promql-parser's tree carries no offsets, so the PromQL checks split the text
themselves to say where a problem is written, and to find Grafana's variables (substituted before
the text is parsed). Tokenizing never fails: promql-parser judges the syntax."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["PAIRS", "Brackets", "Token", "arguments", "substitute_variables", "tokenize"]

TokenKind = Literal["ident", "number", "duration", "string", "op", "var", "eof"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    pos: int

    @property
    def end(self) -> int:
        return self.pos + len(self.text)

    def is_(self, *texts: str) -> bool:
        """Whether this is an operator or identifier spelled as one of `texts`."""
        return self.kind in ("op", "ident") and self.text in texts


_DURATION = re.compile(r"(?:[0-9]+(?:ms|[smhdwy]))+(?![A-Za-z0-9_.])")
_NUMBER = re.compile(
    r"(?:0[xX][0-9a-fA-F]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_.])"
)
_MALFORMED = re.compile(r"[0-9A-Za-z_.:]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_:]*")
_GRAFANA_VAR = re.compile(r"\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)")
_OPERATORS = ("=~", "!~", "!=", "==", ">=", "<=")


def _string_end(expr: str, start: int) -> int:
    """The offset after the string opening at `start` (the end of the line if unterminated)."""
    quote = expr[start]
    if quote == "`":
        end = expr.find("`", start + 1)
        return len(expr) if end == -1 else end + 1
    i = start + 1
    while i < len(expr) and expr[i] != "\n":
        if expr[i] == "\\":
            i += 2
            continue
        if expr[i] == quote:
            return i + 1
        i += 1
    return min(i, len(expr))


def tokenize(expr: str, *, grafana: bool = False) -> list[Token]:
    """Split an expression into tokens, never failing (an unknown character is a one-character
    operator); `grafana` reads `$var` / `${var}` outside strings as variables."""
    tokens: list[Token] = []
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "#":
            nl = expr.find("\n", i)
            i = n if nl == -1 else nl
            continue
        m: re.Match[str] | None
        if ch in "\"'`":
            end = _string_end(expr, i)
            tokens.append(Token("string", expr[i:end], i))
        elif grafana and (m := _GRAFANA_VAR.match(expr, i)):
            tokens.append(Token("var", m.group(), i))
        elif ch.isdigit() or (ch == "." and expr[i + 1 : i + 2].isdigit()):
            if m := _DURATION.match(expr, i):
                tokens.append(Token("duration", m.group(), i))
            else:
                m = _NUMBER.match(expr, i) or _MALFORMED.match(expr, i)
                tokens.append(Token("number", m.group() if m else ch, i))
        elif m := _IDENT.match(expr, i):
            tokens.append(Token("ident", m.group(), i))
        else:
            op = next((o for o in _OPERATORS if expr.startswith(o, i)), ch)
            tokens.append(Token("op", op, i))
        i = tokens[-1].end
    tokens.append(Token("eof", "", n))
    return tokens


PAIRS = {"(": ")", "{": "}", "[": "]"}
"""Each opening bracket and its closing one."""


@dataclass(frozen=True)
class Brackets:
    """How the brackets of a token list pair up (by token index)."""

    match: dict[int, int]
    """Opening bracket -> its closing bracket, and back."""
    unclosed: list[int]
    """Openers never closed, outermost first."""
    unopened: list[int]
    """Closers that close nothing."""

    @classmethod
    def of(cls, tokens: list[Token]) -> Brackets:
        match: dict[int, int] = {}
        stack: list[int] = []
        unopened: list[int] = []
        for i, tok in enumerate(tokens):
            if tok.kind != "op":
                continue
            if tok.text in PAIRS:
                stack.append(i)
            elif tok.text in PAIRS.values():
                if stack and PAIRS[tokens[stack[-1]].text] == tok.text:
                    opener = stack.pop()
                    match[opener], match[i] = i, opener
                else:
                    unopened.append(i)
        return cls(match, stack, unopened)


def arguments(tokens: list[Token], brackets: Brackets, open_idx: int) -> list[tuple[int, int]]:
    """The token ranges of the comma-separated arguments in the brackets opened at `open_idx`."""
    close = brackets.match.get(open_idx, len(tokens))
    spans: list[tuple[int, int]] = []
    start = i = open_idx + 1
    while i < close:
        if tokens[i].kind == "op" and tokens[i].text in PAIRS and i in brackets.match:
            i = brackets.match[i] + 1
            continue
        if tokens[i].is_(","):
            spans.append((start, i))
            start = i + 1
        i += 1
    if start < close:
        spans.append((start, close))
    return spans


def substitute_variables(expr: str) -> str:
    """`expr` with each Grafana variable outside strings replaced by a duration of the same
    length (Grafana substitutes them before Prometheus sees the query): offsets stay put."""
    out = expr
    for tok in tokenize(expr, grafana=True):
        if tok.kind == "var":
            out = out[: tok.pos] + "5m".ljust(len(tok.text)) + out[tok.end :]
    return out
