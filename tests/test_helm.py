"""HelmRelease: rendering, object references, the examples' round trip and validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from helpers import assert_model_matches_schema, check_round_trip
from pydantic.alias_generators import to_camel

from gitops_sdk.api.helm import HelmRelease, HelmReleaseSpec
from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.api.source import GitRepository, HelmRepository, OCIRepository
from gitops_sdk.core import errors
from gitops_sdk.core.model import from_manifest
from gitops_sdk.core.refs import iter_refs

V2 = "helm.toolkit.fluxcd.io/v2"

# flux2-kustomize-helm-example apps/base/podinfo/release.yaml
PODINFO_VALUES: dict[str, Any] = {
    "redis": {"enabled": True, "repository": "public.ecr.aws/docker/library/redis", "tag": "8.6.2"},
    "httpRoute": {
        "enabled": True,
        "parentRefs": [
            {"name": "envoy", "namespace": "envoy-gateway-system", "sectionName": "http"}
        ],
        "hostnames": ["podinfo.local"],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}],
    },
}
PODINFO: dict[str, Any] = {
    "apiVersion": V2,
    "kind": "HelmRelease",
    "metadata": {"name": "podinfo", "namespace": "podinfo"},
    "spec": {
        "interval": "50m",
        "releaseName": "podinfo",
        "chart": {
            "spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}
        },
        "install": {"strategy": {"name": "RetryOnFailure"}},
        "upgrade": {"strategy": {"name": "RetryOnFailure"}},
        "values": PODINFO_VALUES,
    },
}


def make(name: str = "podinfo", namespace: str = "podinfo", **spec: Any) -> HelmRelease:
    base: dict[str, Any] = {
        "interval": "10m",
        "chart_ref": {"kind": "OCIRepository", "name": "podinfo"},
    }
    # Tests pass fields by either name; a field given in `spec` replaces the base one.
    given = {to_camel(key) for key in spec}
    base = {key: value for key, value in base.items() if to_camel(key) not in given}
    return HelmRelease(name=name, namespace=namespace, **base, **spec)


# --- rendering ---------------------------------------------------------------------------------


def test_podinfo_renders_exactly(assert_crd_valid: Any) -> None:
    hr = HelmRelease(
        name="podinfo",
        namespace="podinfo",
        interval="50m",
        release_name="podinfo",
        chart={
            "spec": {
                "chart": "podinfo",
                "source_ref": {"kind": "HelmRepository", "name": "podinfo"},
            }
        },
        install={"strategy": {"name": "RetryOnFailure"}},
        upgrade={"strategy": {"name": "RetryOnFailure"}},
        values=PODINFO_VALUES,
    )
    assert hr.to_manifest() == PODINFO
    check_round_trip(PODINFO, assert_crd_valid)


def test_values_are_rendered_verbatim() -> None:
    values = {
        "replicaCount": 2,
        "ratio": 0.5,
        "image": {"tag": None, "pullPolicy": "IfNotPresent"},
        "ingress.enabled": False,
        "extraArgs": ["--a", {"b": [1, 2, {"c": None}]}],
        "empty": {},
    }
    original = copy.deepcopy(values)
    assert make(values=values).to_manifest()["spec"]["values"] == original
    assert values == original


def test_chart_version_takes_any_semver_range(assert_crd_valid: Any) -> None:
    for version in ("*", "6.x", ">=1.0.0-alpha", "^6.5.0 || ~7.0", "1.2 - 1.4"):
        chart = {
            "spec": {
                "chart": "podinfo",
                "version": version,
                "source_ref": {"kind": "HelmRepository", "name": "podinfo"},
            }
        }
        doc = make(chart_ref=None, chart=chart).to_manifest()
        assert doc["spec"]["chart"]["spec"]["version"] == version
        assert_crd_valid(doc)


def test_every_field_renders_in_camel_case(assert_crd_valid: Any) -> None:
    hr = make(
        chart_ref=None,
        chart={
            "metadata": {"labels": {"team": "web"}, "annotations": {"owner": "web"}},
            "spec": {
                "chart": "podinfo",
                "version": "6.x",
                "source_ref": {
                    "api_version": "source.toolkit.fluxcd.io/v1",
                    "kind": "HelmRepository",
                    "name": "podinfo",
                    "namespace": "flux-system",
                },
                "interval": "1h",
                "reconcile_strategy": "ChartVersion",
                "values_files": ["values.yaml", "values-prod.yaml"],
                "ignore_missing_values_files": True,
                "verify": {"provider": "cosign", "secret_ref": {"name": "cosign-pub"}},
            },
        },
        release_name="podinfo",
        target_namespace="web",
        storage_namespace="web",
        service_account_name="helm-controller",
        kube_config={"config_map_ref": {"name": "remote"}},
        depends_on=[{"name": "redis", "namespace": "data", "ready_expr": "dep.status.ok"}],
        values={"replicaCount": 2},
        values_from=[
            {"kind": "ConfigMap", "name": "podinfo-values"},
            {
                "kind": "Secret",
                "name": "podinfo-secrets",
                "values_key": "redis.password",
                "target_path": "redis.auth.password",
                "optional": True,
                "literal": True,
            },
        ],
        timeout="5m",
        max_history=3,
        persistent_client=False,
        install={
            "timeout": "10m",
            "remediation": {"retries": 3, "ignore_test_failures": True},
            "strategy": {"name": "RetryOnFailure", "retry_interval": "2m"},
            "crds": "CreateReplace",
            "create_namespace": True,
            "disable_hooks": False,
            "disable_open_api_validation": True,
            "disable_schema_validation": False,
            "disable_take_ownership": False,
            "disable_wait": False,
            "disable_wait_for_jobs": True,
            "replace": False,
            "server_side_apply": True,
            "skip_crds": False,
        },
        upgrade={
            "timeout": "10m",
            "remediation": {
                "retries": -1,
                "remediate_last_failure": True,
                "strategy": "uninstall",
            },
            "strategy": {"name": "RemediateOnFailure"},
            "crds": "Skip",
            "chart_name_change_strategy": "InPlaceUpdate",
            "cleanup_on_fail": True,
            "disable_open_api_validation": False,
            "force": False,
            "preserve_values": False,
            "server_side_apply": "auto",
        },
        test={
            "enable": True,
            "filters": [{"name": "smoke", "exclude": True}],
            "ignore_failures": True,
            "timeout": "2m",
        },
        rollback={"timeout": "5m", "cleanup_on_fail": True, "server_side_apply": "disabled"},
        uninstall={"deletion_propagation": "foreground", "keep_history": True, "timeout": "5m"},
        drift_detection={
            "mode": "enabled",
            "ignore": [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}],
        },
        post_renderers=[
            {
                "kustomize": {
                    "patches": [{"patch": "$patch: delete\nkind: Pod\nmetadata: {name: t}\n"}],
                    "images": [{"name": "podinfo", "digest": "sha256:" + "0" * 64}],
                }
            }
        ],
        post_render_strategy="separate",
        wait_strategy={"name": "poller"},
        health_check_exprs=[{"api_version": "example.com/v1", "current": "status.ready"}],
        common_metadata={"labels": {"app.kubernetes.io/part-of": "podinfo"}},
        suspend=False,
    )
    doc = hr.to_manifest()
    assert doc["spec"] == {
        "chart": {
            "metadata": {"labels": {"team": "web"}, "annotations": {"owner": "web"}},
            "spec": {
                "chart": "podinfo",
                "version": "6.x",
                "sourceRef": {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "HelmRepository",
                    "name": "podinfo",
                    "namespace": "flux-system",
                },
                "interval": "1h",
                "reconcileStrategy": "ChartVersion",
                "valuesFiles": ["values.yaml", "values-prod.yaml"],
                "ignoreMissingValuesFiles": True,
                "verify": {"provider": "cosign", "secretRef": {"name": "cosign-pub"}},
            },
        },
        "interval": "10m",
        "releaseName": "podinfo",
        "targetNamespace": "web",
        "storageNamespace": "web",
        "serviceAccountName": "helm-controller",
        "kubeConfig": {"configMapRef": {"name": "remote"}},
        "dependsOn": [{"name": "redis", "namespace": "data", "readyExpr": "dep.status.ok"}],
        "values": {"replicaCount": 2},
        "valuesFrom": [
            {"kind": "ConfigMap", "name": "podinfo-values"},
            {
                "kind": "Secret",
                "name": "podinfo-secrets",
                "valuesKey": "redis.password",
                "targetPath": "redis.auth.password",
                "optional": True,
                "literal": True,
            },
        ],
        "timeout": "5m",
        "maxHistory": 3,
        "persistentClient": False,
        "install": {
            "timeout": "10m",
            "remediation": {"retries": 3, "ignoreTestFailures": True},
            "strategy": {"name": "RetryOnFailure", "retryInterval": "2m"},
            "crds": "CreateReplace",
            "createNamespace": True,
            "disableHooks": False,
            "disableOpenAPIValidation": True,
            "disableSchemaValidation": False,
            "disableTakeOwnership": False,
            "disableWait": False,
            "disableWaitForJobs": True,
            "replace": False,
            "serverSideApply": True,
            "skipCRDs": False,
        },
        "upgrade": {
            "timeout": "10m",
            "remediation": {"retries": -1, "remediateLastFailure": True, "strategy": "uninstall"},
            "strategy": {"name": "RemediateOnFailure"},
            "crds": "Skip",
            "chartNameChangeStrategy": "InPlaceUpdate",
            "cleanupOnFail": True,
            "disableOpenAPIValidation": False,
            "force": False,
            "preserveValues": False,
            "serverSideApply": "auto",
        },
        "test": {
            "enable": True,
            "filters": [{"name": "smoke", "exclude": True}],
            "ignoreFailures": True,
            "timeout": "2m",
        },
        "rollback": {"timeout": "5m", "cleanupOnFail": True, "serverSideApply": "disabled"},
        "uninstall": {"deletionPropagation": "foreground", "keepHistory": True, "timeout": "5m"},
        "driftDetection": {
            "mode": "enabled",
            "ignore": [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}],
        },
        "postRenderers": [
            {
                "kustomize": {
                    "patches": [{"patch": "$patch: delete\nkind: Pod\nmetadata: {name: t}\n"}],
                    "images": [{"name": "podinfo", "digest": "sha256:" + "0" * 64}],
                }
            }
        ],
        "postRenderStrategy": "separate",
        "waitStrategy": {"name": "poller"},
        "healthCheckExprs": [{"apiVersion": "example.com/v1", "current": "status.ready"}],
        "commonMetadata": {"labels": {"app.kubernetes.io/part-of": "podinfo"}},
        "suspend": False,
    }
    check_round_trip(doc, assert_crd_valid)


# --- object references -------------------------------------------------------------------------


def test_references_built_from_objects(assert_crd_valid: Any) -> None:
    helm_repo = HelmRepository(
        name="podinfo", namespace="flux-system", url="https://stefanprodan.github.io/podinfo"
    )
    oci = OCIRepository(
        name="redis", namespace="podinfo", url="oci://ghcr.io/org/charts/redis", interval="1h"
    )
    redis = make(name="redis", chart_ref=oci)
    podinfo = make(
        chart_ref=None,
        chart={"spec": {"chart": "podinfo", "source_ref": helm_repo}},
        depends_on=[redis],
    )
    assert redis.to_manifest()["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "redis"}
    doc = podinfo.to_manifest()
    assert doc["spec"] == {
        "interval": "10m",
        "chart": {
            "spec": {
                "chart": "podinfo",
                # Another namespace than the HelmRelease's: kept.
                "sourceRef": {
                    "kind": "HelmRepository",
                    "name": "podinfo",
                    "namespace": "flux-system",
                },
            }
        },
        "dependsOn": [{"name": "redis"}],
    }
    check_round_trip(doc, assert_crd_valid)
    assert [ref.target for ref in iter_refs(podinfo)] == [helm_repo, redis]


def test_depends_on_a_kustomization_is_rejected() -> None:
    ks = Kustomization(
        name="infra",
        namespace="podinfo",
        source_ref={"kind": "GitRepository", "name": "fleet"},
        interval="10m",
        prune=True,
    )
    with pytest.raises(
        errors.SpecError,
        match=r"^HelmRelease 'podinfo': spec.dependsOn\[0\].name 'infra': is a "
        r"Kustomization; expected a HelmRelease$",
    ):
        make(dependsOn=[ks])


def test_chart_ref_to_a_git_repository_object_names_the_kind() -> None:
    repo = GitRepository(
        name="fleet", namespace="flux-system", url="https://github.com/org/fleet", interval="1m"
    )
    with pytest.raises(
        errors.SpecError,
        match=r"^HelmRelease 'podinfo': spec.chartRef.kind 'GitRepository': 'fleet' is a "
        r"GitRepository; expected an OCIRepository, HelmChart or ExternalArtifact$",
    ):
        make(chartRef=repo)


# --- bad input ---------------------------------------------------------------------------------

CHART = {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}


def chart_spec(**fields: Any) -> dict[str, Any]:
    return {"spec": {**CHART["spec"], **fields}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"chart": CHART},
            r"spec.chartRef \{'kind': 'OCIRepository', 'name': 'podinfo'\}: cannot be set "
            r"together with spec.chart: exactly one of spec.chart or spec.chartRef is needed$",
        ),
        (
            {"chartRef": None},
            r"spec.chart: exactly one of spec.chart or spec.chartRef is needed$",
        ),
        ({"interval": None}, r"spec.interval: required field is missing$"),
        ({"interval": "1 hour"}, r"spec.interval '1 hour': is not a duration"),
        ({"timeout": "5mins"}, r"spec.timeout '5mins': is not a duration"),
        (
            {"install": {"strategy": {"name": "RemediateOnFailure", "retryInterval": "1m"}}},
            r"spec.install.strategy.retryInterval '1m': can only be set when name is "
            r"'RetryOnFailure', not 'RemediateOnFailure'$",
        ),
        (
            {"upgrade": {"strategy": {"name": "RemediateOnFailure", "retryInterval": "1m"}}},
            r"spec.upgrade.strategy.retryInterval '1m': can only be set when name is "
            r"'RetryOnFailure'",
        ),
        (
            {"upgrade": {"strategy": {"retryInterval": "1m"}}},
            r"spec.upgrade.strategy.name: required field is missing",
        ),
        (
            {"install": {"timeout": "1 minute"}},
            r"spec.install.timeout '1 minute': is not a duration",
        ),
        (
            {"valuesFrom": [{"kind": "Secret", "name": "creds", "valuesKey": "values yaml"}]},
            r"spec.valuesFrom\[0\].valuesKey 'values yaml': is not a valid data key \(expected "
            r"letters, digits, '-', '_' and '.', 1 to 253 characters\)$",
        ),
        (
            {"valuesFrom": [{"kind": "Secret", "name": "creds", "valuesKey": "k" * 254}]},
            r"spec.valuesFrom\[0\].valuesKey 'k+\.\.\.: is not a valid data key",
        ),
        (
            {"valuesFrom": [{"kind": "ConfigMap", "name": "v", "targetPath": "a.b c"}]},
            r"spec.valuesFrom\[0\].targetPath 'a.b c': is not a Helm --set path",
        ),
        (
            {"valuesFrom": [{"kind": "Namespace", "name": "v"}]},
            r"spec.valuesFrom\[0\].kind 'Namespace': expected 'Secret' or 'ConfigMap'$",
        ),
        (
            {"chartRef": {"kind": "HelmRepository", "name": "podinfo"}},
            r"spec.chartRef.kind 'HelmRepository': expected 'OCIRepository', 'HelmChart' or "
            r"'ExternalArtifact'$",
        ),
        (
            {
                "chartRef": None,
                "chart": chart_spec(sourceRef={"kind": "OCIRepository", "name": "x"}),
            },
            r"spec.chart.spec.sourceRef.kind 'OCIRepository': expected 'HelmRepository', "
            r"'GitRepository' or 'Bucket'$",
        ),
        (
            {"chartRef": None, "chart": chart_spec(version="^^6")},
            r"spec.chart.spec.version '\^\^6': is not a semver range",
        ),
        (
            {"chartRef": None, "chart": chart_spec(chart="")},
            r"spec.chart.spec.chart '': string should have at least 1 character",
        ),
        (
            {"chartRef": None, "chart": chart_spec(verify={"secretRef": {"name": "k"}})},
            r"spec.chart.spec.verify.provider: required field is missing",
        ),
        (
            {"releaseName": "r" * 54},
            r"spec.releaseName 'r{54}': is not a Helm release name \(.*1 to 53 characters\)$",
        ),
        ({"releaseName": "Podinfo"}, r"spec.releaseName 'Podinfo': is not a Helm release name"),
        (
            {"storageNamespace": "helm_storage"},
            r"spec.storageNamespace 'helm_storage': is not a DNS-1123 label",
        ),
        (
            {"kubeConfig": {"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}},
            r"spec.kubeConfig.secretRef \{'name': 'b'\}: cannot be set together with "
            r"configMapRef",
        ),
        (
            {"driftDetection": {"mode": "on"}},
            r"spec.driftDetection.mode 'on': expected 'enabled', 'warn' or 'disabled'$",
        ),
        (
            {"upgrade": {"remediation": {"strategy": "retry"}}},
            r"spec.upgrade.remediation.strategy 'retry': expected 'rollback' or 'uninstall'$",
        ),
        (
            {"upgrade": {"serverSideApply": True}},
            r"spec.upgrade.serverSideApply True: expected 'enabled', 'disabled' or 'auto'$",
        ),
        (
            {"waitStrategy": {"name": "kstatus"}},
            r"spec.waitStrategy.name 'kstatus': expected 'poller' or 'legacy'$",
        ),
        (
            {"test": {"filters": [{"name": ""}]}},
            r"spec.test.filters\[0\].name '': string should have at least 1 character",
        ),
        ({"values": ["replicaCount=2"]}, r"spec.values \['replicaCount=2'\]: input should be a"),
        (
            {"values": {"when": object()}},
            r"spec.values.when <object .*: input was not a valid JSON",
        ),
        (
            {"postRenderers": [{"kustomize": {"images": [{"newTag": "1"}]}}]},
            r"spec.postRenderers\[0\].kustomize.images\[0\].name: required field is missing",
        ),
        (
            {"install": {"disableOpenApiValidation": True}},
            r"spec.install.disableOpenApiValidation: unknown field$",
        ),
    ],
)
def test_bad_input_names_object_field_and_value(spec: dict[str, Any], message: str) -> None:
    with errors.stack_context("staging"), pytest.raises(errors.SpecError, match=message) as info:
        make(**spec)
    assert str(info.value).startswith("staging: HelmRelease 'podinfo': ")


@pytest.mark.parametrize(("version", "release"), [("v2beta1", "Flux 2.7"), ("v2beta2", "Flux 2.8")])
def test_removed_api_version_points_at_v2(version: str, release: str) -> None:
    doc = {**PODINFO, "apiVersion": f"helm.toolkit.fluxcd.io/{version}"}
    with pytest.raises(
        errors.UnsupportedApiVersionError,
        match=rf"^HelmRelease 'podinfo': apiVersion helm.toolkit.fluxcd.io/{version} was "
        rf"removed in {release}; use helm.toolkit.fluxcd.io/v2",
    ):
        from_manifest(doc)


# --- the model against the CRD -----------------------------------------------------------------


def test_spec_model_matches_the_crd(crd_schemas: Any) -> None:
    schema = crd_schemas[(V2, "HelmRelease")]["properties"]["spec"]
    assert_model_matches_schema(HelmReleaseSpec, schema, "spec")
