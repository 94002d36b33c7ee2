"""Notification components: Provider + Secret, Alert, event sources, and `gitops:alerts` config."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import mocks as pulumi_mocks

from gitops_sdk import GitRepository, GitSource
from gitops_sdk.api.notification import Provider
from gitops_sdk.components.alerting import EventSource, FluxAlert, FluxAlertArgs
from gitops_sdk.components.git_source import GitSourceArgs
from gitops_sdk.components.notification_provider import (
    NotificationProvider,
    NotificationProviderArgs,
)
from gitops_sdk.components.notifications import (
    AlertingArgs,
    FluxNotifications,
    FluxNotificationsArgs,
)
from gitops_sdk.components.resource import PATCH_FORCE
from gitops_sdk.core.errors import SpecError
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks

WEBHOOK = "https://hooks.slack.com/services/T000/B000/s3cr3t"


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Pulumi dependencies (URNs) of every registration, by resource name."""
    seen: dict[str, list[str]] = {}
    register = pulumi_mocks.MockMonitor.RegisterResource

    def record(self: Any, request: Any) -> Any:
        seen[request.name] = list(request.dependencies)
        return register(self, request)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", record)
    return seen


def depends(deps: dict[str, list[str]], name: str, on: str) -> bool:
    return any(urn.endswith(f"::{on}") for urn in deps[name])


def fleet() -> GitRepository:
    return GitRepository(
        name="flux-system",
        namespace="flux-system",
        url="https://github.com/org/fleet",
        interval="1m",
    )


def test_slack_provider_secret_and_alert(mocks: RecordingMocks, deps: dict[str, list[str]]) -> None:
    repo = fleet()

    def program() -> None:
        source = GitSource("fleet", GitSourceArgs(repository=repo))
        slack = NotificationProvider.slack("slack", webhook_url=WEBHOOK, channel="#flux")
        FluxAlert(
            "on-call",
            FluxAlertArgs(
                provider=slack,
                sources=[
                    source,
                    EventSource.all("Kustomization"),
                    EventSource.all("HelmRelease", namespace="apps", match_labels={"team": "web"}),
                ],
                severity="error",
                exclusions=["^Dependencies do not meet ready condition"],
                metadata={"cluster": "kubestaging"},
            ),
        )

    synth.run(program)
    (secret,) = mocks.by_kind("Secret")
    assert secret["metadata"] == {"name": "slack-credentials", "namespace": "flux-system"}
    assert pulumi.runtime.rpc.is_rpc_secret(secret["stringData"])
    redacted = synth.redact(secret)
    assert "s3cr3t" not in str(redacted)
    assert "stringData" not in redacted
    assert synth.REDACTED_NOTE in redacted["metadata"]["annotations"]
    (provider,) = mocks.by_kind("Provider")
    assert provider["spec"] == {
        "type": "slack",
        "channel": "#flux",
        "secretRef": {"name": "slack-credentials"},
    }
    assert "s3cr3t" not in str(provider)
    (alert,) = mocks.by_kind("Alert")
    assert alert["metadata"] == {
        "name": "on-call",
        "namespace": "flux-system",
        "annotations": PATCH_FORCE,
    }
    assert alert["spec"] == {
        "providerRef": {"name": "slack"},
        "eventSources": [
            {"kind": "GitRepository", "name": "flux-system"},
            {"kind": "Kustomization", "name": "*"},
            {
                "kind": "HelmRelease",
                "name": "*",
                "namespace": "apps",
                "matchLabels": {"team": "web"},
            },
        ],
        "eventSeverity": "error",
        "eventMetadata": {"cluster": "kubestaging"},
        "exclusionList": ["^Dependencies do not meet ready condition"],
    }
    # Secret -> Provider -> Alert, and the Alert waits for the GitRepository it watches.
    assert depends(deps, "slack-provider", on="slack-secret")
    assert depends(deps, "on-call-alert", on="slack-provider")
    assert depends(deps, "on-call-alert", on="slack-secret")
    assert depends(deps, "on-call-alert", on="fleet-repository")
    parents = {r.name: r.type for r in mocks.resources}
    assert parents["slack"] == "gitops:alerting:NotificationProvider"
    assert parents["on-call"] == "gitops:alerting:FluxAlert"


def test_secret_keys_follow_the_provider_type(mocks: RecordingMocks) -> None:
    def program() -> None:
        NotificationProvider.msteams("teams", webhook_url="https://example.webhook.office.com/x")
        NotificationProvider.discord("discord", webhook_url="https://discord.com/api/webhooks/1/x")
        NotificationProvider.webhook(
            "hook",
            url="https://hooks.example.com/flux",
            hmac_key="k3y",
            headers={"X-Team": "platform"},
        )
        NotificationProvider.github(
            "status", repository="https://github.com/org/fleet", token="ghp_t0ken"
        )
        NotificationProvider.slack("bot", token="xoxb-t0ken", channel="C123")
        NotificationProvider.alertmanager(
            "am", url="http://alertmanager-operated.monitoring:9093/api/v2/alerts/"
        )

    synth.run(program)
    providers = {p["metadata"]["name"]: p["spec"] for p in mocks.by_kind("Provider")}
    assert providers["teams"] == {"type": "msteams", "secretRef": {"name": "teams-credentials"}}
    assert providers["hook"]["type"] == "generic-hmac"
    assert providers["status"] == {
        "type": "github",
        "address": "https://github.com/org/fleet",
        "secretRef": {"name": "status-credentials"},
    }
    assert providers["bot"]["address"] == "https://slack.com/api/chat.postMessage"
    assert providers["am"] == {
        "type": "alertmanager",
        "address": "http://alertmanager-operated.monitoring:9093/api/v2/alerts/",
    }
    secrets = {s["metadata"]["name"]: s for s in mocks.by_kind("Secret")}
    assert sorted(secrets) == [
        "bot-credentials",
        "discord-credentials",
        "hook-credentials",
        "status-credentials",
        "teams-credentials",
    ]
    for secret in secrets.values():
        assert pulumi.runtime.rpc.is_rpc_secret(secret["stringData"])
        text = str(synth.redact(secret))
        for value in ("k3y", "ghp_t0ken", "xoxb-t0ken", "webhooks/1/x", "office.com/x"):
            assert value not in text
    hook = secrets["hook-credentials"]["stringData"]["value"]
    assert sorted(hook) == ["address", "headers", "token"]
    assert yaml.safe_load(hook["headers"]) == {"X-Team": "platform"}
    assert sorted(secrets["status-credentials"]["stringData"]["value"]) == ["token"]
    assert sorted(secrets["bot-credentials"]["stringData"]["value"]) == ["token"]


def test_provider_with_a_secret_made_elsewhere(mocks: RecordingMocks) -> None:
    model = Provider(
        name="github",
        namespace="flux-system",
        type="github",
        address="https://github.com/org/fleet",
        secret_ref={"name": "github-token"},
    )
    synth.run(lambda: NotificationProvider("github", NotificationProviderArgs(provider=model)))
    assert mocks.by_kind("Secret") == []
    assert mocks.by_kind("Provider")[0]["spec"]["secretRef"] == {"name": "github-token"}


def test_notifications_from_stack_config(mocks: RecordingMocks, deps: dict[str, list[str]]) -> None:
    args = AlertingArgs.model_validate(
        {
            "providers": {
                "slack": {
                    "type": "slack",
                    "channel": "#flux-staging",
                    "addressSecret": "slackWebhook",
                },
                "github": {
                    "type": "github",
                    "address": "https://github.com/org/fleet",
                    "tokenSecret": "githubToken",
                },
            },
            "alerts": [
                {
                    "name": "on-call",
                    "provider": "slack",
                    "severity": "error",
                    "sources": [
                        "Kustomization/*",
                        "HelmRelease/apps/*",
                        "GitRepository/flux-system",
                    ],
                    "metadata": {"cluster": "kubestaging"},
                },
                {"name": "commit-status", "provider": "github", "sources": ["Kustomization/apps"]},
            ],
        }
    )
    assert args.secret_keys() == ["githubToken", "slackWebhook"]
    synth.run(
        lambda: FluxNotifications(
            "alerts",
            FluxNotificationsArgs(
                config=args, secrets={"slackWebhook": WEBHOOK, "githubToken": "ghp_t0ken"}
            ),
        )
    )
    alerts = {a["metadata"]["name"]: a["spec"] for a in mocks.by_kind("Alert")}
    assert alerts["on-call"]["eventSources"] == [
        {"kind": "Kustomization", "name": "*"},
        {"kind": "HelmRelease", "name": "*", "namespace": "apps"},
        {"kind": "GitRepository", "name": "flux-system"},
    ]
    assert alerts["commit-status"]["providerRef"] == {"name": "github"}
    for secret in mocks.by_kind("Secret"):
        assert pulumi.runtime.rpc.is_rpc_secret(secret["stringData"])
        assert "s3cr3t" not in str(synth.redact(secret))
    assert depends(deps, "alerts-on-call-alert", on="alerts-slack-provider")


def test_secrets_from_config_reads_named_secret_keys(mocks: RecordingMocks) -> None:
    from gitops_sdk.components.notifications import secrets_from_config
    from gitops_sdk.stack.config import config_env

    args = AlertingArgs(providers={"slack": {"type": "slack", "address_secret": "slackWebhook"}})
    pulumi.runtime.set_all_config(config_env({"slackWebhook": WEBHOOK}))
    secrets = secrets_from_config(args)
    assert list(secrets) == ["slackWebhook"]
    assert isinstance(secrets["slackWebhook"], pulumi.Output)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: NotificationProvider(
                "rocket",
                NotificationProviderArgs(
                    provider=Provider(
                        name="rocket",
                        namespace="flux-system",
                        type="rocket",
                        address="https://chat.example.com/hooks/abc",
                    ),
                ),
            ),
            r"^Provider 'rocket': spec.address '<redacted>': a rocket webhook URL is a "
            r"credential: pass it as `address` \(stored in the Secret\), not in spec.address$",
        ),
        (
            lambda: Provider(
                name="discord",
                namespace="flux-system",
                type="discord",
                address="https://discord.com/api/webhooks/1/x",
            ),
            r"^Provider 'discord': spec.address 'https://discord.com/\*\*\*': is an "
            r"incoming-webhook URL, whose path is its secret token; put the address in the "
            r"Secret named by spec.secretRef \(key 'address'\), not in spec.address$",
        ),
        (
            lambda: NotificationProvider(
                "status",
                NotificationProviderArgs(
                    provider=Provider(
                        name="status",
                        namespace="flux-system",
                        type="github",
                        address="https://github.com/org/fleet",
                    ),
                ),
            ),
            r"^Provider 'status': token: is required for provider type 'github': an access token "
            r"with commit status rights$",
        ),
        (
            lambda: NotificationProvider(
                "tg",
                NotificationProviderArgs(
                    provider=Provider(
                        name="tg",
                        namespace="flux-system",
                        type="telegram",
                        secret_ref={"name": "tg-credentials"},
                    ),
                    token="123:abc",
                ),
            ),
            r"^Provider 'tg': spec.channel: is required for provider type 'telegram'$",
        ),
        (
            lambda: NotificationProvider(
                "hook",
                NotificationProviderArgs(
                    provider=Provider(name="hook", namespace="flux-system", type="generic"),
                    address="https://hooks.example.com",
                ),
            ),
            r"^Provider 'hook': spec.secretRef: is not set but credentials were given; name the "
            r"Secret there$",
        ),
        (
            lambda: NotificationProvider.slack("slack", token="xoxb-1"),
            r"^Provider 'slack': spec.channel: is required for provider type 'slack'$",
        ),
        (
            lambda: EventSource.all("Deployment"),
            r"^Alert: spec.eventSources\[\].kind 'Deployment': is not a kind Flux alerts on; "
            r"expected one of Bucket, GitRepository, ",
        ),
        (
            lambda: EventSource.all("Kustomizaton"),
            r"kind 'Kustomizaton': is not a kind Flux alerts on; did you mean 'Kustomization'\?",
        ),
        (
            lambda: FluxAlert(
                "on-call", FluxAlertArgs(provider=fleet(), sources=[EventSource.all("Bucket")])
            ),
            r"^Alert 'on-call': spec.providerRef 'GitRepository': expected a Provider",
        ),
        (
            lambda: FluxAlert(
                "on-call",
                FluxAlertArgs(
                    provider=Provider(name="slack", namespace="flux-system", type="slack"),
                    sources=[],
                ),
            ),
            r"^Alert 'on-call': spec.eventSources \[\]: must list at least one event source$",
        ),
        (
            lambda: FluxAlert(
                "on-call",
                FluxAlertArgs(
                    provider=Provider(name="slack", namespace="flux-system", type="slack"),
                    sources=[EventSource.all("Kustomization")],
                    exclusions=["(?!Dependencies)"],
                ),
            ),
            r"spec.exclusionList\[0\] '\(\?!Dependencies\)': is not a Go regexp: lookaround",
        ),
        (
            lambda: AlertingArgs(
                providers={"slack": {"type": "slack"}},
                alerts=[{"name": "x", "provider": "teams", "sources": ["Kustomization/*"]}],
            ),
            r"^AlertingArgs: alerts\[0\].provider 'teams': is not a key of providers "
            r"\(known: slack\)$",
        ),
        (
            lambda: AlertingArgs(
                providers={"slack": {"type": "slack"}},
                alerts=[{"name": "x", "provider": "slack", "sources": ["Kustomization"]}],
            ),
            r"alerts\[0\].sources\[0\] 'Kustomization': expected 'Kind/name', "
            r"'Kind/namespace/name' or 'Kind/\*'",
        ),
        (
            lambda: AlertingArgs(providers={"slack": {"type": "slak"}}),
            r"providers.slack.type 'slak': expected 'slack', 'discord'",
        ),
    ],
)
def test_bad_notification_input(mocks: RecordingMocks, make: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        synth.run(make)
    assert mocks.resources == []


def test_notifications_need_every_named_secret(mocks: RecordingMocks) -> None:
    args = AlertingArgs(providers={"slack": {"type": "slack", "address_secret": "slackWebhook"}})
    with pytest.raises(
        SpecError, match=r"^gitops:alerts: secrets \['slackWebhook'\]: are named by providers"
    ):
        synth.run(
            lambda: FluxNotifications("alerts", FluxNotificationsArgs(config=args, secrets={}))
        )
