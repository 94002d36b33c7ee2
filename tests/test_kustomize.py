"""Kustomization: rendering, object references, the examples' round trip and validation."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from helpers import assert_model_matches_schema, check_round_trip
from pydantic.alias_generators import to_camel

from gitops_sdk.api.kustomize import Kustomization, KustomizationSpec
from gitops_sdk.api.source import GitRepository, HelmRepository
from gitops_sdk.core import errors
from gitops_sdk.core.model import from_manifest
from gitops_sdk.core.refs import iter_refs

V1 = "kustomize.toolkit.fluxcd.io/v1"

# The seed's Kustomizations, as the seed writes them.
SEED_INFRASTRUCTURE: dict[str, Any] = {
    "apiVersion": V1,
    "kind": "Kustomization",
    "metadata": {"name": "infrastructure", "namespace": "flux-system"},
    "spec": {
        "interval": "10m",
        "retryInterval": "2m",
        "timeout": "5m",
        "sourceRef": {"kind": "GitRepository", "name": "k8s-cluster-config"},
        "path": "./infrastructure",
        "prune": True,
        "wait": True,
        "validation": "client",
    },
}
SEED_TRAEFIK: dict[str, Any] = {
    "apiVersion": V1,
    "kind": "Kustomization",
    "metadata": {"name": "infrastructure-traefik", "namespace": "flux-system"},
    "spec": {
        "interval": "10m",
        "sourceRef": {"kind": "GitRepository", "name": "k8s-cluster-config"},
        "path": "./infrastructure/traefik",
        "dependsOn": [
            {"name": "infrastructure-metallb"},
            {"name": "infrastructure-cert-manager"},
        ],
        "prune": True,
        "wait": True,
    },
}


def repo(name: str = "k8s-cluster-config", namespace: str = "flux-system") -> GitRepository:
    return GitRepository(
        name=name, namespace=namespace, url="https://github.com/org/fleet", interval="1m"
    )


def make(name: str = "apps", namespace: str = "flux-system", **spec: Any) -> Kustomization:
    base: dict[str, Any] = {
        "source_ref": {"kind": "GitRepository", "name": "k8s-cluster-config"},
        "interval": "10m",
        "prune": True,
    }
    # Tests pass fields by either name; a field given in `spec` replaces the base one.
    given = {to_camel(key) for key in spec}
    base = {key: value for key, value in base.items() if to_camel(key) not in given}
    return Kustomization(name=name, namespace=namespace, **base, **spec)


# --- rendering ---------------------------------------------------------------------------------


def test_seed_infrastructure_without_removed_field_renders_exactly(assert_crd_valid: Any) -> None:
    ks = Kustomization(
        name="infrastructure",
        namespace="flux-system",
        interval="10m",
        retry_interval="2m",
        timeout="5m",
        source_ref={"kind": "GitRepository", "name": "k8s-cluster-config"},
        path="./infrastructure",
        prune=True,
        wait=True,
    )
    expected = {**SEED_INFRASTRUCTURE, "spec": dict(SEED_INFRASTRUCTURE["spec"])}
    del expected["spec"]["validation"]
    assert ks.to_manifest() == expected
    check_round_trip(expected, assert_crd_valid)


def test_seed_traefik_renders_exactly(assert_crd_valid: Any) -> None:
    ks = Kustomization(
        name="infrastructure-traefik",
        namespace="flux-system",
        interval="10m",
        source_ref={"kind": "GitRepository", "name": "k8s-cluster-config"},
        path="./infrastructure/traefik",
        depends_on=[{"name": "infrastructure-metallb"}, {"name": "infrastructure-cert-manager"}],
        prune=True,
        wait=True,
    )
    assert ks.to_manifest() == SEED_TRAEFIK
    check_round_trip(SEED_TRAEFIK, assert_crd_valid)


def test_seed_validation_field_is_rejected_with_a_hint() -> None:
    with pytest.raises(
        errors.SpecError,
        match=r"^Kustomization 'infrastructure': spec.validation: unknown field "
        r"\(removed in kustomize.toolkit.fluxcd.io/v1: Flux always validates server-side\)$",
    ):
        from_manifest(SEED_INFRASTRUCTURE)


def test_every_field_renders_in_camel_case(assert_crd_valid: Any) -> None:
    ks = make(
        path="./apps",
        retry_interval=datetime.timedelta(minutes=2),
        timeout=datetime.timedelta(seconds=90),
        target_namespace="apps",
        name_prefix="staging-",
        name_suffix="-v1",
        service_account_name="kustomize-controller",
        kube_config={"secret_ref": {"name": "remote", "key": "value.yaml"}},
        decryption={"provider": "sops", "secret_ref": {"name": "sops-age"}},
        post_build={
            "substitute": {"cluster_name": "staging", "_DOMAIN2": "example.org"},
            "substitute_from": [
                {"kind": "ConfigMap", "name": "cluster-vars"},
                {"kind": "Secret", "name": "cluster-secrets", "optional": True},
            ],
            "substitute_strategy": "Always",
        },
        patches=[
            {
                "patch": "- op: replace\n  path: /spec/replicas\n  value: 2\n",
                "target": {"kind": "Deployment", "label_selector": "app=web"},
            }
        ],
        images=[{"name": "nginx", "new_name": "ghcr.io/org/nginx", "new_tag": "1.27"}],
        components=["../components/ha"],
        ignore_missing_components=True,
        common_metadata={"labels": {"env": "staging"}, "annotations": {"team": "ops"}},
        wait=False,
        health_checks=[{"api_version": "apps/v1", "kind": "Deployment", "name": "web"}],
        health_check_exprs=[
            {
                "api_version": "cert-manager.io/v1",
                "kind": "Certificate",
                "current": "status.conditions.all(c, c.type == 'Ready' && c.status == 'True')",
                "in_progress": "status.conditions.exists(c, c.status == 'Unknown')",
                "failed": "status.conditions.exists(c, c.status == 'False')",
            }
        ],
        force=False,
        deletion_policy="WaitForTermination",
        ignore=[{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}],
        build_metadata=["originAnnotations"],
        suspend=False,
    )
    doc = ks.to_manifest()
    assert doc["spec"] == {
        "sourceRef": {"kind": "GitRepository", "name": "k8s-cluster-config"},
        "interval": "10m",
        "prune": True,
        "path": "./apps",
        "retryInterval": "2m0s",
        "timeout": "1m30s",
        "targetNamespace": "apps",
        "namePrefix": "staging-",
        "nameSuffix": "-v1",
        "serviceAccountName": "kustomize-controller",
        "kubeConfig": {"secretRef": {"name": "remote", "key": "value.yaml"}},
        "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
        "postBuild": {
            "substitute": {"cluster_name": "staging", "_DOMAIN2": "example.org"},
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "cluster-vars"},
                {"kind": "Secret", "name": "cluster-secrets", "optional": True},
            ],
            "substituteStrategy": "Always",
        },
        "patches": [
            {
                "patch": "- op: replace\n  path: /spec/replicas\n  value: 2\n",
                "target": {"kind": "Deployment", "labelSelector": "app=web"},
            }
        ],
        "images": [{"name": "nginx", "newName": "ghcr.io/org/nginx", "newTag": "1.27"}],
        "components": ["../components/ha"],
        "ignoreMissingComponents": True,
        "commonMetadata": {"labels": {"env": "staging"}, "annotations": {"team": "ops"}},
        "wait": False,
        "healthChecks": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}],
        "healthCheckExprs": [
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "current": "status.conditions.all(c, c.type == 'Ready' && c.status == 'True')",
                "inProgress": "status.conditions.exists(c, c.status == 'Unknown')",
                "failed": "status.conditions.exists(c, c.status == 'False')",
            }
        ],
        "force": False,
        "deletionPolicy": "WaitForTermination",
        "ignore": [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}],
        "buildMetadata": ["originAnnotations"],
        "suspend": False,
    }
    check_round_trip(doc, assert_crd_valid)


def test_kube_config_from_a_config_map(assert_crd_valid: Any) -> None:
    doc = make(kube_config={"config_map_ref": {"name": "aks"}}).to_manifest()
    assert doc["spec"]["kubeConfig"] == {"configMapRef": {"name": "aks"}}
    check_round_trip(doc, assert_crd_valid)


# --- object references -------------------------------------------------------------------------


def test_references_built_from_objects(assert_crd_valid: Any) -> None:
    source = repo()
    metallb = make(name="infrastructure-metallb", source_ref=source)
    monitoring = make(name="monitoring", namespace="monitoring", source_ref=source)
    ks = Kustomization(
        name="infrastructure-traefik",
        namespace="flux-system",
        source_ref=source,
        depends_on=[metallb, monitoring],
        health_checks=[monitoring],
        interval="10m",
        prune=True,
    )
    doc = ks.to_manifest()
    assert doc["spec"] == {
        # Same namespace as the referrer: omitted, as `flux create` writes it.
        "sourceRef": {"kind": "GitRepository", "name": "k8s-cluster-config"},
        "dependsOn": [
            {"name": "infrastructure-metallb"},
            {"name": "monitoring", "namespace": "monitoring"},
        ],
        # A health check needs the apiVersion, or the controller looks in the core group.
        "healthChecks": [
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "name": "monitoring",
                "namespace": "monitoring",
            }
        ],
        "interval": "10m",
        "prune": True,
    }
    check_round_trip(doc, assert_crd_valid)
    # The references remember their objects (for the Pulumi dependencies).
    assert [ref.target for ref in iter_refs(ks)] == [source, metallb, monitoring, monitoring]


def test_source_in_another_namespace_keeps_its_namespace() -> None:
    ks = make(namespace="apps", source_ref=repo(namespace="flux-system"))
    assert ks.to_manifest()["spec"]["sourceRef"] == {
        "kind": "GitRepository",
        "name": "k8s-cluster-config",
        "namespace": "flux-system",
    }


def test_source_ref_of_a_helm_repository_names_the_kind() -> None:
    helm_repo = HelmRepository(
        name="podinfo", namespace="flux-system", url="https://stefanprodan.github.io/podinfo"
    )
    with pytest.raises(
        errors.SpecError,
        match=r"^Kustomization 'apps': spec.sourceRef.kind 'HelmRepository': 'podinfo' is a "
        r"HelmRepository; expected an OCIRepository, GitRepository, Bucket or ExternalArtifact$",
    ):
        make(sourceRef=helm_repo)


def test_depends_on_a_source_is_rejected() -> None:
    with pytest.raises(
        errors.SpecError,
        match=r"spec.dependsOn\[1\].name 'k8s-cluster-config': is a "
        r"GitRepository; expected a Kustomization$",
    ):
        make(dependsOn=[{"name": "infra"}, repo()])


def test_error_paths_are_camel_case_when_fields_are_given_by_python_name() -> None:
    with pytest.raises(errors.SpecError, match=r"spec\.targetNamespace 'Apps'"):
        make(target_namespace="Apps")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"interval": "10 minutes"}, r"spec.interval '10 minutes': is not a duration"),
        ({"retryInterval": "1d"}, r"spec.retryInterval '1d': is not a duration"),
        ({"timeout": "-5m"}, r"spec.timeout '-5m': is not a duration"),
        ({"prune": None}, r"spec.prune: required field is missing$"),
        (
            {"sourceRef": {"kind": "HelmRepository", "name": "podinfo"}},
            r"spec.sourceRef.kind 'HelmRepository': expected 'OCIRepository', "
            r"'GitRepository', 'Bucket' or 'ExternalArtifact'",
        ),
        ({"sourceRef": {"kind": "GitRepository"}}, r"spec.sourceRef.name: required field"),
        (
            {"postBuild": {"substitute": {"cluster-name": "staging"}}},
            r"spec.postBuild.substitute \{'cluster-name': 'staging'\}: variable name "
            r"'cluster-name' is not valid \(expected letters, digits and '_', not starting",
        ),
        (
            {"postBuild": {"substitute": {"ok": "1", "2fast": "x"}}},
            r"variable name '2fast' is not valid",
        ),
        (
            {"postBuild": {"substitute": {"replicas": 3}}},
            r"spec.postBuild.substitute.replicas 3: input should be a valid string",
        ),
        (
            {"postBuild": {"substituteFrom": [{"kind": "Namespace", "name": "x"}]}},
            r"spec.postBuild.substituteFrom\[0\].kind 'Namespace': expected 'Secret' or "
            r"'ConfigMap'",
        ),
        (
            {"kubeConfig": {"configMapRef": {"name": "aks"}, "secretRef": {"name": "kc"}}},
            r"spec.kubeConfig.secretRef \{'name': 'kc'\}: cannot be set together with "
            r"configMapRef: set exactly one of configMapRef or secretRef",
        ),
        ({"kubeConfig": {}}, r"spec.kubeConfig \{\}: needs exactly one of configMapRef or"),
        (
            {"targetNamespace": "Apps_NS"},
            r"spec.targetNamespace 'Apps_NS': is not a DNS-1123 label",
        ),
        ({"targetNamespace": "a" * 64}, r"spec.targetNamespace 'a{64}': is not a DNS-1123"),
        ({"namePrefix": ""}, r"spec.namePrefix '': string should have at least 1 character"),
        ({"nameSuffix": "x" * 201}, r"spec.nameSuffix 'x+\.\.\.: string should have at most 200"),
        ({"decryption": {"provider": "age"}}, r"spec.decryption.provider 'age': expected 'sops'"),
        ({"decryption": {}}, r"spec.decryption.provider: required field is missing"),
        (
            {"deletionPolicy": "Foreground"},
            r"spec.deletionPolicy 'Foreground': expected 'MirrorPrune', 'Delete', "
            r"'WaitForTermination' or 'Orphan'",
        ),
        (
            {"patchesStrategicMerge": ["patch.yaml"]},
            r"spec.patchesStrategicMerge: unknown field \(removed in "
            r"kustomize.toolkit.fluxcd.io/v1: use 'patches'\)",
        ),
        ({"patches": [{"target": {"kind": "Deployment"}}]}, r"spec.patches\[0\].patch: required"),
        ({"images": [{"newTag": "1.0"}]}, r"spec.images\[0\].name: required field is missing"),
        (
            {"healthChecks": [{"kind": "Deployment"}]},
            r"spec.healthChecks\[0\].name: required field is missing",
        ),
        ({"healthCheckExprs": [{"apiVersion": "v1"}]}, r"spec.healthCheckExprs\[0\].current: "),
        ({"ignore": [{"target": {"kind": "Secret"}}]}, r"spec.ignore\[0\].paths: required"),
        (
            {"buildMetadata": ["sourceAnnotations"]},
            r"spec.buildMetadata\[0\] 'sourceAnnotations': expected 'originAnnotations' or",
        ),
        (
            {"commonMetadata": {"labels": {"team": "platform ops"}}},
            r"spec.commonMetadata.labels .*: value 'platform ops' of label 'team' is not a valid",
        ),
        (
            {"dependsOn": [{"name": "infra", "namespace": "Flux"}]},
            r"spec.dependsOn\[0\].namespace 'Flux': is not a DNS-1123 label",
        ),
    ],
)
def test_bad_input_names_object_field_and_value(spec: dict[str, Any], message: str) -> None:
    with errors.stack_context("staging"), pytest.raises(errors.SpecError, match=message) as info:
        make(**spec)
    assert str(info.value).startswith("staging: Kustomization 'apps': ")


@pytest.mark.parametrize(("version", "release"), [("v1beta1", "Flux 2.7"), ("v1beta2", "Flux 2.8")])
def test_removed_api_version_points_at_v1(version: str, release: str) -> None:
    doc = {**SEED_TRAEFIK, "apiVersion": f"kustomize.toolkit.fluxcd.io/{version}"}
    with pytest.raises(
        errors.UnsupportedApiVersionError,
        match=rf"^Kustomization 'infrastructure-traefik': apiVersion "
        rf"kustomize.toolkit.fluxcd.io/{version} was removed in {release}; "
        r"use kustomize.toolkit.fluxcd.io/v1",
    ):
        from_manifest(doc)


def test_manifest_without_api_version_or_kind_says_which() -> None:
    with pytest.raises(
        errors.UnknownKindError,
        match=r"^manifest 'apps' has no apiVersion \(expected e\.g\. apiVersion "
        r"'source\.toolkit\.fluxcd\.io/v1' and kind 'GitRepository'\)$",
    ):
        from_manifest({"kind": "Kustomization", "metadata": {"name": "apps"}})
    with pytest.raises(errors.UnknownKindError, match=r"^manifest has no apiVersion and no kind "):
        from_manifest({"metadata": "oops"})
    with pytest.raises(errors.UnknownKindError, match=r"^manifest has apiVersion 1 and kind 'K', "):
        from_manifest({"apiVersion": 1, "kind": "K"})


def test_kustomize_config_kustomization_is_not_a_flux_object() -> None:
    doc = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    with pytest.raises(errors.UnknownKindError, match=r"Kustomization \(kustomize.config"):
        from_manifest(doc)


# --- the model against the CRD -----------------------------------------------------------------


def test_spec_model_matches_the_crd(crd_schemas: Any) -> None:
    schema = crd_schemas[(V1, "Kustomization")]["properties"]["spec"]
    assert_model_matches_schema(KustomizationSpec, schema, "spec")
