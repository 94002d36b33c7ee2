"""The typed settings of a Flux install: which release and controllers, their resources,
flags and scheduling, each checked when the settings are built (no Pulumi here).

```python
settings = FluxInstallSettings.arm64_homelab(sha256="<digest>", controllers={"helm": {...}})
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field, Strict

from gitops_sdk.api.release import (
    ARCH_LABEL,
    CONTROLLER_NEEDS,
    CONTROLLERS,
    DEFAULT_COMPONENTS,
    FLUX_VERSION,
    OS_LABEL,
    RELEASE_URL,
    REQUEUE_DEPENDENCY,
)
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.fields import (
    CpuQuantity,
    Duration,
    FreeObject,
    MemoryQuantity,
    Name,
    Namespace,
    check_labels,
    check_url,
)
from gitops_sdk.core.mappings import deep_merge

__all__ = [
    "ADOPT_ANNOTATIONS",
    "Architecture",
    "ControllerName",
    "ControllerTuning",
    "Digest",
    "Flag",
    "FluxInstallSettings",
    "LogLevel",
    "ResourceList",
    "Resources",
    "Scheduling",
    "Toleration",
]

ADOPT_ANNOTATIONS = {
    "pulumi.com/patchForce": "true",
    "kustomize.toolkit.fluxcd.io/prune": "disabled",
}
"""What `adopt` puts on every object taken over: Pulumi's server-side apply forces its values
over fields `flux bootstrap` or kustomize-controller applied (no field-manager conflict), and
kustomize-controller never deletes the object once its manifest leaves the Git repository."""

# Flags with a typed setting; extra args may not set them behind its back.
_TYPED_FLAGS = {
    "--concurrent": "concurrent",
    "--requeue-dependency": "requeueDependency",
    "--log-level": "logLevel",
    "--no-cross-namespace-refs": "noCrossNamespaceRefs (on FluxInstallArgs)",
    "--default-service-account": "defaultServiceAccount (on FluxInstallArgs)",
}

# --- field types ---------------------------------------------------------------------------------


def _controller_name(value: str) -> str:
    full = value if value.endswith("-controller") else f"{value}-controller"
    if full not in CONTROLLERS:
        raise ValueError(
            f"is not a Flux controller (expected one of {', '.join(CONTROLLERS)}; "
            "the '-controller' suffix may be left out)"
        )
    return full


ControllerName = Annotated[str, AfterValidator(_controller_name)]
"""A controller name; `kustomize` is short for `kustomize-controller`."""


_FLAG = re.compile(r"^--[A-Za-z][A-Za-z0-9-]*=.*$")


def _check_flag(value: str) -> str:
    if not _FLAG.match(value):
        raise ValueError(
            "is not a '--flag=value' argument (expected e.g. '--kube-api-qps=100'; "
            "write boolean flags as '--flag=true')"
        )
    flag = value.split("=", 1)[0]
    if flag in _TYPED_FLAGS:
        raise ValueError(
            f"sets {flag}, which has a typed setting: use {_TYPED_FLAGS[flag]} instead"
        )
    return value


Flag = Annotated[str, AfterValidator(_check_flag)]
"""A controller command-line argument written `--flag=value`."""


def _check_digest(value: str) -> str:
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", value):
        raise ValueError("is not an image digest (expected 'sha256:' and 64 lowercase hex digits)")
    return value


Digest = Annotated[str, AfterValidator(_check_digest)]
"""An OCI image digest, `sha256:<64 hex>`."""

_REGISTRY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def _check_registry(value: str) -> str:
    if "://" in value:
        raise ValueError("must not have a scheme (expected e.g. 'docker.io/fluxcd')")
    value = value.rstrip("/")
    if not _REGISTRY.match(value):
        raise ValueError(
            "is not an image registry path (expected e.g. 'docker.io/fluxcd' or "
            "'registry.lan:5000/mirror/fluxcd')"
        )
    return value


def _check_version(value: str) -> str:
    version = value.removeprefix("v")
    if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?", version):
        raise ValueError("is not a Flux release version (expected e.g. '2.9.4')")
    return version


def _check_sha256(value: str) -> str:
    digest = value.removeprefix("sha256:").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError("is not a sha256 digest (expected 64 hex digits)")
    return digest


def _check_source(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):
        if value.startswith("http://"):
            raise ValueError(
                "is a plain http:// URL (expected an https:// URL or a local file path)"
            )
        if "://" in value and not value.startswith("https://"):
            raise ValueError("is not an https:// URL or a local file path")
        if "://" in value:
            return check_url(value, ("https",), "download it and point manifest at the file")
        if not value.strip():
            raise ValueError("is empty (expected an https:// URL or a local file path)")
    return value


class LogLevel(StrEnum):
    """Controller log verbosity (`--log-level`)."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    ERROR = "error"


Architecture = Literal["arm64", "amd64", "arm"]
"""A node architecture Flux publishes images for (`linux/arm64`, `linux/amd64`, `linux/arm/v7`)."""

# --- args ----------------------------------------------------------------------------------------


class ResourceList(FluxModel):
    """CPU and memory for requests or limits; unset keys keep the manifest's value."""

    cpu: CpuQuantity | None = None
    """CPU, e.g. `100m`. Default: the manifest's."""
    memory: MemoryQuantity | None = None
    """Memory, e.g. `128Mi`. Default: the manifest's."""


class Resources(FluxModel):
    """Container requests and limits of a controller."""

    requests: ResourceList | None = None
    """What the scheduler reserves. Default: the manifest's (50m-100m CPU, 64Mi)."""
    limits: ResourceList | None = None
    """The cap; `GOMEMLIMIT` follows `limits.memory`. Default: the manifest's (1000m, 1Gi)."""


class ControllerTuning(FluxModel):
    """How one controller runs. Unset fields keep what the manifest (or `defaults`) says."""

    resources: Resources | None = None
    """Requests and limits. Default: the manifest's."""
    concurrent: Annotated[int, Field(ge=1, le=100)] | None = None
    """`--concurrent`: parallel reconciles. Default: Flux's (2 for source, 4 for the others)."""
    requeue_dependency: Duration | None = None
    """`--requeue-dependency`: recheck interval of unready `dependsOn` (source, kustomize, helm,
    image-reflector only). Default: Flux's 30s."""
    log_level: Annotated[LogLevel, Strict(False)] | None = None  # "info" as well as LogLevel.INFO
    """`--log-level`. Default: the manifest's `info`."""
    image_digest: Digest | None = None
    """Pin the controller image to this digest (`image:tag@sha256:...`). Default: tag only."""
    extra_args: list[Flag] = []
    """More flags, each `--flag=value`; they replace the manifest's flag of the same name.
    Default: none."""

    @pydantic.model_validator(mode="after")
    def _unique_flags(self) -> Self:
        seen: dict[str, int] = {}
        for i, arg in enumerate(self.extra_args):
            flag = arg.split("=", 1)[0]
            if flag in seen:
                raise Invalid(
                    f"extraArgs[{i}]", arg, f"sets {flag} again (extraArgs[{seen[flag]}] sets it)"
                )
            seen[flag] = i
        return self


class Toleration(FluxModel):
    """A pod toleration, as Kubernetes writes it."""

    key: str | None = None
    """Taint key; empty with `Exists` tolerates every taint. Default: none."""
    operator: Literal["Exists", "Equal"] = "Equal"
    """`Equal` (key and value match) or `Exists` (key matches). Default: `Equal`."""
    value: str | None = None
    """Taint value for `Equal`. Default: none."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    """Taint effect to tolerate; empty tolerates all effects. Default: none."""
    toleration_seconds: Annotated[int, Field(ge=0)] | None = None
    """How long a `NoExecute` taint is tolerated. Default: forever."""

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.operator == "Exists" and self.value:
            raise Invalid("value", self.value, "must be empty when operator is 'Exists'")
        if self.operator == "Equal" and not self.key:
            raise Invalid("key", self.key, "is required when operator is 'Equal' (or use 'Exists')")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise Invalid("tolerationSeconds", self.toleration_seconds, "needs effect 'NoExecute'")
        return self


_AFFINITY_KEYS = ("nodeAffinity", "podAffinity", "podAntiAffinity")


def _check_affinity(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if key not in _AFFINITY_KEYS:
            raise ValueError(
                f"has unknown key {key!r} (expected {', '.join(_AFFINITY_KEYS)}, as "
                "Kubernetes writes pod affinity)"
            )
    return value


def _check_node_selector(value: dict[str, str]) -> dict[str, str]:
    for key in (OS_LABEL, ARCH_LABEL):
        if key in value:
            what = "architectures" if key == ARCH_LABEL else "nothing: Flux runs on linux only"
            raise ValueError(f"sets {key!r}, which FluxInstall manages (use {what})")
    return check_labels(value)


class Scheduling(FluxModel):
    """Where the controllers run. Applies to every installed controller."""

    architectures: Annotated[list[Architecture], Field(min_length=1)] = ["arm64"]
    """Node architectures: one gives `nodeSelector: kubernetes.io/arch`, several a required
    node affinity. `kubernetes.io/os: linux` is always set. Default: `["arm64"]`."""
    node_selector: Annotated[dict[str, str], AfterValidator(_check_node_selector)] = {}
    """More node labels to require, e.g. `{node-role.homelab/flux: "true"}`. Default: none."""
    tolerations: list[Toleration] = []
    """Taints the controllers tolerate, e.g. a control-plane taint. Default: none."""
    affinity: Annotated[FreeObject, AfterValidator(_check_affinity)] | None = None
    """A Kubernetes `affinity` (camelCase, as in a pod spec); the architecture term is added to
    each of its node selector terms. Default: none."""
    priority_class_name: Name | None = None
    """PriorityClass of every controller. Default: the manifest's (`system-cluster-critical` for
    source, kustomize and helm)."""

    @pydantic.field_validator("architectures")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists an architecture twice")
        return value


def _set_fields(model: pydantic.BaseModel) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(exclude_unset=True, by_alias=False)
    return dumped


class FluxInstallSettings(FluxModel):
    """What `FluxInstall` installs and how; the base of `FluxInstallArgs` and of the stack's
    `gitops:flux`. Every field has a default: `FluxInstallSettings()` is the stock Flux 2.9.4
    release on arm64 nodes."""

    version: Annotated[str, AfterValidator(_check_version)] = FLUX_VERSION
    """Flux release (`2.9.4`; a leading `v` is dropped). Image tags are checked against it when the
    SDK knows the release. Default: `2.9.4`."""
    manifest: Annotated[str, BeforeValidator(_check_source)] | None = None
    """The install manifest: a local file path (relative to the Pulumi project directory, the
    program's working directory) or an https:// URL fetched at program time. Default: the
    release asset `https://github.com/fluxcd/flux2/releases/download/v<version>/install.yaml`."""
    sha256: Annotated[str, AfterValidator(_check_sha256)] | None = None
    """Expected sha256 of the manifest bytes; a mismatch stops the program. Default: not checked
    (a warning is logged for URLs)."""
    namespace: Namespace = "flux-system"
    """Namespace of the controllers. Default: `flux-system`."""
    components: Annotated[list[ControllerName], Field(min_length=1)] = list(DEFAULT_COMPONENTS)
    """Controllers to install. Default: source, kustomize, helm, notification; add
    `image-reflector-controller` and `image-automation-controller` for image automation."""
    defaults: ControllerTuning = ControllerTuning()
    """Tuning of every installed controller (`requeueDependency` only where Flux has the flag).
    Default: none (the manifest as released)."""
    controllers: dict[str, ControllerTuning] = {}
    """Tuning per controller, keyed by name (`kustomize` or `kustomize-controller`); fields set
    here win over `defaults`, extra args replace those of the same flag. Default: none."""
    scheduling: Scheduling = Scheduling()
    """Node selection, tolerations, affinity and priority. Default: arm64 Linux nodes."""
    no_cross_namespace_refs: bool = False
    """Multi-tenancy lockdown: `--no-cross-namespace-refs=true` on every controller but source.
    Default: false."""
    default_service_account: Name | None = None
    """Multi-tenancy lockdown: ServiceAccount kustomize and helm impersonate when an object names
    none (`--default-service-account`). Default: none (the controllers' own account)."""
    registry: Annotated[str, AfterValidator(_check_registry)] | None = None
    """Pull the controller images from this registry path, e.g. `docker.io/fluxcd`. Default: the
    manifest's `ghcr.io/fluxcd`."""
    wait: bool = True
    """Wait for the controllers to become available (pulumi-kubernetes await); false annotates
    Deployments and Services with `pulumi.com/skipAwait: "true"`. Default: true."""
    adopt: bool = False
    """Take over a Flux install made outside Pulumi (`flux bootstrap`, `flux install`): every
    install object carries `ADOPT_ANNOTATIONS`, so `pulumi up` applies over the objects that are
    there (same UIDs, nothing deleted or recreated) and owns their fields from then on, and
    kustomize-controller no longer prunes them when `gotk-components.yaml` leaves Git.
    Default: false (a field another manager applied with another value fails the update)."""

    @pydantic.field_validator("components", mode="after")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @pydantic.field_validator("controllers", mode="before")
    @classmethod
    def _controller_keys(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        out: dict[str, Any] = {}
        for key, tuning in value.items():
            try:
                full = _controller_name(str(key))
            except ValueError as err:
                raise Invalid(str(key), key, str(err)) from None
            if full in out:
                raise Invalid(str(key), key, f"tunes {full} twice (two keys name it)")
            out[full] = tuning
        return out

    @pydantic.model_validator(mode="after")
    def _consistent(self) -> Self:
        for controller, tuning in self.controllers.items():
            if controller not in self.components:
                raise Invalid(
                    f"controllers.{controller}",
                    controller,
                    "is tuned but not installed (expected one of components: "
                    f"{', '.join(self.components)}; add it to components or drop the tuning)",
                )
            if tuning.requeue_dependency is not None and controller not in REQUEUE_DEPENDENCY:
                raise Invalid(
                    f"controllers.{controller}.requeueDependency",
                    tuning.requeue_dependency,
                    f"{controller} has no --requeue-dependency flag (only "
                    f"{', '.join(c for c in CONTROLLERS if c in REQUEUE_DEPENDENCY)})",
                )
        for controller in self.components:
            missing = [c for c in CONTROLLER_NEEDS.get(controller, ()) if c not in self.components]
            if missing:
                raise Invalid(
                    "components",
                    self.components,
                    f"{controller} needs {' and '.join(missing)} (it reads the kinds "
                    f"{'they serve' if len(missing) > 1 else 'it serves'}); add "
                    f"{'them' if len(missing) > 1 else 'it'} to components",
                )
        return self

    @classmethod
    def arm64_homelab(cls, **overrides: Any) -> Self:
        """Flux tuned for small ARM64 nodes (the homelab seed): every controller requests
        100m/128Mi, is limited to 500m/256Mi and runs 2 reconciles at once, on arm64 nodes.
        `overrides` are merged over these (nested dicts key by key)."""
        base: dict[str, Any] = {
            "defaults": {
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
                "concurrent": 2,
            },
            "scheduling": {"architectures": ["arm64"]},
        }
        plain = {
            k: _set_fields(v) if isinstance(v, pydantic.BaseModel) else v
            for k, v in overrides.items()
        }
        return cls(**deep_merge(base, plain))

    @property
    def manifest_source(self) -> str:
        """The file or URL the manifest is read from."""
        return self.manifest or RELEASE_URL.format(version=self.version)

    def tuning_for(self, controller: str) -> ControllerTuning:
        """`defaults` with the controller's own tuning over it."""
        base = _set_fields(self.defaults)
        if controller not in REQUEUE_DEPENDENCY:
            base.pop("requeue_dependency", None)
        over = _set_fields(self.controllers[controller]) if controller in self.controllers else {}
        flags = dict(
            a.split("=", 1) for a in [*base.pop("extra_args", []), *over.pop("extra_args", [])]
        )
        merged = deep_merge(base, over)
        merged["extra_args"] = [f"{k}={v}" for k, v in flags.items()]
        return ControllerTuning.model_validate(merged)

    def setting_origin(self, controller: str, *path: str) -> str | None:
        """Which field sets a tuning value of `controller` (`path` below its tuning, e.g.
        `resources`, `limits`, `cpu`): `controllers.<c>`, `defaults`, or None (the manifest)."""
        for prefix, tuning in (
            (f"controllers.{controller}", self.controllers.get(controller)),
            ("defaults", self.defaults),
        ):
            value: Any = tuning
            for part in path:
                value = getattr(value, part, None) if value is not None else None
            if value is not None:
                return prefix
        return None
