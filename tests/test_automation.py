"""Image automation: the ImageAutomation component, setter markers, `gitops images`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import run_automation_cli

from gitops_sdk import GitRepository, GitSource, SpecError
from gitops_sdk.api.image import TagPolicy
from gitops_sdk.api.image_automation import (
    AUTOMATION_LABEL,
    DEFAULT_MESSAGE_TEMPLATE,
    ImageArgs,
    ImageAutomationSettings,
    PolicyKey,
    SetterMarkerError,
    UpdateArgs,
)
from gitops_sdk.api.image_update import check_message_template
from gitops_sdk.components.git_source import GitSourceArgs
from gitops_sdk.components.image_automation import (
    ImageAutomation,
    ImageAutomationArgs,
    image_automation_objects,
)
from gitops_sdk.components.resource import PATCH_FORCE
from gitops_sdk.core.errors import ConfigError
from gitops_sdk.services.marker_check import check_paths, check_text, policies_from_config
from gitops_sdk.services.setter_markers import (
    find_image_uses,
    mark_file,
    mark_text,
    scan_markers,
    setter_marker,
)
from gitops_sdk.services.yaml_lines import MAX_YAML_BYTES
from gitops_sdk.stack import synth
from gitops_sdk.stack.synth import RecordingMocks

DATA = Path(__file__).parent / "data" / "automation"
NGINX = PolicyKey("flux-system", "nginx")


def fleet(**extra: Any) -> GitRepository:
    spec: dict[str, Any] = {
        "url": "ssh://git@github.com/johanhallberg/k8s-cluster-config",
        "interval": "1m",
        "ref": {"branch": "main"},
        "secret_ref": {"name": "flux-system"},
        **extra,
    }
    return GitRepository(name="flux-system", namespace="flux-system", **spec)


def nginx(**extra: Any) -> ImageArgs:
    base: dict[str, Any] = {
        "image": "nginx",
        "policy": TagPolicy.semver("^1.21.x"),
        "filter_tags": r"^(?P<ts>.*)-alpine$",
        "extract": "$ts",
    }
    return ImageArgs(**{**base, **extra})


def args(source: Any = None, **push: Any) -> ImageAutomationArgs:
    """nginx, pushed to `main` under ./apps of `source`; `push` sets deploy_key or writable."""
    return ImageAutomationArgs(
        images={"nginx": nginx()},
        update=UpdateArgs(push_branch="main", path="./apps"),
        source=source,
        **push,
    )


class ReadOnlyKey:
    """A stand-in for a deploy-key source component whose key cannot push."""

    deploy_key_read_only = True

    def __init__(self, repo: GitRepository) -> None:
        self.repository = repo

    def __flux_ref__(self) -> tuple[str, str, str | None]:
        return self.repository.__flux_ref__()


# --- the component -------------------------------------------------------------------------------


def test_component_registers_repository_policy_and_automation(mocks: RecordingMocks) -> None:
    synth.run(
        lambda: ImageAutomation(
            "flux-system", args(GitSource("fleet", GitSourceArgs(repository=fleet())))
        )
    )

    names = [(r.type, r.name) for r in mocks.resources if not r.custom]
    assert ("gitops:image:ImageAutomation", "flux-system") in names
    (repo,) = mocks.by_kind("ImageRepository")
    assert repo["metadata"] == {
        "name": "nginx",
        "namespace": "flux-system",
        "annotations": PATCH_FORCE,
    }
    assert repo["spec"] == {"image": "nginx", "interval": "5m"}
    (policy,) = mocks.by_kind("ImagePolicy")
    assert policy["apiVersion"] == "image.toolkit.fluxcd.io/v1"
    assert policy["metadata"]["labels"] == {AUTOMATION_LABEL: "flux-system"}
    assert policy["spec"] == {
        "imageRepositoryRef": {"name": "nginx"},
        "policy": {"semver": {"range": "^1.21.x"}},
        "filterTags": {"pattern": "^(?P<ts>.*)-alpine$", "extract": "$ts"},
    }
    (auto,) = mocks.by_kind("ImageUpdateAutomation")
    assert auto["spec"] == {
        "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
        "git": {
            "commit": {
                "author": {"name": "fluxcdbot", "email": "fluxcdbot@users.noreply.github.com"},
                "messageTemplate": DEFAULT_MESSAGE_TEMPLATE,
            },
            "checkout": {"ref": {"branch": "main"}},
            "push": {"branch": "main"},
        },
        "interval": "30m",
        "update": {"path": "./apps", "strategy": "Setters"},
        "policySelector": {"matchLabels": {AUTOMATION_LABEL: "flux-system"}},
    }
    pulumi_names = {r.name for r in mocks.resources if r.custom}
    assert {"flux-system-nginx-repository", "flux-system-nginx-policy", "flux-system-update"} <= (
        pulumi_names
    )


def test_component_exposes_markers_and_can_skip_the_automation(mocks: RecordingMocks) -> None:
    made: list[ImageAutomation] = []
    only_policies = ImageAutomationArgs(
        images={
            "nginx": nginx(),
            "redis": ImageArgs(image="redis", policy=TagPolicy.semver("7.x")),
        },
        update=UpdateArgs(enabled=False),
    )
    synth.run(lambda: made.append(ImageAutomation("scan", only_policies)))
    assert made[0].markers == {
        "nginx": '# {"$imagepolicy": "flux-system:nginx"}',
        "redis": '# {"$imagepolicy": "flux-system:redis"}',
    }
    assert made[0].automation is None
    assert mocks.by_kind("ImageUpdateAutomation") == []
    assert len(mocks.by_kind("ImagePolicy")) == 2


def test_objects_are_valid_against_the_crds(assert_crd_valid: Any) -> None:
    repos, policies, auto = image_automation_objects("flux-system", args(fleet()))
    assert auto is not None
    for obj in [*repos.values(), *policies.values(), auto]:
        assert_crd_valid(obj.to_manifest())


def test_default_template_lists_changes_and_uses_only_current_data() -> None:
    assert check_message_template(DEFAULT_MESSAGE_TEMPLATE) == DEFAULT_MESSAGE_TEMPLATE
    assert "{{ range .Changed.Changes -}}" in DEFAULT_MESSAGE_TEMPLATE
    assert ".Updated" not in DEFAULT_MESSAGE_TEMPLATE


def test_custom_template_values_are_rendered() -> None:
    custom = UpdateArgs(
        message_template="[{{ .Values.env }}] images: {{ len .Changed.Changes }}",
        message_values={"env": "staging"},
    )
    _, _, auto = image_automation_objects(
        "flux-system", ImageAutomationArgs(images={"nginx": nginx()}, update=custom, source=fleet())
    )
    assert auto is not None
    commit = auto.to_manifest()["spec"]["git"]["commit"]
    assert commit["messageTemplateValues"] == {"env": "staging"}


# --- bad inputs (error text pinned) ------------------------------------------------------------


def test_read_only_deploy_key_is_rejected() -> None:
    with pytest.raises(
        SpecError,
        match=r"ImageUpdateAutomation 'flux-system': spec.sourceRef 'flux-system': the "
        r"GitRepository's deploy key is read-only, but image automation pushes commits and "
        r"needs read-write access",
    ):
        image_automation_objects("flux-system", args(ReadOnlyKey(fleet())))


class Key:
    """A stand-in for `github.DeployKey`: only its program-time `read_only` matters here."""

    def __init__(self, read_only: bool) -> None:
        self.read_only = read_only


def test_read_only_deploy_key_argument_or_attribute_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"deploy key is read-only.*read_only=False on the deploy"):
        image_automation_objects("flux-system", args(fleet(), deploy_key=Key(True)))
    source = ReadOnlyKey(fleet())
    source.deploy_key_read_only = False  # type: ignore[misc]
    source.deploy_key = Key(True)  # type: ignore[attr-defined]
    with pytest.raises(SpecError, match=r"deploy key is read-only"):
        image_automation_objects("flux-system", args(source))
    _, _, auto = image_automation_objects(
        "flux-system", args(fleet(), deploy_key=Key(False), writable=True)
    )
    assert auto is not None


def test_writable_false_is_rejected_too() -> None:
    with pytest.raises(SpecError, match=r"deploy key is read-only.*--read-write-key"):
        image_automation_objects("flux-system", args(fleet(), writable=False))


def test_source_without_credentials_cannot_push() -> None:
    repo = GitRepository(
        name="public", namespace="flux-system", url="https://github.com/o/r", interval="1m"
    )
    with pytest.raises(
        SpecError, match=r"GitRepository 'public' has no spec.secretRef, so the automation has no"
    ):
        image_automation_objects("flux-system", args(repo))


def test_source_pinned_to_a_tag_needs_a_checkout_branch() -> None:
    with pytest.raises(
        SpecError,
        match=r"spec.git.checkout.ref.branch \{'tag': 'v1.0.0'\}: GitRepository 'flux-system' "
        r"follows a tag, semver range or commit",
    ):
        image_automation_objects("flux-system", args(fleet(ref={"tag": "v1.0.0"})))


def test_missing_source_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"spec.sourceRef None: needs the GitRepository to commit"):
        image_automation_objects("flux-system", args())


def test_args_are_the_stack_settings_plus_where_to_push() -> None:
    # The settings (the stack's gitops:automation) name no source: that comes from the program.
    with pytest.raises(SpecError, match=r"^ImageAutomationSettings: source: unknown field"):
        ImageAutomationSettings(images={"nginx": nginx()}, source=fleet())
    settings = ImageAutomationSettings(
        images={"nginx": nginx()}, update=UpdateArgs(push_branch="main", path="./apps")
    )
    made = ImageAutomationArgs.from_settings(settings, source=fleet(), writable=True)
    assert made.model_fields_set == {"images", "update", "source", "deploy_key", "writable"}
    assert image_automation_objects("flux-system", made) == image_automation_objects(
        "flux-system", args(fleet())
    )
    with pytest.raises(SpecError, match=r"deploy key is read-only"):
        image_automation_objects(
            "flux-system",
            ImageAutomationArgs.from_settings(settings, source=fleet(), writable=False),
        )


def test_invalid_semver_range_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"policy.semver.range '\^1.21.x.y': is not a semver range"):
        nginx(policy={"semver": {"range": "^1.21.x.y"}})


def test_extract_naming_a_group_the_filter_lacks_is_rejected() -> None:
    with pytest.raises(
        SpecError,
        match=r"ImageArgs: extract '\$ts': refers to group 'ts', which the pattern does not "
        r"define; the pattern has no groups",
    ):
        nginx(filter_tags=r"^.*-alpine$")


def test_extract_without_a_filter_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"extract '\$ts': needs a pattern whose groups"):
        nginx(filter_tags=None)


def test_image_with_a_tag_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"image 'nginx:1.21': must not contain a tag"):
        nginx(image="nginx:1.21")


def test_template_reading_removed_updated_field_is_rejected() -> None:
    with pytest.raises(
        SpecError, match=r"'.Updated' was removed in Flux 2.7.*'.Changed.FileChanges'"
    ):
        UpdateArgs(message_template="{{ range $f, $_ := .Updated.Files }}{{ $f }}{{ end }}")


def test_bad_push_branch_and_update_path_are_rejected() -> None:
    with pytest.raises(SpecError, match=r"pushBranch 'image updates': is not a valid git branch"):
        UpdateArgs(push_branch="image updates")
    with pytest.raises(SpecError, match=r"path '../other': must be a path inside the repository"):
        UpdateArgs(path="../other")


# --- markers: insertion ----------------------------------------------------------------------


def test_marks_the_image_line_exactly_and_idempotently() -> None:
    before = (DATA / "deployment.yaml").read_text()
    once = mark_text(before, NGINX, image="nginx")
    assert once.marked == [14]
    twice = mark_text(once.text, NGINX, image="nginx")
    assert twice.text == once.text
    assert (twice.marked, twice.unchanged) == ([], [14])
    # Only the marked line changed: comments, blank lines and the rest are byte-identical.
    old, new = before.split("\n"), once.text.split("\n")
    assert [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b] == [13]
    assert new[13] == '        image: nginx:1.21-alpine # {"$imagepolicy": "flux-system:nginx"}'


def test_two_images_in_one_file_match_the_golden_output() -> None:
    text = (DATA / "deployment.yaml").read_text()
    text = mark_text(text, NGINX, image="nginx").text
    text = mark_text(text, "flux-system:redis", image="redis").text
    assert text == (DATA / "deployment.marked.yaml").read_text()


def test_kustomize_new_tag_gets_the_tag_field() -> None:
    result = mark_text((DATA / "kustomization.yaml").read_text(), NGINX, image="nginx")
    assert result.text == (DATA / "kustomization.marked.yaml").read_text()
    assert result.marked == [13]


def test_new_name_and_new_tag_get_name_and_tag() -> None:
    text = "images:\n- name: podinfo\n  newName: ghcr.io/org/podinfo\n  newTag: 6.5.0\n"
    out = mark_text(text, "flux-system:podinfo", image="ghcr.io/org/podinfo").text
    assert out == (
        "images:\n- name: podinfo\n"
        '  newName: ghcr.io/org/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}\n'
        '  newTag: 6.5.0 # {"$imagepolicy": "flux-system:podinfo:tag"}\n'
    )


def test_field_limits_marking_to_that_part() -> None:
    text = "images:\n- name: podinfo\n  newName: ghcr.io/org/podinfo\n  newTag: 6.5.0\n"
    out = mark_text(text, "flux-system:podinfo", image="ghcr.io/org/podinfo", field="tag")
    assert out.marked == [4]


def test_helm_values_repository_and_tag() -> None:
    text = (DATA / "helm-values.yaml").read_text()
    uses = [(u.line, u.field, u.image) for u in find_image_uses(text)]
    assert uses == [
        (3, "name", "ghcr.io/example/docs"),
        (4, "tag", "ghcr.io/example/docs"),
        (8, "name", "nginx"),
        (9, "tag", "nginx"),
    ]
    out = mark_text(text, NGINX, image="nginx").text.split("\n")
    assert out[7] == '    repository: nginx # {"$imagepolicy": "flux-system:nginx:name"}'
    assert out[8] == '    tag: 1.21-alpine # {"$imagepolicy": "flux-system:nginx:tag"}'


def test_block_scalars_and_image_repositories_are_not_uses() -> None:
    uses = find_image_uses((DATA / "deployment.yaml").read_text())
    assert [(u.line, u.image) for u in uses] == [
        (14, "nginx"),
        (19, "docker.io/library/redis"),
        (21, "busybox"),
    ]


def test_crlf_line_endings_are_kept() -> None:
    text = "spec:\r\n  containers:\r\n  - name: app\r\n    image: nginx:1.21\r\n"
    out = mark_text(text, NGINX).text
    assert out == (
        "spec:\r\n  containers:\r\n  - name: app\r\n"
        '    image: nginx:1.21 # {"$imagepolicy": "flux-system:nginx"}\r\n'
    )


def test_mark_file_writes_only_when_something_changed(tmp_path: Path) -> None:
    file = tmp_path / "deploy.yaml"
    file.write_text('containers:\n- image: nginx:1.21  # {"$imagepolicy": "flux-system:nginx"}\n')
    stamp = file.stat().st_mtime_ns
    result = mark_file(file, NGINX)
    assert not result.changed
    assert file.stat().st_mtime_ns == stamp


def test_several_images_need_an_explicit_image() -> None:
    with pytest.raises(
        SetterMarkerError,
        match=r"<text>: uses several images \(busybox, nginx, redis\); say which one policy "
        r"flux-system:nginx tracks \(--image\)",
    ):
        mark_text((DATA / "deployment.yaml").read_text(), NGINX)


def test_unused_image_is_reported_with_the_images_found() -> None:
    with pytest.raises(
        SetterMarkerError, match=r"does not use image 'podinfo' \(images used: busybox, nginx"
    ):
        mark_text((DATA / "deployment.yaml").read_text(), NGINX, image="podinfo")


def test_another_comment_on_the_line_is_an_error() -> None:
    text = (DATA / "kustomization.yaml").read_text()
    with pytest.raises(
        SetterMarkerError,
        match=r"<text>:16: has the comment '# pinned by hand'; the setter marker must be the "
        r"line's only comment",
    ):
        mark_text(text, "flux-system:redis", image="ghcr.io/example/redis")


def test_another_policy_marker_needs_replace() -> None:
    text = 'image: nginx:1.21 # {"$imagepolicy": "flux-system:old"}\n'
    with pytest.raises(
        SetterMarkerError, match=r"<text>:1: already has .*flux-system:old.*pass replace=True"
    ):
        mark_text(text, NGINX)
    assert mark_text(text, NGINX, replace=True).text == (
        'image: nginx:1.21 # {"$imagepolicy": "flux-system:nginx"}\n'
    )


def test_field_that_no_line_holds_is_an_error() -> None:
    with pytest.raises(
        SetterMarkerError,
        match=r"no line holds the tag of 'nginx'; its lines take the whole reference",
    ):
        mark_text("image: nginx:1.21\n", NGINX, field="tag")


def test_policy_key_needs_a_colon() -> None:
    with pytest.raises(
        SetterMarkerError,
        match=r"'flux-system/nginx' is not an ImagePolicy key: expected 'namespace:name' "
        r"\(a colon, not a slash\)",
    ):
        PolicyKey.parse("flux-system/nginx")


def test_policy_key_names_the_bad_part() -> None:
    with pytest.raises(
        SetterMarkerError,
        match=r"^'Flux:nginx' is not an ImagePolicy key: expected 'namespace:name', but the "
        r"namespace 'Flux' is not a DNS-1123 label \(",
    ):
        PolicyKey.parse("Flux:nginx")
    with pytest.raises(SetterMarkerError, match=r"but the name 'nginx_app' is not a DNS-1123 sub"):
        PolicyKey.parse("flux-system:nginx_app")


def test_setter_marker_text() -> None:
    assert setter_marker(NGINX, "digest") == '# {"$imagepolicy": "flux-system:nginx:digest"}'


# --- markers: checking -----------------------------------------------------------------------


def test_check_reports_missing_unknown_wrong_field_and_misplaced_markers() -> None:
    text = (
        "spec:\n"
        '  replicas: 1 # {"$imagepolicy": "flux-system:nginx"}\n'
        "  containers:\n"
        "  - image: nginx:1.21\n"
        '  - image: redis:7 # {"$imagepolicy": "flux-system:rediss"}\n'
        "images:\n"
        "- name: nginx\n"
        '  newTag: 1.21 # {"$imagepolicy": "flux-system:nginx"}\n'
        "- name: busybox\n"
        '  newTag: 1.36 # {"$imagepolicy": flux-system}\n'
    )
    problems = [str(p) for p in check_text(text, {NGINX: "nginx"}, source="f.yaml")]
    assert problems == [
        "f.yaml:2: setter marker for flux-system:nginx is on a line that sets no image; Flux "
        "would overwrite this value with the image",
        'f.yaml:10: malformed setter marker: expected # {"$imagepolicy": "namespace:name"}',
        "f.yaml:4: nginx is tracked by ImagePolicy flux-system:nginx but the line has no setter "
        'marker; expected \'# {"$imagepolicy": "flux-system:nginx"}\'',
        "f.yaml:5: setter marker names ImagePolicy flux-system:rediss, which does not exist "
        "(known: flux-system:nginx)",
        "f.yaml:8: setter marker field the whole reference (no field) does not fit this line, "
        "which takes ':tag': expected '# {\"$imagepolicy\": \"flux-system:nginx:tag\"}'",
    ]


def test_check_paths_reads_policies_from_yaml_and_lists_file_lines(tmp_path: Path) -> None:
    (tmp_path / "policies.yaml").write_text((DATA / "policies.yaml").read_text())
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "deploy.yaml").write_text((DATA / "deployment.yaml").read_text())
    problems = [str(p) for p in check_paths([tmp_path])]
    assert problems == [
        f"{tmp_path}/apps/deploy.yaml:14: nginx is tracked by ImagePolicy flux-system:nginx "
        'but the line has no setter marker; expected \'# {"$imagepolicy": "flux-system:nginx"}\'',
        f"{tmp_path}: ImagePolicy flux-system:nginx (nginx) has no setter marker in any file, "
        "so the automation never updates it",
    ]
    (tmp_path / "apps" / "deploy.yaml").write_text((DATA / "deployment.marked.yaml").read_text())
    # The redis marker needs its policy too; given explicitly, it joins the discovered one.
    assert check_paths([tmp_path], {PolicyKey("flux-system", "redis"): "redis"}) == []


def test_check_needs_some_policy(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("image: nginx:1\n")
    with pytest.raises(SetterMarkerError, match=r"no ImagePolicy to check against"):
        check_paths([tmp_path])


def test_policies_from_stack_config() -> None:
    values = {
        "automation": {
            "images": {"nginx": {"image": "nginx", "policy": {"semver": {"range": "^1.21.x"}}}}
        }
    }
    assert policies_from_config(values) == {NGINX: "nginx"}
    with pytest.raises(ConfigError, match=r"gitops:automation.images.nginx.policy: required"):
        policies_from_config({"automation": {"images": {"nginx": {"image": "nginx"}}}})


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_mark_then_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "kustomization.yaml"
    file.write_text((DATA / "kustomization.yaml").read_text())
    assert (
        run_automation_cli(
            [
                "images",
                "mark",
                str(file),
                "--policy",
                "flux-system:nginx",
                "--image",
                "nginx",
                "--check",
            ],
            tmp_path,
        )
        == 1
    )
    assert f"{file}:13: needs" in capsys.readouterr().out
    assert (
        run_automation_cli(
            ["images", "mark", str(file), "--policy", "flux-system:nginx", "--image", "nginx"],
            tmp_path,
        )
        == 0
    )
    assert file.read_text() == (DATA / "kustomization.marked.yaml").read_text()
    assert (
        run_automation_cli(
            ["images", "check", str(tmp_path), "--policy", "flux-system:nginx=nginx"], tmp_path
        )
        == 0
    )
    assert (
        run_automation_cli(
            [
                "images",
                "check",
                str(tmp_path),
                "--policy",
                "flux-system:redis=ghcr.io/example/redis",
            ],
            tmp_path,
        )
        == 1
    )
    out = capsys.readouterr().out
    assert (
        f"{file}:13: setter marker names ImagePolicy flux-system:nginx, which does not exist" in out
    )
    assert f"{file}:15: ghcr.io/example/redis is tracked by ImagePolicy flux-system:redis" in out


def test_cli_check_reads_the_stack_and_reports_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.staging.yaml").write_text(
        "config:\n"
        "  gitops:automation:\n"
        "    images:\n"
        "      nginx: {image: nginx, policy: {semver: {range: ^1.21.x}}}\n"
    )
    (tmp_path / "deploy.yaml").write_text((DATA / "deployment.marked.yaml").read_text())
    assert (
        run_automation_cli(
            ["images", "check", str(tmp_path / "deploy.yaml"), "--stack", "staging"], tmp_path
        )
        == 1
    )
    # redis carries a marker for a policy the stack does not declare.
    assert "19: setter marker names ImagePolicy flux-system:redis" in capsys.readouterr().out
    assert (
        run_automation_cli(
            ["images", "mark", str(tmp_path / "deploy.yaml"), "--policy", "nginx"], tmp_path
        )
        == 2
    )
    assert "is not an ImagePolicy key" in capsys.readouterr().err


# --- hostile files -------------------------------------------------------------------------------


def images_cli(
    argv: list[str], project: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str], list[str]]:
    """(exit code, stdout lines, stderr lines) of `gitops images ...`; never a traceback."""
    code = run_automation_cli(["images", *argv], project)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out.splitlines(), out.err.splitlines()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # CRLF, no final newline, a BOM: every byte but the marker is kept.
        (
            b"spec:\r\n  containers:\r\n  - image: nginx:1.21",
            b"spec:\r\n  containers:\r\n"
            b'  - image: nginx:1.21 # {"$imagepolicy": "flux-system:nginx"}',
        ),
        (
            b"\xef\xbb\xbfspec:\r\n  image: nginx:1.21\r\n  x: 1\r\n",
            b"\xef\xbb\xbfspec:\r\n"
            b'  image: nginx:1.21 # {"$imagepolicy": "flux-system:nginx"}\r\n  x: 1\r\n',
        ),
        (
            b"a: 1\n\n\nimage: nginx:1.21   \n",
            b'a: 1\n\n\nimage: nginx:1.21 # {"$imagepolicy": "flux-system:nginx"}\n',
        ),
        (
            b"a: 1\r\nb: 2\nimage: nginx:1.21\r\n",  # mixed line ends stay mixed
            b'a: 1\r\nb: 2\nimage: nginx:1.21 # {"$imagepolicy": "flux-system:nginx"}\r\n',
        ),
    ],
)
def test_mark_keeps_line_ends_final_newline_and_bom(
    data: bytes, expected: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "deploy.yaml"
    file.write_bytes(data)
    code, out, _ = images_cli(
        ["mark", str(file), "--policy", "flux-system:nginx"], tmp_path, capsys
    )
    assert code == 0 and out[0].endswith("marked for flux-system:nginx")
    assert file.read_bytes() == expected
    assert mark_file(file, NGINX).marked == []  # idempotent on the bytes it wrote
    assert file.read_bytes() == expected


def test_mark_writes_atomically_keeping_mode_and_links(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text("image: nginx:1.21\n")
    real.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(real.name)
    mark_file(link, NGINX)
    assert link.is_symlink() and link.resolve() == real
    assert real.read_text() == 'image: nginx:1.21 # {"$imagepolicy": "flux-system:nginx"}\n'
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.yaml", "real.yaml"]  # no temp


HOSTILE_MARK: dict[str, tuple[bytes | None, str]] = {
    "latin1": (
        "image: nginx:1.21 # café\n".encode("latin-1"),
        "is not UTF-8 text: byte 0xe9 at line 1",
    ),
    "utf16": ("image: nginx:1.21\n".encode("utf-16"), "is UTF-16 text; expected UTF-8"),
    "binary": (bytes(range(256)), "is a binary file"),
    "empty": (b"", "is empty, so there is nothing to mark"),
    "not-yaml": (b"image: nginx:1.21\n  bad: [\n", "not valid YAML: line"),
    "alias-bomb": (
        b"a: &a [1,2,3,4,5,6,7,8,9,0]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        b"e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nimage: nginx:1.21\n",
        "(an alias bomb?)",
    ),
    "no-image": (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: oops\n",
        "does not use image 'nginx' (images used: none)",
    ),
    "scalar-document": (b"just text\n", "does not use image"),
    "missing": (None, "no such file or folder"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MARK))
def test_mark_reports_a_bad_file_and_still_marks_the_others(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, message = HOSTILE_MARK[case]
    bad = tmp_path / "bad.yaml"
    if data is not None:
        bad.write_bytes(data)
    good = tmp_path / "good.yaml"
    good.write_text("image: nginx:1.21\n")
    argv = ["mark", str(bad), str(good), "--policy", "flux-system:nginx", "--image", "nginx"]
    code, out, err = images_cli(argv, tmp_path, capsys)
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"gitops: {bad}: ") and message in err[0]
    assert out == [f"{good}:1: marked for flux-system:nginx"]
    assert "$imagepolicy" in good.read_text()
    if data is not None:
        assert bad.read_bytes() == data  # never touched


def test_mark_special_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "x.yaml"
    folder.mkdir()
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop.name)
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as f:
        f.truncate(MAX_YAML_BYTES + 1)
    argv = ["mark", str(folder), str(loop), str(huge), "--policy", "flux-system:nginx"]
    code, out, err = images_cli(argv, tmp_path, capsys)
    assert (code, out) == (2, [])
    assert err == [
        f"gitops: {folder}: is a folder; expected a YAML file",
        f"gitops: {loop}: is a symbolic link loop",
        f"gitops: {huge}: is {MAX_YAML_BYTES + 1:,} bytes; the limit for a YAML file is 8 MiB",
    ]


def test_check_reports_bad_files_and_still_checks_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / "tree"
    (tree / "x.yaml").mkdir(parents=True)  # a folder: walked, not read
    (tree / "x.yaml" / "deploy.yaml").write_text("image: nginx:1.21\n")
    (tree / "u16.yaml").write_bytes("image: nginx:1\n".encode("utf-16"))
    (tree / "bomb.yaml").write_bytes(HOSTILE_MARK["alias-bomb"][0] or b"")
    (tree / "loop.yaml").symlink_to("loop.yaml")
    (tree / "empty.yaml").write_text("")
    (tree / "policy.yaml").write_text(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: oops\n---\n"
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: r}\n"
        "spec: {image: [nginx]}\n"
    )
    missing = tmp_path / "missing"
    argv = ["check", str(tree), str(missing), "--policy", "flux-system:nginx=nginx"]
    code, out, err = images_cli(argv, tmp_path, capsys)
    assert code == 2
    assert out[0].startswith(f"{tree / 'x.yaml' / 'deploy.yaml'}:1: nginx is tracked by")
    assert err[:-1] == [
        f"gitops: {missing}: no such file or folder",
        f"gitops: {tree / 'bomb.yaml'}: document 1: YAML aliases would expand its 63 nodes by "
        "more than 10,000 (an alias bomb?); write the values out or use fewer nested aliases",
        f"gitops: {tree / 'loop.yaml'}: is a symbolic link loop",
        f"gitops: {tree / 'policy.yaml'}: document 1: ImagePolicy metadata is 'oops'; "
        "expected a mapping",
        f"gitops: {tree / 'policy.yaml'}: document 2: ImageRepository 'r': spec.image is a "
        "list; expected the image repository, e.g. ghcr.io/org/app",
        f"gitops: {tree / 'u16.yaml'}: is UTF-16 text; expected UTF-8 (re-save it as UTF-8)",
    ]
    assert out[1].endswith("has no setter marker in any file, so the automation never updates it")
    assert err[-1] == "2 setter marker problem(s)"


def test_check_paths_raises_on_a_file_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"image: \xff\n")
    with pytest.raises(SetterMarkerError, match=r"a.yaml: is not UTF-8 text"):
        check_paths([tmp_path], {NGINX: "nginx"})


def test_a_huge_marker_comment_is_malformed_not_a_crash() -> None:
    text = (
        "image: nginx:1 # "
        + "[" * 5000
        + ' "$imagepolicy"\nb: 2 # 1'
        + "1" * 5000
        + " $imagepolicy\n"
    )
    assert set(scan_markers(text).markers.values()) == {
        'malformed setter marker: expected # {"$imagepolicy": "namespace:name"}'
    }


def test_stack_automation_keys_must_be_strings() -> None:
    with pytest.raises(ConfigError, match=r"gitops:automation must be a mapping with string keys"):
        policies_from_config({"automation": {1: "x"}})
