"""The typed settings of image update automation (no Pulumi here): which images to scan, how
their newest tag is picked, how the picked tags are committed, and the `namespace:name` key by
which setter markers name each ImagePolicy.

```python
ImageAutomationSettings(
    images={"nginx": ImageArgs(image="nginx", policy=TagPolicy.semver("^1.21.x"))},
    update=UpdateArgs(push_branch="main", path="./apps"),
)
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self

import pydantic
from pydantic import AfterValidator

from gitops_sdk.api.image import ImageName, ImagePolicy, ImagePolicyChoice, TagFilter
from gitops_sdk.api.image_update import CommitUser, SigningKey, check_message_template
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import GitopsError, SpecError
from gitops_sdk.core.fields import (
    Duration,
    GoRegex,
    Name,
    Namespace,
    check_dns_label,
    check_dns_subdomain,
)

__all__ = [
    "AUTOMATION_LABEL",
    "DEFAULT_AUTHOR",
    "DEFAULT_MESSAGE_TEMPLATE",
    "Branch",
    "ImageArgs",
    "ImageAutomationSettings",
    "PolicyKey",
    "SetterMarkerError",
    "UpdateArgs",
]

AUTOMATION_LABEL = "gitops-sdk/image-automation"
"""Label on each ImagePolicy naming the ImageUpdateAutomation that applies it."""

DEFAULT_AUTHOR = CommitUser(name="fluxcdbot", email="fluxcdbot@users.noreply.github.com")
"""Author of automation commits unless `UpdateArgs.author` says otherwise."""

# `.Changed.Changes` lists every (setter, old, new) triple; inside `range` the dot is the
# change, so `.Setter`/`.OldValue`/`.NewValue` are its fields, not root template data.
DEFAULT_MESSAGE_TEMPLATE = (
    "Automated image update by {{ .AutomationObject }}\n"
    "\n"
    "{{ range .Changed.Changes -}}\n"
    "- {{ .Setter }}: {{ .OldValue }} -> {{ .NewValue }}\n"
    "{{ end -}}\n"
)
"""Commit message listing each change (`.Changed.Changes`); uses only data Flux 2.7+ has."""


class SetterMarkerError(GitopsError):
    """A bad ImagePolicy key, or a file that cannot be marked: no such image, an ambiguous
    image, or a conflicting comment."""


# --- typed settings ------------------------------------------------------------------------------


def _check_relative_path(value: str) -> str:
    parts = value.split("/")
    if value.startswith("/") or ".." in parts:
        raise ValueError(
            "must be a path inside the repository, relative to its root (e.g. './apps'), "
            "without '..'"
        )
    return value


_BAD_REF = re.compile(r"(^[/.-])|([/.]$)|(\.\.)|(//)|(@\{)|([\s~^:?*\[\\\x00-\x1f\x7f])|(\.lock$)")


def _check_branch(value: str) -> str:
    if not value or _BAD_REF.search(value):
        raise ValueError("is not a valid git branch name (e.g. 'main' or 'image-updates')")
    return value


Branch = Annotated[str, AfterValidator(_check_branch)]


class ImageArgs(FluxModel):
    """One image to track: its repository, which tags count and how the newest is picked."""

    image: ImageName
    """Image repository without tag, e.g. `nginx` or `ghcr.io/org/app`."""
    policy: ImagePolicyChoice
    """How to pick the newest tag, e.g. `TagPolicy.semver("^1.21.x")`."""
    filter_tags: GoRegex | None = None
    """Go regexp a tag must match, e.g. `^(?P<ts>.*)-alpine$`; default: every tag."""
    extract: str | None = None
    """What of the tag the policy compares, e.g. `$ts`; needs `filter_tags` defining it."""
    interval: Duration = "5m"
    """How often to scan the registry."""
    provider: Literal["generic", "aws", "azure", "gcp"] | None = None
    """Registry authentication provider; default `generic`."""
    secret_name: Name | None = None
    """A `kubernetes.io/dockerconfigjson` Secret with registry credentials; default: none."""
    exclusion_list: list[GoRegex] | None = None
    """Tags never stored, as Go regexps; default: cosign `.sig` tags."""

    @pydantic.model_validator(mode="after")
    def _filter_defines_extract(self) -> Self:
        if self.filter_tags is None and self.extract is None:
            return self
        try:
            TagFilter(pattern=self.filter_tags, extract=self.extract)
        except SpecError as err:
            issue = err.issues[0]
            where = "filterTags" if issue.path == "pattern" else issue.path
            raise Invalid(where, issue.value, issue.problem) from None
        return self

    def tag_filter(self) -> TagFilter | None:
        """The ImagePolicy `filterTags` these arguments describe, if any."""
        if self.filter_tags is None and self.extract is None:
            return None
        return TagFilter(pattern=self.filter_tags, extract=self.extract)


class UpdateArgs(FluxModel):
    """How the ImageUpdateAutomation commits: branches, author, message and path."""

    enabled: bool = True
    """Create the ImageUpdateAutomation; false renders only repositories and policies."""
    interval: Duration = "30m"
    """How often the automation runs at most."""
    checkout_branch: Branch | None = None
    """Branch to clone and update; default: the GitRepository's `spec.ref.branch`."""
    push_branch: Branch | None = None
    """Branch to push to (created from the checkout branch); default: the checkout branch."""
    author: CommitUser = DEFAULT_AUTHOR
    """Commit author; default `fluxcdbot <fluxcdbot@users.noreply.github.com>`."""
    path: Annotated[str, AfterValidator(_check_relative_path)] = "./"
    """Directory whose manifests are updated, relative to the repository root."""
    message_template: Annotated[str, AfterValidator(check_message_template)] = (
        DEFAULT_MESSAGE_TEMPLATE
    )
    """Go template of the commit message; data: `.AutomationObject`, `.Changed`, `.Values`."""
    message_values: dict[str, str] | None = None
    """Extra template values, read as `.Values.<key>`."""
    signing_key: SigningKey | None = None
    """Sign commits with this key; default: unsigned."""


class ImageAutomationSettings(FluxModel):
    """What `ImageAutomation` renders, the base of `ImageAutomationArgs`; also the shape of the
    stack's `gitops:automation` key."""

    namespace: Namespace = "flux-system"
    """Namespace of the ImageRepositories, ImagePolicies and the ImageUpdateAutomation."""
    images: Annotated[dict[Name, ImageArgs], pydantic.Field(min_length=1)]
    """Images by name; the name is that of its ImageRepository and ImagePolicy."""
    update: UpdateArgs = UpdateArgs()
    """How new tags are committed."""

    def policy_keys(self) -> dict[PolicyKey, str]:
        """Each policy's marker key with the image it tracks."""
        return {PolicyKey(self.namespace, name): a.image for name, a in self.images.items()}


# --- the key setter markers name a policy by ----------------------------------------------------


@dataclass(frozen=True, order=True)
class PolicyKey:
    """An ImagePolicy as setter markers name it: `namespace:name`."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> PolicyKey:
        """`flux-system:podinfo` -> PolicyKey; the separator is a colon, not a slash."""
        ns, sep, name = text.partition(":")
        problem = None
        if not sep:
            hint = " (a colon, not a slash)" if "/" in text else ""
            problem = f"expected 'namespace:name'{hint}, e.g. 'flux-system:podinfo'"
        else:
            for part, value, check in (
                ("namespace", ns, check_dns_label),
                ("name", name, check_dns_subdomain),
            ):
                try:
                    check(value)
                except ValueError as err:
                    problem = f"expected 'namespace:name', but the {part} {value!r} {err}"
                    break
        if problem:
            raise SetterMarkerError(f"{text!r} is not an ImagePolicy key: {problem}")
        return cls(ns, name)

    @classmethod
    def of(cls, policy: Any, default_namespace: str = "flux-system") -> Self:
        """The key of an ImagePolicy model, a FluxResource wrapping one, or a `ns:name` text."""
        if isinstance(policy, PolicyKey):
            return cls(policy.namespace, policy.name)
        if isinstance(policy, str):
            parsed = PolicyKey.parse(policy)
            return cls(parsed.namespace, parsed.name)
        model = getattr(policy, "flux_object", policy)
        if not isinstance(model, ImagePolicy):
            raise SetterMarkerError(f"{policy!r} is not an ImagePolicy")
        return cls(model.namespace or default_namespace, model.name)
