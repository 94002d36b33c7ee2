"""Hostile input to the Python API: every limit Flux, Kubernetes or JSON sets is checked when the
object is built, and breaking one is a one-line SpecError naming the object, the field, the
value (masked when it is a secret) and what was expected: never a RecursionError, a traceback
or a secret in the message."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gitops_sdk import GitRepository, Kustomization, SpecError, from_manifest, register
from gitops_sdk.api.eso_stores import SecretStore
from gitops_sdk.api.external_secrets import ExternalSecret
from gitops_sdk.api.flagger import Canary
from gitops_sdk.api.flagger_analysis import ThresholdRange
from gitops_sdk.api.helm import HelmRelease
from gitops_sdk.api.image import ImageRepository
from gitops_sdk.api.install import FluxInstallSettings
from gitops_sdk.api.notification import Provider, Receiver
from gitops_sdk.api.source import HelmRepository, OCIRepository
from gitops_sdk.api.source_storage import Bucket
from gitops_sdk.components.notification_provider import (
    NotificationProvider,
    NotificationProviderArgs,
)
from gitops_sdk.components.notifications import AlertingArgs
from gitops_sdk.core.errors import ConfigError, GitopsError
from gitops_sdk.core.fields import MAX_DURATION
from gitops_sdk.stack import synth
from gitops_sdk.stack.config import parse_config
from gitops_sdk.stack.synth import RecordingMocks

Make = Callable[..., Any]


def deep_dict(levels: int, leaf: Any = 1) -> Any:
    """`levels` mappings, one inside the other."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def deep_list(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


SOURCE = {"kind": "GitRepository", "name": "fleet"}
CHART = {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}


def kustomization(**spec: Any) -> Kustomization:
    base = {"interval": "10m", "prune": True, "source_ref": SOURCE}
    return Kustomization(name="apps", namespace="flux-system", **{**base, **spec})


def release(**spec: Any) -> HelmRelease:
    return HelmRelease(
        name="podinfo", namespace="apps", **{"interval": "5m", "chart": CHART, **spec}
    )


def git(**spec: Any) -> GitRepository:
    base = {"url": "https://github.com/org/fleet", "interval": "1m"}
    return GitRepository(name="fleet", namespace="flux-system", **{**base, **spec})


def receiver(**spec: Any) -> Receiver:
    base = {
        "type": "github",
        "resources": [{"kind": "GitRepository", "name": "fleet"}],
        "secret_ref": {"name": "webhook-token"},
    }
    return Receiver(name="fleet", namespace="flux-system", **{**base, **spec})


def oidc_receiver(**provider: Any) -> Receiver:
    base = {"issuer_url": "https://token.actions.githubusercontent.com", "validations": []}
    base["validations"] = [{"expression": "claims.sub == 'x'", "message": "no"}]
    return Receiver(
        name="ci",
        namespace="flux-system",
        type="generic-oidc",
        resources=[{"kind": "GitRepository", "name": "fleet"}],
        oidc_providers=[{**base, **provider}],
    )


def canary(**analysis: Any) -> Canary:
    base = {"interval": "1m", "threshold": 5, "stepWeight": 10, **analysis}
    return Canary.for_deployment("demo-app", namespace="apps", service={"port": 80}, analysis=base)


def store(**vault: Any) -> SecretStore:
    return SecretStore.vault(
        "vault", namespace="apps", **{"server": "https://vault.lan:8200", "role": "r", **vault}
    )


def raises(make: Make, match: str) -> SpecError:
    with pytest.raises(SpecError, match=match) as info:
        make()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return info.value


# --- durations beyond Go's time.Duration ---------------------------------------------------------

TOO_LONG = r"is longer than a Go duration can be \(at most 2562047h47m16\.854775807s"


def test_the_longest_go_duration_is_accepted_and_one_nanosecond_more_is_not() -> None:
    assert git(interval=MAX_DURATION).spec.interval == MAX_DURATION
    raises(
        lambda: git(interval="2562047h47m16.854775808s"),
        rf"^GitRepository 'fleet': spec.interval '2562047h47m16.854775808s': {TOO_LONG}",
    )


@pytest.mark.parametrize(
    ("make", "field", "value"),
    [
        (lambda v: git(interval=v), "spec.interval", "9999999999h"),
        (lambda v: git(interval=v), "spec.interval", "2562048h"),
        (lambda v: git(interval=v), "spec.interval", "1" + "0" * 40 + "ms"),
        (lambda v: git(interval=v), "spec.interval", "2562047h" * 2),
        (lambda v: git(timeout=v), "spec.timeout", "153722867281m"),
        (lambda v: kustomization(retry_interval=v), "spec.retryInterval", "99999999999999h"),
        (lambda v: release(timeout=v), "spec.timeout", "9223372036s" * 2),
        (lambda v: release(install={"timeout": v}), "spec.install.timeout", "3000000h"),
        (
            lambda v: canary(interval=v),
            "spec.analysis.interval",
            "153722867281m",
        ),
        (
            lambda v: ExternalSecret(
                name="db",
                namespace="apps",
                secret_store_ref={"name": "vault"},
                refresh_interval=v,
                data=[{"secret_key": "pw", "remote_ref": {"key": "db"}}],
            ),
            "spec.refreshInterval",
            "9223372036854775808ns",
        ),
    ],
)
def test_durations_beyond_go_are_refused(make: Make, field: str, value: str) -> None:
    raises(lambda: make(value), rf"{re_escape(field)} '{value}': {TOO_LONG}")


def test_a_huge_number_of_digits_is_a_duration_error_not_a_crash() -> None:
    raises(lambda: git(interval="9" * 5000 + "h"), TOO_LONG)


def test_timedeltas_beyond_go_are_refused() -> None:
    assert git(interval=datetime.timedelta(days=365)).spec.interval == "8760h0m0s"
    raises(
        lambda: git(interval=datetime.timedelta(days=200_000)),
        rf"spec.interval datetime.timedelta\(days=200000\): {TOO_LONG}",
    )
    raises(lambda: git(interval=datetime.timedelta.max), TOO_LONG)
    raises(
        lambda: git(interval=datetime.timedelta(microseconds=1)),
        r"spec.interval .*: duration must be positive, .*rounds to 0ms",
    )


def test_eso_durations_beyond_go_are_refused() -> None:
    doc = store().to_manifest()
    doc["spec"]["retrySettings"] = {"retryInterval": "9999999999h"}
    raises(
        lambda: SecretStore.from_manifest(doc), rf"spec.retrySettings.retryInterval .*{TOO_LONG}"
    )


# --- URLs: spaces, control characters, hosts, credentials ---------------------------------------

# Every URL field: (object builder taking the URL, the field's manifest path, a valid URL).
URL_FIELDS: list[tuple[Make, str, str]] = [
    (lambda u: git(url=u), "spec.url", "https://github.com/org/fleet"),
    (
        lambda u: OCIRepository(name="app", namespace="flux-system", url=u, interval="5m"),
        "spec.url",
        "oci://ghcr.io/org/app",
    ),
    (
        lambda u: HelmRepository(name="charts", namespace="flux-system", url=u),
        "spec.url",
        "https://charts.example.com",
    ),
    (
        lambda u: Bucket(
            name="b", namespace="flux-system", bucket_name="b", endpoint=u, interval="5m"
        ),
        "spec.endpoint",
        "https://acct.blob.core.windows.net",
    ),
    (
        lambda u: Bucket(
            name="b",
            namespace="flux-system",
            bucket_name="b",
            endpoint="minio.minio.svc:9000",
            interval="5m",
            sts={"provider": "ldap", "endpoint": u},
        ),
        "spec.sts.endpoint",
        "https://sts.example.com",
    ),
    (
        lambda u: Provider(name="am", namespace="flux-system", type="alertmanager", address=u),
        "spec.address",
        "http://alertmanager-operated.monitoring:9093/api/v2/alerts/",
    ),
    (
        lambda u: Provider(name="am", namespace="flux-system", type="alertmanager", proxy=u),
        "spec.proxy",
        "http://proxy.lan:3128",
    ),
    (lambda u: oidc_receiver(issuer_url=u), r"spec.oidcProviders[0].issuerURL", "https://x.io"),
    (
        lambda u: canary(webhooks=[{"name": "load", "url": u}]),
        "spec.analysis.webhooks[0].url",
        "http://flagger-loadtester.test/",
    ),
    (
        lambda u: Canary.for_deployment(
            "demo-app",
            namespace="apps",
            service={"port": 80},
            analysis={"interval": "1m", "threshold": 5, "stepWeight": 10},
            metrics_server=u,
        ),
        "spec.metricsServer",
        "http://prometheus.monitoring:9090",
    ),
    (lambda u: store(server=u), "spec.provider.vault.server", "https://vault.lan:8200"),
]
URL_IDS = [
    "git",
    "oci",
    "helm",
    "bucket",
    "sts",
    "provider-address",
    "provider-proxy",
    "oidc-issuer",
    "flagger-webhook",
    "flagger-metrics",
    "vault",
]


@pytest.mark.parametrize(("make", "field", "good"), URL_FIELDS, ids=URL_IDS)
def test_every_url_field_takes_a_good_url(make: Make, field: str, good: str) -> None:
    assert good in str(make(good).to_manifest())


def _scheme(url: str) -> str:
    return url.split("://", 1)[0]


@pytest.mark.parametrize(("make", "field", "good"), URL_FIELDS, ids=URL_IDS)
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda u: u + "/a b", r"contains a space at position \d+"),
        (lambda u: u + "/a\tb", r"contains a tab at position"),
        (lambda u: u + "\n", r"contains a line break at position"),
        (lambda u: u + "/\x00", r"contains the character U\+0000"),
        (lambda u: u + "/\x7f", r"contains the character U\+007F"),
        (lambda u: u + "/\u00a0", r"contains the character U\+00A0"),
        (lambda u: " " + u, r"contains a space at position 0"),
        (lambda u: _scheme(u) + ":///path", r"has no host"),
        (lambda u: _scheme(u) + "://:8080/path", r"has no host"),
        (lambda u: _scheme(u) + "://", r"has no host"),
        (lambda u: _scheme(u) + "://host:99999/", r"is not a valid URL: Port out of range"),
        (lambda u: _scheme(u) + "://ho{st/", r"has the character '\{' in its host"),
        (lambda u: u + "/%zz", r"has an invalid percent-escape"),
    ],
    ids=[
        "space",
        "tab",
        "newline",
        "nul",
        "del",
        "nbsp",
        "leading-space",
        "empty-host",
        "port-only",
        "nothing",
        "port",
        "host-char",
        "escape",
    ],
)
def test_every_url_field_refuses_bad_urls(
    make: Make, field: str, good: str, change: Callable[[str], str], problem: str
) -> None:
    bad = change(good)
    err = raises(lambda: make(bad), problem)
    assert [i.path for i in err.issues] == [field]


@pytest.mark.parametrize(("make", "field", "good"), URL_FIELDS, ids=URL_IDS)
def test_every_url_field_refuses_credentials_and_masks_them(
    make: Make, field: str, good: str
) -> None:
    scheme, rest = good.split("://", 1)
    bad = f"{scheme}://bob:hunter2-SECRET@{rest}"
    err = raises(lambda: make(bad), r"holds a password; ")
    assert "hunter2-SECRET" not in str(err)
    assert f"{scheme}://bob:***@" in str(err)
    assert [i.path for i in err.issues] == [field]
    token = "ghp_" + "A1b2" * 9
    err = raises(lambda: make(f"{scheme}://{token}@{rest}"), r"holds a token as its user name")
    assert token not in str(err) and f"{scheme}://***@" in str(err)
    err = raises(lambda: make(f"{good}?token=SECRET123"), r"holds a secret in its parameter")
    assert "SECRET123" not in str(err)


def test_the_git_url_keeps_its_ssh_user_and_scp_hint() -> None:
    assert git(url="ssh://git@github.com/org/fleet").spec.url == "ssh://git@github.com/org/fleet"
    raises(lambda: git(url="git@github.com:org/fleet"), r"'ssh://git@github.com/org/fleet'")
    err = raises(lambda: git(url="git:s3cret@github.com:org/fleet"), r"'git:\*\*\*@github")
    assert "s3cret" not in str(err)


@pytest.mark.parametrize(
    "endpoint", ["s3.amazonaws.com", "minio.minio.svc:9000", "[::1]:9000", "storage.googleapis.com"]
)
def test_bucket_endpoints_may_be_a_host_and_port(endpoint: str) -> None:
    bucket = Bucket(
        name="b", namespace="flux-system", bucket_name="b", endpoint=endpoint, interval="5m"
    )
    assert bucket.spec.endpoint == endpoint


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ("minio:9000/bucket", r"is not 'host' or 'host:port'"),
        ("key:secret@minio:9000", r"'key:\*\*\*@minio:9000': holds a password"),
        (":9000", r"has no host"),
        ("minio:port", r"is not a valid URL"),
        ("minio 9000", r"contains a space"),
    ],
)
def test_bucket_endpoints_are_checked(endpoint: str, problem: str) -> None:
    raises(
        lambda: Bucket(
            name="b", namespace="flux-system", bucket_name="b", endpoint=endpoint, interval="5m"
        ),
        rf"spec.endpoint .*{problem}",
    )


@given(
    user=st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12),
    password=st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~!$&'()*+,;=",
        min_size=6,
        max_size=40,
    ),
    host=st.sampled_from(["github.com", "gitlab.example.com:8443", "10.0.0.1"]),
    junk=st.sampled_from(["", " ", "\t", "\x01", "/ x"]),
)
@settings(max_examples=60, deadline=None)
def test_no_url_error_ever_shows_a_password(user: str, password: str, host: str, junk: str) -> None:
    assume(password not in f"https://{user}:@{host}/org/repo{junk}")
    url = f"https://{user}:{password}@{host}/org/repo{junk}"
    with pytest.raises(SpecError) as info:
        git(url=url)
    assert password not in str(info.value)


# --- notification addresses: never a credential in plaintext -------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
        "https://discord.com/api/webhooks/123/XXXXSECRET",
        "https://org.webhook.office.com/webhookb2/XXXXSECRET",
        "https://prod-01.westus.logic.azure.com/workflows/1/triggers/manual?sig=XXXXSECRET",
        "https://chat.googleapis.com/v1/spaces/AAA/messages?key=XXXXSECRET&token=X",
        "https://api.telegram.org/botXXXXSECRET",
        "https://chat.example.com/hooks/6f1c2b3a4d5e6f70812a3b4c/XXXXSECRET99",
        "https://sentry:XXXXSECRET@o1.ingest.sentry.io/1",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=XXXXSECRET",
    ],
)
def test_provider_addresses_carrying_credentials_are_refused(address: str) -> None:
    err = raises(
        lambda: Provider(name="p", namespace="flux-system", type="generic", address=address),
        r"^Provider 'p': spec.address .*: .*put the address in the Secret named by "
        r"spec.secretRef \(key 'address'\), not in spec.address$",
    )
    assert "XXXXSECRET" not in str(err)
    cfg = {"type": "generic", "address": address}
    with pytest.raises(SpecError, match=r"providers.p.address .*name that key in addressSecret"):
        AlertingArgs(providers={"p": cfg})


def test_stack_config_alert_addresses_with_credentials_are_refused() -> None:
    base = {
        "cluster": {"name": "kubestaging", "environment": "staging"},
        "repository": {"url": "https://github.com/org/fleet"},
    }
    for address in (
        "https://user:XXXXSECRET@alertmanager.lan/api/v2/alerts",
        "https://hooks.slack.com/services/T0/B0/XXXXSECRET",
    ):
        alerts = {"providers": {"team": {"type": "generic", "address": address}}}
        with pytest.raises(
            (ConfigError, SpecError),
            match=r"gitops:alerts.providers.team.address .*addressSecret",
        ) as info:
            parse_config({**base, "alerts": alerts}, source="Pulumi.staging.yaml")
        assert "XXXXSECRET" not in str(info.value)


def test_provider_factories_refuse_credentials_in_public_addresses() -> None:
    with pytest.raises(SpecError, match=r"spec.address 'https://x:\*\*\*@github.com/org/fleet'"):
        NotificationProvider.github(
            "status", repository="https://x:XXXXSECRET@github.com/org/fleet", token="t"
        )


def test_public_provider_addresses_still_pass() -> None:
    for kind, address in (
        ("github", "https://github.com/org/fleet"),
        ("github", "ssh://git@github.com/org/fleet"),
        ("googlepubsub", "my-gcp-project"),
        ("nats", "nats://nats.messaging:4222"),
        ("generic", "https://example.com/webhooks/flux"),
    ):
        assert Provider(name="p", namespace="x", type=kind, address=address).spec.address


# --- image tags and digests ----------------------------------------------------------------------

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("image", "field", "problem"),
    [
        ({"name": "nginx", "newTag": "-1.0"}, "newTag", "is not an image tag"),
        ({"name": "nginx", "newTag": ".1"}, "newTag", "is not an image tag"),
        ({"name": "nginx", "newTag": "1.0 "}, "newTag", "is not an image tag"),
        ({"name": "nginx", "newTag": "a" * 129}, "newTag", "is not an image tag"),
        ({"name": "nginx", "newTag": "v1@" + DIGEST}, "newTag", "is not an image tag"),
        ({"name": "nginx", "newTag": ""}, "newTag", "is not an image tag"),
        ({"name": "nginx", "digest": "sha256:" + "A" * 64}, "digest", "is not an image digest"),
        ({"name": "nginx", "digest": "sha256:" + "a" * 63}, "digest", "is not an image digest"),
        ({"name": "nginx", "digest": "a" * 64}, "digest", "is not an image digest"),
        ({"name": "nginx", "digest": "md5:" + "a" * 32}, "digest", "is not an image digest"),
        ({"name": "nginx:1.0"}, "name", r"must not contain a tag \(':1.0'\)"),
        (
            {"name": "nginx", "newName": "Ghcr.io/Org/App"},
            "newName",
            "path component 'Org' must be lowercase",
        ),
        ({"name": "nginx", "newName": "ghcr.io/org/app:1"}, "newName", "must not contain a tag"),
        ({"name": "bad host!/app"}, "name", "is not an image repository"),
    ],
)
def test_kustomize_images_follow_the_oci_grammar(
    image: dict[str, str], field: str, problem: str
) -> None:
    raises(lambda: kustomization(images=[image]), rf"spec\.images\[0\]\.{field} .*: {problem}")
    renderer = [{"kustomize": {"images": [image]}}]
    raises(
        lambda: release(post_renderers=renderer),
        rf"spec\.postRenderers\[0\]\.kustomize\.images\[0\]\.{field} .*: {problem}",
    )


def test_valid_images_render_unchanged() -> None:
    images = [
        {"name": "nginx", "newName": "registry.lan:5000/mirror/nginx", "newTag": "1.27_alpine"},
        {"name": "ghcr.io/org/app", "digest": DIGEST},
        {"name": "app", "newTag": "_" + "a" * 127, "digest": "sha512:" + "0" * 128},
    ]
    assert kustomization(images=images).to_manifest()["spec"]["images"] == images


def test_oci_refs_and_image_repositories_follow_the_grammar() -> None:
    def oci(ref: dict[str, str]) -> OCIRepository:
        url = "oci://ghcr.io/org/app"
        return OCIRepository(name="app", namespace="x", url=url, interval="5m", ref=ref)

    assert oci({"tag": "6.5.0", "digest": DIGEST}).spec.ref is not None
    raises(lambda: oci({"tag": "latest!"}), r"spec.ref.tag 'latest!': is not an image tag")
    raises(lambda: oci({"digest": "sha256:xyz"}), r"spec.ref.digest 'sha256:xyz': is not an image")

    def repo(image: str) -> ImageRepository:
        return ImageRepository(name="app", namespace="x", image=image, interval="5m")

    raises(lambda: repo("ghcr.io/" + "a" * 260), r"characters long; a repository name has at most")
    raises(lambda: repo("ghcr.io/org/app\x00"), r"is not an image repository")
    raises(lambda: repo("ghcr.io/org/app:-x"), r"must not contain a tag")
    with pytest.raises(SpecError, match=r"controllers.source-controller.imageDigest"):
        FluxInstallSettings(controllers={"source": {"image_digest": "sha256:" + "z" * 64}})


# --- NaN and infinities: JSON has none -----------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_in_helm_values(bad: float) -> None:
    values = {"replicas": 1, "resources": {"limits": [1.5, {"cpu": bad}]}}
    err = raises(
        lambda: release(values=values),
        r"^HelmRelease 'podinfo': spec\.values\.resources\.limits\[1\]\.cpu "
        r"(nan|inf|-inf): is not a finite number \(JSON has no NaN or Infinity\)$",
    )
    assert len(err.issues) == 1
    doc = release().to_manifest()
    doc["spec"]["values"] = values
    raises(lambda: from_manifest(doc), r"spec\.values\.resources\.limits\[1\]\.cpu")


def test_non_finite_numbers_are_refused_in_typed_and_free_form_numbers() -> None:
    err = raises(lambda: ThresholdRange(min=math.nan), r"^ThresholdRange: min nan: is not a finite")
    assert len(err.issues) == 1  # not also "not a valid integer"
    metric = {"name": "request-duration", "thresholdRange": {"max": math.inf}}
    raises(
        lambda: canary(metrics=[metric]),
        r"spec\.analysis\.metrics\[0\]\.thresholdRange\.max inf: is not a finite number",
    )
    affinity = {"nodeAffinity": {"weight": math.nan}}
    with pytest.raises(SpecError, match=r"scheduling\.affinity\.nodeAffinity\.weight nan"):
        FluxInstallSettings(scheduling={"affinity": affinity})


def test_free_form_keys_must_be_strings() -> None:
    raises(lambda: release(values={"a": {1: "x"}}), r"spec\.values\.a 1: has a key that is not")


# --- annotations and labels: 256 KiB in all ------------------------------------------------------


def test_annotations_over_256_kib_are_refused() -> None:
    fits = {"a": "x" * (256 * 1024 - 1)}
    assert git(annotations=fits).metadata.annotations == fits
    err = raises(
        lambda: git(annotations={"a": "x" * (256 * 1024)}),
        r"^GitRepository 'fleet': metadata\.annotations: are 262145 bytes of keys and values; "
        r"Kubernetes allows annotations of at most 262144 bytes \(256 KiB\) in all$",
    )
    assert "xxxx" not in str(err)
    # Bytes, as the API server counts them, not characters.
    raises(lambda: git(annotations={"a": "é" * 131_072}), r"are 262145 bytes")
    many = {f"example.com/k{i}": "v" * 100 for i in range(3000)}
    raises(lambda: git(annotations=many), r"metadata\.annotations: are \d+ bytes")


def test_labels_and_common_metadata_have_the_same_limit() -> None:
    labels = {f"k{i}": "v" * 63 for i in range(5000)}
    raises(lambda: git(labels=labels), r"metadata\.labels: are \d+ bytes .* labels of at most")
    big = {"a": "x" * 300_000}
    raises(
        lambda: kustomization(common_metadata={"annotations": big}),
        r"spec\.commonMetadata\.annotations: are 300001 bytes",
    )
    raises(
        lambda: release(chart={**CHART, "metadata": {"annotations": big}}),
        r"spec\.chart\.metadata\.annotations: are 300001 bytes",
    )


# --- CEL expressions -----------------------------------------------------------------------------


def _health(**exprs: str) -> list[dict[str, str]]:
    return [{"apiVersion": "example.com/v1", "kind": "Thing", "current": "true", **exprs}]


CEL_FIELDS: list[tuple[Make, str]] = [
    (lambda e: kustomization(health_check_exprs=_health(current=e)), "healthCheckExprs[0].current"),
    (
        lambda e: kustomization(health_check_exprs=_health(inProgress=e)),
        "healthCheckExprs[0].inProgress",
    ),
    (lambda e: kustomization(health_check_exprs=_health(failed=e)), "healthCheckExprs[0].failed"),
    (lambda e: release(health_check_exprs=_health(failed=e)), "healthCheckExprs[0].failed"),
    (
        lambda e: kustomization(depends_on=[{"name": "infra", "readyExpr": e}]),
        "dependsOn[0].readyExpr",
    ),
    (
        lambda e: release(depends_on=[{"name": "infra", "readyExpr": e}]),
        "dependsOn[0].readyExpr",
    ),
    (
        lambda e: Provider(
            name="gh",
            namespace="x",
            type="github",
            address="https://github.com/org/fleet",
            commit_status_expr=e,
        ),
        "commitStatusExpr",
    ),
    (lambda e: receiver(resource_filter=e), "resourceFilter"),
    (
        lambda e: receiver(resources=[{"kind": "GitRepository", "name": "*", "filter": e}]),
        "resources[0].filter",
    ),
    (
        lambda e: oidc_receiver(validations=[{"expression": e, "message": "no"}]),
        "oidcProviders[0].validations[0].expression",
    ),
    (
        lambda e: oidc_receiver(variables=[{"name": "v", "expression": e}]),
        "oidcProviders[0].variables[0].expression",
    ),
]


@pytest.mark.parametrize(("make", "field"), CEL_FIELDS, ids=[f for _, f in CEL_FIELDS])
def test_every_cel_field_is_parsed(make: Make, field: str) -> None:
    make("self.status.conditions.exists(c, c.type == 'Ready' && c.status == 'True')")
    make("self.?status.?observedGeneration.orValue(0) >= 1 && [?a.?b, 1].size() > 0")
    where = rf"spec\.{re_escape(field)} "
    raises(
        lambda: make("self.status.ready &&"),
        rf"{where}'self.status.ready &&': is not a valid CEL expression: unexpected end of "
        r"expression at line 1, column 21$",
    )
    raises(
        lambda: make("a == 1\n  && b ==* 2"),
        rf"{where}.*: is not a valid CEL expression: unexpected '\*' at line 2, column 10$",
    )
    raises(lambda: make("a = 1"), rf"{where}.*: is not a valid CEL expression: .* column 3$")
    raises(lambda: make('x == "open'), rf"{where}.*: unexpected character '\"' at line 1")
    raises(lambda: make("   "), rf"{where}'   ': is empty")


def re_escape(text: str) -> str:
    return text.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")


def test_cel_nesting_and_length_follow_cel_go() -> None:
    ok = "(" * 250 + "true" + ")" * 250
    kustomization(health_check_exprs=_health(current=ok))
    raises(
        lambda: kustomization(health_check_exprs=_health(current="(" + ok + ")")),
        r"nested deeper than 250 levels at line 1, column 251 \(cel-go's limit\)",
    )
    raises(
        lambda: kustomization(health_check_exprs=_health(current="a" * 100_001)),
        r"is 100001 characters long; cel-go parses at most 100000",
    )


# --- nesting: never a RecursionError -------------------------------------------------------------


def test_values_may_nest_100_levels() -> None:
    values = deep_dict(100)  # the values mapping and 99 more inside it
    hr = release(values=values)
    doc = hr.to_manifest()
    assert from_manifest(doc).to_manifest() == doc
    raises(
        lambda: release(values=deep_dict(101)),
        r"^HelmRelease 'podinfo': spec\.values\.a\.a\.a\.a\.\.\.: is nested deeper than 100 "
        r"levels$",
    )


def test_registering_the_deepest_values_works(mocks: RecordingMocks) -> None:
    synth.run(lambda: register(release(values={"list": deep_list(99)})))
    [obj] = mocks.by_kind("HelmRelease")
    assert obj["spec"]["values"]["list"] == deep_list(99)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: release(values=deep_dict(10_000)), r"spec\.values\.a\.a.*nested deeper than 100"),
        (lambda: release(values={"l": deep_list(10_000)}), r"spec\.values\.l\[0\]\[0\]"),
        (lambda: release(values=deep_dict(10_000, math.nan)), r"nested deeper than 100"),
        (lambda: release(interval=deep_list(10_000)), r"spec\.interval: input should be a valid"),
        (lambda: release(bogus=deep_list(10_000)), r"spec\.bogus: unknown field"),
        (lambda: release(interval=10**5000), r"spec\.interval: input should be a valid string"),
        (lambda: git(labels=deep_dict(10_000)), r"metadata\.labels\.a: input should be"),
        (
            lambda: GitRepository(name=deep_list(10_000), url="https://x.io", interval="1m"),
            r"^GitRepository: metadata\.name: input should be a valid string",
        ),
        (lambda: kustomization(images=deep_list(10_000)), r"spec\.images\[0\]"),
        (
            lambda: FluxInstallSettings(
                scheduling={"affinity": {"podAffinity": deep_dict(10_000)}}
            ),
            r"scheduling\.affinity\.podAffinity\.a\.a.*nested deeper than 100 levels",
        ),
    ],
)
def test_deep_input_is_a_spec_error(make: Make, problem: str) -> None:
    err = raises(make, problem)
    assert len(str(err)) < 1000


def test_deep_manifests_load_as_spec_errors() -> None:
    doc = release().to_manifest()
    doc["spec"]["values"] = deep_dict(10_000)
    raises(lambda: from_manifest(doc), r"spec\.values\.a\.a\.a\.a\.\.\.: is nested deeper")
    doc = release().to_manifest()
    doc["metadata"]["name"] = deep_list(10_000)
    doc["spec"]["unknown"] = deep_dict(10_000)
    err = raises(lambda: from_manifest(doc), r"^HelmRelease: metadata\.name: .*spec\.unknown")
    assert "[[[" not in str(err)
    with pytest.raises(GitopsError, match=r"apiVersion a very large int and kind a list"):
        from_manifest({"apiVersion": 10**5000, "kind": deep_list(10_000)})


# --- unknown fields: the key, never the value ----------------------------------------------------


def test_a_misspelt_secret_field_is_named_but_never_shown(mocks: RecordingMocks) -> None:
    provider = Provider(
        name="gh",
        namespace="x",
        type="github",
        address="https://github.com/org/fleet",
        secret_ref={"name": "gh"},
    )
    secret = "ghp_" + "S3cr3t" * 6
    with pytest.raises(SpecError, match=r"^NotificationProviderArgs: tokn: unknown field$") as e:
        NotificationProviderArgs(provider=provider, tokn=secret)
    assert secret not in str(e.value)
    doc = git().to_manifest()
    doc["spec"]["password"] = secret
    with pytest.raises(SpecError, match=r"spec\.password: unknown field$") as e:
        from_manifest(doc)
    assert secret not in str(e.value)


def test_the_install_manifest_url_is_checked_too() -> None:
    with pytest.raises(SpecError, match=r"manifest 'https://u:\*\*\*@example.com/i.yaml'") as e:
        FluxInstallSettings(manifest="https://u:XXXXSECRET@example.com/i.yaml")
    assert "XXXXSECRET" not in str(e.value)
    with pytest.raises(SpecError, match=r"manifest 'https://example.com/a b.yaml': contains a"):
        FluxInstallSettings(manifest="https://example.com/a b.yaml")
    assert FluxInstallSettings(manifest="./flux/install.yaml").manifest == "./flux/install.yaml"


@pytest.mark.parametrize(
    ("github", "shown"),
    [
        ({"receiver": {"url": "https://user:s3cret@hooks.example.com"}}, "user:***@"),
        ({"baseUrl": "https://u:s3cret@ghe.example.com/api/v3"}, "u:***@"),
    ],
)
def test_github_urls_in_stack_config_refuse_credentials(github: dict, shown: str) -> None:
    from gitops_sdk.stack.config import parse_config

    values = {
        "cluster": {"name": "c", "environment": "staging"},
        "repository": {"url": "https://github.com/o/r"},
        "github": {"owner": "o", "repository": "r", **github},
    }
    with pytest.raises(ConfigError, match="holds a password") as err:
        parse_config(values, source="Pulumi.staging.yaml")
    assert shown in str(err.value) and "s3cret" not in str(err.value)
