"""`gitops secrets init`: give a stack an age key, kept outside the repository, and its
`.sops.yaml` creation rules."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.age import age_recipients, generate_age_key
from gitops_sdk.services.project import (
    default_key_file,
    git_root,
    project_name,
    stack_environment,
)
from gitops_sdk.services.sops_config import SOPS_CONFIG, stack_rules, update_sops_config

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
    key_path = (key_file or default_key_file(project, stack)).expanduser().resolve()
    for root in {repo.resolve(), project_dir.resolve(), git_root(repo.resolve())}:
        if root is not None and key_path.is_relative_to(root):
            raise ConfigError(
                f"{stack}: refusing to write the private age key to {key_path}: it is inside "
                f"the repository {root}; keep it outside "
                f"(default {default_key_file(project, stack)})"
            )
    created = False
    if key_path.exists():
        try:
            recipient = age_recipients(key_path.read_text())[0]
        except (OSError, ValueError) as err:
            raise ConfigError(f"{stack}: key file {key_path} {err}") from None
    else:
        text, recipient = generate_age_key()
        key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
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
