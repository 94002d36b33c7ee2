"""Reading `Pulumi.<stack>.yaml` safely: the `gitops:` keys as written, duplicate keys refused,
and secret keys stored in plain text refused without showing their values."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.core.errors import ConfigError

__all__ = [
    "NAMESPACE",
    "SECRET_KEYS",
    "is_secure_value",
    "load_stack_file",
    "plaintext_secrets",
    "read_stack_file",
    "stack_file",
]

NAMESPACE = "gitops"
"""The Pulumi config namespace the SDK reads."""

SECRET_KEYS = frozenset({"ageKey", "githubToken", "githubIdentity", "gitCredentials"})
"""`gitops:` keys holding secrets: read by the components that need them as Pulumi secret
config, never validated (or echoed) here."""


def stack_file(project_dir: Path, stack: str) -> Path:
    """Path of `Pulumi.<stack>.yaml` in the project."""
    return project_dir / f"Pulumi.{stack}.yaml"


def is_secure_value(value: Any) -> bool:
    """A secret as a stack file holds it: `{secure: ...}`, or (set with `--path`) a mapping
    whose values all are."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return True
    return (
        isinstance(value, dict) and bool(value) and all(is_secure_value(v) for v in value.values())
    )


def plaintext_secrets(values: Mapping[str, Any]) -> list[str]:
    """The secret keys among a stack file's `gitops:` values that are not encrypted."""
    return sorted(k for k in SECRET_KEYS & set(values) if not is_secure_value(values[k]))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (Pulumi does; PyYAML keeps the last silently)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _unique_mapping,
)


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `gitops:` keys of a `Pulumi.<stack>.yaml` file, prefix stripped, as written."""
    if not path.is_file():
        raise ConfigError(f"{path.name}: stack file not found at {path}")
    try:
        doc = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path.name}: not valid YAML: {err}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path.name}: expected a mapping with a 'config' key")
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path.name}: 'config' must be a mapping")
    prefix = f"{NAMESPACE}:"
    return {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}


def load_stack_file(path: Path) -> dict[str, Any]:
    """The `gitops:` keys of a `Pulumi.<stack>.yaml` file, prefix stripped; a secret key
    stored in plain text is a ConfigError."""
    values = read_stack_file(path)
    if plain := plaintext_secrets(values):
        key = f"{NAMESPACE}:{plain[0]}"
        raise ConfigError(
            f"{path.name}: {key} is stored in plain text (value not shown); remove it and run "
            f"`pulumi config set --secret {key} ...`"
        )
    return values
