"""Fuzzing the stack-file reader and the config schema: whatever a `Pulumi.<stack>.yaml` holds,
reading it ends in values or a one-line GitopsError, within seconds; never another exception.

Deterministic (`derandomize=True`, no example database) and bounded, so CI sees the same
examples every run and the whole module takes a few seconds."""

from __future__ import annotations

import json
import tempfile
import time
import typing
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_sdk import GitRepository, LayerSet
from gitops_sdk.core.errors import GitopsError
from gitops_sdk.services.stack_files import SECRET_KEYS, decode_config_value, load_stack_file
from gitops_sdk.stack import synth
from gitops_sdk.stack.config import GitopsConfig, config_env, from_pulumi, parse_config

FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=3),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REPO = GitRepository(
    name="flux-system", namespace="flux-system", url="https://github.com/o/f", interval="1m"
)


def _models(annotation: Any) -> Iterator[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def schema_keys(model: type[pydantic.BaseModel]) -> list[str]:
    """Every key name the `gitops:` schema knows, at any depth (camelCase, as in YAML)."""
    keys: set[str] = set()
    todo, seen = [model], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, field in current.model_fields.items():
            keys.add(field.alias or name)
            todo.extend(_models(field.annotation))
    return sorted(keys)


TOP_KEYS = sorted({f.alias or n for n, f in GitopsConfig.model_fields.items()} | SECRET_KEYS)
KEYS = schema_keys(GitopsConfig)
WORDS = [
    "main", "1m", "10m", "5 minutes", "https://github.com/o/f", "git@github.com:o/f", "arm64",
    "staging", "flux-system", "Apps", "a-b", "a.b", "2025-01-01", "on", "yes", "~", "null",
    "<<", "*a", "&a", "!!binary", "secure", "v1:abc", "0x1F", "1e400", ".nan", "", " ", "-",
]  # fmt: skip
FRAGMENTS = [
    "&a ", "*a", "*b", "<<: *a\n", "<<: [*a, *b]\n", "!!binary ", "!!python/object:os.system ",
    "!custom ", "!!set ", "!!omap ", "!!int ", "!!str ", "? ", "? [a, b]\n: 1\n", "{", "}",
    "[", "]", ":", ": ", "- ", "\n", "\n  ", "\t", "'", '"', "#", "---\n", "...\n", "%YAML 1.1\n",
    "2025-01-01", "2025-01-01 10:00:00", "\x00", "\x07", "\ufeff", "\u2028", "\udcff", "\xe9",
    "gitops:", "config:", "secure: ", "&b [", "*a, *a, *a", "1:2:3:4:5",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(KEYS), st.sampled_from(WORDS), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=24,
)
BASE = {
    "cluster": {"name": "k", "environment": "staging"},
    "repository": {"url": "https://github.com/o/f"},
}
layers = st.dictionaries(
    st.sampled_from(["a", "a-b", "b", "b-c", "c", "apps", "x.y", "x-y"]),
    st.fixed_dictionaries(
        {},
        optional={
            "enabled": st.booleans(),
            "dependsOn": st.lists(st.sampled_from(["a", "b", "a/b", "b-c", "c", "x"]), max_size=2),
            "units": st.dictionaries(
                st.sampled_from(["b", "c", "b-c", "y", "d"]),
                st.fixed_dictionaries(
                    {},
                    optional={
                        "enabled": st.booleans(),
                        "dependsOn": st.lists(st.sampled_from(["b", "c", "a", "a/c"]), max_size=2),
                    },
                ),
                max_size=3,
            ),
        },
    ),
    max_size=4,
)
gitops = st.one_of(
    st.dictionaries(st.sampled_from(TOP_KEYS), values, max_size=5),
    st.builds(lambda extra: {**BASE, **extra}, st.dictionaries(st.sampled_from(TOP_KEYS), values)),
    st.builds(lambda ls: {**BASE, "layers": ls}, layers),
)


def stack_text(config: dict[str, Any], flow: bool) -> str:
    doc = {"config": {f"gitops:{k}": v for k, v in config.items()}}
    return yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A stack file with hostile fragments spliced in at random places."""
    text = stack_text(draw(gitops), draw(st.booleans()))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(FRAGMENTS)) + text[at:]
    return text


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def check(folder: Path, content: str | bytes) -> None:
    """Reading, validating, passing on and building from `content` ends well or in one line."""
    path = folder / "Pulumi.fuzz.yaml"
    path.write_bytes(
        content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    )
    start = time.monotonic()
    try:
        values = load_stack_file(path)
    except GitopsError as err:
        assert str(err).startswith("Pulumi.fuzz.yaml: ") and "\n" not in str(err)
        return
    finally:
        assert time.monotonic() - start < 3
    # What was read is plain data: JSON holds it, the program's side reads it back the same.
    env = config_env(values)
    assert {k: decode_config_value(k, json.dumps(v), "x") for k, v in values.items()} == {
        k: json.loads(env[f"gitops:{k}"]) for k in values
    }
    try:
        cfg = parse_config(values, source=path.name)
        LayerSet.from_config(cfg, REPO).build()
    except GitopsError as err:
        assert "\n" not in str(err)
    synth.start(synth.RecordingMocks(), stack="fuzz", config=values)
    try:
        from_pulumi()
    except GitopsError as err:
        assert str(err).startswith("Pulumi.fuzz.yaml: ") and "\n" not in str(err)


@FUZZ
@given(config=gitops, flow=st.booleans())
def test_generated_stack_files(folder: Path, config: dict[str, Any], flow: bool) -> None:
    check(folder, stack_text(config, flow))


@FUZZ
@given(text=mutated())
def test_stack_files_with_hostile_fragments(folder: Path, text: str) -> None:
    check(folder, text)


@settings(FUZZ, max_examples=100)
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_random_bytes_and_text(folder: Path, content: bytes | str) -> None:
    check(folder, content)
