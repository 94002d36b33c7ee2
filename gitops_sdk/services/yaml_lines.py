"""A line-by-line YAML reader for setter markers: where each key, scalar value and comment sits,
and which keys form one block mapping. It reads lines and never re-serialises YAML, so marking
keeps comments, blank lines and formatting byte for byte."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = ["YamlLine", "YamlMap", "documents", "mappings", "parse_line", "strip_cr"]


@dataclass
class YamlLine:
    """One line of YAML as far as setter markers care: where its key starts, its scalar value
    and where its comment starts."""

    index: int
    """0-based line number."""
    col: int
    """Column of the key (or of the scalar, for a list item without a key)."""
    dash_col: int | None
    """Column of the list dash the line starts with, if any."""
    key: str | None
    """The mapping key, unquoted; None for a list item without a key."""
    value: str
    """The scalar value, unquoted; empty when a nested block follows."""
    quoted: bool
    """Whether the value was quoted."""
    comment_at: int | None
    """Column of the comment's `#`, if any."""
    block: bool
    """Whether the value starts a block scalar (`|` or `>`)."""


_KEY = re.compile(r"""(?P<key>"[^"]*"|'[^']*'|[^\s#'"{}\[\],&*!|>%@`][^#]*?)\s*:(?=\s|$)""")
_BLOCK = re.compile(r"^[|>][1-9+-]{0,2}$")
_DOC_SEP = re.compile(r"^(---|\.\.\.)(\s|$)")


def _split_comment(text: str) -> tuple[str, bool, int | None]:
    """(value, quoted, index of the comment's `#`) of the text after a `key:`."""
    i = len(text) - len(text.lstrip(" \t"))
    quoted = False
    if i < len(text) and text[i] in "\"'":
        quote = text[i]
        j = i + 1
        while j < len(text):
            if quote == '"' and text[j] == "\\":
                j += 2
                continue
            if text[j] == quote:
                if quote == "'" and text[j + 1 : j + 2] == "'":
                    j += 2
                    continue
                break
            j += 1
        value, quoted, search_from = text[i + 1 : j], True, j + 1
    else:
        value, search_from = "", i
    for k in range(search_from, len(text)):
        if text[k] == "#" and (k == 0 or text[k - 1] in " \t"):
            if not quoted:
                value = text[i:k].strip()
            return value, quoted, k
    if not quoted:
        value = text[i:].strip()
    return value, quoted, None


def parse_line(index: int, line: str) -> YamlLine | None:
    """Line `index` of a file (without its line end); None for a blank or comment line."""
    stripped = line.lstrip(" ")
    if not stripped or stripped.startswith("#"):
        return None
    col = len(line) - len(stripped)
    dash_col = None
    rest = stripped
    while rest == "-" or rest.startswith(("- ", "-\t")):
        dash_col = col
        if rest == "-":
            return YamlLine(index, col + 1, dash_col, None, "", False, None, False)
        step = 1 + len(rest[1:]) - len(rest[1:].lstrip(" \t"))
        col += step
        rest = rest[step:]
    m = _KEY.match(rest)
    if not m:
        value, quoted, at = _split_comment(rest)
        block = not quoted and bool(_BLOCK.match(value))
        comment_at = col + at if at is not None else None
        return YamlLine(index, col, dash_col, None, value, quoted, comment_at, block)
    key = m["key"]
    if key[:1] in "\"'":
        key = key[1:-1]
    start = col + m.end()
    value, quoted, at = _split_comment(line[start:])
    block = not quoted and bool(_BLOCK.match(value))
    return YamlLine(
        index, col, dash_col, key, value, quoted, start + at if at is not None else None, block
    )


@dataclass
class YamlMap:
    """The keys of one block mapping, by key (the first line of each)."""

    col: int
    """Column of its keys."""
    parent: str | None
    """The key it is the value of (`image`, `images` for a list item), if any."""
    keys: dict[str, YamlLine] = field(default_factory=dict)
    """Its keys' lines."""
    open_key: str | None = None
    """The last key read, while a nested block may still follow it."""


def documents(lines: list[str]) -> Iterator[list[int]]:
    """The line indexes of each YAML document (split at `---` and `...`)."""
    doc: list[int] = []
    for i, line in enumerate(lines):
        if _DOC_SEP.match(line):
            yield doc
            doc = []
        else:
            doc.append(i)
    yield doc


def strip_cr(line: str) -> str:
    """`line` without the `\\r` of a CRLF line end."""
    return line[:-1] if line.endswith("\r") else line


def mappings(parsed: list[YamlLine]) -> list[YamlMap]:
    """The block mappings of one document's parsed lines, each with the key it is nested under."""
    stack: list[YamlMap] = []
    out: list[YamlMap] = []
    for pl in parsed:
        if pl.key is None:
            # A bare `-` or a scalar list item ends the mappings nested below its dash.
            limit = pl.dash_col if pl.dash_col is not None else pl.col
            while stack and stack[-1].col > limit:
                stack.pop()
            continue
        c = pl.col
        if pl.dash_col is not None:
            while stack and stack[-1].col >= c:
                stack.pop()
        else:
            while stack and stack[-1].col > c:
                stack.pop()
        if stack and stack[-1].col == c and pl.dash_col is None:
            current = stack[-1]
        else:
            parent = stack[-1].open_key if stack else None
            current = YamlMap(c, parent)
            stack.append(current)
            out.append(current)
        current.keys.setdefault(pl.key, pl)
        current.open_key = pl.key if not pl.value and not pl.block else None
    return out
