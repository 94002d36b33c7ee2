"""Reading `Pulumi.<stack>.yaml` safely: the `gitops:` keys as written, secret keys stored in
plain text refused without showing their values, and anything that is not a plain YAML stack
file refused with one line naming the file and a position (never the file's text).

Refused: files over `MAX_STACK_FILE_BYTES`, binary data, UTF-16/32, invalid UTF-8; syntax
errors; several documents; a document that is not a mapping; duplicate or non-text keys
(`? [a, b]`, `1:`, `on:`); below `gitops:` keys, values that are not plain data (an unquoted date,
`!!binary`, `!!set`, custom tags); more than `MAX_ALIAS_USES` aliases, more than `MAX_VALUES`
values once aliases are expanded, nesting deeper than `MAX_DEPTH`, recursive aliases. Merge keys
(`<<: *defaults`, `<<: [*a, *b]`) work as in Pulumi.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.yaml_lines import yaml_children

__all__ = [
    "MAX_ALIAS_USES",
    "MAX_DEPTH",
    "MAX_NUMBER_CHARS",
    "MAX_STACK_FILE_BYTES",
    "MAX_VALUES",
    "NAMESPACE",
    "SECRET_KEYS",
    "decode_config_value",
    "is_secure_value",
    "load_stack_file",
    "plaintext_secrets",
    "read_stack_file",
    "stack_file",
]

NAMESPACE = "gitops"
"""The Pulumi config namespace the SDK reads."""

SECRET_KEYS = frozenset({"ageKey", "githubToken", "githubIdentity", "gitCredentials"})
"""`gitops:` keys holding secrets: read by the components that need them as Pulumi secret
config, never validated (or echoed) here."""

MAX_STACK_FILE_BYTES = 1024 * 1024
"""Largest stack file read (1 MiB; real ones are a few KiB), checked before parsing."""
MAX_ALIAS_USES = 5000
"""Most alias uses (`*name`) in one stack file."""
MAX_VALUES = 200_000
"""Most values (keys, scalars, lists, mappings) in a stack file once every alias is expanded:
what stops an alias bomb ("billion laughs") before anything expands it."""
MAX_DEPTH = 100
"""Deepest nesting of lists and mappings, aliases expanded (keeps every reader clear of
Python's recursion limit)."""
MAX_NUMBER_CHARS = 100
"""Longest number read as a number (YAML 1.1's `1:2:3` sexagesimal ints would otherwise cost
quadratic time)."""

_TAG = "tag:yaml.org,2002:"
_STR, _MAP, _SEQ, _MERGE = (f"{_TAG}{t}" for t in ("str", "map", "seq", "merge"))
_NUMERIC = {f"{_TAG}{t}" for t in ("int", "float", "bool")}
_PLAIN = {_STR, f"{_TAG}null", *_NUMERIC}
_READ_AS = {
    f"{_TAG}int": "a number",
    f"{_TAG}float": "a number",
    f"{_TAG}bool": "true/false",
    f"{_TAG}null": "null",
    f"{_TAG}timestamp": "a date",
}


def stack_file(project_dir: Path, stack: str) -> Path:
    """Path of `Pulumi.<stack>.yaml` in the project."""
    return project_dir / f"Pulumi.{stack}.yaml"


def is_secure_value(value: Any) -> bool:
    """A secret as a stack file holds it: `{secure: ...}`, or (set with `--path`) a mapping
    whose values all are."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return True
    return (
        isinstance(value, dict) and bool(value) and all(is_secure_value(v) for v in value.values())
    )


def plaintext_secrets(values: Mapping[str, Any]) -> list[str]:
    """The secret keys among a stack file's `gitops:` values that are not encrypted."""
    return sorted(k for k in SECRET_KEYS & set(values) if not is_secure_value(values[k]))


class _Refused(Exception):
    """A problem found while composing or checking nodes, at `mark`."""

    def __init__(
        self, mark: Any, problem: str, path: str | None = None, *, syntax: bool = False
    ) -> None:
        super().__init__(problem)
        self.mark, self.problem, self.path = mark, problem, path
        self.syntax = syntax
        """YAML itself forbids it (a duplicate key), rather than this reader."""


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark else "an unknown position"


def _nested_too_deep() -> str:
    return f"lists and mappings are nested more than {MAX_DEPTH} levels deep (aliases expanded)"


class _CountingComposer(Composer):
    """PyYAML's composer, counting as it goes: nesting depth, alias uses, and values with each
    alias counted as the values it stands for, so an alias bomb stops before anything
    expands it (PyYAML shares an anchored node between its aliases, so composing is cheap)."""

    peek_event: Callable[[], Any]  # the parser's, further along the loader's bases

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.alias_uses = 0
        self.values = 0
        self.open_anchors: set[str] = set()
        self.measured: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(str(event.anchor))
            if target is not None:
                self._use_alias(event, target)
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(event.start_mark, _nested_too_deep())
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            # YAML lets a later anchor of the same name replace the earlier one for the aliases
            # after it (Pulumi's parser does); PyYAML would refuse it.
            self.anchors.pop(anchor, None)
            self.open_anchors.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
            if anchor is not None:
                self.open_anchors.discard(anchor)
        self._count(1, event.start_mark)
        return node

    def _use_alias(self, event: yaml.AliasEvent, target: yaml.Node) -> None:
        if event.anchor in self.open_anchors:
            raise _Refused(
                event.start_mark,
                f"alias *{event.anchor} is used inside its own anchor (a recursive structure); "
                "expected a tree",
            )
        self.alias_uses += 1
        if self.alias_uses > MAX_ALIAS_USES:
            raise _Refused(event.start_mark, f"more than {MAX_ALIAS_USES} alias uses (*name)")
        size, depth = self._measure(target)
        if self.depth + depth > MAX_DEPTH:
            raise _Refused(event.start_mark, _nested_too_deep())
        self._count(size, event.start_mark)

    def _count(self, values: int, mark: Any) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise _Refused(
                mark,
                f"more than {MAX_VALUES} values once aliases are expanded (an alias bomb?); "
                "expected a smaller document",
            )

    def _measure(self, node: yaml.Node) -> tuple[int, int]:
        """(values, depth) of a composed node with aliases expanded; recursion stays within
        MAX_DEPTH because every composed node was checked against it."""
        found = self.measured.get(id(node))
        if found is None:
            size, depth = 1, 0
            for child in yaml_children(node):
                s, d = self._measure(child)
                size, depth = size + s, max(depth, d)
            found = self.measured[id(node)] = (size, depth + 1)
        return found


class _PyLoader(Reader, Scanner, Parser, _CountingComposer, SafeConstructor, Resolver):
    """The counting loader on PyYAML's pure-Python parser."""

    def __init__(self, text: str) -> None:
        Reader.__init__(self, text)
        Scanner.__init__(self)
        Parser.__init__(self)
        _CountingComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


_StackLoader: Callable[[str], Any] = _PyLoader
if yaml.__with_libyaml__:  # libyaml's parser, several times faster; composing stays ours
    from yaml._yaml import CParser

    class _CLoader(_CountingComposer, CParser, SafeConstructor, Resolver):
        """The counting loader on libyaml's event parser."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _CountingComposer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _StackLoader = _CLoader


_SCALARS = SafeConstructor()
"""Reads tagged numbers and booleans once, to refuse those that cannot be read."""


def _tag(tag: str) -> str:
    shown = "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _check_key(key: yaml.Node, path: str) -> None:
    if not isinstance(key, yaml.ScalarNode):
        problem = "a key is a list or mapping (a complex key); expected text keys"
        raise _Refused(key.start_mark, problem, path)
    if key.tag != _STR:
        read_as = _READ_AS.get(key.tag, f"tagged {_tag(key.tag)}")
        problem = f"key {key.value!r} is read as {read_as}; expected a text key: quote it"
        raise _Refused(key.start_mark, problem, path)


def _check_value(node: yaml.Node, path: str) -> None:
    """Below `gitops:` keys only plain data: what Pulumi passes to the program as JSON."""
    mark = node.start_mark
    if isinstance(node, yaml.ScalarNode):
        if node.tag == f"{_TAG}timestamp":
            raise _Refused(
                mark,
                "an unquoted date or time is read as a date, but this key wants a string: "
                'quote it (e.g. "2025-01-01")',
                path,
            )
        if node.tag not in _PLAIN:
            raise _Refused(mark, _unsupported(node.tag), path)
        if node.tag in _NUMERIC:
            if len(node.value) > MAX_NUMBER_CHARS:
                raise _Refused(
                    mark, f"a number longer than {MAX_NUMBER_CHARS} characters; quote it", path
                )
            try:
                _SCALARS.yaml_constructors[node.tag](_SCALARS, node)
            except (ValueError, KeyError, OverflowError):
                raise _Refused(
                    mark, f"is tagged {_tag(node.tag)} but cannot be read as one", path
                ) from None
    elif node.tag != (_SEQ if isinstance(node, yaml.SequenceNode) else _MAP):
        raise _Refused(mark, _unsupported(node.tag), path)


def _unsupported(tag: str) -> str:
    what = "binary data (!!binary)" if tag == f"{_TAG}binary" else f"tag {_tag(tag)}"
    return (
        f"{what} is not supported; expected plain values (text, numbers, true/false, null, "
        "lists, mappings)"
    )


def _child_path(path: str | None, key: str) -> str:
    # Paths read like the config keys: `gitops:layers.apps.units`, top-level `config`.
    return key if path in (None, "config") else f"{path}.{key}"


def _check_tree(root: yaml.Node) -> None:
    """Keys are unique text everywhere; values below `gitops:` keys are plain. Iterative, each
    node once per role (aliases share nodes)."""
    todo: list[tuple[yaml.Node, str | None, bool]] = [(root, None, False)]
    seen: set[tuple[int, bool]] = set()
    while todo:
        node, path, gitops = todo.pop()
        if (id(node), gitops) in seen:
            continue
        seen.add((id(node), gitops))
        if gitops:
            _check_value(node, path or "")
        if isinstance(node, yaml.SequenceNode):
            todo.extend((child, f"{path}[{i}]", gitops) for i, child in enumerate(node.value))
        if not isinstance(node, yaml.MappingNode):
            continue
        keys: set[str] = set()
        for key, value in node.value:
            if key.tag == _MERGE:
                _check_merge(value, path)
                todo.append((value, path, gitops))
                continue
            _check_key(key, path or "")
            if key.value in keys:
                raise _Refused(key.start_mark, f"duplicate key {key.value!r}", path, syntax=True)
            keys.add(key.value)
            below_gitops = gitops or (path == "config" and key.value.startswith(f"{NAMESPACE}:"))
            todo.append((value, _child_path(path, key.value), below_gitops))


def _check_merge(value: yaml.Node, path: str | None) -> None:
    merged = value.value if isinstance(value, yaml.SequenceNode) else [value]
    if not all(isinstance(m, yaml.MappingNode) for m in merged):
        problem = "a merge key (<<) takes a mapping or a list of mappings (e.g. <<: *defaults)"
        raise _Refused(value.start_mark, problem, path)


def _read_text(path: Path) -> str:
    """The file as text, refusing what is too large or not UTF-8 before any parsing."""
    name = path.name
    try:
        with path.open("rb") as f:
            data = f.read(MAX_STACK_FILE_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{name}: cannot read {path}: {err.strerror}") from None
    if len(data) > MAX_STACK_FILE_BYTES:
        raise ConfigError(f"{name}: larger than {MAX_STACK_FILE_BYTES} bytes (1 MiB, the limit)")
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise ConfigError(f"{name}: is UTF-32 text (byte-order mark); expected UTF-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(f"{name}: is UTF-16 text (byte-order mark); expected UTF-8")
    zero = data.find(b"\0")
    if zero >= 0:
        if data[0::2].count(0) > len(data) // 4 or data[1::2].count(0) > len(data) // 4:
            raise ConfigError(f"{name}: looks like UTF-16 text (zero bytes); expected UTF-8")
        raise ConfigError(
            f"{name}: holds binary data (a zero byte at {_byte_at(data, zero)}); expected UTF-8 "
            "YAML text"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{name}: is not valid UTF-8 (at {_byte_at(data, err.start)}); expected UTF-8 text"
        ) from None
    text = text.removeprefix("\ufeff")
    if bad := Reader.NON_PRINTABLE.search(text):
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - text.rfind("\n", 0, bad.start())
        raise ConfigError(
            f"{name}: not valid YAML: line {line}, column {column}: control character "
            f"#x{ord(bad.group()):04x} is not allowed"
        )
    return text


def _byte_at(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - data.rfind(b"\n", 0, offset)
    return f"line {line}, byte {column}"


def _compose(name: str, text: str) -> tuple[SafeConstructor, yaml.MappingNode | None]:
    loader = None
    try:
        loader = _StackLoader(text)
        root = loader.get_single_node()
        if root is None:
            return loader, None
        if not isinstance(root, yaml.MappingNode):
            raise ConfigError(f"{name}: expected a mapping with a 'config' key")
        _check_tree(root)
        return loader, root
    except _Refused as err:
        where = f"{err.path} ({_at(err.mark)})" if err.path else _at(err.mark)
        invalid = "not valid YAML: " if err.syntax else ""
        raise ConfigError(f"{name}: {invalid}{where}: {err.problem}") from None
    except yaml.MarkedYAMLError as err:
        raise ConfigError(f"{name}: {_syntax(err)}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _syntax(err: yaml.MarkedYAMLError) -> str:
    """Position and the parser's own phrases; never the snippet of the file it would print."""
    if err.problem == "but found another document":
        return (
            f"a second YAML document starts at {_at(err.problem_mark)}; expected one document "
            "per stack file"
        )
    mark = err.problem_mark or err.context_mark
    problem = _phrase(err.problem or err.context or "cannot be parsed")
    context = f" ({_phrase(err.context)})" if err.problem and err.context else ""
    return f"not valid YAML: {_at(mark)}: {problem}{context}"


_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def _phrase(text: str) -> str:
    """A parser's phrase with any quoted text from the file (an alias or tag name) left out;
    single characters and token names such as '<block end>' stay."""

    def shown(match: re.Match[str]) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        keep = len(inner) <= 2 or (inner.startswith("<") and inner.endswith(">"))
        return match.group(0) if keep else "(text not shown)"

    return _QUOTED.sub(shown, text)


def _kind(node: yaml.Node) -> str:
    return "a list" if isinstance(node, yaml.SequenceNode) else "a single value"


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `gitops:` keys of a `Pulumi.<stack>.yaml` file, prefix stripped, as written."""
    name = path.name
    if not path.is_file():
        if path.exists():  # a folder, FIFO or device: never opened (a FIFO would block)
            raise ConfigError(f"{name}: {path} is not a regular file; expected a YAML file")
        raise ConfigError(f"{name}: stack file not found at {path}")
    loader, root = _compose(name, _read_text(path))
    if root is None:
        return {}
    try:
        loader.flatten_mapping(root)  # apply merge keys; later keys win, as in a dict
        config = {k.value: v for k, v in root.value}.get("config")
        if config is None or (isinstance(config, yaml.ScalarNode) and config.tag == f"{_TAG}null"):
            return {}
        if not isinstance(config, yaml.MappingNode):
            raise ConfigError(f"{name}: 'config' must be a mapping, got {_kind(config)}")
        loader.flatten_mapping(config)
        prefix = f"{NAMESPACE}:"
        values = {k.value: v for k, v in config.value if k.value.startswith(prefix)}
        # Only the `gitops:` values are built: other namespaces are not ours to refuse.
        return {k[len(prefix) :]: loader.construct_object(v, deep=True) for k, v in values.items()}
    except yaml.MarkedYAMLError as err:
        raise ConfigError(f"{name}: {_syntax(err)}") from None


def load_stack_file(path: Path) -> dict[str, Any]:
    """The `gitops:` keys of a `Pulumi.<stack>.yaml` file, prefix stripped; a secret key
    stored in plain text is a ConfigError."""
    values = read_stack_file(path)
    if plain := plaintext_secrets(values):
        key = f"{NAMESPACE}:{plain[0]}"
        raise ConfigError(
            f"{path.name}: {key} is stored in plain text (value not shown); remove it and run "
            f"`pulumi config set --secret {key} ...`"
        )
    return values


def decode_config_value(key: str, text: Any, source: str) -> Any:
    """One `gitops:` value as the Pulumi engine passes it (JSON text for objects, lists and
    numbers, the bare string otherwise), with the stack file's caps: size, depth, values."""
    if not isinstance(text, str):
        value = text
    elif len(text.encode()) > MAX_STACK_FILE_BYTES:
        raise ConfigError(f"{source}: {NAMESPACE}:{key}: larger than {MAX_STACK_FILE_BYTES} bytes")
    else:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text
        except RecursionError:
            raise ConfigError(f"{source}: {NAMESPACE}:{key}: {_nested_too_deep()}") from None
    count = 0
    todo: list[tuple[Any, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: {NAMESPACE}:{key}: {_nested_too_deep()}")
        if count > MAX_VALUES:
            raise ConfigError(f"{source}: {NAMESPACE}:{key}: more than {MAX_VALUES} values")
        if isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            todo.extend((v, depth + 1) for v in item)
    return value
