"""The validator that loads manifests holding Flux substitution placeholders.

It is built from a kind's own schema, with every value position (field, list item, mapping key
or value) taking a string that holds a placeholder:

- the string is checked as written; when that fails, the check is skipped (and reported), except
  that a value whose placeholders all have defaults is checked as Flux renders it with no
  variable set, and a literal part no substitution can repair (`${APP}_db` as a name, `foo${X}`
  for an enum) is refused;
- a placeholder where a mapping or a list is expected is refused: the SDK reads placeholders in
  scalar values only;
- validator functions go through `placeholder_checks.checked`.

The loaded object keeps each text as written, whatever the field's type.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, cast

import pydantic
import yaml
from pydantic import BaseModel
from pydantic_core import SchemaValidator

from gitops_sdk.core.base import FluxModel, Invalid, issues_from
from gitops_sdk.core.fields import (
    _check_duration,
    _check_short_duration,
    check_dns_label,
    check_dns_subdomain,
    check_secret_key,
)
from gitops_sdk.core.placeholder_checks import checked
from gitops_sdk.core.substitution import scan

__all__ = ["load"]


class _Rule(NamedTuple):
    """What any value of a checked string type is made of, for refusing a literal part that no
    substitution can repair."""

    what: str
    allowed: re.Pattern[str]  # one character
    max_length: int  # 0: no limit
    first: re.Pattern[str] | None
    last: re.Pattern[str] | None


_ALNUM = re.compile(r"[a-z0-9]")
_DIGIT = re.compile(r"[0-9]")
# Keyed by the field types' own check functions, found in the schema (the duration checks are
# private to `fields`: their types, not the functions, are its interface).
_RULES: dict[Any, _Rule] = {
    check_dns_subdomain: _Rule(
        "a DNS-1123 subdomain", re.compile(r"[a-z0-9.-]"), 253, _ALNUM, _ALNUM
    ),
    check_dns_label: _Rule("a DNS-1123 label", re.compile(r"[a-z0-9-]"), 63, _ALNUM, _ALNUM),
    check_secret_key: _Rule("a Secret key", re.compile(r"[-._a-zA-Z0-9]"), 253, None, None),
    _check_duration: _Rule("a duration", re.compile(r"[0-9.msh]"), 0, _DIGIT, re.compile("[msh]")),
    _check_short_duration: _Rule(
        "a duration in ms, s or m", re.compile(r"[0-9.ms]"), 0, _DIGIT, re.compile("[ms]")
    ),
}


def _never(rule: _Rule, literals: tuple[str, ...]) -> str | None:
    """Why text with these literal parts can never be valid, whatever fills the gaps."""
    text = "".join(literals)
    bad = sorted({c for c in text if not rule.allowed.fullmatch(c)})
    if bad:
        return f"{', '.join(map(repr, bad))} cannot appear in it"
    if rule.max_length and len(text) > rule.max_length:
        return f"its literal parts alone are longer than {rule.max_length} characters"
    head, tail = literals[0], literals[-1]
    if rule.first and head and not rule.first.fullmatch(head[0]):
        return f"it cannot start with {head[0]!r}"
    if rule.last and tail and not rule.last.fullmatch(tail[-1]):
        return f"it cannot end with {tail[-1]!r}"
    return None


def _typed(text: str) -> list[Any]:
    """What a substituted scalar may be read as: the text, and what YAML makes of it (Flux
    substitutes the object's YAML text, so `replicas: ${N:=3}` becomes the number 3)."""
    if len(text) > 100:  # no scalar a field takes is that long; and YAML must not recurse deep
        return [text]
    try:
        typed = yaml.safe_load(text)
    except yaml.YAMLError:
        return [text]
    scalar = typed is None or isinstance(typed, (bool, int, float))
    return [text, typed] if scalar else [text]


class _Spot:
    """The check of one value position (a field, a list item, a mapping key or value)."""

    __slots__ = ("choices", "rule", "shape")

    def __init__(self, shape: str | None, choices: list[str] | None, rule: _Rule | None) -> None:
        self.shape = shape
        self.choices = choices
        self.rule = rule

    def __call__(self, value: Any, handler: Callable[[Any], Any]) -> Any:
        if type(value) is not str or "${" not in value:
            return handler(value)
        read = scan(value)
        if not read.placeholders:
            return handler(value)
        try:
            return handler(value)  # valid as written: nothing is skipped
        except pydantic.ValidationError:
            pass
        if self.shape:
            raise Invalid(
                "",
                value,
                f"is a substitution placeholder where {self.shape} is expected (the SDK reads "
                "placeholders in scalar values only)",
            )
        if self.choices is not None:
            some = re.compile(".*".join(map(re.escape, read.literals)), re.DOTALL)
            if not any(some.fullmatch(c) for c in self.choices):
                shown = ", ".join(map(repr, self.choices))
                raise Invalid("", value, f"cannot become one of {shown}, whatever Flux substitutes")
        if self.rule and (why := _never(self.rule, read.literals)):
            raise Invalid(
                "", value, f"cannot become {self.rule.what}, whatever Flux substitutes: {why}"
            )
        filled = read.with_defaults()
        if filled is not None and (problem := _problem(handler, filled)):
            own = "its default" if read.whole else "its defaults"
            raise Invalid("", value, f"as substituted with {own} ({filled!r}): {problem}")
        return value


def _problem(handler: Callable[[Any], Any], text: str) -> str | None:
    """Why `text` fails the position's check however YAML reads it; None when it passes. A
    reading of the wrong type (`3` where text is expected) explains least, so it comes last."""
    problems: list[tuple[bool, str]] = []
    for candidate in _typed(text):
        try:
            handler(candidate)
            return None
        except pydantic.ValidationError as err:
            wrong_type = err.errors()[0]["type"].endswith("_type")
            problems.append((wrong_type, issues_from(err, FluxModel)[0].problem))
    return sorted(problems, key=lambda p: p[0])[0][1]


def _unwrap(schema: dict[str, Any], refs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """`schema` and the schemas it hands its input to unchanged (defaults, nullables, validator
    functions, references), down to the one that decides the type."""
    seen: set[str] = set()
    while True:
        if schema["type"] == "definition-ref":
            ref = schema["schema_ref"]
            if ref in seen or ref not in refs:
                return
            seen.add(ref)
            schema = refs[ref]
            continue
        yield schema
        if schema["type"] not in (
            "default",
            "nullable",
            "function-after",
            "function-before",
            "function-wrap",
        ):
            return
        schema = schema["schema"]


def _shape(schema: dict[str, Any], refs: dict[str, Any]) -> str | None:
    """None when the position takes some scalar; else what it takes."""
    *_, last = _unwrap(schema, refs)
    kind = last["type"]
    if kind in ("model", "dict", "typed-dict", "dataclass", "model-fields"):
        return "a mapping"
    if kind in ("list", "set", "frozenset", "tuple"):
        return "a list"
    if kind in ("union", "tagged-union"):
        choices = last["choices"]
        members = choices.values() if isinstance(choices, dict) else choices
        shapes = [_shape(m if isinstance(m, dict) else m[0], refs) for m in members]
        return None if None in shapes else shapes[0]
    return None


def _spot(schema: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    if schema["type"] == "default":  # the default must stay outermost, or the field is required
        return {**schema, "schema": _spot(schema["schema"], refs)}
    layers = list(_unwrap(schema, refs))
    last = layers[-1] if layers else schema
    choices = last.get("expected") if last["type"] == "literal" else None
    rule = next(
        (
            _RULES[f]
            for layer in layers
            if "function" in layer
            and (f := getattr(layer["function"]["function"], "__wrapped__", None)) in _RULES
        ),
        None,
    )
    spot = _Spot(
        _shape(schema, refs),
        choices if choices and all(isinstance(c, str) for c in choices) else None,
        rule,
    )
    return {
        "type": "function-wrap",
        "function": {"type": "no-info", "function": spot},
        "schema": schema,
    }


_NESTED = (
    "schema",
    "items_schema",
    "keys_schema",
    "values_schema",
    "lax_schema",
    "strict_schema",
    "json_schema",
    "python_schema",
)


def _copy(schema: dict[str, Any], refs: dict[str, Any]) -> dict[str, Any]:
    """The schema with a `_Spot` at every value position and tolerant validator functions."""
    out = dict(schema)
    for key in _NESTED:
        sub = out.get(key)
        if isinstance(sub, dict):
            out[key] = _copy(sub, refs)
        elif isinstance(sub, list):
            out[key] = [_copy(s, refs) for s in sub]
    for key in ("definitions", "steps"):
        if key in out:
            out[key] = [_copy(s, refs) for s in out[key]]
    choices = out.get("choices")
    if isinstance(choices, dict):
        out["choices"] = {tag: _copy(s, refs) for tag, s in choices.items()}
    elif isinstance(choices, list):
        out["choices"] = [
            _copy(c, refs) if isinstance(c, dict) else (_copy(c[0], refs), *c[1:]) for c in choices
        ]
    kind = out["type"]
    if kind == "model-fields":
        out["fields"] = {
            name: {**field, "schema": _spot(_copy(field["schema"], refs), refs)}
            for name, field in out["fields"].items()
        }
    elif kind in ("list", "set", "frozenset") and "items_schema" in out:
        out["items_schema"] = _spot(out["items_schema"], refs)
    elif kind == "tuple":
        out["items_schema"] = [_spot(s, refs) for s in out["items_schema"]]
    elif kind == "dict":
        for key in ("keys_schema", "values_schema"):
            if key in out:
                out[key] = _spot(out[key], refs)
    elif kind in ("function-after", "function-before", "function-plain"):
        out["function"] = checked(out["function"])
    return out


def _index(schema: Any, refs: dict[str, Any], models: set[type[BaseModel]]) -> None:
    """Collect the schemas that carry a `ref`, and the model classes, of a schema."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            if isinstance(item.get("ref"), str):
                refs[item["ref"]] = item
            if item.get("type") == "model":
                models.add(item["cls"])
            node = isinstance(item.get("type"), str)  # a schema, not a mapping of fields
            skip = ("serialization", "metadata") if node else ()
            stack.extend(v for k, v in item.items() if k not in skip)


_LOCK = threading.Lock()
_VALIDATORS: dict[type[BaseModel], SchemaValidator] = {}


def _validator(cls: type[BaseModel]) -> SchemaValidator:
    found = _VALIDATORS.get(cls)
    if found is not None:
        return found
    original = cast(dict[str, Any], cls.__pydantic_core_schema__)
    refs: dict[str, Any] = {}
    models: set[type[BaseModel]] = set()
    _index(original, refs, models)
    schema = _copy(original, refs)
    with _LOCK:
        # pydantic-core reuses a complete model class's own validator for a nested model, which
        # knows nothing of placeholders: while the copy compiles, its classes read as incomplete.
        saved = {m: m.__dict__.get("__pydantic_complete__", False) for m in models}
        try:
            for model in models:
                setattr(model, "__pydantic_complete__", False)  # noqa: B010
            found = _VALIDATORS[cls] = SchemaValidator(cast(Any, schema))
        finally:
            for model, flag in saved.items():
                setattr(model, "__pydantic_complete__", flag)  # noqa: B010
    return found


def load(cls: type[BaseModel], doc: Mapping[str, Any]) -> BaseModel:
    """Validate a manifest of `cls` (by its manifest names) with placeholders allowed; raises
    pydantic's ValidationError."""
    return cast(BaseModel, _validator(cls).validate_python(dict(doc), by_alias=True, by_name=False))
