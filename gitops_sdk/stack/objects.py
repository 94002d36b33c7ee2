"""`gitops:objects`: objects a stack registers as written, once Flux is installed.

```yaml
gitops:objects:
  - apiVersion: source.extensions.fluxcd.io/v1beta1
    kind: ArtifactGenerator
    metadata: {name: flux-system, namespace: flux-system}
    spec: {...}
```

`gitops import` puts here what a repository holds that is neither a unit nor a named source,
and says why for each. Flux kinds are loaded with `from_manifest` (so the stack's graph check
sees their references); other kinds are custom resources (apiVersion, kind, metadata, spec),
Namespaces, or ConfigMaps (data). Secrets are refused: their values do not belong in a stack
file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import pulumi
from pydantic import AfterValidator

from gitops_sdk.api.kinds import from_manifest
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.resource import FluxKey, flux_key, refuse_unsubstituted, register
from gitops_sdk.core.errors import GitopsError
from gitops_sdk.core.fields import FreeObject
from gitops_sdk.core.model import FluxObject

__all__ = ["RawObject", "flux_objects", "object_key", "register_objects"]

_META = {"name", "namespace", "labels", "annotations"}


def _is_flux(doc: Mapping[str, Any]) -> bool:
    return str(doc.get("apiVersion", "")).rpartition("/")[0].endswith(".toolkit.fluxcd.io")


def _check_object(doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc.get("metadata")
    if not (
        isinstance(doc.get("apiVersion"), str)
        and isinstance(doc.get("kind"), str)
        and isinstance(meta, dict)
        and isinstance(meta.get("name"), str)
    ):
        raise ValueError("expected a Kubernetes object with apiVersion, kind and metadata.name")
    if extra := sorted(set(meta) - _META):
        raise ValueError(f"metadata has {', '.join(extra)}; expected {', '.join(sorted(_META))}")
    kind = doc["kind"]
    if _is_flux(doc):
        try:
            refuse_unsubstituted(from_manifest(doc))
        except GitopsError as err:
            raise ValueError(str(err)) from None
        return doc
    if doc["apiVersion"] == "v1" and kind == "Secret":
        raise ValueError(
            "is a Secret: its values do not belong in a stack file; create it "
            "outside the stack (e.g. `gitops secrets`) or keep it in a unit's folder"
        )
    allowed = {"apiVersion", "kind", "metadata"}
    allowed |= {"data"} if doc["apiVersion"] == "v1" and kind == "ConfigMap" else {"spec"}
    if extra := sorted(set(doc) - allowed):
        raise ValueError(f"has {', '.join(extra)}; expected only {', '.join(sorted(allowed))}")
    return doc


RawObject = Annotated[FreeObject, AfterValidator(_check_object)]
"""One object of `gitops:objects`."""


def object_key(doc: Mapping[str, Any], default_ns: str) -> tuple[str, str, str, str]:
    """(API group, kind, namespace, name); a Flux object without a namespace is in the Flux
    namespace (where it is registered)."""
    meta = doc.get("metadata") or {}
    group = str(doc.get("apiVersion", "")).rpartition("/")[0]
    ns = meta.get("namespace") or (default_ns if _is_flux(doc) else "")
    return (group, str(doc.get("kind")), str(ns), str(meta.get("name")))


def flux_objects(objects: Sequence[Mapping[str, Any]], namespace: str) -> list[FluxObject]:
    """The Flux objects among `objects`, as models, each in `namespace` unless it names one."""
    out = []
    for doc in objects:
        if _is_flux(doc):
            meta = {**doc["metadata"]}
            meta.setdefault("namespace", namespace)
            out.append(from_manifest({**doc, "metadata": meta}))
    return out


def register_objects(
    objects: Sequence[Mapping[str, Any]],
    namespace: str,
    opts: pulumi.ResourceOptions | None,
    resources: Mapping[FluxKey, pulumi.Resource],
) -> dict[FluxKey, pulumi.Resource]:
    """Register `objects` in order (an object after the Namespace of `objects` it lives in);
    Flux objects as Flux resources (`resources` resolve their references to other Flux
    objects), returned by their key."""
    made: dict[FluxKey, pulumi.Resource] = {}
    namespaces: dict[str, pulumi.Resource] = {}
    flux = iter(flux_objects(objects, namespace))
    for doc in objects:
        meta = dict(doc["metadata"])
        ns = meta.get("namespace")
        after = [namespaces[ns]] if ns in namespaces else []
        here = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=after))
        name = f"object-{str(doc['kind']).lower()}-{ns or '_'}-{meta['name']}"
        if _is_flux(doc):
            model = next(flux)
            made[flux_key(model)] = register(
                model, here, name=name, resources={**resources, **made}
            )
        else:
            if doc["kind"] == "ConfigMap" and doc["apiVersion"] == "v1":
                data = {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
                doc = {**doc, "data": data}
            res = KubeObject(name, {**doc, "metadata": meta}, here)
            if doc["kind"] == "Namespace" and doc["apiVersion"] == "v1":
                namespaces[meta["name"]] = res
    return made
