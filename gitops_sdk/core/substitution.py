"""Flux's post-build substitution syntax, as kustomize-controller parses it before applying a
Kustomization's objects (`spec.postBuild`).

Flux substitutes the text of each object when the Kustomization applying it has variables
(`substitute`, `substituteFrom`) or `substituteStrategy: Always`, with a shell-like syntax:

- `${var}` is the variable's value (unset: empty, or an error with the controller's strict
  substitution); a name is letters, digits and `_`;
- `${var:=text}`, `${var=text}`, `${var:-text}` give `text` when the value is empty or unset; the
  parser also takes `${var:?text}` and `${var:+text}`, which Flux evaluates the same way (not as
  a shell does); `${var-text}`, `${var+text}` and `${var?text}` do not parse;
- `${#var}`, `${var^}`, `${var^^}`, `${var,}`, `${var,,}`, `${var:offset}`,
  `${var:offset:length}`, `${var#pat}`, `${var##pat}`, `${var%pat}`, `${var%%pat}`,
  `${var/pat/text}`, `${var//pat/text}`, `${var/#pat/text}`, `${var/%pat/text}` transform it;
- `$$` is a literal `$` (so `$${var}` is the text `${var}`); a `$` not followed by `{` is text;
- `${` that does not parse fails the substitution of the whole object;
- an object annotated or labelled `kustomize.toolkit.fluxcd.io/substitute: disabled` is applied as
  it is written.

Substitution works on the object's YAML text, so `replicas: ${REPLICAS}` becomes a number once
substituted. This module only reads the syntax; it never substitutes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = [
    "DEFAULT_OPERATORS",
    "SUBSTITUTE_KEY",
    "Expression",
    "Scan",
    "broken_message",
    "children",
    "has_placeholder",
    "holds_placeholder",
    "join_path",
    "placeholder_hint",
    "scan",
    "substitution_disabled",
]

SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
"""The annotation (or label) whose value `disabled` turns substitution off for one object."""

DEFAULT_OPERATORS = frozenset({"=", ":=", ":-", ":?", ":+"})
"""Operators whose text Flux uses when the variable is empty or unset."""


@dataclass(frozen=True)
class Expression:
    """One `${...}` in a text: where it is, its variable, its operator (what follows the name:
    `""`, `":="`, `"//"`, ...; `"length"` for `${#var}`) and, for the default operators, the
    default as written, which may hold further expressions."""

    start: int
    end: int
    name: str
    operator: str
    default: str | None = None


@dataclass(frozen=True)
class Scan:
    """What a text holds: its expressions, the literal parts between them (escapes resolved, so
    `$$` is one `$`), and the first `${` Flux could not parse (then `expressions` stops there)."""

    expressions: tuple[Expression, ...]
    literals: tuple[str, ...]
    error: str | None = None
    error_at: int = -1

    @property
    def placeholders(self) -> bool:
        """Whether Flux would substitute something here: at least one expression, no error."""
        return bool(self.expressions) and self.error is None

    @property
    def whole(self) -> bool:
        """Whether the text is exactly one expression."""
        return len(self.expressions) == 1 and not any(self.literals)

    @property
    def variables(self) -> tuple[str, ...]:
        """The variable names read, in order, without repeats (defaults included)."""
        names: list[str] = []
        for expr in self.expressions:
            inner = scan(expr.default, escapes=False).variables if expr.default else ()
            names += [n for n in (expr.name, *inner) if n not in names]
        return tuple(names)

    def with_defaults(self) -> str | None:
        """The text as Flux renders it when no variable is set: every expression replaced by its
        default; None when one has no default or a default with a further expression."""
        out = self.literals[0]
        for expr, literal in zip(self.expressions, self.literals[1:], strict=True):
            if expr.operator not in DEFAULT_OPERATORS or expr.default is None:
                return None
            if "${" in expr.default and scan(expr.default, escapes=False).expressions:
                return None
            out += expr.default + literal
        return out


def has_placeholder(text: Any) -> bool:
    """Whether `text` is a string Flux's substitution would change (a well-formed `${...}`)."""
    return isinstance(text, str) and "${" in text and scan(text).placeholders


class _Bad(Exception):
    def __init__(self, problem: str, at: int) -> None:
        super().__init__(problem)
        self.at = at


def _ident(c: str) -> bool:
    # Go's unicode.IsLetter / IsDigit, or '_'.
    return c.isalpha() or c.isdecimal() or c == "_"


def scan(text: str, *, escapes: bool = True) -> Scan:
    """Read the expressions of `text` the way Flux's parser does. A default is read with
    `escapes=False`: inside one, `$$` is two dollars."""
    return _scan(text, escapes) if len(text) <= 4096 else _scan.__wrapped__(text, escapes)


@functools.lru_cache(maxsize=4096)
def _scan(text: str, escapes: bool) -> Scan:
    found: list[Expression] = []
    literals: list[str] = []
    parts: list[str] = []
    i = 0
    while (j := text.find("$", i)) >= 0:
        parts.append(text[i:j])
        if escapes and text.startswith("$$", j):
            parts.append("$")
            i = j + 2
        elif text.startswith("${", j):
            try:
                expr = _expression(text, j, 0)
            except _Bad as bad:
                literals.append("".join(parts) + text[j:])
                return Scan(tuple(found), tuple(literals), str(bad), bad.at)
            found.append(expr)
            literals.append("".join(parts))
            parts = []
            i = expr.end
        else:
            parts.append("$")
            i = j + 1
    literals.append("".join(parts) + text[i:])
    return Scan(tuple(found), tuple(literals))


_MAX_NESTING = 50
"""Expressions nested deeper (in defaults or parameters) are refused as unparsable: Flux would
read them, but no template needs that many, and reading them must not recurse without end."""


def _expression(text: str, start: int, depth: int) -> Expression:
    """The expression whose `${` is at `start`, `depth` expressions deep."""
    if depth > _MAX_NESTING:
        raise _Bad(f"nested deeper than {_MAX_NESTING} levels", start)
    i = start + 2
    if text.startswith("#", i):  # ${#var}: the length
        name, i = _name(text, i + 1, start)
        return Expression(start, _close(text, i, start), name, "length")
    name, i = _name(text, i, start)
    c = text[i : i + 1]
    if c == "}":
        return Expression(start, i + 1, name, "")
    if c == ":" and text[i + 1 : i + 2] in ("=", "-", "?", "+"):
        return _with_default(text, start, name, i + 2, text[i : i + 2], depth)
    if c == "=":
        return _with_default(text, start, name, i + 1, "=", depth)
    if c == ":":  # ${var:offset} or ${var:offset:length}
        if text[i + 1 : i + 2] >= "\x80":  # Flux's scanner loses its place on a wide character
            raise _Bad("bad substitution", start)
        i = _param(text, i + 1, start, ":}", depth)
        if text.startswith(":", i):
            while text.startswith(":", i):
                i += 1
            i = _param(text, i, start, "}", depth)
        return Expression(start, _close(text, i, start), name, ":")
    if c in (",", "^"):
        op = c + (text[i + 1] if text[i + 1 : i + 2] in (",", "^") else "")
        return Expression(start, _close(text, i + len(op), start), name, op)
    if c in ("#", "%"):
        op = c * 2 if text.startswith(c * 2, i) else c
        i = _param(text, i + len(op), start, "}", depth)
        return Expression(start, _close(text, i, start), name, op)
    if c == "/":
        op = text[i : i + 2] if text[i + 1 : i + 2] in ("/", "#", "%") else "/"
        i = _param(text, i + len(op), start, "/", depth, escapes=True)  # a pattern may hold "}"
        if not text.startswith("/", i):
            raise _Bad("bad substitution", start)
        while text.startswith("/", i):
            i += 1
        if not text.startswith("}", i):
            i = _param(text, i, start, "}", depth, escapes=True)
        return Expression(start, _close(text, i, start), name, op)
    raise _Bad("missing closing brace", start)


def _name(text: str, i: int, start: int) -> tuple[str, int]:
    j = i
    while j < len(text) and _ident(text[j]):
        j += 1
    if j == i:
        raise _Bad("unable to parse variable name", start)
    return text[i:j], j


def _close(text: str, i: int, start: int) -> int:
    if not text.startswith("}", i):
        raise _Bad("missing closing brace", start)
    return i + 1


def _param(text: str, i: int, start: int, stops: str, depth: int, *, escapes: bool = False) -> int:
    """The end of a function's parameter: text up to one of `stops`, or one nested expression.
    Flux needs at least one character (or the nested expression)."""
    if text.startswith("${", i):
        return _expression(text, i, depth + 1).end
    j = i
    while j < len(text) and text[j] not in stops and not text.startswith("${", j):
        if escapes and text[j : j + 2] in ("$$", "\\/", "\\\\"):
            j += 1  # an escaped character is taken as text
        j += 1
    if j == i:
        raise _Bad("unable to parse substitution within function", start)
    if j >= len(text):
        raise _Bad("missing closing brace", start)
    return j


def _with_default(text: str, start: int, name: str, i: int, op: str, depth: int) -> Expression:
    # The default runs to the matching `}`: text and nested expressions, possibly none.
    first = i
    while not text.startswith("}", i):
        if i >= len(text):
            raise _Bad("missing closing brace", start)
        i = _param(text, i, start, "}", depth)
    return Expression(start, i + 1, name, op, text[first:i])


def substitution_disabled(doc: Mapping[str, Any]) -> bool:
    """Whether the manifest turns Flux's substitution off for itself (annotation or label)."""
    meta = doc.get("metadata")
    if not isinstance(meta, Mapping):
        return False
    for key in ("annotations", "labels"):
        values = meta.get(key)
        if isinstance(values, Mapping) and values.get(SUBSTITUTE_KEY) == "disabled":
            return True
    return False


def broken_message(text: str) -> str:
    """Why Flux cannot substitute `text`, which holds a `${` that does not parse."""
    read = scan(text)
    expression = text[read.error_at : read.error_at + 24]
    return (
        f"{expression!r} is not a substitution Flux can parse ({read.error}): substituting this "
        "object fails; write '$${' for a literal '${'"
    )


def placeholder_hint(value: Any, reason: str) -> str:
    """What to add to a problem with `value`: `reason` (why placeholders were not read) when it
    holds one; with no reason (Flux substitutes), that its `${` does not parse; else ""."""
    if not isinstance(value, str) or "${" not in value:
        return ""
    read = scan(value)
    if read.placeholders:
        return f" ({reason})" if reason else ""
    return f" ({broken_message(value)})" if read.error and not reason else ""


# --- placeholders in values ----------------------------------------------------------------------


def children(value: Any) -> Iterator[tuple[str, Any]]:
    """(path step, child) of a model (by manifest name), a list or a mapping."""
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        for name, child in value.__dict__.items():
            info = fields.get(name)
            yield "." + ((info.alias or name) if info else name), child
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield f"[{i}]", child
    elif isinstance(value, dict):
        for key, child in value.items():
            yield f".{key}", child


def join_path(path: str, step: str) -> str:
    """`path` followed by a step from `children` (`metadata` + `.name`, `items` + `[0]`)."""
    return path + step if path or step.startswith("[") else step[1:]


def holds_placeholder(value: Any) -> bool:
    """Whether `value` (a manifest, a model, a list, ...) holds a placeholder anywhere, keys of
    mappings included."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_placeholder(item):
                return True
            continue
        if isinstance(item, dict) and any(has_placeholder(k) for k in item):
            return True
        stack.extend(child for _, child in children(item))
    return False
