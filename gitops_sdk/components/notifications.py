"""The `gitops:alerts` stack config and the component that turns it into Providers and Alerts."""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal, Self, get_args

import pulumi
import pydantic
from pydantic import AfterValidator

from gitops_sdk.api.notification import (
    EventSourceKind,
    Provider,
    ProviderType,
)
from gitops_sdk.components.alerting import EventSource, FluxAlert, FluxAlertArgs
from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.notification_provider import (
    NotificationProvider,
    NotificationProviderArgs,
)
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError
from gitops_sdk.core.fields import Duration, GoRegex, Name, Namespace, check_address
from gitops_sdk.services.provider_needs import provider_issues

__all__ = [
    "AlertConfig",
    "AlertingArgs",
    "FluxNotifications",
    "FluxNotificationsArgs",
    "ProviderConfig",
    "secrets_from_config",
]

_EVENT_SOURCE_KINDS: tuple[str, ...] = get_args(EventSourceKind)


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


def _check_public_address(value: str) -> str:
    # Written into the Provider in plaintext (and the synth output): never a credential.
    return check_address(
        value,
        "store it as a secret config key (pulumi config set --secret) and name that key in "
        "addressSecret",
    )


class ProviderConfig(_Config):
    """One Provider of `gitops:alerts.providers`; secrets are named, never written here."""

    type: ProviderType
    """Provider type, e.g. `slack`, `discord`, `msteams`, `generic`, `github`, `alertmanager`."""
    address: Annotated[str, AfterValidator(_check_public_address)] | None = None
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

    def provider(self, key: str, namespace: str) -> Provider:
        """The Provider this config describes, named `key`; its credentials (if any) are in the
        Secret `<key>-credentials`."""
        return Provider(
            name=key,
            namespace=namespace,
            type=self.type,
            address=self.address,
            channel=self.channel,
            username=self.username,
            timeout=self.timeout,
            secret_ref={"name": f"{key}-credentials"} if self.secret_keys() else None,
        )


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
            model = cfg.provider(key, self.namespace)
            for issue in provider_issues(model, given, external_secret=False):
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


class FluxNotificationsArgs(ComponentArgs):
    """What `FluxNotifications` registers."""

    config: AlertingArgs
    """The `gitops:alerts` config."""
    secrets: dict[str, Any]
    """The config keys the providers name (e.g. `slackWebhook`) to their values (Pulumi inputs;
    see `secrets_from_config`)."""
    resources: dict[tuple[str, str | None, str], Any] = {}
    """The stack's own objects by `flux_key` (kind, namespace, name), so that an Alert on
    `Kustomization/apps` depends on that Kustomization."""


class FluxNotifications(pulumi.ComponentResource):
    """The Providers and Alerts of `gitops:alerts`."""

    providers: dict[str, NotificationProvider]
    alerts: dict[str, FluxAlert]

    def __init__(
        self, name: str, args: FluxNotificationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        config, secrets = args.config, args.secrets
        missing = [k for k in config.secret_keys() if k not in secrets]
        if missing:
            raise SpecError(
                "gitops:alerts",
                None,
                [FieldIssue("secrets", missing, "are named by providers but were not given")],
            )
        super().__init__("gitops:alerting:FluxNotifications", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.providers = {}
        for key, cfg in config.providers.items():
            creds = {k: secrets[v] for k, v in cfg.secret_keys().items()}
            self.providers[key] = NotificationProvider(
                f"{name}-{key}",
                NotificationProviderArgs(
                    provider=cfg.provider(key, config.namespace),
                    address=creds.get("address"),
                    token=creds.get("token"),
                ),
                child,
            )
        self.alerts = {}
        known = args.resources
        for alert in config.alerts:
            sources: list[Any] = []
            for text in alert.sources:
                kind, *rest = text.split("/")
                ns, obj = (rest[0], rest[1]) if len(rest) == 2 else (None, rest[0])
                target = known.get((kind, ns or config.namespace, obj))
                if obj == "*":
                    sources.append(EventSource.all(kind, namespace=ns))
                elif target is not None:
                    sources.append(target)
                else:
                    sources.append({"kind": kind, "name": obj, "namespace": ns})
            self.alerts[alert.name] = FluxAlert(
                f"{name}-{alert.name}",
                FluxAlertArgs(
                    provider=self.providers[alert.provider],
                    sources=sources,
                    severity=alert.severity,
                    inclusions=alert.inclusions,
                    exclusions=alert.exclusions,
                    metadata=alert.metadata,
                    namespace=config.namespace,
                    alert_name=alert.name,
                ),
                child,
            )
        self.register_outputs({"providers": sorted(self.providers), "alerts": sorted(self.alerts)})
