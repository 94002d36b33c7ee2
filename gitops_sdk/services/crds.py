"""Validate manifests against CustomResourceDefinition schemas (the same check the API server
makes for structure, types, enums and patterns; CEL rules are the models' job).

Files are read with `yaml_lines.load_documents` (size, encoding, depth and alias caps). A file or
document that cannot be checked is an error naming it and, in a file of several, the document;
the other files are still checked (`check_tree`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from gitops_sdk.core.errors import ConfigError, GitopsError, shape_of
from gitops_sdk.services.yaml_lines import load_documents, yaml_files

__all__ = [
    "KUSTOMIZE_FILES",
    "CrdSet",
    "Schemas",
    "TreeReport",
    "check_tree",
    "load_crd_schemas",
    "load_crds",
    "manifest_problem",
    "python_pattern",
    "validate_manifest",
    "validate_tree",
]


Schemas = dict[tuple[str, str], dict[str, Any]]

KUSTOMIZE_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
"""kustomize's own config files: they may leave out apiVersion and kind."""


@dataclass
class CrdSet:
    """The schemas the CRDs in some files serve, and what was wrong with those files."""

    schemas: Schemas = field(default_factory=dict)
    """Schema of each served version, by (apiVersion, kind)."""
    errors: list[str] = field(default_factory=list)
    """One line per file or CRD that could not be read."""


def _kind_of(value: Any) -> str:
    """A whole document by its type only: its text may be anything, a secret included."""
    if isinstance(value, (Mapping, list)) or value is None:
        return shape_of(value)
    return f"a scalar ({type(value).__name__})"


_FLAG_GROUP = re.compile(r"\(\?([imsU]+)\)")


def python_pattern(pattern: str) -> str:
    """A CRD `pattern` (Go's RE2 syntax) as Python's `re` reads it. RE2 lets a flag group such
    as `(?i)` stand mid-expression, applying to the rest of its group; Python only takes those at
    the start, so each becomes a scoped `(?i:...)` that ends where the group or an alternative
    ends: `^(?i)(abort|warn)$` -> `^(?i:(abort|warn)$)`."""
    out: list[str] = []
    scoped: list[list[str]] = [[]]  # per open group: the scoped flag groups to close with it
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            # A `]` first in a class (after an optional `^`) is a literal, not its end.
            start = i + 1 + (pattern[i + 1 : i + 2] == "^")
            start += pattern[start : start + 1] == "]"
            out.append(pattern[i:start])
            i = start
            continue
        flags = _FLAG_GROUP.match(pattern, i)
        if flags and i > 0 and "U" not in flags[1]:
            out.append(f"(?{flags[1]}:")
            scoped[-1].append(flags[1])
            i = flags.end()
            continue
        if c == "(":
            scoped.append([])
        elif c == ")" and len(scoped) > 1:
            out.append(")" * len(scoped.pop()))
        elif c == "|" and scoped[-1]:
            out.append(")" * len(scoped[-1]) + "|" + "".join(f"(?{f}:" for f in scoped[-1]))
            i += 1
            continue
        out.append(c)
        i += 1
    out.append(")" * len(scoped[0]))
    return "".join(out)


_SUBSCHEMA = ("items", "additionalProperties", "additionalItems", "not", "contains")
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def _python_patterns(schema: Any) -> Any:
    """`schema` with every `pattern` (and `patternProperties` key) read by `python_pattern`."""
    if isinstance(schema, list):
        return [_python_patterns(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = dict(schema)
    if isinstance(out.get("pattern"), str):
        out["pattern"] = python_pattern(out["pattern"])
    for key in _SUBSCHEMA + _SCHEMA_LISTS:
        if key in out:
            out[key] = _python_patterns(out[key])
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), Mapping):
            rename = python_pattern if key == "patternProperties" else str
            out[key] = {
                rename(k) if isinstance(k, str) else k: _python_patterns(v)
                for k, v in out[key].items()
            }
    return out


def _crd_versions(doc: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(apiVersion, kind, schema) of each served version; ConfigError naming the bad field."""
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    where = f"CustomResourceDefinition {name!r}" if isinstance(name, str) else "CRD"

    def bad(path: str, value: Any, expected: str) -> ConfigError:
        shown = "is missing" if value is None else f"is {shape_of(value)}"
        return ConfigError(f"{where}: {path} {shown}; expected {expected}")

    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise bad("spec", spec, "a mapping with group, names and versions")
    group = spec.get("group")
    if not isinstance(group, str) or not group:
        raise bad("spec.group", group, "the API group, e.g. 'source.toolkit.fluxcd.io'")
    names = spec.get("names")
    kind = names.get("kind") if isinstance(names, Mapping) else None
    if not isinstance(kind, str) or not kind:
        raise bad("spec.names.kind", kind, "the kind the CRD serves, e.g. 'GitRepository'")
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        hint = " (apiextensions.k8s.io/v1beta1 is not read)" if "validation" in spec else ""
        raise bad("spec.versions", versions, f"a non-empty list of versions{hint}")
    out = []
    for i, version in enumerate(versions):
        at = f"spec.versions[{i}]"
        if not isinstance(version, Mapping):
            raise bad(at, version, "a mapping with name, served and schema")
        vname = version.get("name")
        if not isinstance(vname, str) or not vname:
            raise bad(f"{at}.name", vname, "the version name, e.g. 'v1'")
        served = version.get("served", True)
        if not isinstance(served, bool):
            raise bad(f"{at}.served", served, "true or false")
        if not served:
            continue
        holder = version.get("schema")
        schema = holder.get("openAPIV3Schema") if isinstance(holder, Mapping) else None
        if not isinstance(schema, Mapping):
            raise bad(f"{at}.schema.openAPIV3Schema", schema, "the version's OpenAPI v3 schema")
        schema = _python_patterns(schema)
        try:
            jsonschema.Draft7Validator.check_schema(schema)
        except jsonschema.SchemaError as err:
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.path)
            raise ConfigError(
                f"{where}: {at}.schema.openAPIV3Schema{path} is not a valid schema: "
                + _one_line(err.message)
            ) from None
        except RecursionError:
            raise ConfigError(
                f"{where}: {at}.schema.openAPIV3Schema is nested too deeply to check"
            ) from None
        out.append((f"{group}/{vname}", kind, schema))
    return out


def load_crds(paths: Iterable[Path]) -> CrdSet:
    """Read CRDs from YAML files or folders; a bad file or CRD is an error and the rest are
    still read. Documents of other kinds are passed over (install bundles mix them in)."""
    found = CrdSet()
    files, found.errors = yaml_files(paths)
    for file in files:
        try:
            docs = load_documents(file)
        except GitopsError as err:
            found.errors.append(str(err))
            continue
        for i, doc in enumerate(docs, 1):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            try:
                for api_version, kind, schema in _crd_versions(doc):
                    found.schemas[(api_version, kind)] = dict(schema)
            except ConfigError as err:
                found.errors.append(f"{file}: document {i}: {err}")
    return found


def load_crd_schemas(paths: Iterable[Path]) -> Schemas:
    """Read CRDs from YAML files or folders; key the served versions by (apiVersion, kind).
    Strict: the first bad file or CRD is a ConfigError (`load_crds` reports them all)."""
    found = load_crds(paths)
    if found.errors:
        raise ConfigError(found.errors[0])
    return found.schemas


def validate_manifest(doc: Mapping[str, Any], schemas: Schemas) -> list[str]:
    """Schema errors of one manifest as `path: message` lines; empty when valid or unknown."""
    schema = schemas.get((str(doc.get("apiVersion")), str(doc.get("kind"))))
    if schema is None:
        return []
    validator = jsonschema.Draft7Validator(schema)
    try:
        errors = list(validator.iter_errors(dict(doc)))
    except Exception as err:  # the schema and the document are both user input
        # A pattern Python's re cannot compile, a `$ref` the API server would have refused, a
        # mapping key that is not a string: a problem of this document, not a crash.
        return [f"(object): cannot be checked against the CRD schema: {_one_line(str(err))}"]
    out = []
    for error in sorted(errors, key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.absolute_path) or "(object)"
        out.append(f"{path}: {_one_line(error.message)}")
    return out


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def manifest_problem(doc: Any, file: Path) -> str | None:
    """Why a YAML document is not a Kubernetes object, or None when it looks like one."""
    if not isinstance(doc, Mapping):
        return f"is {_kind_of(doc)}; expected a Kubernetes object (a mapping with apiVersion, kind)"
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if file.name in KUSTOMIZE_FILES and api_version is None and kind is None:
        return None
    missing = [k for k, v in (("apiVersion", api_version), ("kind", kind)) if v is None]
    if missing:
        return (
            f"has no {' and no '.join(missing)}; expected a Kubernetes object with apiVersion "
            "and kind, e.g. apiVersion: v1, kind: ConfigMap"
        )
    for key, value in (("apiVersion", api_version), ("kind", kind)):
        if not isinstance(value, str) or not value:
            return f"{key} is {shape_of(value)}; expected a non-empty string"
    meta = doc.get("metadata")
    if meta is not None and not isinstance(meta, Mapping):
        return f"{kind}: metadata is {shape_of(meta)}; expected a mapping with name (and namespace)"
    return None


@dataclass
class TreeReport:
    """What `check_tree` found."""

    problems: list[str] = field(default_factory=list)
    """Documents that break their CRD's schema: `file: Kind 'name': path: message`."""
    errors: list[str] = field(default_factory=list)
    """Files, documents and CRDs that could not be checked, one line each."""
    checked: int = 0
    """Documents checked against a CRD schema."""
    crds: int = 0
    """Served CRD versions read; none makes the check meaningless (then an error says so)."""


def check_tree(roots: Path | Sequence[Path], crds: Path | Sequence[Path] | CrdSet) -> TreeReport:
    """Validate every YAML document under `roots` against the CRDs in `crds` (folders or files,
    or a `CrdSet` already read);
    documents of kinds no CRD there serves are not checked. Empty files inside folders are
    passed over (Flux's bootstrap layout has them); a file named on its own must hold objects."""
    if isinstance(crds, CrdSet):
        found, shown = crds, "the CRD files"
    else:
        crd_paths = [crds] if isinstance(crds, Path) else list(crds)
        found, shown = load_crds(crd_paths), ", ".join(str(p) for p in crd_paths)
    report = TreeReport(errors=list(found.errors), crds=len(found.schemas))
    if not found.schemas:
        report.errors.append(f"{shown}: no CustomResourceDefinitions found")
        return report
    root_paths = [roots] if isinstance(roots, Path) else list(roots)
    files, missing = yaml_files(root_paths)
    report.errors.extend(missing)
    named = set(root_paths)
    for file in files:
        try:
            docs = load_documents(file)
        except GitopsError as err:
            report.errors.append(str(err))
            continue
        if file in named and not any(d is not None for d in docs):
            report.errors.append(f"{file}: holds no YAML documents; expected Kubernetes objects")
        for i, doc in enumerate(docs, 1):
            if doc is None:
                continue
            problem = manifest_problem(doc, file)
            if problem is not None:
                report.errors.append(f"{file}: document {i}: {problem}")
                continue
            if file.name in KUSTOMIZE_FILES and doc.get("kind") is None:
                continue
            name = (doc.get("metadata") or {}).get("name")
            shown = shape_of(name) if name is not None else f"(document {i}, no name)"
            lines = validate_manifest(doc, found.schemas)
            report.checked += (str(doc["apiVersion"]), str(doc["kind"])) in found.schemas
            report.problems.extend(f"{file}: {doc['kind']} {shown}: {line}" for line in lines)
    return report


def validate_tree(root: Path, crds: Path | Sequence[Path]) -> list[str]:
    """`check_tree` as one list of lines, errors first; a ConfigError when no CRD is found."""
    report = check_tree(root, crds)
    if not report.crds:
        raise ConfigError(report.errors[-1])
    return [*report.errors, *report.problems]
