"""A Git server over smart HTTP on loopback: real `git http-backend` (CGI) behind a small
threaded HTTP server. Serves bare repositories under one root; pushes work; optional basic auth.

Like GitHub, it calls webhooks after a push: a JSON `push` event per updated branch, signed
with the hook's secret (`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`), delivered
from a background thread; each delivery is recorded."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "e2e",
    "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
    "GIT_COMMITTER_NAME": "e2e",
    "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
}


ZERO = "0" * 40


@dataclass
class Webhook:
    """Where to send push events, and the secret they are signed with."""

    url: str
    secret: str = field(repr=False)
    events: tuple[str, ...] = ("push",)


@dataclass
class Delivery:
    """One webhook call: what was sent, and the answer (or the error)."""

    url: str
    event: str
    ref: str
    after: str
    sent_at: float
    """time.monotonic() when the request went out."""
    status: int | None = None
    error: str | None = None


def signature(secret: str, body: bytes) -> str:
    """GitHub's `X-Hub-Signature-256` value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_event(
    url: str,
    secret: str,
    event: str,
    payload: dict[str, Any],
    *,
    sign: str | None = None,
    timeout: float = 10,
) -> requests.Response:
    """POST `payload` as GitHub would: JSON, `X-GitHub-Event`, a delivery id, signed with
    `secret` (or with the signature `sign`, e.g. a wrong one)."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/e2e",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign if sign is not None else signature(secret, body),
    }
    session = requests.Session()
    session.trust_env = False  # loopback: never through a proxy
    with session:
        return session.post(url, data=body, headers=headers, timeout=timeout)


def push_payload(
    repo: str, url: str, ref: str, before: str, after: str, message: str = ""
) -> dict[str, Any]:
    """The parts of GitHub's push event a receiver reads."""
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == ZERO,
        "deleted": after == ZERO,
        "forced": False,
        "repository": {
            "name": repo,
            "full_name": f"e2e/{repo}",
            "clone_url": url,
            "default_branch": "main",
        },
        "pusher": {"name": "e2e", "email": "e2e@example.invalid"},
        "head_commit": {"id": after, "message": message} if after != ZERO else None,
    }


def git(*args: str, cwd: Path | None = None, timeout: float = 60) -> str:
    """Run git with a clean identity and no prompts; raise with its output on failure."""
    env = {**os.environ, **GIT_ENV, "HOME": os.environ.get("HOME", tempfile.gettempdir())}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


class _Handler(BaseHTTPRequestHandler):
    server: GitHttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        with self.server.log_lock, self.server.log_path.open("a") as f:
            f.write(f"{self.address_string()} {format % args}\n")

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> str | None:
        creds = self.server.credentials
        if creds is None:
            return "anonymous"
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None
            if (user, password) == creds:
                return user
        return None

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _cgi(self) -> None:
        body = self._body()
        user = self._authorized()
        if user is None:
            self._send(401, [("WWW-Authenticate", 'Basic realm="e2e"')], b"unauthorized\n")
            return
        url = urlsplit(self.path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": url.path,
            "QUERY_STRING": url.query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
            "SERVER_PROTOCOL": "HTTP/1.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
        }
        for name in ("Content-Encoding", "Git-Protocol", "Accept"):
            if value := self.headers.get(name):
                env["HTTP_" + name.upper().replace("-", "_")] = value
        repo = url.path.strip("/").split("/")[0]
        pushing = self.command == "POST" and url.path.endswith("/git-receive-pack")
        before = self.server.refs(repo) if pushing else {}
        proc = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
        )
        if proc.stderr:
            self.log_message("http-backend: %s", proc.stderr.decode(errors="replace").strip())
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        if proc.returncode != 0 and status == 200:
            status = 500
        with self.server.counter_lock:
            self.server.requests += 1
        self._send(status, headers, payload)
        if pushing and status == 200:
            self.server.pushed(repo, before, self.server.refs(repo))


class GitHttpServer(ThreadingHTTPServer):
    """Serves the bare repositories under `root` at http://127.0.0.1:<port>/<name>.git."""

    daemon_threads = True

    def __init__(
        self, root: Path, log_path: Path, credentials: tuple[str, str] | None = None
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.log_path = log_path
        self.credentials = credentials
        self.log_lock = threading.Lock()
        self.counter_lock = threading.Lock()
        self.requests = 0
        self.webhooks: list[Webhook] = []
        self.deliveries: list[Delivery] = []
        self._paused = 0
        self._thread = threading.Thread(target=self.serve_forever, name="git-http", daemon=True)

    # --- webhooks ------------------------------------------------------------------------
    def add_webhook(self, url: str, secret: str) -> Webhook:
        """Call `url` with a signed push event after every push, as GitHub does."""
        hook = Webhook(url, secret)
        self.webhooks.append(hook)
        return hook

    @contextlib.contextmanager
    def webhooks_paused(self) -> Iterator[None]:
        """Pushes inside the block call no webhook (as if GitHub's delivery were lost)."""
        with self.counter_lock:
            self._paused += 1
        try:
            yield
        finally:
            with self.counter_lock:
                self._paused -= 1

    def refs(self, repo: str) -> dict[str, str]:
        """ref -> commit of the bare repository `repo` (e.g. `fleet.git`)."""
        bare = self.root / repo
        if not bare.is_dir():
            return {}
        out = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=bare)
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def pushed(self, repo: str, before: dict[str, str], after: dict[str, str]) -> None:
        with self.counter_lock:
            paused = self._paused > 0
        if paused or not self.webhooks:
            return
        name = repo.removesuffix(".git")
        for ref in sorted(set(before) | set(after)):
            old, new = before.get(ref, ZERO), after.get(ref, ZERO)
            if old == new or not ref.startswith("refs/heads/"):
                continue
            payload = push_payload(name, f"{self.url}/{repo}", ref, old, new)
            for hook in self.webhooks:
                delivery = Delivery(hook.url, "push", ref, new, time.monotonic())
                self.deliveries.append(delivery)
                threading.Thread(
                    target=self._deliver, args=(hook, payload, delivery), daemon=True
                ).start()

    def _deliver(self, hook: Webhook, payload: dict[str, Any], delivery: Delivery) -> None:
        try:
            delivery.status = send_event(hook.url, hook.secret, "push", payload).status_code
        except requests.RequestException as err:
            delivery.error = repr(err)
        self.log_message_line(
            f"webhook push {delivery.ref}@{delivery.after[:12]} -> {hook.url}: "
            f"{delivery.status or delivery.error}"
        )

    def log_message_line(self, line: str) -> None:
        with self.log_lock, self.log_path.open("a") as f:
            f.write(line + "\n")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> GitHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)

    def create_repo(self, name: str, seed: Path | None = None, branch: str = "main") -> str:
        """A bare repository `<name>.git`, its first commit on `branch` made from the files
        under `seed`; returns its URL."""
        bare = self.root / f"{name}.git"
        git("init", "--bare", "--quiet", f"--initial-branch={branch}", str(bare))
        git("config", "http.receivepack", "true", cwd=bare)
        if seed is not None:
            with tempfile.TemporaryDirectory(prefix="e2e-seed-") as tmp:
                work = Path(tmp) / "work"
                shutil.copytree(seed, work)
                git("init", "--quiet", f"--initial-branch={branch}", cwd=work)
                git("add", "-A", cwd=work)
                git("commit", "--quiet", "-m", "seed", cwd=work)
                git("push", "--quiet", str(bare), f"HEAD:refs/heads/{branch}", cwd=work)
        return f"{self.url}/{name}.git"


def start_git_server(work: Path, credentials: tuple[str, str] | None = None) -> GitHttpServer:
    root = work / "git"
    root.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    return GitHttpServer(root, work / "logs" / "git-http.log", credentials).start()
