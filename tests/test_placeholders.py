"""Flux post-build substitution placeholders (`${var}`, `${var:=default}`) in manifests: the
syntax as Flux parses it, loading templates with placeholders anywhere, what is still checked,
what is skipped and reported, and references to placeholder names in the whole-stack graph."""

from __future__ import annotations

import copy
from typing import Any

import pydantic
import pytest
import yaml
from conftest import needs_examples
from helpers import flux_examples
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_sdk import (
    CrossReferenceError,
    FluxGraph,
    GitRepository,
    HelmRelease,
    Kustomization,
    SpecError,
    from_manifest,
)
from gitops_sdk.api.eso_stores import eso_from_manifest
from gitops_sdk.core.model import flux_kinds
from gitops_sdk.core.placeholders import Placeholder
from gitops_sdk.core.substitution import DEFAULT_OPERATORS, has_placeholder, scan
from gitops_sdk.stack.graph import UncheckedRef

# --- the syntax, as Flux's parser reads it -------------------------------------------------------

# (text, whether Flux's parser takes it, what it renders with every variable unset); the
# right-hand sides were produced by Flux's own parser.
FLUX_SYNTAX = [
    ("${APP}", True, ""),
    ("${APP}-db", True, "-db"),
    ("https://${HOST}/repo", True, "https:///repo"),
    ("${INTERVAL:=5m}", True, "5m"),
    ("${INTERVAL=5m}", True, "5m"),
    ("${INTERVAL:-5m}", True, "5m"),
    ("${X:?oops}", True, "oops"),  # not a shell's error: Flux treats it as a default
    ("${X:+alt}", True, "alt"),  # likewise
    ("${X-default}", False, ""),
    ("${X+alt}", False, ""),
    ("${X?err}", False, ""),
    ("$${APP}", True, "${APP}"),
    ("$$${APP}", True, "$"),
    ("$$$${APP}", True, "$${APP}"),
    ("a$b", True, "a$b"),
    ("$", True, "$"),
    ("$(date)", True, "$(date)"),
    ("${", False, ""),
    ("${}", False, ""),
    ("${ APP}", False, ""),
    ("${APP", False, ""),
    ("${APP }", False, ""),
    ("${1}", True, ""),
    ("${é}", True, ""),
    ("${#APP}", True, "0"),
    ("${#}", False, ""),
    ("${APP^^}", True, ""),
    ("${APP,^}", True, ""),
    ("${APP:1}", True, ""),
    ("${APP:1:2}", True, ""),
    ("${APP:}", False, ""),
    ("${APP:1:}", False, ""),
    ("${APP:é}", False, ""),  # Flux's scanner loses its place on a wide character here
    ("${APP#pre}", True, ""),
    ("${APP##}", False, ""),
    ("${APP%suf}", True, ""),
    ("${APP/a/b}", True, ""),
    ("${APP//a/b}", True, ""),
    ("${APP/#a}", False, ""),
    ("${APP//x}", False, ""),
    ("${APP/\\/x/y}", True, ""),
    ("${APP/}/x}", True, ""),  # a pattern may hold "}"
    ("${A:=${B:=c}}", True, "c"),
    ("${A:=x$${B}y}", True, "x$y"),  # no escapes inside a default
    ("${A:=$$}", True, "$$"),
    ("${A:=}", True, ""),
    ("${A:=a}b}", True, "ab}"),
    ("${arr[@]}", False, ""),
    ("echo ${HOME:-/root}", True, "echo /root"),
    ("${A}${B:=2}", True, "2"),
]


def rendered_unset(text: str, escapes: bool = True) -> str:
    """What Flux renders from `text` with no variable set, from what `scan` read."""
    read = scan(text, escapes=escapes)
    out = read.literals[0]
    for expr, literal in zip(read.expressions, read.literals[1:], strict=True):
        if expr.operator in DEFAULT_OPERATORS and expr.default:
            out += rendered_unset(expr.default, escapes=False)
        elif expr.operator == "length":
            out += "0"
        out += literal
    return out


@pytest.mark.parametrize(("text", "parses", "unset"), FLUX_SYNTAX)
def test_syntax_is_read_as_flux_reads_it(text: str, parses: bool, unset: str) -> None:
    read = scan(text)
    assert (read.error is None) == parses, read
    if parses:
        assert rendered_unset(text) == unset
        assert has_placeholder(text) == bool(read.expressions)


def test_what_a_scan_tells() -> None:
    read = scan("${APP:=web}-${TIER:=db}")
    assert read.variables == ("APP", "TIER")
    assert read.with_defaults() == "web-db"
    assert not read.whole
    assert scan("${A:=${B}}").variables == ("A", "B")
    assert scan("${A:=${B}}").with_defaults() is None  # the default needs a variable
    assert scan("${A}-x").with_defaults() is None
    assert scan("${N:=3}").whole
    assert scan("${" * 60 + "}" * 60).error  # nesting is capped, never recursed without end


# --- loading templates ---------------------------------------------------------------------------


def kustomization(**spec: Any) -> dict[str, Any]:
    meta = spec.pop("metadata", {"name": "apps", "namespace": "flux-system"})
    body = {"sourceRef": {"kind": "GitRepository", "name": "fleet"}, "interval": "5m"}
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": meta,
        "spec": {**body, "prune": True, **spec},
    }


def git_repository(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "fleet", "namespace": "flux-system"},
        "spec": {"url": "https://github.com/org/fleet", "interval": "1m", **spec},
    }


def helm_release(**spec: Any) -> dict[str, Any]:
    chart = {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository", "name": "charts"}}}
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {"interval": "10m", "chart": chart, **spec},
    }


def loads(doc: dict[str, Any]) -> Any:
    """Load `doc` and check it renders back unchanged."""
    obj = from_manifest(copy.deepcopy(doc))
    assert obj.to_manifest() == doc
    return obj


def notes(obj: Any) -> dict[str, str]:
    return {n.path: n.message for n in obj.validation_notes()}


TEMPLATED = {
    "name": kustomization(metadata={"name": "${APP}-db", "namespace": "flux-system"}),
    "namespace": kustomization(metadata={"name": "apps", "namespace": "${TENANT}"}),
    "duration": kustomization(interval="${INTERVAL}", timeout="${N}m"),
    "bool": kustomization(prune="${PRUNE}", suspend="${SUSPEND:=false}"),
    "enum": kustomization(deletionPolicy="${POLICY}"),
    "path": kustomization(path="./apps/${cluster_env}"),
    "nested list": kustomization(
        components=["../base", "../${cluster_env}"],
        images=[{"name": "ghcr.io/org/web", "newTag": "${TAG}"}],
        patches=[{"patch": "- op: replace\n  value: ${X}", "target": {"name": "${APP}"}}],
    ),
    "references": kustomization(
        sourceRef={"kind": "${SOURCE_KIND}", "name": "${REPO}", "namespace": "${NS}"},
        dependsOn=[{"name": "infra-${cluster_env}"}, {"name": "${DEP}", "namespace": "x"}],
        postBuild={"substituteFrom": [{"kind": "ConfigMap", "name": "vars-${cluster_env}"}]},
    ),
    "url": git_repository(url="https://${GIT_HOST}/org/fleet", ref={"branch": "${BRANCH}"}),
    "int": helm_release(install={"remediation": {"retries": "${RETRIES}"}}, maxHistory="${H}"),
    "values": helm_release(values={"replicaCount": "${REPLICAS}", "host": "web.${DOMAIN}"}),
    "labels": kustomization(
        metadata={"name": "apps", "labels": {"env": "${cluster_env}", "${KEY}": "yes"}}
    ),
}


@pytest.mark.parametrize("doc", list(TEMPLATED.values()), ids=list(TEMPLATED))
def test_placeholders_load_anywhere_and_round_trip(doc: dict[str, Any]) -> None:
    obj = loads(doc)
    assert obj.placeholders  # each case holds some
    assert all(has_placeholder(text) for _, text in obj.placeholders)
    type(obj).from_manifest(doc)  # the kind's own loader takes it too


def test_placeholders_are_listed_with_their_paths() -> None:
    obj = loads(TEMPLATED["references"])
    assert obj.placeholders == [
        Placeholder("spec.sourceRef.kind", "${SOURCE_KIND}"),
        Placeholder("spec.sourceRef.name", "${REPO}"),
        Placeholder("spec.sourceRef.namespace", "${NS}"),
        Placeholder("spec.dependsOn[0].name", "infra-${cluster_env}"),
        Placeholder("spec.dependsOn[1].name", "${DEP}"),
        Placeholder("spec.postBuild.substituteFrom[0].name", "vars-${cluster_env}"),
    ]
    assert obj.placeholders[0].variables == ("SOURCE_KIND",)
    keyed = loads(TEMPLATED["labels"]).placeholders
    assert keyed == [
        Placeholder("metadata.labels.env", "${cluster_env}"),
        Placeholder("metadata.labels.${KEY}", "${KEY}"),
    ]


def test_skipped_checks_are_listed_where_they_were_skipped() -> None:
    found = notes(loads(TEMPLATED["name"]))
    assert list(found) == ["metadata.name"]
    assert found["metadata.name"].startswith(
        "not checked until Flux substitutes it (as written: is not a DNS-1123 subdomain"
    )
    found = notes(loads(TEMPLATED["bool"]))
    assert found["spec.prune"] == (
        "not checked until Flux substitutes it (as written: input should be a valid boolean)"
    )
    assert found["spec.suspend"].startswith("checked as substituted with its default ('false')")
    found = notes(loads(TEMPLATED["references"]))
    assert list(found) == [
        "spec.sourceRef.kind",
        "spec.sourceRef.name",
        "spec.sourceRef.namespace",
        "spec.dependsOn[0].name",
        "spec.dependsOn[1].name",
        "spec.postBuild.substituteFrom[0].name",
    ]
    # Text fields take any text: a placeholder there skips nothing.
    assert notes(loads(TEMPLATED["path"])) == {}
    assert notes(loads(TEMPLATED["values"])) == {}
    found = notes(loads(TEMPLATED["labels"]))
    assert list(found) == ["metadata.labels"]
    assert "value '${cluster_env}' of label 'env'" in found["metadata.labels"]
    shown = [str(note) for note in loads(TEMPLATED["int"]).validation_notes()]
    assert shown == [
        "spec.maxHistory '${H}': not checked until Flux substitutes it (as written: input "
        "should be a valid integer)",
        "spec.install.remediation.retries '${RETRIES}': not checked until Flux substitutes it "
        "(as written: input should be a valid integer)",
    ]


def test_an_object_without_placeholders_has_nothing_to_report() -> None:
    obj = loads(kustomization())
    assert obj.placeholders == []
    assert obj.validation_notes() == []


# --- what is still checked -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            kustomization(interval="${INTERVAL:=5 min}"),
            r"spec.interval '\$\{INTERVAL:=5 min\}': as substituted with its default "
            r"\('5 min'\): is not a duration",
        ),
        (
            kustomization(interval="${INTERVAL:=3}"),  # as text, not YAML's number 3
            r"as substituted with its default \('3'\): is not a duration",
        ),
        (
            kustomization(prune="${PRUNE:=maybe}"),
            r"spec.prune '\$\{PRUNE:=maybe\}': as substituted with its default \('maybe'\): "
            r"input should be a valid boolean",
        ),
        (
            kustomization(deletionPolicy="${P:-Keep}"),
            r"as substituted with its default \('Keep'\): expected 'MirrorPrune'",
        ),
        (
            helm_release(install={"remediation": {"retries": "${R:=three}"}}),
            r"retries '\$\{R:=three\}': as substituted with its default \('three'\): input "
            r"should be a valid integer",
        ),
        (
            kustomization(metadata={"name": "${APP:=Web}-${TIER:=db}"}),
            r"as substituted with its defaults \('Web-db'\): is not a DNS-1123 subdomain",
        ),
        (
            git_repository(url="${URL:=git@github.com:org/fleet}"),
            r"spec.url .*: as substituted with its default .*: is an scp-like address",
        ),
    ],
    ids=["duration", "number", "bool", "enum", "int", "name from two defaults", "url"],
)
def test_an_invalid_default_is_refused(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        from_manifest(doc)


def test_valid_defaults_are_checked_and_said_so() -> None:
    obj = loads(
        helm_release(
            install={"remediation": {"retries": "${RETRIES:=3}"}},
            upgrade={"force": "${FORCE:=true}"},
        )
    )
    found = notes(obj)
    assert found["spec.install.remediation.retries"].startswith(
        "checked as substituted with its default ('3'); other values are not checked"
    )
    assert set(found) == {"spec.install.remediation.retries", "spec.upgrade.force"}
    assert notes(loads(kustomization(metadata={"name": "${A:=web}-${B:=db}"}))) == {
        "metadata.name": "checked as substituted with its defaults ('web-db'); other values "
        "are not checked until Flux substitutes them (as written: is not a DNS-1123 subdomain "
        "(expected lowercase letters, digits, '-' and '.', starting and ending alphanumeric, "
        "at most 253 characters))"
    }


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            kustomization(metadata={"name": "${APP}_db"}),
            r"metadata.name '\$\{APP\}_db': cannot become a DNS-1123 subdomain, whatever Flux "
            r"substitutes: '_' cannot appear in it",
        ),
        (kustomization(metadata={"name": "${APP}-DB"}), r"'B', 'D' cannot appear in it"),
        (kustomization(metadata={"name": "-${APP}"}), r"it cannot start with '-'"),
        (
            kustomization(metadata={"name": "a", "namespace": "${NS}.x"}),
            r"cannot become a DNS-1123 label.*'\.' cannot appear in it",
        ),
        (kustomization(interval="${N} minutes"), r"cannot become a duration"),
        (git_repository(timeout="${N}h"), r"cannot become a duration in ms, s or m"),
        (
            kustomization(deletionPolicy="Keep${X}"),
            r"spec.deletionPolicy 'Keep\$\{X\}': cannot become one of 'MirrorPrune', 'Delete', "
            r"'WaitForTermination', 'Orphan', whatever Flux substitutes",
        ),
        (
            git_repository(ref="${REF}"),
            r"spec.ref '\$\{REF\}': is a substitution placeholder where a mapping is expected",
        ),
        (
            kustomization(components="${COMPONENTS}"),
            r"spec.components .*: is a substitution placeholder where a list is expected",
        ),
    ],
    ids=[
        "underscore",
        "capitals",
        "leading dash",
        "namespace dot",
        "words",
        "hours",
        "enum",
        "mapping",
        "list",
    ],
)
def test_what_no_substitution_can_repair_is_refused(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        from_manifest(doc)


def test_partial_values_that_can_still_be_valid_load() -> None:
    loads(kustomization(deletionPolicy="Mirror${X}", interval="${N}m30s"))
    loads(kustomization(metadata={"name": "web-${cluster_env}.apps"}))


def test_a_check_across_fields_is_skipped_only_when_it_reads_a_placeholder() -> None:
    # The provider decides whether serviceAccountName is allowed: skipped, and said why.
    obj = loads(git_repository(provider="${PROVIDER}", serviceAccountName="flux"))
    assert notes(obj)["spec.serviceAccountName"] == (
        "not checked until Flux substitutes spec.provider '${PROVIDER}' (as written: can only "
        "be set when provider is 'azure' or 'aws')"
    )
    loads(helm_release(upgrade={"strategy": {"name": "${S}", "retryInterval": "1m"}}))
    # Whether chart is set does not depend on the placeholder in interval: still refused.
    doc = helm_release(interval="${INTERVAL}")
    del doc["spec"]["chart"]
    with pytest.raises(SpecError, match=r"exactly one of spec.chart or spec.chartRef"):
        from_manifest(doc)
    # Both references set: refused whatever their names, and the error shows the text.
    both = {"configMapRef": {"name": "c"}, "secretRef": {"name": "${KUBECONFIG}"}}
    with pytest.raises(
        SpecError,
        match=r"spec.kubeConfig.secretRef \{'name': '\$\{KUBECONFIG\}'\}: cannot be set together",
    ):
        from_manifest(kustomization(kubeConfig=both))
    # A label that is wrong as written is refused beside one with a placeholder.
    labels = {"app": "${APP}", "bad key!": "x"}
    with pytest.raises(SpecError, match=r"key 'bad key!' is not a valid label"):
        from_manifest(kustomization(metadata={"name": "a", "labels": labels}))


def test_escaped_and_unparsable_substitutions_are_text() -> None:
    with pytest.raises(SpecError, match=r"metadata.name '\$\$\{APP\}': is not a DNS-1123"):
        from_manifest(kustomization(metadata={"name": "$${APP}"}))
    with pytest.raises(
        SpecError,
        match=r"'\$\{APP' is not a substitution Flux can parse \(missing closing brace\): "
        r"substituting this object fails; write '\$\$\{' for a literal '\$\{'",
    ):
        from_manifest(kustomization(metadata={"name": "${APP"}))
    # In free text the object loads, and the note says Flux would fail on it.
    obj = loads(kustomization(path="./apps/${arr[@]}"))
    assert obj.placeholders == []
    assert notes(obj)["spec.path"].startswith("'${arr[@]}' is not a substitution Flux can parse")


# --- where placeholders are not read -------------------------------------------------------------


@pytest.mark.parametrize("where", ["annotations", "labels"])
def test_an_object_with_substitution_disabled_is_read_as_written(where: str) -> None:
    meta = {"name": "${APP}", where: {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}}
    with pytest.raises(
        SpecError,
        match=r"metadata.name '\$\{APP\}': is not a DNS-1123 subdomain .* \(a Flux substitution "
        r"placeholder, kept as written by kustomize.toolkit.fluxcd.io/substitute: disabled\)",
    ):
        from_manifest(kustomization(metadata=meta))
    free = loads(kustomization(metadata={**meta, "name": "a"}, path="./${X}"))
    assert free.placeholders == []  # Flux leaves them alone


def test_substitutions_false_reads_as_written() -> None:
    doc = kustomization(metadata={"name": "${APP}"})
    with pytest.raises(SpecError, match=r"read as written with substitutions=False"):
        from_manifest(doc, substitutions=False)
    with pytest.raises(SpecError, match=r"read as written with substitutions=False"):
        Kustomization.from_manifest(doc, substitutions=False)


def test_objects_built_in_code_stay_strict() -> None:
    with pytest.raises(
        SpecError,
        match=r"metadata.name '\$\{APP\}': is not a DNS-1123 subdomain .*\(a Flux substitution "
        r"placeholder: an object built in code is applied as it is, so only from_manifest "
        r"reads placeholders\)$",
    ):
        GitRepository(name="${APP}", url="https://github.com/org/fleet", interval="1m")
    with pytest.raises(SpecError, match=r"spec.interval '\$\{I:=5m\}': is not a duration"):
        GitRepository(name="fleet", url="https://github.com/org/fleet", interval="${I:=5m}")
    # Free text is free text: listed, nothing skipped.
    built = Kustomization(
        name="apps",
        interval="5m",
        prune=True,
        path="./apps/${ENV}",
        source_ref={"kind": "GitRepository", "name": "fleet"},
    )
    assert built.placeholders == [Placeholder("spec.path", "./apps/${ENV}")]
    assert built.validation_notes() == []


def test_loading_a_template_leaves_the_strict_models_strict() -> None:
    loads(TEMPLATED["nested list"])
    loads(TEMPLATED["int"])
    with pytest.raises(SpecError, match=r"metadata.name '\$\{APP\}'"):
        Kustomization(
            name="${APP}",
            interval="5m",
            prune=True,
            source_ref={"kind": "GitRepository", "name": "fleet"},
        )
    with pytest.raises(pydantic.ValidationError, match=r"retries\n  Input should be a valid int"):
        HelmRelease.model_validate(helm_release(install={"remediation": {"retries": "${R}"}}))
    assert all(cls.__pydantic_complete__ for cls in flux_kinds().values())


def test_eso_objects_take_placeholders_too() -> None:
    doc = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "db-${cluster_env}", "namespace": "apps"},
        "spec": {
            "refreshInterval": "${REFRESH:=1h}",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
            "target": {"name": "db"},
            "dataFrom": [{"extract": {"key": "apps/${cluster_env}/db"}}],
        },
    }
    obj = eso_from_manifest(doc)
    assert obj.to_manifest() == doc
    assert [p.path for p in obj.placeholders] == [
        "metadata.name",
        "spec.refreshInterval",
        "spec.dataFrom[0].extract.key",
    ]


# --- the whole-stack graph -----------------------------------------------------------------------


def test_references_to_placeholder_names_are_unchecked_not_dangling() -> None:
    repo = loads(git_repository())
    apps = loads(
        kustomization(
            sourceRef={"kind": "GitRepository", "name": "${REPO:=fleet}"},
            dependsOn=[{"name": "infra-${cluster_env}"}],
        )
    )
    graph = FluxGraph([repo, apps])
    unchecked = graph.check()
    assert (
        unchecked
        == graph.unchecked
        == [
            UncheckedRef(
                ("Kustomization", "flux-system", "apps"),
                "spec.sourceRef",
                ("GitRepository", "flux-system", "${REPO:=fleet}"),
            ),
            UncheckedRef(
                ("Kustomization", "flux-system", "apps"),
                "spec.dependsOn[0]",
                ("Kustomization", "flux-system", "infra-${cluster_env}"),
            ),
        ]
    )
    assert str(unchecked[1]) == (
        "Kustomization flux-system/apps: spec.dependsOn[0] refers to Kustomization "
        "flux-system/infra-${cluster_env}: not checked, it holds a Flux substitution placeholder"
    )
    # A literal dangling name is still refused.
    with pytest.raises(CrossReferenceError, match=r"refers to Kustomization flux-system/infra"):
        FluxGraph([repo, loads(kustomization(dependsOn=[{"name": "infra"}]))]).check()


def test_a_placeholder_name_declared_as_written_resolves() -> None:
    infra = loads(kustomization(metadata={"name": "infra-${cluster_env}"}))
    apps = loads(kustomization(dependsOn=[{"name": "infra-${cluster_env}"}]))
    graph = FluxGraph([loads(git_repository()), infra, apps])
    assert graph.check() == []
    assert [o.name for o in graph.order()] == ["fleet", "infra-${cluster_env}", "apps"]


def test_the_namespace_lockdown_leaves_placeholder_namespaces_unchecked() -> None:
    apps = loads(kustomization(dependsOn=[{"name": "infra", "namespace": "${TEAM}"}]))
    graph = FluxGraph([loads(git_repository()), apps], no_cross_namespace_refs=True)
    assert [u.path for u in graph.check()] == ["spec.dependsOn[0]"]
    other = loads(kustomization(dependsOn=[{"name": "infra", "namespace": "team"}]))
    with pytest.raises(CrossReferenceError, match=r"cross-namespace references are locked"):
        FluxGraph([loads(git_repository()), other], no_cross_namespace_refs=True).check()


# --- a repository of templates -------------------------------------------------------------------

CLUSTER_TEMPLATES = """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: ${git_interval:=1m}
  ref:
    branch: ${cluster_env}
  url: ssh://git@github.com/${github_org}/fleet
  secretRef:
    name: flux-system
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: podinfo
  namespace: flux-system
spec:
  interval: 1h
  url: https://stefanprodan.github.io/podinfo
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: manifests-${cluster_env}
  namespace: flux-system
spec:
  interval: 10m
  url: oci://ghcr.io/${github_org}/manifests/${cluster_env}
  ref:
    semver: ${manifests_semver:=>=1.0.0}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: infra-${cluster_env}
  namespace: flux-system
spec:
  interval: ${reconcile_interval:=10m}
  retryInterval: 2m
  path: ./infrastructure/${cluster_env}
  prune: true
  wait: true
  sourceRef:
    kind: GitRepository
    name: flux-system
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
  labels:
    toolkit.fluxcd.io/tenant: ${tenant}
spec:
  interval: ${reconcile_interval:=10m}
  dependsOn:
    - name: infra-${cluster_env}
  path: ./apps/${cluster_env}
  prune: ${prune:=true}
  targetNamespace: ${tenant}
  sourceRef:
    kind: OCIRepository
    name: manifests-${cluster_env}
  postBuild:
    substitute:
      cluster_env: ${cluster_env}
      domain: ${cluster_domain:=example.com}
    substituteFrom:
      - kind: ConfigMap
        name: cluster-vars-${cluster_env}
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
  namespace: ${tenant}
spec:
  releaseName: podinfo-${cluster_env}
  interval: 50m
  chart:
    spec:
      chart: podinfo
      version: "${podinfo_version:=6.x}"
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: flux-system
  install:
    remediation:
      retries: ${install_retries:=3}
  values:
    replicaCount: ${replicas}
    ingress:
      enabled: true
      hosts:
        - host: podinfo.${cluster_domain:=example.com}
"""


def test_a_repository_of_cluster_templates_loads_and_checks_as_a_stack() -> None:
    docs = list(yaml.safe_load_all(CLUSTER_TEMPLATES))
    objects = [loads(doc) for doc in docs]
    variables = {v for obj in objects for p in obj.placeholders for v in p.variables}
    assert variables == {
        "git_interval", "cluster_env", "github_org", "manifests_semver", "reconcile_interval",
        "tenant", "prune", "cluster_domain", "podinfo_version", "install_retries", "replicas",
    }  # fmt: skip
    apps = objects[4]
    assert notes(apps)["spec.prune"].startswith("checked as substituted with its default")
    assert apps.spec.path == "./apps/${cluster_env}"
    # References to names with placeholders wait for Flux; the others resolve as written
    # (the HelmRelease is in a placeholder namespace, its HelmRepository is literal).
    graph = FluxGraph(objects)
    assert [str(u) for u in graph.check()] == [
        "Kustomization flux-system/apps: spec.postBuild.substituteFrom[0] refers to ConfigMap "
        "flux-system/cluster-vars-${cluster_env}: not checked, it holds a Flux substitution "
        "placeholder"
    ]
    assert [o.name for o in graph.order()][-2:] == ["apps", "podinfo"]


# --- the official examples -----------------------------------------------------------------------

EXAMPLES = [
    case
    for group, kind in sorted(flux_kinds())
    for case in flux_examples(kind, group)[0]
    if case.values[0]["apiVersion"] == flux_kinds()[(group, kind)].api_version
]


@needs_examples
@pytest.mark.parametrize("doc", EXAMPLES)
def test_examples_load_with_nothing_to_report(doc: dict[str, Any]) -> None:
    obj = loads(doc)
    assert obj.placeholders == []
    assert obj.validation_notes() == []


@needs_examples
@pytest.mark.parametrize("doc", EXAMPLES)
def test_examples_made_templates_load_and_round_trip(doc: dict[str, Any]) -> None:
    # What a repository shared between clusters does to them: names and intervals from
    # variables, with the example's own values as defaults.
    template = copy.deepcopy(doc)
    template["metadata"]["name"] = "${prefix:=x}-" + doc["metadata"]["name"]
    template["spec"]["interval"] = "${interval:=" + doc["spec"]["interval"] + "}"
    obj = loads(template)
    assert [p.path for p in obj.placeholders] == ["metadata.name", "spec.interval"]
    assert list(notes(obj)) == ["metadata.name", "spec.interval"]
    assert all(m.startswith("checked as substituted") for m in notes(obj).values())


# --- hostile input -------------------------------------------------------------------------------

texts = st.one_of(
    st.text(alphabet="${}:=-?+#%/,^\\ab_1x .", max_size=16),
    st.builds(
        lambda op, d, pre, post: f"{pre}${{V{op}{d}}}{post}",
        st.sampled_from(["", ":=", "=", ":-", ":?", ":+", "^^", ":1"]),
        st.sampled_from(["", "5m", "true", "3", "x", "Always", "${W}", "a b"]),
        st.sampled_from(["", "a", "-", "A", "5"]),
        st.sampled_from(["", "m", "-db", "_", "}"]),
    ),
)
BASES = [kustomization(), git_repository(provider="azure"), helm_release()]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path] if path[:1] != ("apiVersion",) and path[:1] != ("kind",) else []


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(BASES), st.data())
def test_any_placeholder_anywhere_loads_round_trips_or_is_one_error(base: Any, data: Any) -> None:
    doc = copy.deepcopy(base)
    for path in data.draw(st.sets(st.sampled_from(_leaves(doc)), max_size=4)):
        holder = doc
        for step in path[:-1]:
            holder = holder[step]
        holder[path[-1]] = data.draw(texts)
    try:
        obj = from_manifest(copy.deepcopy(doc))
    except SpecError as err:
        assert "\n" not in str(err)
        return
    assert obj.to_manifest() == doc
    obj.validation_notes()
