"""`gitops import`: a cluster of a Flux repository becomes a stack whose synth renders the same
Flux objects (apiVersion, kind, namespace, name, spec) as the repository, apart from the
reshaping the import prints. Labels and annotations are not compared: the stack adds its own
(`gitops-sdk/layer`, `environment`, `pulumi.com/waitFor`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, needs_examples

from gitops_sdk.cli.importer import import_stack
from gitops_sdk.stack import synth

Ident = tuple[str, str, str, str]


def project(tmp_path: Path) -> Path:
    out = tmp_path / "project"
    shutil.copytree(ROOT / "stacks", out / "stacks")
    shutil.copy(ROOT / "Pulumi.yaml", out)
    return out


def rendered(project_dir: Path, stack: str) -> dict[Ident, Any]:
    """The Flux objects synth renders for `stack`, by identity, to their spec."""
    objects = synth.run_stack_program(project_dir, stack).kubernetes_objects()
    return {
        ident(o): o.get("spec")
        for o in objects
        if str(o["apiVersion"]).rpartition("/")[0].endswith("fluxcd.io")
    }


def ident(doc: dict[str, Any]) -> Ident:
    meta = doc["metadata"]
    return (doc["apiVersion"], doc["kind"], meta.get("namespace", ""), meta["name"])


def docs(*files: Path) -> dict[Ident, Any]:
    out = {}
    for file in files:
        for doc in yaml.safe_load_all(file.read_text()):
            if doc:
                out[ident(doc)] = doc.get("spec")
    return out


def run_import(repo: Path, entry: str, project_dir: Path, stack: str, **kw: Any) -> list[str]:
    lines: list[str] = []
    import_stack(
        repo / entry, stack=stack, project_dir=project_dir, repo_root=repo, say=lines.append, **kw
    )
    return lines


def delete(api: str, kind: str, name: str, ns: str = "flux-system") -> dict[str, str]:
    text = f"$patch: delete\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n"
    return {"patch": text + f"  namespace: {ns}\n"}


KS = "kustomize.toolkit.fluxcd.io/v1"
SRC = "source.toolkit.fluxcd.io/v1"
REPO_KEY = (SRC, "GitRepository", "flux-system", "flux-system")


# --- the official examples ---------------------------------------------------------------------


@needs_examples
def test_the_kustomize_helm_example_round_trips(tmp_path: Path) -> None:
    repo = EXAMPLES / "flux2-kustomize-helm-example"
    url = "https://github.com/fluxcd/flux2-kustomize-helm-example"
    lines = run_import(repo, "clusters/staging", project(tmp_path), "staging", repo_url=url)
    got = rendered(tmp_path / "project", "staging")
    # The stack's own GitRepository stands for the one bootstrap would make (gotk-sync.yaml is
    # a placeholder here): the import said it took the URL from --repo-url.
    assert got.pop(REPO_KEY)["url"] == url
    assert any("no GitRepository flux-system/flux-system" in line for line in lines)
    stage = repo / "clusters" / "staging"
    assert got == docs(stage / "apps.yaml", stage / "infrastructure.yaml", stage / "artifacts.yaml")
    # What the Kustomizations apply comes from ExternalArtifacts the ArtifactGenerator makes.
    assert any(line.startswith("external ExternalArtifact flux-system/apps") for line in lines)
    assert any(line.startswith("object   ArtifactGenerator") for line in lines)


@needs_examples
def test_the_multi_tenancy_example_round_trips_with_the_reshaping_it_prints(
    tmp_path: Path,
) -> None:
    repo = EXAMPLES / "flux2-multi-tenancy"
    url = "https://github.com/fluxcd/flux2-multi-tenancy"
    lines = run_import(repo, "clusters/staging", project(tmp_path), "staging", repo_url=url)
    got = rendered(tmp_path / "project", "staging")
    got.pop(REPO_KEY)
    stage = repo / "clusters" / "staging"
    kyverno = repo / "infrastructure" / "kyverno"
    want = docs(stage / "infrastructure.yaml", stage / "tenants.yaml", kyverno / "sync.yaml")
    # Printed: the OCIRepository's v1beta2 is no longer served, so it is rendered as v1 ...
    source = docs(kyverno / "source.yaml")
    (old,) = source
    want[(SRC, *old[1:])] = source[old]
    assert any(
        "apiVersion source.toolkit.fluxcd.io/v1beta2 is no longer served" in x for x in lines
    )
    # ... and the kyverno Kustomization, whose folder held both, leaves them out and depends
    # on the Kustomization it waited for.
    spec = want[(KS, "Kustomization", "flux-system", "kyverno")]
    spec["patches"] = [
        delete("source.toolkit.fluxcd.io/v1beta2", "OCIRepository", "kyverno-controller"),
        delete(KS, "Kustomization", "kyverno-controller"),
    ]
    spec["dependsOn"] = [{"name": "kyverno-controller"}]
    assert any(x.startswith("reshaped Kustomization flux-system/kyverno ") for x in lines)
    assert any("depends on kyverno-controller" in x for x in lines)
    assert got == want
    # The tenant's own source and Kustomization stay in Git, applied by `tenants`.
    assert any(x.startswith("in Git   Kustomization apps/dev-team") for x in lines)


# --- synthetic repositories ---------------------------------------------------------------------


def write(root: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        elif isinstance(content, dict):
            path.write_text(yaml.safe_dump(content, sort_keys=False))
        else:
            path.write_text(yaml.safe_dump_all(content, sort_keys=False))


def ks(name: str, path: str, **spec: Any) -> dict[str, Any]:
    spec = {"interval": "10m", "path": path, "prune": True, **spec}
    spec.setdefault("sourceRef", {"kind": "GitRepository", "name": "flux-system"})
    return {
        "apiVersion": KS,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": "flux-system"},
        "spec": spec,
    }


def source(kind: str, name: str, **spec: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "flux-system"}
    return {"apiVersion": SRC, "kind": kind, "metadata": meta, "spec": spec}


GIT_SYNC = source(
    "GitRepository",
    "flux-system",
    interval="1m",
    ref={"branch": "main"},
    secretRef={"name": "flux-system"},
    url="ssh://git@github.com/org/fleet",
)
RELEASE = {
    "apiVersion": "helm.toolkit.fluxcd.io/v2",
    "kind": "HelmRelease",
    "metadata": {"name": "cert-manager", "namespace": "cert-manager"},
    "spec": {
        "interval": "30m",
        "chart": {
            "spec": {
                "chart": "cert-manager",
                "version": "1.x",
                "sourceRef": {
                    "kind": "HelmRepository",
                    "name": "jetstack",
                    "namespace": "flux-system",
                },
            }
        },
        "values": {"crds": {"enabled": True}},
    },
}


def fleet(root: Path) -> None:
    """A bootstrapped repository: sources and layers in clusters/prod, apps as ks.yaml files
    in folders Flux generates a kustomization for, names templated with `${APP}`."""
    write(
        root,
        {
            "clusters/prod/flux-system/gotk-components.yaml": "# Flux Version: v2.9.4\n",
            "clusters/prod/flux-system/gotk-sync.yaml": [
                GIT_SYNC,
                ks("flux-system", "./clusters/prod"),
            ],
            "clusters/prod/flux-system/kustomization.yaml": {
                "resources": ["gotk-components.yaml", "gotk-sync.yaml"]
            },
            "clusters/prod/sources.yaml": [
                source(
                    "HelmRepository", "jetstack", interval="1h", url="https://charts.jetstack.io"
                ),
                source(
                    "OCIRepository",
                    "podinfo",
                    interval="10m",
                    url="oci://ghcr.io/stefanprodan/manifests/podinfo",
                    ref={"semver": ">=6.0.0"},
                ),
                source(
                    "GitRepository",
                    "extras",
                    interval="5m",
                    url="https://github.com/org/extras",
                    ref={"branch": "main"},
                ),
            ],
            "clusters/prod/infra.yaml": [ks("infra", "./infra", wait=True, timeout="5m")],
            "clusters/prod/apps.yaml": [
                ks(
                    "apps",
                    "./apps",
                    dependsOn=[{"name": "infra"}],
                    postBuild={"substitute": {"APP": "shop", "cluster": "prod"}},
                ),
                ks(
                    "podinfo",
                    "./",
                    sourceRef={"kind": "OCIRepository", "name": "podinfo"},
                    dependsOn=[{"name": "apps"}],
                ),
            ],
            "infra/kustomization.yaml": {"resources": ["cert-manager/ks.yaml"]},
            "infra/cert-manager/ks.yaml": [ks("infra-cert-manager", "./infra/cert-manager/app")],
            # No kustomization.yaml: Flux generates one over every manifest below.
            "infra/cert-manager/app/release.yaml": [RELEASE],
            "infra/cert-manager/app/values/notes.yaml": {"not": "a manifest"},
            "apps/kustomization.yaml": {"resources": ["shop/ks.yaml"]},
            "apps/shop/ks.yaml": [
                ks(
                    "${APP}-db",
                    "./apps/shop/db",
                    dependsOn=[{"name": "infra-cert-manager"}],
                    postBuild={"substitute": {"APP": "${APP}", "ENV": "${cluster}"}},
                ),
                ks(
                    "${APP}-web",
                    "./web",
                    dependsOn=[{"name": "${APP}-db"}],
                    sourceRef={"kind": "GitRepository", "name": "extras"},
                ),
            ],
            "apps/shop/db/db.yaml": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "${APP}-db", "namespace": "shop"},
                    "spec": {"replicas": 1},
                }
            ],
        },
    )


def test_a_bootstrapped_repository_with_nested_ks_files_round_trips(tmp_path: Path) -> None:
    repo = tmp_path / "fleet"
    fleet(repo)
    lines = run_import(repo, "clusters/prod", project(tmp_path), "prod")
    got = rendered(tmp_path / "project", "prod")
    want = {ident(d): d["spec"] for d in (GIT_SYNC,)}
    for doc in yaml.safe_load_all((repo / "clusters/prod/sources.yaml").read_text()):
        want[ident(doc)] = doc["spec"]
    infra = ks("infra", "./infra", wait=True, timeout="5m")["spec"]
    # Printed reshaping: infra leaves out the ks.yaml that is a unit now and waits for it.
    infra["patches"] = [delete(KS, "Kustomization", "infra-cert-manager")]
    infra["dependsOn"] = [{"name": "infra-cert-manager"}]
    apps = ks("apps", "./apps", dependsOn=[{"name": "infra"}])["spec"]
    apps["postBuild"] = {"substitute": {"APP": "shop", "cluster": "prod"}}
    # The delete patches name the objects as apps' build holds them, before substitution.
    apps["patches"] = [
        {"patch": delete(KS, "Kustomization", "x")["patch"].replace("x\n", "'${APP}-db'\n")},
        {"patch": delete(KS, "Kustomization", "x")["patch"].replace("x\n", "'${APP}-web'\n")},
    ]
    podinfo = ks("podinfo", "./", sourceRef={"kind": "OCIRepository", "name": "podinfo"})
    podinfo["spec"]["dependsOn"] = [{"name": "apps"}]
    # dependsOn chain infra-cert-manager <- shop-db <- shop-web, names substituted by apps;
    # printed: each also depends on infra, as apps (which applied them only then) did.
    db = ks("shop-db", "./apps/shop/db", dependsOn=[{"name": "infra-cert-manager"}])["spec"]
    db["dependsOn"].append({"name": "infra"})
    db["postBuild"] = {"substitute": {"APP": "shop", "ENV": "prod"}}
    web = ks("shop-web", "./web", dependsOn=[{"name": "shop-db"}, {"name": "infra"}])["spec"]
    web["sourceRef"] = {"kind": "GitRepository", "name": "extras"}
    cm = ks("infra-cert-manager", "./infra/cert-manager/app")["spec"]
    for name, spec in [
        ("infra", infra),
        ("apps", apps),
        ("podinfo", podinfo["spec"]),
        ("shop-db", db),
        ("shop-web", web),
        ("infra-cert-manager", cm),
    ]:
        want[(KS, "Kustomization", "flux-system", name)] = spec
    assert got == want
    assert (
        "reshaped Kustomization flux-system/shop-db (apps/shop/ks.yaml): depends on infra, as "
        "apps, which applied it, did" in lines
    )
    assert any(x.startswith("left out Kustomization flux-system/flux-system") for x in lines)
    assert any(x.startswith("in Git   HelmRelease cert-manager/cert-manager") for x in lines)
    stack = yaml.safe_load((tmp_path / "project" / "Pulumi.prod.yaml").read_text())["config"]
    assert stack["gitops:flux"]["version"] == "2.9.4"
    assert set(stack["gitops:sources"]) == {"jetstack", "podinfo", "extras"}
    assert stack["gitops:layers"]["shop-web"]["source"] == "extras"


def test_helm_releases_become_units_and_leave_the_git_copy_out(tmp_path: Path) -> None:
    repo = tmp_path / "fleet"
    fleet(repo)
    lines = run_import(repo, "clusters/prod", project(tmp_path), "prod", helm_releases=True)
    got = rendered(tmp_path / "project", "prod")
    release = got[("helm.toolkit.fluxcd.io/v2", "HelmRelease", "flux-system", "cert-manager")]
    assert release["chart"]["spec"] == {
        "chart": "cert-manager",
        "version": "1.x",
        "sourceRef": {"kind": "HelmRepository", "name": "jetstack"},
    }
    assert release["targetNamespace"] == "cert-manager"
    assert release["values"] == {"crds": {"enabled": True}}
    assert release["interval"] == "30m"
    unit = got[(KS, "Kustomization", "flux-system", "infra-cert-manager")]
    assert unit["patches"] == [
        delete("helm.toolkit.fluxcd.io/v2", "HelmRelease", "cert-manager", "cert-manager")
    ]
    assert any("moves from namespace 'cert-manager' to 'flux-system'" in x for x in lines)
    assert any(x.startswith("reshaped Kustomization flux-system/infra-cert-manager") for x in lines)


# --- the stack file -----------------------------------------------------------------------------


def test_an_existing_stack_is_replaced_only_with_force_and_keeps_its_secrets(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "fleet"
    fleet(repo)
    proj = project(tmp_path)
    run_import(repo, "clusters/prod", proj, "prod")
    file = proj / "Pulumi.prod.yaml"
    file.write_text(file.read_text() + "  gitops:ageKey:\n    secure: v1:abc\n")
    with pytest.raises(
        Exception, match=r"Pulumi.prod.yaml: stack 'prod' already has gitops: keys; pass --force"
    ):
        run_import(repo, "clusters/prod", proj, "prod")
    run_import(repo, "clusters/prod", proj, "prod", force=True)
    config = yaml.safe_load(file.read_text())["config"]
    assert config["gitops:ageKey"] == {"secure": "v1:abc"}
    assert "infra" in config["gitops:layers"]


def test_the_stack_keys_are_added_to_a_file_without_them(tmp_path: Path) -> None:
    repo = tmp_path / "fleet"
    fleet(repo)
    proj = project(tmp_path)
    text = "# mine\nencryptionsalt: v1:salt\nconfig:\n  kubernetes:context: home\n"
    (proj / "Pulumi.prod.yaml").write_text(text)
    run_import(repo, "clusters/prod", proj, "prod")
    out = (proj / "Pulumi.prod.yaml").read_text()
    assert out.startswith("# mine\nencryptionsalt: v1:salt\nconfig:\n")
    config = yaml.safe_load(out)["config"]
    assert config["kubernetes:context"] == "home"
    assert config["gitops:repository"]["url"] == "ssh://git@github.com/org/fleet"


# --- bad input ----------------------------------------------------------------------------------


def test_bad_repositories_get_one_line_naming_the_file(tmp_path: Path) -> None:
    proj = project(tmp_path)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a"}}
    write(tmp_path / "r1", {"clusters/a/cm.yaml": [cm]})
    with pytest.raises(Exception, match=r"^\./clusters/a: holds no Flux objects"):
        run_import(tmp_path / "r1", "clusters/a", proj, "a", repo_url="https://x.example/r")
    write(
        tmp_path / "r2",
        {"clusters/a/one.yaml": [ks("x", "./a")], "clusters/a/two.yaml": [ks("x", "./a")]},
    )
    with pytest.raises(
        Exception,
        match=r"clusters/a/two.yaml: Kustomization flux-system/x is also in clusters/a/one.yaml",
    ):
        run_import(tmp_path / "r2", "clusters/a", proj, "a")
    typo = {**ks("x", "./a"), "kind": "Kustomisation"}
    write(tmp_path / "r3", {"clusters/a/ks.yaml": [typo]})
    with pytest.raises(
        Exception, match=r"^clusters/a/ks.yaml: Kustomisation .* is not a Flux kind"
    ):
        run_import(tmp_path / "r3", "clusters/a", proj, "a")
    # A folder Flux generates a kustomization for holds everything below it: here the release
    # that the nested Kustomization applies too.
    write(
        tmp_path / "r5",
        {
            "clusters/a/ks.yaml": [ks("infra", "./infra")],
            "infra/app/ks.yaml": [ks("app", "./infra/app/release")],
            "infra/app/release/hr.yaml": [RELEASE],
        },
    )
    with pytest.raises(
        Exception,
        match=r"^infra/app/release/hr.yaml: HelmRelease cert-manager/cert-manager is applied by "
        r"Kustomization infra and by Kustomization app; an object may have one owner",
    ):
        run_import(tmp_path / "r5", "clusters/a", proj, "a", repo_url="https://x.example/r")
    write(tmp_path / "r4", {"clusters/a/ks.yaml": "kind: [\n"})
    with pytest.raises(Exception, match=r"clusters/a/ks.yaml: not valid YAML"):
        run_import(tmp_path / "r4", "clusters/a", proj, "a")
    assert not list(proj.glob("Pulumi.a.yaml"))  # nothing written on bad input


# --- the pieces ---------------------------------------------------------------------------------


@needs_examples
@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (kubectl kustomize)")
@pytest.mark.parametrize(
    "folder",
    [
        "flux2-multi-tenancy/tenants/staging",
        "flux2-multi-tenancy/infrastructure/kyverno",
        "flux2-kustomize-helm-example/apps/staging",
        "flux2-kustomize-helm-example/infrastructure/controllers",
    ],
)
def test_folders_build_as_kustomize_builds_them(folder: str) -> None:
    import subprocess

    from gitops_sdk.services.flux_repo import FolderBuilder

    path = EXAMPLES / folder
    repo = EXAMPLES / folder.split("/")[0]
    out = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True)
    want = {ident(d): d for d in yaml.safe_load_all(out.stdout) if d}
    got = {ident(i.doc): i.doc for i in FolderBuilder(repo).build(path)}
    assert set(got) == set(want)
    for key, doc in want.items():
        if key[0].rpartition("/")[0].endswith("fluxcd.io"):
            assert got[key]["spec"] == doc["spec"], key


def test_gitops_objects_are_validated(tmp_path: Path) -> None:
    from gitops_sdk.stack.config import parse_config

    base = {
        "cluster": {"name": "a", "environment": "a"},
        "repository": {"url": "https://example.com/r"},
    }
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {}}
    with pytest.raises(Exception, match=r"gitops:objects\[0\].* is a Secret"):
        parse_config({**base, "objects": [secret]}, source="Pulumi.a.yaml")
    bad = source("OCIRepository", "x", interval="soon", url="oci://r/x")
    with pytest.raises(Exception, match=r"gitops:objects\[0\].*interval"):
        parse_config({**base, "objects": [bad]}, source="Pulumi.a.yaml")
    twice = [source("GitRepository", "x", interval="1m", url="https://e.com/x")] * 2
    with pytest.raises(Exception, match=r"gitops:objects\[1\].*declared twice"):
        parse_config({**base, "objects": twice}, source="Pulumi.a.yaml")
    both = {"path": "./a", "source": "x", "sourceRef": {"kind": "ExternalArtifact", "name": "a"}}
    with pytest.raises(Exception, match=r"gitops:layers.a.sourceRef .*cannot be set with source"):
        parse_config({**base, "layers": {"a": both}}, source="Pulumi.a.yaml")


def test_gitops_import_is_a_command(tmp_path: Path) -> None:
    import argparse

    from gitops_sdk.cli import importer

    repo = tmp_path / "fleet"
    fleet(repo)
    proj = project(tmp_path)
    p = argparse.ArgumentParser()
    p.add_argument("--project-dir", type=Path, default=Path.cwd())
    importer.add_commands(p.add_subparsers(dest="command"))
    args = p.parse_args(
        [
            "import",
            str(repo / "clusters/prod"),
            "--stack",
            "prod",
            "--repo-root",
            str(repo),
            "--project-dir",
            str(proj),
        ]
    )
    assert args.func(args) == 0
    assert (proj / "Pulumi.prod.yaml").is_file()
