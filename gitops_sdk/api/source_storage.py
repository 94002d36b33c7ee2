"""source.toolkit.fluxcd.io/v1 storage sources: Bucket (S3-compatible object storage) and
ExternalArtifact (an artifact another controller produces)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

import pydantic
from pydantic import AfterValidator

from gitops_sdk.api.source import (
    API_VERSION,
    REMOVED_VERSIONS,
)
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.fields import Duration, ShortDuration, check_endpoint, url_check
from gitops_sdk.core.model import FILLED, FluxObject
from gitops_sdk.core.refs import (
    NamespacedObjectKindReference,
    SecretRef,
)

__all__ = [
    "Bucket",
    "BucketSTSSpec",
    "BucketSpec",
    "ExternalArtifact",
    "ExternalArtifactSpec",
]


# --- Bucket --------------------------------------------------------------------------------------


_HINT = "put credentials in the Secret named by secretRef"


def _check_endpoint(value: str) -> str:
    return check_endpoint(value, _HINT)


class BucketSTSSpec(FluxModel):
    """A Security Token Service that issues temporary credentials for the bucket."""

    provider: Literal["aws", "ldap"]
    """STS flavour: `aws` (with Bucket provider `aws`) or `ldap` (with provider `generic`)."""
    endpoint: Annotated[str, AfterValidator(url_check(("http", "https"), _HINT))]
    """STS endpoint, `http://` or `https://`."""
    secret_ref: SecretRef | None = None
    """LDAP credentials: keys `username`, `password`; `ldap` only; default: none."""
    cert_secret_ref: SecretRef | None = None
    """TLS client certificate and/or CA for the STS endpoint; `ldap` only; default: none."""


class BucketSpec(FluxModel):
    """Spec of a Bucket."""

    bucket_name: str
    """Name of the object storage bucket."""
    endpoint: Annotated[str, AfterValidator(_check_endpoint)]
    """Object storage address, `host[:port]` (e.g. `s3.amazonaws.com`, `minio.minio.svc:9000`)
    or, for Azure, an `https://` URL."""
    interval: Duration
    """How often to check the bucket for changes."""
    provider: Literal["generic", "aws", "azure", "gcp"] | None = None
    """Storage provider; default `generic` (any S3-compatible API, e.g. MinIO)."""
    region: str | None = None
    """Region of the bucket; default: none."""
    prefix: str | None = None
    """Only fetch objects under this prefix (server-side filtering); default: all."""
    secret_ref: SecretRef | None = None
    """Credentials, e.g. keys `accesskey`, `secretkey`; not with serviceAccountName."""
    service_account_name: str | None = None
    """Service account for workload identity; not with provider `generic` nor with secretRef."""
    cert_secret_ref: SecretRef | None = None
    """TLS client certificate and/or CA, `generic` provider only; default: none."""
    proxy_secret_ref: SecretRef | None = None
    """Proxy settings: keys `address`, `username`, `password`; default: no proxy."""
    sts: BucketSTSSpec | None = None
    """Security Token Service for temporary credentials; providers `aws` and `generic` only."""
    insecure: bool | None = None
    """Allow a plain-HTTP endpoint; default `false`."""
    timeout: ShortDuration | None = None
    """Timeout of fetch operations; default `60s`."""
    ignore: str | None = None
    """.sourceignore rules, replacing the default excludes."""
    suspend: bool | None = None
    """Stop reconciling; default `false`."""

    @pydantic.model_validator(mode="after")
    def _sts_fits_provider(self) -> Self:
        sts = self.sts
        if sts is None:
            return self
        # The API server defaults provider to 'generic' before it evaluates the CEL rules.
        provider = self.provider or "generic"
        if provider not in ("aws", "generic"):
            raise Invalid(
                "sts",
                sts.to_dict(),
                f"STS is only supported for the 'aws' and 'generic' Bucket providers, "
                f"not {provider!r}",
            )
        if provider == "aws" and sts.provider != "aws":
            raise Invalid(
                "sts.provider",
                sts.provider,
                "'aws' is the only supported STS provider for the 'aws' Bucket provider",
            )
        if provider == "generic" and sts.provider != "ldap":
            default = "" if self.provider else " (the default)"
            raise Invalid(
                "sts.provider",
                sts.provider,
                f"'ldap' is the only supported STS provider for the 'generic' Bucket "
                f"provider{default}",
            )
        if sts.provider == "aws" and sts.secret_ref is not None:
            raise Invalid(
                "sts.secretRef",
                sts.secret_ref.to_dict(),
                "must not be set for the 'aws' STS provider",
            )
        if sts.provider == "aws" and sts.cert_secret_ref is not None:
            raise Invalid(
                "sts.certSecretRef",
                sts.cert_secret_ref.to_dict(),
                "must not be set for the 'aws' STS provider",
            )
        return self

    @pydantic.model_validator(mode="after")
    def _service_account_rules(self) -> Self:
        name = self.service_account_name
        if name is None:
            return self
        if self.secret_ref is not None:
            raise Invalid("serviceAccountName", name, "cannot be set together with secretRef")
        if self.provider in (None, "generic"):
            default = "" if self.provider else " (the default)"
            raise Invalid(
                "serviceAccountName",
                name,
                f"is not supported for the 'generic' Bucket provider{default}",
            )
        return self


class Bucket(FluxObject):
    """An object storage bucket (S3-compatible, AWS, GCS, Azure) Flux packages as an artifact."""

    api_version = API_VERSION
    kind = "Bucket"
    removed_versions = REMOVED_VERSIONS

    spec: BucketSpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...


# --- ExternalArtifact ----------------------------------------------------------------------------


class ExternalArtifactSpec(FluxModel):
    """Spec of an ExternalArtifact."""

    source_ref: NamespacedObjectKindReference | None = None
    """The object the artifact is generated for (e.g. an ArtifactGenerator); default: none."""


class ExternalArtifact(FluxObject):
    """An artifact produced outside source-controller (e.g. by source-watcher)."""

    api_version = API_VERSION
    kind = "ExternalArtifact"

    spec: ExternalArtifactSpec | None = None

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...
