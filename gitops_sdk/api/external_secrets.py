"""External Secrets Operator (ESO) `ExternalSecret`: which keys to read from a store and the
Secret ESO writes from them. Stores and the shared ESO types are in `eso_stores`."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

import pydantic

from gitops_sdk.api.eso_stores import (
    ClusterSecretStore,
    EsoDuration,
    EsoModel,
    EsoObject,
    SecretStoreRef,
    Store,
    exactly_one,
)
from gitops_sdk.core.base import Invalid
from gitops_sdk.core.errors import MISSING
from gitops_sdk.core.fields import Annotations, GoRegex, Name, SecretKey
from gitops_sdk.core.model import FILLED
from gitops_sdk.core.refs import refs_with_paths

__all__ = [
    "ExternalSecret",
    "ExternalSecretData",
    "ExternalSecretDataFrom",
    "ExternalSecretSpec",
    "ExternalSecretTarget",
    "ExternalSecretTemplate",
    "RemoteRef",
]


class RemoteRef(EsoModel):
    """Where a value is in the backend."""

    key: Annotated[str, pydantic.Field(min_length=1)]
    """Key (path) of the remote secret, e.g. `api-credentials`."""
    property: str | None = None
    """Property of a map-valued secret, e.g. `username`; default: the whole value."""
    version: str | None = None
    metadata_policy: Literal["None", "Fetch"] | None = None
    conversion_strategy: Literal["Default", "Unicode"] | None = None
    decoding_strategy: Literal["Auto", "Base64", "Base64URL", "None"] | None = None


class StoreSourceRef(EsoModel):
    """Read one `data` entry from another store."""

    store_ref: SecretStoreRef


class GeneratorRef(EsoModel):
    """A generator (Password, VaultDynamicSecret, ...) that produces the values."""

    api_version: str | None = None
    kind: str
    name: Name


class StoreGeneratorSourceRef(EsoModel):
    """Read a `dataFrom` entry from another store, or generate it."""

    store_ref: SecretStoreRef | None = None
    generator_ref: GeneratorRef | None = None

    @pydantic.model_validator(mode="after")
    def _one(self) -> Self:
        exactly_one(self, ("store_ref", "generator_ref"), "source")
        return self


class ExternalSecretData(EsoModel):
    """One key of the target Secret and where its value comes from."""

    secret_key: SecretKey
    """Key in the target Secret."""
    remote_ref: RemoteRef
    source_ref: StoreSourceRef | None = None
    """Another store for this entry; default: `spec.secretStoreRef`."""

    @classmethod
    def property_of(cls, secret_key: str, key: str, property: str | None = None) -> Self:
        """`secret_key` <- property `property` (default: `secret_key`) of remote secret `key`."""
        return cls(
            secret_key=secret_key, remote_ref={"key": key, "property": property or secret_key}
        )


class FindName(EsoModel):
    regexp: str


class ExternalSecretFind(EsoModel):
    """Find many remote secrets by name or tags."""

    path: str | None = None
    name: FindName | None = None
    tags: dict[str, str] | None = None
    conversion_strategy: Literal["Default", "Unicode"] | None = None
    decoding_strategy: Literal["Auto", "Base64", "Base64URL", "None"] | None = None


class RewriteRegexp(EsoModel):
    source: GoRegex
    target: str


class RewriteTransform(EsoModel):
    template: str


class RewriteMerge(EsoModel):
    into: str | None = None
    priority: list[str] | None = None
    conflict_policy: Literal["Ignore", "Error"] | None = None
    strategy: Literal["Extract", "JSON"] | None = None


class ExternalSecretRewrite(EsoModel):
    """Rename keys found by `dataFrom`: exactly one of regexp, transform, merge."""

    regexp: RewriteRegexp | None = None
    transform: RewriteTransform | None = None
    merge: RewriteMerge | None = None

    @pydantic.model_validator(mode="after")
    def _one(self) -> Self:
        exactly_one(self, ("regexp", "transform", "merge"), "rewrite")
        return self


class ExternalSecretDataFrom(EsoModel):
    """Many keys at once: every property of one remote secret, or every secret found."""

    extract: RemoteRef | None = None
    find: ExternalSecretFind | None = None
    rewrite: list[ExternalSecretRewrite] | None = None
    source_ref: StoreGeneratorSourceRef | None = None

    @pydantic.model_validator(mode="after")
    def _one(self) -> Self:
        generated = self.source_ref is not None and self.source_ref.generator_ref is not None
        if generated:
            if self.extract is not None or self.find is not None:
                raise ValueError("a generator sourceRef takes neither extract nor find")
        else:
            exactly_one(self, ("extract", "find"), "source of keys")
        return self


class TemplateMetadata(EsoModel):
    annotations: Annotations | None = None
    # Label keys and the total size are checked; values may be templates ESO renders.
    labels: Annotations | None = None


class TemplateRefItem(EsoModel):
    key: SecretKey
    template_as: Literal["Values", "KeysAndValues"] | None = None


class TemplateRef(EsoModel):
    name: Name
    items: list[TemplateRefItem]


class TemplateFrom(EsoModel):
    config_map: TemplateRef | None = None
    secret: TemplateRef | None = None
    target: Literal["Data", "Annotations", "Labels"] | None = None
    literal: str | None = None


class ExternalSecretTemplate(EsoModel):
    """A blueprint for the target Secret (Go templates over the fetched values)."""

    type: str | None = None
    engine_version: Literal["v2"] | None = None
    metadata: TemplateMetadata | None = None
    merge_policy: Literal["Replace", "Merge"] | None = None
    data: dict[str, str] | None = None
    template_from: list[TemplateFrom] | None = None


class ExternalSecretTarget(EsoModel):
    """The Secret ESO writes."""

    name: Name | None = None
    """Name of the Secret; default: the ExternalSecret's name."""
    creation_policy: Literal["Owner", "Orphan", "Merge", "None"] | None = None
    """Default `Owner`: ESO creates the Secret and deletes it with the ExternalSecret."""
    deletion_policy: Literal["Delete", "Merge", "Retain"] | None = None
    """Default `Retain`: keep the Secret when the remote secret disappears."""
    template: ExternalSecretTemplate | None = None
    immutable: bool | None = None


class ExternalSecretSpec(EsoModel):
    """Spec of an ExternalSecret."""

    secret_store_ref: SecretStoreRef | None = None
    """The store to read from (every entry may override it with its own sourceRef)."""
    target: ExternalSecretTarget | None = None
    refresh_policy: Literal["CreatedOnce", "Periodic", "OnChange"] | None = None
    """Default `Periodic` (every refreshInterval)."""
    refresh_interval: EsoDuration | None = None
    """How often to read the backend again; default `1h`; `0` reads once."""
    data: list[ExternalSecretData] | None = None
    data_from: list[ExternalSecretDataFrom] | None = None

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.data and not self.data_from and not (self.target and self.target.template):
            raise Invalid("data", MISSING, "set data or dataFrom (or a target.template)")
        seen: set[str] = set()
        for i, entry in enumerate(self.data or []):
            if entry.secret_key in seen:
                raise Invalid(f"data[{i}].secretKey", entry.secret_key, "is repeated")
            seen.add(entry.secret_key)
            if self.secret_store_ref is None and entry.source_ref is None:
                raise Invalid(
                    f"data[{i}].sourceRef",
                    MISSING,
                    "is needed when spec.secretStoreRef is not set",
                )
        for i, source in enumerate(self.data_from or []):
            if self.secret_store_ref is None and source.source_ref is None:
                raise Invalid(
                    f"dataFrom[{i}].sourceRef",
                    MISSING,
                    "is needed when spec.secretStoreRef is not set",
                )
        target = self.target
        if target and target.deletion_policy == "Delete" and target.creation_policy == "Merge":
            raise Invalid(
                "target.deletionPolicy",
                "Delete",
                "cannot be used with creationPolicy Merge (ESO does not own the Secret)",
            )
        if target and target.deletion_policy == "Merge" and target.creation_policy == "None":
            raise Invalid(
                "target.deletionPolicy",
                "Merge",
                "cannot be used with creationPolicy None (there is no Secret to merge into)",
            )
        return self


def _store_model(target: Any) -> Any:
    """The store model behind a reference's target (model, FluxResource or SecretBackend)."""
    for candidate in (target, getattr(target, "flux_object", None)):
        if isinstance(candidate, Store):
            return candidate
    store = getattr(target, "store", None)
    return getattr(store, "flux_object", None)


class ExternalSecret(EsoObject):
    """A Secret that ESO keeps in sync with a backend (Vault, ...)."""

    kind: ClassVar[str] = "ExternalSecret"
    spec: ExternalSecretSpec = FILLED

    @pydantic.model_validator(mode="after")
    def _stores(self) -> Self:
        own = self.metadata.namespace
        for path, ref in refs_with_paths(self):
            if not isinstance(ref, SecretStoreRef) or ref.target is None:
                continue
            store = _store_model(ref.target)
            if isinstance(store, ClusterSecretStore) and own and store.allows(own) is False:
                raise Invalid(
                    path,
                    store.name,
                    f"ClusterSecretStore {store.name!r} does not allow namespace {own!r} "
                    "(spec.conditions)",
                )
        return self

    @property
    def secret_name(self) -> str:
        """Name of the Secret ESO writes: `spec.target.name`, else the ExternalSecret's name."""
        target = self.spec.target
        return target.name if target and target.name else self.metadata.name
