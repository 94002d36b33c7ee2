"""Image update automation: scan an image, pick its newest tag, commit it back to Git.

Two halves that must agree:

* `ImageAutomation`, a Pulumi component registering, per image, an `ImageRepository` and an
  `ImagePolicy`, and one `ImageUpdateAutomation` that commits the picked tags to the
  GitRepository it is given (which must be able to push: see `GitWriteAccess`).
* Setter markers, the `# {"$imagepolicy": "ns:name"}` line comments that tell the automation
  which YAML lines to rewrite. `mark_file` inserts them, `check_paths` verifies that every line
  using a tracked image carries one. Both edit or read lines, never re-serialise YAML, so
  comments, blank lines and formatting survive byte for byte.

```python
ImageAutomation(
    "apps",
    ImageAutomationArgs(
        images={"nginx": ImageArgs(image="nginx", policy=TagPolicy.semver("^1.21.x"),
                                   filter_tags=r"^(?P<ts>.*)-alpine$", extract="$ts")},
        update=UpdateArgs(push_branch="main", path="./apps"),
    ),
    source=git_source,
)
mark_file(Path("apps/demo-app/base/deployment.yaml"), "flux-system:nginx", image="nginx")
```
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Self, runtime_checkable

import pulumi
import pydantic
import yaml
from pydantic import AfterValidator

from gitops_sdk.api.image import (
    CommitUser,
    ImageName,
    ImagePolicy,
    ImagePolicyChoice,
    ImageRepository,
    ImageUpdateAutomation,
    SigningKey,
    TagFilter,
    check_message_template,
)
from gitops_sdk.api.source import GitRepository
from gitops_sdk.components.resource import FluxResource
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import ConfigError, FieldIssue, GitopsError, SpecError
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
    "MARKER_FIELDS",
    "GitWriteAccess",
    "ImageArgs",
    "ImageAutomation",
    "ImageAutomationArgs",
    "ImageUse",
    "MarkResult",
    "MarkerField",
    "MarkerProblem",
    "PolicyKey",
    "SetterMarker",
    "SetterMarkerError",
    "UpdateArgs",
    "check_paths",
    "check_text",
    "discover_policies",
    "find_image_uses",
    "image_automation_objects",
    "mark_file",
    "mark_text",
    "policies_from_config",
    "setter_marker",
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
    """A file cannot be marked: no such image, an ambiguous image, or a conflicting comment."""


# --- typed arguments -----------------------------------------------------------------------------


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


class ImageAutomationArgs(FluxModel):
    """Everything `ImageAutomation` renders; also the shape of the `gitops:automation` key."""

    namespace: Namespace = "flux-system"
    """Namespace of the ImageRepositories, ImagePolicies and the ImageUpdateAutomation."""
    images: Annotated[dict[Name, ImageArgs], pydantic.Field(min_length=1)]
    """Images by name; the name is that of its ImageRepository and ImagePolicy."""
    update: UpdateArgs = UpdateArgs()
    """How new tags are committed."""

    def policy_keys(self) -> dict[PolicyKey, str]:
        """Each policy's marker key with the image it tracks."""
        return {PolicyKey(self.namespace, name): a.image for name, a in self.images.items()}


# --- where the automation pushes -------------------------------------------------------------


@runtime_checkable
class GitWriteAccess(Protocol):
    """What a source object tells the automation about its credential.

    `ImageAutomation` rejects the source when any says read-only: `writable=False` passed to
    it; the `deploy_key_read_only`
    attribute of the object passed as `source` (a source component backed by a deploy key sets
    it from the key); the `read_only` attribute of `source.deploy_key` or of the `deploy_key`
    argument (e.g. a `github.DeployKey`, whose `read_only` is known at program time). A
    read-only answer fails at program time instead of at the automation's first push; with
    no answer the source is taken as writable.
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
    name: str,
    args: ImageAutomationArgs,
    *,
    source: Any = None,
    deploy_key: Any = None,
    writable: bool | None = None,
) -> tuple[dict[str, ImageRepository], dict[str, ImagePolicy], ImageUpdateAutomation | None]:
    """The validated Flux objects `ImageAutomation` registers (pure: no Pulumi needed).

    `source` is the GitRepository the automation commits to: the model, its `FluxResource`,
    a `GitSource`, or any object with `__flux_ref__`; `deploy_key` and `writable` say whether
    its credential can push (see `GitWriteAccess`).
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
    return repositories, policies, _update_automation(name, args, source, deploy_key, writable)


def _update_automation(
    name: str, args: ImageAutomationArgs, source: Any, deploy_key: Any, writable: bool | None
) -> ImageUpdateAutomation:
    update = args.update

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
    if _read_only(source, deploy_key, writable):
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

    Pass `source` (the GitRepository, its FluxResource or a GitSource) the automation pushes
    to; a read-only credential (see `GitWriteAccess`: `writable=False`, the source's
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
        *,
        source: Any = None,
        deploy_key: Any = None,
        writable: bool | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        repositories, policies, automation = image_automation_objects(
            name, args, source=source, deploy_key=deploy_key, writable=writable
        )
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
                resolve={id(repo): self.repositories[key]},
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


# --- setter markers ----------------------------------------------------------------------------

MarkerField = Literal["tag", "name", "digest"]
"""Which part of the image a marker writes; `None` (no field) writes the whole reference."""

MARKER_FIELDS: tuple[MarkerField, ...] = ("tag", "name", "digest")
"""The fields a marker may name after the policy (`ns:name:tag`)."""


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


def setter_marker(policy: Any, field: MarkerField | None = None) -> str:
    """The marker comment, e.g. `# {"$imagepolicy": "flux-system:podinfo:tag"}`."""
    key = str(PolicyKey.of(policy))
    if field is not None:
        key += f":{field}"
    return "# " + json.dumps({"$imagepolicy": key})


@dataclass(frozen=True)
class SetterMarker:
    """A parsed `# {"$imagepolicy": "ns:name[:field]"}` comment."""

    policy: PolicyKey
    """The ImagePolicy it names."""
    field: MarkerField | None
    """The part of the image it writes; None for the whole reference."""

    def text(self) -> str:
        """The marker as a comment."""
        return setter_marker(self.policy, self.field)


def _parse_marker(comment: str) -> SetterMarker | str | None:
    """A marker from a comment's text (after `#`); an error text if malformed; None if none."""
    if "$imagepolicy" not in comment:
        return None
    try:
        data = json.loads(comment.strip())
    except json.JSONDecodeError:
        return 'malformed setter marker: expected # {"$imagepolicy": "namespace:name"}'
    value = data.get("$imagepolicy") if isinstance(data, dict) else None
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in MARKER_FIELDS):
        return (
            f"malformed setter marker {comment.strip()!r}: expected 'namespace:name' "
            "optionally followed by ':tag', ':name' or ':digest'"
        )
    try:
        key = PolicyKey.parse(f"{parts[0]}:{parts[1]}")
    except SetterMarkerError as err:
        return str(err)
    field: MarkerField | None = parts[2] if len(parts) == 3 else None  # type: ignore[assignment]
    return SetterMarker(key, field)


@dataclass(frozen=True)
class ImageUse:
    """A YAML line that sets (part of) an image reference."""

    line: int
    """1-based line number."""
    field: MarkerField | None
    """Which part the line holds: None for a whole reference (`image: nginx:1.21`)."""
    image: str
    """The image repository the line belongs to, as written."""
    value: str
    """The line's scalar value, unquoted."""
    marker: SetterMarker | None
    """The setter marker on the line, if any."""
    comment: str | None
    """Another comment on the line (not a marker), if any."""


# One line of YAML as far as markers care: where its key starts, its scalar value, comment.
@dataclass
class _Line:
    index: int
    col: int
    dash_col: int | None
    key: str | None
    value: str
    quoted: bool
    comment_at: int | None
    block: bool


_KEY = re.compile(r"""(?P<key>"[^"]*"|'[^']*'|[^\s#'"{}\[\],&*!|>%@`][^#]*?)\s*:(?=\s|$)""")
_BLOCK = re.compile(r"^[|>][1-9+-]{0,2}$")
_DOC_SEP = re.compile(r"^(---|\.\.\.)(\s|$)")


def _split_comment(text: str) -> tuple[str, bool, int | None]:
    """(value, quoted, index of the comment's `#`) of the text after a `key:`."""
    i = len(text) - len(text.lstrip(" \t"))
    quoted = False
    if i < len(text) and text[i] in "\"'":
        quote = text[i]
        j = i + 1
        while j < len(text):
            if quote == '"' and text[j] == "\\":
                j += 2
                continue
            if text[j] == quote:
                if quote == "'" and text[j + 1 : j + 2] == "'":
                    j += 2
                    continue
                break
            j += 1
        value, quoted, search_from = text[i + 1 : j], True, j + 1
    else:
        value, search_from = "", i
    for k in range(search_from, len(text)):
        if text[k] == "#" and (k == 0 or text[k - 1] in " \t"):
            if not quoted:
                value = text[i:k].strip()
            return value, quoted, k
    if not quoted:
        value = text[i:].strip()
    return value, quoted, None


def _parse_line(index: int, line: str) -> _Line | None:
    stripped = line.lstrip(" ")
    if not stripped or stripped.startswith("#"):
        return None
    col = len(line) - len(stripped)
    dash_col = None
    rest = stripped
    while rest == "-" or rest.startswith(("- ", "-\t")):
        dash_col = col
        if rest == "-":
            return _Line(index, col + 1, dash_col, None, "", False, None, False)
        step = 1 + len(rest[1:]) - len(rest[1:].lstrip(" \t"))
        col += step
        rest = rest[step:]
    m = _KEY.match(rest)
    if not m:
        value, quoted, at = _split_comment(rest)
        block = not quoted and bool(_BLOCK.match(value))
        comment_at = col + at if at is not None else None
        return _Line(index, col, dash_col, None, value, quoted, comment_at, block)
    key = m["key"]
    if key[:1] in "\"'":
        key = key[1:-1]
    start = col + m.end()
    value, quoted, at = _split_comment(line[start:])
    block = not quoted and bool(_BLOCK.match(value))
    return _Line(
        index, col, dash_col, key, value, quoted, start + at if at is not None else None, block
    )


@dataclass
class _Map:
    col: int
    parent: str | None
    keys: dict[str, _Line] = field(default_factory=dict)
    open_key: str | None = None


@dataclass
class _Scan:
    uses: list[ImageUse]
    # Every line with a `$imagepolicy` comment: line index -> marker or error text.
    markers: dict[int, SetterMarker | str]
    lines: list[str]


def _split_lines(text: str) -> list[str]:
    return text.split("\n")


def _documents(lines: list[str]) -> Iterator[list[int]]:
    doc: list[int] = []
    for i, line in enumerate(lines):
        if _DOC_SEP.match(line):
            yield doc
            doc = []
        else:
            doc.append(i)
    yield doc


def _strip_cr(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line


def _scan(text: str) -> _Scan:
    lines = _split_lines(text)
    uses: list[ImageUse] = []
    markers: dict[int, SetterMarker | str] = {}
    for doc in _documents(lines):
        parsed: list[_Line] = []
        block_deeper_than: int | None = None
        for i in doc:
            raw = _strip_cr(lines[i])
            if block_deeper_than is not None:
                indent = len(raw) - len(raw.lstrip(" "))
                if not raw.strip() or indent > block_deeper_than:
                    continue
                block_deeper_than = None
            pl = _parse_line(i, raw)
            if pl is None:
                continue
            if pl.comment_at is not None:
                found = _parse_marker(raw[pl.comment_at + 1 :])
                if found is not None:
                    markers[i] = found
            if pl.block:
                # Block scalar content is indented deeper than its key (or its list dash).
                if pl.key is not None:
                    block_deeper_than = pl.col
                else:
                    block_deeper_than = pl.dash_col if pl.dash_col is not None else -1
            parsed.append(pl)
        kind = next(
            (p.value for p in parsed if p.key == "kind" and p.col == 0 and p.dash_col is None),
            None,
        )
        if kind in ("ImageRepository", "ImagePolicy"):
            continue  # their `image:` names what is scanned, not what is deployed
        uses.extend(_uses_in(_mappings(parsed), lines, markers))
    uses.sort(key=lambda u: u.line)
    return _Scan(uses, markers, lines)


def _mappings(parsed: list[_Line]) -> list[_Map]:
    stack: list[_Map] = []
    out: list[_Map] = []
    for pl in parsed:
        if pl.key is None:
            # A bare `-` or a scalar list item ends the mappings nested below its dash.
            limit = pl.dash_col if pl.dash_col is not None else pl.col
            while stack and stack[-1].col > limit:
                stack.pop()
            continue
        c = pl.col
        if pl.dash_col is not None:
            while stack and stack[-1].col >= c:
                stack.pop()
        else:
            while stack and stack[-1].col > c:
                stack.pop()
        if stack and stack[-1].col == c and pl.dash_col is None:
            current = stack[-1]
        else:
            parent = stack[-1].open_key if stack else None
            current = _Map(c, parent)
            stack.append(current)
            out.append(current)
        current.keys.setdefault(pl.key, pl)
        current.open_key = pl.key if not pl.value and not pl.block else None
    return out


def _split_ref(value: str) -> tuple[str, str | None, str | None] | None:
    """(repository, tag, digest) of an image reference, or None if it is not one."""
    if not value or any(c.isspace() for c in value) or value[0] in "{[":
        return None
    rest, _, digest = value.partition("@")
    head, slash, last = rest.rpartition("/")
    tag = None
    if ":" in last:
        last, _, tag = last.partition(":")
    repo = head + slash + last
    if not repo or repo.endswith("/"):
        return None
    return repo, tag, digest or None


def _canonical(image: str) -> str:
    out = image.lower()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if out.startswith(prefix):
            out = out[len(prefix) :]
            break
    if out.startswith("library/") and out.count("/") == 1:
        out = out[len("library/") :]
    return out


def _uses_in(
    maps: list[_Map], lines: list[str], markers: dict[int, SetterMarker | str]
) -> list[ImageUse]:
    out: list[ImageUse] = []

    def use(pl: _Line, fld: MarkerField | None, image: str) -> None:
        found = markers.get(pl.index)
        comment = None
        if pl.comment_at is not None and found is None:
            comment = _strip_cr(lines[pl.index])[pl.comment_at :]
        marker = found if isinstance(found, SetterMarker) else None
        out.append(ImageUse(pl.index + 1, fld, image, pl.value, marker, comment))

    for m in maps:
        whole = m.keys.get("image")
        if whole is not None and whole.value and not whole.block:
            ref = _split_ref(whole.value)
            if ref is not None:
                use(whole, None, ref[0])
        if m.parent == "images" and "name" in m.keys:
            new_name = m.keys.get("newName")
            image = (new_name or m.keys["name"]).value
            if _split_ref(image) is not None:
                for key, fld in (("newName", "name"), ("newTag", "tag"), ("digest", "digest")):
                    if (pl := m.keys.get(key)) is not None and pl.value:
                        use(pl, fld, image)  # type: ignore[arg-type]
        if m.parent == "image" and "repository" in m.keys:
            image = m.keys["repository"].value
            if image and _split_ref(image) is not None:
                for key, fld in (("repository", "name"), ("tag", "tag"), ("digest", "digest")):
                    if (pl := m.keys.get(key)) is not None and pl.value:
                        use(pl, fld, image)  # type: ignore[arg-type]
    return out


def find_image_uses(text: str) -> list[ImageUse]:
    """Every line of `text` that sets an image or a part of one, in line order.

    Recognised: `image: repo:tag` anywhere (Pods, Deployments, Helm values), kustomize
    `images:` entries (`newName` -> `:name`, `newTag` -> `:tag`, `digest` -> `:digest`) and
    Helm-style `image: {repository, tag, digest}` blocks. ImageRepository and ImagePolicy
    documents and block scalars are skipped.
    """
    return _scan(text).uses


@dataclass(frozen=True)
class MarkResult:
    """What `mark_text` did."""

    text: str
    """The new text (equal to the input when nothing changed)."""
    marked: list[int]
    """Lines (1-based) that got a marker."""
    unchanged: list[int]
    """Lines that already had the right marker."""

    @property
    def changed(self) -> bool:
        """Whether any line was marked."""
        return bool(self.marked)


def _describe(fld: MarkerField | None) -> str:
    return "the whole reference (no field)" if fld is None else f"':{fld}'"


def mark_text(
    text: str,
    policy: Any,
    *,
    image: str | None = None,
    field: MarkerField | None = None,
    replace: bool = False,
    source: str = "<text>",
) -> MarkResult:
    """Add the policy's setter marker to every line of `text` where `image` is used.

    Each line gets the marker its kind takes (`image:` the whole reference, `newTag:`/`tag:`
    `:tag`, `newName:`/`repository:` `:name`, `digest:` `:digest`); `field` limits marking to
    lines of that kind. Without `image`, the one image the text uses is taken. Idempotent:
    lines already carrying the marker are left alone. A line with another policy's marker is
    an error unless `replace`; a line with any other comment is always an error, since the
    marker must be the line's only comment.
    """
    key = PolicyKey.of(policy)
    scan = _scan(text)
    images = sorted({u.image for u in scan.uses}, key=_canonical)
    if image is None:
        distinct = sorted({_canonical(i) for i in images})
        if not distinct:
            raise SetterMarkerError(f"{source}: uses no image, so there is nothing to mark")
        if len(distinct) > 1:
            raise SetterMarkerError(
                f"{source}: uses several images ({', '.join(distinct)}); say which one "
                f"policy {key} tracks (--image)"
            )
        image = distinct[0]
    wanted = _canonical(image)
    uses = [u for u in scan.uses if _canonical(u.image) == wanted]
    if not uses:
        found = ", ".join(sorted({_canonical(i) for i in images})) or "none"
        raise SetterMarkerError(f"{source}: does not use image {image!r} (images used: {found})")
    if field is not None:
        kinds = sorted({_describe(u.field) for u in uses})
        uses = [u for u in uses if u.field == field]
        if not uses:
            raise SetterMarkerError(
                f"{source}: no line holds the {field} of {image!r}; its lines take "
                f"{', '.join(kinds)} (omit --field to mark each line with the field it takes)"
            )
    problems = []
    lines = list(scan.lines)
    marked: list[int] = []
    unchanged: list[int] = []
    for u in uses:
        want = SetterMarker(key, u.field)
        raw = lines[u.line - 1]
        cr = "\r" if raw.endswith("\r") else ""
        body = _strip_cr(raw)
        if u.marker == want:
            unchanged.append(u.line)
            continue
        if u.comment is not None:
            problems.append(
                f"{source}:{u.line}: has the comment {u.comment.strip()!r}; the setter marker "
                "must be the line's only comment: move that comment to its own line"
            )
            continue
        if u.marker is not None and not replace:
            problems.append(
                f"{source}:{u.line}: already has {u.marker.text()!r}; pass replace=True "
                "(--replace) to change it"
            )
            continue
        if u.line - 1 in scan.markers and u.marker is None and not replace:
            problems.append(f"{source}:{u.line}: {scan.markers[u.line - 1]}")
            continue
        pl = _parse_line(u.line - 1, body)
        assert pl is not None
        content = body[: pl.comment_at] if pl.comment_at is not None else body
        lines[u.line - 1] = content.rstrip(" \t") + " " + want.text() + cr
        marked.append(u.line)
    if problems:
        raise SetterMarkerError("; ".join(problems))
    return MarkResult("\n".join(lines), marked, unchanged)


def mark_file(
    path: Path,
    policy: Any,
    *,
    image: str | None = None,
    field: MarkerField | None = None,
    replace: bool = False,
    write: bool = True,
) -> MarkResult:
    """`mark_text` on a file, written back only when a line changed (and `write`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SetterMarkerError(f"{path}: cannot read: {err.strerror}") from None
    result = mark_text(text, policy, image=image, field=field, replace=replace, source=str(path))
    if write and result.changed:
        path.write_text(result.text, encoding="utf-8")
    return result


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkerProblem:
    """A marker missing, misplaced or malformed, at `path:line`."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.message}"


def check_text(
    text: str, policies: Mapping[PolicyKey, str], *, source: str = "<text>"
) -> list[MarkerProblem]:
    """Problems with the setter markers of one file, given each policy's image."""
    scan = _scan(text)
    tracked: dict[str, list[PolicyKey]] = {}
    for key, image in sorted(policies.items()):
        tracked.setdefault(_canonical(image), []).append(key)
    problems: list[MarkerProblem] = []
    at_use = {u.line - 1 for u in scan.uses}
    for i, found in sorted(scan.markers.items()):
        if isinstance(found, str):
            problems.append(MarkerProblem(source, i + 1, found))
        elif i not in at_use:
            problems.append(
                MarkerProblem(
                    source,
                    i + 1,
                    f"setter marker for {found.policy} is on a line that sets no image; Flux "
                    "would overwrite this value with the image",
                )
            )
    for u in scan.uses:
        owners = tracked.get(_canonical(u.image), [])
        if u.marker is None:
            if owners and u.line - 1 not in scan.markers:
                want = setter_marker(owners[0], u.field)
                problems.append(
                    MarkerProblem(
                        source,
                        u.line,
                        f"{u.image} is tracked by ImagePolicy {owners[0]} but the line has no "
                        f"setter marker; expected {want!r}",
                    )
                )
            continue
        key = u.marker.policy
        if key not in policies:
            known = ", ".join(str(k) for k in sorted(policies)) or "none"
            problems.append(
                MarkerProblem(
                    source,
                    u.line,
                    f"setter marker names ImagePolicy {key}, which does not exist (known: {known})",
                )
            )
        elif _canonical(policies[key]) != _canonical(u.image):
            problems.append(
                MarkerProblem(
                    source,
                    u.line,
                    f"setter marker for {key} (image {policies[key]}) is on a line using {u.image}",
                )
            )
        elif u.marker.field != u.field:
            problems.append(
                MarkerProblem(
                    source,
                    u.line,
                    f"setter marker field {_describe(u.marker.field)} does not fit this line, "
                    f"which takes {_describe(u.field)}: expected "
                    f"{setter_marker(key, u.field)!r}",
                )
            )
    return problems


def _yaml_files(paths: Iterable[Path]) -> list[Path]:
    out: set[Path] = set()
    for path in paths:
        if path.is_dir():
            out.update(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            out.add(path)
        else:
            raise SetterMarkerError(f"{path}: no such file or folder")
    return sorted(out)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def discover_policies(
    paths: Iterable[Path], *, default_namespace: str = "flux-system"
) -> dict[PolicyKey, str]:
    """ImagePolicies found as YAML under `paths`, each with its ImageRepository's image."""
    images: dict[tuple[str, str], str] = {}
    refs: dict[PolicyKey, tuple[str, str]] = {}
    for file in _yaml_files(paths):
        text = _read(file)
        if text is None or ("ImagePolicy" not in text and "ImageRepository" not in text):
            continue
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            continue
        for doc in docs:
            if not isinstance(doc, dict) or not str(doc.get("apiVersion", "")).startswith(
                "image.toolkit.fluxcd.io/"
            ):
                continue
            meta = doc.get("metadata") or {}
            spec = doc.get("spec") or {}
            ns = str(meta.get("namespace") or default_namespace)
            name = str(meta.get("name"))
            if doc.get("kind") == "ImageRepository" and isinstance(spec.get("image"), str):
                images[(ns, name)] = spec["image"]
            elif doc.get("kind") == "ImagePolicy":
                ref = spec.get("imageRepositoryRef") or {}
                refs[PolicyKey(ns, name)] = (str(ref.get("namespace") or ns), str(ref.get("name")))
    return {key: images[ref] for key, ref in refs.items() if ref in images}


def policies_from_config(values: Mapping[str, Any]) -> dict[PolicyKey, str]:
    """The policies a stack's `gitops:automation` key declares (prefix-stripped config)."""
    raw = values.get("automation")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("gitops:automation must be a mapping")
    try:
        args = ImageAutomationArgs(**raw)
    except SpecError as err:
        raise ConfigError("; ".join(f"gitops:automation.{i}" for i in err.issues)) from None
    return args.policy_keys()


def check_paths(
    paths: Sequence[Path],
    policies: Mapping[PolicyKey, str] | None = None,
    *,
    default_namespace: str = "flux-system",
) -> list[MarkerProblem]:
    """Check every YAML file under `paths` against the policies given and those found there.

    Problems: a line using a tracked image without a marker, a marker naming an unknown
    policy, a marker of the wrong policy or field, a malformed marker, a marker on a line
    that sets no image, and a policy whose image no file uses.
    """
    files = _yaml_files(paths)
    known = {**discover_policies(files, default_namespace=default_namespace), **(policies or {})}
    if not known:
        raise SetterMarkerError(
            f"{', '.join(str(p) for p in paths)}: no ImagePolicy to check against; pass "
            "policies (--policy ns:name=image or --stack) or include the ImagePolicy manifests"
        )
    problems: list[MarkerProblem] = []
    marked: set[PolicyKey] = set()
    for file in files:
        text = _read(file)
        if text is None:
            continue
        problems.extend(check_text(text, known, source=str(file)))
        marked.update(u.marker.policy for u in _scan(text).uses if u.marker is not None)
    root = ", ".join(str(p) for p in paths)
    for key in sorted(set(known) - marked):
        problems.append(
            MarkerProblem(
                root,
                None,
                f"ImagePolicy {key} ({known[key]}) has no setter marker in any file, so the "
                "automation never updates it",
            )
        )
    return problems
