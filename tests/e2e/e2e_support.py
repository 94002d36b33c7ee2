"""Names the e2e fixtures (conftest.py) and tests share."""

from __future__ import annotations

from dataclasses import dataclass

from gitops_e2e.gitserver import GitHttpServer
from gitops_e2e.pulumi import PulumiProject, Result

STACK = "e2e"
SECRET_VALUE = "e2e-db-password-7f3a9c"
"""Plaintext of the SOPS-encrypted Secret in the config repo: Flux must decrypt it; the Pulumi
state must never hold it."""
GIT_CREDENTIALS = ("flux", "e2e-git-token-51c0d2")
"""Basic-auth credentials of the Git server, when the stack makes the source Secret."""


@dataclass
class AgeKey:
    text: str
    """The key file (`AGE-SECRET-KEY-...` line and comments)."""
    identity: str
    recipient: str


@dataclass
class ConfigRepo:
    server: GitHttpServer
    url: str
    """What the GitRepository points at."""
    push_url: str
    """`url` with the credentials in it, for the test's own clone and push."""
    credentials: tuple[str, str] | None = None
    branch: str = "main"


@dataclass
class Deployed:
    project: PulumiProject
    up: Result
    stack: str = STACK
