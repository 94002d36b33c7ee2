"""Which API groups a stack may use: Kubernetes' own, Flux's, those its units install (their
CRDs) and those the cluster is declared to have (`gitops:cluster.apiGroups`). An object of any
other group would fail at apply time, after half the stack was created; it fails here first."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gitops_sdk.core.errors import ConfigError

__all__ = ["FLUX_GROUPS", "KUBERNETES_GROUPS", "check_api_groups"]

KUBERNETES_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)
"""The API groups a Kubernetes API server serves by itself."""

FLUX_GROUPS = frozenset(
    {
        "helm.toolkit.fluxcd.io",
        "image.toolkit.fluxcd.io",
        "kustomize.toolkit.fluxcd.io",
        "notification.toolkit.fluxcd.io",
        "source.toolkit.fluxcd.io",
    }
)
"""The API groups of Flux's CRDs (installed by the embedded controller, or already there)."""


def check_api_groups(
    needed: Mapping[str, Iterable[str]],
    provided: Mapping[str, Iterable[str]],
    cluster: Iterable[str],
    *,
    source: str,
) -> None:
    """ConfigError for the first group in `needed` (group -> what uses it, as config keys) that
    no unit provides (`provided`: unit name -> groups) and the cluster does not have."""
    have = set(KUBERNETES_GROUPS | FLUX_GROUPS) | set(cluster)
    for groups in provided.values():
        have |= set(groups)
    for group, users in sorted(needed.items()):
        if group in have:
            continue
        who = ", ".join(sorted(set(users)))
        raise ConfigError(
            f"{source}: {who} uses API group {group!r}, which no unit installs and "
            f"gitops:cluster.apiGroups does not list; add a unit that installs its CRDs (a "
            f"preset, or provides: [{group}] on your own unit), or list it in "
            "gitops:cluster.apiGroups if the cluster already has it"
        )
