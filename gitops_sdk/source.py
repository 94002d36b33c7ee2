"""source.toolkit.fluxcd.io/v1: where Flux fetches artifacts from.

GitRepository, OCIRepository, HelmRepository, HelmChart, Bucket and ExternalArtifact.
"""

from __future__ import annotations

import re
from typing import Literal, Self

import pydantic

from ._model import (
    Duration,
    FluxModel,
    FluxObject,
    Invalid,
    LocalObjectReference,
    SecretRef,
    SemverRange,
    ShortDuration,
)

API_VERSION = "source.toolkit.fluxcd.io/v1"
_REMOVED = {"v1beta1": "Flux 2.7", "v1beta2": "Flux 2.8"}

_SCP_LIKE = re.compile(r"^(?P<user>[^@/:]+)@(?P<host>[^:/]+):(?P<path>[^/].*)$")


def _check_git_url(value: str) -> str:
    if m := _SCP_LIKE.match(value):
        suggestion = f"ssh://{m['user']}@{m['host']}/{m['path']}"
        raise ValueError(f"is an scp-like address, which Flux does not accept; use {suggestion!r}")
    if not re.match(r"^(http|https|ssh)://.*$", value):
        raise ValueError("must start with http://, https:// or ssh://")
    return value


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

    url: str
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

    _url = pydantic.field_validator("url")(classmethod(lambda cls, v: _check_git_url(v)))

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
    removed_versions = _REMOVED

    spec: GitRepositorySpec
