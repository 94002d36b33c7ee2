"""How the harness turns a Deployment into a local process (gitops_e2e.pod), on the Deployments
the staging stack renders (tests/golden): every arg and env value as rendered, except the
documented translations. Runs in the default suite (no binaries needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_e2e.pod import (
    TRANSLATED_ENV,
    TRANSLATED_FLAGS,
    PodContext,
    expand,
    flag_name,
    plan,
    quantity,
    resource_field,
)
from gitops_e2e.procs import HarnessError
from gitops_sdk.api.release import CONTROLLERS

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "staging" / "flux-system"


def golden(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((GOLDEN / f"deployment-{name}.yaml").read_text())
    return doc


def context(tmp_path: Path, **extra: Any) -> PodContext:
    return PodContext(
        namespace="flux-system",
        pod_name="pod",
        root=tmp_path,
        kubeconfig=tmp_path / "kubeconfig",
        **extra,
    )


ADDRESSES = {"--metrics-addr": "127.0.0.1:1", "--health-addr": "127.0.0.1:2"}


def test_expand_is_kubernetes_dependent_variables() -> None:
    env = {"NS": "flux-system"}
    assert expand("svc.$(NS).local", env) == "svc.flux-system.local"
    assert expand("$(MISSING)/$$(NS)/$$", env) == "$(MISSING)/$(NS)/$"


@pytest.mark.parametrize(
    ("text", "value"),
    [("192Mi", 201326592), ("250m", 0.25), ("1.5", 1.5), ("1e3", 1000), ("2Gi", 2**31)],
)
def test_quantities(text: str, value: float) -> None:
    assert float(quantity(text)) == value


def test_resource_field_refs_round_up_like_the_kubelet() -> None:
    containers = [{"name": "manager", "resources": {"limits": {"cpu": "250m", "memory": "1Gi"}}}]
    assert resource_field(containers, "manager", {"resource": "limits.cpu"}) == "1"
    assert resource_field(containers, "manager", {"resource": "limits.memory"}) == str(2**30)
    ref = {"resource": "limits.memory", "divisor": "1Mi"}
    assert resource_field(containers, "manager", ref) == "1024"
    ref = {"resource": "limits.memory", "divisor": "0"}  # how the API server stores "unset"
    assert resource_field(containers, "manager", ref) == str(2**30)
    assert resource_field(containers, "manager", {"resource": "requests.cpu"}) == "0"
    with pytest.raises(HarnessError, match="names no container 'other'"):
        resource_field(containers, "manager", {"resource": "limits.cpu", "containerName": "other"})


@pytest.mark.parametrize("name", CONTROLLERS)
def test_the_process_is_the_deployment_but_for_the_documented_translations(
    name: str, tmp_path: Path
) -> None:
    deployment = golden(name)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    process = plan(deployment, context(tmp_path), addresses=ADDRESSES)
    rendered = [expand(a, {"RUNTIME_NAMESPACE": "flux-system"}) for a in container["args"]]
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}

    def kept(args: list[str]) -> list[str]:
        return [a for a in args if flag_name(a) not in TRANSLATED_FLAGS]

    # Every other flag exactly as rendered, in order: the staging tuning is what runs.
    assert kept(process.args) == kept(rendered)
    assert "--concurrent=1" in process.args and "--log-level=info" in process.args
    assert "--enable-leader-election=false" in process.args
    for arg in process.args:
        flag, _, value = arg.partition("=")
        if flag in ("--metrics-addr", "--health-addr"):
            assert value == ADDRESSES[flag]
        if flag == "--storage-path":
            assert value == str(tmp_path / "volumes" / "data")
    # Env: the Deployment's names, resolved; GOMEMLIMIT is the 192Mi limit in bytes.
    assert process.env["RUNTIME_NAMESPACE"] == "flux-system"
    assert process.env["GOMEMLIMIT"] == "201326592"
    names = {e["name"] for e in container["env"]}
    assert set(process.env) - names <= set(TRANSLATED_ENV)
    assert process.env["TMPDIR"] == str(tmp_path / "volumes" / mounts["/tmp"])
    if name == "source-controller":
        assert process.env["TUF_ROOT"] == str(tmp_path / "volumes" / "tmp" / ".sigstore")
    assert all(line for line in process.translations)


def test_listening_addresses_missing_from_the_deployment_are_added(tmp_path: Path) -> None:
    addresses = {
        **ADDRESSES,
        "--events-addr": "127.0.0.1:3",
        "--receiverAddr": "127.0.0.1:4",
    }
    process = plan(golden("notification-controller"), context(tmp_path), addresses=addresses)
    assert process.args[-2:] == ["--events-addr=127.0.0.1:3", "--receiverAddr=127.0.0.1:4"]
    assert "--events-addr=127.0.0.1:3 (added)" in process.translations
    source = plan(
        golden("source-controller"),
        context(tmp_path),
        addresses={**ADDRESSES, "--events-addr": "", "--storage-addr": "127.0.0.1:5"},
    )
    assert "--events-addr=" in source.args
    assert "--storage-addr=127.0.0.1:5" in source.args


def test_a_default_path_inside_the_pod_is_moved_to_the_volumes_folder(tmp_path: Path) -> None:
    # image-reflector-controller keeps its database in --storage-path, default /data: a volume
    # in the Pod, and never this machine's /data.
    process = plan(golden("image-reflector-controller"), context(tmp_path), addresses=ADDRESSES)
    assert process.args[-1] == f"--storage-path={tmp_path / 'volumes' / 'data'}"


def test_only_translated_flags_may_be_given(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"not a translated flag: \['--concurrent'\]"):
        plan(golden("kustomize-controller"), context(tmp_path), addresses={"--concurrent": "9"})


def test_env_the_harness_cannot_resolve_is_an_error(tmp_path: Path) -> None:
    deployment = golden("kustomize-controller")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}})
    with pytest.raises(HarnessError, match=r"fieldRef 'metadata\.uid' is not supported"):
        plan(deployment, context(tmp_path), addresses=ADDRESSES)
    env[-1] = {"name": "KUBECONFIG", "value": "/etc/kubeconfig"}
    with pytest.raises(HarnessError, match="env KUBECONFIG is set; the harness sets it too"):
        plan(deployment, context(tmp_path), addresses=ADDRESSES)


def test_env_from_secrets_and_config_maps(tmp_path: Path) -> None:
    deployment = golden("helm-controller")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "settings"}, "prefix": "S_"}]
    container["env"].append(
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}
    )
    data = {("ConfigMap", "settings"): {"A": "1"}, ("Secret", "creds"): {"token": "t"}}
    ctx = context(tmp_path, lookup=lambda kind, ns, name: data.get((kind, name)))
    process = plan(deployment, ctx, addresses=ADDRESSES)
    assert (process.env["S_A"], process.env["TOKEN"]) == ("1", "t")
