"""The `gitops:` stack config schema: errors name the stack file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_sdk import ConfigError
from gitops_sdk.stack.config import load_stack_file, parse_config

ROOT = Path(__file__).resolve().parent.parent
BASE = {
    "cluster": {"name": "kubestaging", "environment": "staging"},
    "repository": {"url": "https://github.com/org/fleet"},
}


def parse(**overrides: object) -> object:
    return parse_config({**BASE, **overrides}, source="Pulumi.staging.yaml")


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_shipped_stack_files_are_valid(stack: str) -> None:
    cfg = parse_config(
        load_stack_file(ROOT / f"Pulumi.{stack}.yaml"), source=f"Pulumi.{stack}.yaml"
    )
    assert cfg.cluster.environment == stack
    assert cfg.cluster.architectures == ["arm64"]
    assert list(cfg.layers) == ["infrastructure", "monitoring", "security", "apps"]


def test_defaults_fill_what_is_not_set() -> None:
    cfg = parse()
    assert cfg.repository.branch == "main"
    assert cfg.repository.interval == "1m"
    assert cfg.flux.namespace == "flux-system"
    assert cfg.defaults.prune is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"cluster": {"name": "kubestaging"}},
            r"Pulumi.staging.yaml: gitops:cluster.environment: required field is missing",
        ),
        (
            {"repository": {"url": "git@github.com:org/fleet"}},
            r"gitops:repository.url 'git@github.com:org/fleet': is an scp-like address.*"
            r"'ssh://git@github.com/org/fleet'",
        ),
        (
            {"repository": {"url": "https://x", "interval": "often"}},
            r"gitops:repository.interval 'often': is not a duration",
        ),
        (
            {"layers": {"apps": {"interval": "5 minutes"}}},
            r"gitops:layers.apps.interval '5 minutes': is not a duration",
        ),
        ({"layers": {"Apps": {}}}, r"gitops:layers.Apps 'Apps': is not a DNS-1123 subdomain"),
        (
            {"layers": {"apps": {"units": {"demo": {"replicas": {"demo": "three"}}}}}},
            r"gitops:layers.apps.units.demo.replicas.demo 'three': input should be a valid integer",
        ),
        ({"layers": {"apps": {"prunne": True}}}, r"gitops:layers.apps.prunne: unknown field$"),
        (
            {"repository": {"url": "https://bob:ghp_SECRET@github.com/org/fleet"}},
            r"gitops:repository.url 'https://bob:\*\*\*@github.com/org/fleet': holds a password",
        ),
        (
            {
                "alerts": {
                    "providers": {
                        "slack": {
                            "type": "slack",
                            "addressSecret": "https://hooks.slack.com/services/T0/B0/SECRETXX",
                        }
                    }
                }
            },
            r"gitops:alerts.providers.slack.addressSecret: must name the Pulumi config key "
            r"holding the secret \(e.g. 'slackWebhook'\), not the secret itself \(value not "
            r"shown\)$",
        ),
        (
            {
                "repository": {"url": "https://github.com/org/fleet", "secretName": None},
                "automation": {
                    "images": {"nginx": {"image": "nginx", "policy": {"semver": {"range": "1.x"}}}},
                    "update": {"path": "./apps"},
                },
            },
            r"gitops:repository.secretName None: is null, but gitops:automation pushes commits",
        ),
        (
            {"alerts": {"providers": {"am": {"type": "alertmanager"}}}},
            r"gitops:alerts.providers.am.address: is required for provider type 'alertmanager': "
            r"the Alertmanager API URL \(.../api/v2/alerts\) \(set address, or addressSecret",
        ),
        (
            {"alerts": {"providers": {"am": {"type": "alertmanager", "timeout": "5 minutes"}}}},
            r"gitops:alerts.providers.am.timeout '5 minutes': is not a duration",
        ),
        (
            {
                "alerts": {
                    "providers": {"am": {"type": "alertmanager", "address": "http://am:9093"}},
                    "alerts": [
                        {
                            "name": "x",
                            "provider": "am",
                            "sources": ["Kustomization/*"],
                            "exclusions": ["[unclosed"],
                        }
                    ],
                }
            },
            r"gitops:alerts.alerts\[0\].exclusions\[0\] '\[unclosed': is not a valid Go regexp",
        ),
        (
            {"layers": {"apps": {"units": {"demo": {"replicas": {"Demo App": 1}}}}}},
            r"gitops:layers.apps.units.demo.replicas.Demo App 'Demo App': is not a DNS-1123",
        ),
        (
            {"layers": {"apps": {"units": {"demo": {"replicas": {"demo": 99999999999}}}}}},
            r"replicas.demo 99999999999: input should be less than or equal to 2147483647",
        ),
        (
            {"layers": {"apps": {"resources": {"demo": {"limits": {"memory": "500 Mi"}}}}}},
            r"gitops:layers.apps.resources.demo.limits.memory '500 Mi': is not a memory quantity",
        ),
        (
            {"layers": {"apps": {"resources": {"demo": {"requests": {"cpu": "1.5.0"}}}}}},
            r"gitops:layers.apps.resources.demo.requests.cpu '1.5.0': is not a CPU quantity",
        ),
        (
            {"cluster": {"name": "x", "environment": "staging", "architectures": ["riscv"]}},
            r"gitops:cluster.architectures\[0\] 'riscv': expected 'arm64', 'amd64' or 'arm'",
        ),
        (
            {"flux": {"external": ["Kustomization/crds"]}},
            r"gitops:flux.external\[0\] 'Kustomization/crds': expected 'Kind/namespace/name'",
        ),
        (
            {"flux": {"namespace": "Flux_System"}},
            r"gitops:flux.namespace 'Flux_System': is not a DNS-1123 label",
        ),
        (
            {"slackWebhook": "https://hooks.slack.com/T0/B0/secret"},
            r"gitops:slackWebhook: unknown key \(set secrets with `pulumi config set --secret`",
        ),
    ],
)
def test_bad_config_names_file_key_value_and_expectation(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(**overrides)


def test_secret_keys_are_skipped_and_unknown_values_never_echoed() -> None:
    cfg = parse(ageKey={"secure": "v1:abc"}, slackWebhook={"secure": "v1:def"})
    assert cfg.cluster.name == "kubestaging"
    parse_config(
        {**BASE, "githubToken": "ghp_x"},
        source="Pulumi.staging.yaml",
        secret_keys=frozenset({"githubToken"}),
    )
    with pytest.raises(ConfigError) as info:
        parse(webhook="https://hooks.example/very-secret")
    assert "very-secret" not in str(info.value)


def test_stack_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"Pulumi.nope.yaml: stack file not found"):
        load_stack_file(tmp_path / "Pulumi.nope.yaml")
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config: [1, 2\n")
    with pytest.raises(ConfigError, match=r"Pulumi.bad.yaml: not valid YAML"):
        load_stack_file(bad)
    bad.write_text("config:\n  gitops:cluster: {name: x}\n  other:key: 1\n")
    assert load_stack_file(bad) == {"cluster": {"name": "x"}}


@pytest.mark.parametrize(
    "overrides",
    [
        {"repository": {"url": "https://bob:ghp_SECRET@github.com/org/fleet"}},
        {"alerts": {"providers": {"s": {"type": "slack", "addressSecret": "https://x/SECRET"}}}},
        {"alerts": {"providers": {"s": {"type": "slack", "tokn": "SECRET"}}}},
        {"github": {"token": "ghp_SECRET"}},
    ],
)
def test_secrets_put_in_the_wrong_place_are_not_echoed(overrides: dict) -> None:
    with pytest.raises(ConfigError) as err:
        parse(**overrides)
    assert "SECRET" not in str(err.value)
