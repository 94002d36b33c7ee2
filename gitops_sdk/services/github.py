"""The GitHub REST API client for one repository (PyGithub): idempotent deploy keys and webhooks,
repository creation, with retries, rate-limit waits and pacing, and every failure raised as a
`GithubError` naming the repository and the permission the token needs.

PyGithub (and requests under it) is imported where a client is made or a call fails: most
programs never make one, and importing it doubles what `import gitops_sdk` costs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.github_errors import (
    PERMISSION_CREATE_REPOSITORY,
    PERMISSION_DEPLOY_KEYS,
    PERMISSION_READ,
    PERMISSION_WEBHOOKS,
    GithubError,
    GithubNotFoundError,
    GithubPermissionError,
    translate_error,
)
from gitops_sdk.services.github_urls import GITHUB_API_URL
from gitops_sdk.services.ssh_keys import key_material

if TYPE_CHECKING:
    from github.Hook import Hook
    from github.Repository import Repository
    from github.RepositoryKey import RepositoryKey

__all__ = [
    "DEFAULT_CLIENT_OPTIONS",
    "IDENTITY_CONFIG",
    "TOKEN_CONFIG",
    "TOKEN_ENV",
    "ClientOptions",
    "DeployKeyResult",
    "GithubClient",
    "WebhookResult",
]

TOKEN_CONFIG = "githubToken"
"""Secret config key `gitops:githubToken`: the API token."""
IDENTITY_CONFIG = "githubIdentity"
"""Secret config key `gitops:githubIdentity`: an existing deploy key (private) to adopt."""
TOKEN_ENV = "GITHUB_TOKEN"
"""The environment variable read for the API token when the stack config has none."""

_T = TypeVar("_T")


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
                f"`pulumi config set --secret gitops:{TOKEN_CONFIG} ...` or export {TOKEN_ENV}"
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
        wanted = key_material(public_key)
        same = [k for k in keys if key_material(k.key) == wanted]
        stale = [k for k in keys if k.title == title and key_material(k.key) != wanted]
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
