"""The part of a kubelet and of the Deployment and Endpoints controllers the shipped stacks need,
for the Flux Deployments only: with `gitops:flux.wait: true`, `pulumi up` waits for each Flux
Deployment to be Available and each Service to have ready endpoints, then for Flux objects to be
Ready, all in one run, so the controllers must start while `pulumi up` is still going.

`FluxKubelet` watches the Flux namespace from a thread. A Deployment that appears is run as a
local process with its own args and env (`flux.start_controller`, translated as `pod` says,
authenticated as its service account). Once the process answers /readyz, the Deployment is
reported as the Deployment controller would for one ready Pod: a ReplicaSet it owns with the
revision annotation and one ready replica, and the Deployment's status (observedGeneration,
Available, Progressing NewReplicaSetAvailable). A Service whose selector matches a ready
Deployment gets Endpoints (a stand-in Pod IP; the process listens on loopback). A changed pod
template restarts the process under a new revision; a deleted Deployment stops it and deletes its
ReplicaSets; Endpoints go with their Service. A process that exits is started again (as a Pod's
container would be), each exit recorded in `exits`, which the tests check stays empty."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .flux import (
    Controller,
    FluxControllers,
    _addresses,
    flux_deployments,
    service_account_kubeconfig,
    start_controller,
)
from .kube import Kube, KubeError
from .procs import BIN, HarnessError, free_port, tail, wait_until

REVISION = "deployment.kubernetes.io/revision"
POD_IP = "10.244.0.{}"
"""Stand-in Pod IPs for Endpoints (loopback is refused there)."""


def _template_hash(deployment: dict[str, Any]) -> str:
    template = deployment["spec"]["template"]
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Running:
    controller: Controller
    uid: str
    generation: int
    template: str
    revision: int
    reported: int = 0
    """The generation last reported Available (0: not yet)."""
    started: float = field(default_factory=time.monotonic)


class FluxKubelet:
    """Runs the Flux namespace's Deployments as processes, from a thread (see the module doc)."""

    def __init__(
        self,
        work: Path,
        kube: Kube,
        *,
        namespace: str = "flux-system",
        bin_dir: Path = BIN,
        interval: float = 0.5,
    ) -> None:
        self.work = work
        self.kube = kube
        self.namespace = namespace
        self.bin_dir = bin_dir
        self.interval = interval
        self.running: dict[str, Running] = {}
        self.revisions: dict[str, tuple[str, int]] = {}
        """Deployment name -> (template hash, revision) last run."""
        self.exits: list[str] = []
        """Each unexpected process exit: name, code and log tail."""
        self.errors: list[str] = []
        self.available_at: dict[str, float] = {}
        """Deployment name -> time.time() it was last reported Available."""
        self._events = f"127.0.0.1:{free_port()}"
        self._ips: dict[str, str] = {}
        self._applied: dict[str, Any] = {}
        """Endpoints name -> the subsets last written (rewriting the same would still restart
        pulumi-kubernetes' 10 s settle wait for the Service)."""
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._thread = threading.Thread(target=self._run, name="flux-kubelet", daemon=True)

    # --- what the tests see ------------------------------------------------------------------
    @property
    def flux(self) -> FluxControllers:
        """The running controllers, as `start_flux` returns them."""
        with self._lock:
            return FluxControllers({n: r.controller for n, r in self.running.items()})

    def describe(self) -> str:
        parts = [self.flux.describe()]
        if self.exits:
            parts.append("process exits:\n" + "\n".join(self.exits[-5:]))
        if self.errors:
            parts.append("kubelet errors:\n" + "\n".join(self.errors[-5:]))
        return "\n\n".join(parts)

    def wait_available(self, names: list[str], timeout: float = 180) -> None:
        """Until each named Deployment has been reported Available."""
        wait_until(
            f"Flux Deployments {names} Available",
            lambda: all(
                (r := self.running.get(n)) is not None and r.reported >= r.generation for n in names
            ),
            timeout=timeout,
            on_timeout=self.describe,
        )

    def start(self) -> FluxKubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        with self._lock:
            for r in self.running.values():
                r.controller.proc.stop(timeout=15)
            self.running.clear()

    # --- the loop -------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception as err:  # keep going; the tests read `errors`
                self.errors.append(repr(err))
                del self.errors[:-50]

    def sync(self) -> None:
        with self._lock:
            deployments = {
                d["metadata"]["name"]: d for d in flux_deployments(self.kube, self.namespace)
            }
            for name in list(self.running):
                if name not in deployments:
                    self._remove(name)
            for name, deployment in deployments.items():
                if deployment["metadata"].get("deletionTimestamp"):
                    self._remove(name)
                    continue
                self._sync_one(name, deployment)
            self._endpoints(deployments)

    def _remove(self, name: str) -> None:
        running = self.running.pop(name, None)
        if running is not None:
            running.controller.proc.stop(timeout=15)
        for rs in self.kube.list("ReplicaSet", self.namespace):
            owners = rs["metadata"].get("ownerReferences") or []
            if any(o.get("kind") == "Deployment" and o.get("name") == name for o in owners):
                self.kube.delete("ReplicaSet", rs["metadata"]["name"], self.namespace)

    def _sync_one(self, name: str, deployment: dict[str, Any]) -> None:
        meta = deployment["metadata"]
        uid, generation = meta["uid"], int(meta.get("generation", 1))
        template = _template_hash(deployment)
        running = self.running.get(name)
        if running is not None and (running.uid != uid or running.template != template):
            running.controller.proc.stop(timeout=15)
            del self.running[name]
            running = None
        if running is None:
            running = self._start(name, deployment, uid, generation, template)
            if running is None:
                return
        running.generation = generation
        proc = running.controller.proc
        if not proc.alive():
            log = tail(proc.log, 15)
            proc.stop()
            del self.running[name]
            if "address already in use" in log:  # a port of ours taken meanwhile: new ports
                self.errors.append(f"{name}: address in use, restarted on other ports")
                return
            self.exits.append(f"{name} exited {proc.popen.returncode}:\n{log}")
            time.sleep(min(5.0, 0.5 * len(self.exits)))  # a kubelet's back-off, shortened
            return
        if running.reported >= generation:
            return
        if not self._healthy(running.controller):
            return
        self._report(deployment, running)
        running.reported = generation
        self.available_at[name] = time.time()

    def _start(
        self, name: str, deployment: dict[str, Any], uid: str, generation: int, template: str
    ) -> Running | None:
        account = deployment["spec"]["template"]["spec"].get("serviceAccountName") or "default"
        try:
            config = service_account_kubeconfig(
                self.kube, self.work / "flux" / name / "kubeconfig", self.namespace, account
            )
        except KubeError as err:
            if err.status == 404:
                return None  # its ServiceAccount is not there yet
            raise
        addresses = _addresses(name, self._events)
        if name == "notification-controller":
            addresses["--events-addr"] = self._events
        controller = start_controller(
            deployment, self.work, config, addresses=addresses, kube=self.kube, bin_dir=self.bin_dir
        )
        last = self.revisions.get(name)
        revision = last[1] if last and last[0] == template else (last[1] + 1 if last else 1)
        self.revisions[name] = (template, revision)
        running = Running(controller, uid, generation, template, revision)
        self.running[name] = running
        return running

    @staticmethod
    def _healthy(controller: Controller) -> bool:
        try:
            url = f"http://127.0.0.1:{controller.health_port}/readyz"
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    # --- what the Deployment controller would write ----------------------------------------
    def _report(self, deployment: dict[str, Any], running: Running) -> None:
        meta = deployment["metadata"]
        name, ns = meta["name"], self.namespace
        replicas = int(deployment["spec"].get("replicas", 1))
        revision = str(running.revision)
        rs_name = f"{name}-{running.template[:10]}"
        template = json.loads(json.dumps(deployment["spec"]["template"]))
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels["pod-template-hash"] = running.template[:10]
        selector = json.loads(json.dumps(deployment["spec"]["selector"]))
        selector.setdefault("matchLabels", {})["pod-template-hash"] = running.template[:10]
        rs = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name,
                "namespace": ns,
                "labels": dict(labels),
                "annotations": {REVISION: revision},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": name,
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        }
        base = f"/apis/apps/v1/namespaces/{ns}"
        self.kube.apply(rs, manager="e2e-deployment-controller")
        counts = {"replicas": replicas, "readyReplicas": replicas}
        self._status(
            f"{base}/replicasets/{rs_name}/status",
            {
                **counts,
                "availableReplicas": replicas,
                "fullyLabeledReplicas": replicas,
                "observedGeneration": 1,
            },
        )
        # other ReplicaSets of this Deployment (older templates) scale to zero
        for other in self.kube.list("ReplicaSet", ns):
            owners = other["metadata"].get("ownerReferences") or []
            mine = any(o.get("uid") == meta["uid"] for o in owners)
            if mine and other["metadata"]["name"] != rs_name:
                self.kube.delete("ReplicaSet", other["metadata"]["name"], ns)
        self.kube.request(
            "PATCH",
            f"{base}/deployments/{name}",
            json={"metadata": {"annotations": {REVISION: revision}}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        now = _now()
        self._status(
            f"{base}/deployments/{name}/status",
            {
                "observedGeneration": running.generation,
                **counts,
                "updatedReplicas": replicas,
                "availableReplicas": replicas,
                "unavailableReplicas": None,
                "conditions": [
                    {
                        "type": "Available",
                        "status": "True",
                        "reason": "MinimumReplicasAvailable",
                        "message": "Deployment has minimum availability (a local process).",
                        "lastUpdateTime": now,
                        "lastTransitionTime": now,
                    },
                    {
                        "type": "Progressing",
                        "status": "True",
                        "reason": "NewReplicaSetAvailable",
                        "message": f'ReplicaSet "{rs_name}" has successfully progressed.',
                        "lastUpdateTime": now,
                        "lastTransitionTime": now,
                    },
                ],
            },
        )

    def _status(self, path: str, status: dict[str, Any]) -> None:
        self.kube.request(
            "PATCH",
            path,
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        )

    # --- what the Endpoints controller would write --------------------------------------------
    def _endpoints(self, deployments: dict[str, dict[str, Any]]) -> None:
        ready = [
            (self._ips.setdefault(n, POD_IP.format(10 + len(self._ips))), deployments[n])
            for n, r in sorted(self.running.items())
            if n in deployments and r.reported
        ]
        services = self.kube.list("Service", self.namespace)
        names = set()
        for svc in services:
            selector = svc["spec"].get("selector") or {}
            if not selector:
                continue
            name = svc["metadata"]["name"]
            names.add(name)
            pods = [
                (i, d)
                for i, d in ready
                if selector.items()
                <= (d["spec"]["template"].get("metadata", {}).get("labels") or {}).items()
            ]
            if not pods:
                continue
            ports = []
            for p in svc["spec"].get("ports") or []:
                target = p.get("targetPort", p["port"])
                if isinstance(target, str):
                    target = self._container_port(pods[0][1], target) or p["port"]
                entry = {"port": target, "protocol": p.get("protocol", "TCP")}
                if p.get("name"):
                    entry["name"] = p["name"]
                ports.append(entry)
            doc = {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": name, "namespace": self.namespace},
                "subsets": [{"addresses": [{"ip": ip} for ip, _ in pods], "ports": ports}],
            }
            if self._applied.get(name) != doc["subsets"]:
                self.kube.apply(doc, manager="e2e-endpoint-controller")
                self._applied[name] = doc["subsets"]
        for ep in self.kube.list("Endpoints", self.namespace):
            if ep["metadata"]["name"] not in names:
                with contextlib.suppress(KubeError):
                    self.kube.delete("Endpoints", ep["metadata"]["name"], self.namespace)
                self._applied.pop(ep["metadata"]["name"], None)

    @staticmethod
    def _container_port(deployment: dict[str, Any], name: str) -> int | None:
        for c in deployment["spec"]["template"]["spec"].get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == name:
                    return int(p["containerPort"])
        return None


def start_kubelet(work: Path, kube: Kube, **kw: Any) -> FluxKubelet:
    if not (BIN / "source-controller").is_file() and "bin_dir" not in kw:
        raise HarnessError(f"no Flux controllers in {BIN}: run e2e/build.sh")
    return FluxKubelet(work, kube, **kw).start()


__all__ = ["REVISION", "FluxKubelet", "Running", "start_kubelet"]
