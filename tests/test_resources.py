"""FluxResource registers exactly what pulumi-kubernetes' CustomResource would, and KubeObject
exactly what its typed class of the kind would."""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.mocks import MockMonitor
from pulumi_kubernetes.apiextensions import CustomResource
from pydantic.alias_generators import to_snake

from gitops_sdk import GitopsError, GitRepository, Kustomization, register, register_all
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.ordering import send_registrations
from gitops_sdk.components.resource import PATCH_FORCE, flux_key
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every RegisterResource request the engine receives (the wire format, not the mocks')."""
    seen: list[Any] = []
    original = MockMonitor.RegisterResource

    def spy(self: MockMonitor, request: Any) -> Any:
        seen.append(request)
        return original(self, request)

    monkeypatch.setattr(MockMonitor, "RegisterResource", spy)
    yield seen


def wire(request: Any) -> dict[str, Any]:
    fields = ("type", "name", "custom", "version", "protect", "ignoreChanges", "dependencies")
    out = {f: getattr(request, f) for f in fields}
    out["dependencies"] = sorted(u.rsplit("::", 1)[-1] for u in request.dependencies)
    out["object"] = pulumi.runtime.rpc.deserialize_properties(request.object)
    return out


def fleet() -> GitRepository:
    return GitRepository(
        name="fleet", namespace="flux-system", url="https://github.com/org/fleet", interval="1m"
    )


def unit(name: str, source: GitRepository, **extra: Any) -> Kustomization:
    return Kustomization(
        name=name,
        namespace="flux-system",
        interval="10m",
        path=f"./{name}",
        prune=True,
        source_ref=source,
        **extra,
    )


def test_flux_resource_matches_custom_resource_on_the_wire(
    mocks: RecordingMocks, requests: list[Any]
) -> None:
    repo = fleet()
    kustomization = unit("apps", repo, labels={"tier": "apps"})
    manifest = kustomization.to_manifest()

    def program() -> None:
        source = register(repo)
        other = register(repo, name="fleet-twin")
        opts = pulumi.ResourceOptions(protect=True, ignore_changes=["spec"], depends_on=[other])
        register(kustomization, opts, name="via-sdk", resources={flux_key(repo): source})
        CustomResource(
            "via-raw",
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            # what the SDK adds: Pulumi owns the object (see PATCH_FORCE)
            metadata={**manifest["metadata"], "annotations": PATCH_FORCE},
            spec=manifest["spec"],
            opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(depends_on=[source]), opts),
        )

    synth.run(program)
    sdk, raw = (wire(r) for r in requests if r.name in ("via-sdk", "via-raw"))
    assert sdk.pop("name") == "via-sdk" and raw.pop("name") == "via-raw"
    assert sdk == raw
    assert sdk["version"]  # the provider version is pinned, as CustomResource pins it
    assert sdk["dependencies"] == ["fleet-twin", "gitrepository-flux-system-fleet"]
    assert sdk["protect"] is True and list(sdk["ignoreChanges"]) == ["spec"]


def test_register_does_not_change_the_callers_options(
    mocks: RecordingMocks, requests: list[Any]
) -> None:
    repo = fleet()
    apps = unit("apps", repo)
    opts = pulumi.ResourceOptions(protect=True)

    def program() -> None:
        source = register(repo, opts)
        register(apps, opts, resources={flux_key(repo): source})
        register(apps, opts, name="apps-again", resources={flux_key(repo): source})

    synth.run(program)
    assert opts.version is None and opts.depends_on is None
    deps = {r.name: list(r.dependencies) for r in requests}
    assert len(deps["kustomization-flux-system-apps"]) == 1
    assert deps["apps-again"] == deps["kustomization-flux-system-apps"]


def test_a_top_level_field_other_than_spec_is_refused(mocks: RecordingMocks) -> None:
    repo = fleet()

    class WithExtra(GitRepository):
        def to_manifest(self) -> dict[str, Any]:
            return {**super().to_manifest(), "data": {"k": "v"}}

    odd = WithExtra.model_validate(repo.to_manifest())
    with pytest.raises(
        GitopsError, match=r"^GitRepository 'fleet': cannot register fields \['data'\]$"
    ):
        register(odd)
    assert mocks.resources == []


def test_register_all_puts_referenced_objects_first(
    mocks: RecordingMocks, requests: list[Any]
) -> None:
    repo = fleet()
    infra = unit("infra", repo)
    apps = unit("apps", repo, depends_on=[infra])
    synth.run(lambda: register_all([apps, infra, repo]))
    assert [r.name for r in mocks.resources] == [
        "gitrepository-flux-system-fleet",
        "kustomization-flux-system-infra",
        "kustomization-flux-system-apps",
    ]
    deps = {r.name: sorted(u.rsplit("::", 1)[-1] for u in r.dependencies) for r in requests}
    assert deps["kustomization-flux-system-apps"] == [
        "gitrepository-flux-system-fleet",
        "kustomization-flux-system-infra",
    ]


SIG = pulumi.runtime.rpc._special_sig_key
SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "s", "namespace": "n"},
    "type": "Opaque",
    "stringData": {"token": "hunter2"},
    "data": {"blob": "aHVudGVyMg=="},
}
KINDS: list[dict[str, Any]] = [
    SECRET,
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"a": "b"}}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "n"}},
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "n"},
        "spec": {"ports": [{"port": 80, "targetPort": "http"}], "selector": {"app": "web"}},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "n"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "args": ["-x"]}]},
            },
        },
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "r"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "n"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    },
]


@pytest.mark.parametrize("doc", KINDS, ids=lambda d: str(d["kind"]))
def test_kube_object_matches_the_typed_class_on_the_wire(
    mocks: RecordingMocks, requests: list[Any], doc: dict[str, Any]
) -> None:
    group, _, version = doc["apiVersion"].rpartition("/")
    module = importlib.import_module(f"pulumi_kubernetes.{group.split('.')[0] or 'core'}.{version}")
    typed = getattr(module, doc["kind"])
    body = {to_snake(k): v for k, v in doc.items() if k not in ("apiVersion", "kind")}
    opts = pulumi.ResourceOptions(protect=True)
    synth.run(lambda: (KubeObject("generic", doc, opts), typed("typed", opts=opts, **body)))
    ours, theirs = (wire(r) for r in requests if r.name in ("generic", "typed"))
    assert ours.pop("name") == "generic" and theirs.pop("name") == "typed"
    assert ours == theirs
    assert ours["type"] == f"kubernetes:{group or 'core'}/{version}:{doc['kind']}"
    assert ours["version"] and ours["protect"] is True


def test_kube_object_keeps_secret_fields_secret(mocks: RecordingMocks, requests: list[Any]) -> None:
    synth.run(lambda: KubeObject("generic", SECRET))
    (request,) = [r for r in requests if r.name == "generic"]
    assert request.type == "kubernetes:core/v1:Secret"
    assert sorted(request.additionalSecretOutputs) == ["data", "stringData"]
    sent = MessageToDict(request.object)
    for key in ("data", "stringData"):
        assert sent[key][SIG] == pulumi.runtime.rpc._special_secret_sig, key
    assert "hunter2" not in str(sent["metadata"])


def sent_while_blocked(mocks: RecordingMocks, wait: float) -> list[str]:
    """What reaches the engine while the program's own code is busy (here: sleeping)."""
    deadline = time.monotonic() + wait
    while not mocks.resources and time.monotonic() < deadline:
        time.sleep(0.01)
    return [r.name for r in mocks.resources]


@pytest.mark.parametrize("send", [True, False])
def test_send_registrations_lets_the_engine_work_while_the_program_runs(
    mocks: RecordingMocks, send: bool
) -> None:
    seen: list[str] = []

    def program() -> None:
        KubeObject("first", KINDS[1])
        if send:
            send_registrations()
        seen.extend(sent_while_blocked(mocks, 5.0 if send else 0.3))
        KubeObject("later", KINDS[3])

    synth.run(program)
    # without it, nothing reaches the engine before the program returns
    assert seen == (["first"] if send else [])
    # (independent registrations reach the engine in no set order)
    assert sorted(r.name for r in mocks.resources) == ["first", "later"]


def test_gitops_objects_register_under_their_kinds_tokens(
    mocks: RecordingMocks, requests: list[Any]
) -> None:
    from gitops_sdk.stack.objects import register_objects

    pool = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "lan", "namespace": "metallb-system"},
        "spec": {"addresses": ["192.168.1.240-192.168.1.250"]},
    }
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"n": 1}}
    synth.run(lambda: register_objects([ns, pool, cm], "flux-system", None, {}))
    sent = {r.name: r for r in requests if r.name.startswith("object-")}
    assert {n: r.type for n, r in sent.items()} == {
        "object-namespace-_-metallb-system": "kubernetes:core/v1:Namespace",
        "object-ipaddresspool-metallb-system-lan": "kubernetes:metallb.io/v1beta1:IPAddressPool",
        "object-configmap-_-c": "kubernetes:core/v1:ConfigMap",
    }
    # (as a CustomResource, a core kind got `kubernetes:v1:<Kind>`, which the provider refuses)
    assert wire(sent["object-configmap-_-c"])["object"]["data"] == {"n": "1"}
    assert wire(sent["object-ipaddresspool-metallb-system-lan"])["dependencies"] == [
        "object-namespace-_-metallb-system"
    ]


TEMPLATE: dict[str, Any] = {
    "apiVersion": "source.toolkit.fluxcd.io/v1",
    "kind": "GitRepository",
    "metadata": {"name": "${APP}-src", "namespace": "flux-system"},
    "spec": {"url": "https://github.com/org/${APP}", "interval": "${INTERVAL:=5m}"},
}


def test_a_template_whose_placeholders_skipped_checks_is_not_registered_as_written(
    mocks: RecordingMocks,
) -> None:
    from gitops_sdk import SpecError, from_manifest

    template = from_manifest(TEMPLATE)
    with pytest.raises(SpecError) as caught:
        synth.run(lambda: register(template))
    message = str(caught.value)
    assert message.startswith("GitRepository '${APP}-src': metadata.name '${APP}-src': ")
    assert "spec.interval '${INTERVAL:=5m}'" in message
    assert "nothing substitutes it" in message and "\n" not in message
    assert not [r for r in mocks.resources if r.type.startswith("kubernetes:")]


def test_a_placeholder_in_free_text_is_registered_as_written(mocks: RecordingMocks) -> None:
    from gitops_sdk import from_manifest

    release = from_manifest(
        {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "loki", "namespace": "monitoring"},
            "spec": {
                "interval": "10m",
                "chart": {
                    "spec": {
                        "chart": "loki",
                        "sourceRef": {"kind": "HelmRepository", "name": "grafana"},
                    }
                },
                "values": {"extraArgs": ["-config.expand-env=true"], "auth": "${LOKI_TOKEN}"},
            },
        }
    )
    assert release.placeholders and not release.validation_notes()
    synth.run(lambda: register(release))
    (sent,) = mocks.by_kind("HelmRelease")
    assert sent["spec"]["values"]["auth"] == "${LOKI_TOKEN}"


def test_gitops_objects_refuse_a_template_before_anything_registers() -> None:
    from gitops_sdk import ConfigError
    from gitops_sdk.stack.config import parse_config

    base = {"cluster": {"name": "a", "environment": "a"}, "repository": {"url": "https://e.com/r"}}
    with pytest.raises(
        ConfigError,
        match=r"gitops:objects\[0\].*metadata.name '\$\{APP\}-src'.*nothing substitutes it",
    ):
        parse_config({**base, "objects": [TEMPLATE]}, source="Pulumi.a.yaml")


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("kind: ConfigMap", "KubeObject 'bad': manifest: expected a mapping"),
        (
            {"kind": "ConfigMap", "metadata": {"name": "c"}},
            "KubeObject 'bad': apiVersion: expected a str",
        ),
        ({"apiVersion": "v1", "kind": 3, "metadata": {}}, "KubeObject 'bad': kind: expected a str"),
        (
            {"apiVersion": "v1", "kind": "ConfigMap"},
            "KubeObject 'bad': metadata: expected a mapping",
        ),
    ],
)
def test_kube_object_refuses_a_bad_manifest_in_one_line(
    mocks: RecordingMocks, manifest: Any, message: str
) -> None:
    with pytest.raises(GitopsError, match=f"^{re.escape(message)}"):
        KubeObject("bad", manifest)
    assert mocks.resources == []
