"""Processes of the local control plane: started with their output in a log file, stopped with
bounded timeouts (SIGTERM, then SIGKILL of the whole process group)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

BIN = Path(__file__).resolve().parent.parent / "bin"
"""Where e2e/build.sh puts the toolchain."""


class HarnessError(RuntimeError):
    """Something of the local control plane did not come up (the message says what, and where
    its log is)."""


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, and not handed out before by this
    process (the kernel may offer a port again once its probe socket is closed)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def tail(path: Path, lines: int = 40, width: int = 500) -> str:
    """The last `lines` lines of a log file, each cut at `width` characters (or a note that the
    file is missing)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not found)"
    return "\n".join(
        line if len(line) <= width else line[:width] + " [...]"
        for line in text.splitlines()[-lines:]
    )


def wait_until(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.25,
    on_timeout: Callable[[], str] | None = None,
) -> T:
    """Call `check` until it returns something truthy; raise HarnessError naming `what` after
    `timeout` seconds. Exceptions from `check` count as not-yet (the last one is reported),
    except a HarnessError (a process died): that one ends the wait at once."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
        except HarnessError:
            raise
        except Exception as err:
            last = err
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            detail = f" (last error: {last!r})" if last is not None else ""
            extra = f"\n{on_timeout()}" if on_timeout else ""
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}{detail}{extra}")
        time.sleep(interval)


class Proc:
    """One child process, its output in `log`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        clean_env: bool = False,
    ) -> None:
        """`env` is added to this process's environment, or is the whole of it with
        `clean_env`."""
        self.name = name
        self.argv = list(argv)
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._logf = log.open("ab")
        self._logf.write(f"$ {' '.join(self.argv)}\n".encode())
        self._logf.flush()
        self.popen = subprocess.Popen(
            self.argv,
            stdout=self._logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env or {}) if clean_env else {**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # own process group: stop() takes its children too
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        """Raise HarnessError with the log tail when the process has exited."""
        if not self.alive():
            raise HarnessError(
                f"{self.name} exited with {self.popen.returncode}; log {self.log}:\n"
                + tail(self.log)
            )

    def describe(self, lines: int = 15) -> str:
        state = "running" if self.alive() else f"exited {self.popen.returncode}"
        return f"{self.name} ({state}), log {self.log}:\n{tail(self.log, lines)}"

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the process group, SIGKILL it after `timeout` seconds."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        else:
            # the leader is gone; make sure nothing it started lingers
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self._logf.close()


def missing_binaries(names: Sequence[str], bin_dir: Path = BIN) -> list[str]:
    """Which of `names` are not executables in `bin_dir`."""
    return [n for n in names if not os.access(bin_dir / n, os.X_OK)]
