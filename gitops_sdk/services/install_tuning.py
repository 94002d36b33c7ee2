"""Tuning the Flux install manifest (pure): keep the selected controllers, move them to their
namespace, and give each Deployment the flags, resources, `GOMEMLIMIT`, scheduling and images its
settings ask for."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gitops_sdk.api.install import ControllerTuning, FluxInstallSettings, ResourceList, Scheduling
from gitops_sdk.api.release import (
    ARCH_LABEL,
    COMPONENT_LABEL,
    IMPERSONATING,
    NO_CROSS_NAMESPACE_REFS,
    OS_LABEL,
    RELEASE_IMAGE_TAGS,
    SKIP_AWAIT,
)
from gitops_sdk.core.errors import FieldIssue, SpecError
from gitops_sdk.core.fields import quantity_value
from gitops_sdk.services.install_manifest import InstallManifestError

__all__ = ["component_of", "tune_manifest"]

_WORKLOADS_THAT_AWAIT = ("Deployment", "Service")


def tune_manifest(
    docs: Sequence[Mapping[str, Any]], args: FluxInstallSettings, *, where: str | None = None
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
        if d["kind"] == "ServiceAccount" and component_of(d) not in (None, *selected)
    }
    namespace_doc: dict[str, Any] | None = None
    crds: list[dict[str, Any]] = []
    rest: list[dict[str, Any]] = []
    installed: set[str] = set()
    for original in checked:
        component = component_of(original)
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


def component_of(doc: Mapping[str, Any]) -> str | None:
    """The controller an object of the manifest belongs to (its `app.kubernetes.io/component`
    label), if any."""
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
    doc: dict[str, Any], controller: str, args: FluxInstallSettings, where: str
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
    image: str, controller: str, args: FluxInstallSettings, tuning: ControllerTuning, where: str
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
    controller: str, args: FluxInstallSettings, tuning: ControllerTuning
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
    if args.no_cross_namespace_refs and controller in NO_CROSS_NAMESPACE_REFS:
        flags["--no-cross-namespace-refs"] = "true"
    if args.default_service_account is not None and controller in IMPERSONATING:
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
    current: Mapping[str, Any],
    controller: str,
    args: FluxInstallSettings,
    tuning: ControllerTuning,
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
            origin = args.setting_origin(controller, "resources", "requests", key)
            blame = "requests" if origin else "limits"
            origin = origin or args.setting_origin(controller, "resources", "limits", key)
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
