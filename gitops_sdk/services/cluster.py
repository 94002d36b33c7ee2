"""A live cluster's Flux objects through lightkube: the kubeconfig found as the flux CLI finds
it (`--kubeconfig`, else KUBECONFIG's files merged, else ~/.kube/config; `--context`, else the
current context), and every client error as a one-line `ClusterError` naming the cluster, the
context or the object. Status rows are read by `services.flux_status`. No Pulumi here.

```python
cluster = Cluster.connect(kubeconfig=None, context=None)      # KUBECONFIG / ~/.kube/config
obj = cluster.get(flux_kind("ks"), "apps", "flux-system")
```
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.services.flux_status import ClusterError, FluxKind

__all__ = [
    "FIELD_MANAGER",
    "Cluster",
    "ClusterError",
    "Watched",
    "kubeconfig_paths",
    "merge_kubeconfigs",
]

FIELD_MANAGER = "gitops-cli"
"""The field manager of what the day-2 commands change (annotations, spec.suspend)."""

# --- the kubeconfig, as the flux CLI finds it ---------------------------------------------------

_PATH_KEYS = ("certificate-authority", "client-certificate", "client-key", "tokenFile")


def kubeconfig_paths(flag: str | None, env: Mapping[str, str] | None = None) -> list[Path]:
    """`--kubeconfig`, else the files of KUBECONFIG (`:`-separated), else ~/.kube/config."""
    env = os.environ if env is None else env
    if flag:
        return [Path(flag).expanduser()]
    if env.get("KUBECONFIG"):
        return [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _read_kubeconfig(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ClusterError(f"kubeconfig {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ClusterError(f"kubeconfig {path}: not YAML ({' '.join(str(err).split())})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ClusterError(f"kubeconfig {path}: not a mapping (expected a kind: Config document)")
    # Files named in it are relative to it: resolve them before merging files.
    for section, key in (("clusters", "cluster"), ("users", "user")):
        for entry in doc.get(section) or []:
            body = entry.get(key) if isinstance(entry, dict) else None
            if not isinstance(body, dict):
                continue
            for name in _PATH_KEYS:
                if isinstance(body.get(name), str) and not Path(body[name]).is_absolute():
                    body[name] = str(path.parent / body[name])
    return doc


def merge_kubeconfigs(paths: Sequence[Path]) -> dict[str, Any]:
    """Files merged as client-go merges KUBECONFIG: the first file naming a cluster, user or
    context (or setting current-context) wins; missing files are skipped, unless all are."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    existing = [p for p in paths if p.is_file()]
    if not existing:
        shown = ", ".join(str(p) for p in paths)
        raise ClusterError(
            f"no kubeconfig: {shown} not found (set KUBECONFIG or pass --kubeconfig)"
        )
    for path in existing:
        doc = _read_kubeconfig(path)
        for section in ("clusters", "users", "contexts"):
            names = {e.get("name") for e in merged[section]}
            for entry in doc.get(section) or []:
                if isinstance(entry, dict) and entry.get("name") not in names:
                    merged[section].append(entry)
        if doc.get("current-context") and not merged.get("current-context"):
            merged["current-context"] = doc["current-context"]
    return merged


def _select(doc: dict[str, Any], context: str | None, where: str) -> Any:
    from lightkube import KubeConfig
    from lightkube.core.exceptions import ConfigError

    contexts = [str(c.get("name")) for c in doc["contexts"]]
    name = context or doc.get("current-context")
    if not name:
        raise ClusterError(f"kubeconfig {where}: no current-context set; pass --context")
    if name not in contexts:
        raise ClusterError(
            f"kubeconfig {where}: no context {name!r} (contexts: {', '.join(contexts) or 'none'})"
        )
    try:
        return KubeConfig.from_dict(doc).get(name)
    except (ConfigError, KeyError, TypeError, ValueError) as err:
        raise ClusterError(f"kubeconfig {where}: context {name!r}: {err}") from None


# --- the client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """A watch event: the object now (None when deleted)."""

    kind: FluxKind
    namespace: str
    name: str
    obj: dict[str, Any] | None


class Cluster:
    """A lightkube client of the context a kubeconfig selects; every error is a ClusterError."""

    def __init__(self, client: Any, server: str, context: str) -> None:
        self.client = client
        self.server = server
        self.context = context

    @classmethod
    def connect(
        cls, kubeconfig: str | None = None, context: str | None = None, timeout: float = 10
    ) -> Cluster:
        import httpx2
        from lightkube import Client

        paths = kubeconfig_paths(kubeconfig)
        where = os.pathsep.join(str(p) for p in paths)
        config = _select(merge_kubeconfigs(paths), context, where)
        try:
            client = Client(config, timeout=httpx2.Timeout(timeout), field_manager=FIELD_MANAGER)
        except Exception as err:  # lightkube reads certificates and tokens here
            raise ClusterError(
                f"kubeconfig {where}: context {config.context_name}: {err}"
            ) from None
        return cls(client, str(config.cluster.server), str(config.context_name))

    def close(self) -> None:
        self.client.close()

    def _resource(self, kind: FluxKind) -> Any:
        from lightkube.generic_resource import create_namespaced_resource

        return create_namespaced_resource(kind.group, kind.version, kind.kind, kind.plural)

    def _error(self, err: Exception, what: str) -> ClusterError:
        from lightkube import ApiError

        if isinstance(err, ApiError):
            message = " ".join(str(err.status.message or err).split())
            if err.status.code == 404 and "could not find the requested resource" in message:
                return ClusterError(f"{what}: the cluster does not serve this kind (Flux CRDs?)")
            return ClusterError(f"{what}: {message} (HTTP {err.status.code})")
        detail = " ".join(str(err).split()) or type(err).__name__
        return ClusterError(
            f"cannot reach the cluster at {self.server} (context {self.context}): {detail}"
        )

    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        import httpx2

        try:
            return fn(*args, **kw)
        except (httpx2.HTTPError, OSError) as err:
            raise self._error(err, what) from None

    def get(self, kind: FluxKind, name: str, namespace: str) -> dict[str, Any] | None:
        """The object, or None when the cluster has no such object."""
        from lightkube import ApiError

        what = f"{kind.kind} {namespace}/{name}"
        try:
            obj = self.client.get(self._resource(kind), name, namespace=namespace)
        except ApiError as err:
            if err.status.code == 404 and "could not find the requested" not in str(err):
                return None
            raise self._error(err, what) from None
        except Exception as err:
            raise self._error(err, what) from None
        return dict(obj.to_dict())

    def require(self, kind: FluxKind, name: str, namespace: str) -> dict[str, Any]:
        obj = self.get(kind, name, namespace)
        if obj is None:
            raise ClusterError(
                f"{kind.kind} {namespace}/{name} not found on the cluster (context {self.context})"
            )
        return obj

    def merge_patch(
        self, kind: FluxKind, name: str, namespace: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        from lightkube.types import PatchType

        what = f"{kind.kind} {namespace}/{name}"
        obj = self._call(
            what,
            self.client.patch,
            self._resource(kind),
            name,
            dict(patch),
            namespace=namespace,
            patch_type=PatchType.MERGE,
        )
        return dict(obj.to_dict())

    def watch(
        self, targets: Iterable[tuple[FluxKind, str, str]], deadline: float
    ) -> Iterator[Watched]:
        """Events of the `targets` (kind, namespace, name) until `deadline` (time.monotonic):
        first each one's current state, then every change. One watch per kind and namespace,
        each in a daemon thread; the iterator ends at the deadline."""
        wanted = {(k.kind, ns, n): k for k, ns, n in targets}
        events: queue.Queue[Watched | ClusterError] = queue.Queue()
        stop = threading.Event()
        groups = {(k, ns) for (_, ns, _), k in wanted.items()}

        def follow(kind: FluxKind, namespace: str) -> None:
            from lightkube.types import on_error_retry

            try:
                stream = self.client.watch(
                    self._resource(kind), namespace=namespace, on_error=_retry(on_error_retry)
                )
                for event, obj in stream:
                    if stop.is_set():
                        return
                    doc = dict(obj.to_dict())
                    name = str((doc.get("metadata") or {}).get("name"))
                    if (kind.kind, namespace, name) in wanted:
                        live = None if event == "DELETED" else doc
                        events.put(Watched(kind, namespace, name, live))
            except Exception as err:
                if not stop.is_set():
                    events.put(self._error(err, f"watch {kind.plural} in {namespace}"))

        threads = [
            threading.Thread(target=follow, args=g, daemon=True, name=f"watch-{g[0].plural}")
            for g in sorted(groups, key=lambda g: (g[0].kind, g[1]))
        ]
        for thread in threads:
            thread.start()
        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    item = events.get(timeout=min(left, 1.0))
                except queue.Empty:
                    continue
                if isinstance(item, ClusterError):
                    raise item
                yield item
        finally:
            stop.set()


def _retry(inner: Any) -> Any:
    """Retry a dropped watch (the server ends each after a while) a few times in a row, with a
    pause; then give up with the error (e.g. the cluster went away)."""
    from lightkube.types import OnErrorAction, OnErrorResult

    def handle(err: Exception, count: int) -> Any:
        if count > 5:
            return OnErrorResult(OnErrorAction.RAISE)
        result = inner(err, count)
        return OnErrorResult(result.action, sleep=1.0)

    return handle
