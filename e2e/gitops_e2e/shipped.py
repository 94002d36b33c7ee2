"""The shipped stacks (Pulumi.staging.yaml, Pulumi.production.yaml) deployed whole to a local
control plane: their stack files with only URLs changed (`derive`: the config repository to the
local Git server, every Helm source to the local chart repository, every alert provider address
to the local sink), the charts they pin served as stand-ins (`charts`), the Flux Deployments run
by `kubelet.FluxKubelet` while `pulumi up` waits for them. Shared by tests/e2e and
`benchmarks/engine.py`."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .charts import ChartPin, ChartServer, chart_pins, chart_server, synth
from .controlplane import ControlPlane, start_control_plane
from .gitserver import GitHttpServer, start_git_server
from .kubelet import FluxKubelet, start_kubelet
from .procs import HarnessError
from .pulumi import ROOT, PulumiProject, Result
from .sink import EventSink

FIXTURE_REPO = ROOT / "e2e" / "fixtures" / "homelab-repo"
"""The config repository the shipped stacks' Kustomizations read (apps/<app>/<env>)."""
FLUX_MANIFEST = ROOT.parent / "shared" / "flux-install" / "v2.9.4" / "install.yaml"
URL_KEYS = frozenset({"url", "address"})
"""The only keys `derive` changes, and only to other URLs."""
GIT_CREDENTIALS = ("e2e-git-user", "e2e-git-token-51c0d2")


def stack_file(stack: str, root: Path = ROOT) -> dict[str, Any]:
    doc = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise HarnessError(f"Pulumi.{stack}.yaml: no config mapping")
    return doc


def derive(
    original: dict[str, Any], *, git_url: str, chart_url: Any, sink_url: str
) -> dict[str, Any]:
    """The stack file with URLs changed and nothing else: `gitops:repository.url` -> `git_url`,
    each Helm `gitops:sources.<name>.url` -> `chart_url(name)`, each alert provider's
    `address` -> `sink_url`."""
    doc = copy.deepcopy(original)
    config = doc["config"]
    config["gitops:repository"]["url"] = git_url
    for name, source in (config.get("gitops:sources") or {}).items():
        if source.get("type", "helm") != "helm":
            raise HarnessError(f"gitops:sources.{name}: type {source.get('type')!r} not served")
        source["url"] = chart_url(name)
    for provider in ((config.get("gitops:alerts") or {}).get("providers") or {}).values():
        if "address" in provider:
            provider["address"] = sink_url
    return doc


def differences(a: Any, b: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths where `a` and `b` differ (a key on one side only counts)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                yield (*path, str(key))
            else:
                yield from differences(a[key], b[key], (*path, str(key)))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from differences(x, y, (*path, str(i)))
    elif a != b or type(a) is not type(b):
        yield path


def _get(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def _is_url(value: Any) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return bool(parts and parts.scheme in ("http", "https") and parts.netloc)


def non_url_differences(original: dict[str, Any], derived: dict[str, Any]) -> list[str]:
    """Each difference that is not one URL replaced by another under a URL key (empty: the
    derived file changes URLs and nothing else)."""
    problems = []
    for path in differences(original, derived):
        try:
            old, new = _get(original, path), _get(derived, path)
        except (KeyError, IndexError):
            problems.append(f"{'.'.join(path)}: on one side only")
            continue
        if path[-1] not in URL_KEYS or not (_is_url(old) and _is_url(new)):
            problems.append(f"{'.'.join(path)}: {old!r} -> {new!r}")
    return problems


@dataclass
class Shipped:
    """One shipped stack deployed to its own control plane, with everything around it."""

    stack: str
    work: Path
    plane: ControlPlane
    git: GitHttpServer
    repo_url: str
    push_url: str
    sink: EventSink
    charts: ChartServer
    pins: list[ChartPin]
    rendered: list[dict[str, Any]]
    """What `gitops synth` renders for the original stack file."""
    original: dict[str, Any]
    derived: dict[str, Any]
    project: PulumiProject
    kubelet: FluxKubelet
    up: Result | None = None
    closers: list[Any] = field(default_factory=list)
    baseline: set[tuple[str, str, str]] = field(default_factory=set)
    """What the control plane held before `pulumi up` (filled in by the tests)."""

    def stop(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception as err:  # stop the rest anyway
                print(f"e2e: stopping {close}: {err!r}")


def prepare(
    stack: str,
    work: Path,
    *,
    root: Path = ROOT,
    flux_manifest: Path = FLUX_MANIFEST,
    credentials: tuple[str, str] = GIT_CREDENTIALS,
) -> Shipped:
    """Everything but `pulumi up`: an empty control plane, the Git server with the fixture
    repository (behind basic auth: the stack's GitRepository names a Secret), the alert sink,
    the chart repository, the derived stack file written into a project copy, the stack
    initialised with its secret config, and the kubelet stand-in watching for Flux."""
    work.mkdir(parents=True, exist_ok=True)
    closers: list[Any] = []
    try:
        plane = start_control_plane(work)
        closers.append(plane.stop)
        git = start_git_server(work, credentials)
        closers.append(git.stop)
        seed = work / "seed"
        shutil.copytree(FIXTURE_REPO, seed)
        repo_url = git.create_repo("homelab", seed)
        push_url = repo_url.replace("http://", "http://{}:{}@".format(*credentials))
        sink = EventSink().start()
        closers.append(sink.stop)
        rendered = synth(stack, work / "synth", root)
        pins = chart_pins(rendered)
        charts = chart_server(work / "charts", pins, log=work / "logs" / "charts.log")
        closers.append(charts.stop)
        original = stack_file(stack, root)
        derived = derive(original, git_url=repo_url, chart_url=charts.url, sink_url=sink.url)
        project = PulumiProject(
            work, kubeconfig=plane.kubeconfig, env={"GITOPS_FLUX_MANIFEST": str(flux_manifest)}
        )
        project.write_stack_file(stack, derived)
        project.run("stack", "init", stack, timeout=60)
        for key, value in zip(("username", "password"), credentials, strict=True):
            project.run(
                "config", "set", "--secret", "--path", "--stack", stack,
                f"gitops:gitCredentials.{key}", stdin=value,
            )  # fmt: skip
        kubelet = start_kubelet(work, plane.kube)
        closers.append(kubelet.stop)
    except BaseException:
        for close in reversed(closers):
            try:
                close()
            except Exception as err:
                print(f"e2e: stopping {close}: {err!r}")
        raise
    return Shipped(
        stack, work, plane, git, repo_url, push_url, sink, charts, pins, rendered, original,
        derived, project, kubelet, None, closers,
    )  # fmt: skip


def up(shipped: Shipped, timeout: float = 1200) -> Result:
    """`pulumi up` of the derived stack (no preview first: one run, as a first deploy)."""
    result = shipped.project.run(
        "up", "--yes", "--skip-preview", "--stack", shipped.stack, timeout=timeout, check=False
    )
    shipped.up = result
    if result.returncode != 0:
        raise HarnessError(
            f"pulumi up --stack {shipped.stack} failed:\n{result.stdout[-8000:]}\n"
            f"{result.stderr[-3000:]}\n{shipped.kubelet.describe()}"
        )
    return result


__all__ = [
    "FIXTURE_REPO",
    "FLUX_MANIFEST",
    "GIT_CREDENTIALS",
    "URL_KEYS",
    "Shipped",
    "derive",
    "differences",
    "non_url_differences",
    "prepare",
    "stack_file",
    "up",
]
