"""The base model's memory behaviour: objects share their sets of given fields, safely."""

from __future__ import annotations

import pulumi
import pydantic
import pytest

from gitops_sdk import (
    GitRepository,
    Kustomization,
    SpecError,
    UnsupportedApiVersionError,
    from_manifest,
)
from gitops_sdk.api.image import TagFilter
from gitops_sdk.api.kustomize import SourceReference
from gitops_sdk.core.base import FluxModel
from gitops_sdk.core.refs import iter_refs


def repo(namespace: str = "flux-system") -> GitRepository:
    return GitRepository(
        name="fleet", namespace=namespace, url="https://github.com/org/fleet", interval="1m"
    )


def unit(i: int, **spec: object) -> Kustomization:
    base: dict[str, object] = {
        "interval": "10m",
        "path": f"./units/{i}",
        "prune": True,
        "source_ref": repo(),
    }
    return Kustomization(name=f"unit-{i}", namespace="flux-system", **{**base, **spec})


def test_objects_with_the_same_fields_share_one_fields_set() -> None:
    a, b = unit(1), unit(2)
    assert a.model_fields_set is b.model_fields_set
    assert a.spec.model_fields_set is b.spec.model_fields_set
    assert a.metadata.model_fields_set is b.metadata.model_fields_set
    assert a.spec.model_fields_set == {"interval", "path", "prune", "source_ref"}
    assert unit(3, suspend=True).spec.model_fields_set == {
        "interval",
        "path",
        "prune",
        "source_ref",
        "suspend",
    }


def test_a_copy_with_updates_leaves_the_shared_set_alone() -> None:
    a, b = unit(1), unit(2)
    changed = a.spec.model_copy(update={"suspend": True})
    assert changed.model_fields_set == {"interval", "path", "prune", "source_ref", "suspend"}
    assert (
        a.spec.model_fields_set
        == b.spec.model_fields_set
        == {"interval", "path", "prune", "source_ref"}
    )
    assert "suspend" not in b.spec.to_dict()
    assert changed.to_dict()["suspend"] is True


def test_assignment_is_refused_before_the_shared_set_changes() -> None:
    a, b = unit(1), unit(2)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        a.spec.suspend = True  # type: ignore[misc]
    assert "suspend" not in b.spec.model_fields_set


def test_dropping_a_same_namespace_reference_namespace_changes_only_that_reference() -> None:
    explicit = SourceReference(kind="GitRepository", name="fleet", namespace="flux-system")
    elsewhere = Kustomization(
        name="apps",
        namespace="apps",
        interval="10m",
        path="./apps",
        prune=True,
        source_ref=explicit,
    )
    # Built from an object in the referrer's own namespace: the namespace is dropped...
    local = unit(1)
    assert local.spec.source_ref.model_fields_set == {"kind", "name"}
    assert local.to_manifest()["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "fleet"}
    # ...without touching a reference given the namespace explicitly.
    assert explicit.model_fields_set == {"kind", "name", "namespace"}
    assert elsewhere.to_manifest()["spec"]["sourceRef"]["namespace"] == "flux-system"


def test_a_reference_given_to_two_objects_is_shortened_only_for_its_own_namespace() -> None:
    ref = SourceReference.model_validate(repo())
    apps = Kustomization(
        name="apps", namespace="apps", interval="10m", path="./apps", prune=True, source_ref=ref
    )
    infra = Kustomization(
        name="infra",
        namespace="flux-system",
        interval="10m",
        path="./infra",
        prune=True,
        source_ref=ref,
    )
    assert infra.to_manifest()["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "fleet"}
    assert apps.to_manifest()["spec"]["sourceRef"] == {
        "kind": "GitRepository",
        "name": "fleet",
        "namespace": "flux-system",
    }
    assert ref.namespace == "flux-system"  # the caller's instance is left as it was


class Node(FluxModel):
    """A recursive model, as a user extension might define one."""

    ref: SourceReference | None = None
    children: list[Node] = []
    by_name: dict[str, list[SourceReference]] = {}


def test_references_are_found_at_any_depth_of_a_recursive_model() -> None:
    leaf = SourceReference.model_validate(repo())
    listed = SourceReference(kind="GitRepository", name="listed")
    tree = Node(children=[Node(children=[Node(ref=leaf)]), Node(by_name={"x": [listed]})])
    assert [r.name for r in iter_refs(tree)] == ["fleet", "listed"]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("suspend", "yes", "input should be a valid boolean"),
        ("prune", 1, "input should be a valid boolean"),
        ("retryInterval", 60, "input should be a valid string"),
    ],
)
def test_scalars_are_as_strict_as_the_crd(field: str, value: object, problem: str) -> None:
    doc = unit(1).to_manifest()
    doc["spec"][field] = value
    with pytest.raises(SpecError, match=rf"^Kustomization 'unit-1': spec\.{field} .*: {problem}$"):
        from_manifest(doc)


def test_manifests_use_the_manifest_field_names_only() -> None:
    doc = unit(1).to_manifest()
    doc["spec"]["source_ref"] = doc["spec"].pop("sourceRef")
    with pytest.raises(SpecError) as err:
        from_manifest(doc)
    assert ("spec.source_ref: unknown field (manifests use the camelCase name 'sourceRef')") in str(
        err.value
    )
    assert "spec.sourceRef" in str(err.value) and "required field is missing" in str(err.value)


def test_a_manifest_error_names_the_object_by_its_metadata_name() -> None:
    doc = {**unit(1).to_manifest(), "name": "other"}
    with pytest.raises(SpecError, match=r"^Kustomization 'unit-1': "):
        from_manifest(doc)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        (r"(?P<x>a)(?P=x)", "invalid perl operator: (?P"),
        (r"a(?#note)b", "invalid perl operator: (?#"),
        (r"abc\Z", r"invalid escape sequence: \Z"),
        (r"(?>ab)c", "invalid perl operator: (?>"),
        (r"\d{1001}", "invalid repetition size: {1001}"),
    ],
)
def test_python_only_regexp_syntax_is_refused_as_go_would(pattern: str, problem: str) -> None:
    with pytest.raises(SpecError) as err:
        TagFilter(pattern=pattern)
    assert str(err.value) == (
        f"TagFilter: pattern {pattern!r}: is not a valid Go regexp: {problem}"
    )


@pytest.mark.parametrize(
    "pattern", [r"a(?i)b", r"^\pL+$", r"\p{Greek}", r"\Qa.b\E", r"\x{41}", r"abc\z", r"[[:digit:]]"]
)
def test_go_only_regexp_syntax_is_accepted(pattern: str) -> None:
    assert TagFilter(pattern=pattern).pattern == pattern


def test_extract_sees_go_named_groups() -> None:
    tags = TagFilter(pattern=r"^main-(?<sha>[a-f0-9]+)-(?P<ts>\d+)$", extract="$ts")
    assert tags.extract == "$ts"
    with pytest.raises(SpecError, match=r"\$build"):
        TagFilter(pattern=r"^main-(?<sha>[a-f0-9]+)-(?P<ts>\d+)$", extract="$build")


def test_wrong_shapes_are_named_plainly() -> None:
    infra = unit(1)
    with pytest.raises(SpecError) as err:
        unit(2, source_ref="fleet")
    assert str(err.value) == (
        "Kustomization 'unit-2': spec.sourceRef 'fleet': expected an OCIRepository, "
        "GitRepository, Bucket or ExternalArtifact object (the object itself, or a mapping with "
        "its name)"
    )
    with pytest.raises(SpecError) as err:
        unit(2, depends_on=infra)
    assert str(err.value) == (
        "Kustomization 'unit-2': spec.dependsOn Kustomization 'unit-1': input should be a valid "
        "list"
    )


def test_a_pulumi_output_gets_a_hint(mocks: object) -> None:
    with pytest.raises(
        SpecError,
        match=r"spec\.path <pulumi\.output\.Output object at .*>: "
        r"input should be a valid string \(this field takes a plain value; pulumi Outputs are "
        r"taken where other resources feed an object: source URLs, Secret names, Provider "
        r"addresses, HelmRelease values\)$",
    ):
        unit(2, path=pulumi.Output.from_input("./x"))


def test_a_flux_kind_under_the_wrong_group_names_the_right_api_version() -> None:
    doc = {**repo().to_manifest(), "apiVersion": "v1"}
    with pytest.raises(
        UnsupportedApiVersionError,
        match=r"^GitRepository 'fleet': apiVersion v1 does not serve GitRepository; use "
        r"source.toolkit.fluxcd.io/v1$",
    ):
        from_manifest(doc)


def test_a_mismatched_api_version_in_the_flat_form_blames_that_field() -> None:
    with pytest.raises(
        SpecError,
        match=r"^Kustomization 'unit-1': apiVersion 'kustomize.toolkit.fluxcd.io/v1beta2': "
        r"does not match 'kustomize.toolkit.fluxcd.io/v1'$",
    ):
        unit(1, apiVersion="kustomize.toolkit.fluxcd.io/v1beta2")
