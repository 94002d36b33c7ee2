"""`gitops images mark|check` and `gitops renovate`: setter markers, renovate.json and the
`# renovate:` markers on what the stack files pin.

`add_commands(subparsers)` adds the commands to the `gitops` parser; each handler returns the
exit code: 0 done or clean, 1 problems found (or `--check` would change something), 2 error.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

from gitops_sdk.api.image_automation import PolicyKey, SetterMarkerError
from gitops_sdk.core.errors import GitopsError
from gitops_sdk.services import renovate
from gitops_sdk.services.atomic import write_atomic
from gitops_sdk.services.marker_check import check_tree, policies_from_config
from gitops_sdk.services.renovate_markers import mark_stack_file
from gitops_sdk.services.setter_markers import MARKER_FIELDS, mark_file
from gitops_sdk.stack.config import load_stack_file, stack_file

__all__ = ["add_commands", "cmd_images_check", "cmd_images_mark", "cmd_renovate"]


def _fail(err: GitopsError) -> int:
    print(f"gitops: {err}", file=sys.stderr)
    return 2


def _project_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "project_dir", None) or Path.cwd())


def _stack_values(project: Path, stacks: list[str] | None) -> dict[str, dict[str, Any]]:
    if stacks:
        return {s: load_stack_file(stack_file(project, s)) for s in stacks}
    found = sorted(project.glob("Pulumi.*.yaml"))
    return {p.name[len("Pulumi.") : -len(".yaml")]: load_stack_file(p) for p in found}


def cmd_images_mark(args: argparse.Namespace) -> int:
    """Insert (or with --check, verify) setter markers in each FILE. A file that cannot be
    marked is reported and the others are still marked; then the exit code is 2."""
    try:
        key = PolicyKey.parse(args.policy)
    except GitopsError as err:
        return _fail(err)
    pending = 0
    failed = 0
    for file in args.files:
        try:
            result = mark_file(
                file,
                key,
                image=args.image,
                field=args.field,
                replace=args.replace,
                write=not args.check,
            )
        except GitopsError as err:
            _fail(err)
            failed += 1
            continue
        for line in result.marked:
            verb = "needs a setter marker for" if args.check else "marked for"
            print(f"{file}:{line}: {verb} {key}")
        if not result.marked:
            print(f"{file}: markers for {key} already in place")
        pending += len(result.marked)
    if failed:
        return 2
    return 1 if args.check and pending else 0


def _parse_policy_image(text: str) -> tuple[PolicyKey, str]:
    key, sep, image = text.partition("=")
    if not sep or not image:
        raise SetterMarkerError(
            f"--policy {text!r}: expected 'namespace:name=image', e.g. 'flux-system:nginx=nginx'"
        )
    return PolicyKey.parse(key), image


def cmd_images_check(args: argparse.Namespace) -> int:
    """Check every policy's marker is on each line that uses its image. A file that cannot be
    read is reported and the others are still checked; then the exit code is 2."""
    try:
        policies: dict[PolicyKey, str] = {}
        for name, values in _stack_values(_project_dir(args), args.stack or []).items():
            try:
                policies.update(policies_from_config(values))
            except GitopsError as err:
                raise GitopsError(f"Pulumi.{name}.yaml: {err}") from None
        for text in args.policy or []:
            key, image = _parse_policy_image(text)
            policies[key] = image
        report = check_tree(args.paths, policies)
    except GitopsError as err:
        return _fail(err)
    for error in report.errors:
        print(f"gitops: {error}", file=sys.stderr)
    for problem in report.problems:
        print(problem)
    if report.problems:
        print(f"{len(report.problems)} setter marker problem(s)", file=sys.stderr)
    if report.errors:
        return 2
    if report.problems:
        return 1
    print(f"{', '.join(str(p) for p in args.paths)}: setter markers in place")
    return 0


def _mark_stacks(project: Path, files: list[str], write: bool) -> tuple[list[str], list[str], int]:
    """(problems, errors, files changed) of the `# renovate:` markers in the stack files."""
    problems: list[str] = []
    errors: list[str] = []
    changed = 0
    for name in files:
        try:
            report = mark_stack_file(project / name, write=write)
        except GitopsError as err:
            errors.append(str(err))
            continue
        problems += report.problems
        errors += report.errors
        changed += report.changed
    return problems, errors, changed


def _json_current(out: Path, text: str) -> bool:
    """Whether renovate.json at `out` says what `text` says; the difference printed if not."""
    if not out.is_file():
        print(f"{out}: missing; run `gitops renovate` to write it", file=sys.stderr)
        return False
    current = out.read_text(encoding="utf-8")
    try:
        same = json.loads(current) == json.loads(text)
    except json.JSONDecodeError:
        same = False
    if same:
        print(f"{out}: up to date")
        return True
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        text.splitlines(keepends=True),
        f"{out} (committed)",
        f"{out} (generated)",
    )
    sys.stdout.writelines(diff)
    print(f"{out}: differs from the stack settings; run `gitops renovate`", file=sys.stderr)
    return False


def cmd_renovate(args: argparse.Namespace) -> int:
    """Write renovate.json from the stacks' gitops:renovate keys and put a `# renovate:` marker
    above each version the contributing stack files pin (with --check: change nothing, report
    what is out of date). Pins that cannot carry a marker (flow style, unknown chart) are
    reported and the others still marked; then the exit code is 2."""
    project = _project_dir(args)
    out: Path = args.output or project / "renovate.json"
    try:
        settings = renovate.settings_from_stacks(_stack_values(project, args.stack))
        text = settings.to_json()
    except GitopsError as err:
        return _fail(err)
    problems, errors, changed = _mark_stacks(project, settings.stack_files, not args.check)
    for line in problems:
        print(line)
    for error in errors:
        print(f"gitops: {error}", file=sys.stderr)
    if not args.check:
        write_atomic(out, text)
        print(f"wrote {out} ({len(settings.environments)} environment(s))")
        if changed:
            print(f"updated renovate markers in {changed} stack file(s)")
        return 2 if errors else 0
    current = _json_current(out, text)
    if problems:
        print(
            f"{len(problems)} renovate marker problem(s) in the stack files; run `gitops renovate`",
            file=sys.stderr,
        )
    if errors:
        return 2
    return 0 if current and not problems else 1


def add_commands(subparsers: Any) -> None:
    """Add `images mark`, `images check` and `renovate` to the `gitops` subcommands."""
    images = subparsers.add_parser("images", help="Flux image automation setter markers")
    sub = images.add_subparsers(dest="images_command", required=True)

    m = sub.add_parser(
        "mark", help="add '# {\"$imagepolicy\": ...}' markers where an image is used"
    )
    m.add_argument("files", nargs="+", type=Path, metavar="FILE")
    m.add_argument("--policy", required=True, help="ImagePolicy as namespace:name")
    m.add_argument(
        "--field",
        choices=MARKER_FIELDS,
        help="only mark lines holding this part (default: each line the part it holds)",
    )
    m.add_argument("--image", help="image repository to mark (default: the one the file uses)")
    m.add_argument("--replace", action="store_true", help="replace other policies' markers")
    m.add_argument("--check", action="store_true", help="change nothing; exit 1 if marks missing")
    m.set_defaults(func=cmd_images_mark)

    c = sub.add_parser("check", help="verify each policy's image carries its marker everywhere")
    c.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    c.add_argument(
        "--policy",
        action="append",
        metavar="NS:NAME=IMAGE",
        help="a policy and its image (repeatable); ImagePolicy YAML under PATH is also read",
    )
    c.add_argument(
        "--stack", action="append", help="read policies from the stack's gitops:automation"
    )
    c.set_defaults(func=cmd_images_check)

    r = subparsers.add_parser(
        "renovate",
        help="write renovate.json from the stacks' gitops:renovate settings and mark the "
        "versions the stack files pin with '# renovate:' comments",
    )
    r.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if renovate.json or a stack file's markers are out of date",
    )
    r.add_argument("--output", type=Path, help="file to write (default: <project>/renovate.json)")
    r.add_argument("--stack", action="append", help="stacks to read (default: every stack)")
    r.set_defaults(func=cmd_renovate)
