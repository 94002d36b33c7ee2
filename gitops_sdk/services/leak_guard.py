"""The leak guard behind `gitops secrets check`: find files under a folder that hold secrets in
plain text. Findings name the file and the keys, never the values."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.core.model import manifest_name
from gitops_sdk.services.sops_config import SOPS_CONFIG, find_sops_config, load_sops_config
from gitops_sdk.services.sops_files import (
    ParseError,
    file_format,
    inspect_file,
    is_secret_manifest,
    list_keys,
    load_documents,
    secret_plaintext,
    show_path,
    sops_metadata,
)
from gitops_sdk.services.stack_files import NAMESPACE, plaintext_secrets, read_stack_file

__all__ = ["Finding", "check_tree"]

_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".pulumi",
    }
)
_MAX_BYTES = 5_000_000


@dataclass(frozen=True)
class Finding:
    """A file that holds plaintext secrets: what is wrong and which keys (never the values)."""

    path: Path
    problem: str
    keys: tuple[str, ...] = ()

    def __str__(self) -> str:
        keys = f": {list_keys(self.keys)}" if self.keys else ""
        return f"{show_path(self.path)}: {self.problem}{keys}"


def _walk_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if d not in _SKIP_DIRS and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            yield here / name


def _rule_patterns(config: Path | None) -> list[tuple[str, re.Pattern[str]]]:
    if config is None:
        return []
    out = []
    for i, rule in enumerate(load_sops_config(config).get("creation_rules") or []):
        regex = rule.get("path_regex") if isinstance(rule, dict) else None
        if not regex:
            continue  # a catch-all rule would demand that every file be encrypted
        try:
            out.append((str(regex), re.compile(str(regex))))
        except re.error as err:
            raise ConfigError(
                f"{show_path(config)}: creation_rules[{i}].path_regex {regex!r} is not a "
                f"valid regexp ({err})"
            ) from None
    return out


def _manifest_findings(path: Path) -> list[Finding]:
    """Plaintext Secret manifests and secretGenerator literals in an unmatched YAML/JSON file."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            return []
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return []
    if "Secret" not in text and "secretGenerator" not in text:
        return []
    try:
        docs = load_documents(text, file_format(path))
    except ParseError:
        return []
    out = []
    for doc in docs:
        if is_secret_manifest(doc) and sops_metadata(doc, "yaml")[0] is None:
            plain = secret_plaintext(doc)
            if plain:
                name = manifest_name(doc)
                out.append(Finding(path, f"Secret {name!r} is not SOPS-encrypted", tuple(plain)))
        elif isinstance(doc, dict) and isinstance(doc.get("secretGenerator"), list):
            for i, gen in enumerate(doc["secretGenerator"]):
                literals = gen.get("literals") if isinstance(gen, dict) else None
                if literals:
                    keys = tuple(
                        f"secretGenerator[{i}].literals.{str(lit).partition('=')[0]}"
                        for lit in literals
                    )
                    out.append(
                        Finding(
                            path,
                            f"secretGenerator {gen.get('name')!r} has plaintext literals",
                            keys,
                        )
                    )
    return out


def _stack_file_findings(path: Path) -> list[Finding]:
    """`gitops:` secret keys stored in plain text in a `Pulumi.<stack>.yaml`."""
    try:
        keys = plaintext_secrets(read_stack_file(path))
    except ConfigError:
        return []  # not a stack file we can read; `gitops synth` says why
    if not keys:
        return []
    return [
        Finding(
            path,
            "holds secret config in plain text; set it with `pulumi config set --secret`",
            tuple(f"{NAMESPACE}:{k}" for k in keys),
        )
    ]


def check_tree(root: Path, *, config: Path | None = None) -> list[Finding]:
    """Every file under `root` that should be SOPS-encrypted but is not.

    Flagged: Kubernetes Secret manifests (and kustomize `secretGenerator` literals) that are not
    encrypted anywhere, and any file a `.sops.yaml` `path_regex` matches that is not encrypted
    or still has plaintext values. `config` defaults to the nearest `.sops.yaml`.
    """
    root = Path(root)
    if not root.exists():
        raise ConfigError(f"{root}: no such file or folder")
    config = config or find_sops_config(root)
    patterns = _rule_patterns(config)
    base = config.parent.resolve() if config else root.resolve()
    findings: list[Finding] = []
    for path in _walk_files(root):
        if path.name == SOPS_CONFIG:
            continue
        rel = Path(os.path.relpath(path.resolve(), base)).as_posix()
        rule = next((regex for regex, rx in patterns if rx.search(rel)), None)
        if rule is not None:
            status = inspect_file(path)
            if status.error:
                findings.append(Finding(path, f"matches rule '{rule}' but {status.error}"))
            elif not status.encrypted:
                findings.append(
                    Finding(
                        path, f"matches rule '{rule}' but is not SOPS-encrypted", status.plaintext
                    )
                )
            elif status.plaintext:
                findings.append(
                    Finding(path, "is SOPS-encrypted but holds plaintext values", status.plaintext)
                )
        elif path.name.startswith("Pulumi.") and path.suffix in (".yaml", ".yml"):
            findings += _stack_file_findings(path)
        elif path.suffix.lower() in (".yaml", ".yml", ".json"):
            findings += _manifest_findings(path)
    return findings
