"""Walk a cluster of a Flux repository: build its entry folder, then the path of every Flux
Kustomization found there that reads the cluster's own repository, and so on, applying each
Kustomization's post-build substitution to what it applies.

```python
walk = walk_cluster(repo_root, repo_root / "clusters" / "staging")
for found in walk.found:
    print(found.applier, found.doc["kind"], found.doc["metadata"]["name"])
```
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_sdk.api.kinds import flux_kinds, from_manifest
from gitops_sdk.core.errors import ConfigError, GitopsError, UnsupportedApiVersionError
from gitops_sdk.core.substitution import holds_placeholder
from gitops_sdk.services.flux_patch import CannotSubstitute, substitute
from gitops_sdk.services.flux_repo import FolderBuilder, Item, object_id

__all__ = ["FLUX_LABEL", "Found", "Key", "Walk", "is_flux", "key_of", "norm_path", "walk_cluster"]

Key = tuple[str, str, str]
"""(kind, namespace, name) of an object."""
FLUX_LABEL = ("app.kubernetes.io/part-of", "flux")
"""The label of Flux's own install objects (gotk-components.yaml)."""


def is_flux(doc: Mapping[str, Any]) -> bool:
    """Whether `doc` is of a Flux toolkit API group (the kinds the SDK models)."""
    return str(doc.get("apiVersion", "")).rpartition("/")[0].endswith(".toolkit.fluxcd.io")


def key_of(doc: Mapping[str, Any], default_ns: str = "") -> Key:
    meta = doc.get("metadata") or {}
    return (str(doc.get("kind")), str(meta.get("namespace") or default_ns), str(meta.get("name")))


def norm_path(path: Any) -> str:
    """A repository path as `./a/b` (`./` for the root)."""
    parts = [p for p in str(path or "").split("/") if p not in ("", ".")]
    return "./" + "/".join(parts)


@dataclass
class Found:
    """One object the cluster gets."""

    doc: dict[str, Any]
    """As the cluster gets it (substituted by what applies it)."""
    built: dict[str, Any]
    """As the applying Kustomization's build holds it (before substitution)."""
    file: Path
    applier: Key | None
    """The Kustomization that applies it; None: the cluster's entry folder."""
    unresolved: str = ""
    """Why its substitution could not be evaluated ("" when it could)."""
    upgraded: str = ""
    """The apiVersion it was written with, when that one is no longer served."""


@dataclass
class Walk:
    """What a cluster's entry folder leads to."""

    root: Path
    entry: str
    """The entry folder as a repository path, `./clusters/staging`."""
    found: list[Found] = field(default_factory=list)
    built: dict[Key, list[Found]] = field(default_factory=dict)
    """Each followed Kustomization's build (None: the entry folder)."""
    root_ks: Found | None = None
    """The Kustomization that applies the entry folder (bootstrap's flux-system), if any."""
    repository: Found | None = None
    """The GitRepository of the cluster's repository, if in the repository."""
    repo_ref: tuple[str, str] = ("flux-system", "flux-system")
    """(namespace, name) of the cluster's GitRepository."""
    notes: list[str] = field(default_factory=list)
    builder: FolderBuilder | None = None

    def shown(self, path: Path) -> str:
        assert self.builder is not None
        return self.builder.shown(path)


def _upgrade(doc: dict[str, Any], where: str) -> str:
    """Load a Flux object to check its kind; a removed apiVersion is moved to the served one in
    place (the old one is returned). Errors name the file."""
    try:
        from_manifest(doc)
        return ""
    except UnsupportedApiVersionError as err:
        group = str(doc["apiVersion"]).rpartition("/")[0]
        cls = flux_kinds().get((group, str(doc.get("kind"))))
        if cls is None or "removed" not in str(err):
            raise ConfigError(f"{where}: {err}") from None
        old = str(doc["apiVersion"])
        doc["apiVersion"] = cls.api_version
        try:
            from_manifest(doc)
        except GitopsError as again:
            raise ConfigError(f"{where}: {again}") from None
        return old
    except GitopsError as err:
        raise ConfigError(f"{where}: {err}") from None


def walk_cluster(root: Path, entry: Path) -> Walk:
    """Every object the cluster whose entry folder is `entry` gets from the repository."""
    builder = FolderBuilder(root)
    rel = norm_path(builder.inside(entry, str(entry)).relative_to(builder.root).as_posix())
    walk = Walk(builder.root, rel, builder=builder)
    items = builder.build(entry)
    _find_root(walk, items)
    queue: list[tuple[Key | None, list[Item], Mapping[str, Any] | None]] = [
        (None, items, _post_build(walk.root_ks))
    ]
    seen_ids: dict[tuple[str, str, str, str], Found] = {}
    followed: set[Key] = set()
    while queue:
        applier, built, post = queue.pop(0)
        group: list[Found] = []
        for item in built:
            found = _resolve(walk, item, applier, post)
            ident = object_id(found.doc)
            if (first := seen_ids.setdefault(ident, found)) is not found:
                kind, ns, name = ident[1], ident[2], ident[3]
                what = f"{kind} {ns + '/' if ns else ''}{name}"
                if first.file != found.file:
                    raise ConfigError(
                        f"{walk.shown(found.file)}: {what} is also in "
                        f"{walk.shown(first.file)}; an object may be declared once"
                    )
                raise ConfigError(
                    f"{walk.shown(found.file)}: {what} is applied by {_by(first)} and by "
                    f"{_by(found)}; an object may have one owner"
                )
            group.append(found)
            walk.found.append(found)
            nxt = _follow(walk, found)
            if nxt is not None and key_of(found.doc) not in followed:
                followed.add(key_of(found.doc))
                path = walk.root / nxt[2:] if nxt != "./" else walk.root
                where = f"{walk.shown(found.file)}: Kustomization {found.doc['metadata']['name']}"
                if not path.is_dir():
                    raise ConfigError(
                        f"{where}: spec.path {nxt!r} is not a folder of the repository"
                    )
                queue.append((key_of(found.doc), builder.build(path), _post_build(found)))
        if applier is not None:
            walk.built[applier] = group
    walk.notes += builder.notes
    if not any(is_flux(f.doc) for f in walk.found):
        raise ConfigError(f"{rel}: holds no Flux objects (Kustomizations, sources, HelmReleases)")
    return walk


def _by(found: Found) -> str:
    return f"Kustomization {found.applier[2]}" if found.applier else "the entry folder"


def _find_root(walk: Walk, items: list[Item]) -> None:
    for item in items:
        doc = item.doc
        if item.doc.get("kind") != "Kustomization" or not is_flux(doc):
            continue
        if norm_path((doc.get("spec") or {}).get("path")) == walk.entry:
            ref = (doc.get("spec") or {}).get("sourceRef") or {}
            ns = ref.get("namespace") or doc["metadata"].get("namespace") or "flux-system"
            walk.repo_ref = (str(ns), str(ref.get("name")))
            walk.root_ks = Found(doc, doc, item.file, None)
            break
    for item in items:
        doc = item.doc
        if doc.get("kind") == "GitRepository" and is_flux(doc):
            meta = doc["metadata"]
            ns = str(meta.get("namespace") or walk.repo_ref[0])
            if walk.root_ks is None and meta.get("name") == "flux-system":
                walk.repo_ref = (ns, "flux-system")
            if (ns, meta.get("name")) == walk.repo_ref:
                walk.repository = Found(doc, doc, item.file, None)


def _post_build(found: Found | None) -> Mapping[str, Any] | None:
    if found is None:
        return None
    post = (found.doc.get("spec") or {}).get("postBuild")
    return post if isinstance(post, Mapping) else None


def _variables(walk: Walk, post: Mapping[str, Any], applier: Key | None) -> dict[str, str] | str:
    """The applier's variables; text saying why when some cannot be known."""
    out: dict[str, str] = {}
    ns = applier[1] if applier else walk.repo_ref[0]
    for ref in post.get("substituteFrom") or []:
        kind, name = ref.get("kind"), ref.get("name")
        data = next(
            (
                f.doc
                for f in walk.found
                if key_of(f.doc, ns) == (kind, ns, name) and f.doc.get("apiVersion") == "v1"
            ),
            None,
        )
        if data is None:
            if ref.get("optional"):
                continue
            return f"its variables come from {kind} {ns}/{name}, which is not in the repository"
        values = dict(data.get("data") or {})
        if kind == "Secret":
            try:
                values = {k: base64.b64decode(str(v)).decode() for k, v in values.items()}
            except (binascii.Error, UnicodeDecodeError):
                return f"its variables come from Secret {ns}/{name}, which the import cannot read"
            values.update(data.get("stringData") or {})
        out.update({str(k): str(v) for k, v in values.items()})
    out.update({str(k): str(v) for k, v in (post.get("substitute") or {}).items()})
    return out


def _resolve(walk: Walk, item: Item, applier: Key | None, post: Mapping[str, Any] | None) -> Found:
    doc, where = item.doc, walk.shown(item.file)
    out = copy.deepcopy(doc)
    unresolved = ""
    if post is not None and holds_placeholder(doc):
        variables = _variables(walk, post, applier)
        if isinstance(variables, str):
            unresolved = variables
        else:
            try:
                out = substitute(doc, variables)
            except CannotSubstitute as err:
                unresolved = f"Flux substitutes {err}, which the import does not evaluate"
    upgraded = _upgrade(out, where) if is_flux(out) else ""
    return Found(out, doc, item.file, applier, unresolved, upgraded)


def _follow(walk: Walk, found: Found) -> str | None:
    """The repository path a Kustomization applies, when it reads the cluster's repository and
    is not the one that applies the entry folder."""
    doc = found.doc
    if doc.get("kind") != "Kustomization" or not is_flux(doc) or found.unresolved:
        return None
    if walk.root_ks is not None and key_of(doc) == key_of(walk.root_ks.doc):
        return None
    spec = doc.get("spec") or {}
    ref = spec.get("sourceRef") or {}
    ns = ref.get("namespace") or doc["metadata"].get("namespace") or ""
    if (ref.get("kind"), str(ns), ref.get("name")) != ("GitRepository", *walk.repo_ref):
        return None
    if str(doc["metadata"].get("namespace") or "") != walk.repo_ref[0]:
        return None  # stays in Git with whatever applies it, and so does what it applies
    path = spec.get("path")
    if holds_placeholder(path):
        walk.notes.append(
            f"{walk.shown(found.file)}: Kustomization {doc['metadata']['name']}: spec.path "
            f"{path!r} holds a placeholder; what it applies was not read"
        )
        return None
    return norm_path(path)
