"""`gitops validate`: one or more CRD sources, problems named by file, kind and name."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import CRD_DIR, ROOT
from test_flagger import SEED_CANARY

from gitops_sdk.cli import app as cli
from gitops_sdk.core.errors import ConfigError
from gitops_sdk.stack import synth


def validate(argv: list[str]) -> int:
    args = cli.parser().parse_args(["validate", *argv])
    return int(args.func(args))


def test_validate_takes_several_crd_sources(
    tmp_path: Path, third_party_crd_files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    if not CRD_DIR.is_dir():
        pytest.skip("needs ../shared/flux-crds (the official Flux CRDs); CI always has it")
    broken = copy.deepcopy(SEED_CANARY)
    broken["spec"]["analysis"]["threshold"] = "five"
    (tmp_path / "canary.yaml").write_text(yaml.safe_dump_all([SEED_CANARY, broken]))
    flagger = next(f for f in third_party_crd_files if "flagger" in str(f))

    # Flux's CRDs alone do not serve Canary: nothing to check.
    assert validate([str(tmp_path), "--crds", str(CRD_DIR)]) == 0
    capsys.readouterr()
    assert validate([str(tmp_path), "--crds", str(CRD_DIR), "--crds", str(flagger)]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{tmp_path / 'canary.yaml'}: Canary 'demo-app': spec.analysis.threshold: "
        "'five' is not of type 'number'"
    ]
    assert "1 problem(s)" in out.err


# --- synth --out never deletes what it did not write ---------------------------------------


def _docs(*names: str) -> list[dict[str, object]]:
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": "a"}}
        for n in names
    ]


def test_synth_output_replaces_only_the_files_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "out"
    synth.write(_docs("one", "two"), out)
    (out / "a" / "notes.yaml").write_text("mine: true\n")
    synth.write(_docs("two", "three"), out)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml")) == [
        "a/configmap-three.yaml",
        "a/configmap-two.yaml",
        "a/notes.yaml",
    ]
    assert (out / "a" / "notes.yaml").read_text() == "mine: true\n"


def test_synth_output_removes_folders_it_emptied(tmp_path: Path) -> None:
    out = tmp_path / "out"
    synth.write(_docs("one"), out)
    synth.write([], out)
    assert not (out / "a").exists()
    assert out.is_dir()


def test_synth_refuses_a_non_empty_folder_it_did_not_create(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.staging.yaml").write_text("config: {}\n")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "golden.yaml").write_text("x: 1\n")
    with pytest.raises(ConfigError, match=r"not empty and synth did not create it"):
        synth.write(_docs("one"), tmp_path)
    assert (tmp_path / "Pulumi.staging.yaml").read_text() == "config: {}\n"
    assert (tmp_path / "deep" / "golden.yaml").exists()
    assert not (tmp_path / "a").exists()


def test_synth_refuses_a_file_path(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    target.write_text("keep: me\n")
    with pytest.raises(ConfigError, match=r"is not a folder"):
        synth.write(_docs("one"), target)
    assert target.read_text() == "keep: me\n"


def test_synth_never_overwrites_a_user_file_in_its_own_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    synth.write(_docs("one"), out)
    (out / "a" / "configmap-two.yaml").write_text("user: file\n")
    with pytest.raises(ConfigError, match=r"a/configmap-two.yaml exists and was not written"):
        synth.write(_docs("one", "two"), out)
    assert (out / "a" / "configmap-two.yaml").read_text() == "user: file\n"


@pytest.mark.parametrize(
    "manifest",
    [
        "not json",
        '{"files": "a/x.yaml"}',
        '{"files": ["../../victim.yaml", "/etc/passwd.yaml", "a/../../v.yaml", "a/x.txt"]}',
    ],
)
def test_a_tampered_synth_manifest_deletes_nothing_outside(tmp_path: Path, manifest: str) -> None:
    out = tmp_path / "work" / "out"
    out.mkdir(parents=True)
    victim = tmp_path / "victim.yaml"
    victim.write_text("v: 1\n")
    (out / "a").mkdir()
    (out / "a" / "x.txt").write_text("t\n")
    (out / synth.MANIFEST).write_text(manifest)
    try:
        synth.write(_docs("one"), out)
    except ConfigError as err:
        assert "is not a synth manifest" in str(err)
    assert victim.read_text() == "v: 1\n"
    assert (out / "a" / "x.txt").exists()


def test_synth_cli_into_the_project_folder_is_refused_and_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.read_bytes() for p in ROOT.glob("*.yaml")}
    argv = ["--project-dir", str(ROOT), "synth", "--stack", "staging", "--out", str(ROOT)]
    code = cli.main(argv)
    assert code == 2
    assert "not empty and synth did not create it" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in ROOT.glob("*.yaml")} == before


# --- --project-dir and Pulumi.yaml -------------------------------------------------------------


def _no_pulumi_yaml(project: Path) -> None:
    project.mkdir()


def _pulumi_yaml(text: bytes) -> Callable[[Path], None]:
    def make(project: Path) -> None:
        project.mkdir()
        (project / "Pulumi.yaml").write_bytes(text)

    return make


PROJECTS: dict[str, tuple[Callable[[Path], None] | None, str]] = {
    "missing-folder": (
        None,
        "--project-dir {p}: no such folder; expected the folder with Pulumi.yaml",
    ),
    "a-file": (
        lambda p: p.write_text("name: x\n"),
        "--project-dir {p}: is not a folder; expected the folder with Pulumi.yaml",
    ),
    "no-pulumi-yaml": (
        _no_pulumi_yaml,
        "{p}: has no Pulumi.yaml; expected a Pulumi project folder (--project-dir)",
    ),
    "list": (
        _pulumi_yaml(b"- name: x\n"),
        "{p}/Pulumi.yaml: expected one mapping with name, runtime and main; got a list",
    ),
    "scalar": (
        _pulumi_yaml(b"just text\n"),
        "{p}/Pulumi.yaml: expected one mapping with name, runtime and main; got a str",
    ),
    "empty": (
        _pulumi_yaml(b""),
        "{p}/Pulumi.yaml: expected one mapping with name, runtime and main; got 0 documents",
    ),
    "binary": (_pulumi_yaml(b"\x00\x01\x02name"), "{p}/Pulumi.yaml: is a binary file"),
    "bad-yaml": (_pulumi_yaml(b"name: [x\n"), "{p}/Pulumi.yaml: not valid YAML: line 2, column 1"),
    "missing-main": (
        _pulumi_yaml(b"name: x\nruntime: python\nmain: nothere/\n"),
        "{p}/Pulumi.yaml: main 'nothere/': {p}/nothere not found; expected a Python file or a "
        "folder with __main__.py",
    ),
    "main-folder-without-program": (
        _pulumi_yaml(b"name: x\nruntime: python\n"),
        "{p}/Pulumi.yaml: main '.': {p}/__main__.py not found",
    ),
    "main-not-string": (
        _pulumi_yaml(b"name: x\nmain: [a]\n"),
        "{p}/Pulumi.yaml: main ['a']: expected a path to the program",
    ),
    "not-python": (
        _pulumi_yaml(b"name: x\nruntime: {name: nodejs}\n"),
        "{p}/Pulumi.yaml: runtime 'nodejs': synth runs Python programs only",
    ),
}


@pytest.mark.parametrize("command", ["graph", "synth"])
@pytest.mark.parametrize("case", sorted(PROJECTS))
def test_a_bad_project_dir_is_one_line_and_writes_nothing(
    case: str, command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, message = PROJECTS[case]
    project = tmp_path / "project"
    if make is not None:
        make(project)
    if project.is_dir():
        (project / "Pulumi.staging.yaml").write_text("config: {}\n")
    out_dir = tmp_path / "out"
    extra = ["--out", str(out_dir)] if command == "synth" else []
    code = cli.main(["--project-dir", str(project), command, "--stack", "staging", *extra])
    captured = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in captured.err
    assert captured.err.splitlines()[0].startswith(f"gitops: {message.format(p=project)}")
    assert len(captured.err.splitlines()) == 1
    assert not out_dir.exists()


def test_an_interrupted_synth_leaves_a_folder_the_next_synth_cleans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    synth.write(_docs("old"), out)
    real = synth.write_atomic
    calls: list[Path] = []

    def failing(path: Path, data: str | bytes, **kw: object) -> None:
        calls.append(path)
        if path.name == "configmap-two.yaml":
            raise ConfigError(f"{path}: disk full")
        real(path, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(synth, "write_atomic", failing)
    with pytest.raises(ConfigError, match="disk full"):
        synth.write(_docs("one", "two"), out)
    monkeypatch.setattr(synth, "write_atomic", real)
    synth.write(_docs("three"), out)
    assert sorted(p.name for p in out.rglob("*.yaml")) == ["configmap-three.yaml"]
