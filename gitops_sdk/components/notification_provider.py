"""A Flux notification Provider as a Pulumi component, with the Secret holding its credentials
(only ever Pulumi secrets), and one factory per common provider type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, Unpack

import pulumi
import yaml

from gitops_sdk.api.notification import (
    Provider,
    ProviderType,
)
from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.resource import FluxResource, opaque_secret
from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError
from gitops_sdk.services.provider_needs import provider_issues

__all__ = ["NotificationProvider", "NotificationProviderArgs", "Placement"]


class NotificationProviderArgs(ComponentArgs):
    """What a `NotificationProvider` registers: the Provider and its credentials (Pulumi inputs,
    stored as secrets in the Secret its `spec.secretRef` names)."""

    provider: Provider
    address: Any = None
    token: Any = None
    username: Any = None
    password: Any = None
    headers: dict[str, str] | None = None


class Placement(TypedDict, total=False):
    """Where a `NotificationProvider` factory puts its Provider (all optional)."""

    namespace: str
    """Namespace of the Provider and its Secret; default `flux-system`."""
    provider_name: str | None
    """Name of the Provider object; default: the component's name."""
    opts: pulumi.ResourceOptions | None
    """Pulumi options of the component."""


class NotificationProvider(pulumi.ComponentResource):
    """A Flux Provider and, when credentials are given, the Secret it reads them from.

    Credentials (`address`, `token`, `username`, `password`, `headers`) are stored as Pulumi
    secrets in the Secret named by the Provider's `spec.secretRef`; the Provider depends on it.
    """

    provider: FluxResource[Provider]
    secret: KubeObject | None

    def __init__(
        self, name: str, args: NotificationProviderArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        provider, headers = args.provider, args.headers
        given: dict[str, pulumi.Input[str]] = {
            k: v
            for k, v in (
                ("address", args.address),
                ("token", args.token),
                ("username", args.username),
                ("password", args.password),
            )
            if v is not None
        }
        if headers:
            given["headers"] = yaml.safe_dump(dict(headers), sort_keys=True)
        ref = provider.spec.secret_ref
        issues = provider_issues(provider, set(given), external_secret=bool(ref and not given))
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
        where: Placement,
        credentials: Mapping[str, Any],
        *,
        with_secret: bool = True,
        **spec: Any,
    ) -> NotificationProvider:
        object_name = where.get("provider_name") or name
        model = Provider(
            name=object_name,
            namespace=where.get("namespace", "flux-system"),
            type=provider_type,
            secret_ref={"name": f"{object_name}-credentials"} if with_secret else None,
            **spec,
        )
        args = NotificationProviderArgs(provider=model, **credentials)
        return cls(name, args, where.get("opts"))

    @classmethod
    def slack(
        cls,
        name: str,
        *,
        webhook_url: pulumi.Input[str] | None = None,
        token: pulumi.Input[str] | None = None,
        channel: str | None = None,
        username: str | None = None,
        **where: Unpack[Placement],
    ) -> NotificationProvider:
        """Slack through an incoming webhook (`webhook_url`), or as a bot (`token` + `channel`,
        posting to the chat.postMessage API)."""
        spec: dict[str, Any] = {"channel": channel, "username": username}
        if token is not None and webhook_url is None:
            spec["address"] = "https://slack.com/api/chat.postMessage"
        credentials = {"address": webhook_url, "token": token}
        return cls._build(name, "slack", where, credentials, **spec)

    @classmethod
    def discord(
        cls,
        name: str,
        *,
        webhook_url: pulumi.Input[str],
        username: str | None = None,
        **where: Unpack[Placement],
    ) -> NotificationProvider:
        """Discord through a channel webhook."""
        return cls._build(name, "discord", where, {"address": webhook_url}, username=username)

    @classmethod
    def msteams(
        cls, name: str, *, webhook_url: pulumi.Input[str], **where: Unpack[Placement]
    ) -> NotificationProvider:
        """Microsoft Teams through an incoming webhook (Workflows)."""
        return cls._build(name, "msteams", where, {"address": webhook_url})

    @classmethod
    def webhook(
        cls,
        name: str,
        *,
        url: pulumi.Input[str],
        hmac_key: pulumi.Input[str] | None = None,
        headers: Mapping[str, str] | None = None,
        **where: Unpack[Placement],
    ) -> NotificationProvider:
        """A generic webhook (type `generic`), signed with `hmac_key` (type `generic-hmac`)."""
        kind: ProviderType = "generic-hmac" if hmac_key is not None else "generic"
        credentials = {"address": url, "token": hmac_key, "headers": headers}
        return cls._build(name, kind, where, credentials)

    @classmethod
    def github(
        cls,
        name: str,
        *,
        repository: str,
        token: pulumi.Input[str],
        commit_status_expr: str | None = None,
        **where: Unpack[Placement],
    ) -> NotificationProvider:
        """GitHub commit statuses on `repository` (its https URL) with a token."""
        return cls._build(
            name,
            "github",
            where,
            {"token": token},
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
        **where: Unpack[Placement],
    ) -> NotificationProvider:
        """Prometheus Alertmanager at `url` (e.g.
        `http://alertmanager-operated.monitoring:9093/api/v2/alerts/`), optionally with a
        bearer `token`."""
        return cls._build(
            name,
            "alertmanager",
            where,
            {"token": token},
            with_secret=token is not None,
            address=url,
        )
