"""Every Flux object in the official fluxcd example repositories (../shared/examples) loads into
its typed model, renders back to exactly the same manifest and passes its CRD schema."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import needs_examples
from helpers import check_round_trip, flux_examples

from gitops_sdk import from_manifest
from gitops_sdk.core import errors
from gitops_sdk.core.model import flux_kinds

CASES: dict[str, tuple[list[Any], list[Any]]] = {
    kind: flux_examples(kind, group) for group, kind in sorted(flux_kinds())
}
WHOLE = [case for whole, _ in CASES.values() for case in whole]
PATCHED = [case for _, patched in CASES.values() for case in patched]


@needs_examples
def test_every_flux_kind_in_the_examples_is_found() -> None:
    found = {kind: (len(w), len(p)) for kind, (w, p) in CASES.items() if w or p}
    # Kustomization overlays patch two of them, HelmRelease overlays two podinfo releases.
    assert found == {
        "GitRepository": (1, 0),
        "HelmRelease": (3, 2),
        "HelmRepository": (1, 0),
        "Kustomization": (14, 2),
        "OCIRepository": (3, 0),
    }


@needs_examples
@pytest.mark.parametrize("doc", WHOLE)
def test_example_round_trips_and_is_crd_valid(doc: dict[str, Any], assert_crd_valid: Any) -> None:
    group = doc["apiVersion"].rpartition("/")[0]
    current = flux_kinds()[(group, doc["kind"])].api_version
    if doc["apiVersion"] != current:
        # An example still on a removed version: a clear error naming the current one, and
        # what `flux migrate` would store (the same spec at the current version) round-trips.
        with pytest.raises(errors.UnsupportedApiVersionError, match=rf"use {current} "):
            from_manifest(doc)
        doc = {**doc, "apiVersion": current}
    check_round_trip(doc, assert_crd_valid)


@needs_examples
@pytest.mark.parametrize(("fragment", "patched"), PATCHED)
def test_example_overlay_patch(
    fragment: dict[str, Any], patched: dict[str, Any], assert_crd_valid: Any
) -> None:
    # The fragment alone is not an object; merged onto its base it is a valid one.
    with pytest.raises(errors.SpecError, match=r"spec.interval: required field is missing"):
        from_manifest(fragment)
    check_round_trip(patched, assert_crd_valid)
