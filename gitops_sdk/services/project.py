"""The Pulumi project on disk: its name, its stacks, a stack's environment and key file,
which stack a secret file belongs to, and keeping private keys out of Git."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.atomic import write_atomic
from gitops_sdk.services.sops_config import find_sops_config, stack_rules
from gitops_sdk.services.sops_files import read_regular
from gitops_sdk.services.stack_files import load_stack_file, stack_file

__all__ = [
    "default_key_file",
    "git_root",
    "git_work_tree",
    "ignore_in_git",
    "infer_stack",
    "is_git_ignored",
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
        except (yaml.YAMLError, AttributeError, OSError, ValueError, TypeError, RecursionError):
            name = None  # a Pulumi.yaml we cannot read: the folder's name will do
    name = str(name or project_dir.resolve().name)
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def default_key_file(project: str, stack: str) -> Path:
    """Where `init` writes a stack's age key: `~/.config/sops/age/<project>-<stack>.agekey`."""
    return Path.home() / ".config" / "sops" / "age" / f"{project}-{stack}.agekey"


def stack_environment(project_dir: Path, stack: str) -> str:
    """The stack's environment (`gitops:cluster.environment`), else the stack's name."""
    path = stack_file(project_dir, stack)
    if path.is_file():
        try:
            cluster = load_stack_file(path).get("cluster")
        except (OSError, ValueError, TypeError, RecursionError) as err:
            # What the YAML parser itself cannot build (impossible dates, undecodable bytes).
            raise ConfigError(f"{path.name}: cannot be read ({type(err).__name__})") from None
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
    rel = Path(os.path.relpath(os.path.realpath(path), os.path.realpath(base))).as_posix()
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


# --- private keys and Git --------------------------------------------------------------------


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str] | None:
    """Run git (None when it is not installed or cannot run)."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        return subprocess.run(
            [git, *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None


def _existing_folder(path: Path) -> Path:
    folder = Path(os.path.abspath(path)).parent
    while not folder.is_dir():
        folder = folder.parent
    return folder


def git_work_tree(path: Path) -> Path | None:
    """The top folder of the Git work tree `path` is (or would be) in, as git sees it; None
    outside one (inside `.git` itself too) or without git."""
    proc = _git(["rev-parse", "--show-toplevel"], _existing_folder(path))
    if proc is None or proc.returncode != 0 or not proc.stdout.strip():
        return None
    return Path(proc.stdout.strip())


def _relative(path: Path, top: Path) -> str:
    real = Path(os.path.realpath(path.parent)) / path.name
    return real.relative_to(Path(os.path.realpath(top))).as_posix()


def is_git_ignored(path: Path, top: Path) -> bool:
    """Whether git ignores `path` (which need not exist) in the work tree `top`."""
    proc = _git(["check-ignore", "-q", "--", _relative(path, top)], top)
    return proc is not None and proc.returncode == 0


def _pattern(name: str) -> str:
    """A .gitignore line matching exactly the file `name` in the .gitignore's folder."""
    escaped = re.sub(r"([\\*?\[!#])", r"\\\1", name)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def ignore_in_git(path: Path) -> str | None:
    """Make sure Git never commits the private key file `path` (about to be written).

    Outside a Git work tree, or already ignored: nothing to do (None). Else `/<name>` is added
    to the `.gitignore` beside it (written atomically) and a sentence saying so is returned.
    ConfigError when the file is tracked already (its key is in the history) or when git cannot
    be asked (not installed while a `.git` is above).
    """
    top = git_work_tree(path)
    if top is None:
        if shutil.which("git") is None and git_root(_existing_folder(path)) is not None:
            raise ConfigError(
                f"{path} would be inside a Git repository, and git is not installed to check "
                "that it is ignored; write the private key outside the repository"
            )
        return None
    rel = _relative(path, top)
    tracked = _git(["ls-files", "--error-unmatch", "--", rel], top)
    if tracked is not None and tracked.returncode == 0:
        raise ConfigError(
            f"{path} is tracked by Git in {top}: the private key is in its history; remove it "
            "(`git rm --cached`), rotate the key (delete the file and run again) and keep it out"
        )
    if is_git_ignored(path, top):
        return None
    ignore = path.parent / ".gitignore"
    try:
        text = read_regular(ignore).decode("utf-8") if os.path.lexists(ignore) else ""
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ConfigError(f"{ignore}: cannot be read ({reason})") from None
    if "\n" in path.name or "\r" in path.name:
        raise ConfigError(f"{path!r}: a key file name with a line break cannot be gitignored")
    entry = _pattern(path.name)
    if text and not text.endswith("\n"):
        text += "\n"
    write_atomic(ignore, f"{text}# a private key written by gitops: never commit it\n{entry}\n")
    if not is_git_ignored(path, top):
        raise ConfigError(
            f"{path}: git still does not ignore it after adding {entry} to {ignore} (a rule "
            "re-includes it?); write the private key outside the repository"
        )
    return f"added {entry} to {ignore}"
