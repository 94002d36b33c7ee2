"""A small Kubernetes REST client over `requests`, authenticating with the admin client
certificate: enough to read Flux objects' conditions, delete an object, and emulate the two
controllers of kube-controller-manager that deletions need (see `Janitor`)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .certs import Pki

CORE = {
    "Namespace": ("v1", "namespaces", False),
    "ConfigMap": ("v1", "configmaps", True),
    "Secret": ("v1", "secrets", True),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "Service": ("v1", "services", True),
}
"""Kinds the tests name, as (apiVersion, plural, namespaced)."""


class KubeError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Resource:
    api_version: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    def base(self) -> str:
        return ("/api/" if "/" not in self.api_version else "/apis/") + self.api_version


class Kube:
    """The API server at `server`, as `system:masters`."""

    def __init__(self, server: str, pki: Pki, *, timeout: float = 15) -> None:
        self.server = server.rstrip("/")
        self.pki = pki
        self.timeout = timeout
        self.session = requests.Session()
        # Not the environment's CA bundle or proxies: this server, this CA, loopback.
        self.session.trust_env = False
        self.session.verify = str(pki.ca_cert)
        self.session.cert = (str(pki.admin_cert), str(pki.admin_key))
        self._kinds: dict[str, Resource] = {}
        self._lock = threading.Lock()

    # --- raw requests ----------------------------------------------------------------------
    def request(self, method: str, path: str, **kw: Any) -> Any:
        kw.setdefault("timeout", self.timeout)
        resp = self.session.request(method, self.server + path, **kw)
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message", resp.text)
            except ValueError:
                message = resp.text
            raise KubeError(resp.status_code, f"{method} {path}: {message}")
        if not resp.content:
            return None
        ctype = resp.headers.get("content-type", "")
        return resp.json() if "json" in ctype else resp.text

    def write_kubeconfig(self, path: Path, *, token: str) -> Path:
        """A kubeconfig (mode 0600) for this server that authenticates with a bearer token."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "e2e",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.pki.ca_cert),
                    },
                }
            ],
            "users": [{"name": "token", "user": {"token": token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "token"}}],
            "current-context": "e2e",
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(doc))
        return path

    def ready(self) -> bool:
        return bool(self.request("GET", "/readyz") == "ok")

    # --- discovery -------------------------------------------------------------------------
    def resources(self) -> list[Resource]:
        """Every top-level resource the server serves, once per kind and group: at the group's
        preferred version, or the first version serving it (Flux's Alert and Provider are only
        at v1beta3 of a group whose preferred version is v1)."""
        found: list[Resource] = []
        seen: set[tuple[str, str]] = set()
        versions = ["v1"] if self.request("GET", "/api") else []
        groups = self.request("GET", "/apis")["groups"]
        paths = [f"/api/{v}" for v in versions]
        for g in groups:
            preferred = g["preferredVersion"]["groupVersion"]
            others = [v["groupVersion"] for v in g["versions"] if v["groupVersion"] != preferred]
            paths += [f"/apis/{gv}" for gv in [preferred, *others]]
        for path in paths:
            try:
                doc = self.request("GET", path)
            except KubeError:
                continue  # e.g. a CRD group being removed
            group = doc["groupVersion"].rpartition("/")[0]
            for r in doc.get("resources", []):
                if "/" in r["name"] or (group, r["kind"]) in seen:
                    continue
                seen.add((group, r["kind"]))
                res = Resource(
                    doc["groupVersion"], r["name"], bool(r["namespaced"]), frozenset(r["verbs"])
                )
                found.append(res)
                with self._lock:
                    self._kinds[r["kind"]] = res
        return found

    def kind(self, kind: str) -> Resource:
        with self._lock:
            res = self._kinds.get(kind)
        if res is None:
            self.resources()
            with self._lock:
                res = self._kinds.get(kind)
        if res is None:
            raise KeyError(f"the API server serves no kind {kind!r}")
        return res

    def path(self, kind: str, namespace: str | None = None, name: str | None = None) -> str:
        res = self.kind(kind)
        path = res.base()
        if res.namespaced and namespace:
            path += f"/namespaces/{namespace}"
        path += f"/{res.plural}"
        return path + (f"/{name}" if name else "")

    # --- objects ---------------------------------------------------------------------------
    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when it does not exist (or its kind is not served)."""
        try:
            return dict(self.request("GET", self.path(kind, namespace, name)))
        except KubeError as err:
            if err.status == 404:
                return None
            raise
        except KeyError:
            return None

    def list(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        try:
            return list(self.request("GET", self.path(kind, namespace))["items"])
        except KeyError:
            return []

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        try:
            self.request(
                "DELETE",
                self.path(kind, namespace, name),
                json={"propagationPolicy": "Background"},
            )
        except KubeError as err:
            if err.status != 404:
                raise

    def apply(self, doc: dict[str, Any], manager: str = "e2e") -> dict[str, Any]:
        """Server-side apply `doc` (created or updated, conflicts forced)."""
        meta = doc["metadata"]
        res = self.kind(doc["kind"])
        path = res.base()
        if res.namespaced:
            path += f"/namespaces/{meta.get('namespace', 'default')}"
        path += f"/{res.plural}/{meta['name']}"
        return dict(
            self.request(
                "PATCH",
                path,
                params={"fieldManager": manager, "force": "true"},
                json=doc,
                headers={"Content-Type": "application/apply-patch+yaml"},
            )
        )

    def merge_patch(
        self, kind: str, name: str, namespace: str | None, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return dict(
            self.request(
                "PATCH",
                self.path(kind, namespace, name),
                json=patch,
                headers={"Content-Type": "application/merge-patch+json"},
            )
        )


def condition(obj: dict[str, Any] | None, type_: str = "Ready") -> dict[str, Any] | None:
    """The status condition `type_` of `obj`, if any."""
    if not obj:
        return None
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def is_ready(obj: dict[str, Any] | None) -> bool:
    """Ready=True for the object's current generation."""
    cond = condition(obj)
    if not obj or not cond or cond.get("status") != "True":
        return False
    observed = obj.get("status", {}).get("observedGeneration")
    return observed is None or observed >= obj["metadata"].get("generation", 0)


class Janitor:
    """What kube-controller-manager would do for deletions, which this control plane lacks:

    - the garbage collector's part of foreground deletion: objects deleted with
      `propagationPolicy: Foreground` (pulumi-kubernetes' default) carry the `foregroundDeletion`
      finalizer until their dependents are gone. No controller here makes dependents (no
      ReplicaSets, no pods), so the finalizer is dropped once the object has no owner-referencing
      dependents we know of;
    - the namespace controller: a terminating namespace has its content deleted, then its
      `kubernetes` finalizer removed;
    - the resource quota controller's bookkeeping: a ResourceQuota gets `status.hard` (its
      `spec.hard`) and `status.used` (zero: no pods run here), which pulumi-kubernetes waits for
      before it counts the quota as created.

    Runs in a daemon thread, polling every `interval` seconds."""

    def __init__(self, kube: Kube, interval: float = 1.0) -> None:
        self.kube = kube
        self.interval = interval
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="janitor", daemon=True)
        self._resources: list[Resource] = []
        self._refreshed = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _listable(self) -> list[Resource]:
        if time.monotonic() - self._refreshed > 5:
            self._resources = [r for r in self.kube.resources() if {"list", "patch"} <= r.verbs]
            self._refreshed = time.monotonic()
        return self._resources

    def _terminating(self) -> Iterator[tuple[Resource, dict[str, Any]]]:
        for res in self._listable():
            try:
                items = self.kube.request("GET", f"{res.base()}/{res.plural}")["items"]
            except KubeError:
                continue
            for obj in items:
                if obj["metadata"].get("deletionTimestamp"):
                    yield res, obj

    def _quotas(self) -> None:
        for quota in self.kube.request("GET", "/api/v1/resourcequotas")["items"]:
            hard = quota.get("spec", {}).get("hard") or {}
            if quota.get("status", {}).get("hard") == hard:
                continue
            meta = quota["metadata"]
            body = {**quota, "status": {"hard": hard, "used": dict.fromkeys(hard, "0")}}
            try:
                self.kube.request(
                    "PUT",
                    f"/api/v1/namespaces/{meta['namespace']}/resourcequotas/{meta['name']}/status",
                    json=body,
                )
            except KubeError as err:
                if err.status not in (404, 409):
                    self.errors.append(str(err))

    def sweep(self) -> None:
        self._quotas()
        for res, obj in list(self._terminating()):
            meta = obj["metadata"]
            path = res.base()
            if res.namespaced:
                path += f"/namespaces/{meta['namespace']}"
            path += f"/{res.plural}/{meta['name']}"
            if res.plural == "namespaces" and res.api_version == "v1":
                self._finalize_namespace(meta["name"], obj)
            finalizers = meta.get("finalizers") or []
            if "foregroundDeletion" in finalizers:
                keep = [f for f in finalizers if f != "foregroundDeletion"]
                try:
                    self.kube.request(
                        "PATCH",
                        path,
                        json=[
                            {
                                "op": "test",
                                "path": "/metadata/resourceVersion",
                                "value": meta["resourceVersion"],
                            },
                            {"op": "replace", "path": "/metadata/finalizers", "value": keep},
                        ],
                        headers={"Content-Type": "application/json-patch+json"},
                    )
                except KubeError as err:
                    if err.status not in (404, 409, 422):
                        self.errors.append(str(err))

    def _finalize_namespace(self, name: str, obj: dict[str, Any]) -> None:
        for res in self._listable():
            if res.namespaced and "deletecollection" in res.verbs:
                with contextlib.suppress(KubeError):
                    self.kube.request(
                        "DELETE",
                        f"{res.base()}/namespaces/{name}/{res.plural}",
                        json={"propagationPolicy": "Background"},
                    )
        if obj.get("spec", {}).get("finalizers"):
            body = {**obj, "spec": {**obj.get("spec", {}), "finalizers": []}}
            try:
                self.kube.request("PUT", f"/api/v1/namespaces/{name}/finalize", json=body)
            except KubeError as err:
                if err.status not in (404, 409):
                    self.errors.append(str(err))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sweep()
            except Exception as err:  # keep sweeping; report at the end
                self.errors.append(repr(err))
                del self.errors[:-20]
