"""GitHub components that wire a repository to Flux: `GithubDeployKey` (the deploy key and the
source Secret with `identity`/`identity.pub`/`known_hosts`) and `GithubReceiver` (the push
webhook on GitHub, for a `FluxReceiver` it declares or is given), with their Args and the
`gitops:github` stack-config section. Secrets travel only as Pulumi secrets and never reach a
message.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import pulumi
from pydantic import Field

from gitops_sdk.api.notification import Receiver
from gitops_sdk.api.source import GitRepository
from gitops_sdk.components.github_providers import DeployKey, RepositoryWebhook
from gitops_sdk.components.github_settings import (
    GithubDeployKeySettings,
    GithubReceiverSettings,
    GithubTarget,
)
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.receiver import (
    FluxReceiver,
    FluxReceiverArgs,
    SecretArgs,
    Source,
    resolve_source,
)
from gitops_sdk.components.resource import FluxResource
from gitops_sdk.core.errors import MISSING, ArgumentError, ConfigError, FieldIssue, SpecError
from gitops_sdk.services.github import IDENTITY_CONFIG, TOKEN_CONFIG, TOKEN_ENV, ClientOptions
from gitops_sdk.services.github_errors import PERMISSION_DEPLOY_KEYS
from gitops_sdk.services.github_urls import (
    NOT_A_REPO_URL,
    api_url_for_host,
    parse_repository_url,
    ssh_url,
)
from gitops_sdk.services.ssh_keys import GITHUB_KNOWN_HOSTS

__all__ = [
    "GithubConfig",
    "GithubDeployKey",
    "GithubDeployKeyArgs",
    "GithubReceiver",
    "GithubReceiverArgs",
    "Source",
    "github_identity",
    "github_token",
    "github_token_available",
]


class GithubDeployKeyArgs(GithubDeployKeySettings, SecretArgs):
    """Inputs of `GithubDeployKey`: the GitRepository, the key settings and the secrets."""

    source: Any
    """The GitRepository the key is for (a `Source`: the model, its `FluxResource`, or a
    component holding it); checked when the component is made."""
    token: Any = Field(default=None, repr=False)
    """API token, a secret input; default `github_token()`."""
    identity: Any = Field(default=None, repr=False)
    """A private key to register instead of a new one (e.g. the key `gitops bootstrap github`
    wrote), a secret input; default: secret config `gitops:githubIdentity`, if set."""
    client_options: ClientOptions | None = None
    """How the provider talks to the API; default: the SDK defaults."""


class GithubReceiverArgs(GithubReceiverSettings, SecretArgs):
    """Inputs of `GithubReceiver`: the GitRepository (or a declared `FluxReceiver`), the
    receiver settings and the secrets."""

    source: Any = None
    """The GitRepository to reconcile on push (a `Source`); default: `receiver`'s. Checked
    when the component is made."""
    receiver: Any = None
    """A `FluxReceiver` (type github) to register the webhook for, instead of declaring a
    Receiver here; its name, namespace, Secret, events and token are then the ones used."""
    token: Any = Field(default=None, repr=False)
    """API token, a secret input; default `github_token()`."""
    webhook_token: Any = Field(default=None, repr=False)
    """The token GitHub signs payloads with, a secret input; default: generated once."""
    client_options: ClientOptions | None = None
    """How the provider talks to the API; default: the SDK defaults."""


_RECEIVER_FIELDS = ("name", "namespace", "secret_name", "events", "interval", "webhook_token")
"""What a given `FluxReceiver` decides, so `GithubReceiverArgs` must not set it too."""


class GithubConfig(GithubTarget):
    """`gitops:github` in a stack file: deploy key and instant sync for a GitHub repository.

    Secrets are not here: the token is the secret key `gitops:githubToken` (or `github:token`,
    or `$GITHUB_TOKEN`), an adopted private key the secret key `gitops:githubIdentity`.
    """

    manage_deploy_key: bool = True
    """Register the deploy key and write the source Secret; false when made another way."""
    deploy_key: GithubDeployKeySettings = GithubDeployKeySettings()
    """Deploy key settings."""
    receiver: GithubReceiverSettings | None = None
    """The push webhook and Receiver; null (default) for polling only."""

    def deploy_key_args(self, source: Source) -> GithubDeployKeyArgs | None:
        """The Args for `source`: `deploy_key` with the top-level owner/repository/baseUrl
        filled in; None when the stack does not manage the key."""
        if not self.manage_deploy_key:
            return None
        return GithubDeployKeyArgs(source=source, **_merged(self, self.deploy_key))

    def receiver_args(
        self, source: Source, receiver: FluxReceiver | None = None
    ) -> GithubReceiverArgs | None:
        """The Args for `source`: `receiver` settings with the top-level owner/repository/
        baseUrl filled in; None without them, unless a declared `receiver` (`gitops:receiver`)
        is given for the webhook to call."""
        if self.receiver is None and receiver is None:
            return None
        settings = self.receiver or GithubReceiverSettings()
        return GithubReceiverArgs(source=source, receiver=receiver, **_merged(self, settings))


def _target(model: GithubTarget) -> dict[str, Any]:
    return {k: getattr(model, k) for k in ("owner", "repository", "base_url") if getattr(model, k)}


def _merged(top: GithubTarget, part: GithubTarget) -> dict[str, Any]:
    """The fields given in `part`, with `top`'s target where `part` names none."""
    given = {k: getattr(part, k) for k in part.model_fields_set}
    return {**given, **_target(top), **_target(part)}


def github_token() -> pulumi.Output[str]:
    """The API token: secret config `gitops:githubToken`, else `github:token` (the key the
    pulumi-github provider reads), else `$GITHUB_TOKEN`."""
    value = pulumi.Config("gitops").get_secret(TOKEN_CONFIG)
    if value is None:
        value = pulumi.Config("github").get_secret("token")
    if value is not None:
        return value
    env = os.environ.get(TOKEN_ENV)
    if env:
        return pulumi.Output.secret(env)
    raise ConfigError(
        f"no GitHub token: run `pulumi config set --secret gitops:{TOKEN_CONFIG} <token>` or "
        f"export {TOKEN_ENV}; deploy keys need {PERMISSION_DEPLOY_KEYS}"
    )


def github_token_available() -> bool:
    """Whether `github_token()` finds a token (never reading its value)."""
    return bool(
        pulumi.Config("gitops").get_secret(TOKEN_CONFIG) is not None
        or pulumi.Config("github").get_secret("token") is not None
        or os.environ.get(TOKEN_ENV)
    )


def github_identity() -> pulumi.Output[str] | None:
    """The secret config value `gitops:githubIdentity` (a private key to adopt), if set."""
    return pulumi.Config("gitops").get_secret(IDENTITY_CONFIG)


def _fail(repo: GitRepository, path: str, value: Any, problem: str) -> NoReturn:
    raise SpecError("GitRepository", repo.name, [FieldIssue(path, value, problem)])


def _fail_args(kind: str, path: str, value: Any, problem: str) -> NoReturn:
    raise SpecError(kind, None, [FieldIssue(path, value, problem)])


def _resolve_target(
    repo: GitRepository, args: GithubTarget, *, need_ssh: bool
) -> tuple[str, str, str, str]:
    """(host, owner, repository, api URL), checked against the GitRepository's URL."""
    url = repo.spec.url
    try:
        host, owner, name = parse_repository_url(url)
    except ValueError:
        _fail(repo, "spec.url", url, NOT_A_REPO_URL)
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
    rotates the key with our title, never adding a second one. `args.identity` registers that
    private key instead of a new one.
    """

    deploy_key: DeployKey
    secret: KubeObject
    credentials: dict[str, pulumi.Output[str]]
    deploy_key_read_only: bool
    """Whether the key is read-only; image update automation checks it before pushing."""
    repository: GitRepository | FluxResource[GitRepository]
    """The GitRepository the key is for (its resource when one was given)."""
    github_repository: str
    """`owner/name` on GitHub."""

    def __init__(
        self, name: str, args: GithubDeployKeyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        repo, repo_resource = resolve_source(args.source, "GithubDeployKey", name)
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
        api_token = args.token if args.token is not None else github_token()
        identity = args.identity if args.identity is not None else github_identity()
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
            options=args.client_options,
        )
        self.credentials = {
            "identity": pulumi.Output.secret(self.deploy_key.private_key),
            "identity.pub": pulumi.Output.secret(self.deploy_key.public_key),
            "known_hosts": pulumi.Output.secret(known_hosts),
        }
        self.secret = KubeObject(
            f"{name}-auth",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": ref.name, "namespace": repo.namespace},
                "stringData": self.credentials,
            },
            pulumi.ResourceOptions(parent=self),
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
    """Instant sync: the repository webhook that calls a `github` Receiver on push, and that
    Receiver with its token Secret (a `FluxReceiver`, declared here unless `args.receiver`
    gives one).

    The hook posts to `args.url` (default: the receiver's `url`) + the Receiver's webhook path,
    signed with the Receiver's token, and is updated or removed with it.
    """

    token: pulumi.Output[str]
    secret: KubeObject
    receiver: FluxResource[Receiver]
    flux_receiver: FluxReceiver
    webhook: RepositoryWebhook
    webhook_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: GithubReceiverArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        given = args.receiver
        if given is not None and not isinstance(given, FluxReceiver):
            raise ArgumentError(
                f"GithubReceiver {name!r}: receiver: expected a FluxReceiver, got "
                f"{type(given).__name__}"
            )
        if given is not None:
            if given.type != "github":
                _fail_args("GithubReceiverArgs", "receiver", given.type, "is not type 'github'")
            for field in _RECEIVER_FIELDS:
                if field in args.model_fields_set:
                    alias = GithubReceiverArgs.model_fields[field].alias or field
                    _fail_args(
                        "GithubReceiverArgs",
                        alias,
                        MISSING,
                        "is set, but the given receiver decides it; set it on the FluxReceiver",
                    )
        source = args.source if args.source is not None else given
        if source is None:
            _fail_args("GithubReceiverArgs", "source", MISSING, "required field is missing")
        repo, repo_resource = resolve_source(source, "GithubReceiver", name)
        _, owner, name_, base_url = _resolve_target(repo, args, need_ssh=False)
        url = args.url or (given.url if given is not None else None)
        if url is None:
            _fail_args(
                "GithubReceiverArgs",
                "url",
                MISSING,
                "is not set: give the public URL of notification-controller's webhook receiver "
                "(here or on the FluxReceiver)",
            )
        api_token = args.token if args.token is not None else github_token()

        super().__init__("gitops:github:GithubReceiver", name, None, opts)
        if given is None:
            given = FluxReceiver(
                name,
                FluxReceiverArgs(
                    source=repo_resource if repo_resource is not None else repo,
                    name=args.name,
                    namespace=args.namespace,
                    secret_name=args.secret_name,
                    events=list(args.events),
                    interval=args.interval,
                    webhook_token=args.webhook_token,
                    url=url,
                ),
                pulumi.ResourceOptions(parent=self),
            )
        self.flux_receiver = given
        self.token, self.secret, self.receiver = given.token, given.secret, given.receiver
        self.webhook_url = given.webhook_path.apply(lambda p: url + p if p else "")
        self.webhook = RepositoryWebhook(
            f"{name}-webhook",
            owner=owner,
            repository=name_,
            token=api_token,
            url=self.webhook_url,
            secret=self.token,
            events=given.events or ["push"],
            base_url=base_url,
            adopt_prefix=f"{url}/hook/",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[given.receiver]),
            options=args.client_options,
        )
        self.register_outputs(
            {
                "receiver": f"{given.namespace}/{given.name}",
                "repository": f"{owner}/{name_}",
                "webhookPath": given.webhook_path,
            }
        )
