"""Pulumi dynamic resources for GitHub: a deploy key with its SSH key pair, a random webhook
token, and a repository webhook. Each gives `GithubClient` calls a lifecycle: created on `up`,
updated in place when they can be, removed on `destroy`. Tokens and keys are secret outputs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.github import TOKEN_ENV, ClientOptions, DeployKeyResult, GithubClient
from gitops_sdk.services.github_urls import GITHUB_API_URL
from gitops_sdk.services.ssh_keys import (
    KeyAlgorithm,
    SSHKeyPair,
    generate_ssh_key,
    key_material,
    load_ssh_key,
)

__all__ = [
    "DeployKey",
    "DeployKeyProvider",
    "RepositoryWebhook",
    "RepositoryWebhookProvider",
    "WebhookToken",
    "WebhookTokenProvider",
]


def _client(props: Mapping[str, Any], options: ClientOptions | None) -> GithubClient:
    token = props.get("token") or os.environ.get(TOKEN_ENV, "")
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
                given = key_material(load_ssh_key(str(identity)).public_key)
            except ValueError:
                given = None  # unknown during preview, or invalid (create says why)
            if given != key_material(str(olds.get("public_key", ""))):
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
        if key is None or key_material(key.key) != key_material(str(props["public_key"])):
            return ReadResult("", {})
        return ReadResult(id_, {**props, "read_only": key.read_only})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        with _client(props, self.options) as client:
            client.delete_deploy_key(int(props["key_id"]))


def _target(owner: str, repository: str, base_url: str, token: Any) -> dict[str, Any]:
    """The properties every GitHub resource here carries: where it lives, and the token."""
    return {
        "owner": owner,
        "repository": repository,
        "base_url": base_url,
        "token": pulumi.Output.secret(token),
    }


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
            **_target(owner, repository, base_url, token),
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
            **_target(owner, repository, base_url, token),
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
