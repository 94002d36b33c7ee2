"""The chart presets the SDK ships: valid, pinned, fit for ARM64 nodes, merged as documented."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gitops_sdk.core.mappings import deep_merge
from gitops_sdk.stack.presets import preset_names, presets

SEED = [
    "blocky",
    "cert-manager",
    "external-secrets",
    "flagger",
    "kube-prometheus-stack",
    "longhorn",
    "metallb",
    "polaris",
    "traefik",
    "trivy-operator",
    "uptime-kuma",
]


def _walk(value: Any) -> list[Any]:
    out = [value]
    if isinstance(value, dict):
        for v in value.values():
            out += _walk(v)
    elif isinstance(value, list):
        for v in value:
            out += _walk(v)
    return out


def test_every_seed_component_has_a_preset() -> None:
    assert set(SEED) <= set(preset_names())


@pytest.mark.parametrize("name", sorted(presets()))
def test_a_preset_pins_an_exact_version_and_schedules_on_arm64(name: str) -> None:
    preset = presets()[name]
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", preset.version)
    # Every workload lands on arm64 nodes: the nodeSelector appears in the values.
    selectors = [
        v for v in _walk(preset.values) if isinstance(v, dict) and "kubernetes.io/arch" in v
    ]
    assert selectors and all(s["kubernetes.io/arch"] == "arm64" for s in selectors)
    # Requests and limits are set, the limits at least the requests' size class.
    assert any(
        isinstance(v, dict) and {"requests", "limits"} <= set(v) for v in _walk(preset.values)
    )


def test_charts_with_crds_say_which_api_groups_they_bring() -> None:
    groups = {n: set(p.provides) for n, p in presets().items()}
    assert groups["cert-manager"] == {"cert-manager.io", "acme.cert-manager.io"}
    assert groups["kube-prometheus-stack"] == {"monitoring.coreos.com"}
    assert groups["flagger"] == {"flagger.app"}
    assert "external-secrets.io" in groups["external-secrets"]
    assert groups["polaris"] == set()
    # Charts whose CRDs sit in crds/ get them replaced on upgrade, which Helm never does.
    assert {n for n, p in presets().items() if p.crds == "CreateReplace"} >= {
        "traefik",
        "kube-prometheus-stack",
        "trivy-operator",
        "flagger",
    }


def test_deep_merge_merges_mappings_replaces_the_rest_and_null_removes() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1, "e": {"f": 1}}
    over = {"a": {"c": [3], "g": 2}, "d": None, "e": 5}
    assert deep_merge(base, over) == {"a": {"b": 1, "c": [3], "g": 2}, "e": 5}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1, "e": {"f": 1}}  # untouched
