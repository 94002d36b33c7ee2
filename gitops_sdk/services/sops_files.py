"""SOPS files as data: their format, their documents, and whether each value is encrypted.

Reading a file here never runs sops; messages name files and keys, never quote a value.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from gitops_sdk.core.errors import current_stack

__all__ = [
    "FileStatus",
    "Format",
    "ParseError",
    "envelope_problem",
    "file_format",
    "file_kind",
    "inspect_file",
    "inspect_text",
    "is_encrypted_value",
    "is_secret_manifest",
    "is_sops_key",
    "leaves",
    "list_keys",
    "load_documents",
    "load_yaml",
    "open_regular",
    "plaintext_values",
    "read_regular",
    "secret_plaintext",
    "show_path",
    "sops_metadata",
    "split_yaml",
    "where",
]

Format = Literal["yaml", "json", "dotenv", "binary"]


# --- where: stack and file in every message ------------------------------------------------------


def show_path(path: Path) -> str:
    """`path` relative to the working folder when it is below it, else as given; printable on
    one line (undecodable bytes and control characters in names are escaped)."""
    try:  # the folder resolved, not the name: a symlink is shown as itself (even a looping one)
        real = Path(os.path.realpath(path.parent)) / path.name
        text = str(real.relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        text = str(path)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def where(path: Path, stack: str | None) -> str:
    """`<stack>: <path>`, the head of every message about a file (the stack if known)."""
    stack = stack or current_stack()
    return f"{stack}: {show_path(path)}" if stack else show_path(path)


def list_keys(keys: Sequence[str], limit: int = 20) -> str:
    """The first `limit` keys, comma separated, and how many more there are."""
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


# --- formats and documents -----------------------------------------------------------------------

_ENC = re.compile(
    r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:[a-z]+\]"
)


def is_encrypted_value(value: Any) -> bool:
    """Whether `value` is a sops-encrypted scalar (`ENC[AES256_GCM,...]`)."""
    return isinstance(value, str) and _ENC.fullmatch(value) is not None


def file_format(path: Path) -> Format:
    """The sops store for a file, by extension (`.yaml`/`.yml`, `.json`, `.env`, else binary)."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".json":
        return "json"
    if suffix == ".env" or path.name == ".env":
        return "dotenv"
    return "binary"


class ParseError(Exception):
    """A file is not valid in its format; the message never quotes the file."""


def _parse_dotenv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ParseError(f"line {number} is not KEY=VALUE")
        out[key.strip()] = value
    return out


_MARKER = re.compile(r"^---(?=[ \t\r\n]|$)")
_END = re.compile(r"^\.\.\.(?=[ \t\r\n]|$)")


def split_yaml(text: str) -> list[tuple[int, str]]:
    """A YAML stream cut into its documents, each as (first line number, text), so that each
    can be parsed on its own: one malformed document does not hide the others.

    Cuts before `---` and after `...` at the start of a line (YAML forbids both as content
    there); comments and `%` directives above a `---` go with its document.
    """
    parts = text.split("\n")
    lines = [line + "\n" for line in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    out: list[tuple[int, str]] = []
    chunk: list[str] = []
    start, started = 1, False
    for number, line in enumerate(lines, 1):
        if _MARKER.match(line):
            if started:
                out.append((start, "".join(chunk)))
                chunk, start = [], number
            started = True
        elif line.strip() and not line.lstrip().startswith("#"):
            started = started or not line.startswith("%")
        chunk.append(line)
        if _END.match(line):
            out.append((start, "".join(chunk)))
            chunk, start, started = [], number + 1, False
    if chunk or not out:
        out.append((start, "".join(chunk)))
    return out


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it


def load_yaml(text: str, first_line: int = 1) -> Any:
    """One YAML document (None when empty); ParseError, quoting nothing, when it is not valid
    or cannot be built (nesting too deep, impossible dates)."""
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as err:
        # str(err) quotes the offending line, which may be a secret value: keep the problem.
        mark = err.problem_mark or err.context_mark
        line = f"line {mark.line + first_line}: " if mark else ""
        raise ParseError(f"not valid YAML ({line}{err.problem or err.context})") from None
    except yaml.reader.ReaderError as err:
        char = err.character if isinstance(err.character, int) else ord(err.character)
        raise ParseError(f"not valid YAML (control character #x{char:02x} not allowed)") from None
    except yaml.YAMLError:
        raise ParseError("not valid YAML") from None
    except RecursionError:
        raise ParseError("not valid YAML (nested too deeply)") from None
    except (ValueError, TypeError, OverflowError) as err:
        # PyYAML builds dates and numbers with Python's constructors, which reject some values.
        raise ParseError(f"not valid YAML ({type(err).__name__} building a value)") from None


def load_documents(text: str, fmt: Format) -> list[Any]:
    """The documents of a file's text in format `fmt` (a binary file is one document)."""
    if fmt == "yaml":
        docs = [load_yaml(chunk, line) for line, chunk in split_yaml(text)]
        return [doc for doc in docs if doc is not None]
    if fmt == "json":
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as err:
            raise ParseError(f"not valid JSON (line {err.lineno}: {err.msg})") from None
        except RecursionError:
            raise ParseError("not valid JSON (nested too deeply)") from None
    if fmt == "dotenv":
        return [_parse_dotenv(text)]
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict) and "sops" in doc and "data" in doc:
        return [doc]
    return [{"(whole file)": text}]


# --- sops metadata and plaintext -----------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    """Which keys sops was told to leave in plaintext (from a file's sops metadata)."""

    unencrypted_suffix: str | None = None
    encrypted_suffix: str | None = None
    unencrypted_regex: re.Pattern[str] | None = None
    encrypted_regex: re.Pattern[str] | None = None

    def must_encrypt(self, keys: Sequence[str]) -> bool:
        if self.unencrypted_suffix and any(k.endswith(self.unencrypted_suffix) for k in keys):
            return False
        if self.encrypted_suffix:
            return any(k.endswith(self.encrypted_suffix) for k in keys)
        if self.unencrypted_regex is not None:
            return not any(self.unencrypted_regex.search(k) for k in keys)
        if self.encrypted_regex is not None:
            return any(self.encrypted_regex.search(k) for k in keys)
        return True


def _regex(value: Any) -> re.Pattern[str] | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return re.compile(value)
    except re.error:
        return None


_KEY_SOURCES = ("age", "pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms", "key_groups")
"""The metadata fields that name who can decrypt a file; a real envelope has at least one."""


def _raw_metadata(doc: Any, fmt: Format) -> dict[str, Any] | None:
    """A document's sops block as found (None when it has none; {} when it is not a mapping)."""
    if not isinstance(doc, dict):
        return None
    if fmt == "dotenv":
        meta = {k[len("sops_") :]: v for k, v in doc.items() if str(k).startswith("sops_")}
        return meta or None
    if "sops" not in doc:
        return None
    raw = doc["sops"]
    return {str(k): v for k, v in raw.items()} if isinstance(raw, dict) else {}


def envelope_problem(doc: Any, fmt: Format) -> str | None:
    """Why a document's sops block is not a SOPS envelope (None when it has none, or a real
    one): plaintext with a `sops:` key pasted on must not pass for encrypted."""
    meta = _raw_metadata(doc, fmt)
    if meta is None:
        return None
    missing = [k for k in ("mac", "lastmodified", "version") if not meta.get(k)]
    if missing:
        return f"its sops metadata is not a SOPS envelope (no {', '.join(missing)})"
    if not is_encrypted_value(meta["mac"]):
        return "its sops metadata is not a SOPS envelope (mac is not ENC[...])"
    if not any(v for k, v in meta.items() if k.split("__")[0] in _KEY_SOURCES):
        return "its sops metadata is not a SOPS envelope (it names no key: age, pgp, kms, ...)"
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def sops_metadata(doc: Any, fmt: Format) -> tuple[dict[str, Any] | None, _Settings, list[str]]:
    """(sops metadata, settings, age recipients) of one document; metadata None when it has
    none or it is not a real SOPS envelope (see `envelope_problem`)."""
    meta = _raw_metadata(doc, fmt)
    if meta is None or envelope_problem(doc, fmt):
        return None, _Settings(), []
    if fmt == "dotenv":
        recipients = [
            str(v) for k, v in meta.items() if re.fullmatch(r"age__list_\d+__map_recipient", k)
        ]
    else:
        entries = _items(meta.get("age"))
        for group in _items(meta.get("key_groups")):
            if isinstance(group, dict):
                entries += _items(group.get("age"))
        recipients = [
            str(e["recipient"]) for e in entries if isinstance(e, dict) and e.get("recipient")
        ]
    settings = _Settings(
        unencrypted_suffix=_text(meta.get("unencrypted_suffix")),
        encrypted_suffix=_text(meta.get("encrypted_suffix")),
        unencrypted_regex=_regex(meta.get("unencrypted_regex")),
        encrypted_regex=_regex(meta.get("encrypted_regex")),
    )
    return meta, settings, recipients


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


MAX_VALUES = 200_000
"""Scalars `inspect_text` walks per file: YAML aliases can make a small file expand to billions
(each alias is a reference to one node, walked again every time it is used)."""


def leaves(
    node: Any, keys: tuple[str, ...] = (), shown: str = ""
) -> Iterator[tuple[tuple[str, ...], str, Any]]:
    """Every scalar of a document as (mapping keys above it, its path as shown, value)."""
    if isinstance(node, dict):
        for k, v in node.items():
            key = str(k)
            yield from leaves(v, (*keys, key), f"{shown}.{key}" if shown else key)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, keys, f"{shown}[{i}]")
    else:
        yield keys, shown, node


def _bounded(node: Any) -> list[tuple[tuple[str, ...], str, Any]]:
    out = []
    for item in leaves(node):
        out.append(item)
        if len(out) > MAX_VALUES:
            raise ParseError(f"more than {MAX_VALUES} values (YAML aliases expanding?)")
    return out


def is_secret_manifest(doc: Any) -> bool:
    """Whether a parsed document is a Kubernetes Secret (`apiVersion: v1`, `kind: Secret`)."""
    return isinstance(doc, dict) and doc.get("kind") == "Secret" and doc.get("apiVersion") == "v1"


def secret_plaintext(doc: dict[str, Any]) -> list[str]:
    """The `data`/`stringData` keys of a Secret manifest whose values are not encrypted."""
    out = []
    for section in ("data", "stringData"):
        values = doc.get(section)
        if isinstance(values, dict):
            out += [f"{section}.{k}" for k, v in values.items() if not is_encrypted_value(v)]
    return out


def is_sops_key(key: str, fmt: Format) -> bool:
    """Whether a top-level key is sops' own metadata (`sops`, or `sops_*` in dotenv)."""
    return key.startswith("sops_") if fmt == "dotenv" else key == "sops"


def _doc_plaintext(doc: Any, fmt: Format) -> tuple[bool, list[str], list[str]]:
    """(encrypted, keys that hold plaintext but should not, recipients) of one document."""
    meta, settings, recipients = sops_metadata(doc, fmt)
    if is_secret_manifest(doc):
        return meta is not None, secret_plaintext(doc), recipients
    body = doc
    if isinstance(doc, dict):
        body = {k: v for k, v in doc.items() if not is_sops_key(str(k), fmt)}
    found = _bounded(body)
    if meta is None:
        return False, [shown or "(document)" for _, shown, _ in found], []
    plaintext = [
        shown
        for keys, shown, value in found
        if settings.must_encrypt(keys) and not is_encrypted_value(value)
    ]
    if found and not any(is_encrypted_value(v) for _, _, v in found):
        # sops ran but its rule encrypted nothing (e.g. encrypted_regex matched no key).
        plaintext = [shown or "(document)" for _, shown, _ in found]
    return True, plaintext, recipients


# --- a file's encryption status ------------------------------------------------------------------


@dataclass(frozen=True)
class FileStatus:
    """Whether a file is SOPS-encrypted, and which keys (never values) are still plaintext."""

    path: Path
    format: Format
    documents: int
    encrypted: bool
    """Every document carries sops metadata with a MAC."""
    plaintext: tuple[str, ...]
    """Keys whose values should be encrypted but are not (`stringData.token`, `DB_PASSWORD`)."""
    recipients: tuple[str, ...]
    """The age recipients (public keys) the file is encrypted for."""
    secret_manifest: bool
    """The file is one or more Kubernetes Secret manifests."""
    error: str | None = None
    """Why the file could not be read or parsed (never quoting it)."""
    envelope: str | None = None
    """Why a document's `sops` block is not a real SOPS envelope (`envelope_problem`)."""

    @property
    def ok(self) -> bool:
        """Encrypted, with no plaintext left."""
        return self.error is None and self.encrypted and not self.plaintext


def inspect_text(text: str, fmt: Format, path: Path = Path("-")) -> FileStatus:
    """The encryption status of a file's content in format `fmt`."""
    encrypted = True
    plaintext: list[str] = []
    recipients: list[str] = []
    envelope = None
    try:
        docs = load_documents(text, fmt)
        for i, doc in enumerate(docs):
            doc_encrypted, keys, doc_recipients = _doc_plaintext(doc, fmt)
            encrypted = encrypted and doc_encrypted
            prefix = f"[{i}] " if len(docs) > 1 else ""
            plaintext += [prefix + k for k in keys]
            recipients += [r for r in doc_recipients if r not in recipients]
            envelope = envelope or envelope_problem(doc, fmt)
    except (ParseError, RecursionError) as err:
        problem = str(err) if isinstance(err, ParseError) else "nested too deeply"
        return FileStatus(path, fmt, 0, False, (), (), False, problem)
    manifest = bool(docs) and all(is_secret_manifest(d) for d in docs)
    return FileStatus(
        path,
        fmt,
        len(docs),
        encrypted and bool(docs),
        tuple(plaintext),
        tuple(recipients),
        manifest,
        envelope=envelope,
    )


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISLNK, "a symlink"),
)


def file_kind(mode: int) -> str:
    """What a `st_mode` is, in words ("a FIFO"); "a file" for a regular file."""
    return next((name for test, name in _KINDS if test(mode)), "a file")


def open_regular(path: Path, *, follow: bool = True) -> int:
    """A read-only descriptor of the regular file at `path`; OSError (strerror in words) for a
    folder, FIFO, device or socket. A FIFO is never opened for reading (that waits for a
    writer); O_NONBLOCK covers one swapped in between the check and the open."""
    info = os.stat(path, follow_symlinks=follow)
    if not stat.S_ISREG(info.st_mode):
        raise OSError(0, f"is {file_kind(info.st_mode)}, not a regular file")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags if follow else flags | getattr(os, "O_NOFOLLOW", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OSError(0, f"is {file_kind(mode)}, not a regular file")
    return fd


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file at `path` (see `open_regular` for what is refused)."""
    with os.fdopen(open_regular(path), "rb") as handle:
        return handle.read()


def inspect_file(path: Path) -> FileStatus:
    """The encryption status of the file at `path`."""
    fmt = file_format(path)
    try:
        text = read_regular(path).decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = (err.strerror or str(err)) if isinstance(err, OSError) else "not UTF-8 text"
        return FileStatus(path, fmt, 0, False, (), (), False, f"cannot be read ({reason})")
    return inspect_text(text, fmt, path)


def plaintext_values(text: str, fmt: Format) -> list[str]:
    """Every plaintext scalar in a file, to scrub from anything sops prints about it."""
    try:
        docs = load_documents(text, fmt)
        return [
            str(value)
            for doc in docs
            for _, _, value in _bounded(doc)
            if value is not None and not is_encrypted_value(value)
        ]
    except (ParseError, RecursionError):
        return []
