"""References between objects: built from a name or from the object itself, which is then
remembered so that registration can order the two."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any, ClassVar

import pydantic
from pydantic import BaseModel, PrivateAttr

from gitops_sdk.core.base import FluxModel, Invalid, a_or_an, either, issues_from
from gitops_sdk.core.inputs import InputStr

__all__ = [
    "LocalObjectReference",
    "NamespacedObjectKindReference",
    "NamespacedObjectReference",
    "ObjectRef",
    "SecretKeyReference",
    "SecretRef",
    "flux_identity",
    "iter_refs",
    "refs_with_paths",
]


def flux_identity(target: Any) -> tuple[str, str, str | None] | None:
    """(kind, name, namespace) of a Flux object, a resource wrapping one, or None."""
    ref = getattr(target, "__flux_ref__", None)
    return ref() if callable(ref) else None


class ObjectRef(FluxModel):
    """Base of references; built from a name or from the object itself (then remembered)."""

    expected_kinds: ClassVar[tuple[str, ...]] = ()
    _target: Any = PrivateAttr(default=None)

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _from_object(cls, data: Any, handler: Any) -> Any:
        if isinstance(data, cls):
            # A reference instance may be given to several objects, and `_local_refs` may
            # drop its namespace for one of them: each object gets its own copy.
            return data.model_copy()
        ident = flux_identity(data)
        if ident is None:
            return handler(data)
        kind, name, namespace = ident
        fields = cls.model_fields
        if cls.expected_kinds and kind not in cls.expected_kinds:
            blame = "kind" if "kind" in fields else "name"
            raise Invalid(
                blame,
                kind if blame == "kind" else name,
                (f"{name!r} is" if blame == "kind" else "is")
                + f" {a_or_an(kind)}; expected {a_or_an(either(cls.expected_kinds))}",
            )
        as_dict: dict[str, Any] = {"name": name}
        if "kind" in fields:
            as_dict["kind"] = kind
        if "namespace" in fields and namespace:
            as_dict["namespace"] = namespace
        try:
            ref = handler(as_dict)
        except pydantic.ValidationError as err:
            issue = issues_from(err, cls)[0]
            raise Invalid(
                issue.path, issue.value, f"{name!r} is {a_or_an(kind)}; {issue.problem}"
            ) from None
        ref._target = data
        return ref

    @property
    def target(self) -> Any:
        """The object this reference was built from, or None when built from a name."""
        # Read the private dict directly: pydantic's attribute fallback costs 30x more, and
        # registration reads every reference's target.
        private = self.__pydantic_private__
        return private.get("_target") if private else None


class LocalObjectReference(ObjectRef):
    """A reference to an object in the referrer's namespace."""

    name: str


class SecretRef(LocalObjectReference):
    """A reference to a Secret in the referrer's namespace; the name may be a `pulumi.Output`
    (e.g. the name of a Secret another resource makes)."""

    expected_kinds = ("Secret",)
    name: InputStr


class SecretKeyReference(ObjectRef):
    """A reference to a key of a Secret in the referrer's namespace."""

    expected_kinds = ("Secret",)
    name: str
    key: str | None = None


class NamespacedObjectReference(ObjectRef):
    """A reference to an object, optionally in another namespace."""

    name: str
    namespace: str | None = None


class NamespacedObjectKindReference(ObjectRef):
    """A reference to an object of a given kind, optionally in another namespace."""

    api_version: str | None = None
    kind: str
    name: str
    namespace: str | None = None


def refs_with_paths(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, ObjectRef]]:
    """Every reference inside `model` with its manifest path (`spec.sourceRef`, ...)."""
    for field, info in type(model).model_fields.items():
        value = getattr(model, field)
        path = f"{prefix}.{info.alias or field}" if prefix else (info.alias or field)
        yield from _walk_paths(value, path)


def _walk_paths(value: Any, path: str) -> Iterator[tuple[str, ObjectRef]]:
    if isinstance(value, ObjectRef):
        yield path, value
    if isinstance(value, BaseModel):
        yield from refs_with_paths(value, path)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk_paths(item, f"{path}[{i}]")


_REF_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _ref_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `cls` whose type can hold a reference, directly or in a nested model; the
    rest are never walked. Registering 1,000 objects walks each twice: this keeps it cheap."""
    found = _REF_FIELDS.get(cls)
    if found is None:
        found = tuple(
            name for name, info in cls.model_fields.items() if _holds_ref(info.annotation, set())
        )
        _REF_FIELDS[cls] = found
    return found


def _holds_ref(tp: Any, seen: set[type[BaseModel]]) -> bool:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if issubclass(tp, ObjectRef):
            return True
        if tp in seen:  # met again further down: the first visit answers for it
            return False
        seen.add(tp)
        return any(_holds_ref(info.annotation, seen) for info in tp.model_fields.values())
    return any(_holds_ref(arg, seen) for arg in typing.get_args(tp))


def iter_refs(model: BaseModel) -> Iterator[ObjectRef]:
    """Every reference inside `model`, depth first."""
    found: list[ObjectRef] = []
    _collect(model, found)
    return iter(found)


def _collect(model: BaseModel, found: list[ObjectRef]) -> None:
    fields_set = model.model_fields_set
    for field in _ref_fields(type(model)):
        if field in fields_set:  # an unset field holds its default, never a reference
            _walk(getattr(model, field), found)


def _walk(value: Any, found: list[ObjectRef]) -> None:
    if isinstance(value, BaseModel):
        if isinstance(value, ObjectRef):
            found.append(value)
        _collect(value, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _walk(item, found)
