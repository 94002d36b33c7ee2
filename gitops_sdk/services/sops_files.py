"""SOPS files as data: their format, their documents, and whether each value is encrypted.

Reading a file here never runs sops; messages name files and keys, never quote a value.
"""

from __future__ import annotations

import json
import re
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
    "file_format",
    "inspect_file",
    "inspect_text",
    "is_encrypted_value",
    "is_secret_manifest",
    "is_sops_key",
    "leaves",
    "list_keys",
    "load_documents",
    "plaintext_values",
    "secret_plaintext",
    "show_path",
    "sops_metadata",
    "where",
]

Format = Literal["yaml", "json", "dotenv", "binary"]


# --- where: stack and file in every message ------------------------------------------------------


def show_path(path: Path) -> str:
    """`path` relative to the working folder when it is below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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


def load_documents(text: str, fmt: Format) -> list[Any]:
    """The documents of a file's text in format `fmt` (a binary file is one document)."""
    if fmt == "yaml":
        try:
            return [doc for doc in yaml.safe_load_all(text) if doc is not None]
        except yaml.MarkedYAMLError as err:
            # str(err) quotes the offending line, which may be a secret value: keep the problem.
            line = f"line {err.problem_mark.line + 1}: " if err.problem_mark else ""
            raise ParseError(f"not valid YAML ({line}{err.problem})") from None
        except yaml.YAMLError:
            raise ParseError("not valid YAML") from None
    if fmt == "json":
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as err:
            raise ParseError(f"not valid JSON (line {err.lineno}: {err.msg})") from None
    if fmt == "dotenv":
        return [_parse_dotenv(text)]
    try:
        doc = json.loads(text)
    except ValueError:
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


def sops_metadata(doc: Any, fmt: Format) -> tuple[dict[str, Any] | None, _Settings, list[str]]:
    """(sops metadata, settings, age recipients) of one document; metadata None if absent."""
    if not isinstance(doc, dict):
        return None, _Settings(), []
    if fmt == "dotenv":
        meta = {k[len("sops_") :]: v for k, v in doc.items() if k.startswith("sops_")}
        recipients = [
            v for k, v in meta.items() if re.fullmatch(r"age__list_\d+__map_recipient", k)
        ]
    else:
        raw = doc.get("sops")
        meta = raw if isinstance(raw, dict) else {}
        entries = list(meta.get("age") or [])
        for group in meta.get("key_groups") or []:
            if isinstance(group, dict):
                entries += group.get("age") or []
        recipients = [
            str(e["recipient"]) for e in entries if isinstance(e, dict) and e.get("recipient")
        ]
    if "mac" not in meta:
        return None, _Settings(), []
    settings = _Settings(
        unencrypted_suffix=meta.get("unencrypted_suffix") or None,
        encrypted_suffix=meta.get("encrypted_suffix") or None,
        unencrypted_regex=_regex(meta.get("unencrypted_regex")),
        encrypted_regex=_regex(meta.get("encrypted_regex")),
    )
    return meta, settings, recipients


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
    found = list(leaves(body))
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

    @property
    def ok(self) -> bool:
        """Encrypted, with no plaintext left."""
        return self.error is None and self.encrypted and not self.plaintext


def inspect_text(text: str, fmt: Format, path: Path = Path("-")) -> FileStatus:
    """The encryption status of a file's content in format `fmt`."""
    try:
        docs = load_documents(text, fmt)
    except ParseError as err:
        return FileStatus(path, fmt, 0, False, (), (), False, str(err))
    encrypted = bool(docs)
    plaintext: list[str] = []
    recipients: list[str] = []
    for i, doc in enumerate(docs):
        doc_encrypted, keys, doc_recipients = _doc_plaintext(doc, fmt)
        encrypted = encrypted and doc_encrypted
        prefix = f"[{i}] " if len(docs) > 1 else ""
        plaintext += [prefix + k for k in keys]
        recipients += [r for r in doc_recipients if r not in recipients]
    manifest = bool(docs) and all(is_secret_manifest(d) for d in docs)
    return FileStatus(
        path, fmt, len(docs), encrypted, tuple(plaintext), tuple(recipients), manifest
    )


def inspect_file(path: Path) -> FileStatus:
    """The encryption status of the file at `path`."""
    fmt = file_format(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        return FileStatus(path, fmt, 0, False, (), (), False, f"cannot be read ({reason})")
    return inspect_text(text, fmt, path)


def plaintext_values(text: str, fmt: Format) -> list[str]:
    """Every plaintext scalar in a file, to scrub from anything sops prints about it."""
    try:
        docs = load_documents(text, fmt)
    except ParseError:
        return []
    return [
        str(value)
        for doc in docs
        for _, _, value in leaves(doc)
        if value is not None and not is_encrypted_value(value)
    ]
