"""image.toolkit.fluxcd.io/v1 ImageUpdateAutomation: writes the newest tags the policies picked back
to Git, with a commit message template checked like Go's text/template."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator

from gitops_sdk.api.image import (
    API_VERSION,
    REMOVED_VERSIONS,
)
from gitops_sdk.api.source import GitRepositoryRef
from gitops_sdk.core.base import FluxModel
from gitops_sdk.core.fields import (
    Duration,
    Name,
    Namespace,
)
from gitops_sdk.core.model import FILLED, FluxObject, LabelSelector
from gitops_sdk.core.refs import ObjectRef, SecretRef

__all__ = [
    "AutomationSourceRef",
    "CommitSpec",
    "CommitUser",
    "GitCheckoutSpec",
    "GitSpec",
    "ImageUpdateAutomation",
    "ImageUpdateAutomationSpec",
    "PushSpec",
    "SigningKey",
    "UpdateStrategy",
    "check_message_template",
]


# --- ImageUpdateAutomation -------------------------------------------------------------------


class AutomationSourceRef(ObjectRef):
    """The GitRepository an automation commits to; built from a name or the object."""

    expected_kinds = ("GitRepository",)
    api_version: str | None = None
    """API version of the GitRepository; default: the preferred version."""
    kind: Literal["GitRepository"] = "GitRepository"
    """Kind of the source: only `GitRepository`; always rendered."""
    name: Name
    """Name of the GitRepository."""
    namespace: Namespace | None = None
    """Its namespace; default: the automation's."""

    @pydantic.model_validator(mode="before")
    @classmethod
    def _always_render_kind(cls, data: Any) -> Any:
        # The API server defaults `kind`, but the CRD marks it required: write it, as
        # `flux create image update` does, so the manifest validates offline too.
        if isinstance(data, dict) and "kind" not in data:
            return {**data, "kind": "GitRepository"}
        return data


class GitCheckoutSpec(FluxModel):
    """What to clone before updating."""

    ref: GitRepositoryRef
    """Branch, tag, semver, name or commit to check out."""


class CommitUser(FluxModel):
    """Author of the automation's commits."""

    email: str
    """Author email."""
    name: str | None = None
    """Author name; default: empty."""


class SigningKey(FluxModel):
    """Key the automation signs its commits with."""

    secret_ref: SecretRef
    """Secret with `git.asc` [+ `passphrase`] (gpg) or `identity` [+ `password`] (ssh)."""
    type: Literal["gpg", "ssh"] | None = None
    """Key format; default `gpg`."""


_TEMPLATE_DATA = ("AutomationObject", "Changed", "Values")
_CHANGED_FIELDS = ("FileChanges", "Objects", "Changes")
_UPDATED_HINTS = {
    "Files": ".Changed.FileChanges",
    "Objects": ".Changed.Objects",
    "Images": ".Changed.Changes",
}
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|`[^`]*`|\'(?:[^\'\\\n]|\\.)*\'')
_CHAIN = re.compile(r"(\$\w*)?((?:\.[A-Za-z_]\w*)+)")
_BLOCKS = ("if", "range", "with", "define", "block")


def _actions(template: str) -> Iterator[str]:
    """The bodies of the `{{ }}` actions of a Go template, comments skipped."""
    i = 0
    while (start := template.find("{{", i)) >= 0:
        j = start + 2
        if re.match(r"-\s", template[j : j + 2]):
            j += 2
        if template.startswith("/*", j):
            close = template.find("*/", j + 2)
            end = template.find("}}", close) if close >= 0 else -1
            if end < 0:
                raise ValueError("has an unclosed comment '{{/*'")
            i = end + 2
            continue
        k = j
        while True:
            if k >= len(template):
                raise ValueError(f"has an unclosed action {template[start : start + 20]!r}")
            if template.startswith("}}", k):
                break
            m = _STRING.match(template, k)
            k = m.end() if m else k + 1
        body = template[j:k]
        if body.endswith((" -", "\t-", "\n-")):
            body = body[:-2]
        yield body
        i = k + 2


def _check_chain(chain: str) -> None:
    fields = chain.split(".")[1:]
    top = fields[0]
    if top == "Updated":
        hint = _UPDATED_HINTS.get(fields[1]) if len(fields) > 1 else None
        use = f"use {hint!r}" if hint else "use '.Changed'"
        raise ValueError(
            f"uses {chain!r}: '.Updated' was removed in Flux 2.7 and Flux stalls automations "
            f"whose template uses it (RemovedTemplateField); {use}"
        )
    if top not in _TEMPLATE_DATA:
        raise ValueError(
            f"uses {chain!r}, which is not template data "
            "(available: .AutomationObject, .Changed, .Values)"
        )
    if top == "Changed" and len(fields) > 1 and fields[1] not in _CHANGED_FIELDS:
        instead = (
            "the field was removed; use '.Changed.FileChanges' or '.Changed.Objects'"
            if fields[1] == "ImageResult"
            else "available: .Changed.FileChanges, .Changed.Objects, .Changed.Changes"
        )
        raise ValueError(f"uses {chain!r}: {instead}")


def check_message_template(template: str) -> str:
    """Check a commit message template's actions and the data it reads from the root.

    The root data is `.AutomationObject`, `.Changed` and `.Values`; inside `range`/`with`
    the dot is rebound, so only `$.Field` is checked there.
    """
    stack: list[tuple[str, bool]] = []  # (block keyword, whether the dot is rebound inside)

    def check(pipeline: str) -> None:
        dot_is_root = not any(rebound for _, rebound in stack)
        dollar_is_root = not any(kw in ("define", "block") for kw, _ in stack)
        for m in _CHAIN.finditer(pipeline):
            if m.start() and re.match(r"[\w.)\]]", pipeline[m.start() - 1]):
                continue  # a field of a parenthesised or indexed value, or a number
            variable, chain = m.group(1), m.group(2)
            if (variable is None and dot_is_root) or (variable == "$" and dollar_is_root):
                _check_chain(chain)

    for body in _actions(template):
        code = _STRING.sub('""', body.strip())
        words = code.split(None, 1)
        keyword = words[0] if words else ""
        rest = words[1] if len(words) > 1 else ""
        if keyword in _BLOCKS:
            check(rest if keyword != "define" else "")
            stack.append((keyword, keyword != "if"))
        elif keyword == "else":
            if not stack or stack[-1][0] not in ("if", "range", "with"):
                raise ValueError("has an {{else}} outside {{if}}, {{range}} or {{with}}")
            opened, _ = stack.pop()
            inner = rest.split(None, 1)
            check(inner[1] if len(inner) > 1 else "")
            stack.append((opened, bool(inner) and inner[0] == "with"))
        elif keyword == "end":
            if not stack:
                raise ValueError("has an {{end}} without an opening {{if}}, {{range}} or {{with}}")
            stack.pop()
        else:
            check(code)
    if stack:
        raise ValueError(f"has a {{{{{stack[-1][0]}}}}} without its {{{{end}}}}")
    return template


class CommitSpec(FluxModel):
    """How the automation commits."""

    author: CommitUser
    """Commit author; the email is required."""
    signing_key: SigningKey | None = None
    """Sign commits with this key; default: unsigned."""
    message_template: Annotated[str, AfterValidator(check_message_template)] | None = None
    """Go template of the message; default `Update from image update automation`."""
    message_template_values: dict[str, str] | None = None
    """Extra values for the template, as `.Values`."""


class PushSpec(FluxModel):
    """Where the automation pushes its commits."""

    branch: str | None = None
    """Branch to push to, created from the checkout branch; default: the checkout branch."""
    refspec: str | None = None
    """Refspec to push as well, e.g. `refs/heads/main:refs/heads/auto`."""
    options: dict[str, str] | None = None
    """Git push options, e.g. `{'merge_request.create': ''}`."""


class GitSpec(FluxModel):
    """Git checkout, commit and push settings of an automation."""

    checkout: GitCheckoutSpec | None = None
    """What to clone; default: the GitRepository's `spec.ref`."""
    commit: CommitSpec
    """How to commit."""
    push: PushSpec | None = None
    """Where to push; default: back to the checkout branch."""


class UpdateStrategy(FluxModel):
    """How files are updated."""

    strategy: Literal["Setters"] | None = None
    """Only `Setters` (`# {"$imagepolicy": "ns:name"}` marker comments), the default."""
    path: str | None = None
    """Directory of the manifests to update; default: the repository root."""


class ImageUpdateAutomationSpec(FluxModel):
    """Spec of an ImageUpdateAutomation."""

    source_ref: AutomationSourceRef
    """The GitRepository to update."""
    git: GitSpec
    """Checkout, commit and push settings (optional in the CRD, required by the controller)."""
    interval: Duration
    """How often to run the automation at most."""
    update: UpdateStrategy | None = None
    """How to update files; default `{strategy: Setters}` over the whole repository."""
    policy_selector: LabelSelector | None = None
    """Which ImagePolicies to apply; default: every policy in the namespace."""
    suspend: bool | None = None
    """Stop running the automation; default false."""


class ImageUpdateAutomation(FluxObject):
    """Writes the latest images picked by ImagePolicies back into a Git repository."""

    api_version = API_VERSION
    kind = "ImageUpdateAutomation"
    removed_versions = REMOVED_VERSIONS

    spec: ImageUpdateAutomationSpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...
