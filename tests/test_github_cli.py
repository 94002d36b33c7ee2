"""`gitops bootstrap github` against the local GitHub stand-in (fake_github)."""

from __future__ import annotations

import argparse
import os
import stat
import subprocess
from pathlib import Path

import pytest
from fake_github import FAST, TOKEN, FakeGithub
from pytest_httpserver import HTTPServer

from gitops_sdk.cli import github as github_cli
from gitops_sdk.services.ssh_keys import load_ssh_key

KNOWN_HOSTS = "localhost ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIstandin\n"


@pytest.fixture(autouse=True)
def fast_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(github_cli, "CLIENT_OPTIONS", FAST)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)


@pytest.fixture
def gh(httpserver: HTTPServer) -> FakeGithub:
    return FakeGithub(httpserver)


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(KNOWN_HOSTS)
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="gitops")
    parser.add_argument("--project-dir", type=Path)
    add = parser.add_subparsers(dest="command", required=True)
    github_cli.add_commands(add)
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def bootstrap(gh: FakeGithub, tmp_path: Path, known_hosts: Path, *extra: str) -> list[str]:
    return [
        "--project-dir",
        str(tmp_path),
        "bootstrap",
        "github",
        "--stack",
        "staging",
        "--base-url",
        gh.base_url,
        "--known-hosts",
        str(known_hosts),
        "--out-dir",
        str(tmp_path / "keys"),
        *extra,
    ]


def test_creates_a_personal_repository_and_registers_a_key(
    gh: FakeGithub, tmp_path: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "octocat", "--repository", "fleet")
    code, out, err = run([*argv, "--personal"], capsys)

    assert (code, err) == (0, "")
    identity = (tmp_path / "keys" / "identity").read_text()
    public = load_ssh_key(identity).public_key
    assert gh.calls() == [
        ("GET", "/repos/octocat/fleet", None),
        ("GET", "/user", None),
        (
            "POST",
            "/user/repos",
            {
                "name": "fleet",
                "description": "Flux GitOps repository (gitops bootstrap github)",
                "private": True,
                "auto_init": True,
            },
        ),
        ("GET", "/repos/octocat/fleet/keys", None),
        (
            "POST",
            "/repos/octocat/fleet/keys",
            {"title": "flux-staging", "key": public, "read_only": True},
        ),
    ]
    assert gh.auth_headers() == {f"token {TOKEN}"}
    repo = gh.repos["octocat/fleet"]
    assert repo.private is True
    assert [k["key"] for k in repo.keys.values()] == [public]

    keys = tmp_path / "keys"
    assert stat.S_IMODE((keys / "identity").stat().st_mode) == 0o600
    assert (keys / "identity.pub").read_text() == public + "\n"
    assert (keys / "known_hosts").read_text() == KNOWN_HOSTS
    lines = out.splitlines()
    assert lines[0] == "staging: created private repository octocat/fleet (personal account)"
    assert lines[1].startswith(f"staging: wrote {keys / 'identity'} (mode 0600")
    assert lines[2].startswith(
        "staging: deploy key 'flux-staging' (ssh-ed25519, read-only, SHA256:"
    )
    assert lines[2].endswith(f"): created, id {next(iter(repo.keys))}")
    assert "set gitops:repository.url to ssh://git@localhost/octocat/fleet" in out
    assert "pulumi up --stack staging" in out
    # Never a secret on the terminal.
    assert identity.splitlines()[1] not in out
    assert TOKEN not in out


def test_creates_a_public_organization_repository_with_a_read_write_ecdsa_key(
    gh: FakeGithub, tmp_path: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "acme", "--repository", "fleet")
    extra = [
        "--no-private",
        "--read-write-key",
        "--key-algorithm",
        "ecdsa-p384",
        "--title",
        "flux-x",
    ]
    code, out, _ = run([*argv, *extra], capsys)

    assert code == 0
    calls = gh.calls()
    assert calls[1] == (
        "POST",
        "/orgs/acme/repos",
        {
            "name": "fleet",
            "description": "Flux GitOps repository (gitops bootstrap github)",
            "private": False,
            "auto_init": True,
        },
    )
    assert calls[-1][2]["title"] == "flux-x"
    assert calls[-1][2]["read_only"] is False
    assert calls[-1][2]["key"].startswith("ecdsa-sha2-nistp384 ")
    assert "created public repository acme/fleet (organization)" in out
    assert "read-write" in out


def test_personal_needs_the_owners_token(
    gh: FakeGithub, tmp_path: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "someone", "--repository", "fleet")
    code, _, err = run([*argv, "--personal"], capsys)
    assert code == 2
    assert err == (
        "gitops: staging: GitHub repository 'someone/fleet': cannot create the repository as a "
        "personal one: the token belongs to 'octocat', not 'someone'; use a token of 'someone', "
        "or leave out --personal if it is an organization\n"
    )
    assert [c[:2] for c in gh.calls()] == [("GET", "/repos/someone/fleet"), ("GET", "/user")]
    assert gh.repos == {}


def test_re_running_adopts_the_key_and_keeps_the_files(
    gh: FakeGithub, tmp_path: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.add_repo("octocat/fleet")
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "octocat", "--repository", "fleet")
    assert run(argv, capsys)[0] == 0
    identity = (tmp_path / "keys" / "identity").read_text()
    gh.server.clear_log()

    code, out, _ = run(argv, capsys)

    assert code == 0
    assert gh.calls() == [
        ("GET", "/repos/octocat/fleet", None),
        ("GET", "/repos/octocat/fleet/keys", None),
    ]
    assert (tmp_path / "keys" / "identity").read_text() == identity
    assert out.startswith("staging: repository octocat/fleet exists\n")
    assert f"staging: kept {tmp_path / 'keys' / 'identity'}" in out
    assert "): adopted, id " in out
    assert len(gh.repos["octocat/fleet"].keys) == 1


def test_next_steps_name_the_stack_file_url(
    gh: FakeGithub, tmp_path: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.add_repo("octocat/fleet")
    (tmp_path / "Pulumi.staging.yaml").write_text(
        "config:\n  gitops:repository:\n    url: https://github.com/octocat/fleet\n"
    )
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "octocat", "--repository", "fleet")
    out = run(argv, capsys)[1]
    assert (
        "1. set gitops:repository.url to ssh://git@localhost/octocat/fleet in "
        "Pulumi.staging.yaml (now https://github.com/octocat/fleet)"
    ) in out

    (tmp_path / "Pulumi.staging.yaml").write_text(
        "config:\n  gitops:repository:\n    url: ssh://git@localhost/octocat/fleet\n"
    )
    out = run(argv, capsys)[1]
    assert "set gitops:repository.url" not in out
    assert (
        "1. give Flux the key, either: let the stack own it (GithubDeployKey adopts this key): "
        "pulumi config set --stack staging --secret gitops:githubIdentity < "
        f"{tmp_path / 'keys' / 'identity'}, with deploy key title 'flux-staging'"
    ) in out


def test_needs_a_token(
    gh: FakeGithub,
    tmp_path: Path,
    known_hosts: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "octocat", "--repository", "fleet")
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert err == (
        "gitops: staging: no GitHub token: export GITHUB_TOKEN (it is never read from the "
        "command line); deploy keys need repository admin\n"
    )
    assert gh.calls() == []


def test_enterprise_needs_known_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bootstrap", "github", "--stack", "staging", "--owner", "o", "--repository", "r"]
    code, _, err = run([*argv, "--base-url", "https://ghe.example.com/api/v3"], capsys)
    assert code == 2
    assert err.startswith(
        "gitops: staging: --known-hosts is required for the GitHub Enterprise host "
        "'ghe.example.com'"
    )


def test_enterprise_base_url(
    httpserver: HTTPServer, tmp_path: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ghe = FakeGithub(httpserver, prefix="/api/v3")
    ghe.add_repo("octocat/fleet")
    argv = bootstrap(ghe, tmp_path, known_hosts, "--owner", "octocat", "--repository", "fleet")
    assert run(argv, capsys)[0] == 0
    assert [r.path for r, _ in httpserver.log] == [
        "/api/v3/repos/octocat/fleet",
        "/api/v3/repos/octocat/fleet/keys",
        "/api/v3/repos/octocat/fleet/keys",
    ]


def test_api_errors_exit_2_naming_the_repository(
    gh: FakeGithub,
    tmp_path: Path,
    known_hosts: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_revoked")
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "octocat", "--repository", "fleet")
    code, _, err = run(argv, capsys)
    assert code == 2
    assert err.startswith(
        "gitops: staging: GitHub repository 'octocat/fleet': cannot read the repository: the "
        "token was rejected (401 Bad credentials)"
    )
    assert "ghp_revoked" not in err


def test_permission_error_says_what_is_needed(
    gh: FakeGithub, tmp_path: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.add_repo("octocat/fleet")
    gh.fail("POST", r"/repos/octocat/fleet/keys", 403, "Resource not accessible by integration")
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "octocat", "--repository", "fleet")
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "cannot register the deploy key: the token lacks permission" in err
    assert "'Administration: read and write'" in err
    # The key was written first, so a re-run after fixing the token reuses it.
    assert (tmp_path / "keys" / "identity").is_file()


def test_private_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    github_cli.add_commands(parser.add_subparsers())
    base = ["bootstrap", "github", "--stack", "s", "--owner", "o", "--repository", "r"]
    assert parser.parse_args(base).private is True
    assert parser.parse_args([*base, "--private"]).private is True
    assert parser.parse_args([*base, "--no-private"]).private is False


# --- the private key and Git ---------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return proc.stdout


@pytest.fixture
def work_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real Git repository, as the working folder (bootstrap's default --out-dir is in it)."""
    repo = tmp_path / "fleet"
    repo.mkdir()
    git(repo, "init", "-q")
    monkeypatch.chdir(repo)
    return repo


def bootstrap_here(gh: FakeGithub, known_hosts: Path, *extra: str) -> list[str]:
    argv = ["bootstrap", "github", "--stack", "staging", "--base-url", gh.base_url]
    return [*argv, "--known-hosts", str(known_hosts), "--owner", "octocat", "--repository", "fleet"]


def test_a_key_written_inside_a_work_tree_is_gitignored(
    gh: FakeGithub, work_tree: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.add_repo("octocat/fleet")
    code, out, err = run(bootstrap_here(gh, known_hosts), capsys)
    assert (code, err) == (0, "")
    folder = Path(".gitops/staging/github")
    ignore = folder / ".gitignore"
    assert ignore.read_text() == "# a private key written by gitops: never commit it\n/identity\n"
    assert f"staging: added /identity to {ignore}, so git never commits the private key" in out
    git(work_tree, "add", "-A")
    staged = git(work_tree, "diff", "--cached", "--name-only").split()
    assert staged == [f"{folder}/.gitignore", f"{folder}/identity.pub", f"{folder}/known_hosts"]

    # A re-run finds it ignored: the .gitignore is left as it is.
    assert run(bootstrap_here(gh, known_hosts), capsys)[0] == 0
    assert ignore.read_text().count("/identity") == 1


def test_an_existing_gitignore_is_kept_and_an_ignored_folder_needs_nothing(
    gh: FakeGithub, work_tree: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.add_repo("octocat/fleet")
    keys = work_tree / "keys"
    keys.mkdir()
    (keys / ".gitignore").write_text("*.log")  # no final newline
    assert run([*bootstrap_here(gh, known_hosts), "--out-dir", "keys"], capsys)[0] == 0
    assert (keys / ".gitignore").read_text() == (
        "*.log\n# a private key written by gitops: never commit it\n/identity\n"
    )

    (work_tree / ".gitignore").write_text("/secrets/\n")
    code, out, _ = run([*bootstrap_here(gh, known_hosts), "--out-dir", "secrets/gh"], capsys)
    assert code == 0 and "added" not in out
    assert not (work_tree / "secrets/gh/.gitignore").exists()
    assert (work_tree / "secrets/gh/identity").is_file()


def test_a_tracked_key_is_refused_before_any_api_call(
    gh: FakeGithub, work_tree: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gh.add_repo("octocat/fleet")
    assert run(bootstrap_here(gh, known_hosts), capsys)[0] == 0
    git(work_tree, "add", "-f", ".gitops/staging/github/identity")  # someone forced it in
    gh.server.clear_log()
    code, out, err = run(bootstrap_here(gh, known_hosts), capsys)
    assert (code, out) == (2, "")
    assert err.startswith("gitops: staging: .gitops/staging/github/identity is tracked by Git in ")
    assert "rotate the key" in err and len(err.splitlines()) == 1
    assert gh.calls() == []


def test_key_files_are_written_atomically_and_0600_whatever_the_umask(
    gh: FakeGithub,
    tmp_path: Path,
    known_hosts: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gh.add_repo("octocat/fleet")
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "octocat", "--repository", "fleet")
    old = os.umask(0)
    try:
        assert run(argv, capsys)[0] == 0
    finally:
        os.umask(old)
    keys = tmp_path / "keys"
    assert stat.S_IMODE((keys / "identity").stat().st_mode) == 0o600
    identity = (keys / "identity").read_text()

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    code, _, err = run(argv, capsys)
    assert code == 2 and err.endswith("identity: No space left on device\n")
    assert (keys / "identity").read_text() == identity
    assert sorted(p.name for p in keys.iterdir()) == ["identity", "identity.pub", "known_hosts"]


def test_unreadable_inputs_are_one_line_errors(
    gh: FakeGithub, tmp_path: Path, known_hosts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = bootstrap(gh, tmp_path, known_hosts, "--owner", "octocat", "--repository", "fleet")
    os.mkfifo(tmp_path / "fifo")
    for hosts, reason in ((tmp_path, "is a folder"), (tmp_path / "fifo", "is a FIFO")):
        code, _, err = run([*argv, "--known-hosts", str(hosts)], capsys)
        assert code == 2 and f"--known-hosts {hosts}: cannot be read ({reason}" in err
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "identity").write_bytes(b"\xff\xfe\x00binary")
    code, _, err = run(argv, capsys)
    assert (code, err.count("\n")) == (2, 1)
    assert "identity: not a text file (not UTF-8)" in err
    assert gh.calls() == []
