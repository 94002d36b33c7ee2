"""Reading the Flux install manifest, checked against its sha256 and parsed into plain documents
(each download and parse is done once per program).

Where it comes from, first match wins: `manifest` (a local file or an https:// URL); else the copy
the package ships for `version` (`gitops_sdk/data/flux/v<version>/install.yaml`, checked against
`api.release.MANIFEST_SHA256`, so offline programs need no network and no setup), unless `sha256`
pins other bytes; else the release asset at `api.release.RELEASE_URL`."""

from __future__ import annotations

import copy
import hashlib
import importlib.resources
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.api.install import FluxInstallSettings
from gitops_sdk.api.release import MANIFEST_SHA256, RELEASE_URL
from gitops_sdk.core.errors import GitopsError

__all__ = [
    "EMBEDDED_SOURCE",
    "InstallManifestError",
    "ManifestUnavailableError",
    "embedded_manifest",
    "is_url",
    "load_manifest",
    "parse_manifest",
    "read_manifest",
    "source_of",
]

EMBEDDED_SOURCE = "embedded:gitops_sdk/data/flux/v{version}/install.yaml"
"""How errors name the shipped copy of a release's manifest."""


class InstallManifestError(GitopsError):
    """The Flux install manifest is missing, unreadable, not the pinned one, or not Flux's."""


class ManifestUnavailableError(InstallManifestError):
    """The manifest cannot be had at all (no such file, or the download failed); unlike a
    mismatch, an offline synth may leave the install out and say so."""


_DOWNLOADS: dict[str, bytes] = {}
_PARSED: dict[str, tuple[dict[str, Any], ...]] = {}


def is_url(source: str) -> bool:
    """Whether a manifest source is downloaded (an https:// URL) rather than a local file."""
    return source.startswith("https://")


def embedded_manifest(version: str) -> bytes | None:
    """The bytes of the manifest the package ships for `version` (unchecked), or None."""
    if version not in MANIFEST_SHA256:
        return None  # only pinned releases; the version string never picks an arbitrary path
    resource = importlib.resources.files("gitops_sdk") / "data" / "flux" / f"v{version}"
    try:
        return (resource / "install.yaml").read_bytes()
    except OSError:
        return None  # not installed with the package: fall back to the release asset


def _uses_embedded(args: FluxInstallSettings) -> bool:
    pinned = MANIFEST_SHA256.get(args.version)
    # A sha256 other than the shipped copy's means the user pinned other bytes (e.g. the
    # release asset itself): fetch those rather than refuse the shipped copy.
    return args.manifest is None and pinned is not None and args.sha256 in (None, pinned)


def source_of(args: FluxInstallSettings) -> str:
    """The file or URL `read_manifest(args)` reads (`EMBEDDED_SOURCE` for the shipped copy)."""
    if _uses_embedded(args) and embedded_manifest(args.version) is not None:
        return EMBEDDED_SOURCE.format(version=args.version)
    return args.manifest_source


def _check(data: bytes, expected: str, source: str, where: str, hint: str) -> None:
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise InstallManifestError(
            f"{where}: manifest {source!r}: sha256 mismatch: expected {expected}, got {actual} "
            f"({hint})"
        )


def _download(source: str, where: str) -> bytes:
    data = _DOWNLOADS.get(source)
    if data is None:
        try:
            with urllib.request.urlopen(source, timeout=60) as resp:
                data = resp.read()
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise ManifestUnavailableError(
                f"{where}: manifest {source!r}: cannot download it ({reason}); expected a "
                "reachable https:// URL, or a local file for offline installs"
            ) from None
        _DOWNLOADS[source] = data
    return data


def _read(args: FluxInstallSettings, where: str) -> tuple[bytes, str]:
    if _uses_embedded(args) and (data := embedded_manifest(args.version)) is not None:
        source = EMBEDDED_SOURCE.format(version=args.version)
        hint = (
            "the package's copy was changed: reinstall gitops-sdk, or set manifest to a local "
            "file or https:// URL"
        )
        _check(data, MANIFEST_SHA256[args.version], source, where, hint)
        return data, source
    source = args.manifest_source
    if is_url(source):
        data = _download(source, where)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ManifestUnavailableError(
                f"{where}: manifest {source!r}: file not found (expected a Flux install.yaml, "
                f"or an https:// URL such as {RELEASE_URL.format(version=args.version)})"
            )
        data = path.read_bytes()
    if args.sha256 is not None:
        hint = "the file is not the pinned one; check it before updating sha256"
        _check(data, args.sha256, source, where, hint)
    return data, source


def read_manifest(args: FluxInstallSettings, *, where: str = "FluxInstallArgs") -> bytes:
    """The manifest bytes `source_of(args)` names, checked against their sha256."""
    return _read(args, where)[0]


def _parse(data: bytes, source: str, where: str) -> list[dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return [d for d in yaml.load_all(data, Loader=loader) if d is not None]
    except yaml.YAMLError as err:
        raise InstallManifestError(
            f"{where}: manifest {source!r}: not valid YAML ({err}); expected a Flux install.yaml"
        ) from None


def parse_manifest(data: bytes, source: str, where: str) -> tuple[dict[str, Any], ...]:
    """The YAML documents of `data` (shared: copy them before changing any)."""
    key = hashlib.sha256(data).hexdigest()
    if key not in _PARSED:
        docs = _parse(data, source, where)
        _PARSED.clear()  # one manifest per program; keep memory flat
        _PARSED[key] = tuple(docs)
    return _PARSED[key]


def load_manifest(
    args: FluxInstallSettings, *, where: str = "FluxInstallArgs"
) -> list[dict[str, Any]]:
    """Read, check and parse the install manifest `args` names (a fresh copy of its documents)."""
    data, source = _read(args, where)
    shared = _PARSED.get(hashlib.sha256(data).hexdigest())
    # Parsed afresh unless already parsed: a copy costs half a parse, and a program reads once.
    return copy.deepcopy(list(shared)) if shared is not None else _parse(data, source, where)
