"""Flux itself: the `FluxInstall` component registers the tuned release install manifest.

We never write a reconciler of our own. `FluxInstall` reads Flux's `install.yaml` (a local file,
or the pinned release URL fetched at program time; see `services.install_manifest`), tunes it
with `tune_manifest` (`services.install_tuning`) and registers one Kubernetes resource per
object: the Namespace first, then the CRDs, then everything else.

```python
flux = FluxInstall("flux", FluxInstallArgs.arm64_homelab(sha256="<digest>"), opts=provider_opts)
register(repo, flux.depends_on())  # every Flux object waits for the CRDs and the controllers
```
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Annotated, Any, Self

import pulumi
from pydantic import Field, PlainValidator

from gitops_sdk.api.install import ADOPT_ANNOTATIONS, FluxInstallSettings
from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.services.install_manifest import (
    is_url,
    parse_manifest,
    read_manifest,
    source_of,
)
from gitops_sdk.services.install_tuning import component_of, tune_manifest

__all__ = [
    "FluxInstall",
    "FluxInstallArgs",
    "adopted",
    "adoption_transformation",
    "register_object",
]


def _documents(value: Any) -> tuple[Mapping[str, Any], ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise ValueError(
            "is not a list of parsed manifest documents (expected e.g. load_manifest(args))"
        )
    return tuple(value)


class FluxInstallArgs(FluxInstallSettings, ComponentArgs):
    """Inputs of `FluxInstall`: the install settings, and the manifest if already parsed. Every
    field has a default: `FluxInstallArgs()` is the stock Flux 2.9.4 release on arm64 nodes."""

    docs: Annotated[
        tuple[Mapping[str, Any], ...] | None,
        PlainValidator(_documents),
        Field(repr=False, exclude=True),
    ] = None
    """The install manifest's documents, already parsed (e.g. by `load_manifest`); then
    `manifest` and `sha256` are not read. Default: read and parse `manifest`."""

    @classmethod
    def from_settings(
        cls, settings: FluxInstallSettings, *, docs: Sequence[Mapping[str, Any]] | None = None
    ) -> Self:
        """The Args of `settings` (e.g. a stack's `gitops:flux`), installing `docs` if given."""
        given = {
            k: getattr(settings, k)
            for k in settings.model_fields_set
            if k in FluxInstallSettings.model_fields
        }
        return cls(**given, docs=docs)


# --- the component -------------------------------------------------------------------------------


def register_object(
    resource_name: str, doc: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None
) -> KubeObject:
    """`KubeObject(resource_name, doc, opts)`, under the name the old `gitops_sdk.controller`
    path exported (it goes in 0.3.0 with that path)."""
    return KubeObject(resource_name, doc, opts)


class FluxInstall(pulumi.ComponentResource):
    """Flux's controllers and CRDs, installed from the release manifest and tuned by `args`.

    Registration order and dependencies: the Namespace; then the CRDs; then ServiceAccounts,
    RBAC, quota and network policies (after the Namespace and every CRD); then the Deployments
    (after all of those); Services last (after the Namespace and CRDs only).

    Readiness with `wait` true: pulumi-kubernetes reports a Deployment created only once its
    rollout is complete and it is Available (default timeout 10 minutes), and a Service only once
    its endpoints have a ready pod; the Namespace, CRDs, RBAC and the rest count as created when
    the API server accepts them. Anything that depends on `ready` (see `depends_on`) therefore
    starts only after the CRDs exist and the controllers run, and on destroy it is deleted while
    they still run, so Flux can process its finalizers. With `wait` false, Deployments and
    Services carry `pulumi.com/skipAwait: "true"` and count as created as soon as the API server
    accepts them: the stack no longer knows whether Flux started.

    `args.docs`, when given, is the already parsed manifest (then `args.manifest` and
    `args.sha256` are not used). Never creates a provider: pass one in `opts`.
    """

    args: FluxInstallArgs
    manifests: list[dict[str, Any]]
    """The tuned objects, in registration order."""
    namespace: pulumi.Output[str]
    """Name of the Flux namespace, resolved once the Namespace exists."""
    namespace_resource: KubeObject
    crds: list[KubeObject]
    """The CRDs: every Flux object must be registered after them (see `depends_on`)."""
    deployments: dict[str, KubeObject]
    """The controller Deployments, by controller name."""
    resources: dict[str, KubeObject]
    """Every registered object, keyed `Kind/name`."""
    ready: list[pulumi.Resource]
    """What a Flux object should depend on: the Namespace, the CRDs and the Deployments."""

    def __init__(
        self,
        name: str,
        args: FluxInstallArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        args = args if args is not None else FluxInstallArgs()
        where = f"FluxInstall {name!r}"
        source = source_of(args)
        docs = args.docs
        if docs is None:
            if is_url(source) and args.sha256 is None:
                pulumi.log.warn(
                    f"{where}: manifest {source} is not pinned by sha256; set sha256 so a "
                    "changed download cannot reach the cluster"
                )
            docs = parse_manifest(read_manifest(args, where=where), source, where)
            tuned = tune_manifest(docs, args, where=f"{where}: manifest {source!r}")
        else:
            tuned = tune_manifest(docs, args, where=f"{where}: manifest (parsed documents)")
        if args.adopt:
            tuned = [adopted(doc) for doc in tuned]
        super().__init__("gitops:flux:FluxInstall", name, None, opts)
        self.args = args
        self.manifests = tuned
        self.resources = {}
        self.deployments = {}
        self.crds = []

        def child(suffix: str, doc: Mapping[str, Any], deps: list[pulumi.Resource]) -> Any:
            res = KubeObject(
                f"{name}-{suffix}", doc, pulumi.ResourceOptions(parent=self, depends_on=deps)
            )
            self.resources[f"{doc['kind']}/{doc['metadata']['name']}"] = res
            return res

        ns_doc, *others = tuned
        self.namespace_resource = child("namespace", ns_doc, [])
        for doc in others:
            if doc["kind"] == "CustomResourceDefinition":
                self.crds.append(child(f"crd-{doc['metadata']['name']}", doc, []))
        base: list[pulumi.Resource] = [self.namespace_resource, *self.crds]
        support: list[pulumi.Resource] = []
        for doc in others:
            if doc["kind"] not in ("CustomResourceDefinition", "Deployment", "Service"):
                support.append(child(_suffix(doc), doc, base))
        for doc in others:
            if doc["kind"] == "Deployment":
                res = child(_suffix(doc), doc, [*base, *support])
                self.deployments[component_of(doc) or doc["metadata"]["name"]] = res
        for doc in others:
            if doc["kind"] == "Service":
                child(_suffix(doc), doc, base)

        self.namespace = self.namespace_resource.metadata.apply(_meta_name)
        self.ready = [self.namespace_resource, *self.crds, *self.deployments.values()]
        self.register_outputs(
            {
                "namespace": self.namespace,
                "version": args.version,
                "components": list(args.components),
                "crds": [
                    d["metadata"]["name"] for d in tuned if d["kind"] == "CustomResourceDefinition"
                ],
            }
        )

    def depends_on(self, opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        """`opts` plus `depends_on` the Namespace, CRDs and controllers: pass it to every Flux
        object the stack registers."""
        return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(depends_on=self.ready), opts)


def adopted(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` with `ADOPT_ANNOTATIONS` added (its own annotations otherwise kept)."""
    meta = dict(doc.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **ADOPT_ANNOTATIONS}
    return {**doc, "metadata": meta}


def adoption_transformation(
    only: Collection[tuple[str, str]] | None = None,
) -> pulumi.ResourceTransformation:
    """A Pulumi transformation adding `ADOPT_ANNOTATIONS` to Kubernetes objects registered with
    it (in `ResourceOptions.transformations`, it reaches a component's children too): all of
    them, or those whose (kind, name) is in `only`, e.g. `{("Kustomization", "flux-system")}`
    for the Kustomization `flux bootstrap` made, declared as a layer."""

    def transform(args: pulumi.ResourceTransformationArgs) -> Any:
        props = dict(args.props)
        meta = props.get("metadata")
        kind = props.get("kind") or args.type_.rpartition(":")[2]
        if not args.type_.startswith("kubernetes:") or not isinstance(meta, Mapping):
            return None
        if only is not None and (kind, meta.get("name")) not in only:
            return None
        props["metadata"] = adopted({"metadata": meta})["metadata"]
        return pulumi.ResourceTransformationResult(props, args.opts)

    return transform


def _suffix(doc: Mapping[str, Any]) -> str:
    return f"{str(doc['kind']).lower()}-{doc['metadata']['name']}"


def _meta_name(meta: Mapping[str, Any]) -> str:
    return str(meta["name"])
