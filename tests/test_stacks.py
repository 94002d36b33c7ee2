"""The real stack program (stacks/) for staging and production, under the mock runtime.

Golden files in tests/golden/<stack>/ hold the exact synth output; after an intended change,
regenerate them with `UPDATE_GOLDEN=1 pytest tests/test_stacks.py` and review the diff.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.errors import RunError

from gitops_sdk import ConfigError
from gitops_sdk.services.crds import Schemas, validate_manifest
from gitops_sdk.stack import synth

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
STACKS = ["staging", "production"]


# The Flux install manifest the SDK ships: the stacks render it with no setup at all.
INSTALL = ROOT / "gitops_sdk" / "data" / "flux" / "v2.9.4" / "install.yaml"


def no_network(*args: object, **kwargs: object) -> None:
    raise urllib.error.URLError("no network in this test")


@pytest.fixture(scope="module")
def rendered() -> Iterator[dict[str, list[dict[str, Any]]]]:
    # No GITOPS_FLUX_MANIFEST and no network: what a fresh clone offline renders.
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GITOPS_FLUX_MANIFEST", raising=False)
        mp.setattr(urllib.request, "urlopen", no_network)
        out = {s: synth.run_stack_program(ROOT, s).kubernetes_objects() for s in STACKS}
        assert synth.NOTES == []
        yield out


def golden_files(folder: Path) -> dict[str, str]:
    # CRDs are Flux's own (checked against the manifest below), not worth a golden copy each.
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*.yaml"))
        if not p.name.startswith("customresourcedefinition-")
    }


def by_name(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("stack", STACKS)
def test_synth_matches_golden_files(stack: str, rendered: dict, tmp_path: Path) -> None:
    out = tmp_path / stack
    synth.write(rendered[stack], out)
    golden = GOLDEN / stack
    got = golden_files(out)
    if os.environ.get("UPDATE_GOLDEN"):
        shutil.rmtree(golden, ignore_errors=True)
        for name, text in got.items():
            (golden / name).parent.mkdir(parents=True, exist_ok=True)
            (golden / name).write_text(text)
    want = golden_files(golden)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"{stack}/{name} differs from the golden file"


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_flux_object_is_crd_valid(
    stack: str, rendered: dict, crd_schemas: Schemas
) -> None:
    flux = [o for o in rendered[stack] if "toolkit.fluxcd.io" in o["apiVersion"]]
    assert len(flux) >= 14
    for doc in flux:
        assert (doc["apiVersion"], doc["kind"]) in crd_schemas
        assert validate_manifest(doc, crd_schemas) == [], doc["metadata"]["name"]


SEED_CHARTS = {
    "infrastructure-cert-manager": "cert-manager",
    "infrastructure-metallb": "metallb",
    "infrastructure-longhorn": "longhorn",
    "infrastructure-traefik": "traefik",
    "infrastructure-blocky": "blocky",
    "monitoring-kube-prometheus-stack": "kube-prometheus-stack",
    "monitoring-uptime-kuma": "uptime-kuma",
    "monitoring-flagger": "flagger",
    "security-trivy-operator": "trivy-operator",
    "security-polaris": "polaris",
}


@pytest.mark.parametrize("stack", STACKS)
def test_layers_follow_the_seed(stack: str, rendered: dict) -> None:
    releases = by_name(rendered[stack], "HelmRelease")
    assert len(releases) >= 10
    charts = {n: r["spec"]["chart"]["spec"]["chart"] for n, r in releases.items()}
    assert SEED_CHARTS.items() <= charts.items()
    repos = by_name(rendered[stack], "HelmRepository")
    for release in releases.values():
        chart = release["spec"]["chart"]["spec"]
        # Pinned: an exact version, from a source the stack declares.
        assert chart["version"][0].isdigit() or chart["version"][0] == "v"
        assert not set(chart["version"]) & set("^~*<>= |x")
        assert chart["sourceRef"]["kind"] == "HelmRepository"
        assert chart["sourceRef"]["name"] in repos
        assert release["spec"]["targetNamespace"] == release["spec"]["storageNamespace"]
        assert release["metadata"]["labels"]["environment"] == stack
    deps = {n: [d["name"] for d in r["spec"].get("dependsOn", [])] for n, r in releases.items()}
    assert deps["infrastructure-traefik"] == [
        "infrastructure-metallb",
        "infrastructure-cert-manager",
    ]
    # A layer waits for the layers it depends on: Flux orders HelmReleases among themselves.
    assert "infrastructure-traefik" in deps["monitoring-kube-prometheus-stack"]
    assert deps["monitoring-flagger"] == ["monitoring-kube-prometheus-stack"]
    ks = by_name(rendered[stack], "Kustomization")
    assert sorted(ks) == ["apps-demo", "apps-docs"]
    for k in ks.values():
        assert k["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
        assert k["metadata"]["labels"]["environment"] == stack
    # The CRD-dependent objects of the charts come with the stack.
    kinds = {o["kind"] for o in rendered[stack]}
    assert {"ClusterIssuer", "IPAddressPool", "L2Advertisement"} <= kinds


def test_staging_is_aggressive_and_production_conservative(rendered: dict) -> None:
    staging = by_name(rendered["staging"], "Kustomization")
    production = by_name(rendered["production"], "Kustomization")
    assert staging["apps-demo"]["spec"]["interval"] == "2m"
    s_rel = by_name(rendered["staging"], "HelmRelease")
    p_rel = by_name(rendered["production"], "HelmRelease")
    assert p_rel["infrastructure-metallb"]["spec"]["interval"] == "30m"
    assert s_rel["infrastructure-metallb"]["spec"]["interval"] == "5m"
    # Production is HA where it matters; staging runs one replica.
    s_cm = s_rel["infrastructure-cert-manager"]["spec"]["values"]
    p_cm = p_rel["infrastructure-cert-manager"]["spec"]["values"]
    assert s_cm.get("replicaCount", 1) == 1
    assert p_cm["replicaCount"] >= 2
    assert p_cm["webhook"]["replicaCount"] >= 2
    # Canaries: production only, with their load tester.
    assert "monitoring-flagger-loadtester" in p_rel
    assert "monitoring-flagger-loadtester" not in s_rel
    s_patch = yaml.safe_load(staging["apps-demo"]["spec"]["patches"][0]["patch"])
    p_patch = yaml.safe_load(production["apps-demo"]["spec"]["patches"][0]["patch"])
    assert s_patch["spec"]["replicas"] == 1
    assert p_patch["spec"]["replicas"] == 3
    # Image tags: production pins them (Renovate proposes); staging's come from automation.
    assert production["apps-demo"]["spec"]["images"] == [
        {"name": "nginx", "newTag": "1.21.6-alpine"}
    ]
    assert "images" not in staging["apps-demo"]["spec"]
    s_git = by_name(rendered["staging"], "GitRepository")["flux-system"]["spec"]
    p_git = by_name(rendered["production"], "GitRepository")["flux-system"]["spec"]
    assert (s_git["interval"], p_git["interval"]) == ("1m", "5m")


@pytest.mark.parametrize("stack", STACKS)
def test_flux_is_installed_on_arm64_before_the_flux_objects(stack: str, rendered: dict) -> None:
    objects = rendered[stack]
    kinds = [o["kind"] for o in objects]
    # The embedded controller's CRDs reach the engine before the stack's Flux objects (which
    # depend on them; see the test below). The Namespace and the CRDs are independent, so
    # their relative order is the runtime's and is not asserted.
    assert max(i for i, k in enumerate(kinds) if k == "CustomResourceDefinition") < kinds.index(
        "GitRepository"
    )
    install = yaml.safe_load_all(INSTALL.read_text())
    crds = {
        d["metadata"]["name"]: d for d in install if d and d["kind"] == "CustomResourceDefinition"
    }
    rendered_crds = by_name(objects, "CustomResourceDefinition")
    # source (6), kustomize, helm, notification (3), and the image controllers' (3) where image
    # automation is used (staging).
    assert len(rendered_crds) == (14 if stack == "staging" else 11)
    for name, crd in rendered_crds.items():
        assert synth.canonical(crd) == synth.canonical(crds[name])
    deployments = by_name(objects, "Deployment")
    image = ["image-automation-controller", "image-reflector-controller"]
    assert sorted(deployments) == sorted(
        [
            "helm-controller",
            *(image if stack == "staging" else []),
            "kustomize-controller",
            "notification-controller",
            "source-controller",
        ]
    )
    for dep in deployments.values():
        pod = dep["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"kubernetes.io/arch": "arm64", "kubernetes.io/os": "linux"}
    limits = deployments["kustomize-controller"]["spec"]["template"]["spec"]["containers"][0][
        "resources"
    ]["limits"]
    assert limits == (
        {"cpu": "250m", "memory": "192Mi"}
        if stack == "staging"
        else {"cpu": "500m", "memory": "256Mi"}
    )
    # pulumi up waits for the source and every unit to report Ready; Pulumi owns them (an edit
    # in the cluster is put back by `pulumi up --refresh`).
    for doc in objects:
        if doc["kind"] in ("GitRepository", "Kustomization", "HelmRelease"):
            assert doc["metadata"]["annotations"] == {
                "pulumi.com/waitFor": "condition=Ready",
                "pulumi.com/patchForce": "true",
            }


def staging_flux(**changes: Any) -> dict[str, Any]:
    """The staging stack's `gitops:flux` with `changes` over it."""
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    return {**doc["config"]["gitops:flux"], **changes}


def test_offline_synth_of_a_release_without_a_shipped_manifest_says_what_it_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK ships 2.9.4's manifest only; another release is downloaded, and offline it cannot.
    project = stack_copy(tmp_path, flux=staging_flux(version="2.9.5"))
    monkeypatch.delenv("GITOPS_FLUX_MANIFEST", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    objects = synth.run_stack_program(project, "staging").kubernetes_objects()
    kinds = {o["kind"] for o in objects}
    assert {"GitRepository", "Kustomization", "HelmRelease", "PrometheusRule", "Alert"} <= kinds
    assert not kinds & {"CustomResourceDefinition", "Deployment"}
    assert "flux-system" not in by_name(objects, "Namespace")
    (note,) = synth.NOTES
    assert note == (
        "Flux install objects left out: staging: Pulumi.staging.yaml: gitops:flux: manifest "
        "'https://github.com/fluxcd/flux2/releases/download/v2.9.5/install.yaml': cannot "
        "download it (no network in this test); expected a reachable https:// URL, or a local "
        "file for offline installs; set GITOPS_FLUX_MANIFEST to a local copy"
    )


def test_offline_synth_renders_the_shipped_flux_install(rendered: dict) -> None:
    # Every object of the shipped manifest (image controllers only where automation is used).
    shipped = [d for d in yaml.safe_load_all(INSTALL.read_bytes()) if d]
    for stack in STACKS:
        got = {(o["kind"], o["metadata"]["name"]) for o in rendered[stack]}
        want = {
            (d["kind"], d["metadata"]["name"])
            for d in shipped
            if "image" not in d["metadata"]["name"] or stack == "staging"
        }
        assert want <= got, sorted(want - got)


def test_a_tampered_shipped_manifest_stops_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    from gitops_sdk.services import install_manifest

    tampered = INSTALL.read_bytes() + b"---\nkind: Secret\n"
    monkeypatch.delenv("GITOPS_FLUX_MANIFEST", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(install_manifest, "embedded_manifest", lambda version: tampered)
    mocks = synth.RecordingMocks()
    with pytest.raises(
        RunError,
        match=r"^staging: Pulumi.staging.yaml: gitops:flux: manifest "
        r"'embedded:gitops_sdk/data/flux/v2.9.4/install.yaml': sha256 mismatch: expected "
        r"7a89e214a51b8357f1f723c1baf9ccea38771ddace8872ef2228f3e8bdef59d7, got [0-9a-f]{64} "
        r"\(the package's copy was changed",
    ):
        synth.run_stack_program(ROOT, "staging", mocks)
    assert mocks.resources == []
    assert synth.NOTES == []  # refused, never left out with a note


def test_the_manifest_env_var_overrides_the_shipped_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A copy with one more object: the override is what gets rendered.
    local = tmp_path / "install.yaml"
    extra = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-the-override\n"
    local.write_bytes(INSTALL.read_bytes() + extra.encode())
    monkeypatch.setenv("GITOPS_FLUX_MANIFEST", str(local))
    objects = synth.run_stack_program(ROOT, "staging").kubernetes_objects()
    assert "from-the-override" in by_name(objects, "ConfigMap")
    # A missing override is an error naming the variable, never a silent fall back.
    monkeypatch.setenv("GITOPS_FLUX_MANIFEST", str(tmp_path / "nowhere.yaml"))
    mocks = synth.RecordingMocks()
    with pytest.raises(
        RunError,
        match=rf"^staging: GITOPS_FLUX_MANIFEST: manifest '{tmp_path}/nowhere.yaml': file not "
        r"found \(expected a Flux install.yaml",
    ):
        synth.run_stack_program(ROOT, "staging", mocks)
    assert mocks.resources == []


def test_the_stacks_manifest_setting_wins_over_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "mine.yaml"
    extra = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-the-stack\n"
    local.write_bytes(INSTALL.read_bytes() + extra.encode())
    project = stack_copy(tmp_path / "project", flux=staging_flux(manifest=str(local)))
    monkeypatch.setenv("GITOPS_FLUX_MANIFEST", str(tmp_path / "nowhere.yaml"))
    objects = synth.run_stack_program(project, "staging").kubernetes_objects()
    assert "from-the-stack" in by_name(objects, "ConfigMap")
    # A missing file the stack names is its error, never a silent fall back to another copy.
    gone = tmp_path / "gone.yaml"
    project = stack_copy(tmp_path / "gone", flux=staging_flux(manifest=str(gone)))
    monkeypatch.delenv("GITOPS_FLUX_MANIFEST")
    mocks = synth.RecordingMocks()
    with pytest.raises(
        RunError,
        match=rf"^staging: Pulumi.staging.yaml: gitops:flux.manifest: manifest '{gone}': file "
        r"not found \(expected a Flux install.yaml",
    ):
        synth.run_stack_program(project, "staging", mocks)
    assert mocks.resources == []


def test_bad_stack_config_fails_before_any_registration(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    text = (ROOT / "Pulumi.staging.yaml").read_text().replace("interval: 2m", "interval: 2 min")
    (tmp_path / "Pulumi.staging.yaml").write_text(text)
    mocks = synth.RecordingMocks()
    with pytest.raises(
        Exception,
        match=r"staging: Pulumi.staging.yaml: gitops:layers.apps.interval "
        r"'2 min': is not a duration",
    ):
        synth.run_stack_program(tmp_path, "staging", mocks)
    assert [r for r in mocks.resources if r.custom] == []


def test_decryption_creates_the_age_key_secret_and_references_it(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    key = "bm90LXJlYWxseS1lbmNyeXB0ZWQ="
    doc["config"]["gitops:layers"]["apps"]["decryption"] = True
    doc["config"]["gitops:ageKey"] = {"secure": f"v1:{key}"}  # as `config set --secret` writes
    doc["config"]["gitops:flux"]["install"] = False
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(doc))
    objects = synth.run_stack_program(tmp_path, "staging").kubernetes_objects()
    secret = by_name(objects, "Secret")["sops-age"]
    assert secret["metadata"] == {"name": "sops-age", "namespace": "flux-system"}
    assert key not in str(synth.redact(secret))
    ks = by_name(objects, "Kustomization")
    assert ks["apps-demo"]["spec"]["decryption"] == {
        "provider": "sops",
        "secretRef": {"name": "sops-age"},
    }
    # A HelmRelease has no SOPS decryption: the layer setting reaches its Kustomizations only.
    assert "decryption" not in str(by_name(objects, "HelmRelease"))


def test_github_config_adds_deploy_key_secret_and_receiver(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    doc["config"]["gitops:repository"]["url"] = (
        "ssh://git@github.com/johanhallberg/k8s-cluster-config"
    )
    doc["config"]["gitops:github"] = {
        "deployKey": {"title": "flux-kubestaging"},
        "receiver": {"url": "https://flux-webhook.example.com"},
    }
    doc["config"]["gitops:githubToken"] = {"secure": "v1:dGVzdC10b2tlbi1ub3QtcmVhbA=="}
    doc["config"]["gitops:flux"]["install"] = False
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(doc))
    mocks = synth.run_stack_program(tmp_path, "staging")
    objects = mocks.kubernetes_objects()
    (receiver,) = [o for o in objects if o["kind"] == "Receiver"]
    assert receiver["spec"]["type"] == "github"
    assert receiver["spec"]["resources"] == [{"kind": "GitRepository", "name": "flux-system"}]
    secrets = by_name(objects, "Secret")
    assert set(secrets) >= {"flux-system"}
    dynamic = sorted(r.type for r in mocks.resources if r.type.startswith("pulumi-python:dynamic"))
    assert dynamic == [
        "pulumi-python:dynamic/github:DeployKey",
        "pulumi-python:dynamic/github:RepositoryWebhook",
        "pulumi-python:dynamic/github:WebhookToken",
    ]
    assert "dGVzdC10b2tlbi1ub3QtcmVhbA" not in str([synth.redact(o) for o in objects])


THIRD_PARTY_GROUPS = (
    "monitoring.coreos.com/",
    "flagger.app/",
    "external-secrets.io/",
    "cert-manager.io/",
    "metallb.io/",
)


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_flagger_and_prometheus_object_is_crd_valid(
    stack: str, rendered: dict, third_party_schemas: Schemas
) -> None:
    # Also the charts' objects the stacks declare (MetalLB's pool, cert-manager's issuer),
    # against the CRDs of the versions the stacks pin.
    others = [o for o in rendered[stack] if o["apiVersion"].startswith(THIRD_PARTY_GROUPS)]
    kinds = {o["kind"] for o in others}
    assert {"PodMonitor", "PrometheusRule", "ClusterIssuer", "IPAddressPool"} <= kinds
    for doc in others:
        assert (doc["apiVersion"], doc["kind"]) in third_party_schemas
        assert validate_manifest(doc, third_party_schemas) == [], doc["metadata"]["name"]


def test_the_stacks_render_a_canary(rendered: dict) -> None:
    # So the check above covers Flagger too.
    assert any(o["kind"] == "Canary" for stack in STACKS for o in rendered[stack])


def stack_copy(tmp_path: Path, **config: Any) -> Path:
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    doc["config"].update({f"gitops:{k}": v for k, v in config.items()})
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"ageKey": "AGE-SECRET-KEY-" + "1QQQQQQQQQQ"},  # in parts: no key-shaped text here
            "Pulumi.staging.yaml: gitops:ageKey is stored in plain text (value not shown); "
            "remove it and run `pulumi config set --secret gitops:ageKey ...`",
        ),
        (
            {"layers": {"secure": "v1:abc"}},
            "Pulumi.staging.yaml: gitops:layers is set as a secret, but it is plain "
            "configuration; set it without --secret",
        ),
        (
            {"github": {"token": "ghp_SUPERSECRET"}},
            "Pulumi.staging.yaml: gitops:github.token: unknown field",
        ),
    ],
)
def test_stack_config_keeps_secrets_secret(
    tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    project = stack_copy(tmp_path, **config)
    mocks = synth.RecordingMocks()
    with pytest.raises((ConfigError, RunError)) as err:  # the program turns ours into RunError
        synth.run_stack_program(project, "staging", mocks)
    assert message in str(err.value)
    assert "SUPERSECRET" not in str(err.value) and "QQQQ" not in str(err.value)
    assert mocks.resources == []


def test_a_stack_file_with_duplicate_keys_or_no_mapping_is_refused(tmp_path: Path) -> None:
    project = stack_copy(tmp_path)
    text = (project / "Pulumi.staging.yaml").read_text()
    (project / "Pulumi.staging.yaml").write_text(text + "  gitops:layers: {}\n")
    with pytest.raises(
        ConfigError,
        match=r"^Pulumi.staging.yaml: not valid YAML: .*duplicate "
        r"key 'gitops:layers'",
    ):
        synth.run_stack_program(project, "staging")
    (project / "Pulumi.staging.yaml").write_text("- config\n")
    with pytest.raises(
        ConfigError,
        match=r"^Pulumi.staging.yaml: expected a mapping with a "
        r"'config' key$",
    ):
        synth.run_stack_program(project, "staging")


def test_git_credentials_of_the_wrong_shape_name_the_key_not_the_values(
    mocks: synth.RecordingMocks,
) -> None:
    from gitops_sdk.stack.config import parse_config

    base = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
    values = {k.split(":", 1)[1]: v for k, v in base.items() if k.startswith("gitops:")}
    with pytest.raises(ConfigError) as err:
        parse_config(
            {**values, "gitCredentials": {"username": "bob", "token": "hunter2"}},
            source="Pulumi.staging.yaml",
            secret_keys=frozenset({"gitCredentials"}),
        )
    assert str(err.value) == (
        "Pulumi.staging.yaml: gitops:gitCredentials: expected a mapping with string username and "
        "password (`pulumi config set --secret --path gitops:gitCredentials.username ...`), got "
        "['token', 'username'] (values not shown)"
    )


def test_decryption_without_an_age_key_fails_before_anything_registers(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    layers = doc["config"]["gitops:layers"]
    layers["infrastructure"]["decryption"] = True
    project = stack_copy(tmp_path, layers=layers)
    mocks = synth.RecordingMocks()
    with pytest.raises(
        RunError,
        match=r"a layer or unit sets decryption: true, but gitops:ageKey "
        r"is not set: run `pulumi config set --secret --stack staging gitops:ageKey",
    ):
        synth.run_stack_program(project, "staging", mocks)
    assert mocks.resources == []


@pytest.mark.parametrize(
    ("depends_on", "message"),
    [
        (
            ["secuirty"],
            r"^staging: Pulumi.staging.yaml: gitops:layers: layer 'apps': dependsOn 'secuirty' "
            r"is not a unit of this layer, a layer, or 'layer/unit'; known: ",
        ),
        (
            ["apps"],
            r"^staging: Pulumi.staging.yaml: gitops:layers: layer 'apps': dependsOn 'apps' is the "
            r"layer itself$",
        ),
    ],
)
def test_layer_errors_name_the_stack_file(
    tmp_path: Path, depends_on: list[str], message: str
) -> None:
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    layers = doc["config"]["gitops:layers"]
    layers["apps"]["dependsOn"] = depends_on
    project = stack_copy(tmp_path, layers=layers)
    mocks = synth.RecordingMocks()
    with pytest.raises(RunError, match=message):
        synth.run_stack_program(project, "staging", mocks)
    assert mocks.resources == []


def test_flux_objects_depend_on_the_embedded_controller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pulumi.runtime.mocks import MockMonitor

    monkeypatch.delenv("GITOPS_FLUX_MANIFEST", raising=False)
    seen: dict[str, list[str]] = {}
    original = MockMonitor.RegisterResource

    def spy(self: MockMonitor, request: Any) -> Any:
        seen[request.name] = [u.rsplit("::", 1)[-1] for u in request.dependencies]
        return original(self, request)

    monkeypatch.setattr(MockMonitor, "RegisterResource", spy)
    synth.run_stack_program(ROOT, "staging")
    crds = {n for n in seen if n.startswith("flux-crd-")}
    assert len(crds) == 14
    assert {"flux-namespace", *crds} <= set(seen["flux-system-repository"])
    assert {"flux-namespace", *crds} <= set(seen["layers-apps-demo"])


def test_render_mode_writes_no_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # The provider writes render-mode YAML as registered: Secrets arrive without their values.
    monkeypatch.setenv("GITOPS_RENDER_DIR", "out/never-written-under-mocks")
    monkeypatch.delenv("GITOPS_FLUX_MANIFEST", raising=False)
    objects = synth.run_stack_program(ROOT, "staging").kubernetes_objects()
    secrets = [o for o in objects if o["kind"] == "Secret"]
    assert secrets
    for secret in secrets:
        assert not {"data", "stringData"} & set(secret), secret["metadata"]["name"]
        assert secret["metadata"]["annotations"]["gitops-sdk/render"].startswith("data left out")
    # Outside render mode the same Secret carries its (secret) value.
    monkeypatch.delenv("GITOPS_RENDER_DIR")
    objects = synth.run_stack_program(ROOT, "staging").kubernetes_objects()
    token = by_name(objects, "Secret")["github-webhook-token"]
    assert "stringData" in token


def test_adopt_takes_over_what_flux_bootstrap_made(tmp_path: Path) -> None:
    def adopt(doc: dict[str, Any]) -> None:
        doc["config"]["gitops:flux"]["adopt"] = True
        doc["config"]["gitops:layers"] = {"flux-system": {"path": "./clusters/staging"}}
        doc["config"]["gitops:cluster"]["apiGroups"] = ["monitoring.coreos.com"]

    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    doc = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    adopt(doc)
    (tmp_path / "Pulumi.staging.yaml").write_text(yaml.safe_dump(doc))
    objects = synth.run_stack_program(tmp_path, "staging").kubernetes_objects()
    taken = [
        by_name(objects, "Kustomization")["flux-system"],
        by_name(objects, "GitRepository")["flux-system"],
        by_name(objects, "Deployment")["kustomize-controller"],
    ]
    for obj in taken:
        notes = obj["metadata"]["annotations"]
        assert notes["pulumi.com/patchForce"] == "true", obj["kind"]
        assert notes["kustomize.toolkit.fluxcd.io/prune"] == "disabled", obj["kind"]
