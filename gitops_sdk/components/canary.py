"""Flagger canaries as a Pulumi component: the Canary, ordered after its target workload and
checked against it once the target's name and namespace are known."""

from __future__ import annotations

from typing import Any

import pulumi

from gitops_sdk.api.flagger import Canary, resource_kind
from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.resource import FluxResource
from gitops_sdk.core.base import a_or_an
from gitops_sdk.core.errors import FieldIssue, SpecError

__all__ = ["CanaryRelease", "CanaryReleaseArgs"]


class CanaryReleaseArgs(ComponentArgs):
    """What a `CanaryRelease` registers."""

    canary: Canary
    """The Canary."""
    target: Any = None
    """The target workload's pulumi_kubernetes resource (default: the one `targetRef` was built
    from, if any); the Canary is registered after it."""


class CanaryRelease(pulumi.ComponentResource):
    """Registers a Canary, ordered after its target when `target` (or the ref) is a resource.

    When the target resource's `metadata.name` or namespace becomes known and differs from the
    Canary's `targetRef.name` or namespace, the deployment fails with a SpecError instead of
    leaving Flagger waiting for a workload that does not exist.
    """

    canary: FluxResource[Canary]

    def __init__(
        self, name: str, args: CanaryReleaseArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        canary = args.canary
        ref = canary.spec.target_ref
        target = args.target if args.target is not None else ref.resource
        if target is not None:
            kind = resource_kind(target)
            if kind != ref.kind:
                raise SpecError(
                    "Canary",
                    canary.name,
                    [
                        FieldIssue(
                            "spec.targetRef.kind",
                            ref.kind,
                            f"the target resource is {a_or_an(kind or type(target).__name__)}, "
                            f"not {a_or_an(ref.kind)}",
                        )
                    ],
                )
        super().__init__("gitops:flagger:CanaryRelease", name, None, opts)
        deps: list[pulumi.Resource] = [target] if target is not None else []
        if target is not None:
            metadata = getattr(target, "metadata", None)
            if isinstance(metadata, pulumi.Output):
                metadata.apply(lambda meta: _check_target(canary, meta))
        self.canary = FluxResource(
            f"{name}-canary", canary, pulumi.ResourceOptions(parent=self, depends_on=deps)
        )
        self.register_outputs(
            {
                "name": canary.name,
                "target": f"{ref.kind}/{ref.name}",
                "provider": canary.spec.provider,
            }
        )


def _check_target(canary: Canary, meta: Any) -> Any:
    def get(key: str) -> Any:
        return meta.get(key) if isinstance(meta, dict) else getattr(meta, key, None)

    ref = canary.spec.target_ref
    issues = []
    actual = get("name")
    if isinstance(actual, str) and actual != ref.name:
        issues.append(
            FieldIssue(
                "spec.targetRef.name",
                ref.name,
                f"the target {ref.kind} is named {actual!r}; Flagger would wait for a "
                f"{ref.kind} that does not exist",
            )
        )
    namespace = get("namespace") or "default"
    if canary.namespace and isinstance(namespace, str) and namespace != canary.namespace:
        issues.append(
            FieldIssue(
                "metadata.namespace",
                canary.namespace,
                f"the target {ref.kind} is in namespace {namespace!r}; a Canary must be in "
                "its target's namespace",
            )
        )
    if issues:
        raise SpecError("Canary", canary.name, issues)
    return meta
