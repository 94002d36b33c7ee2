"""What a Deployment's container would run, as a local process: its args and env as Kubernetes
would hand them over (`$(VAR)` expanded, `valueFrom` resolved), with only what cannot hold
outside a Pod translated.

The translations (`TRANSLATED_FLAGS`, `TRANSLATED_ENV`, env values under an `emptyDir` mount)
are the whole difference between the Deployment and the process; `ProcessPlan.translations` lists
each one made. Every other arg and env value is passed exactly, so a flag the binary does not
know makes it exit, as it would in the cluster.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from .procs import HarnessError

TRANSLATED_FLAGS: Mapping[str, str] = {
    "--metrics-addr": "a free loopback port (in a Pod, :8080 of the Pod's own IP)",
    "--health-addr": "a free loopback port (in a Pod, :9440)",
    "--storage-addr": "a free loopback port (source-controller's artifact server)",
    "--storage-adv-addr": "that loopback address (in a Pod, the Service's DNS name)",
    "--storage-path": "a folder of the run (in a Pod, an emptyDir)",
    "--events-addr": (
        "notification-controller's loopback event address (its own: where it listens; the "
        "others': where they send)"
    ),
    "--receiverAddr": "a free loopback port (notification-controller's webhook receiver)",
    "--enable-leader-election": "false: one process per controller, no Pod to hand over to",
}
"""Flags the harness sets or rewrites, and why; a listening address missing from the
Deployment is added, since its default (`:8080`, `:9090`, ...) would collide on one machine."""

TRANSLATED_ENV: Mapping[str, str] = {
    "KUBECONFIG": "the API server and credentials (in a Pod, the service account's mounted token)",
    "PATH": "the machine's PATH (in a Pod, the image's)",
    "HOME": "a folder of the run (in a Pod, the image user's home)",
    "TMPDIR": "the folder standing for the emptyDir mounted at /tmp, when there is one",
}
"""Environment the harness adds; nothing else of the test's environment reaches a controller."""

LISTENS: Mapping[str, tuple[str, ...]] = {
    "source-controller": ("--storage-addr",),
    "notification-controller": ("--events-addr", "--receiverAddr"),
}
"""Listening addresses beyond metrics and health, per controller (added when not set)."""

PATH_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    "image-reflector-controller": {"--storage-path": "/data"},
}
"""Flags whose built-in default is a folder of the Pod (a mounted volume): added, pointing at
the folder standing for that volume, when the Deployment leaves them out."""

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion of args and env values: a defined variable is replaced,
    an undefined one is left as written, `$$` is a literal `$`."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _VAR.sub(one, text)


_SUFFIX = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity (`250m`, `192Mi`, `1e3`) as an exact number."""
    m = re.fullmatch(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)", str(text).strip())
    if not m or m.group(2) not in _SUFFIX:
        raise HarnessError(f"not a Kubernetes quantity: {text!r}")
    return Decimal(m.group(1)) * _SUFFIX[m.group(2)]


def node_allocatable(resource: str) -> Decimal:
    """What this machine offers, standing for a node's allocatable when no limit is set."""
    if resource == "cpu":
        return Decimal(os.cpu_count() or 1)
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return Decimal(int(line.split()[1]) * 1024)
    raise HarnessError("cannot read MemTotal from /proc/meminfo")


def resource_field(containers: Sequence[Mapping[str, Any]], default: str, ref: Any) -> str:
    """The value of a `resourceFieldRef`, computed as the kubelet does: the quantity divided by
    `divisor` (unset or 0: 1), rounded up; an unset limit is the node's allocatable."""
    name = ref.get("containerName") or default
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise HarnessError(f"resourceFieldRef names no container {name!r}")
    part, _, resource = str(ref.get("resource", "")).partition(".")
    if part not in ("limits", "requests") or resource not in ("cpu", "memory"):
        raise HarnessError(f"resourceFieldRef {ref.get('resource')!r} is not supported here")
    given = ((container.get("resources") or {}).get(part) or {}).get(resource)
    if given is not None:
        value = quantity(given)
    elif part == "limits":
        value = node_allocatable(resource)
    else:
        value = Decimal(0)
    # The API server stores an unset divisor as "0", which the kubelet reads as 1.
    divisor = quantity(ref.get("divisor") or "1") or Decimal(1)
    return str(math.ceil(value / divisor))


@dataclass
class PodContext:
    """The facts a Pod would get from the cluster, and the folders standing for its volumes."""

    namespace: str
    pod_name: str
    root: Path
    """Folders for emptyDir volumes, HOME and the like go under here."""
    kubeconfig: Path
    lookup: Callable[[str, str, str], Mapping[str, str] | None] | None = None
    """(kind, namespace, name) -> the decoded data of a ConfigMap or Secret, for env from them."""


@dataclass
class ProcessPlan:
    """A container as a local process."""

    name: str
    args: list[str]
    env: dict[str, str]
    volumes: dict[str, Path] = field(default_factory=dict)
    """mountPath -> the folder standing for it."""
    translations: list[str] = field(default_factory=list)
    """Each change from what the Deployment says, one line each."""


def _field_ref(ref: Mapping[str, Any], ctx: PodContext, pod: Mapping[str, Any]) -> str:
    path = ref.get("fieldPath")
    values = {
        "metadata.namespace": ctx.namespace,
        "metadata.name": ctx.pod_name,
        "spec.nodeName": "localhost",
        "spec.serviceAccountName": str(pod.get("serviceAccountName") or "default"),
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path not in values:
        raise HarnessError(f"fieldRef {path!r} is not supported here")
    return values[path]


def _from_object(kind: str, ref: Mapping[str, Any], ctx: PodContext) -> Mapping[str, str] | None:
    if ctx.lookup is None:
        raise HarnessError(f"env from a {kind} needs the API server")
    data = ctx.lookup(kind, ctx.namespace, str(ref.get("name")))
    if data is None and not ref.get("optional"):
        raise HarnessError(f"env from {kind} {ctx.namespace}/{ref.get('name')}: not found")
    return data


def _env(container: Mapping[str, Any], pod: Mapping[str, Any], ctx: PodContext) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if key in source:
                data = _from_object(kind, source[key], ctx) or {}
                env.update({source.get("prefix", "") + k: v for k, v in data.items()})
    containers = pod.get("containers") or []
    for entry in container.get("env") or []:
        name, source = entry["name"], entry.get("valueFrom")
        if source is None:
            env[name] = expand(str(entry.get("value", "")), env)
        elif "fieldRef" in source:
            env[name] = _field_ref(source["fieldRef"], ctx, pod)
        elif "resourceFieldRef" in source:
            env[name] = resource_field(containers, container["name"], source["resourceFieldRef"])
        else:
            for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                if key in source:
                    data = _from_object(kind, source[key], ctx) or {}
                    if source[key].get("key") in data:
                        env[name] = data[source[key]["key"]]
                    break
            else:
                raise HarnessError(f"env {name}: valueFrom {sorted(source)} is not supported")
    return env


def _local_path(value: str, volumes: Mapping[str, Path]) -> str | None:
    """`value` with a mounted folder's path swapped for the local one (None: not under one)."""
    for mount, local in sorted(volumes.items(), key=lambda kv: -len(kv[0])):
        if value == mount or value.startswith(mount.rstrip("/") + "/"):
            return str(local) + value[len(mount.rstrip("/")) :]
    return None


def plan(
    deployment: Mapping[str, Any],
    ctx: PodContext,
    *,
    addresses: Mapping[str, str],
    container: str = "manager",
) -> ProcessPlan:
    """The process for `container` of `deployment`: its args and env exactly, except
    `addresses` (flag -> value, for the flags of `TRANSLATED_FLAGS`: set where the Deployment
    has them, added where it does not), leader election off, and paths under emptyDir mounts
    moved to folders under `ctx.root`."""
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    spec = next((c for c in pod.get("containers") or [] if c.get("name") == container), None)
    if spec is None:
        raise HarnessError(f"Deployment {name} has no container {container!r}")
    unknown = set(addresses) - set(TRANSLATED_FLAGS)
    if unknown:
        raise HarnessError(f"not a translated flag: {sorted(unknown)}")
    volumes: dict[str, Path] = {}
    kinds = {v["name"]: v for v in pod.get("volumes") or []}
    for mount in spec.get("volumeMounts") or []:
        volume = kinds.get(mount["name"], {})
        if "emptyDir" not in volume:
            raise HarnessError(f"Deployment {name}: volume {mount['name']!r} is not an emptyDir")
        local = ctx.root / "volumes" / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        volumes[mount["mountPath"]] = local

    out = ProcessPlan(name, [], {}, volumes)
    env = _env(spec, pod, ctx)
    for key, value in list(env.items()):
        if (local := _local_path(value, volumes)) is not None:
            out.translations.append(f"env {key}: {value} -> {local} (emptyDir)")
            env[key] = local
    home = ctx.root / "home"
    home.mkdir(parents=True, exist_ok=True)
    added = {
        "KUBECONFIG": str(ctx.kubeconfig),
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
    }
    if "/tmp" in volumes:
        added["TMPDIR"] = str(volumes["/tmp"])
    for key, value in added.items():
        if key in env:
            raise HarnessError(f"Deployment {name}: env {key} is set; the harness sets it too")
        out.translations.append(f"env {key}={value} (added)")
    out.env = {**env, **added}

    done: set[str] = set()
    for raw in [*(spec.get("command") or [])[1:], *(spec.get("args") or [])]:
        arg = expand(str(raw), env)
        flag, _, value = arg.partition("=")
        done.add(flag)
        new = arg
        if flag == "--enable-leader-election":
            new = "--enable-leader-election=false"
        elif flag in addresses:
            new = f"{flag}={addresses[flag]}"
        elif flag in TRANSLATED_FLAGS and (local := _local_path(value, volumes)) is not None:
            new = f"{flag}={local}"
        if new != raw:
            out.translations.append(f"{raw} -> {new}")
        out.args.append(new)
    added_flags = dict(addresses)
    for flag, default in PATH_DEFAULTS.get(name, {}).items():
        if flag in done:
            continue
        if (local := _local_path(default, volumes)) is None:
            raise HarnessError(f"Deployment {name}: {flag} defaults to {default}, not a volume")
        added_flags[flag] = local
    for flag, value in added_flags.items():
        if flag not in done:
            out.args.append(f"{flag}={value}")
            out.translations.append(f"{flag}={value} (added)")
    return out


def flag_name(arg: str) -> str:
    """`--flag` of `--flag=value` (or of a bare `--flag`)."""
    return arg.split("=", 1)[0]


__all__ = [
    "LISTENS",
    "PATH_DEFAULTS",
    "TRANSLATED_ENV",
    "TRANSLATED_FLAGS",
    "PodContext",
    "ProcessPlan",
    "expand",
    "flag_name",
    "node_allocatable",
    "plan",
    "quantity",
    "resource_field",
]
