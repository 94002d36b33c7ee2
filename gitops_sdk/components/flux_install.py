"""Flux itself: the release install manifest, tuned for the cluster and registered by a component.

We never write a reconciler of our own. `FluxInstall` reads Flux's `install.yaml` (a local file,
or the pinned release URL fetched at program time), checks its sha256, tunes it with
`tune_manifest` (a pure function: components, resources, flags, scheduling, images) and registers
one Kubernetes resource per object: the Namespace first, then the CRDs, then everything else.

```python
flux = FluxInstall("flux", FluxInstallArgs.arm64_homelab(sha256="<digest>"), opts=provider_opts)
register(repo, flux.depends_on())  # every Flux object waits for the CRDs and the controllers
```
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import pulumi
import pydantic
import yaml
from pydantic import AfterValidator, BeforeValidator, Field, Strict
from pydantic.alias_generators import to_snake

from gitops_sdk.api.release import (
    ARCH_LABEL,
    COMPONENT_LABEL,
    CONTROLLERS,
    DEFAULT_COMPONENTS,
    FLUX_VERSION,
    OS_LABEL,
    RELEASE_IMAGE_TAGS,
    RELEASE_URL,
    SKIP_AWAIT,
)
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import FieldIssue, GitopsError, SpecError
from gitops_sdk.core.fields import (
    CpuQuantity,
    Duration,
    MemoryQuantity,
    Name,
    Namespace,
    check_labels,
    quantity_value,
)

# Which controllers take which flags (flux-api.md §7).
_REQUEUE_DEPENDENCY = frozenset(
    {"source-controller", "kustomize-controller", "helm-controller", "image-reflector-controller"}
)
_NO_CROSS_NAMESPACE_REFS = frozenset(CONTROLLERS) - {"source-controller"}
# Only kustomize and helm impersonate `--default-service-account` (the multi-tenancy lockdown);
# for the others the flag names a workload-identity account, a different feature.
_IMPERSONATING = frozenset({"kustomize-controller", "helm-controller"})
# A controller that cannot work without others (it reads their kinds).
_NEEDS: Mapping[str, tuple[str, ...]] = {
    "kustomize-controller": ("source-controller",),
    "helm-controller": ("source-controller",),
    "image-automation-controller": ("source-controller", "image-reflector-controller"),
}
# Flags with a typed setting; extra args may not set them behind its back.
_TYPED_FLAGS = {
    "--concurrent": "concurrent",
    "--requeue-dependency": "requeueDependency",
    "--log-level": "logLevel",
    "--no-cross-namespace-refs": "noCrossNamespaceRefs (on FluxInstallArgs)",
    "--default-service-account": "defaultServiceAccount (on FluxInstallArgs)",
}
_WORKLOADS_THAT_AWAIT = ("Deployment", "Service")


class InstallManifestError(GitopsError):
    """The Flux install manifest is missing, unreadable, not the pinned one, or not Flux's."""


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
    affinity: Annotated[dict[str, Any], AfterValidator(_check_affinity)] | None = None
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


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_fields(model: pydantic.BaseModel) -> dict[str, Any]:
    dumped: dict[str, Any] = model.model_dump(exclude_unset=True, by_alias=False)
    return dumped


class FluxInstallArgs(FluxModel):
    """What `FluxInstall` installs and how. Every field has a default: `FluxInstallArgs()` is the
    stock Flux 2.9.4 release on arm64 nodes."""

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
            if tuning.requeue_dependency is not None and controller not in _REQUEUE_DEPENDENCY:
                raise Invalid(
                    f"controllers.{controller}.requeueDependency",
                    tuning.requeue_dependency,
                    f"{controller} has no --requeue-dependency flag (only "
                    f"{', '.join(c for c in CONTROLLERS if c in _REQUEUE_DEPENDENCY)})",
                )
        for controller in self.components:
            missing = [c for c in _NEEDS.get(controller, ()) if c not in self.components]
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
        return cls(**_deep_merge(base, plain))

    @property
    def manifest_source(self) -> str:
        """The file or URL the manifest is read from."""
        return self.manifest or RELEASE_URL.format(version=self.version)

    def tuning_for(self, controller: str) -> ControllerTuning:
        """`defaults` with the controller's own tuning over it."""
        base = _set_fields(self.defaults)
        if controller not in _REQUEUE_DEPENDENCY:
            base.pop("requeue_dependency", None)
        over = _set_fields(self.controllers[controller]) if controller in self.controllers else {}
        flags = dict(
            a.split("=", 1) for a in [*base.pop("extra_args", []), *over.pop("extra_args", [])]
        )
        merged = _deep_merge(base, over)
        merged["extra_args"] = [f"{k}={v}" for k, v in flags.items()]
        return ControllerTuning.model_validate(merged)

    def _origin(self, controller: str, *path: str) -> str | None:
        """Which field set a tuning value: `controllers.<c>`, `defaults`, or None (manifest)."""
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


# --- reading the manifest ------------------------------------------------------------------------

_DOWNLOADS: dict[str, bytes] = {}
_PARSED: dict[str, tuple[dict[str, Any], ...]] = {}


def _is_url(source: str) -> bool:
    return source.startswith("https://")


def read_manifest(args: FluxInstallArgs, *, where: str = "FluxInstallArgs") -> bytes:
    """The manifest bytes from `args.manifest_source`, checked against `args.sha256`."""
    source = args.manifest_source
    if _is_url(source):
        data = _DOWNLOADS.get(source)
        if data is None:
            try:
                with urllib.request.urlopen(source, timeout=60) as resp:
                    data = resp.read()
            except (urllib.error.URLError, OSError, ValueError) as err:
                reason = getattr(err, "reason", err)
                raise InstallManifestError(
                    f"{where}: manifest {source!r}: cannot download it ({reason}); expected a "
                    "reachable https:// URL, or a local file for offline installs"
                ) from None
            _DOWNLOADS[source] = data
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise InstallManifestError(
                f"{where}: manifest {source!r}: file not found (expected a Flux install.yaml, "
                f"or an https:// URL such as {RELEASE_URL.format(version=args.version)})"
            )
        data = path.read_bytes()
    if args.sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != args.sha256:
            raise InstallManifestError(
                f"{where}: manifest {source!r}: sha256 mismatch: expected {args.sha256}, "
                f"got {actual} (the file is not the pinned one; check it before updating sha256)"
            )
    return data


def _parse(data: bytes, source: str, where: str) -> tuple[dict[str, Any], ...]:
    key = hashlib.sha256(data).hexdigest()
    if key not in _PARSED:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            docs = [d for d in yaml.load_all(data, Loader=loader) if d is not None]
        except yaml.YAMLError as err:
            raise InstallManifestError(
                f"{where}: manifest {source!r}: not valid YAML ({err}); "
                "expected a Flux install.yaml"
            ) from None
        _PARSED.clear()  # one manifest per program; keep memory flat
        _PARSED[key] = tuple(docs)
    return _PARSED[key]


def load_manifest(args: FluxInstallArgs, *, where: str = "FluxInstallArgs") -> list[dict[str, Any]]:
    """Read, check and parse the install manifest `args` names (a fresh copy of its documents)."""
    data = read_manifest(args, where=where)
    return copy.deepcopy(list(_parse(data, args.manifest_source, where)))


# --- tuning (pure) -------------------------------------------------------------------------------


def tune_manifest(
    docs: Sequence[Mapping[str, Any]], args: FluxInstallArgs, *, where: str | None = None
) -> list[dict[str, Any]]:
    """The install manifest tuned by `args`: Namespace first, then the CRDs, then the rest.

    Objects of controllers not in `args.components` (labelled `app.kubernetes.io/component`) are
    dropped, their ServiceAccounts dropped from role bindings; Deployments get the flags,
    resources, `GOMEMLIMIT`, scheduling, images and await annotation `args` asks for. `docs` is
    not modified. Errors start with `where` (default: `manifest '<args.manifest_source>'`).
    """
    where = where or f"manifest {args.manifest_source!r}"
    checked = [_check_doc(doc, i, where) for i, doc in enumerate(docs)]
    old_ns = next((d["metadata"]["name"] for d in checked if d["kind"] == "Namespace"), None)
    old_ns = old_ns or "flux-system"
    selected = set(args.components)
    dropped_accounts = {
        d["metadata"]["name"]
        for d in checked
        if d["kind"] == "ServiceAccount" and _component(d) not in (None, *selected)
    }
    namespace_doc: dict[str, Any] | None = None
    crds: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    installed: set[str] = set()
    for original in checked:
        component = _component(original)
        if component is not None and component not in selected:
            continue
        doc = copy.deepcopy(dict(original))
        kind = doc["kind"]
        if kind == "Namespace":
            doc["metadata"]["name"] = args.namespace
            _relabel(doc, old_ns, args.namespace)
            namespace_doc = doc
            continue
        if kind == "CustomResourceDefinition":
            _relabel(doc, old_ns, args.namespace)
            crds.append(doc)
            continue
        _relocate(doc, old_ns, args.namespace)
        if kind in ("ClusterRoleBinding", "RoleBinding"):
            subjects = [
                s
                for s in doc.get("subjects") or []
                if not (
                    s.get("kind") == "ServiceAccount"
                    and s.get("namespace") == args.namespace
                    and s.get("name") in dropped_accounts
                )
            ]
            if not subjects:
                continue
            doc["subjects"] = subjects
        if kind == "Deployment":
            controller = component or doc["metadata"]["name"]
            if controller in selected:
                _tune_deployment(doc, controller, args, where)
                installed.add(controller)
        if not args.wait and kind in _WORKLOADS_THAT_AWAIT:
            doc["metadata"].setdefault("annotations", {})[SKIP_AWAIT] = "true"
        rest.append(doc)
    missing = [c for c in args.components if c not in installed]
    if missing:
        raise InstallManifestError(
            f"{where}: has no Deployment for {', '.join(missing)} (components selects it); "
            f"expected the full install.yaml of Flux {args.version} with every controller"
        )
    if namespace_doc is None:
        namespace_doc = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": args.namespace,
                "labels": {
                    "app.kubernetes.io/instance": args.namespace,
                    "app.kubernetes.io/part-of": "flux",
                },
            },
        }
    return [namespace_doc, *crds, *rest]


def _check_doc(doc: Any, index: int, where: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise InstallManifestError(
            f"{where}: document {index} is a {type(doc).__name__} (expected a Kubernetes object)"
        )
    meta = doc.get("metadata")
    if (
        not isinstance(doc.get("apiVersion"), str)
        or not isinstance(doc.get("kind"), str)
        or not isinstance(meta, Mapping)
        or not isinstance(meta.get("name"), str)
    ):
        raise InstallManifestError(
            f"{where}: document {index} lacks apiVersion, kind or metadata.name "
            "(expected a Kubernetes object)"
        )
    return doc


def _component(doc: Mapping[str, Any]) -> str | None:
    labels = doc["metadata"].get("labels") or {}
    value = labels.get(COMPONENT_LABEL)
    return value if isinstance(value, str) else None


def _relabel(doc: dict[str, Any], old: str, new: str) -> None:
    """`app.kubernetes.io/instance` names the namespace Flux is installed in (also on pods)."""
    template = (doc.get("spec") or {}).get("template") if doc["kind"] == "Deployment" else None
    for meta in (doc["metadata"], (template or {}).get("metadata") or {}):
        labels = meta.get("labels")
        if labels and labels.get("app.kubernetes.io/instance") == old:
            labels["app.kubernetes.io/instance"] = new


def _relocate(doc: dict[str, Any], old: str, new: str) -> None:
    """Move a namespaced object (and what names the namespace inside it) to `new`."""
    if old == new:
        return
    meta = doc["metadata"]
    if meta.get("namespace") == old:
        meta["namespace"] = new
    _relabel(doc, old, new)
    for subject in doc.get("subjects") or []:
        if subject.get("namespace") == old:
            subject["namespace"] = new
    if doc["kind"] == "Deployment":
        for container in doc["spec"]["template"]["spec"].get("containers") or []:
            container["args"] = [
                a.replace(f".{old}.svc", f".{new}.svc") for a in container.get("args") or []
            ]


def _tune_deployment(
    doc: dict[str, Any], controller: str, args: FluxInstallArgs, where: str
) -> None:
    tuning = args.tuning_for(controller)
    pod = doc["spec"]["template"]["spec"]
    containers = pod.get("containers") or []
    manager = next((c for c in containers if c.get("name") == "manager"), None)
    if manager is None and len(containers) == 1:
        manager = containers[0]
    if manager is None:
        raise InstallManifestError(
            f"{where}: Deployment {controller!r} has no container named 'manager' "
            "(expected Flux's controller Deployment)"
        )
    manager["image"] = _image(manager.get("image", ""), controller, args, tuning, where)
    manager["args"] = _set_flags(manager.get("args") or [], _flags(controller, args, tuning))
    manager["resources"] = _resources(manager.get("resources") or {}, controller, args, tuning)
    _set_gomemlimit(manager)
    _schedule(pod, args.scheduling)


def _image(
    image: str, controller: str, args: FluxInstallArgs, tuning: ControllerTuning, where: str
) -> str:
    name, _, digest = image.partition("@")
    repo, tag = name, ""
    if ":" in name.rsplit("/", 1)[-1]:
        repo, tag = name.rsplit(":", 1)
    expected = RELEASE_IMAGE_TAGS.get(args.version, {}).get(controller)
    if expected is not None and tag != expected:
        raise InstallManifestError(
            f"{where}: Deployment {controller!r} runs {image!r}, but Flux {args.version} ships "
            f"{controller} {expected} (expected the install.yaml of the pinned version; fix "
            "version or manifest)"
        )
    if args.registry is not None:
        repo = f"{args.registry}/{repo.rsplit('/', 1)[-1]}"
    out = f"{repo}:{tag}" if tag else repo
    digest = tuning.image_digest or digest
    return f"{out}@{digest}" if digest else out


def _flags(
    controller: str, args: FluxInstallArgs, tuning: ControllerTuning
) -> dict[str, str | None]:
    """Flag -> value to set, or None to remove."""
    flags: dict[str, str | None] = {}
    if "notification-controller" not in args.components:
        flags["--events-addr"] = None  # as `flux install` does: nobody to send events to
    if tuning.concurrent is not None:
        flags["--concurrent"] = str(tuning.concurrent)
    if tuning.requeue_dependency is not None:
        flags["--requeue-dependency"] = tuning.requeue_dependency
    if tuning.log_level is not None:
        flags["--log-level"] = tuning.log_level.value
    if args.no_cross_namespace_refs and controller in _NO_CROSS_NAMESPACE_REFS:
        flags["--no-cross-namespace-refs"] = "true"
    if args.default_service_account is not None and controller in _IMPERSONATING:
        flags["--default-service-account"] = args.default_service_account
    for arg in tuning.extra_args:
        flag, value = arg.split("=", 1)
        flags[flag] = value
    return flags


def _set_flags(existing: Sequence[str], flags: Mapping[str, str | None]) -> list[str]:
    """Replace each flag where it stands (dropping repeats), append the new ones."""
    out: list[str] = []
    done: set[str] = set()
    for arg in existing:
        flag = arg.split("=", 1)[0]
        if flag not in flags:
            out.append(arg)
            continue
        value = flags[flag]
        if flag not in done and value is not None:
            out.append(f"{flag}={value}")
        done.add(flag)
    out.extend(f"{f}={v}" for f, v in flags.items() if f not in done and v is not None)
    return out


def _resources(
    current: Mapping[str, Any], controller: str, args: FluxInstallArgs, tuning: ControllerTuning
) -> dict[str, Any]:
    out: dict[str, dict[str, str]] = {
        part: dict(current.get(part) or {}) for part in ("limits", "requests")
    }
    if tuning.resources is not None:
        for part in ("limits", "requests"):
            wanted: ResourceList | None = getattr(tuning.resources, part)
            for key in ("cpu", "memory"):
                value = getattr(wanted, key) if wanted is not None else None
                if value is not None:
                    out[part][key] = value
    for key in ("cpu", "memory"):
        request, limit = out["requests"].get(key), out["limits"].get(key)
        if request is None or limit is None:
            continue
        if quantity_value(str(request)) > quantity_value(str(limit)):
            origin = args._origin(controller, "resources", "requests", key)
            blame = "requests" if origin else "limits"
            origin = origin or args._origin(controller, "resources", "limits", key)
            path = f"{origin}.resources.{blame}.{key}" if origin else f"resources.{blame}.{key}"
            value, other = (request, limit) if blame == "requests" else (limit, request)
            relation = "more than the limit" if blame == "requests" else "less than the request"
            raise SpecError(
                "FluxInstallArgs",
                None,
                [
                    FieldIssue(
                        path,
                        value,
                        f"is {relation} {other!r} of {controller} (expected requests <= "
                        "limits; Kubernetes rejects the Deployment otherwise)",
                    )
                ],
            )
    return {part: values for part, values in out.items() if values}


def _set_gomemlimit(container: dict[str, Any]) -> None:
    """`GOMEMLIMIT` from the container's own memory limit, as Flux sets it, whatever was there."""
    entry = {
        "name": "GOMEMLIMIT",
        "valueFrom": {
            "resourceFieldRef": {
                "containerName": container.get("name", "manager"),
                "resource": "limits.memory",
            }
        },
    }
    env = [e for e in container.get("env") or [] if e.get("name") != "GOMEMLIMIT"]
    container["env"] = [*env, entry]


def _schedule(pod: dict[str, Any], scheduling: Scheduling) -> None:
    archs = scheduling.architectures
    selector = dict(pod.get("nodeSelector") or {})
    selector[OS_LABEL] = "linux"
    selector.pop(ARCH_LABEL, None)
    if len(archs) == 1:
        selector[ARCH_LABEL] = archs[0]
    selector.update(scheduling.node_selector)
    pod["nodeSelector"] = selector
    affinity = copy.deepcopy(scheduling.affinity or pod.get("affinity") or {})
    if len(archs) > 1:
        expression = {"key": ARCH_LABEL, "operator": "In", "values": list(archs)}
        node = affinity.setdefault("nodeAffinity", {})
        required = node.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
        terms = required.setdefault("nodeSelectorTerms", [])
        if not terms:
            terms.append({})
        for term in terms:
            exprs = [e for e in term.get("matchExpressions") or [] if e.get("key") != ARCH_LABEL]
            term["matchExpressions"] = [*exprs, expression]
    if affinity:
        pod["affinity"] = affinity
    if scheduling.tolerations:
        existing = list(pod.get("tolerations") or [])
        for toleration in scheduling.tolerations:
            item = toleration.model_dump(mode="json", by_alias=True, exclude_none=True)
            if item not in existing:
                existing.append(item)
        pod["tolerations"] = existing
    if scheduling.priority_class_name is not None:
        pod["priorityClassName"] = scheduling.priority_class_name


# --- the component -------------------------------------------------------------------------------


@cache
def _resource_class(api_version: str) -> Any:
    """The pulumi-kubernetes module of an apiVersion (`apps/v1` -> `pulumi_kubernetes.apps.v1`)."""
    group, _, version = api_version.rpartition("/")
    package = "core" if not group else group.split(".")[0]
    try:
        return importlib.import_module(f"pulumi_kubernetes.{package}.{version}")
    except ImportError:
        return None


def register_object(
    resource_name: str, doc: Mapping[str, Any], opts: pulumi.ResourceOptions | None = None
) -> pulumi.CustomResource:
    """Register one Kubernetes object with its typed pulumi-kubernetes class (type token
    `kubernetes:<group/version>:<Kind>`, so the provider's await logic applies), or as a
    `CustomResource` when pulumi-kubernetes has no class for it."""
    from pulumi_kubernetes.apiextensions import CustomResource

    api_version, kind = doc["apiVersion"], doc["kind"]
    body = {to_snake(k): v for k, v in doc.items() if k not in ("apiVersion", "kind")}
    module = _resource_class(api_version)
    cls = getattr(module, kind, None) if module is not None else None
    if isinstance(cls, type) and issubclass(cls, pulumi.CustomResource):
        resource: pulumi.CustomResource = cls(resource_name, opts=opts, **body)
        return resource
    if not set(body) <= {"metadata", "spec"}:
        raise InstallManifestError(
            f"{kind} {doc['metadata'].get('name')!r} ({api_version}): pulumi-kubernetes has no "
            f"class for it and it has top-level fields {sorted(set(body) - {'metadata', 'spec'})} "
            "(expected only metadata and spec)"
        )
    return CustomResource(resource_name, api_version=api_version, kind=kind, opts=opts, **body)


class FluxInstall(pulumi.ComponentResource):
    """Flux's controllers and CRDs, installed from the release manifest and tuned by `args`.

    Registration order and dependencies: the Namespace; then the CRDs; then ServiceAccounts,
    RBAC, quota and network policies (after the Namespace and every CRD); then the Deployments
    (after all of those); Services last (after the Namespace and CRDs only).

    Readiness with `wait` true: pulumi-kubernetes reports a Deployment created only once its
    rollout is complete and it is Available (default timeout 10 minutes), and a Service only once
    its endpoints have a ready pod; the Namespace, CRDs, RBAC and the rest count as created when
    the API server accepts them. Anything that depends on `ready` (see `depends_on`) therefore
    starts only after the CRDs exist and the controllers run, and on destroy it is deleted while
    they still run, so Flux can process its finalizers. With `wait` false, Deployments and
    Services carry `pulumi.com/skipAwait: "true"` and count as created as soon as the API server
    accepts them: the stack no longer knows whether Flux started.

    `docs`, when given, is the already parsed manifest (then `args.manifest` and `args.sha256` are
    not used). Never creates a provider: pass one in `opts`.
    """

    args: FluxInstallArgs
    manifests: list[dict[str, Any]]
    """The tuned objects, in registration order."""
    namespace: pulumi.Output[str]
    """Name of the Flux namespace, resolved once the Namespace exists."""
    namespace_resource: pulumi.CustomResource
    crds: list[pulumi.CustomResource]
    """The CRDs: every Flux object must be registered after them (see `depends_on`)."""
    deployments: dict[str, pulumi.CustomResource]
    """The controller Deployments, by controller name."""
    resources: dict[str, pulumi.CustomResource]
    """Every registered object, keyed `Kind/name`."""
    ready: list[pulumi.Resource]
    """What a Flux object should depend on: the Namespace, the CRDs and the Deployments."""

    def __init__(
        self,
        name: str,
        args: FluxInstallArgs | None = None,
        *,
        docs: Sequence[Mapping[str, Any]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        args = args if args is not None else FluxInstallArgs()
        where = f"FluxInstall {name!r}"
        source = args.manifest_source
        if docs is None:
            if _is_url(source) and args.sha256 is None:
                pulumi.log.warn(
                    f"{where}: manifest {source} is not pinned by sha256; set sha256 so a "
                    "changed download cannot reach the cluster"
                )
            docs = _parse(read_manifest(args, where=where), source, where)
            tuned = tune_manifest(docs, args, where=f"{where}: manifest {source!r}")
        else:
            tuned = tune_manifest(docs, args, where=f"{where}: manifest (parsed documents)")
        super().__init__("gitops:flux:FluxInstall", name, None, opts)
        self.args = args
        self.manifests = tuned
        self.resources = {}
        self.deployments = {}
        self.crds = []

        def child(suffix: str, doc: Mapping[str, Any], deps: list[pulumi.Resource]) -> Any:
            res = register_object(
                f"{name}-{suffix}", doc, pulumi.ResourceOptions(parent=self, depends_on=deps)
            )
            self.resources[f"{doc['kind']}/{doc['metadata']['name']}"] = res
            return res

        ns_doc, *others = tuned
        self.namespace_resource = child("namespace", ns_doc, [])
        for doc in others:
            if doc["kind"] == "CustomResourceDefinition":
                self.crds.append(child(f"crd-{doc['metadata']['name']}", doc, []))
        base: list[pulumi.Resource] = [self.namespace_resource, *self.crds]
        support: list[pulumi.Resource] = []
        for doc in others:
            if doc["kind"] not in ("CustomResourceDefinition", "Deployment", "Service"):
                support.append(child(_suffix(doc), doc, base))
        for doc in others:
            if doc["kind"] == "Deployment":
                res = child(_suffix(doc), doc, [*base, *support])
                self.deployments[_component(doc) or doc["metadata"]["name"]] = res
        for doc in others:
            if doc["kind"] == "Service":
                child(_suffix(doc), doc, base)

        self.namespace = self.namespace_resource.metadata.apply(_meta_name)  # type: ignore[attr-defined]
        self.ready = [self.namespace_resource, *self.crds, *self.deployments.values()]
        self.register_outputs(
            {
                "namespace": self.namespace,
                "version": args.version,
                "components": list(args.components),
                "crds": [
                    d["metadata"]["name"] for d in tuned if d["kind"] == "CustomResourceDefinition"
                ],
            }
        )

    def depends_on(self, opts: pulumi.ResourceOptions | None = None) -> pulumi.ResourceOptions:
        """`opts` plus `depends_on` the Namespace, CRDs and controllers: pass it to every Flux
        object the stack registers."""
        return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(depends_on=self.ready), opts)


def _suffix(doc: Mapping[str, Any]) -> str:
    return f"{str(doc['kind']).lower()}-{doc['metadata']['name']}"


def _meta_name(meta: Any) -> str:
    name = meta.get("name") if isinstance(meta, Mapping) else getattr(meta, "name", None)
    return str(name)
