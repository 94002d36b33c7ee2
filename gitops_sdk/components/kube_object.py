"""`KubeObject`: any Kubernetes object, registered under the type token pulumi-kubernetes gives
its kind (`kubernetes:core/v1:Secret`, `kubernetes:apps/v1:Deployment`), with the manifest as
its inputs.

The provider handles it exactly as it handles the typed class of that kind: same token, so same
await logic, diff and URN. What it saves is the import: pulumi-kubernetes' typed modules are
large (`pulumi_kubernetes.core.v1` alone takes about 0.4 s to import), and a program that only
registers manifests pays that on every `pulumi preview`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi_kubernetes import _utilities

from gitops_sdk.core.errors import expect

__all__ = ["PROVIDER_VERSION", "KubeObject", "type_token"]

PROVIDER_VERSION: str = _utilities.get_version()  # type: ignore[no-untyped-call]
"""The plugin version pulumi-kubernetes pins on every resource it registers."""

# Kept secret in inputs, state and outputs whatever the program passes, as the typed class does.
_SECRET_FIELDS = {("v1", "Secret"): ["data", "stringData"]}


def type_token(api_version: str, kind: str) -> str:
    """pulumi-kubernetes' type token of a kind: the core group is spelled `core`."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


class KubeObject(pulumi.CustomResource):
    """One Kubernetes object: `manifest` holds `apiVersion`, `kind`, `metadata` and the kind's
    other top-level fields by their manifest (camelCase) names; values may be Pulumi inputs.

    Outputs are the same fields, e.g. `obj.metadata` (a dict)."""

    metadata: pulumi.Output[Any]

    def __init__(
        self,
        resource_name: str,
        manifest: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        where = f"KubeObject {resource_name!r}"
        expect(resource_name, str, "KubeObject", "a Pulumi resource name (str)")
        expect(manifest, Mapping, f"{where}: manifest", "a mapping (apiVersion, kind, metadata)")
        api_version, kind, meta = (manifest.get(k) for k in ("apiVersion", "kind", "metadata"))
        expect(api_version, str, f"{where}: apiVersion", "a str such as 'v1' or 'apps/v1'")
        expect(kind, str, f"{where}: kind", "a str such as 'ConfigMap'")
        expect(meta, Mapping, f"{where}: metadata", "a mapping with a name")
        group_version_kind = (str(api_version), str(kind))
        props = dict(manifest)
        secret = _SECRET_FIELDS.get(group_version_kind, [])
        for key in secret:
            if props.get(key) is not None:
                props[key] = pulumi.Output.secret(props[key])
        # The typed classes' defaults come first, the caller's options over them.
        opts = pulumi.ResourceOptions.merge(pulumi.ResourceOptions(version=PROVIDER_VERSION), opts)
        if secret:
            opts = pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=secret)
            )
        super().__init__(type_token(*group_version_kind), resource_name, props, opts)
