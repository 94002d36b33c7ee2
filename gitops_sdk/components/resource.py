"""Flux objects as Pulumi resources: one `CustomResource` registration per Flux object.

The model is validated and rendered before anything is registered; references to other
Flux objects become Pulumi `depends_on` edges, so Pulumi applies a source before the
Kustomization that reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

import pulumi
from pulumi_kubernetes.apiextensions import CustomResource

from gitops_sdk.components.inputs import has_inputs, resolve_inputs
from gitops_sdk.components.kube_object import PROVIDER_VERSION, KubeObject
from gitops_sdk.core.errors import (
    ArgumentError,
    FieldIssue,
    GitopsError,
    SpecError,
    expect,
    expect_items,
)
from gitops_sdk.core.model import FluxObject
from gitops_sdk.core.order import dependency_order
from gitops_sdk.core.refs import flux_identity
from gitops_sdk.core.substitution import holds_placeholder

__all__ = [
    "PATCH_FORCE",
    "SKIP_AWAIT",
    "WAIT_READY",
    "FluxKey",
    "FluxResource",
    "await_annotations",
    "flux_key",
    "opaque_secret",
    "refuse_unsubstituted",
    "register",
    "register_all",
    "resource_name",
]


M = TypeVar("M", bound=FluxObject)

PATCH_FORCE = {"pulumi.com/patchForce": "true"}
"""On every Flux object the SDK registers: Pulumi owns it, so `pulumi up --refresh` puts back a
field someone edited in the cluster (the edit took the field's ownership; without force,
server-side apply reports the conflict and changes nothing), as kustomize-controller forces
what it applies from Git."""

WAIT_READY = {"pulumi.com/waitFor": "condition=Ready"}
"""pulumi-kubernetes waits until the object's Ready condition is True and, when it turns False,
fails the update with the condition's message (which object, what went wrong)."""
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
"""pulumi-kubernetes does not wait for the object at all."""


def await_annotations(wait: bool | None) -> dict[str, str]:
    """The annotations for `wait`: True waits for Ready, False skips awaiting, None is the
    provider's default (for custom resources: no wait)."""
    if wait is None:
        return {}
    return dict(WAIT_READY if wait else SKIP_AWAIT)


FluxKey = tuple[str, str | None, str]
"""(kind, namespace, name): how components are told which resource stands for a Flux object
(`resources=` of `register`, `Layers`, `FluxNotifications`)."""


def flux_key(obj: Any) -> FluxKey:
    """The key of a Flux model, of a resource wrapping one, or of a component standing for one."""
    ident = flux_identity(obj)
    if ident is None:
        raise ArgumentError(f"flux_key(): expected a Flux object or resource, got {obj!r}")
    kind, name, namespace = ident
    return (kind, namespace, name)


def resource_name(obj: FluxObject) -> str:
    """A stable Pulumi name for a Flux object: `<kind>-<namespace>-<name>` in lower case."""
    ns = obj.metadata.namespace or "default"
    return f"{obj.kind.lower()}-{ns}-{obj.metadata.name}"


def opaque_secret(
    resource_name: str,
    name: str,
    namespace: str | None,
    values: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
    *,
    secret_type: str | None = "Opaque",
) -> KubeObject:
    """A Secret `namespace/name` holding `values` (credentials), each wrapped as a Pulumi secret
    so it is encrypted in the state and never printed in plain text."""
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": {k: pulumi.Output.secret(v) for k, v in values.items()},
    }
    if secret_type is not None:
        manifest["type"] = secret_type
    return KubeObject(resource_name, manifest, opts)


AS_WRITTEN = (
    "Pulumi registers the object as written and nothing substitutes it; give the value, or "
    "keep the object in a folder a Kustomization applies with postBuild"
)


def refuse_unsubstituted(obj: FluxObject, manifest: Mapping[str, Any] | None = None) -> None:
    """Raise SpecError for a model loaded from a template (`from_manifest` with placeholders)
    whose placeholders skipped a check: registered as it is, Flux would get `${var}` literally.
    A placeholder in free text (a HelmRelease value, say) skips no check and is let through."""
    held = holds_placeholder(manifest if manifest is not None else obj.to_manifest())
    if held and (notes := obj.validation_notes()):
        issues = [FieldIssue(n.path, n.value, n.message) for n in notes]
        last = issues[-1]
        last.problem = f"{last.problem}; {AS_WRITTEN}"  # said once, after every value it is about
        raise SpecError(obj.kind, obj.name, issues)


class FluxResource(CustomResource, Generic[M]):
    """A Flux object registered with Pulumi. `flux_object` is the validated model.

    No class-level annotations here: Pulumi reads those as the resource's output properties and
    resolves them (with `typing.get_type_hints`) on every registration."""

    def __init__(
        self,
        resource_name: str,
        obj: M,
        opts: pulumi.ResourceOptions | None = None,
        *,
        resources: Mapping[FluxKey, pulumi.Resource] | None = None,
        wait: bool | None = None,
    ) -> None:
        """Register `obj`. `resources` maps the `flux_key` of referenced objects to their
        resources, for references that were built from models rather than from resources;
        `wait` makes `pulumi up` wait for the object to be Ready (see `await_annotations`)."""
        expect(resource_name, str, "FluxResource", "a Pulumi resource name (str)")
        where = f"FluxResource {resource_name!r}"
        expect(obj, FluxObject, where, "a Flux object model such as Kustomization(...)")
        expect(opts, (pulumi.ResourceOptions, type(None)), f"{where}: opts", "ResourceOptions")
        deps: list[pulumi.Resource] = []
        for target in obj.targets:
            if isinstance(target, pulumi.Resource):
                deps.append(target)
            elif resources and (found := resources.get(flux_key(target))) is not None:
                deps.append(found)
        manifest = obj.to_manifest()
        refuse_unsubstituted(obj, manifest)
        if extra := set(manifest) - {"apiVersion", "kind", "metadata", "spec"}:
            # CustomResource takes only a spec: never drop another top-level field silently.
            raise GitopsError(f"{obj.kind} {obj.name!r}: cannot register fields {sorted(extra)}")
        metadata = manifest["metadata"]
        spec = manifest.get("spec")
        if isinstance(spec, dict) and has_inputs(spec):
            spec, values = resolve_inputs(obj.kind, obj.name, spec)
            if values is not None:
                name, namespace = values.name, obj.namespace
                secret_opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions())
                deps.append(
                    opaque_secret(
                        f"{resource_name}-values", name, namespace, values.data, secret_opts
                    )
                )
        annotations = {**PATCH_FORCE, **await_annotations(wait)}
        metadata["annotations"] = {**metadata.get("annotations", {}), **annotations}
        # pulumi-kubernetes' CustomResource.__init__ only merges the provider version into the
        # options; doing that here and calling its `_internal_init` saves a merge and a stack
        # frame per object (Pulumi records the source position of every frame on the stack).
        options = pulumi.ResourceOptions(version=PROVIDER_VERSION, depends_on=deps or None)
        if opts is not None:
            # The caller's options win, except that depends_on lists are concatenated and the
            # provider version stays pulumi-kubernetes' own (as CustomResource does).
            options = pulumi.ResourceOptions.merge(options, opts)
            options.version = PROVIDER_VERSION
        self._internal_init(
            resource_name,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=metadata,
            spec=spec,
            opts=options,
        )
        self.flux_object: M = obj

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.flux_object.__flux_ref__()


def register(
    obj: FluxObject,
    opts: pulumi.ResourceOptions | None = None,
    *,
    name: str | None = None,
    resources: Mapping[FluxKey, pulumi.Resource] | None = None,
    wait: bool | None = None,
) -> FluxResource[Any]:
    """Register one Flux object; the Pulumi name defaults to `resource_name(obj)`."""
    expect(obj, FluxObject, "register()", "a Flux object model such as Kustomization(...)")
    return FluxResource(name or resource_name(obj), obj, opts, resources=resources, wait=wait)


def register_all(
    objects: Sequence[FluxObject], opts: pulumi.ResourceOptions | None = None
) -> dict[FluxKey, FluxResource[Any]]:
    """Register objects, each after those of them its references were built from (otherwise
    in the given order), wiring those references to Pulumi `depends_on`.

    Returns the resources keyed by `flux_key` of their model.
    """
    expect_items(objects, FluxObject, "register_all()", "Flux object models")
    by_key: dict[FluxKey, FluxObject] = {}
    for obj in objects:
        key = flux_key(obj)
        if by_key.setdefault(key, obj) is not obj:
            raise ArgumentError(
                f"register_all(): {obj.kind} {obj.name!r} is given twice (namespace "
                f"{key[1]!r}); each object must be unique"
            )
    deps = {key: [flux_key(t) for t in obj.targets] for key, obj in by_key.items()}
    # A model can only refer to models built before it, so references never form a cycle.
    made: dict[FluxKey, FluxResource[Any]] = {}
    for key in dependency_order(list(by_key), deps):
        made[key] = register(by_key[key], opts, resources=made)
    return made
