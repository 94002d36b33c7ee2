"""source.toolkit.fluxcd.io/v1: where Flux fetches artifacts from.

GitRepository, OCIRepository, HelmRepository, HelmChart, Bucket and ExternalArtifact.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

import pydantic
from pydantic import AfterValidator

from gitops_sdk.api.image_refs import ImageDigest, ImageTag
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.fields import (
    Duration,
    GoRegex,
    SemverRange,
    ShortDuration,
    url_check,
    url_secret,
)
from gitops_sdk.core.inputs import accepts_output, pending
from gitops_sdk.core.model import FILLED, FluxObject
from gitops_sdk.core.refs import (
    LocalObjectReference,
    ObjectRef,
    SecretRef,
)

__all__ = [
    "API_VERSION",
    "GitRepository",
    "GitRepositoryInclude",
    "GitRepositoryRef",
    "GitRepositorySpec",
    "GitRepositoryVerification",
    "GitUrl",
    "HelmChart",
    "HelmChartSourceKind",
    "HelmChartSpec",
    "HelmChartVerification",
    "HelmRepository",
    "HelmRepositoryAccessFrom",
    "HelmRepositorySpec",
    "HelmUrl",
    "LocalHelmChartSourceReference",
    "NamespaceSelector",
    "OCILayerSelector",
    "OCIRepository",
    "OCIRepositoryRef",
    "OCIRepositorySpec",
    "OCIRepositoryVerification",
    "OIDCIdentityMatch",
    "OciUrl",
]

API_VERSION = "source.toolkit.fluxcd.io/v1"
REMOVED_VERSIONS = {"v1beta1": "Flux 2.7", "v1beta2": "Flux 2.8"}
# OCIRepository started at v1beta2; there never was a v1beta1.
_REMOVED_OCI = {"v1beta2": "Flux 2.8"}

_SCP_LIKE = re.compile(r"^(?P<user>[^@/:]+)@(?P<host>[^:/]+):(?P<path>[^/].*)$")


_SECRET_REF_HINT = "put credentials in the Secret named by spec.secretRef"
_check_git = url_check(
    ("http", "https", "ssh"), _SECRET_REF_HINT + " (gitops:gitCredentials in stack config)"
)


def _check_git_url(value: str) -> str:
    if (m := _SCP_LIKE.match(value)) and not url_secret(value):
        suggestion = f"ssh://{m['user']}@{m['host']}/{m['path']}"
        raise ValueError(f"is an scp-like address, which Flux does not accept; use {suggestion!r}")
    return _check_git(value)


_GitUrl = Annotated[str, AfterValidator(_check_git_url)]
GitUrl = Annotated[_GitUrl, accepts_output(_GitUrl)]
"""A Git repository URL (`https://`, `http://` or `ssh://`); an scp-like `git@host:path` is
rejected with its `ssh://` form suggested."""


class GitRepositoryRef(FluxModel):
    """Which revision to check out; precedence commit > name > semver > tag > branch."""

    branch: str | None = None
    """Branch to check out. Flux defaults to `master` when no ref is given."""
    tag: str | None = None
    """Tag to check out."""
    semver: SemverRange | None = None
    """Semver range of tags to pick the newest from."""
    name: str | None = None
    """A full git reference, e.g. `refs/heads/main` or `refs/pull/420/head`."""
    commit: str | None = None
    """A commit SHA; with `branch`, a shallow clone of that branch."""


class GitRepositoryInclude(FluxModel):
    """Another GitRepository's artifact copied into this one."""

    repository: LocalObjectReference
    """The GitRepository to include (same namespace)."""
    from_path: str | None = None
    """Path in the included artifact to copy; default: its root."""
    to_path: str | None = None
    """Where to copy it; default: the included GitRepository's name."""


class GitRepositoryVerification(FluxModel):
    """Signature verification of commits or tags."""

    mode: Literal["head", "HEAD", "Tag", "TagAndHEAD"] | None = None
    """What to verify; default `HEAD` (`head` is a legacy alias)."""
    secret_ref: SecretRef
    """Secret with PGP keys (`*.asc`) or SSH public keys (`*.sshpub`)."""


class GitRepositorySpec(FluxModel):
    """Spec of a GitRepository."""

    url: GitUrl
    """Repository URL: `http://`, `https://` or `ssh://`."""
    interval: Duration
    """How often to check for new commits."""
    ref: GitRepositoryRef | None = None
    """Revision to check out; omitted means branch `master`."""
    secret_ref: SecretRef | None = None
    """Credentials: username/password, bearerToken, identity/known_hosts or GitHub App keys."""
    provider: Literal["generic", "aws", "azure", "github"] | None = None
    """Authentication provider; default `generic`."""
    service_account_name: str | None = None
    """Service account for workload identity; only with provider `azure` or `aws`."""
    timeout: ShortDuration | None = None
    """Timeout of git operations; default `60s`."""
    verify: GitRepositoryVerification | None = None
    """Verify commit or tag signatures."""
    ignore: str | None = None
    """.sourceignore rules, replacing the default excludes."""
    include: list[GitRepositoryInclude] | None = None
    """Other GitRepositories to include in the artifact."""
    recurse_submodules: bool | None = None
    """Also clone submodules."""
    sparse_checkout: list[str] | None = None
    """Only check out these directories."""
    proxy_secret_ref: SecretRef | None = None
    """Proxy settings: keys `address`, `username`, `password`."""
    suspend: bool | None = None
    """Stop reconciling."""

    @pydantic.model_validator(mode="after")
    def _service_account_needs_provider(self) -> Self:
        if self.service_account_name is not None and self.provider not in ("azure", "aws"):
            raise Invalid(
                "serviceAccountName",
                self.service_account_name,
                "can only be set when provider is 'azure' or 'aws'",
            )
        return self


class GitRepository(FluxObject):
    """A Git repository Flux clones and packages as an artifact."""

    api_version = API_VERSION
    kind = "GitRepository"
    removed_versions = REMOVED_VERSIONS

    spec: GitRepositorySpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...


# --- OCIRepository -------------------------------------------------------------------------------


_OciUrl = Annotated[str, AfterValidator(url_check(("oci",), _SECRET_REF_HINT))]
OciUrl = Annotated[_OciUrl, accepts_output(_OciUrl)]
"""An `oci://` URL of a registry repository."""


class OCIRepositoryRef(FluxModel):
    """Which artifact to pull; precedence digest > semver > tag."""

    tag: ImageTag | None = None
    """Tag to pull; default `latest` when no ref is given."""
    semver: SemverRange | None = None
    """Semver range of tags to pick the newest from; takes precedence over `tag`."""
    semver_filter: GoRegex | None = None
    """Go regexp the tags inside the semver range must match; default: no filter."""
    digest: ImageDigest | None = None
    """Digest to pull, `sha256:<hash>`; takes precedence over `semver` and `tag`."""


class OCILayerSelector(FluxModel):
    """Which layer of the OCI artifact to use."""

    media_type: str | None = None
    """Media type of the layer to pick (the first match wins); default: the first layer."""
    operation: Literal["extract", "copy"] | None = None
    """`extract` the layer's files or `copy` its tarball as-is; default `extract`."""


class OIDCIdentityMatch(FluxModel):
    """An accepted Cosign keyless signer: regexps for the certificate's issuer and subject."""

    issuer: GoRegex
    """Go regexp the OIDC issuer of the Fulcio certificate must match."""
    subject: GoRegex
    """Go regexp the identity subject of the Fulcio certificate must match."""


class HelmChartVerification(FluxModel):
    """Signature verification of an OCI artifact with Cosign or Notation."""

    provider: Literal["cosign", "notation"]
    """Signing technology; required by the CRD, which would default it to `cosign`."""
    secret_ref: SecretRef | None = None
    """Secret with the trusted public keys (Cosign) or certificates and trust policy (Notation)."""
    match_oidc_identity: list[OIDCIdentityMatch] | None = pydantic.Field(
        default=None, alias="matchOIDCIdentity"
    )
    """Accepted keyless signers (any one match verifies); default: any identity."""


class OCIRepositoryVerification(HelmChartVerification):
    """Signature verification of an OCIRepository's artifact."""

    trusted_root_secret_ref: SecretRef | None = None
    """Secret with a Sigstore `trusted_root.json`; default: the public Sigstore instance."""


class OCIRepositorySpec(FluxModel):
    """Spec of an OCIRepository."""

    url: OciUrl
    """Repository URL, `oci://` followed by registry and path."""
    interval: Duration
    """How often to check for new artifacts."""
    ref: OCIRepositoryRef | None = None
    """Artifact to pull; omitted means tag `latest`."""
    layer_selector: OCILayerSelector | None = None
    """Layer to use and how; omitted means extract the first layer."""
    provider: Literal["generic", "aws", "azure", "gcp"] | None = None
    """Authentication provider; default `generic`."""
    secret_ref: SecretRef | None = None
    """Registry credentials, a Secret of type `kubernetes.io/dockerconfigjson`; default: none."""
    service_account_name: str | None = None
    """Service account whose image pull secrets (or, with a cloud provider, identity) to use."""
    cert_secret_ref: SecretRef | None = None
    """TLS client certificate and/or CA: keys `tls.crt`, `tls.key`, `ca.crt`; default: none."""
    proxy_secret_ref: SecretRef | None = None
    """Proxy settings: keys `address`, `username`, `password`; default: no proxy."""
    verify: OCIRepositoryVerification | None = None
    """Verify the artifact's signature; default: not verified."""
    insecure: bool | None = None
    """Allow a plain-HTTP registry; default `false`."""
    timeout: ShortDuration | None = None
    """Timeout of registry operations such as pulling; default `60s`."""
    ignore: str | None = None
    """.sourceignore rules, replacing the default excludes."""
    suspend: bool | None = None
    """Stop reconciling; default `false`."""


class OCIRepository(FluxObject):
    """An artifact in an OCI registry that Flux pulls and packages as an artifact."""

    api_version = API_VERSION
    kind = "OCIRepository"
    removed_versions = _REMOVED_OCI

    spec: OCIRepositorySpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...


# --- HelmRepository ------------------------------------------------------------------------------


_HelmUrl = Annotated[str, AfterValidator(url_check(("http", "https", "oci"), _SECRET_REF_HINT))]
HelmUrl = Annotated[_HelmUrl, accepts_output(_HelmUrl)]
"""A Helm repository URL: `http://` or `https://` for an index, `oci://` for a registry."""


class NamespaceSelector(FluxModel):
    """Namespaces selected by their labels; an empty selector matches every namespace."""

    match_labels: dict[str, str] | None = None
    """Labels a namespace must have; default: none (all namespaces)."""


class HelmRepositoryAccessFrom(FluxModel):
    """Namespaces allowed to refer to this object (provisional: Flux does not implement it)."""

    namespace_selectors: list[NamespaceSelector]
    """Selectors of allowed namespaces, ORed."""


class HelmRepositorySpec(FluxModel):
    """Spec of a HelmRepository."""

    url: HelmUrl
    """Repository URL: `http://` or `https://` for an index, `oci://` with type `oci`."""
    type: Literal["default", "oci"] | None = None
    """`default` (an HTTP/S index) or `oci` (maintenance mode: prefer OCIRepository)."""
    interval: Duration | None = None
    """How often to fetch the index; the controller defaults to `1m`."""
    secret_ref: SecretRef | None = None
    """Credentials: keys `username`, `password`; default: none."""
    cert_secret_ref: SecretRef | None = None
    """TLS client certificate and/or CA: keys `tls.crt`, `tls.key`, `ca.crt`; default: none."""
    pass_credentials: bool | None = None
    """Also send the credentials to hosts other than the URL's host; default `false`."""
    provider: Literal["generic", "aws", "azure", "gcp"] | None = None
    """Authentication provider, used only with type `oci`; default `generic`."""
    insecure: bool | None = None
    """Allow a plain-HTTP registry, used only with type `oci`; default `false`."""
    timeout: ShortDuration | None = None
    """Timeout of index fetches and registry operations; the controller defaults to `60s`."""
    access_from: HelmRepositoryAccessFrom | None = None
    """Cross-namespace access list; provisional and not implemented by Flux."""
    suspend: bool | None = None
    """Stop reconciling; default `false`."""

    @pydantic.model_validator(mode="after")
    def _oci_url_needs_oci_type(self) -> Self:
        if pending(self.url) is not None:
            return self  # an Output: its value is checked when it resolves
        oci_url = self.url.startswith("oci://")
        if oci_url and self.type != "oci":
            raise Invalid(
                "url",
                self.url,
                "is an oci:// URL, which needs type: 'oci' (or use an OCIRepository)",
            )
        if not oci_url and self.type == "oci":
            raise Invalid("url", self.url, "must start with oci:// when type is 'oci'")
        return self


class HelmRepository(FluxObject):
    """A Helm chart repository: an HTTP/S index, or (type `oci`) an OCI registry."""

    api_version = API_VERSION
    kind = "HelmRepository"
    removed_versions = REMOVED_VERSIONS

    spec: HelmRepositorySpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...


# --- HelmChart -----------------------------------------------------------------------------------

HelmChartSourceKind = Literal["HelmRepository", "GitRepository", "Bucket"]
"""The kinds a HelmChart can take its chart from."""


class LocalHelmChartSourceReference(ObjectRef):
    """A reference to the HelmChart's source in the same namespace; built from a name or object."""

    expected_kinds = get_args(HelmChartSourceKind)
    api_version: str | None = None
    """API version of the source; default: the preferred version."""
    kind: HelmChartSourceKind
    """Kind of the source."""
    name: str
    """Name of the source."""


class HelmChartSpec(FluxModel):
    """Spec of a HelmChart."""

    chart: str
    """Chart name (in a HelmRepository) or path (in a GitRepository or Bucket)."""
    source_ref: LocalHelmChartSourceReference
    """The HelmRepository, GitRepository or Bucket holding the chart (same namespace)."""
    interval: Duration
    """How often to check the source for updates."""
    version: SemverRange | None = None
    """Semver range of chart versions, ignored for Git and Bucket sources; default `*`."""
    reconcile_strategy: Literal["ChartVersion", "Revision"] | None = None
    """New artifact per new `ChartVersion` or per source `Revision`; default `ChartVersion`."""
    values_files: list[str] | None = None
    """Values files to merge in order, replacing values.yaml; default: the chart's values.yaml."""
    ignore_missing_values_files: bool | None = None
    """Skip values files that do not exist instead of failing; default `false`."""
    verify: HelmChartVerification | None = None
    """Verify the chart's signature, only for OCI HelmRepository sources; default: not verified."""
    suspend: bool | None = None
    """Stop reconciling; default `false`."""

    @pydantic.model_validator(mode="after")
    def _verify_needs_helm_repository(self) -> Self:
        if self.verify is not None and self.source_ref.kind != "HelmRepository":
            raise Invalid(
                "verify",
                self.verify.to_dict(),
                "is only supported when sourceRef.kind is 'HelmRepository', "
                f"not {self.source_ref.kind!r}",
            )
        return self


class HelmChart(FluxObject):
    """A Helm chart Flux fetches or packages from a source (usually made by a HelmRelease)."""

    api_version = API_VERSION
    kind = "HelmChart"
    removed_versions = REMOVED_VERSIONS

    spec: HelmChartSpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...
