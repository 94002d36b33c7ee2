"""Ordering a whole component, or each object in it, after other resources; and handing the
registrations declared so far to the engine early.

A component's own `depends_on` does not reach the resources it registers below itself: Pulumi
would create a PodMonitor before the chart that brings its CRD. `after()` adds the dependencies
to every resource in the component's subtree as it registers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi
from pulumi.runtime.sync_await import _sync_await

__all__ = ["Needs", "after", "placed", "send_registrations"]

SEND_FOR = 0.05
"""Seconds `send_registrations` gives the event loop: it runs everything runnable until then,
so the registrations waiting on nothing are sent, and those waiting on the engine's first
answers often follow."""


def after(
    resources: Sequence[pulumi.Resource], opts: pulumi.ResourceOptions | None = None
) -> pulumi.ResourceOptions:
    """`opts` plus: this resource and everything registered below it wait for `resources`."""
    needed = list(dict.fromkeys(resources))
    if not needed:
        return opts or pulumi.ResourceOptions()

    def add(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
        extra = pulumi.ResourceOptions(depends_on=needed)
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, extra)
        )

    own = pulumi.ResourceOptions(depends_on=needed, transformations=[add])
    return pulumi.ResourceOptions.merge(opts, own)


Needs = Callable[[Sequence[str], Sequence[str]], list[pulumi.Resource]]
"""(API groups, namespaces) -> the resources that make them exist (`Layers.ready_for`)."""


def placed(
    needs: Needs, always: Sequence[pulumi.Resource], opts: pulumi.ResourceOptions | None = None
) -> pulumi.ResourceOptions:
    """`opts` plus: every Kubernetes object registered below waits for `always`, for the unit
    that installs its API group's CRDs and for its namespace when the stack creates it; so a
    ConfigMap waits for its namespace only, a PodMonitor for Prometheus' chart too."""

    def add(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
        group, namespace = _placement(args.type_, args.props)
        deps = [*always, *needs([group] if group else [], [namespace] if namespace else [])]
        extra = pulumi.ResourceOptions(depends_on=list(dict.fromkeys(deps)))
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, extra)
        )

    own = pulumi.ResourceOptions(depends_on=list(always), transformations=[add])
    return pulumi.ResourceOptions.merge(opts, own)


def _placement(type_: str, props: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(API group, namespace) of a Kubernetes resource being registered, where known."""
    parts = type_.split(":")
    if parts[0] != "kubernetes" or len(parts) != 3:
        return None, None
    api_version = props.get("apiVersion") or props.get("api_version") or parts[1]
    group = str(api_version).rpartition("/")[0] if isinstance(api_version, str) else None
    if group == "core":
        group = ""
    meta = props.get("metadata")
    namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
    return group, namespace if isinstance(namespace, str) else None


def send_registrations(seconds: float = SEND_FOR) -> None:
    """Let the registrations declared so far reach the engine now.

    Pulumi sends registrations from its event loop, which a program's synchronous code gives no
    turn until the program returns: the engine would start the Kubernetes provider only then.
    Called after the first resources (Flux's install), it lets the engine start the provider and
    check them while Python declares the rest, at the cost of `seconds` of the program's time.
    Nothing is registered that was not declared already, and the order is unchanged."""

    _sync_await(asyncio.sleep(seconds))
