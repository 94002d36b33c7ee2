"""`write_atomic`: every file the CLI rewrites is replaced whole or not at all, key files are
0600 from their first byte, and the original survives any failure midway."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services import atomic
from gitops_sdk.services.atomic import PRIVATE, write_atomic
from gitops_sdk.services.sops_config import update_sops_config

RECIPIENT = "age1" + "q" * 58


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_writes_text_and_bytes_whole(tmp_path: Path, umask: None) -> None:
    path = tmp_path / "a.yaml"
    write_atomic(path, "ä: 1\n")
    assert path.read_bytes() == "ä: 1\n".encode()
    assert mode(path) == 0o644  # a new file gets what open() would give under the umask
    write_atomic(path, b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o277])
def test_private_mode_is_set_before_the_first_byte_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mask: int
) -> None:
    seen: list[tuple[int, int]] = []

    def before_write(fd: int, tmp: Path) -> None:
        info = os.fstat(fd)
        seen.append((stat.S_IMODE(info.st_mode), info.st_size))
        assert tmp.parent == tmp_path  # same folder: the rename cannot cross filesystems

    monkeypatch.setattr(atomic, "_before_write", before_write)
    old = os.umask(mask)
    try:
        write_atomic(tmp_path / "key", "AGE-SECRET-KEY-1 test\n", mode=PRIVATE)
    finally:
        os.umask(old)
    assert seen == [(0o600, 0)]
    assert mode(tmp_path / "key") == 0o600


def test_keeps_the_mode_of_the_file_it_replaces_unless_told(tmp_path: Path) -> None:
    path = tmp_path / ".sops.yaml"
    path.write_text("old\n")
    path.chmod(0o640)
    write_atomic(path, "new\n")
    assert (path.read_text(), mode(path)) == ("new\n", 0o640)
    write_atomic(path, "newer\n", mode=0o600)
    assert mode(path) == 0o600


def test_a_failed_rename_leaves_the_original_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "key"
    path.write_text("original\n")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ConfigError, match=r"^cannot write .*key: No space left on device$"):
        write_atomic(path, "new\n")
    assert path.read_text() == "original\n"
    assert leftovers(tmp_path) == []


def test_a_write_failing_halfway_leaves_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "identity"
    path.write_text("original\n")
    real_write = os.write

    def half(fd: int, data: bytes | memoryview) -> int:
        if len(data) > 4:
            real_write(fd, bytes(data[:4]))
            raise OSError(5, "Input/output error")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(ConfigError, match="Input/output error"):
        write_atomic(path, "a much longer new content\n", mode=PRIVATE)
    assert path.read_text() == "original\n"
    assert leftovers(tmp_path) == []


def test_an_exception_that_is_not_an_os_error_passes_through_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f"
    path.write_text("original\n")

    def boom(fd: int, tmp: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "_before_write", boom)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, "new\n")
    assert path.read_text() == "original\n"
    assert leftovers(tmp_path) == []


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "sops.yaml"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / ".sops.yaml"
    link.symlink_to(real)
    write_atomic(link, "new\n")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert (real.read_text(), mode(real)) == ("new\n", 0o640)
    assert leftovers(real.parent) == [] and leftovers(tmp_path) == []


def test_refuses_folders_broken_links_and_loops(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(ConfigError, match=r"dir: it is a folder$"):
        write_atomic(tmp_path / "dir", "x")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing" / "file")
    with pytest.raises(
        ConfigError, match=r"dangling: it is a symlink to .*whose folder is missing"
    ):
        write_atomic(tmp_path / "dangling", "x")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ConfigError, match=r"a: it is a symlink loop$"):
        write_atomic(tmp_path / "a", "x")
    with pytest.raises(ConfigError, match=r"missing/x: No such file or directory$"):
        write_atomic(tmp_path / "missing" / "x", "x")
    assert leftovers(tmp_path) == []


def test_exclusive_never_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "k.agekey"
    write_atomic(path, "first\n", mode=PRIVATE, exclusive=True)
    with pytest.raises(ConfigError, match=r"k\.agekey: it exists already$"):
        write_atomic(path, "second\n", mode=PRIVATE, exclusive=True)
    assert path.read_text() == "first\n"
    assert leftovers(tmp_path) == []


def test_sops_config_update_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".sops.yaml"
    original = "# ours\ncreation_rules:\n- path_regex: legacy/.*\n  pgp: ABC\n"
    path.write_text(original)
    path.chmod(0o600)

    def refuse(src: object, dst: object) -> None:
        raise OSError(30, "Read-only file system")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", refuse)
        with pytest.raises(ConfigError, match=r"\.sops\.yaml: Read-only file system$"):
            update_sops_config(path, "staging", RECIPIENT)
    assert path.read_text() == original
    update_sops_config(path, "staging", RECIPIENT)
    assert mode(path) == 0o600  # the file's own mode is kept
    assert yaml.safe_load(path.read_text())["creation_rules"][-1]["pgp"] == "ABC"
    assert leftovers(tmp_path) == []
