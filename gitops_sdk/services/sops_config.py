"""`.sops.yaml`: the creation rules of a stack, finding and reading the file, and updating it
in place while keeping its comments, quoting and layout."""

from __future__ import annotations

import io
import itertools
import os
import re
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.atomic import write_atomic
from gitops_sdk.services.sops_files import ParseError, load_yaml, read_regular, show_path

__all__ = [
    "SECRET_MANIFEST_REGEX",
    "SOPS_CONFIG",
    "find_sops_config",
    "load_sops_config",
    "stack_rules",
    "update_sops_config",
]

SOPS_CONFIG = ".sops.yaml"
"""The file sops reads its creation rules from."""

SECRET_MANIFEST_REGEX = r"^(data|stringData)$"
"""`encrypted_regex` for Kubernetes Secret manifests: only the values are encrypted, so names,
namespaces and key names stay readable in Git and in diffs."""


def find_sops_config(start: Path) -> Path | None:
    """The nearest `.sops.yaml` in `start` (a file's folder, or a folder) or above it."""
    here = Path(os.path.realpath(start))  # never raises, not even on a symlink loop
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / SOPS_CONFIG
        if candidate.is_file():
            return candidate
    return None


def stack_rules(environment: str, recipient: str) -> list[dict[str, str]]:
    """The creation rules of one environment, for its stack's age recipient.

    Secret files live under a folder named after the environment, at any depth
    (`clusters/staging/`, `infrastructure/traefik/staging/`), and are named `*.sops.yaml` for
    Secret manifests (only data/stringData encrypted) or `*.sops.json` / `*.sops.env` for
    plain key/value files (every value encrypted). Plain manifests beside them are not matched,
    so `check` never asks to encrypt a Kustomization.
    """
    env = re.escape(environment)
    return [
        {
            "path_regex": rf"(^|/){env}/(.*/)?[^/]+\.sops\.ya?ml$",
            "encrypted_regex": SECRET_MANIFEST_REGEX,
            "age": recipient,
        },
        {"path_regex": rf"(^|/){env}/(.*/)?[^/]+\.sops\.(json|env)$", "age": recipient},
    ]


def _read(path: Path) -> str:
    """The text of `.sops.yaml` ("" when there is none); one-line ConfigError when it cannot
    be read (a folder, a FIFO, no permission, not UTF-8)."""
    if not os.path.lexists(path):
        return ""
    try:
        return read_regular(path).decode("utf-8")
    except OSError as err:
        raise ConfigError(f"{show_path(path)}: cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{show_path(path)}: cannot be read (not UTF-8 text)") from None


def load_sops_config(path: Path) -> dict[str, Any]:
    """A `.sops.yaml` as data (empty when there is no file); its shape is checked."""
    text = _read(path)
    try:
        doc = load_yaml(text) or {}
    except ParseError as err:
        raise ConfigError(f"{show_path(path)}: {err}") from None
    _check_sops_doc(doc, path)
    return doc


def _check_sops_doc(doc: Any, path: Path) -> None:
    if not isinstance(doc, dict) or not isinstance(doc.get("creation_rules", []), list):
        raise ConfigError(f"{show_path(path)}: expected a mapping with a creation_rules list")


_HEADER = (
    "# sops creation rules, one pair per stack (written by `gitops secrets init`; first match "
    "wins).\n# Secret manifests: <env>/**/*.sops.yaml (data/stringData encrypted); key/value "
    "files: <env>/**/*.sops.json|env.\n"
)


def update_sops_config(path: Path, environment: str, recipient: str) -> list[str]:
    """Add or update the rules of `environment` in `.sops.yaml`; returns replaced recipients.

    Existing rules with the same `path_regex` are updated in place; new ones go first, before
    any catch-all rule. The rest of the file (other rules and keys, comments, quoting, the
    indentation of the creation rules) is kept; an unchanged file is not rewritten, a changed
    one is replaced atomically (its mode kept; a symlink is written through).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import YAMLError

    text = _read(path)
    rt = YAML()  # round-trip mode: keeps what PyYAML would drop (comments, layout, quotes)
    rt.preserve_quotes = True
    try:
        doc = rt.load(text)
    except YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).split("\n")[0] or type(err).__name__
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{show_path(path)}: {problem}{where}") from None
    except (RecursionError, ValueError, TypeError):
        raise ConfigError(f"{show_path(path)}: not valid YAML (too deep or a bad value)") from None
    if doc is None:  # no file, an empty one, or only comments: those stay on top
        fresh = {"creation_rules": stack_rules(environment, recipient)}
        head = text.rstrip("\n") + "\n" if text.strip() else _HEADER
        write_atomic(path, head + yaml.safe_dump(fresh, sort_keys=False, width=200))
        return []
    _check_sops_doc(doc, path)  # the checks every other reader makes
    rules = doc.get("creation_rules")
    if not isinstance(rules, CommentedSeq):  # absent or null
        rules = doc["creation_rules"] = CommentedSeq()
    rules.fa.set_block_style()
    index = {r.get("path_regex"): r for r in rules if isinstance(r, CommentedMap)}
    replaced: list[str] = []
    new = []
    for rule in stack_rules(environment, recipient):
        found = index.get(rule["path_regex"])
        if found is None:
            new.append(CommentedMap(rule))
            continue
        old = found.get("age")
        if old and old != recipient and str(old) not in replaced:
            replaced.append(str(old))
        for key, value in rule.items():
            if key in found:
                found[key] = value
            else:  # right after path_regex: not behind a comment on the rule's last line
                found.insert(1, key, value)
    for i, rule in enumerate(new):
        rules.insert(i, rule)
    if new:
        _keep_leading_comment(doc, rules, new[-1])
    mapping, sequence, offset = _sops_layout(text)
    rt.indent(mapping=mapping, sequence=sequence, offset=offset)
    rt.width = 200
    rt.explicit_start = text.startswith("---")
    out = io.StringIO()
    rt.dump(doc, out)
    if out.getvalue() != text:
        write_atomic(path, out.getvalue())
    return replaced


_TOP_KEY = re.compile(r"^[^\s#-][^:]*:\s*(#.*)?$")
_NESTED_KEY = re.compile(r"^( +)[^\s#-]")
_DASH = re.compile(r"^( *)-( +)\S")


def _sops_layout(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence item indent, dash offset) as `text` writes them; the dash
    layout is read from `creation_rules`. Defaults: PyYAML's and sops' own style."""
    mapping, sequence, offset = 2, 2, 0
    lines = [
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    for prev, line in itertools.pairwise(lines):
        if _TOP_KEY.match(prev) and (m := _NESTED_KEY.match(line)):
            mapping = len(m.group(1))
            break
    in_rules = False
    for line in lines:
        if line.startswith("creation_rules:"):
            in_rules = True
        elif in_rules and (m := _DASH.match(line)):
            offset = len(m.group(1))
            sequence = offset + 1 + len(m.group(2))
            break
        elif in_rules and not line.startswith((" ", "-")):
            break  # the next top-level key: the list was empty or in flow style
    return mapping, sequence, offset


def _keep_leading_comment(doc: Any, rules: Any, before: Any) -> None:
    """Comment lines above the first rule describe that rule: when new rules go in front of
    it, move them down with it (ruamel keeps them on the list itself, so they would end up
    above our rules)."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    comment = rules.ca.comment
    if not comment:
        return
    lines = ""
    eol = comment[0]
    if eol is not None and "\n" in eol.value.rstrip("\n"):
        # A comment on the `creation_rules:` line carries the lines below it in one token.
        first, _, rest = eol.value.partition("\n")
        eol.value = first + "\n"
        lines = rest
    if comment[1]:
        lines += "".join(" " * t.start_mark.column + t.value for t in comment[1])
        comment[1] = None
        if "creation_rules" in doc.ca.items:
            doc.ca.items["creation_rules"][3] = None
    if lines:
        # A comment after the last value of the rule before: the end of its line, then the lines.
        before.ca.items[list(before)[-1]] = [
            None,
            None,
            CommentToken("\n" + lines, CommentMark(0)),
            None,
        ]
