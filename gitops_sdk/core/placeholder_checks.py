"""Checks that read several values (a model's check across its fields, a check over a list or a
mapping) when some of those values hold Flux substitution placeholders.

A check across fields runs with each placeholder replaced by a stand-in; reading a stand-in (by
comparing, hashing, formatting it, ...) marks the check as depending on the placeholder, and it
is skipped. A check that never reads one still refuses. A check over a list or mapping that fails
runs again without the entries holding placeholders, and refuses if the rest still fails.
Skipped checks are recorded for the report when `recording()` is active.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any

from pydantic import BaseModel

from gitops_sdk.core.base import Invalid
from gitops_sdk.core.errors import MISSING
from gitops_sdk.core.substitution import has_placeholder, holds_placeholder, join_path

__all__ = ["Record", "checked", "recording", "skipped"]


Record = tuple[Any, str, Any, str, tuple[tuple[str, str], ...]]
"""(the model, list or mapping checked, the path below it of the value blamed, that value, the
check's problem as written, the placeholders it read as (path below it, text); none: those of
the list or mapping)."""
_RECORDS: contextvars.ContextVar[list[Record] | None] = contextvars.ContextVar(
    "gitops_placeholder_records", default=None
)


@contextlib.contextmanager
def recording() -> Iterator[list[Record]]:
    """Collect the checks skipped by `load` calls inside the block."""
    records: list[Record] = []
    token = _RECORDS.set(records)
    try:
        yield records
    finally:
        _RECORDS.reset(token)


def _record(
    container: Any, path: str, value: Any, problem: str, read: tuple[tuple[str, str], ...]
) -> None:
    records = _RECORDS.get()
    if records is not None:
        records.append((container, path, value, problem, read))


class _Read(Exception):
    """A stand-in was read: the check depends on a placeholder."""


class _StandIn:
    """Takes a placeholder's place while a check across fields runs; any use marks it read."""

    __slots__ = ("path", "read", "text")

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.read = False

    def _use(self, *args: Any) -> Any:
        self.read = True
        raise _Read

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # a probe of what it is (by a serializer, ...), not a read
            raise AttributeError(name)
        return self._use()

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _use
    __hash__ = __bool__ = __len__ = __iter__ = __contains__ = __getitem__ = _use
    __str__ = __repr__ = __format__ = __int__ = __float__ = __index__ = _use
    __add__ = __radd__ = __mul__ = __rmul__ = __mod__ = __rmod__ = _use


class _KeyStandIn(_StandIn):
    """A stand-in for a mapping key: hashable by identity, so it can sit in the mapping."""

    __slots__ = ()

    def __hash__(self) -> int:
        return id(self)


def _swap(value: Any, path: str, out: list[_StandIn], undo: list[Callable[[], object]]) -> None:
    """Replace every placeholder inside `value` by a stand-in (recorded in `out`); `undo` puts
    the texts back."""
    slots: Any
    if isinstance(value, BaseModel):
        slots = value.__dict__
        entries: list[tuple[Any, str]] = [(name, "." + _alias(value, name)) for name in slots]
    elif isinstance(value, list):
        slots = value
        entries = [(i, f"[{i}]") for i in range(len(value))]
    elif isinstance(value, dict):
        if any(has_placeholder(k) for k in value):
            items = list(value.items())
            keys = [
                _KeyStandIn(join_path(path, f".{k}"), k) if has_placeholder(k) else k
                for k, _ in items
            ]
            out += [k for k in keys if isinstance(k, _StandIn)]
            _refill(value, list(zip(keys, (v for _, v in items), strict=True)))
            undo.append(functools.partial(_refill, value, items))
        slots = value
        entries = [(k, "." + (k.text if isinstance(k, _StandIn) else str(k))) for k in value]
    else:
        return
    for key, step in entries:
        child = slots[key]
        here = join_path(path, step)
        if isinstance(child, str) and has_placeholder(child):
            stand_in = _StandIn(here, child)
            out.append(stand_in)
            slots[key] = stand_in
            undo.append(functools.partial(slots.__setitem__, key, child))
        else:
            _swap(child, here, out, undo)


def _refill(mapping: dict[Any, Any], items: list[tuple[Any, Any]]) -> None:
    mapping.clear()
    mapping.update(items)


def _alias(model: Any, name: Any) -> str:
    info = type(model).model_fields.get(name) if isinstance(model, BaseModel) else None
    return (info.alias or name) if info else str(name)


def _across_fields(fn: Callable[..., Any], model: BaseModel, args: tuple[Any, ...]) -> Any:
    """Run a model's check with its placeholders stood in for; skip it if it reads one."""
    stand_ins: list[_StandIn] = []
    undo: list[Callable[[], object]] = []
    failed = False
    try:
        _swap(model, "", stand_ins, undo)
        try:
            result = fn(model, *args)
        except _Read:
            pass
        except (ValueError, AssertionError, TypeError, AttributeError):
            failed = True
    finally:
        for step in reversed(undo):
            step()
    read = [s for s in stand_ins if s.read]
    if not read and not failed:
        return result
    if not read:
        # It failed without reading a placeholder: its verdict on the values as written stands,
        # raised from them so that no stand-in shows in the error. A failure that only the
        # stand-ins' type caused (the values as written pass, or are of the wrong type) is not
        # a verdict: the check depends on them.
        with contextlib.suppress(TypeError, AttributeError):
            fn(model, *args)
        read = stand_ins
    _note_skipped(fn, model, args, read)
    return model


def _note_skipped(
    fn: Callable[..., Any], model: BaseModel, args: tuple[Any, ...], read: list[_StandIn]
) -> None:
    if _RECORDS.get() is None:
        return
    try:  # what the check says of the text as written, for the report
        fn(model, *args)
        problem: Exception | None = None
    except (ValueError, AssertionError) as err:
        problem = err
    except Exception:
        problem = None
    if problem is None:
        check = f"a check of {type(model).__name__} reads it"
        for s in read:
            _record(model, s.path, s.text, check, ((s.path, s.text),))
        return
    field = problem.field if isinstance(problem, Invalid) else ""
    value = problem.value if isinstance(problem, Invalid) else MISSING
    _record(model, field, value, str(problem), tuple((s.path, s.text) for s in read))


def skipped(what: str, problem: str) -> str:
    """The message of a note about a check skipped until Flux substitutes `what`."""
    return f"not checked until Flux substitutes {what} (as written: {problem})"


def _without_placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: v for k, v in value.items() if not has_placeholder(k) and not holds_placeholder(v)
        }
    return [v for v in value if not holds_placeholder(v)]


def checked(spec: dict[str, Any]) -> dict[str, Any]:
    """A validator function that tolerates the placeholders in what it checks."""
    fn: Callable[..., Any] = spec["function"]

    def run(value: Any, *args: Any) -> Any:
        if isinstance(value, BaseModel):
            return _across_fields(fn, value, args) if holds_placeholder(value) else fn(value, *args)
        try:
            return fn(value, *args)
        except (ValueError, AssertionError) as err:
            if not isinstance(value, (dict, list)) or not holds_placeholder(value):
                raise
            fn(_without_placeholders(value), *args)  # the other entries must still pass
            _record(value, "", MISSING, str(err), ())
            return value

    run.__wrapped__ = fn  # type: ignore[attr-defined]
    return {**spec, "function": run}
