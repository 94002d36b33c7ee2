"""SOPS secrets as Pulumi components: `SopsSecret` decrypts a file at program time, and
`AgeKeySecret` gives Flux the stack's age key.

- `SopsSecret` decrypts a SOPS file (a Kubernetes Secret manifest, or a plain key/value file in
  YAML, JSON or dotenv) with the real `sops` binary and the stack's age identity, and registers a
  `Secret` whose values are Pulumi secrets.
- `AgeKeySecret` puts the stack's age identity into `flux-system` (key `age.agekey`) so Flux's
  kustomize-controller can decrypt SOPS manifests itself:
  `Kustomization(decryption={"provider": "sops", "secret_ref": age_secret})`.

The age identity of a stack is the secret config value `gitops:ageKey`
(`pulumi config set --secret gitops:ageKey < key-file`), or `SOPS_AGE_KEY_FILE` /
`SOPS_AGE_KEY` in the environment. Secret values never appear in errors, logs or synth output:
errors name the stack, the file and the keys only. The authoring side (`gitops secrets
init|encrypt|decrypt|check`) lives in `gitops_sdk.services`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, cast

import pulumi
import pydantic
from pulumi.runtime.sync_await import _sync_await

from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.kube_object import KubeObject
from gitops_sdk.components.resource import opaque_secret
from gitops_sdk.core.errors import (
    ConfigError,
    FieldIssue,
    GitopsError,
    SpecError,
    current_stack,
    stack_context,
)
from gitops_sdk.core.fields import Name, Namespace
from gitops_sdk.services.age import AGE_KEY_CONFIG, age_identities
from gitops_sdk.services.sops import NotEncryptedError, decrypt_data, not_encrypted_error
from gitops_sdk.services.sops_files import inspect_file, load_documents, show_path, where
from gitops_sdk.services.sops_secret import SecretPlan, is_secret_key, plan_secret, secret_values
from gitops_sdk.services.stack_files import NAMESPACE

__all__ = ["AgeKeySecret", "AgeKeySecretArgs", "SopsSecret", "SopsSecretArgs"]


# --- the stack's age key at program time ---------------------------------------------------------

_ENCRYPTED_CONFIG = object()


def _config_age_key() -> Any:
    """`gitops:ageKey` as plain text, None when unset, `_ENCRYPTED_CONFIG` when the value is
    still Pulumi-encrypted (offline synth reads the stack file without decrypting)."""
    raw = pulumi.Config(NAMESPACE).get(AGE_KEY_CONFIG)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if isinstance(value, dict) and "secure" in value:
        return _ENCRYPTED_CONFIG
    if not isinstance(value, str):
        raise ConfigError(
            f"{NAMESPACE}:{AGE_KEY_CONFIG} must be a string (the age key file's text)"
        )
    return value


def _stack() -> str:
    return current_stack() or pulumi.get_stack()


def _resolve_program_key(where: str, stack: str) -> tuple[str | None, str]:
    """(key text or None to let sops read the environment, where it came from)."""
    value = _config_age_key()
    if isinstance(value, str):
        return value, f"{NAMESPACE}:{AGE_KEY_CONFIG}"
    if os.environ.get("SOPS_AGE_KEY"):
        return os.environ["SOPS_AGE_KEY"], "SOPS_AGE_KEY"
    key_file = os.environ.get("SOPS_AGE_KEY_FILE")
    if key_file:
        try:
            return Path(key_file).expanduser().read_text(), "SOPS_AGE_KEY_FILE"
        except OSError as err:
            raise ConfigError(
                f"{where}: SOPS_AGE_KEY_FILE={key_file} cannot be read ({err.strerror})"
            ) from None
    hint = (
        f"{NAMESPACE}:{AGE_KEY_CONFIG} is still encrypted (offline synth cannot decrypt Pulumi "
        "secrets): export SOPS_AGE_KEY_FILE"
        if value is _ENCRYPTED_CONFIG
        else f"Pulumi.{stack}.yaml has no {NAMESPACE}:{AGE_KEY_CONFIG}: run `pulumi config set "
        f"--secret --stack {stack} {NAMESPACE}:{AGE_KEY_CONFIG} < <key file>` or export "
        "SOPS_AGE_KEY_FILE"
    )
    raise ConfigError(f"{where}: no age key to decrypt it: {hint}")


# --- SopsSecret ----------------------------------------------------------------------------------


class SopsSecretArgs(ComponentArgs):
    """What `SopsSecret` decrypts and how it names the Secret; validated when built."""

    file: Annotated[Path, pydantic.Field(strict=False)]
    """The SOPS-encrypted file (a path or a str): a Secret manifest (YAML/JSON) or a key/value
    file (YAML, JSON, dotenv). Relative paths resolve against the working directory."""
    secret_name: Name | None = None
    """Name of the Secret; default: the manifest's `metadata.name`, else the component's name."""
    namespace: Namespace | None = None
    """Namespace of the Secret; default: the manifest's `metadata.namespace`, else the
    provider's default namespace."""
    type: str | None = None
    """Secret type; default: the manifest's `type`, else `Opaque`."""
    labels: dict[str, str] = {}
    """Extra labels on the Secret."""
    age_key: Any = None
    """The age key file's text: a str or a Pulumi secret Output (e.g.
    `pulumi.Config("gitops").require_secret("ageKey")`); default: the stack config
    `gitops:ageKey`, else `SOPS_AGE_KEY` / `SOPS_AGE_KEY_FILE`."""


# Output[Mapping[str, str]] | None; Any because Output is invariant and the Secret's
# parameters are typed Input[Mapping[str, Input[str]]].
_SecretValues = Any


def _prepare(
    name: str, args: SopsSecretArgs, stack: str
) -> tuple[SecretPlan, _SecretValues, _SecretValues]:
    """Check and decrypt the file: the Secret's shape and its (secret) data and stringData."""
    path = Path(args.file).expanduser()
    here = where(path, stack)
    shown = show_path(path)
    if not path.is_file():
        raise ConfigError(f"{here}: file not found (relative paths resolve against {Path.cwd()})")
    status = inspect_file(path)
    if status.error:
        raise NotEncryptedError(f"{here}: {status.error}")
    if not status.encrypted or status.plaintext:
        raise not_encrypted_error(here, status)
    if status.documents != 1:
        raise SpecError(
            "SopsSecret",
            name,
            [
                FieldIssue(
                    shown, status.documents, "holds several documents; use one file per Secret"
                )
            ],
        )
    fmt = status.format
    plan = plan_secret(
        name,
        load_documents(path.read_text(), fmt)[0],
        fmt,
        shown,
        secret_name=args.secret_name,
        namespace=args.namespace,
        type=args.type,
        labels=args.labels,
    )

    age_key = args.age_key
    # A key from config (the usual Output) is known at once: use it now, so errors are raised
    # here, as ours. Pulumi's own Output pickling waits the same way.
    if isinstance(age_key, pulumi.Output) and _sync_await(age_key.is_known()):
        known = _sync_await(age_key.future())
        if not isinstance(known, str):
            raise ConfigError(f"{here}: age_key resolved to {type(known).__name__}, not a str")
        age_key = known
    if isinstance(age_key, pulumi.Output):
        # Unknown during a preview (the key comes from a resource): decrypt once it is known.
        def decrypt_with(key: str) -> tuple[dict[str, str], dict[str, str]]:
            try:
                doc = decrypt_data(path, age_key=key, stack=stack, key_source="age_key")
                return secret_values(plan, doc, fmt, shown)
            except GitopsError as err:
                # Raised inside an apply: RunError makes Pulumi print it without a traceback.
                raise pulumi.RunError(str(err)) from None

        key: pulumi.Output[str] = pulumi.Output.secret(cast(Any, age_key))
        values = key.apply(decrypt_with)  # secret, as everything applied from it
        data: _SecretValues = values.apply(lambda v: v[0]) if plan.data_keys else None
        strings: _SecretValues = values.apply(lambda v: v[1]) if plan.string_keys else None
        return plan, data, strings
    if isinstance(age_key, str):
        key_text: str | None = age_key
        source = "age_key"
    else:
        key_text, source = _resolve_program_key(here, stack)
    doc = decrypt_data(path, age_key=key_text, stack=stack, key_source=source)
    plain_data, plain_strings = secret_values(plan, doc, fmt, shown)
    return (
        plan,
        pulumi.Output.secret(plain_data) if plain_data else None,
        pulumi.Output.secret(plain_strings) if plain_strings else None,
    )


class SopsSecret(pulumi.ComponentResource):
    """A Kubernetes Secret decrypted from a SOPS file at program time.

    The file is checked first (it must be encrypted, with no plaintext value left), then
    decrypted with the real `sops` binary and the stack's age identity: `args.age_key`, else the
    stack config `gitops:ageKey`, else `SOPS_AGE_KEY` / `SOPS_AGE_KEY_FILE`. Every value reaches
    Pulumi as a secret. Reference it from Flux objects by object: `secret_ref=sops_secret`.

        SopsSecret("cloudflare", SopsSecretArgs(file="clusters/staging/cloudflare.sops.yaml"))
    """

    secret: KubeObject
    secret_name: str
    namespace: str | None
    keys: list[str]
    """The Secret's keys (from the encrypted file; values are never exposed)."""

    def __init__(
        self,
        name: str,
        args: SopsSecretArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        stack = _stack()
        with stack_context(current_stack() or stack):
            plan, data, strings = _prepare(name, args, stack)

        super().__init__("gitops:secrets:SopsSecret", name, None, opts)
        self.secret_name = plan.name
        self.namespace = plan.namespace
        self.keys = [*plan.data_keys, *plan.string_keys]
        metadata: dict[str, Any] = {"name": plan.name, "namespace": plan.namespace}
        if plan.labels:
            metadata["labels"] = plan.labels
        if plan.annotations:
            metadata["annotations"] = plan.annotations
        fields = {
            "type": plan.type,
            "immutable": plan.immutable,
            "data": data,
            "stringData": strings,
        }
        self.secret = KubeObject(
            f"{name}-secret",
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": metadata,
                **{k: v for k, v in fields.items() if v is not None},
            },
            pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"name": plan.name, "namespace": plan.namespace, "keys": self.keys})

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return ("Secret", self.secret_name, self.namespace)


# --- AgeKeySecret --------------------------------------------------------------------------------


class AgeKeySecretArgs(ComponentArgs):
    """Which age key `AgeKeySecret` stores, and where. Every field has a default."""

    age_key: Any = None
    """The age key file's text: a str or a Pulumi secret Output; default: the stack config
    `gitops:ageKey`."""
    secret_name: Name = "sops-age"
    """Name of the Secret that `spec.decryption.secretRef` names."""
    namespace: Namespace = "flux-system"
    """Namespace of the Secret: the Kustomizations' namespace."""
    key: str = "age.agekey"
    """Key of the identity in the Secret; must end in `.agekey`."""

    @pydantic.field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not value.endswith(".agekey") or not is_secret_key(value):
            raise ValueError(
                "must be a Secret key ending in '.agekey' (kustomize-controller finds age "
                "identities by that suffix), e.g. 'age.agekey'"
            )
        return value


class AgeKeySecret(pulumi.ComponentResource):
    """The stack's age identity as the Secret Flux decrypts SOPS manifests with.

    Use it as `Kustomization(decryption={"provider": "sops", "secret_ref": age_secret})`.
    """

    secret: KubeObject
    secret_name: str
    namespace: str

    def __init__(
        self,
        name: str,
        args: AgeKeySecretArgs | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        args = args if args is not None else AgeKeySecretArgs()
        stack = _stack()
        age_key = args.age_key
        value: pulumi.Input[str]
        if age_key is None:
            found = _config_age_key()
            if found is None:
                raise ConfigError(
                    f"{stack}: AgeKeySecret {name!r}: Pulumi.{stack}.yaml has no "
                    f"{NAMESPACE}:{AGE_KEY_CONFIG}: run `pulumi config set --secret --stack "
                    f"{stack} {NAMESPACE}:{AGE_KEY_CONFIG} < <key file>`"
                )
            if isinstance(found, str):
                age_key = found
                value = pulumi.Output.secret(found)
            else:  # still Pulumi-encrypted (offline synth): pass it on, it is never shown
                value = pulumi.Config(NAMESPACE).require_secret(AGE_KEY_CONFIG)
        else:
            value = age_key
        if isinstance(age_key, str):
            try:
                age_identities(age_key)
            except ValueError as err:
                source = "age_key" if value is age_key else f"{NAMESPACE}:{AGE_KEY_CONFIG}"
                raise ConfigError(f"{stack}: AgeKeySecret {name!r}: {source} {err}") from None
        super().__init__("gitops:secrets:AgeKeySecret", name, None, opts)
        self.secret_name = args.secret_name
        self.namespace = args.namespace
        self.secret = opaque_secret(
            f"{name}-secret",
            args.secret_name,
            args.namespace,
            {args.key: value},
            pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {"name": args.secret_name, "namespace": args.namespace, "key": args.key}
        )

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return ("Secret", self.secret_name, self.namespace)
