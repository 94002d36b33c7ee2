"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half.

Every file the CLI rewrites goes through `write_atomic`: the bytes go to a temporary file in
the same folder (same filesystem, so the rename is atomic), are fsynced, and the temporary
file replaces the target with `os.replace`; the folder is fsynced after. The temporary file
gets its final mode before the first byte is written, so a key file is never readable by others,
not even for a moment and whatever the umask.

Symlinks: a target that is a symlink is written THROUGH — the file it points at is replaced and
the link stays a link (replacing the link with a regular file would silently break a user's
setup, e.g. a `.sops.yaml` shared between repositories). A dangling link or a folder is refused.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from gitops_sdk.core.errors import ConfigError

__all__ = ["PRIVATE", "write_atomic"]

PRIVATE = 0o600
"""The mode of files that hold a private key."""

_before_write: Callable[[int, Path], None] | None = None
"""Test hook: called with the temporary file's descriptor and path before any byte is written."""


def _umask() -> int:
    # Read without changing it where the kernel says it (Linux); else the set-and-restore dance.
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target(path: Path) -> Path:
    """The real file to replace: `path`, or what its symlink chain ends at."""
    if not path.is_symlink():
        return path
    real = Path(os.path.realpath(path))
    if real.is_symlink():  # realpath stops where the chain loops
        raise ConfigError(f"cannot write {path}: it is a symlink loop")
    if not real.parent.is_dir():
        raise ConfigError(
            f"cannot write {path}: it is a symlink to {real}, whose folder is missing"
        )
    return real


def _final_mode(target: Path, mode: int | None) -> int:
    if mode is not None:
        return mode & 0o7777
    try:
        return target.stat().st_mode & 0o7777  # keep the mode of the file being replaced
    except FileNotFoundError:
        return 0o666 & ~_umask()  # what a plain open() would have made


def write_atomic(
    path: Path, data: str | bytes, *, mode: int | None = None, exclusive: bool = False
) -> None:
    """Replace `path` with `data` (str is written as UTF-8) atomically.

    `mode`: the file's permission bits; None keeps the mode of the file being replaced (or the
    umask default for a new file). `exclusive`: never replace an existing file (ConfigError if
    one appears, even at the last moment). Raises ConfigError (one line, naming the path) when
    the write fails; then the original file is untouched and no temporary file is left behind.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    target = _target(path)
    if target.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder")
    final = _final_mode(target, mode)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        # 0600 at creation (the umask can only narrow it), then the final mode, both before data.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror or err}") from err
    try:
        try:
            os.fchmod(fd, final)
            if _before_write is not None:
                _before_write(fd, tmp)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            _link(tmp, target)
        else:
            os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(err, FileExistsError):
            raise ConfigError(f"cannot write {path}: it exists already") from err
        if isinstance(err, OSError):
            raise ConfigError(f"cannot write {path}: {err.strerror or err}") from err
        raise
    _sync_folder(target.parent)


def _link(tmp: Path, target: Path) -> None:
    """Put `tmp` at `target` unless something is there: a hard link fails if it exists."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError:  # no hard links on this filesystem: check, then rename (a small window)
        if os.path.lexists(target):
            raise FileExistsError(target) from None
        os.replace(tmp, target)
        return
    tmp.unlink()


def _sync_folder(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
