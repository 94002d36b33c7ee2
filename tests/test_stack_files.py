"""Hostile `Pulumi.<stack>.yaml` files: one line of ConfigError naming the file, never a
traceback, a hang or the file's text; merge keys work as in Pulumi."""

from __future__ import annotations

import datetime
import json
import os
import random
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from conftest import ROOT

from gitops_sdk.cli import app as cli
from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services import stack_files
from gitops_sdk.services.stack_files import (
    MAX_ALIAS_USES,
    MAX_DEPTH,
    MAX_STACK_FILE_BYTES,
    MAX_VALUES,
    decode_config_value,
    load_stack_file,
    read_stack_file,
)
from gitops_sdk.stack import synth
from gitops_sdk.stack.config import config_env, from_pulumi, parse_config

HEAD = "config:\n  gitops:cluster: {name: kubestaging, environment: staging}\n"
LOADERS = ["libyaml", "python"] if yaml.__with_libyaml__ else ["python"]


@pytest.fixture(params=LOADERS)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Every case runs on libyaml's parser and on PyYAML's pure-Python one (the fallback)."""
    if request.param == "python":
        monkeypatch.setattr(stack_files, "_StackLoader", stack_files._PyLoader)
    yield request.param


def write(tmp_path: Path, content: str | bytes, stack: str = "hostile") -> Path:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def refused(path: Path) -> str:
    """The one-line message the file is refused with, read within a few seconds."""
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_stack_file(path)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path.name}: ")
    return message


def _billion_laughs() -> str:
    lines = ["    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 12):
        lines.append(f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    return HEAD + "  gitops:layers:\n" + "\n".join(lines) + "\n"


def _alias_depth() -> str:
    # Each anchor nests the previous one 20 levels deeper: fine written, too deep expanded.
    lines = ["    a0: &a0 x"]
    for i in range(1, 8):
        lines.append(f"    a{i}: &a{i} " + "[" * 20 + f"*a{i - 1}" + "]" * 20)
    return HEAD + "  gitops:layers:\n" + "\n".join(lines) + "\n"


CASES: dict[str, tuple[str | bytes, str]] = {
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"holds binary data \(a zero byte at line"),
    "utf16-bom": (HEAD.encode("utf-16"), r"is UTF-16 text \(byte-order mark\); expected UTF-8"),
    "utf16-le": (HEAD.encode("utf-16-le"), r"looks like UTF-16 text .*; expected UTF-8"),
    "utf16-be": (HEAD.encode("utf-16-be"), r"looks like UTF-16 text .*; expected UTF-8"),
    "utf32-bom": (HEAD.encode("utf-32"), r"is UTF-32 text"),
    "latin1": (
        (HEAD + "  gitops:x: caf\xe9\n").encode("latin-1"),
        r"is not valid UTF-8 \(at line 3, byte 16\); expected UTF-8 text",
    ),
    "control": (HEAD + "  gitops:x: a\x07b\n", r"line 3, column 14: control character #x0007"),
    "too-large": (HEAD + "#" * MAX_STACK_FILE_BYTES, r"larger than 1048576 bytes"),
    "date": (
        HEAD + "  gitops:repository: {url: 'https://x', branch: 2025-01-01}\n",
        r"gitops:repository.branch \(line 3, column 49\): an unquoted date or time is read as "
        r"a date, but this key wants a string: quote it",
    ),
    "datetime-in-list": (
        HEAD + "  gitops:renovate:\n    schedule:\n      - 2025-01-01 10:00:00\n",
        r"gitops:renovate.schedule\[0\] \(line 5, column 9\): an unquoted date",
    ),
    "binary-tag": (HEAD + "  gitops:x: !!binary aGVsbG8=\n", r"binary data \(!!binary\) is not"),
    "python-tag": (
        HEAD + "  gitops:x: !!python/object/apply:os.system [echo hi]\n",
        r"gitops:x \(line 3, column 13\): tag !!python/object/apply:os.system is not supported",
    ),
    "custom-tag": (HEAD + "  gitops:x: !vault secret/x\n", r"tag !vault is not supported"),
    "custom-tag-map": (HEAD + "  gitops:x: !thing {a: 1}\n", r"tag !thing is not supported"),
    "set": (HEAD + "  gitops:x: !!set {a, b}\n", r"tag !!set is not supported"),
    "omap": (HEAD + "  gitops:x: !!omap [a: 1]\n", r"tag !!omap is not supported"),
    "timestamp-tag": (HEAD + '  gitops:x: !!timestamp "2025-01-01"\n', r"read as a date"),
    "bad-int-tag": (HEAD + "  gitops:x: !!int abc\n", r"is tagged !!int but cannot be read"),
    "bad-bool-tag": (HEAD + "  gitops:x: !!bool maybe\n", r"is tagged !!bool but cannot be"),
    "long-number": (HEAD + "  gitops:x: 1" + ":59" * 50000 + "\n", r"a number longer than 100"),
    "complex-key": (
        HEAD + "  gitops:x:\n    ? [a, b]\n    : 1\n",
        r"gitops:x \(line 4, column 7\): a key is a list or mapping \(a complex key\)",
    ),
    "mapping-key": (HEAD + "  gitops:x: {{a: 1}: 2}\n", r"a key is a list or mapping"),
    "root-complex-key": ("? [a, b]\n: 1\n", r"line 1, column 3: a key is a list or mapping"),
    "number-key": (
        HEAD + "  gitops:layers: {1: {}}\n",
        r"gitops:layers \(line 3, column 19\): key '1' is read as a number; expected a text "
        r"key: quote it",
    ),
    "bool-key": (HEAD + "  gitops:layers: {on: {}}\n", r"key 'on' is read as true/false"),
    "null-key": (HEAD + "  gitops:layers: {~: {}}\n", r"key '~' is read as null"),
    "billion-laughs": (_billion_laughs(), rf"more than {MAX_VALUES} values once aliases are"),
    "alias-uses": (
        HEAD + "  gitops:x:\n    a: &a x\n    b: [" + "*a, " * (MAX_ALIAS_USES + 1) + "]\n",
        rf"more than {MAX_ALIAS_USES} alias uses",
    ),
    "alias-depth": (_alias_depth(), rf"nested more than {MAX_DEPTH} levels deep"),
    "recursive-alias": (
        HEAD + "  gitops:x: &a [1, *a]\n",
        r"line 3, column 20: alias \*a is used inside its own anchor",
    ),
    "recursive-merge": (HEAD + "  gitops:x: &a {<<: *a}\n", r"inside its own anchor"),
    "list": ("- config\n- gitops:x\n", r"expected a mapping with a 'config' key$"),
    "scalar": ("just text\n", r"expected a mapping with a 'config' key$"),
    "config-list": ("config: [a, b]\n", r"'config' must be a mapping, got a list"),
    "two-documents": (
        HEAD + "---\nconfig: {}\n",
        r"a second YAML document starts at line 3, column 1; expected one document",
    ),
    "duplicate": (
        HEAD + "  gitops:cluster: {}\n",
        r"not valid YAML: config \(line 3, column 3\): duplicate key 'gitops:cluster'",
    ),
    "nested-duplicate": (HEAD + "  gitops:x: {a: 1, b: 2, a: 3}\n", r"duplicate key 'a'"),
    "deep-flow": (HEAD + "  gitops:x: " + "[" * 50_000 + "]" * 50_000 + "\n", r"nest"),
    "deep-block": (
        HEAD + "  gitops:x:\n" + "".join(" " * (4 + i) + f"k{i}:\n" for i in range(1000)),
        rf"nested more than {MAX_DEPTH} levels deep",
    ),
    "merge-scalar": (
        HEAD + "  gitops:x: {<<: 1}\n",
        r"gitops:x \(line 3, column 18\): a merge key \(<<\) takes a mapping",
    ),
    "undefined-alias": (HEAD + "  gitops:x: *nope\n", r"not valid YAML: line 3, column 13: "),
    "syntax": (HEAD + "  gitops:x: [1, 2\n", r"not valid YAML: line 4, column 1: "),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_stack_files_are_refused_in_one_line(
    tmp_path: Path, loader: str, case: str
) -> None:
    content, pattern = CASES[case]
    message = refused(write(tmp_path, content))
    assert message.count("Pulumi.hostile.yaml") == 1
    assert re.search(pattern, message), message


def test_a_folder_or_fifo_is_not_opened(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.dir.yaml").mkdir()
    os.mkfifo(tmp_path / "Pulumi.fifo.yaml")  # opening it for reading would block
    for stack in ("dir", "fifo"):
        assert refused(tmp_path / f"Pulumi.{stack}.yaml").endswith(
            "is not a regular file; expected a YAML file"
        )


def test_random_bytes_are_refused_in_one_line(tmp_path: Path, loader: str) -> None:
    rng = random.Random(13)
    for size in (1, 7, 100, 4096):
        for _ in range(5):
            data = bytes(rng.randrange(256) for _ in range(size))
            path = write(tmp_path, data)
            try:
                load_stack_file(path)
            except ConfigError as err:
                assert "\n" not in str(err) and str(err).startswith("Pulumi.hostile.yaml: ")


SECRET = "ghp_SUPERSECRETTOKEN0123456789"
SYNTAX_ERRORS = [
    f"config:\n  gitops:githubToken: {SECRET}: [\n",
    f"config:\n  gitops:x: '{SECRET}\n",
    f'config:\n  gitops:x: "{SECRET}\\q"\n',
    f"config:\n  gitops:x: [{SECRET}\n  y: 1\n",
    f"config:\n\tgitops:x: {SECRET}\n",
    f"config:\n  gitops:x: {SECRET}\n bad: {SECRET}\n",
    f"config:\n  gitops:x: {{a: {SECRET}\n",
    f"config:\n  gitops:x: %{SECRET}\n",
    f"config:\n  gitops:x: &{SECRET} a\n  gitops:y: *nope{SECRET}\n",
]


@pytest.mark.parametrize("text", SYNTAX_ERRORS)
def test_syntax_errors_show_the_position_never_the_text(
    tmp_path: Path, loader: str, text: str
) -> None:
    message = refused(write(tmp_path, text))
    assert SECRET not in message and "SUPERSECRET" not in message
    assert "line " in message and "column " in message
    assert "^" not in message and "<unicode string>" not in message


def test_merge_keys_work_as_in_pulumi(tmp_path: Path, loader: str) -> None:
    text = (
        HEAD
        + "  gitops:repository: {url: 'https://github.com/org/fleet'}\n"
        + "  gitops:layers:\n"
        + "    infrastructure:\n"
        + "      units:\n"
        + "        metallb: &unit {interval: 5m, prune: true}\n"
        + "        traefik:\n"
        + "          <<: *unit\n"
        + "          interval: 1m\n"
        + "          dependsOn: [metallb]\n"
        + "    apps:\n"
        + "      <<: [{timeout: 2m, wait: false}, {timeout: 9m, prune: false}]\n"
        + "      timeout: 3m\n"
        + "      units: {demo: *unit}\n"
    )
    values = load_stack_file(write(tmp_path, text))
    layers = values["layers"]
    assert layers["infrastructure"]["units"]["traefik"] == {
        "interval": "1m",
        "prune": True,
        "dependsOn": ["metallb"],
    }
    # Explicit keys win; of several merged mappings the first wins (the YAML merge rule).
    assert layers["apps"] == {
        "timeout": "3m",
        "wait": False,
        "prune": False,
        "units": {"demo": {"interval": "5m", "prune": True}},
    }
    cfg = parse_config(values, source="Pulumi.hostile.yaml")
    assert cfg.layers["infrastructure"].units["traefik"].interval == "1m"
    assert json.loads(config_env(values)["gitops:layers"]) == layers


def test_an_anchor_may_be_defined_again(tmp_path: Path, loader: str) -> None:
    text = HEAD + "  gitops:x: {a: &u 1, b: *u, c: &u [&u 2, *u], d: *u}\n"
    assert load_stack_file(write(tmp_path, text))["x"] == {"a": 1, "b": 1, "c": [2, 2], "d": 2}


def test_merge_at_the_config_level(tmp_path: Path, loader: str) -> None:
    text = (
        "base: &base\n  gitops:cluster: {name: a, environment: staging}\n"
        "config:\n  <<: *base\n  gitops:repository: {url: 'https://x/y'}\n"
    )
    values = load_stack_file(write(tmp_path, text))
    assert values == {
        "cluster": {"name": "a", "environment": "staging"},
        "repository": {"url": "https://x/y"},
    }


def test_other_namespaces_are_not_ours_to_refuse(tmp_path: Path, loader: str) -> None:
    text = (
        "\ufeff"  # a UTF-8 byte-order mark is fine
        + HEAD
        + "  kubernetes:since: 2025-01-01\n  aws:blob: !!binary aGVsbG8=\n  vault:x: !vault a\n"
    )
    assert load_stack_file(write(tmp_path, text)) == {
        "cluster": {"name": "kubestaging", "environment": "staging"}
    }
    assert read_stack_file(write(tmp_path, "")) == {}
    assert read_stack_file(write(tmp_path, "config:\n")) == {}


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_shipped_stack_files_read_the_same_on_both_parsers(stack: str, loader: str) -> None:
    path = ROOT / f"Pulumi.{stack}.yaml"
    plain = yaml.safe_load(path.read_text())["config"]
    assert load_stack_file(path) == {
        k.removeprefix("gitops:"): v for k, v in plain.items() if k.startswith("gitops:")
    }


def test_gitops_synth_names_the_stack_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path)
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    for content, _ in (CASES["date"], CASES["billion-laughs"], CASES["utf16-bom"]):
        write(tmp_path, content)
        argv = ["--project-dir", str(tmp_path), "synth", "--stack", "hostile"]
        assert cli.main([*argv, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("gitops: Pulumi.hostile.yaml: ") and err.count("\n") == 1
        assert cli.main(["--project-dir", str(tmp_path), "graph", "--stack", "hostile"]) == 2
        assert capsys.readouterr().err == err
    assert not (tmp_path / "out").exists()


# --- the program's side: what the engine passes as JSON gets the same caps ------------------


def engine_config(config: dict[str, str]) -> None:
    """Config as the Pulumi engine hands it to the program: `gitops:key` -> JSON text."""
    synth.start(synth.RecordingMocks(), stack="hostile", config={})
    pulumi.runtime.set_all_config(config)


BASE_JSON = {
    "gitops:cluster": json.dumps({"name": "k", "environment": "staging"}),
    "gitops:repository": json.dumps({"url": "https://github.com/org/fleet", "branch": "main"}),
}


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("gitops:layers", "[" * 100_000 + "]" * 100_000, r"gitops:layers: lists and mappings"),
        ("gitops:layers", "not JSON [", None),
        ("gitops:x", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), r"nested more than"),
        ("gitops:x", json.dumps([0] * (MAX_VALUES + 1)), rf"more than {MAX_VALUES} values"),
        ("gitops:x", json.dumps("a" * MAX_STACK_FILE_BYTES), r"larger than 1048576 bytes"),
    ],
)
def test_from_pulumi_caps_what_the_engine_passes(key: str, text: str, message: str | None) -> None:
    engine_config({**BASE_JSON, key: text})
    if message is None:  # not JSON: a plain string value, as the engine passes strings
        with pytest.raises(
            ConfigError, match=r"gitops:layers 'not JSON \[': input should be a valid dictionary"
        ):
            from_pulumi()
        return
    with pytest.raises(ConfigError) as info:
        from_pulumi()
    assert str(info.value).startswith("Pulumi.hostile.yaml: ")
    assert "\n" not in str(info.value)
    assert re.search(message, str(info.value))


def test_from_pulumi_reads_merged_and_plain_values() -> None:
    engine_config({**BASE_JSON, "gitops:layers": json.dumps({"apps": {"interval": "5m"}})})
    cfg = from_pulumi()
    assert cfg.repository.branch == "main" and cfg.layers["apps"].interval == "5m"
    assert decode_config_value("x", "main", "Pulumi.s.yaml") == "main"
    assert decode_config_value("x", "3", "Pulumi.s.yaml") == 3


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (datetime.date(2025, 1, 1), "is not plain data"),
        (b"bytes", "is not plain data"),
        ({1.5j}, "is not plain data"),
    ],
)
def test_config_env_refuses_values_json_cannot_hold(value: Any, problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"^stack config: gitops:x {problem} \(TypeError\)"):
        config_env({"x": value})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ConfigError, match=r"gitops:loop is not plain data \(ValueError\)"):
        config_env({"loop": loop})
