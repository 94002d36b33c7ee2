"""The homelab composed from the SDK: the Git source, then the layers
infrastructure -> monitoring -> security -> apps, all driven by the stack's `gitops:` config."""

from __future__ import annotations

import pulumi

from gitops_sdk import FluxGraph, GitopsConfig, GitRepository, GitSource, Layers, LayerSet


def build(cfg: GitopsConfig, opts: pulumi.ResourceOptions | None = None) -> None:
    """Declare the whole stack; everything is validated before the first registration."""
    ns = cfg.flux.namespace
    labels = {**cfg.cluster.labels, "environment": cfg.cluster.environment}
    repo = GitRepository(
        name=cfg.repository.name,
        namespace=ns,
        labels=labels,
        url=cfg.repository.url,
        interval=cfg.repository.interval,
        ref={"branch": cfg.repository.branch},
        secret_ref={"name": cfg.repository.secret_name} if cfg.repository.secret_name else None,
    )
    kustomizations = LayerSet.from_config(cfg, repo).build()
    FluxGraph(
        [repo, *kustomizations],
        default_namespace=ns,
        known=cfg.flux.external_keys(),
        no_cross_namespace_refs=cfg.flux.no_cross_namespace_refs,
    ).check()

    source = GitSource("flux-system", repo, opts=opts)
    layers = Layers("layers", kustomizations, resolve={id(repo): source.repository}, opts=opts)
    pulumi.export("kustomizations", sorted(layers.kustomizations))
    pulumi.export("source", repo.spec.url)
