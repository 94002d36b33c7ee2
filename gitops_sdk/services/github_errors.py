"""GitHub API failures as our errors: one class per cause, the permission each call needs, and
`translate_error`, which turns a PyGithub or transport failure into a message that names the
repository and what to do. A token never appears in a message."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gitops_sdk.core.errors import GitopsError
from gitops_sdk.services.github_urls import GITHUB_API_URL

if TYPE_CHECKING:
    # PyGithub is imported where a call fails: most programs never make one.
    from github import GithubException

__all__ = [
    "PERMISSION_CREATE_REPOSITORY",
    "PERMISSION_DEPLOY_KEYS",
    "PERMISSION_READ",
    "PERMISSION_WEBHOOKS",
    "GithubAuthError",
    "GithubError",
    "GithubNotFoundError",
    "GithubPermissionError",
    "GithubRateLimitError",
    "GithubUnreachableError",
    "translate_error",
]

PERMISSION_READ = (
    "read access to the repository (classic scope 'repo', or fine-grained 'Metadata: read')"
)
PERMISSION_DEPLOY_KEYS = (
    "repository admin: deploy keys need a classic token with scope 'repo' from an account that "
    "administers the repository, or a fine-grained token with 'Administration: read and write'"
)
PERMISSION_WEBHOOKS = (
    "webhook admin: a classic token with scope 'admin:repo_hook' (or 'repo'), or a fine-grained "
    "token with 'Webhooks: read and write'"
)
PERMISSION_CREATE_REPOSITORY = (
    "repository creation: a classic token with scope 'repo', or a fine-grained token with "
    "'Administration: read and write' on the owner (for an organization, membership that may "
    "create repositories)"
)


class GithubError(GitopsError):
    """A GitHub API call failed; the message names the repository and the permission needed."""

    def __init__(
        self,
        message: str,
        *,
        repository: str,
        permission: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.repository = repository
        self.permission = permission
        self.status = status


class GithubAuthError(GithubError):
    """The API rejected the token (401): wrong, expired or revoked."""


class GithubNotFoundError(GithubError):
    """The repository does not exist, or the token cannot see it (404)."""


class GithubPermissionError(GithubError):
    """The token is valid but lacks a permission the call needs (403)."""


class GithubRateLimitError(GithubError):
    """The API rate limit is used up; `reset_at` says when it resets (UTC), if GitHub said."""

    def __init__(
        self, message: str, *, reset_at: datetime.datetime | None = None, **where: Any
    ) -> None:
        super().__init__(message, **where)
        self.reset_at = reset_at


class GithubUnreachableError(GithubError):
    """The API could not be reached (DNS, connection, TLS, timeout, repeated server errors)."""


def _lower(headers: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def _reset_time(headers: Mapping[str, str], now: datetime.datetime) -> datetime.datetime | None:
    retry_after = headers.get("retry-after", "")
    if retry_after.isdigit():
        return now + datetime.timedelta(seconds=int(retry_after))
    reset = headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return datetime.datetime.fromtimestamp(int(reset), datetime.UTC)
    return None


def _is_rate_limited(err: GithubException, headers: Mapping[str, str]) -> bool:
    from github import RateLimitExceededException

    if isinstance(err, RateLimitExceededException) or err.status == 429:
        return True
    return err.status == 403 and (
        headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers
    )


def _api_message(err: GithubException) -> str:
    data = err.data
    message = data.get("message") if isinstance(data, dict) else None
    return str(message or err.message or "no message")


def translate_error(
    err: Exception,
    *,
    repository: str,
    action: str,
    permission: str,
    base_url: str = GITHUB_API_URL,
    now: datetime.datetime | None = None,
) -> GithubError:
    """Our error for a PyGithub or transport failure while doing `action` on `repository`."""
    from github import GithubException

    where = f"GitHub repository {repository!r}: cannot {action}"
    now = now or datetime.datetime.now(datetime.UTC)
    if isinstance(err, GithubException):
        status = err.status
        headers = _lower(err.headers)
        said = f"{status} {_api_message(err)}"
        if status == 401:
            return GithubAuthError(
                f"{where}: the token was rejected ({said}); check that it is valid and not "
                f"expired. It needs {permission}",
                repository=repository,
                permission=permission,
                status=status,
            )
        if _is_rate_limited(err, headers):
            when = _reset_time(headers, now)
            if when is None:
                hint = "wait a few minutes and retry"
            else:
                minutes = max(0, round((when - now).total_seconds() / 60))
                hint = (
                    f"the limit resets at {when:%Y-%m-%d %H:%M:%S} UTC (in about {minutes} min); "
                    "retry then"
                )
            return GithubRateLimitError(
                f"{where}: rate limited by the GitHub API ({said}); {hint}",
                repository=repository,
                permission=permission,
                status=status,
                reset_at=when,
            )
        if status == 403:
            return GithubPermissionError(
                f"{where}: the token lacks permission ({said}); it needs {permission}",
                repository=repository,
                permission=permission,
                status=status,
            )
        if status == 404:
            return GithubNotFoundError(
                f"{where}: not found ({said}); check the owner and name, and that the token "
                f"can see the repository. It needs {permission}",
                repository=repository,
                permission=permission,
                status=status,
            )
        return GithubError(
            f"{where}: GitHub answered {said}",
            repository=repository,
            permission=permission,
            status=status,
        )
    reason = type(err).__name__
    return GithubUnreachableError(
        f"{where}: the GitHub API at {base_url} is unreachable ({reason}); check the base URL, "
        f"network and proxy. The token needs {permission}",
        repository=repository,
        permission=permission,
    )
