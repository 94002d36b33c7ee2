"""`gitops import`: turn a cluster of an existing Flux repository into a stack.

    gitops import clusters/staging --stack staging [--repo-root DIR] [--helm-releases]
                                   [--repo-url URL] [--force]

Writes `Pulumi.<stack>.yaml` in the project folder (`--project-dir`), or adds the stack's
`gitops:` keys to an existing one, and prints one line per object: what it became (unit,
source, object), what stays in Git, what was left out or reshaped, and why. An existing stack
(a file with `gitops:` keys) is replaced only with `--force`, keeping its secrets. Hook it into
the main parser with `add_commands(subparsers)`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.atomic import write_atomic
from gitops_sdk.services.flux_import import Plan, plan_import
from gitops_sdk.services.stack_files import (
    NAMESPACE,
    is_secure_value,
    read_stack_file,
    stack_file,
)
from gitops_sdk.services.yaml_lines import load_documents
from gitops_sdk.stack.apis import FLUX_GROUPS, KUBERNETES_GROUPS
from gitops_sdk.stack.config import parse_config

__all__ = ["add_commands", "cmd_import", "import_stack", "render_config"]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (patches) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value and not re.search(r"[ \t]\n|\t", value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_config(config: dict[str, Any], indent: int = 2) -> str:
    """The `gitops:` keys as YAML lines of a `config:` mapping, indented by `indent`."""
    body = {f"{NAMESPACE}:{k}": v for k, v in config.items()}
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return "".join(" " * indent + line if line.strip() else line for line in text.splitlines(True))


def _repo_root(entry: Path) -> Path:
    try:
        out = subprocess.run(
            ["git", "-C", str(entry), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is None or out.returncode != 0 or not out.stdout.strip():
        raise ConfigError(f"{entry}: not inside a Git work tree; pass --repo-root DIR")
    return Path(out.stdout.strip())


def _api_groups(plan: Plan) -> None:
    """Raw objects of API groups neither Kubernetes nor Flux serve: the cluster must have
    them (`gitops:cluster.apiGroups`), as the stack's API check demands."""
    known = KUBERNETES_GROUPS | FLUX_GROUPS
    groups = sorted(
        {
            str(d["apiVersion"]).rpartition("/")[0]
            for d in plan.config.get("objects", [])
            if str(d["apiVersion"]).rpartition("/")[0] not in known
        }
    )
    if groups:
        plan.config["cluster"]["apiGroups"] = groups
        plan.report.append(
            f"note     gitops:cluster.apiGroups lists {', '.join(groups)}: gitops:objects uses "
            "them, so the cluster must serve their CRDs (installed outside the stack)"
        )


def _existing(file: Path, stack: str, force: bool) -> dict[str, Any] | None:
    """The `gitops:` keys of an existing stack file; refuses an existing stack without force."""
    if not file.exists():
        return None
    values = read_stack_file(file)
    if values and not force:
        raise ConfigError(
            f"{file}: stack {stack!r} already has gitops: keys; pass --force to replace them "
            "(its secrets are kept)"
        )
    return values


def _insert(text: str, block: str) -> str | None:
    """`text` with `block` added under its block-style top-level `config:` (or a new one at
    the end); None when the file's shape needs a full rewrite."""
    lines = text.splitlines(True)
    for i, line in enumerate(lines):
        if re.match(r"config:\s*(#.*)?$", line.rstrip("\n")):
            return "".join([*lines[: i + 1], block, *lines[i + 1 :]])
        if line.startswith("config:"):
            return None
    sep = "" if not text or text.endswith("\n") else "\n"
    return f"{text}{sep}config:\n{block}"


def _write(file: Path, plan: Plan, existing: dict[str, Any] | None, stack: str) -> str:
    if existing is None:
        head = (
            f"# Stack {stack}, imported by `gitops import` from a Flux repository. Review it:\n"
            "# run `gitops synth --stack NAME --out DIR` and compare with the repository.\n"
        )
        write_atomic(file, head + "config:\n" + render_config(plan.config))
        return f"wrote {file}"
    if not existing:
        text = file.read_text()
        if (new := _insert(text, render_config(plan.config))) is not None:
            write_atomic(file, new)
            return f"added the stack's gitops: keys to {file}"
    docs = [d for d in load_documents(file) if d is not None]
    doc: dict[str, Any] = docs[0] if docs and isinstance(docs[0], dict) else {}
    config = {
        k: v
        for k, v in (doc.get("config") or {}).items()
        if not k.startswith(f"{NAMESPACE}:") or is_secure_value(v)
    }
    config.update({f"{NAMESPACE}:{k}": v for k, v in plan.config.items()})
    doc["config"] = config
    write_atomic(file, yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100))
    return f"replaced the gitops: keys of {file} (its comments are not kept; secrets are)"


def import_stack(
    path: Path,
    *,
    stack: str,
    project_dir: Path,
    repo_root: Path | None = None,
    helm_releases: bool = False,
    force: bool = False,
    repo_url: str | None = None,
    say: Callable[[str], None] = print,
) -> Plan:
    """Import the cluster whose entry folder is `path` as stack `stack` of `project_dir`."""
    if not path.is_dir():
        raise ConfigError(f"{path}: no such folder; expected a cluster's entry folder")
    root = repo_root or _repo_root(path)
    file = stack_file(project_dir, stack)
    existing = _existing(file, stack, force)
    plan = plan_import(root, path, stack=stack, helm_releases=helm_releases, repo_url=repo_url)
    _api_groups(plan)
    parse_config(plan.config, source=file.name)  # what synth will read must be valid
    for line in plan.report:
        say(line)
    say(_write(file, plan, existing, stack))
    return plan


def cmd_import(args: argparse.Namespace) -> int:
    import_stack(
        args.path,
        stack=args.stack,
        project_dir=Path(getattr(args, "project_dir", None) or Path.cwd()),
        repo_root=args.repo_root,
        helm_releases=args.helm_releases,
        force=args.force,
        repo_url=args.repo_url,
    )
    return 0


def add_commands(sub: Any) -> None:
    """Add `gitops import` to the `gitops` subparsers."""
    p = sub.add_parser("import", help="turn a cluster of a Flux repository into a stack")
    p.add_argument("path", type=Path, help="the cluster's entry folder, e.g. clusters/staging")
    p.add_argument("--stack", required=True, help="stack name; writes Pulumi.<stack>.yaml")
    p.add_argument("--repo-root", type=Path, help="repository root (default: the Git work tree)")
    p.add_argument(
        "--project-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="folder with Pulumi.yaml (default: .)",
    )
    p.add_argument(
        "--helm-releases",
        action="store_true",
        help="make HelmReleases HelmRelease units (default: they stay in Git)",
    )
    p.add_argument("--repo-url", help="the repository URL, when no GitRepository names it")
    p.add_argument("--force", action="store_true", help="replace an existing stack's gitops keys")
    p.set_defaults(func=cmd_import)
