"""image.toolkit.fluxcd.io/v1: image scanning and automated image updates.

ImageRepository (scan a registry), ImagePolicy (pick the latest tag) and
ImageUpdateAutomation (commit the picked tags back to Git).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

import pydantic
from pydantic import AfterValidator

from gitops_sdk.api.image_refs import ImageName
from gitops_sdk.api.source import NamespaceSelector
from gitops_sdk.core.base import FluxModel, Invalid
from gitops_sdk.core.errors import MISSING
from gitops_sdk.core.fields import (
    Duration,
    GoPattern,
    GoRegex,
    Name,
    Namespace,
    SemverRange,
    ShortDuration,
    re_compile_go,
)
from gitops_sdk.core.model import FILLED, FluxObject, LabelSelector, LabelSelectorRequirement
from gitops_sdk.core.refs import ObjectRef, SecretRef

__all__ = [
    "API_VERSION",
    "AlphabeticalPolicy",
    "ImageName",
    "ImagePolicy",
    "ImagePolicyChoice",
    "ImagePolicySpec",
    "ImageRepository",
    "ImageRepositoryAccessFrom",
    "ImageRepositoryRef",
    "ImageRepositorySpec",
    "LabelSelector",
    "LabelSelectorRequirement",
    "NumericalPolicy",
    "SemVerPolicy",
    "TagFilter",
    "TagPolicy",
]

API_VERSION = "image.toolkit.fluxcd.io/v1"
REMOVED_VERSIONS = {"v1beta1": "Flux 2.7", "v1beta2": "Flux 2.9"}


# --- ImageRepository -----------------------------------------------------------------------------


def _check_exclusion_list(value: list[str]) -> list[str]:
    if len(value) > 25:
        raise ValueError(f"has {len(value)} entries; Flux allows at most 25")
    return value


class ImageRepositoryAccessFrom(FluxModel):
    """Namespaces whose ImagePolicies may refer to this ImageRepository."""

    namespace_selectors: list[NamespaceSelector]
    """Selectors of allowed namespaces, ORed; an empty matchLabels matches every namespace."""


class ImageRepositorySpec(FluxModel):
    """Spec of an ImageRepository."""

    image: ImageName
    """Image repository to scan, without tag or digest, e.g. `ghcr.io/org/app` or `nginx`."""
    interval: Duration
    """How often to scan the registry for tags."""
    timeout: ShortDuration | None = None
    """Timeout of one scan (no hours); default: the interval."""
    secret_ref: SecretRef | None = None
    """Registry credentials: a `kubernetes.io/dockerconfigjson` Secret."""
    cert_secret_ref: SecretRef | None = None
    """TLS material: `tls.crt`/`tls.key` client certificate and/or `ca.crt`."""
    proxy_secret_ref: SecretRef | None = None
    """Proxy settings: keys `address`, `username`, `password`."""
    service_account_name: Annotated[str, pydantic.Field(max_length=253)] | None = None
    """Service account whose image pull secrets (or workload identity) authenticate the scan."""
    provider: Literal["generic", "aws", "azure", "gcp"] | None = None
    """Authentication provider; default `generic`."""
    insecure: bool | None = None
    """Allow a plain-HTTP (non-TLS) registry; default false."""
    exclusion_list: Annotated[list[GoRegex], AfterValidator(_check_exclusion_list)] | None = None
    """Go regexps of tags not to store (at most 25); default `['^.*\\.sig$']` (cosign tags)."""
    access_from: ImageRepositoryAccessFrom | None = None
    """Namespaces whose ImagePolicies may refer to this repository; default: own namespace."""
    suspend: bool | None = None
    """Stop scanning; default false."""


class ImageRepository(FluxObject):
    """A container image repository whose tags Flux scans."""

    api_version = API_VERSION
    kind = "ImageRepository"
    removed_versions = REMOVED_VERSIONS

    spec: ImageRepositorySpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...


# --- ImagePolicy ---------------------------------------------------------------------------------


class ImageRepositoryRef(ObjectRef):
    """The ImageRepository an ImagePolicy selects from; built from a name or the object."""

    expected_kinds = ("ImageRepository",)
    name: Name
    """Name of the ImageRepository."""
    namespace: Namespace | None = None
    """Its namespace; default: the policy's (another needs the repository's accessFrom)."""


class SemVerPolicy(FluxModel):
    """Select the highest tag within a semver range."""

    range: SemverRange
    """Semver range, e.g. `^1.21.x`, `>=1.0.0 <2.0.0`, `^1.x-0` (pre-releases)."""


class AlphabeticalPolicy(FluxModel):
    """Select the last (or first) tag in alphabetical order."""

    order: Literal["asc", "desc"] | None = None
    """`asc` selects the last tag (Z), `desc` the first (A); default `asc`."""


class NumericalPolicy(FluxModel):
    """Select the highest (or lowest) tag read as a number."""

    order: Literal["asc", "desc"] | None = None
    """`asc` selects the highest number, `desc` the lowest; default `asc`."""


_POLICY_KINDS = ("semver", "alphabetical", "numerical")


class ImagePolicyChoice(FluxModel):
    """How tags are ordered: exactly one of semver, alphabetical or numerical.

    Build one with the `TagPolicy` factories: `TagPolicy.semver("^1.21.x")`.
    """

    semver: SemVerPolicy | None = None
    """Select the highest tag in a semver range."""
    alphabetical: AlphabeticalPolicy | None = None
    """Select by alphabetical order (e.g. timestamp tags)."""
    numerical: NumericalPolicy | None = None
    """Select by numerical order (e.g. build numbers)."""

    @pydantic.model_validator(mode="after")
    def _exactly_one(self) -> Self:
        chosen = [k for k in _POLICY_KINDS if getattr(self, k) is not None]
        if len(chosen) != 1:
            found = f"found {' and '.join(chosen)}" if chosen else "none is set"
            raise ValueError(
                f"exactly one of semver, alphabetical or numerical must be set; {found}"
            )
        return self


class TagPolicy:
    """Factories for ImagePolicy's `policy`: `TagPolicy.semver("^1.21.x")`."""

    @staticmethod
    def semver(range: str) -> ImagePolicyChoice:
        """Select the highest tag within the semver `range`."""
        return ImagePolicyChoice(semver=SemVerPolicy(range=range))

    @staticmethod
    def alphabetical(order: Literal["asc", "desc"] = "asc") -> ImagePolicyChoice:
        """Select by alphabetical order; `asc` picks the last tag."""
        return ImagePolicyChoice(alphabetical=AlphabeticalPolicy(order=order))

    @staticmethod
    def numerical(order: Literal["asc", "desc"] = "asc") -> ImagePolicyChoice:
        """Select by numerical order; `asc` picks the highest number."""
        return ImagePolicyChoice(numerical=NumericalPolicy(order=order))


_NAME_CHAR = re.compile(r"\w*")
_DIGITS = re.compile(r"[0-9]+")


def _expand_refs(template: str) -> Iterator[str]:
    """The group names or numbers Go's Regexp.Expand would read from `template`."""
    i = 0
    while (j := template.find("$", i)) >= 0:
        rest = template[j + 1 :]
        if rest.startswith("$"):  # `$$` is a literal dollar
            i = j + 2
            continue
        brace = rest.startswith("{")
        m = _NAME_CHAR.match(rest, int(brace))
        name = m.group() if m else ""
        end = int(brace) + len(name)
        if not name or (brace and not rest.startswith("}", end)):
            i = j + 1  # malformed: Go keeps the `$` as text
            continue
        yield name
        i = j + 1 + end + int(brace)


def _describe_groups(pattern: GoPattern) -> str:
    if not pattern.groups:
        return "the pattern has no groups; only $0 (the whole match) is available"
    names = {index: name for name, index in pattern.groupindex.items()}
    groups = [
        f"${names[i]} (${i})" if i in names else f"${i}" for i in range(1, pattern.groups + 1)
    ]
    return "the pattern's groups: " + ", ".join(groups)


class TagFilter(FluxModel):
    """Which tags the policy considers, and what part of each it compares."""

    pattern: GoRegex | None = None
    """Go regexp a tag must match, named groups allowed; default: every tag."""
    extract: str | None = None
    """What to compare instead of the whole tag, e.g. `$ts` or `${1}`; default: the tag."""

    @pydantic.model_validator(mode="after")
    def _extract_uses_pattern_groups(self) -> Self:
        if self.extract is None:
            return self
        if self.pattern is None:
            raise Invalid("extract", self.extract, "needs a pattern whose groups it refers to")
        compiled = re_compile_go(self.pattern)
        for ref in _expand_refs(self.extract):
            if _DIGITS.fullmatch(ref):
                defined = int(ref) <= compiled.groups
            else:
                defined = ref in compiled.groupindex
            if not defined:
                raise Invalid(
                    "extract",
                    self.extract,
                    f"refers to group {ref!r}, which the pattern does not define; "
                    + _describe_groups(compiled),
                )
        return self


class ImagePolicySpec(FluxModel):
    """Spec of an ImagePolicy."""

    image_repository_ref: ImageRepositoryRef
    """The ImageRepository whose tags are considered."""
    policy: ImagePolicyChoice
    """How to pick the latest tag: exactly one of semver, alphabetical, numerical."""
    filter_tags: TagFilter | None = None
    """Tag filter and extraction applied before ordering; default: all tags as they are."""
    digest_reflection_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    """When to record the picked image's digest in status; default `Never`."""
    interval: Duration | None = None
    """How often to refresh the digest; only (and then required) with `Always`; default `10m`."""
    suspend: bool | None = None
    """Stop reconciling; default false."""

    @pydantic.model_validator(mode="after")
    def _interval_with_always(self) -> Self:
        always = self.digest_reflection_policy == "Always"
        if self.interval is not None and not always:
            raise Invalid(
                "interval",
                self.interval,
                "is only accepted when digestReflectionPolicy is 'Always'",
            )
        if always and self.interval is None:
            raise Invalid(
                "interval",
                MISSING,
                "must be set when digestReflectionPolicy is 'Always' (how often to refresh "
                "the digest)",
            )
        return self


class ImagePolicy(FluxObject):
    """A rule picking the latest image tag from an ImageRepository."""

    api_version = API_VERSION
    kind = "ImagePolicy"
    removed_versions = REMOVED_VERSIONS

    spec: ImagePolicySpec = FILLED

    if TYPE_CHECKING:  # the flat form, `Kind(name=..., **spec)`; see FluxObject

        def __init__(self, /, **data: Any) -> None: ...
