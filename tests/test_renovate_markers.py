"""`# renovate:` markers on the pins of stack files: which marker, where, refusals, and that
renovate.json's regex reads what `gitops renovate` writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import run_automation_cli

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.renovate_markers import (
    Marker,
    comment_regex,
    is_exact_version,
    mark_stack_file,
    stack_pins,
)

JETSTACK = "# renovate: datasource=helm depName=cert-manager registryUrl=https://charts.jetstack.io"
FLUX = (
    "# renovate: datasource=github-releases depName=fluxcd/flux2 extractVersion=^v(?<version>.*)$"
)

STACK = """\
# Production: pinned.
config:
  gitops:cluster: {name: kubeproduction, environment: production}
  gitops:flux:
    namespace: flux-system
    version: 2.9.4   # the release we run
  gitops:sources:
    jetstack: {type: helm, url: https://charts.jetstack.io}
    bitnami: {type: helm, url: oci://registry-1.docker.io/bitnamicharts}
    podinfo:
      type: oci
      url: oci://ghcr.io/stefanprodan/manifests/podinfo
      ref:
        tag: 6.7.0
    other:
      type: git
      url: https://github.com/org/repo.git
      ref:
        tag: v1.2.3

  gitops:layers:
    infrastructure:
      units:
        cert-manager:
          chart: cert-manager
          source: jetstack
          version: v1.21.1
        redis:
          version: "20.1.0"
          chart: redis
          source: bitnami
        loose:
          chart: redis
          source: bitnami
          version: ^20.1
    apps:
      units:
        demo:
          path: ./apps/demo
          images:
            - name: nginx
              newTag: 1.21.6-alpine
            - newTag: "2.0.1"
              name: web
              newName: ghcr.io/org/web
"""

EXPECTED = {
    "gitops:flux.version": (FLUX, "2.9.4"),
    "gitops:sources.podinfo.ref.tag": (
        "# renovate: datasource=docker depName=ghcr.io/stefanprodan/manifests/podinfo "
        "versioning=docker",
        "6.7.0",
    ),
    "gitops:sources.other.ref.tag": (
        "# renovate: datasource=github-tags depName=org/repo",
        "v1.2.3",
    ),
    "gitops:layers.infrastructure.units.cert-manager.version": (
        f"{JETSTACK} versioning=helm",
        "v1.21.1",
    ),
    "gitops:layers.infrastructure.units.redis.version": (
        "# renovate: datasource=docker depName=registry-1.docker.io/bitnamicharts/redis "
        "versioning=helm",
        "20.1.0",
    ),
    "gitops:layers.apps.units.demo.images[0].newTag": (
        "# renovate: datasource=docker depName=nginx versioning=docker",
        "1.21.6-alpine",
    ),
    "gitops:layers.apps.units.demo.images[1].newTag": (
        "# renovate: datasource=docker depName=ghcr.io/org/web versioning=docker",
        "2.0.1",
    ),
}


def stack(tmp_path: Path, text: str = STACK, name: str = "Pulumi.production.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def renovate_reads(text: str, pattern: re.Pattern[str] | None = None) -> dict[str, tuple[str, ...]]:
    """What renovate.json's regex extracts from `text`: depName -> the other groups."""
    found = {}
    for m in (pattern or comment_regex()).finditer(text):
        found[m["depName"]] = (
            m["datasource"],
            m["registryUrl"] or "",
            m["versioning"] or "",
            m["extractVersion"] or "",
            m["currentValue"],
        )
    return found


def test_pins_and_their_markers(tmp_path: Path) -> None:
    pins, errors = stack_pins(stack(tmp_path))
    assert errors == []
    assert {p.key_path: (p.marker.text(), p.value) for p in pins} == EXPECTED
    # `^20.1` is a range Flux resolves: no pin.
    assert all("loose" not in p.key_path for p in pins)


def test_marking_inserts_only_marker_lines(tmp_path: Path) -> None:
    path = stack(tmp_path)
    report = mark_stack_file(path)
    assert report.errors == [] and report.changed
    assert len(report.problems) == len(EXPECTED)
    after = path.read_text().splitlines()
    # Every original line is still there, in order; each added line is a marker right above
    # its value, indented like it.
    inserted = [line for line in after if line.strip().startswith("# renovate:")]
    assert [line for line in after if line not in inserted] == STACK.splitlines()
    assert len(inserted) == len(EXPECTED)
    for key_path, (marker, value) in EXPECTED.items():
        line = after.index(next(a for a in after if a.strip() == marker))
        below = after[line + 1]
        assert value in below and below.lstrip().lstrip("- ").startswith(key_path.split(".")[-1])
        assert after[line].startswith(" " * (len(below) - len(below.lstrip())) + "#")
    assert "    " + FLUX in after
    assert "    version: 2.9.4   # the release we run" in after


def test_the_renovate_regex_reads_every_marker_written(tmp_path: Path) -> None:
    path = stack(tmp_path)
    mark_stack_file(path)
    found = renovate_reads(path.read_text())
    assert found == {
        "fluxcd/flux2": ("github-releases", "", "", "^v(?<version>.*)$", "2.9.4"),
        "ghcr.io/stefanprodan/manifests/podinfo": ("docker", "", "docker", "", "6.7.0"),
        "org/repo": ("github-tags", "", "", "", "v1.2.3"),
        "cert-manager": ("helm", "https://charts.jetstack.io", "helm", "", "v1.21.1"),
        "registry-1.docker.io/bitnamicharts/redis": ("docker", "", "helm", "", "20.1.0"),
        "nginx": ("docker", "", "docker", "", "1.21.6-alpine"),
        "ghcr.io/org/web": ("docker", "", "docker", "", "2.0.1"),
    }
    # Renovate applies extractVersion to the release tag: `v2.9.5` -> `2.9.5`.
    extract = re.compile(found["fluxcd/flux2"][3].replace("(?<", "(?P<"))
    m = extract.match("v2.9.5")
    assert m is not None and m["version"] == "2.9.5"


def test_marking_twice_changes_nothing(tmp_path: Path) -> None:
    path = stack(tmp_path)
    mark_stack_file(path)
    once = path.read_bytes()
    report = mark_stack_file(path)
    assert (report.problems, report.errors, report.changed) == ([], [], False)
    assert path.read_bytes() == once
    assert mark_stack_file(path, write=False).problems == []


def test_check_mode_names_missing_markers_and_writes_nothing(tmp_path: Path) -> None:
    path = stack(tmp_path)
    report = mark_stack_file(path, write=False)
    assert path.read_text() == STACK
    assert report.changed
    assert (
        "Pulumi.production.yaml:27: gitops:layers.infrastructure.units.cert-manager.version "
        f"'v1.21.1': has no renovate marker; expected '{JETSTACK} versioning=helm' on the line "
        "above"
    ) in report.problems


def test_stale_markers_are_reported_then_refreshed(tmp_path: Path) -> None:
    path = stack(tmp_path)
    mark_stack_file(path)
    marked = path.read_text()
    stale = marked.replace("depName=nginx ", "depName=nginz ").replace(
        "registryUrl=https://charts.jetstack.io", "registryUrl=https://old.example"
    )
    path.write_text(stale)
    report = mark_stack_file(path, write=False)
    assert len(report.problems) == 2
    nginx = next(p for p in report.problems if "newTag" in p)
    assert re.fullmatch(
        r"Pulumi.production.yaml:\d+: gitops:layers.apps.units.demo.images\[0\].newTag "
        r"'1.21.6-alpine': has a stale renovate marker '# renovate: datasource=docker "
        r"depName=nginz versioning=docker' \(line \d+\); expected '# renovate: "
        r"datasource=docker depName=nginx versioning=docker'",
        nginx,
    )
    assert path.read_text() == stale
    mark_stack_file(path)
    assert path.read_text() == marked


def test_a_written_versioning_is_kept_and_a_missing_one_filled_in(tmp_path: Path) -> None:
    text = STACK.replace(
        "            - name: nginx\n",
        "            - name: nginx\n"
        "              # renovate: datasource=docker depName=nginx versioning=loose\n",
    ).replace(
        "          chart: cert-manager\n          source: jetstack\n",
        f"          chart: cert-manager\n          source: jetstack\n          {JETSTACK}\n",
    )
    path = stack(tmp_path, text)
    report = mark_stack_file(path)
    assert all("images[0]" not in p for p in report.problems)
    refreshed = [p for p in report.problems if "cert-manager" in p]
    assert len(refreshed) == 1 and "refreshed" in refreshed[0]
    after = path.read_text()
    assert "depName=nginx versioning=loose\n" in after
    assert f"{JETSTACK} versioning=helm\n          version: v1.21.1" in after
    assert after.count("# renovate:") == len(EXPECTED)


def test_flow_style_pins_are_refused_and_the_rest_marked(tmp_path: Path) -> None:
    text = STACK.replace(
        "            - name: nginx\n              newTag: 1.21.6-alpine\n",
        "            - {name: nginx, newTag: 1.21.6-alpine}\n",
    ).replace("    namespace: flux-system\n    version: 2.9.4   # the release we run\n", "")
    text = text.replace("  gitops:flux:\n", "  gitops:flux: {version: 2.9.4}\n")
    path = stack(tmp_path, text)
    report = mark_stack_file(path)
    assert report.errors == [
        "Pulumi.production.yaml:4: gitops:flux.version '2.9.4': sits in a flow mapping ({...}), "
        "where no line comment can go; write the entry in block style (one key per line, "
        "'version: 2.9.4' on its own line) so a '# renovate:' marker can go above it",
        "Pulumi.production.yaml:39: gitops:layers.apps.units.demo.images[0].newTag "
        "'1.21.6-alpine': sits in a flow mapping ({...}), where no line comment can go; write "
        "the entry in block style (one key per line, 'newTag: 1.21.6-alpine' on its own line) "
        "so a '# renovate:' marker can go above it",
    ]
    after = path.read_text()
    assert "{name: nginx, newTag: 1.21.6-alpine}" in after
    assert after.count("# renovate:") == len(EXPECTED) - 2


def test_values_the_regex_cannot_reach_are_refused(tmp_path: Path) -> None:
    text = STACK.replace("version: v1.21.1", "version:\n            v1.21.1").replace(
        'version: "20.1.0"', "version: &redis 20.1.0"
    )
    report = mark_stack_file(stack(tmp_path, text), write=False)
    assert len(report.errors) == 2
    assert all("is not written as 'version: " in e for e in report.errors)
    assert "cert-manager.version 'v1.21.1'" in report.errors[0]


def test_ranges_get_no_marker_and_keep_theirs() -> None:
    for value in ("^1.2", ">=1 <2", "1.x", "1.2", "~1.2.3", "*", "latest", "1.2.3 - 1.4"):
        assert not is_exact_version(value), value
    for value in ("1.2.3", "v1.21.1", "2.0.0-rc.1", "1.2.3+build.5"):
        assert is_exact_version(value), value


def test_a_marker_above_a_range_is_left_alone(tmp_path: Path) -> None:
    text = STACK.replace(
        "          version: ^20.1\n",
        "          # renovate: datasource=docker depName=old\n          version: ^20.1\n",
    )
    path = stack(tmp_path, text)
    mark_stack_file(path)
    assert "# renovate: datasource=docker depName=old\n          version: ^20.1\n" in (
        path.read_text()
    )


def write_preset(folder: Path) -> Path:
    folder.mkdir()
    (folder / "cert-manager.yaml").write_text(
        "chart: cert-manager\nversion: v1.20.0\n"
        "source: {name: jetstack, type: helm, url: https://charts.jetstack.io}\n"
    )
    return folder


def test_a_preset_gives_chart_and_source(tmp_path: Path) -> None:
    presets = write_preset(tmp_path / "presets")
    text = (
        "config:\n  gitops:layers:\n    infrastructure:\n      units:\n"
        "        cert-manager:\n          preset: cert-manager\n          version: v1.21.1\n"
        "        kept:\n          preset: cert-manager\n"  # the preset's own version: no pin
    )
    path = stack(tmp_path, text)
    pins, errors = stack_pins(path, presets_dir=presets)
    assert errors == []
    assert [(p.key_path, p.marker.text()) for p in pins] == [
        (
            "gitops:layers.infrastructure.units.cert-manager.version",
            f"{JETSTACK} versioning=helm",
        )
    ]
    # A source of the preset's name in gitops:sources wins (a mirror, say).
    mirrored = text.replace(
        "config:\n",
        "config:\n  gitops:sources:\n    jetstack: {type: helm, url: https://m.example}\n",
    )
    pins, _ = stack_pins(stack(tmp_path, mirrored), presets_dir=presets)
    assert pins[0].marker == Marker(
        "helm", "cert-manager", registry_url="https://m.example", versioning="helm"
    )


def test_unknown_preset_source_and_chart_are_reported(tmp_path: Path) -> None:
    presets = write_preset(tmp_path / "presets")
    text = (
        "config:\n  gitops:layers:\n    infrastructure:\n      units:\n"
        "        a:\n          preset: nope\n          version: 1.0.0\n"
        "        b:\n          chart: x\n          source: missing\n          version: 1.0.0\n"
        "        c:\n          source: {type: helm, url: https://x.example}\n"
        "          version: 1.0.0\n"
    )
    pins, errors = stack_pins(stack(tmp_path, text), presets_dir=presets)
    assert pins == []
    assert errors == [
        "Pulumi.production.yaml:6: gitops:layers.infrastructure.units.a.preset 'nope': no such "
        f"preset in {presets} (expected one of: cert-manager)",
        "Pulumi.production.yaml:11: gitops:layers.infrastructure.units.b.version '1.0.0': cannot "
        "tell which chart it pins: source 'missing' is not in gitops:sources; expected source "
        "or preset",
        "Pulumi.production.yaml:14: gitops:layers.infrastructure.units.c.version '1.0.0': cannot "
        "tell which chart it pins: no chart; expected chart or preset",
    ]


def test_flux_pinned_with_a_v_needs_no_extract_version(tmp_path: Path) -> None:
    path = stack(tmp_path, "config:\n  gitops:flux:\n    version: v2.9.4\n")
    pins, _ = stack_pins(path)
    assert pins[0].marker == Marker("github-releases", "fluxcd/flux2")


def test_line_ends_and_byte_order_mark_are_kept(tmp_path: Path) -> None:
    text = "\ufeff" + STACK.replace("\n", "\r\n")
    path = stack(tmp_path, text)
    mark_stack_file(path)
    after = path.read_bytes().decode()
    assert after.startswith("\ufeff# Production")
    assert "\n" not in after.replace("\r\n", "")
    assert after.replace("\r\n", "\n").removeprefix("\ufeff").count("# renovate:") == len(EXPECTED)
    assert mark_stack_file(path).changed is False


def test_hostile_stack_files_are_refused(tmp_path: Path) -> None:
    path = stack(tmp_path, "config:\n  gitops:flux:\n    version: [unclosed\n")
    with pytest.raises(ConfigError, match=r"Pulumi.production.yaml: not valid YAML"):
        mark_stack_file(path)


# --- the CLI and renovate.json together ---------------------------------------------------------


def write_project(project: Path) -> None:
    renovate = "  gitops:renovate: {schedule: ['* 22-23 * * 0']}\n"
    stack(project, STACK + renovate)
    stack(
        project,
        "config:\n  gitops:cluster: {environment: staging}\n"
        "  gitops:flux:\n    version: 2.9.4\n"
        "  gitops:renovate: {automerge: true}\n",
        "Pulumi.staging.yaml",
    )
    # No gitops:renovate: not in renovate.json, so not marked either.
    stack(project, "config:\n  gitops:flux:\n    version: 2.9.4\n", "Pulumi.dev.yaml")


def test_cli_marks_the_stacks_and_its_regex_reads_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path)
    assert run_automation_cli(["renovate", "--check"], tmp_path) == 1
    captured = capsys.readouterr()
    assert "Pulumi.staging.yaml:4: gitops:flux.version '2.9.4': has no renovate marker" in (
        captured.out
    )
    assert "8 renovate marker problem(s) in the stack files; run `gitops renovate`" in (
        captured.err
    )
    assert run_automation_cli(["renovate"], tmp_path) == 0
    assert "updated renovate markers in 2 stack file(s)" in capsys.readouterr().out
    assert (tmp_path / "Pulumi.dev.yaml").read_text().count("# renovate:") == 0
    assert run_automation_cli(["renovate", "--check"], tmp_path) == 0
    config = json.loads((tmp_path / "renovate.json").read_text())
    manager = config["customManagers"][0]
    assert "Pulumi.production.yaml" in manager["managerFilePatterns"]
    pattern = re.compile(manager["matchStrings"][0].replace("(?<", "(?P<"))
    production = renovate_reads((tmp_path / "Pulumi.production.yaml").read_text(), pattern)
    assert {dep: v[-1] for dep, v in production.items()} == {
        "fluxcd/flux2": "2.9.4",
        "ghcr.io/stefanprodan/manifests/podinfo": "6.7.0",
        "org/repo": "v1.2.3",
        "cert-manager": "v1.21.1",
        "registry-1.docker.io/bitnamicharts/redis": "20.1.0",
        "nginx": "1.21.6-alpine",
        "ghcr.io/org/web": "2.0.1",
    }
    staging = renovate_reads((tmp_path / "Pulumi.staging.yaml").read_text(), pattern)
    assert staging == {"fluxcd/flux2": ("github-releases", "", "", "^v(?<version>.*)$", "2.9.4")}


def test_cli_check_fails_on_a_stale_marker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path)
    assert run_automation_cli(["renovate"], tmp_path) == 0
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(path.read_text().replace("fluxcd/flux2", "fluxcd/flux"))
    capsys.readouterr()
    assert run_automation_cli(["renovate", "--check"], tmp_path) == 1
    out = capsys.readouterr().out
    assert (
        "Pulumi.staging.yaml:5: gitops:flux.version '2.9.4': has a stale renovate marker "
        "'# renovate: datasource=github-releases depName=fluxcd/flux extractVersion="
    ) in out
    assert "renovate.json: up to date" in out


def test_cli_reports_flow_style_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path)
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(path.read_text().replace("  gitops:flux:\n    version: 2.9.4\n", ""))
    path.write_text(path.read_text() + "  gitops:flux: {version: 2.9.4}\n")
    assert run_automation_cli(["renovate"], tmp_path) == 2
    err = capsys.readouterr().err
    assert "gitops: Pulumi.staging.yaml:4: gitops:flux.version '2.9.4': sits in a flow mapping" in (
        err
    )
    # The other stack was still marked and renovate.json written.
    assert (tmp_path / "renovate.json").is_file()
    assert "# renovate:" in (tmp_path / "Pulumi.production.yaml").read_text()
    assert run_automation_cli(["renovate", "--check"], tmp_path) == 2
