"""Shared fixtures: paths to ../shared material, CRD schemas, and the recording Pulumi mocks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gitops_sdk import synth
from gitops_sdk.crds import Schemas, load_crd_schemas, validate_manifest
from gitops_sdk.synth import RecordingMocks

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CRD_DIR = SHARED / "flux-crds"
EXAMPLES = SHARED / "examples"

if os.environ.get("CI") and not SHARED.is_dir():
    # CI must run the tests that need ../shared; never let them skip silently there.
    raise RuntimeError(
        f"CI=true but {SHARED} is missing: the CRD, example and install tests need it"
    )

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
    if not CRD_DIR.is_dir():
        pytest.skip("needs ../shared/flux-crds (the official Flux CRDs); CI always has it")
    return load_crd_schemas([CRD_DIR])


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
