"""Fuzzing manifests: random documents (real Flux apiVersions and kinds, the models' own field
names, random nested values, and mangled YAML text) fed to `from_manifest` and to `gitops
validate`. Every input ends in success or a GitopsError (a one-line `gitops:` message, exit 2);
never another exception, never a traceback. Deterministic (derandomize) and bounded."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
import typing
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from conftest import CRD_DIR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_sdk.cli.app import main
from gitops_sdk.core.errors import GitopsError
from gitops_sdk.core.model import FluxObject, flux_kinds, from_manifest

FUZZ = settings(
    derandomize=True,
    deadline=timedelta(seconds=4),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def _field_names() -> list[str]:
    """Every manifest field name the modelled kinds have, nested ones included."""
    names: set[str] = set()
    seen: set[type] = set()

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            if tp not in seen:
                seen.add(tp)
                for name, info in tp.model_fields.items():
                    names.add(info.alias or name)
                    walk(info.annotation)
            return
        for arg in typing.get_args(tp):
            walk(arg)

    for cls in flux_kinds().values():
        walk(cls)
    return sorted(names)


KINDS = sorted({(cls.api_version, cls.kind) for cls in flux_kinds().values()})
FIELDS = _field_names()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=24),
    st.sampled_from(
        [
            "1m",
            "10m0s",
            "-5s",
            "https://github.com/org/repo",
            "ssh://git@github.com/org/repo",
            "oci://ghcr.io/org/chart",
            "main",
            "flux-system",
            "GitRepository",
            "HelmRepository",
            "OCIRepository",
            "Bucket",
            "Kustomization",
            ">=1.0.0 <2",
            "^1.x",
            "sha256:" + "a" * 64,
            "./apps",
            "*",
            "",
        ]
    ),
)
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=30,
)
api_kinds = st.one_of(
    st.sampled_from(KINDS),
    st.tuples(st.sampled_from([a for a, _ in KINDS]), st.sampled_from([k for _, k in KINDS])),
    st.tuples(st.one_of(scalars, values), st.one_of(scalars, values)),
)
metadata = st.one_of(
    st.fixed_dictionaries(
        {"name": st.one_of(st.sampled_from(["demo", "flux-system"]), scalars)},
        optional={"namespace": scalars, "labels": values, "annotations": values},
    ),
    values,
)


@st.composite
def manifests(draw: st.DrawFn) -> Any:
    """A manifest-like document: usually a mapping with apiVersion, kind, metadata and spec,
    any of which may be missing or of the wrong shape; sometimes not a mapping at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(values)
    api_version, kind = draw(api_kinds)
    doc: dict[Any, Any] = {"apiVersion": api_version, "kind": kind}
    doc["metadata"] = draw(metadata)
    doc["spec"] = draw(st.one_of(st.dictionaries(keys, values, max_size=8), values))
    for key in draw(st.sets(st.sampled_from(["apiVersion", "kind", "metadata", "spec"]))):
        if draw(st.booleans()):
            del doc[key]
    if draw(st.integers(0, 19)) == 0:
        doc["status"] = draw(values)
    return doc


@settings(FUZZ, max_examples=250)
@given(manifests())
def test_from_manifest_ends_in_a_model_or_a_gitops_error(doc: Any) -> None:
    try:
        obj = from_manifest(doc)
    except GitopsError as err:
        assert str(err)
    else:
        assert isinstance(obj, FluxObject)


# --- gitops validate -----------------------------------------------------------------------------

_CRD_FILES = (
    "source.toolkit.fluxcd.io_gitrepositories.yaml",
    "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
    "source.toolkit.fluxcd.io_ocirepositories.yaml",
)
# Without ../shared, a small CRD of the real GitRepository group still exercises the schema path.
_FALLBACK_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gitrepositories.source.toolkit.fluxcd.io"},
    "spec": {
        "group": "source.toolkit.fluxcd.io",
        "names": {"kind": "GitRepository"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "required": ["url", "interval"],
                                "properties": {
                                    "url": {"type": "string", "pattern": "^(http|https|ssh)://.*$"},
                                    "interval": {"type": "string"},
                                    "ref": {
                                        "type": "object",
                                        "properties": {"branch": {"type": "string"}},
                                    },
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def crd_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if CRD_DIR.is_dir():
            for name in _CRD_FILES:
                shutil.copy(CRD_DIR / name, folder / name)
        else:
            (folder / "crd.yaml").write_text(yaml.safe_dump(_FALLBACK_CRD))
        yield folder


MANGLES = [
    b"",
    b":",
    b"- ",
    b"&a ",
    b"*a",
    b"*b ",
    b"\t",
    b"{",
    b"]",
    b"\x00",
    b"\xff",
    b"'",
    b"---\n",
]
PROBLEM_COUNT = re.compile(r"^\d+ problem\(s\)$")


SERVED = [
    ("source.toolkit.fluxcd.io/v1", "GitRepository"),
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"),
]


@st.composite
def served_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed object of a kind the CRDs serve: its spec is what the schema checks."""
    api_version, kind = draw(st.sampled_from(SERVED))
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": draw(st.sampled_from(["demo", "apps"])), "namespace": "flux-system"},
        "spec": draw(st.dictionaries(keys, values, max_size=8)),
    }


@st.composite
def yaml_files(draw: st.DrawFn) -> bytes:
    """One to four documents as YAML, sometimes with a few bytes spliced in anywhere."""
    docs = draw(st.lists(st.one_of(manifests(), served_manifests()), min_size=1, max_size=4))
    data = yaml.safe_dump_all(docs, allow_unicode=True).encode("utf-8")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(MANGLES)) + data[at:]
    return data


@settings(FUZZ, max_examples=40)
@given(data=yaml_files())
def test_gitops_validate_never_crashes(data: bytes, crd_folder: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "manifests.yaml"
        file.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["validate", str(file), "--crds", str(crd_folder)])
    assert code in (0, 1, 2)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    for line in err.getvalue().splitlines():
        assert line.startswith(f"gitops: {file}: ") or PROBLEM_COUNT.match(line), line
    for line in out.getvalue().splitlines():
        assert line.startswith(str(file)), line
    assert (code == 2) == any(line.startswith("gitops: ") for line in err.getvalue().splitlines())
