"""Old import paths (`gitops_sdk.secrets`, `gitops_sdk.controller`, ...) from before the package
was laid out in folders. Each old module is served, for one release, as a read-only view of the
modules its names moved to, with a DeprecationWarning naming them."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence
from typing import Any

REMOVED_IN = "0.3.0"

MOVED: dict[str, tuple[str, ...]] = {
    "errors": ("core.errors",),
    "_model": ("core.model", "core.fields", "core.base", "core.refs"),
    "source": ("api.source", "api.source_storage"),
    "kustomize": ("api.kustomize",),
    "helm": ("api.helm",),
    "image": ("api.image", "api.image_update", "core.model"),
    "notification": ("api.notification",),
    "flagger": ("api.flagger", "api.flagger_analysis", "components.canary"),
    "external_secrets": (
        "api.external_secrets",
        "api.eso_stores",
        "components.external_secrets",
    ),
    "crds": ("services.crds",),
    "promql": (
        "services.promql",
        "services.promql_syntax",
        "services.promql_tokens",
        "services.metric_catalog",
    ),
    "renovate": ("services.renovate", "services.renovate_options"),
    "resources": ("components.resource",),
    "controller": (
        "components.flux_install",
        "api.install",
        "services.install_manifest",
        "services.install_tuning",
        "api.release",
        "core.fields",
    ),
    "automation": (
        "components.image_automation",
        "api.image_automation",
        "services.setter_markers",
        "services.marker_check",
    ),
    "github": (
        "components.github",
        "components.github_settings",
        "components.github_providers",
        "services.github",
        "services.github_errors",
        "services.github_urls",
        "services.ssh_keys",
    ),
    "secrets": (
        "components.secrets",
        "services.sops",
        "services.sops_files",
        "services.sops_config",
        "services.age",
        "services.secrets_init",
        "services.project",
        "services.leak_guard",
        "services.sops_secret",
    ),
    "monitoring": (
        "components.monitoring",
        "components.scrape",
        "components.alert_rules",
        "components.dashboard",
        "components.monitoring_base",
        "services.flux_metrics",
        "services.prometheus_rules",
        "services.grafana",
        "services.promql_syntax",
        "api.release",
    ),
    "alerting": (
        "components.alerting",
        "components.notification_provider",
        "components.notifications",
    ),
    "config": ("stack.config", "services.stack_files"),
    "layers": ("stack.layers", "components.layers"),
    "graph": ("stack.graph",),
    "synth": ("stack.synth",),
    "secrets_cli": ("cli.secrets",),
    "github_cli": ("cli.github",),
    "automation_cli": ("cli.images",),
}
"""Old module name -> the modules (below `gitops_sdk`) that hold its public names now."""


class MovedModule(types.ModuleType):
    """An old module path: attribute reads go to the first new module that has the name."""

    def __init__(self, name: str, targets: Sequence[str]) -> None:
        super().__init__(name)
        self.__targets = [f"gitops_sdk.{t}" for t in targets]
        self.__doc__ = f"Moved to {', '.join(self.__targets)} (this path goes in {REMOVED_IN})."

    def __getattr__(self, attr: str) -> Any:
        for target in self.__targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}")

    def __dir__(self) -> list[str]:
        names: set[str] = set()
        for target in self.__targets:
            names.update(dir(importlib.import_module(target)))
        return sorted(names)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, leaf = fullname.rpartition(".")
        if package != "gitops_sdk" or leaf not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        leaf = spec.name.rpartition(".")[2]
        module = MovedModule(spec.name, MOVED[leaf])
        warnings.warn(
            f"{spec.name} is deprecated and goes in {REMOVED_IN}: import from gitops_sdk, "
            f"or from {', '.join('gitops_sdk.' + t for t in MOVED[leaf])}",
            DeprecationWarning,
            stacklevel=2,
        )
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


def install() -> None:
    """Serve the old paths (after every real module, so a real one always wins)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
