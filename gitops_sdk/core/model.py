"""Whole objects: metadata, the flat and parts forms, the registry of kinds and `from_manifest`.

Models are pure data: they validate on construction, render with `to_manifest()` and load with
`from_manifest()`. Registration with Pulumi lives in `gitops_sdk.components.resource`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self, cast

import pydantic
from pydantic import BaseModel

from gitops_sdk.core.base import (
    BUILT_IN_CODE,
    FluxModel,
    Invalid,
    a_or_an,
    issues_from,
    share_fields_set,
)
from gitops_sdk.core.errors import (
    MISSING,
    FieldIssue,
    SpecError,
    UnknownKindError,
    UnsupportedApiVersionError,
)
from gitops_sdk.core.fields import Annotations, Labels, Name, Namespace
from gitops_sdk.core.placeholder_load import load
from gitops_sdk.core.placeholders import (
    Placeholder,
    ValidationNote,
    find_placeholders,
)
from gitops_sdk.core.placeholders import validation_notes as notes_of
from gitops_sdk.core.refs import flux_identity, iter_refs, refs_with_paths
from gitops_sdk.core.substitution import (
    SUBSTITUTE_KEY,
    holds_placeholder,
    substitution_disabled,
)

__all__ = [
    "FILLED",
    "FluxObject",
    "LabelSelector",
    "LabelSelectorRequirement",
    "ObjectMeta",
    "flux_kinds",
    "from_manifest",
    "manifest_kind",
    "manifest_name",
]


class ObjectMeta(FluxModel):
    """The metadata the SDK renders: name, namespace, labels and annotations."""

    name: Name
    namespace: Namespace | None = None
    labels: Labels | None = None
    annotations: Annotations | None = None


class LabelSelectorRequirement(FluxModel):
    """One label requirement: key, operator and values."""

    key: str
    """Label key."""
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    """How the key relates to the values."""
    values: list[str] | None = None
    """Values; required for In/NotIn, forbidden for Exists/DoesNotExist."""

    @pydantic.model_validator(mode="after")
    def _values_match_operator(self) -> Self:
        if self.operator in ("In", "NotIn") and not self.values:
            raise Invalid(
                "values",
                self.values if self.values is not None else MISSING,
                f"must be non-empty when operator is {self.operator!r}",
            )
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise Invalid(
                "values", self.values, f"must be empty when operator is {self.operator!r}"
            )
        return self


class LabelSelector(FluxModel):
    """A Kubernetes label selector; its requirements are ANDed."""

    match_labels: Labels | None = None
    """Labels that must all be present with these values."""
    match_expressions: list[LabelSelectorRequirement] | None = None
    """Requirements that must all hold."""


_META_KEYS = ("name", "namespace", "labels", "annotations")

FILLED: Any = pydantic.Field(default=None, validate_default=True)
"""Default of `metadata` and required `spec` fields: the flat form always fills them, and the
default only tells type checkers that `Kind(name=..., url=...)` is a valid call."""
_REGISTRY: dict[tuple[str, str], type[FluxObject]] = {}

_DISABLED = f"a Flux substitution placeholder, kept as written by {SUBSTITUTE_KEY}: disabled"
_NOT_SUBSTITUTED = "a Flux substitution placeholder, read as written with substitutions=False"


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
            # Named only by a string: anything else is the bad field the issues show.
            shown = name if isinstance(name, str) else None
            issues = issues_from(err, type(self), placeholders=BUILT_IN_CODE)
            raise SpecError(self.kind, shown, issues) from None

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

    @property
    def placeholders(self) -> list[Placeholder]:
        """Every value of the manifest holding a Flux substitution placeholder (`${var}`), as
        (manifest path, text) pairs; none when the object turns substitution off."""
        return find_placeholders(self.to_manifest())[0]

    def validation_notes(self) -> list[ValidationNote]:
        """What validation could not check because of placeholders (one note per skipped
        check, at the path of the value it blames; a default that was checked is said so),
        and each `${` that Flux cannot parse; in document order."""
        return notes_of(type(self), self.to_manifest())

    @classmethod
    def from_manifest(cls, doc: Mapping[str, Any], *, substitutions: bool = True) -> Self:
        """Load a manifest of this kind; see `gitops_sdk.from_manifest` for `substitutions`."""
        obj = cls._load_any(doc, substitutions=substitutions)
        if not isinstance(obj, cls):
            raise UnknownKindError(
                f"{obj.kind} {obj.name!r}: the manifest is {a_or_an(obj.kind)}, "
                f"not {a_or_an(cls.kind)}"
            )
        return obj

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], *, substitutions: bool = True) -> Self:
        """Validate a manifest of this exact kind: fields by their manifest (camelCase) names
        only, as the API server reads them; `from_manifest` checks the kind and version first."""
        disabled = substitution_disabled(doc)
        tolerant = substitutions and not disabled and holds_placeholder(dict(doc))
        try:
            if tolerant:
                return cast(Self, load(cls, doc))
            return cls.model_validate(dict(doc), by_alias=True, by_name=False)
        except pydantic.ValidationError as err:
            reason = _DISABLED if disabled else "" if substitutions else _NOT_SUBSTITUTED
            issues = issues_from(err, cls, placeholders=reason)
            raise SpecError(cls.kind, manifest_name(doc), issues) from None

    @classmethod
    def _load_any(cls, doc: Mapping[str, Any], *, substitutions: bool = True) -> FluxObject:
        # The loader of this family of kinds; subclasses with their own registry override it.
        return from_manifest(doc, substitutions=substitutions)


def flux_kinds() -> dict[tuple[str, str], type[FluxObject]]:
    """Every modelled kind, keyed by (API group, kind)."""
    return dict(_REGISTRY)


def manifest_name(doc: Mapping[str, Any]) -> str | None:
    """metadata.name of a manifest that may not be valid, or None (also when it is not a
    string, which the field's own error shows): for naming it in errors."""
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return name if isinstance(name, str) else None


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
            else f"has apiVersion {_brief(api_version)} and kind {_brief(kind)}, which must be "
            "strings"
        )
        name = manifest_name(doc)
        raise UnknownKindError(
            f"manifest{f' {name!r}' if name else ''} {problem} (expected e.g. apiVersion "
            "'source.toolkit.fluxcd.io/v1' and kind 'GitRepository')"
        )
    return api_version, kind


def _brief(value: Any) -> str:
    # A string as written (shortened), anything else by its type: a hostile manifest may hold a
    # structure too deep for repr().
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 64 else "a very large int"
    return f"a {type(value).__name__}"


def from_manifest(doc: Mapping[str, Any], *, substitutions: bool = True) -> FluxObject:
    """Load any Flux manifest into its typed model; `from_manifest(d).to_manifest() == d`.

    With `substitutions` (the default), values may hold Flux's post-build substitution
    placeholders (`${var}`, `${var:=default}`, ...) anywhere, as templates in Git do: a value
    holding one is checked where it can be and its other checks are skipped, listed by
    `obj.validation_notes()`. An object annotated or labelled
    `kustomize.toolkit.fluxcd.io/substitute: disabled`, or `substitutions=False`, is read as
    written, like an object built in code."""
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
    return cls.from_document(doc, substitutions=substitutions)
