"""The `gitops` command: synth, graph and validate a stack offline."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import pulumi

from gitops_sdk.api.kinds import flux_kinds, from_manifest
from gitops_sdk.cli import day2 as day2_cli
from gitops_sdk.cli import github as github_cli
from gitops_sdk.cli import images as automation_cli
from gitops_sdk.cli import importer as importer_cli
from gitops_sdk.cli import secrets as secrets_cli
from gitops_sdk.core.errors import ConfigError, GitopsError
from gitops_sdk.services.crds import CrdSet, TreeReport, check_tree, load_crds
from gitops_sdk.stack import synth
from gitops_sdk.stack.graph import FluxGraph

__all__ = ["cmd_graph", "cmd_synth", "cmd_validate", "main", "parser", "run"]


def _objects(project: Path, stack: str) -> list[dict[str, object]]:
    return synth.run_stack_program(project, stack).kubernetes_objects()


def _report(report: TreeReport, problems_to: TextIO) -> int:
    """Print what `check_tree` found; exit 2 when something could not be checked, else 1 when
    a document breaks its schema."""
    for line in report.errors:
        print(f"gitops: {line}", file=sys.stderr)
    for line in report.problems:
        print(line, file=problems_to)
    if report.problems:
        print(f"{len(report.problems)} problem(s)", file=sys.stderr)
    return 2 if report.errors else 1 if report.problems else 0


def _crds(paths: list[Path]) -> CrdSet:
    """The CRDs, read before anything else runs; none at all is a ConfigError."""
    crds = load_crds(paths)
    if not crds.schemas:
        for line in crds.errors:
            print(f"gitops: {line}", file=sys.stderr)
        raise ConfigError(f"{_shown(paths)}: no CustomResourceDefinitions found")
    return crds


def cmd_synth(args: argparse.Namespace) -> int:
    synth.previous_output(args.out)  # refuse a bad --out before running the program
    crds = _crds(args.crds) if args.crds else None
    objects = _objects(args.project_dir, args.stack)
    paths = synth.write(objects, args.out)
    print(f"{args.stack}: wrote {len(paths)} objects to {args.out}")
    print(synth.summary(objects))
    for line in synth.NOTES:
        print(f"note: {line}", file=sys.stderr)
    if crds is None:
        return 0
    code = _report(check_tree(args.out, crds), sys.stderr)
    if code == 0:
        print(f"all objects valid against the CRDs in {_shown(args.crds)}")
    return code


def cmd_graph(args: argparse.Namespace) -> int:
    groups = {group for group, _ in flux_kinds()}
    flux = [
        # canonical: the mock runtime hands numbers back as floats (`retries: 3.0`).
        from_manifest(synth.canonical(doc))
        for doc in _objects(args.project_dir, args.stack)
        if str(doc.get("apiVersion", "")).rpartition("/")[0] in groups
    ]
    print(FluxGraph(flux).mermaid(), end="")
    return 0


def _shown(paths: list[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def cmd_validate(args: argparse.Namespace) -> int:
    code = _report(check_tree(args.path, _crds(args.crds)), sys.stdout)
    if code == 0:
        print(f"{args.path}: valid against {_shown(args.crds)}")
    return code


def parser() -> argparse.ArgumentParser:
    """The argument parser of `gitops`."""
    p = argparse.ArgumentParser(prog="gitops", description=__doc__)
    p.add_argument(
        "--project-dir", type=Path, default=Path.cwd(), help="folder with Pulumi.yaml (default: .)"
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="render every object a stack would deploy, as YAML")
    s.add_argument("--stack", required=True, help="stack name, e.g. staging")
    s.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder: new, empty or synth's own (only files synth wrote are replaced)",
    )
    s.add_argument(
        "--crds",
        type=Path,
        action="append",
        help="also validate the output against the CRDs in this folder or file (repeatable)",
    )
    s.set_defaults(func=cmd_synth)

    g = sub.add_parser("graph", help="print the stack's source/layer graph as Mermaid")
    g.add_argument("--stack", required=True)
    g.set_defaults(func=cmd_graph)

    v = sub.add_parser("validate", help="validate a YAML tree against CRD schemas")
    v.add_argument("path", type=Path)
    v.add_argument(
        "--crds",
        type=Path,
        action="append",
        required=True,
        help="folder or file of CRD YAML (repeatable: Flux's, Flagger's, ...)",
    )
    v.set_defaults(func=cmd_validate)

    secrets_cli.add_commands(sub)
    github_cli.add_commands(sub)
    automation_cli.add_commands(sub)
    importer_cli.add_commands(sub)
    day2_cli.add_commands(sub)
    return p


def run() -> None:
    """Console entry: exit without interpreter teardown, where event loops that Pulumi's mock
    runtime left on worker threads would print noise while being garbage collected."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gitops` console script."""
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (GitopsError, pulumi.RunError) as err:
        print(f"gitops: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file the command writes or reads outside the checks above
        where = f"{err.filename}: " if err.filename else ""
        print(f"gitops: {where}{err.strerror or err}", file=sys.stderr)
        return 2
