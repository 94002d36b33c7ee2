"""Flux's source-controller and kustomize-controller as local processes against the local API
server (they read KUBECONFIG; leader election off; all namespaces). Start them once the Flux
CRDs exist: controller-runtime gives up when a watched kind is not served."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import requests

from .procs import BIN, Proc, free_port, wait_until


@dataclass
class FluxControllers:
    source: Proc
    kustomize: Proc
    storage_addr: str

    @property
    def procs(self) -> list[Proc]:
        return [self.source, self.kustomize]

    def describe(self) -> str:
        return "\n\n".join(p.describe() for p in self.procs)

    def check_alive(self) -> None:
        for proc in self.procs:
            proc.check_alive()

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop(timeout=15)


def start_flux(
    work: Path,
    kubeconfig: Path,
    *,
    namespace: str = "flux-system",
    bin_dir: Path = BIN,
    timeout: float = 90,
) -> FluxControllers:
    """Both controllers, healthy (their /readyz answers) or HarnessError with their logs."""
    env = {"KUBECONFIG": str(kubeconfig), "RUNTIME_NAMESPACE": namespace}
    storage = work / "flux-storage"
    storage.mkdir(parents=True, exist_ok=True)
    storage_port = free_port()
    storage_addr = f"127.0.0.1:{storage_port}"
    common = ["--enable-leader-election=false", "--watch-all-namespaces=true", "--events-addr="]
    health: dict[str, int] = {}

    def ports(name: str) -> list[str]:
        health[name] = free_port()
        return [
            f"--metrics-addr=127.0.0.1:{free_port()}",
            f"--health-addr=127.0.0.1:{health[name]}",
        ]

    source = Proc(
        "source-controller",
        [
            str(bin_dir / "source-controller"),
            *common,
            *ports("source"),
            f"--storage-path={storage}",
            f"--storage-addr={storage_addr}",
            f"--storage-adv-addr={storage_addr}",
            "--concurrent=2",
            "--requeue-dependency=2s",
        ],
        work / "logs" / "source-controller.log",
        env=env,
    )
    kustomize = Proc(
        "kustomize-controller",
        [
            str(bin_dir / "kustomize-controller"),
            *common,
            *ports("kustomize"),
            "--concurrent=2",
            "--requeue-dependency=2s",
        ],
        work / "logs" / "kustomize-controller.log",
        env=env,
    )
    flux = FluxControllers(source, kustomize, storage_addr)

    def healthy() -> bool:
        flux.check_alive()
        return all(
            requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            for port in health.values()
        )

    try:
        wait_until("Flux controllers /readyz", healthy, timeout=timeout, on_timeout=flux.describe)
    except BaseException:
        with contextlib.suppress(Exception):
            flux.stop()
        raise
    return flux
