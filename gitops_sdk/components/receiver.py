"""Instant sync without a Git host's API: `FluxReceiver` declares a Flux `Receiver` for the
cluster's GitRepository and the Secret holding its token, generated once and kept in the Pulumi
state as a secret. Registering the webhook on GitHub is `GithubReceiver`'s job, on top of this.

`ReceiverSettings` is the `gitops:receiver` stack-config section. `resolve_source` and
`SecretArgs` are shared with the GitHub components.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Protocol, TypeAlias

import pulumi
from pydantic import AfterValidator, Field, model_validator

from gitops_sdk.api.notification import Receiver
from gitops_sdk.api.source import GitRepository
from gitops_sdk.components.base import ComponentArgs, expect_depends_on
from gitops_sdk.components.github_providers import WebhookToken
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.resource import FluxResource
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import MISSING, CrossReferenceError
from gitops_sdk.core.fields import Duration, Name, Namespace, check_url
from gitops_sdk.core.model import FluxObject
from gitops_sdk.services.github_urls import webhook_path

__all__ = [
    "DEFAULT_EVENTS",
    "FluxReceiver",
    "FluxReceiverArgs",
    "ReceiverSettings",
    "SecretArgs",
    "Source",
    "TokenReceiverType",
    "check_public_url",
    "resolve_source",
]


class _HasRepository(Protocol):
    """A component holding a GitRepository, such as `GitSource` or `GithubDeployKey`."""

    @property
    def repository(self) -> GitRepository | FluxResource[GitRepository]: ...


Source: TypeAlias = GitRepository | FluxResource[GitRepository] | _HasRepository
"""The GitRepository a component is for: the model, its resource, or a `GitSource`."""

TokenReceiverType = Literal["github", "gitlab", "bitbucket", "generic-hmac"]
"""Receiver types authenticated by the Secret's `token` alone (an HMAC signature or header)."""

DEFAULT_EVENTS: dict[str, list[str] | None] = {
    "github": ["push"],
    "gitlab": ["Push Hook"],
    "bitbucket": ["repo:push"],
    "generic-hmac": None,
}
"""What each type reacts to unless `events` says otherwise (None: every request)."""


def check_public_url(value: str) -> str:
    """A public base URL such as `https://flux-webhook.example.com` (no trailing slash)."""
    check_url(value, ("http", "https"), "the receiver URL is public: it carries no credentials")
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("is not a URL (expected e.g. 'https://flux-webhook.example.com')")
    return value.rstrip("/")


class SecretArgs(ComponentArgs):
    """Args holding secrets: an unknown key is refused without its value, since a misspelt
    secret field (`webhookToken` on a deploy key) would otherwise put the secret in the error."""

    @model_validator(mode="before")
    @classmethod
    def _unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = {n for name, info in cls.model_fields.items() for n in (name, info.alias)}
            for key in data:
                if key not in known:
                    raise Invalid(str(key), MISSING, "unknown field")
        return data


class ReceiverSettings(FluxModel):
    """The Receiver and its token Secret (`gitops:receiver` in a stack file); no secrets here:
    the token is generated, or given to `FluxReceiverArgs.webhook_token`."""

    name: Name = "github-receiver"
    """Name of the Receiver."""
    namespace: Namespace | None = None
    """Namespace of the Receiver and its Secret; default: the GitRepository's."""
    secret_name: Name = "github-webhook-token"
    """Name of the Secret with key `token`."""
    type: TokenReceiverType = "github"
    """Who calls it: `github` (default; HMAC-signed), `gitlab`, `bitbucket`, `generic-hmac`."""
    events: list[str] | None = None
    """Events that trigger a reconcile; default: pushes (`push` for GitHub)."""
    interval: Duration | None = None
    """How often the Receiver is reconciled; Flux default `10m`."""
    url: Annotated[str, AfterValidator(check_public_url)] | None = None
    """Public base URL of notification-controller's webhook receiver, if it has one; the hook
    is this + `/hook/<sha256>` (a stack output, and where a GitHub webhook posts)."""

    def effective_events(self) -> list[str] | None:
        """`events`, else the type's default."""
        return list(self.events) if self.events is not None else DEFAULT_EVENTS[self.type]

    def receiver_args(self, source: Source, **extra: Any) -> FluxReceiverArgs:
        """`FluxReceiverArgs` for `source` with these settings (and `extra` Args fields)."""
        given = {k: getattr(self, k) for k in self.model_fields_set}
        return FluxReceiverArgs(source=source, **given, **extra)


class FluxReceiverArgs(ReceiverSettings, SecretArgs):
    """Inputs of `FluxReceiver`: the settings, the GitRepository, and an optional token."""

    source: Any
    """The GitRepository to reconcile on a call (a `Source`); checked when the component is made."""
    webhook_token: Any = Field(default=None, repr=False)
    """The token callers sign (or send) with, a secret input; default: generated once."""
    depends_on: list[pulumi.Resource] = []
    """Applied to the children, e.g. the Flux install's CRDs and controllers."""
    wait: bool | None = None
    """Make `pulumi up` wait for the Receiver to be Ready (None: the provider's default)."""

    @model_validator(mode="before")
    @classmethod
    def _argument_types(cls, data: Any) -> Any:
        if isinstance(data, dict):
            expect_depends_on(data, "FluxReceiverArgs")
            token = data.get("webhook_token", data.get("webhookToken"))
            if isinstance(token, str) and not token.strip():
                # Anyone could sign with an empty key.
                raise Invalid("webhookToken", MISSING, "is empty; give a token or leave it unset")
        return data


def resolve_source(
    source: Any, component: str, name: str
) -> tuple[GitRepository, FluxResource[GitRepository] | None]:
    """The GitRepository model of `source`, and its resource when one was given."""
    # Components are matched by shape (a `repository` attribute): any component holding a
    # GitRepository works, and this module imports none of them.
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


class FluxReceiver(pulumi.ComponentResource):
    """A Flux `Receiver` for a GitRepository and the Secret with its token.

    The token is a `WebhookToken` (random, made once, a secret in the state; replace that
    resource to rotate it) unless `args.webhook_token` is given. `webhook_path` is where
    notification-controller serves the Receiver, `/hook/<sha256(token+name+namespace)>`: a
    digest, so it is a plain output (it names the endpoint, and callers still need the token).
    """

    token: pulumi.Output[str]
    secret: KubeObject
    receiver: FluxResource[Receiver]
    webhook_path: pulumi.Output[str | None]
    webhook_url: pulumi.Output[str | None] | None
    """`url` + `webhook_path`, when the settings name a public URL."""
    url: str | None
    name: str
    namespace: str
    type: str
    events: list[str] | None
    repository: GitRepository | FluxResource[GitRepository]
    """The GitRepository it reconciles (its resource when one was given)."""

    def __init__(
        self, name: str, args: FluxReceiverArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        repo, repo_resource = resolve_source(args.source, "FluxReceiver", name)
        namespace = args.namespace or repo.namespace or "default"
        events = args.effective_events()
        model = Receiver(
            name=args.name,
            namespace=namespace,
            type=args.type,
            events=events,
            resources=[repo_resource if repo_resource is not None else repo],
            secret_ref={"name": args.secret_name},
            interval=args.interval,
        )
        super().__init__("gitops:notification:FluxReceiver", name, None, opts)
        self.name, self.namespace, self.events, self.url = args.name, namespace, events, args.url
        self.type = args.type
        self.repository = repo_resource if repo_resource is not None else repo
        # Children answer to the names they had directly under our parent too: a Receiver that
        # `GithubReceiver` used to declare itself keeps its token (and Secret) in this one.
        parent = opts.parent if opts is not None else None
        aliases: list[pulumi.Input[str] | pulumi.Alias] = (
            [pulumi.Alias(parent=parent)] if parent is not None else []
        )
        child = pulumi.ResourceOptions(
            parent=self, depends_on=list(args.depends_on), aliases=aliases
        )
        if args.webhook_token is None:
            self.token = WebhookToken(f"{name}-token", opts=child).token
        else:
            self.token = pulumi.Output.secret(args.webhook_token)
        # The token is None only under the mock runtime (offline synth runs no provider); the
        # key is listed there all the same.
        data: pulumi.Output[Any] = self.token.apply(lambda t: {"token": t if t is not None else ""})
        self.secret = KubeObject(
            f"{name}-secret",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": args.secret_name, "namespace": namespace},
                "stringData": data,
            },
            child,
        )
        self.receiver = FluxResource(
            f"{name}-receiver",
            model,
            pulumi.ResourceOptions(
                parent=self, depends_on=[*args.depends_on, self.secret], aliases=aliases
            ),
            wait=args.wait,
        )
        # A generated token is unknown under the mock runtime (offline synth runs no
        # provider): no path then.
        path = pulumi.Output.from_input(self.token).apply(
            lambda t: webhook_path(t, args.name, namespace) if t else None
        )
        self.webhook_path = pulumi.Output.unsecret(path)
        base = args.url
        self.webhook_url = (
            self.webhook_path.apply(lambda p: base + p if p else None) if base else None
        )
        self.register_outputs(
            {"receiver": f"{namespace}/{args.name}", "webhookPath": self.webhook_path}
        )

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.receiver.__flux_ref__()
