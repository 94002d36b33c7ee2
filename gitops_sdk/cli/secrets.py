"""`gitops secrets`: give a stack an age key, encrypt and decrypt SOPS files, guard against leaks.

    gitops secrets init --stack staging      # age key outside the repo + .sops.yaml rules
    gitops secrets encrypt FILE...           # encrypt in place with the matching rule
    gitops secrets decrypt FILE              # print the plaintext (uses the stack's key)
    gitops secrets check [PATH]              # exit 1 if any secret under PATH is plaintext
                                             # (or a file could not be checked)

Hook it into the main parser with `add_commands(subparsers)`; every handler returns an exit
code and raises only `GitopsError`s, which `gitops` prints as one line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitops_sdk.core.errors import ConfigError, GitopsError
from gitops_sdk.services.age import AGE_KEY_CONFIG, age_identities
from gitops_sdk.services.leak_guard import check_tree
from gitops_sdk.services.project import default_key_file, infer_stack, project_name
from gitops_sdk.services.secrets_init import init_stack
from gitops_sdk.services.sops import decrypt, encrypt, encrypted_status, expect_file
from gitops_sdk.services.sops_files import where
from gitops_sdk.services.stack_files import NAMESPACE

__all__ = [
    "add_commands",
    "cmd_check",
    "cmd_decrypt",
    "cmd_encrypt",
    "cmd_init",
    "main",
    "parser",
]


def _project_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "project_dir", None) or Path.cwd())


def _read_key(path: Path, stack: str | None) -> str:
    where = f"{stack}: " if stack else ""
    try:
        text = path.expanduser().read_text()
    except OSError as err:
        raise ConfigError(f"{where}key file {path} cannot be read ({err.strerror})") from None
    try:
        age_identities(text)
    except ValueError as err:
        raise ConfigError(f"{where}key file {path} {err}") from None
    return text


def _key_for(args: argparse.Namespace, stack: str | None) -> tuple[str | None, str]:
    """(key text, or None to let sops look in the environment; where the key came from)."""
    if args.key_file:
        return _read_key(args.key_file, stack), str(args.key_file)
    if os.environ.get("SOPS_AGE_KEY") or os.environ.get("SOPS_AGE_KEY_FILE"):
        return None, "the environment"
    if stack:
        project = project_name(_project_dir(args))
        default = default_key_file(project, stack)
        if default.is_file():
            return _read_key(default, stack), str(default)
    return None, "sops' default key file"


def cmd_init(args: argparse.Namespace) -> int:
    project_dir = _project_dir(args)
    result = init_stack(
        Path(args.repo) if args.repo else project_dir,
        args.stack,
        project_dir=project_dir,
        key_file=args.key_file,
        project=args.project,
        environment=args.environment,
    )
    stack = result.stack
    if result.key_created:
        print(f"{stack}: created age key {result.key_file} (mode 0600): keep it out of Git and")
        print(f"{stack}: back it up; whoever holds it can decrypt the {stack} secrets")
    else:
        print(f"{stack}: reusing age key {result.key_file}")
    print(f"{stack}: public key (recipient) {result.recipient}")
    print(f"{stack}: {result.config_file}: rules for environment {result.environment!r}:")
    kinds = (
        "Secret manifests, data/stringData encrypted",
        "key/value files, every value encrypted",
    )
    for regex, kind in zip(result.rules, kinds, strict=True):
        print(f"    {regex}    ({kind})")
    for old in result.replaced:
        print(
            f"{stack}: replaced recipient {old}: files encrypted for it need "
            "`sops updatekeys FILE` (with the old key at hand)"
        )
    print("Next, store the key as the stack's secret config (read from the file, not shown):")
    print(
        f"    pulumi config set --secret --stack {stack} {NAMESPACE}:{AGE_KEY_CONFIG} "
        f"< {result.key_file}"
    )
    example = f"clusters/{result.environment}/example.sops.yaml"
    print(f"Then write a Secret manifest such as {example} and run")
    print(f"    gitops secrets encrypt {example}")
    return 0


def cmd_encrypt(args: argparse.Namespace) -> int:
    project_dir = _project_dir(args)
    for file in args.files:
        expect_file(file, where(file, args.stack))  # before anything reads it
        stack = args.stack or infer_stack(project_dir, file)
        if encrypt(file, stack=stack):
            print(f"encrypted {file}")
        else:
            print(f"{file}: already encrypted; nothing to do")
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    encrypted_status(args.file, where(args.file, args.stack))  # the file first, then the key
    stack = args.stack or infer_stack(_project_dir(args), args.file)
    key, source = _key_for(args, stack)
    text = decrypt(args.file, age_key=key, stack=stack, key_source=source)
    sys.stdout.write(text)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    root = args.path or _project_dir(args)
    findings = check_tree(
        root,
        config=args.config,
        exclude=args.exclude or (),
        include_ignored=args.include_ignored,
    )
    leaks = [f for f in findings if f.kind == "leak"]
    unchecked = [f for f in findings if f.kind == "unchecked"]
    for finding in leaks + unchecked:
        print(finding)
    for finding in findings:
        if finding.kind == "note":
            print(f"note: {finding}", file=sys.stderr)
    if leaks:
        files = len({f.path for f in leaks})
        print(
            f"{files} file(s) hold plaintext secrets (keys listed, values never shown); "
            "encrypt them with `gitops secrets encrypt FILE`",
            file=sys.stderr,
        )
    if unchecked:
        files = len({f.path for f in unchecked})
        allowed = " (allowed by --allow-unchecked)" if args.allow_unchecked else ""
        print(
            f"{files} file(s) could not be checked{allowed}; a file the guard cannot read may "
            "hold a secret: fix them, or pass --exclude GLOB or --allow-unchecked",
            file=sys.stderr,
        )
    if leaks or (unchecked and not args.allow_unchecked):
        return 1
    print(f"{root}: no plaintext secrets")
    return 0


def add_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add `secrets init|encrypt|decrypt|check` to an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "secrets",
        help="SOPS secrets: init a stack's age key, encrypt, decrypt, check for leaks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="secrets_command", required=True)

    i = sub.add_parser("init", help="create the stack's age key and its .sops.yaml rules")
    i.add_argument("--stack", required=True, help="stack name, e.g. staging")
    i.add_argument(
        "--key-file",
        type=Path,
        help="where to write the private key (default ~/.config/sops/age/<project>-<stack>.agekey;"
        " never inside the repository); an existing key file is reused",
    )
    i.add_argument(
        "--project", help="project name in the key file name (default: Pulumi.yaml name)"
    )
    i.add_argument(
        "--environment",
        help="folder name the stack's secrets live under (default: gitops:cluster.environment)",
    )
    i.add_argument("--repo", type=Path, help="folder for .sops.yaml (default: the project folder)")
    i.set_defaults(func=cmd_init)

    e = sub.add_parser("encrypt", help="encrypt files in place with their .sops.yaml rule")
    e.add_argument("files", type=Path, nargs="+", metavar="FILE")
    e.add_argument("--stack", help="stack named in messages (default: from the file's path)")
    e.set_defaults(func=cmd_encrypt)

    d = sub.add_parser("decrypt", help="print a SOPS file's plaintext")
    d.add_argument("file", type=Path, metavar="FILE")
    d.add_argument("--stack", help="stack whose key to use (default: from the file's path)")
    d.add_argument(
        "--key-file",
        type=Path,
        help="age key file (default: SOPS_AGE_KEY_FILE, else the stack's key from `init`)",
    )
    d.set_defaults(func=cmd_decrypt)

    c = sub.add_parser(
        "check", help="fail if a Secret manifest or a file matching a .sops.yaml rule is plaintext"
    )
    c.add_argument("path", type=Path, nargs="?", metavar="PATH", help="default: the project folder")
    c.add_argument("--config", type=Path, help=".sops.yaml to use (default: the nearest one)")
    c.add_argument(
        "--exclude",
        action="append",
        metavar="GLOB",
        help="skip paths matching GLOB, relative to PATH (`charts/*`, `*.png`; repeatable)",
    )
    c.add_argument(
        "--include-ignored",
        action="store_true",
        help="also check what Git ignores (build outputs, caches): skipped by default, since "
        "they are never committed",
    )
    c.add_argument(
        "--allow-unchecked",
        action="store_true",
        help="exit 0 even when some files could not be checked (too big, unreadable, malformed"
        " beside a Secret); they are still listed",
    )
    c.set_defaults(func=cmd_check)
    return p


def parser() -> argparse.ArgumentParser:
    """A parser with only the `secrets` commands (`python -m gitops_sdk.secrets_cli`)."""
    p = argparse.ArgumentParser(prog="gitops")
    p.add_argument(
        "--project-dir", type=Path, default=Path.cwd(), help="folder with Pulumi.yaml (default: .)"
    )
    add_commands(p.add_subparsers(dest="command", required=True))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run `gitops secrets ...`; errors print as one line and exit 2."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except GitopsError as err:
        print(f"gitops: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
