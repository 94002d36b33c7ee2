"""Pulumi inputs in models: fields that other resources feed (a source URL, a Secret's name, a
Provider's address, HelmRelease values) take a `pulumi.Output` as well as a plain value.

A plain value is checked when the model is built, as always. An Output has no value yet: the
model holds a token in its place, and the Output with the field's own check is kept here until
the object is registered; then the resolved value is checked, and an error still names the
object and the field (see `components.resource`). Nothing below `components` imports Pulumi: an
Output is recognised by its class.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from typing import Annotated, Any, NamedTuple

from pydantic import TypeAdapter, ValidationError, ValidatorFunctionWrapHandler, WrapValidator

__all__ = [
    "InputStr",
    "PendingInput",
    "accepts_output",
    "any_pending",
    "check_resolved",
    "is_output",
    "pending",
    "replace_outputs",
    "token_for",
    "tokens_in",
]

_TOKEN = re.compile(r"<pulumi input #(\d+)>")
_COUNTER = itertools.count(1)
_LOCK = threading.Lock()


class PendingInput(NamedTuple):
    """An Output standing in a model, and the check its resolved value must pass."""

    output: Any
    check: TypeAdapter[Any] | None


_PENDING: dict[str, PendingInput] = {}


def is_output(value: Any) -> bool:
    """Whether `value` is a `pulumi.Output`."""
    cls = type(value)
    return cls.__name__ == "Output" and cls.__module__.startswith("pulumi")


def token_for(output: Any, check: TypeAdapter[Any] | None = None) -> str:
    """The text a model holds for `output` until it resolves."""
    with _LOCK:
        token = f"<pulumi input #{next(_COUNTER)}>"
        _PENDING[token] = PendingInput(output, check)
    return token


def any_pending() -> bool:
    """Whether any model took an Output in this program (most never do)."""
    return bool(_PENDING)


def pending(value: Any) -> PendingInput | None:
    """The Output a token stands for; None for any other value."""
    if isinstance(value, str) and _TOKEN.fullmatch(value):
        return _PENDING.get(value)
    return None


def tokens_in(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, token) of every token in a manifest fragment, in document order."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from tokens_in(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from tokens_in(item, (*path, i))
    elif pending(value) is not None:
        yield path, value


def _output_paths(value: Any, limit: int) -> list[tuple[Any, ...]]:
    # Iterative, and no deeper than `limit`: hostile input may nest thousands of levels.
    found: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if is_output(item):
            found.append(path)
        elif len(path) < limit and isinstance(item, dict):
            stack += [((*path, k), v) for k, v in item.items()]
        elif len(path) < limit and isinstance(item, list):
            stack += [((*path, i), v) for i, v in enumerate(item)]
    return found


def replace_outputs(value: Any, limit: int = 100) -> Any:
    """`value` with every Output in it (mapping values, list items, at most `limit` levels
    down) replaced by a token; the same object when it holds none."""
    paths = _output_paths(value, limit)
    if not paths:
        return value
    if paths == [()]:
        return token_for(value)
    root = _copy_along(value, paths)
    for path in paths:
        parent = root
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = token_for(parent[path[-1]])
    return root


def _copy_along(value: Any, paths: list[tuple[Any, ...]]) -> Any:
    """A copy of `value` in which the containers on `paths` are new (the rest is shared), so
    replacing along them never touches the caller's data."""
    root = value.copy()
    for path in paths:
        parent = root
        for part in path[:-1]:
            parent[part] = parent[part].copy()  # shared prefixes are copied again: harmless
            parent = parent[part]
    return root


def check_resolved(item: PendingInput, value: Any) -> Any:
    """The resolved value, checked like a plain one; ValueError with the problem otherwise."""
    if item.check is None:
        return value
    try:
        return item.check.validate_python(value)
    except ValidationError as err:
        first = err.errors()[0]
        raise ValueError(f"{value!r}: {first['msg'][0].lower()}{first['msg'][1:]}") from None


def accepts_output(tp: Any) -> WrapValidator:
    """Metadata making `Annotated[tp, accepts_output(tp)]` take a `pulumi.Output` too, whose
    resolved value must be a valid `tp`."""
    check: TypeAdapter[Any] = TypeAdapter(tp)

    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if is_output(value):
            return token_for(value, check)
        return handler(value)

    return WrapValidator(validate)


InputStr = Annotated[str, accepts_output(str)]
"""Text, or an Output of text."""
