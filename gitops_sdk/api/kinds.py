"""Every Flux kind, registered: `from_manifest` and `flux_kinds` from here know all of them,
whatever else the caller imported. The package loads its modules on first use, so code that
reads manifests of any kind imports these two from here, not from `core.model`."""

from __future__ import annotations

from gitops_sdk.api import (  # noqa: F401  (imported for their kinds)
    flagger,
    helm,
    image,
    image_update,
    kustomize,
    notification,
    source,
    source_storage,
)
from gitops_sdk.core.model import flux_kinds, from_manifest

__all__ = ["flux_kinds", "from_manifest"]
