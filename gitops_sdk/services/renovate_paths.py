"""Which repository files a stack's `gitops:` config names, for renovate.json's file patterns.

Renovate's YAML managers should read only folders that hold manifests the stacks deploy, and
the rule that leaves images to Flux's image automation should cover only the files that
automation rewrites. Both are read here from the prefix-stripped `gitops:` values of a stack
file, as plain data: a malformed section names nothing and is left to the stack's own config
check (`gitops synth`) to report.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["automation_scope", "named_folders", "top_folder", "update_glob"]

_FOLDER = re.compile(r"[A-Za-z0-9_.-]+")
_GLOB_CHARS = re.compile(r"[*?\[\]{}!]")


def _relative(path: str) -> str | None:
    """`path` relative to the repository root without `./`; "" for the root; None when it is
    absolute or climbs out of the repository."""
    if path.startswith("/"):
        return None
    norm = posixpath.normpath(path)
    if norm == ".":
        return ""
    if norm == ".." or norm.startswith("../"):
        return None
    return norm


def top_folder(path: str) -> str | None:
    """The top-level folder `path` lies in (`./apps/demo/staging` -> `apps`); None for the root,
    a path outside the repository, or a first segment that is a glob or not a plain name."""
    rel = _relative(path)
    if not rel:
        return None
    first = rel.split("/", 1)[0]
    if first in (".", "..") or not _FOLDER.fullmatch(first) or _GLOB_CHARS.search(first):
        return None
    return first


def update_glob(path: str) -> str | None:
    """The glob of the files under a folder (`./apps/demo` -> `apps/demo/**`); None for the
    repository root or a path outside it."""
    rel = _relative(path)
    return f"{rel}/**" if rel else None


def _is_chart(unit: Mapping[str, Any]) -> bool:
    # A chart unit is a HelmRelease: it has no folder of its own unless it names one.
    return any(unit.get(key) is not None for key in ("chart", "preset"))


def _unit_path(unit: Any, default: str) -> str | None:
    if not isinstance(unit, dict):
        return default  # `name:` with nothing below: a Kustomization at the default path
    path = unit.get("path")
    if isinstance(path, str):
        return path
    return None if _is_chart(unit) else default


def named_folders(values: Mapping[str, Any]) -> set[str]:
    """Top-level folders the stack's config names: each layer's and unit's `path` (a unit
    without one reads `./<layer>/<unit>`, unless it is a chart), the image automation's
    update path, and the literal folders of `gitops:renovate.paths`."""
    paths: list[str] = []
    layers = values.get("layers")
    for layer, config in layers.items() if isinstance(layers, dict) else ():
        units = config.get("units") if isinstance(config, dict) else None
        if isinstance(units, dict) and units:
            paths.extend(
                p for u, unit in units.items() if (p := _unit_path(unit, f"./{layer}/{u}"))
            )
        elif p := _unit_path(config, f"./{layer}"):
            paths.append(p)
    automation = values.get("automation")
    update = automation.get("update") if isinstance(automation, dict) else None
    if isinstance(update, dict) and isinstance(update.get("path"), str):
        paths.append(update["path"])
    renovate = values.get("renovate")
    globs = renovate.get("paths") if isinstance(renovate, dict) else None
    if isinstance(globs, list):
        paths.extend(g for g in globs if isinstance(g, str))
    return {folder for p in paths if (folder := top_folder(p))}


def automation_scope(values: Mapping[str, Any]) -> tuple[list[str], str]:
    """(images, update path) of the stack's `gitops:automation`: the images its policies track
    and the folder its commits rewrite (`./`, the whole repository, by default)."""
    automation = values.get("automation")
    if not isinstance(automation, dict):
        return [], "./"
    images = automation.get("images")
    found = sorted(
        {
            image["image"]
            for image in (images.values() if isinstance(images, dict) else ())
            if isinstance(image, dict) and isinstance(image.get("image"), str)
        }
    )
    update = automation.get("update")
    path = update.get("path") if isinstance(update, dict) else None
    return found, path if isinstance(path, str) else "./"
