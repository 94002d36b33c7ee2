"""Flux notifications as Pulumi components: a Provider with the Secret holding its credentials,
and Alerts whose event sources are typed references to the stack's own objects.

```python
slack = NotificationProvider.slack("slack", webhook_url=cfg.require_secret("slackWebhook"))
FluxAlert(
    "on-call",
    provider=slack,
    sources=[layers.kustomizations["apps"], EventSource.all("HelmRelease")],
    severity="error",
)
```

Credentials are only ever Pulumi secrets: they go into a `v1` Secret (keys `address`, `token`,
`username`, `password`, `headers`, as notification-controller reads them), which the Provider
depends on; an Alert depends on its Provider. What each provider type needs is checked before
anything is registered.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self, get_args

import pulumi
import pulumi_kubernetes as k8s
import pydantic
import yaml
from pydantic import AfterValidator

from gitops_sdk.api.notification import (
    Alert,
    CrossNamespaceObjectReference,
    EventSourceKind,
    Provider,
    ProviderType,
)
from gitops_sdk.components.resource import FluxResource, opaque_secret
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError
from gitops_sdk.core.fields import Duration, GoRegex, Name, Namespace
from gitops_sdk.core.refs import flux_identity

__all__ = [
    "AlertConfig",
    "AlertingArgs",
    "EventSource",
    "FluxAlert",
    "FluxNotifications",
    "NotificationProvider",
    "ProviderConfig",
    "secrets_from_config",
]

CredentialKey = Literal["address", "token", "username", "password", "headers"]
"""Keys of a Provider's Secret that notification-controller reads."""

_EVENT_SOURCE_KINDS: tuple[str, ...] = get_args(EventSourceKind)


# --- event sources -------------------------------------------------------------------------------


class EventSource:
    """Typed Alert event sources: one object, or every object of a kind."""

    @staticmethod
    def of(obj: Any) -> CrossNamespaceObjectReference:
        """A Flux model, a `FluxResource` or a component wrapping one (e.g. `GitSource`)."""
        return CrossNamespaceObjectReference.model_validate(obj)

    @staticmethod
    def all(
        kind: str,
        *,
        namespace: str | None = None,
        match_labels: Mapping[str, str] | None = None,
    ) -> CrossNamespaceObjectReference:
        """Every object of `kind` (name `*`) in `namespace` (default: the Alert's), optionally
        only those with `match_labels`."""
        if kind not in _EVENT_SOURCE_KINDS:
            close = difflib.get_close_matches(kind, _EVENT_SOURCE_KINDS, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else "expected one of " + ", ".join(_EVENT_SOURCE_KINDS)
            )
            raise SpecError(
                "Alert",
                None,
                [
                    FieldIssue(
                        "spec.eventSources[].kind", kind, f"is not a kind Flux alerts on; {hint}"
                    )
                ],
            )
        return CrossNamespaceObjectReference(
            kind=kind,
            name="*",
            namespace=namespace,
            match_labels=dict(match_labels) if match_labels is not None else None,
        )


# --- provider ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Needs:
    """What a provider type needs: keys (`address` may also be `spec.address`) and `channel`."""

    keys: tuple[CredentialKey, ...] = ()
    channel: bool = False
    address_is_secret: bool = False
    """The address is itself a credential (a webhook URL): it must not be in `spec.address`."""
    what: Mapping[str, str] | None = None
    """What each key holds, for error messages."""


_WEBHOOK = {"address": "the incoming webhook URL"}
_GIT = {"address": "the repository URL", "token": "an access token with commit status rights"}
_PROVIDER_NEEDS: dict[str, _Needs] = {
    "slack": _Needs(("address",), what={"address": "the webhook URL (or the API URL with token)"}),
    "discord": _Needs(("address",), address_is_secret=True, what=_WEBHOOK),
    "msteams": _Needs(("address",), address_is_secret=True, what=_WEBHOOK),
    "googlechat": _Needs(("address",), address_is_secret=True, what=_WEBHOOK),
    "rocket": _Needs(("address",), address_is_secret=True, what=_WEBHOOK),
    "generic": _Needs(("address",), what={"address": "the URL events are POSTed to"}),
    "generic-hmac": _Needs(
        ("address", "token"),
        what={"address": "the URL events are POSTed to", "token": "the HMAC key"},
    ),
    **{
        t: _Needs(("address", "token"), what=_GIT)
        for t in (
            "github",
            "gitlab",
            "gitea",
            "bitbucket",
            "bitbucketserver",
            "azuredevops",
            "githubdispatch",
            "githubpullrequestcomment",
            "gitlabmergerequestcomment",
            "giteapullrequestcomment",
        )
    },
    "alertmanager": _Needs(
        ("address",), what={"address": "the Alertmanager API URL (.../api/v2/alerts)"}
    ),
    "telegram": _Needs(("token",), channel=True, what={"token": "the bot token"}),
    "matrix": _Needs(
        ("address", "token"),
        channel=True,
        what={"address": "the homeserver URL", "token": "the access token"},
    ),
    "opsgenie": _Needs(("address", "token"), what={"token": "the API key"}),
    "pagerduty": _Needs(channel=True),
    "webex": _Needs(("address", "token"), channel=True, what={"token": "the bot token"}),
}


def _provider_issues(
    provider: Provider, given: set[str], external_secret: bool
) -> list[FieldIssue]:
    spec = provider.spec
    needs = _PROVIDER_NEEDS.get(spec.type, _Needs())
    issues: list[FieldIssue] = []
    token = "token" in given or external_secret
    # Slack with a bot token posts to the API URL and needs a channel; without, the address is
    # the webhook URL, a credential.
    address_is_secret = needs.address_is_secret or (spec.type == "slack" and not token)
    if address_is_secret and spec.address is not None:
        issues.append(
            FieldIssue(
                "spec.address",
                "<redacted>",
                f"a {spec.type} webhook URL is a credential: pass it as `address` (stored in the "
                "Secret), not in spec.address",
            )
        )
    if external_secret:
        return issues  # the keys are in a Secret made elsewhere; only spec rules apply
    what = needs.what or {}
    for key in needs.keys:
        if key in given or (key == "address" and spec.address is not None):
            continue
        role = f": {what[key]}" if key in what else ""
        issues.append(
            FieldIssue(key, MISSING, f"is required for provider type {spec.type!r}{role}")
        )
    if (needs.channel or (spec.type == "slack" and "token" in given)) and spec.channel is None:
        issues.append(
            FieldIssue("spec.channel", MISSING, f"is required for provider type {spec.type!r}")
        )
    return issues


class NotificationProvider(pulumi.ComponentResource):
    """A Flux Provider and, when credentials are given, the Secret it reads them from.

    Credentials (`address`, `token`, `username`, `password`, `headers`) are stored as Pulumi
    secrets in the Secret named by the Provider's `spec.secretRef`; the Provider depends on it.
    """

    provider: FluxResource[Provider]
    secret: k8s.core.v1.Secret | None

    def __init__(
        self,
        name: str,
        provider: Provider,
        *,
        address: pulumi.Input[str] | None = None,
        token: pulumi.Input[str] | None = None,
        username: pulumi.Input[str] | None = None,
        password: pulumi.Input[str] | None = None,
        headers: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        given: dict[str, pulumi.Input[str]] = {
            k: v
            for k, v in (
                ("address", address),
                ("token", token),
                ("username", username),
                ("password", password),
            )
            if v is not None
        }
        if headers:
            given["headers"] = yaml.safe_dump(dict(headers), sort_keys=True)
        ref = provider.spec.secret_ref
        issues = _provider_issues(provider, set(given), external_secret=bool(ref and not given))
        if given and ref is None:
            issues.append(
                FieldIssue(
                    "spec.secretRef",
                    MISSING,
                    "is not set but credentials were given; name the Secret there",
                )
            )
        if issues:
            raise SpecError("Provider", provider.name, issues)
        super().__init__("gitops:alerting:NotificationProvider", name, None, opts)
        self.secret = None
        deps: list[pulumi.Resource] = []
        if given and ref is not None:
            self.secret = opaque_secret(
                f"{name}-secret",
                ref.name,
                provider.namespace,
                given,
                pulumi.ResourceOptions(parent=self),
            )
            deps.append(self.secret)
        self.provider = FluxResource(
            f"{name}-provider", provider, pulumi.ResourceOptions(parent=self, depends_on=deps)
        )
        self.register_outputs({"name": provider.name, "type": provider.spec.type})

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.provider.__flux_ref__()

    @property
    def model(self) -> Provider:
        """The validated Provider."""
        return self.provider.flux_object

    # -- one factory per common provider type --

    @classmethod
    def _build(
        cls,
        name: str,
        provider_type: ProviderType,
        *,
        namespace: str,
        provider_name: str | None,
        with_secret: bool,
        opts: pulumi.ResourceOptions | None,
        credentials: Mapping[str, Any],
        **spec: Any,
    ) -> NotificationProvider:
        object_name = provider_name or name
        model = Provider(
            name=object_name,
            namespace=namespace,
            type=provider_type,
            secret_ref={"name": f"{object_name}-credentials"} if with_secret else None,
            **spec,
        )
        return cls(name, model, opts=opts, **credentials)

    @classmethod
    def slack(
        cls,
        name: str,
        *,
        webhook_url: pulumi.Input[str] | None = None,
        token: pulumi.Input[str] | None = None,
        channel: str | None = None,
        username: str | None = None,
        namespace: str = "flux-system",
        provider_name: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> NotificationProvider:
        """Slack through an incoming webhook (`webhook_url`), or as a bot (`token` + `channel`,
        posting to the chat.postMessage API)."""
        spec: dict[str, Any] = {"channel": channel, "username": username}
        if token is not None and webhook_url is None:
            spec["address"] = "https://slack.com/api/chat.postMessage"
        return cls._build(
            name,
            "slack",
            namespace=namespace,
            provider_name=provider_name,
            with_secret=True,
            opts=opts,
            credentials={"address": webhook_url, "token": token},
            **spec,
        )

    @classmethod
    def discord(
        cls,
        name: str,
        *,
        webhook_url: pulumi.Input[str],
        username: str | None = None,
        namespace: str = "flux-system",
        provider_name: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> NotificationProvider:
        """Discord through a channel webhook."""
        return cls._build(
            name,
            "discord",
            namespace=namespace,
            provider_name=provider_name,
            with_secret=True,
            opts=opts,
            credentials={"address": webhook_url},
            username=username,
        )

    @classmethod
    def msteams(
        cls,
        name: str,
        *,
        webhook_url: pulumi.Input[str],
        namespace: str = "flux-system",
        provider_name: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> NotificationProvider:
        """Microsoft Teams through an incoming webhook (Workflows)."""
        return cls._build(
            name,
            "msteams",
            namespace=namespace,
            provider_name=provider_name,
            with_secret=True,
            opts=opts,
            credentials={"address": webhook_url},
        )

    @classmethod
    def webhook(
        cls,
        name: str,
        *,
        url: pulumi.Input[str],
        hmac_key: pulumi.Input[str] | None = None,
        headers: Mapping[str, str] | None = None,
        namespace: str = "flux-system",
        provider_name: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> NotificationProvider:
        """A generic webhook (type `generic`), signed with `hmac_key` (type `generic-hmac`)."""
        return cls._build(
            name,
            "generic-hmac" if hmac_key is not None else "generic",
            namespace=namespace,
            provider_name=provider_name,
            with_secret=True,
            opts=opts,
            credentials={"address": url, "token": hmac_key, "headers": headers},
        )

    @classmethod
    def github(
        cls,
        name: str,
        *,
        repository: str,
        token: pulumi.Input[str],
        commit_status_expr: str | None = None,
        namespace: str = "flux-system",
        provider_name: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> NotificationProvider:
        """GitHub commit statuses on `repository` (its https URL) with a token."""
        return cls._build(
            name,
            "github",
            namespace=namespace,
            provider_name=provider_name,
            with_secret=True,
            opts=opts,
            credentials={"token": token},
            address=repository,
            commit_status_expr=commit_status_expr,
        )

    @classmethod
    def alertmanager(
        cls,
        name: str,
        *,
        url: str,
        token: pulumi.Input[str] | None = None,
        namespace: str = "flux-system",
        provider_name: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> NotificationProvider:
        """Prometheus Alertmanager at `url` (e.g.
        `http://alertmanager-operated.monitoring:9093/api/v2/alerts/`), optionally with a
        bearer `token`."""
        return cls._build(
            name,
            "alertmanager",
            namespace=namespace,
            provider_name=provider_name,
            with_secret=token is not None,
            opts=opts,
            credentials={"token": token},
            address=url,
        )


# --- alert ---------------------------------------------------------------------------------------


class FluxAlert(pulumi.ComponentResource):
    """A Flux Alert sending the events of `sources` to `provider`; it depends on the Provider
    (and its Secret) and on every source that is a Pulumi resource."""

    alert: FluxResource[Alert]

    def __init__(
        self,
        name: str,
        *,
        provider: Any,
        sources: Sequence[Any],
        severity: Literal["info", "error"] | None = None,
        inclusions: Sequence[str] | None = None,
        exclusions: Sequence[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        namespace: str | None = None,
        alert_name: str | None = None,
        suspend: bool | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        ident = flux_identity(provider)
        if ident is None or ident[0] != "Provider":
            shown = ident[0] if ident else type(provider).__name__
            raise SpecError(
                "Alert",
                alert_name or name,
                [
                    FieldIssue(
                        "spec.providerRef",
                        shown,
                        "expected a Provider (a NotificationProvider, a Provider model or its "
                        "FluxResource)",
                    )
                ],
            )
        model = Alert(
            name=alert_name or name,
            namespace=namespace or ident[2],
            provider_ref=provider,
            event_sources=list(sources),
            event_severity=severity,
            inclusion_list=list(inclusions) if inclusions is not None else None,
            exclusion_list=list(exclusions) if exclusions is not None else None,
            event_metadata=dict(metadata) if metadata is not None else None,
            suspend=suspend,
        )
        super().__init__("gitops:alerting:FluxAlert", name, None, opts)
        # providerRef / eventSources built from Pulumi resources become depends_on edges.
        self.alert = FluxResource(f"{name}-alert", model, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"name": model.name, "provider": ident[1]})

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.alert.__flux_ref__()


# --- from stack config (`gitops:alerts`) ---------------------------------------------------------


class _Config(FluxModel):
    """Base of the `gitops:alerts` schema: camelCase keys, unknown keys rejected."""


def _check_source(value: str) -> str:
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(
            "expected 'Kind/name', 'Kind/namespace/name' or 'Kind/*' (e.g. 'Kustomization/*', "
            "'GitRepository/flux-system')"
        )
    if parts[0] not in _EVENT_SOURCE_KINDS:
        close = difflib.get_close_matches(parts[0], _EVENT_SOURCE_KINDS, n=1)
        hint = (
            f"did you mean {close[0]!r}?" if close else "expected " + ", ".join(_EVENT_SOURCE_KINDS)
        )
        raise ValueError(f"{parts[0]!r} is not a kind Flux alerts on; {hint}")
    return value


_CONFIG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class ProviderConfig(_Config):
    """One Provider of `gitops:alerts.providers`; secrets are named, never written here."""

    type: ProviderType
    """Provider type, e.g. `slack`, `discord`, `msteams`, `generic`, `github`, `alertmanager`."""
    address: str | None = None
    """A public address (repository URL, Alertmanager URL); webhook URLs go in `addressSecret`."""
    address_secret: str | None = None
    """Pulumi config key (secret) holding the address, e.g. `slackWebhook`."""
    token_secret: str | None = None
    """Pulumi config key (secret) holding the token."""
    channel: str | None = None
    username: str | None = None
    timeout: Duration | None = None

    @pydantic.model_validator(mode="after")
    def _secrets_are_named(self) -> Self:
        for field, value in (
            ("addressSecret", self.address_secret),
            ("tokenSecret", self.token_secret),
        ):
            if value is not None and not _CONFIG_KEY.fullmatch(value):
                # Never echo it: a webhook URL or token put here by mistake is the secret itself.
                raise Invalid(
                    field,
                    MISSING,
                    "must name the Pulumi config key holding the secret (e.g. 'slackWebhook'), "
                    "not the secret itself (value not shown)",
                )
        return self

    def secret_keys(self) -> dict[str, str]:
        """Credential key -> Pulumi config key."""
        keys = {"address": self.address_secret, "token": self.token_secret}
        return {k: v for k, v in keys.items() if v}


class AlertConfig(_Config):
    """One Alert of `gitops:alerts.alerts`."""

    name: Name
    provider: str
    """Key of a provider in `providers`."""
    sources: Annotated[
        list[Annotated[str, AfterValidator(_check_source)]], pydantic.Field(min_length=1)
    ]
    """`Kind/*`, `Kind/name` or `Kind/namespace/name`."""
    severity: Literal["info", "error"] | None = None
    inclusions: list[GoRegex] | None = None
    exclusions: list[GoRegex] | None = None
    metadata: dict[str, str] | None = None


class AlertingArgs(_Config):
    """Everything under `gitops:alerts`."""

    namespace: Namespace = "flux-system"
    """Namespace of the Providers, Alerts and Secrets."""
    providers: dict[Name, ProviderConfig] = {}
    alerts: list[AlertConfig] = []

    @pydantic.model_validator(mode="after")
    def _providers_exist(self) -> AlertingArgs:
        for i, alert in enumerate(self.alerts):
            if alert.provider not in self.providers:
                raise Invalid(
                    f"alerts[{i}].provider",
                    alert.provider,
                    "is not a key of providers (known: "
                    + (", ".join(sorted(self.providers)) or "none")
                    + ")",
                )
        return self

    @pydantic.model_validator(mode="after")
    def _providers_complete(self) -> AlertingArgs:
        # The rules NotificationProvider applies, checked when the config is read: before the
        # stack registers anything, and named by config key.
        for key, cfg in self.providers.items():
            given = set(cfg.secret_keys())
            model = Provider(
                name=key,
                namespace=self.namespace,
                type=cfg.type,
                address=cfg.address,
                channel=cfg.channel,
                username=cfg.username,
                timeout=cfg.timeout,
                secret_ref={"name": f"{key}-credentials"} if given else None,
            )
            for issue in _provider_issues(model, given, external_secret=False):
                field = issue.path.removeprefix("spec.")
                field = {"token": "tokenSecret"}.get(field, field)
                if field == "address" and issue.value is MISSING:
                    issue.problem += " (set address, or addressSecret naming a secret config key)"
                raise Invalid(f"providers.{key}.{field}", issue.value, issue.problem)
        return self

    def secret_keys(self) -> list[str]:
        """Every Pulumi config key the providers read secrets from."""
        return sorted({k for p in self.providers.values() for k in p.secret_keys().values()})


def secrets_from_config(
    args: AlertingArgs, namespace: str = "gitops"
) -> dict[str, pulumi.Output[str]]:
    """Read the secrets `args` names from the stack config (`pulumi config set --secret`)."""
    config = pulumi.Config(namespace)
    return {key: config.require_secret(key) for key in args.secret_keys()}


class FluxNotifications(pulumi.ComponentResource):
    """The Providers and Alerts of `gitops:alerts`; `secrets` maps the config keys the providers
    name (e.g. `slackWebhook`) to values (see `secrets_from_config`). `resolve` maps
    (kind, namespace, name) of the stack's own objects to their resources, so an Alert on
    `Kustomization/apps` depends on that Kustomization."""

    providers: dict[str, NotificationProvider]
    alerts: dict[str, FluxAlert]

    def __init__(
        self,
        name: str,
        args: AlertingArgs,
        *,
        secrets: Mapping[str, pulumi.Input[str]],
        resolve: Mapping[tuple[str, str, str], Any] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        missing = [k for k in args.secret_keys() if k not in secrets]
        if missing:
            raise SpecError(
                "gitops:alerts",
                None,
                [FieldIssue("secrets", missing, "are named by providers but were not given")],
            )
        super().__init__("gitops:alerting:FluxNotifications", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.providers = {}
        for key, cfg in args.providers.items():
            creds = {k: secrets[v] for k, v in cfg.secret_keys().items()}
            model = Provider(
                name=key,
                namespace=args.namespace,
                type=cfg.type,
                address=cfg.address,
                channel=cfg.channel,
                username=cfg.username,
                timeout=cfg.timeout,
                secret_ref={"name": f"{key}-credentials"} if creds else None,
            )
            self.providers[key] = NotificationProvider(
                f"{name}-{key}",
                model,
                address=creds.get("address"),
                token=creds.get("token"),
                opts=child,
            )
        self.alerts = {}
        known = resolve or {}
        for alert in args.alerts:
            sources: list[Any] = []
            for text in alert.sources:
                kind, *rest = text.split("/")
                ns, obj = (rest[0], rest[1]) if len(rest) == 2 else (None, rest[0])
                target = known.get((kind, ns or args.namespace, obj))
                if obj == "*":
                    sources.append(EventSource.all(kind, namespace=ns))
                elif target is not None:
                    sources.append(target)
                else:
                    sources.append({"kind": kind, "name": obj, "namespace": ns})
            self.alerts[alert.name] = FluxAlert(
                f"{name}-{alert.name}",
                provider=self.providers[alert.provider],
                sources=sources,
                severity=alert.severity,
                inclusions=alert.inclusions,
                exclusions=alert.exclusions,
                metadata=alert.metadata,
                namespace=args.namespace,
                alert_name=alert.name,
                opts=child,
            )
        self.register_outputs({"providers": sorted(self.providers), "alerts": sorted(self.alerts)})
