"""OCIRepository, HelmRepository, HelmChart, Bucket and ExternalArtifact models."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest

from gitops_sdk.api.source import GitRepository, HelmChart, HelmRepository, OCIRepository
from gitops_sdk.api.source_storage import Bucket, ExternalArtifact
from gitops_sdk.core import errors
from gitops_sdk.core.model import FluxObject, from_manifest

V1 = "source.toolkit.fluxcd.io/v1"
META = {"name": "podinfo", "namespace": "flux-system"}


def oci(**spec: Any) -> OCIRepository:
    base = {"url": "oci://ghcr.io/stefanprodan/manifests/podinfo", "interval": "10m"}
    return OCIRepository(**META, **{**base, **spec})


def helm_repo(**spec: Any) -> HelmRepository:
    base = {"url": "https://stefanprodan.github.io/podinfo", "interval": "1h"}
    return HelmRepository(**META, **{**base, **spec})


def chart(**spec: Any) -> HelmChart:
    base = {
        "chart": "podinfo",
        "source_ref": {"kind": "HelmRepository", "name": "podinfo"},
        "interval": "10m",
    }
    return HelmChart(**META, **{**base, **spec})


def bucket(**spec: Any) -> Bucket:
    base = {"bucket_name": "fleet", "endpoint": "minio.minio.svc:9000", "interval": "5m"}
    return Bucket(**META, **{**base, **spec})


def git_repo(name: str = "fleet") -> GitRepository:
    spec = {"url": "https://github.com/org/fleet", "interval": "1m"}
    return GitRepository(**{**META, "name": name}, **spec)


def manifest(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": V1, "kind": kind, "metadata": dict(META), "spec": spec}


def check_render(obj: FluxObject, expected: dict[str, Any], assert_crd_valid: Any) -> None:
    doc = obj.to_manifest()
    assert doc == expected
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc
    assert type(obj).from_manifest(doc) == obj


# --- rendering and round trips --------------------------------------------------------------------


def test_oci_repository_renders_exactly_what_was_set(assert_crd_valid: Any) -> None:
    repo = oci(
        ref={"semver": ">=6.0.0 <7.0.0", "semver_filter": ".*-rc.*"},
        layer_selector={
            "media_type": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "operation": "copy",
        },
        provider="generic",
        secret_ref={"name": "ghcr-auth"},
        cert_secret_ref={"name": "ghcr-ca"},
        proxy_secret_ref={"name": "proxy"},
        verify={
            "provider": "cosign",
            "match_oidc_identity": [
                {
                    "issuer": r"^https://token\.actions\.githubusercontent\.com$",
                    "subject": r"^https://github\.com/stefanprodan/podinfo.*$",
                }
            ],
            "trusted_root_secret_ref": {"name": "sigstore-root"},
        },
        timeout=datetime.timedelta(seconds=90),
        ignore="*.md\n",
        suspend=False,
    )
    check_render(
        repo,
        manifest(
            "OCIRepository",
            {
                "url": "oci://ghcr.io/stefanprodan/manifests/podinfo",
                "interval": "10m",
                "ref": {"semver": ">=6.0.0 <7.0.0", "semverFilter": ".*-rc.*"},
                "layerSelector": {
                    "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                    "operation": "copy",
                },
                "provider": "generic",
                "secretRef": {"name": "ghcr-auth"},
                "certSecretRef": {"name": "ghcr-ca"},
                "proxySecretRef": {"name": "proxy"},
                "verify": {
                    "provider": "cosign",
                    "matchOIDCIdentity": [
                        {
                            "issuer": r"^https://token\.actions\.githubusercontent\.com$",
                            "subject": r"^https://github\.com/stefanprodan/podinfo.*$",
                        }
                    ],
                    "trustedRootSecretRef": {"name": "sigstore-root"},
                },
                "timeout": "1m30s",
                "ignore": "*.md\n",
                "suspend": False,
            },
        ),
        assert_crd_valid,
    )


def test_oci_repository_minimal_renders_only_required_fields(assert_crd_valid: Any) -> None:
    check_render(
        oci(ref={"tag": "latest"}),
        manifest(
            "OCIRepository",
            {
                "url": "oci://ghcr.io/stefanprodan/manifests/podinfo",
                "interval": "10m",
                "ref": {"tag": "latest"},
            },
        ),
        assert_crd_valid,
    )


def test_helm_repository_renders_http_and_oci(assert_crd_valid: Any) -> None:
    check_render(
        helm_repo(secret_ref={"name": "basic-auth"}, pass_credentials=True, timeout="30s"),
        manifest(
            "HelmRepository",
            {
                "url": "https://stefanprodan.github.io/podinfo",
                "interval": "1h",
                "secretRef": {"name": "basic-auth"},
                "passCredentials": True,
                "timeout": "30s",
            },
        ),
        assert_crd_valid,
    )
    check_render(
        helm_repo(
            url="oci://ghcr.io/stefanprodan/charts",
            type="oci",
            provider="aws",
            insecure=False,
            cert_secret_ref={"name": "registry-ca"},
            access_from={"namespace_selectors": [{"match_labels": {"team": "apps"}}]},
        ),
        manifest(
            "HelmRepository",
            {
                "url": "oci://ghcr.io/stefanprodan/charts",
                "interval": "1h",
                "type": "oci",
                "provider": "aws",
                "insecure": False,
                "certSecretRef": {"name": "registry-ca"},
                "accessFrom": {"namespaceSelectors": [{"matchLabels": {"team": "apps"}}]},
            },
        ),
        assert_crd_valid,
    )


def test_helm_repository_needs_only_url(assert_crd_valid: Any) -> None:
    repo = HelmRepository(**META, **{"url": "https://charts.example.com"})
    check_render(
        repo, manifest("HelmRepository", {"url": "https://charts.example.com"}), assert_crd_valid
    )


def test_helm_chart_renders_exactly_what_was_set(assert_crd_valid: Any) -> None:
    hc = chart(
        version="^6.x",
        reconcile_strategy="ChartVersion",
        values_files=["values.yaml", "values-prod.yaml"],
        ignore_missing_values_files=True,
        verify={"provider": "notation", "secret_ref": {"name": "notation-trust"}},
        suspend=True,
    )
    check_render(
        hc,
        manifest(
            "HelmChart",
            {
                "chart": "podinfo",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
                "interval": "10m",
                "version": "^6.x",
                "reconcileStrategy": "ChartVersion",
                "valuesFiles": ["values.yaml", "values-prod.yaml"],
                "ignoreMissingValuesFiles": True,
                "verify": {"provider": "notation", "secretRef": {"name": "notation-trust"}},
                "suspend": True,
            },
        ),
        assert_crd_valid,
    )


def test_bucket_generic_with_ldap_sts(assert_crd_valid: Any) -> None:
    b = bucket(
        region="us-east-1",
        prefix="clusters/prod",
        secret_ref={"name": "minio-auth"},
        cert_secret_ref={"name": "minio-ca"},
        proxy_secret_ref={"name": "proxy"},
        sts={
            "provider": "ldap",
            "endpoint": "https://minio.minio.svc:9000",
            "secret_ref": {"name": "ldap-auth"},
            "cert_secret_ref": {"name": "ldap-ca"},
        },
        insecure=True,
        timeout="2m",
        ignore="*.tmp",
    )
    check_render(
        b,
        manifest(
            "Bucket",
            {
                "bucketName": "fleet",
                "endpoint": "minio.minio.svc:9000",
                "interval": "5m",
                "region": "us-east-1",
                "prefix": "clusters/prod",
                "secretRef": {"name": "minio-auth"},
                "certSecretRef": {"name": "minio-ca"},
                "proxySecretRef": {"name": "proxy"},
                "sts": {
                    "provider": "ldap",
                    "endpoint": "https://minio.minio.svc:9000",
                    "secretRef": {"name": "ldap-auth"},
                    "certSecretRef": {"name": "ldap-ca"},
                },
                "insecure": True,
                "timeout": "2m",
                "ignore": "*.tmp",
            },
        ),
        assert_crd_valid,
    )


def test_bucket_aws_with_workload_identity_and_sts(assert_crd_valid: Any) -> None:
    b = bucket(
        endpoint="s3.amazonaws.com",
        provider="aws",
        service_account_name="fleet-reader",
        sts={"provider": "aws", "endpoint": "https://sts.amazonaws.com"},
    )
    check_render(
        b,
        manifest(
            "Bucket",
            {
                "bucketName": "fleet",
                "endpoint": "s3.amazonaws.com",
                "interval": "5m",
                "provider": "aws",
                "serviceAccountName": "fleet-reader",
                "sts": {"provider": "aws", "endpoint": "https://sts.amazonaws.com"},
            },
        ),
        assert_crd_valid,
    )


def test_external_artifact_renders_source_ref(assert_crd_valid: Any) -> None:
    # The parts form: metadata and spec given separately.
    ea = ExternalArtifact(
        metadata=META,
        spec={
            "source_ref": {
                "api_version": "source.extensions.fluxcd.io/v1beta1",
                "kind": "ArtifactGenerator",
                "name": "podinfo",
                "namespace": "apps",
            }
        },
    )
    check_render(
        ea,
        manifest(
            "ExternalArtifact",
            {
                "sourceRef": {
                    "apiVersion": "source.extensions.fluxcd.io/v1beta1",
                    "kind": "ArtifactGenerator",
                    "name": "podinfo",
                    "namespace": "apps",
                }
            },
        ),
        assert_crd_valid,
    )
    assert ExternalArtifact.removed_versions == {}


def test_camel_case_manifest_loads_into_snake_case_fields() -> None:
    doc = manifest(
        "OCIRepository",
        {
            "url": "oci://ghcr.io/org/app",
            "interval": "1m",
            "verify": {
                "provider": "cosign",
                "matchOIDCIdentity": [{"issuer": "^https://accounts.google.com$", "subject": ".*"}],
            },
        },
    )
    repo = OCIRepository.from_manifest(doc)
    assert repo.spec.verify is not None
    assert repo.spec.verify.match_oidc_identity is not None
    assert repo.spec.verify.match_oidc_identity[0].subject == ".*"


# --- references to sources ------------------------------------------------------------------------


def test_helm_chart_source_ref_from_helm_repository_object(assert_crd_valid: Any) -> None:
    repo = helm_repo()
    hc = chart(source_ref=repo)
    doc = hc.to_manifest()
    assert doc["spec"]["sourceRef"] == {"kind": "HelmRepository", "name": "podinfo"}
    assert hc.spec.source_ref.target is repo
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_helm_chart_source_ref_from_git_repository_object() -> None:
    hc = chart(
        chart="./charts/podinfo", source_ref=git_repo("fleet"), reconcile_strategy="Revision"
    )
    assert hc.to_manifest()["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "fleet"}


def test_helm_chart_source_ref_rejects_an_oci_repository_object() -> None:
    with pytest.raises(
        errors.SpecError,
        match=r"spec.sourceRef.kind 'OCIRepository': 'podinfo' is an OCIRepository; "
        r"expected a HelmRepository, GitRepository or Bucket$",
    ) as info:
        chart(source_ref=oci())
    assert str(info.value).startswith("HelmChart 'podinfo': spec.")


def test_helm_chart_source_ref_rejects_an_unknown_kind_by_name() -> None:
    with pytest.raises(
        errors.SpecError,
        match=r"spec.sourceRef.kind 'OCIRepository': "
        r"expected 'HelmRepository', 'GitRepository' or 'Bucket'",
    ):
        HelmChart.from_manifest(
            manifest(
                "HelmChart",
                {
                    "chart": "podinfo",
                    "interval": "1m",
                    "sourceRef": {"kind": "OCIRepository", "name": "podinfo"},
                },
            )
        )


# --- bad input ------------------------------------------------------------------------------------

Factory = Callable[..., FluxObject]

BAD_INPUT: list[tuple[Factory, dict[str, Any], str]] = [
    (
        oci,
        {"url": "https://ghcr.io/org/app"},
        r"spec.url 'https://ghcr.io/org/app': must start with oci://$",
    ),
    (
        oci,
        {"provider": "github"},
        r"spec.provider 'github': expected 'generic', 'aws', 'azure' or 'gcp'",
    ),
    (oci, {"timeout": "1h"}, r"spec.timeout '1h': .*takes no hours"),
    (oci, {"ref": {"semver": "six"}}, r"spec.ref.semver 'six': is not a semver range"),
    (
        oci,
        {"verify": {"secret_ref": {"name": "keys"}}},
        r"spec.verify.provider: required field is missing",
    ),
    (
        oci,
        {"verify": {"provider": "cosign", "matchOidcIdentity": []}},
        r"spec.verify.matchOidcIdentity: unknown field",
    ),
    (
        oci,
        {
            "verify": {
                "provider": "cosign",
                "matchOIDCIdentity": [{"issuer": "x", "subject": "(?!a)"}],
            }
        },
        r"spec.verify.matchOIDCIdentity\[0\].subject '\(\?!a\)': is not a Go regexp",
    ),
    (
        helm_repo,
        {"url": "ftp://charts.example.com"},
        r"spec.url 'ftp://charts.example.com': must start with http://, https:// or oci://",
    ),
    (
        helm_repo,
        {"url": "oci://ghcr.io/org/charts"},
        r"spec.url 'oci://ghcr.io/org/charts': is an oci:// URL, which needs type: 'oci'",
    ),
    (
        helm_repo,
        {"type": "oci"},
        r"spec.url 'https://stefanprodan.github.io/podinfo': "
        r"must start with oci:// when type is 'oci'",
    ),
    (helm_repo, {"type": "http"}, r"spec.type 'http': expected 'default' or 'oci'"),
    (helm_repo, {"branch": "main"}, r"spec.branch: unknown field"),
    (chart, {"version": "latest"}, r"spec.version 'latest': is not a semver range"),
    (chart, {"interval": "ten minutes"}, r"spec.interval 'ten minutes': is not a duration"),
    (chart, {"chart": None}, r"spec.chart: required field is missing"),
    (
        chart,
        {
            "source_ref": {"kind": "GitRepository", "name": "fleet"},
            "verify": {"provider": "cosign"},
        },
        r"spec.verify \{'provider': 'cosign'\}: is only supported when sourceRef.kind is "
        r"'HelmRepository', not 'GitRepository'",
    ),
    (
        bucket,
        {"provider": "s3"},
        r"spec.provider 's3': expected 'generic', 'aws', 'azure' or 'gcp'",
    ),
    (bucket, {"timeout": "1h30m"}, r"spec.timeout '1h30m': .*takes no hours"),
    (
        bucket,
        {"sts": {"provider": "ldap", "endpoint": "ldap.example.com"}},
        r"spec.sts.endpoint 'ldap.example.com': must start with http:// or https://",
    ),
    # The seven CEL rules of the Bucket CRD, one by one.
    (
        bucket,
        {"provider": "gcp", "sts": {"provider": "aws", "endpoint": "https://sts"}},
        r"spec.sts \{.*\}: STS is only supported for the 'aws' and 'generic' Bucket providers, "
        r"not 'gcp'",
    ),
    (
        bucket,
        {"provider": "aws", "sts": {"provider": "ldap", "endpoint": "https://sts"}},
        r"spec.sts.provider 'ldap': 'aws' is the only supported STS provider for the 'aws' Bucket "
        r"provider",
    ),
    (
        bucket,
        {"sts": {"provider": "aws", "endpoint": "https://sts"}},
        r"spec.sts.provider 'aws': 'ldap' is the only supported STS provider for the 'generic' "
        r"Bucket provider \(the default\)",
    ),
    (
        bucket,
        {
            "provider": "aws",
            "sts": {"provider": "aws", "endpoint": "https://sts", "secret_ref": {"name": "s"}},
        },
        r"spec.sts.secretRef \{'name': 's'\}: must not be set for the 'aws' STS provider",
    ),
    (
        bucket,
        {
            "provider": "aws",
            "sts": {
                "provider": "aws",
                "endpoint": "https://sts",
                "cert_secret_ref": {"name": "ca"},
            },
        },
        r"spec.sts.certSecretRef \{'name': 'ca'\}: must not be set for the 'aws' STS provider",
    ),
    (
        bucket,
        {"provider": "generic", "service_account_name": "sa"},
        r"spec.serviceAccountName 'sa': is not supported for the 'generic' Bucket provider$",
    ),
    (
        bucket,
        {"service_account_name": "sa"},
        r"spec.serviceAccountName 'sa': is not supported for the 'generic' Bucket provider "
        r"\(the default\)",
    ),
    (
        bucket,
        {"provider": "gcp", "service_account_name": "sa", "secret_ref": {"name": "key"}},
        r"spec.serviceAccountName 'sa': cannot be set together with secretRef",
    ),
    (bucket, {"bucket_name": None}, r"spec.bucketName: required field is missing"),
]


@pytest.mark.parametrize(("factory", "spec", "message"), BAD_INPUT)
def test_bad_input_names_object_field_and_value(
    factory: Factory, spec: dict[str, Any], message: str
) -> None:
    with errors.stack_context("staging"), pytest.raises(errors.SpecError, match=message) as info:
        factory(**spec)
    kind = {oci: "OCIRepository", helm_repo: "HelmRepository", chart: "HelmChart"}.get(
        factory, "Bucket"
    )
    assert str(info.value).startswith(f"staging: {kind} 'podinfo': ")


@pytest.mark.parametrize(
    ("kind", "version", "message"),
    [
        ("OCIRepository", "v1beta2", r"v1beta2 was removed in Flux 2.8; use " + V1),
        ("OCIRepository", "v1beta1", r"v1beta1 is not served by Flux 2.9; use " + V1),
        ("HelmRepository", "v1beta2", r"v1beta2 was removed in Flux 2.8; use " + V1),
        ("HelmRepository", "v1beta1", r"v1beta1 was removed in Flux 2.7; use " + V1),
        ("HelmChart", "v1beta2", r"v1beta2 was removed in Flux 2.8; use " + V1),
        ("Bucket", "v1beta2", r"v1beta2 was removed in Flux 2.8; use " + V1),
        ("ExternalArtifact", "v1beta2", r"v1beta2 is not served by Flux 2.9; use " + V1),
    ],
)
def test_removed_api_version_points_at_v1(kind: str, version: str, message: str) -> None:
    doc = {
        "apiVersion": f"source.toolkit.fluxcd.io/{version}",
        "kind": kind,
        "metadata": {"name": "a"},
        "spec": {},
    }
    with pytest.raises(errors.UnsupportedApiVersionError, match=message):
        from_manifest(doc)


def test_kubectl_style_oci_repository_from_flux_examples_loads(assert_crd_valid: Any) -> None:
    # From flux2-kustomize-helm-example (cert-manager), already at v1.
    doc = {
        "apiVersion": V1,
        "kind": "OCIRepository",
        "metadata": {"name": "cert-manager", "namespace": "cert-manager"},
        "spec": {
            "interval": "24h",
            "url": "oci://quay.io/jetstack/charts/cert-manager",
            "layerSelector": {
                "mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                "operation": "copy",
            },
            "ref": {"semver": "1.x"},
        },
    }
    assert from_manifest(doc).to_manifest() == doc
    assert_crd_valid(doc)


def test_error_path_is_camel_case_when_input_is_snake_case() -> None:
    with pytest.raises(errors.SpecError, match=r"spec.layerSelector.operation 'unpack'"):
        oci(layer_selector={"operation": "unpack"})
