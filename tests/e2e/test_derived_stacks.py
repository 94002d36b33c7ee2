"""The e2e stack files of the shipped stacks differ from Pulumi.staging.yaml and
Pulumi.production.yaml in URLs only, and the chart repository serves exactly what they pin
(no toolchain needed: these run with the unit tests too)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitops_e2e import charts, shipped

ROOT = Path(__file__).resolve().parents[2]
STACKS = ["staging", "production"]


def _derived(stack: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    original = shipped.stack_file(stack, ROOT)
    derived = shipped.derive(
        original,
        git_url="http://127.0.0.1:1/homelab.git",
        chart_url=lambda name: f"http://127.0.0.1:2/{name}/",
        sink_url="http://127.0.0.1:3/",
    )
    return original, derived


@pytest.mark.parametrize("stack", STACKS)
def test_the_derived_stack_file_changes_urls_and_nothing_else(stack: str) -> None:
    original, derived = _derived(stack)
    assert shipped.non_url_differences(original, derived) == []
    changed = {".".join(p) for p in shipped.differences(original, derived)}
    config = original["config"]
    expected = {"config.gitops:repository.url"}
    expected |= {f"config.gitops:sources.{n}.url" for n in config["gitops:sources"]}
    expected |= {
        f"config.gitops:alerts.providers.{n}.address" for n in config["gitops:alerts"]["providers"]
    }
    assert changed == expected


def test_the_check_catches_anything_but_a_url() -> None:
    original, derived = _derived("staging")
    derived["config"]["gitops:repository"]["interval"] = "10m"
    derived["config"]["gitops:sources"]["jetstack"]["url"] = "not a url"
    derived["config"]["gitops:flux"]["extra"] = True
    problems = shipped.non_url_differences(original, derived)
    assert len(problems) == 3, problems
    assert any("interval" in p for p in problems)


@pytest.mark.parametrize("stack", STACKS)
def test_every_pinned_chart_has_a_stand_in(stack: str, tmp_path: Path) -> None:
    pins = charts.chart_pins(charts.synth(stack, tmp_path / "synth", ROOT))
    assert len(pins) >= 10
    listed = charts.crd_sources()
    # a chart of a project with CRDs is listed (with its module, or `-` saying none can be had)
    with_crds = {"cert-manager", "metallb", "traefik", "kube-prometheus-stack", "flagger"}
    assert (
        with_crds
        <= {p.chart for p in pins}
        <= set(listed)
        | {
            "blocky",
            "uptime-kuma",
            "polaris",
            "loadtester",
        }
    )
    for name in with_crds:
        assert listed[name].module is not None


def test_the_crd_modules_follow_the_chart_pins_where_versions_match(tmp_path: Path) -> None:
    """cert-manager, MetalLB and Flagger version chart and project alike: a Renovate bump of the
    chart must bump the module in e2e/toolchain/charts/go.mod too."""
    gomod = (ROOT / "e2e" / "toolchain" / "charts" / "go.mod").read_text()
    required = dict(re.findall(r"^\s+(\S+) (v\S+)$", gomod, re.M))
    pins = {p.chart: p.version for p in charts.chart_pins(charts.synth("staging", tmp_path, ROOT))}
    listed = charts.crd_sources()
    for chart in ("cert-manager", "metallb", "flagger"):
        module = listed[chart].module
        assert module in required, module
        assert required[module].lstrip("v") == pins[chart].lstrip("v"), (chart, module)
    for source in listed.values():
        if source.module is not None:
            assert source.module in required, f"crds.list names {source.module}, not in go.mod"


def test_a_stand_in_chart_is_a_helm_chart_with_the_crds_where_upstream_has_them(
    tmp_path: Path,
) -> None:
    import io
    import tarfile

    pin = charts.ChartPin("r", "flagger", "1.44.0", "flagger", "https://x/", "flagger", "ns")
    crd_dir = tmp_path / "crds"
    (crd_dir / "flagger").mkdir(parents=True)
    (crd_dir / "flagger" / "crd.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: canaries.flagger.app}\nspec: {group: flagger.app}\n"
    )
    (crd_dir / "flagger" / "SOURCE").write_text("github.com/fluxcd/flagger@v1.44.0\n")
    standin = charts.build_standin(pin, charts.crd_sources(), crd_dir)
    with tarfile.open(fileobj=io.BytesIO(standin.tgz)) as tar:
        names = sorted(tar.getnames())
    assert names == [
        "flagger/Chart.yaml",
        "flagger/crds/crd.yaml",
        "flagger/templates/standin.yaml",
        "flagger/values.yaml",
    ]
    assert standin.crd_names == ["canaries.flagger.app"] and standin.kept
    index = charts.index_yaml([standin]).decode()
    assert "flagger-1.44.0.tgz" in index and "version: 1.44.0" in index
