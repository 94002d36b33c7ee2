"""Checking setter markers: every line using a tracked image carries its policy's marker, and
every marker names a known policy, the right image and the right field (`gitops images check`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_sdk.api.image_automation import ImageAutomationSettings, PolicyKey, SetterMarkerError
from gitops_sdk.core.errors import ConfigError, SpecError, shape_of
from gitops_sdk.services.setter_markers import (
    canonical_image,
    describe_field,
    scan_markers,
    setter_marker,
)
from gitops_sdk.services.yaml_lines import BOM, parse_documents, read_text, yaml_files

__all__ = [
    "MarkerProblem",
    "MarkerReport",
    "check_paths",
    "check_text",
    "check_tree",
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


def _policies_in(
    doc: Any, where: str, default_namespace: str
) -> tuple[dict[tuple[str, str], str], dict[PolicyKey, tuple[str, str]]]:
    """(ImageRepository images, ImagePolicy repository refs) of one document; a SpecError-free
    ConfigError naming `where` when an image object has the wrong shape."""
    if not isinstance(doc, Mapping) or not str(doc.get("apiVersion", "")).startswith(
        "image.toolkit.fluxcd.io/"
    ):
        return {}, {}
    kind = doc.get("kind")
    if kind not in ("ImageRepository", "ImagePolicy"):
        return {}, {}
    parts = {}
    for key in ("metadata", "spec"):
        value = doc.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"{where}: {kind} {key} is {shape_of(value)}; expected a mapping")
        parts[key] = value or {}
    meta, spec = parts["metadata"], parts["spec"]
    name, ns = meta.get("name"), meta.get("namespace") or default_namespace
    if not isinstance(name, str) or not name or not isinstance(ns, str):
        raise ConfigError(
            f"{where}: {kind} metadata.name {shape_of(name)}, namespace {shape_of(ns)}: "
            "expected strings"
        )
    if kind == "ImageRepository":
        image = spec.get("image")
        if not isinstance(image, str) or not image:
            raise ConfigError(
                f"{where}: ImageRepository {name!r}: spec.image is {shape_of(image)}; "
                "expected the image repository, e.g. ghcr.io/org/app"
            )
        return {(ns, name): image}, {}
    ref = spec.get("imageRepositoryRef")
    ref_name = ref.get("name") if isinstance(ref, Mapping) else None
    ref_ns = (ref.get("namespace") if isinstance(ref, Mapping) else None) or ns
    if not isinstance(ref_name, str) or not ref_name or not isinstance(ref_ns, str):
        raise ConfigError(
            f"{where}: ImagePolicy {name!r}: spec.imageRepositoryRef is {shape_of(ref)}; "
            "expected {name: <ImageRepository>}"
        )
    return {}, {PolicyKey(ns, name): (ref_ns, ref_name)}


@dataclass
class MarkerReport:
    """What `check_tree` found."""

    problems: list[MarkerProblem] = field(default_factory=list)
    """Markers missing, misplaced or malformed."""
    errors: list[str] = field(default_factory=list)
    """Files and image objects that could not be read, one line each."""


def _read_tree(
    paths: Iterable[Path], default_namespace: str, errors: list[str]
) -> tuple[dict[Path, str], dict[PolicyKey, str]]:
    """(text of each readable YAML file, ImagePolicies found with their images)."""
    files, missing = yaml_files(paths)
    errors.extend(missing)
    texts: dict[Path, str] = {}
    images: dict[tuple[str, str], str] = {}
    refs: dict[PolicyKey, tuple[str, str]] = {}
    for file in files:
        try:
            # Flux's automation parses every YAML file in its path: one it cannot read fails it.
            text = read_text(file).removeprefix(BOM)
            docs = parse_documents(text, file)
        except ConfigError as err:
            errors.append(str(err))
            continue
        texts[file] = text
        for i, doc in enumerate(docs, 1):
            try:
                found_images, found_refs = _policies_in(
                    doc, f"{file}: document {i}", default_namespace
                )
            except ConfigError as err:
                errors.append(str(err))
                continue
            images.update(found_images)
            refs.update(found_refs)
    return texts, {key: images[ref] for key, ref in refs.items() if ref in images}


def discover_policies(
    paths: Iterable[Path], *, default_namespace: str = "flux-system"
) -> dict[PolicyKey, str]:
    """ImagePolicies found as YAML under `paths`, each with its ImageRepository's image; a file
    that cannot be read is a SetterMarkerError naming it."""
    errors: list[str] = []
    _, found = _read_tree(paths, default_namespace, errors)
    if errors:
        raise SetterMarkerError(errors[0])
    return found


def policies_from_config(values: Mapping[str, Any]) -> dict[PolicyKey, str]:
    """The policies a stack's `gitops:automation` key declares (prefix-stripped config)."""
    raw = values.get("automation")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise ConfigError("gitops:automation must be a mapping with string keys")
    try:
        args = ImageAutomationSettings(**raw)
    except SpecError as err:
        raise ConfigError("; ".join(f"gitops:automation.{i}" for i in err.issues)) from None
    return args.policy_keys()


def check_tree(
    paths: Sequence[Path],
    policies: Mapping[PolicyKey, str] | None = None,
    *,
    default_namespace: str = "flux-system",
) -> MarkerReport:
    """Check every YAML file under `paths` against the policies given and those found there.

    Problems: a line using a tracked image without a marker, a marker naming an unknown
    policy, a marker of the wrong policy or field, a malformed marker, a marker on a line
    that sets no image, and a policy whose image no file uses. Errors: a missing path, a file
    that is not UTF-8 YAML (or is too big, an alias bomb, ...), an ImageRepository or
    ImagePolicy of the wrong shape; the other files are still checked.
    """
    report = MarkerReport()
    texts, found = _read_tree(paths, default_namespace, report.errors)
    known = {**found, **(policies or {})}
    if not known:
        report.errors.append(
            f"{', '.join(str(p) for p in paths)}: no ImagePolicy to check against; pass "
            "policies (--policy ns:name=image or --stack) or include the ImagePolicy manifests"
        )
        return report
    marked: set[PolicyKey] = set()
    for file, text in texts.items():
        report.problems.extend(check_text(text, known, source=str(file)))
        marked.update(u.marker.policy for u in scan_markers(text).uses if u.marker is not None)
    root = ", ".join(str(p) for p in paths)
    for key in sorted(set(known) - marked):
        report.problems.append(
            MarkerProblem(
                root,
                None,
                f"ImagePolicy {key} ({known[key]}) has no setter marker in any file, so the "
                "automation never updates it",
            )
        )
    return report


def check_paths(
    paths: Sequence[Path],
    policies: Mapping[PolicyKey, str] | None = None,
    *,
    default_namespace: str = "flux-system",
) -> list[MarkerProblem]:
    """`check_tree`'s problems; its first error, if any, is raised as a SetterMarkerError."""
    report = check_tree(paths, policies, default_namespace=default_namespace)
    if report.errors:
        more = len(report.errors) - 1
        raise SetterMarkerError(report.errors[0] + (f" (and {more} more)" if more else ""))
    return report.problems
