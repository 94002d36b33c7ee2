"""Shared fixtures: paths to ../shared material, CRD schemas, and the recording Pulumi mocks.

Without ../shared (a fresh clone) the tests that need it skip, naming what they need; with
CI=true they must not, so a missing ../shared is an error there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest

from gitops_sdk.services.crds import Schemas, load_crd_schemas, validate_manifest
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CRD_DIR = SHARED / "flux-crds"
EXAMPLES = SHARED / "examples"
# The Flux install manifest the SDK ships; its 14 CRDs are the official ones of the release
# (tests/test_controller.py checks they equal ../shared/flux-crds where that is present), so
# the CRD checks run on a fresh clone too.
SHIPPED_INSTALL = ROOT / "gitops_sdk" / "data" / "flux" / "v2.9.4" / "install.yaml"

if os.environ.get("CI") and not SHARED.is_dir():
    # CI must run the tests that need ../shared; never let them skip silently there.
    raise RuntimeError(
        f"CI=true but {SHARED} is missing: the example tests and the checks of the shipped "
        "Flux manifest against the shared one need it"
    )

# For tests that read CRD_DIR itself; the `crd_schemas` fixture needs no ../shared.
needs_crds = pytest.mark.skipif(
    not CRD_DIR.is_dir(),
    reason="needs ../shared/flux-crds (the official Flux CRDs); CI always has it",
)
needs_examples = pytest.mark.skipif(
    not EXAMPLES.is_dir(),
    reason="needs ../shared/examples (the official fluxcd example repos); CI always has it",
)


@pytest.fixture(scope="session")
def crd_schemas() -> Schemas:
    """The Flux CRDs' schemas: ../shared/flux-crds, else those of the shipped install manifest."""
    return load_crd_schemas([CRD_DIR if CRD_DIR.is_dir() else SHIPPED_INSTALL])


# The CRDs of the other projects whose objects the SDK renders (Flagger, prometheus-operator,
# External Secrets), from their Go modules pinned in tests/crds/go.mod: the files in each.
THIRD_PARTY_CRD_MODULE = ROOT / "tests" / "crds"
THIRD_PARTY_CRD_FILES = {
    "github.com/fluxcd/flagger": ["artifacts/flagger/crd.yaml"],
    "github.com/prometheus-operator/prometheus-operator": [
        f"example/prometheus-operator-crd/monitoring.coreos.com_{plural}.yaml"
        for plural in ("podmonitors", "prometheusrules", "servicemonitors")
    ],
    "github.com/cert-manager/cert-manager": [
        f"deploy/crds/cert-manager.io_{plural}.yaml" for plural in ("clusterissuers", "issuers")
    ],
    "go.universe.tf/metallb": [
        f"config/crd/bases/metallb.io_{plural}.yaml"
        for plural in ("ipaddresspools", "l2advertisements")
    ],
    "github.com/external-secrets/external-secrets": [
        f"config/crds/bases/external-secrets.io_{plural}.yaml"
        for plural in ("externalsecrets", "secretstores", "clustersecretstores")
    ],
}
_NO_THIRD_PARTY = (
    "needs the Go toolchain and the Go module proxy (or its module cache) to fetch the Flagger, "
    "prometheus-operator, External Secrets, cert-manager and MetalLB CRDs pinned in "
    "tests/crds/go.mod; CI always has both"
)


def _cannot(why: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{_NO_THIRD_PARTY}: {why}")
    pytest.skip(f"{_NO_THIRD_PARTY}: {why}")


@pytest.fixture(scope="session")
def third_party_crd_files() -> list[Path]:
    go = shutil.which("go")
    if go is None:
        _cannot("no `go` on PATH")
    mod = json.loads(
        subprocess.run(
            [go, "mod", "edit", "-json"],
            cwd=THIRD_PARTY_CRD_MODULE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    files = []
    for req in mod["Require"]:
        listed = THIRD_PARTY_CRD_FILES.get(req["Path"])
        if listed is None:
            pytest.fail(f"tests/crds/go.mod requires {req['Path']}: list its CRD files too")
        try:
            proc = subprocess.run(
                [go, "mod", "download", "-json", f"{req['Path']}@{req['Version']}"],
                cwd=THIRD_PARTY_CRD_MODULE,
                capture_output=True,
                text=True,
                timeout=900,
            )
        except subprocess.TimeoutExpired:
            _cannot(f"downloading {req['Path']} took over 15 minutes")
        info = json.loads(proc.stdout or "{}")
        problem = info.get("Error") or proc.stderr.strip()
        if "checksum mismatch" in problem or "SECURITY ERROR" in problem:
            # Not the network: what was served is not what go.sum pins. Never skip that.
            pytest.fail(f"{req['Path']}@{req['Version']}: {problem}")
        if proc.returncode or "Error" in info:
            _cannot(problem)
        files += [Path(info["Dir"]) / f for f in listed]
    return files


@pytest.fixture(scope="session")
def third_party_schemas(third_party_crd_files: list[Path]) -> Schemas:
    return load_crd_schemas(third_party_crd_files)


@pytest.fixture
def assert_crd_valid(crd_schemas: Schemas) -> Any:
    """Assert a rendered manifest passes its CRD's OpenAPI schema (and that one exists)."""

    def check(doc: dict[str, Any]) -> None:
        key = (doc["apiVersion"], doc["kind"])
        assert key in crd_schemas, f"no CRD serves {key}"
        assert validate_manifest(doc, crd_schemas) == []

    return check


@pytest.fixture
def mocks() -> RecordingMocks:
    """A fresh Pulumi mock runtime (stack `test`) that records every registration.

    Run program code with `synth.run(lambda: ...)`; it returns once every resource is registered.
    """
    recorder = RecordingMocks()
    synth.start(recorder, stack="test", config={})
    return recorder
