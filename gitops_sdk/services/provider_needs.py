"""What each notification Provider type needs (credential keys, a channel) and whether its
address is itself a credential: checked before anything is registered, and when the stack
config is read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from gitops_sdk.api.notification import (
    Provider,
)
from gitops_sdk.core.errors import MISSING, FieldIssue

__all__ = ["CredentialKey", "provider_issues"]

CredentialKey = Literal["address", "token", "username", "password", "headers"]
"""Keys of a Provider's Secret that notification-controller reads."""


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


def provider_issues(provider: Provider, given: set[str], external_secret: bool) -> list[FieldIssue]:
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
