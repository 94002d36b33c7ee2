"""The `gitops:` namespace of `Pulumi.<stack>.yaml`, as a typed, validated schema.

```yaml
config:
  gitops:cluster: {name: staging, environment: staging, architectures: [arm64]}
  gitops:repository: {url: https://github.com/org/fleet, branch: main, interval: 1m}
  gitops:defaults: {interval: 10m, retryInterval: 2m, timeout: 5m, prune: true, wait: true}
  gitops:layers:
    infrastructure:
      units:
        traefik: {dependsOn: [metallb, cert-manager]}
```

Errors name the stack file and the key: `Pulumi.staging.yaml: gitops:layers.apps.interval ...`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator

from gitops_sdk.api.flagger import CanaryConfig
from gitops_sdk.api.image_automation import ImageAutomationSettings
from gitops_sdk.api.install import FluxInstallSettings
from gitops_sdk.api.source import GitUrl
from gitops_sdk.components.flux_install import FluxInstallArgs
from gitops_sdk.components.github import GithubConfig
from gitops_sdk.components.monitoring import FluxMonitoringArgs
from gitops_sdk.components.notifications import AlertingArgs
from gitops_sdk.components.receiver import ReceiverSettings
from gitops_sdk.core.base import Invalid, issues_from
from gitops_sdk.core.errors import MISSING, ConfigError
from gitops_sdk.core.fields import Duration, Name, Namespace
from gitops_sdk.services.renovate import RenovateStackConfig
from gitops_sdk.services.stack_files import (
    NAMESPACE,
    SECRET_KEYS,
    decode_config_value,
    is_secure_value,
    load_stack_file,
    plaintext_secrets,
    read_stack_file,
    stack_file,
)
from gitops_sdk.stack.objects import RawObject, object_key
from gitops_sdk.stack.sources import SourceConfig
from gitops_sdk.stack.units import (
    ApiGroupName,
    ConfigModel,
    Defaults,
    ImageOverride,
    LayerConfig,
    Resources,
    ResourceSpec,
    Tuning,
    UnitConfig,
)

__all__ = [
    "NAMESPACE",
    "SECRET_KEYS",
    "ClusterConfig",
    "ConfigModel",
    "Defaults",
    "FluxConfig",
    "GitopsConfig",
    "ImageOverride",
    "LayerConfig",
    "RepositoryConfig",
    "ResourceSpec",
    "Resources",
    "Tuning",
    "UnitConfig",
    "config_env",
    "from_pulumi",
    "load_stack_file",
    "name_collision",
    "parse_config",
    "plaintext_secrets",
    "read_stack_file",
    "stack_file",
]


class ClusterConfig(ConfigModel):
    """Which cluster this stack manages."""

    name: Name
    """Cluster name, e.g. `kubestaging`; used in labels and alerts."""
    environment: Namespace
    """Environment name, e.g. `staging` or `production`."""
    labels: dict[str, str] = {}
    """Extra labels put on every Flux object the stack renders."""
    architectures: list[Literal["arm64", "amd64", "arm"]] = ["arm64"]
    """Node architectures the Flux controllers may run on (homelab default: arm64)."""
    ha: bool = False
    """Run charts highly available where it matters (replicas, disruption budgets): the
    presets' `ha` values are merged over their base values."""
    api_groups: list[ApiGroupName] = []
    """API groups the cluster has beyond Kubernetes' and Flux's own, installed outside this
    stack (e.g. `monitoring.coreos.com` when Prometheus is managed elsewhere)."""


class RepositoryConfig(ConfigModel):
    """The Git repository Flux syncs the cluster from."""

    name: Name = "flux-system"
    """Name of the GitRepository object."""
    url: GitUrl
    """Repository URL (`https://` or `ssh://`)."""
    branch: str = "main"
    """Branch to follow."""
    interval: Duration = "1m"
    """How often Flux polls for commits."""
    secret_name: Name | None = "flux-system"
    """Secret with the git credentials (made by bootstrap); null for a public repository."""


def _check_external(value: str) -> str:
    if value.count("/") != 2 or not all(value.split("/")):
        raise ValueError("expected 'Kind/namespace/name', e.g. 'Kustomization/flux-system/crds'")
    return value


class FluxConfig(FluxInstallSettings):
    """How Flux itself is installed and tuned (every `FluxInstallSettings` key: `version`,
    `manifest`, `sha256`, `components`, `defaults`, `controllers`, `scheduling`,
    `noCrossNamespaceRefs`, `defaultServiceAccount`, `registry`, `wait`, `namespace`), plus:"""

    install: bool = True
    """Install Flux with the embedded controller; false when Flux is already on the cluster."""
    external: list[Annotated[str, AfterValidator(_check_external)]] = []
    """Flux objects made outside this stack that references may name, as `Kind/ns/name`."""

    def external_keys(self) -> list[tuple[str, str, str]]:
        """`external` as (kind, namespace, name) keys."""
        return [tuple(e.split("/")) for e in self.external]  # type: ignore[misc]

    def install_args(
        self,
        architectures: list[str],
        *,
        manifest: str | None = None,
        extra_components: Sequence[str] = (),
    ) -> FluxInstallArgs:
        """The install args: scheduling on the cluster's architectures unless `scheduling` names
        its own; `manifest` (e.g. from GITOPS_FLUX_MANIFEST) when the config sets none;
        `extra_components` added to the controllers (e.g. image automation where it is used)."""
        values = self.model_dump(
            exclude={"install", "external"}, exclude_unset=True, by_alias=False
        )
        if extra_components:
            values["components"] = [*self.components, *extra_components]
        scheduling = values.setdefault("scheduling", {})
        scheduling.setdefault("architectures", architectures)
        if manifest and "manifest" not in values:
            values["manifest"] = manifest
        return FluxInstallArgs(**values)


class GitopsConfig(ConfigModel):
    """Everything under `gitops:` in a stack file."""

    cluster: ClusterConfig
    repository: RepositoryConfig
    flux: FluxConfig = FluxConfig()
    defaults: Defaults = Defaults()
    sources: dict[Name, SourceConfig] = {}
    """Named Helm repositories, OCI and Git sources that units read (`source`, `chartRef`)."""
    layers: dict[Name, LayerConfig] = {}
    """Layers in order; each names what it depends on."""
    render_dir: str | None = None
    """Render every object as YAML into this folder instead of applying it (the Kubernetes
    provider's renderYamlToDirectory mode): `pulumi preview`/`up` without a cluster."""
    automation: ImageAutomationSettings | None = None
    """Image update automation (`gitops:automation`): images, policies, where to push."""
    renovate: RenovateStackConfig | None = None
    """This environment's Renovate rules (`gitops renovate` writes renovate.json)."""
    canary: CanaryConfig = CanaryConfig()
    """Flagger canaries (`gitops:canary`), off unless enabled."""
    github: GithubConfig | None = None
    """Deploy key and push webhook on GitHub (`gitops:github`); absent: not managed."""
    receiver: ReceiverSettings | None = None
    """A Flux Receiver for the repository with a generated token (`gitops:receiver`), so a
    push webhook reconciles at once; null: polling only (unless `gitops:github.receiver`)."""
    monitoring: FluxMonitoringArgs | None = None
    """Flux metrics, alert rules and dashboard for kube-prometheus-stack; null: none."""
    alerts: AlertingArgs | None = None
    """Notification Providers and Alerts (secrets by config key name); null: none."""
    objects: list[RawObject] = []
    """Objects registered as written once Flux is installed (`gitops:objects`): what
    `gitops import` could not express as units or sources, e.g. an ArtifactGenerator, a source
    with `verify`, a ConfigMap of post-build variables. Flux kinds are validated like
    `from_manifest`; others need apiVersion, kind, metadata.name and spec (a ConfigMap: data)."""

    @pydantic.model_validator(mode="after")
    def _names_are_unique(self) -> GitopsConfig:
        members = []
        for name, layer in self.layers.items():
            if layer.enabled:
                units = [u for u, cfg in layer.units.items() if cfg.enabled]
                members += [(name, u) for u in units] if layer.units else [(name, "")]
        if problem := name_collision(members):
            raise Invalid("layers", MISSING, problem)
        return self

    @pydantic.model_validator(mode="after")
    def _sources_exist(self) -> GitopsConfig:
        if self.repository.name in self.sources:
            raise Invalid(
                f"sources.{self.repository.name}",
                MISSING,
                "has the name of the cluster's own GitRepository (gitops:repository.name); "
                "rename the source",
            )
        for lname, layer in self.layers.items():
            for uname, unit in {"": layer, **layer.units}.items():
                at = f"layers.{lname}" + (f".units.{uname}" if uname else "")
                if problem := _source_problem(unit, self.sources):
                    raise Invalid(f"{at}.{problem[0]}", problem[1], problem[2])
        return self

    @pydantic.model_validator(mode="after")
    def _objects_are_unique(self) -> GitopsConfig:
        seen: set[tuple[str, str, str, str]] = set()
        units = {
            ("HelmRelease" if c.is_helm else "Kustomization", n) for n, c in _members(self.layers)
        }
        for i, obj in enumerate(self.objects):
            key = object_key(obj, self.flux.namespace)
            if key in seen or ((key[1], key[3]) in units and key[2] == self.flux.namespace):
                raise Invalid(
                    f"objects[{i}]",
                    f"{key[1]} {key[2]}/{key[3]}" if key[2] else f"{key[1]} {key[3]}",
                    "is declared twice (in gitops:objects or as a unit); names must be unique",
                )
            seen.add(key)
        return self

    @pydantic.model_validator(mode="after")
    def _one_receiver(self) -> GitopsConfig:
        if self.receiver is None:
            return self
        controller = "notification-controller"
        if self.flux.install and controller not in self.flux.components:
            raise Invalid(
                "receiver",
                MISSING,
                f"needs {controller}, which serves Receivers; add notification to "
                "gitops:flux.components",
            )
        hook = self.github.receiver if self.github is not None else None
        if hook is None:
            return self
        # gitops:receiver declares the Receiver; gitops:github.receiver then only says where
        # GitHub posts (url) and which repository gets the hook.
        for field in ("name", "namespace", "secret_name", "events", "interval"):
            if field in hook.model_fields_set:
                alias = type(hook).model_fields[field].alias or field
                raise Invalid(
                    f"github.receiver.{alias}",
                    getattr(hook, field),
                    "is decided by gitops:receiver, which declares the Receiver; set it there",
                )
        return self

    @pydantic.model_validator(mode="after")
    def _pins_leave_automated_images_alone(self) -> GitopsConfig:
        # Flux applies a Kustomization's spec.images after its files, so a pinned tag would
        # undo every commit image automation makes under its path: refuse the pair.
        auto = self.automation
        if auto is None or not auto.update.enabled:
            return self
        tracked = {_image_key(a.image): key for key, a in auto.images.items()}
        scope = _folder(auto.update.path)
        for lname, layer in self.layers.items():
            if not layer.enabled:
                continue
            units = {u: c for u, c in layer.units.items() if c.enabled} or {"": layer}
            for uname, unit in units.items():
                if unit.source or unit.source_ref or unit.is_helm:
                    continue  # not the repository image automation writes to
                path = unit.path or (f"./{lname}/{uname}" if uname else f"./{lname}")
                if not _folder(path).startswith(scope):
                    continue
                pins = [*layer.images, *unit.images] if uname else layer.images
                for i, pin in enumerate(pins):
                    key = tracked.get(_image_key(pin.name))
                    if key is None or (pin.new_tag is None and pin.digest is None):
                        continue
                    at = f"layers.{lname}" + (f".units.{uname}" if uname else "")
                    raise Invalid(
                        f"{at}.images[{i}].newTag",
                        pin.new_tag or pin.digest,
                        f"pins {pin.name}, which image automation updates (gitops:automation."
                        f"images.{key}, writing under {auto.update.path}); Flux applies the pin "
                        "after the files, so the automation's commits would never take effect: "
                        "drop the pin, or take the image out of gitops:automation",
                    )
        return self

    @pydantic.model_validator(mode="after")
    def _automation_can_push(self) -> GitopsConfig:
        if self.automation is not None and self.repository.secret_name is None:
            raise Invalid(
                "repository.secretName",
                None,
                "is null, but gitops:automation pushes commits and needs a credential: name the "
                "Secret holding a read-write deploy key or token",
            )
        return self


def _members(layers: Mapping[str, LayerConfig]) -> list[tuple[str, UnitConfig]]:
    """(rendered name, settings) of every enabled layer and unit."""
    out: list[tuple[str, UnitConfig]] = []
    for name, layer in layers.items():
        if not layer.enabled:
            continue
        if not layer.units:
            out.append((name, layer))
        out += [(f"{name}-{u}", c) for u, c in layer.units.items() if c.enabled]
    return out


def _image_key(name: str) -> str:
    """An image name as a registry sees it: `nginx` and `docker.io/library/nginx` are one."""
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        name = name.removeprefix(prefix)
    return name.removeprefix("library/").split("@")[0]


def _folder(path: str) -> str:
    """A repository path as `a/b/` (no `./`), so that prefixes compare by whole folders."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return "".join(f"{p}/" for p in parts)


def _source_problem(
    unit: UnitConfig, sources: Mapping[str, SourceConfig]
) -> tuple[str, str, str] | None:
    """(field, value, problem) when a unit names a source that is missing or of the wrong type."""
    known = ", ".join(sorted(sources)) or "none declared"
    wanted: list[tuple[str, str, tuple[str, ...]]] = []
    if unit.chart_ref:
        wanted.append(("chartRef", unit.chart_ref, ("oci",)))
    if unit.source:
        wanted.append(("source", unit.source, ("helm",) if unit.is_helm else ("git", "oci")))
    elif unit.preset and not unit.chart_ref:
        preset = unit.preset_data
        assert preset is not None
        wanted.append(("source", preset.source.name, ("helm",)))
    for field, name, types in wanted:
        source = sources.get(name)
        if source is None:
            hint = ""
            if field == "source" and unit.preset and unit.preset_data:
                p = unit.preset_data.source
                hint = f" (preset {unit.preset!r} reads {p.name}: {{type: helm, url: {p.url}}})"
            return (
                field,
                name,
                f"is not declared in gitops:sources{hint}; known: {known}",
            )
        if source.type not in types:
            return (
                field,
                name,
                f"is a {source.type} source, but this unit needs a "
                + " or ".join(types)
                + " source",
            )
    return None


def name_collision(members: Iterable[tuple[str, str]]) -> str | None:
    """The first two (layer, unit) pairs (unit "" for a whole layer) that render as the same
    Kustomization name `<layer>-<unit>`, said with both origins; None when all differ."""
    seen: dict[str, tuple[str, str]] = {}
    for layer, unit in members:
        name = f"{layer}-{unit}" if unit else layer
        if (first := seen.setdefault(name, (layer, unit))) != (layer, unit):
            return (
                f"{_origin(*first)} and {_origin(layer, unit)} both render as Kustomization "
                f"{name!r}; rename one of them"
            )
    return None


def _origin(layer: str, unit: str) -> str:
    return f"layer {layer!r} unit {unit!r}" if unit else f"layer {layer!r}"


def _is_secret(key: str, value: Any, secret_keys: frozenset[str]) -> bool:
    return key in SECRET_KEYS or key in secret_keys or is_secure_value(value)


def _check_secrecy(values: Mapping[str, Any], source: str, secret_keys: frozenset[str]) -> None:
    """Plain settings must not be secrets (a section set with --secret would otherwise be
    skipped silently); secrets in plain text are refused where the stack file is read
    (`load_stack_file`). Values are never shown."""
    plain = {f.alias or n for n, f in GitopsConfig.model_fields.items()}
    for key, value in values.items():
        secret = is_secure_value(value) or key in secret_keys
        if key in plain and secret:
            raise ConfigError(
                f"{source}: {NAMESPACE}:{key} is set as a secret, but it is plain configuration; "
                f"set it without --secret"
            )
    creds = values.get("gitCredentials")
    if creds is not None and not is_secure_value(creds):
        ok = isinstance(creds, dict) and set(creds) == {"username", "password"}
        if not ok or not all(isinstance(v, str) and v for v in creds.values()):
            given = sorted(creds) if isinstance(creds, dict) else type(creds).__name__
            raise ConfigError(
                f"{source}: {NAMESPACE}:gitCredentials: expected a mapping with string username "
                f"and password (`pulumi config set --secret --path {NAMESPACE}:gitCredentials."
                f"username ...`), got {given} (values not shown)"
            )


def parse_config(
    values: Mapping[str, Any], *, source: str, secret_keys: frozenset[str] = frozenset()
) -> GitopsConfig:
    """Validate the `gitops:` keys (without the `gitops:` prefix); errors name `source`.

    Secret keys (`pulumi config set --secret`, e.g. `gitops:slackWebhook`) are read by the
    components that need them and skipped here."""
    _check_secrecy(values, source, secret_keys)
    values = {k: v for k, v in values.items() if not _is_secret(k, v, secret_keys)}
    try:
        return GitopsConfig.model_validate(dict(values))
    except pydantic.ValidationError as err:
        issues = issues_from(err, GitopsConfig)
        for issue in issues:
            if issue.problem.startswith("unknown field"):
                issue.value = MISSING  # an unknown key may hold a secret set without --secret
            if issue.problem == "unknown field" and "." not in issue.path:
                issue.problem = (
                    "unknown key (set secrets with `pulumi config set --secret`; known keys: "
                    + ", ".join(f.alias or n for n, f in GitopsConfig.model_fields.items())
                    + ")"
                )
        lines = [f"{NAMESPACE}:{issue}" for issue in issues]
        raise ConfigError(f"{source}: " + "; ".join(lines)) from None


def from_pulumi() -> GitopsConfig:
    """Read and validate the running stack's `gitops:` config."""
    import pulumi
    from pulumi.runtime.config import (
        _SECRET_KEYS,
        CONFIG,
        get_config_env,
        get_config_secret_keys_env,
    )

    prefix = f"{NAMESPACE}:"
    raw = {**get_config_env(), **CONFIG.get()}
    stack = pulumi.get_stack()
    source = f"Pulumi.{stack}.yaml"
    values: dict[str, Any] = {}
    for key, text in raw.items():
        if key.startswith(prefix):
            # The engine parsed the stack file; the same caps apply to what it passes on.
            name = key[len(prefix) :]
            values[name] = decode_config_value(name, text, source)
    if not values:
        raise ConfigError(
            f"Pulumi.{stack}.yaml: no '{prefix}' keys; expected at least "
            f"{prefix}cluster and {prefix}repository"
        )
    secret = {*_SECRET_KEYS.get(), *get_config_secret_keys_env()}
    secret_keys = frozenset(k[len(prefix) :] for k in secret if k.startswith(prefix))
    return parse_config(values, source=source, secret_keys=secret_keys)


def config_env(values: Mapping[str, Any], *, source: str = "stack config") -> dict[str, str]:
    """`PULUMI_CONFIG`-style entries (`gitops:key` -> JSON) for running a program on `values`;
    a value JSON cannot hold (a date, bytes, a recursive list) is a ConfigError."""
    out = {}
    for key, value in values.items():
        try:
            out[f"{NAMESPACE}:{key}"] = json.dumps(value)
        except (TypeError, ValueError, RecursionError) as err:
            problem = (
                "is nested too deep" if isinstance(err, RecursionError) else "is not plain data"
            )
            raise ConfigError(
                f"{source}: {NAMESPACE}:{key} {problem} ({type(err).__name__}); expected text, "
                "numbers, true/false, null, lists and mappings"
            ) from None
    return out
