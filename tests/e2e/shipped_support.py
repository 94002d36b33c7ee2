"""Checks shared by the end-to-end tests of the shipped stacks (test_shipped_*_e2e.py): each
deploys `Pulumi.<stack>.yaml`, with only its URLs changed, to its own empty control plane
(`gitops_e2e.shipped`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gitops_e2e import shipped
from gitops_e2e.kube import Kube, KubeError, condition, is_ready
from gitops_e2e.procs import wait_until

HR = "kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease"
KS = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
NS = "flux-system"
NOISE_KINDS = {"Event", "Lease", "EndpointSlice"}
"""Kinds the control plane writes by itself (not objects the stack made)."""


def deploy(stack: str, work: Path) -> Iterator[shipped.Shipped]:
    """Module fixture body: prepare, snapshot the empty control plane, `pulumi up`, yield;
    stop everything afterwards."""
    s = shipped.prepare(stack, work)
    try:
        s.baseline = snapshot(s.plane.kube)
        shipped.up(s)
        yield s
    finally:
        s.stop()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ready_at(obj: dict[str, Any]) -> datetime:
    cond = condition(obj)
    assert cond is not None and cond["status"] == "True", (obj["metadata"]["name"], cond)
    return when(cond["lastTransitionTime"])


def created_at(obj: dict[str, Any]) -> datetime:
    return when(obj["metadata"]["creationTimestamp"])


def rendered(s: shipped.Shipped, kind: str) -> list[dict[str, Any]]:
    return [d for d in s.rendered if d["kind"] == kind]


def live(kube: Kube, doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc["metadata"]
    obj = kube.get(doc["kind"], meta["name"], meta.get("namespace"))
    assert obj is not None, (
        f"{doc['kind']} {meta.get('namespace')}/{meta['name']} not in the cluster"
    )
    return obj


def all_ready(s: shipped.Shipped) -> dict[tuple[str, str], dict[str, Any]]:
    """Every rendered HelmRelease and Kustomization, from the cluster, each Ready."""
    kube = s.plane.kube
    out = {}
    for kind in ("HelmRelease", "Kustomization"):
        for doc in rendered(s, kind):
            obj = live(kube, doc)
            assert is_ready(obj), f"{kind} {doc['metadata']['name']}: {condition(obj)}"
            out[(kind, doc["metadata"]["name"])] = obj
    return out


def state_edges(s: shipped.Shipped) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """(dependent, dependency) pairs of HelmReleases/Kustomizations, (kind, name) each, as the
    engine ordered them: each resource's `dependencies` in the state, a component standing for
    every custom resource below it."""
    resources = s.project.export(s.stack)["deployment"]["resources"]
    by_urn = {r["urn"]: r for r in resources}
    children: dict[str, list[str]] = {}
    for r in resources:
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["urn"])

    def flux_key(r: dict[str, Any]) -> tuple[str, str] | None:
        if r["type"] not in (HR, KS):
            return None
        kind = "HelmRelease" if r["type"] == HR else "Kustomization"
        return kind, r["outputs"]["metadata"]["name"]

    def expand(urn: str) -> Iterator[str]:
        yield urn
        for child in children.get(urn, []):
            yield from expand(child)

    edges = []
    for r in resources:
        me = flux_key(r)
        if me is None:
            continue
        for dep in r.get("dependencies") or []:
            for urn in expand(dep):
                other = by_urn.get(urn)
                key = flux_key(other) if other else None
                if key is not None and key != me:
                    edges.append((me, key))
    return sorted(set(edges))


def check_dependency_order(s: shipped.Shipped) -> int:
    """Each HelmRelease/Kustomization was created only after everything the engine ordered it
    after was Ready, and became Ready no earlier than its Flux `dependsOn`. Returns the number
    of edges checked."""
    objs = all_ready(s)
    edges = state_edges(s)
    for dependent, dependency in edges:
        created, ready = created_at(objs[dependent]), ready_at(objs[dependency])
        assert created >= ready, f"{dependent} created {created}, before {dependency} Ready {ready}"
    flux_edges = 0
    for (kind, name), obj in objs.items():
        for dep in obj["spec"].get("dependsOn") or []:
            other = objs[(kind, dep["name"])]
            assert ready_at(obj) >= ready_at(other), f"{kind} {name} Ready before {dep['name']}"
            flux_edges += 1
    assert edges, "no ordering edges between releases and Kustomizations in the state"
    return len(edges) + flux_edges


def providers_by_group(s: shipped.Shipped) -> dict[str, str]:
    """API group -> the HelmRelease whose stand-in chart brings its CRDs."""
    release = {(p.repository, p.chart, p.version): p.release for p in s.pins}
    out = {}
    for chart in s.charts.charts:
        name = release[(chart.pin.repository, chart.pin.chart, chart.pin.version)]
        for crd in chart.crd_names:
            out[crd.split(".", 1)[1]] = name
    return out


def check_crd_objects_after_their_chart(s: shipped.Shipped) -> dict[str, list[str]]:
    """Every rendered object of a chart-provided API group was created after that chart's
    HelmRelease was Ready; returns release -> the objects checked."""
    kube = s.plane.kube
    groups = providers_by_group(s)
    checked: dict[str, list[str]] = {}
    for doc in s.rendered:
        group = doc["apiVersion"].rpartition("/")[0]
        if group not in groups:
            continue
        ref = {"kind": "HelmRelease", "metadata": {"name": groups[group], "namespace": NS}}
        release = live(kube, ref)
        obj = live(kube, doc)
        assert created_at(obj) >= ready_at(release), (
            f"{doc['kind']} {obj['metadata']['name']} created {created_at(obj)}, before "
            f"HelmRelease {groups[group]} was Ready ({ready_at(release)})"
        )
        checked.setdefault(groups[group], []).append(f"{doc['kind']}/{doc['metadata']['name']}")
    return checked


def snapshot(kube: Kube) -> set[tuple[str, str, str]]:
    """(apiVersion/kind, namespace, name) of every object the API server holds, but for the
    kinds it writes by itself."""
    found = set()
    for res in kube.resources():
        if "list" not in res.verbs:
            continue
        try:
            doc = kube.request("GET", f"{res.base()}/{res.plural}")
        except KubeError:
            continue
        kind = doc.get("kind", "").removesuffix("List")
        if kind in NOISE_KINDS:
            continue
        for obj in doc.get("items") or []:
            meta = obj["metadata"]
            found.add((f"{res.api_version}/{kind}", meta.get("namespace") or "", meta["name"]))
    return found


def check_deployed(s: shipped.Shipped) -> list[dict[str, Any]]:
    """The first `pulumi up` succeeded on an empty control plane, and every Flux Deployment is
    Available with its process still running. Returns the live Deployments."""
    up = s.up
    assert up is not None and up.returncode == 0
    assert "error" not in up.stderr.lower(), up.stderr[-3000:]
    assert s.baseline, "no snapshot of the empty control plane"
    assert not any(ns == NS for _, ns, _ in s.baseline), "the control plane was not empty"
    found = []
    for d in rendered(s, "Deployment"):
        obj = s.plane.kube.get("Deployment", d["metadata"]["name"], NS)
        assert obj is not None and condition(obj, "Available")["status"] == "True", d["metadata"]
        found.append(obj)
    assert s.kubelet.exits == [], s.kubelet.exits
    return found


def check_destroy(s: shipped.Shipped) -> set[tuple[str, str, str]]:
    """`pulumi destroy`, then every object not there before `pulumi up`: it must be exactly the
    CRDs Helm leaves by design (a chart's crds/ folder, or `helm.sh/resource-policy: keep`).
    Returns those."""
    kube = s.plane.kube
    result = s.project.run("destroy", "--yes", "--skip-preview", "--stack", s.stack, timeout=900)
    assert result.returncode == 0
    state = s.project.export(s.stack)
    assert not state["deployment"].get("resources"), "resources left in the state"
    before = s.baseline
    kept = {
        ("apiextensions.k8s.io/v1/CustomResourceDefinition", "", n) for n in s.charts.kept_crds()
    }
    groups = {n.split(".", 1)[1] for n in s.charts.kept_crds()}

    def expected(left: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        # the API server registers an APIService per group-version a CRD serves
        return kept | {
            o for o in left if o[0].endswith("/APIService") and o[2].split(".", 1)[1] in groups
        }

    def settled() -> set[tuple[str, str, str]] | None:
        left = snapshot(kube) - before
        return left if left == expected(left) else None

    try:
        wait_until("destroy to settle", settled, timeout=120, interval=2)
    except Exception:
        left = snapshot(kube) - before
        pytest.fail(
            "after pulumi destroy, unexpected objects: "
            + json.dumps(sorted(map(list, left - expected(left))))
            + "; expected but gone: "
            + json.dumps(sorted(map(list, kept - left)))
        )
    assert s.kubelet.running == {}, "Flux processes still running after destroy"
    return kept


def no_changes(s: shipped.Shipped) -> None:
    result = s.project.run(
        "preview", "--stack", s.stack, "--expect-no-changes", "--diff", timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-6000:]


__all__ = [
    "check_crd_objects_after_their_chart",
    "check_dependency_order",
    "check_deployed",
    "check_destroy",
    "deploy",
    "no_changes",
    "providers_by_group",
    "ready_at",
    "rendered",
    "snapshot",
    "state_edges",
]
