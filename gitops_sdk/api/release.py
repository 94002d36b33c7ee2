"""Facts about the pinned Flux release: its version, controllers, image tags, the labels its
install manifest uses and the sha256 of the copy of that manifest the package ships."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

__all__ = [
    "ARCH_LABEL",
    "COMPONENT_LABEL",
    "CONTROLLERS",
    "CONTROLLER_NEEDS",
    "DEFAULT_COMPONENTS",
    "FLUX_VERSION",
    "IMPERSONATING",
    "MANIFEST_SHA256",
    "NO_CROSS_NAMESPACE_REFS",
    "OS_LABEL",
    "RELEASE_IMAGE_TAGS",
    "RELEASE_URL",
    "REQUEUE_DEPENDENCY",
    "SKIP_AWAIT",
    "FluxController",
]


FLUX_VERSION = "2.9.4"
"""The Flux release the SDK is built against."""

RELEASE_URL = "https://github.com/fluxcd/flux2/releases/download/v{version}/install.yaml"
"""Where each Flux release publishes its install manifest."""

MANIFEST_SHA256: Mapping[str, str] = {
    "2.9.4": "7a89e214a51b8357f1f723c1baf9ccea38771ddace8872ef2228f3e8bdef59d7",
}
"""The sha256 of the install manifest the package ships per Flux release
(`gitops_sdk/data/flux/v<version>/install.yaml`): read by default, offline, and refused if its
bytes differ. A release missing here is downloaded from `RELEASE_URL`."""

FluxController = Literal[
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
    "image-reflector-controller",
    "image-automation-controller",
]
"""A Flux controller, by its Deployment's name (and its pods' `app` label)."""

CONTROLLERS: tuple[FluxController, ...] = get_args(FluxController)
"""Every controller `FluxInstall` can install, in the order Flux lists them."""

DEFAULT_COMPONENTS = CONTROLLERS[:4]
"""What `flux install` installs unless told otherwise; the image controllers are opt-in."""

# --- which controllers take which flags and kinds --------------------------------------------

REQUEUE_DEPENDENCY: frozenset[FluxController] = frozenset(
    {"source-controller", "kustomize-controller", "helm-controller", "image-reflector-controller"}
)
"""The controllers with a `--requeue-dependency` flag."""

NO_CROSS_NAMESPACE_REFS: frozenset[FluxController] = frozenset(CONTROLLERS) - {"source-controller"}
"""The controllers with a `--no-cross-namespace-refs` flag."""

IMPERSONATING: frozenset[FluxController] = frozenset({"kustomize-controller", "helm-controller"})
"""The controllers that impersonate `--default-service-account` (the multi-tenancy lockdown);
for the others the flag names a workload-identity account, a different feature."""

CONTROLLER_NEEDS: Mapping[str, tuple[FluxController, ...]] = {
    "kustomize-controller": ("source-controller",),
    "helm-controller": ("source-controller",),
    "image-automation-controller": ("source-controller", "image-reflector-controller"),
}
"""A controller that cannot work without others (it reads the kinds they serve)."""

RELEASE_IMAGE_TAGS: Mapping[str, Mapping[str, str]] = {
    "2.9.4": {
        "source-controller": "v1.9.4",
        "kustomize-controller": "v1.9.4",
        "helm-controller": "v1.6.3",
        "notification-controller": "v1.9.3",
        "image-reflector-controller": "v1.2.4",
        "image-automation-controller": "v1.2.4",
    },
}
"""Controller image tags per Flux release, as its install manifest pins them: a manifest of
another release is caught before it is applied."""

COMPONENT_LABEL = "app.kubernetes.io/component"
"""The label Flux puts on each controller's CRDs, ServiceAccount, Services and Deployment."""

ARCH_LABEL = "kubernetes.io/arch"
OS_LABEL = "kubernetes.io/os"
SKIP_AWAIT = "pulumi.com/skipAwait"
"""pulumi-kubernetes annotation: create the object without waiting for it to become ready."""
