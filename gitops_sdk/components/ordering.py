"""Ordering a whole component after other resources.

A component's own `depends_on` does not reach the resources it registers below itself: Pulumi
would create a PodMonitor before the chart that brings its CRD. `after()` adds the dependencies
to every resource in the component's subtree as it registers.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

__all__ = ["after"]


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
