"""Render mode (the Kubernetes provider's `renderYamlToDirectory`): YAML files instead of a
cluster. Those files are written as they are, so a Secret's values would land there in plain
text; in render mode every Secret is registered without them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

__all__ = ["RENDER_NOTE", "secrets_left_out", "without_secret_data"]

RENDER_NOTE = "gitops-sdk/render"
"""Annotation on a rendered Secret whose values were left out, listing its keys."""

_SECRET = "kubernetes:core/v1:Secret"
_DATA = ("data", "string_data", "stringData")


def without_secret_data(
    args: pulumi.ResourceTransformationArgs,
) -> pulumi.ResourceTransformationResult | None:
    """A transformation registering a Secret without its values (keys named in an annotation)."""
    if args.type_ != _SECRET:
        return None
    props = dict(args.props)
    keys: set[str] = set()
    for field in _DATA:
        section = props.pop(field, None)
        if isinstance(section, Mapping):
            keys |= {str(k) for k in section}
    meta = props.get("metadata")
    if isinstance(meta, Mapping):
        annotations: dict[str, Any] = dict(meta.get("annotations") or {})
        annotations[RENDER_NOTE] = f"data left out (keys: {', '.join(sorted(keys)) or 'unknown'})"
        props["metadata"] = {**meta, "annotations": annotations}
    return pulumi.ResourceTransformationResult(props, args.opts)


def secrets_left_out() -> None:
    """Register every Secret of this program without its values (call before any registration)."""
    pulumi.runtime.register_stack_transformation(without_secret_data)
