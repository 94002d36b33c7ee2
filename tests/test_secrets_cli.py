"""`gitops secrets init|encrypt|decrypt|check`, end to end with the real sops binary."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest
import yaml
from helpers import needs_sops

from gitops_sdk.cli import secrets as secrets_cli
from gitops_sdk.services.age import age_recipients

TOKEN = "tok-7Hq2-cli-plaintext"
SECRET = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: cloudflare-credentials
  namespace: traefik-system
stringData:
  token: {TOKEN}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Pulumi project that is also a Git repository, as the working folder; HOME in tmp."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "fleet"
    (root / ".git").mkdir(parents=True)
    (root / "Pulumi.yaml").write_text("name: homelab\nruntime: python\n")
    for stack in ("staging", "production"):
        (root / f"Pulumi.{stack}.yaml").write_text(
            yaml.safe_dump({"config": {"gitops:cluster": {"name": stack, "environment": stack}}})
        )
    monkeypatch.chdir(root)
    return root


def gitops(*argv: str) -> int:
    return secrets_cli.main(["secrets", *argv])


def test_init_prints_the_next_steps_but_never_the_key(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gitops("init", "--stack", "staging") == 0
    out = capsys.readouterr().out
    key_file = Path.home() / ".config/sops/age/homelab-staging.agekey"
    recipient = age_recipients(key_file.read_text())[0]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert f"staging: public key (recipient) {recipient}" in out
    assert f"    pulumi config set --secret --stack staging gitops:ageKey < {key_file}\n" in out
    assert "AGE-SECRET-KEY" not in out
    rules = yaml.safe_load((project / ".sops.yaml").read_text())["creation_rules"]
    assert {r["age"] for r in rules} == {recipient}


def test_init_refuses_a_key_file_in_the_repository(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gitops("init", "--stack", "staging", "--key-file", "keys/staging.agekey") == 2
    err = capsys.readouterr().err
    assert err.startswith("gitops: staging: refusing to write the private age key to ")
    assert not (project / "keys").exists()


@needs_sops
def test_check_encrypt_decrypt_round_trip(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gitops("init", "--stack", "staging")
    gitops("init", "--stack", "production")
    secret = project / "clusters/staging/cloudflare.sops.yaml"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET)
    capsys.readouterr()

    assert gitops("check") == 1
    captured = capsys.readouterr()
    assert "clusters/staging/cloudflare.sops.yaml: matches rule" in captured.out
    assert captured.out.rstrip().endswith("is not SOPS-encrypted: stringData.token")
    assert "1 file(s) hold plaintext secrets" in captured.err
    assert TOKEN not in captured.out + captured.err

    assert gitops("encrypt", "clusters/staging/cloudflare.sops.yaml") == 0
    assert capsys.readouterr().out == "encrypted clusters/staging/cloudflare.sops.yaml\n"
    assert TOKEN not in secret.read_text()
    assert gitops("encrypt", "clusters/staging/cloudflare.sops.yaml") == 0
    assert "already encrypted" in capsys.readouterr().out

    assert gitops("check", str(project)) == 0
    assert capsys.readouterr().out == f"{project}: no plaintext secrets\n"

    # The stack comes from the path, its key from where `init` put it.
    assert gitops("decrypt", "clusters/staging/cloudflare.sops.yaml") == 0
    assert yaml.safe_load(capsys.readouterr().out)["stringData"] == {"token": TOKEN}

    # Production's key is not a recipient: one line, file and stack named, no value.
    assert gitops("decrypt", "--stack", "production", "clusters/staging/cloudflare.sops.yaml") == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "gitops: production: clusters/staging/cloudflare.sops.yaml: the age key from "
    )
    assert "is not a recipient of this file" in err and TOKEN not in err
    assert len(err.strip().splitlines()) == 1


@needs_sops
def test_decrypt_uses_sops_age_key_file(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gitops("init", "--stack", "staging", "--key-file", str(Path.home() / "k/staging.agekey"))
    secret = project / "apps/demo/staging/db.sops.env"
    secret.parent.mkdir(parents=True)
    secret.write_text(f"TOKEN={TOKEN}\n")
    assert gitops("encrypt", str(secret)) == 0
    capsys.readouterr()
    assert gitops("decrypt", str(secret)) == 2  # key not at the default place, no env
    assert "no available age identity can decrypt it" in capsys.readouterr().err
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(Path.home() / "k/staging.agekey"))
    assert gitops("decrypt", str(secret)) == 0
    assert capsys.readouterr().out == f"TOKEN={TOKEN}\n"


def test_add_commands_hooks_into_an_existing_parser(project: Path) -> None:
    parser = argparse.ArgumentParser(prog="gitops")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd())
    sub = parser.add_subparsers(dest="command", required=True)
    secrets_cli.add_commands(sub)
    args = parser.parse_args(["secrets", "check", "--config", ".sops.yaml"])
    assert args.func is secrets_cli.cmd_check and args.path is None
    assert args.config == Path(".sops.yaml")
    with pytest.raises(SystemExit):
        parser.parse_args(["secrets"])


# --- hostile input: what decrypt and encrypt are given --------------------------------------------


def hostile_inputs(root: Path) -> dict[str, str]:
    """Paths that are not SOPS files, and the one-line reason each must get."""
    (root / "x.yaml").mkdir()
    os.mkfifo(root / "pipe.yaml")
    (root / "gone.yaml").symlink_to(root / "nowhere.yaml")
    (root / "loop.yaml").symlink_to(root / "loop.yaml")
    (root / "image.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    (root / "wide.yaml").write_bytes("a: 1\n".encode("utf-16"))
    (root / "nul.yaml").write_bytes(b"a: \x00\x01\n")
    return {
        "missing.yaml": "missing.yaml: file not found",
        "x.yaml": "x.yaml: is a folder; expected a SOPS file (YAML, JSON, .env)",
        "pipe.yaml": "pipe.yaml: is a FIFO; expected a SOPS file (YAML, JSON, .env)",
        "gone.yaml": "gone.yaml: file not found (a broken symlink)",
        "loop.yaml": "loop.yaml: cannot be read (Too many levels of symbolic links)",
        "image.yaml": "image.yaml: cannot be read (not UTF-8 text)",
        "wide.yaml": "wide.yaml: cannot be read (not UTF-8 text)",
        "nul.yaml": "nul.yaml: not valid YAML (control character #x00 not allowed)",
    }


def test_decrypt_and_encrypt_refuse_what_is_not_a_sops_file_in_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (Path.home() / "bad.agekey").write_text("not a key\n")
    for name, reason in hostile_inputs(project).items():
        for argv in (
            ("decrypt", name),
            ("decrypt", "--key-file", str(Path.home() / "bad.agekey"), name),  # the file first
            ("encrypt", name),
        ):
            assert gitops(*argv) == 2, argv
            err = capsys.readouterr().err
            assert err.startswith(f"gitops: {reason}"), (argv, err)
            assert len(err.splitlines()) == 1 and "Traceback" not in err


@needs_sops
def test_encrypt_failing_midway_leaves_the_plaintext_file_intact(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    gitops("init", "--stack", "staging")
    secret = project / "clusters/staging/db.sops.yaml"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET)
    secret.chmod(0o640)
    capsys.readouterr()

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", refuse)
        assert gitops("encrypt", str(secret)) == 2
    assert capsys.readouterr().err.endswith("db.sops.yaml: No space left on device\n")
    assert secret.read_text() == SECRET
    assert sorted(p.name for p in secret.parent.iterdir()) == ["db.sops.yaml"]
    assert gitops("encrypt", str(secret)) == 0
    assert TOKEN not in secret.read_text()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o640  # the file's mode is kept


def test_init_writes_the_key_0600_whatever_the_umask(project: Path) -> None:
    old = os.umask(0)
    try:
        assert gitops("init", "--stack", "staging") == 0
    finally:
        os.umask(old)
    key_file = Path.home() / ".config/sops/age/homelab-staging.agekey"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == [key_file.name]  # no temp file left
