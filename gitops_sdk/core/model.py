"""The base of every typed Flux model: config, shared field types, references, objects.

Models are pure data: they validate on construction, render with `to_manifest()` and load with
`from_manifest()`. Registration with Pulumi lives in `resources.py`.
"""

from __future__ import annotations

import datetime
import functools
import re
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar, Protocol, Self

import pydantic
import re2  # type: ignore[import-untyped]
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PrivateAttr
from pydantic.alias_generators import to_camel

from gitops_sdk.core.errors import (
    MISSING,
    FieldIssue,
    SpecError,
    UnknownKindError,
    UnsupportedApiVersionError,
)

# --- field types -------------------------------------------------------------------------------

_DURATION_H = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$")


def go_duration(value: datetime.timedelta) -> str:
    """Render a timedelta the way Go's time.Duration prints it (`1h30m0s`, `90s` -> `1m30s`)."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms <= 0:
        raise ValueError(f"duration must be positive, got {value}")
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, ms = divmod(rest, 1000)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    if ms:
        return out + (f"{seconds}.{ms:03d}".rstrip("0") + "s" if seconds or out else f"{ms}ms")
    return out + f"{seconds}s"


def _from_timedelta(value: Any) -> Any:
    return go_duration(value) if isinstance(value, datetime.timedelta) else value


def _check_duration(value: str) -> str:
    if not _DURATION_H.match(value):
        raise ValueError("is not a duration (expected e.g. '30s', '5m', '1h30m')")
    return value


def _check_short_duration(value: str) -> str:
    if not _DURATION.match(value):
        hint = " (this field takes no hours: use e.g. '90m')" if _DURATION_H.match(value) else ""
        raise ValueError(f"is not a duration in ms, s or m (expected e.g. '30s', '5m'){hint}")
    return value


Duration = Annotated[str, BeforeValidator(_from_timedelta), AfterValidator(_check_duration)]
"""A Go duration such as `1m`, `1h30m` or `500ms` (units ms, s, m, h)."""

ShortDuration = Annotated[
    str, BeforeValidator(_from_timedelta), AfterValidator(_check_short_duration)
]
"""A Go duration without hours (`60s`, `5m`), as Flux's source `timeout` fields require."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_dns_subdomain(value: str, max_length: int = 253) -> bool:
    """Whether `value` is a DNS-1123 subdomain of at most `max_length` characters."""
    return len(value) <= max_length and bool(_DNS_SUBDOMAIN.match(value))


def check_dns_subdomain(value: str) -> str:
    """`value` if it is a DNS-1123 subdomain (an object name); else a ValueError saying why."""
    if not is_dns_subdomain(value):
        raise ValueError(
            "is not a DNS-1123 subdomain (expected lowercase letters, digits, '-' and '.', "
            "starting and ending alphanumeric, at most 253 characters)"
        )
    return value


def check_dns_label(value: str) -> str:
    """`value` if it is a DNS-1123 label (a namespace name); else a ValueError saying why."""
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            "is not a DNS-1123 label (expected lowercase letters, digits and '-', "
            "starting and ending alphanumeric, at most 63 characters)"
        )
    return value


Name = Annotated[str, AfterValidator(check_dns_subdomain)]
"""An object name: a DNS-1123 subdomain."""

Namespace = Annotated[str, AfterValidator(check_dns_label)]
"""A namespace name: a DNS-1123 label."""


def _check_go_regex(value: str) -> str:
    re_compile_go(value)
    return value


_LOOKAROUND = re.compile(r"\(\?(=|!|<=|<!)")
_BACKREF = re.compile(r"(?<!\\)\\[1-9]")


class GoPattern(Protocol):
    """What the SDK uses of a compiled Go regexp."""

    @property
    def groups(self) -> int: ...
    @property
    def groupindex(self) -> Mapping[str, int]: ...
    def search(self, text: str) -> Any: ...
    def fullmatch(self, text: str) -> Any: ...


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is ours to report, not RE2's log on stderr


@functools.lru_cache(maxsize=1024)
def re_compile_go(pattern: str) -> GoPattern:
    """Compile a Go regexp with RE2, the engine whose syntax Go's regexp package implements:
    what Flux would reject fails here, and what it accepts (`\\pL`, `\\z`, `(?i)` mid-way)
    passes."""
    # Clearer words than RE2's "invalid perl operator" for the two Perl habits it lacks.
    if _LOOKAROUND.search(pattern):
        raise ValueError("is not a Go regexp: lookaround assertions are not supported by RE2")
    if _BACKREF.search(pattern):
        raise ValueError("is not a Go regexp: backreferences are not supported by RE2")
    try:
        compiled: GoPattern = re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as err:
        detail = err.args[0] if err.args else ""
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise ValueError(f"is not a valid Go regexp: {text}") from None
    return compiled


GoRegex = Annotated[str, AfterValidator(_check_go_regex)]
"""A regular expression in Go's RE2 syntax, checked to compile."""

_SEMVER_VERSION = (
    r"v?(?:[0-9]+|[xX*])(?:\.(?:[0-9]+|[xX*]))?(?:\.(?:[0-9]+|[xX*]))?"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_SEMVER_TERM = re.compile(rf"\s*(?:!=|>=|=>|<=|=<|~>|[=><~^])?\s*{_SEMVER_VERSION}\s*")
_SEMVER_HYPHEN = re.compile(rf"\s*{_SEMVER_VERSION}\s+-\s+{_SEMVER_VERSION}\s*")


def check_semver_range(value: str) -> str:
    """Check a Masterminds/semver v3 constraint (`^1.21.x`, `>=1.0 <2.0`, `1.2 - 1.4 || 2.x`)."""
    if not value.strip():
        raise ValueError("is not a semver range (expected e.g. '^1.2.x', '>=1.0.0 <2.0.0')")
    for group in value.split("||"):
        if _SEMVER_HYPHEN.fullmatch(group):
            continue
        rest = group
        terms = 0
        while rest.strip():
            m = _SEMVER_TERM.match(rest)
            if not m or m.end() == 0:
                raise ValueError(
                    f"is not a semver range: cannot parse {rest.strip()!r} "
                    "(expected e.g. '^1.2.x', '~1.2', '>=1.0.0 <2.0.0', '1.2 - 1.4')"
                )
            rest = rest[m.end() :]
            terms += 1
            if rest.startswith(","):
                rest = rest[1:]
                if not rest.strip():
                    raise ValueError("is not a semver range: trailing ','")
        if terms == 0:
            raise ValueError("is not a semver range: empty alternative around '||'")
    return value


SemverRange = Annotated[str, AfterValidator(check_semver_range)]
"""A semver constraint in the Masterminds syntax Flux uses."""


class Invalid(ValueError):
    """Raised by a model-level check to blame one field (camelCase path below the model)."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.value = value


# --- base model ----------------------------------------------------------------------------------


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
        **_STRICT,  # type: ignore[typeddict-item]
    )

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as err:
            raise SpecError(type(self).__name__, None, issues_from(err, type(self))) from None

    # Tell pydantic this __init__ only wraps errors, so nested validation need not call it.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def model_post_init(self, context: Any, /) -> None:
        if self.model_config.get("frozen"):  # a mutable subclass keeps a set of its own
            share_fields_set(self, self.__pydantic_fields_set__)

    def to_dict(self) -> dict[str, Any]:
        """The camelCase manifest fragment, with only the fields that were set. An explicit
        None means "not set" (free-form values such as HelmRelease `values` keep their nulls)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)


_PYDANTIC_PROBLEMS = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
}


def issues_from(err: pydantic.ValidationError, root: type[BaseModel]) -> list[FieldIssue]:
    """Turn pydantic's errors on a `root` model into field issues with manifest paths."""
    out = []
    for e in err.errors():
        kind = e["type"]
        if kind == "extra_forbidden":
            # An unknown key is named as written, not mapped to a field's manifest name.
            parent, holder = _follow(e["loc"][:-1], root)
            key = str(e["loc"][-1])
            path = f"{parent}.{key}" if parent else key
        else:
            path = _path(e["loc"], root)
        value = MISSING if kind == "missing" else e.get("input", MISSING)
        if kind in ("value_error", "assertion_error"):
            cause = e["ctx"]["error"]
            problem = str(cause)
            if isinstance(cause, Invalid):
                if cause.field:  # empty: the field being validated itself
                    path = f"{path}.{cause.field}" if path else cause.field
                value = cause.value
        elif kind in _PYDANTIC_PROBLEMS:
            problem = _PYDANTIC_PROBLEMS[kind]
        elif kind == "literal_error":
            problem = "expected " + e["ctx"]["expected"]
        elif kind == "model_type" and (model := _model_in(_follow(e["loc"], root)[1])):
            problem = (
                f"expected {_a(_either(model.expected_kinds))} object (the object itself, or a "
                "mapping with its name)"
                if issubclass(model, ObjectRef) and model.expected_kinds
                else f"expected a mapping of {model.__name__} fields"
            )
        else:
            problem = e["msg"][0].lower() + e["msg"][1:]
        if _is_output(value):
            problem += (
                " (a pulumi Output has no value yet: build the object inside Output.apply, or "
                "pass a plain value)"
            )
        if kind == "extra_forbidden":
            key = str(e["loc"][-1])
            if hint := _REMOVED_FIELD_HINTS.get(key):
                problem += f" ({hint})"
            elif (model := _model_in(holder)) and any(
                info.alias == _alias(key) != key for info in model.model_fields.values()
            ):
                problem += f" (manifests use the camelCase name {_alias(key)!r})"
        out.append(FieldIssue(path or "(object)", value, problem))
    return out


def _is_output(value: Any) -> bool:
    cls = type(value)
    return cls.__name__ == "Output" and cls.__module__.startswith("pulumi")


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


def _members(tp: Any) -> list[Any]:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
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


# --- references ------------------------------------------------------------------------------


def _a(word: str) -> str:
    return ("an " if word[:1] in "AEIOU" else "a ") + word


def _either(kinds: tuple[str, ...]) -> str:
    return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + f" or {kinds[-1]}"


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
                + f" {_a(kind)}; expected {_a(_either(cls.expected_kinds))}",
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
                issue.path, issue.value, f"{name!r} is {_a(kind)}; {issue.problem}"
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
    """A reference to a Secret in the referrer's namespace."""

    expected_kinds = ("Secret",)


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


# --- metadata and objects ------------------------------------------------------------------------

_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _check_label_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if prefix and not is_dns_subdomain(prefix):
        raise ValueError(f"key {key!r} has a prefix that is not a DNS-1123 subdomain")
    if len(name) > 63 or not _LABEL_NAME.match(name):
        raise ValueError(
            f"key {key!r} is not a valid label/annotation name "
            "(expected alphanumerics, '-', '_', '.', at most 63 characters)"
        )


def check_labels(value: dict[str, str]) -> dict[str, str]:
    """`value` if its keys and values are valid Kubernetes labels; else a ValueError saying why."""
    for key, val in value.items():
        _check_label_key(key)
        if val and (len(val) > 63 or not _LABEL_NAME.match(val)):
            raise ValueError(
                f"value {val!r} of label {key!r} is not a valid label value "
                "(expected alphanumerics, '-', '_', '.', at most 63 characters)"
            )
    return value


def _check_annotations(value: dict[str, str]) -> dict[str, str]:
    # Annotation values are free text: only the keys have a syntax.
    for key in value:
        _check_label_key(key)
    return value


Labels = Annotated[dict[str, str], AfterValidator(check_labels)]
"""Kubernetes labels: keys and values checked against the label syntax."""

Annotations = Annotated[dict[str, str], AfterValidator(_check_annotations)]
"""Kubernetes annotations: keys checked against the label-key syntax; values are free text."""


class ObjectMeta(FluxModel):
    """The metadata the SDK renders: name, namespace, labels and annotations."""

    name: Name
    namespace: Namespace | None = None
    labels: Labels | None = None
    annotations: Annotations | None = None


_META_KEYS = ("name", "namespace", "labels", "annotations")

FILLED: Any = pydantic.Field(default=None, validate_default=True)
"""Default of `metadata` and required `spec` fields: the flat form always fills them, and the
default only tells type checkers that `Kind(name=..., url=...)` is a valid call."""
_REGISTRY: dict[tuple[str, str], type[FluxObject]] = {}


class FluxObject(FluxModel):
    """A whole Flux object. Subclasses set `api_version`, `kind` and a typed `spec`.

    Build one either from parts, `GitRepository(metadata=..., spec=...)`, or flat:
    `GitRepository(name="podinfo", namespace="flux-system", url=..., interval="1m")`, where
    every keyword that is not metadata goes into the spec.
    """

    api_version: ClassVar[str]
    kind: ClassVar[str]
    # Versions Flux served once and removed, with the Flux release that removed them.
    removed_versions: ClassVar[Mapping[str, str]] = {}

    metadata: ObjectMeta = FILLED

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _REGISTRY[(cls.api_version.split("/")[0], cls.kind)] = cls

    def __init__(self, /, **data: Any) -> None:
        try:
            BaseModel.__init__(self, **data)
        except pydantic.ValidationError as err:
            meta = data.get("metadata")
            name = data.get("name") or (meta.get("name") if isinstance(meta, dict) else None)
            if isinstance(meta, ObjectMeta):
                name = meta.name
            raise SpecError(self.kind, name, issues_from(err, type(self))) from None

    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @pydantic.model_validator(mode="before")
    @classmethod
    def _flat_form(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if v is not None}
        for key in ("apiVersion", "kind"):
            found = data.pop(key, None)
            expected = cls.api_version if key == "apiVersion" else cls.kind
            if found is not None and found != expected:
                raise Invalid(key, found, f"does not match {expected!r}")
        if "metadata" not in data:
            data["metadata"] = {k: data.pop(k) for k in _META_KEYS if k in data}
        spec_field = cls.model_fields.get("spec")
        if "spec" not in data and spec_field is not None:
            spec = {k: data.pop(k) for k in list(data) if k not in ("metadata", "status")}
            if spec or spec_field.is_required() or spec_field.validate_default:
                data["spec"] = spec
        return data

    @pydantic.model_validator(mode="after")
    def _local_refs(self) -> Self:
        # A reference built from an object in our own namespace needs no namespace: write the
        # short form Flux's own tooling writes. One that cannot carry a namespace must not
        # silently point at a same-named object here.
        own = self.metadata.namespace
        for ref in iter_refs(self):
            if ref.target is None:
                continue
            fields_set = ref.model_fields_set
            if "namespace" in fields_set and getattr(ref, "namespace", None) == own:
                object.__setattr__(ref, "namespace", None)
                share_fields_set(ref, fields_set - {"namespace"})
            elif "namespace" not in type(ref).model_fields:
                ident = flux_identity(ref.target)
                theirs = ident[2] if ident else None
                if theirs and own and theirs != own:
                    path = next(p for p, r in refs_with_paths(self) if r is ref)
                    raise Invalid(
                        path,
                        f"{theirs}/{ident[1] if ident else '?'}",
                        f"is in namespace {theirs!r}, but this reference can only name an "
                        f"object in {own!r}",
                    )
        return self

    @property
    def name(self) -> str:
        """metadata.name."""
        return self.metadata.name

    @property
    def targets(self) -> list[Any]:
        """The objects this one's references were built from (models or resources)."""
        return [t for t in (ref.target for ref in iter_refs(self)) if t is not None]

    @property
    def namespace(self) -> str | None:
        """metadata.namespace, if set."""
        return self.metadata.namespace

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return (self.kind, self.metadata.name, self.metadata.namespace)

    def to_manifest(self) -> dict[str, Any]:
        """The exact manifest: apiVersion, kind, metadata and the fields that were set."""
        body = self.to_dict()
        return {"apiVersion": self.api_version, "kind": self.kind, **body}

    @classmethod
    def from_manifest(cls, doc: Mapping[str, Any]) -> Self:
        """Load a manifest of this kind."""
        obj = cls._load_any(doc)
        if not isinstance(obj, cls):
            raise UnknownKindError(
                f"{obj.kind} {obj.name!r}: the manifest is {_a(obj.kind)}, not {_a(cls.kind)}"
            )
        return obj

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Self:
        """Validate a manifest of this exact kind: fields by their manifest (camelCase) names
        only, as the API server reads them; `from_manifest` checks the kind and version first."""
        try:
            return cls.model_validate(dict(doc), by_alias=True, by_name=False)
        except pydantic.ValidationError as err:
            raise SpecError(cls.kind, manifest_name(doc), issues_from(err, cls)) from None

    @classmethod
    def _load_any(cls, doc: Mapping[str, Any]) -> FluxObject:
        # The loader of this family of kinds; subclasses with their own registry override it.
        return from_manifest(doc)


def flux_kinds() -> dict[tuple[str, str], type[FluxObject]]:
    """Every modelled kind, keyed by (API group, kind)."""
    return dict(_REGISTRY)


def manifest_name(doc: Mapping[str, Any]) -> Any:
    """metadata.name of a manifest that may not be valid, or None: for naming it in errors."""
    meta = doc.get("metadata")
    return meta.get("name") if isinstance(meta, Mapping) else None


def manifest_kind(doc: Mapping[str, Any]) -> tuple[str, str]:
    """(apiVersion, kind) of a manifest; `UnknownKindError` when it is not a mapping with both."""
    if not isinstance(doc, Mapping):
        raise UnknownKindError(f"a manifest must be a mapping, got {type(doc).__name__}")
    api_version = doc.get("apiVersion")
    kind = doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        missing = [k for k, v in (("apiVersion", api_version), ("kind", kind)) if v is None]
        problem = (
            f"has no {' and no '.join(missing)}"
            if missing
            else f"has apiVersion {api_version!r} and kind {kind!r}, which must be strings"
        )
        name = manifest_name(doc)
        raise UnknownKindError(
            f"manifest{f' {name!r}' if name else ''} {problem} (expected e.g. apiVersion "
            "'source.toolkit.fluxcd.io/v1' and kind 'GitRepository')"
        )
    return api_version, kind


def from_manifest(doc: Mapping[str, Any]) -> FluxObject:
    """Load any Flux manifest into its typed model; `from_manifest(d).to_manifest() == d`."""
    api_version, kind = manifest_kind(doc)
    group, _, version = api_version.rpartition("/")
    cls = _REGISTRY.get((group, kind))
    # A Flux kind under a core or another Flux group is a typo; other groups' kinds (kustomize's
    # own Kustomization) are something else entirely.
    typo = group == "" or group.endswith(".fluxcd.io")
    if cls is None and typo and (same := [c for (_, k), c in _REGISTRY.items() if k == kind]):
        name = manifest_name(doc)
        where = f"{kind} {name!r}" if name else kind
        raise UnsupportedApiVersionError(
            f"{where}: apiVersion {api_version} does not serve {kind}; use "
            + " or ".join(c.api_version for c in same)
        )
    if cls is None:
        known = sorted({k for _, k in _REGISTRY})
        raise UnknownKindError(
            f"{kind} ({api_version}) is not a Flux kind the SDK models; known kinds: "
            + ", ".join(known)
        )
    if api_version != cls.api_version:
        name = manifest_name(doc)
        where = f"{kind} {name!r}" if name else kind
        removed = cls.removed_versions.get(version)
        when = f" was removed in {removed}" if removed else " is not served by Flux 2.9"
        raise UnsupportedApiVersionError(
            f"{where}: apiVersion {api_version}{when}; use {cls.api_version} "
            "(`flux migrate` rewrites stored objects)"
        )
    if "status" in doc:
        name = manifest_name(doc)
        raise SpecError(
            kind,
            name,
            [
                FieldIssue(
                    "status", MISSING, "is written by the controller; remove it from the manifest"
                )
            ],
        )
    return cls.from_document(doc)
