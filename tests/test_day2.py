"""Day-2 commands without a cluster: KIND/NAME and timeout parsing, the kubeconfig found as the
flux CLI finds it, status rows and the table read from status dicts as `flux get` reads them,
revision picking, the source `--with-source` reconciles, and one-line errors."""

from __future__ import annotations

import argparse
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_sdk.cli import app as cli
from gitops_sdk.cli.day2 import declared_objects, parse_timeout
from gitops_sdk.services.cluster import Cluster, kubeconfig_paths, merge_kubeconfigs
from gitops_sdk.services.flux_status import (
    ClusterError,
    flux_kind,
    format_age,
    object_status,
    parse_ref,
    pick_revision,
    reconcile_outcome,
    requested_at,
    source_of,
    status_table,
)

NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def stamp(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def flux_obj(
    kind: str,
    name: str,
    *,
    ready: str | None = "True",
    reason: str = "ReconciliationSucceeded",
    message: str = "Applied revision: main@sha1:abc",
    generation: int = 1,
    observed: int | None = 1,
    status: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    st: dict[str, Any] = dict(status or {})
    if ready is not None:
        cond = {"type": "Ready", "status": ready, "reason": reason, "message": message}
        st["conditions"] = [{"type": "Reconciling", "status": "False"}, cond]
    if observed is not None:
        st["observedGeneration"] = observed
    return {
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "flux-system",
            "generation": generation,
            "creationTimestamp": stamp(timedelta(hours=5, minutes=3)),
        },
        "spec": spec or {},
        "status": st,
    }


# --- KIND/NAME, kinds, timeouts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "kind", "name"),
    [
        ("Kustomization/apps", "Kustomization", "apps"),
        ("ks/apps", "Kustomization", "apps"),
        ("kustomizations/apps", "Kustomization", "apps"),
        ("hr/podinfo", "HelmRelease", "podinfo"),
        ("gitrepo/flux-system", "GitRepository", "flux-system"),
        ("imagepolicies/app", "ImagePolicy", "app"),
        ("HELMREPOSITORY/bitnami", "HelmRepository", "bitnami"),
    ],
)
def test_parse_ref_names_kinds_as_flux_does(ref: str, kind: str, name: str) -> None:
    parsed, parsed_name = parse_ref(ref)
    assert (parsed.kind, parsed_name) == (kind, name)


def test_kinds_carry_group_version_and_plural() -> None:
    ks = flux_kind("ks")
    assert (ks.group, ks.version, ks.plural) == (
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "kustomizations",
    )
    assert flux_kind("ImagePolicy").plural == "imagepolicies"
    assert flux_kind("OCIRepository").plural == "ocirepositories"
    assert flux_kind("Alert").at("notification.toolkit.fluxcd.io/v1beta3").version == "v1beta3"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("deployment/apps", "unknown Flux kind 'deployment' (expected one of GitRepository"),
        ("Canary/app", "unknown Flux kind 'Canary'"),
        ("apps", "'apps' is not KIND/NAME (expected e.g. 'Kustomization/apps'"),
        ("ks/", "'ks/' is not KIND/NAME"),
        ("ks/a/b", "'ks/a/b' is not KIND/NAME"),
    ],
)
def test_bad_refs_are_one_line_errors(ref: str, expected: str) -> None:
    with pytest.raises(ClusterError) as err:
        parse_ref(ref)
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400), ("45", 45), ("1.5s", 1.5)]
)
def test_parse_timeout(text: str, seconds: float) -> None:
    assert parse_timeout(text) == seconds


@pytest.mark.parametrize("text", ["five", "5x", "0s", "-3", ""])
def test_parse_timeout_refuses_what_is_not_a_positive_duration(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_timeout(text)


# --- status rows -------------------------------------------------------------------------------


def test_revision_is_what_flux_get_shows_per_kind() -> None:
    artifact = {"artifact": {"revision": "main@sha1:1111"}, "lastAppliedRevision": "x"}
    assert pick_revision("GitRepository", artifact) == "main@sha1:1111"
    assert pick_revision("HelmChart", {"artifact": {"revision": "6.7.1"}}) == "6.7.1"
    assert pick_revision("Kustomization", {"lastAppliedRevision": "main@sha1:2222"}) == (
        "main@sha1:2222"
    )
    # never applied yet: the revision it tried
    attempted = {"lastAttemptedRevision": "main@sha1:3333"}
    assert pick_revision("Kustomization", attempted) == "main@sha1:3333"
    history = {"history": [{"chartVersion": "1.2.3"}], "lastAttemptedRevision": "1.2.2"}
    assert pick_revision("HelmRelease", history) == "1.2.3"
    assert pick_revision("HelmRelease", {"lastAttemptedRevision": "1.2.2"}) == "1.2.2"
    policy = {"latestRef": {"name": "ghcr.io/org/app", "tag": "1.4.0"}}
    assert pick_revision("ImagePolicy", policy) == "ghcr.io/org/app:1.4.0"
    assert pick_revision("ImageUpdateAutomation", {"lastPushCommit": "abc123"}) == "abc123"
    assert pick_revision("Receiver", {}) == ""


@pytest.mark.parametrize(
    ("delta", "shown"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=12, seconds=3), "12m"),
        (timedelta(minutes=150), "2h"),
        (timedelta(hours=5, minutes=3), "5h"),
        (timedelta(days=3, hours=1), "3d"),
    ],
)
def test_age_as_kubectl_prints_it(delta: timedelta, shown: str) -> None:
    assert format_age(stamp(delta), NOW) == shown


def test_age_unknown() -> None:
    assert format_age(None, NOW) == "-"
    assert format_age("yesterday", NOW) == "-"


def test_ready_object_row() -> None:
    obj = flux_obj("Kustomization", "apps", status={"lastAppliedRevision": "main@sha1:abc"})
    row = object_status("Kustomization", "flux-system", "apps", obj, NOW)
    assert (row.ready, row.reason, row.revision, row.age, row.ok) == (
        "True",
        "ReconciliationSucceeded",
        "main@sha1:abc",
        "5h",
        True,
    )


def test_failing_missing_and_unreconciled_objects_are_not_ok() -> None:
    failing = flux_obj(
        "Kustomization", "apps", ready="False", reason="BuildFailed", message="kustomize\n build"
    )
    row = object_status("Kustomization", "flux-system", "apps", failing, NOW)
    assert (row.ready, row.reason, row.message, row.ok) == (
        "False",
        "BuildFailed",
        "kustomize build",
        False,
    )
    missing = object_status("GitRepository", "flux-system", "x", None, NOW)
    assert (missing.ready, missing.reason, missing.ok) == ("Missing", "NotFound", False)
    fresh = flux_obj("HelmRelease", "podinfo", ready=None, observed=None)
    row = object_status("HelmRelease", "flux-system", "podinfo", fresh, NOW)
    assert (row.ready, row.reason, row.ok) == ("Unknown", "NotReconciled", False)


def test_ready_of_an_older_generation_is_not_ready_unless_suspended() -> None:
    stale = flux_obj("Kustomization", "apps", generation=3, observed=2)
    row = object_status("Kustomization", "flux-system", "apps", stale, NOW)
    assert (row.ready, row.reason, row.ok) == ("Unknown", "Progressing", False)
    assert row.message == "generation 3 not reconciled yet (Ready is of 2)"
    suspended = flux_obj("Kustomization", "apps", generation=3, observed=2, spec={"suspend": True})
    row = object_status("Kustomization", "flux-system", "apps", suspended, NOW)
    assert (row.ready, row.suspended, row.ok) == ("True", True, True)


def test_alerts_and_providers_have_no_ready_condition_and_count_as_ok() -> None:
    alert = flux_obj("Alert", "errors", ready=None, observed=None)
    row = object_status("Alert", "flux-system", "errors", alert, NOW)
    assert (row.ready, row.ok) == ("-", True)


def test_status_table_lists_sources_first_with_every_column() -> None:
    rows = [
        object_status(
            "Kustomization",
            "flux-system",
            "apps",
            flux_obj(
                "Kustomization",
                "apps",
                ready="False",
                reason="DependencyNotReady",
                message="dependency 'flux-system/infrastructure' is not ready",
            ),
            NOW,
        ),
        object_status(
            "GitRepository",
            "flux-system",
            "flux-system",
            flux_obj("GitRepository", "flux-system", status={"artifact": {"revision": "main@1"}}),
            NOW,
        ),
        object_status("Kustomization", "flux-system", "infrastructure", None, NOW),
    ]
    lines = status_table(rows).splitlines()
    assert lines[0].split() == [
        "NAMESPACE",
        "NAME",
        "READY",
        "SUSPENDED",
        "REVISION",
        "AGE",
        "REASON",
        "MESSAGE",
    ]
    assert lines[1].split()[:7] == [
        "flux-system",
        "GitRepository/flux-system",
        "True",
        "False",
        "main@1",
        "5h",
        "ReconciliationSucceeded",
    ]
    assert lines[2].split()[1:3] == ["Kustomization/apps", "False"]
    assert (
        lines[2].split("  ")[-1].strip() == "dependency 'flux-system/infrastructure' is not ready"
    )
    assert "DependencyNotReady" in lines[2]
    assert lines[3].split() == [
        "flux-system",
        "Kustomization/infrastructure",
        "Missing",
        "False",
        "-",
        "-",
        "NotFound",
        "not",
        "on",
        "the",
        "cluster",
    ]
    # columns line up: every row's READY starts where the header's does
    col = lines[0].index("READY")
    assert all(line[col:].split()[0] in {"READY", "True", "False", "Missing"} for line in lines)


def test_declared_objects_keeps_flux_kinds_once_each() -> None:
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}},
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
        },
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps"},
        },
        {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "app"}},
        {
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
            "kind": "Alert",
            "metadata": {"name": "errors", "namespace": "monitoring"},
        },
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
        },
    ]
    found = [(k.kind, k.version, ns, n) for k, ns, n in declared_objects(docs, "flux-system")]
    assert found == [
        ("GitRepository", "v1", "flux-system", "flux-system"),
        ("Kustomization", "v1", "flux-system", "apps"),
        ("Alert", "v1beta3", "monitoring", "errors"),
    ]


# --- reconcile -----------------------------------------------------------------------------------


def test_source_of_each_kind() -> None:
    ks = flux_obj(
        "Kustomization", "apps", spec={"sourceRef": {"kind": "GitRepository", "name": "fleet"}}
    )
    kind, ns, name = source_of(flux_kind("ks"), ks) or (None, "", "")
    assert (kind and kind.kind, ns, name) == ("GitRepository", "flux-system", "fleet")
    other_ns = {"kind": "OCIRepository", "name": "manifests", "namespace": "sources"}
    ks = flux_obj("Kustomization", "apps", spec={"sourceRef": other_ns})
    found = source_of(flux_kind("ks"), ks)
    assert found and (found[0].kind, found[1], found[2]) == (
        "OCIRepository",
        "sources",
        "manifests",
    )
    helm_repo = {"kind": "HelmRepository", "name": "podinfo"}
    chart_spec = {"chart": {"spec": {"chart": "podinfo", "sourceRef": helm_repo}}}
    hr = flux_obj("HelmRelease", "podinfo", spec=chart_spec)
    found = source_of(flux_kind("hr"), hr)
    assert found and (found[0].kind, found[1], found[2]) == (
        "HelmChart",
        "flux-system",
        "flux-system-podinfo",
    )
    hr = flux_obj("HelmRelease", "podinfo", spec=chart_spec, status={"helmChart": "charts/pod"})
    found = source_of(flux_kind("hr"), hr)
    assert found and (found[1], found[2]) == ("charts", "pod")
    ref = flux_obj("HelmRelease", "x", spec={"chartRef": {"kind": "OCIRepository", "name": "x"}})
    found = source_of(flux_kind("hr"), ref)
    assert found and found[0].kind == "OCIRepository"
    assert source_of(flux_kind("GitRepository"), flux_obj("GitRepository", "x")) is None


def test_reconcile_outcome_waits_for_the_request_to_be_handled() -> None:
    token = requested_at(NOW)
    assert token == "2026-05-01T12:00:00.000000Z"
    before = flux_obj("Kustomization", "apps", status={"lastHandledReconcileAt": "earlier"})
    assert reconcile_outcome(before, token) is None
    done = flux_obj("Kustomization", "apps", status={"lastHandledReconcileAt": token})
    assert reconcile_outcome(done, token) == "ready"
    failed = flux_obj(
        "Kustomization", "apps", ready="False", status={"lastHandledReconcileAt": token}
    )
    assert reconcile_outcome(failed, token) == "failed"
    busy = flux_obj(
        "Kustomization", "apps", ready="Unknown", status={"lastHandledReconcileAt": token}
    )
    assert reconcile_outcome(busy, token) is None
    assert reconcile_outcome(None, token) == "failed"


# --- the kubeconfig -------------------------------------------------------------------------------


def kubeconfig(
    path: Path, *, server: str, context: str, current: str | None = None, ca: bool = False
) -> Path:
    trust = {"certificate-authority": "ca.crt"} if ca else {"insecure-skip-tls-verify": True}
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, **trust}}],
        "users": [{"name": context, "user": {"token": "t0ken"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    (path.parent / "ca.crt").write_text("")
    return path


def test_kubeconfig_paths_follow_flag_then_env_then_home() -> None:
    assert kubeconfig_paths("/k/config", {"KUBECONFIG": "/a"}) == [Path("/k/config")]
    assert kubeconfig_paths(None, {"KUBECONFIG": "/a:/b::"}) == [Path("/a"), Path("/b")]
    assert kubeconfig_paths(None, {}) == [Path("~/.kube/config").expanduser()]


def test_kubeconfig_files_merge_first_wins(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = kubeconfig(
        tmp_path / "one" / "config", server="https://one:6443", context="one", ca=True
    )
    second = kubeconfig(
        tmp_path / "two" / "config", server="https://two:6443", context="two", current="two"
    )
    merged = merge_kubeconfigs([tmp_path / "absent", first, second])
    assert merged["current-context"] == "two"
    assert [c["name"] for c in merged["contexts"]] == ["one", "two"]
    # a relative certificate path is relative to the file that names it
    ca = merged["clusters"][0]["cluster"]["certificate-authority"]
    assert ca == str(tmp_path / "one" / "ca.crt")


def test_context_from_flag_or_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "two").mkdir()
    first = kubeconfig(tmp_path / "config", server="https://one:6443", context="one", current="one")
    second = kubeconfig(tmp_path / "two" / "config", server="https://two:6443", context="two")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    cluster = Cluster.connect()
    assert (cluster.context, cluster.server) == ("one", "https://one:6443")
    cluster.close()
    cluster = Cluster.connect(context="two")
    assert (cluster.context, cluster.server) == ("two", "https://two:6443")
    cluster.close()
    with pytest.raises(ClusterError, match=r"no context 'three' \(contexts: one, two\)"):
        Cluster.connect(context="three")
    no_current = kubeconfig(tmp_path / "bare", server="https://x:1", context="x")
    with pytest.raises(ClusterError, match="no current-context set; pass --context"):
        Cluster.connect(str(no_current))


def test_kubeconfig_that_is_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "config"
    bad.write_text("clusters: [\n")
    with pytest.raises(ClusterError, match=f"kubeconfig {bad}: not YAML"):
        Cluster.connect(str(bad))


# --- the commands' one-line errors --------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["reconcile", "deployment/x"], "gitops: unknown Flux kind 'deployment'"),
        (["suspend", "apps"], "gitops: 'apps' is not KIND/NAME"),
        (["resume", "ks/apps", "--kubeconfig", "/no/such/file"], "gitops: no kubeconfig: /no/such"),
    ],
)
def test_commands_fail_in_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected)
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_no_cluster_reachable_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    config = kubeconfig(
        tmp_path / "config", server=f"https://127.0.0.1:{port}", context="lab", current="lab"
    )
    for argv in (["reconcile", "ks/apps"], ["suspend", "ks/apps"], ["resume", "ks/apps"]):
        assert cli.main([*argv, "--kubeconfig", str(config)]) == 2
        err = capsys.readouterr().err
        assert err == (
            f"gitops: cannot reach the cluster at https://127.0.0.1:{port} (context lab): "
            "[Errno 111] Connection refused\n"
        )


# --- adoption of a bootstrapped install -----------------------------------------------------------


def test_adopt_annotates_objects_and_only_the_named_ones() -> None:
    from types import SimpleNamespace

    from gitops_sdk.api.install import ADOPT_ANNOTATIONS, FluxInstallSettings
    from gitops_sdk.components.flux_install import adopted, adoption_transformation
    from gitops_sdk.stack.config import FluxConfig

    assert FluxInstallSettings().adopt is False
    assert FluxConfig.model_validate({"adopt": True}).install_args(["arm64"]).adopt is True
    doc = {"kind": "Namespace", "metadata": {"name": "flux-system", "annotations": {"a": "b"}}}
    assert adopted(doc)["metadata"]["annotations"] == {"a": "b", **ADOPT_ANNOTATIONS}
    assert doc["metadata"]["annotations"] == {"a": "b"}  # the input is left as it was
    transform = adoption_transformation({("Kustomization", "flux-system")})

    def args(kind: str, name: str) -> Any:
        props = {"kind": kind, "metadata": {"name": name, "namespace": "flux-system"}}
        return SimpleNamespace(
            type_=f"kubernetes:kustomize.toolkit.fluxcd.io/v1:{kind}", props=props, opts=None
        )

    result = transform(args("Kustomization", "flux-system"))
    assert result is not None
    assert result.props["metadata"]["annotations"] == ADOPT_ANNOTATIONS
    assert transform(args("Kustomization", "apps")) is None
    assert adoption_transformation()(args("GitRepository", "x")) is not None
