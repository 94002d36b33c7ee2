"""The base model: snake_case in Python, camelCase in manifests, strict and frozen; pydantic's
errors turned into field issues with manifest paths."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any

import pydantic
import typing_extensions
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError
from gitops_sdk.core.inputs import is_output
from gitops_sdk.core.substitution import placeholder_hint

__all__ = [
    "BUILT_IN_CODE",
    "MAX_DEPTH",
    "FluxModel",
    "Invalid",
    "a_or_an",
    "either",
    "issues_from",
    "json_problem",
    "share_fields_set",
]


MAX_DEPTH = 100
"""How deep a free-form value (HelmRelease `values`, pod affinity) may nest. Far beyond any real
chart's values, and far below what the YAML, JSON and Pulumi serializers (recursive, like
Python's repr) survive."""


def _nodes(value: Any) -> Iterator[tuple[Any, Any, int]]:
    """(path, item, depth) of `value` and everything in it, depth first and without recursion;
    a path is a linked (parent, key) pair, rendered only when needed."""
    stack: list[tuple[Any, Any, int]] = [(None, value, 0)]
    while stack:
        path, item, depth = stack.pop()
        yield path, item, depth
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, (list, tuple)):
            children = enumerate(item)
        else:
            continue
        stack.extend([((path, key), child, depth + 1) for key, child in children][::-1])


def _render(path: Any) -> str:
    keys: list[Any] = []
    while path is not None:
        path, key = path
        keys.append(key)
    keys.reverse()
    out = ""
    for key in keys[:8] if len(keys) <= 8 else keys[:4]:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out if len(keys) <= 8 else out + "..."


def json_problem(value: Any, limit: int = MAX_DEPTH) -> tuple[str, Any, str] | None:
    """(path below `value`, the bad part, problem) of the first thing JSON cannot carry in
    `value` (NaN, an infinity, a key that is not a string) or of a part nested deeper than
    `limit` levels; None when there is none. Never recursive, so no depth is too deep for it."""
    for path, item, depth in _nodes(value):
        if isinstance(item, float) and not math.isfinite(item):
            return _render(path), item, "is not a finite number (JSON has no NaN or Infinity)"
        if isinstance(item, (dict, list, tuple)) and depth >= limit:
            return _render(path), MISSING, f"is nested deeper than {limit} levels"
        if isinstance(item, dict) and not all(isinstance(k, str) for k in item):
            key = next(k for k in item if not isinstance(k, str))
            return _render(path), key, "has a key that is not a string (JSON keys are strings)"
    return None


def _unshowable(value: Any, limit: int) -> bool:
    """Whether repr() of `value` would fail or run away: nested deeper than `limit`, or an int
    too long for Python to print."""
    return any(
        depth > limit or (isinstance(item, int) and item.bit_length() > 10_000)
        for _, item, depth in _nodes(value)
    )


class Invalid(ValueError):
    """Raised by a model-level check to blame one field (camelCase path below the model)."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.value = value


def a_or_an(word: str) -> str:
    """`word` with its English article: 'an Alert', 'a Kustomization'."""
    return ("an " if word[:1] in "AEIOU" else "a ") + word


def either(kinds: tuple[str, ...]) -> str:
    """'A', 'A or B', 'A, B or C'."""
    return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + f" or {kinds[-1]}"


def _alias(name: str) -> str:
    return to_camel(name)


_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def share_fields_set(model: BaseModel, fields: set[str]) -> None:
    """Give `model` the shared set equal to `fields` as its set of explicitly given fields.

    Flux models are frozen, so that set is never changed in place (pydantic's copies take their
    own), and a program's thousands of objects can share a handful of sets instead of carrying
    one each: a quarter fewer objects per model for Python's garbage collector to track.
    """
    key = frozenset(fields)
    shared = _FIELDS_SETS.get(key)
    if shared is None:
        shared = _FIELDS_SETS[key] = set(key)
    object.__setattr__(model, "__pydantic_fields_set__", shared)


# Strict like the API server: "yes" or 1 is not a boolean, "5" is not an integer (lax mode would
# convert them). Nested models still take mappings. Passed unpacked because pydantic's mypy
# plugin would read `strict=True` as "nested models need instances", which is not so at runtime.
_STRICT: Any = {"strict": True}


BUILT_IN_CODE = (
    "a Flux substitution placeholder: an object built in code is applied as it is, so only "
    "from_manifest reads placeholders"
)
"""Why a constructor refuses a value holding a placeholder (added to its error)."""


class FluxModel(BaseModel):
    """Base of every part of a Flux object: snake_case in Python, camelCase in manifests.

    Instances are frozen and share their `model_fields_set` with equal ones (see
    `share_fields_set`): read it, never change it in place."""

    model_config = ConfigDict(
        alias_generator=_alias,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        loc_by_alias=True,
        allow_inf_nan=False,  # manifests are JSON, which has no NaN or Infinity
        **_STRICT,  # type: ignore[typeddict-item]
    )

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as err:
            issues = issues_from(err, type(self), placeholders=BUILT_IN_CODE)
            raise SpecError(type(self).__name__, None, issues) from None

    # Tell pydantic this __init__ only wraps errors, so nested validation need not call it.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def model_post_init(self, context: Any, /) -> None:
        if self.model_config.get("frozen"):  # a mutable subclass keeps a set of its own
            share_fields_set(self, self.__pydantic_fields_set__)

    def to_dict(self) -> dict[str, Any]:
        """The camelCase manifest fragment, with only the fields that were set. An explicit
        None means "not set" (free-form values such as HelmRelease `values` keep their nulls)."""
        # A template loaded by from_manifest holds a placeholder's text where the field's type
        # says otherwise (`replicas: ${N}`): written as it is, without pydantic's warning.
        return self.model_dump(
            mode="json", by_alias=True, exclude_unset=True, exclude_none=True, warnings=False
        )


_PYDANTIC_PROBLEMS = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "finite_number": "is not a finite number (JSON has no NaN or Infinity)",
}
_SHOWN_DEPTH = 8
"""Values nested deeper are not shown in errors (their repr would be long, or fail)."""


def issues_from(
    err: pydantic.ValidationError, root: type[BaseModel], *, placeholders: str | None = None
) -> list[FieldIssue]:
    """Turn pydantic's errors on a `root` model into field issues with manifest paths. With
    `placeholders`, a value refused by its own field's check that holds a Flux substitution
    placeholder says why it was not read as one (that text), or that its `${` does not parse."""
    out: list[FieldIssue] = []
    for e in err.errors():
        kind = e["type"]
        own = True  # the field's own check, not one across fields blaming it
        if kind == "extra_forbidden":
            # An unknown key is named as written, not mapped to a field's manifest name.
            parent, holder = _follow(e["loc"][:-1], root)
            key = str(e["loc"][-1])
            path = f"{parent}.{key}" if parent else key
        else:
            path = _path(e["loc"], root)
        # An unknown field's value is never shown: a misspelt secret field holds the secret.
        value = MISSING if kind in ("missing", "extra_forbidden") else e.get("input", MISSING)
        if kind in ("value_error", "assertion_error"):
            cause = e["ctx"]["error"]
            problem = str(cause)
            if isinstance(cause, Invalid):
                own = not cause.field
                if cause.field:  # empty: the field being validated itself
                    sep = "" if not path or cause.field.startswith("[") else "."
                    path = f"{path}{sep}{cause.field}"
                value = cause.value
        elif kind in _PYDANTIC_PROBLEMS:
            problem = _PYDANTIC_PROBLEMS[kind]
        elif kind == "literal_error":
            problem = "expected " + e["ctx"]["expected"]
        elif kind == "model_type" and (model := _model_in(_follow(e["loc"], root)[1])):
            kinds: tuple[str, ...] = getattr(model, "expected_kinds", ())  # references only
            problem = (
                f"expected {a_or_an(either(kinds))} object (the object itself, or a mapping with "
                "its name)"
                if kinds
                else f"expected a mapping of {model.__name__} fields"
            )
        else:
            problem = e["msg"][0].lower() + e["msg"][1:]
        if is_output(value):
            problem += (
                " (this field takes a plain value; pulumi Outputs are taken where other "
                "resources feed an object: source URLs, Secret names, Provider addresses, "
                "HelmRelease values)"
            )
        if kind == "extra_forbidden":
            key = str(e["loc"][-1])
            if hint := _REMOVED_FIELD_HINTS.get(key):
                problem += f" ({hint})"
            elif (model := _model_in(holder)) and any(
                info.alias == _alias(key) != key for info in model.model_fields.values()
            ):
                problem += f" (manifests use the camelCase name {_alias(key)!r})"
        if placeholders is not None and own:
            problem += placeholder_hint(value, placeholders)
        if value is not MISSING and _unshowable(value, _SHOWN_DEPTH):
            value = MISSING
            problem += " (the value is too deep or too long to show)"
        out.append(FieldIssue(path or "(object)", value, problem))
    # A NaN given to `int | float` also fails as an int: say only that it is not finite.
    nan = {i.path for i in out if i.problem == _PYDANTIC_PROBLEMS["finite_number"]}
    return [i for i in out if i.path not in nan or i.problem == _PYDANTIC_PROBLEMS["finite_number"]]


# Fields that older Flux APIs had and users still copy from old guides.
_REMOVED_FIELD_HINTS = {
    "validation": "removed in kustomize.toolkit.fluxcd.io/v1: Flux always validates server-side",
    "patchesStrategicMerge": "removed in kustomize.toolkit.fluxcd.io/v1: use 'patches'",
    "patchesJson6902": "removed in kustomize.toolkit.fluxcd.io/v1: use 'patches'",
    "gitImplementation": "removed in source.toolkit.fluxcd.io/v1: Flux uses go-git only",
}


def _path(loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    """The manifest (camelCase) path of an error location, following the model's field types:
    pydantic reports a field by the name the input used, which may be the Python name."""
    return _follow(loc, root)[0]


def _follow(loc: tuple[int | str, ...], root: type[BaseModel]) -> tuple[str, Any]:
    """(manifest path, type found there) of an error location."""
    out = ""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            current = _inner(current, list)
            continue
        if part.startswith("function-") or part == "[key]":
            continue
        members = [m for m in _members(current) if m is not type(None)]
        if len(members) > 1 and (tagged := _tagged(members, part)) is not None:
            current = tagged  # a union member's tag (`int`, `list[str]`, a model's name)
            continue
        model = _model_in(current)
        if model is not None and part == model.__name__:
            continue  # a union member's tag
        name = part
        if model is not None:
            info = model.model_fields.get(part) or next(
                (i for i in model.model_fields.values() if i.alias == part), None
            )
            name = (info.alias or part) if info else part
            current = info.annotation if info else None
        else:
            current = _inner(current, dict)  # a mapping key: keep it as written
        out += ("." if out else "") + name
    return out, current


def _tagged(members: list[Any], tag: str) -> Any:
    """The member of a union that pydantic names `tag` in an error location, or None."""
    base = tag.partition("[")[0]
    for member in members:
        origin = typing.get_origin(member) or member
        if getattr(origin, "__name__", None) == base:
            return member
    return None


def _members(tp: Any) -> list[Any]:
    while typing.get_origin(tp) is Annotated or isinstance(tp, typing_extensions.TypeAliasType):
        tp = tp.__value__ if typing.get_origin(tp) is not Annotated else typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _members(arg)]
    return [tp]


def _model_in(tp: Any) -> type[BaseModel] | None:
    for member in _members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _inner(tp: Any, container: type) -> Any:
    for member in _members(tp):
        if typing.get_origin(member) is container:
            return typing.get_args(member)[-1]
    return None
