"""Field types shared by every model: durations, quantities, names, labels, Go regexps, semver
ranges, free-form JSON, and (from `urls`) URLs. Each is an `Annotated` type whose validators
raise ValueError with what was expected."""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Protocol

import re2  # type: ignore[import-untyped]
from pydantic import AfterValidator, BeforeValidator, JsonValue

from gitops_sdk.core.base import MAX_DEPTH, Invalid, json_problem
from gitops_sdk.core.errors import MISSING
from gitops_sdk.core.inputs import replace_outputs
from gitops_sdk.core.urls import (
    check_address,
    check_endpoint,
    check_url,
    mask_url,
    url_check,
    url_secret,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_DURATION",
    "MAX_DURATION_NS",
    "MAX_METADATA_BYTES",
    "Annotations",
    "CpuQuantity",
    "Duration",
    "FreeObject",
    "GoPattern",
    "GoRegex",
    "JsonObject",
    "Labels",
    "MemoryQuantity",
    "Name",
    "Namespace",
    "SecretKey",
    "SemverRange",
    "ShortDuration",
    "check_address",
    "check_dns_label",
    "check_dns_subdomain",
    "check_duration_range",
    "check_endpoint",
    "check_labels",
    "check_secret_key",
    "check_semver_range",
    "check_url",
    "duration_ns",
    "from_timedelta",
    "go_duration",
    "is_dns_subdomain",
    "is_secret_key",
    "mask_url",
    "quantity_value",
    "re_compile_go",
    "url_check",
    "url_secret",
]


_DURATION_H = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$")
_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$")
_DURATION_PART = re.compile(r"([0-9]+)(?:\.([0-9]+))?(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9}
_UNIT_NS.update({"m": 60 * 10**9, "h": 3600 * 10**9})

MAX_DURATION_NS = 2**63 - 1
"""The longest Go `time.Duration`, in nanoseconds: Flux (and ESO) parse durations into one."""
MAX_DURATION = "2562047h47m16.854775807s"
"""`MAX_DURATION_NS` as Go prints it (about 292 years)."""


def duration_ns(text: str) -> int:
    """Nanoseconds of a Go duration already known to be well formed (`1h30m` -> 5.4e12), the
    fractions truncated as Go does; more than `MAX_DURATION_NS` stops counting."""
    total = 0
    for whole, fraction, unit in _DURATION_PART.findall(text):
        if len(whole) > 20:  # beyond int64 whatever the unit (and int() of it may be refused)
            return MAX_DURATION_NS + 1
        scale = _UNIT_NS[unit]
        digits = fraction[:20]
        total += int(whole) * scale + (int(digits) * scale // 10 ** len(digits) if digits else 0)
        if total > MAX_DURATION_NS:
            return total
    return total


def check_duration_range(value: str) -> str:
    """`value` unless it is longer than a Go `time.Duration` can hold."""
    if duration_ns(value) > MAX_DURATION_NS:
        raise ValueError(
            f"is longer than a Go duration can be (at most {MAX_DURATION}, about 292 years)"
        )
    return value


def go_duration(value: datetime.timedelta) -> str:
    """Render a timedelta the way Go's time.Duration prints it (`1h30m0s`, `90s` -> `1m30s`)."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms <= 0:
        shorter = " (it rounds to 0ms)" if value > datetime.timedelta(0) else ""
        raise ValueError(f"duration must be positive, got {value}{shorter}")
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, ms = divmod(rest, 1000)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    if ms:
        return out + (f"{seconds}.{ms:03d}".rstrip("0") + "s" if seconds or out else f"{ms}ms")
    return out + f"{seconds}s"


def from_timedelta(value: Any) -> Any:
    """A timedelta as a Go duration; anything else unchanged (a before-validator)."""
    return go_duration(value) if isinstance(value, datetime.timedelta) else value


@functools.lru_cache(maxsize=1024)
def _check_duration(value: str) -> str:
    if not _DURATION_H.match(value):
        raise ValueError("is not a duration (expected e.g. '30s', '5m', '1h30m')")
    return check_duration_range(value)


@functools.lru_cache(maxsize=1024)
def _check_short_duration(value: str) -> str:
    if not _DURATION.match(value):
        hint = " (this field takes no hours: use e.g. '90m')" if _DURATION_H.match(value) else ""
        raise ValueError(f"is not a duration in ms, s or m (expected e.g. '30s', '5m'){hint}")
    return check_duration_range(value)


Duration = Annotated[str, BeforeValidator(from_timedelta), AfterValidator(_check_duration)]
"""A Go duration such as `1m`, `1h30m` or `500ms` (units ms, s, m, h)."""

ShortDuration = Annotated[
    str, BeforeValidator(from_timedelta), AfterValidator(_check_short_duration)
]
"""A Go duration without hours (`60s`, `5m`), as Flux's source `timeout` fields require."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_dns_subdomain(value: str, max_length: int = 253) -> bool:
    """Whether `value` is a DNS-1123 subdomain of at most `max_length` characters."""
    return len(value) <= max_length and bool(_DNS_SUBDOMAIN.match(value))


def check_dns_subdomain(value: str) -> str:
    """`value` if it is a DNS-1123 subdomain (an object name); else a ValueError saying why."""
    if not is_dns_subdomain(value):
        raise ValueError(
            "is not a DNS-1123 subdomain (expected lowercase letters, digits, '-' and '.', "
            "starting and ending alphanumeric, at most 253 characters)"
        )
    return value


def check_dns_label(value: str) -> str:
    """`value` if it is a DNS-1123 label (a namespace name); else a ValueError saying why."""
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            "is not a DNS-1123 label (expected lowercase letters, digits and '-', "
            "starting and ending alphanumeric, at most 63 characters)"
        )
    return value


_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def is_secret_key(key: str) -> bool:
    """Whether `key` may be a key of a Kubernetes Secret or ConfigMap (letters, digits, '-',
    '_', '.', at most 253 characters)."""
    return len(key) <= 253 and bool(_SECRET_KEY.match(key))


def check_secret_key(value: str) -> str:
    """`value` if it is a Secret key; else a ValueError saying why."""
    if not is_secret_key(value):
        raise ValueError("is not a Secret key (letters, digits, '-', '_' and '.')")
    return value


SecretKey = Annotated[str, AfterValidator(check_secret_key)]
"""A key of a Kubernetes Secret."""

Name = Annotated[str, AfterValidator(check_dns_subdomain)]
"""An object name: a DNS-1123 subdomain."""

Namespace = Annotated[str, AfterValidator(check_dns_label)]
"""A namespace name: a DNS-1123 label."""


def _check_go_regex(value: str) -> str:
    re_compile_go(value)
    return value


_LOOKAROUND = re.compile(r"\(\?(=|!|<=|<!)")
_BACKREF = re.compile(r"(?<!\\)\\[1-9]")


class GoPattern(Protocol):
    """What the SDK uses of a compiled Go regexp."""

    @property
    def groups(self) -> int: ...
    @property
    def groupindex(self) -> Mapping[str, int]: ...
    def search(self, text: str) -> Any: ...
    def fullmatch(self, text: str) -> Any: ...


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is ours to report, not RE2's log on stderr


@functools.lru_cache(maxsize=1024)
def re_compile_go(pattern: str) -> GoPattern:
    """Compile a Go regexp with RE2, the engine whose syntax Go's regexp package implements:
    what Flux would reject fails here, and what it accepts (`\\pL`, `\\z`, `(?i)` mid-way)
    passes."""
    # Clearer words than RE2's "invalid perl operator" for the two Perl habits it lacks.
    if _LOOKAROUND.search(pattern):
        raise ValueError("is not a Go regexp: lookaround assertions are not supported by RE2")
    if _BACKREF.search(pattern):
        raise ValueError("is not a Go regexp: backreferences are not supported by RE2")
    try:
        compiled: GoPattern = re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as err:
        detail = err.args[0] if err.args else ""
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise ValueError(f"is not a valid Go regexp: {text}") from None
    return compiled


GoRegex = Annotated[str, AfterValidator(_check_go_regex)]
"""A regular expression in Go's RE2 syntax, checked to compile."""

_SEMVER_VERSION = (
    r"v?(?:[0-9]+|[xX*])(?:\.(?:[0-9]+|[xX*]))?(?:\.(?:[0-9]+|[xX*]))?"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_SEMVER_TERM = re.compile(rf"\s*(?:!=|>=|=>|<=|=<|~>|[=><~^])?\s*{_SEMVER_VERSION}\s*")
_SEMVER_HYPHEN = re.compile(rf"\s*{_SEMVER_VERSION}\s+-\s+{_SEMVER_VERSION}\s*")


def check_semver_range(value: str) -> str:
    """Check a Masterminds/semver v3 constraint (`^1.21.x`, `>=1.0 <2.0`, `1.2 - 1.4 || 2.x`)."""
    if not value.strip():
        raise ValueError("is not a semver range (expected e.g. '^1.2.x', '>=1.0.0 <2.0.0')")
    for group in value.split("||"):
        if _SEMVER_HYPHEN.fullmatch(group):
            continue
        rest = group
        terms = 0
        while rest.strip():
            m = _SEMVER_TERM.match(rest)
            if not m or m.end() == 0:
                raise ValueError(
                    f"is not a semver range: cannot parse {rest.strip()!r} "
                    "(expected e.g. '^1.2.x', '~1.2', '>=1.0.0 <2.0.0', '1.2 - 1.4')"
                )
            rest = rest[m.end() :]
            terms += 1
            if rest.startswith(","):
                rest = rest[1:]
                if not rest.strip():
                    raise ValueError("is not a semver range: trailing ','")
        if terms == 0:
            raise ValueError("is not a semver range: empty alternative around '||'")
    return value


SemverRange = Annotated[str, AfterValidator(check_semver_range)]
"""A semver constraint in the Masterminds syntax Flux uses."""


_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def _check_label_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if prefix and not is_dns_subdomain(prefix):
        raise ValueError(f"key {key!r} has a prefix that is not a DNS-1123 subdomain")
    if len(name) > 63 or not _LABEL_NAME.match(name):
        raise ValueError(
            f"key {key!r} is not a valid label/annotation name "
            "(expected alphanumerics, '-', '_', '.', at most 63 characters)"
        )


MAX_METADATA_BYTES = 256 * 1024
"""The API server's limit on an object's annotations, keys and values together (256 KiB)."""


def _check_total_size(value: dict[str, str], what: str) -> None:
    # Bytes as the API server counts them: UTF-8 (a lone surrogate counts, and fails later).
    total = sum(
        len(k.encode("utf-8", "surrogatepass")) + len(v.encode("utf-8", "surrogatepass"))
        for k, v in value.items()
        if isinstance(v, str)
    )
    if total > MAX_METADATA_BYTES:
        raise Invalid(
            "",
            MISSING,
            f"are {total} bytes of keys and values; Kubernetes allows {what} of at most "
            f"{MAX_METADATA_BYTES} bytes (256 KiB) in all",
        )


def check_labels(value: dict[str, str]) -> dict[str, str]:
    """`value` if its keys and values are valid Kubernetes labels; else a ValueError saying why."""
    _check_total_size(value, "labels")
    for key, val in value.items():
        _check_label_key(key)
        if val and (len(val) > 63 or not _LABEL_NAME.match(val)):
            raise ValueError(
                f"value {val!r} of label {key!r} is not a valid label value "
                "(expected alphanumerics, '-', '_', '.', at most 63 characters)"
            )
    return value


def _check_annotations(value: dict[str, str]) -> dict[str, str]:
    # Annotation values are free text: only the keys have a syntax, and the total a limit.
    _check_total_size(value, "annotations")
    for key in value:
        _check_label_key(key)
    return value


Labels = Annotated[dict[str, str], AfterValidator(check_labels)]
"""Kubernetes labels: keys and values checked against the label syntax."""

Annotations = Annotated[dict[str, str], AfterValidator(_check_annotations)]
"""Kubernetes annotations: keys checked against the label-key syntax; values are free text."""


def _check_json(value: Any) -> Any:
    value = replace_outputs(value)  # Outputs in free-form values resolve at registration
    if problem := json_problem(value):
        path, part, why = problem
        raise Invalid(path, part, why)
    return value


JsonObject = Annotated[dict[str, JsonValue], BeforeValidator(_check_json)]
"""A free-form JSON object (HelmRelease `values`): finite numbers only, at most `MAX_DEPTH`
levels deep, checked before pydantic walks it."""

FreeObject = Annotated[dict[str, Any], BeforeValidator(_check_json)]
"""A free-form mapping passed through as it is (pod `affinity`), checked like `JsonObject`."""


# --- quantities ----------------------------------------------------------------------------------


def _quantity_text(value: Any) -> Any:
    # YAML reads `cpu: 1` or `cpu: 0.5` as numbers; Kubernetes takes them as quantities too.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_CPU = re.compile(rf"^{_NUMBER}m?$")
_MEMORY = re.compile(rf"^{_NUMBER}(?:[KMGTPE]i|[kMGTPE]|[eE][+-]?[0-9]+)?$")
_FACTORS: Mapping[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    **{f"{p}i": Decimal(2) ** (10 * (i + 1)) for i, p in enumerate("KMGTPE")},
}


def _check_cpu(value: str) -> str:
    if not _CPU.match(value):
        raise ValueError(
            "is not a CPU quantity (expected millicores like '100m' or cores like '0.5' or '2')"
        )
    return value


def _check_memory(value: str) -> str:
    if not _MEMORY.match(value):
        hint = ""
        if re.fullmatch(rf"{_NUMBER}m", value):
            hint = "; 'm' means thousandths of a byte: did you mean 'Mi'?"
        elif re.fullmatch(rf"{_NUMBER}\s*[a-zA-Z]+", value):
            hint = "; Kubernetes writes mebibytes 'Mi', gibibytes 'Gi', megabytes 'M'"
        raise ValueError(f"is not a memory quantity (expected e.g. '128Mi', '1Gi' or '500M'{hint})")
    return value


CpuQuantity = Annotated[str, BeforeValidator(_quantity_text), AfterValidator(_check_cpu)]
"""A Kubernetes CPU quantity: `100m`, `0.5`, `2`."""

MemoryQuantity = Annotated[str, BeforeValidator(_quantity_text), AfterValidator(_check_memory)]
"""A Kubernetes memory quantity: `128Mi`, `1Gi`, `500M`."""


def quantity_value(quantity: str) -> Decimal:
    """The numeric value of a Kubernetes quantity (`128Mi` -> 134217728, `100m` -> 0.1)."""
    m = re.fullmatch(rf"({_NUMBER})([a-zA-Z]*)([+-]?[0-9]+)?", quantity.strip())
    if m is None:
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity")
    number, suffix, exponent = m.groups()
    try:
        if suffix in ("e", "E") and exponent is not None:
            return Decimal(number) * Decimal(10) ** int(exponent)
        if exponent is None and suffix in _FACTORS:
            return Decimal(number) * _FACTORS[suffix]
    except InvalidOperation:
        pass
    raise ValueError(f"{quantity!r} is not a Kubernetes quantity")
