"""Validate manifests against CustomResourceDefinition schemas (the same check the API server
makes for structure, types, enums and patterns; CEL rules are the models' job)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gitops_sdk.core.errors import GitopsError

__all__ = ["Schemas", "load_crd_schemas", "validate_manifest", "validate_tree"]


Schemas = dict[tuple[str, str], dict[str, Any]]


def load_crd_schemas(paths: Iterable[Path]) -> Schemas:
    """Read CRDs from YAML files or folders; key the served versions by (apiVersion, kind)."""
    schemas: Schemas = {}
    for doc in _documents(paths):
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                schemas[key] = schema
    return schemas


def validate_manifest(doc: Mapping[str, Any], schemas: Schemas) -> list[str]:
    """Schema errors of one manifest as `path: message` lines; empty when valid or unknown."""
    schema = schemas.get((str(doc.get("apiVersion")), str(doc.get("kind"))))
    if schema is None:
        return []
    validator = jsonschema.Draft7Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(dict(doc)), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in err.absolute_path) or "(object)"
        out.append(f"{path}: {err.message}")
    return out


def validate_tree(root: Path, crds: Path | Sequence[Path]) -> list[str]:
    """Validate every YAML document under `root` against the CRDs in `crds` (folders or
    files); documents of kinds no CRD there serves are not checked."""
    paths = [crds] if isinstance(crds, Path) else list(crds)
    schemas = load_crd_schemas(paths)
    if not schemas:
        shown = ", ".join(str(p) for p in paths)
        raise GitopsError(f"no CustomResourceDefinitions found in {shown}")
    problems = []
    for file in sorted(_yaml_files([root])):
        for i, doc in enumerate(_load_all(file)):
            if not isinstance(doc, Mapping):
                continue
            name = (doc.get("metadata") or {}).get("name", f"#{i}")
            for line in validate_manifest(doc, schemas):
                problems.append(f"{file}: {doc.get('kind')} {name!r}: {line}")
    return problems


def _yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            yield path


def _load_all(file: Path) -> list[Any]:
    try:
        # libyaml when present: some CRDs are megabytes of schema.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return list(yaml.load_all(file.read_text(), Loader=loader))
    except yaml.YAMLError as err:
        raise GitopsError(f"{file}: not valid YAML: {err}") from None


def _documents(paths: Iterable[Path]) -> Iterator[dict[str, Any]]:
    for file in _yaml_files(paths):
        for doc in _load_all(file):
            if isinstance(doc, dict):
                yield doc
