"""The engine's cost of the SDK: `pulumi up` (from an empty control plane) and a no-op
`pulumi preview` of the staging-derived stack (the shipped Pulumi.staging.yaml with only its URLs
changed, see e2e/README.md), against a plain pulumi-kubernetes program that registers the same
objects through `pulumi_kubernetes.yaml.v2.ConfigGroup`.

The plain program gets what `gitops synth` renders for the derived stack (Secrets with the data
the SDK generated or took from secret config, which synth leaves out), in waves: one ConfigGroup
per level of the dependency order the SDK's state records, each depending on the one before, so
it waits for what the SDK waits for (a HelmRelease's chart Ready before the objects of its CRDs,
and so on), only coarser. Both run against their own fresh control plane with the Flux
Deployments run as local processes; the Git server and chart repository are shared. Each `up`
runs while the other program's Flux processes are stopped (`--ups N` rounds, each on fresh
control planes, median); then the no-op previews alternate (`--previews`, default 5) with all
Flux processes stopped, and the ratio is of their medians.
Python writes bytecode for both programs, as it does for a user. Prints the times and two last
lines `ratio up <sdk/plain>` and `ratio preview <sdk/plain>` (goal: <= 1.10), never asserted.

Needs e2e/bin (`e2e/build.sh`) and ../shared/flux-install.
Run: `.venv/bin/python benchmarks/engine.py [--keep]`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gitops_e2e import charts, shipped
from gitops_e2e.controlplane import start_control_plane
from gitops_e2e.kubelet import start_kubelet
from gitops_e2e.pulumi import PulumiProject

STACK = "staging"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
PLAIN_PROGRAM = '''"""Plain pulumi-kubernetes: the objects of waves.json in ConfigGroups."""
import json
from pathlib import Path

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource
from pulumi_kubernetes.yaml.v2 import ConfigGroup

plan = json.loads((Path(__file__).parent / "waves.json").read_text())
late = set(plan["late_groups"])


def done(res):
    return res.resources if isinstance(res, ConfigGroup) else res.metadata


before = []
for i, wave in enumerate(plan["waves"]):
    after = before
    for part in ("leaves", "objs"):
        opts = pulumi.ResourceOptions(depends_on=before)
        # A ConfigGroup resolves each kind's scope when it is constructed, from the provider's
        # discovery at start: objects of a CRD a chart installs during the run are registered
        # as CustomResources, and a wave's objects are handed over once the one before is done.
        gate = pulumi.Output.all(*[done(r) for r in before])
        made = []
        for doc in [d for d in wave[part] if d["apiVersion"].rpartition("/")[0] in late]:
            meta = doc["metadata"]
            made.append(CustomResource(
                f"{doc['kind']}-{meta.get('namespace', '')}-{meta['name']}",
                api_version=doc["apiVersion"], kind=doc["kind"], metadata=meta,
                spec=doc.get("spec"), opts=opts,
            ))
        rest = [d for d in wave[part] if d["apiVersion"].rpartition("/")[0] not in late]
        if rest:
            objs = gate.apply(lambda _, o=rest: o) if before else rest
            made.append(ConfigGroup(f"wave-{i}-{part}", objs=objs, opts=opts))
        if part == "objs" and made:
            after = made
    before = after
'''


def _plain(value: Any) -> Any:
    """A state value with Pulumi's secret wrappers (`--show-secrets`) unwrapped."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG) and "plaintext" in value:
            return _plain(json.loads(value["plaintext"]))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc.get("metadata") or {}
    return doc["kind"], meta.get("namespace") or "", meta["name"]


def waves(state: dict[str, Any], rendered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rendered objects grouped by their level in the state's dependency order, each level
    split into `objs` (something of a later level depends on them) and `leaves` (nothing does:
    the next level does not wait for them, as in the SDK, where nothing waits for a Service's
    endpoints)."""
    resources = state["deployment"]["resources"]
    children: dict[str, list[str]] = {}
    for r in resources:
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["urn"])
    kube = {
        r["urn"]: r
        for r in resources
        if r["type"].startswith("kubernetes:") and "kind" in (r.get("inputs") or {})
    }

    def expand(urn: str) -> Iterator[str]:
        yield urn
        for child in children.get(urn, []):
            yield from expand(child)

    level: dict[str, int] = {}

    def depth(urn: str, seen: frozenset[str] = frozenset()) -> int:
        if urn not in level:
            deps = {u for d in kube[urn].get("dependencies") or [] for u in expand(d) if u in kube}
            level[urn] = 1 + max((depth(d, seen | {urn}) for d in deps - seen), default=-1)
        return level[urn]

    by_key = {_key(_plain(r["inputs"])): urn for urn, r in kube.items()}
    # a cluster-scoped object may carry a namespace in its inputs; match it by kind and name
    for key, urn in list(by_key.items()):
        by_key.setdefault((key[0], "", key[2]), urn)
    secrets = {k: _plain(kube[u]["inputs"]) for k, u in by_key.items() if k[0] == "Secret"}
    needed = {u for r in kube.values() for d in r.get("dependencies") or [] for u in expand(d)}
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}

    def place(key: tuple[str, str, str], doc: dict[str, Any]) -> None:
        urn = by_key.get(key)
        wave = out.setdefault(depth(urn) if urn else 0, {"objs": [], "leaves": []})
        wave["objs" if urn is None or urn in needed else "leaves"].append(doc)

    placed = set()
    for doc in rendered:
        key = _key(doc)
        if key[0] == "Secret":
            doc = secrets[key]  # with its data, which synth leaves out
        place(key, {k: v for k, v in doc.items() if k != "status"})
        placed.add(key)
    for key, doc in secrets.items():  # made from secret config, not rendered
        if key not in placed:
            place(key, doc)
    return [out[i] for i in sorted(out)]


def timed(project: PulumiProject, *args: str) -> float:
    result = project.run(*args, timeout=1800)
    return result.seconds


def warm_bytecode(project: PulumiProject, cache: Path) -> None:
    """Let the program's Python write bytecode (to `cache`, not the checkout), as it does for a
    user (CI sets PYTHONDONTWRITEBYTECODE): the first run compiles, the timed ones reuse it."""
    project.env.update(PYTHONDONTWRITEBYTECODE="", PYTHONPYCACHEPREFIX=str(cache))


def plain_root(work: Path, sdk: shipped.Shipped) -> tuple[Path, list[dict[str, Any]]]:
    """The plain program, fed with the waves of what the SDK's `up` registered."""
    state = json.loads(
        sdk.project.run("stack", "export", "--show-secrets", "--stack", STACK).stdout
    )
    plan = waves(state, charts.synth(STACK, work / "synth-derived", sdk.project.dir))
    root = work / "root"
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "__main__.py").write_text(PLAIN_PROGRAM)
    late = sorted({n.split(".", 1)[1] for c in sdk.charts.charts for n in c.crd_names})
    (root / "stacks" / "waves.json").write_text(json.dumps({"waves": plan, "late_groups": late}))
    project_file = {"name": "plain", "runtime": "python", "main": "stacks/"}
    (root / "Pulumi.yaml").write_text(yaml.safe_dump(project_file))
    return root, plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument(
        "--previews", type=int, default=5, help="no-op previews of each program (median)"
    )
    parser.add_argument(
        "--ups", type=int, default=1, help="rounds of `up` from empty, fresh planes each (median)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gitops-engine-"))
    ups: dict[str, list[float]] = {"sdk": [], "plain": []}
    times: dict[str, list[float]] = {"sdk": [], "plain": []}
    stops: list[Any] = []
    plan: list[dict[str, Any]] = []
    try:
        for n in range(max(1, args.ups)):
            # Each round from empty: new control planes, Git server and chart repository.
            sdk = shipped.prepare(STACK, work / f"sdk-{n}")
            stops.append(sdk.stop)
            warm_bytecode(sdk.project, work / "pycache")
            ups["sdk"].append(timed(sdk.project, "up", "--yes", "--skip-preview", "--stack", STACK))
            # Previews read the API server only: with the Flux processes of both planes
            # stopped, nothing else competes for the two cores while the programs are timed.
            sdk.kubelet.stop()
            # the plain program gets this round's objects (its Git server and chart URLs)
            root, plan = plain_root(work / f"plain-root-{n}", sdk)
            plane = start_control_plane(work / f"plain-{n}")
            stops.append(plane.stop)
            kubelet = start_kubelet(work / f"plain-{n}", plane.kube)
            try:
                plain = PulumiProject(work / f"plain-{n}", kubeconfig=plane.kubeconfig, root=root)
                warm_bytecode(plain, work / "pycache")
                plain.write_stack_file(STACK, {"config": {}})
                plain.run("stack", "init", STACK, timeout=60)
                ups["plain"].append(timed(plain, "up", "--yes", "--skip-preview", "--stack", STACK))
            finally:
                kubelet.stop()
            if n < args.ups - 1:
                for stop in reversed(stops):
                    stop()
                stops.clear()
        preview = ("preview", "--expect-no-changes", "--stack", STACK)
        for _ in range(max(1, args.previews)):  # alternating: drift hits both alike
            times["sdk"].append(timed(sdk.project, *preview))
            times["plain"].append(timed(plain, *preview))
    finally:
        for stop in reversed(stops):
            stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    objects = sum(len(w["objs"]) + len(w["leaves"]) for w in plan)
    groups = sum(bool(w["objs"]) + bool(w["leaves"]) for w in plan)
    print(f"objects {objects} in {len(plan)} waves, {groups} ConfigGroups (plain program)")
    median = {k: (statistics.median(ups[k]), statistics.median(times[k])) for k in ups}
    for name in ("sdk", "plain"):
        shown_up = " ".join(f"{t:.1f}" for t in ups[name])
        shown = " ".join(f"{t:.2f}" for t in times[name])
        print(
            f"{name:5} ups {shown_up} s (median {median[name][0]:.1f})   "
            f"previews {shown} s (median {median[name][1]:.2f})"
        )
    if args.keep:
        print(f"work dir: {work}")
    print(f"ratio up {median['sdk'][0] / median['plain'][0]:.3f}")
    print(f"ratio preview {median['sdk'][1] / median['plain'][1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
