"""`gitops bootstrap github`: the one-shot, flux-like way to ready a GitHub repository.

Creates the repository if it is missing, registers a deploy key and writes the key pair to
files (the private key with mode 0600), then prints what to do next. It never prints a secret
and never takes the token on the command line (shell history): it reads `$GITHUB_TOKEN`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from gitops_sdk.core.errors import ConfigError, GitopsError, stack_context
from gitops_sdk.services.atomic import PRIVATE, write_atomic
from gitops_sdk.services.github import IDENTITY_CONFIG, ClientOptions, GithubClient
from gitops_sdk.services.github_urls import GITHUB_API_URL, git_host, ssh_url
from gitops_sdk.services.project import ignore_in_git
from gitops_sdk.services.sops_files import read_regular
from gitops_sdk.services.ssh_keys import (
    GITHUB_KNOWN_HOSTS,
    SSHKeyPair,
    generate_ssh_key,
    load_ssh_key,
)
from gitops_sdk.stack.config import load_stack_file, stack_file

__all__ = ["add_commands", "cmd_bootstrap_github"]

IDENTITY = "identity"
IDENTITY_PUB = "identity.pub"
KNOWN_HOSTS = "known_hosts"

CLIENT_OPTIONS: ClientOptions | None = None
"""Client options for the command (None: the SDK defaults); tests turn retries off here."""


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bootstrap github` to the `gitops` command's subparsers."""
    boot = subparsers.add_parser("bootstrap", help="ready a git host for a stack (flux-like)")
    hosts = boot.add_subparsers(dest="host", required=True)
    g = hosts.add_parser(
        "github",
        help="create the GitHub repository if missing and register a deploy key",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("--stack", required=True, help="stack name, e.g. staging")
    g.add_argument("--owner", required=True, help="user or organization owning the repository")
    g.add_argument("--repository", required=True, help="repository name")
    g.add_argument(
        "--personal",
        action="store_true",
        help="the owner is the token's user, not an organization (when creating)",
    )
    g.add_argument(
        "--private",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="create the repository private (default) or public (--no-private)",
    )
    g.add_argument(
        "--base-url",
        default=GITHUB_API_URL,
        help="API URL; GitHub Enterprise: https://<host>/api/v3 (default: %(default)s)",
    )
    g.add_argument("--title", help="deploy key title (default: flux-<stack>)")
    g.add_argument(
        "--read-write-key",
        action="store_true",
        help="register a read-write key (image update automation pushes); default read-only",
    )
    g.add_argument(
        "--key-algorithm",
        choices=["ed25519", "ecdsa-p384"],
        default="ed25519",
        help="key type for a new key (default: %(default)s)",
    )
    g.add_argument(
        "--known-hosts",
        type=Path,
        help="known_hosts file of the git host; required for GitHub Enterprise",
    )
    g.add_argument(
        "--out-dir",
        type=Path,
        help="where the key files go (default: .gitops/<stack>/github); an existing "
        "identity there is reused, so re-runs keep the key",
    )
    g.add_argument(
        "--token-env",
        default="GITHUB_TOKEN",
        help="environment variable holding the API token (default: %(default)s)",
    )
    g.set_defaults(func=cmd_bootstrap_github)


def _read_text(path: Path, what: str) -> str:
    """A file's text, or a one-line ConfigError (missing, a folder or FIFO, not UTF-8)."""
    try:
        return read_regular(path).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: file not found") from None
    except OSError as err:
        raise ConfigError(f"{what} {path}: cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path}: not a text file (not UTF-8)") from None


def _key_pair(out_dir: Path, algorithm: Any) -> tuple[SSHKeyPair, bool]:
    identity = out_dir / IDENTITY
    if os.path.lexists(identity):
        try:
            return load_ssh_key(_read_text(identity, "identity")), True
        except ValueError as err:
            raise ConfigError(f"{identity}: {err}") from None
    return generate_ssh_key(algorithm), False


def _write_private(path: Path, text: str) -> None:
    # Mode 0600 from the first byte, whatever the umask; atomic, so a crash never leaves half
    # a key that the next run would try to reuse.
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, mode=PRIVATE)


def _stack_repository_url(project_dir: Path, stack: str) -> str | None:
    path = stack_file(project_dir, stack)
    if not path.is_file():
        return None
    try:
        repository = load_stack_file(path).get("repository")
    except (OSError, ValueError, TypeError, RecursionError) as err:
        raise ConfigError(f"{path.name}: cannot be read ({type(err).__name__})") from None
    url = repository.get("url") if isinstance(repository, dict) else None
    return str(url) if url else None


def cmd_bootstrap_github(args: argparse.Namespace) -> int:
    """Run `gitops bootstrap github`; 0 on success, 2 on an error (printed, secrets never)."""
    try:
        with stack_context(args.stack):
            _bootstrap(args)
    except GitopsError as err:
        print(f"gitops: {err}", file=sys.stderr)
        return 2
    return 0


def _bootstrap(args: argparse.Namespace) -> None:
    stack: str = args.stack
    token = os.environ.get(args.token_env, "")
    if not token:
        raise ConfigError(
            f"no GitHub token: export {args.token_env} (it is never read from the command "
            "line); deploy keys need repository admin"
        )
    host = git_host(args.base_url)
    if args.known_hosts is not None:
        known_hosts = _read_text(args.known_hosts, "--known-hosts")
    elif host == "github.com":
        known_hosts = GITHUB_KNOWN_HOSTS
    else:
        raise ConfigError(
            f"--known-hosts is required for the GitHub Enterprise host {host!r} "
            f"(e.g. `ssh-keyscan {host}`, checked against its published fingerprints)"
        )
    out_dir: Path = args.out_dir or Path(".gitops") / stack / "github"
    title: str = args.title or f"flux-{stack}"
    read_only = not args.read_write_key
    full = f"{args.owner}/{args.repository}"
    # Before any API call: a private key inside a Git work tree must be ignored by Git.
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"--out-dir {out_dir}: cannot create it ({err.strerror})") from None
    ignored = ignore_in_git(out_dir / IDENTITY)
    pair, reused = _key_pair(out_dir, args.key_algorithm)  # a bad key file stops us here too

    with GithubClient(args.owner, args.repository, token, args.base_url, CLIENT_OPTIONS) as client:
        if client.exists():
            print(f"{stack}: repository {full} exists")
        else:
            client.create_repository(
                personal=args.personal,
                private=args.private,
                description="Flux GitOps repository (gitops bootstrap github)",
            )
            kind = "private" if args.private else "public"
            account = "personal account" if args.personal else "organization"
            print(f"{stack}: created {kind} repository {full} ({account})")
        # Write the key before registering it: a failure later leaves a key the next run
        # reuses (and adopts), never a registered key whose private half is lost.
        _write_private(out_dir / IDENTITY, pair.private_key)
        write_atomic(out_dir / IDENTITY_PUB, pair.public_key + "\n")
        write_atomic(out_dir / KNOWN_HOSTS, known_hosts)
        state = "kept" if reused else "wrote"
        print(
            f"{stack}: {state} {out_dir / IDENTITY} (mode 0600, keep it out of git), "
            f"{out_dir / IDENTITY_PUB}, {out_dir / KNOWN_HOSTS}"
        )
        if ignored:
            print(f"{stack}: {ignored}, so git never commits the private key")
        result = client.ensure_deploy_key(title, pair.public_key, read_only)

    mode = "read-only" if read_only else "read-write"
    removed = (
        f"; removed old key(s) {', '.join(map(str, result.deleted))}" if result.deleted else ""
    )
    print(
        f"{stack}: deploy key {title!r} ({pair.algorithm}, {mode}, {pair.fingerprint}): "
        f"{result.action}, id {result.key_id}{removed}"
    )

    url = ssh_url(args.owner, args.repository, host)
    project_dir: Path = getattr(args, "project_dir", None) or Path.cwd()
    configured = _stack_repository_url(project_dir, stack)
    steps = []
    if configured != url:
        now = f" (now {configured})" if configured else ""
        steps.append(f"set gitops:repository.url to {url} in Pulumi.{stack}.yaml{now}")
    steps.append(
        "give Flux the key, either: let the stack own it (GithubDeployKey adopts this key): "
        f"pulumi config set --stack {stack} --secret gitops:{IDENTITY_CONFIG} < "
        f"{out_dir / IDENTITY}, with deploy key title {title!r} (gitops:github.deployKey.title); "
        "or create the source Secret yourself: kubectl -n flux-system create secret generic "
        f"flux-system --from-file={out_dir / IDENTITY} --from-file={out_dir / IDENTITY_PUB} "
        f"--from-file={out_dir / KNOWN_HOSTS}"
    )
    steps.append(f"pulumi up --stack {stack}")
    print("Next:")
    for i, step in enumerate(steps, 1):
        print(f"  {i}. {step}")
