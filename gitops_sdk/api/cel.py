"""CEL expressions (health checks, readiness, webhook filters, commit statuses): parsed with
cel-python when the object is built, so a syntax error names the field and the position instead
of stalling the object in the cluster.

Flux compiles its expressions with cel-go and the optional-types syntax (`self.?status`,
`a[?0]`, `{?k: v}`); cel-python's grammar lacks it, so those `?` are blanked before parsing.
Only the syntax is checked: which variables and functions exist is left to the controller.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

from pydantic import AfterValidator

__all__ = ["MAX_CEL_DEPTH", "MAX_CEL_LENGTH", "CelExpression", "check_cel"]

MAX_CEL_LENGTH = 100_000
"""cel-go's default limit on an expression's size, in code points."""
MAX_CEL_DEPTH = 250
"""cel-go's default limit on how deep an expression may nest (here: brackets)."""


def _string_end(text: str, i: int) -> int:
    """Where the string literal opening at `text[i]` (a quote) ends; linear, never a regexp that
    could backtrack over 100,000 characters."""
    quote = text[i] * 3 if text.startswith(text[i] * 3, i) else text[i]
    raw = text[max(i - 2, 0) : i].lower().lstrip("b").endswith("r")
    j = i + len(quote)
    while j < len(text):
        if text[j] == "\\" and not raw:
            j += 2
        elif text.startswith(quote, j):
            return j + len(quote)
        elif text[j] == "\n" and len(quote) == 1:
            return j
        else:
            j += 1
    return len(text)


def _prepare(text: str) -> str:
    """`text` with the optional-syntax `?` blanked, positions kept (it follows `.`, `[`, `{` or
    `,`, where a conditional's `?` never does), and its nesting checked."""
    out = list(text)
    depth, last, i = 0, "", 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            i, last = _string_end(text, i), ch
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if ch == "?" and last in (".", "[", "{", ","):
            out[i] = " "
        elif ch in "([{":
            depth += 1
            if depth > MAX_CEL_DEPTH:
                line, column = _position(text, i)
                raise ValueError(
                    f"is not a valid CEL expression: nested deeper than {MAX_CEL_DEPTH} levels "
                    f"at line {line}, column {column} (cel-go's limit)"
                )
        elif ch in ")]}":
            depth -= 1
        if not ch.isspace():
            last = ch
        i += 1
    return "".join(out)


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _what(err: Any, text: str) -> str:
    """What the parser found and where, from the lark error cel-python wraps."""
    cause: Any = err.__context__
    token = getattr(cause, "token", None)
    char = getattr(cause, "char", None)
    if token is not None and token.type == "$END":
        line, column = _position(text, len(text.rstrip()))
        return f"unexpected end of expression at line {line}, column {column}"
    if token is not None:
        found = str(token) if len(str(token)) <= 40 else str(token)[:37] + "..."
        what = f"unexpected {found!r}"
    else:
        what = f"unexpected character {char!r}" if char else "syntax error"
    return what + (f" at line {err.line}, column {err.column}" if err.line else "")


@functools.lru_cache(maxsize=1024)
def check_cel(text: str) -> str:
    """`text` if it parses as a CEL expression; else a ValueError with the parser's position."""
    if len(text) > MAX_CEL_LENGTH:
        raise ValueError(f"is {len(text)} characters long; cel-go parses at most {MAX_CEL_LENGTH}")
    if not text.strip():
        raise ValueError('is empty (expected a CEL expression, e.g. "self.status.ready")')
    from celpy import celparser  # imported here: its grammar takes a quarter second to load

    try:
        celparser.CELParser().parse(_prepare(text))
    except celparser.CELParseError as err:
        raise ValueError(f"is not a valid CEL expression: {_what(err, text)}") from None
    except RecursionError:  # the grammar's tree builder, on a pathological expression
        raise ValueError("is not a valid CEL expression: too deeply nested") from None
    return text


CelExpression = Annotated[str, AfterValidator(check_cel)]
"""A CEL expression, checked to parse."""
