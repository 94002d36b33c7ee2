"""`FluxDashboard`: the Flux Grafana dashboard as a ConfigMap the Grafana sidecar picks up
(`grafana_dashboard: "1"`), every query checked against the Flux metric catalog first."""

from __future__ import annotations

import json
from typing import Any

import pulumi

from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.monitoring_base import config_map, metadata
from gitops_sdk.core.fields import Name, Namespace
from gitops_sdk.services.flux_metrics import FLUX_KINDS, FluxKinds, flux_catalog
from gitops_sdk.services.grafana import Dashboard, DashboardUid, flux_dashboard

__all__ = ["FluxDashboard", "FluxDashboardArgs"]


class FluxDashboardArgs(ComponentArgs):
    """The Grafana dashboard ConfigMap, picked up by the Grafana sidecar."""

    name: Name = "flux-dashboard"
    """Name of the ConfigMap."""
    namespace: Namespace = "monitoring"
    """Namespace the Grafana sidecar watches."""
    title: str = "Flux"
    uid: DashboardUid = "flux-gitops"
    folder: str | None = None
    """Grafana folder (the sidecar's `grafana_folder` annotation); default: the sidecar's."""
    job: str = "flux-system/flux-system"
    """The controllers' scrape job (`FluxPodMonitorArgs.job`)."""
    honor_labels: bool = False
    """Whether that scrape honors the controllers' labels."""
    kinds: FluxKinds = list(FLUX_KINDS)
    """Flux kinds kube-state-metrics reports (queries are checked against them)."""
    labels: dict[str, str] = {}
    """Extra labels of the ConfigMap."""

    def dashboard(self) -> Dashboard:
        """The dashboard, every query checked against `flux_catalog()`."""
        board = flux_dashboard(
            title=self.title, uid=self.uid, job=self.job, honor_labels=self.honor_labels
        )
        board.check(flux_catalog(self.kinds, honor_labels=self.honor_labels))
        return board

    def to_manifest(self) -> dict[str, Any]:
        """The ConfigMap manifest."""
        meta = metadata(self.name, self.namespace, {**self.labels, "grafana_dashboard": "1"})
        if self.folder:
            meta["annotations"] = {"grafana_folder": self.folder}
        body = json.dumps(self.dashboard().to_json(), indent=2, sort_keys=True)
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {f"{self.uid}.json": body},
        }


class FluxDashboard(pulumi.ComponentResource):
    """The Flux Grafana dashboard as a ConfigMap."""

    config_map: KubeObject

    def __init__(
        self,
        name: str,
        args: FluxDashboardArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        args = args or FluxDashboardArgs()
        manifest = args.to_manifest()
        super().__init__("gitops:monitoring:FluxDashboard", name, None, opts)
        self.config_map = config_map(
            f"{name}-dashboard", manifest, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"uid": args.uid})
