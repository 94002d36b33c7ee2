"""OCI image references as the distribution grammar writes them: repository names, tags and
digests. A tag or digest outside the grammar would be written into manifests that no registry
(or kustomize) can resolve, so it is refused when the object is built."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

__all__ = [
    "MAX_REPOSITORY_LENGTH",
    "ImageDigest",
    "ImageName",
    "ImageTag",
    "check_digest",
    "check_repository",
    "check_tag",
]

MAX_REPOSITORY_LENGTH = 255
"""The longest repository name (registry included) the distribution grammar allows."""

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# One path component of a repository name.
_REPO_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_REGISTRY = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?)+(?::[0-9]+)?$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
_DIGEST = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([A-Za-z0-9=_-]+)$")
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


def check_tag(value: str) -> str:
    """`value` if it is an image tag; else a ValueError saying what a tag is."""
    if not _TAG.match(value):
        raise ValueError(
            "is not an image tag (expected 1 to 128 letters, digits, '_', '.' and '-', not "
            "starting with '.' or '-', e.g. '1.27.0' or 'v2-alpine')"
        )
    return value


def check_digest(value: str) -> str:
    """`value` if it is a content digest (`sha256:` and 64 lowercase hex digits, or sha384,
    sha512); else a ValueError."""
    m = _DIGEST.match(value)
    size = _DIGEST_HEX.get(m.group(1)) if m else None
    if m is None or size is None or not re.fullmatch(f"[0-9a-f]{{{size}}}", m.group(2)):
        raise ValueError(
            "is not an image digest (expected 'sha256:' and 64 lowercase hex digits; "
            "sha384 and sha512 take 96 and 128)"
        )
    return value


def check_repository(value: str, why: str = "") -> str:
    """`value` if it is a repository name without scheme, tag or digest (`nginx`,
    `ghcr.io/org/app`, `registry.lan:5000/app`); `why` explains the missing tag in errors."""
    if not value or any(c.isspace() or not c.isprintable() for c in value):
        raise ValueError("is not an image repository (expected e.g. 'ghcr.io/org/app')")
    bare, scheme, tag, digest = value, "", "", ""
    if m := _SCHEME.match(bare):
        scheme, bare = m.group(), bare[m.end() :]
    if "@" in bare:
        bare, _, digest = bare.partition("@")
    head, slash, last = bare.rpartition("/")
    if ":" in last:
        last, _, tag = last.partition(":")
        bare = head + slash + last
    if scheme or tag or digest:
        found = [
            f"{what} ({text!r})"
            for what, text in (
                ("a scheme", scheme),
                ("a tag", tag and ":" + tag),
                ("a digest", digest and "@" + digest),
            )
            if text
        ]
        hint = why if tag or digest else ""
        raise ValueError(f"must not contain {' or '.join(found)}: use {bare!r}{hint}")
    if len(value) > MAX_REPOSITORY_LENGTH:
        raise ValueError(
            f"is {len(value)} characters long; a repository name has at most "
            f"{MAX_REPOSITORY_LENGTH}"
        )
    parts = value.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _REGISTRY.match(parts[0]):
            raise ValueError(
                f"is not an image repository: registry {parts[0]!r} is not a host name with an "
                "optional port"
            )
        parts = parts[1:]
    for part in parts:
        if not _REPO_COMPONENT.match(part):
            raise ValueError(
                f"is not an image repository: path component {part!r} must be lowercase "
                "letters and digits, separated by '.', '_', '__' or '-'"
            )
    return value


def _check_policy_image(value: str) -> str:
    return check_repository(value, " (an ImagePolicy picks the tag)")


ImageName = Annotated[str, AfterValidator(_check_policy_image)]
"""An image repository without tag or digest, e.g. `nginx` or `ghcr.io/org/app`."""

ImageTag = Annotated[str, AfterValidator(check_tag)]
"""An image tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`."""

ImageDigest = Annotated[str, AfterValidator(check_digest)]
"""A content digest, `sha256:<64 lowercase hex>` (or sha384, sha512)."""
