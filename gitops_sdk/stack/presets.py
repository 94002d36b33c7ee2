"""Chart presets: what the SDK knows about the homelab's Helm charts (source, pinned version,
namespace, the API groups their CRDs bring, values fit for small ARM64 nodes), read from
`gitops_sdk/data/presets/<name>.yaml`. A unit with `preset: <name>` starts from these and the
stack file overrides any of it."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

import yaml

from gitops_sdk.api.helm import ReleaseName
from gitops_sdk.api.source import HelmUrl
from gitops_sdk.core.base import FluxModel
from gitops_sdk.core.errors import GitopsError
from gitops_sdk.core.fields import Duration, JsonObject, Name, Namespace, SemverRange

__all__ = ["ApiGroup", "Preset", "PresetSource", "preset_names", "presets"]

ApiGroup = str
"""An API group such as `cert-manager.io` (the part of `apiVersion` before the slash)."""


class PresetSource(FluxModel):
    """The Helm repository a preset's chart comes from."""

    name: Name
    """The conventional name of the source; the stack declares it in `gitops:sources`."""
    type: Literal["helm"] = "helm"
    url: HelmUrl


class Preset(FluxModel):
    """One chart as the SDK installs it."""

    chart: str
    version: SemverRange
    source: PresetSource
    namespace: Namespace
    release_name: ReleaseName | None = None
    provides: list[ApiGroup] = []
    """API groups whose CRDs the chart installs."""
    crds: Literal["Skip", "Create", "CreateReplace"] | None = None
    """The install/upgrade policy for a chart whose CRDs sit in its `crds/` folder."""
    timeout: Duration | None = None
    values: JsonObject = {}
    """Base values: one replica, requests and limits, scheduled on the cluster's architecture."""
    ha: JsonObject = {}
    """Deep-merged over `values` on clusters with `ha: true`."""


@functools.cache
def presets() -> dict[str, Preset]:
    """Every preset the SDK ships, by name."""
    folder = resources.files("gitops_sdk") / "data" / "presets"
    out: dict[str, Preset] = {}
    if not folder.is_dir():
        return out
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        name = entry.name.removesuffix(".yaml")
        try:
            out[name] = Preset.model_validate(yaml.safe_load(entry.read_text()))
        except Exception as err:  # a broken shipped file is our bug: say which one
            raise GitopsError(f"preset {name!r} shipped with the SDK is invalid: {err}") from None
    return out


def preset_names() -> list[str]:
    return sorted(presets())
