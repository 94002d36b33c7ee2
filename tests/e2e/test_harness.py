"""The e2e harness itself: run-time PKI and the Git server need only `cryptography` and git (they
run in the default suite); etcd, and the control plane with Flux's controllers, need e2e/bin
(marker e2e; skipped, naming the missing binary, until e2e/build.sh has built it)."""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitops_e2e.certs import make_pki
from gitops_e2e.controlplane import start_control_plane, start_etcd
from gitops_e2e.flux import FluxControllers, start_controller, start_flux, wait_healthy
from gitops_e2e.gitserver import git, start_git_server
from gitops_e2e.homelab import FIXTURES, FLUX_MANIFEST
from gitops_e2e.kube import is_ready
from gitops_e2e.procs import HarnessError, wait_until

from .conftest import _skip_reason

SHIPPED = Path(__file__).resolve().parents[2] / "gitops_sdk/data/flux/v2.9.4/install.yaml"
"""The Flux install manifest the SDK ships (its Deployments, as released)."""


def shipped_deployment(name: str) -> dict:
    docs = yaml.safe_load_all(SHIPPED.read_text())
    return next(
        d for d in docs if d and d["kind"] == "Deployment" and d["metadata"]["name"] == name
    )


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_pki_is_a_chain_for_loopback_and_system_masters(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    ca = _cert(pki.ca_cert)
    serving, admin = _cert(pki.serving_cert), _cert(pki.admin_cert)
    for cert in (serving, admin):
        cert.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    usage = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    orgs = admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in orgs] == ["system:masters"]
    usage = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert pki.sa_pub.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert pki.sa_key.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("credentials", [None, ("flux", "s3cret")], ids=["anonymous", "basic"])
def test_git_server_serves_clones_and_takes_pushes(
    tmp_path: Path, credentials: tuple[str, str] | None
) -> None:
    server = start_git_server(tmp_path / "work", credentials)
    try:
        url = server.create_repo("fleet", FIXTURES / "repo")
        auth_url = url.replace("http://", "http://flux:s3cret@") if credentials else url
        if credentials:
            with pytest.raises(RuntimeError, match=r"ls-remote .* failed"):
                git("ls-remote", url, timeout=30)
        clone = tmp_path / "clone"
        git("clone", "--quiet", auth_url, str(clone))
        assert (clone / "apps" / "demo.yaml").is_file()
        (clone / "apps" / "new.txt").write_text("pushed\n")
        git("add", "-A", cwd=clone)
        git("commit", "--quiet", "-m", "push over http", cwd=clone)
        git("push", "--quiet", "origin", "main", cwd=clone)
        head = git("rev-parse", "HEAD", cwd=clone).strip()
        assert git("ls-remote", auth_url, "refs/heads/main").split()[0] == head
    finally:
        server.stop()


@pytest.mark.e2e
def test_etcd_starts_and_stops(tmp_path: Path) -> None:
    if reason := _skip_reason(["etcd"]):
        pytest.skip(reason)
    proc, url = start_etcd(tmp_path)
    try:
        assert requests.get(f"{url}/health", timeout=5).json()["health"] == "true"
    finally:
        proc.stop()
    assert not proc.alive()


@pytest.mark.e2e
def test_flux_reconciles_from_the_git_server_without_pulumi() -> None:
    """The harness alone: control plane, Git server, Flux; objects applied directly. Deletion
    with foreground propagation (pulumi-kubernetes' default) completes thanks to the janitor."""
    if reason := _skip_reason(
        ["etcd", "kube-apiserver", "source-controller", "kustomize-controller"]
    ):
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="e2e-harness-") as tmp:
        work = Path(tmp)
        plane = start_control_plane(work)
        server = start_git_server(work)
        flux = None
        try:
            kube = plane.kube
            kube.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}}
            )
            groups = ("source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io")
            controllers = ("source-controller", "kustomize-controller")
            for doc in yaml.safe_load_all(FLUX_MANIFEST.read_text()):
                crd = doc and doc["kind"] == "CustomResourceDefinition"
                if crd and doc["spec"]["group"] in groups:
                    kube.apply(doc)
                # The released Deployments: the harness runs what they say.
                if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] in controllers:
                    kube.apply(doc)
            wait_until(
                "Flux kinds served",
                lambda: kube.list("Kustomization", "flux-system") == [],
                timeout=30,
            )
            url = server.create_repo("fleet", FIXTURES / "repo")
            # As admin: this bare control plane has none of the stack's RBAC.
            flux = start_flux(work, kube, kubeconfig=plane.kubeconfig)
            assert sorted(flux.controllers) == sorted(controllers)
            kube.apply(
                {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "GitRepository",
                    "metadata": {"name": "fleet", "namespace": "flux-system"},
                    "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"}},
                }
            )
            kube.apply(
                {
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "kind": "Kustomization",
                    "metadata": {"name": "infrastructure", "namespace": "flux-system"},
                    "spec": {
                        "interval": "1m",
                        "path": "./infrastructure",
                        "prune": True,
                        "wait": True,
                        "timeout": "1m",
                        "sourceRef": {"kind": "GitRepository", "name": "fleet"},
                    },
                }
            )
            try:
                wait_until(
                    "Kustomization infrastructure Ready",
                    lambda: is_ready(kube.get("Kustomization", "infrastructure", "flux-system")),
                    timeout=90,
                    on_timeout=flux.describe,
                )
            except HarnessError as err:
                pytest.fail(str(err))
            assert kube.get("ConfigMap", "platform-settings", "e2e-apps") is not None
            kube.request(
                "DELETE",
                kube.path("Kustomization", "flux-system", "infrastructure"),
                json={"propagationPolicy": "Foreground"},
            )
            wait_until(
                "Kustomization deleted and its objects pruned",
                lambda: (
                    kube.get("Kustomization", "infrastructure", "flux-system") is None
                    and kube.get("Namespace", "e2e-apps") is None
                ),
                timeout=60,
                on_timeout=flux.describe,
            )
            assert plane.janitor is not None and plane.janitor.errors == []
        finally:
            if flux is not None:
                flux.stop()
            server.stop()
            plane.stop()


@pytest.mark.e2e
def test_a_flag_the_controller_does_not_know_fails_with_its_log(tmp_path: Path) -> None:
    """The harness passes the Deployment's args as they are: an unknown flag stops the
    controller, as in the cluster, and start-up fails with the controller's own words."""
    if reason := _skip_reason(["source-controller"]):
        pytest.skip(reason)
    deployment = shipped_deployment("source-controller")
    deployment["spec"]["template"]["spec"]["containers"][0]["args"].append("--no-such-flag=1")
    addresses = {
        "--metrics-addr": "127.0.0.1:0",
        "--health-addr": "127.0.0.1:0",
        "--storage-addr": "127.0.0.1:0",
        "--storage-adv-addr": "127.0.0.1:0",
        "--events-addr": "",
    }
    controller = start_controller(
        deployment, tmp_path, tmp_path / "kubeconfig", addresses=addresses
    )
    flux = FluxControllers({"source-controller": controller})
    try:
        with pytest.raises(HarnessError) as err:
            wait_healthy(flux, timeout=60)
    finally:
        flux.stop()
    message = str(err.value)
    assert message.startswith("source-controller exited with")
    assert "unknown flag: --no-such-flag" in message
    assert "--no-such-flag=1" in controller.proc.argv
