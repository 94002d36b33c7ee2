"""Image update automation as a Pulumi component: scan an image, pick its newest tag, commit it
back to Git.

`ImageAutomation` registers, per image, an `ImageRepository` and an `ImagePolicy`, and one
`ImageUpdateAutomation` that commits the picked tags to the GitRepository in its Args (which
must be able to push: see `GitWriteAccess`). The automation rewrites only lines carrying a setter
marker: see `services.setter_markers` (`mark_file`) and `services.marker_check` (`check_paths`).

```python
ImageAutomation(
    "apps",
    ImageAutomationArgs(
        images={"nginx": ImageArgs(image="nginx", policy=TagPolicy.semver("^1.21.x"),
                                   filter_tags=r"^(?P<ts>.*)-alpine$", extract="$ts")},
        update=UpdateArgs(push_branch="main", path="./apps"),
        source=git_source,
    ),
)
```
"""

from __future__ import annotations

from typing import Any, Protocol, Self, runtime_checkable

import pulumi

from gitops_sdk.api.image import ImagePolicy, ImageRepository
from gitops_sdk.api.image_automation import AUTOMATION_LABEL, ImageAutomationSettings, PolicyKey
from gitops_sdk.api.image_update import ImageUpdateAutomation
from gitops_sdk.api.source import GitRepository
from gitops_sdk.components.base import ComponentArgs
from gitops_sdk.components.resource import FluxResource, flux_key
from gitops_sdk.core.errors import FieldIssue, SpecError
from gitops_sdk.services.setter_markers import setter_marker

__all__ = [
    "GitWriteAccess",
    "ImageAutomation",
    "ImageAutomationArgs",
    "image_automation_objects",
]


class ImageAutomationArgs(ImageAutomationSettings, ComponentArgs):
    """Inputs of `ImageAutomation`: the images and update settings, and the GitRepository the
    automation pushes to with what says whether its credential can push."""

    source: Any = None
    """The GitRepository the ImageUpdateAutomation commits to: the model, its `FluxResource`, a
    `GitSource`, or any object with `__flux_ref__`. Required unless `update.enabled` is false."""
    deploy_key: Any = None
    """The source's deploy key (e.g. a `github.DeployKey`); one whose `read_only` is true is
    rejected. Default: none."""
    writable: bool | None = None
    """Whether the source's credential can push; false is rejected. Default: unknown (writable
    unless a deploy key says read-only)."""

    @classmethod
    def from_settings(
        cls,
        settings: ImageAutomationSettings,
        *,
        source: Any = None,
        deploy_key: Any = None,
        writable: bool | None = None,
    ) -> Self:
        """The Args of `settings` (e.g. a stack's `gitops:automation`) pushing to `source`."""
        given = {
            k: getattr(settings, k)
            for k in settings.model_fields_set
            if k in ImageAutomationSettings.model_fields
        }
        return cls(**given, source=source, deploy_key=deploy_key, writable=writable)


# --- where the automation pushes -------------------------------------------------------------


@runtime_checkable
class GitWriteAccess(Protocol):
    """What a source object tells the automation about its credential.

    `ImageAutomation` rejects the source when any says read-only: `writable=False` in its Args;
    the `deploy_key_read_only` attribute of the Args' `source` (a source component backed by a
    deploy key sets it from the key); the `read_only` attribute of `source.deploy_key` or of the
    Args' `deploy_key` (e.g. a `github.DeployKey`, whose `read_only` is known at program time).
    A read-only answer fails at program time instead of at the automation's first push; with no
    answer the source is taken as writable.
    """

    @property
    def deploy_key_read_only(self) -> bool:
        """True when the credential can only read (clone) and cannot push."""
        ...


def _read_only(source: Any, deploy_key: Any, writable: bool | None) -> bool:
    if writable is False:
        return True
    # The key's own flag is the truth: `writable=True` cannot make a read-only key push.
    answers = (
        getattr(source, "deploy_key_read_only", None),
        getattr(getattr(source, "deploy_key", None), "read_only", None),
        getattr(deploy_key, "read_only", None),
    )
    return any(a is True for a in answers)


def _git_repository(source: Any, depth: int = 0) -> GitRepository | None:
    if isinstance(source, GitRepository):
        return source
    model = getattr(source, "flux_object", None)
    if isinstance(model, GitRepository):
        return model
    inner = getattr(source, "repository", None)
    if inner is not None and inner is not source and depth < 3:
        return _git_repository(inner, depth + 1)
    return None


def image_automation_objects(
    name: str, args: ImageAutomationArgs
) -> tuple[dict[str, ImageRepository], dict[str, ImagePolicy], ImageUpdateAutomation | None]:
    """The validated Flux objects `ImageAutomation` registers (pure: no Pulumi needed).

    `args.source` is the GitRepository the automation commits to; `args.deploy_key` and
    `args.writable` say whether its credential can push (see `GitWriteAccess`).
    """
    ns = args.namespace
    repositories: dict[str, ImageRepository] = {}
    policies: dict[str, ImagePolicy] = {}
    for key, image in args.images.items():
        repo = ImageRepository(
            name=key,
            namespace=ns,
            image=image.image,
            interval=image.interval,
            provider=image.provider,
            secret_ref={"name": image.secret_name} if image.secret_name else None,
            exclusion_list=image.exclusion_list,
        )
        repositories[key] = repo
        policies[key] = ImagePolicy(
            name=key,
            namespace=ns,
            labels={AUTOMATION_LABEL: name} if args.update.enabled else None,
            image_repository_ref=repo,
            policy=image.policy,
            filter_tags=image.tag_filter(),
        )
    if not args.update.enabled:
        return repositories, policies, None
    return repositories, policies, _update_automation(name, args)


def _update_automation(name: str, args: ImageAutomationArgs) -> ImageUpdateAutomation:
    update, source = args.update, args.source

    def fail(path: str, value: Any, problem: str) -> SpecError:
        return SpecError("ImageUpdateAutomation", name, [FieldIssue(path, value, problem)])

    repo = _git_repository(source)
    if repo is None:
        raise fail(
            "spec.sourceRef",
            source,
            "needs the GitRepository to commit to: a GitRepository, its FluxResource or a "
            "GitSource",
        )
    if _read_only(source, args.deploy_key, args.writable):
        raise fail(
            "spec.sourceRef",
            repo.name,
            "the GitRepository's deploy key is read-only, but image automation pushes commits "
            "and needs read-write access: give the deploy key write access (e.g. `flux "
            "bootstrap github --read-write-key`, or read_only=False on the deploy key) or use "
            "a source whose credential can push",
        )
    if repo.spec.secret_ref is None:
        raise fail(
            "spec.sourceRef",
            repo.name,
            f"GitRepository {repo.name!r} has no spec.secretRef, so the automation has no "
            "credential to push with; give it a read-write deploy key or token",
        )
    ref = repo.spec.ref
    checkout = update.checkout_branch or (ref.branch if ref else None)
    if checkout is None and ref is not None:
        raise fail(
            "spec.git.checkout.ref.branch",
            ref.to_dict(),
            f"GitRepository {repo.name!r} follows a tag, semver range or commit, which the "
            "automation cannot push to; set UpdateArgs.checkout_branch",
        )
    git: dict[str, Any] = {
        "commit": {
            "author": update.author,
            "message_template": update.message_template,
            "message_template_values": update.message_values,
            "signing_key": update.signing_key,
        },
    }
    if checkout is not None:
        git["checkout"] = {"ref": {"branch": checkout}}
    if update.push_branch is not None:
        git["push"] = {"branch": update.push_branch}
    return ImageUpdateAutomation(
        name=name,
        namespace=args.namespace,
        interval=update.interval,
        source_ref=source,
        git=git,
        update={"path": update.path, "strategy": "Setters"},
        policy_selector={"match_labels": {AUTOMATION_LABEL: name}},
    )


class ImageAutomation(pulumi.ComponentResource):
    """ImageRepository + ImagePolicy per image, and the ImageUpdateAutomation committing them.

    `args.source` (the GitRepository, its FluxResource or a GitSource) is what the automation
    pushes to; a read-only credential (see `GitWriteAccess`: `writable=False`, the source's
    `deploy_key_read_only`, or a `deploy_key` whose `read_only` is true) is rejected. The
    automation only applies its own policies (label `gitops-sdk/image-automation: <name>`), so
    several automations can share a namespace. `markers` holds each image's setter marker.
    """

    repositories: dict[str, FluxResource[ImageRepository]]
    policies: dict[str, FluxResource[ImagePolicy]]
    automation: FluxResource[ImageUpdateAutomation] | None
    markers: dict[str, str]

    def __init__(
        self,
        name: str,
        args: ImageAutomationArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        repositories, policies, automation = image_automation_objects(name, args)
        super().__init__("gitops:image:ImageAutomation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repositories = {}
        self.policies = {}
        self.markers = {}
        for key, repo in repositories.items():
            self.repositories[key] = FluxResource(f"{name}-{key}-repository", repo, child)
            self.policies[key] = FluxResource(
                f"{name}-{key}-policy",
                policies[key],
                child,
                resources={flux_key(repo): self.repositories[key]},
            )
            self.markers[key] = setter_marker(PolicyKey(args.namespace, key))
        self.automation = None
        if automation is not None:
            deps = list(self.policies.values())
            self.automation = FluxResource(
                f"{name}-update",
                automation,
                pulumi.ResourceOptions(parent=self, depends_on=deps),
            )
        self.register_outputs(
            {
                "images": {k: a.image for k, a in args.images.items()},
                "markers": dict(self.markers),
            }
        )
