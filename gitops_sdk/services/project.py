"""The Pulumi project on disk: its name, its stacks, a stack's environment and key file, and
which stack a secret file belongs to."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.sops_config import find_sops_config, stack_rules
from gitops_sdk.services.stack_files import load_stack_file, stack_file

__all__ = [
    "default_key_file",
    "git_root",
    "infer_stack",
    "project_name",
    "stack_environment",
    "stacks",
]


def project_name(project_dir: Path) -> str:
    """The Pulumi project's name (`Pulumi.yaml` `name`), else the folder's name."""
    meta = project_dir / "Pulumi.yaml"
    name: Any = None
    if meta.is_file():
        try:
            name = (yaml.safe_load(meta.read_text()) or {}).get("name")
        except (yaml.YAMLError, AttributeError):
            name = None
    name = str(name or project_dir.resolve().name)
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def default_key_file(project: str, stack: str) -> Path:
    """Where `init` writes a stack's age key: `~/.config/sops/age/<project>-<stack>.agekey`."""
    return Path.home() / ".config" / "sops" / "age" / f"{project}-{stack}.agekey"


def stack_environment(project_dir: Path, stack: str) -> str:
    """The stack's environment (`gitops:cluster.environment`), else the stack's name."""
    path = stack_file(project_dir, stack)
    if path.is_file():
        cluster = load_stack_file(path).get("cluster")
        if isinstance(cluster, dict) and isinstance(cluster.get("environment"), str):
            return str(cluster["environment"])
    return stack


def stacks(project_dir: Path) -> list[str]:
    """The stacks with a `Pulumi.<stack>.yaml` in the project."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def infer_stack(project_dir: Path, path: Path) -> str | None:
    """The one stack whose rules match `path` (relative to the `.sops.yaml` above it), if any."""
    config = find_sops_config(path)
    base = config.parent if config else project_dir
    rel = Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
    found = []
    for stack in stacks(project_dir):
        try:
            env = stack_environment(project_dir, stack)
        except ConfigError:
            continue
        if any(re.search(r["path_regex"], rel) for r in stack_rules(env, "age1")):
            found.append(stack)
    return found[0] if len(found) == 1 else None


def git_root(start: Path) -> Path | None:
    """The folder of the Git repository `start` is in (the one holding `.git`), if any."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None
