"""Outputs in a Flux object's spec, resolved at registration (see `core.inputs`).

A field that took an Output is registered as that Output, its resolved value checked like a
plain one; an error names the object and the field. HelmRelease values are different: an Output
there may hold a password, and a release's values sit in plain text in its spec, so each goes
to a Secret the SDK makes beside the release, which reads it through `valuesFrom`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import pulumi

from gitops_sdk.core.errors import GitopsError
from gitops_sdk.core.inputs import (
    PendingInput,
    any_pending,
    check_resolved,
    pending,
    tokens_in,
)

__all__ = ["ValuesSecret", "has_inputs", "resolve_inputs", "target_path"]

_TARGET_PATH = re.compile(r"^([a-zA-Z0-9_\-.\\/]|\[[0-9]{1,5}\])+$")
_KEY_CHARS = re.compile(r"[^-._a-zA-Z0-9]")


def has_inputs(spec: Any) -> bool:
    return any_pending() and next(tokens_in(spec), None) is not None


def target_path(path: tuple[str | int, ...]) -> str:
    """A values path in Helm's `--set` syntax: `a.b`, `list[0].c`, a dot in a key escaped."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part.replace(".", "\\.")
            out += f".{key}" if out else key
    return out


def _dotted(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _scalar(where: str) -> Callable[[Any], str]:
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (str, int, float)):
            return str(value)
        raise GitopsError(
            f"{where}: the Output resolved to {type(value).__name__}; expected text, a number "
            "or true/false"
        )

    return text


def _checked(item: PendingInput, where: str) -> Any:
    def check(value: Any) -> Any:
        try:
            return check_resolved(item, value)
        except ValueError as err:
            raise GitopsError(f"{where}: {err} (the value of a pulumi Output)") from None

    return item.output.apply(check)


def _replace(value: Any, at: str, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, f"{at}.{k}", where) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, f"{at}[{i}]", where) for i, v in enumerate(value)]
    if (item := pending(value)) is not None:
        return _checked(item, f"{where}: {at}")
    return value


def _drop(values: dict[str, Any], path: tuple[str | int, ...]) -> None:
    parent: Any = values
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = None  # keeps later list positions; the Secret's value replaces it


class ValuesSecret(NamedTuple):
    """The Secret a HelmRelease's Output values go to: its name and its data."""

    name: str
    data: dict[str, pulumi.Input[str]]


def resolve_inputs(
    kind: str, name: str, spec: dict[str, Any]
) -> tuple[dict[str, Any], ValuesSecret | None]:
    """The spec to register (Outputs in place of tokens) and, for a HelmRelease whose values
    hold Outputs, the Secret to make for them (the release must wait for it)."""
    where = f"{kind} {name!r}"
    secret: ValuesSecret | None = None
    values = spec.get("values")
    if kind == "HelmRelease" and isinstance(values, dict) and has_inputs(values):
        spec = {**spec, "values": copy.deepcopy(values)}
        secret_name = f"{name}-values"
        data: dict[str, pulumi.Input[str]] = {}
        refs = list(spec.get("valuesFrom", []))
        for path, token in tokens_in(values):
            tpath = target_path(path)
            if not _TARGET_PATH.fullmatch(tpath) or len(tpath) > 250:
                raise GitopsError(
                    f"{where}: spec.values.{_dotted(path)}: a pulumi Output goes to the release "
                    f"through valuesFrom targetPath, which cannot address {tpath!r}; rename the "
                    "key or pass a plain value"
                )
            key = _KEY_CHARS.sub("-", tpath)
            while key in data:
                key += "_"
            item = pending(token)
            assert item is not None
            at = f"{where}: spec.values.{_dotted(path)}"
            data[key] = _checked(item, at).apply(_scalar(at))
            # Whether the value is text is no secret: keep the release's spec readable.
            literal = pulumi.Output.unsecret(item.output).apply(lambda v: isinstance(v, str))
            refs.append(
                {
                    "kind": "Secret",
                    "name": secret_name,
                    "valuesKey": key,
                    "targetPath": tpath,
                    "literal": literal,
                }
            )
            _drop(spec["values"], path)
        spec["valuesFrom"] = refs
        if not spec["values"]:
            del spec["values"]
        secret = ValuesSecret(secret_name, data)
    return _replace(spec, "spec", where), secret
