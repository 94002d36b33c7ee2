"""The real stack program (stacks/) for staging and production, under the mock runtime.

Golden files in tests/golden/<stack>/ hold the exact synth output; after an intended change,
regenerate them with `UPDATE_GOLDEN=1 pytest tests/test_stacks.py` and review the diff.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_sdk import synth
from gitops_sdk.crds import Schemas, validate_manifest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
STACKS = ["staging", "production"]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {s: synth.run_stack_program(ROOT, s).kubernetes_objects() for s in STACKS}


def by_name(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("stack", STACKS)
def test_synth_matches_golden_files(stack: str, rendered: dict, tmp_path: Path) -> None:
    out = tmp_path / stack
    synth.write(rendered[stack], out)
    golden = GOLDEN / stack
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(out, golden)
    got = {p.relative_to(out).as_posix(): p.read_text() for p in sorted(out.rglob("*.yaml"))}
    want = {p.relative_to(golden).as_posix(): p.read_text() for p in sorted(golden.rglob("*.yaml"))}
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"{stack}/{name} differs from the golden file"


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_flux_object_is_crd_valid(
    stack: str, rendered: dict, crd_schemas: Schemas
) -> None:
    flux = [o for o in rendered[stack] if "toolkit.fluxcd.io" in o["apiVersion"]]
    assert len(flux) >= 14
    for doc in flux:
        assert (doc["apiVersion"], doc["kind"]) in crd_schemas
        assert validate_manifest(doc, crd_schemas) == [], doc["metadata"]["name"]


@pytest.mark.parametrize("stack", STACKS)
def test_layers_follow_the_seed(stack: str, rendered: dict) -> None:
    ks = by_name(rendered[stack], "Kustomization")
    assert {n.split("-")[0] for n in ks} == {"infrastructure", "monitoring", "security", "apps"}
    deps = {n: [d["name"] for d in k["spec"].get("dependsOn", [])] for n, k in ks.items()}
    assert deps["infrastructure-traefik"] == [
        "infrastructure-metallb",
        "infrastructure-cert-manager",
    ]
    assert "infrastructure-traefik" in deps["apps-demo"]
    assert all(
        d.startswith("monitoring-") or d.startswith("infrastructure-") or d.startswith("security-")
        for d in deps["apps-demo"]
    )
    for k in ks.values():
        assert k["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
        assert k["metadata"]["labels"]["environment"] == stack


def test_staging_is_aggressive_and_production_conservative(rendered: dict) -> None:
    staging = by_name(rendered["staging"], "Kustomization")
    production = by_name(rendered["production"], "Kustomization")
    assert staging["apps-demo"]["spec"]["interval"] == "2m"
    assert production["infrastructure-metallb"]["spec"]["interval"] == "30m"
    s_patch = yaml.safe_load(staging["apps-demo"]["spec"]["patches"][0]["patch"])
    p_patch = yaml.safe_load(production["apps-demo"]["spec"]["patches"][0]["patch"])
    assert s_patch["spec"]["replicas"] == 1
    assert p_patch["spec"]["replicas"] == 3
    s_git = by_name(rendered["staging"], "GitRepository")["flux-system"]["spec"]
    p_git = by_name(rendered["production"], "GitRepository")["flux-system"]["spec"]
    assert (s_git["interval"], p_git["interval"]) == ("1m", "5m")


def test_bad_stack_config_fails_before_any_registration(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    text = (ROOT / "Pulumi.staging.yaml").read_text().replace("interval: 2m", "interval: 2 min")
    (tmp_path / "Pulumi.staging.yaml").write_text(text)
    mocks = synth.RecordingMocks()
    with pytest.raises(
        Exception,
        match=r"staging: Pulumi.staging.yaml: gitops:layers.apps.interval "
        r"'2 min': is not a duration",
    ):
        synth.run_stack_program(tmp_path, "staging", mocks)
    assert [r for r in mocks.resources if r.custom] == []
