"""A tiny HTTP server on 127.0.0.1 that takes what notification-controller posts (a `generic`
Provider's JSON events) and keeps it, for tests to wait on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .procs import wait_until


class _Handler(BaseHTTPRequestHandler):
    server: EventSink
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # the events themselves are the record

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            event: Any = json.loads(body)
        except ValueError:
            event = {"unparsed": body.decode(errors="replace")}
        self.server.record(self.path, dict(self.headers), event)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


class EventSink(ThreadingHTTPServer):
    """Records every POST: (path, headers, JSON body, time.monotonic())."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, name="sink", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def record(self, path: str, headers: dict[str, str], body: Any) -> None:
        with self._lock:
            self.events.append(
                {"path": path, "headers": headers, "body": body, "at": time.monotonic()}
            )

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)

    def wait_for(
        self, what: str, match: Callable[[dict[str, Any]], bool], timeout: float = 120
    ) -> dict[str, Any]:
        """The first event body `match` accepts, waiting up to `timeout` seconds."""
        return wait_until(
            what,
            lambda: next((e["body"] for e in self.received() if match(e["body"])), None),
            timeout=timeout,
            interval=0.5,
            on_timeout=lambda: (
                f"{len(self.received())} events received: "
                + "; ".join(json.dumps(e["body"])[:300] for e in self.received()[-5:])
            ),
        )

    def start(self) -> EventSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)


__all__ = ["EventSink"]
