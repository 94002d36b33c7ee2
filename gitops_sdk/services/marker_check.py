"""Checking setter markers: every line using a tracked image carries its policy's marker, and
every marker names a known policy, the right image and the right field (`gitops images check`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.api.image_automation import ImageAutomationSettings, PolicyKey, SetterMarkerError
from gitops_sdk.core.errors import ConfigError, SpecError
from gitops_sdk.services.setter_markers import (
    canonical_image,
    describe_field,
    scan_markers,
    setter_marker,
)

__all__ = [
    "MarkerProblem",
    "check_paths",
    "check_text",
    "discover_policies",
    "policies_from_config",
]


@dataclass(frozen=True)
class MarkerProblem:
    """A marker missing, misplaced or malformed, at `path:line`."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


def check_text(
    text: str, policies: Mapping[PolicyKey, str], *, source: str = "<text>"
) -> list[MarkerProblem]:
    """Problems with the setter markers of one file, given each policy's image."""
    scan = scan_markers(text)
    tracked: dict[str, list[PolicyKey]] = {}
    for key, image in sorted(policies.items()):
        tracked.setdefault(canonical_image(image), []).append(key)
    problems: list[MarkerProblem] = []
    at_use = {u.line - 1 for u in scan.uses}
    for i, found in sorted(scan.markers.items()):
        if isinstance(found, str):
            problems.append(MarkerProblem(source, i + 1, found))
        elif i not in at_use:
            problems.append(
                MarkerProblem(
                    source,
                    i + 1,
                    f"setter marker for {found.policy} is on a line that sets no image; Flux "
                    "would overwrite this value with the image",
                )
            )
    for u in scan.uses:
        owners = tracked.get(canonical_image(u.image), [])
        if u.marker is None:
            if owners and u.line - 1 not in scan.markers:
                want = setter_marker(owners[0], u.field)
                problems.append(
                    MarkerProblem(
                        source,
                        u.line,
                        f"{u.image} is tracked by ImagePolicy {owners[0]} but the line has no "
                        f"setter marker; expected {want!r}",
                    )
                )
            continue
        key = u.marker.policy
        if key not in policies:
            known = ", ".join(str(k) for k in sorted(policies)) or "none"
            problems.append(
                MarkerProblem(
                    source,
                    u.line,
                    f"setter marker names ImagePolicy {key}, which does not exist (known: {known})",
                )
            )
        elif canonical_image(policies[key]) != canonical_image(u.image):
            problems.append(
                MarkerProblem(
                    source,
                    u.line,
                    f"setter marker for {key} (image {policies[key]}) is on a line using {u.image}",
                )
            )
        elif u.marker.field != u.field:
            problems.append(
                MarkerProblem(
                    source,
                    u.line,
                    f"setter marker field {describe_field(u.marker.field)} does not fit this line, "
                    f"which takes {describe_field(u.field)}: expected "
                    f"{setter_marker(key, u.field)!r}",
                )
            )
    return problems


def _yaml_files(paths: Iterable[Path]) -> list[Path]:
    out: set[Path] = set()
    for path in paths:
        if path.is_dir():
            out.update(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            out.add(path)
        else:
            raise SetterMarkerError(f"{path}: no such file or folder")
    return sorted(out)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def discover_policies(
    paths: Iterable[Path], *, default_namespace: str = "flux-system"
) -> dict[PolicyKey, str]:
    """ImagePolicies found as YAML under `paths`, each with its ImageRepository's image."""
    images: dict[tuple[str, str], str] = {}
    refs: dict[PolicyKey, tuple[str, str]] = {}
    for file in _yaml_files(paths):
        text = _read(file)
        if text is None or ("ImagePolicy" not in text and "ImageRepository" not in text):
            continue
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            continue
        for doc in docs:
            if not isinstance(doc, dict) or not str(doc.get("apiVersion", "")).startswith(
                "image.toolkit.fluxcd.io/"
            ):
                continue
            meta = doc.get("metadata") or {}
            spec = doc.get("spec") or {}
            ns = str(meta.get("namespace") or default_namespace)
            name = str(meta.get("name"))
            if doc.get("kind") == "ImageRepository" and isinstance(spec.get("image"), str):
                images[(ns, name)] = spec["image"]
            elif doc.get("kind") == "ImagePolicy":
                ref = spec.get("imageRepositoryRef") or {}
                refs[PolicyKey(ns, name)] = (str(ref.get("namespace") or ns), str(ref.get("name")))
    return {key: images[ref] for key, ref in refs.items() if ref in images}


def policies_from_config(values: Mapping[str, Any]) -> dict[PolicyKey, str]:
    """The policies a stack's `gitops:automation` key declares (prefix-stripped config)."""
    raw = values.get("automation")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("gitops:automation must be a mapping")
    try:
        args = ImageAutomationSettings(**raw)
    except SpecError as err:
        raise ConfigError("; ".join(f"gitops:automation.{i}" for i in err.issues)) from None
    return args.policy_keys()


def check_paths(
    paths: Sequence[Path],
    policies: Mapping[PolicyKey, str] | None = None,
    *,
    default_namespace: str = "flux-system",
) -> list[MarkerProblem]:
    """Check every YAML file under `paths` against the policies given and those found there.

    Problems: a line using a tracked image without a marker, a marker naming an unknown
    policy, a marker of the wrong policy or field, a malformed marker, a marker on a line
    that sets no image, and a policy whose image no file uses.
    """
    files = _yaml_files(paths)
    known = {**discover_policies(files, default_namespace=default_namespace), **(policies or {})}
    if not known:
        raise SetterMarkerError(
            f"{', '.join(str(p) for p in paths)}: no ImagePolicy to check against; pass "
            "policies (--policy ns:name=image or --stack) or include the ImagePolicy manifests"
        )
    problems: list[MarkerProblem] = []
    marked: set[PolicyKey] = set()
    for file in files:
        text = _read(file)
        if text is None:
            continue
        problems.extend(check_text(text, known, source=str(file)))
        marked.update(u.marker.policy for u in scan_markers(text).uses if u.marker is not None)
    root = ", ".join(str(p) for p in paths)
    for key in sorted(set(known) - marked):
        problems.append(
            MarkerProblem(
                root,
                None,
                f"ImagePolicy {key} ({known[key]}) has no setter marker in any file, so the "
                "automation never updates it",
            )
        )
    return problems
