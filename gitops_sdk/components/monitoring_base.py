"""What the Flux monitoring components share: object metadata, and registering a rendered
manifest as a Prometheus Operator custom resource or a ConfigMap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from gitops_sdk.components.kube_object import KubeObject

__all__ = ["MONITORING_API_VERSION", "config_map", "custom_resource", "metadata"]

MONITORING_API_VERSION = "monitoring.coreos.com/v1"


def metadata(name: str, namespace: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """`metadata` of a manifest (labels only when there are some)."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict(labels)
    return meta


def custom_resource(
    name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """Register a rendered custom resource manifest (a PodMonitor, a PrometheusRule)."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version=manifest["apiVersion"],
        kind=manifest["kind"],
        metadata=manifest["metadata"],
        spec=manifest["spec"],
        opts=opts,
    )


def config_map(name: str, manifest: Mapping[str, Any], opts: pulumi.ResourceOptions) -> KubeObject:
    """Register a rendered ConfigMap manifest."""
    return KubeObject(name, manifest, opts)
