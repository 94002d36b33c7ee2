"""Setter markers in YAML files: the `# {"$imagepolicy": "ns:name[:field]"}` comments that tell
Flux's image automation which lines to rewrite. Parsing them, finding the lines that use an image,
and inserting markers (`mark_text`, `mark_file`); lines are edited in place, never re-serialised.

```python
mark_file(Path("apps/demo-app/base/deployment.yaml"), "flux-system:nginx", image="nginx")
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import replace as replace_fields
from pathlib import Path
from typing import Any, Literal

from gitops_sdk.api.image_automation import PolicyKey, SetterMarkerError
from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.atomic import write_atomic
from gitops_sdk.services.yaml_lines import (
    BOM,
    YamlLine,
    YamlMap,
    decode_text,
    documents,
    mappings,
    parse_documents,
    parse_line,
    read_bytes,
    strip_cr,
)

__all__ = [
    "MARKER_FIELDS",
    "ImageUse",
    "MarkResult",
    "MarkerField",
    "MarkerScan",
    "SetterMarker",
    "canonical_image",
    "describe_field",
    "find_image_uses",
    "mark_file",
    "mark_text",
    "scan_markers",
    "setter_marker",
]

MarkerField = Literal["tag", "name", "digest"]
"""Which part of the image a marker writes; `None` (no field) writes the whole reference."""

MARKER_FIELDS: tuple[MarkerField, ...] = ("tag", "name", "digest")
"""The fields a marker may name after the policy (`ns:name:tag`)."""


def setter_marker(policy: Any, field: MarkerField | None = None) -> str:
    """The marker comment, e.g. `# {"$imagepolicy": "flux-system:podinfo:tag"}`."""
    key = str(PolicyKey.of(policy))
    if field is not None:
        key += f":{field}"
    return "# " + json.dumps({"$imagepolicy": key})


@dataclass(frozen=True)
class SetterMarker:
    """A parsed `# {"$imagepolicy": "ns:name[:field]"}` comment."""

    policy: PolicyKey
    """The ImagePolicy it names."""
    field: MarkerField | None
    """The part of the image it writes; None for the whole reference."""

    def text(self) -> str:
        """The marker as a comment."""
        return setter_marker(self.policy, self.field)


def _parse_marker(comment: str) -> SetterMarker | str | None:
    """A marker from a comment's text (after `#`); an error text if malformed; None if none."""
    if "$imagepolicy" not in comment:
        return None
    try:
        data = json.loads(comment.strip())
    except (ValueError, RecursionError):  # JSONDecodeError, a 5000-digit number, deep nesting
        return 'malformed setter marker: expected # {"$imagepolicy": "namespace:name"}'
    value = data.get("$imagepolicy") if isinstance(data, dict) else None
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in MARKER_FIELDS):
        return (
            f"malformed setter marker {comment.strip()!r}: expected 'namespace:name' "
            "optionally followed by ':tag', ':name' or ':digest'"
        )
    try:
        key = PolicyKey.parse(f"{parts[0]}:{parts[1]}")
    except SetterMarkerError as err:
        return str(err)
    field: MarkerField | None = parts[2] if len(parts) == 3 else None  # type: ignore[assignment]
    return SetterMarker(key, field)


@dataclass(frozen=True)
class ImageUse:
    """A YAML line that sets (part of) an image reference."""

    line: int
    """1-based line number."""
    field: MarkerField | None
    """Which part the line holds: None for a whole reference (`image: nginx:1.21`)."""
    image: str
    """The image repository the line belongs to, as written."""
    value: str
    """The line's scalar value, unquoted."""
    marker: SetterMarker | None
    """The setter marker on the line, if any."""
    comment: str | None
    """Another comment on the line (not a marker), if any."""


@dataclass
class MarkerScan:
    """What `scan_markers` found in a text."""

    uses: list[ImageUse]
    """The lines using an image, in line order."""
    markers: dict[int, SetterMarker | str]
    """Every line with a `$imagepolicy` comment: 0-based line index -> marker or error text."""
    lines: list[str]
    """The text's lines (a `\\r` of CRLF line ends kept)."""


def scan_markers(text: str) -> MarkerScan:
    """The image uses and setter markers of `text`, document by document."""
    lines = text.split("\n")
    uses: list[ImageUse] = []
    markers: dict[int, SetterMarker | str] = {}
    for doc in documents(lines):
        parsed: list[YamlLine] = []
        block_deeper_than: int | None = None
        for i in doc:
            raw = strip_cr(lines[i])
            if block_deeper_than is not None:
                indent = len(raw) - len(raw.lstrip(" "))
                if not raw.strip() or indent > block_deeper_than:
                    continue
                block_deeper_than = None
            pl = parse_line(i, raw)
            if pl is None:
                continue
            if pl.comment_at is not None:
                found = _parse_marker(raw[pl.comment_at + 1 :])
                if found is not None:
                    markers[i] = found
            if pl.block:
                # Block scalar content is indented deeper than its key (or its list dash).
                if pl.key is not None:
                    block_deeper_than = pl.col
                else:
                    block_deeper_than = pl.dash_col if pl.dash_col is not None else -1
            parsed.append(pl)
        kind = next(
            (p.value for p in parsed if p.key == "kind" and p.col == 0 and p.dash_col is None),
            None,
        )
        if kind in ("ImageRepository", "ImagePolicy"):
            continue  # their `image:` names what is scanned, not what is deployed
        uses.extend(_uses_in(mappings(parsed), lines, markers))
    uses.sort(key=lambda u: u.line)
    return MarkerScan(uses, markers, lines)


def _split_ref(value: str) -> tuple[str, str | None, str | None] | None:
    """(repository, tag, digest) of an image reference, or None if it is not one."""
    if not value or any(c.isspace() for c in value) or value[0] in "{[":
        return None
    rest, _, digest = value.partition("@")
    head, slash, last = rest.rpartition("/")
    tag = None
    if ":" in last:
        last, _, tag = last.partition(":")
    repo = head + slash + last
    if not repo or repo.endswith("/"):
        return None
    return repo, tag, digest or None


def canonical_image(image: str) -> str:
    """`image` spelt one way for comparison: lower case, without Docker Hub's `docker.io/` and
    `library/` prefixes (`docker.io/library/nginx` -> `nginx`)."""
    out = image.lower()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if out.startswith(prefix):
            out = out[len(prefix) :]
            break
    if out.startswith("library/") and out.count("/") == 1:
        out = out[len("library/") :]
    return out


def _uses_in(
    maps: list[YamlMap], lines: list[str], markers: dict[int, SetterMarker | str]
) -> list[ImageUse]:
    out: list[ImageUse] = []

    def use(pl: YamlLine, fld: MarkerField | None, image: str) -> None:
        found = markers.get(pl.index)
        comment = None
        if pl.comment_at is not None and found is None:
            comment = strip_cr(lines[pl.index])[pl.comment_at :]
        marker = found if isinstance(found, SetterMarker) else None
        out.append(ImageUse(pl.index + 1, fld, image, pl.value, marker, comment))

    for m in maps:
        whole = m.keys.get("image")
        if whole is not None and whole.value and not whole.block:
            ref = _split_ref(whole.value)
            if ref is not None:
                use(whole, None, ref[0])
        if m.parent == "images" and "name" in m.keys:
            new_name = m.keys.get("newName")
            image = (new_name or m.keys["name"]).value
            if _split_ref(image) is not None:
                for key, fld in (("newName", "name"), ("newTag", "tag"), ("digest", "digest")):
                    if (pl := m.keys.get(key)) is not None and pl.value:
                        use(pl, fld, image)  # type: ignore[arg-type]
        if m.parent == "image" and "repository" in m.keys:
            image = m.keys["repository"].value
            if image and _split_ref(image) is not None:
                for key, fld in (("repository", "name"), ("tag", "tag"), ("digest", "digest")):
                    if (pl := m.keys.get(key)) is not None and pl.value:
                        use(pl, fld, image)  # type: ignore[arg-type]
    return out


def find_image_uses(text: str) -> list[ImageUse]:
    """Every line of `text` that sets an image or a part of one, in line order.

    Recognised: `image: repo:tag` anywhere (Pods, Deployments, Helm values), kustomize
    `images:` entries (`newName` -> `:name`, `newTag` -> `:tag`, `digest` -> `:digest`) and
    Helm-style `image: {repository, tag, digest}` blocks. ImageRepository and ImagePolicy
    documents and block scalars are skipped.
    """
    return scan_markers(text).uses


@dataclass(frozen=True)
class MarkResult:
    """What `mark_text` did."""

    text: str
    """The new text (equal to the input when nothing changed)."""
    marked: list[int]
    """Lines (1-based) that got a marker."""
    unchanged: list[int]
    """Lines that already had the right marker."""

    @property
    def changed(self) -> bool:
        """Whether any line was marked."""
        return bool(self.marked)


def describe_field(fld: MarkerField | None) -> str:
    """A marker field as error messages name it."""
    return "the whole reference (no field)" if fld is None else f"':{fld}'"


def mark_text(
    text: str,
    policy: Any,
    *,
    image: str | None = None,
    field: MarkerField | None = None,
    replace: bool = False,
    source: str = "<text>",
) -> MarkResult:
    """Add the policy's setter marker to every line of `text` where `image` is used.

    Each line gets the marker its kind takes (`image:` the whole reference, `newTag:`/`tag:`
    `:tag`, `newName:`/`repository:` `:name`, `digest:` `:digest`); `field` limits marking to
    lines of that kind. Without `image`, the one image the text uses is taken. Idempotent:
    lines already carrying the marker are left alone. A line with another policy's marker is
    an error unless `replace`; a line with any other comment is always an error, since the
    marker must be the line's only comment.
    """
    key = PolicyKey.of(policy)
    scan = scan_markers(text)
    images = sorted({u.image for u in scan.uses}, key=canonical_image)
    if image is None:
        distinct = sorted({canonical_image(i) for i in images})
        if not distinct:
            raise SetterMarkerError(f"{source}: uses no image, so there is nothing to mark")
        if len(distinct) > 1:
            raise SetterMarkerError(
                f"{source}: uses several images ({', '.join(distinct)}); say which one "
                f"policy {key} tracks (--image)"
            )
        image = distinct[0]
    wanted = canonical_image(image)
    uses = [u for u in scan.uses if canonical_image(u.image) == wanted]
    if not uses:
        found = ", ".join(sorted({canonical_image(i) for i in images})) or "none"
        raise SetterMarkerError(f"{source}: does not use image {image!r} (images used: {found})")
    if field is not None:
        kinds = sorted({describe_field(u.field) for u in uses})
        uses = [u for u in uses if u.field == field]
        if not uses:
            raise SetterMarkerError(
                f"{source}: no line holds the {field} of {image!r}; its lines take "
                f"{', '.join(kinds)} (omit --field to mark each line with the field it takes)"
            )
    problems = []
    lines = list(scan.lines)
    marked: list[int] = []
    unchanged: list[int] = []
    for u in uses:
        want = SetterMarker(key, u.field)
        raw = lines[u.line - 1]
        cr = "\r" if raw.endswith("\r") else ""
        body = strip_cr(raw)
        if u.marker == want:
            unchanged.append(u.line)
            continue
        if u.comment is not None:
            problems.append(
                f"{source}:{u.line}: has the comment {u.comment.strip()!r}; the setter marker "
                "must be the line's only comment: move that comment to its own line"
            )
            continue
        if u.marker is not None and not replace:
            problems.append(
                f"{source}:{u.line}: already has {u.marker.text()!r}; pass replace=True "
                "(--replace) to change it"
            )
            continue
        if u.line - 1 in scan.markers and u.marker is None and not replace:
            problems.append(f"{source}:{u.line}: {scan.markers[u.line - 1]}")
            continue
        pl = parse_line(u.line - 1, body)
        assert pl is not None
        content = body[: pl.comment_at] if pl.comment_at is not None else body
        lines[u.line - 1] = content.rstrip(" \t") + " " + want.text() + cr
        marked.append(u.line)
    if problems:
        raise SetterMarkerError("; ".join(problems))
    return MarkResult("\n".join(lines), marked, unchanged)


def mark_file(
    path: Path,
    policy: Any,
    *,
    image: str | None = None,
    field: MarkerField | None = None,
    replace: bool = False,
    write: bool = True,
) -> MarkResult:
    """`mark_text` on a file, written back only when a line changed (and `write`).

    The file's bytes are kept but for the markers: CRLF line ends, a missing final newline and
    a UTF-8 BOM stay as they were, and the write is atomic (`write_atomic`: a crash leaves the
    old file or the new one, a symlink stays a link). A file that is missing, not UTF-8, over
    `MAX_YAML_BYTES` or not valid YAML is a SetterMarkerError naming it, and is left alone:
    Flux's image automation could not read it either.
    """
    try:
        text = decode_text(read_bytes(path), path)
        bom = BOM if text.startswith(BOM) else ""
        body = text.removeprefix(BOM)
        if not body.strip():
            raise SetterMarkerError(f"{path}: is empty, so there is nothing to mark")
        parse_documents(body, path)
    except ConfigError as err:
        raise SetterMarkerError(str(err)) from None
    result = mark_text(body, policy, image=image, field=field, replace=replace, source=str(path))
    result = replace_fields(result, text=bom + result.text)
    if write and result.changed:
        try:
            write_atomic(path, result.text.encode("utf-8"))
        except ConfigError as err:
            raise SetterMarkerError(str(err)) from None
    return result
