"""Pulumi components that group Flux objects which belong together.

Each takes validated models (so bad input fails before anything is registered), registers
children with `parent=self` and stable names, and calls `register_outputs` last. None creates
a Kubernetes provider: pass one in `opts` and it flows to the children.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.api.source import GitRepository
from gitops_sdk.components.resource import FluxResource, opaque_secret
from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError, expect, expect_items
from gitops_sdk.core.model import FluxObject
from gitops_sdk.stack.layers import LAYER_LABEL


class GitSource(pulumi.ComponentResource):
    """A GitRepository and, when credentials are given, the Secret it authenticates with.

    `credentials` values (e.g. `username`/`password`, or `identity`/`known_hosts`) are stored
    as Pulumi secrets; the Secret's name is the repository's `spec.secretRef.name`.
    """

    repository: FluxResource[GitRepository]
    secret: k8s.core.v1.Secret | None

    def __init__(
        self,
        name: str,
        repository: GitRepository,
        *,
        credentials: Mapping[str, pulumi.Input[str]] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        wait: bool | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`depends_on` (e.g. the Flux install's CRDs) is applied to every child; `wait` makes
        `pulumi up` wait for the repository to be Ready."""
        where = f"GitSource {name!r}"
        expect(repository, GitRepository, f"{where}: repository", "a GitRepository model")
        expect(credentials, (Mapping, type(None)), f"{where}: credentials", "a mapping")
        for key, value in (credentials or {}).items():
            expect(value, (str, pulumi.Output), f"{where}: credentials[{key!r}]", "a string")
        expect_items(depends_on, pulumi.Resource, f"{where}: depends_on", "Pulumi resources")
        super().__init__("gitops:source:GitSource", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        self.secret = None
        deps: list[pulumi.Resource] = []
        if credentials:
            ref = repository.spec.secret_ref
            if ref is None:
                raise SpecError(
                    "GitRepository",
                    repository.name,
                    [
                        FieldIssue(
                            "spec.secretRef",
                            MISSING,
                            "is not set but credentials were given; name the Secret there",
                        )
                    ],
                )
            # No `type`: Kubernetes defaults it to Opaque, and the rendered Secret stays as is.
            self.secret = opaque_secret(
                f"{name}-auth",
                ref.name,
                repository.namespace,
                credentials,
                child,
                secret_type=None,
            )
            deps.append(self.secret)
        self.repository = FluxResource(
            f"{name}-repository",
            repository,
            pulumi.ResourceOptions(parent=self, depends_on=[*depends_on, *deps]),
            wait=wait,
        )
        self.register_outputs({"name": repository.name, "url": repository.spec.url})

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.repository.__flux_ref__()


class Layers(pulumi.ComponentResource):
    """The stack's layer Kustomizations, one child component per layer.

    `kustomizations` must come in dependency order (as `LayerSet.build()` returns them);
    `resolve` maps `id(model)` of already registered objects (the source) to resources.
    """

    layers: dict[str, pulumi.ComponentResource]
    kustomizations: dict[str, FluxResource[Any]]

    def __init__(
        self,
        name: str,
        kustomizations: Sequence[FluxObject],
        *,
        resolve: Mapping[int, pulumi.Resource] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        wait: bool | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """`depends_on` is applied to every Kustomization; `wait` makes `pulumi up` wait for
        each to be Ready (so a failing layer names itself and its condition message)."""
        where = f"Layers {name!r}"
        expect_items(
            kustomizations, Kustomization, f"{where}: kustomizations", "Kustomization models"
        )
        expect(resolve, (Mapping, type(None)), f"{where}: resolve", "a mapping")
        expect_items(depends_on, pulumi.Resource, f"{where}: depends_on", "Pulumi resources")
        super().__init__("gitops:layers:Layers", name, None, opts)
        self.layers = {}
        self.kustomizations = {}
        made: dict[int, pulumi.Resource] = dict(resolve or {})
        for obj in kustomizations:
            layer = (obj.metadata.labels or {}).get(LAYER_LABEL, obj.name)
            if layer not in self.layers:
                self.layers[layer] = pulumi.ComponentResource(
                    "gitops:layers:Layer",
                    f"{name}-{layer}",
                    None,
                    pulumi.ResourceOptions(parent=self),
                )
            res = FluxResource(
                f"{name}-{obj.name}",
                obj,
                pulumi.ResourceOptions(parent=self.layers[layer], depends_on=list(depends_on)),
                resolve=made,
                wait=wait,
            )
            made[id(obj)] = res
            self.kustomizations[obj.name] = res
        for component in self.layers.values():
            component.register_outputs({})
        self.register_outputs({"kustomizations": sorted(self.kustomizations)})
