"""Names the e2e fixtures (conftest.py) and tests share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from gitops_e2e.gitserver import GitHttpServer, git
from gitops_e2e.homelab import STACK, AgeKey
from gitops_e2e.pulumi import PulumiProject, Result

__all__ = [
    "GIT_CREDENTIALS",
    "RECEIVER",
    "RECEIVER_SECRET",
    "SECRET_VALUE",
    "STACK",
    "AgeKey",
    "ConfigRepo",
    "Deployed",
]

SECRET_VALUE = "e2e-db-password-7f3a9c"
"""Plaintext of the SOPS-encrypted Secret in the config repo: Flux must decrypt it; the Pulumi
state must never hold it."""
RECEIVER = "github-receiver"
RECEIVER_SECRET = "github-webhook-token"
"""The Receiver the e2e stack declares (`gitops:receiver`), and its token Secret."""
GIT_CREDENTIALS = ("e2e-git-user", "e2e-git-token-51c0d2")
"""Basic-auth credentials of the Git server, when the stack makes the source Secret. Both are
Pulumi secrets, which Pulumi masks wherever their text shows up in its output: a common word
as user name ("flux") would turn every "flux-system" in the logs into "[secret]-system"."""


@dataclass
class ConfigRepo:
    server: GitHttpServer
    url: str
    """What the GitRepository points at."""
    push_url: str
    """`url` with the credentials in it, for the test's own clone and push."""
    credentials: tuple[str, str] | None = None
    branch: str = "main"

    def head(self) -> str:
        """The branch's commit on the server."""
        return git("ls-remote", self.push_url, f"refs/heads/{self.branch}").split()[0]

    def push(
        self, work: Path, message: str, files: dict[str, str | None], resources: Sequence[str] = ()
    ) -> str:
        """Clone into `work`, write `files` (None deletes), add `resources` to
        apps/kustomization.yaml, commit and push; returns the new commit."""
        git("clone", "--quiet", "--branch", self.branch, self.push_url, str(work))
        for name, text in files.items():
            path = work / name
            if text is None:
                path.unlink()
            else:
                path.write_text(text)
        if resources:
            kustomization = work / "apps" / "kustomization.yaml"
            doc = yaml.safe_load(kustomization.read_text())
            doc["resources"].extend(resources)
            kustomization.write_text(yaml.safe_dump(doc, sort_keys=False))
        git("add", "-A", cwd=work)
        git("commit", "--quiet", "-m", message, cwd=work)
        git("push", "--quiet", "origin", self.branch, cwd=work)
        return git("rev-parse", "HEAD", cwd=work).strip()


@dataclass
class Deployed:
    project: PulumiProject
    up: Result
    stack: str = STACK
