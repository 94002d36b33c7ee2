"""A local stand-in for the GitHub REST API that PyGithub talks to, shared by the GitHub tests.

`FakeGithub` serves the endpoints PyGithub calls (with state: repositories, keys, hooks) on
pytest-httpserver. Retries and PyGithub's pacing are off (`FAST`), so every test is quick.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from gitops_sdk.services.github import ClientOptions

TOKEN = "ghp_standin_token_0123456789"
FAST = ClientOptions(retries=0, timeout=5, throttle=False)


@dataclass
class FakeRepo:
    owner: str
    name: str
    admin: bool = True
    private: bool = True
    keys: dict[int, dict[str, Any]] = field(default_factory=dict)
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)


class FakeGithub:
    """The GitHub REST endpoints PyGithub calls, with state, under an optional path prefix."""

    def __init__(self, server: HTTPServer, prefix: str = "", user: str = "octocat") -> None:
        self.server = server
        self.prefix = prefix
        self.base_url = server.url_for(prefix).rstrip("/")
        self.user = user
        self.orgs: set[str] = {"acme"}
        self.repos: dict[str, FakeRepo] = {}
        self.next_id = 100
        # (method, path regex) -> (status, body, headers): answer this instead, once per call.
        self.failures: dict[tuple[str, str], tuple[int, dict[str, Any], dict[str, str]]] = {}
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    # -- state helpers

    def add_repo(self, full: str, **kwargs: Any) -> FakeRepo:
        owner, name = full.split("/")
        repo = FakeRepo(owner, name, **kwargs)
        self.repos[full] = repo
        return repo

    def add_key(self, full: str, title: str, key: str, read_only: bool = True) -> int:
        kid = self._id()
        self.repos[full].keys[kid] = {"title": title, "key": key, "read_only": read_only}
        return kid

    def add_hook(self, full: str, url: str, events: list[str] | None = None) -> int:
        hid = self._id()
        self.repos[full].hooks[hid] = {
            "config": {"url": url, "content_type": "json", "insecure_ssl": "0"},
            "events": events or ["push"],
            "active": True,
        }
        return hid

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.failures[(method, path)] = (status, {"message": message}, headers or {})

    def calls(self) -> list[tuple[str, str, Any]]:
        """(method, path below the prefix, JSON body or None) of every request, in order."""
        out = []
        for request, _ in self.server.log:
            body = json.loads(request.data) if request.data else None
            out.append((request.method, request.path[len(self.prefix) :], body))
        return out

    def auth_headers(self) -> set[str | None]:
        return {request.headers.get("Authorization") for request, _ in self.server.log}

    # -- JSON documents

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        full = f"{repo.owner}/{repo.name}"
        return {
            "id": 1,
            "name": repo.name,
            "full_name": full,
            "private": repo.private,
            "owner": {"login": repo.owner},
            "url": f"{self.base_url}/repos/{full}",
            "permissions": {"admin": repo.admin, "push": True, "pull": True},
        }

    def _key_json(self, repo: FakeRepo, kid: int) -> dict[str, Any]:
        key = repo.keys[kid]
        url = f"{self.base_url}/repos/{repo.owner}/{repo.name}/keys/{kid}"
        return {"id": kid, "url": url, "verified": True, **key}

    def _hook_json(self, repo: FakeRepo, hid: int) -> dict[str, Any]:
        hook = repo.hooks[hid]
        config = {**hook["config"]}
        if "secret" in config:
            config["secret"] = "********"  # GitHub never returns it
        url = f"{self.base_url}/repos/{repo.owner}/{repo.name}/hooks/{hid}"
        return {
            "id": hid,
            "url": url,
            "name": "web",
            "type": "Repository",
            **hook,
            "config": config,
        }

    # -- the server

    def handle(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"token {TOKEN}":
            return _json(401, {"message": "Bad credentials"})
        path = request.path[len(self.prefix) :]
        for (method, pattern), (status, body, headers) in self.failures.items():
            if method == request.method and re.fullmatch(pattern, path):
                return _json(status, body, headers)
        body = json.loads(request.data) if request.data else {}
        return self.route(request.method, path, body)

    def route(self, method: str, path: str, body: dict[str, Any]) -> Response:
        if method == "GET" and path == "/user":
            return _json(200, {"login": self.user, "url": f"{self.base_url}/users/{self.user}"})
        if method == "POST" and path == "/user/repos":
            return self._create_repo(self.user, body)
        if m := re.fullmatch(r"/orgs/([^/]+)/repos", path):
            if m[1] not in self.orgs:
                return _json(404, {"message": "Not Found"})
            return self._create_repo(m[1], body)
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/(keys|hooks)(/(\d+))?)?", path)
        if not m or f"{m[1]}/{m[2]}" not in self.repos:
            return _json(404, {"message": "Not Found"})
        repo = self.repos[f"{m[1]}/{m[2]}"]
        kind, item = m[4], int(m[6]) if m[6] else None
        if kind is None and method == "GET":
            return _json(200, self._repo_json(repo))
        store = repo.keys if kind == "keys" else repo.hooks
        render = self._key_json if kind == "keys" else self._hook_json
        if item is None:
            if method == "GET":
                return _json(200, [render(repo, i) for i in store])
            if method == "POST":
                new = self._id()
                if kind == "keys":
                    if any(k["key"] == body["key"] for k in store.values()):
                        return _json(422, {"message": "Validation Failed: key is already in use"})
                    store[new] = {k: body[k] for k in ("title", "key", "read_only")}
                else:
                    store[new] = {k: body[k] for k in ("config", "events", "active")}
                return _json(201, render(repo, new))
        elif item in store:
            if method == "GET":
                return _json(200, render(repo, item))
            if method == "DELETE":
                del store[item]
                return Response(status=204)
            if method == "PATCH":
                store[item].update({k: body[k] for k in ("config", "events", "active")})
                return _json(200, render(repo, item))
        return _json(404, {"message": "Not Found"})

    def _create_repo(self, owner: str, body: dict[str, Any]) -> Response:
        full = f"{owner}/{body['name']}"
        if full in self.repos:
            return _json(422, {"message": "Repository creation failed."})
        repo = self.add_repo(full, private=body.get("private", False))
        return _json(201, self._repo_json(repo))


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, mimetype="application/json")
