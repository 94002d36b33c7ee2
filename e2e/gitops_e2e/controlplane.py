"""etcd + kube-apiserver on loopback, no kubelet, no controller-manager (see `kube.Janitor` for
the parts of it deletions need)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .certs import Pki, make_pki
from .kube import Janitor, Kube
from .procs import BIN, HarnessError, Proc, free_port, wait_until

SERVICE_CIDR = "10.0.0.0/24"


def start_etcd(work: Path, bin_dir: Path = BIN, timeout: float = 30) -> tuple[Proc, str]:
    """An etcd with its data under `work/etcd`; returns it and its client URL."""
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    data = work / "etcd"
    data.mkdir(parents=True, exist_ok=True)
    proc = Proc(
        "etcd",
        [
            str(bin_dir / "etcd"),
            "--name=e2e",
            f"--data-dir={data}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=e2e=http://127.0.0.1:{peer}",
            "--listen-metrics-urls=",
            "--unsafe-no-fsync=true",  # a throwaway store; spare the shared disk
            "--quota-backend-bytes=1073741824",
            "--log-level=warn",
        ],
        work / "logs" / "etcd.log",
    )

    def healthy() -> bool:
        import requests

        proc.check_alive()
        return bool(requests.get(f"{url}/health", timeout=2).json().get("health") == "true")

    try:
        wait_until("etcd /health", healthy, timeout=timeout, on_timeout=proc.describe)
    except Exception:
        proc.stop()
        raise
    return proc, url


@dataclass
class ControlPlane:
    """A running etcd + kube-apiserver; `kubeconfig` authenticates as system:masters."""

    work: Path
    pki: Pki
    server: str
    kubeconfig: Path
    kube: Kube
    procs: list[Proc] = field(default_factory=list)
    janitor: Janitor | None = None

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    def describe(self) -> str:
        return "\n\n".join(p.describe() for p in self.procs)

    def stop(self) -> None:
        if self.janitor:
            self.janitor.stop()
        for proc in reversed(self.procs):
            proc.stop()


def write_kubeconfig(path: Path, server: str, pki: Pki) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "e2e",
                "cluster": {"server": server, "certificate-authority": str(pki.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "e2e-admin",
                "user": {
                    "client-certificate": str(pki.admin_cert),
                    "client-key": str(pki.admin_key),
                },
            }
        ],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e-admin"}}],
        "current-context": "e2e",
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def start_control_plane(work: Path, bin_dir: Path = BIN, timeout: float = 120) -> ControlPlane:
    """Certificates, etcd, kube-apiserver (RBAC, service-account keys, a service CIDR), the
    admin kubeconfig; returns once /readyz says ok and the default namespace exists."""
    work.mkdir(parents=True, exist_ok=True)
    pki = make_pki(work / "pki")
    etcd, etcd_url = start_etcd(work, bin_dir)
    procs = [etcd]
    try:
        port = free_port()
        server = f"https://127.0.0.1:{port}"
        apiserver = Proc(
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
                "--endpoint-reconciler-type=none",
                "--v=1",
            ],
            work / "logs" / "kube-apiserver.log",
        )
        procs.append(apiserver)
        kube = Kube(server, pki, timeout=10)

        def ready() -> bool:
            apiserver.check_alive()
            return kube.ready() and kube.get("Namespace", "default") is not None

        wait_until(
            "kube-apiserver /readyz",
            ready,
            timeout=timeout,
            interval=0.5,
            on_timeout=lambda: "\n\n".join(p.describe() for p in procs),
        )
        kubeconfig = write_kubeconfig(work / "kubeconfig", server, pki)
        plane = ControlPlane(work, pki, server, kubeconfig, kube, procs)
        plane.janitor = Janitor(kube, interval=2.0)
        plane.janitor.start()
        return plane
    except BaseException:
        for proc in reversed(procs):
            with contextlib.suppress(Exception):
                proc.stop()
        raise


__all__ = ["ControlPlane", "HarnessError", "start_control_plane", "start_etcd"]
