"""image.toolkit.fluxcd.io/v1: ImageRepository, ImagePolicy, ImageUpdateAutomation."""

from typing import Any

import pytest

from gitops_sdk.api.image import ImagePolicy, ImagePolicyChoice, ImageRepository, TagPolicy
from gitops_sdk.api.image_update import ImageUpdateAutomation, check_message_template
from gitops_sdk.api.source import GitRepository
from gitops_sdk.core import errors
from gitops_sdk.core.model import from_manifest

# The seed's commit message, moved from the removed `.Updated` to `.Changed`.
MESSAGE = """Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
"""


def demo_repo(**spec: Any) -> ImageRepository:
    base: dict[str, Any] = {"image": "nginx", "interval": "5m", "provider": "generic"}
    return ImageRepository(name="demo-app", namespace="flux-system", **{**base, **spec})


def demo_policy(**spec: Any) -> ImagePolicy:
    base: dict[str, Any] = {
        "image_repository_ref": demo_repo(),
        "policy": TagPolicy.semver("^1.21.x"),
        "filter_tags": {"pattern": r"^(?P<ts>.*)-alpine$", "extract": "$ts"},
    }
    return ImagePolicy(name="demo-app", namespace="flux-system", **{**base, **spec})


def fleet_repo() -> GitRepository:
    return GitRepository(
        name="k8s-cluster-config",
        namespace="flux-system",
        url="https://github.com/org/k8s-cluster-config",
        interval="1m",
        ref={"branch": "main"},
    )


def demo_automation(**spec: Any) -> ImageUpdateAutomation:
    base: dict[str, Any] = {
        "interval": "30m",
        "source_ref": fleet_repo(),
        "git": {
            "checkout": {"ref": {"branch": "main"}},
            "commit": {
                "author": {"email": "fluxcdbot@users.noreply.github.com", "name": "fluxcdbot"},
                "message_template": MESSAGE,
            },
            "push": {"branch": "main"},
        },
        "update": {"path": "./apps", "strategy": "Setters"},
    }
    return ImageUpdateAutomation(name="flux-system", namespace="flux-system", **{**base, **spec})


def test_image_repository_renders_exactly(assert_crd_valid: Any) -> None:
    doc = demo_repo(exclusion_list=[r"^.*\.sig$", "^main-"]).to_manifest()
    assert doc == {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageRepository",
        "metadata": {"name": "demo-app", "namespace": "flux-system"},
        "spec": {
            "image": "nginx",
            "interval": "5m",
            "provider": "generic",
            "exclusionList": [r"^.*\.sig$", "^main-"],
        },
    }
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_image_policy_from_the_repository_object(assert_crd_valid: Any) -> None:
    repo = demo_repo()
    policy = demo_policy(image_repository_ref=repo)
    doc = policy.to_manifest()
    assert doc == {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImagePolicy",
        "metadata": {"name": "demo-app", "namespace": "flux-system"},
        "spec": {
            # Same namespace: the short form, as `flux create image policy` writes it.
            "imageRepositoryRef": {"name": "demo-app"},
            "policy": {"semver": {"range": "^1.21.x"}},
            "filterTags": {"pattern": "^(?P<ts>.*)-alpine$", "extract": "$ts"},
        },
    }
    assert policy.spec.image_repository_ref.target is repo
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_image_policy_refers_across_namespaces_with_digest_refresh(assert_crd_valid: Any) -> None:
    repo = ImageRepository(
        name="podinfo", namespace="images", image="ghcr.io/org/podinfo", interval="1m"
    )
    policy = ImagePolicy(
        name="podinfo",
        namespace="apps",
        image_repository_ref=repo,
        policy=TagPolicy.numerical("desc"),
        filter_tags={"pattern": r"^main-[a-f0-9]+-(?<build>[0-9]+)$", "extract": "${build}"},
        digest_reflection_policy="Always",
        interval="10m",
    )
    doc = policy.to_manifest()
    assert doc["spec"] == {
        "imageRepositoryRef": {"name": "podinfo", "namespace": "images"},
        "policy": {"numerical": {"order": "desc"}},
        "filterTags": {"pattern": r"^main-[a-f0-9]+-(?<build>[0-9]+)$", "extract": "${build}"},
        "digestReflectionPolicy": "Always",
        "interval": "10m",
    }
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_policy_factories() -> None:
    assert TagPolicy.semver("^1.21.x") == ImagePolicyChoice(semver={"range": "^1.21.x"})
    assert TagPolicy.alphabetical().to_dict() == {"alphabetical": {"order": "asc"}}
    assert TagPolicy.numerical("desc").to_dict() == {"numerical": {"order": "desc"}}


def test_image_update_automation_renders_exactly(assert_crd_valid: Any) -> None:
    automation = demo_automation()
    doc = automation.to_manifest()
    assert doc == {
        "apiVersion": "image.toolkit.fluxcd.io/v1",
        "kind": "ImageUpdateAutomation",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": "k8s-cluster-config"},
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {
                    "author": {
                        "email": "fluxcdbot@users.noreply.github.com",
                        "name": "fluxcdbot",
                    },
                    "messageTemplate": MESSAGE,
                },
                "push": {"branch": "main"},
            },
            "interval": "30m",
            "update": {"path": "./apps", "strategy": "Setters"},
        },
    }
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_automation_source_ref_by_name_still_renders_kind(assert_crd_valid: Any) -> None:
    doc = demo_automation(
        source_ref={"name": "fleet", "namespace": "infra"},
        policy_selector={
            "match_labels": {"team": "web"},
            "match_expressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}],
        },
    ).to_manifest()
    assert doc["spec"]["sourceRef"] == {
        "kind": "GitRepository",
        "name": "fleet",
        "namespace": "infra",
    }
    assert doc["spec"]["policySelector"] == {
        "matchLabels": {"team": "web"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}],
    }
    assert_crd_valid(doc)
    assert from_manifest(doc).to_manifest() == doc


def test_message_template_data_inside_blocks() -> None:
    # Inside range/with the dot is rebound: only `$.Field` reads the root data there.
    ok = "{{ range .Changed.Changes }}{{ .OldValue }} {{ $.Values.env }}{{ end }}"
    assert check_message_template(ok) == ok
    assert check_message_template('{{ "{{ .Updated }}" }}{{/* .Updated */}}')
    with pytest.raises(ValueError, match=r"uses '\.Updated': .*use '\.Changed'"):
        check_message_template("{{ range .Changed.Changes }}{{ $.Updated }}{{ end }}")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: demo_policy(filter_tags={"pattern": r"^(?P<ts>.*)-alpine$", "extract": "$tag"}),
            r"spec.filterTags.extract '\$tag': refers to group 'tag', which the pattern does "
            r"not define; the pattern's groups: \$ts \(\$1\)",
        ),
        (
            lambda: demo_policy(filter_tags={"pattern": r"^v(\d+)-(\w+)$", "extract": "${3}"}),
            r"spec.filterTags.extract '\$\{3\}': refers to group '3'.*groups: \$1, \$2$",
        ),
        (
            lambda: demo_policy(filter_tags={"pattern": "^v.*$", "extract": "$1"}),
            r"spec.filterTags.extract '\$1': .*the pattern has no groups",
        ),
        (
            lambda: demo_policy(filter_tags={"extract": "$ts"}),
            r"spec.filterTags.extract '\$ts': needs a pattern",
        ),
        (
            lambda: demo_policy(filter_tags={"pattern": "^(?!rc).*$"}),
            r"spec.filterTags.pattern '\^\(\?!rc\)\.\*\$': is not a Go regexp: lookaround",
        ),
        (
            lambda: demo_policy(policy={"semver": {"range": "^1"}, "numerical": {"order": "asc"}}),
            r"spec.policy \{.*\}: exactly one of semver, alphabetical or numerical must be set; "
            r"found semver and numerical",
        ),
        (
            lambda: demo_policy(policy={}),
            r"spec.policy \{\}: exactly one of .* must be set; none is set",
        ),
        (
            lambda: demo_policy(policy={"semver": {"range": "1.21.x || "}}),
            r"spec.policy.semver.range '1.21.x \|\| ': is not a semver range",
        ),
        (
            lambda: demo_policy(policy={"alphabetical": {"order": "ascending"}}),
            r"spec.policy.alphabetical.order 'ascending': expected 'asc' or 'desc'",
        ),
        (
            lambda: demo_policy(interval="5m"),
            r"spec.interval '5m': is only accepted when digestReflectionPolicy is 'Always'",
        ),
        (
            lambda: demo_policy(digest_reflection_policy="Always"),
            r"spec.interval: must be set when digestReflectionPolicy is 'Always'",
        ),
        (
            lambda: demo_policy(image_repository_ref=fleet_repo()),
            r"spec.imageRepositoryRef.name 'k8s-cluster-config': is a "
            r"GitRepository; expected an ImageRepository",
        ),
    ],
)
def test_bad_image_policy(make: Any, message: str) -> None:
    with errors.stack_context("staging"), pytest.raises(errors.SpecError, match=message) as info:
        make()
    assert str(info.value).startswith("staging: ImagePolicy 'demo-app': ")
    assert len(info.value.issues) == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"image": "nginx:1.21-alpine"},
            r"spec.image 'nginx:1.21-alpine': must not contain a tag \(':1.21-alpine'\): "
            r"use 'nginx' \(an ImagePolicy picks the tag\)",
        ),
        (
            {"image": "ghcr.io/org/app@sha256:0123abcd"},
            r"must not contain a digest \('@sha256:0123abcd'\): use 'ghcr.io/org/app'",
        ),
        (
            {"image": "https://registry.example.com:5000/org/app"},
            r"must not contain a scheme \('https://'\): use 'registry.example.com:5000/org/app'",
        ),
        (
            {"image": "ghcr.io/Org/App"},
            r"spec.image 'ghcr.io/Org/App': .*path component 'Org' must be lowercase",
        ),
        (
            {"exclusion_list": [f"^tag-{i}$" for i in range(26)]},
            r"spec.exclusionList \[.*: has 26 entries; Flux allows at most 25",
        ),
        (
            {"exclusion_list": [r"^.*\.sig$", "(a"]},
            r"spec.exclusionList\[1\] '\(a': is not a valid Go regexp: missing \): \(a",
        ),
        ({"timeout": "1h"}, r"spec.timeout '1h': .*takes no hours"),
        ({"provider": "ecr"}, r"spec.provider 'ecr': expected 'generic', 'aws', 'azure' or 'gcp'"),
    ],
)
def test_bad_image_repository(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SpecError, match=message) as info:
        demo_repo(**spec)
    assert str(info.value).startswith("ImageRepository 'demo-app': ")
    assert len(info.value.issues) == 1


def commit(**fields: Any) -> dict[str, Any]:
    return {"git": {"commit": {"author": {"email": "bot@example.com"}, **fields}}}


SEED_MESSAGE = """Files:
{{ range $filename, $_ := .Updated.Files -}}
- {{ $filename }}
{{ end -}}
"""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            commit(message_template=SEED_MESSAGE),
            r"spec.git.commit.messageTemplate 'Files:.*: uses '\.Updated\.Files': '\.Updated' "
            r"was removed in Flux 2\.7 and Flux stalls automations whose template uses it "
            r"\(RemovedTemplateField\); use '\.Changed\.FileChanges'",
        ),
        (
            commit(message_template="{{ range .Updated.Images }}{{ . }}{{ end }}"),
            r"uses '\.Updated\.Images'.*use '\.Changed\.Changes'",
        ),
        (
            commit(message_template="{{ .Changed.ImageResult }}"),
            r"uses '\.Changed\.ImageResult': the field was removed; use '\.Changed\.FileChanges'",
        ),
        (
            commit(message_template="Update {{ .Automation }}"),
            r"uses '\.Automation', which is not template data "
            r"\(available: \.AutomationObject, \.Changed, \.Values\)",
        ),
        (
            commit(message_template="{{ range .Changed.Changes }}{{ .NewValue }}"),
            r"messageTemplate .*: has a \{\{range\}\} without its \{\{end\}\}",
        ),
        (
            commit(message_template="Update {{ .Changed"),
            r"messageTemplate .*: has an unclosed action",
        ),
        (
            {"git": {"commit": {"author": {"name": "bot"}}}},
            r"spec.git.commit.author.email: required",
        ),
        ({"git": None}, r"spec.git: required field is missing"),
        (
            {"source_ref": {"kind": "OCIRepository", "name": "manifests"}},
            r"spec.sourceRef.kind 'OCIRepository': expected 'GitRepository'",
        ),
        (
            {"source_ref": demo_repo()},
            r"spec.sourceRef.kind 'ImageRepository': 'demo-app' is an ImageRepository; "
            r"expected a GitRepository",
        ),
        (
            {"update": {"strategy": "Kustomize"}},
            r"spec.update.strategy 'Kustomize': expected 'Setters'",
        ),
        (
            {"policy_selector": {"match_expressions": [{"key": "tier", "operator": "In"}]}},
            r"spec.policySelector.matchExpressions\[0\].values: "
            r"must be non-empty when operator is 'In'",
        ),
        (
            commit(signing_key={"secret_ref": {"name": "key"}, "type": "pgp"}),
            r"spec.git.commit.signingKey.type 'pgp': expected 'gpg' or 'ssh'",
        ),
    ],
)
def test_bad_image_update_automation(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.SpecError, match=message) as info:
        demo_automation(**spec)
    assert str(info.value).startswith("ImageUpdateAutomation 'flux-system': ")
    assert len(info.value.issues) == 1


@pytest.mark.parametrize(
    ("kind", "version", "removed_in"),
    [
        ("ImageRepository", "v1beta2", "Flux 2.9"),
        ("ImagePolicy", "v1beta2", "Flux 2.9"),
        ("ImageUpdateAutomation", "v1beta1", "Flux 2.7"),
        ("ImageUpdateAutomation", "v1beta2", "Flux 2.9"),
    ],
)
def test_removed_api_versions_point_at_v1(kind: str, version: str, removed_in: str) -> None:
    doc = {
        "apiVersion": f"image.toolkit.fluxcd.io/{version}",
        "kind": kind,
        "metadata": {"name": "nginx", "namespace": "flux-system"},
        "spec": {},
    }
    with pytest.raises(
        errors.UnsupportedApiVersionError,
        match=rf"{kind} 'nginx': apiVersion image.toolkit.fluxcd.io/{version} was removed in "
        rf"{removed_in}; use image.toolkit.fluxcd.io/v1",
    ):
        from_manifest(doc)
