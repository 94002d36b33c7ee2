"""Kustomize patches and Flux post-build substitution on plain manifests (dicts), for reading a
Flux repository the way kustomize and kustomize-controller would build it.

Strategic merge patches are applied as kustomize applies them to custom resources (no patch
strategy in their schema): mappings merge, lists are replaced, `null` deletes a key, and
`$patch: delete` removes the object. Built-in kinds get the same treatment, which is enough to
find the Flux objects of a repository (their own lists merge by key in kustomize).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from gitops_sdk.core.errors import ConfigError
from gitops_sdk.core.substitution import DEFAULT_OPERATORS, scan, substitution_disabled

__all__ = [
    "CannotSubstitute",
    "apply_json6902",
    "delete_patch",
    "is_delete",
    "matches",
    "merge_patch",
    "patch_targets",
    "substitute",
]


class CannotSubstitute(Exception):
    """A value Flux's substitution would compute from something the import cannot know."""


# --- selecting objects -----------------------------------------------------------------------


def _group_version(doc: Mapping[str, Any]) -> tuple[str, str]:
    api = str(doc.get("apiVersion", ""))
    group, _, version = api.rpartition("/")
    return group, version


def _selector_match(selector: str, values: Mapping[str, Any]) -> bool:
    """Equality-based label selector (`a=b,c!=d,e,!f`), as kustomize targets use them."""
    for term in (t.strip() for t in selector.split(",") if t.strip()):
        if "!=" in term:
            key, _, value = term.partition("!=")
            if values.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, _, value = term.partition("=")
            if values.get(key.strip().rstrip("=")) != value.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in values:
                return False
        elif term not in values:
            return False
    return True


def matches(doc: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    """Whether a kustomize patch `target` (group, version, kind, name and namespace as
    anchored regexps, labelSelector, annotationSelector) selects `doc`."""
    group, version = _group_version(doc)
    meta = doc.get("metadata") or {}
    fields = {
        "group": group,
        "version": version,
        "kind": doc.get("kind", ""),
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace") or "",
    }
    for key, actual in fields.items():
        wanted = target.get(key)
        if wanted is None or wanted == "":
            continue
        if not re.fullmatch(str(wanted), str(actual)):
            return False
    labels = target.get("labelSelector")
    if labels and not _selector_match(str(labels), meta.get("labels") or {}):
        return False
    notes = target.get("annotationSelector")
    return not (notes and not _selector_match(str(notes), meta.get("annotations") or {}))


def patch_targets(patch: Mapping[str, Any]) -> dict[str, Any]:
    """The target a strategic merge patch names itself (kind, name, namespace, group)."""
    meta = patch.get("metadata") or {}
    group, version = _group_version(patch)
    out: dict[str, Any] = {"kind": patch.get("kind"), "name": re.escape(str(meta.get("name")))}
    if meta.get("namespace"):
        out["namespace"] = re.escape(str(meta["namespace"]))
    if patch.get("apiVersion"):
        out["group"], out["version"] = re.escape(group), re.escape(version)
    return out


# --- applying patches ------------------------------------------------------------------------


def is_delete(patch: Mapping[str, Any]) -> bool:
    return patch.get("$patch") == "delete"


def merge_patch(doc: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` with the strategic merge patch applied (a new object)."""

    def merge(base: Any, change: Any) -> Any:
        if not isinstance(change, Mapping):
            return copy.deepcopy(change)
        if change.get("$patch") == "replace":
            return {k: copy.deepcopy(v) for k, v in change.items() if k != "$patch"}
        out = dict(base) if isinstance(base, Mapping) else {}
        for key, value in change.items():
            if key == "$patch":
                continue
            if value is None:
                out.pop(key, None)
            else:
                out[key] = merge(out.get(key), value)
        return out

    patched: dict[str, Any] = merge(doc, {k: v for k, v in patch.items() if k != "apiVersion"})
    return patched


def _pointer(path: str, where: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ConfigError(f"{where}: JSON6902 path {path!r} does not start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], where: str, path: str) -> Any:
    node = doc
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise ConfigError(f"{where}: JSON6902 path {path!r} does not exist in the object")
    return node


def _put(doc: Any, path: str, value: Any, where: str, *, replace: bool) -> None:
    parts = _pointer(path, where)
    if not parts:
        raise ConfigError(f"{where}: JSON6902 path '' would replace the whole object")
    parent = _walk(doc, parts[:-1], where, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise ConfigError(f"{where}: JSON6902 replace path {path!r} does not exist")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = value
            else:
                parent.insert(int(last), value)
        else:
            raise ConfigError(f"{where}: JSON6902 path {path!r}: no such list index")
    else:
        raise ConfigError(f"{where}: JSON6902 path {path!r} does not name a field or index")


def _remove(doc: Any, path: str, where: str) -> Any:
    parts = _pointer(path, where)
    parent = _walk(doc, parts[:-1], where, path)
    last = parts[-1] if parts else ""
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise ConfigError(f"{where}: JSON6902 remove path {path!r} does not exist")


def apply_json6902(doc: dict[str, Any], ops: list[Any], where: str) -> dict[str, Any]:
    """`doc` with JSON6902 operations applied (a new object)."""
    out = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, Mapping) or not isinstance(op.get("op"), str):
            raise ConfigError(f"{where}: JSON6902 operation {op!r} has no 'op'")
        kind, path = op["op"], str(op.get("path", ""))
        if kind in ("add", "replace"):
            _put(out, path, copy.deepcopy(op.get("value")), where, replace=kind == "replace")
        elif kind == "remove":
            _remove(out, path, where)
        elif kind in ("move", "copy"):
            source = str(op.get("from", ""))
            if kind == "move":
                value = _remove(out, source, where)
            else:
                value = copy.deepcopy(_walk(out, _pointer(source, where), where, source))
            _put(out, path, value, where, replace=False)
        elif kind == "test":
            if _walk(out, _pointer(path, where), where, path) != op.get("value"):
                raise ConfigError(f"{where}: JSON6902 test at {path!r} failed")
        else:
            raise ConfigError(
                f"{where}: JSON6902 op {kind!r} is not one of add, remove, replace, move, "
                "copy, test"
            )
    return out


def delete_patch(doc: Mapping[str, Any]) -> str:
    """The text of a strategic merge patch that leaves `doc` out of a kustomize build."""
    meta = doc.get("metadata") or {}
    lines = [
        "$patch: delete",
        f"apiVersion: {doc['apiVersion']}",
        f"kind: {doc['kind']}",
        "metadata:",
        f"  name: {_quoted(str(meta['name']))}",
    ]
    if meta.get("namespace"):
        lines.append(f"  namespace: {_quoted(str(meta['namespace']))}")
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return text if re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", text) else f"'{text}'"


# --- Flux post-build substitution --------------------------------------------------------------


def _expand(text: str, variables: Mapping[str, str], *, escapes: bool = True) -> str:
    if "$" not in text:
        return text
    found = scan(text, escapes=escapes)
    if found.error is not None:
        raise CannotSubstitute(f"{text!r}: {found.error}")
    out = found.literals[0]
    for expr, literal in zip(found.expressions, found.literals[1:], strict=True):
        value = variables.get(expr.name)
        default = _expand(expr.default, variables, escapes=False) if expr.default else ""
        if expr.operator == "":
            part = value or ""
        elif expr.operator in DEFAULT_OPERATORS - {":?", ":+"}:
            part = value if value else default
        elif expr.operator == ":+":
            part = default if value else ""
        elif expr.operator == ":?" and value:
            part = value
        else:
            raise CannotSubstitute(f"{text!r}: operator {expr.operator!r} of ${{{expr.name}}}")
        out += part + literal
    return out


def substitute(doc: dict[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    """`doc` as Flux's post-build substitution leaves it with `variables` (unset ones become
    empty or their default, as without strict substitution); unchanged when the object turns
    substitution off. Raises CannotSubstitute for expressions it does not evaluate."""
    if substitution_disabled(doc):
        return doc

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _expand(value, variables)
        if isinstance(value, dict):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    out: dict[str, Any] = walk(doc)
    return out
