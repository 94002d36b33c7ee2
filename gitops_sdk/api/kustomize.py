"""kustomize.toolkit.fluxcd.io/v1: Kustomization, how Flux builds and applies a source path.

Also the kustomize-shaped parts HelmRelease shares: Selector, Patch, Image, IgnoreRule,
CustomHealthCheck, KubeConfigReference, CommonMetadata and DependencyReference.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

import pydantic
from pydantic import AfterValidator, StringConstraints

from gitops_sdk.api.cel import CelExpression
from gitops_sdk.api.image_refs import ImageDigest, ImageTag, check_repository
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.fields import Annotations, Duration, Labels, Name, Namespace
from gitops_sdk.core.model import FILLED, FluxObject, flux_kinds
from gitops_sdk.core.refs import (
    LocalObjectReference,
    NamespacedObjectKindReference,
    ObjectRef,
    SecretKeyReference,
    SecretRef,
    flux_identity,
)

__all__ = [
    "API_VERSION",
    "CommonMetadata",
    "CustomHealthCheck",
    "Decryption",
    "DependencyReference",
    "HealthCheckReference",
    "IgnoreRule",
    "Image",
    "KindReference",
    "KubeConfigReference",
    "Kustomization",
    "KustomizationSpec",
    "Patch",
    "PostBuild",
    "Selector",
    "SourceKind",
    "SourceReference",
    "SubstituteReference",
]

API_VERSION = "kustomize.toolkit.fluxcd.io/v1"
_REMOVED = {"v1beta1": "Flux 2.7", "v1beta2": "Flux 2.8"}


# --- kustomize types shared with HelmRelease ---------------------------------------------------


class Selector(FluxModel):
    """Which objects a patch or ignore rule applies to; every set field must match."""

    group: str | None = None
    """API group of the objects; default: any."""
    version: str | None = None
    """API version of the objects; default: any."""
    kind: str | None = None
    """Kind of the objects; default: any."""
    name: str | None = None
    """Name of the objects (a regexp); default: any."""
    namespace: str | None = None
    """Namespace of the objects (a regexp); default: any."""
    label_selector: str | None = None
    """Label selector, e.g. `app=web,tier!=db`; default: any labels."""
    annotation_selector: str | None = None
    """Annotation selector in label-selector syntax; default: any annotations."""


class Patch(FluxModel):
    """An inline patch: a strategic merge patch or a JSON6902 patch, as YAML text."""

    patch: str
    """The patch document (strategic merge or JSON6902 operations)."""
    target: Selector | None = None
    """Objects to patch; default: those a strategic merge patch names (JSON6902 needs one)."""


def _check_image_name(value: str) -> str:
    return check_repository(value, " (set the tag in newTag, the digest in digest)")


class Image(FluxModel):
    """An image override, like the `images` entry of a kustomization.yaml."""

    name: Annotated[str, AfterValidator(_check_image_name)]
    """Image name to match in the manifests, without tag."""
    new_name: Annotated[str, AfterValidator(_check_image_name)] | None = None
    """Replacement image name, without tag; default: unchanged."""
    new_tag: ImageTag | None = None
    """Replacement tag; default: unchanged; ignored when `digest` is set."""
    digest: ImageDigest | None = None
    """Replacement digest, `sha256:<64 hex>`; wins over `new_tag`."""


class IgnoreRule(FluxModel):
    """JSON pointers to leave alone (drift detection and apply) on the selected objects."""

    paths: list[str]
    """JSON pointers to ignore, e.g. `/spec/replicas`."""
    target: Selector | None = None
    """Objects the rule applies to; default: all."""


class CustomHealthCheck(FluxModel):
    """CEL expressions that compute the health of a custom resource kind."""

    api_version: str
    """API version of the resources; only its group is matched."""
    kind: str | None = None
    """Kind of the resources; default: every kind of the group."""
    current: CelExpression
    """CEL expression true when the resource is healthy."""
    in_progress: CelExpression | None = None
    """CEL expression true while the resource is still progressing; default: none."""
    failed: CelExpression | None = None
    """CEL expression true when the resource has failed; default: none."""


class KubeConfigReference(FluxModel):
    """Where the kubeconfig of a remote cluster comes from: exactly one of two references."""

    config_map_ref: LocalObjectReference | None = None
    """ConfigMap with `provider`, `cluster`, `address`, ... for cloud workload identity."""
    secret_ref: SecretKeyReference | None = None
    """Secret holding a kubeconfig; key default `value` (or `value.yaml`)."""

    @pydantic.model_validator(mode="after")
    def _exactly_one(self) -> Self:
        # The CRD's two CEL rules: has(configMapRef) || has(secretRef), and not both.
        if self.config_map_ref is not None and self.secret_ref is not None:
            raise Invalid(
                "secretRef",
                self.secret_ref.to_dict(),
                "cannot be set together with configMapRef: set exactly one of configMapRef "
                "or secretRef",
            )
        if self.config_map_ref is None and self.secret_ref is None:
            raise ValueError("needs exactly one of configMapRef or secretRef")
        return self


class CommonMetadata(FluxModel):
    """Labels and annotations set on every object applied (overriding same keys)."""

    labels: Labels | None = None
    """Labels to add; default: none."""
    annotations: Annotations | None = None
    """Annotations to add; default: none."""


class DependencyReference(ObjectRef):
    """A Kustomization this one waits for; build it from the object or from a name."""

    expected_kinds = ("Kustomization",)

    name: Name
    """Name of the dependency."""
    namespace: Namespace | None = None
    """Namespace of the dependency; default: the referrer's."""
    ready_expr: CelExpression | None = None
    """CEL readiness check (vars `self`, `dep`); default: the dependency's Ready condition."""


# --- Kustomization -----------------------------------------------------------------------------

SourceKind = Literal["OCIRepository", "GitRepository", "Bucket", "ExternalArtifact"]
"""The source kinds a Kustomization can build from."""


class KindReference(ObjectRef):
    """A reference to an object of one of `expected_kinds`, optionally in another namespace;
    build it from the object or by name. Subclasses narrow `kind`."""

    api_version: str | None = None
    """API version of the object; default: the served one."""
    kind: str
    """Kind of the object."""
    name: Name
    """Name of the object."""
    namespace: Namespace | None = None
    """Namespace of the object; default: the referrer's."""


class SourceReference(KindReference):
    """The source whose artifact a Kustomization builds; build it from the object or by name."""

    expected_kinds = get_args(SourceKind)
    kind: SourceKind
    """Kind of the source."""


class HealthCheckReference(NamespacedObjectKindReference):
    """An object whose health gates the Kustomization's readiness.

    Built from a Flux object, it also records the object's `apiVersion`: without it the
    controller would look the kind up in the core API group and never find it.
    """

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _with_api_version(cls, data: Any, handler: Any) -> Any:
        ident = flux_identity(data)
        if ident is None:
            return handler(data)
        kind, name, namespace = ident
        api_version = next((c.api_version for (_, k), c in flux_kinds().items() if k == kind), None)
        ref = handler(
            {"apiVersion": api_version, "kind": kind, "name": name, "namespace": namespace}
        )
        ref._target = data
        return ref


class SubstituteReference(ObjectRef):
    """A ConfigMap or Secret whose data are post-build variables."""

    expected_kinds = ("Secret", "ConfigMap")

    kind: Literal["Secret", "ConfigMap"]
    """Kind of the object holding the variables."""
    name: Name
    """Name of the object, in the Kustomization's namespace."""
    optional: bool | None = None
    """Carry on when the object does not exist; default false."""


_VAR_NAME = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")


def _check_var_names(value: dict[str, str]) -> dict[str, str]:
    for key in value:
        if not _VAR_NAME.match(key):
            raise ValueError(
                f"variable name {key!r} is not valid (expected letters, digits and '_', "
                "not starting with a digit)"
            )
    return value


class PostBuild(FluxModel):
    """Variable substitution on the built manifests (`${var}`, `${var:=default}`)."""

    substitute: Annotated[dict[str, str], AfterValidator(_check_var_names)] | None = None
    """Variables and their values; they win over `substitute_from`."""
    substitute_from: list[SubstituteReference] | None = None
    """ConfigMaps and Secrets with more variables; later entries win."""
    substitute_strategy: Literal["WithVariables", "Always"] | None = None
    """When to substitute: only with variables set (default `WithVariables`) or `Always`."""


class Decryption(FluxModel):
    """How to decrypt SOPS-encrypted manifests."""

    provider: Literal["sops"]
    """The decryption provider; only `sops`."""
    secret_ref: SecretRef | None = None
    """Secret with keys: `*.agekey`, `*.asc`, `sops.aws-kms`, `sops.azure-kv`, ...; default none."""
    service_account_name: str | None = None
    """Service account for KMS workload identity (gate `ObjectLevelWorkloadIdentity`)."""


_NamePart = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class KustomizationSpec(FluxModel):
    """Spec of a Kustomization."""

    source_ref: SourceReference
    """The source to build from: OCIRepository, GitRepository, Bucket or ExternalArtifact."""
    interval: Duration
    """How often to reconcile (re-apply and correct drift)."""
    prune: bool
    """Delete objects that were applied before and are gone from the source."""
    path: str | None = None
    """Path in the source to build; default: the source root."""
    retry_interval: Duration | None = None
    """How soon to retry after a failure; default: `interval`."""
    timeout: Duration | None = None
    """Timeout of build, apply and health checks; default: `interval` minus 30s, at least 30s."""
    depends_on: list[DependencyReference] | None = None
    """Kustomizations that must be ready first; default: none."""
    target_namespace: Namespace | None = None
    """Namespace set on every namespaced object; default: as in the manifests."""
    name_prefix: _NamePart | None = None
    """Prefix added to every object name; default: none."""
    name_suffix: _NamePart | None = None
    """Suffix added to every object name; default: none."""
    service_account_name: str | None = None
    """Service account to impersonate when applying; default: the controller's."""
    kube_config: KubeConfigReference | None = None
    """Apply to a remote cluster; default: the cluster Flux runs in."""
    decryption: Decryption | None = None
    """Decrypt SOPS-encrypted manifests; default: no decryption."""
    post_build: PostBuild | None = None
    """Variable substitution after the build; default: none."""
    patches: list[Patch] | None = None
    """Strategic merge or JSON6902 patches; default: none."""
    images: list[Image] | None = None
    """Image name, tag and digest overrides; default: none."""
    components: list[str] | None = None
    """Kustomize Components to include, relative to `path`; default: none."""
    ignore_missing_components: bool | None = None
    """Skip components that do not exist instead of failing; default false."""
    common_metadata: CommonMetadata | None = None
    """Labels and annotations set on every applied object; default: none."""
    wait: bool | None = None
    """Wait for every applied object to become ready (then `health_checks` is ignored)."""
    health_checks: list[HealthCheckReference] | None = None
    """Objects that must become ready; default: none."""
    health_check_exprs: list[CustomHealthCheck] | None = None
    """CEL health checks for custom resource kinds; default: none."""
    force: bool | None = None
    """Recreate objects whose immutable fields changed; default false."""
    deletion_policy: Literal["MirrorPrune", "Delete", "WaitForTermination", "Orphan"] | None = None
    """What deleting the Kustomization does to its objects; default `MirrorPrune` (as `prune`)."""
    ignore: list[IgnoreRule] | None = None
    """Fields to leave alone on applied objects; default: none."""
    build_metadata: list[Literal["originAnnotations", "transformerAnnotations"]] | None = None
    """Kustomize build metadata annotations to add; default: none."""
    suspend: bool | None = None
    """Stop reconciling; default false."""


class Kustomization(FluxObject):
    """A path in a source that Flux builds with kustomize and applies to a cluster."""

    api_version = API_VERSION
    kind = "Kustomization"
    removed_versions = _REMOVED

    spec: KustomizationSpec = FILLED

    if TYPE_CHECKING:
        # The flat form (`Kustomization(name=..., interval=...)`) under mypy: the pydantic plugin
        # synthesizes __init__(metadata, spec) for every subclass that lacks its own, and the
        # `init_forbid_extra = false` setting does not add **kwargs when extra="forbid".
        def __init__(self, /, **data: Any) -> None: ...
