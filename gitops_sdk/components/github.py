"""GitHub: the deploy key Flux pulls with, and the push webhook that makes it sync at once.

Three layers, each usable on its own:

- `GithubClient` wraps PyGithub for one repository: idempotent deploy keys and webhooks, and
  every API failure turned into a `GithubError` that names the repository and the permission
  the token needs.
- Dynamic resources (`DeployKey`, `WebhookToken`, `RepositoryWebhook`) give those calls a
  Pulumi lifecycle: created on `up`, updated in place when they can be, removed on `destroy`.
- Components (`GithubDeployKey`, `GithubReceiver`) wire them to Flux: the source Secret with
  `identity`/`identity.pub`/`known_hosts`, and a `github` Receiver with its token Secret.

Secrets (the API token, private keys, webhook tokens) only ever travel as Pulumi secrets and
are never put in an error message.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, Protocol, TypeAlias, TypeVar
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)
from pydantic import AfterValidator

from gitops_sdk.api.notification import Receiver
from gitops_sdk.components.resource import FluxResource
from gitops_sdk.core.base import FluxModel
from gitops_sdk.core.errors import (
    MISSING,
    ConfigError,
    CrossReferenceError,
    FieldIssue,
    GitopsError,
    SpecError,
)
from gitops_sdk.core.fields import Duration, Name, Namespace
from gitops_sdk.core.model import FluxObject

if TYPE_CHECKING:
    # PyGithub (and requests under it) is imported where an API call is made: most programs
    # never make one, and importing it doubles what `import gitops_sdk` costs.
    from github import GithubException
    from github.Hook import Hook
    from github.Repository import Repository
    from github.RepositoryKey import RepositoryKey
from gitops_sdk.api.source import GitRepository

__all__ = [
    "DEFAULT_CLIENT_OPTIONS",
    "GITHUB_API_URL",
    "GITHUB_KNOWN_HOSTS",
    "IDENTITY_CONFIG",
    "PERMISSION_CREATE_REPOSITORY",
    "PERMISSION_DEPLOY_KEYS",
    "PERMISSION_READ",
    "PERMISSION_WEBHOOKS",
    "TOKEN_CONFIG",
    "ClientOptions",
    "DeployKey",
    "DeployKeyProvider",
    "DeployKeyResult",
    "GithubAuthError",
    "GithubClient",
    "GithubConfig",
    "GithubDeployKey",
    "GithubDeployKeyArgs",
    "GithubError",
    "GithubNotFoundError",
    "GithubPermissionError",
    "GithubRateLimitError",
    "GithubReceiver",
    "GithubReceiverArgs",
    "GithubUnreachableError",
    "KeyAlgorithm",
    "RepositoryWebhook",
    "RepositoryWebhookProvider",
    "SSHKeyPair",
    "WebhookResult",
    "WebhookToken",
    "WebhookTokenProvider",
    "api_url_for_host",
    "generate_ssh_key",
    "git_host",
    "github_identity",
    "github_token",
    "load_ssh_key",
    "parse_repository_url",
    "ssh_fingerprint",
    "ssh_url",
    "translate_error",
    "webhook_path",
]

GITHUB_API_URL = "https://api.github.com"
"""The REST API of github.com; GitHub Enterprise Server serves it at `https://<host>/api/v3`."""

_GITHUB_HOST_KEYS = (
    ("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"),
    (
        "ecdsa-sha2-nistp256",
        "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9"
        "nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=",
    ),
    (
        "ssh-rsa",
        "AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4"
        "Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgV"
        "smerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQy"
        "ytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVr"
        "uj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ"
        "7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6Cm"
        "K2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk=",
    ),
)
GITHUB_KNOWN_HOSTS = "".join(f"github.com {kind} {key}\n" for kind, key in _GITHUB_HOST_KEYS)
"""github.com's published SSH host keys (SHA256 fingerprints `+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdk
r4UvCOqU` ed25519, `p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM` ecdsa, `uNiVztksCsDhcc0u9e8BujQX
VUpKZIDTMczCvj3tD2s` rsa), in known_hosts format. Public facts; pinned so Flux never trusts a
host key on first use."""

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

KeyAlgorithm: TypeAlias = Literal["ed25519", "ecdsa-p384"]
"""SSH key types: `ed25519` (default), or `ecdsa-p384` as `flux bootstrap` generates."""

_ENV_TOKEN = "GITHUB_TOKEN"
_T = TypeVar("_T")


# --- errors --------------------------------------------------------------------------------------


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
        self,
        message: str,
        *,
        repository: str,
        permission: str | None = None,
        status: int | None = None,
        reset_at: datetime.datetime | None = None,
    ) -> None:
        super().__init__(message, repository=repository, permission=permission, status=status)
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


# --- SSH keys and URLs -------------------------------------------------------------------------


@dataclass(frozen=True)
class SSHKeyPair:
    """An SSH key pair in OpenSSH formats. `repr()` never shows the private key."""

    private_key: str = field(repr=False)
    """The private key, `-----BEGIN OPENSSH PRIVATE KEY-----` (unencrypted)."""
    public_key: str
    """The public key line, e.g. `ssh-ed25519 AAAA...` (no comment)."""

    @property
    def fingerprint(self) -> str:
        """`SHA256:...` as `ssh-keygen -l` prints it."""
        return ssh_fingerprint(self.public_key)

    @property
    def algorithm(self) -> str:
        """The key type of the public key line, e.g. `ssh-ed25519`."""
        return self.public_key.split()[0]


def generate_ssh_key(algorithm: KeyAlgorithm = "ed25519") -> SSHKeyPair:
    """A new key pair: ed25519, or ECDSA on curve P-384 (what `flux bootstrap` makes)."""
    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ecdsa-p384":
        private = ec.generate_private_key(ec.SECP384R1())
    else:
        raise ValueError(f"unknown SSH key algorithm {algorithm!r}; expected ed25519 or ecdsa-p384")
    return _pair(private)


def load_ssh_key(private_key: str) -> SSHKeyPair:
    """The pair of an existing unencrypted private key (OpenSSH or PEM format)."""
    data = private_key.encode()
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            loaded: Any = serialization.load_ssh_private_key(data, password=None)
        else:
            loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        # Never echo the key: only say what kind of problem it is.
        raise ValueError("is not an unencrypted OpenSSH or PEM private key") from None
    if not isinstance(loaded, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        raise ValueError(f"is a {type(loaded).__name__}; expected an ed25519 or ECDSA key")
    # Keep the text as given: OpenSSH encoding is randomised, re-encoding would change it.
    return SSHKeyPair(private_key=private_key, public_key=_public(loaded))


def _pair(private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> SSHKeyPair:
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    return SSHKeyPair(private_key=pem, public_key=_public(private))


def _public(private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def ssh_fingerprint(public_key: str) -> str:
    """`SHA256:<base64>` fingerprint of an OpenSSH public key line."""
    blob = base64.b64decode(public_key.split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _key_material(public_key: str) -> str:
    """Type and base64 blob of a public key line, without the comment GitHub drops."""
    return " ".join(public_key.split()[:2])


_REPO_PATH = re.compile(r"^/?(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(\.git)?/?$")
_NOT_A_REPO_URL = "is not a repository URL (expected e.g. 'ssh://git@github.com/owner/repo')"


def parse_repository_url(url: str) -> tuple[str, str, str]:
    """(host, owner, repository) of `ssh://git@github.com/o/r(.git)` or `https://github.com/o/r`."""
    parts = urlsplit(url)
    m = _REPO_PATH.match(parts.path)
    if parts.scheme not in ("ssh", "https", "http") or not parts.hostname or not m:
        raise ValueError(f"{url!r} {_NOT_A_REPO_URL}")
    return parts.hostname, m["owner"], m["repo"]


def ssh_url(owner: str, repository: str, host: str = "github.com") -> str:
    """The `ssh://git@<host>/<owner>/<repository>` URL Flux pulls with a deploy key."""
    return f"ssh://git@{host}/{owner}/{repository}"


def api_url_for_host(host: str) -> str:
    """The REST API of a GitHub host: `api.github.com`, or `https://<host>/api/v3` (Enterprise)."""
    return GITHUB_API_URL if host == "github.com" else f"https://{host}/api/v3"


def git_host(base_url: str) -> str:
    """The git (SSH) host of an API URL: `github.com` for api.github.com, else the URL's host."""
    host = urlsplit(base_url).hostname or ""
    return "github.com" if host == "api.github.com" else host


def webhook_path(token: str, name: str, namespace: str) -> str:
    """The path notification-controller serves a Receiver at: `/hook/` + sha256(token+name+ns)."""
    digest = hashlib.sha256((token + name + namespace).encode()).hexdigest()
    return f"/hook/{digest}"


# --- the API client --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientOptions:
    """How PyGithub talks to the API. Defaults suit real use; tests turn retries and pacing off."""

    retries: int = 3
    """Retries of server errors and short rate-limit waits (0: fail at once)."""
    timeout: int = 15
    """Seconds per request."""
    throttle: bool = True
    """PyGithub's pacing (0.25s between requests, 1s between writes), as GitHub asks of clients."""
    max_rate_limit_wait: float = 60.0
    """Wait at most this long for a rate limit to reset before failing with the reset time."""


DEFAULT_CLIENT_OPTIONS = ClientOptions()
"""The options a `GithubClient` uses when given none."""


@dataclass(frozen=True)
class DeployKeyResult:
    """What `ensure_deploy_key` did: `created`, `adopted`, `rotated` or `updated`."""

    key_id: int
    action: Literal["created", "adopted", "rotated", "updated"]
    deleted: tuple[int, ...] = ()
    """Ids of keys it removed (older keys with our title, or this key before a mode change)."""


@dataclass(frozen=True)
class WebhookResult:
    """What `ensure_webhook` did: `created`, `adopted` or `updated`."""

    hook_id: int
    action: Literal["created", "adopted", "updated"]
    deleted: tuple[int, ...] = ()
    """Ids of duplicate hooks it removed."""


class GithubClient:
    """One repository on GitHub (or GitHub Enterprise), through PyGithub.

    Every method is idempotent and raises `GithubError` subclasses, never PyGithub's own.
    """

    def __init__(
        self,
        owner: str,
        repository: str,
        token: str,
        base_url: str = GITHUB_API_URL,
        options: ClientOptions | None = None,
    ) -> None:
        if not token:
            raise ConfigError(
                f"GitHub repository '{owner}/{repository}': no API token; set "
                f"`pulumi config set --secret gitops:{TOKEN_CONFIG} ...` or export {_ENV_TOKEN}"
            )
        from github import Auth, Github, GithubRetry

        opts = options or DEFAULT_CLIENT_OPTIONS
        self.owner = owner
        self.name = repository
        self.base_url = base_url.rstrip("/")
        retry: GithubRetry | None = None
        if opts.retries > 0:
            retry = GithubRetry(
                total=opts.retries,
                backoff_factor=1,
                max_rate_limit_wait=opts.max_rate_limit_wait,
            )
        self._gh = Github(
            auth=Auth.Token(token),
            base_url=self.base_url,
            timeout=opts.timeout,
            retry=retry,
            seconds_between_requests=0.25 if opts.throttle else None,
            seconds_between_writes=1.0 if opts.throttle else None,
            lazy=True,
        )
        self._repo: Repository | None = None

    @property
    def full_name(self) -> str:
        """`owner/repository`."""
        return f"{self.owner}/{self.name}"

    def __repr__(self) -> str:
        return f"GithubClient({self.full_name!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._gh.close()

    def __enter__(self) -> GithubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _calling(self, action: str, permission: str) -> Iterator[None]:
        import requests
        from github import GithubException

        try:
            yield
        except GithubError:
            raise
        except (GithubException, requests.RequestException) as err:
            raise translate_error(
                err,
                repository=self.full_name,
                action=action,
                permission=permission,
                base_url=self.base_url,
            ) from None

    def repository(self, permission: str = PERMISSION_READ) -> Repository:
        """The repository (fetched once); `GithubNotFoundError` if it is missing."""
        if self._repo is None:
            with self._calling("read the repository", permission):
                self._repo = self._gh.get_repo(self.full_name).complete()
        return self._repo

    def exists(self) -> bool:
        """Whether the repository exists (and the token can see it)."""
        try:
            self.repository()
        except GithubNotFoundError:
            return False
        return True

    def create_repository(
        self, *, personal: bool, private: bool = True, description: str | None = None
    ) -> Repository:
        """Create the repository under the token's user (`personal`) or the owner organization,
        initialised with a README so its default branch exists."""
        kwargs: dict[str, Any] = {"private": private, "auto_init": True}
        if description:
            kwargs["description"] = description
        with self._calling("create the repository", PERMISSION_CREATE_REPOSITORY):
            if personal:
                user = self._gh.get_user()
                if user.login.lower() != self.owner.lower():
                    raise GithubError(
                        f"GitHub repository {self.full_name!r}: cannot create the repository "
                        f"as a personal one: the token belongs to {user.login!r}, not "
                        f"{self.owner!r}; use a token of {self.owner!r}, or leave out --personal "
                        "if it is an organization",
                        repository=self.full_name,
                        permission=PERMISSION_CREATE_REPOSITORY,
                    )
                repo = user.create_repo(self.name, **kwargs)
            else:
                repo = self._gh.get_organization(self.owner).create_repo(self.name, **kwargs)
        self._repo = repo
        return repo

    def _check_admin(self, what: str) -> Repository:
        repo = self.repository(PERMISSION_DEPLOY_KEYS)
        permissions = repo.raw_data.get("permissions")
        if isinstance(permissions, dict) and permissions.get("admin") is False:
            raise GithubPermissionError(
                f"GitHub repository {self.full_name!r}: cannot {what}: the token's account is "
                f"not an admin of the repository; it needs {PERMISSION_DEPLOY_KEYS}",
                repository=self.full_name,
                permission=PERMISSION_DEPLOY_KEYS,
                status=403,
            )
        return repo

    def deploy_keys(self) -> list[RepositoryKey]:
        """The repository's deploy keys."""
        repo = self._check_admin("list deploy keys")
        with self._calling("list deploy keys", PERMISSION_DEPLOY_KEYS):
            return list(repo.get_keys())

    def get_deploy_key(self, key_id: int) -> RepositoryKey | None:
        """The deploy key with this id, or None if it is gone."""
        return self._unless_gone(
            "read the deploy key",
            PERMISSION_DEPLOY_KEYS,
            lambda repo: repo.get_key(key_id).complete(),
        )

    def ensure_deploy_key(self, title: str, public_key: str, read_only: bool) -> DeployKeyResult:
        """Make `public_key` a deploy key titled `title`, never a duplicate.

        The same key already there is adopted (re-created only to change `read_only`, which
        GitHub cannot edit); other keys with our title are deleted first: a rotation.
        """
        keys = self.deploy_keys()
        wanted = _key_material(public_key)
        same = [k for k in keys if _key_material(k.key) == wanted]
        stale = [k for k in keys if k.title == title and _key_material(k.key) != wanted]
        deleted: list[int] = []
        with self._calling("delete an old deploy key", PERMISSION_DEPLOY_KEYS):
            for key in stale:
                key.delete()
                deleted.append(key.id)
        if same and same[0].read_only == read_only:
            return DeployKeyResult(same[0].id, "adopted", tuple(deleted))
        action: Literal["created", "rotated", "updated"] = "rotated" if deleted else "created"
        if same:
            # GitHub rejects a second copy of a key, and cannot edit read_only: replace it.
            with self._calling("replace the deploy key", PERMISSION_DEPLOY_KEYS):
                same[0].delete()
            deleted.append(same[0].id)
            action = "updated"
        with self._calling("register the deploy key", PERMISSION_DEPLOY_KEYS):
            key = self.repository().create_key(title, public_key, read_only=read_only)
        return DeployKeyResult(key.id, action, tuple(deleted))

    def delete_deploy_key(self, key_id: int) -> bool:
        """Delete the deploy key; False if it (or the repository) was already gone."""
        return self._deleted(
            "delete the deploy key", PERMISSION_DEPLOY_KEYS, lambda repo: repo.get_key(key_id)
        )

    def ensure_webhook(
        self,
        url: str,
        secret: str,
        *,
        events: Sequence[str] = ("push",),
        hook_id: int | None = None,
        adopt_prefix: str | None = None,
    ) -> WebhookResult:
        """Make one active JSON webhook deliver `events` to `url`, signed with `secret`.

        Updates hook `hook_id` if it still exists; otherwise adopts a hook whose URL is `url`
        or starts with `adopt_prefix` (ours, from a lost state or an older token); extra
        matches are deleted, so re-runs never add a second hook.
        """
        repo = self.repository(PERMISSION_WEBHOOKS)
        with self._calling("list webhooks", PERMISSION_WEBHOOKS):
            hooks = list(repo.get_hooks())

        def ours(hook: Hook) -> bool:
            target = str(hook.config.get("url", ""))
            return target == url or bool(adopt_prefix and target.startswith(adopt_prefix))

        by_id = [h for h in hooks if hook_id is not None and h.id == hook_id]
        matches = by_id + [h for h in hooks if ours(h) and h not in by_id]
        config = {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"}
        deleted: list[int] = []
        with self._calling("update the webhook", PERMISSION_WEBHOOKS):
            for extra in matches[1:]:
                extra.delete()
                deleted.append(extra.id)
            if matches:
                # GitHub never returns the secret, so always send it: cheap and idempotent.
                hook = matches[0]
                hook.edit("web", config, events=list(events), active=True)
                action: Literal["adopted", "updated"] = "updated" if by_id else "adopted"
                return WebhookResult(hook.id, action, tuple(deleted))
        with self._calling("create the webhook", PERMISSION_WEBHOOKS):
            hook = repo.create_hook("web", config, events=list(events), active=True)
        return WebhookResult(hook.id, "created", tuple(deleted))

    def get_webhook(self, hook_id: int) -> Hook | None:
        """The webhook with this id, or None if it is gone."""
        return self._unless_gone(
            "read the webhook", PERMISSION_WEBHOOKS, lambda repo: repo.get_hook(hook_id).complete()
        )

    def delete_webhook(self, hook_id: int) -> bool:
        """Delete the webhook; False if it (or the repository) was already gone."""
        return self._deleted(
            "delete the webhook", PERMISSION_WEBHOOKS, lambda repo: repo.get_hook(hook_id)
        )

    def _unless_gone(
        self, action: str, permission: str, call: Callable[[Repository], _T]
    ) -> _T | None:
        """`call` on the repository; None when GitHub answers 404: the object, or the
        repository, is gone."""
        from github import GithubException

        with self._calling(action, permission):
            try:
                return call(self._gh.get_repo(self.full_name))
            except GithubException as err:
                if err.status == 404:
                    return None
                raise

    def _deleted(
        self, action: str, permission: str, find: Callable[[Repository], RepositoryKey | Hook]
    ) -> bool:
        """Delete what `find` returns; False when it (or the repository) was already gone."""

        def delete(repo: Repository) -> bool:
            find(repo).delete()
            return True

        return self._unless_gone(action, permission, delete) is not None


# --- dynamic providers ---------------------------------------------------------------------------


def _client(props: Mapping[str, Any], options: ClientOptions | None) -> GithubClient:
    token = props.get("token") or os.environ.get(_ENV_TOKEN, "")
    return GithubClient(
        str(props["owner"]),
        str(props["repository"]),
        str(token),
        str(props.get("base_url") or GITHUB_API_URL),
        options,
    )


def _changed(olds: Mapping[str, Any], news: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    return [k for k in keys if olds.get(k) != news.get(k)]


_KEY_INPUTS = ("owner", "repository", "base_url", "token", "title", "read_only", "algorithm")


class DeployKeyProvider(ResourceProvider):
    """Creates an SSH key pair and registers its public half as a repository deploy key.

    Inputs: owner, repository, base_url, token, title, read_only, algorithm and an optional
    `identity` (an existing private key to register instead of a new one). Outputs add
    key_id, public_key, private_key and fingerprint. The resource id is `owner/repo:title`.
    """

    serialize_as_secret_always = False

    def __init__(self, options: ClientOptions | None = None) -> None:
        super().__init__()
        self.options = options

    def _outs(
        self, props: Mapping[str, Any], pair: SSHKeyPair, result: DeployKeyResult
    ) -> dict[str, Any]:
        outs = {k: props.get(k) for k in _KEY_INPUTS}
        outs.update(
            key_id=result.key_id,
            public_key=pair.public_key,
            private_key=pair.private_key,
            fingerprint=pair.fingerprint,
        )
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        identity = props.get("identity")
        if identity:
            try:
                pair = load_ssh_key(str(identity))
            except ValueError as err:
                raise ConfigError(
                    f"deploy key {props.get('title')!r} for '{props.get('owner')}/"
                    f"{props.get('repository')}': the given identity {err}"
                ) from None
        else:
            pair = generate_ssh_key(props.get("algorithm") or "ed25519")
        with _client(props, self.options) as client:
            result = client.ensure_deploy_key(
                str(props["title"]), pair.public_key, bool(props.get("read_only", True))
            )
        resource_id = f"{props['owner']}/{props['repository']}:{props['title']}"
        return CreateResult(resource_id, self._outs(props, pair, result))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, ("owner", "repository", "base_url", "title"))
        identity = news.get("identity")
        if identity:
            try:
                given = _key_material(load_ssh_key(str(identity)).public_key)
            except ValueError:
                given = None  # unknown during preview, or invalid (create says why)
            if given != _key_material(str(olds.get("public_key", ""))):
                replaces.append("identity")
        elif olds.get("algorithm") != news.get("algorithm"):
            replaces.append("algorithm")
        changes = bool(replaces) or bool(_changed(olds, news, ("read_only", "token")))
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        pair = SSHKeyPair(str(olds["private_key"]), str(olds["public_key"]))
        with _client(news, self.options) as client:
            result = client.ensure_deploy_key(
                str(news["title"]), pair.public_key, bool(news.get("read_only", True))
            )
        return UpdateResult(self._outs(news, pair, result))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with _client(props, self.options) as client:
            key = client.get_deploy_key(int(props["key_id"]))
        if key is None or _key_material(key.key) != _key_material(str(props["public_key"])):
            return ReadResult("", {})
        return ReadResult(id_, {**props, "read_only": key.read_only})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with _client(props, self.options) as client:
            client.delete_deploy_key(int(props["key_id"]))


class DeployKey(Resource, module="github", name="DeployKey"):
    """A repository deploy key with a generated (or given) SSH key pair.

    `private_key` is a secret output; `read_only` is known at program time, so components
    (e.g. image update automation, which pushes) can check it before registering anything.
    """

    key_id: pulumi.Output[int]
    public_key: pulumi.Output[str]
    private_key: pulumi.Output[str]
    fingerprint: pulumi.Output[str]
    read_only: bool
    title: str

    def __init__(
        self,
        name: str,
        *,
        owner: str,
        repository: str,
        token: pulumi.Input[str],
        title: str,
        read_only: bool = True,
        algorithm: KeyAlgorithm = "ed25519",
        base_url: str = GITHUB_API_URL,
        identity: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        options: ClientOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "owner": owner,
            "repository": repository,
            "base_url": base_url,
            "token": pulumi.Output.secret(token),
            "title": title,
            "read_only": read_only,
            "algorithm": algorithm,
            "identity": pulumi.Output.secret(identity) if identity is not None else None,
            "key_id": None,
            "public_key": None,
            "private_key": None,
            "fingerprint": None,
        }
        secret_outs = pulumi.ResourceOptions(
            additional_secret_outputs=["token", "private_key", "identity"]
        )
        super().__init__(
            DeployKeyProvider(options),
            name,
            props,
            pulumi.ResourceOptions.merge(secret_outs, opts),
        )
        # Belt and braces: the engine marks it secret too, but mocks and previews do not.
        self.private_key = pulumi.Output.secret(self.private_key)
        self.read_only = read_only
        self.title = title


class WebhookTokenProvider(ResourceProvider):
    """A random webhook token (`secrets.token_hex`), made once and kept in the Pulumi state."""

    serialize_as_secret_always = False

    def create(self, props: dict[str, Any]) -> CreateResult:
        size = int(props.get("size") or 32)
        # The id is random too: nothing about the token may be derived from it.
        outs = {"size": size, "token": secrets.token_hex(size)}
        return CreateResult(f"webhook-token-{secrets.token_hex(6)}", outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, ("size",))
        return DiffResult(changes=bool(replaces), replaces=replaces)


class WebhookToken(Resource, module="github", name="WebhookToken"):
    """A random token, stable across runs; replace the resource to rotate it."""

    token: pulumi.Output[str]

    def __init__(
        self, name: str, *, size: int = 32, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            WebhookTokenProvider(),
            name,
            {"size": size, "token": None},
            pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions(additional_secret_outputs=["token"]), opts
            ),
        )
        self.token = pulumi.Output.secret(self.token)


_HOOK_INPUTS = ("owner", "repository", "base_url", "token", "url", "secret", "events")


class RepositoryWebhookProvider(ResourceProvider):
    """A repository webhook: JSON payloads of `events` to `url`, signed with `secret`.

    `adopt_prefix` lets a create take over a hook of ours left from a lost state.
    """

    serialize_as_secret_always = False

    def __init__(self, options: ClientOptions | None = None) -> None:
        super().__init__()
        self.options = options

    def _ensure(self, props: Mapping[str, Any], hook_id: int | None) -> dict[str, Any]:
        with _client(props, self.options) as client:
            result = client.ensure_webhook(
                str(props["url"]),
                str(props["secret"]),
                events=list(props.get("events") or ["push"]),
                hook_id=hook_id,
                adopt_prefix=props.get("adopt_prefix") or None,
            )
        outs = {k: props.get(k) for k in (*_HOOK_INPUTS, "adopt_prefix")}
        outs["hook_id"] = result.hook_id
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._ensure(props, None)
        return CreateResult(f"{props['owner']}/{props['repository']}/hooks/{outs['hook_id']}", outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, ("owner", "repository", "base_url"))
        changes = bool(replaces) or bool(_changed(olds, news, _HOOK_INPUTS))
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._ensure(news, int(olds["hook_id"])))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with _client(props, self.options) as client:
            hook = client.get_webhook(int(props["hook_id"]))
        if hook is None:
            return ReadResult("", {})
        return ReadResult(id_, {**props, "url": hook.config.get("url"), "events": hook.events})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with _client(props, self.options) as client:
            client.delete_webhook(int(props["hook_id"]))


class RepositoryWebhook(Resource, module="github", name="RepositoryWebhook"):
    """A repository webhook (push events by default, JSON, HMAC-signed with `secret`)."""

    hook_id: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        *,
        owner: str,
        repository: str,
        token: pulumi.Input[str],
        url: pulumi.Input[str],
        secret: pulumi.Input[str],
        events: Sequence[str] = ("push",),
        base_url: str = GITHUB_API_URL,
        adopt_prefix: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
        options: ClientOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "owner": owner,
            "repository": repository,
            "base_url": base_url,
            "token": pulumi.Output.secret(token),
            "url": url,
            "secret": pulumi.Output.secret(secret),
            "events": list(events),
            "adopt_prefix": adopt_prefix,
            "hook_id": None,
        }
        super().__init__(
            RepositoryWebhookProvider(options),
            name,
            props,
            pulumi.ResourceOptions.merge(
                pulumi.ResourceOptions(additional_secret_outputs=["token", "secret"]), opts
            ),
        )


# --- args, config and components -----------------------------------------------------------------


def _check_api_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(
            "is not an API URL (expected 'https://api.github.com' or, for GitHub Enterprise, "
            "'https://<host>/api/v3')"
        )
    return value.rstrip("/")


def _check_public_url(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("is not a URL (expected e.g. 'https://flux-webhook.example.com')")
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


class _GithubTarget(FluxModel):
    owner: Owner | None = None
    """User or organization; default: from the GitRepository URL."""
    repository: RepoName | None = None
    """Repository name; default: from the GitRepository URL."""
    base_url: ApiUrl | None = None
    """REST API URL; default `https://api.github.com` for github.com, else `https://<host>/api/v3`."""


class GithubDeployKeyArgs(_GithubTarget):
    """Inputs of `GithubDeployKey`."""

    title: Annotated[str, AfterValidator(_check_title)] | None = None
    """Deploy key title, how re-runs find our key; default `flux-<stack>`."""
    read_only: bool = True
    """Read-only key (default). Image update automation pushes, so it needs `false`."""
    algorithm: KeyAlgorithm = "ed25519"
    """Key type: `ed25519` (default) or `ecdsa-p384` (what `flux bootstrap` uses)."""
    known_hosts: str | None = None
    """known_hosts lines of the git host; default: GitHub's keys. Required for Enterprise."""


class GithubReceiverArgs(_GithubTarget):
    """Inputs of `GithubReceiver`."""

    url: Annotated[str, AfterValidator(_check_public_url)]
    """Public base URL of notification-controller's webhook receiver, e.g.
    `https://flux-webhook.example.com`; the hook posts to it + `/hook/<sha256>`."""
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


class GithubConfig(_GithubTarget):
    """`gitops:github` in a stack file: deploy key and instant sync for a GitHub repository.

    Secrets are not here: the token is the secret key `gitops:githubToken` (or `github:token`,
    or `$GITHUB_TOKEN`), an adopted private key the secret key `gitops:githubIdentity`.
    """

    manage_deploy_key: bool = True
    """Register the deploy key and write the source Secret; false when made another way."""
    deploy_key: GithubDeployKeyArgs = GithubDeployKeyArgs()
    """Deploy key settings."""
    receiver: GithubReceiverArgs | None = None
    """The push webhook and Receiver; null (default) for polling only."""

    def deploy_key_args(self) -> GithubDeployKeyArgs | None:
        """`deploy_key` with the top-level owner/repository/baseUrl filled in; None when the
        stack does not manage the key."""
        if not self.manage_deploy_key:
            return None
        return self.deploy_key.model_copy(update={**_set(self), **_set(self.deploy_key)})

    def receiver_args(self) -> GithubReceiverArgs | None:
        """`receiver` with the top-level owner/repository/baseUrl filled in."""
        if self.receiver is None:
            return None
        return self.receiver.model_copy(update={**_set(self), **_set(self.receiver)})


def _set(model: _GithubTarget) -> dict[str, Any]:
    return {k: getattr(model, k) for k in ("owner", "repository", "base_url") if getattr(model, k)}


TOKEN_CONFIG = "githubToken"
"""Secret config key `gitops:githubToken`: the API token."""
IDENTITY_CONFIG = "githubIdentity"
"""Secret config key `gitops:githubIdentity`: an existing deploy key (private) to adopt."""


def github_token() -> pulumi.Output[str]:
    """The API token: secret config `gitops:githubToken`, else `github:token` (the key the
    pulumi-github provider reads), else `$GITHUB_TOKEN`."""
    value = pulumi.Config("gitops").get_secret(TOKEN_CONFIG)
    if value is None:
        value = pulumi.Config("github").get_secret("token")
    if value is not None:
        return value
    env = os.environ.get(_ENV_TOKEN)
    if env:
        return pulumi.Output.secret(env)
    raise ConfigError(
        f"no GitHub token: run `pulumi config set --secret gitops:{TOKEN_CONFIG} <token>` or "
        f"export {_ENV_TOKEN}; deploy keys need {PERMISSION_DEPLOY_KEYS}"
    )


def github_identity() -> pulumi.Output[str] | None:
    """The secret config value `gitops:githubIdentity` (a private key to adopt), if set."""
    return pulumi.Config("gitops").get_secret(IDENTITY_CONFIG)


class _HasRepository(Protocol):
    """A component holding a GitRepository, such as `GitSource` or `GithubDeployKey`."""

    @property
    def repository(self) -> GitRepository | FluxResource[GitRepository]: ...


Source: TypeAlias = GitRepository | FluxResource[GitRepository] | _HasRepository
"""The GitRepository a component is for: the model, its resource, or a `GitSource`."""


def _source(
    source: Source, component: str, name: str
) -> tuple[GitRepository, FluxResource[GitRepository] | None]:
    # Components are matched by shape (a `repository` attribute): importing components here
    # would close an import cycle (config -> github -> components -> layers -> config).
    found: Any = source
    for _ in range(4):
        if isinstance(found, FluxResource):
            model = found.flux_object
            if isinstance(model, GitRepository):
                return model, found
            found = model
            break
        if isinstance(found, GitRepository):
            return found, None
        inner = getattr(found, "repository", None)
        if inner is None or inner is found:
            break
        found = inner
    what = f"{found.kind} {found.name!r}" if isinstance(found, FluxObject) else type(found).__name__
    raise CrossReferenceError(
        f"{component} {name!r}: source must be a GitRepository (the model, its FluxResource or a "
        f"GitSource), got {what}"
    )


def _fail(repo: GitRepository, path: str, value: Any, problem: str) -> NoReturn:
    raise SpecError("GitRepository", repo.name, [FieldIssue(path, value, problem)])


def _fail_args(kind: str, path: str, value: Any, problem: str) -> NoReturn:
    raise SpecError(kind, None, [FieldIssue(path, value, problem)])


def _resolve_target(
    repo: GitRepository, args: _GithubTarget, *, need_ssh: bool
) -> tuple[str, str, str, str]:
    """(host, owner, repository, api URL), checked against the GitRepository's URL."""
    url = repo.spec.url
    try:
        host, owner, name = parse_repository_url(url)
    except ValueError:
        _fail(repo, "spec.url", url, _NOT_A_REPO_URL)
    if need_ssh and not url.startswith("ssh://"):
        _fail(
            repo,
            "spec.url",
            url,
            "is not an ssh:// URL; a deploy key authenticates over SSH: use "
            f"{ssh_url(owner, name, host)!r}",
        )
    kind = type(args).__name__
    for field_name, found in (("owner", owner), ("repository", name)):
        given = getattr(args, field_name)
        if given is not None and given.lower() != found.lower():
            _fail_args(
                kind,
                field_name,
                given,
                f"does not match the GitRepository {repo.name!r} URL {url!r} ({found!r})",
            )
    return host, owner, name, args.base_url or api_url_for_host(host)


class GithubDeployKey(pulumi.ComponentResource):
    """A deploy key on the GitHub repository a GitRepository pulls from, and its source Secret.

    The Secret (named by the repository's `spec.secretRef`) holds `identity`, `identity.pub`
    and `known_hosts`, all as Pulumi secrets. Re-runs keep the key; a lost state adopts or
    rotates the key with our title, never adding a second one. `identity` (default: secret
    config `gitops:githubIdentity`) registers that private key instead of a new one, e.g. the
    key `gitops bootstrap github` wrote; `token` defaults to `github_token()`.
    """

    deploy_key: DeployKey
    secret: k8s.core.v1.Secret
    credentials: dict[str, pulumi.Output[str]]
    deploy_key_read_only: bool
    """Whether the key is read-only; image update automation checks it before pushing."""
    repository: GitRepository | FluxResource[GitRepository]
    """The GitRepository the key is for (its resource when one was given)."""
    github_repository: str
    """`owner/name` on GitHub."""

    def __init__(
        self,
        name: str,
        source: Source,
        args: GithubDeployKeyArgs | None = None,
        *,
        token: pulumi.Input[str] | None = None,
        identity: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        options: ClientOptions | None = None,
    ) -> None:
        args = args or GithubDeployKeyArgs()
        repo, repo_resource = _source(source, "GithubDeployKey", name)
        ref = repo.spec.secret_ref
        if ref is None:
            _fail(repo, "spec.secretRef", MISSING, "is not set; name the Secret for the deploy key")
        host, owner, name_, base_url = _resolve_target(repo, args, need_ssh=True)
        known_hosts = args.known_hosts
        if known_hosts is None:
            if host != "github.com":
                _fail_args(
                    "GithubDeployKeyArgs",
                    "knownHosts",
                    MISSING,
                    f"is required for the GitHub Enterprise host {host!r} "
                    f"(e.g. the output of `ssh-keyscan {host}`, checked against its fingerprints)",
                )
            known_hosts = GITHUB_KNOWN_HOSTS
        api_token = token if token is not None else github_token()
        if identity is None:
            identity = github_identity()
        title = args.title or f"flux-{pulumi.get_stack()}"

        super().__init__("gitops:github:GithubDeployKey", name, None, opts)
        self.repository = repo_resource if isinstance(repo_resource, FluxResource) else repo
        self.github_repository = f"{owner}/{name_}"
        self.deploy_key_read_only = args.read_only
        self.deploy_key = DeployKey(
            f"{name}-key",
            owner=owner,
            repository=name_,
            token=api_token,
            title=title,
            read_only=args.read_only,
            algorithm=args.algorithm,
            base_url=base_url,
            identity=identity,
            opts=pulumi.ResourceOptions(parent=self),
            options=options,
        )
        self.credentials = {
            "identity": pulumi.Output.secret(self.deploy_key.private_key),
            "identity.pub": pulumi.Output.secret(self.deploy_key.public_key),
            "known_hosts": pulumi.Output.secret(known_hosts),
        }
        self.secret = k8s.core.v1.Secret(
            f"{name}-auth",
            metadata={"name": ref.name, "namespace": repo.namespace},
            string_data=self.credentials,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "repository": f"{owner}/{name_}",
                "title": title,
                "readOnly": args.read_only,
                "fingerprint": self.deploy_key.fingerprint,
            }
        )

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.repository.__flux_ref__()


class GithubReceiver(pulumi.ComponentResource):
    """Instant sync: a `github` Receiver for the GitRepository, its token Secret, and the
    repository webhook that calls it on push.

    The token is generated once (a `WebhookToken`) unless `webhook_token` is given; the hook
    posts to `args.url` + the Receiver's webhook path and is updated or removed with it.
    """

    token: pulumi.Output[str]
    secret: k8s.core.v1.Secret
    receiver: FluxResource[Receiver]
    webhook: RepositoryWebhook
    webhook_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        source: Source,
        args: GithubReceiverArgs,
        *,
        token: pulumi.Input[str] | None = None,
        webhook_token: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
        options: ClientOptions | None = None,
    ) -> None:
        repo, repo_resource = _source(source, "GithubReceiver", name)
        _, owner, name_, base_url = _resolve_target(repo, args, need_ssh=False)
        namespace = args.namespace or repo.namespace or "default"
        receiver = Receiver(
            name=args.name,
            namespace=namespace,
            type="github",
            events=list(args.events),
            resources=[repo_resource if repo_resource is not None else repo],
            secret_ref={"name": args.secret_name},
            interval=args.interval,
        )
        api_token = token if token is not None else github_token()

        super().__init__("gitops:github:GithubReceiver", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if webhook_token is None:
            self.token = WebhookToken(f"{name}-token", opts=child).token
        else:
            self.token = pulumi.Output.secret(webhook_token)
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata={"name": args.secret_name, "namespace": namespace},
            string_data={"token": self.token},
            opts=child,
        )
        self.receiver = FluxResource(
            f"{name}-receiver",
            receiver,
            pulumi.ResourceOptions(parent=self, depends_on=[self.secret]),
        )
        base = args.url.rstrip("/")
        # The token is generated by a dynamic resource: None under the mock runtime (offline
        # synth), where no provider runs; then there is no URL to show either.
        self.webhook_url = pulumi.Output.from_input(self.token).apply(
            lambda t: base + webhook_path(t, args.name, namespace) if t else ""
        )
        self.webhook = RepositoryWebhook(
            f"{name}-webhook",
            owner=owner,
            repository=name_,
            token=api_token,
            url=self.webhook_url,
            secret=self.token,
            events=args.events,
            base_url=base_url,
            adopt_prefix=f"{base}/hook/",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.receiver]),
            options=options,
        )
        self.register_outputs(
            {"receiver": f"{namespace}/{args.name}", "repository": f"{owner}/{name_}"}
        )
