"""FluxInstall: args validation, the pure manifest tuning, registration under the mock runtime."""

from __future__ import annotations

import copy
import glob
import hashlib
import io
import json
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pulumi
import pytest
from conftest import CRD_DIR, ROOT, SHARED
from pulumi.runtime import mocks as pulumi_mocks

from gitops_sdk.api import release
from gitops_sdk.api.install import ControllerTuning, FluxInstallSettings
from gitops_sdk.api.release import RELEASE_IMAGE_TAGS, SKIP_AWAIT
from gitops_sdk.components.flux_install import FluxInstall, FluxInstallArgs
from gitops_sdk.core.errors import SpecError
from gitops_sdk.core.fields import quantity_value
from gitops_sdk.services import install_manifest
from gitops_sdk.services.crds import load_crd_schemas
from gitops_sdk.services.install_manifest import (
    InstallManifestError,
    ManifestUnavailableError,
    load_manifest,
    read_manifest,
    source_of,
)
from gitops_sdk.services.install_tuning import tune_manifest
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks

# The copy the package ships (read as a plain local file where a test names a path).
INSTALL = ROOT / "gitops_sdk" / "data" / "flux" / "v2.9.4" / "install.yaml"
SHARED_INSTALL = SHARED / "flux-install" / "v2.9.4" / "install.yaml"
EMBEDDED = "embedded:gitops_sdk/data/flux/v2.9.4/install.yaml"
RELEASE_ASSET = "https://github.com/fluxcd/flux2/releases/download/v2.9.4/install.yaml"

ALL = list(release.CONTROLLERS)
IMAGE = ["image-reflector-controller", "image-automation-controller"]
HOMELAB_RESOURCES = {
    "limits": {"cpu": "500m", "memory": "256Mi"},
    "requests": {"cpu": "100m", "memory": "128Mi"},
}


@pytest.fixture(scope="session")
def docs() -> list[dict[str, Any]]:
    """The real v2.9.4 install manifest (the shipped copy, the default), parsed once per session
    (tuning never modifies it)."""
    return load_manifest(FluxInstallArgs())


def args(**kw: Any) -> FluxInstallArgs:
    return FluxInstallArgs(manifest=INSTALL, **kw)


def homelab(**kw: Any) -> FluxInstallArgs:
    return FluxInstallArgs.arm64_homelab(manifest=str(INSTALL), **kw)


def deployments(out: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in out if d["kind"] == "Deployment"}


def manager(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "manager"
    return container  # type: ignore[no-any-return]


def names(out: list[dict[str, Any]], kind: str) -> list[str]:
    return sorted(d["metadata"]["name"] for d in out if d["kind"] == kind)


def identity(doc: dict[str, Any]) -> tuple[str, str]:
    return (doc["kind"], doc["metadata"]["name"])


def flags(container: dict[str, Any]) -> list[str]:
    return [a.split("=", 1)[0] for a in container["args"]]


# --- the pure tuning -----------------------------------------------------------------------------


def test_homelab_deployments_run_on_arm64_linux_with_the_seed_resources(
    docs: list[dict[str, Any]],
) -> None:
    out = tune_manifest(docs, homelab())
    deps = deployments(out)
    assert sorted(deps) == sorted(release.DEFAULT_COMPONENTS)
    for name, dep in deps.items():
        pod = dep["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"}
        assert "affinity" not in pod
        container = manager(dep)
        assert container["resources"] == HOMELAB_RESOURCES, name
        assert container["args"].count("--concurrent=2") == 1
        assert len(flags(container)) == len(set(flags(container))), container["args"]
        # GOMEMLIMIT follows this container's memory limit (256Mi), once.
        gomem = [e for e in container["env"] if e["name"] == "GOMEMLIMIT"]
        assert gomem == [
            {
                "name": "GOMEMLIMIT",
                "valueFrom": {
                    "resourceFieldRef": {"containerName": "manager", "resource": "limits.memory"}
                },
            }
        ]
        assert SKIP_AWAIT not in (dep["metadata"].get("annotations") or {})


def test_default_manifest_is_kept_where_args_say_nothing(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(docs, args())
    source = manager(deployments(out)["source-controller"])
    original = next(
        d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "source-controller"
    )
    assert source["resources"] == manager(original)["resources"]
    assert source["args"] == manager(original)["args"]
    assert source["image"] == "ghcr.io/fluxcd/source-controller:v1.9.4"
    pod = deployments(out)["source-controller"]["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"}


def test_tuning_leaves_the_parsed_documents_alone(docs: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(docs)
    first = tune_manifest(docs, homelab(components=ALL, registry="docker.io/fluxcd"))
    assert docs == before
    assert tune_manifest(docs, homelab(components=ALL, registry="docker.io/fluxcd")) == first


def test_order_is_namespace_then_crds_then_the_rest(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(docs, args(components=ALL))
    kinds = [d["kind"] for d in out]
    assert kinds[0] == "Namespace"
    assert kinds[1:15] == ["CustomResourceDefinition"] * 14
    assert "CustomResourceDefinition" not in kinds[15:]
    assert len(out) == len(docs)


def test_image_controllers_are_opt_in(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(docs, args())
    assert not [d for d in out if "image" in d["metadata"]["name"]]
    crd_groups = {d["spec"]["group"] for d in out if d["kind"] == "CustomResourceDefinition"}
    assert crd_groups == {
        "source.toolkit.fluxcd.io",
        "kustomize.toolkit.fluxcd.io",
        "helm.toolkit.fluxcd.io",
        "notification.toolkit.fluxcd.io",
    }
    assert names(out, "Service") == [
        "notification-controller",
        "source-controller",
        "webhook-receiver",
    ]
    (binding,) = [d for d in out if d["metadata"]["name"] == "crd-controller" and "subjects" in d]
    accounts = [s["name"] for s in binding["subjects"]]
    assert not set(IMAGE) & set(accounts)

    with_image = tune_manifest(docs, args(components=[*release.DEFAULT_COMPONENTS, *IMAGE]))
    assert sorted(deployments(with_image)) == sorted(ALL)
    assert set(IMAGE) <= set(names(with_image, "ServiceAccount"))
    assert {
        "imagepolicies.image.toolkit.fluxcd.io",
        "imagerepositories.image.toolkit.fluxcd.io",
        "imageupdateautomations.image.toolkit.fluxcd.io",
    } <= set(names(with_image, "CustomResourceDefinition"))


def test_source_only_drops_events_addr_and_the_reconciler_binding(
    docs: list[dict[str, Any]],
) -> None:
    out = tune_manifest(docs, args(components=["source"]))
    assert list(deployments(out)) == ["source-controller"]
    assert {d["spec"]["group"] for d in out if d["kind"] == "CustomResourceDefinition"} == {
        "source.toolkit.fluxcd.io"
    }
    assert "--events-addr" not in flags(manager(deployments(out)["source-controller"]))
    # cluster-reconciler binds only kustomize and helm: with neither installed it goes.
    assert names(out, "ClusterRoleBinding") == ["crd-controller"]


def test_image_tags_match_the_pinned_release(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(docs, args(components=ALL))
    images = {name: manager(d)["image"] for name, d in deployments(out).items()}
    assert images == {
        name: f"ghcr.io/fluxcd/{name}:{tag}" for name, tag in RELEASE_IMAGE_TAGS["2.9.4"].items()
    }


def test_registry_override_and_digest_pin(docs: list[dict[str, Any]]) -> None:
    digest = "sha256:" + "ab" * 32
    out = tune_manifest(
        docs,
        args(registry="docker.io/fluxcd/", controllers={"kustomize": {"image_digest": digest}}),
    )
    images = {name: manager(d)["image"] for name, d in deployments(out).items()}
    assert (
        images["kustomize-controller"] == f"docker.io/fluxcd/kustomize-controller:v1.9.4@{digest}"
    )
    assert images["helm-controller"] == "docker.io/fluxcd/helm-controller:v1.6.3"
    assert images["source-controller"] == "docker.io/fluxcd/source-controller:v1.9.4"


def test_a_manifest_of_another_release_is_rejected(docs: list[dict[str, Any]]) -> None:
    old = copy.deepcopy(docs)
    for doc in old:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "kustomize-controller":
            manager(doc)["image"] = "ghcr.io/fluxcd/kustomize-controller:v1.8.0"
    with pytest.raises(
        InstallManifestError,
        match=r"manifest '.*install.yaml': Deployment 'kustomize-controller' runs "
        r"'ghcr.io/fluxcd/kustomize-controller:v1.8.0', but Flux 2.9.4 ships "
        r"kustomize-controller v1.9.4 \(expected the install.yaml of the pinned version",
    ):
        tune_manifest(old, args())


def test_flags_are_replaced_in_place_and_controller_tuning_wins(
    docs: list[dict[str, Any]],
) -> None:
    out = tune_manifest(
        docs,
        homelab(
            defaults={
                "log_level": "debug",
                "extra_args": ["--watch-all-namespaces=false", "--kube-api-qps=100"],
            },
            controllers={
                "kustomize": ControllerTuning(concurrent=8, extra_args=["--kube-api-qps=200"]),
            },
        ),
    )
    kustomize = manager(deployments(out)["kustomize-controller"])
    assert kustomize["args"] == [
        "--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
        "--watch-all-namespaces=false",
        "--log-level=debug",
        "--log-encoding=json",
        "--enable-leader-election",
        "--concurrent=8",
        "--kube-api-qps=200",
    ]
    helm = manager(deployments(out)["helm-controller"])
    assert "--concurrent=2" in helm["args"]
    assert "--kube-api-qps=100" in helm["args"]
    # The seed's defaults still apply to the tuned controller.
    assert kustomize["resources"] == HOMELAB_RESOURCES


def test_multi_tenancy_flags_go_to_the_right_controllers(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(
        docs,
        args(components=ALL, no_cross_namespace_refs=True, default_service_account="default"),
    )
    got = {
        name: {
            a
            for a in manager(d)["args"]
            if a.startswith(("--no-cross-namespace-refs", "--default-service-account"))
        }
        for name, d in deployments(out).items()
    }
    both = {"--no-cross-namespace-refs=true", "--default-service-account=default"}
    assert got == {
        "source-controller": set(),
        "kustomize-controller": both,
        "helm-controller": both,
        "notification-controller": {"--no-cross-namespace-refs=true"},
        "image-reflector-controller": {"--no-cross-namespace-refs=true"},
        "image-automation-controller": {"--no-cross-namespace-refs=true"},
    }


def test_requeue_dependency_only_where_the_flag_exists(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(docs, args(components=ALL, defaults={"requeue_dependency": "1m"}))
    having = sorted(
        name
        for name, d in deployments(out).items()
        if "--requeue-dependency=1m" in manager(d)["args"]
    )
    assert having == [
        "helm-controller",
        "image-reflector-controller",
        "kustomize-controller",
        "source-controller",
    ]


def test_several_architectures_become_a_node_affinity(docs: list[dict[str, Any]]) -> None:
    user_affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                ]
            }
        }
    }
    out = tune_manifest(
        docs,
        args(
            scheduling={
                "architectures": ["arm64", "amd64"],
                "node_selector": {"homelab/flux": "true"},
                "affinity": user_affinity,
            }
        ),
    )
    pod = deployments(out)["helm-controller"]["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "homelab/flux": "true"}
    arch = {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64", "amd64"]}
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [t["matchExpressions"][-1] for t in terms["nodeSelectorTerms"]] == [arch, arch]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][0]["values"] == ["a"]

    plain = tune_manifest(docs, args(scheduling={"architectures": ["arm64", "arm"]}))
    pod = deployments(plain)["source-controller"]["spec"]["template"]["spec"]
    assert pod["affinity"] == {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/arch",
                                "operator": "In",
                                "values": ["arm64", "arm"],
                            }
                        ]
                    }
                ]
            }
        }
    }


def test_tolerations_and_priority_class(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(
        docs,
        args(
            scheduling={
                "tolerations": [
                    {
                        "key": "node-role.kubernetes.io/control-plane",
                        "operator": "Exists",
                        "effect": "NoSchedule",
                    },
                    {
                        "key": "homelab/pi",
                        "value": "true",
                        "effect": "NoExecute",
                        "toleration_seconds": 60,
                    },
                ],
                "priority_class_name": "homelab-critical",
            }
        ),
    )
    for dep in deployments(out).values():
        pod = dep["spec"]["template"]["spec"]
        assert pod["tolerations"] == [
            {
                "key": "node-role.kubernetes.io/control-plane",
                "operator": "Exists",
                "effect": "NoSchedule",
            },
            {
                "key": "homelab/pi",
                "operator": "Equal",
                "value": "true",
                "effect": "NoExecute",
                "tolerationSeconds": 60,
            },
        ]
        assert pod["priorityClassName"] == "homelab-critical"


def test_partial_resources_keep_the_rest_of_the_manifest(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(
        docs, args(controllers={"source": {"resources": {"limits": {"memory": "512Mi", "cpu": 1}}}})
    )
    assert manager(deployments(out)["source-controller"])["resources"] == {
        "limits": {"cpu": "1", "memory": "512Mi"},
        "requests": {"cpu": "50m", "memory": "64Mi"},
    }


def test_wait_false_skips_pulumi_await_on_workloads(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(docs, args(wait=False))
    for doc in out:
        annotations = doc["metadata"].get("annotations") or {}
        expected = doc["kind"] in ("Deployment", "Service")
        assert (annotations.get(SKIP_AWAIT) == "true") is expected, (doc["kind"], annotations)


def test_another_namespace_moves_every_reference(docs: list[dict[str, Any]]) -> None:
    out = tune_manifest(docs, args(namespace="flux"))
    assert out[0]["metadata"]["name"] == "flux"
    namespaced = [d for d in out if "namespace" in d["metadata"]]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"flux"}
    assert "flux-system" not in json.dumps(out)
    kustomize = manager(deployments(out)["kustomize-controller"])
    assert (
        kustomize["args"][0]
        == "--events-addr=http://notification-controller.flux.svc.cluster.local./"
    )


def test_quantities() -> None:
    assert quantity_value("128Mi") == 128 * 2**20
    assert quantity_value("100m") == Decimal("0.1")
    assert quantity_value("1.5G") == Decimal(1_500_000_000)
    assert quantity_value("1e3") == 1000
    assert quantity_value("2") == 2


# --- bad input -----------------------------------------------------------------------------------

BAD_ARGS: list[tuple[dict[str, Any], str]] = [
    (
        {"components": ["source", "kustomise"]},
        r"FluxInstallArgs: components\[1\] 'kustomise': is not a Flux controller \(expected one "
        r"of source-controller, kustomize-controller, helm-controller, notification-controller, "
        r"image-reflector-controller, image-automation-controller",
    ),
    (
        {"controllers": {"kustomise": {"concurrent": 2}}},
        r"controllers.kustomise 'kustomise': is not a Flux controller \(expected one of",
    ),
    (
        {"controllers": {"image-automation": {"concurrent": 1}}},
        r"controllers.image-automation-controller 'image-automation-controller': is tuned but not "
        r"installed \(expected one of components: source-controller, kustomize-controller",
    ),
    (
        {"defaults": {"resources": {"limits": {"memory": "100mb"}}}},
        r"defaults.resources.limits.memory '100mb': is not a memory quantity \(expected e.g. "
        r"'128Mi', '1Gi' or '500M'",
    ),
    (
        {"defaults": {"resources": {"requests": {"memory": "128m"}}}},
        r"defaults.resources.requests.memory '128m': is not a memory quantity .*'m' means "
        r"thousandths of a byte: did you mean 'Mi'\?",
    ),
    (
        {"controllers": {"kustomize": {"resources": {"requests": {"cpu": "1 core"}}}}},
        r"controllers.kustomize-controller.resources.requests.cpu '1 core': is not a CPU quantity "
        r"\(expected millicores like '100m' or cores like '0.5' or '2'\)",
    ),
    (
        {"defaults": {"extra_args": ["--kube-api-qps 100"]}},
        r"defaults.extraArgs\[0\] '--kube-api-qps 100': is not a '--flag=value' argument "
        r"\(expected e.g. '--kube-api-qps=100'",
    ),
    (
        {"defaults": {"extraArgs": ["--concurrent=4"]}},
        r"defaults.extraArgs\[0\] '--concurrent=4': sets --concurrent, which has a typed "
        r"setting: use concurrent instead",
    ),
    (
        {"defaults": {"extraArgs": ["--kube-api-qps=1", "--kube-api-qps=2"]}},
        r"defaults.extraArgs\[1\] '--kube-api-qps=2': sets --kube-api-qps again "
        r"\(extraArgs\[0\] sets it\)",
    ),
    (
        {"defaults": {"requeueDependency": "30 seconds"}},
        r"defaults.requeueDependency '30 seconds': is not a duration \(expected e.g. '30s'",
    ),
    (
        {"controllers": {"notification": {"requeue_dependency": "30s"}}},
        r"controllers.notification-controller.requeueDependency '30s': notification-controller "
        r"has no --requeue-dependency flag",
    ),
    (
        {"defaults": {"log_level": "verbose"}},
        r"defaults.logLevel 'verbose': input should be 'trace', 'debug', 'info' or 'error'",
    ),
    (
        {"defaults": {"concurrent": 0}},
        r"defaults.concurrent 0: input should be greater than or equal to 1",
    ),
    (
        {"components": ["source", "image-automation"]},
        r"components \['source-controller', 'image-automation-controller'\]: "
        r"image-automation-controller needs image-reflector-controller .*add it to components",
    ),
    (
        {"components": ["kustomize"]},
        r"kustomize-controller needs source-controller",
    ),
    (
        {"registry": "https://docker.io/fluxcd"},
        r"registry 'https://docker.io/fluxcd': must not have a scheme \(expected e.g. "
        r"'docker.io/fluxcd'\)",
    ),
    (
        {"controllers": {"source": {"image_digest": "sha256:abc"}}},
        r"controllers.source-controller.imageDigest 'sha256:abc': is not an image digest",
    ),
    (
        {"scheduling": {"node_selector": {"kubernetes.io/arch": "arm64"}}},
        r"scheduling.nodeSelector .*: sets 'kubernetes.io/arch', which FluxInstall manages "
        r"\(use architectures\)",
    ),
    (
        {"scheduling": {"architectures": ["x86_64"]}},
        r"scheduling.architectures\[0\] 'x86_64': expected 'arm64', 'amd64' or 'arm'",
    ),
    (
        {"scheduling": {"tolerations": [{"operator": "Exists", "value": "x"}]}},
        r"scheduling.tolerations\[0\].value 'x': must be empty when operator is 'Exists'",
    ),
    (
        {"scheduling": {"affinity": {"nodeAfinity": {}}}},
        r"scheduling.affinity .*: has unknown key 'nodeAfinity' \(expected nodeAffinity",
    ),
    (
        {"manifest": "http://example.com/install.yaml"},
        r"manifest 'http://example.com/install.yaml': is a plain http:// URL \(expected an "
        r"https:// URL or a local file path\)",
    ),
    (
        {"version": "latest"},
        r"version 'latest': is not a Flux release version \(expected e.g. '2.9.4'\)",
    ),
    ({"sha256": "abc"}, r"sha256 'abc': is not a sha256 digest \(expected 64 hex digits\)"),
    ({"wiat": False}, r"wiat: unknown field"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_ARGS, ids=[m[:40] for _, m in BAD_ARGS])
def test_bad_args_name_field_value_and_expectation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        FluxInstallArgs(**kwargs)


def test_requests_above_limits_blame_the_field_that_set_them(docs: list[dict[str, Any]]) -> None:
    with pytest.raises(
        SpecError,
        match=r"FluxInstallArgs: controllers.helm-controller.resources.requests.memory '2Gi': is "
        r"more than the limit '1Gi' of helm-controller \(expected requests <= limits",
    ):
        tune_manifest(
            docs, args(controllers={"helm": {"resources": {"requests": {"memory": "2Gi"}}}})
        )
    with pytest.raises(
        SpecError,
        match=r"defaults.resources.limits.cpu '50m': is less than the request '100m' of "
        r"helm-controller",
    ):
        tune_manifest(docs, args(defaults={"resources": {"limits": {"cpu": "50m"}}}))


def test_a_manifest_without_a_selected_controller_is_rejected(docs: list[dict[str, Any]]) -> None:
    stripped = [d for d in docs if "image-automation" not in d["metadata"]["name"]]
    with pytest.raises(
        InstallManifestError,
        match=r"manifest 'x.yaml': has no Deployment for image-automation-controller \(components "
        r"selects it\); expected the full install.yaml of Flux 2.9.4",
    ):
        tune_manifest(stripped, args(components=ALL), where="manifest 'x.yaml'")


def test_a_manifest_document_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(
        InstallManifestError,
        match=r"manifest .*: document 1 lacks apiVersion, kind or metadata.name \(expected a "
        r"Kubernetes object\)",
    ):
        tune_manifest(
            [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
                {"kind": "Thing"},
            ],
            args(),
        )


# --- the component -------------------------------------------------------------------------------


@dataclass
class Registration:
    type: str
    parent: str | None
    deps: set[str]


@pytest.fixture
def registrations(monkeypatch: pytest.MonkeyPatch) -> dict[str, Registration]:
    """Registrations by Pulumi name, with parent and `depends_on` names (RecordingMocks sees
    neither), in the order the engine received them."""
    seen: dict[str, Registration] = {}
    original = pulumi_mocks.MockMonitor.RegisterResource

    def spy(self: Any, request: Any) -> Any:
        seen[request.name] = Registration(
            request.type,
            request.parent.rsplit("::", 1)[-1] if request.parent else None,
            {urn.rsplit("::", 1)[-1] for urn in request.dependencies},
        )
        return original(self, request)

    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", spy)
    return seen


def install(args: FluxInstallArgs | None = None) -> dict[str, Any]:
    """Run a FluxInstall program; returns the component and its resolved namespace."""
    got: dict[str, Any] = {}

    def program() -> None:
        flux = FluxInstall("flux", args or homelab())
        got["flux"] = flux
        flux.namespace.apply(lambda ns: got.setdefault("namespace", ns))

    synth.run(program)
    return got


def test_offline_install_registers_crds_first_and_everything_waits_for_them(
    mocks: RecordingMocks, registrations: dict[str, Registration]
) -> None:
    got = install()
    flux: FluxInstall = got["flux"]
    regs = {n: r for n, r in registrations.items() if r.type.startswith("kubernetes:")}
    order = list(regs)
    crds = [n for n in order if n.startswith("flux-crd-")]
    assert len(crds) == 11
    # The Namespace and the CRDs reach the engine before anything else, and wait for nothing.
    assert set(order[:12]) == {"flux-namespace", *crds}
    assert all(regs[n].deps == set() for n in order[:12])
    base = {"flux-namespace", *crds}
    for name in order[12:]:
        assert base <= regs[name].deps, name
    accounts = {n for n in order if n.startswith("flux-serviceaccount-")}
    assert len(accounts) == 4
    for name in order:
        assert regs[name].parent == "flux", name
        if regs[name].type == "kubernetes:apps/v1:Deployment":
            assert accounts <= regs[name].deps
        if regs[name].type == "kubernetes:core/v1:Service":
            # A Service awaits ready pods: it must not hold the Deployments back.
            assert regs[name].deps == base
            assert not any(n.startswith("flux-deployment-") for n in regs[name].deps)
    # What was registered is exactly the tuned manifest, with the real kinds' type tokens.
    # (Numbers come back as floats through the engine's protobuf, hence == and not JSON text.)
    assert sorted(mocks.kubernetes_objects(), key=identity) == sorted(flux.manifests, key=identity)
    assert {r.type for r in regs.values()} >= {
        "kubernetes:core/v1:Namespace",
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    }
    (dep,) = [
        d for d in mocks.by_kind("Deployment") if d["metadata"]["name"] == "kustomize-controller"
    ]
    assert dep["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/arch"] == "arm64"


def test_install_outputs_and_depends_on_helper(mocks: RecordingMocks) -> None:
    got = install(args=homelab(components=[*release.DEFAULT_COMPONENTS, *IMAGE]))
    flux: FluxInstall = got["flux"]
    assert got["namespace"] == "flux-system"
    assert len(flux.crds) == 14
    assert sorted(flux.deployments) == sorted(ALL)
    assert flux.ready == [flux.namespace_resource, *flux.crds, *flux.deployments.values()]
    opts = flux.depends_on(pulumi.ResourceOptions(protect=True))
    assert opts.protect is True
    assert list(opts.depends_on or []) == flux.ready  # type: ignore[arg-type]
    assert "Deployment/kustomize-controller" in flux.resources
    component = next(r for r in mocks.resources if r.type == "gitops:flux:FluxInstall")
    assert component.name == "flux"


def test_install_from_parsed_documents(mocks: RecordingMocks, docs: list[dict[str, Any]]) -> None:
    got = install(args=args(components=["source"], wait=False, docs=docs))
    assert [d["metadata"]["name"] for d in mocks.by_kind("Deployment")] == ["source-controller"]
    (dep,) = mocks.by_kind("Deployment")
    assert dep["metadata"]["annotations"] == {SKIP_AWAIT: "true"}
    assert got["flux"].args.components == ["source-controller"]


def test_args_are_the_settings_plus_parsed_documents(docs: list[dict[str, Any]]) -> None:
    # The settings (the base of the stack's gitops:flux) take no documents.
    with pytest.raises(SpecError, match=r"^FluxInstallSettings: docs: unknown field"):
        FluxInstallSettings(docs=[])
    settings = FluxInstallSettings(manifest=str(INSTALL), components=["source"], wait=False)
    made = FluxInstallArgs.from_settings(settings, docs=docs)
    assert (made.components, made.wait, made.manifest) == (
        ["source-controller"],
        False,
        str(INSTALL),
    )
    assert made.model_fields_set == {"manifest", "components", "wait", "docs"}
    assert made.docs == tuple(docs)
    assert "docs" not in made.model_dump()  # the documents never reach a dump or the config
    assert tune_manifest(made.docs, made) == tune_manifest(docs, settings)
    with pytest.raises(
        SpecError,
        match=r"^FluxInstallArgs: docs 'kind: Namespace': is not a list of parsed manifest "
        r"documents \(expected e.g. load_manifest\(args\)\)",
    ):
        FluxInstallArgs(docs="kind: Namespace")


def test_checksum_is_verified(mocks: RecordingMocks) -> None:
    digest = hashlib.sha256(INSTALL.read_bytes()).hexdigest()
    install(args=homelab(sha256=f"sha256:{digest.upper()}"))
    assert len(mocks.by_kind("Deployment")) == 4

    wrong = "0" * 64
    with pytest.raises(
        InstallManifestError,
        match=rf"FluxInstall 'flux': manifest '{INSTALL}': sha256 mismatch: expected {wrong}, "
        rf"got {digest} \(the file is not the pinned one",
    ):
        FluxInstall("flux", homelab(sha256=wrong))
    # The check runs before the second component is registered.
    assert [r.name for r in mocks.resources if r.type == "gitops:flux:FluxInstall"] == ["flux"]


def test_missing_manifest_file(mocks: RecordingMocks) -> None:
    with pytest.raises(
        InstallManifestError,
        match=r"FluxInstall 'flux': manifest '/nowhere/install.yaml': file not found \(expected "
        r"a Flux install.yaml, or an https:// URL such as "
        r"https://github.com/fluxcd/flux2/releases/download/v2.9.4/install.yaml\)",
    ):
        FluxInstall("flux", FluxInstallArgs(manifest="/nowhere/install.yaml"))
    assert mocks.resources == []


class _Response(io.BytesIO):
    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# What a download serves: the manifest with a trailing comment, so its bytes (and sha256) are
# told apart from the shipped copy's.
SERVED = INSTALL.read_bytes() + b"# served by the test download\n"
SERVED_SHA256 = hashlib.sha256(SERVED).hexdigest()


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Serve `SERVED` for any URL; records the URLs fetched."""
    fetched: list[str] = []

    def urlopen(url: str, timeout: float) -> _Response:
        fetched.append(url)
        return _Response(SERVED)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(install_manifest, "_DOWNLOADS", {})
    yield fetched


def test_the_shipped_manifest_matches_its_pin() -> None:
    assert release.FLUX_VERSION in release.MANIFEST_SHA256
    for version, pinned in release.MANIFEST_SHA256.items():
        data = install_manifest.embedded_manifest(version)
        assert data is not None, version
        assert hashlib.sha256(data).hexdigest() == pinned, version
    # Every shipped manifest is pinned, and sits where its release's pin says.
    shipped = sorted(p.parent.name for p in (INSTALL.parent.parent).glob("*/install.yaml"))
    assert shipped == sorted(f"v{v}" for v in release.MANIFEST_SHA256)
    assert install_manifest.embedded_manifest("2.9.3") is None  # no copy, no pin


def test_the_shipped_manifest_is_in_the_package_data() -> None:
    # setuptools copies only what tool.setuptools.package-data globs into a wheel: a shipped
    # manifest outside them would be missing from every non-editable install.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["gitops_sdk"]
    package = ROOT / "gitops_sdk"
    matched = {m for p in patterns for m in glob.glob(p, root_dir=package, recursive=True)}
    data = {p.relative_to(package).as_posix() for p in (package / "data").rglob("*.yaml")}
    assert data, "no shipped data found"
    assert data <= matched, f"not in package-data {patterns}: {sorted(data - matched)}"


@pytest.mark.skipif(
    not SHARED_INSTALL.is_file(),
    reason="needs ../shared/flux-install (the reference Flux install manifest) to compare the "
    "shipped copy with; CI always has it",
)
def test_the_shipped_manifest_is_the_shared_reference_copy() -> None:
    assert INSTALL.read_bytes() == SHARED_INSTALL.read_bytes()


@pytest.mark.skipif(
    not CRD_DIR.is_dir(),
    reason="needs ../shared/flux-crds (the official Flux CRDs) to compare the shipped "
    "manifest's CRDs with; CI always has it",
)
def test_the_shipped_manifest_serves_the_official_crds() -> None:
    # Without ../shared the CRD checks use the shipped manifest's CRDs (tests/conftest.py).
    shipped = load_crd_schemas([INSTALL])
    assert len(shipped) == 14
    assert shipped == load_crd_schemas([CRD_DIR])


def test_default_manifest_is_the_shipped_copy_read_offline(
    mocks: RecordingMocks, downloads: list[str]
) -> None:
    assert source_of(FluxInstallArgs()) == EMBEDDED
    install(args=FluxInstallArgs.arm64_homelab())
    install(args=FluxInstallArgs.arm64_homelab(sha256=release.MANIFEST_SHA256["2.9.4"]))
    assert downloads == []
    assert len(mocks.by_kind("Deployment")) == 8
    assert read_manifest(FluxInstallArgs()) == INSTALL.read_bytes()


def test_a_tampered_shipped_copy_is_refused(
    mocks: RecordingMocks, downloads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tampered = INSTALL.read_bytes().replace(b"v1.9.4", b"v1.9.5", 1)
    monkeypatch.setattr(install_manifest, "embedded_manifest", lambda version: tampered)
    message = (
        rf"^FluxInstallArgs: manifest '{EMBEDDED}': sha256 mismatch: expected "
        rf"{release.MANIFEST_SHA256['2.9.4']}, got {hashlib.sha256(tampered).hexdigest()} "
        r"\(the package's copy was changed: reinstall gitops-sdk, or set manifest to a local "
        r"file or https:// URL\)$"
    )
    for settings in (FluxInstallArgs(), FluxInstallSettings(components=["source"])):
        with pytest.raises(InstallManifestError, match=message) as caught:
            load_manifest(settings)
        assert not isinstance(caught.value, ManifestUnavailableError)
    with pytest.raises(InstallManifestError, match="FluxInstall 'flux': manifest 'embedded:"):
        FluxInstall("flux", FluxInstallArgs())
    assert mocks.resources == []
    assert downloads == []  # never replaced by a download behind the user's back


def test_a_release_without_a_shipped_copy_is_downloaded(
    mocks: RecordingMocks, downloads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when a package was installed without its data: the release asset, as before.
    monkeypatch.setattr(install_manifest, "embedded_manifest", lambda version: None)
    assert source_of(FluxInstallArgs()) == RELEASE_ASSET
    install(args=FluxInstallArgs.arm64_homelab(sha256=SERVED_SHA256))
    assert downloads == [RELEASE_ASSET]
    assert len(mocks.by_kind("Deployment")) == 4


def test_a_sha256_of_other_bytes_downloads_the_release_asset(
    mocks: RecordingMocks, downloads: list[str]
) -> None:
    # A sha256 that is not the shipped copy's pins the release asset itself: fetch and check it.
    install(args=FluxInstallArgs.arm64_homelab(sha256=SERVED_SHA256))
    assert downloads == [RELEASE_ASSET]
    wrong = "0" * 64
    with pytest.raises(
        InstallManifestError,
        match=rf"^FluxInstallArgs: manifest '{RELEASE_ASSET}': sha256 mismatch: expected "
        rf"{wrong}, got {SERVED_SHA256} \(the file is not the pinned one",
    ):
        load_manifest(FluxInstallArgs(sha256=wrong))


def test_a_manifest_setting_wins_over_the_shipped_copy(
    tmp_path: Path, downloads: list[str]
) -> None:
    local = tmp_path / "install.yaml"
    local.write_bytes(SERVED)
    args = FluxInstallArgs(manifest=str(local))
    assert source_of(args) == str(local)
    assert read_manifest(args) == SERVED
    assert read_manifest(FluxInstallArgs(manifest="https://mirror.lan/flux.yaml")) == SERVED
    assert downloads == ["https://mirror.lan/flux.yaml"]


def test_an_unpinned_download_is_warned_about(
    mocks: RecordingMocks, downloads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    install(args=FluxInstallArgs.arm64_homelab(manifest="https://mirror.lan/flux.yaml"))
    assert warnings == [
        "FluxInstall 'flux': manifest https://mirror.lan/flux.yaml is not pinned by sha256; set "
        "sha256 so a changed download cannot reach the cluster"
    ]


def test_the_shipped_copy_is_not_warned_about(
    mocks: RecordingMocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing is downloaded, and the shipped copy is checked against its pin.
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    install(args=FluxInstallArgs.arm64_homelab())
    assert warnings == []


def test_download_failure_names_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    def urlopen(url: str, timeout: float) -> _Response:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(install_manifest, "_DOWNLOADS", {})
    with pytest.raises(
        ManifestUnavailableError,
        match=r"FluxInstallArgs: manifest 'https://mirror.lan/install.yaml': cannot download it "
        r"\(Name or service not known\); expected a reachable https:// URL",
    ):
        load_manifest(FluxInstallArgs(manifest="https://mirror.lan/install.yaml"))
