"""External Secrets Operator models and components: the seed's Vault setup, at ESO's v1 API."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from gitops_sdk.api.eso_stores import (
    ESO_API_VERSION,
    ClusterSecretStore,
    SecretKeySelector,
    SecretStore,
    eso_from_manifest,
    eso_kinds,
)
from gitops_sdk.api.external_secrets import ExternalSecret, ExternalSecretData
from gitops_sdk.api.kustomize import Kustomization
from gitops_sdk.api.source import GitRepository
from gitops_sdk.components.external_secrets import (
    SecretBackend,
    SecretBackendArgs,
    SyncedSecret,
    SyncedSecretArgs,
)
from gitops_sdk.components.resource import FluxResource
from gitops_sdk.core.errors import SpecError, UnknownKindError, UnsupportedApiVersionError
from gitops_sdk.core.model import flux_kinds, from_manifest
from gitops_sdk.services.crds import Schemas, validate_manifest
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks

VAULT = "https://vault.local.hallonen.se"

# The seed's planned manifests, moved to v1 and with the store in the ExternalSecret's namespace.
SEED_STORE: dict[str, Any] = {
    "apiVersion": ESO_API_VERSION,
    "kind": "SecretStore",
    "metadata": {"name": "vault-backend", "namespace": "applications"},
    "spec": {
        "provider": {
            "vault": {
                "server": VAULT,
                "path": "secret",
                "version": "v2",
                "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "external-secrets"}},
            }
        }
    },
}
SEED_EXTERNAL_SECRET: dict[str, Any] = {
    "apiVersion": ESO_API_VERSION,
    "kind": "ExternalSecret",
    "metadata": {"name": "api-credentials", "namespace": "applications"},
    "spec": {
        "refreshInterval": "15s",
        "secretStoreRef": {"name": "vault-backend", "kind": "SecretStore"},
        "target": {"name": "api-credentials", "creationPolicy": "Owner"},
        "data": [
            {
                "secretKey": "username",
                "remoteRef": {"key": "api-credentials", "property": "username"},
            },
            {
                "secretKey": "password",
                "remoteRef": {"key": "api-credentials", "property": "password"},
            },
        ],
    },
}


def store(namespace: str = "applications", **extra: Any) -> SecretStore:
    return SecretStore.vault(
        "vault-backend", namespace=namespace, server=VAULT, role="external-secrets", **extra
    )


def api_credentials(
    store_ref: Any, namespace: str = "applications", **extra: Any
) -> ExternalSecret:
    fields: dict[str, Any] = {
        "refresh_interval": "15s",
        "target": {"name": "api-credentials", "creation_policy": "Owner"},
        "data": [
            ExternalSecretData.property_of("username", "api-credentials"),
            ExternalSecretData.property_of("password", "api-credentials"),
        ],
    }
    return ExternalSecret(
        name="api-credentials", namespace=namespace, secret_store_ref=store_ref, **fields | extra
    )


class Named:
    """Anything that names a Kubernetes object, as SopsSecret and the components do."""

    def __init__(self, kind: str, name: str, namespace: str | None) -> None:
        self.ident = (kind, name, namespace)

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.ident


# --- models --------------------------------------------------------------------------------------


def test_the_seed_setup_renders_at_v1_from_objects() -> None:
    vault = store()
    assert vault.to_manifest() == SEED_STORE
    assert api_credentials(vault).to_manifest() == SEED_EXTERNAL_SECRET


@pytest.mark.parametrize("doc", [SEED_STORE, SEED_EXTERNAL_SECRET], ids=lambda d: d["kind"])
def test_manifests_round_trip(doc: dict[str, Any]) -> None:
    obj = eso_from_manifest(doc)
    assert obj.to_manifest() == doc
    assert type(obj).from_manifest(doc).to_manifest() == doc


def test_rendered_objects_are_valid_against_the_eso_crds(third_party_schemas: Schemas) -> None:
    cluster = ClusterSecretStore.vault(
        "vault",
        server=VAULT,
        role="eso",
        conditions=[{"namespaces": ["apps"], "namespace_regexes": ["^team-"]}],
    )
    docs = [
        SEED_STORE,
        SEED_EXTERNAL_SECRET,
        cluster.to_manifest(),
        api_credentials(cluster, namespace="apps").to_manifest(),
    ]
    for doc in docs:
        assert (doc["apiVersion"], doc["kind"]) in third_party_schemas
        assert validate_manifest(doc, third_party_schemas) == [], doc["kind"]


def test_v1beta1_manifests_say_how_to_migrate() -> None:
    old = copy.deepcopy(SEED_EXTERNAL_SECRET)
    old["apiVersion"] = "external-secrets.io/v1beta1"
    with pytest.raises(
        UnsupportedApiVersionError,
        match=r"^ExternalSecret 'api-credentials': apiVersion external-secrets.io/v1beta1 is not "
        r"served since ESO v0\.17\.0; use external-secrets.io/v1 \(the fields are unchanged",
    ):
        eso_from_manifest(old)


def test_eso_kinds_stay_out_of_the_flux_registry() -> None:
    assert sorted(eso_kinds()) == ["ClusterSecretStore", "ExternalSecret", "SecretStore"]
    assert not [kind for group, kind in flux_kinds() if group == "external-secrets.io"]
    with pytest.raises(UnknownKindError, match=r"is not a Flux kind"):
        from_manifest(SEED_STORE)
    with pytest.raises(
        UnknownKindError,
        match=r"^SecretStore 'vault-backend': the manifest is a SecretStore, "
        r"not an ExternalSecret$",
    ):
        ExternalSecret.from_manifest(SEED_STORE)


def test_the_store_kind_comes_from_the_object() -> None:
    cluster = ClusterSecretStore.vault("vault", server=VAULT, role="eso")
    es = api_credentials(cluster, namespace="apps")
    assert es.to_manifest()["spec"]["secretStoreRef"] == {
        "name": "vault",
        "kind": "ClusterSecretStore",
    }
    assert es.spec.secret_store_ref is not None and es.spec.secret_store_ref.target is cluster
    by_name = api_credentials({"name": "vault-backend"})
    assert by_name.to_manifest()["spec"]["secretStoreRef"] == {"name": "vault-backend"}


def test_the_seeds_cross_namespace_store_is_rejected() -> None:
    # The seed puts the SecretStore in flux-system and the ExternalSecret in applications: ESO
    # looks for a SecretStore in the ExternalSecret's own namespace only.
    with pytest.raises(
        SpecError,
        match=r"^ExternalSecret 'api-credentials': spec.secretStoreRef 'flux-system/vault-backend':"
        r" is in namespace 'flux-system', but this reference can only name an object in "
        r"'applications'",
    ):
        api_credentials(store(namespace="flux-system"))


def test_a_store_of_another_kind_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"'fleet' is a GitRepository; expected a SecretStore or"):
        api_credentials(Named("GitRepository", "fleet", "applications"))


def test_cluster_store_conditions_limit_namespaces() -> None:
    cluster = ClusterSecretStore.vault(
        "vault",
        server=VAULT,
        role="eso",
        conditions=[{"namespaces": ["apps"], "namespace_regexes": ["^team-"]}],
    )
    api_credentials(cluster, namespace="apps")
    api_credentials(cluster, namespace="team-a")
    with pytest.raises(
        SpecError, match=r"ClusterSecretStore 'vault' does not allow namespace 'default'"
    ):
        api_credentials(cluster, namespace="default")
    by_labels = cluster.model_copy(
        update={"spec": cluster.spec.model_copy(update={"conditions": []})}
    )
    assert by_labels.allows("anything") is True


def test_vault_auth_takes_exactly_one_method() -> None:
    with pytest.raises(
        SpecError,
        match=r"^SecretStore 'v': spec.provider.vault.auth.kubernetes: cannot be set together with "
        r"tokenSecretRef: set exactly one auth method \(tokenSecretRef, appRole, kubernetes, ",
    ):
        SecretStore(
            name="v",
            namespace="apps",
            provider={
                "vault": {
                    "server": VAULT,
                    "auth": {
                        "kubernetes": {"role": "r"},
                        "token_secret_ref": {"name": "vault-token", "key": "token"},
                    },
                }
            },
        )
    with pytest.raises(
        SpecError, match=r"server 'vault\.local': must start with http:// or https://"
    ):
        SecretStore.vault("v", namespace="apps", server="vault.local", role="r")


def test_store_scope_rules() -> None:
    with pytest.raises(SpecError, match=r"metadata.namespace: is required: a SecretStore is"):
        SecretStore.vault("v", server=VAULT, role="r")
    with pytest.raises(SpecError, match=r"metadata.namespace 'apps': must not be set"):
        ClusterSecretStore.vault("v", namespace="apps", server=VAULT, role="r")
    with pytest.raises(SpecError, match=r"spec.conditions: only applies to a ClusterSecretStore"):
        store(conditions=[{"namespaces": ["apps"]}])
    token = {"token_secret_ref": {"name": "vault-token", "key": "token"}}
    with pytest.raises(
        SpecError,
        match=r"spec.provider.vault.auth.tokenSecretRef.namespace: is required in a "
        r"ClusterSecretStore",
    ):
        ClusterSecretStore(name="v", provider={"vault": {"server": VAULT, "auth": token}})
    other = {"token_secret_ref": {"name": "vault-token", "namespace": "vault", "key": "token"}}
    with pytest.raises(
        SpecError, match=r"tokenSecretRef.namespace 'vault': is not allowed in a SecretStore"
    ):
        SecretStore(
            name="v", namespace="apps", provider={"vault": {"server": VAULT, "auth": other}}
        )


def test_secret_selectors_take_secret_objects() -> None:
    token = Named("Secret", "vault-token", "apps")
    ref = SecretKeySelector.of(token, "token")
    vault = SecretStore(
        name="v",
        namespace="apps",
        provider={"vault": {"server": VAULT, "auth": {"token_secret_ref": ref}}},
    )
    auth = vault.to_manifest()["spec"]["provider"]["vault"]["auth"]
    assert auth == {"tokenSecretRef": {"name": "vault-token", "key": "token"}}  # own namespace
    with pytest.raises(
        SpecError, match=r"SecretKeySelector: name 'fleet': is a GitRepository; expected a Secret"
    ):
        SecretKeySelector.of(Named("GitRepository", "fleet", "apps"), "token")


def test_external_secret_rules() -> None:
    vault = store()
    with pytest.raises(
        SpecError, match=r"spec.data: set data or dataFrom \(or a target.template\)"
    ):
        ExternalSecret(name="x", namespace="applications", secret_store_ref=vault)
    twice = [
        ExternalSecretData.property_of("user", "a"),
        ExternalSecretData.property_of("user", "b"),
    ]
    with pytest.raises(SpecError, match=r"spec.data\[1\].secretKey 'user': is repeated"):
        ExternalSecret(name="x", namespace="applications", secret_store_ref=vault, data=twice)
    with pytest.raises(SpecError, match=r"spec.data\[0\].sourceRef: is needed when spec"):
        ExternalSecret(name="x", namespace="applications", data=twice[:1])
    with pytest.raises(
        SpecError, match=r"spec.target.deletionPolicy 'Delete': cannot be used with creationPolicy"
    ):
        api_credentials(vault, target={"creation_policy": "Merge", "deletion_policy": "Delete"})
    with pytest.raises(SpecError, match=r"spec.refreshInterval '15 seconds': is not a duration"):
        api_credentials(vault, refresh_interval="15 seconds")
    once = api_credentials(vault, refresh_interval="0")
    assert once.spec.refresh_interval == "0"
    hourly = api_credentials(vault, refresh_interval=datetime.timedelta(hours=1))
    assert hourly.spec.refresh_interval == "1h0m0s"
    with pytest.raises(
        SpecError, match=r"spec.dataFrom\[0\] \{\}: needs exactly one source of keys: extract, find"
    ):
        ExternalSecret(name="x", namespace="applications", secret_store_ref=vault, data_from=[{}])
    extract = ExternalSecret(
        name="all",
        namespace="applications",
        secret_store_ref=vault,
        data_from=[{"extract": {"key": "api-credentials"}}],
    )
    assert extract.secret_name == "all"


# --- components ----------------------------------------------------------------------------------


def test_components_register_store_and_external_secret(mocks: RecordingMocks) -> None:
    made: dict[str, Any] = {}

    def program() -> None:
        backend = SecretBackend("vault", SecretBackendArgs(store=store()))
        synced = SyncedSecret("api", SyncedSecretArgs(external_secret=api_credentials(backend)))
        made.update(backend=backend, synced=synced)

    synth.run(program)
    types = [(r.type, r.name) for r in mocks.resources]
    assert types[:2] == [
        ("gitops:externalsecrets:SecretBackend", "vault"),
        ("gitops:externalsecrets:SyncedSecret", "api"),
    ] or types[:2] == [
        ("gitops:externalsecrets:SyncedSecret", "api"),
        ("gitops:externalsecrets:SecretBackend", "vault"),
    ]
    assert ("kubernetes:external-secrets.io/v1:SecretStore", "vault-store") in types
    assert ("kubernetes:external-secrets.io/v1:ExternalSecret", "api-external-secret") in types
    (es,) = mocks.by_kind("ExternalSecret")
    assert es["spec"]["secretStoreRef"] == {"name": "vault-backend", "kind": "SecretStore"}
    assert made["backend"].__flux_ref__() == ("SecretStore", "vault-backend", "applications")
    assert made["synced"].__flux_ref__() == ("Secret", "api-credentials", "applications")


def test_synced_secret_stands_for_the_secret_eso_writes(mocks: RecordingMocks) -> None:
    def program() -> None:
        backend = SecretBackend("vault", SecretBackendArgs(store=store(namespace="flux-system")))
        synced = SyncedSecret(
            "git",
            SyncedSecretArgs(external_secret=api_credentials(backend, namespace="flux-system")),
        )
        repo = GitRepository(
            name="fleet",
            namespace="flux-system",
            url="https://github.com/org/fleet",
            interval="1m",
            secret_ref=synced,
        )
        FluxResource("fleet", repo)
        Kustomization(
            name="apps",
            namespace="flux-system",
            interval="10m",
            prune=True,
            source_ref=repo,
            post_build={"substitute_from": [{"kind": "Secret", "name": "api-credentials"}]},
        )

    synth.run(program)
    (git,) = mocks.by_kind("GitRepository")
    assert git["spec"]["secretRef"] == {"name": "api-credentials"}


def token_store() -> SecretStore:
    """A store in `apps` logging in with the token in Secret `vault-token`."""
    token = {"token_secret_ref": {"name": "vault-token", "key": "token"}}
    return SecretStore(
        name="vault", namespace="apps", provider={"vault": {"server": VAULT, "auth": token}}
    )


def test_secret_backend_stores_credentials_as_pulumi_secrets(mocks: RecordingMocks) -> None:
    vault = token_store()
    synth.run(
        lambda: SecretBackend(
            "vault", SecretBackendArgs(store=vault, credentials={"token": "hvs.s3cr3t-value"})
        )
    )
    (secret,) = mocks.by_kind("Secret")
    assert secret["metadata"] == {"name": "vault-token", "namespace": "apps"}
    assert rpc.is_rpc_secret(secret["stringData"])
    assert "hvs.s3cr3t-value" not in str(synth.redact(secret))


def test_secret_backend_checks_credentials_against_the_store(mocks: RecordingMocks) -> None:
    vault = token_store()
    with pytest.raises(
        SpecError,
        match=r"^SecretStore 'vault': spec.provider.vault.auth.tokenSecretRef.key 'token': is not "
        r"among the credentials \(password\)",
    ):
        SecretBackend("vault", SecretBackendArgs(store=vault, credentials={"password": "x"}))
    with pytest.raises(SpecError, match=r"spec 'other': credentials were given but no selector"):
        SecretBackend(
            "vault",
            SecretBackendArgs(store=vault, credentials={"token": "x"}, credentials_secret="other"),
        )
    with pytest.raises(SpecError, match=r"the store names 0 Secrets \(none\); pass credentials_"):
        SecretBackend("vault", SecretBackendArgs(store=store(), credentials={"token": "x"}))
    assert mocks.resources == []


def test_pulumi_outputs_pass_through_credentials(mocks: RecordingMocks) -> None:
    vault = token_store()
    synth.run(
        lambda: SecretBackend(
            "vault",
            SecretBackendArgs(store=vault, credentials={"token": pulumi.Output.from_input("t")}),
        )
    )
    assert len(mocks.by_kind("Secret")) == 1
