"""The Flux controllers `pulumi up` deployed, run as local processes: each Deployment in the Flux
namespace is read back from the API server and its container started with exactly its args and
env, translated only where a Pod and a local process must differ (see `pod`): loopback
addresses, folders for its emptyDir volumes, a kubeconfig for its service account, leader
election off. A flag the binary does not know makes it exit, and `start_flux` fails with its log.

Start them once the Flux CRDs exist: controller-runtime gives up when a watched kind is not
served."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from .kube import Kube
from .pod import LISTENS, PodContext, ProcessPlan, plan
from .procs import BIN, HarnessError, Proc, free_port, wait_until

PART_OF = "app.kubernetes.io/part-of"


@dataclass
class Controller:
    """One Flux controller process and what it was started from."""

    name: str
    proc: Proc
    plan: ProcessPlan
    deployment: dict[str, Any]
    addresses: dict[str, str]
    health_port: int

    def url(self, flag: str) -> str:
        """`http://` + the loopback address the harness gave `flag`."""
        return "http://" + self.addresses[flag]


@dataclass
class FluxControllers:
    controllers: dict[str, Controller] = field(default_factory=dict)

    @property
    def procs(self) -> list[Proc]:
        return [c.proc for c in self.controllers.values()]

    def __getitem__(self, name: str) -> Controller:
        return self.controllers[name]

    @property
    def storage_addr(self) -> str:
        return self.controllers["source-controller"].addresses["--storage-addr"]

    @property
    def receiver_url(self) -> str:
        """Where notification-controller serves Receivers (`/hook/...` goes after it)."""
        return self.controllers["notification-controller"].url("--receiverAddr")

    def describe(self) -> str:
        return "\n\n".join(p.describe() for p in self.procs)

    def check_alive(self) -> None:
        for proc in self.procs:
            proc.check_alive()

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop(timeout=15)


def flux_deployments(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    """The Flux controllers' Deployments in `namespace` (label `app.kubernetes.io/part-of:
    flux`), by name."""
    found = [
        d
        for d in kube.list("Deployment", namespace)
        if (d["metadata"].get("labels") or {}).get(PART_OF) == "flux"
    ]
    return sorted(found, key=lambda d: d["metadata"]["name"])


def _addresses(name: str, events: str | None) -> dict[str, str]:
    out = {
        "--metrics-addr": f"127.0.0.1:{free_port()}",
        "--health-addr": f"127.0.0.1:{free_port()}",
    }
    for flag in LISTENS.get(name, ()):
        out[flag] = f"127.0.0.1:{free_port()}"
    if name == "source-controller":
        out["--storage-adv-addr"] = out["--storage-addr"]
    if name != "notification-controller":
        # Where to send events: notification-controller here, or nowhere (an empty flag).
        out["--events-addr"] = f"http://{events}/" if events else ""
    return out


def _lookup(kube: Kube) -> Any:
    def read(kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
        obj = kube.get(kind, name, namespace)
        if obj is None:
            return None
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
            return {**data, **(obj.get("stringData") or {})}
        return dict(obj.get("data") or {})

    return read


def start_controller(
    deployment: dict[str, Any],
    work: Path,
    kubeconfig: Path,
    *,
    addresses: Mapping[str, str],
    kube: Kube | None = None,
    bin_dir: Path = BIN,
) -> Controller:
    """Start the process of one Deployment (not waiting for it to be ready)."""
    name = deployment["metadata"]["name"]
    namespace = deployment["metadata"].get("namespace") or "default"
    binary = bin_dir / name
    if not binary.is_file():
        raise HarnessError(f"no binary {binary} for Deployment {namespace}/{name}")
    ctx = PodContext(
        namespace=namespace,
        pod_name=f"{name}-e2e",
        root=work / "flux" / name,
        kubeconfig=kubeconfig,
        lookup=_lookup(kube) if kube is not None else None,
    )
    process = plan(deployment, ctx, addresses=addresses)
    log = work / "logs" / f"{name}.log"
    proc = Proc(name, [str(binary), *process.args], log, env=process.env, clean_env=True)
    health = int(addresses["--health-addr"].rsplit(":", 1)[1])
    return Controller(name, proc, process, deployment, dict(addresses), health)


def service_account_kubeconfig(
    kube: Kube, path: Path, namespace: str, name: str, hours: int = 24
) -> Path:
    """A kubeconfig that authenticates as ServiceAccount `namespace/name` (a TokenRequest),
    so a controller has exactly the RBAC the stack gave its Deployment."""
    review = kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        json={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": hours * 3600},
        },
    )
    token = review["status"]["token"]
    return kube.write_kubeconfig(path, token=token)


def wait_healthy(flux: FluxControllers, timeout: float = 90) -> None:
    """Until every controller's /readyz answers 200; HarnessError with its log as soon as one
    exits (e.g. on a flag it does not know), or with all logs after `timeout` seconds."""

    def healthy() -> bool:
        flux.check_alive()
        return all(
            requests.get(f"http://127.0.0.1:{c.health_port}/readyz", timeout=2).status_code == 200
            for c in flux.controllers.values()
        )

    wait_until("Flux controllers /readyz", healthy, timeout=timeout, on_timeout=flux.describe)


def start_flux(
    work: Path,
    kube: Kube,
    *,
    namespace: str = "flux-system",
    bin_dir: Path = BIN,
    timeout: float = 90,
    only: Sequence[str] | None = None,
    kubeconfig: Path | None = None,
    attempts: int = 3,
) -> FluxControllers:
    """Every Flux Deployment in `namespace` (or those named in `only`) as a healthy local process
    (its /readyz answers), or HarnessError with the logs. Each authenticates as its Deployment's
    service account, unless `kubeconfig` is given (e.g. the admin's, for a bare harness test).

    A port found free can be taken by another process before a controller binds it: then all
    start again on new ports, up to `attempts` times; any other failure is reported at once."""
    deployments = flux_deployments(kube, namespace)
    if only is not None:
        deployments = [d for d in deployments if d["metadata"]["name"] in only]
    if not deployments:
        raise HarnessError(f"no Flux Deployments in namespace {namespace}")
    configs: dict[str, Path] = {}
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        config = kubeconfig
        if config is None:
            account = deployment["spec"]["template"]["spec"].get("serviceAccountName")
            config = service_account_kubeconfig(
                kube, work / "flux" / name / "kubeconfig", namespace, account or "default"
            )
        configs[name] = config
    for attempt in range(1, attempts + 1):
        flux = FluxControllers()
        try:
            events = f"127.0.0.1:{free_port()}" if "notification-controller" in configs else None
            for deployment in deployments:
                name = deployment["metadata"]["name"]
                addresses = _addresses(name, events)
                if name == "notification-controller" and events:
                    addresses["--events-addr"] = events
                flux.controllers[name] = start_controller(
                    deployment, work, configs[name], addresses=addresses, kube=kube, bin_dir=bin_dir
                )
            wait_healthy(flux, timeout)
            return flux
        except HarnessError as err:
            with contextlib.suppress(Exception):
                flux.stop()
            if "address already in use" not in str(err) or attempt == attempts:
                raise
        except BaseException:
            with contextlib.suppress(Exception):
                flux.stop()
            raise
    raise AssertionError("unreachable")


__all__ = [
    "Controller",
    "FluxControllers",
    "flux_deployments",
    "service_account_kubeconfig",
    "start_controller",
    "start_flux",
    "wait_healthy",
]
