"""The e2e homelab: the fixture config repository (with a SOPS Secret encrypted for this run's
age key), the e2e stack file filled in for this run, and `pulumi up` of the real program with
its secrets set as Pulumi secrets. Shared by the e2e tests and `benchmarks/convergence.py`."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.services import sops, sops_config
from gitops_sdk.services.age import generate_age_key

from .pulumi import ROOT, PulumiProject, Result

FIXTURES = ROOT / "e2e" / "fixtures"
FLUX_MANIFEST = ROOT.parent / "shared" / "flux-install" / "v2.9.4" / "install.yaml"
"""The reference copy of Flux's install manifest (CI has it beside the checkout)."""
STACK = "e2e"


@dataclass
class AgeKey:
    text: str
    """The key file (`AGE-SECRET-KEY-...` line and comments)."""
    identity: str
    recipient: str


def new_age_key() -> AgeKey:
    text, recipient = generate_age_key()
    identity = next(line for line in text.splitlines() if line.startswith("AGE-SECRET-KEY-"))
    return AgeKey(text, identity, recipient)


def seed_repo(dest: Path, age: AgeKey, secret_value: str, stack: str = STACK) -> Path:
    """The fixture repo plus a SOPS-encrypted Secret `e2e-apps/demo-db` (key `password`),
    encrypted now for `age`."""
    shutil.copytree(FIXTURES / "repo", dest)
    config = dest / ".sops.yaml"
    config.write_text(
        yaml.safe_dump({"creation_rules": sops_config.stack_rules(stack, age.recipient)})
    )
    secret = dest / "apps" / stack / "db.sops.yaml"
    secret.parent.mkdir(parents=True)
    secret.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "demo-db", "namespace": "e2e-apps"},
                "stringData": {"password": secret_value},
            }
        )
    )
    if not sops.encrypt(secret, config=config) or secret_value in secret.read_text():
        raise RuntimeError(f"{secret}: sops left it unencrypted")
    kustomization = dest / "apps" / "kustomization.yaml"
    doc = yaml.safe_load(kustomization.read_text())
    doc["resources"].append(f"{stack}/db.sops.yaml")
    kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest


def stack_config(
    git_url: str,
    sink_url: str,
    *,
    git_secret: bool = False,
    interval: str | None = None,
) -> dict[str, Any]:
    """The e2e stack file for this run: the Git server's URL, the alert sink's address, the
    source Secret's name when the Git server wants credentials, and optionally another polling
    `interval`."""
    doc: dict[str, Any] = yaml.safe_load((FIXTURES / f"Pulumi.{STACK}.yaml").read_text())
    config = doc["config"]
    config["gitops:repository"]["url"] = git_url
    if git_secret:
        config["gitops:repository"]["secretName"] = "flux-system"
    if interval is not None:
        config["gitops:repository"]["interval"] = interval
    config["gitops:alerts"]["providers"]["sink"]["address"] = sink_url
    return doc


def deploy(
    project: PulumiProject,
    doc: dict[str, Any],
    age: AgeKey,
    *,
    credentials: tuple[str, str] | None = None,
    stack: str = STACK,
) -> Result:
    """`pulumi stack init`, the secrets set with `config set --secret` (from stdin, never in
    an argument), then `pulumi up`."""
    project.write_stack_file(stack, doc)
    project.run("stack", "init", stack, timeout=60)
    project.run("config", "set", "--secret", "--stack", stack, "gitops:ageKey", stdin=age.text)
    for key, value in zip(("username", "password"), credentials or (), strict=False):
        project.run(
            "config",
            "set",
            "--secret",
            "--path",
            "--stack",
            stack,
            f"gitops:gitCredentials.{key}",
            stdin=value,
        )
    if age.identity in project.dir.joinpath(f"Pulumi.{stack}.yaml").read_text():
        raise RuntimeError("the age key reached the stack file in plaintext")
    return project.run("up", "--yes", "--skip-preview", "--stack", stack, timeout=600)


__all__ = [
    "FIXTURES",
    "FLUX_MANIFEST",
    "STACK",
    "AgeKey",
    "deploy",
    "new_age_key",
    "seed_repo",
    "stack_config",
]
