"""The homelab composed from the SDK: Flux itself (the embedded controller), the Git source and
the named chart sources, then the layers infrastructure -> monitoring -> security -> apps (Helm
releases and Kustomizations), then what needs their CRDs, all driven by the stack's `gitops:`
config.

Extension point: `build(cfg, opts, extend=...)` calls `extend(layers)` with the `LayerSet` read
from the config before it is rendered, so a stack program adds sources and units in code:

```python
def more(layers: LayerSet) -> None:
    layers.sources["podinfo"] = HelmRepository(name="podinfo", namespace="flux-system",
                                               url="https://stefanprodan.github.io/podinfo")
    layers.layer("apps").helm("podinfo", source="podinfo", chart="podinfo", version="6.7.1")

build(cfg, opts, extend=more)
```
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pulumi

from gitops_sdk import (
    AgeKeySecret,
    AgeKeySecretArgs,
    CanaryRelease,
    CanaryReleaseArgs,
    ConfigError,
    DependencyCycleError,
    FluxGraph,
    FluxInstall,
    FluxInstallArgs,
    FluxKey,
    FluxMonitoring,
    FluxNotifications,
    FluxNotificationsArgs,
    GithubDeployKey,
    GithubReceiver,
    GitopsConfig,
    GitRepository,
    GitSource,
    GitSourceArgs,
    HelmRelease,
    ImageAutomation,
    ImageAutomationArgs,
    InstallManifestError,
    Kustomization,
    Layers,
    LayerSet,
    flux_key,
    register,
    send_registrations,
    synth,
)
from gitops_sdk.components.flux_install import adoption_transformation
from gitops_sdk.components.github import github_token_available
from gitops_sdk.components.notifications import secrets_from_config
from gitops_sdk.components.ordering import after, placed
from gitops_sdk.components.receiver import FluxReceiver
from gitops_sdk.services.install_manifest import load_manifest
from gitops_sdk.stack.apis import FLUX_GROUPS, check_api_groups
from gitops_sdk.stack.objects import flux_objects, register_objects
from gitops_sdk.stack.sources import build_sources

AGE_SECRET = "sops-age"
GIT_CREDENTIALS = "gitCredentials"
"""Secret config (`pulumi config set --secret --path gitops:gitCredentials.username ...`):
`username`/`password` of an HTTPS Git server, stored in the source Secret (`secretName`)."""
MANIFEST_ENV = "GITOPS_FLUX_MANIFEST"
"""A local copy of the Flux install manifest, for offline and air-gapped runs."""


def uses_decryption(cfg: GitopsConfig) -> bool:
    """Whether any layer or unit asks Flux to decrypt SOPS files."""
    layers = [layer for layer in cfg.layers.values() if layer.enabled]
    return bool(
        cfg.defaults.decryption
        or any(layer.decryption for layer in layers)
        or any(u.decryption for layer in layers for u in layer.units.values() if u.enabled)
    )


def flux_install(cfg: GitopsConfig, opts: pulumi.ResourceOptions | None) -> FluxInstall | None:
    """Install and tune Flux, unless the stack says Flux is already there."""
    from gitops_sdk.services.install_manifest import ManifestUnavailableError

    if not cfg.flux.install:
        return None
    # The image controllers run only where image automation is used.
    image = ["image-reflector-controller", "image-automation-controller"] if cfg.automation else []
    # The manifest: the stack's `manifest`, else MANIFEST_ENV, else the copy the SDK ships for
    # the release, else the release's download.
    override = os.environ.get(MANIFEST_ENV) or None
    args = cfg.flux.install_args(
        list(cfg.cluster.architectures), manifest=override, extra_components=image
    )
    where = f"Pulumi.{pulumi.get_stack()}.yaml: gitops:flux"
    if cfg.flux.manifest is not None:
        where += ".manifest"
    elif override:
        where = MANIFEST_ENV
    try:
        docs = load_manifest(args, where=where)
    except InstallManifestError as err:
        if not (
            isinstance(err, ManifestUnavailableError) and synth.offline() and args.manifest is None
        ):
            raise
        # Offline synth of a release the SDK ships no copy of: render the rest, say what is
        # missing. A copy that fails its sha256 check is never skipped like this.
        synth.note(f"Flux install objects left out: {err}; set {MANIFEST_ENV} to a local copy")
        return None
    return FluxInstall("flux", FluxInstallArgs.from_settings(args, docs=docs), opts)


def git_credentials() -> dict[str, pulumi.Output[str]] | None:
    """`gitops:gitCredentials` as the source Secret's values (Pulumi secrets), if set."""
    creds = pulumi.Config("gitops").get_secret_object(GIT_CREDENTIALS)
    if creds is None:
        return None

    def field(key: str) -> pulumi.Output[str]:
        return creds.apply(lambda c: str(c[key]))

    return {key: field(key) for key in ("username", "password")}


def github(
    cfg: GitopsConfig,
    source: GitSource,
    receiver: FluxReceiver | None,
    opts: pulumi.ResourceOptions | None,
) -> GithubDeployKey | None:
    """What `flux bootstrap github` sets up: a deploy key whose private half lands in the source
    Secret, and a push webhook on the Receiver so commits reconcile in seconds."""
    assert cfg.github is not None
    key = None
    if key_args := cfg.github.deploy_key_args(source):
        key = GithubDeployKey("github", key_args, opts)
    # The webhook is registered when asked for (gitops:github.receiver), or for the declared
    # Receiver when it has a public URL and a token can reach the API; never otherwise.
    wanted = cfg.github.receiver is not None or (
        receiver is not None and receiver.url is not None and github_token_available()
    )
    if wanted and (receiver_args := cfg.github.receiver_args(source, receiver)):
        hook = GithubReceiver("github", receiver_args, opts)
        if receiver is None:
            pulumi.export("receiver_webhook_path", hook.flux_receiver.webhook_path)
    return key


def flux_receiver(
    cfg: GitopsConfig,
    source: GitSource,
    ready: list[pulumi.Resource],
    opts: pulumi.ResourceOptions | None,
) -> FluxReceiver | None:
    """`gitops:receiver`: the Receiver and its generated token Secret, no Git host API."""
    if cfg.receiver is None:
        return None
    args = cfg.receiver.receiver_args(source, depends_on=ready, wait=cfg.flux.wait)
    receiver = FluxReceiver("receiver", args, opts)
    pulumi.export("receiver_webhook_path", receiver.webhook_path)
    if receiver.webhook_url is not None:
        pulumi.export("receiver_webhook_url", receiver.webhook_url)
    return receiver


MONITORING_GROUP = "monitoring.coreos.com"
CANARY_GROUP = "flagger.app"


def layer_set(
    cfg: GitopsConfig,
    repo: GitRepository,
    age_ref: dict[str, str] | None,
    extend: Callable[[LayerSet], None] | None,
) -> tuple[LayerSet, list[Kustomization | HelmRelease]]:
    """The layers of the config (and of `extend`), rendered; errors name the stack file."""
    stack = pulumi.get_stack()
    labels = {**cfg.cluster.labels, "environment": cfg.cluster.environment}
    try:
        sources = build_sources(cfg.sources, cfg.flux.namespace, labels)
        layers = LayerSet.from_config(cfg, repo, decryption_secret=age_ref, sources=sources)
        if cfg.monitoring and cfg.monitoring.state_metrics.enabled:
            # kube-state-metrics reports every Flux object (`gotk_resource_info`) once these
            # values reach the chart: merged into its releases, no ConfigMap to wait for.
            ksm = cfg.monitoring.state_metrics_args()
            layers.chart_values[ksm.chart] = ksm.helm_values()
        if extend is not None:
            extend(layers)
        return layers, layers.build()
    except (ConfigError, DependencyCycleError) as err:
        # Say where to fix it: these come from the stack file's layer settings.
        text = str(err).removeprefix(f"{stack}: ")
        raise ConfigError(f"Pulumi.{stack}.yaml: gitops:layers: {text}") from None


def check_apis(cfg: GitopsConfig, layers: LayerSet) -> None:
    """Every API group the stack registers objects of is Kubernetes', Flux's, installed by a
    unit or declared to be on the cluster: fail before anything registers otherwise."""
    needed = layers.api_groups_used()
    if cfg.monitoring:
        needed.setdefault(MONITORING_GROUP, []).append("gitops:monitoring")
    if cfg.canary.build():
        needed.setdefault(CANARY_GROUP, []).append("gitops:canary")
    for i, doc in enumerate(cfg.objects):
        group = str(doc["apiVersion"]).rpartition("/")[0]
        needed.setdefault(group, []).append(f"gitops:objects[{i}]")
    provided = {name: unit.provides for name, unit in layers.built.items()}
    cluster = [*cfg.cluster.api_groups, *([] if cfg.flux.install else FLUX_GROUPS)]
    check_api_groups(needed, provided, cluster, source=f"Pulumi.{pulumi.get_stack()}.yaml")


def build(
    cfg: GitopsConfig,
    opts: pulumi.ResourceOptions | None = None,
    *,
    extend: Callable[[LayerSet], None] | None = None,
) -> None:
    """Declare the whole stack; everything is validated before the first registration.
    `extend(layers)` may add sources and units in code (see the module docstring)."""
    ns = cfg.flux.namespace
    labels = {**cfg.cluster.labels, "environment": cfg.cluster.environment}
    repo = GitRepository(
        name=cfg.repository.name,
        namespace=ns,
        labels=labels,
        url=cfg.repository.url,
        interval=cfg.repository.interval,
        ref={"branch": cfg.repository.branch},
        secret_ref={"name": cfg.repository.secret_name} if cfg.repository.secret_name else None,
    )
    # Flux decrypts SOPS files with the stack's age key (`gitops:ageKey`) wherever a layer or
    # unit sets `decryption: true`; the Secret is made after validation, under this name.
    age_ref = {"name": AGE_SECRET} if uses_decryption(cfg) else None
    if age_ref and pulumi.Config("gitops").get("ageKey") is None:
        stack = pulumi.get_stack()
        raise ConfigError(
            f"Pulumi.{stack}.yaml: a layer or unit sets decryption: true, but gitops:ageKey is "
            f"not set: run `pulumi config set --secret --stack {stack} gitops:ageKey < <key file>`"
        )
    layers, units = layer_set(cfg, repo, age_ref, extend)
    sources = list(layers.sources.values())
    FluxGraph(
        [repo, *sources, *units, *flux_objects(cfg.objects, ns)],
        default_namespace=ns,
        known=cfg.flux.external_keys(),
        no_cross_namespace_refs=cfg.flux.no_cross_namespace_refs,
    ).check()
    check_apis(cfg, layers)

    flux = flux_install(cfg, opts)
    # The engine starts the Kubernetes provider and checks Flux's install while the rest is
    # declared, instead of after the program returns.
    send_registrations()
    ready: list[pulumi.Resource] = list(flux.ready) if flux else []
    if age_ref:
        age = AgeKeySecret(
            "sops-age",
            AgeKeySecretArgs(secret_name=AGE_SECRET, namespace=ns),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=ready)),
        )
        ready.append(age)
    wait = cfg.flux.wait
    adopt = cfg.flux.adopt  # take over what `flux bootstrap` made, in place
    source = GitSource(
        "flux-system",
        GitSourceArgs(
            repository=repo, credentials=git_credentials(), depends_on=ready, wait=wait, adopt=adopt
        ),
        opts=opts,
    )
    receiver = flux_receiver(cfg, source, ready, opts)
    key = github(cfg, source, receiver, opts) if cfg.github else None
    after_flux = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=ready))
    if cfg.automation:
        # The image CRDs come with the embedded controller: wait for them.
        ImageAutomation(
            "flux-system",
            ImageAutomationArgs.from_settings(cfg.automation, source=source, deploy_key=key),
            after(ready, opts),
        )
    own: dict[FluxKey, pulumi.Resource] = {flux_key(repo): source.repository}
    for obj in sources:
        own[flux_key(obj)] = register(obj, after_flux, name=f"source-{obj.kind.lower()}-{obj.name}")
    own.update(register_objects(cfg.objects, ns, after_flux, own))  # gitops:objects, as written
    extra_namespaces = [cfg.monitoring.namespace] if cfg.monitoring else []
    layer_opts = opts
    if adopt:
        # bootstrap's own Kustomization, when a layer named like it declares it
        adoption = adoption_transformation({("Kustomization", cfg.repository.name)})
        layer_opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(transformations=[adoption])
        )
    homelab = Layers(
        "layers",
        layers.layers_args(
            units,
            resources=dict(own),
            depends_on=ready,
            wait=wait,
            namespaces=extra_namespaces,
        ),
        opts=layer_opts,
    )
    own.update({flux_key(u.flux_object): u for u in homelab.units.values()})
    if cfg.monitoring:
        # Its ConfigMaps wait for their namespace, the PodMonitor and rules for the chart.
        placement = placed(homelab.ready_for, ready, opts)
        FluxMonitoring("flux-monitoring", cfg.monitoring, opts=placement)
    # A canary's target Deployment comes from a Kustomization unit; Flagger brings the kind.
    apps = placed(homelab.ready_for, [*ready, *homelab.kustomizations.values()], opts)
    for canary in cfg.canary.build():
        CanaryRelease(canary.name, CanaryReleaseArgs(canary=canary), opts=apps)
    if cfg.alerts:
        FluxNotifications(
            "flux-alerts",
            FluxNotificationsArgs(
                config=cfg.alerts, secrets=secrets_from_config(cfg.alerts), resources=own
            ),
            opts=after(ready, opts),
        )
    pulumi.export("kustomizations", sorted(homelab.kustomizations))
    pulumi.export("helm_releases", sorted(homelab.releases))
    pulumi.export("source", repo.spec.url)
    if flux:
        pulumi.export("flux_namespace", flux.namespace)
