"""Reading the Flux install manifest: a local file or the pinned release URL, checked against its
sha256 and parsed into plain documents (each download and parse is done once per program)."""

from __future__ import annotations

import copy
import hashlib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.api.install import FluxInstallSettings
from gitops_sdk.api.release import RELEASE_URL
from gitops_sdk.core.errors import GitopsError

__all__ = [
    "InstallManifestError",
    "is_url",
    "load_manifest",
    "parse_manifest",
    "read_manifest",
]


class InstallManifestError(GitopsError):
    """The Flux install manifest is missing, unreadable, not the pinned one, or not Flux's."""


_DOWNLOADS: dict[str, bytes] = {}
_PARSED: dict[str, tuple[dict[str, Any], ...]] = {}


def is_url(source: str) -> bool:
    """Whether a manifest source is downloaded (an https:// URL) rather than a local file."""
    return source.startswith("https://")


def read_manifest(args: FluxInstallSettings, *, where: str = "FluxInstallArgs") -> bytes:
    """The manifest bytes from `args.manifest_source`, checked against `args.sha256`."""
    source = args.manifest_source
    if is_url(source):
        data = _DOWNLOADS.get(source)
        if data is None:
            try:
                with urllib.request.urlopen(source, timeout=60) as resp:
                    data = resp.read()
            except (urllib.error.URLError, OSError, ValueError) as err:
                reason = getattr(err, "reason", err)
                raise InstallManifestError(
                    f"{where}: manifest {source!r}: cannot download it ({reason}); expected a "
                    "reachable https:// URL, or a local file for offline installs"
                ) from None
            _DOWNLOADS[source] = data
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise InstallManifestError(
                f"{where}: manifest {source!r}: file not found (expected a Flux install.yaml, "
                f"or an https:// URL such as {RELEASE_URL.format(version=args.version)})"
            )
        data = path.read_bytes()
    if args.sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != args.sha256:
            raise InstallManifestError(
                f"{where}: manifest {source!r}: sha256 mismatch: expected {args.sha256}, "
                f"got {actual} (the file is not the pinned one; check it before updating sha256)"
            )
    return data


def parse_manifest(data: bytes, source: str, where: str) -> tuple[dict[str, Any], ...]:
    """The YAML documents of `data` (shared: copy them before changing any)."""
    key = hashlib.sha256(data).hexdigest()
    if key not in _PARSED:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            docs = [d for d in yaml.load_all(data, Loader=loader) if d is not None]
        except yaml.YAMLError as err:
            raise InstallManifestError(
                f"{where}: manifest {source!r}: not valid YAML ({err}); "
                "expected a Flux install.yaml"
            ) from None
        _PARSED.clear()  # one manifest per program; keep memory flat
        _PARSED[key] = tuple(docs)
    return _PARSED[key]


def load_manifest(
    args: FluxInstallSettings, *, where: str = "FluxInstallArgs"
) -> list[dict[str, Any]]:
    """Read, check and parse the install manifest `args` names (a fresh copy of its documents)."""
    data = read_manifest(args, where=where)
    return copy.deepcopy(list(parse_manifest(data, args.manifest_source, where)))
