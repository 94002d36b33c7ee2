"""External Secrets Operator objects as Pulumi components: a store with the Secret it logs in
with, and an ExternalSecret that stands for the Secret ESO writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi

from gitops_sdk.api.eso_stores import (
    ClusterSecretStore,
    SecretKeySelector,
    SecretStore,
    secret_selectors,
)
from gitops_sdk.api.external_secrets import ExternalSecret
from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.resource import FluxResource, opaque_secret
from gitops_sdk.core.errors import MISSING, FieldIssue, SpecError

__all__ = ["SecretBackend", "SecretBackendArgs", "SyncedSecret", "SyncedSecretArgs"]


class SecretBackendArgs(ComponentArgs):
    """What a `SecretBackend` registers."""

    store: SecretStore | ClusterSecretStore
    """The store."""
    credentials: dict[str, Any] | None = None
    """Values of the Secret the store logs in with (Pulumi inputs; stored as Pulumi secrets)."""
    credentials_secret: str | None = None
    """Name of that Secret; default: the one Secret the store's selectors name."""


class SyncedSecretArgs(ComponentArgs):
    """What a `SyncedSecret` registers."""

    external_secret: ExternalSecret
    """The ExternalSecret."""


class SecretBackend(pulumi.ComponentResource):
    """A SecretStore or ClusterSecretStore and, when `credentials` are given, the Secret the
    store logs in with (e.g. a Vault token for `auth.tokenSecretRef`).

    `credentials` values are stored as Pulumi secrets in the Secret `credentials_secret` (default:
    the one Secret the store's selectors name), which must hold every key the selectors name.
    Use the component as the store: `ExternalSecret(secret_store_ref=backend, ...)`.
    """

    store: FluxResource[Any]
    credentials: KubeObject | None

    def __init__(
        self, name: str, args: SecretBackendArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        store, credentials = args.store, args.credentials
        credentials_secret = args.credentials_secret
        secret_meta = (
            _credentials_meta(store, credentials, credentials_secret) if credentials else None
        )
        super().__init__("gitops:externalsecrets:SecretBackend", name, None, opts)
        self.credentials = None
        deps: list[pulumi.Resource] = []
        if credentials and secret_meta:
            self.credentials = opaque_secret(
                f"{name}-credentials",
                *secret_meta,
                credentials,
                pulumi.ResourceOptions(parent=self),
            )
            deps.append(self.credentials)
        self.store = FluxResource(
            f"{name}-store", store, pulumi.ResourceOptions(parent=self, depends_on=deps)
        )
        self.register_outputs({"kind": store.kind, "name": store.name})

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.store.__flux_ref__()


def _credentials_meta(
    store: SecretStore | ClusterSecretStore,
    credentials: Mapping[str, Any],
    secret: str | None,
) -> tuple[str, str | None]:
    """(name, namespace) of the credentials Secret, checked against the store's selectors."""
    refs = [(p, r) for p, r in secret_selectors(store) if isinstance(r, SecretKeySelector)]
    names = sorted({r.name for _, r in refs})
    if secret is None:
        if len(names) != 1:
            found = ", ".join(names) or "none"
            raise SpecError(
                store.kind,
                store.name,
                [
                    FieldIssue(
                        "spec",
                        MISSING,
                        f"credentials were given but the store names "
                        f"{len(names)} Secrets ({found}); pass credentials_secret=",
                    )
                ],
            )
        secret = names[0]
    used = [(p, r) for p, r in refs if r.name == secret]
    if not used:
        raise SpecError(
            store.kind,
            store.name,
            [
                FieldIssue(
                    "spec", secret, "credentials were given but no selector names this Secret"
                )
            ],
        )
    issues = [
        FieldIssue(
            f"{p}.key", r.key, f"is not among the credentials ({', '.join(sorted(credentials))})"
        )
        for p, r in used
        if r.key is not None and r.key not in credentials
    ]
    if issues:
        raise SpecError(store.kind, store.name, issues)
    return secret, used[0][1].namespace or store.namespace


class SyncedSecret(pulumi.ComponentResource):
    """An ExternalSecret registered with Pulumi. As a reference it stands for the Secret ESO
    writes, so Flux objects can name it by object (`secret_ref=synced`)."""

    external_secret: FluxResource[ExternalSecret]
    secret_name: str
    namespace: str | None

    def __init__(
        self, name: str, args: SyncedSecretArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        external_secret = args.external_secret
        super().__init__("gitops:externalsecrets:SyncedSecret", name, None, opts)
        self.secret_name = external_secret.secret_name
        self.namespace = external_secret.namespace
        self.external_secret = FluxResource(
            f"{name}-external-secret", external_secret, pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"secret": self.secret_name, "namespace": self.namespace})

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return ("Secret", self.secret_name, self.namespace)
