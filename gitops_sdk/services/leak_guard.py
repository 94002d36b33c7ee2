"""The leak guard behind `gitops secrets check`: find files under a folder that hold secrets in
plain text. Findings name the file and the keys (or line numbers), never the values.

What is checked:
- every regular file, whatever its name or content (binary too, and UTF-16), for age private
  keys (`AGE-SECRET-KEY-1...`), streamed, up to `_MAX_SCAN_BYTES`;
- YAML and JSON files, document by document (a malformed document is reported and the others
  are still checked): Kubernetes Secrets, also inside `kind: List` items, whose data/stringData
  values are not `ENC[...]`, a `sops:` block that is not a real SOPS envelope, and kustomize
  `secretGenerator` literals;
- files a `.sops.yaml` `path_regex` matches: they must be fully SOPS-encrypted;
- `Pulumi.<stack>.yaml`: secret `gitops:` keys in plain text (a line scan when it does not parse).

Findings come in three kinds: `leak` (a plaintext secret), `unchecked` (a file that should have
been checked but could not be: over `_MAX_BYTES`, unreadable, a malformed document beside a
Secret) and `note` (nothing Git would store as content: symlinks leaving the tree or looping,
FIFOs, devices; or text that needed undecodable bytes replaced). The CLI fails on leaks and, unless
told otherwise, on unchecked files. Symlinks are never followed (a link into the tree is checked
where it points) and a FIFO is never opened, so the walk cannot loop or hang.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.core.model import manifest_name
from gitops_sdk.services.age import AgeKeyScan
from gitops_sdk.services.sops_config import SOPS_CONFIG, find_sops_config, load_sops_config
from gitops_sdk.services.sops_files import (
    ParseError,
    envelope_problem,
    file_format,
    file_kind,
    inspect_text,
    leaves,
    list_keys,
    load_documents,
    load_yaml,
    open_regular,
    secret_plaintext,
    show_path,
    sops_metadata,
    split_yaml,
)
from gitops_sdk.services.stack_files import (
    NAMESPACE,
    SECRET_KEYS,
    plaintext_secrets,
    read_stack_file,
)

__all__ = ["Finding", "FindingKind", "check_tree"]

_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        ".pulumi",
    }
)
_MAX_BYTES = 5_000_000
"""Files parsed for Secrets and stack config are at most this big; bigger ones are reported
unchecked (still scanned for age keys)."""
_MAX_SCAN_BYTES = 256 * 2**20
"""Bytes of any file scanned for age keys; a bigger file is reported unchecked."""
_CHUNK = 2**20

FindingKind = Literal["leak", "unchecked", "note"]


@dataclass(frozen=True)
class Finding:
    """A file that holds plaintext secrets (`leak`), could not be checked (`unchecked`), or was
    skipped on purpose (`note`): what is wrong and which keys (never the values)."""

    path: Path
    problem: str
    keys: tuple[str, ...] = ()
    kind: FindingKind = "leak"

    def __str__(self) -> str:
        keys = f": {list_keys(self.keys)}" if self.keys else ""
        head = "not checked: " if self.kind == "unchecked" else ""
        line = f"{show_path(self.path)}: {head}{self.problem}{keys}"
        return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", line)


# --- age keys anywhere ---------------------------------------------------------------------------


def _scan_rest(fd: int, head: bytes) -> tuple[tuple[str, ...], bool]:
    """Age keys in `head` and the rest of the file, streamed; (where, whole file scanned)."""
    scan = AgeKeyScan()
    scan.feed(head)
    while scan.offset < _MAX_SCAN_BYTES and not scan.full:
        chunk = os.read(fd, min(_CHUNK, _MAX_SCAN_BYTES - scan.offset))
        if not chunk:
            return scan.places, True
        scan.feed(chunk)
    return scan.places, bool(scan.found) or not os.read(fd, 1)


# --- Kubernetes manifests ------------------------------------------------------------------------

_MENTIONS = re.compile(r"Secret|secretGenerator|sops")


def _is_secret(doc: dict[str, Any]) -> bool:
    return doc.get("kind") == "Secret" and doc.get("apiVersion") in ("v1", None)


def _secret_finding(path: Path, doc: dict[str, Any], where: str) -> Finding | None:
    plain = secret_plaintext(doc)
    if not plain:
        return None
    name = f"{where}Secret {manifest_name(doc)!r}"
    fake = envelope_problem(doc, "yaml")
    if fake:
        problem = f"{name}: {fake}: plaintext pretending to be encrypted"
    elif sops_metadata(doc, "yaml")[0] is None:
        problem = f"{name} is not SOPS-encrypted"
    else:
        problem = f"{name} is SOPS-encrypted but holds plaintext values"
    return Finding(path, problem, tuple(plain))


def _generator_findings(path: Path, doc: dict[str, Any], where: str) -> list[Finding]:
    out = []
    for i, gen in enumerate(doc["secretGenerator"]):
        literals = gen.get("literals") if isinstance(gen, dict) else None
        if isinstance(literals, list) and literals:
            keys = tuple(  # the name before '='; without one, the position: it may be the value
                f"secretGenerator[{i}].literals.{str(lit).partition('=')[0]}"
                if "=" in str(lit)
                else f"secretGenerator[{i}].literals[{j}]"
                for j, lit in enumerate(literals)
            )
            name = gen.get("name") if isinstance(gen, dict) else None
            out.append(
                Finding(path, f"{where}secretGenerator {name!r} has plaintext literals", keys)
            )
    return out


def _doc_findings(path: Path, doc: Any, where: str = "", depth: int = 0) -> list[Finding]:
    """Plaintext secrets in one parsed document (a `kind: *List`'s items included)."""
    if not isinstance(doc, dict):
        return []
    if _is_secret(doc):
        found = _secret_finding(path, doc, where)
        return [found] if found else []
    items = doc.get("items")
    if str(doc.get("kind", "")).endswith("List") and isinstance(items, list) and depth < 8:
        return [
            f
            for i, item in enumerate(items)
            for f in _doc_findings(path, item, f"{where}items[{i}]: ", depth + 1)
        ]
    if isinstance(doc.get("secretGenerator"), list):
        return _generator_findings(path, doc, where)
    fake = envelope_problem(doc, "yaml")
    if fake:  # any document with a sops block that is not one: its values are plaintext
        body = {k: v for k, v in doc.items() if k != "sops"}
        plain = tuple(shown for _, shown, value in _first(leaves(body), 50) if value is not None)
        return [Finding(path, f"{where}{fake}: plaintext pretending to be encrypted", plain)]
    return []


def _first(items: Iterator[Any], limit: int) -> list[Any]:
    out = []
    for item in items:
        out.append(item)
        if len(out) >= limit:
            break
    return out


def _manifest_findings(path: Path, text: str) -> list[Finding]:
    """Plaintext Secrets (and generator literals, fake envelopes) in a YAML or JSON file; each
    document is parsed on its own, and one that does not parse is reported beside a Secret."""
    mentions = _MENTIONS.search(text) is not None
    json = file_format(path) == "json"
    chunks = [(1, text)] if json else split_yaml(text)
    many = len(chunks) > 1
    out: list[Finding] = []
    for n, (line, chunk) in enumerate(chunks, 1):
        where = f"document {n} (line {line}): " if many else ""
        try:
            doc = load_documents(chunk, "json")[0] if json else load_yaml(chunk, line)
        except ParseError as err:
            if mentions:  # beside a Secret (or what may be one); else not the guard's business
                out.append(Finding(path, f"{where}{err}", kind="unchecked"))
            continue
        try:
            out += _doc_findings(path, doc, where)
        except RecursionError:
            out.append(Finding(path, f"{where}nested too deeply", kind="unchecked"))
    return out


# --- Pulumi stack files --------------------------------------------------------------------------

_KEYS = "|".join(sorted(SECRET_KEYS))
_STACK_KEY = re.compile(
    rf"""^(?P<indent>\s*)["']?{NAMESPACE}:(?P<key>{_KEYS})["']?\s*:(?:\s+(?P<rest>.*?))?\s*$"""
)
_SECURE_LINE = re.compile(r"""^\s*["']?secure["']?\s*:\s*\S""")
_NESTED_KEY = re.compile(r"""^\s*["']?[^\s"':#][^"':]*["']?\s*:\s*(#.*)?$""")


def _plain_stack_lines(text: str) -> list[str]:
    """Secret `gitops:` keys a stack file that does not parse holds in plain text, by line."""
    lines = text.splitlines()
    out = []
    for number, line in enumerate(lines, 1):
        m = _STACK_KEY.match(line)
        if not m:
            continue
        rest = re.sub(r"(^|\s)#.*$", "", m.group("rest") or "").strip()
        if rest in ("null", "~", '""', "''"):
            continue
        if rest:
            secure = re.match(r"""^\{\s*["']?secure["']?\s*:""", rest) is not None
        else:  # the value is the block below: only `secure:` values (and keys above them)
            depth = len(m.group("indent"))
            block = []
            for below in lines[number:]:
                if below.strip() and not below.lstrip().startswith("#"):
                    if len(below) - len(below.lstrip()) <= depth:
                        break
                    block.append(below)
            secure = all(_SECURE_LINE.match(b) or _NESTED_KEY.match(b) for b in block)
        if not secure:
            out.append(f"{NAMESPACE}:{m.group('key')} (line {number})")
    return out


def _stack_file_findings(path: Path, text: str) -> list[Finding]:
    """`gitops:` secret keys stored in plain text in a `Pulumi.<stack>.yaml`."""
    try:
        keys = [f"{NAMESPACE}:{k}" for k in plaintext_secrets(read_stack_file(path))]
        problem = "holds secret config in plain text; set it with `pulumi config set --secret`"
    except (ConfigError, OSError, ValueError, TypeError, RecursionError):
        # ValueError covers PyYAML's constructors (impossible dates) and undecodable bytes.
        try:
            load_yaml(text)
            reason = "is not a valid stack file"
        except ParseError as err:
            reason = f"is {err}"
        keys = _plain_stack_lines(text)
        problem = f"{reason}; a line scan found secret config in plain text"
    return [Finding(path, problem, tuple(keys))] if keys else []


# --- rules, walking, reading ---------------------------------------------------------------------


def _rule_patterns(config: Path | None) -> list[tuple[str, re.Pattern[str]]]:
    if config is None:
        return []
    out = []
    for i, rule in enumerate(load_sops_config(config).get("creation_rules") or []):
        regex = rule.get("path_regex") if isinstance(rule, dict) else None
        if not regex:
            continue  # a catch-all rule would demand that every file be encrypted
        try:
            out.append((str(regex), re.compile(str(regex))))
        except re.error as err:
            raise ConfigError(
                f"{show_path(config)}: creation_rules[{i}].path_regex {regex!r} is not a "
                f"valid regexp ({err})"
            ) from None
    return out


def _rule_findings(path: Path, text: str, rule: str) -> list[Finding]:
    status = inspect_text(text, file_format(path), path)
    if status.error:
        return [Finding(path, f"matches rule '{rule}' but {status.error}")]
    if status.envelope:
        problem = (
            f"matches rule '{rule}' but {status.envelope}: plaintext pretending to be encrypted"
        )
        return [Finding(path, problem, status.plaintext)]
    if not status.encrypted:
        return [Finding(path, f"matches rule '{rule}' but is not SOPS-encrypted", status.plaintext)]
    if status.plaintext:
        return [Finding(path, "is SOPS-encrypted but holds plaintext values", status.plaintext)]
    return []


def _excluded(rel: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) or PurePosixPath(rel).match(p) for p in patterns)


def _link_note(path: Path, real: Path, inside: Path) -> Finding | None:
    """Links are not followed: one into the tree is checked where it points; others noted."""
    if real.is_symlink() or not real.exists():
        return Finding(path, "broken symlink (missing target or a loop): skipped", kind="note")
    if real.is_relative_to(inside):
        return None
    return Finding(path, "symlink to outside the checked tree: not followed", kind="note")


def _walk(root: Path, exclude: Sequence[str], out: list[Finding]) -> Iterator[Path]:
    """Regular files under `root`, sorted; what is not one (or cannot be listed) goes to `out`."""
    info = root.stat()  # the root itself may be a link: the user named it
    if not stat.S_ISDIR(info.st_mode):
        if stat.S_ISREG(info.st_mode):
            yield root
        else:
            out.append(
                Finding(root, f"is {file_kind(info.st_mode)}, not a file: skipped", kind="note")
            )
        return
    inside = root.resolve()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as err:
            out.append(
                Finding(folder, f"folder cannot be listed ({err.strerror})", kind="unchecked")
            )
            continue
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            if exclude and _excluded(path.relative_to(root).as_posix(), exclude):
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as err:
                out.append(Finding(path, f"cannot be read ({err.strerror})", kind="unchecked"))
                continue
            if stat.S_ISLNK(mode):
                note = _link_note(path, Path(os.path.realpath(path)), inside)
                out += [note] if note else []
            elif stat.S_ISDIR(mode):
                if entry.name not in _SKIP_DIRS and not (path / "pyvenv.cfg").exists():
                    subfolders.append(path)
            elif stat.S_ISREG(mode):
                yield path
            else:
                out.append(Finding(path, f"is {file_kind(mode)}, not a file: skipped", kind="note"))
        stack += reversed(subfolders)


def _decode(data: bytes) -> tuple[str, bool]:
    """Text of a file for parsing, and whether undecodable bytes had to be replaced."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), False
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


def _check_file(path: Path, rule: str | None, structured: bool) -> list[Finding]:
    """Every finding about one regular file."""
    try:
        fd = open_regular(path, follow=False)
    except OSError as err:
        return [Finding(path, f"cannot be read ({err.strerror or err})", kind="unchecked")]
    try:
        head = os.read(fd, _MAX_BYTES + 1)
        while len(head) <= _MAX_BYTES and (more := os.read(fd, _MAX_BYTES + 1 - len(head))):
            head += more
        keys, complete = _scan_rest(fd, head)
    except OSError as err:
        return [Finding(path, f"cannot be read ({err.strerror})", kind="unchecked")]
    finally:
        os.close(fd)
    out = []
    if len(head) > _MAX_BYTES and (structured or rule):
        cap = f"{_MAX_BYTES / 1e6:g} MB"
        out.append(Finding(path, f"larger than {cap}, not parsed for secrets", kind="unchecked"))
    elif structured or rule:
        text, replaced = _decode(head)
        if replaced:
            note = "is not UTF-8 text: checked with undecodable bytes replaced"
            out.append(Finding(path, note, kind="note"))
        if rule is not None:
            out += _rule_findings(path, text, rule)
        elif path.name.startswith("Pulumi.") and path.suffix in (".yaml", ".yml"):
            out += _stack_file_findings(path, text)
        else:
            out += _manifest_findings(path, text)
    if not complete:
        cap = f"{_MAX_SCAN_BYTES // 2**20} MiB"
        out.append(
            Finding(path, f"larger than {cap}, scanned for age keys in part", kind="unchecked")
        )
    stack_file = path.name.startswith("Pulumi.") and rule is None
    if keys and not (stack_file and any(f.kind == "leak" for f in out)):  # that names the key
        out.append(Finding(path, "holds an age private key (AGE-SECRET-KEY-1...)", tuple(keys)))
    return out


def git_ignored(root: Path) -> list[str]:
    """Globs for what Git ignores below `root` (build outputs, caches), relative to it; none
    outside a Git work tree or without git. Such files never reach the repository."""
    folder = root if root.is_dir() else root.parent
    git = shutil.which("git")
    if git is None:
        return []
    try:
        proc = subprocess.run(
            [git, "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z"],
            cwd=folder,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode:
        return []
    out = []
    for raw in proc.stdout.split(b"\0"):
        name = raw.decode("utf-8", "surrogateescape")
        if name:
            out += [name.rstrip("/"), f"{name.rstrip('/')}/*"] if name.endswith("/") else [name]
    return out


def check_tree(
    root: Path,
    *,
    config: Path | None = None,
    exclude: Iterable[str] = (),
    include_ignored: bool = False,
) -> list[Finding]:
    """Every file under `root` that holds plaintext secrets or could not be checked.

    Flagged: age private keys in any file; Kubernetes Secret manifests (and kustomize
    `secretGenerator` literals) that are not encrypted anywhere; any file a `.sops.yaml`
    `path_regex` matches that is not encrypted or still has plaintext values; secret config in
    stack files. `config` defaults to the nearest `.sops.yaml`; `exclude` takes globs matched
    against paths relative to `root` (`charts/*`, `*.png`); what Git ignores is skipped unless
    `include_ignored` (a note says how much).
    """
    root = Path(root)
    if not os.path.lexists(root):
        raise ConfigError(f"{root}: no such file or folder")
    if not root.exists():
        raise ConfigError(f"{root}: broken symlink (missing target or a loop)")
    if config is not None and not config.is_file():
        what = "is not a regular file" if os.path.lexists(config) else "no such file"
        raise ConfigError(f"--config {config}: {what}")
    config = config or find_sops_config(root)
    patterns = _rule_patterns(config)
    base = config.parent.resolve() if config else root.resolve()
    findings: list[Finding] = []
    ignored = [] if include_ignored else git_ignored(root)
    if ignored:
        findings.append(
            Finding(
                root,
                f"{len([g for g in ignored if not g.endswith('/*')])} path(s) Git ignores not "
                "checked (--include-ignored checks them)",
                kind="note",
            )
        )
    for path in _walk(root, (*exclude, *ignored), findings):
        rel = Path(os.path.relpath(path.resolve(), base)).as_posix()
        structured = path.name != SOPS_CONFIG and path.suffix.lower() in (".yaml", ".yml", ".json")
        rule = None
        if path.name != SOPS_CONFIG:
            rule = next((regex for regex, rx in patterns if rx.search(rel)), None)
        findings += _check_file(path, rule, structured)
    return sorted(findings, key=lambda f: str(f.path))
