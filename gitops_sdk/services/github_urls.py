"""Where things are on GitHub: repository URLs, the REST API URL of a host (github.com or
GitHub Enterprise Server), and the path notification-controller serves a Receiver at."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

__all__ = [
    "GITHUB_API_URL",
    "NOT_A_REPO_URL",
    "api_url_for_host",
    "git_host",
    "parse_repository_url",
    "ssh_url",
    "webhook_path",
]

GITHUB_API_URL = "https://api.github.com"
"""The REST API of github.com; GitHub Enterprise Server serves it at `https://<host>/api/v3`."""

_REPO_PATH = re.compile(r"^/?(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(\.git)?/?$")
NOT_A_REPO_URL = "is not a repository URL (expected e.g. 'ssh://git@github.com/owner/repo')"
"""The problem `parse_repository_url` reports, for callers that name the field themselves."""


def parse_repository_url(url: str) -> tuple[str, str, str]:
    """(host, owner, repository) of `ssh://git@github.com/o/r(.git)` or `https://github.com/o/r`."""
    parts = urlsplit(url)
    m = _REPO_PATH.match(parts.path)
    if parts.scheme not in ("ssh", "https", "http") or not parts.hostname or not m:
        raise ValueError(f"{url!r} {NOT_A_REPO_URL}")
    return parts.hostname, m["owner"], m["repo"]


def ssh_url(owner: str, repository: str, host: str = "github.com") -> str:
    """The `ssh://git@<host>/<owner>/<repository>` URL Flux pulls with a deploy key."""
    return f"ssh://git@{host}/{owner}/{repository}"


def api_url_for_host(host: str) -> str:
    """The REST API of a GitHub host: `api.github.com`, or `https://<host>/api/v3` (Enterprise)."""
    return GITHUB_API_URL if host == "github.com" else f"https://{host}/api/v3"


def git_host(base_url: str) -> str:
    """The git (SSH) host of an API URL: `github.com` for api.github.com, else the URL's host."""
    host = urlsplit(base_url).hostname or ""
    return "github.com" if host == "api.github.com" else host


def webhook_path(token: str, name: str, namespace: str) -> str:
    """The path notification-controller serves a Receiver at: `/hook/` + sha256(token+name+ns)."""
    digest = hashlib.sha256((token + name + namespace).encode()).hexdigest()
    return f"/hook/{digest}"
