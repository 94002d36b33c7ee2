"""Reading YAML files the CLI is pointed at, carefully, and a line-by-line YAML reader.

`read_text`, `load_documents` and `yaml_files` read hostile files safely: a file that is missing,
not a regular file, over `MAX_YAML_BYTES`, binary, UTF-16 or not UTF-8, not valid YAML, nested
deeper than `MAX_YAML_DEPTH`, recursive through an alias, or whose aliases would expand it past
`ALIAS_ALLOWANCE` (an alias bomb) is a one-line `ConfigError` naming it.

The line reader (`parse_line`, `mappings`, `documents`) is for setter markers: where each key,
scalar value and comment sits, and which keys form one block mapping. It reads lines and never
re-serialises YAML, so marking keeps comments, blank lines and formatting byte for byte."""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.core.errors import ConfigError

__all__ = [
    "ALIAS_ALLOWANCE",
    "BOM",
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "YamlLine",
    "YamlMap",
    "decode_text",
    "documents",
    "load_documents",
    "mappings",
    "parse_documents",
    "parse_line",
    "read_bytes",
    "read_text",
    "strip_cr",
    "yaml_children",
    "yaml_files",
]

MAX_YAML_BYTES = 8 * 1024 * 1024
"""Largest YAML file read: 8 MiB, twice prometheus-operator's bundle of every CRD it has (4 MB);
loading YAML costs seconds per MiB, so the cap bounds the time too."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and lists accepted (manifests and CRD schemas stay under 30)."""
ALIAS_ALLOWANCE = 10_000
"""How many nodes aliases may add to a document beyond its own written size (or that size, if
larger): expansion past that is refused as an alias bomb."""
BOM = "\ufeff"
"""The byte order mark a UTF-8 file may start with; kept when a file is rewritten."""


try:  # libyaml when present: some CRDs are megabytes of schema
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _Loader(_SafeLoader):
    """The safe loader, reading a plain `=` as the string Kubernetes reads (YAML 1.1's `value`
    tag, which PyYAML cannot construct; a prometheus-operator CRD has it in an enum)."""


def _plain_string(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:value", _plain_string)


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file of at most `MAX_YAML_BYTES`; a ConfigError naming the file
    when it is missing, a broken link or link loop, a folder, a device or pipe, or too big."""
    try:
        info = path.stat()
    except OSError as err:
        raise ConfigError(f"{path}: {_os_problem(path, err)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path}: is a folder; expected a YAML file")
    if not stat.S_ISREG(info.st_mode):
        # Opening a pipe would wait for a writer; a device may never end.
        raise ConfigError(f"{path}: is not a regular file (a pipe, socket or device)")
    if info.st_size > MAX_YAML_BYTES:
        raise ConfigError(f"{path}: is {info.st_size:,} bytes; {_limit()}")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_YAML_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{path}: {_os_problem(path, err)}") from None
    if len(data) > MAX_YAML_BYTES:  # it grew since stat
        raise ConfigError(f"{path}: is over {MAX_YAML_BYTES:,} bytes; {_limit()}")
    return data


def _limit() -> str:
    return f"the limit for a YAML file is {MAX_YAML_BYTES // (1024 * 1024)} MiB"


def _os_problem(path: Path, err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "is a symbolic link loop"
    if err.errno == errno.ENOENT:
        if path.is_symlink():
            return f"is a broken symbolic link (to {os.readlink(path)})"
        return "no such file or folder"
    return f"cannot read: {err.strerror or err}"


def decode_text(data: bytes, where: object) -> str:
    """`data` decoded as UTF-8 (a BOM kept as the first character); a ConfigError naming
    `where` for UTF-16/32, binary data or bytes that are not UTF-8."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise ConfigError(f"{where}: is UTF-32 text; expected UTF-8 (re-save it as UTF-8)")
    # UTF-16 without a BOM: ASCII text gives a NUL in every other byte, and only there.
    head = data[:4096]
    even, odd, half = head[0::2].count(0), head[1::2].count(0), len(head) // 2
    lopsided = half >= 2 and max(even, odd) > half * 0.4 and min(even, odd) < half * 0.05
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or lopsided:
        raise ConfigError(f"{where}: is UTF-16 text; expected UTF-8 (re-save it as UTF-8)")
    if b"\x00" in data:
        raise ConfigError(f"{where}: is a binary file (it holds NUL bytes); expected YAML text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ConfigError(
            f"{where}: is not UTF-8 text: byte 0x{data[err.start]:02x} at line {line} "
            f"(offset {err.start}) cannot be decoded; expected UTF-8"
        ) from None


def read_text(path: Path) -> str:
    """The text of a UTF-8 file (`read_bytes` then `decode_text`), line ends as they are."""
    return decode_text(read_bytes(path), path)


def load_documents(path: Path) -> list[Any]:
    """Every YAML document of the file (None for an empty one), loaded safely."""
    return parse_documents(read_text(path), path)


def parse_documents(text: str, where: object) -> list[Any]:
    """Every YAML document of `text`, loaded with the safe loader after checking its node graph
    for depth, recursive aliases and alias expansion; errors are one line naming `where`."""
    text = text.removeprefix(BOM)
    loader = _Loader(text)
    docs: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            _check_graph(node, f"{where}: document {len(docs) + 1}")
            docs.append(loader.construct_document(node))
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML: {_yaml_problem(err, text)}") from None
    except (ValueError, TypeError, OverflowError) as err:
        # Scalars the safe constructor chokes on: `2024-13-01`, a 5000-digit integer.
        what = " ".join(str(err).split())
        if "integer string conversion" in what:
            what = "an integer has more digits than the 4300 that can be read"
        raise ConfigError(f"{where}: document {len(docs) + 1}: not valid YAML: {what}") from None
    finally:
        loader.dispose()
    return docs


def yaml_children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes directly inside a YAML node (keys and values of a mapping, in order)."""
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_graph(root: yaml.Node, where: str) -> None:
    """Refuse a node graph that is recursive, too deep, or that aliases blow up. Aliases share
    nodes, so sizes and depths are measured once per node, in time linear in the text."""
    size: dict[int, int] = {}  # collections only: a scalar counts 1, depth 0
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    written = 0
    todo: list[tuple[yaml.Node, bool]] = [(root, False)]
    while todo:
        node, finished = todo.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            kids = yaml_children(node)
            size[key] = 1 + sum(size.get(id(k), 1) for k in kids)
            depth[key] = 1 + max((depth.get(id(k), 0) for k in kids), default=0)
            if depth[key] > MAX_YAML_DEPTH:
                raise ConfigError(
                    f"{where}: nests mappings and lists deeper than {MAX_YAML_DEPTH} levels "
                    f"(line {node.start_mark.line + 1})"
                )
            continue
        written += 1
        if isinstance(node, yaml.ScalarNode) or key in size:
            continue  # a scalar, or an aliased collection already measured
        if key in open_nodes:
            raise ConfigError(
                f"{where}: not valid YAML: the node anchored at line {node.start_mark.line + 1} "
                "holds an alias to itself (a recursive structure)"
            )
        open_nodes.add(key)
        todo.append((node, True))
        todo.extend((k, False) for k in yaml_children(node))
    total = size.get(id(root), 1)
    allowance = max(ALIAS_ALLOWANCE, written)
    if total - written > allowance:
        raise ConfigError(
            f"{where}: YAML aliases would expand its {written:,} nodes by more than {allowance:,} "
            "(an alias bomb?); write the values out or use fewer nested aliases"
        )


def _yaml_problem(err: yaml.YAMLError, text: str) -> str:
    """A YAML error as one line: where and what."""
    if isinstance(err, yaml.reader.ReaderError):
        char = err.character if isinstance(err.character, int) else ord(str(err.character)[:1])
        at = text.find(chr(char))
        line = f"line {text.count(chr(10), 0, at) + 1}: " if at >= 0 else ""
        return f"{line}character U+{char:04X} is not allowed ({err.reason})"
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = err.problem or err.context or "unreadable"
        if err.problem and err.context:
            what = f"{err.problem} ({err.context})"
        return where + " ".join(what.split())
    return " ".join(str(err).split())


def yaml_files(
    paths: Iterable[Path], *, suffixes: tuple[str, ...] = (".yaml", ".yml")
) -> tuple[list[Path], list[str]]:
    """(files, problems): each path named as is, and the files with `suffixes` under each
    folder, sorted. Folders and files whose names start with `.` (`.git`, `.github`,
    `.sops.yaml`) are tooling, not manifests, and are skipped inside folders; symbolic links
    are followed, a folder reached twice (a link loop) is walked once, and a broken or looping
    link to a file is reported. A missing path is a problem; the others are still listed."""
    files: list[Path] = []
    problems: list[str] = []
    seen: set[tuple[int, int]] = set()
    for path in paths:
        if path.is_dir():
            _walk(path, suffixes, files, problems, seen)
        elif path.exists() or path.is_symlink():
            files.append(path)  # reading it reports a link loop, a device, ...
        else:
            problems.append(f"{path}: no such file or folder")
    return sorted(set(files)), problems


def _walk(
    folder: Path,
    suffixes: tuple[str, ...],
    files: list[Path],
    problems: list[str],
    seen: set[tuple[int, int]],
) -> None:
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            info = current.stat()
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as err:
            problems.append(f"{current}: {_os_problem(current, err)}")
            continue
        below = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                below.append(path)
            elif path.suffix in suffixes:
                files.append(path)  # a broken or looping link is reported when read
        pending.extend(reversed(below))


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


_COLON = re.compile(r":(?=\s|$)")
_KEY_START = re.compile(r"""[^\s#'"{}\[\],&*!|>%@`]""")
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


def _key(rest: str) -> tuple[str, int] | None:
    """(key as written, index after its `:`) when `rest` starts with `key:`; scanned once, so
    a long line without one costs linear time, never a regular expression's backtracking."""
    if rest[:1] in ("'", '"'):
        close = rest.find(rest[0], 1)
        if close < 0:
            return None
        after = close + 1
        colon = after + len(rest[after:]) - len(rest[after:].lstrip())
        found = _COLON.match(rest, colon)
        return (rest[:after], colon + 1) if found else None
    if not _KEY_START.match(rest):
        return None
    found = _COLON.search(rest, 1)
    # A plain key ends at the first `: `, and a ` #` before it starts a comment instead.
    if found is None or "#" in rest[1 : found.start()]:
        return None
    return rest[0] + rest[1 : found.start()].rstrip(), found.start() + 1


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
    m = _key(rest)
    if m is None:
        value, quoted, at = _split_comment(rest)
        block = not quoted and bool(_BLOCK.match(value))
        comment_at = col + at if at is not None else None
        return YamlLine(index, col, dash_col, None, value, quoted, comment_at, block)
    key, end = m
    if key[:1] in "\"'":
        key = key[1:-1]
    start = col + end
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
