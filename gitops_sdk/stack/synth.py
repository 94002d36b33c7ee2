"""Offline synth: run the real stack program under Pulumi's mock runtime and collect every
Kubernetes object it would deploy. No cluster, no Pulumi account, no CLI.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.config import CONFIG
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from gitops_sdk.core.errors import ConfigError, stack_context
from gitops_sdk.services.atomic import write_atomic
from gitops_sdk.services.yaml_lines import load_documents
from gitops_sdk.stack.config import NAMESPACE, SECRET_KEYS, config_env, load_stack_file, stack_file

__all__ = [
    "MANIFEST",
    "NOTES",
    "REDACTED_NOTE",
    "Recorded",
    "RecordingMocks",
    "canonical",
    "dump",
    "file_name",
    "note",
    "offline",
    "previous_output",
    "project_program",
    "redact",
    "run",
    "run_stack_program",
    "start",
    "summary",
    "write",
]


_OFFLINE: list[bool] = []
NOTES: list[str] = []
"""What the last synth left out and why; the CLI prints these after the summary."""


def offline() -> bool:
    """True while `run_stack_program` runs a program under the mock runtime."""
    return bool(_OFFLINE)


def note(message: str) -> None:
    """Record something a synth left out, for the user to see."""
    NOTES.append(message)


REDACTED_NOTE = "gitops-sdk/synth"
"""Annotation synth puts on a Secret whose data it left out."""


@dataclass
class Recorded:
    """One resource registration the program made."""

    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    parent: str | None = None


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that accept every resource and remember what was registered, in order."""

    resources: list[Recorded] = field(default_factory=list)

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(Recorded(args.typ, args.name, dict(args.inputs), bool(args.custom)))
        return (f"{args.name}-id" if args.custom else None, dict(args.inputs))

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return ({}, None)

    def kubernetes_objects(self) -> list[dict[str, Any]]:
        """The Kubernetes objects registered (custom resources of the kubernetes provider)."""
        out = []
        for res in self.resources:
            parts = res.type.split(":")
            if res.custom and parts[0] == "kubernetes" and len(parts) == 3:
                out.append(res.inputs)
        return out

    def by_kind(self, kind: str) -> list[dict[str, Any]]:
        """Registered Kubernetes objects of one kind."""
        return [o for o in self.kubernetes_objects() if o.get("kind") == kind]


def start(mocks: pulumi.runtime.Mocks, *, stack: str, config: Mapping[str, Any]) -> None:
    """Point the Pulumi runtime at `mocks` with the `gitops:` config `config`."""
    # A fresh root stack resource per run: a program's stack transformations must not reach
    # the next program run in this process.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="gitops", stack=stack, preview=False)
    pulumi.runtime.settings.SETTINGS.rpc_manager.clear()
    pulumi.runtime.settings.SETTINGS.outputs.clear()
    CONFIG.set({})
    # What the engine does for `pulumi config set --secret` keys: they arrive decrypted and
    # listed as secret. A plain-text one in a stack file is refused when the file is read.
    secret = [f"{NAMESPACE}:{k}" for k, v in config.items() if k in SECRET_KEYS]
    pulumi.runtime.set_all_config(config_env(config), secret_keys=secret)


def run(program: Any) -> None:
    """Run `program()` to completion in the (mock) runtime, waiting for every registration."""
    _sync_await(run_pulumi_func(program))


def run_stack_program(
    project_dir: Path, stack: str, mocks: RecordingMocks | None = None
) -> RecordingMocks:
    """Run the project's program (`Pulumi.yaml` main) with `Pulumi.<stack>.yaml` config."""
    mocks = mocks or RecordingMocks()
    program = project_program(project_dir)
    values = load_stack_file(stack_file(project_dir, stack))
    start(mocks, stack=stack, config=values)
    sys.path.insert(0, str(program.parent))
    NOTES.clear()
    _OFFLINE.append(True)
    try:
        with stack_context(stack):
            run(lambda: runpy.run_path(str(program), run_name="__main__"))
    finally:
        _OFFLINE.pop()
        sys.path.remove(str(program.parent))
        # The program's own modules are re-imported fresh by the next run.
        for mod in [m for m, v in sys.modules.items() if _from(v, program.parent)]:
            del sys.modules[mod]
    return mocks


def project_program(project_dir: Path) -> Path:
    """The Python file `Pulumi.yaml` names (`main`, a file or a folder with `__main__.py`);
    a one-line ConfigError when the folder, the file or the program is missing or malformed."""
    if not project_dir.is_dir():
        what = "is not a folder" if project_dir.exists() else "no such folder"
        raise ConfigError(
            f"--project-dir {project_dir}: {what}; expected the folder with Pulumi.yaml"
        )
    file = project_dir / "Pulumi.yaml"
    if not file.exists() and not file.is_symlink():
        raise ConfigError(
            f"{project_dir}: has no Pulumi.yaml; expected a Pulumi project folder (--project-dir)"
        )
    docs = [d for d in load_documents(file) if d is not None]
    if len(docs) != 1 or not isinstance(docs[0], dict):
        got = f"{len(docs)} documents" if len(docs) != 1 else f"a {type(docs[0]).__name__}"
        raise ConfigError(f"{file}: expected one mapping with name, runtime and main; got {got}")
    project = docs[0]
    runtime = project.get("runtime")
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if name is not None and name != "python":
        raise ConfigError(f"{file}: runtime {name!r}: synth runs Python programs only")
    main = project.get("main", ".")
    if not isinstance(main, str) or not main.strip():
        raise ConfigError(f"{file}: main {main!r}: expected a path to the program")
    path = project_dir / main
    program = path / "__main__.py" if path.is_dir() else path
    if not program.is_file():
        raise ConfigError(
            f"{file}: main {main!r}: {program} not found; expected a Python file or a folder "
            "with __main__.py"
        )
    return program


def _from(module: Any, folder: Path) -> bool:
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and Path(file).resolve().parent == folder.resolve()


def redact(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy with Pulumi secret values never written: Secrets lose their data (with a note),
    any other secret value becomes `[secret]`."""
    if doc.get("kind") == "Secret" and doc.get("apiVersion") == "v1":
        sections = [doc.get("data") or {}, doc.get("stringData") or {}]
        # A map passed as one Pulumi secret arrives wrapped: list the keys inside it.
        sections = [rpc.unwrap_rpc_secret(s) if rpc.is_rpc_secret(s) else s for s in sections]
        keys = sorted({k for s in sections if isinstance(s, dict) for k in s})
        out = {k: v for k, v in doc.items() if k not in ("data", "stringData")}
        meta = dict(out.get("metadata") or {})
        meta["annotations"] = {
            **(meta.get("annotations") or {}),
            REDACTED_NOTE: f"data omitted (keys: {', '.join(keys) or 'none'})",
        }
        out["metadata"] = meta
        doc = out
    stripped: dict[str, Any] = _strip_secrets(doc)
    return stripped


def _strip_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        if rpc.is_rpc_secret(value):
            return "[secret]"
        return {k: _strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secrets(v) for v in value]
    return value


_TOP = ("apiVersion", "kind", "metadata", "type", "spec", "data", "stringData")
_META = ("name", "namespace", "labels", "annotations")


def canonical(doc: dict[str, Any]) -> dict[str, Any]:
    """Deterministic key order (the engine does not keep it): Kubernetes' usual top-level and
    metadata order, everything below sorted; whole numbers back to integers."""

    def ordered(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ordered(value[k]) for k in sorted(value)}
        if isinstance(value, list):
            return [ordered(v) for v in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)  # the engine's wire format has only doubles
        return value

    def first(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        head = {k: ordered(d[k]) for k in keys if k in d}
        return {**head, **{k: ordered(d[k]) for k in sorted(d) if k not in head}}

    out = first(doc, _TOP)
    if isinstance(doc.get("metadata"), dict):
        out["metadata"] = first(doc["metadata"], _META)
    return out


def file_name(doc: Mapping[str, Any]) -> str:
    """`<namespace>/<kind>-<name>.yaml`, or `_cluster/...` for cluster-scoped objects."""
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace") or "_cluster"
    return f"{ns}/{str(doc.get('kind')).lower()}-{meta.get('name')}.yaml"


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (patches, scripts) as literal blocks, readable in review."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(doc: dict[str, Any]) -> str:
    """YAML text of one object, as synth writes it."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False)


MANIFEST = ".gitops-synth.json"
"""The file synth leaves in its output folder: the files it wrote, so that the next synth into
the same folder removes those and nothing else."""


def write(objects: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write each object to its own file (stable names). Files a previous synth wrote there, as
    its manifest lists them, are replaced; anything else in the folder is never touched, and a
    non-empty folder without a manifest is refused."""
    written: dict[str, dict[str, Any]] = {}
    for doc in objects:
        name = file_name(doc)
        if name in written:
            raise ConfigError(f"two objects render to {name}: names must be unique per kind")
        written[name] = canonical(redact(doc))
    previous = previous_output(out_dir)
    clash = sorted(n for n in written if n not in previous and (out_dir / n).exists())
    if clash:
        raise ConfigError(
            f"synth --out {out_dir}: {clash[0]} exists and was not written by synth; "
            "expected a folder that only synth writes to"
        )
    paths = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # The manifest lists every file before it is written, so an interrupted synth leaves a
        # folder the next one can still clean up; each file is replaced atomically.
        _write_manifest(out_dir, previous | set(written))
        for name in sorted(written):
            path = out_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, dump(written[name]))
            paths.append(path)
        for name in sorted(previous - set(written)):
            _remove(out_dir, name)
        _write_manifest(out_dir, set(written))
    except OSError as err:
        raise ConfigError(
            f"synth --out {out_dir}: cannot write {err.filename or out_dir}: {err.strerror}"
        ) from None
    return paths


def _write_manifest(out_dir: Path, files: set[str]) -> None:
    text = json.dumps({"writtenBy": "gitops synth", "files": sorted(files)}, indent=1)
    write_atomic(out_dir / MANIFEST, text + "\n")


def previous_output(out_dir: Path) -> set[str]:
    """The files the last synth wrote into `out_dir`; refuses what synth must not write into."""
    if not out_dir.exists():
        return set()
    if not out_dir.is_dir():
        raise ConfigError(f"synth --out {out_dir}: is not a folder (expected a folder path)")
    manifest = out_dir / MANIFEST
    if not manifest.is_file():
        if any(out_dir.iterdir()):
            raise ConfigError(
                f"synth --out {out_dir}: the folder is not empty and synth did not create it "
                f"(no {MANIFEST}); expected a new or empty folder, or one synth wrote before"
            )
        return set()
    try:
        data = json.loads(manifest.read_text())
        files = data["files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise TypeError
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"synth --out {out_dir}: {MANIFEST} is not a synth manifest ({type(err).__name__}); "
            "expected the file synth wrote"
        ) from None
    return {f for f in files if _inside(out_dir, f)}


def _inside(out_dir: Path, name: str) -> bool:
    """A manifest entry names a YAML file below `out_dir` (never `..`, absolute or linked)."""
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or rel.suffix != ".yaml":
        return False
    return (out_dir / rel).resolve().is_relative_to(out_dir.resolve())


def _remove(out_dir: Path, name: str) -> None:
    path = out_dir / name
    if path.is_file() and not path.is_symlink():
        path.unlink()
    # Folders the removal emptied go too, up to (never including) the output folder.
    parent = path.parent
    while parent != out_dir and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def summary(objects: list[dict[str, Any]]) -> str:
    """Counts per apiVersion/kind, one line each."""
    counts: dict[str, int] = {}
    for doc in objects:
        key = f"{doc.get('apiVersion')}/{doc.get('kind')}"
        counts[key] = counts.get(key, 0) + 1
    width = max((len(k) for k in counts), default=0)
    lines = [f"  {k.ljust(width)}  {counts[k]}" for k in sorted(counts)]
    return "\n".join([*lines, f"  {'total'.ljust(width)}  {len(objects)}"])
