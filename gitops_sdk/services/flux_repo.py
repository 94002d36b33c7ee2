"""Read the objects a folder of a Flux repository builds to, as kustomize (and Flux, for a
folder without a kustomization.yaml) would: `resources`, `components`, `namespace`,
`namePrefix`/`nameSuffix`, labels and annotations, and every form of patch.

```python
objects = FolderBuilder(repo_root).build(repo_root / "clusters" / "staging")
for item in objects:
    print(item.file, item.doc["kind"], item.doc["metadata"]["name"])
```

A folder with a kustomization file builds what that file lists; one without (only the root of a
Flux Kustomization's path may be such a folder) builds every YAML manifest below it, and each
subfolder with a kustomization file as a whole, like the kustomization Flux generates. What
the builder does not evaluate (generators, replacements, remote bases) is listed in `notes`;
errors are one line naming the file.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.flux_patch import (
    apply_json6902,
    is_delete,
    matches,
    merge_patch,
    patch_targets,
)
from gitops_sdk.services.yaml_lines import load_documents, parse_documents

__all__ = [
    "KUSTOMIZATION_FILES",
    "FolderBuilder",
    "Item",
    "cluster_scoped",
    "object_id",
]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""The names kustomize looks for, in its order."""

_CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "IngressClass",
        "RuntimeClass",
        "CSIDriver",
        "VolumeSnapshotClass",
        "GatewayClass",
        "Node",
    }
)
# Fields that change which objects a build makes or how they look, and which this reader does
# not evaluate; fields that only touch workloads (images, replicas) are left out silently.
_NOT_EVALUATED = (
    "configMapGenerator",
    "secretGenerator",
    "generators",
    "transformers",
    "validators",
    "replacements",
    "vars",
    "helmCharts",
    "helmGlobals",
)
_KNOWN = frozenset(
    {
        "apiVersion",
        "kind",
        "metadata",
        "resources",
        "bases",
        "components",
        "namespace",
        "namePrefix",
        "nameSuffix",
        "patches",
        "patchesStrategicMerge",
        "patchesJson6902",
        "commonLabels",
        "labels",
        "commonAnnotations",
        "images",
        "replicas",
        "buildMetadata",
        "generatorOptions",
        "sortOptions",
        "openapi",
        "crds",
        "configurations",
        *_NOT_EVALUATED,
    }
)


def cluster_scoped(doc: Mapping[str, Any]) -> bool:
    """Whether kustomize leaves the kind without a namespace (built-in cluster-scoped kinds and
    the `Cluster*` kinds by convention)."""
    kind = str(doc.get("kind", ""))
    return kind in _CLUSTER_SCOPED or kind.startswith("Cluster")


def object_id(doc: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(API group, kind, namespace, name): what kustomize and Kubernetes tell objects apart by."""
    meta = doc.get("metadata") or {}
    group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    return (group, str(doc.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))


@dataclass
class Item:
    """One object of a build and the file it was written in."""

    doc: dict[str, Any]
    file: Path


@dataclass
class FolderBuilder:
    """Builds folders of the repository at `root`; nothing outside it is read."""

    root: Path
    notes: list[str] = field(default_factory=list)
    """What was not evaluated, one line each, naming the file."""

    def __post_init__(self) -> None:
        self.root = self.root.resolve()

    def shown(self, path: Path) -> str:
        """`path` relative to the repository, for messages."""
        try:
            return path.resolve().relative_to(self.root).as_posix() or "."
        except ValueError:
            return str(path)

    def inside(self, path: Path, where: str) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise ConfigError(f"{where}: {path} is outside the repository {self.root}")
        return resolved

    def build(self, folder: Path) -> list[Item]:
        """The objects `folder` builds to, as Flux builds a Kustomization's path."""
        folder = self.inside(folder, self.shown(folder))
        if not folder.is_dir():
            raise ConfigError(f"{self.shown(folder)}: no such folder in the repository")
        if _kustomization_file(folder) is None:
            items = self._generated(folder)
        else:
            items = self._kustomize(folder, [])
        _check_unique(items, self.shown)
        return items

    # --- a folder without a kustomization file ----------------------------------------------

    def _generated(self, folder: Path) -> list[Item]:
        items: list[Item] = []
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            if path.is_dir():
                if _kustomization_file(path) is not None:
                    items += self._kustomize(path, [])
                else:
                    items += self._generated(path)
            elif path.suffix in (".yaml", ".yml"):
                items += self._manifests(path, strict=False)
        return items

    def _manifests(self, file: Path, *, strict: bool) -> list[Item]:
        out = []
        for i, doc in enumerate(load_documents(file)):
            if doc is None:
                continue
            if not (isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind")):
                if strict:
                    raise ConfigError(
                        f"{self.shown(file)}: document {i + 1} is not a Kubernetes object "
                        "(expected apiVersion and kind)"
                    )
                continue  # Flux's generated kustomization skips files that hold no objects
            if not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
                raise ConfigError(
                    f"{self.shown(file)}: {doc['kind']} (document {i + 1}) has no metadata.name"
                )
            out.append(Item(doc, file))
        return out

    # --- a folder with a kustomization file -------------------------------------------------

    def _kustomize(self, folder: Path, base: list[Item], depth: int = 0) -> list[Item]:
        file = _kustomization_file(folder)
        assert file is not None
        where = self.shown(file)
        if depth > 50:
            raise ConfigError(f"{where}: resources nest more than 50 deep (a cycle?)")
        docs = [d for d in load_documents(file) if d is not None]
        if len(docs) != 1 or not isinstance(docs[0], dict):
            raise ConfigError(f"{where}: expected one kustomization mapping")
        spec: dict[str, Any] = docs[0]
        for key in spec:
            if key not in _KNOWN:
                raise ConfigError(f"{where}: unknown kustomization field {key!r}")
            if key in _NOT_EVALUATED:
                self.notes.append(
                    f"{where}: {key} is not evaluated by the import; the objects it makes or "
                    "changes stay with whatever applies this folder"
                )
        items = list(base)
        for entry in [*_strings(spec, "resources", where), *_strings(spec, "bases", where)]:
            items += self._resource(folder, entry, where, depth)
        for entry in _strings(spec, "components", where):
            path = self.inside(folder / entry, where)
            if not path.is_dir() or _kustomization_file(path) is None:
                raise ConfigError(f"{where}: component {entry!r} is not a kustomization folder")
            items = self._kustomize(path, items, depth + 1)
        items = self._patch(folder, spec, items, where)
        return _transform(spec, items)

    def _resource(self, folder: Path, entry: str, where: str, depth: int) -> list[Item]:
        if "://" in entry or entry.startswith(("github.com/", "git@")):
            raise ConfigError(
                f"{where}: resource {entry!r} is remote; the import reads only the repository"
            )
        path = self.inside(folder / entry, where)
        if path.is_dir():
            if _kustomization_file(path) is None:
                raise ConfigError(
                    f"{where}: resource {entry!r} is a folder without a kustomization.yaml; "
                    "kustomize cannot build it"
                )
            return self._kustomize(path, [], depth + 1)
        if not path.is_file():
            raise ConfigError(f"{where}: resource {entry!r} does not exist")
        return self._manifests(path, strict=True)

    def _patch(
        self, folder: Path, spec: Mapping[str, Any], items: list[Item], where: str
    ) -> list[Item]:
        patches = spec.get("patches") or []
        if not isinstance(patches, list):
            raise ConfigError(f"{where}: patches must be a list")
        for entry in patches:
            if not isinstance(entry, dict) or ("patch" in entry) == ("path" in entry):
                raise ConfigError(f"{where}: a patches entry needs either patch or path")
            docs = self._patch_docs(folder, entry, where)
            items = self._apply(items, docs, entry.get("target"), where)
        for entry in spec.get("patchesStrategicMerge") or []:
            docs = self._patch_docs(
                folder, {"path": entry} if "\n" not in entry else {"patch": entry}, where
            )
            items = self._apply(items, docs, None, where)
        for entry in spec.get("patchesJson6902") or []:
            docs = self._patch_docs(folder, entry, where)
            items = self._apply(items, docs, entry.get("target"), where)
        return items

    def _patch_docs(self, folder: Path, entry: Mapping[str, Any], where: str) -> list[Any]:
        if "path" in entry:
            path = self.inside(folder / str(entry["path"]), where)
            if not path.is_file():
                raise ConfigError(f"{where}: patch file {entry['path']!r} does not exist")
            return [d for d in load_documents(path) if d is not None]
        return [d for d in parse_documents(str(entry["patch"]), where) if d is not None]

    def _apply(self, items: list[Item], docs: list[Any], target: Any, where: str) -> list[Item]:
        if len(docs) == 1 and isinstance(docs[0], list):
            if not isinstance(target, dict):
                raise ConfigError(f"{where}: a JSON6902 patch needs a target")
            return [
                Item(apply_json6902(i.doc, docs[0], where), i.file) if matches(i.doc, target) else i
                for i in items
            ]
        for patch in docs:
            if not isinstance(patch, dict):
                raise ConfigError(f"{where}: a patch must be a mapping or a list of operations")
            wanted = target if isinstance(target, dict) else patch_targets(patch)
            hit = [i for i in items if matches(i.doc, wanted)]
            if not hit and not isinstance(target, dict):
                raise ConfigError(
                    f"{where}: patch for {patch.get('kind')} "
                    f"{(patch.get('metadata') or {}).get('name')!r} matches no object"
                )
            if is_delete(patch):
                items = [i for i in items if i not in hit]
                continue
            items = [Item(merge_patch(i.doc, patch), i.file) if i in hit else i for i in items]
        return items


def _kustomization_file(folder: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _strings(spec: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of paths")
    return value


def _transform(spec: Mapping[str, Any], items: list[Item]) -> list[Item]:
    """namespace, namePrefix/nameSuffix, labels and annotations, on copies."""
    out = []
    labels: dict[str, str] = dict(spec.get("commonLabels") or {})
    for entry in spec.get("labels") or []:
        labels.update(entry.get("pairs") or {})
    notes = dict(spec.get("commonAnnotations") or {})
    for item in items:
        doc = copy.deepcopy(item.doc)
        meta = doc.setdefault("metadata", {})
        if spec.get("namespace") and not cluster_scoped(doc):
            meta["namespace"] = spec["namespace"]
        if (spec.get("namePrefix") or spec.get("nameSuffix")) and doc.get("kind") != "Namespace":
            meta["name"] = f"{spec.get('namePrefix', '')}{meta['name']}{spec.get('nameSuffix', '')}"
        if labels:
            meta["labels"] = {**(meta.get("labels") or {}), **labels}
        if notes:
            meta["annotations"] = {**(meta.get("annotations") or {}), **notes}
        out.append(Item(doc, item.file))
    return out


def _check_unique(items: list[Item], shown: Any) -> None:
    seen: dict[tuple[str, str, str, str], Item] = {}
    for item in items:
        key = object_id(item.doc)
        first = seen.setdefault(key, item)
        if first is not item:
            kind, ns, name = key[1], key[2], key[3]
            at = f"{ns}/{name}" if ns else name
            raise ConfigError(
                f"{shown(item.file)}: {kind} {at} is also in {shown(first.file)}; "
                "a build may hold each object once"
            )
