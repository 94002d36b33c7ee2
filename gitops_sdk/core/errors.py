"""The SDK's own exception family.

Every message says where (stack, kind, object, field) and what (the bad value, what was
expected), so a user can fix their program or config without reading a traceback.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = [
    "MISSING",
    "ArgumentError",
    "ConfigError",
    "CrossReferenceError",
    "DependencyCycleError",
    "FieldIssue",
    "GitopsError",
    "SpecError",
    "ToolError",
    "UnknownKindError",
    "UnsupportedApiVersionError",
    "current_stack",
    "expect",
    "expect_items",
    "shape_of",
    "stack_context",
]


_STACK: contextvars.ContextVar[str | None] = contextvars.ContextVar("gitops_stack", default=None)


@contextlib.contextmanager
def stack_context(stack: str | None) -> Iterator[None]:
    """Name `stack` in every error raised inside the block."""
    token = _STACK.set(stack)
    try:
        yield
    finally:
        _STACK.reset(token)


def current_stack() -> str | None:
    """The stack named by the innermost `stack_context`, if any."""
    return _STACK.get()


def _where(kind: str | None, name: str | None) -> str:
    parts = []
    if stack := current_stack():
        parts.append(stack)
    if kind:
        parts.append(f"{kind} {name!r}" if name else kind)
    return ": ".join(parts)


class GitopsError(Exception):
    """Base class of every error the SDK raises on purpose."""

    def __init__(self, message: str) -> None:
        where = current_stack()
        if where and not message.startswith(f"{where}:"):
            message = f"{where}: {message}"
        super().__init__(message)
        self.stack = where


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
"""The `value` of a `FieldIssue` about a field that is absent (then no value is shown)."""


class FieldIssue:
    """One bad field: its manifest path, the value found and what was expected."""

    __slots__ = ("path", "problem", "value")

    def __init__(self, path: str, value: Any, problem: str) -> None:
        self.path = path
        self.value = value
        self.problem = problem

    def __str__(self) -> str:
        if self.value is MISSING:
            return f"{self.path}: {self.problem}"
        return f"{self.path} {_show(self.value)}: {self.problem}"

    def __repr__(self) -> str:
        return f"FieldIssue({self.path!r}, {self.value!r}, {self.problem!r})"


def _show(value: Any) -> str:
    ident = getattr(value, "__flux_ref__", None)
    if callable(ident):  # a Flux object by what it is, not by its whole repr
        kind, name, _ = ident()
        return f"{kind} {name!r}"
    if (
        isinstance(value, (list, tuple))
        and value
        and all(hasattr(v, "__flux_ref__") for v in value)
    ):
        inner = ", ".join(_show(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deep, or an int too long to print
        return f"<{type(value).__name__}: too deep or too long to show>"
    return text if len(text) <= 80 else text[:77] + "..."


class SpecError(GitopsError):
    """A Flux object (or a part of one) has fields Flux would reject or that cannot work."""

    def __init__(self, kind: str | None, name: str | None, issues: Sequence[FieldIssue]) -> None:
        self.kind = kind
        self.name = name
        self.issues = list(issues)
        head = _where(kind, name)
        body = "; ".join(str(i) for i in self.issues)
        super().__init__(f"{head}: {body}" if head else body)


class UnsupportedApiVersionError(GitopsError):
    """A manifest uses an apiVersion that the current Flux no longer serves."""


class UnknownKindError(GitopsError):
    """A manifest is not one of the Flux kinds the SDK models."""


class CrossReferenceError(GitopsError):
    """A reference points at an object of the wrong kind, namespace, or one the stack lacks."""


class DependencyCycleError(GitopsError):
    """`dependsOn` edges form a cycle, which Flux would wait on forever."""

    def __init__(self, kind: str, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        super().__init__(f"{kind} dependsOn cycle: {' -> '.join(self.cycle)}")


class ConfigError(GitopsError):
    """Stack configuration (`gitops:` in `Pulumi.<stack>.yaml`) is missing or invalid."""


class ArgumentError(GitopsError, TypeError):
    """An SDK function or component got an argument of the wrong type (e.g. a name string
    where it takes the Flux object, or one object where it takes a list)."""


def shape_of(value: Any) -> str:
    """A value as a one-line message shows an input of unknown shape: collections by their type,
    scalars by a short repr."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return _show(value)


def _typed(value: Any) -> str:
    # A Flux object says what it is; anything else is named by its type, then shown.
    return (
        _show(value) if hasattr(value, "__flux_ref__") else f"{type(value).__name__} {_show(value)}"
    )


def expect(value: Any, types: type | tuple[type, ...], where: str, expected: str) -> None:
    """ArgumentError unless `value` is an instance of `types`."""
    if not isinstance(value, types):
        raise ArgumentError(f"{where}: expected {expected}, got {_typed(value)}")


def expect_items(value: Any, types: type | tuple[type, ...], where: str, expected: str) -> None:
    """ArgumentError unless `value` is a list or tuple of `types` instances."""
    if not isinstance(value, (list, tuple)):
        raise ArgumentError(f"{where}: expected a list of {expected}, got {_typed(value)}")
    for i, item in enumerate(value):
        expect(item, types, f"{where}[{i}]", expected)


class ToolError(GitopsError):
    """An external tool (sops, git) is missing or failed."""
