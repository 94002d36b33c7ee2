"""`gitops validate` (and `synth --crds`) given hostile files: each bad file or document is one
`gitops: <file>: ...` line on stderr, the other files are still checked, the exit code is 2;
never a traceback. Also the careful YAML reader those commands share."""

from __future__ import annotations

import copy
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CRD_DIR, needs_crds

from gitops_sdk.cli.app import main
from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.crds import check_tree, load_crd_schemas, python_pattern, validate_tree
from gitops_sdk.services.yaml_lines import (
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    load_documents,
    parse_documents,
    parse_line,
)

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {"size": {"type": "integer"}},
                            }
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str = "w", size: object = 1) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"size": size},
        }
    )


@pytest.fixture
def crds(tmp_path: Path) -> Path:
    folder = tmp_path / "crds"
    folder.mkdir()
    (folder / "widgets.yaml").write_text(yaml.safe_dump(WIDGET_CRD))
    return folder


def gitops(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], list[str]]:
    """Run `gitops argv`: (exit code, stdout lines, stderr lines); never a traceback."""
    code = main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out.splitlines(), out.err.splitlines()


def alias_bomb() -> bytes:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return ("\n".join(lines) + "\n").encode()


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "latin1": (
        "apiVersion: v1\nkind: ConfigMap\ndata: {a: café}\n".encode("latin-1"),
        "is not UTF-8 text: byte 0xe9 at line 3",
    ),
    "utf16-bom": (
        "apiVersion: v1\nkind: ConfigMap\n".encode("utf-16"),
        "is UTF-16 text; expected UTF-8",
    ),
    "utf16-no-bom": ("apiVersion: v1\nkind: ConfigMap\n".encode("utf-16-le"), "is UTF-16 text"),
    "utf32": ("apiVersion: v1\n".encode("utf-32"), "is UTF-32 text"),
    "binary": (bytes(range(256)) * 4, "is a binary file"),
    "control-char": (b"apiVersion: v1\nkind: \x07\n", "not valid YAML: line 2: character U+0007"),
    "syntax": (b"apiVersion: v1\nkind: [ConfigMap\n", "not valid YAML: line 3, column 1"),
    "tab-indent": (b"apiVersion: v1\n\tkind: x\n", "not valid YAML: line 2, column 1"),
    "bad-date": (
        b"apiVersion: v1\nkind: ConfigMap\ndata: {when: 2024-13-01}\n",
        "document 1: not valid YAML: month must be in 1..12",
    ),
    "huge-int": (
        b"apiVersion: v1\nkind: ConfigMap\nx: " + b"9" * 5000 + b"\n",
        "an integer has more digits",
    ),
    "python-tag": (
        b"a: !!python/object/apply:os.system [echo hi]\n",
        "could not determine a constructor",
    ),
    "undefined-alias": (b"a: *nothing\n", "found undefined alias"),
    "alias-bomb": (alias_bomb(), "(an alias bomb?)"),
    "recursive-alias": (
        b"apiVersion: v1\nkind: ConfigMap\ndata: &d {self: *d}\n",
        "holds an alias to itself",
    ),
    "too-deep": (
        b"a: " + b"[" * (MAX_YAML_DEPTH + 1) + b"]" * (MAX_YAML_DEPTH + 1) + b"\n",
        f"deeper than {MAX_YAML_DEPTH} levels",
    ),
    "metadata-scalar": (
        b"apiVersion: example.com/v1\nkind: Widget\nmetadata: oops\nspec: {size: 1}\n",
        "document 1: Widget: metadata is 'oops'; expected a mapping",
    ),
    "document-list": (
        b"- apiVersion: v1\n- kind: ConfigMap\n",
        "document 1: is a list; expected a Kubernetes object",
    ),
    "document-scalar": (widget().encode() + b"---\njust text\n", "document 2: is a scalar (str)"),
    "no-kind": (b"metadata: {name: x}\nspec: {}\n", "document 1: has no apiVersion and no kind"),
    "no-api-version": (b"kind: Widget\n", "document 1: has no apiVersion;"),
    "kind-not-string": (
        b"apiVersion: v1\nkind: [a]\n",
        "document 1: kind is a list; expected a non-empty string",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_one_line_and_the_others_are_still_checked(
    case: str, tmp_path: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, message = BAD_FILES[case]
    tree = tmp_path / "tree"
    tree.mkdir()
    bad = tree / "bad.yaml"
    bad.write_bytes(data)
    (tree / "good.yaml").write_text(widget("good"))
    (tree / "wrong.yaml").write_text(widget("wrong", size="big"))
    code, out, err = gitops(["validate", str(tree), "--crds", str(crds)], capsys)
    assert code == 2
    assert out == [
        f"{tree / 'wrong.yaml'}: Widget 'wrong': spec.size: 'big' is not of type 'integer'"
    ]
    assert err[0].startswith(f"gitops: {bad}: ")
    assert message in err[0]
    assert err[1:] == ["1 problem(s)"]


def test_a_bad_file_named_alone_gives_exactly_one_line(
    tmp_path: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "meta.yaml"
    bad.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata: oops\n")
    code, out, err = gitops(["validate", str(bad), "--crds", str(crds)], capsys)
    assert (code, out) == (2, [])
    assert err == [
        f"gitops: {bad}: document 1: Widget: metadata is 'oops'; expected a mapping with name "
        "(and namespace)"
    ]


def _loop(path: Path) -> None:
    os.symlink(path.name, path)


def _broken(path: Path) -> None:
    os.symlink("nowhere.yaml", path)


def _fifo(path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    os.mkfifo(path)


def _huge(path: Path) -> None:
    with path.open("wb") as f:  # sparse: refused by its size before a byte is read
        f.truncate(MAX_YAML_BYTES + 1)


SPECIAL: dict[str, tuple[Callable[[Path], None], str]] = {
    "symlink-loop": (_loop, "is a symbolic link loop"),
    "broken-symlink": (_broken, "is a broken symbolic link (to nowhere.yaml)"),
    "fifo": (_fifo, "is not a regular file"),
    "huge": (_huge, "the limit for a YAML file is 8 MiB"),
}


@pytest.mark.parametrize("case", sorted(SPECIAL))
def test_special_files_in_a_tree(
    case: str, tmp_path: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, message = SPECIAL[case]
    tree = tmp_path / "tree"
    tree.mkdir()
    make(tree / "odd.yaml")
    (tree / "wrong.yaml").write_text(widget("wrong", size="big"))
    started = time.monotonic()
    code, out, err = gitops(["validate", str(tree), "--crds", str(crds)], capsys)
    assert time.monotonic() - started < 10  # never waits on a pipe or reads the huge file
    assert code == 2
    assert len(out) == 1 and "Widget 'wrong'" in out[0]
    assert err[0].startswith(f"gitops: {tree / 'odd.yaml'}: ") and message in err[0]
    assert err[1:] == ["1 problem(s)"]


def test_missing_paths_and_folders_named_like_files(
    tmp_path: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope"
    code, out, err = gitops(["validate", str(missing), "--crds", str(crds)], capsys)
    assert (code, out, err) == (2, [], [f"gitops: {missing}: no such file or folder"])

    # A folder named x.yaml is a folder: walked, its files checked.
    folder = tmp_path / "x.yaml"
    folder.mkdir()
    (folder / "w.yaml").write_text(widget("inner", size="big"))
    code, out, err = gitops(["validate", str(tmp_path / "x.yaml"), "--crds", str(crds)], capsys)
    assert code == 1
    assert out == [
        f"{folder / 'w.yaml'}: Widget 'inner': spec.size: 'big' is not of type 'integer'"
    ]


def test_empty_files_inside_a_folder_pass_but_an_empty_file_named_alone_is_an_error(
    tmp_path: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "gotk-components.yaml").write_text("")  # Flux bootstrap's placeholder
    (tree / "comments.yaml").write_text("# nothing yet\n---\n")
    (tree / "good.yaml").write_text(widget())
    assert gitops(["validate", str(tree), "--crds", str(crds)], capsys)[0] == 0
    empty = tree / "gotk-components.yaml"
    code, _, err = gitops(["validate", str(empty), "--crds", str(crds)], capsys)
    assert (code, err) == (
        2,
        [f"gitops: {empty}: holds no YAML documents; expected Kubernetes objects"],
    )


def test_link_loops_between_folders_are_walked_once(
    tmp_path: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "w.yaml").write_text(widget("once", size="big"))
    os.symlink("..", tree / "a" / "up")
    code, out, _ = gitops(["validate", str(tree), "--crds", str(crds)], capsys)
    assert code == 1 and len(out) == 1


def test_kustomization_files_and_dot_folders(
    tmp_path: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    (tree / ".github" / "workflows").mkdir(parents=True)
    (tree / ".github" / "workflows" / "ci.yaml").write_text("on: push\njobs: {}\n")
    (tree / "kustomization.yaml").write_text("resources: [w.yaml]\n")
    (tree / "w.yaml").write_text(widget())
    assert gitops(["validate", str(tree), "--crds", str(crds)], capsys)[:2] == (
        0,
        [f"{tree}: valid against {crds}"],
    )


# --- --crds --------------------------------------------------------------------------------------


def crd_with(**spec: object) -> dict[str, object]:
    doc = {**WIDGET_CRD, "spec": {**WIDGET_CRD["spec"], **spec}}  # type: ignore[dict-item]
    return {k: v for k, v in doc.items() if v is not None}


def _version(**fields: object) -> dict[str, object]:
    base = WIDGET_CRD["spec"]["versions"][0]  # type: ignore[index]
    return {k: v for k, v in {**base, **fields}.items() if v is not None}


BAD_CRDS: dict[str, tuple[object, str]] = {
    "no-spec": ({**WIDGET_CRD, "spec": None}, "spec is missing; expected a mapping"),
    "spec-scalar": ({**WIDGET_CRD, "spec": "oops"}, "spec is 'oops'; expected a mapping"),
    "no-group": (crd_with(group=None), "spec.group is missing"),
    "names-list": (crd_with(names=["Widget"]), "spec.names.kind is missing"),
    "versions-string": (
        crd_with(versions="v1"),
        "spec.versions is 'v1'; expected a non-empty list",
    ),
    "versions-empty": (crd_with(versions=[]), "spec.versions is a list; expected a non-empty list"),
    "version-scalar": (crd_with(versions=["v1"]), "spec.versions[0] is 'v1'; expected a mapping"),
    "version-no-name": (
        crd_with(versions=[_version(name=None)]),
        "spec.versions[0].name is missing",
    ),
    "served-string": (
        crd_with(versions=[_version(served="yes")]),
        "spec.versions[0].served is 'yes'; expected true or false",
    ),
    "no-schema": (
        crd_with(versions=[_version(schema=None)]),
        "spec.versions[0].schema.openAPIV3Schema is missing",
    ),
    "schema-list": (
        crd_with(versions=[_version(schema={"openAPIV3Schema": [1]})]),
        "openAPIV3Schema is a list",
    ),
    "schema-invalid": (
        crd_with(versions=[_version(schema={"openAPIV3Schema": {"type": 5}})]),
        "spec.versions[0].schema.openAPIV3Schema.type is not a valid schema",
    ),
    "bad-pattern": (
        crd_with(
            versions=[
                _version(
                    schema={
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"a": {"type": "string", "pattern": "("}},
                        }
                    }
                )
            ]
        ),
        "openAPIV3Schema.properties.a.pattern is not a valid schema",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CRDS))
def test_a_bad_crd_is_named_and_the_other_crds_still_serve(
    case: str, tmp_path: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc, message = BAD_CRDS[case]
    bad = crds / "bad.yaml"
    # Second document: the index is named.
    bad.write_text(yaml.safe_dump_all([{"apiVersion": "v1", "kind": "Namespace"}, doc]))
    (tmp_path / "w.yaml").write_text(widget("wrong", size="big"))
    code, out, err = gitops(["validate", str(tmp_path / "w.yaml"), "--crds", str(crds)], capsys)
    assert code == 2
    assert out == [
        f"{tmp_path / 'w.yaml'}: Widget 'wrong': spec.size: 'big' is not of type 'integer'"
    ]
    assert err[0].startswith(f"gitops: {bad}: document 2: CustomResourceDefinition ")
    assert message in err[0]
    assert err[1:] == ["1 problem(s)"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no CustomResourceDefinitions found"),
        ("kind: x\n".encode("utf-16"), "is UTF-16 text"),
        (alias_bomb(), "(an alias bomb?)"),
    ],
)
def test_no_usable_crd_is_an_error_before_any_file_is_read(
    data: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crd = tmp_path / "crd.yaml"
    crd.write_bytes(data)
    (tmp_path / "w.yaml").write_text(widget())
    code, out, err = gitops(["validate", str(tmp_path / "w.yaml"), "--crds", str(crd)], capsys)
    assert (code, out) == (2, [])
    assert message in err[0] and err[-1] == f"gitops: {crd}: no CustomResourceDefinitions found"
    assert all(line.startswith("gitops: ") for line in err)


def test_missing_crd_path_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "w.yaml").write_text(widget())
    missing = tmp_path / "nope"
    code, _, err = gitops(["validate", str(tmp_path), "--crds", str(missing)], capsys)
    assert code == 2
    assert err == [
        f"gitops: {missing}: no such file or folder",
        f"gitops: {missing}: no CustomResourceDefinitions found",
    ]


def test_synth_refuses_bad_crds_before_running_the_program(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    missing = tmp_path / "crds"
    argv = ["--project-dir", str(tmp_path / "no-project"), "synth", "--stack", "staging"]
    code, _, err = gitops([*argv, "--out", str(out_dir), "--crds", str(missing)], capsys)
    assert code == 2
    assert err[-1] == f"gitops: {missing}: no CustomResourceDefinitions found"
    assert not out_dir.exists()


def test_the_library_api_keeps_its_shape(tmp_path: Path, crds: Path) -> None:
    (tmp_path / "w.yaml").write_text(widget("wrong", size="big"))
    (tmp_path / "bad.yaml").write_text("- a\n")
    lines = validate_tree(tmp_path / "w.yaml", crds)
    assert lines == [
        f"{tmp_path / 'w.yaml'}: Widget 'wrong': spec.size: 'big' is not of type 'integer'"
    ]
    report = check_tree([tmp_path], [crds])
    assert report.checked == 1 and len(report.problems) == 1
    assert report.errors == [
        f"{tmp_path / 'bad.yaml'}: document 1: is a list; expected a Kubernetes object (a mapping "
        "with apiVersion, kind)"
    ]
    (crds / "bad.yaml").write_text("kind: CustomResourceDefinition\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: document 1: CRD: spec is missing"):
        load_crd_schemas([crds])
    with pytest.raises(ConfigError, match=r"no CustomResourceDefinitions found"):
        validate_tree(tmp_path, crds / "bad.yaml")


@needs_crds
def test_the_real_flux_crds_all_load_and_check() -> None:
    schemas = load_crd_schemas([CRD_DIR])
    assert ("source.toolkit.fluxcd.io/v1", "GitRepository") in schemas


# --- the careful YAML reader ---------------------------------------------------------------------


def test_reader_keeps_what_real_manifests_use(tmp_path: Path) -> None:
    file = tmp_path / "a.yaml"
    # A BOM, CRLF, merge keys, a few aliases and a plain `=` (prometheus-operator has one).
    file.write_bytes(
        b"\xef\xbb\xbfbase: &b {x: 1}\r\nmerged: {<<: *b, y: 2}\r\nops: [=, '!=']\r\n---\r\n"
    )
    assert load_documents(file) == [
        {"base": {"x": 1}, "merged": {"x": 1, "y": 2}, "ops": ["=", "!="]},
        None,  # the empty document after the last `---`
    ]
    # Aliases that expand a document moderately are fine; only a blow-up is refused.
    refs = ", ".join(["*b"] * 500)
    assert (
        len(parse_documents(f"b: &b [1, 2, 3, 4, 5, 6, 7, 8]\nc: [{refs}]\n", "x")[0]["c"]) == 500
    )


def test_reader_errors_are_one_line(tmp_path: Path) -> None:
    for name, (data, message) in BAD_FILES.items():
        if "document" in message or name.startswith(("metadata", "no-", "kind")):
            continue  # those are about Kubernetes objects, not YAML
        file = tmp_path / f"{name}.yaml"
        file.write_bytes(data)
        with pytest.raises(ConfigError) as err:
            load_documents(file)
        assert "\n" not in str(err.value) and str(err.value).startswith(f"{file}: "), name
        assert message in str(err.value), name


def test_a_long_line_is_read_in_linear_time() -> None:
    started = time.monotonic()
    assert parse_line(0, "a" + " " * 2_000_000 + "b") is not None
    assert parse_line(0, "key" + " " * 2_000_000 + ": v") is not None
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("go", "python", "matches", "misses"),
    [
        # prometheus-operator's PrometheusRule CRD: a flag group after `^`.
        ("^(?i)(abort|warn)?$", "^(?i:(abort|warn)?$)", ["WARN", "abort", ""], ["other"]),
        # ... and inside a group of alternatives: the flag covers each alternative after it.
        ("^((?i)sun|mon)day$", "^((?i:sun)|(?i:mon))day$", ["SUNday", "MONday"], ["SUNDAY"]),
        ("(a(?i)b|c)", "(a(?i:b)|(?i:c))", ["aB", "C"], ["AB"]),
        ("(?i)abc", "(?i)abc", ["ABC"], []),  # at the start Python takes it as it is
        ("[(?i)]x", "[(?i)]x", ["(x"], ["X"]),  # in a class it is four characters
        (r"a\(?i\)", r"a\(?i\)", ["a(i)"], ["A(I)"]),  # escaped: literal parentheses
        ("[]a]b(?i)c", "[]a]b(?i:c)", ["]bC"], ["]BC"]),
    ],
)
def test_go_patterns_are_read_as_go_reads_them(
    go: str, python: str, matches: list[str], misses: list[str]
) -> None:
    assert python_pattern(go) == python
    compiled = re.compile(python)
    assert [s for s in matches if not compiled.fullmatch(s)] == []
    assert [s for s in misses if compiled.fullmatch(s)] == []


def test_a_crd_with_a_go_only_pattern_validates(
    tmp_path: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crd: Any = copy.deepcopy(WIDGET_CRD)
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["mode"] = {"type": "string", "pattern": "^(?i)(abort|warn)?$"}
    (crds / "widgets.yaml").write_text(yaml.safe_dump(crd))
    (tmp_path / "ok.yaml").write_text(widget("ok").replace("size: 1", "size: 1\n  mode: WARN"))
    (tmp_path / "no.yaml").write_text(widget("no").replace("size: 1", "size: 1\n  mode: stop"))
    code, out, _ = gitops(["validate", str(tmp_path), "--crds", str(crds)], capsys)
    assert code == 1
    assert out == [
        f"{tmp_path / 'no.yaml'}: Widget 'no': spec.mode: 'stop' does not match "
        "'^(?i:(abort|warn)?$)'"
    ]
