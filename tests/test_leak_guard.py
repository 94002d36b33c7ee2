"""The leak guard (`gitops secrets check`) against hostile trees: keys in any file, Secrets in
Lists and beside malformed documents, fake SOPS envelopes, broken stack files, files too big to
parse, and files it must not open (FIFOs) or follow (symlink loops, links out of the tree)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from helpers import needs_sops

from gitops_sdk.cli import secrets as secrets_cli
from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services import leak_guard
from gitops_sdk.services.age import generate_age_key
from gitops_sdk.services.leak_guard import Finding, check_tree
from gitops_sdk.services.sops import find_sops

PASSWORD = "pw-5d1e-hostile-plaintext"
KEY_TEXT, RECIPIENT = generate_age_key()
IDENTITY = KEY_TEXT.splitlines()[-1]


def secret(name: str = "db", value: str = PASSWORD, extra: str = "") -> str:
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n"
        f"stringData:\n  password: {value}\n{extra}"
    )


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Paths shown relative to tmp_path; and no test may hang: 30 s, then it fails."""
    monkeypatch.chdir(tmp_path)

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError("the leak guard hung")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def shown(findings: list[Finding]) -> list[str]:
    out = [str(f) for f in findings]
    for line in out:
        assert PASSWORD not in line and IDENTITY not in line and IDENTITY[16:30] not in line
    return out


def by_kind(findings: list[Finding], kind: str) -> list[str]:
    return [str(f) for f in findings if f.kind == kind]


def check(*argv: str) -> int:
    return secrets_cli.main(["secrets", "check", *argv])


# --- age keys in any file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (".env", f"SOPS_AGE_KEY={IDENTITY}\n".encode()),
        ("notes.md", f"# notes\n\nold key:\n\n    {IDENTITY}\n".encode()),
        ("keys.txt.bak", KEY_TEXT.encode()),
        ("no-extension", IDENTITY.lower().encode()),
        ("backup.tar", b"\x00\x01\xff" * 100 + IDENTITY.encode() + b"\x00\xfe" * 100),
        ("key.ps1", f"$k = '{IDENTITY}'".encode("utf-16")),
        ("key.utf16be", IDENTITY.encode("utf-16-be")),
        ("values.yaml", f"flux:\n  age_key: {IDENTITY}\n".encode()),
    ],
)
def test_an_age_key_is_found_in_any_file(tmp_path: Path, name: str, content: bytes) -> None:
    (tmp_path / name).write_bytes(content)
    (finding,) = check_tree(tmp_path)
    assert finding.kind == "leak" and finding.path == tmp_path / name
    assert finding.problem == "holds an age private key (AGE-SECRET-KEY-1...)"
    assert finding.keys and all(k.startswith(("line ", "byte ")) for k in finding.keys)
    shown([finding])


def test_key_positions_are_shown_never_the_key(tmp_path: Path) -> None:
    (tmp_path / "k.txt").write_text(f"a\nb\n{IDENTITY}\n\nx {IDENTITY}\n")
    (finding,) = check_tree(tmp_path)
    assert shown([finding]) == [
        "k.txt: holds an age private key (AGE-SECRET-KEY-1...): line 3, line 5"
    ]


def test_placeholders_and_public_keys_are_not_keys(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        f"Put a line `AGE-SECRET-KEY-1...` in the file; the recipient is {RECIPIENT}.\n"
        "sops prints AGE-SECRET-KEY-[redacted].\n"
    )
    assert check_tree(tmp_path) == []


def test_a_key_far_into_a_big_file_and_across_read_chunks_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leak_guard, "_MAX_BYTES", 1000)
    monkeypatch.setattr(leak_guard, "_CHUNK", 64)
    for offset in range(1000, 1070, 7):  # the key straddles a chunk boundary somewhere here
        path = tmp_path / f"blob-{offset}.bin"
        path.write_bytes(b"\xff" * offset + IDENTITY.encode() + b"\xff" * 100)
    findings = check_tree(tmp_path)
    assert [f.kind for f in findings] == ["leak"] * 10
    assert {f.keys for f in findings} == {("line 1",)}  # one key, counted once


def test_a_file_beyond_the_scan_cap_is_unchecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leak_guard, "_MAX_BYTES", 100)
    monkeypatch.setattr(leak_guard, "_MAX_SCAN_BYTES", 2000)
    (tmp_path / "big.bin").write_bytes(b"\x00" * 5000)
    assert shown(check_tree(tmp_path)) == [
        "big.bin: not checked: larger than 0 MiB, scanned for age keys in part"
    ]


# --- Kubernetes Secrets: Lists, multi-document files, fake envelopes ----------------------------


def test_secrets_inside_lists_are_checked(tmp_path: Path) -> None:
    item = json.loads(json.dumps({"apiVersion": "v1", "kind": "Secret"}))
    item |= {"metadata": {"name": "in-json"}, "data": {"token": "cGxhaW4="}}
    (tmp_path / "list.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "List", "items": [item]}, indent="\t")
    )
    (tmp_path / "list.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: cm}\n"
        f"- apiVersion: v1\n  kind: SecretList\n  items:\n  - kind: Secret\n"
        f"    metadata: {{name: nested}}\n    stringData: {{password: {PASSWORD}}}\n"
    )
    assert shown(check_tree(tmp_path)) == [
        "list.json: items[0]: Secret 'in-json' is not SOPS-encrypted: data.token",
        "list.yaml: items[1]: items[0]: Secret 'nested' is not SOPS-encrypted: stringData.password",
    ]


def test_a_malformed_document_is_reported_and_the_others_still_checked(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {broken: [}\n"
        f"---\n{secret('first')}---\n: : [\n---\n{secret('second')}"
        "---\nkey: 2001-13-45\n"  # parses, but no such date: still only this document
    )
    findings = check_tree(tmp_path)
    assert by_kind(findings, "leak") == [
        "all.yaml: document 2 (line 5): Secret 'first' is not SOPS-encrypted: stringData.password",
        "all.yaml: document 4 (line 14): Secret 'second' is not SOPS-encrypted: "
        "stringData.password",
    ]
    unchecked = by_kind(findings, "unchecked")
    assert [line.split(": not valid YAML")[0] for line in unchecked] == [
        "all.yaml: not checked: document 1 (line 1)",
        "all.yaml: not checked: document 3 (line 12)",
        "all.yaml: not checked: document 5 (line 21)",
    ]
    assert "(line 4:" in unchecked[0] and "(line 13:" in unchecked[1]
    shown(findings)


def test_malformed_yaml_that_holds_no_secret_is_not_the_guards_business(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/deploy.yaml").write_text("{{- if .Values.enabled }}\nkind: Deploy\n")
    assert check_tree(tmp_path) == []


@pytest.mark.parametrize(
    ("sops", "why"),
    [
        ("sops: {}\n", "no mac, lastmodified, version"),
        ("sops: yes\n", "no mac, lastmodified, version"),
        ("sops:\n  mac: x\n  lastmodified: '2024-01-01T00:00:00Z'\n  version: 3.8.1\n", "mac is"),
        (
            "sops:\n  mac: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\n"
            "  lastmodified: '2024-01-01T00:00:00Z'\n  version: 3.8.1\n",
            "it names no key",
        ),
    ],
)
def test_a_sops_block_that_is_not_an_envelope_is_plaintext(
    tmp_path: Path, sops: str, why: str
) -> None:
    (tmp_path / "secret.yaml").write_text(secret(extra=sops))
    (finding,) = check_tree(tmp_path)
    assert finding.kind == "leak" and why in finding.problem
    assert finding.problem.endswith("plaintext pretending to be encrypted")
    assert finding.keys == ("stringData.password",)
    (tmp_path / "secret.yaml").unlink()
    (tmp_path / "values.yaml").write_text(f"db:\n  password: {PASSWORD}\n{sops}")
    (finding,) = check_tree(tmp_path)  # any document pretending, not only Secrets
    assert finding.keys == ("db.password",) and "pretending" in finding.problem


def test_files_under_a_rule_must_carry_a_real_envelope(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n- path_regex: \\.sops\\.(yaml|env)$\n  age: " + RECIPIENT + "\n"
    )
    (tmp_path / "a.sops.yaml").write_text(f"password: {PASSWORD}\nsops:\n  mac: fake\n")
    (tmp_path / "b.sops.env").write_text(
        f"PASSWORD={PASSWORD}\nsops_mac=ENC[AES256_GCM,data:AA,iv:AA,tag:AA,type:str]\n"
    )
    assert shown(check_tree(tmp_path)) == [
        r"a.sops.yaml: matches rule '\.sops\.(yaml|env)$' but its sops metadata is not a SOPS "
        "envelope (no lastmodified, version): plaintext pretending to be encrypted: password",
        r"b.sops.env: matches rule '\.sops\.(yaml|env)$' but its sops metadata is not a SOPS "
        "envelope (no lastmodified, version): plaintext pretending to be encrypted: PASSWORD",
    ]


def test_an_age_key_is_reported_beside_other_findings_of_its_file(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text(secret(extra=f"sops:\n  age_key: {IDENTITY}\n"))
    assert [f.problem.split(":")[0] for f in check_tree(tmp_path)] == [
        "Secret 'db'",
        "holds an age private key (AGE-SECRET-KEY-1...)",
    ]


def envelope(path: Path, text: str) -> Path:
    """`text` really encrypted by sops (Secret values only), written to `path`."""
    path.write_text(text)
    args = ["--age", RECIPIENT, "--encrypted-regex", "^(data|stringData)$"]
    proc = subprocess.run(
        [find_sops(), "encrypt", *args, "--input-type", "yaml", "--output-type", "yaml", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    path.write_text(proc.stdout)
    return path


@needs_sops
def test_a_real_envelope_passes_and_a_value_put_back_does_not(tmp_path: Path) -> None:
    path = envelope(tmp_path / "secret.yaml", secret())
    assert check_tree(tmp_path) == []
    text = path.read_text()
    start = text.index("password: ENC[")
    path.write_text(text[:start] + f"password: {PASSWORD}" + text[text.index("\n", start) :])
    (finding,) = check_tree(tmp_path)
    assert finding.problem == "Secret 'db' is SOPS-encrypted but holds plaintext values"


def test_names_are_shown_on_one_line_and_values_never(tmp_path: Path) -> None:
    (Path(os.fsdecode(b"\xff\xfe.yaml"))).write_text(secret())
    (tmp_path / "new\nline.yaml").write_text(secret(extra='  "odd\\nkey": x\n'))
    (tmp_path / "kustomization.yaml").write_text(
        f"secretGenerator:\n- name: db\n  literals: [user=admin, {PASSWORD}]\n"
    )
    assert shown(check_tree(tmp_path)) == [
        "kustomization.yaml: secretGenerator 'db' has plaintext literals: "
        "secretGenerator[0].literals.user, secretGenerator[0].literals[1]",
        r"new\x0aline.yaml: Secret 'db' is not SOPS-encrypted: stringData.password, "
        r"stringData.odd\x0akey",
        r"\xff\xfe.yaml: Secret 'db' is not SOPS-encrypted: stringData.password",
    ]


# --- stack files ---------------------------------------------------------------------------------


def test_a_stack_file_that_does_not_parse_is_line_scanned(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.staging.yaml").write_text(
        "config:\n"
        f"  gitops:githubToken: {PASSWORD}  # oops\n"
        "  gitops:ageKey:\n    secure: v1:AAAA\n"
        "  'gitops:gitCredentials':\n    username:\n      secure: v1:BBBB\n"
        f"    password: {PASSWORD}\n"
        "  gitops:githubIdentity: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n"
        "  broken: [\n"
    )
    (finding,) = check_tree(tmp_path)
    assert shown([finding]) == [
        "Pulumi.staging.yaml: is not valid YAML (line 12: did not find expected node content); "
        "a line scan found secret config in plain text: gitops:githubToken (line 2), "
        "gitops:gitCredentials (line 5), gitops:githubIdentity (line 9)"
    ]


def test_a_stack_file_with_only_secure_values_passes_the_line_scan(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.prod.yaml").write_text(
        "config:\n  gitops:ageKey: {secure: v1:AAAA}\n  gitops:githubToken:\n"
        "    secure: v1:BBBB\n  gitops:cluster: {name: [\n"
    )
    assert check_tree(tmp_path) == []


def test_a_stack_file_with_an_impossible_value_does_not_crash(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text(
        f"config:\n  gitops:when: 2001-13-45\n  gitops:ageKey: {PASSWORD}\n"
    )
    (finding,) = check_tree(tmp_path)
    assert finding.keys == ("gitops:ageKey (line 3)",)


# --- size cap, unreadable, undecodable -----------------------------------------------------------


def test_a_yaml_file_over_the_cap_is_unchecked_and_fails_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(leak_guard, "_MAX_BYTES", 200)
    (tmp_path / "big.yaml").write_text(secret() + "# padding\n" * 30)
    (tmp_path / "small.yaml").write_text("a: 1\n")
    assert shown(check_tree(tmp_path)) == [
        "big.yaml: not checked: larger than 0.0002 MB, not parsed for secrets"
    ]
    assert check(str(tmp_path)) == 1
    out, err = capsys.readouterr()
    assert out == "big.yaml: not checked: larger than 0.0002 MB, not parsed for secrets\n"
    assert "1 file(s) could not be checked" in err and "--allow-unchecked" in err
    assert check(str(tmp_path), "--allow-unchecked") == 0
    out, err = capsys.readouterr()
    assert out.endswith(f"{tmp_path}: no plaintext secrets\n")
    assert check(str(tmp_path), "--exclude", "big.*") == 0


def test_an_unreadable_file_is_unchecked_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked.yaml"
    locked.write_text(secret("locked"))
    (tmp_path / "z.yaml").write_text(secret("z"))
    if os.geteuid() == 0:  # root reads anything: make the kernel's answer for this one file
        real = os.open

        def deny(path: str | os.PathLike[str], flags: int, *args: int) -> int:
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, flags, *args)

        monkeypatch.setattr(os, "open", deny)
    else:
        locked.chmod(0)
    assert shown(check_tree(tmp_path)) == [
        "locked.yaml: not checked: cannot be read (Permission denied)",
        "z.yaml: Secret 'z' is not SOPS-encrypted: stringData.password",
    ]


def test_undecodable_bytes_are_noted_and_the_secret_still_found(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes(secret().encode() + b"# caf\xe9\n")
    findings = check_tree(tmp_path)
    assert by_kind(findings, "leak") == [
        "latin1.yaml: Secret 'db' is not SOPS-encrypted: stringData.password"
    ]
    assert by_kind(findings, "note") == [
        "latin1.yaml: is not UTF-8 text: checked with undecodable bytes replaced"
    ]


def test_yaml_bombs_and_deep_nesting_end_quickly(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n- path_regex: \\.sops\\.yaml$\n")
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    (tmp_path / "bomb.sops.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "deep.yaml").write_text("kind: Secret\nstringData: " + "[" * 5000 + "\n")
    (tmp_path / "deep.json").write_text('{"kind": "Secret", "x": ' + "[" * 100_000 + "}")
    findings = check_tree(tmp_path)
    assert [(f.path.name, f.kind) for f in findings] == [
        ("bomb.sops.yaml", "leak"),
        ("deep.json", "unchecked"),
        ("deep.yaml", "unchecked"),
    ]
    assert "more than 200000 values" in findings[0].problem


# --- what is not a regular file ------------------------------------------------------------------


def test_fifos_links_and_loops_are_noted_never_opened_or_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(secret("outside"))
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "secret.yaml").write_text(secret("inside"))
    os.mkfifo(tree / "pipe.yaml")  # opening it for reading would wait for a writer forever
    (tree / "out.yaml").symlink_to(outside / "secret.yaml")
    (tree / "outdir").symlink_to(outside)
    (tree / "again").symlink_to(tree / "sub")  # the same Secret: not reported twice
    (tree / "up").symlink_to(tree)  # a loop through the tree itself
    (tree / "a").symlink_to(tree / "b")
    (tree / "b").symlink_to(tree / "a")
    (tree / "gone").symlink_to(tree / "missing")
    findings = check_tree(tree)
    assert by_kind(findings, "leak") == [
        "tree/sub/secret.yaml: Secret 'inside' is not SOPS-encrypted: stringData.password"
    ]
    assert by_kind(findings, "note") == [
        "tree/a: broken symlink (missing target or a loop): skipped",
        "tree/b: broken symlink (missing target or a loop): skipped",
        "tree/gone: broken symlink (missing target or a loop): skipped",
        "tree/out.yaml: symlink to outside the checked tree: not followed",
        "tree/outdir: symlink to outside the checked tree: not followed",
        "tree/pipe.yaml: is a FIFO, not a file: skipped",
    ]
    assert by_kind(findings, "unchecked") == []


def test_devices_are_noted(tmp_path: Path) -> None:
    try:
        os.mknod(tmp_path / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating a device needs root")
    assert shown(check_tree(tmp_path)) == ["null: is a character device, not a file: skipped"]


def test_the_root_itself_may_be_a_fifo_a_link_or_missing(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    assert shown(check_tree(tmp_path / "fifo")) == ["fifo: is a FIFO, not a file: skipped"]
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(ConfigError, match=r"loop: broken symlink \(missing target or a loop\)$"):
        check_tree(tmp_path / "loop")
    with pytest.raises(ConfigError, match=r"nowhere: no such file or folder$"):
        check_tree(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"--config .*nothing\.yaml: no such file$"):
        check_tree(tmp_path, config=tmp_path / "nothing.yaml")


def test_the_cli_prints_leaks_and_unchecked_on_stdout_and_notes_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".env").write_text(f"SOPS_AGE_KEY={IDENTITY}\n")
    os.mkfifo(tmp_path / "pipe")
    assert check(str(tmp_path)) == 1
    out, err = capsys.readouterr()
    assert out == ".env: holds an age private key (AGE-SECRET-KEY-1...): line 1\n"
    assert "note: pipe: is a FIFO, not a file: skipped\n" in err
    assert "1 file(s) hold plaintext secrets" in err
    assert IDENTITY not in out + err
    (tmp_path / ".env").unlink()
    assert check(str(tmp_path)) == 0  # a note alone does not fail the check
    assert capsys.readouterr().out == f"{tmp_path}: no plaintext secrets\n"


def test_a_sops_config_that_cannot_be_read_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".sops.yaml").write_bytes(b"creation_rules:\n- path_regex: \xff\n")
    assert check(str(tmp_path)) == 2
    assert capsys.readouterr().err == "gitops: .sops.yaml: cannot be read (not UTF-8 text)\n"
    (tmp_path / ".sops.yaml").write_text("creation_rules: [" * 3000)
    assert check(str(tmp_path)) == 2
    assert capsys.readouterr().err.startswith("gitops: .sops.yaml: not valid YAML")


def test_what_git_ignores_is_skipped_unless_asked_for(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("build/\n*.local.yaml\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "tool").write_text(f"junk\n{IDENTITY}\n")
    (tmp_path / "db.local.yaml").write_text(secret())
    (tmp_path / "app.yaml").write_text(secret("app"))
    findings = check_tree(tmp_path)
    assert {f.path.name for f in findings if f.kind == "leak"} == {"app.yaml"}
    (note,) = [f for f in findings if f.kind == "note"]
    assert "2 path(s) Git ignores not checked" in str(note)
    everything = check_tree(tmp_path, include_ignored=True)
    leaks = {f.path.name for f in everything if f.kind == "leak"}
    assert leaks == {"app.yaml", "db.local.yaml", "tool"}
    shown(everything)


def test_outside_a_git_work_tree_everything_is_checked(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.yaml\n")  # no repository: means nothing
    (tmp_path / "app.yaml").write_text(secret("app"))
    findings = check_tree(tmp_path)
    assert [f.path.name for f in findings if f.kind == "leak"] == ["app.yaml"]
