"""`gitops secrets init`: give a stack an age key, kept outside the repository, and its
`.sops.yaml` creation rules."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.age import age_recipients, generate_age_key
from gitops_sdk.services.atomic import PRIVATE, write_atomic
from gitops_sdk.services.project import (
    default_key_file,
    git_root,
    git_work_tree,
    is_git_ignored,
    project_name,
    stack_environment,
)
from gitops_sdk.services.sops_config import SOPS_CONFIG, stack_rules, update_sops_config
from gitops_sdk.services.sops_files import read_regular

__all__ = ["InitResult", "init_stack"]

_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class InitResult:
    """What `init_stack` did."""

    stack: str
    environment: str
    recipient: str
    """The stack's age public key, now in `.sops.yaml`."""
    key_file: Path
    """Where the private key is (outside the repository, mode 0600)."""
    key_created: bool
    """False when an existing key file was reused."""
    config_file: Path
    rules: tuple[str, ...]
    """The `path_regex` of the stack's rules."""
    replaced: tuple[str, ...]
    """Recipients the rules had before (files encrypted for them need `sops updatekeys`)."""


def init_stack(
    repo: Path,
    stack: str,
    *,
    project_dir: Path | None = None,
    key_file: Path | None = None,
    project: str | None = None,
    environment: str | None = None,
) -> InitResult:
    """Give `stack` an age key (generated unless `key_file` exists) and `.sops.yaml` rules.

    The private key is written outside the repository (refused inside it), mode 0600.
    """
    project_dir = project_dir or repo
    if not _STACK_NAME.match(stack):
        raise ConfigError(f"{stack!r} is not a stack name (letters, digits, '-', '_', '.')")
    environment = environment or stack_environment(project_dir, stack)
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", environment):
        raise ConfigError(
            f"{stack}: environment {environment!r} is not a DNS-1123 label (it names the "
            "folder secrets live under); pass --environment"
        )
    project = project or project_name(project_dir)
    # realpath, not resolve(): it never raises, not even on a symlink loop (refused when written)
    key_path = Path(os.path.realpath((key_file or default_key_file(project, stack)).expanduser()))
    repo_dir = Path(os.path.realpath(repo))
    for root in {repo_dir, Path(os.path.realpath(project_dir)), git_root(repo_dir)}:
        if root is not None and key_path.is_relative_to(root):
            raise ConfigError(
                f"{stack}: refusing to write the private age key to {key_path}: it is inside "
                f"the repository {root}; keep it outside "
                f"(default {default_key_file(project, stack)})"
            )
    created = False
    if key_path.exists():
        try:
            recipient = age_recipients(read_regular(key_path).decode("utf-8"))[0]
        except OSError as err:
            raise ConfigError(
                f"{stack}: key file {key_path} cannot be read ({err.strerror})"
            ) from None
        except (UnicodeDecodeError, ValueError) as err:
            reason = "is not a text file" if isinstance(err, UnicodeDecodeError) else str(err)
            raise ConfigError(f"{stack}: key file {key_path} {reason}") from None
    else:
        _refuse_unignored(stack, key_path, default_key_file(project, stack))
        text, recipient = generate_age_key()
        try:
            key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as err:
            raise ConfigError(
                f"{stack}: cannot create {key_path.parent} ({err.strerror})"
            ) from None
        # 0600 before the first byte; atomic, so a crash never leaves half a key to reuse; and
        # never over a key that appeared meanwhile (it may be the only copy).
        write_atomic(key_path, text, mode=PRIVATE, exclusive=True)
        created = True
    config = repo / SOPS_CONFIG
    replaced = update_sops_config(config, environment, recipient)
    return InitResult(
        stack=stack,
        environment=environment,
        recipient=recipient,
        key_file=key_path,
        key_created=created,
        config_file=config,
        rules=tuple(r["path_regex"] for r in stack_rules(environment, recipient)),
        replaced=tuple(replaced),
    )


def _refuse_unignored(stack: str, key_path: Path, default: Path) -> None:
    """A key outside the project can still be inside another Git work tree (a home folder kept
    in Git): only where that repository ignores it."""
    top = git_work_tree(key_path)
    if top is not None and not is_git_ignored(key_path, top):
        raise ConfigError(
            f"{stack}: refusing to write the private age key to {key_path}: it is inside the Git "
            f"work tree {top}, which does not ignore it; add it to that repository's .gitignore "
            f"or pass --key-file outside it (default {default})"
        )
