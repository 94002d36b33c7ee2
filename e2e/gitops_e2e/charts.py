"""A local Helm chart repository for the shipped stacks: stand-in charts under the names and
versions the stacks pin, each carrying the real CRDs of the project it stands for (fetched by
`e2e/build.sh` from that project's Go module, see `e2e/toolchain/charts/crds.list`) and one
ConfigMap, nothing that needs a kubelet to become Ready.

The charts to serve are read from what the SDK renders for a stack (`gitops synth`): each
HelmRelease's chart, version and HelmRepository, so nothing here repeats a pin. Each
HelmRepository gets its own folder (`/<name>/index.yaml`) on one HTTP server."""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from .procs import BIN, HarnessError

ROOT = Path(__file__).resolve().parent.parent.parent
CRD_LIST = ROOT / "e2e" / "toolchain" / "charts" / "crds.list"
CRD_DIR = BIN / "crds"
"""Where e2e/build.sh (`chart-crds`) copies the CRDs, one folder per chart."""
STANDIN_CONFIGMAP = "{release}-standin"
"""Name of the ConfigMap every stand-in installs (in the release namespace): the object the
Flux-owned drift test edits."""
KEEP = "helm.sh/resource-policy"


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads a bare `=` as the "value" tag, which CRD enums use as a plain string."""


_Loader.add_constructor("tag:yaml.org,2002:value", _Loader.construct_yaml_str)  # type: ignore[type-var]


def _load_all(text: str) -> list[Any]:
    return [d for d in yaml.load_all(text, Loader=_Loader) if d]


@dataclass(frozen=True)
class CrdSource:
    """One line of crds.list."""

    chart: str
    placement: str
    """`crds` (the chart's crds/ folder) or `templates` (release objects)."""
    module: str | None
    pattern: str | None
    trim: str | None = None
    """`descriptions`: the stand-in drops every schema `description` (see crds.list)."""


def crd_sources(path: Path = CRD_LIST) -> dict[str, CrdSource]:
    out: dict[str, CrdSource] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        chart, placement, module, pattern, trim = line.split()[:5]
        if placement not in ("crds", "templates") or trim not in ("-", "descriptions"):
            raise HarnessError(f"{path}: {chart}: bad placement {placement!r} or trim {trim!r}")
        out[chart] = CrdSource(
            chart,
            placement,
            None if module == "-" else module,
            None if pattern == "-" else pattern,
            None if trim == "-" else trim,
        )
    return out


@dataclass(frozen=True)
class ChartPin:
    """A chart one of the stack's HelmReleases installs."""

    release: str
    """The HelmRelease's name."""
    chart: str
    version: str
    repository: str
    """The HelmRepository's name (a `gitops:sources` key)."""
    url: str
    """That HelmRepository's URL in the stack."""
    release_name: str
    namespace: str


def synth(stack: str, out: Path, root: Path = ROOT) -> list[dict[str, Any]]:
    """Every object `gitops synth --stack STACK` renders (from the checkout's stack file)."""
    gitops = Path(sys.prefix) / "bin" / "gitops"
    proc = subprocess.run(
        [str(gitops), "synth", "--stack", stack, "--out", str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        raise HarnessError(f"gitops synth --stack {stack} failed:\n{proc.stderr[-3000:]}")
    docs: list[dict[str, Any]] = []
    for path in sorted(out.rglob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def chart_pins(docs: list[dict[str, Any]]) -> list[ChartPin]:
    """The charts of the rendered HelmReleases, with their HelmRepository's URL."""
    repos = {d["metadata"]["name"]: d["spec"]["url"] for d in docs if d["kind"] == "HelmRepository"}
    pins = []
    for d in docs:
        if d["kind"] != "HelmRelease":
            continue
        spec = d["spec"]
        chart = spec["chart"]["spec"]
        ref = chart["sourceRef"]
        if ref["kind"] != "HelmRepository" or ref["name"] not in repos:
            raise HarnessError(f"HelmRelease {d['metadata']['name']}: chart source {ref} unknown")
        pins.append(
            ChartPin(
                release=d["metadata"]["name"],
                chart=chart["chart"],
                version=str(chart["version"]),
                repository=ref["name"],
                url=repos[ref["name"]],
                release_name=spec.get("releaseName") or d["metadata"]["name"],
                namespace=spec.get("targetNamespace") or d["metadata"]["namespace"],
            )
        )
    return pins


def _gate(chart: str) -> tuple[str, str, dict[str, Any]]:
    """(begin, end, default values) of the switch the real chart puts its template CRDs behind."""
    if chart == "cert-manager":
        # Off by default upstream; `crds.keep` (default true) keeps them on uninstall.
        return (
            "{{- if or .Values.crds.enabled .Values.installCRDs }}\n",
            "{{- end }}\n",
            {"crds": {"enabled": False, "keep": True}, "installCRDs": False},
        )
    return ("{{- if .Values.crds.enabled }}\n", "{{- end }}\n", {"crds": {"enabled": True}})


def _keep_annotation(doc: dict[str, Any], chart: str) -> str:
    """A template CRD, with the keep policy behind `crds.keep` for cert-manager (as upstream)."""
    if chart != "cert-manager":
        return yaml.safe_dump(doc, sort_keys=False)
    meta = doc["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}), "e2e-keep": "e2e-keep"}
    text = yaml.safe_dump(doc, sort_keys=False)
    line = "    e2e-keep: e2e-keep\n"
    if text.count(line) != 1:
        raise HarnessError(f"{chart}: cannot place the keep policy in {meta.get('name')}")
    keep = "{{- if .Values.crds.keep }}\n" + f"    {KEEP}: keep\n" + "{{- end }}\n"
    return text.replace(line, keep)


def _no_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_descriptions(v) for k, v in value.items() if k != "description"}
    if isinstance(value, list):
        return [_no_descriptions(v) for v in value]
    return value


@dataclass
class StandIn:
    pin: ChartPin
    tgz: bytes
    crd_names: list[str]
    placement: str
    kept: bool
    """Whether its CRDs survive `helm uninstall` (crds/ folder, or the keep policy)."""
    source: str


def crd_files(chart: str, sources: dict[str, CrdSource], crd_dir: Path = CRD_DIR) -> list[Path]:
    src = sources.get(chart)
    if src is None or src.module is None:
        return []
    folder = crd_dir / chart
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    if not files:
        raise HarnessError(
            f"no CRDs for chart {chart} in {folder} ({src.module}): run e2e/build.sh chart-crds"
        )
    return files


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def build_standin(pin: ChartPin, sources: dict[str, CrdSource], crd_dir: Path = CRD_DIR) -> StandIn:
    """The chart `pin.chart` at `pin.version`: its project's CRDs where the real chart has them
    (crds/ or templates behind the same switch) and a ConfigMap naming what it stands for."""
    src = sources.get(pin.chart)
    files = crd_files(pin.chart, sources, crd_dir)
    placement = src.placement if src else "templates"
    meta = {
        "apiVersion": "v2",
        "name": pin.chart,
        "version": pin.version,
        "description": f"e2e stand-in for {pin.chart} {pin.version}: CRDs and a ConfigMap only",
        "type": "application",
    }
    values: dict[str, Any] = {}
    entries: dict[str, bytes] = {}
    names: list[str] = []
    if files:
        begin, end, values = _gate(pin.chart) if placement == "templates" else ("", "", {})
        for f in files:
            text = f.read_text()
            docs = _load_all(text)
            names += [
                d["metadata"]["name"] for d in docs if d.get("kind") == "CustomResourceDefinition"
            ]
            if src is not None and src.trim == "descriptions":
                docs = [_no_descriptions(d) for d in docs]
                text = "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in docs)
            if placement == "crds":
                entries[f"crds/{f.name}"] = text.encode()
            else:
                body = "---\n".join(_keep_annotation(d, pin.chart) for d in docs)
                entries[f"templates/crd-{f.name}"] = (begin + body + end).encode()
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "{{ .Release.Name }}-standin",
            "namespace": "{{ .Release.Namespace }}",
        },
        "data": {
            "chart": pin.chart,
            "version": pin.version,
            "crds": src.module if src and src.module else "none",
            "crdsTrimmed": (src.trim if src else None) or "no",
        },
    }
    entries["templates/standin.yaml"] = yaml.safe_dump(configmap, sort_keys=False).encode()
    entries["Chart.yaml"] = yaml.safe_dump(meta, sort_keys=False).encode()
    entries["values.yaml"] = yaml.safe_dump(values, sort_keys=False).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in sorted(entries):
            _add(tar, f"{pin.chart}/{name}", entries[name])
    kept = bool(files) and (placement == "crds" or pin.chart == "cert-manager")
    source_text = (crd_dir / pin.chart / "SOURCE").read_text().strip() if files else "none"
    return StandIn(pin, buf.getvalue(), names, placement, kept, source_text)


def index_yaml(charts: list[StandIn], created: str = "2026-01-01T00:00:00Z") -> bytes:
    entries: dict[str, list[dict[str, Any]]] = {}
    for c in charts:
        entries.setdefault(c.pin.chart, []).append(
            {
                "apiVersion": "v2",
                "name": c.pin.chart,
                "version": c.pin.version,
                "created": created,
                "digest": hashlib.sha256(c.tgz).hexdigest(),
                "urls": [f"{c.pin.chart}-{c.pin.version}.tgz"],
            }
        )
    doc = {"apiVersion": "v1", "entries": entries, "generated": created}
    return yaml.safe_dump(doc, sort_keys=False).encode()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log = getattr(self.server, "log", None)
        if log is not None:
            with contextlib.suppress(OSError), open(log, "a") as f:
                f.write(f"{self.address_string()} {format % args}\n")


@dataclass
class ChartServer:
    """The chart repository over HTTP on 127.0.0.1: `url(repo)` is a repository's URL."""

    root: Path
    charts: list[StandIn] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, repository: str) -> str:
        return f"{self.base}/{repository}/"

    def urls(self) -> dict[str, str]:
        """Repository name -> its local URL, for every repository served."""
        return {c.pin.repository: self.url(c.pin.repository) for c in self.charts}

    def kept_crds(self) -> set[str]:
        """CRDs `helm uninstall` leaves behind: those of crds/ folders and kept templates."""
        return {n for c in self.charts if c.kept for n in c.crd_names}

    def start(self, log: Path | None = None) -> ChartServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(self.root)))
        server.log = log  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, name="charts", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def chart_server(root: Path, pins: list[ChartPin], log: Path | None = None) -> ChartServer:
    """Build a stand-in for every pin (once per chart and version) and serve them."""
    sources = crd_sources()
    seen: dict[tuple[str, str, str], StandIn] = {}
    for pin in pins:
        key = (pin.repository, pin.chart, pin.version)
        if key not in seen:
            seen[key] = build_standin(pin, sources)
    charts = list(seen.values())
    for repo in {c.pin.repository for c in charts}:
        folder = root / repo
        folder.mkdir(parents=True, exist_ok=True)
        mine = [c for c in charts if c.pin.repository == repo]
        for c in mine:
            (folder / f"{c.pin.chart}-{c.pin.version}.tgz").write_bytes(c.tgz)
        (folder / "index.yaml").write_bytes(index_yaml(mine))
    return ChartServer(root, charts).start(log)


__all__ = [
    "CRD_DIR",
    "CRD_LIST",
    "STANDIN_CONFIGMAP",
    "ChartPin",
    "ChartServer",
    "CrdSource",
    "StandIn",
    "build_standin",
    "chart_pins",
    "chart_server",
    "crd_files",
    "crd_sources",
    "index_yaml",
    "synth",
]
