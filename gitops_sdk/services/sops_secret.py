"""The Kubernetes Secret a SOPS file describes: its shape (name, namespace, type, keys) read
from the encrypted file, where names and keys are plaintext, and its values from the decrypted
document. Errors name the file and the keys, never a value."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pydantic

from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError
from gitops_sdk.core.fields import Name, is_secret_key
from gitops_sdk.services.sops_config import SECRET_MANIFEST_REGEX
from gitops_sdk.services.sops_files import (
    Format,
    is_encrypted_value,
    is_secret_manifest,
    is_sops_key,
)

__all__ = ["SecretPlan", "is_secret_key", "plan_secret", "secret_values"]

_MANIFEST_FIELDS = {
    "apiVersion",
    "kind",
    "metadata",
    "type",
    "data",
    "stringData",
    "immutable",
    "sops",
}


@dataclass(frozen=True)
class SecretPlan:
    """What to register: everything but the values, which only sops knows."""

    name: str
    namespace: str | None
    type: str
    labels: dict[str, str]
    annotations: dict[str, str]
    immutable: bool | None
    data_keys: tuple[str, ...]
    string_keys: tuple[str, ...]
    manifest: bool


def plan_secret(
    component: str,
    doc: Any,
    fmt: Format,
    where: str,
    *,
    secret_name: str | None = None,
    namespace: str | None = None,
    type: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> SecretPlan:
    """The Secret's shape from the (encrypted) document of a file; the keyword arguments
    override what a Secret manifest says. `component` names the SopsSecret in errors."""
    labels = dict(labels or {})
    if isinstance(doc, dict) and is_encrypted_value(doc.get("kind")):
        raise SpecError(
            "SopsSecret",
            component,
            [
                FieldIssue(
                    f"{where}: kind",
                    MISSING,
                    "is encrypted too: encrypt Secret manifests with encrypted_regex "
                    f"{SECRET_MANIFEST_REGEX} so names and keys stay readable",
                )
            ],
        )
    if is_secret_manifest(doc):
        extra = sorted(set(doc) - _MANIFEST_FIELDS)
        meta = doc.get("metadata") or {}
        issues = [FieldIssue(k, MISSING, "is not a Secret field") for k in extra]
        file_ns = meta.get("namespace")
        if namespace and file_ns and file_ns != namespace:
            issues.append(
                FieldIssue("metadata.namespace", file_ns, f"differs from namespace={namespace!r}")
            )
        name = secret_name or meta.get("name")
        if not name:
            issues.append(FieldIssue("metadata.name", MISSING, "is not set; pass secret_name="))
        data = doc.get("data") or {}
        strings = doc.get("stringData") or {}
        for section, values in (("data", data), ("stringData", strings)):
            if not isinstance(values, dict):
                issues.append(FieldIssue(section, MISSING, "must be a mapping of key to value"))
        if issues:
            raise SpecError("SopsSecret", component, [_at(where, i) for i in issues])
        keys = [*data, *strings]
        _check_keys(component, where, keys)
        return SecretPlan(
            name=str(name),
            namespace=namespace or file_ns,
            type=type or str(doc.get("type") or "Opaque"),
            labels={**(meta.get("labels") or {}), **labels},
            annotations=dict(meta.get("annotations") or {}),
            immutable=doc.get("immutable"),
            data_keys=tuple(str(k) for k in data),
            string_keys=tuple(str(k) for k in strings),
            manifest=True,
        )
    if not isinstance(doc, dict):
        raise SpecError(
            "SopsSecret",
            component,
            [
                _at(
                    where,
                    FieldIssue(
                        "(document)",
                        MISSING,
                        "must be a Secret manifest or a mapping of key to value",
                    ),
                )
            ],
        )
    keys = [str(k) for k in doc if not is_sops_key(str(k), fmt)]
    _check_keys(component, where, keys)
    name = secret_name or component
    try:
        pydantic.TypeAdapter(Name).validate_python(name)
    except pydantic.ValidationError:
        raise SpecError(
            "SopsSecret",
            component,
            [FieldIssue("secretName", name, "is not a DNS-1123 subdomain; pass secret_name=")],
        ) from None
    return SecretPlan(name, namespace, type or "Opaque", labels, {}, None, (), tuple(keys), False)


def _at(where: str, issue: FieldIssue) -> FieldIssue:
    return FieldIssue(f"{where}: {issue.path}", issue.value, issue.problem)


def _check_keys(component: str, where: str, keys: Sequence[Any]) -> None:
    issues = [
        FieldIssue(str(k), MISSING, "is not a valid Secret key (letters, digits, '-', '_', '.')")
        for k in keys
        if not is_secret_key(str(k))
    ]
    if not keys:
        issues.append(FieldIssue("(document)", MISSING, "holds no keys"))
    if issues:
        raise SpecError("SopsSecret", component, [_at(where, i) for i in issues])


def _as_string(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return None


def secret_values(
    plan: SecretPlan, decrypted: Any, fmt: Format, where: str
) -> tuple[dict[str, str], dict[str, str]]:
    """(data, stringData) from the decrypted document; errors name keys, never values."""
    bad: list[str] = []
    data: dict[str, str] = {}
    strings: dict[str, str] = {}
    if plan.manifest:
        for key, value in (decrypted.get("data") or {}).items():
            if not isinstance(value, str) or not _is_base64(value):
                bad.append(f"data.{key} (not base64: put plaintext under stringData)")
            else:
                data[str(key)] = value
        source = decrypted.get("stringData") or {}
        prefix = "stringData."
    else:
        source = {k: v for k, v in decrypted.items() if not is_sops_key(str(k), fmt)}
        prefix = ""
    for key, value in source.items():
        text = _as_string(value)
        if text is None:
            kind = "null" if value is None else type(value).__name__
            bad.append(f"{prefix}{key} (a {kind}; a Secret value must be a string)")
        else:
            strings[str(key)] = text
    if bad:
        raise SpecError(
            "Secret", plan.name, [FieldIssue(where, MISSING, "bad values: " + "; ".join(bad))]
        )
    return data, strings


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True
