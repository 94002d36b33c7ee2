"""`# renovate:` markers on what a stack file pins, so Renovate's comment manager updates it.

A stack file (`Pulumi.<stack>.yaml`) pins the Flux release, chart versions, OCI and Git source
tags and image tags. Each exact pin gets the marker renovate.json's regex reads, on the line
above it (datasource, depName, then optional registryUrl, versioning, extractVersion):

```yaml
  gitops:flux:
    # renovate: datasource=github-releases depName=fluxcd/flux2 extractVersion=^v(?<version>.*)$
    version: 2.9.4
```

| pin | datasource | depName | also |
| --- | --- | --- | --- |
| `gitops:flux.version` | github-releases | fluxcd/flux2 | extractVersion `^v(?<version>.*)$` |
| unit `version`, https helm source | helm | the chart | registryUrl (source url), helm |
| unit `version`, `oci://` helm source | docker | `<host/path>/<chart>` | versioning helm |
| `ref.tag` of an `oci` source | docker | `<host/path>` | versioning docker |
| `ref.tag` of a `git` source | github-tags (GitHub) or git-tags | `org/repo` or the url | |
| `images[].newTag` | docker | `newName`, else `name` | versioning docker |

A unit's chart and source come from the unit, else from its `preset` (`<presets>/<preset>.yaml`:
chart, version, source {name, type, url}); a source named in `gitops:sources` wins over the
preset's. Versions that are not exact (`^1.2`, `>=1 <2`, `1.x`, `1.2`) are ranges Flux resolves
itself: they get no marker, and one already there is left as it is. A marker's `versioning`,
once written, is the user's: only a missing one is filled in.

`mark_stack_file` edits lines only: markers are inserted or replaced, every other byte stays.
A pin inside a flow mapping (`{name: nginx, newTag: x}`) cannot carry a line comment and is
reported, not rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.atomic import write_atomic
from gitops_sdk.services.renovate import COMMENT_MATCH, MARKER_MATCH
from gitops_sdk.services.stack_files import read_stack_file
from gitops_sdk.services.yaml_lines import (
    BOM,
    load_documents,
    parse_line,
    read_text,
    strip_cr,
)

__all__ = [
    "FLUX_EXTRACT_VERSION",
    "PRESETS_DIR",
    "Marker",
    "MarkerReport",
    "Pin",
    "comment_regex",
    "is_exact_version",
    "mark_stack_file",
    "stack_pins",
]

PRESETS_DIR = Path(__file__).resolve().parent.parent / "data" / "presets"
"""Where the SDK's presets live (`<preset>.yaml`)."""

FLUX_EXTRACT_VERSION = "^v(?<version>.*)$"
"""Flux's releases are tagged `vX.Y.Z`; the stack pins `X.Y.Z`."""

_EXACT = re.compile(
    r"v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
)
_MARKER = re.compile(MARKER_MATCH.replace("(?<", "(?P<") + r"[ \t]*")
_PRESET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_ODD_BREAK = re.compile("\r(?!\n)|[\x85\u2028\u2029]")
_GITHUB = re.compile(r"(?:https://|ssh://git@|git@)github\.com[/:]([^/\s]+/[^/\s]+?)(?:\.git)?/?")


def comment_regex() -> re.Pattern[str]:
    """renovate.json's comment regex (`COMMENT_MATCH`) as Python reads it."""
    return re.compile(COMMENT_MATCH.replace("(?<", "(?P<"))


def is_exact_version(value: str) -> bool:
    """Whether `value` is one exact semver version (`1.2.3`, `v1.2.3-rc.1`), not a range."""
    return _EXACT.fullmatch(value) is not None


@dataclass(frozen=True)
class Marker:
    """What one `# renovate:` comment says."""

    datasource: str
    dep_name: str
    registry_url: str | None = None
    versioning: str | None = None
    extract_version: str | None = None

    def text(self) -> str:
        """The comment, without indentation."""
        parts = [f"datasource={self.datasource}", f"depName={self.dep_name}"]
        optional = (
            ("registryUrl", self.registry_url),
            ("versioning", self.versioning),
            ("extractVersion", self.extract_version),
        )
        parts += [f"{name}={value}" for name, value in optional if value]
        return "# renovate: " + " ".join(parts)

    @classmethod
    def parse(cls, comment: str) -> Marker | None:
        """The marker a comment line (indentation stripped) holds; None if unreadable."""
        m = _MARKER.fullmatch(comment)
        if m is None:
            return None
        return cls(
            m["datasource"], m["depName"], m["registryUrl"], m["versioning"], m["extractVersion"]
        )

    def accepts(self, found: Marker) -> bool:
        """Whether `found`, already in the file, does this marker's job: the same lookup, and a
        versioning (any: a written one is the user's) where this one sets one."""
        same = (found.datasource, found.dep_name, found.registry_url, found.extract_version) == (
            self.datasource,
            self.dep_name,
            self.registry_url,
            self.extract_version,
        )
        return same and (found.versioning is not None or self.versioning is None)


@dataclass(frozen=True)
class Pin:
    """One exact value the stack file pins, where it is, and the marker it needs."""

    key_path: str
    """E.g. `gitops:layers.apps.units.demo.images[0].newTag`."""
    value: str
    line: int
    """0-based line of the value."""
    marker: Marker
    flow: bool = False
    """Whether it sits in a flow mapping (`{...}`), where no line comment can go."""

    @property
    def key(self) -> str:
        """The key holding the value (`version`, `newTag`, `tag`)."""
        return self.key_path.rsplit(".", 1)[-1]


@dataclass
class MarkerReport:
    """What `mark_stack_file` found and did in one file."""

    path: Path
    problems: list[str] = field(default_factory=list)
    """Missing or stale markers (in write mode: those it added or refreshed)."""
    errors: list[str] = field(default_factory=list)
    """Pins it cannot mark (flow style, unknown chart or source, ...)."""
    changed: bool = False
    """Whether the file was (or, checking, would be) rewritten."""


# --- finding the pins ---------------------------------------------------------------------------

_MERGE = "tag:yaml.org,2002:merge"
_NULL = "tag:yaml.org,2002:null"


def _get(node: yaml.Node | None, key: str) -> tuple[yaml.MappingNode, yaml.Node] | None:
    """(mapping holding `key`, its value) in a mapping node, following merge keys (`<<`)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE and k.value == key:
            return node, v
    for k, v in node.value:
        if k.tag == _MERGE:
            for merged in v.value if isinstance(v, yaml.SequenceNode) else [v]:
                if found := _get(merged, key):
                    return found
    return None


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    found = _get(node, key)
    return found[1] if found else None


def _scalar(node: yaml.Node | None) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.tag != _NULL and node.value != "":
        return str(node.value)
    return None


def _items(node: yaml.Node | None) -> Iterator[tuple[str, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE:
                yield str(k.value), v


def _plain(node: yaml.Node | None) -> Any:
    """A mapping of scalars (a source) as plain data."""
    if isinstance(node, yaml.MappingNode):
        return {k: _plain(v) for k, v in _items(node)}
    return _scalar(node)


def _docker_marker(url: str, versioning: str, chart: str | None = None) -> Marker:
    dep = url.removeprefix("oci://").rstrip("/")
    return Marker("docker", f"{dep}/{chart}" if chart else dep, versioning=versioning)


class _Finder:
    """Walks one stack file's `config` node, collecting its pins and what blocks marking."""

    def __init__(self, name: str, config: yaml.Node, presets_dir: Path) -> None:
        self.name = name
        self.presets_dir = presets_dir
        self.pins: list[Pin] = []
        self.errors: list[str] = []
        self._presets: dict[str, dict[str, Any] | None] = {}
        root = dict(_items(config))
        self.sources = {k: _plain(v) for k, v in _items(root.get("gitops:sources"))}
        self._flux(root.get("gitops:flux"))
        for name_, node in _items(root.get("gitops:sources")):
            self._source_tag(f"gitops:sources.{name_}", node, self.sources[name_])
        for layer, node in _items(root.get("gitops:layers")):
            self._unit(f"gitops:layers.{layer}", node)
            for unit, below in _items(_value(node, "units")):
                self._unit(f"gitops:layers.{layer}.units.{unit}", below)

    def error(self, node: yaml.Node, path: str, value: str, problem: str) -> None:
        self.errors.append(f"{self.name}:{node.start_mark.line + 1}: {path} {value!r}: {problem}")

    def pin(self, holder: yaml.Node | None, path: str, key: str, marker: Marker) -> None:
        found = _get(holder, key)
        value = _scalar(found[1]) if found else None
        if found and value:
            mapping, node = found
            flow = bool(mapping.flow_style)
            self.pins.append(Pin(f"{path}.{key}", value, node.start_mark.line, marker, flow))

    def _flux(self, node: yaml.Node | None) -> None:
        version = _scalar(_value(node, "version")) or ""
        if is_exact_version(version):
            # Tags are `vX.Y.Z`: a pin written `X.Y.Z` has the `v` cut off the tag.
            extract = None if version.startswith("v") else FLUX_EXTRACT_VERSION
            marker = Marker("github-releases", "fluxcd/flux2", extract_version=extract)
            self.pin(node, "gitops:flux", "version", marker)

    def _source_tag(self, path: str, node: yaml.Node, spec: Any) -> None:
        """A tag an `oci` or `git` source pins (`ref: {tag: ...}`): always exact."""
        if not isinstance(spec, dict) or not isinstance(url := spec.get("url"), str):
            return
        ref = _value(node, "ref")
        if spec.get("type") == "oci" and url.startswith("oci://"):
            self.pin(ref, f"{path}.ref", "tag", _docker_marker(url, "docker"))
        elif spec.get("type") == "git":
            github = _GITHUB.fullmatch(url)
            marker = Marker("github-tags", github[1]) if github else Marker("git-tags", url)
            self.pin(ref, f"{path}.ref", "tag", marker)

    def _unit(self, path: str, node: yaml.Node) -> None:
        images = _value(node, "images")
        for i, item in enumerate(images.value if isinstance(images, yaml.SequenceNode) else []):
            image = _scalar(_value(item, "newName")) or _scalar(_value(item, "name"))
            if image:
                marker = Marker("docker", image, versioning="docker")
                self.pin(item, f"{path}.images[{i}]", "newTag", marker)
        at = _value(node, "version")
        version = _scalar(at)
        if at is None or not version or not is_exact_version(version):
            return
        if chart := self._chart_marker(path, node, at, version):
            self.pin(node, path, "version", chart)

    def _preset(self, node: yaml.Node, path: str, name: str) -> dict[str, Any] | None:
        """The preset's keys; None (reported) when there is no such preset or it is unreadable."""
        if name in self._presets:
            return self._presets[name]
        file = self.presets_dir / f"{name}.yaml"
        preset: dict[str, Any] | None = None
        if not _PRESET_NAME.fullmatch(name) or not file.is_file():
            known = ", ".join(sorted(p.stem for p in self.presets_dir.glob("*.yaml"))) or "none"
            problem = f"no such preset in {self.presets_dir} (expected one of: {known})"
            self.error(node, f"{path}.preset", name, problem)
        else:
            try:
                docs = load_documents(file)
            except ConfigError as err:
                self.error(node, f"{path}.preset", name, f"cannot be read: {err}")
                docs = []
            if docs and isinstance(docs[0], dict):
                preset = docs[0]
            elif docs:
                self.error(node, f"{path}.preset", name, f"{file} is not a mapping")
        self._presets[name] = preset
        return preset

    def _chart_marker(
        self, path: str, unit: yaml.Node, at: yaml.Node, version: str
    ) -> Marker | None:
        """The marker of a unit's chart `version`; None when the chart or its source cannot be
        told (reported) or the source is not a chart registry (an OCI artifact, Git)."""
        preset: dict[str, Any] | None = {}
        if (name := _scalar(node := _value(unit, "preset"))) and node is not None:
            preset = self._preset(node, path, name)
        if preset is None:
            return None
        chart = _scalar(_value(unit, "chart")) or preset.get("chart")
        given = preset.get("source")
        preset_source = given if isinstance(given, dict) else {}
        written = _value(unit, "source")
        named = _plain(written) if written is not None else preset_source.get("name")
        source: Any
        if isinstance(named, dict):
            source = named  # written out in the unit
        elif named in self.sources:
            source = self.sources[named]
        elif named is not None and named == preset_source.get("name"):
            source = preset_source
        else:
            why = f"source {named!r} is not in gitops:sources" if named else "no source"
            problem = f"cannot tell which chart it pins: {why}; expected source or preset"
            self.error(at, f"{path}.version", version, problem)
            return None
        if not chart:
            problem = "cannot tell which chart it pins: no chart; expected chart or preset"
            self.error(at, f"{path}.version", version, problem)
            return None
        if not isinstance(source, dict):
            problem = f"its source {named!r} is not a mapping; expected {{type: ..., url: ...}}"
            self.error(at, f"{path}.version", version, problem)
            return None
        kind, url = source.get("type") or "helm", str(source.get("url") or "")
        if kind in ("oci", "git"):
            return None  # an artifact or a Git repository: no registry lists chart versions
        if kind == "helm" and url.startswith("oci://"):
            return _docker_marker(url, "helm", str(chart))
        if kind == "helm" and url.startswith(("https://", "http://")):
            return Marker("helm", str(chart), registry_url=url, versioning="helm")
        problem = (
            f"its source has type {kind!r} and url {url!r}; expected type helm with an "
            "https:// or oci:// url (or type oci or git)"
        )
        self.error(at, f"{path}.version", version, problem)
        return None


def _config_node(text: str, name: str) -> yaml.Node | None:
    try:
        root = yaml.compose(text.removeprefix(BOM), Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:  # read_stack_file accepted it: only a parser difference
        raise ConfigError(f"{name}: not valid YAML: {' '.join(str(err).split())}") from None
    return _value(root, "config")


def _find(path: Path, presets_dir: Path) -> tuple[str, list[Pin], list[str]]:
    read_stack_file(path)  # refuses hostile or broken files before anything walks them
    text = read_text(path)
    config = _config_node(text, path.name)
    if config is None:
        return text, [], []
    finder = _Finder(path.name, config, presets_dir)
    return text, sorted(finder.pins, key=lambda p: p.line), finder.errors


def stack_pins(path: Path, *, presets_dir: Path = PRESETS_DIR) -> tuple[list[Pin], list[str]]:
    """(pins, errors) of a stack file: every exact value it pins, with its marker, and what
    cannot be marked for a reason other than style (unknown chart, source or preset)."""
    _, pins, errors = _find(path, presets_dir)
    return pins, errors


# --- marking ------------------------------------------------------------------------------------


def _shape_problem(pin: Pin, line: str, regex: re.Pattern[str]) -> str | None:
    """Why renovate.json's regex would not read `pin` under its marker; None when it would."""
    if pin.flow:
        return (
            "sits in a flow mapping ({...}), where no line comment can go; write the entry "
            f"in block style (one key per line, '{pin.key}: {pin.value}' on its own line) "
            "so a '# renovate:' marker can go above it"
        )
    parsed = parse_line(pin.line, line)
    found = regex.match(f"{pin.marker.text()}\n{line}")
    if (
        parsed is None
        or parsed.key != pin.key
        or parsed.value != pin.value
        or found is None
        or found["currentValue"] != pin.value
    ):
        return (
            f"is not written as '{pin.key}: {pin.value}' on one line; write it so (plain or "
            "quoted, without anchor, alias or tag) so a '# renovate:' marker can go above it"
        )
    return None


def _marker_above(lines: list[str], index: int) -> tuple[int, str] | None:
    """(line, comment) of the `# renovate:` comment the regex would pair with line `index`:
    the nearest line above that is not blank."""
    j = index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    comment = strip_cr(lines[j]).strip() if j >= 0 else ""
    return (j, comment) if comment.startswith("# renovate:") else None


def mark_stack_file(
    path: Path, *, write: bool = True, presets_dir: Path = PRESETS_DIR
) -> MarkerReport:
    """Check (and with `write`, add or refresh) the `# renovate:` marker above each exact pin of
    a stack file. Only marker lines change; the file is written atomically, and only if a
    marker changed. Pins that cannot carry a marker are listed in `errors`; the rest are still
    marked. Raises ConfigError when the file cannot be read."""
    text, pins, errors = _find(path, presets_dir)
    report = MarkerReport(path, errors=errors)
    if pins and _ODD_BREAK.search(text):
        raise ConfigError(
            f"{path.name}: has line breaks other than \\n and \\r\\n (a lone \\r, U+0085, "
            "U+2028 or U+2029); expected \\n or \\r\\n line ends"
        )
    lines = text.split("\n")
    regex = comment_regex()
    edits: dict[int, tuple[bool, str]] = {}  # line -> (insert before it?, marker line)
    placed: dict[int, Pin] = {}
    for pin in pins:
        line = strip_cr(lines[pin.line])
        where = f"{path.name}:{pin.line + 1}: {pin.key_path} {pin.value!r}"
        if other := placed.get(pin.line):
            if other.marker != pin.marker:
                report.errors.append(
                    f"{where}: is shared with {other.key_path} (through a merge key), which "
                    f"needs another marker; write the value out in each place"
                )
            continue
        placed[pin.line] = pin
        if problem := _shape_problem(pin, line, regex):
            report.errors.append(f"{where}: {problem}")
            continue
        expected = pin.marker.text()
        cr = "\r" if lines[pin.line].endswith("\r") else ""
        above = _marker_above(lines, pin.line)
        if above is None:
            indent = line[: len(line) - len(line.lstrip(" "))]
            edits[pin.line] = (True, f"{indent}{expected}{cr}")
            verb = "added" if write else "has no renovate marker; expected"
            report.problems.append(f"{where}: {verb} '{expected}' on the line above")
            continue
        j, comment = above
        found = Marker.parse(comment)
        if found is not None and pin.marker.accepts(found):
            continue
        if found is not None and found.versioning:
            expected = replace(pin.marker, versioning=found.versioning).text()
        old = strip_cr(lines[j])
        edits[j] = (False, f"{old[: len(old) - len(old.lstrip())]}{expected}{cr}")
        verb = "refreshed" if write else "has a stale renovate marker"
        report.problems.append(f"{where}: {verb} '{comment}' (line {j + 1}); expected '{expected}'")
    for index in sorted(edits, reverse=True):
        insert, new = edits[index]
        if insert:
            lines.insert(index, new)
        else:
            lines[index] = new
    report.changed = bool(edits)
    if write and edits:
        write_atomic(path, "\n".join(lines))
    return report
