"""notification.toolkit.fluxcd.io: Provider and Alert (v1beta3), Receiver (v1)."""

from typing import Any, get_args

import pytest

from gitops_sdk.api.image import ImagePolicy, ImageRepository, TagPolicy
from gitops_sdk.api.notification import Alert, Provider, ProviderType, Receiver
from gitops_sdk.api.source import GitRepository
from gitops_sdk.core import errors
from gitops_sdk.core.model import from_manifest


class KustomizationLike:
    """Anything Flux-shaped: the SDK reads (kind, name, namespace) from `__flux_ref__`."""

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return ("Kustomization", "apps-demo", "flux-system")


def fleet() -> GitRepository:
    return GitRepository(
        name="k8s-cluster-config",
        namespace="flux-system",
        url="https://github.com/org/k8s-cluster-config",
        interval="1m",
    )


def slack(**spec: Any) -> Provider:
    base: dict[str, Any] = {
        "type": "slack",
        "channel": "#flux",
        "secret_ref": {"name": "slack-url"},
    }
    return Provider(name="slack", namespace="flux-system", **{**base, **spec})


def alert(**spec: Any) -> Alert:
    base: dict[str, Any] = {"provider_ref": slack(), "event_sources": [KustomizationLike()]}
    return Alert(name="on-call", namespace="flux-system", **{**base, **spec})


def receiver(**spec: Any) -> Receiver:
    base: dict[str, Any] = {
        "type": "github",
        "events": ["ping", "push"],
        "secret_ref": {"name": "webhook-token"},
        "resources": [fleet()],
    }
    return Receiver(name="github", namespace="flux-system", **{**base, **spec})


OIDC = {
    "issuer_url": "https://token.actions.githubusercontent.com",
    "validations": [
        {"expression": "claims.repository == 'org/app'", "message": "wrong repository"},
    ],
}


def test_provider_renders_exactly(assert_crd_valid: Any) -> None:
    doc = slack(timeout="30s").to_manifest()
    assert doc == {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Provider",
        "metadata": {"name": "slack", "namespace": "flux-system"},
        "spec": {
            "type": "slack",
            "channel": "#flux",
            "secretRef": {"name": "slack-url"},
            "timeout": "30s",
        },
    }
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_commit_status_provider(assert_crd_valid: Any) -> None:
    provider = Provider(
        name="github-status",
        namespace="flux-system",
        type="github",
        address="https://github.com/org/k8s-cluster-config",
        secret_ref={"name": "github-token"},
        commit_status_expr="(event.involvedObject.kind + '/' + event.involvedObject.name)",
    )
    doc = provider.to_manifest()
    assert doc["spec"]["commitStatusExpr"] == (
        "(event.involvedObject.kind + '/' + event.involvedObject.name)"
    )
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_all_provider_types_match_the_crd(crd_schemas: Any) -> None:
    schema = crd_schemas[("notification.toolkit.fluxcd.io/v1beta3", "Provider")]
    enum = schema["properties"]["spec"]["properties"]["type"]["enum"]
    assert list(get_args(ProviderType)) == enum
    assert len(enum) == 34


def test_alert_from_objects(assert_crd_valid: Any) -> None:
    provider = slack()
    repo = fleet()
    images = ImageRepository(name="demo-app", namespace="apps", image="nginx", interval="5m")
    policy = ImagePolicy(
        name="demo-app",
        namespace="apps",
        image_repository_ref=images,
        policy=TagPolicy.semver("^1.21.x"),
    )
    on_call = alert(
        provider_ref=provider,
        event_sources=[
            KustomizationLike(),
            repo,
            policy,
            {
                "kind": "HelmRelease",
                "name": "*",
                "namespace": "apps",
                "match_labels": {"team": "web"},
            },
        ],
        event_severity="error",
        event_metadata={"cluster": "staging"},
        exclusion_list=["^Dependencies do not meet ready condition"],
    )
    doc = on_call.to_manifest()
    assert doc == {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Alert",
        "metadata": {"name": "on-call", "namespace": "flux-system"},
        "spec": {
            "providerRef": {"name": "slack"},
            "eventSources": [
                {"kind": "Kustomization", "name": "apps-demo"},
                {"kind": "GitRepository", "name": "k8s-cluster-config"},
                {"kind": "ImagePolicy", "name": "demo-app", "namespace": "apps"},
                {
                    "kind": "HelmRelease",
                    "name": "*",
                    "namespace": "apps",
                    "matchLabels": {"team": "web"},
                },
            ],
            "eventSeverity": "error",
            "eventMetadata": {"cluster": "staging"},
            "exclusionList": ["^Dependencies do not meet ready condition"],
        },
    }
    assert on_call.spec.provider_ref.target is provider
    assert on_call.spec.event_sources[1].target is repo
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_receiver_renders_exactly(assert_crd_valid: Any) -> None:
    doc = receiver().to_manifest()
    assert doc == {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Receiver",
        "metadata": {"name": "github", "namespace": "flux-system"},
        "spec": {
            "type": "github",
            "resources": [{"kind": "GitRepository", "name": "k8s-cluster-config"}],
            "events": ["ping", "push"],
            "secretRef": {"name": "webhook-token"},
        },
    }
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_generic_oidc_receiver(assert_crd_valid: Any) -> None:
    doc = receiver(
        type="generic-oidc",
        secret_ref=None,
        events=None,
        oidc_providers=[
            {**OIDC, "variables": [{"name": "repo", "expression": "claims.repository"}]}
        ],
        resources=[
            {
                "kind": "OCIRepository",
                "name": "*",
                "match_labels": {"app": "demo"},
                "filter": "true",
            }
        ],
    ).to_manifest()
    assert doc["spec"] == {
        "type": "generic-oidc",
        "resources": [
            {"kind": "OCIRepository", "name": "*", "matchLabels": {"app": "demo"}, "filter": "true"}
        ],
        "oidcProviders": [
            {
                "issuerURL": "https://token.actions.githubusercontent.com",
                "validations": [
                    {"expression": "claims.repository == 'org/app'", "message": "wrong repository"}
                ],
                "variables": [{"name": "repo", "expression": "claims.repository"}],
            }
        ],
    }
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "slak"}, r"spec.type 'slak': is not a Provider type; did you mean 'slack'\?"),
        (
            {"commit_status_expr": "'flux'"},
            r"spec.commitStatusExpr \"'flux'\": is only supported for the github, gitlab, gitea, "
            r"bitbucketserver, bitbucket or azuredevops provider types, not 'slack'",
        ),
        (
            {"proxy": "proxy.internal:3128"},
            r"spec.proxy 'proxy.internal:3128': must start with http://",
        ),
        (
            {"address": "https://hooks.slack.com/" + "x" * 2048},
            r"spec.address '.*: is 2072 characters long; at most 2048 are allowed",
        ),
        ({"timeout": "1h"}, r"spec.timeout '1h': .*takes no hours"),
    ],
)
def test_bad_provider(spec: dict[str, Any], message: str) -> None:
    with errors.stack_context("staging"), pytest.raises(errors.SpecError, match=message) as info:
        slack(**spec)
    assert str(info.value).startswith("staging: Provider 'slack': ")
    assert len(info.value.issues) == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {
                "event_sources": [
                    {"kind": "Kustomization", "name": "apps", "match_labels": {"a": "b"}}
                ]
            },
            r"spec.eventSources\[0\].matchLabels \{'a': 'b'\}: requires name '\*' "
            r"\(it selects among all objects of the kind\), not 'apps'",
        ),
        (
            {"event_sources": [{"kind": "Deployment", "name": "web"}]},
            r"spec.eventSources\[0\].kind 'Deployment': expected 'Bucket', 'GitRepository'",
        ),
        (
            {"event_sources": [slack()]},
            r"spec.eventSources\[0\].kind 'Provider': 'slack' is a Provider; expected a Bucket, "
            r"GitRepository, Kustomization",
        ),
        (
            {"event_sources": [{"kind": "Kustomization", "name": "apps-*"}]},
            r"spec.eventSources\[0\].name 'apps-\*': is neither '\*' \(every object of the kind\) "
            r"nor an object name",
        ),
        ({"event_sources": []}, r"spec.eventSources \[\]: must list at least one event source"),
        (
            {"provider_ref": fleet()},
            r"spec.providerRef.name 'k8s-cluster-config': is a GitRepository; "
            r"expected a Provider",
        ),
        (
            {"event_severity": "warning"},
            r"spec.eventSeverity 'warning': expected 'info' or 'error'",
        ),
        (
            {"inclusion_list": [".*", "(?<=v)1"]},
            r"spec.inclusionList\[1\] '\(\?<=v\)1': is not a Go regexp: lookaround",
        ),
        ({"summary": "x" * 256}, r"spec.summary '.*: is 256 characters long; at most 255"),
    ],
)
def test_bad_alert(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SpecError, match=message) as info:
        alert(**spec)
    assert str(info.value).startswith("Alert 'on-call': ")
    assert len(info.value.issues) == 1


def test_alert_provider_must_share_the_namespace() -> None:
    elsewhere = Provider(name="slack", namespace="monitoring", type="slack")
    with pytest.raises(
        errors.SpecError,
        match=r"Alert 'on-call': spec.providerRef 'monitoring/slack': is in namespace "
        r"'monitoring', "
        r"but this reference can only name an object in 'flux-system'$",
    ):
        alert(provider_ref=elsewhere)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "githb"}, r"spec.type 'githb': is not a Receiver type; did you mean 'github'\?"),
        (
            {"type": "generic-oidc", "secret_ref": None},
            r"spec.oidcProviders: must list at least one OIDC provider when type is 'generic-oidc'",
        ),
        (
            {"oidc_providers": [OIDC]},
            r"spec.oidcProviders \['https://token.actions.githubusercontent.com'\]: can only be "
            r"set when type is 'generic-oidc', not 'github'",
        ),
        (
            {"type": "generic-oidc", "oidc_providers": [OIDC]},
            r"spec.secretRef \{'name': 'webhook-token'\}: "
            r"cannot be set when type is 'generic-oidc'",
        ),
        (
            {"secret_ref": None},
            r"spec.secretRef: is required when type is not 'generic-oidc' \(type is 'github'\)",
        ),
        (
            {
                "type": "generic-oidc",
                "secret_ref": None,
                "oidc_providers": [{**OIDC, "issuer_url": "token.actions.githubusercontent.com"}],
            },
            r"spec.oidcProviders\[0\].issuerURL 'token.actions.githubusercontent.com': "
            r"must start with http:// or https://",
        ),
        (
            {"type": "generic-oidc", "secret_ref": None, "oidc_providers": [OIDC, OIDC]},
            r"spec.oidcProviders\[1\].issuerURL 'https://token.actions.githubusercontent.com': "
            r"is listed twice",
        ),
        (
            {
                "type": "generic-oidc",
                "secret_ref": None,
                "oidc_providers": [{**OIDC, "validations": []}],
            },
            r"spec.oidcProviders\[0\].validations \[\]: must list at least one validation",
        ),
        (
            {"resources": [{"kind": "HelmRelease", "name": "web", "match_labels": {"a": "b"}}]},
            r"spec.resources\[0\].matchLabels \{'a': 'b'\}: requires name '\*'",
        ),
        ({"resources": []}, r"spec.resources \[\]: must list at least one resource"),
    ],
)
def test_bad_receiver(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SpecError, match=message) as info:
        receiver(**spec)
    assert str(info.value).startswith("Receiver 'github': ")
    assert len(info.value.issues) == 1


@pytest.mark.parametrize(
    ("kind", "version", "removed_in", "current"),
    [
        ("Provider", "v1beta1", "Flux 2.7", "v1beta3"),
        ("Provider", "v1beta2", "Flux 2.9", "v1beta3"),
        ("Alert", "v1beta2", "Flux 2.9", "v1beta3"),
        ("Receiver", "v1beta1", "Flux 2.7", "v1"),
        ("Receiver", "v1beta2", "Flux 2.9", "v1"),
    ],
)
def test_removed_api_versions(kind: str, version: str, removed_in: str, current: str) -> None:
    doc = {
        "apiVersion": f"notification.toolkit.fluxcd.io/{version}",
        "kind": kind,
        "metadata": {"name": "x"},
        "spec": {},
    }
    with pytest.raises(
        errors.UnsupportedApiVersionError,
        match=rf"{kind} 'x': apiVersion notification.toolkit.fluxcd.io/{version} was removed in "
        rf"{removed_in}; use notification.toolkit.fluxcd.io/{current}",
    ):
        from_manifest(doc)


def test_provider_has_no_v1_yet() -> None:
    doc = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Provider",
        "metadata": {"name": "x"},
        "spec": {"type": "slack"},
    }
    with pytest.raises(errors.UnsupportedApiVersionError, match=r"is not served by Flux 2.9"):
        from_manifest(doc)
