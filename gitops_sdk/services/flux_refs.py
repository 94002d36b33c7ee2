"""Two parts of `gitops import` that look beyond single objects: the references of the objects
a stack takes over that point outside it (they become `gitops:flux.external`), and the
`gitops:repository` entry for the cluster's GitRepository."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gitops_sdk.api.kinds import from_manifest
from gitops_sdk.core.errors import ConfigError
from gitops_sdk.core.refs import refs_with_paths
from gitops_sdk.core.substitution import has_placeholder
from gitops_sdk.services.flux_walk import Key, Walk

__all__ = ["dangling", "repository_config"]

# The references the stack's graph check resolves: Secrets and ConfigMaps only where values or
# substitutions are read from them (auth Secrets are made out of band).
_DATA_REFS = re.compile(r"\.(valuesFrom|substituteFrom)\[")


def dangling(
    docs: Sequence[Mapping[str, Any]], declared: set[Key], default_ns: str
) -> Iterator[tuple[Key, str]]:
    """(target, referrer) of each reference of `docs` to an object not in `declared`."""
    for doc in docs:
        model = from_manifest(doc)
        own = model.metadata.namespace or default_ns
        for path, ref in refs_with_paths(model):
            kind = getattr(ref, "kind", None)
            if not isinstance(kind, str):
                kinds = type(ref).expected_kinds
                kind = kinds[0] if len(kinds) == 1 else None
            name = getattr(ref, "name", None)
            if kind is None or not isinstance(name, str) or name == "*":
                continue
            if getattr(ref, "optional", False):
                continue
            if kind in ("Secret", "ConfigMap") and not _DATA_REFS.search(path):
                continue
            key = (kind, getattr(ref, "namespace", None) or own, name)
            if key not in declared and not any(has_placeholder(p) for p in key):
                yield key, f"{model.kind} {own}/{model.name} ({path})"


def _git_remote(root: Any) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    url = out.stdout.strip()
    if m := re.fullmatch(r"([\w.-]+)@([\w.-]+):(.+)", url):  # scp-like: git@host:org/repo
        url = f"ssh://{m.group(1)}@{m.group(2)}/{m.group(3)}"
    return url if url.startswith(("https://", "ssh://")) else None


def repository_config(walk: Walk, repo_url: str | None, report: list[str]) -> dict[str, Any]:
    """`gitops:repository` for the cluster's GitRepository; what it cannot keep is reported."""
    ns, name = walk.repo_ref
    if walk.repository is None:
        url = repo_url or _git_remote(walk.root)
        if url is None:
            raise ConfigError(
                f"{walk.entry}: no GitRepository {ns}/{name} in the entry folder (bootstrap's "
                "gotk-sync.yaml) and no git remote, so the repository URL is unknown; pass "
                "--repo-url"
            )
        report.append(
            f"note     no GitRepository {ns}/{name} in {walk.entry}: gitops:repository uses "
            f"{url}, branch main; check both"
        )
        return {"name": name, "url": url, "branch": "main"}
    spec = dict(walk.repository.doc.get("spec") or {})
    out: dict[str, Any] = {"name": name, "url": repo_url or spec.pop("url", None)}
    ref = dict(spec.pop("ref", None) or {})
    out["branch"] = ref.pop("branch", "main")
    if "interval" in spec:
        out["interval"] = spec.pop("interval")
    secret = spec.pop("secretRef", None)
    out["secretName"] = secret.get("name") if isinstance(secret, dict) else None
    dropped = [f"ref.{k}" for k in ref] + sorted(spec)
    if dropped:
        report.append(
            f"reshaped GitRepository {ns}/{name}: gitops:repository keeps url, branch, interval "
            f"and secretRef; not kept: {', '.join(dropped)}"
        )
    return out
