"""The Renovate options a repository's renovate.json may use, as a table (`RENOVATE_OPTIONS`), and
the check of a renovate.json document against it: unknown, renamed, misplaced or mistyped options,
bad schedules, bad file patterns and incomplete custom managers are named before Renovate sees
them."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gitops_sdk.core.errors import FieldIssue, SpecError
from gitops_sdk.core.fields import GoPattern, re_compile_go

__all__ = [
    "RENOVATE_MANAGERS",
    "RENOVATE_OPTIONS",
    "RenovateOption",
    "Scope",
    "check_renovate_config",
    "check_schedule",
    "renovate_config_issues",
]

Scope = Literal["repo", "rule", "custom", "manager", "vuln"]
"""Where an option may appear: top level, `packageRules[]`, `customManagers[]`, a manager's
object (`"flux": {...}`), or `vulnerabilityAlerts`."""

_GENERAL: frozenset[Scope] = frozenset({"repo", "rule", "vuln"})


@dataclass(frozen=True)
class RenovateOption:
    """One documented Renovate option: its JSON type, where it may appear, allowed values."""

    type: Literal["boolean", "string", "integer", "array", "objects", "object"]
    scopes: frozenset[Scope]
    allowed: tuple[str, ...] = ()
    allow_string: bool = False


def _opt(
    type: Literal["boolean", "string", "integer", "array", "objects", "object"],
    *scopes: Scope,
    allowed: tuple[str, ...] = (),
    allow_string: bool = False,
) -> RenovateOption:
    return RenovateOption(type, frozenset(scopes) or _GENERAL, allowed, allow_string)


_UPDATE_TYPES = (
    "major",
    "minor",
    "patch",
    "pin",
    "pinDigest",
    "digest",
    "lockFileMaintenance",
    "rollback",
    "bump",
    "replacement",
)

RENOVATE_OPTIONS: Mapping[str, RenovateOption] = {
    # repository-wide
    "$schema": _opt("string", "repo"),
    "extends": _opt("array", "repo", "rule", allow_string=True),
    "ignorePresets": _opt("array", "repo", allow_string=True),
    "description": _opt("array", "repo", "rule", "custom", "manager", "vuln", allow_string=True),
    "timezone": _opt("string", "repo"),
    "dependencyDashboard": _opt("boolean", "repo"),
    "dependencyDashboardTitle": _opt("string", "repo"),
    "dependencyDashboardAutoclose": _opt("boolean", "repo"),
    "dependencyDashboardLabels": _opt("array", "repo"),
    "suppressNotifications": _opt(
        "array",
        "repo",
        allowed=(
            "artifactErrors",
            "branchAutomergeFailure",
            "configErrorIssue",
            "dependencyLookupWarnings",
            "lockFileErrors",
            "missingCredentialsError",
            "onboardingClose",
            "prEditedNotification",
            "prIgnoreNotification",
        ),
    ),
    "ignorePaths": _opt("array", "repo"),
    "includePaths": _opt("array", "repo"),
    "enabledManagers": _opt("array", "repo"),
    "ignoreDeps": _opt("array", "repo", "rule"),
    "packageRules": _opt("objects", "repo"),
    "customManagers": _opt("objects", "repo"),
    "vulnerabilityAlerts": _opt("object", "repo"),
    "osvVulnerabilityAlerts": _opt("boolean", "repo"),
    "prConcurrentLimit": _opt("integer", "repo", "rule"),
    "prHourlyLimit": _opt("integer", "repo", "rule"),
    "branchConcurrentLimit": _opt("integer", "repo", "rule"),
    "forkProcessing": _opt("string", "repo", allowed=("auto", "enabled", "disabled")),
    "baseBranchPatterns": _opt("array", "repo"),
    "configMigration": _opt("boolean", "repo"),
    "gitAuthor": _opt("string", "repo"),
    "registryAliases": _opt("object", "repo", "rule", "manager"),
    "lockFileMaintenance": _opt("object", "repo", "rule"),
    # behaviour, anywhere a rule applies
    "enabled": _opt("boolean", "repo", "rule", "manager", "vuln"),
    "automerge": _opt("boolean"),
    "automergeType": _opt("string", allowed=("branch", "pr", "pr-comment")),
    "automergeStrategy": _opt(
        "string",
        allowed=("auto", "fast-forward", "merge-commit", "rebase", "rebase-merge", "squash"),
    ),
    "automergeSchedule": _opt("array", allow_string=True),
    "schedule": _opt("array", allow_string=True),
    "ignoreTests": _opt("boolean"),
    "platformAutomerge": _opt("boolean"),
    "labels": _opt("array"),
    "addLabels": _opt("array"),
    "assignees": _opt("array"),
    "reviewers": _opt("array"),
    "groupName": _opt("string"),
    "minimumReleaseAge": _opt("string"),
    "prCreation": _opt(
        "string", allowed=("immediate", "not-pending", "status-success", "approval")
    ),
    "dependencyDashboardApproval": _opt("boolean"),
    "rangeStrategy": _opt(
        "string",
        allowed=("auto", "pin", "bump", "replace", "widen", "update-lockfile", "in-range-only"),
    ),
    "rebaseWhen": _opt(
        "string",
        "repo",
        "rule",
        allowed=("auto", "never", "conflicted", "behind-base-branch", "automerging"),
    ),
    "semanticCommits": _opt("string", "repo", "rule", allowed=("auto", "enabled", "disabled")),
    "semanticCommitType": _opt("string"),
    "semanticCommitScope": _opt("string"),
    "commitMessagePrefix": _opt("string"),
    "commitMessageSuffix": _opt("string"),
    "separateMajorMinor": _opt("boolean", "repo", "rule"),
    "separateMinorPatch": _opt("boolean", "repo", "rule"),
    "pinDigests": _opt("boolean", "repo", "rule"),
    "versioning": _opt("string", "rule"),
    "vulnerabilityFixStrategy": _opt("string", "vuln", allowed=("lowest", "highest")),
    # packageRules matchers and rule-only settings
    "matchFileNames": _opt("array", "rule"),
    "matchManagers": _opt("array", "rule", allow_string=True),
    "matchDatasources": _opt("array", "rule", allow_string=True),
    "matchPackageNames": _opt("array", "rule", allow_string=True),
    "matchDepNames": _opt("array", "rule", allow_string=True),
    "matchDepTypes": _opt("array", "rule", allow_string=True),
    "matchCategories": _opt("array", "rule", allow_string=True),
    "matchBaseBranches": _opt("array", "rule", allow_string=True),
    "matchUpdateTypes": _opt("array", "rule", allowed=_UPDATE_TYPES, allow_string=True),
    "matchCurrentVersion": _opt("string", "rule"),
    "matchCurrentValue": _opt("string", "rule"),
    "allowedVersions": _opt("string", "rule"),
    "prPriority": _opt("integer", "rule"),
    # customManagers
    "customType": _opt("string", "custom", allowed=("jsonata", "regex")),
    "managerFilePatterns": _opt("array", "custom", "manager", allow_string=True),
    "matchStrings": _opt("array", "custom"),
    "matchStringsStrategy": _opt("string", "custom", allowed=("any", "recursive", "combination")),
    "fileFormat": _opt("string", "custom", allowed=("json", "toml", "yaml")),
    "depNameTemplate": _opt("string", "custom"),
    "packageNameTemplate": _opt("string", "custom"),
    "datasourceTemplate": _opt("string", "custom"),
    "versioningTemplate": _opt("string", "custom"),
    "registryUrlTemplate": _opt("string", "custom"),
    "extractVersionTemplate": _opt("string", "custom"),
    "currentValueTemplate": _opt("string", "custom"),
    "depTypeTemplate": _opt("string", "custom"),
    "autoReplaceStringTemplate": _opt("string", "custom"),
}
"""The documented Renovate options this SDK may write or accept as extras, with their type and
where they may appear."""

RENOVATE_MANAGERS = (
    "argocd",
    "docker-compose",
    "dockerfile",
    "flux",
    "github-actions",
    "helm-values",
    "helmfile",
    "helmv3",
    "kubernetes",
    "kustomize",
    "pre-commit",
    "terraform",
)
"""Renovate managers whose config object (`"flux": {...}`) may appear at the top level."""

# Options Renovate renamed or removed, with what replaces them.
_RENAMED = {
    "regexManagers": "renamed to 'customManagers' (with customType 'regex')",
    "fileMatch": "replaced by 'managerFilePatterns' (regexes between slashes, or globs)",
    "includeForks": "replaced by 'forkProcessing'",
    "matchPaths": "replaced by 'matchFileNames'",
    "stabilityDays": "replaced by 'minimumReleaseAge' (e.g. '3 days')",
    "baseBranches": "renamed to 'baseBranchPatterns'",
    "matchPackagePatterns": "removed: put '/regex/' patterns in 'matchPackageNames'",
    "matchPackagePrefixes": "removed: put 'prefix**' globs in 'matchPackageNames'",
    "excludePackageNames": "removed: put '!name' in 'matchPackageNames'",
}
# Self-hosted (global) options that a repository's renovate.json cannot set.
_GLOBAL_ONLY = frozenset(
    {
        "platform",
        "endpoint",
        "token",
        "autodiscover",
        "autodiscoverFilter",
        "onboarding",
        "onboardingConfig",
        "repositories",
        "dryRun",
        "binarySource",
        "requireConfig",
        "gitPrivateKey",
        "allowedCommands",
        "hostRules",
    }
)
_RENAMED_PRESETS = {"config:base": "config:recommended"}

_SCOPE_NAMES = {
    "repo": "at the top level",
    "rule": "in packageRules",
    "custom": "in customManagers",
    "manager": "in a manager's object",
    "vuln": "in vulnerabilityAlerts",
}


def _type_ok(value: Any, opt: RenovateOption) -> bool:
    if opt.type == "boolean":
        return isinstance(value, bool)
    if opt.type == "integer":
        return type(value) is int
    if opt.type == "string":
        return isinstance(value, str)
    if opt.type == "object":
        return isinstance(value, dict)
    if opt.type == "objects":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    if opt.allow_string and isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _unknown(name: str, scope: Scope, valid: Iterable[str]) -> str:
    if name in _RENAMED:
        return f"is not a Renovate option any more: {_RENAMED[name]}"
    if name in _GLOBAL_ONLY:
        return "is a self-hosted (global) option; a repository's renovate.json cannot set it"
    if name in RENOVATE_OPTIONS:
        where = ", ".join(_SCOPE_NAMES[s] for s in sorted(RENOVATE_OPTIONS[name].scopes))
        return f"is not valid {_SCOPE_NAMES[scope]} (only {where})"
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"is not a documented Renovate option{hint}"


_CRON_FIELDS = (("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_PART = re.compile(r"^(\*|(\d+)(-(\d+))?)(/(\d+))?$")


def check_schedule(value: str) -> str:
    """Renovate's `schedule` entry: `at any time`, or cron with `*` minutes."""
    if value == "at any time":
        return value
    fields = value.split()
    if len(fields) != 5 or not re.match(r"^[\d*]", value):
        raise ValueError(
            "is not a cron schedule (5 fields, e.g. '* 22-23 * * 1-5'); Renovate recommends "
            "cron over its deprecated later.js text ('after 10pm every weekday')"
        )
    if fields[0] != "*":
        raise ValueError("has minutes set: Renovate schedules by the hour, so minutes must be '*'")
    for text, (what, low, high) in zip(fields[1:], _CRON_FIELDS, strict=True):
        for part in text.split(","):
            m = _CRON_PART.match(part)
            numbers = [int(n) for n in (m.group(2), m.group(4)) if n] if m else []
            if m is None or any(not low <= n <= high for n in numbers):
                raise ValueError(f"has {what} {text!r}: expected {low}-{high}, ranges, lists, '*'")
    return value


def _check_regex(pattern: str) -> GoPattern:
    try:
        return re_compile_go(pattern)
    except ValueError as err:
        raise ValueError(str(err)) from None


def _check_file_pattern(value: str) -> str:
    # `/.../` (optionally `/.../i`) is an RE2 regex; anything else is a glob.
    if value.startswith("/"):
        m = re.fullmatch(r"/(.*)/(i?)", value, re.DOTALL)
        if not m:
            raise ValueError("starts with '/' but is not a '/regex/' (end it with '/')")
        _check_regex(m.group(1))
    return value


def renovate_config_issues(config: Mapping[str, Any]) -> list[FieldIssue]:
    """Every problem of a renovate.json document against `RENOVATE_OPTIONS`."""
    issues: list[FieldIssue] = []

    def check_object(obj: Mapping[str, Any], scope: Scope, path: str) -> None:
        valid = [n for n, o in RENOVATE_OPTIONS.items() if scope in o.scopes]
        for key, value in obj.items():
            where = f"{path}.{key}" if path else key
            if scope == "repo" and key in RENOVATE_MANAGERS:
                if not isinstance(value, dict):
                    issues.append(FieldIssue(where, value, "a manager's config must be an object"))
                else:
                    check_object(value, "manager", where)
                continue
            opt = RENOVATE_OPTIONS.get(key)
            if opt is None or scope not in opt.scopes:
                issues.append(FieldIssue(where, value, _unknown(key, scope, valid)))
                continue
            if not _type_ok(value, opt):
                issues.append(FieldIssue(where, value, f"must be of type {opt.type}"))
                continue
            values = [value] if isinstance(value, str) else value
            if opt.allowed and isinstance(values, list):
                bad = [v for v in values if v not in opt.allowed]
                if bad:
                    issues.append(
                        FieldIssue(where, value, f"expected one of {', '.join(opt.allowed)}")
                    )
                    continue
            check_value(key, value, where)

    def check_value(key: str, value: Any, where: str) -> None:
        items = [value] if isinstance(value, str) else value
        try:
            if key in ("schedule", "automergeSchedule"):
                for item in items:
                    check_schedule(item)
            elif key == "managerFilePatterns":
                for item in items:
                    _check_file_pattern(item)
            elif key == "extends":
                for item in items:
                    if item in _RENAMED_PRESETS:
                        raise ValueError(
                            f"preset {item!r} was renamed to {_RENAMED_PRESETS[item]!r}"
                        )
        except ValueError as err:
            issues.append(FieldIssue(where, value, str(err)))
            return
        if key == "packageRules":
            for i, rule in enumerate(value):
                check_object(rule, "rule", f"{where}[{i}]")
        elif key == "customManagers":
            for i, manager in enumerate(value):
                check_object(manager, "custom", f"{where}[{i}]")
                issues.extend(_custom_manager_issues(manager, f"{where}[{i}]"))
        elif key == "vulnerabilityAlerts":
            check_object(value, "vuln", where)

    check_object(config, "repo", "")
    return issues


def _custom_manager_issues(manager: Mapping[str, Any], path: str) -> list[FieldIssue]:
    issues = []
    for required in ("customType", "managerFilePatterns", "matchStrings"):
        if required not in manager:
            issues.append(FieldIssue(f"{path}.{required}", manager, "is required"))
    if manager.get("customType") != "regex":
        return issues
    # Renovate needs, for each of these, a named group or the corresponding template.
    needs = {
        "currentValue": ("currentValue", "currentValueTemplate"),
        "depName": ("depName", "depNameTemplate", "packageName", "packageNameTemplate"),
        "datasource": ("datasource", "datasourceTemplate"),
    }
    for i, pattern in enumerate(manager.get("matchStrings") or []):
        where = f"{path}.matchStrings[{i}]"
        try:
            compiled = _check_regex(pattern)
        except ValueError as err:
            issues.append(FieldIssue(where, pattern, str(err)))
            continue
        groups = set(compiled.groupindex)
        for what, ways in needs.items():
            if not any(w in groups or w in manager for w in ways):
                issues.append(
                    FieldIssue(
                        where,
                        pattern,
                        f"defines no (?<{what}>...) group and the manager sets no "
                        f"{what}Template; Renovate cannot find the {what}",
                    )
                )
    return issues


def check_renovate_config(config: Mapping[str, Any]) -> None:
    """Raise a SpecError naming each option of `config` Renovate would reject or ignore."""
    issues = renovate_config_issues(config)
    if issues:
        raise SpecError("renovate.json", None, issues)
