"""External Secrets Operator (ESO) stores: typed SecretStore and ClusterSecretStore, the field
types and references all ESO kinds share, and the ESO kind registry.

API version: `external-secrets.io/v1`. ESO served v1 next to v1beta1 from v0.16, stopped
serving v1beta1 in v0.17.0 (May 2025: "v0.17.0 Stops serving v1beta1 apis. You need to update
your manifests from v1beta1 to v1") and kept v1 through its 1.x releases. The seed's planned
manifests say `external-secrets.io/v1beta1`, which no current ESO accepts; the fields modelled
here did not change between the two, so migrating is changing `apiVersion`, and `from_manifest`
on a v1beta1 manifest says so instead of loading it.

Modelled: the Vault provider (all auth methods but IAM and GCP; Kubernetes auth as in the seed),
and ExternalSecret with `data`, `dataFrom`, `target` and templates. References are objects:
`ExternalSecret(secret_store_ref=store, ...)` writes `kind: SecretStore` or
`kind: ClusterSecretStore` from the store itself, and a namespaced SecretStore in another
namespace is rejected (ESO only looks in the ExternalSecret's namespace). Secret selectors take
Secrets by object too: `SecretKeySelector.of(sops_secret, "token")`.

ESO kinds are not Flux kinds: they stay out of `from_manifest`/`flux_kinds()` (and so out of
the Flux graph); load them with `eso_from_manifest` or `SecretStore.from_manifest`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

import pydantic
from pydantic import AfterValidator, BeforeValidator

from gitops_sdk.core.base import FluxModel, Invalid, issues_from
from gitops_sdk.core.errors import (
    MISSING,
    SpecError,
    UnknownKindError,
    UnsupportedApiVersionError,
)
from gitops_sdk.core.fields import (
    GoRegex,
    Name,
    Namespace,
    SecretKey,
    check_duration_range,
    check_secret_key,
    from_timedelta,
    re_compile_go,
    url_check,
)
from gitops_sdk.core.model import FILLED, FluxObject, LabelSelector, manifest_kind, manifest_name
from gitops_sdk.core.refs import ObjectRef

__all__ = [
    "ESO_API_VERSION",
    "ESO_GROUP",
    "CAProvider",
    "ClusterSecretStore",
    "ClusterSecretStoreCondition",
    "EsoDuration",
    "EsoModel",
    "EsoObject",
    "SecretKey",
    "SecretKeySelector",
    "SecretStore",
    "SecretStoreProvider",
    "SecretStoreRef",
    "SecretStoreRetrySettings",
    "SecretStoreSpec",
    "ServiceAccountSelector",
    "Store",
    "VaultAppRole",
    "VaultAuth",
    "VaultCertAuth",
    "VaultClientTLS",
    "VaultJwtAuth",
    "VaultKubernetesAuth",
    "VaultKubernetesServiceAccountTokenAuth",
    "VaultLdapAuth",
    "VaultProvider",
    "VaultUserPassAuth",
    "eso_from_manifest",
    "eso_kinds",
    "exactly_one",
    "secret_selectors",
]


ESO_GROUP = "external-secrets.io"
ESO_API_VERSION = f"{ESO_GROUP}/v1"
"""The ESO API version the SDK renders (served by ESO v0.16 and later, the only one since 0.17)."""

# --- field types ---------------------------------------------------------------------------------

_ESO_DURATION = re.compile(r"^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$")


def _check_eso_duration(value: str) -> str:
    if not _ESO_DURATION.match(value):
        raise ValueError("is not a duration (expected e.g. '1h', '15s', '2h30m', or '0' for once)")
    return check_duration_range(value)


EsoDuration = Annotated[str, BeforeValidator(from_timedelta), AfterValidator(_check_eso_duration)]
"""A Go duration (`1h`, `15s`), or `0` for "fetch once"."""


_check_server = url_check(("http", "https"), "Vault credentials go in spec.provider.vault.auth")


class EsoModel(FluxModel):
    """Base of ESO object parts: snake_case in Python, camelCase in manifests."""


def exactly_one(model: pydantic.BaseModel, fields: tuple[str, ...], what: str) -> None:
    given = [_alias(type(model), f) for f in fields if getattr(model, f) is not None]
    names = ", ".join(_alias(type(model), f) for f in fields)
    if len(given) > 1:
        raise Invalid(
            given[1],
            MISSING,
            f"cannot be set together with {given[0]}: set exactly one {what} ({names})",
        )
    if not given:
        raise ValueError(f"needs exactly one {what}: {names}")


def _alias(model: type[pydantic.BaseModel], field: str) -> str:
    return model.model_fields[field].alias or field


# --- references ----------------------------------------------------------------------------------


class SecretStoreRef(ObjectRef):
    """Which store to read from; build it from the store object (or its resource/component)."""

    expected_kinds = ("SecretStore", "ClusterSecretStore")
    name: Name
    """Name of the store."""
    kind: Literal["SecretStore", "ClusterSecretStore"] | None = None
    """Kind of the store; default `SecretStore`. Set from the object when built from one."""


class SecretKeySelector(ObjectRef):
    """A key of a Secret; build it from the Secret's object with `SecretKeySelector.of`."""

    expected_kinds = ("Secret",)
    name: Name
    """Name of the Secret."""
    namespace: Namespace | None = None
    """Namespace of the Secret; only for a ClusterSecretStore (where it is required)."""
    key: SecretKey | None = None
    """Key in the Secret; some fields default it (e.g. `token`)."""

    @classmethod
    def of(cls, secret: Any, key: str | None = None) -> Self:
        """A selector of `key` in `secret` (a SopsSecret, a FluxResource, anything with
        `__flux_ref__` naming a Secret), remembering the object for dependencies."""
        try:
            ref = cls.model_validate(secret)
        except pydantic.ValidationError as err:
            raise SpecError(cls.__name__, None, issues_from(err, cls)) from None
        if key is None:
            return ref
        return ref.model_copy(update={"key": check_secret_key(key)})


class ServiceAccountSelector(EsoModel):
    """A ServiceAccount whose token the store logs in with."""

    name: Name
    namespace: Namespace | None = None
    """Namespace of the ServiceAccount; only for a ClusterSecretStore."""
    audiences: list[str] | None = None
    """`aud` claims of the requested token; default: the provider's (e.g. `vault`)."""


# --- Vault provider ------------------------------------------------------------------------------


class VaultKubernetesAuth(EsoModel):
    """Log in with a Kubernetes ServiceAccount token (Vault's `kubernetes` auth method)."""

    mount_path: str = "kubernetes"
    """Where the auth method is mounted in Vault; default `kubernetes`."""
    role: str
    """The Vault role bound to the ServiceAccount."""
    service_account_ref: ServiceAccountSelector | None = None
    """ServiceAccount to request a token for; default: the controller's own."""
    secret_ref: SecretKeySelector | None = None
    """Secret holding a ServiceAccount token (key default `token`); default: not used."""


class VaultAppRole(EsoModel):
    """Log in with an AppRole: a role id (inline or from a Secret) and a secret id Secret."""

    path: str = "approle"
    role_id: str | None = None
    role_ref: SecretKeySelector | None = None
    secret_ref: SecretKeySelector

    @pydantic.model_validator(mode="after")
    def _one_role(self) -> Self:
        exactly_one(self, ("role_id", "role_ref"), "role source")
        return self


class VaultUserPassAuth(EsoModel):
    """Log in with a username and a password Secret (`userpass` auth)."""

    path: str = "userpass"
    username: str
    secret_ref: SecretKeySelector | None = None


class VaultLdapAuth(EsoModel):
    """Log in with an LDAP username and a password Secret."""

    path: str = "ldap"
    username: str
    secret_ref: SecretKeySelector | None = None


class VaultKubernetesServiceAccountTokenAuth(EsoModel):
    """A ServiceAccount token requested through the TokenRequest API (for JWT auth)."""

    service_account_ref: ServiceAccountSelector
    audiences: list[str] | None = None
    expiration_seconds: int | None = None


class VaultJwtAuth(EsoModel):
    """Log in with a JWT: from a Secret or a requested ServiceAccount token."""

    path: str = "jwt"
    role: str | None = None
    secret_ref: SecretKeySelector | None = None
    kubernetes_service_account_token: VaultKubernetesServiceAccountTokenAuth | None = None


class VaultCertAuth(EsoModel):
    """Log in with a TLS client certificate and key from Secrets."""

    path: str | None = None
    client_cert: SecretKeySelector | None = None
    secret_ref: SecretKeySelector | None = None


class VaultAuth(EsoModel):
    """How the store logs in to Vault: exactly one method."""

    namespace: str | None = None
    """Vault Enterprise namespace to log in to; default: the provider's namespace."""
    token_secret_ref: SecretKeySelector | None = None
    app_role: VaultAppRole | None = None
    kubernetes: VaultKubernetesAuth | None = None
    ldap: VaultLdapAuth | None = None
    jwt: VaultJwtAuth | None = None
    cert: VaultCertAuth | None = None
    user_pass: VaultUserPassAuth | None = None

    _METHODS: ClassVar[tuple[str, ...]] = (
        "token_secret_ref",
        "app_role",
        "kubernetes",
        "ldap",
        "jwt",
        "cert",
        "user_pass",
    )

    @pydantic.model_validator(mode="after")
    def _one_method(self) -> Self:
        exactly_one(self, self._METHODS, "auth method")
        return self


class VaultClientTLS(EsoModel):
    """Client certificate and key for mutual TLS with the Vault server."""

    cert_secret_ref: SecretKeySelector | None = None
    key_secret_ref: SecretKeySelector | None = None


class CAProvider(EsoModel):
    """Where the CA certificate that signs the server's certificate is."""

    type: Literal["Secret", "ConfigMap"]
    name: Name
    key: SecretKey | None = None
    namespace: Namespace | None = None
    """Only for a ClusterSecretStore."""


class VaultProvider(EsoModel):
    """HashiCorp Vault (or OpenBao) KV secrets engine."""

    server: Annotated[str, AfterValidator(_check_server)]
    """Vault address, e.g. `https://vault.example.com:8200`."""
    path: str | None = None
    """Mount path of the KV engine, e.g. `secret`; default: none (keys carry the mount)."""
    version: Literal["v1", "v2"] | None = None
    """KV engine version; default `v2`."""
    namespace: str | None = None
    """Vault Enterprise namespace; default: none."""
    ca_bundle: str | None = None
    """Base64 PEM CA bundle for the server's certificate; default: system roots."""
    ca_provider: CAProvider | None = None
    """CA bundle from a Secret or ConfigMap; default: none."""
    tls: VaultClientTLS | None = None
    """Client certificate for mutual TLS; default: none."""
    auth: VaultAuth | None = None
    """How to log in."""
    read_your_writes: bool | None = None
    forward_inconsistent: bool | None = None
    headers: dict[str, str] | None = None
    """Extra HTTP headers on every request."""


class SecretStoreProvider(EsoModel):
    """The backend of a store; only Vault is modelled."""

    vault: VaultProvider | None = None

    @pydantic.model_validator(mode="after")
    def _one_provider(self) -> Self:
        exactly_one(self, ("vault",), "provider")
        return self


# --- stores --------------------------------------------------------------------------------------


class ClusterSecretStoreCondition(EsoModel):
    """Namespaces whose ExternalSecrets may use a ClusterSecretStore."""

    namespace_selector: LabelSelector | None = None
    namespaces: list[Namespace] | None = None
    namespace_regexes: list[GoRegex] | None = None


class SecretStoreRetrySettings(EsoModel):
    """HTTP retries against the backend."""

    max_retries: int | None = None
    retry_interval: EsoDuration | None = None


class SecretStoreSpec(EsoModel):
    """Spec of a SecretStore or ClusterSecretStore."""

    controller: str | None = None
    """Which ESO controller serves the store (like an ingress class); default: any."""
    provider: SecretStoreProvider
    """The backend."""
    retry_settings: SecretStoreRetrySettings | None = None
    refresh_interval: Annotated[int, pydantic.Field(ge=0)] | None = None
    """Seconds between store validations; default: the controller's setting."""
    conditions: list[ClusterSecretStoreCondition] | None = None
    """Only for a ClusterSecretStore: the namespaces that may use it; default: all."""


_ESO_REGISTRY: dict[str, type[EsoObject]] = {}
_REMOVED_VERSIONS = {"v1beta1": "ESO v0.17.0", "v1alpha1": "ESO v0.16.0"}


class EsoObject(FluxObject):
    """Base of ESO objects: the flat form, metadata and references of Flux objects, but
    registered in ESO's own table rather than Flux's (so the Flux graph ignores them)."""

    api_version: ClassVar[str] = ESO_API_VERSION
    removed_versions: ClassVar[Mapping[str, str]] = _REMOVED_VERSIONS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Skip FluxObject's registration: ESO kinds are not Flux kinds.
        super(FluxObject, cls).__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _ESO_REGISTRY[cls.kind] = cls

    @classmethod
    def _load_any(cls, doc: Mapping[str, Any], *, substitutions: bool = True) -> FluxObject:
        return eso_from_manifest(doc, substitutions=substitutions)


def eso_kinds() -> dict[str, type[EsoObject]]:
    """Every modelled ESO kind."""
    return dict(_ESO_REGISTRY)


def eso_from_manifest(doc: Mapping[str, Any], *, substitutions: bool = True) -> EsoObject:
    """Load an ESO manifest (placeholders as `from_manifest`); v1beta1 gets a migration hint."""
    api_version, kind = manifest_kind(doc)
    group, _, version = api_version.rpartition("/")
    cls = _ESO_REGISTRY.get(kind) if group == ESO_GROUP else None
    if cls is None:
        raise UnknownKindError(
            f"{kind} ({api_version}) is not an ESO kind the SDK models; known kinds: "
            + ", ".join(sorted(_ESO_REGISTRY))
        )
    if version != "v1":
        name = manifest_name(doc)
        where = f"{kind} {name!r}" if name else kind
        removed = _REMOVED_VERSIONS.get(version)
        when = f" is not served since {removed}" if removed else " is not served by ESO"
        raise UnsupportedApiVersionError(
            f"{where}: apiVersion {api_version}{when}; use {ESO_API_VERSION} (the fields are "
            "unchanged: only apiVersion changes)"
        )
    return cls.from_document(doc, substitutions=substitutions)


class Store(EsoObject):
    """What SecretStore and ClusterSecretStore share."""

    spec: SecretStoreSpec = FILLED

    @classmethod
    def vault(
        cls,
        name: str,
        *,
        server: str,
        role: str,
        namespace: str | None = None,
        path: str | None = "secret",
        version: Literal["v1", "v2"] = "v2",
        mount_path: str = "kubernetes",
        service_account: str | None = None,
        **extra: Any,
    ) -> Self:
        """A store reading Vault's KV engine at `path`, logging in with Kubernetes auth as
        `role` (the seed's `vault-backend`). `service_account` names the ServiceAccount to log in
        as (default: ESO's own); `extra` goes to the metadata/spec (labels, conditions, ...)."""
        kubernetes: dict[str, Any] = {"mount_path": mount_path, "role": role}
        if service_account:
            kubernetes["service_account_ref"] = {"name": service_account}
        vault = {
            "server": server,
            "path": path,
            "version": version,
            "auth": {"kubernetes": kubernetes},
        }
        make: Any = cls  # flat form: metadata and spec keywords together
        store: Self = make(name=name, namespace=namespace, provider={"vault": vault}, **extra)
        return store

    @pydantic.model_validator(mode="after")
    def _check_selectors(self) -> Self:
        cluster = self.kind == "ClusterSecretStore"
        own = self.metadata.namespace
        for path, ref in secret_selectors(self):
            ns = getattr(ref, "namespace", None)
            if cluster and ns is None:
                raise Invalid(
                    f"{path}.namespace",
                    MISSING,
                    "is required in a ClusterSecretStore (the store has no namespace of its own)",
                )
            if not cluster and ns is not None and ns != own:
                raise Invalid(
                    f"{path}.namespace",
                    ns,
                    f"is not allowed in a SecretStore: it can only read its own namespace {own!r}",
                )
        return self


def secret_selectors(model: pydantic.BaseModel, prefix: str = "") -> list[tuple[str, Any]]:
    """Every Secret/ServiceAccount/CA selector in a store, with its manifest path."""
    out: list[tuple[str, Any]] = []
    for field, info in type(model).model_fields.items():
        value = getattr(model, field)
        path = f"{prefix}.{info.alias or field}" if prefix else (info.alias or field)
        if isinstance(value, (SecretKeySelector, ServiceAccountSelector, CAProvider)):
            out.append((path, value))
        if isinstance(value, pydantic.BaseModel) and not isinstance(value, ObjectRef):
            out += secret_selectors(value, path)
    return out


class SecretStore(Store):
    """A store that ExternalSecrets in its own namespace read from."""

    kind: ClassVar[str] = "SecretStore"

    @pydantic.model_validator(mode="after")
    def _namespaced(self) -> Self:
        if not self.metadata.namespace:
            raise Invalid("metadata.namespace", MISSING, "is required: a SecretStore is namespaced")
        if self.spec.conditions:
            raise Invalid("spec.conditions", MISSING, "only applies to a ClusterSecretStore")
        return self


class ClusterSecretStore(Store):
    """A cluster-wide store that ExternalSecrets in any (allowed) namespace read from."""

    kind: ClassVar[str] = "ClusterSecretStore"

    @pydantic.model_validator(mode="after")
    def _cluster_scoped(self) -> Self:
        if self.metadata.namespace:
            raise Invalid(
                "metadata.namespace", self.metadata.namespace, "must not be set: cluster-scoped"
            )
        return self

    def allows(self, namespace: str) -> bool | None:
        """Whether ExternalSecrets in `namespace` may use the store; None when a label
        selector decides (labels are only known in the cluster)."""
        conditions = self.spec.conditions
        if not conditions:
            return True
        unknown = False
        for cond in conditions:
            if cond.namespace_selector is not None:
                unknown = True
            if namespace in (cond.namespaces or []):
                return True
            if any(re_compile_go(rx).search(namespace) for rx in cond.namespace_regexes or []):
                return True
        return None if unknown else False
