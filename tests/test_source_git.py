"""GitRepository: rendering, round trip and validation."""

import pytest

from gitops_sdk.api.source import GitRepository
from gitops_sdk.core import errors
from gitops_sdk.core.model import from_manifest


def make(**spec: object) -> GitRepository:
    base: dict[str, object] = {"url": "https://github.com/org/fleet", "interval": "1m"}
    return GitRepository(name="fleet", namespace="flux-system", **{**base, **spec})


def test_renders_exactly_what_was_set(assert_crd_valid) -> None:
    repo = make(ref={"branch": "main"}, secret_ref={"name": "flux-system"})
    doc = repo.to_manifest()
    assert doc == {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "flux-system"},
        "spec": {
            "url": "https://github.com/org/fleet",
            "interval": "1m",
            "ref": {"branch": "main"},
            "secretRef": {"name": "flux-system"},
        },
    }
    assert from_manifest(doc).to_manifest() == doc
    assert_crd_valid(doc)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"url": "git@github.com:org/fleet"},
            r"spec.url 'git@github.com:org/fleet': is an scp-like address.*"
            r"use 'ssh://git@github.com/org/fleet'",
        ),
        ({"url": "ftp://x"}, r"spec.url 'ftp://x': must start with http://, https:// or ssh://"),
        ({"interval": "1 minute"}, r"spec.interval '1 minute': is not a duration"),
        ({"timeout": "1h"}, r"spec.timeout '1h': .*takes no hours"),
        (
            {"provider": "gcp"},
            r"spec.provider 'gcp': expected 'generic', 'aws', 'azure' or 'github'",
        ),
        ({"service_account_name": "sa"}, r"spec.serviceAccountName 'sa': can only be set when"),
        ({"ref": {"semver": "^^1"}}, r"spec.ref.semver '\^\^1': is not a semver range"),
        ({"verify": {"mode": "Tag"}}, r"spec.verify.secretRef: required field is missing"),
    ],
)
def test_bad_input_names_object_field_and_value(spec: dict[str, object], message: str) -> None:
    with errors.stack_context("staging"), pytest.raises(errors.SpecError, match=message) as info:
        make(**spec)
    assert str(info.value).startswith("staging: GitRepository 'fleet': ")


def test_removed_api_version_points_at_v1() -> None:
    doc = {
        "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
        "kind": "GitRepository",
        "metadata": {"name": "a"},
        "spec": {},
    }
    with pytest.raises(
        errors.UnsupportedApiVersionError,
        match=r"removed in Flux 2.8; use source.toolkit.fluxcd.io/v1",
    ):
        from_manifest(doc)
