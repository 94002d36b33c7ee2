"""`gitops:sources`: named chart and artifact sources besides the cluster's own repository.

```yaml
gitops:sources:
  jetstack: {type: helm, url: https://charts.jetstack.io}
  podinfo: {type: oci, url: oci://ghcr.io/stefanprodan/charts/podinfo, ref: {semver: ">=6.0.0"}}
  fleet-extras: {type: git, url: https://github.com/org/extras, ref: {branch: main}}
```

`helm` is a HelmRepository (an `oci://` URL makes it type oci), `oci` an OCIRepository (a
HelmRelease reads it with `chartRef`, a Kustomization with `source`), `git` a GitRepository.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pydantic

from gitops_sdk.api.source import GitRepository, HelmRepository, OCIRepository
from gitops_sdk.core.base import Invalid
from gitops_sdk.core.errors import SpecError
from gitops_sdk.core.fields import Duration, Name
from gitops_sdk.core.model import FluxObject
from gitops_sdk.stack.units import ConfigModel

__all__ = ["DEFAULT_INTERVAL", "SourceConfig", "build_sources"]

SourceType = Literal["helm", "oci", "git"]

DEFAULT_INTERVAL: dict[str, str] = {"helm": "1h", "oci": "10m", "git": "5m"}
"""How often each type is checked unless the source says: a chart index changes rarely."""


class SourceConfig(ConfigModel):
    """One named source."""

    type: SourceType
    """`helm` (HelmRepository), `oci` (OCIRepository) or `git` (GitRepository)."""
    url: str
    """`https://` (helm index, git), `oci://` (helm registry, oci artifact) or `ssh://` (git)."""
    interval: Duration | None = None
    """How often Flux checks the source; default 1h (helm), 10m (oci), 5m (git)."""
    ref: dict[str, str] | None = None
    """oci: `tag`, `semver` or `digest`; git: `branch`, `tag`, `semver` or `commit`."""
    secret_name: Name | None = None
    """Secret with credentials, in the Flux namespace."""
    provider: Literal["generic", "aws", "azure", "gcp"] | None = None
    """Registry authentication for `oci://` sources; default `generic`."""

    @pydantic.model_validator(mode="after")
    def _valid_as_flux_object(self) -> SourceConfig:
        try:
            self.build("source", "flux-system", {})
        except SpecError as err:
            issue = err.issues[0]
            field = issue.path.removeprefix("spec.") or "url"
            raise Invalid(field, issue.value, issue.problem) from None
        return self

    def build(self, name: str, namespace: str, labels: Mapping[str, str]) -> FluxObject:
        """The Flux source object named `name`."""
        spec: dict[str, Any] = {
            "url": self.url,
            "interval": self.interval or DEFAULT_INTERVAL[self.type],
        }
        if self.secret_name:
            spec["secret_ref"] = {"name": self.secret_name}
        if self.ref is not None:
            if self.type == "helm":
                raise Invalid("ref", self.ref, "applies to oci and git sources, not helm")
            spec["ref"] = dict(self.ref)
        if self.provider is not None:
            if not self.url.startswith("oci://"):
                raise Invalid("provider", self.provider, "applies to oci:// URLs only")
            spec["provider"] = self.provider
        meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
        if self.type == "helm":
            if self.url.startswith("oci://"):
                spec["type"] = "oci"
            return HelmRepository(**meta, **spec)
        if self.type == "oci":
            return OCIRepository(**meta, **spec)
        return GitRepository(**meta, **spec)


def build_sources(
    sources: Mapping[str, SourceConfig], namespace: str, labels: Mapping[str, str]
) -> dict[str, FluxObject]:
    """Every configured source as its Flux object, by name."""
    return {name: cfg.build(name, namespace, labels) for name, cfg in sources.items()}
