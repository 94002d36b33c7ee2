"""A Kustomization unit rendered from its merged settings: a path in a Git or OCI source, with
the stack's image pins, replica and resource patches, substitutions and SOPS decryption."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.stack.units import (
    KUSTOMIZATION_AS_WRITTEN,
    ImageOverride,
    Resources,
    UnitConfig,
)

__all__ = ["render_kustomization"]


def render_kustomization(
    name: str,
    settings: UnitConfig,
    merged: Mapping[str, Any],
    *,
    path: str,
    source_ref: Any,
    substitute: Mapping[str, str],
    images: Sequence[ImageOverride],
    decryption_secret: Any,
    namespace: str,
    labels: Mapping[str, str],
    depends_on: Sequence[Kustomization],
) -> Kustomization:
    """The Kustomization `name`; `merged` is the defaults/layer/unit tuning. The unit's
    `source_ref` wins over the `source_ref` given."""
    spec: dict[str, Any] = {
        "interval": merged["interval"],
        "path": path,
        "prune": merged.get("prune", True),
        "source_ref": settings.source_ref.to_dict() if settings.source_ref else source_ref,
    }
    for key in ("retry_interval", "timeout", "wait", "target_namespace", "suspend"):
        if key in merged:
            spec[key] = merged[key]
    if depends_on:
        spec["depends_on"] = list(depends_on)
    if merged.get("decryption"):
        spec["decryption"] = {"provider": "sops", "secret_ref": decryption_secret}
    post_build = _post_build(settings, substitute)
    if post_build:
        spec["post_build"] = post_build
    if images:
        spec["images"] = [i.model_dump(by_alias=False, exclude_none=True) for i in images]
    patches = [*_patches(settings.replicas, settings.resources), *settings.patches]
    if patches:
        spec["patches"] = patches
    if settings.health_checks:
        spec["health_checks"] = [h.to_dict() for h in settings.health_checks]
    for field in KUSTOMIZATION_AS_WRITTEN:
        value = getattr(settings, field)
        if field in ("source_ref", "patches") or field.startswith("substitute_"):
            continue
        if value is not None and value != []:
            key = "decryption" if field == "decryption_spec" else field
            spec[key] = value
    return Kustomization(name=name, namespace=namespace, labels=dict(labels), **spec)


def _post_build(settings: UnitConfig, substitute: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if substitute:
        out["substitute"] = dict(sorted(substitute.items()))
    if settings.substitute_from:
        out["substitute_from"] = list(settings.substitute_from)
    if settings.substitute_strategy:
        out["substitute_strategy"] = settings.substitute_strategy
    return out


def _patches(
    replicas: Mapping[str, int], resources: Mapping[str, Resources]
) -> list[dict[str, Any]]:
    """Strategic-merge patches for replica counts and container resources, per Deployment."""
    out = []
    for name in sorted(set(replicas) | set(resources)):
        spec: dict[str, Any] = {}
        if name in replicas:
            spec["replicas"] = replicas[name]
        patch: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": spec,
        }
        if name in resources:
            res = resources[name]
            container = res.container or name
            spec["template"] = {
                "spec": {
                    "containers": [
                        {
                            "name": container,
                            "resources": res.model_dump(
                                exclude_none=True, include={"requests", "limits"}
                            ),
                        }
                    ]
                }
            }
        out.append(
            {
                "patch": yaml.safe_dump(patch, sort_keys=False),
                "target": {"kind": "Deployment", "name": name},
            }
        )
    return out
