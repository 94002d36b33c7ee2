"""Flux substitution placeholders in manifests: where they are, and what loading could not check
because of them.

`from_manifest` loads a manifest whose values hold placeholders (`name: ${APP}-db`,
`replicas: ${REPLICAS}`, `interval: ${INTERVAL:=5m}`) with `placeholder_load`; an object then
lists its placeholders (`obj.placeholders`) and the checks that were skipped
(`obj.validation_notes()`), built here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import pydantic
from pydantic import BaseModel

from gitops_sdk.core.base import issues_from
from gitops_sdk.core.errors import FieldIssue
from gitops_sdk.core.placeholder_checks import recording, skipped
from gitops_sdk.core.placeholder_load import load
from gitops_sdk.core.substitution import (
    broken_message,
    children,
    has_placeholder,
    join_path,
    scan,
    substitution_disabled,
)

__all__ = [
    "Placeholder",
    "ValidationNote",
    "find_placeholders",
    "validation_notes",
]


class Placeholder(NamedTuple):
    """A string of a manifest that Flux's substitution changes: its manifest path and text."""

    path: str
    text: str

    @property
    def variables(self) -> tuple[str, ...]:
        """The variables it reads, defaults included."""
        return scan(self.text).variables


class ValidationNote(NamedTuple):
    """A check that loading could not make because of a placeholder, or a `${` that Flux cannot
    parse: the manifest path, the value there (`MISSING`: not shown) and what happened."""

    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        return str(FieldIssue(self.path, self.value, self.message))


def _nodes(value: Any) -> Iterator[tuple[str, Any]]:
    """(path, item) of `value` and everything in it, depth first in document order; a key of a
    mapping comes as a string at the path of its value, just before the value."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        yield path, item
        entries = [(join_path(path, step), child) for step, child in children(item)]
        if isinstance(item, dict):
            paired: list[tuple[str, Any]] = []
            for (where, child), key in zip(entries, item, strict=True):
                paired += (
                    [(where, key), (where, child)] if isinstance(key, str) else [(where, child)]
                )
            entries = paired
        stack.extend(reversed(entries))


def find_placeholders(doc: Mapping[str, Any]) -> tuple[list[Placeholder], list[ValidationNote]]:
    """Every placeholder of a manifest, and a note for each `${` Flux cannot parse (which fails
    the substitution of the whole object). Nothing when the manifest turns substitution off."""
    if substitution_disabled(doc):
        return [], []
    found: list[Placeholder] = []
    broken: list[ValidationNote] = []
    for path, text in _nodes(dict(doc)):
        if not isinstance(text, str) or "${" not in text:
            continue
        read = scan(text)
        if read.placeholders:
            found.append(Placeholder(path or "(object)", text))
        elif read.error:
            broken.append(ValidationNote(path or "(object)", text, broken_message(text)))
    return found, broken


def _under(base: str, rel: str) -> str:
    if not rel:
        return base or "(object)"
    return base + rel if not base or rel.startswith("[") else f"{base}.{rel}"


def _addresses(value: Any) -> dict[int, str]:
    """id() -> manifest path of every model, list and mapping inside a loaded object."""
    out: dict[int, str] = {}
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, (BaseModel, list, dict)):
            out[id(item)] = path
            stack.extend((join_path(path, step), child) for step, child in children(item))
    return out


def _across(base: str, rel: str, read: tuple[tuple[str, str], ...], problem: str) -> str:
    """The note of a check across several values, skipped because it read placeholders."""
    if not read:
        return skipped("its placeholders", problem)
    if [path for path, _ in read] == [rel]:
        return skipped("it", problem)
    return skipped(", ".join(f"{_under(base, path)} {text!r}" for path, text in read), problem)


def _leaf_message(text: str, problem: str) -> str:
    filled = scan(text).with_defaults()
    if filled is None:
        return skipped("it", problem)
    return (
        f"checked as substituted with its default{'' if scan(text).whole else 's'} "
        f"({filled!r}); other values are not checked until Flux substitutes them (as written: "
        f"{problem})"
    )


_LAST_STEP = re.compile(r"(\.[^.\[]*|\[[0-9]+\])$")


def validation_notes(cls: type[BaseModel], doc: Mapping[str, Any]) -> list[ValidationNote]:
    """What loading `doc` as `cls` could not check because of placeholders (one note per check,
    at the path of the value it blames), and each `${` that Flux cannot parse; in document order.
    Raises pydantic's ValidationError when `doc` does not load."""
    found, notes = find_placeholders(doc)
    if not found:
        return notes
    with recording() as records:
        obj = load(cls, doc)
    addresses = _addresses(obj)
    found_notes: list[tuple[str, Any, str, str]] = []
    for where, rel, value, problem, read in records:
        base = addresses.get(id(where), "")
        found_notes.append((_under(base, rel), value, problem, _across(base, rel, read, problem)))
    try:
        cls.model_validate(dict(doc), by_alias=True, by_name=False)
    except pydantic.ValidationError as err:
        found_notes += [
            (i.path, i.value, i.problem, _leaf_message(i.value, i.problem))
            for i in issues_from(err, cls)
            if has_placeholder(i.value)
        ]
    seen: set[tuple[str, str]] = set()  # a check seen by both passes is noted once
    for path, value, problem, message in found_notes:
        if (path, problem) not in seen:
            seen.add((path, problem))
            notes.append(ValidationNote(path, value, message))
    order: dict[str, int] = {}
    for path, _ in _nodes(dict(doc)):
        order.setdefault(path, len(order))

    def position(note: ValidationNote) -> int:
        path = note.path
        while path and path not in order:
            path = _LAST_STEP.sub("", path)
        return order.get(path, -1)

    return sorted(notes, key=position)
