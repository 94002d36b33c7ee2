"""notification.toolkit.fluxcd.io: events out (Provider, Alert) and webhooks in (Receiver).

Provider and Alert are served only at v1beta3; Receiver at v1.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

import pydantic
from pydantic import AfterValidator

from gitops_sdk.api.cel import CelExpression
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import MISSING
from gitops_sdk.core.fields import (
    Duration,
    GoRegex,
    Name,
    Namespace,
    ShortDuration,
    check_address,
    url_check,
)
from gitops_sdk.core.inputs import accepts_output
from gitops_sdk.core.model import FILLED, FluxObject
from gitops_sdk.core.refs import ObjectRef, SecretRef

__all__ = [
    "ALERT_API_VERSION",
    "PROVIDER_API_VERSION",
    "RECEIVER_API_VERSION",
    "Alert",
    "AlertSpec",
    "CrossNamespaceObjectReference",
    "EventSourceKind",
    "OIDCProvider",
    "OIDCValidation",
    "OIDCVariable",
    "Provider",
    "ProviderRef",
    "ProviderSpec",
    "ProviderType",
    "Receiver",
    "ReceiverResource",
    "ReceiverSpec",
    "ReceiverType",
]

PROVIDER_API_VERSION = "notification.toolkit.fluxcd.io/v1beta3"
ALERT_API_VERSION = "notification.toolkit.fluxcd.io/v1beta3"
RECEIVER_API_VERSION = "notification.toolkit.fluxcd.io/v1"
_REMOVED = {"v1beta1": "Flux 2.7", "v1beta2": "Flux 2.9"}


def _max_length(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; at most {limit} are allowed")
        return value

    return AfterValidator(check)


def _one_of(what: str, allowed: tuple[str, ...]) -> pydantic.BeforeValidator:
    """A before-validator naming the closest allowed value for a typo."""

    def check(value: Any) -> Any:
        if isinstance(value, str) and value not in allowed:
            close = difflib.get_close_matches(value, allowed, n=1)
            hint = (
                f"did you mean {close[0]!r}?" if close else "expected one of " + ", ".join(allowed)
            )
            raise ValueError(f"is not a {what} type; {hint}")
        return value

    return pydantic.BeforeValidator(check)


def _either(kinds: tuple[str, ...]) -> str:
    return kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]


# --- Provider ------------------------------------------------------------------------------------

ProviderType = Literal[
    "slack",
    "discord",
    "msteams",
    "rocket",
    "generic",
    "generic-hmac",
    "github",
    "gitlab",
    "gitea",
    "giteapullrequestcomment",
    "bitbucketserver",
    "bitbucket",
    "azuredevops",
    "googlechat",
    "googlepubsub",
    "webex",
    "sentry",
    "azureeventhub",
    "telegram",
    "lark",
    "matrix",
    "opsgenie",
    "alertmanager",
    "grafana",
    "githubdispatch",
    "githubpullrequestcomment",
    "gitlabmergerequestcomment",
    "pagerduty",
    "datadog",
    "nats",
    "zulip",
    "otel",
    "zoom",
    "incident.io",
]
"""The 34 Provider implementations of notification-controller (Flux 2.9)."""

_COMMIT_STATUS_TYPES = ("github", "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops")


def _check_address(value: str) -> str:
    return check_address(
        value,
        "put the address in the Secret named by spec.secretRef (key 'address'), not in "
        "spec.address",
    )


_check_proxy = url_check(("http", "https"), "use proxySecretRef (keys address, username, password)")


_Address = Annotated[str, AfterValidator(_check_address), _max_length(2048)]


class ProviderSpec(FluxModel):
    """Spec of a Provider."""

    type: Annotated[ProviderType, _one_of("Provider", get_args(ProviderType))]
    """Which service to send events to, e.g. `slack`, `msteams`, `github`, `generic`."""
    address: Annotated[_Address, accepts_output(_Address)] | None = None
    """Endpoint (URL, project, topic, ... by type); the Secret's `address` key overrides it."""
    channel: Annotated[str, _max_length(2048)] | None = None
    """Destination channel, for types that have channels."""
    username: Annotated[str, _max_length(2048)] | None = None
    """Name events are posted under, for types that show one."""
    secret_ref: SecretRef | None = None
    """Credentials: keys `address`, `token`, `username`, `password`, `headers`."""
    cert_secret_ref: SecretRef | None = None
    """TLS material: `ca.crt` and/or `tls.crt` + `tls.key`."""
    proxy_secret_ref: SecretRef | None = None
    """Proxy settings: keys `address`, `username`, `password`."""
    proxy: Annotated[str, AfterValidator(_check_proxy), _max_length(2048)] | None = None
    """Deprecated proxy URL (`http://` or `https://`): use proxySecretRef."""
    service_account_name: str | None = None
    """Service account for workload identity (azureeventhub, azuredevops, googlepubsub)."""
    timeout: ShortDuration | None = None
    """Timeout of sending one event (no hours); default `15s`."""
    interval: Duration | None = None
    """Deprecated and unused in v1beta3."""
    commit_status_expr: CelExpression | None = None
    """CEL (vars `event`, `provider`, `alert`) giving the commit status; git status types only."""
    suspend: bool | None = None
    """Stop sending events; default false."""

    @pydantic.model_validator(mode="after")
    def _commit_status_expr_for_git_types(self) -> Self:
        if self.commit_status_expr is not None and self.type not in _COMMIT_STATUS_TYPES:
            raise Invalid(
                "commitStatusExpr",
                self.commit_status_expr,
                f"is only supported for the {_either(_COMMIT_STATUS_TYPES)} provider types, "
                f"not {self.type!r}",
            )
        return self


class Provider(FluxObject):
    """Where notification-controller sends events: a chat, a git host's commit status, ..."""

    api_version = PROVIDER_API_VERSION
    kind = "Provider"
    removed_versions = _REMOVED

    spec: ProviderSpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...


# --- references to event sources and webhook targets ---------------------------------------------

EventSourceKind = Literal[
    "Bucket",
    "GitRepository",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "HelmRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "OCIRepository",
    "ArtifactGenerator",
    "ExternalArtifact",
]
"""The kinds an Alert can watch and a Receiver can trigger."""


def _check_target_name(value: str) -> str:
    if value != "*" and (
        len(value) > 253
        or not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", value)
    ):
        raise ValueError(
            "is neither '*' (every object of the kind) nor an object name "
            "(a DNS-1123 subdomain: lowercase letters, digits, '-' and '.')"
        )
    return value


class CrossNamespaceObjectReference(ObjectRef):
    """An object (or, with name `*`, every object) of a kind; built from a name or the object."""

    expected_kinds = get_args(EventSourceKind)
    api_version: str | None = None
    """API version of the object; default: the preferred version."""
    kind: EventSourceKind
    """Kind of the object."""
    name: Annotated[str, AfterValidator(_check_target_name)]
    """Name of the object, or `*` for all of the kind in the namespace."""
    namespace: Namespace | None = None
    """Namespace of the object; default: the referrer's."""
    match_labels: dict[str, str] | None = None
    """With name `*`: only objects with these labels."""

    @pydantic.model_validator(mode="after")
    def _match_labels_need_star(self) -> Self:
        if self.match_labels is not None and self.name != "*":
            raise Invalid(
                "matchLabels",
                self.match_labels,
                f"requires name '*' (it selects among all objects of the kind), not {self.name!r}",
            )
        return self


def _check_not_empty(what: str) -> AfterValidator:
    def check(value: list[Any]) -> list[Any]:
        if not value:
            raise ValueError(f"must list at least one {what}")
        return value

    return AfterValidator(check)


# --- Alert ---------------------------------------------------------------------------------------


class ProviderRef(ObjectRef):
    """The Provider an Alert sends to (same namespace); built from a name or the object."""

    expected_kinds = ("Provider",)
    name: Name
    """Name of the Provider."""


class AlertSpec(FluxModel):
    """Spec of an Alert."""

    provider_ref: ProviderRef
    """The Provider to send events to."""
    event_sources: Annotated[list[CrossNamespaceObjectReference], _check_not_empty("event source")]
    """Objects whose events are sent."""
    event_severity: Literal["info", "error"] | None = None
    """Lowest severity sent: `info` sends everything, `error` only errors; default `info`."""
    event_metadata: dict[str, str] | None = None
    """Extra metadata added to every event (never overrides the emitter's keys)."""
    inclusion_list: list[GoRegex] | None = None
    """Go regexps; only events whose message matches one are sent; default: all."""
    exclusion_list: list[GoRegex] | None = None
    """Go regexps; events whose message matches one are dropped; default: none."""
    summary: Annotated[str, _max_length(255)] | None = None
    """Deprecated short impact description: use eventMetadata."""
    suspend: bool | None = None
    """Stop sending events; default false."""


class Alert(FluxObject):
    """Which events of which objects go to a Provider."""

    api_version = ALERT_API_VERSION
    kind = "Alert"
    removed_versions = _REMOVED

    spec: AlertSpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...


# --- Receiver ------------------------------------------------------------------------------------

ReceiverType = Literal[
    "generic",
    "generic-hmac",
    "generic-oidc",
    "github",
    "gitlab",
    "bitbucket",
    "harbor",
    "dockerhub",
    "quay",
    "gcr",
    "nexus",
    "acr",
    "cdevents",
]
"""The webhook senders a Receiver understands."""


class ReceiverResource(CrossNamespaceObjectReference):
    """An object (or, with name `*`, objects) a Receiver asks Flux to reconcile."""

    filter: CelExpression | None = None
    """CEL over `res`, `req` (and `claims`), ANDed with resourceFilter; default: none."""


_check_issuer = url_check(("http", "https"), "an issuer URL carries no credentials")


def _check_cel_identifier(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError("is not a CEL identifier (letters, digits and '_', not starting a digit)")
    return value


class OIDCValidation(FluxModel):
    """A CEL check over the token's claims (and variables)."""

    expression: CelExpression
    """CEL boolean expression; the request is rejected when it is false."""
    message: str
    """Message returned to the caller when the expression is false."""


class OIDCVariable(FluxModel):
    """A named CEL expression, exposed to later variables and validations as `vars.<name>`."""

    name: Annotated[str, AfterValidator(_check_cel_identifier)]
    """Variable name: a CEL identifier."""
    expression: CelExpression
    """CEL expression over `claims` and earlier variables."""


class OIDCProvider(FluxModel):
    """An OIDC issuer whose tokens authenticate a generic-oidc Receiver."""

    issuer_url: Annotated[str, AfterValidator(_check_issuer)] = pydantic.Field(alias="issuerURL")
    """Issuer URL (`http://` or `https://`); must equal the tokens' `iss` claim."""
    audience: str | None = None
    """Expected `aud` claim; default `notification-controller`."""
    validations: Annotated[list[OIDCValidation], _check_not_empty("validation")]
    """CEL checks that must all pass: a valid signature alone authorizes nobody."""
    variables: list[OIDCVariable] | None = None
    """Named CEL expressions shared by the validations."""


class ReceiverSpec(FluxModel):
    """Spec of a Receiver."""

    type: Annotated[ReceiverType, _one_of("Receiver", get_args(ReceiverType))]
    """Webhook sender, e.g. `github`, `gitlab`, `generic-hmac`, `generic-oidc`."""
    resources: Annotated[list[ReceiverResource], _check_not_empty("resource")]
    """Objects to reconcile when a valid webhook arrives."""
    events: list[str] | None = None
    """Event types to act on, e.g. `push` (GitHub), `Push Hook` (GitLab); default: all."""
    secret_ref: SecretRef | None = None
    """Secret with key `token` (gcr: also `email`, `audience`); required unless generic-oidc."""
    oidc_providers: list[OIDCProvider] | None = None
    """OIDC issuers authenticating requests; only, and required, for generic-oidc."""
    resource_filter: CelExpression | None = None
    """CEL over `res`, `req` (and `claims`) deciding per resource; default: none."""
    interval: Duration | None = None
    """How often to reconcile the Receiver with its Secret; default `10m`."""
    suspend: bool | None = None
    """Stop handling webhooks; default false."""

    @pydantic.model_validator(mode="after")
    def _auth_matches_type(self) -> Self:
        oidc = self.type == "generic-oidc"
        if oidc and not self.oidc_providers:
            raise Invalid(
                "oidcProviders",
                MISSING if self.oidc_providers is None else self.oidc_providers,
                "must list at least one OIDC provider when type is 'generic-oidc'",
            )
        if not oidc and self.oidc_providers:
            raise Invalid(
                "oidcProviders",
                [p.issuer_url for p in self.oidc_providers],
                f"can only be set when type is 'generic-oidc', not {self.type!r}",
            )
        if oidc and self.secret_ref is not None:
            raise Invalid(
                "secretRef",
                self.secret_ref.to_dict(),
                "cannot be set when type is 'generic-oidc' (OIDC tokens authenticate requests)",
            )
        if not oidc and self.secret_ref is None:
            raise Invalid(
                "secretRef",
                MISSING,
                f"is required when type is not 'generic-oidc' (type is {self.type!r}); "
                "name a Secret with key 'token'",
            )
        seen: set[str] = set()
        for i, provider in enumerate(self.oidc_providers or []):
            if provider.issuer_url in seen:
                raise Invalid(
                    f"oidcProviders[{i}].issuerURL",
                    provider.issuer_url,
                    "is listed twice; each oidcProvider needs its own issuer",
                )
            seen.add(provider.issuer_url)
        return self


class Receiver(FluxObject):
    """A webhook endpoint that makes Flux reconcile objects when it is called."""

    api_version = RECEIVER_API_VERSION
    kind = "Receiver"
    removed_versions = _REMOVED

    spec: ReceiverSpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...
