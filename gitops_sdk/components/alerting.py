"""Flux Alerts as Pulumi components, with event sources that are typed references to the
stack's own objects.

```python
slack = NotificationProvider.slack("slack", webhook_url=cfg.require_secret("slackWebhook"))
FluxAlert(
    "on-call",
    FluxAlertArgs(
        provider=slack,
        sources=[layers.kustomizations["apps"], EventSource.all("HelmRelease")],
        severity="error",
    ),
)
```

An Alert depends on its Provider (and so on the Provider's Secret) and on every source that is a
Pulumi resource.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Literal, get_args

import pulumi

from gitops_sdk.api.notification import (
    Alert,
    CrossNamespaceObjectReference,
    EventSourceKind,
)
from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.resource import FluxResource
from gitops_sdk.core.errors import FieldIssue, SpecError
from gitops_sdk.core.refs import flux_identity

__all__ = ["EventSource", "FluxAlert", "FluxAlertArgs"]

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


class FluxAlertArgs(ComponentArgs):
    """What a `FluxAlert` registers."""

    provider: Any
    """A NotificationProvider, a Provider model or its FluxResource."""
    sources: list[Any]
    """Event sources: Flux models, resources or components, or `EventSource.all(kind)`."""
    severity: Literal["info", "error"] | None = None
    inclusions: list[str] | None = None
    exclusions: list[str] | None = None
    metadata: dict[str, str] | None = None
    namespace: str | None = None
    """Namespace of the Alert; default: the Provider's."""
    alert_name: str | None = None
    """Name of the Alert object; default: the component's name."""
    suspend: bool | None = None


# --- alert ---------------------------------------------------------------------------------------


class FluxAlert(pulumi.ComponentResource):
    """A Flux Alert sending the events of `sources` to `provider`; it depends on the Provider
    (and its Secret) and on every source that is a Pulumi resource."""

    alert: FluxResource[Alert]

    def __init__(
        self, name: str, args: FluxAlertArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        provider, alert_name = args.provider, args.alert_name
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
            namespace=args.namespace or ident[2],
            provider_ref=provider,
            event_sources=list(args.sources),
            event_severity=args.severity,
            inclusion_list=args.inclusions,
            exclusion_list=args.exclusions,
            event_metadata=args.metadata,
            suspend=args.suspend,
        )
        super().__init__("gitops:alerting:FluxAlert", name, None, opts)
        # providerRef / eventSources built from Pulumi resources become depends_on edges.
        self.alert = FluxResource(f"{name}-alert", model, pulumi.ResourceOptions(parent=self))
        self.register_outputs({"name": model.name, "provider": ident[1]})

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.alert.__flux_ref__()
