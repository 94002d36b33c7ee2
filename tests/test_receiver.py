"""`FluxReceiver` (a Receiver with a generated token Secret, no Git host API), its use by
`GithubReceiver`, the `gitops:receiver` stack config and the stacks' webhook path output, under
Pulumi's mock runtime."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from helpers import GITHUB_RECEIVER
from pulumi.runtime import rpc
from pulumi.runtime.sync_await import _sync_await

from gitops_sdk import ConfigError, CrossReferenceError, GitRepository, SpecError, synth
from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.components.git_source import GitSource, GitSourceArgs
from gitops_sdk.components.github import GithubReceiver, GithubReceiverArgs
from gitops_sdk.components.receiver import FluxReceiver, FluxReceiverArgs, ReceiverSettings
from gitops_sdk.components.resource import PATCH_FORCE
from gitops_sdk.core.errors import ArgumentError
from gitops_sdk.stack.config import parse_config
from gitops_sdk.stack.synth import RecordingMocks

ROOT = Path(__file__).resolve().parent.parent
TOKEN_TYPE = "pulumi-python:dynamic/github:WebhookToken"
GENERATED = "0123456789abcdef" * 4
API_TOKEN = "ghp_not_a_real_token_0000"


class TokenMocks(RecordingMocks):
    """Records registrations; the generated webhook token answers with a known value, as the
    dynamic provider would (the plain mocks echo inputs, where the token is None)."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, Any]:
        rid, outs = super().new_resource(args)
        if args.typ == TOKEN_TYPE:
            outs["token"] = GENERATED
        return rid, outs

    def named(self, name: str) -> list[Any]:
        return [r for r in self.resources if r.name == name]


@pytest.fixture
def tmocks() -> TokenMocks:
    recorder = TokenMocks()
    synth.start(recorder, stack="test", config={})
    return recorder


def fleet(url: str = "https://github.com/octocat/fleet") -> GitRepository:
    return GitRepository(name="flux-system", namespace="flux-system", url=url, interval="10m")


def resolved(output: Any) -> Any:
    return _sync_await(output.future())


def path_for(token: str, name: str = "github-receiver", namespace: str = "flux-system") -> str:
    return "/hook/" + hashlib.sha256((token + name + namespace).encode()).hexdigest()


def test_receiver_declares_receiver_and_generated_token_secret(
    tmocks: TokenMocks, assert_crd_valid: Any
) -> None:
    made: list[FluxReceiver] = []

    def program() -> None:
        source = GitSource("fleet", GitSourceArgs(repository=fleet()))
        made.append(FluxReceiver("receiver", FluxReceiverArgs(source=source)))

    synth.run(program)
    (comp,) = made
    (token,) = tmocks.named("receiver-token")
    assert token.type == TOKEN_TYPE and token.inputs["size"] == 32
    (receiver,) = tmocks.by_kind("Receiver")
    assert receiver == GITHUB_RECEIVER
    assert_crd_valid(receiver)
    (secret,) = tmocks.by_kind("Secret")
    assert secret["metadata"] == {"name": "github-webhook-token", "namespace": "flux-system"}
    # The token travels only as a Pulumi secret, and synth output never shows it.
    assert rpc.is_rpc_secret(secret["stringData"])
    assert rpc.unwrap_rpc_secret(secret["stringData"]) == {"token": GENERATED}
    assert GENERATED not in str(synth.redact(secret))
    assert synth.redact(secret)["metadata"]["annotations"] == {
        synth.REDACTED_NOTE: "data omitted (keys: token)"
    }
    # The path is a digest of the token, name and namespace: a plain output.
    assert resolved(comp.webhook_path) == path_for(GENERATED)
    assert not _sync_await(comp.webhook_path.is_secret())
    assert comp.webhook_url is None
    assert comp.__flux_ref__() == ("Receiver", "github-receiver", "flux-system")
    names = [(r.type, r.name) for r in tmocks.resources]
    assert ("gitops:notification:FluxReceiver", "receiver") in names
    assert ("kubernetes:core/v1:Secret", "receiver-secret") in names


def test_receiver_with_given_token_type_events_url_and_wait(tmocks: TokenMocks) -> None:
    made: list[FluxReceiver] = []
    args = FluxReceiverArgs(
        source=fleet(),
        name="fleet-push",
        namespace="hooks",
        secret_name="fleet-push-token",
        type="gitlab",
        interval="1h",
        url="https://hooks.example.com/",
        webhook_token="given-token-of-enough-length",
        wait=True,
    )
    synth.run(lambda: made.append(FluxReceiver("push", args)))
    assert tmocks.named("push-token") == []  # nothing generated
    (receiver,) = tmocks.by_kind("Receiver")
    assert receiver["metadata"] == {
        "name": "fleet-push",
        "namespace": "hooks",
        "annotations": {**PATCH_FORCE, "pulumi.com/waitFor": "condition=Ready"},
    }
    assert receiver["spec"]["type"] == "gitlab"
    assert receiver["spec"]["events"] == ["Push Hook"]  # the type's push event
    assert receiver["spec"]["interval"] == "1h"
    assert receiver["spec"]["resources"] == [
        {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}
    ]
    (secret,) = tmocks.by_kind("Secret")
    assert rpc.unwrap_rpc_secret(secret["stringData"]) == {"token": "given-token-of-enough-length"}
    path = path_for("given-token-of-enough-length", "fleet-push", "hooks")
    assert resolved(made[0].webhook_url) == "https://hooks.example.com" + path


def test_receiver_waits_for_what_it_is_given(tmocks: TokenMocks) -> None:
    def program() -> None:
        crd = pulumi.CustomResource("test:index:Crd", "crd")
        FluxReceiver("receiver", FluxReceiverArgs(source=fleet(), depends_on=[crd], wait=False))

    from pulumi.runtime.mocks import MockMonitor

    seen: dict[str, list[str]] = {}
    original = MockMonitor.RegisterResource

    def spy(self: MockMonitor, request: Any) -> Any:
        seen[request.name] = [u.rsplit("::", 1)[-1] for u in request.dependencies]
        return original(self, request)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MockMonitor, "RegisterResource", spy)
        synth.run(program)
    assert "crd" in seen["receiver-token"]
    assert {"crd", "receiver-secret"} <= set(seen["receiver-receiver"])
    (receiver,) = tmocks.by_kind("Receiver")
    assert receiver["metadata"]["annotations"] == {**PATCH_FORCE, "pulumi.com/skipAwait": "true"}


def test_receiver_args_validate_without_showing_secrets() -> None:
    with pytest.raises(SpecError, match=r"^FluxReceiverArgs: webhookToken: is empty"):
        FluxReceiverArgs(source=fleet(), webhook_token=" ")
    with pytest.raises(SpecError, match=r"^FluxReceiverArgs: tokn: unknown field$") as err:
        FluxReceiverArgs(source=fleet(), tokn="s3cr3t-value-long-enough")  # type: ignore[call-arg]
    assert "s3cr3t" not in str(err.value)
    with pytest.raises(SpecError, match=r"^FluxReceiverArgs: type 'generic-oidc': expected"):
        FluxReceiverArgs(source=fleet(), type="generic-oidc")
    with pytest.raises(
        SpecError, match=r"^FluxReceiverArgs: url 'hooks.example.com': must start with http"
    ):
        FluxReceiverArgs(source=fleet(), url="hooks.example.com")
    with pytest.raises(ArgumentError, match=r"^FluxReceiverArgs: depends_on: expected a list"):
        FluxReceiverArgs(source=fleet(), depends_on=fleet())
    args = FluxReceiverArgs(source=fleet(), webhook_token="s3cr3t-value-long-enough")
    assert "s3cr3t" not in repr(args)


def test_receiver_needs_a_git_repository(tmocks: TokenMocks) -> None:
    apps = Kustomization(
        name="apps", namespace="flux-system", interval="1m", prune=True, source_ref=fleet()
    )
    with pytest.raises(
        CrossReferenceError, match=r"^FluxReceiver 'r': .*, got Kustomization 'apps'$"
    ):
        FluxReceiver("r", FluxReceiverArgs(source=apps))
    assert tmocks.resources == []


# --- GitHub on top --------------------------------------------------------------------------


def test_github_receiver_registers_the_webhook_for_a_declared_receiver(tmocks: TokenMocks) -> None:
    made: list[GithubReceiver] = []

    def program() -> None:
        declared = FluxReceiver(
            "receiver", FluxReceiverArgs(source=fleet(), url="https://hooks.example.com")
        )
        made.append(
            GithubReceiver("github", GithubReceiverArgs(receiver=declared, token=API_TOKEN))
        )

    synth.run(program)
    assert len(tmocks.by_kind("Receiver")) == 1  # the declared one, not a second
    assert len(tmocks.by_kind("Secret")) == 1
    (hook,) = [r for r in tmocks.resources if r.type.endswith("github:RepositoryWebhook")]
    assert hook.inputs["url"] == "https://hooks.example.com" + path_for(GENERATED)
    assert rpc.unwrap_rpc_secret(hook.inputs["secret"]) == GENERATED
    assert (hook.inputs["owner"], hook.inputs["repository"]) == ("octocat", "fleet")
    assert hook.inputs["events"] == ["push"]
    assert made[0].receiver is made[0].flux_receiver.receiver


def test_github_receiver_refuses_settings_the_declared_receiver_decides(
    tmocks: TokenMocks,
) -> None:
    def declared(**extra: Any) -> FluxReceiver:
        return FluxReceiver("receiver", FluxReceiverArgs(source=fleet(), **extra))

    with pytest.raises(
        SpecError,
        match=r"^GithubReceiverArgs: secretName: is set, but the given receiver decides it",
    ):
        GithubReceiver(
            "github",
            GithubReceiverArgs(
                receiver=declared(), url="https://h.example.com", secret_name="other"
            ),
        )
    with pytest.raises(SpecError, match=r"^GithubReceiverArgs: receiver 'gitlab': is not type"):
        GithubReceiver(
            "github",
            GithubReceiverArgs(receiver=declared(type="gitlab"), url="https://h.example.com"),
        )
    with pytest.raises(SpecError, match=r"^GithubReceiverArgs: url: is not set"):
        GithubReceiver("github", GithubReceiverArgs(receiver=declared(), token=API_TOKEN))
    with pytest.raises(SpecError, match=r"^GithubReceiverArgs: source: required field"):
        GithubReceiver("github", GithubReceiverArgs(url="https://h.example.com"))
    with pytest.raises(ArgumentError, match=r"receiver: expected a FluxReceiver, got str"):
        GithubReceiver("github", GithubReceiverArgs(receiver="r", url="https://h.example.com"))


def test_github_receiver_keeps_its_children_names_under_the_flux_receiver(
    tmocks: TokenMocks,
) -> None:
    """The Receiver, Secret and token GithubReceiver used to register itself keep their names
    and answer to their former URNs (aliases), so an existing token is not regenerated."""
    from pulumi.runtime.mocks import MockMonitor

    aliased: dict[str, Any] = {}
    original = MockMonitor.RegisterResource

    def spy(self: MockMonitor, request: Any) -> Any:
        aliased[request.name] = [a.spec.parentUrn for a in request.aliases]
        return original(self, request)

    args = GithubReceiverArgs(source=fleet(), url="https://h.example.com", token=API_TOKEN)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MockMonitor, "RegisterResource", spy)
        synth.run(lambda: GithubReceiver("github", args))
    # Same name and type, parent: the GithubReceiver, as before the FluxReceiver came between.
    parent = "urn:pulumi:test::gitops::pulumi:pulumi:Stack$gitops:github:GithubReceiver::github"
    for child in ("github-token", "github-secret", "github-receiver"):
        assert aliased[child] == [parent], child
    assert aliased["github-webhook"] == []


# --- the stack config and program -----------------------------------------------------------


def base_values() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
    return {k.split(":", 1)[1]: v for k, v in doc.items() if k.startswith("gitops:")}


def test_receiver_config_section() -> None:
    cfg = parse_config(base_values(), source="Pulumi.staging.yaml")
    assert cfg.receiver == ReceiverSettings(type="github", events=["push"])
    values = {**base_values(), "receiver": {"name": "push", "url": "https://h.example.com/"}}
    cfg = parse_config(values, source="Pulumi.staging.yaml")
    assert cfg.receiver is not None
    assert (cfg.receiver.name, cfg.receiver.url) == ("push", "https://h.example.com")
    args = cfg.receiver.receiver_args(fleet(), wait=True)
    assert (args.name, args.url, args.wait, args.type) == (
        "push",
        "https://h.example.com",
        True,
        "github",
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"receiver": {"tokenSecret": "x"}},
            "Pulumi.staging.yaml: gitops:receiver.tokenSecret: unknown field",
        ),
        (
            {"flux": {"components": ["source", "kustomize"]}},
            "Pulumi.staging.yaml: gitops:receiver: needs notification-controller, which serves "
            "Receivers; add notification to gitops:flux.components",
        ),
        (
            {
                "repository": {"url": "ssh://git@github.com/octocat/fleet"},
                "github": {"receiver": {"url": "https://h.example.com", "secretName": "x"}},
            },
            "Pulumi.staging.yaml: gitops:github.receiver.secretName 'x': is decided by "
            "gitops:receiver, which declares the Receiver; set it there",
        ),
    ],
)
def test_receiver_config_errors_name_the_key(changes: dict[str, Any], message: str) -> None:
    values = {**base_values(), **changes}
    if "flux" in changes:
        values["automation"] = None  # the image controllers are not the point here
        values["flux"] = {**base_values()["flux"], **changes["flux"]}
    values = {k: v for k, v in values.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        parse_config(values, source="Pulumi.staging.yaml")
    assert message in str(err.value)


def run_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **config: Any
) -> tuple[TokenMocks, dict[str, Any]]:
    """The staging program with `config` over its `gitops:` keys; its resources and exports."""
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    doc["config"].update({f"gitops:{k}": v for k, v in config.items()})
    doc["config"]["gitops:flux"]["install"] = False
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(doc))
    exports: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exports.__setitem__(name, value))
    mocks = TokenMocks()
    synth.run_stack_program(tmp_path, "staging", mocks)
    return mocks, {k: resolved(pulumi.Output.from_input(v)) for k, v in exports.items()}


def test_staging_exports_the_webhook_path_and_registers_no_webhook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    mocks, exports = run_stack(tmp_path, monkeypatch)
    assert exports["receiver_webhook_path"] == path_for(GENERATED)
    assert "receiver_webhook_url" not in exports
    assert [r.name for r in mocks.resources if r.type == TOKEN_TYPE] == ["receiver-token"]
    assert not [r for r in mocks.resources if "RepositoryWebhook" in r.type]
    (receiver,) = mocks.by_kind("Receiver")
    assert receiver["metadata"]["annotations"] == {
        **PATCH_FORCE,
        "pulumi.com/waitFor": "condition=Ready",
    }


GITHUB = {"manageDeployKey": False}


@pytest.mark.parametrize(
    ("token", "registered"), [(None, False), ("ghp_from_env_0000", True)], ids=["no-token", "token"]
)
def test_the_webhook_is_registered_only_with_github_a_token_and_a_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str | None, registered: bool
) -> None:
    if token:
        monkeypatch.setenv("GITHUB_TOKEN", token)
    else:
        monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    receiver = {"type": "github", "url": "https://flux-webhook.example.com"}
    mocks, exports = run_stack(tmp_path, monkeypatch, github=GITHUB, receiver=receiver)
    path = path_for(GENERATED)
    assert exports["receiver_webhook_url"] == "https://flux-webhook.example.com" + path
    hooks = [r for r in mocks.resources if "RepositoryWebhook" in r.type]
    assert len(mocks.by_kind("Receiver")) == 1
    if not registered:
        assert hooks == []
        return
    (hook,) = hooks
    assert hook.inputs["url"] == "https://flux-webhook.example.com" + path
    assert (hook.inputs["owner"], hook.inputs["repository"]) == (
        "johanhallberg",
        "k8s-cluster-config",
    )
    assert rpc.unwrap_rpc_secret(hook.inputs["token"]) == token


def test_an_explicit_github_receiver_without_a_declared_one_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_from_env_0000")
    github = {**GITHUB, "receiver": {"url": "https://h.example.com", "name": "push"}}
    mocks, exports = run_stack(tmp_path, monkeypatch, github=github, receiver=None)
    (receiver,) = mocks.by_kind("Receiver")
    assert receiver["metadata"]["name"] == "push"
    assert exports["receiver_webhook_path"] == path_for(GENERATED, "push")
    assert len([r for r in mocks.resources if "RepositoryWebhook" in r.type]) == 1
