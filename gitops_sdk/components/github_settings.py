"""The settings of the GitHub components, validated and free of secrets: which repository
(`GithubTarget`), and the deploy key and receiver options. The components' Args extend them
with the source and secrets; the `gitops:github` stack config nests them."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

from gitops_sdk.components.receiver import check_public_url
from gitops_sdk.core.base import FluxModel
from gitops_sdk.core.fields import Duration, Name, Namespace, check_url
from gitops_sdk.services.ssh_keys import KeyAlgorithm

__all__ = [
    "ApiUrl",
    "GithubDeployKeySettings",
    "GithubReceiverSettings",
    "GithubTarget",
    "Owner",
    "RepoName",
]


def _check_api_url(value: str) -> str:
    check_url(value, ("http", "https"), "the token goes in gitops:githubToken, never in the URL")
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(
            "is not an API URL (expected 'https://api.github.com' or, for GitHub Enterprise, "
            "'https://<host>/api/v3')"
        )
    return value.rstrip("/")


def _check_owner(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", value) or len(value) > 39:
        raise ValueError("is not a GitHub user or organization name")
    return value


def _check_repo_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value) or value in (".", ".."):
        raise ValueError("is not a GitHub repository name (letters, digits, '-', '_', '.')")
    return value


def _check_title(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


ApiUrl = Annotated[str, AfterValidator(_check_api_url)]
Owner = Annotated[str, AfterValidator(_check_owner)]
RepoName = Annotated[str, AfterValidator(_check_repo_name)]


class GithubTarget(FluxModel):
    """The repository on GitHub; each field defaults to what the GitRepository URL says."""

    owner: Owner | None = None
    """User or organization; default: from the GitRepository URL."""
    repository: RepoName | None = None
    """Repository name; default: from the GitRepository URL."""
    base_url: ApiUrl | None = None
    """REST API URL; default `https://api.github.com` for github.com, else `https://<host>/api/v3`."""


class GithubDeployKeySettings(GithubTarget):
    """Settings of `GithubDeployKey` (`gitops:github.deployKey` in a stack file)."""

    title: Annotated[str, AfterValidator(_check_title)] | None = None
    """Deploy key title, how re-runs find our key; default `flux-<stack>`."""
    read_only: bool = True
    """Read-only key (default). Image update automation pushes, so it needs `false`."""
    algorithm: KeyAlgorithm = "ed25519"
    """Key type: `ed25519` (default) or `ecdsa-p384` (what `flux bootstrap` uses)."""
    known_hosts: str | None = None
    """known_hosts lines of the git host; default: GitHub's keys. Required for Enterprise."""


class GithubReceiverSettings(GithubTarget):
    """Settings of `GithubReceiver` (`gitops:github.receiver` in a stack file). With a Receiver
    declared in `gitops:receiver`, only the target and `url` are read from here."""

    url: Annotated[str, AfterValidator(check_public_url)] | None = None
    """Public base URL of notification-controller's webhook receiver, e.g.
    `https://flux-webhook.example.com`; the hook posts to it + `/hook/<sha256>`. Default: the
    `url` of the declared Receiver (`gitops:receiver`); one of them is required."""
    name: Name = "github-receiver"
    """Name of the Receiver."""
    namespace: Namespace | None = None
    """Namespace of the Receiver and its Secret; default: the GitRepository's."""
    secret_name: Name = "github-webhook-token"
    """Name of the Secret with key `token`."""
    events: list[str] = ["push"]
    """GitHub events that trigger a reconcile (hook and Receiver)."""
    interval: Duration | None = None
    """How often the Receiver is reconciled; Flux default `10m`."""
