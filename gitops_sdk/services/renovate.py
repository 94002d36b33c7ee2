"""`renovate.json` from typed settings: per-environment update rules for the GitOps repository.

Renovate updates what Flux's image automation does not: Helm charts (`flux` manager), plain
manifests (`kubernetes`), Helm values, and any value annotated with a
`# renovate: datasource=... depName=...` comment (a `customManagers` regex entry), in the
manifest folders and in the stack files (`Pulumi.<stack>.yaml`, whose pins `gitops renovate`
marks: `services.renovate_markers`). Each environment gets a package rule over its paths and
its stack file: staging automerges at night and on weekends, production waits for review on
Sunday nights; security fixes (`vulnerabilityAlerts`) are raised at once. Images that Flux's
image automation updates are left to it in the files that automation rewrites.

The generated config is checked against `RENOVATE_OPTIONS` (`services.renovate_options`), a
table of the documented Renovate options it may use, so a typo or a renamed option fails here,
not in Renovate's onboarding PR.

```python
settings = RenovateSettings(environments=[RenovateEnvironment.staging(),
                                          RenovateEnvironment.production()])
Path("renovate.json").write_text(settings.to_json())
```
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import pydantic
from pydantic import AfterValidator

from gitops_sdk.core.base import FluxModel
from gitops_sdk.core.errors import ConfigError, FieldIssue, SpecError
from gitops_sdk.core.fields import Namespace
from gitops_sdk.services.renovate_options import check_renovate_config, check_schedule
from gitops_sdk.services.renovate_paths import automation_scope, named_folders, update_glob

__all__ = [
    "COMMENT_MATCH",
    "MARKER_MATCH",
    "SCHEMA_URL",
    "CronSchedule",
    "FluxManagedImages",
    "RenovateEnvironment",
    "RenovateSettings",
    "RenovateStackConfig",
    "Schedule",
    "SecurityUpdates",
    "settings_from_stacks",
]

SCHEMA_URL = "https://docs.renovatebot.com/renovate-schema.json"
"""The JSON schema renovate.json names in `$schema`."""

CronSchedule = Annotated[str, AfterValidator(check_schedule)]
"""`at any time` or a cron expression with `*` minutes, as Renovate's `schedule` takes."""


class Schedule:
    """Factories for common Renovate schedules (cron, evaluated in the config's timezone)."""

    @staticmethod
    def at_any_time() -> list[str]:
        """No restriction."""
        return ["at any time"]

    @staticmethod
    def nights_and_weekends(start: int = 22, end: int = 5) -> list[str]:
        """Weekday nights from `start` to `end` o'clock and all weekend (staging)."""
        return [f"* {start}-23 * * 1-5", f"* 0-{end - 1} * * 1-5", "* * * * 0,6"]

    @staticmethod
    def sunday_night(start: int = 22) -> list[str]:
        """Sunday from `start` o'clock to midnight (production review window)."""
        return [f"* {start}-23 * * 0"]


def _check_file_glob(value: str) -> str:
    if value.startswith("/") and not value.endswith("/"):
        raise ValueError("is a repository path: write it without the leading '/'")
    return value


def _default_paths(environment: str) -> list[str]:
    """The environment's file globs when `paths` is unset."""
    return [f"clusters/{environment}/**", f"apps/*/{environment}/**"]


_FileGlob = Annotated[str, AfterValidator(_check_file_glob)]


class _EnvironmentRules(FluxModel):
    paths: list[_FileGlob] | None = None
    """Globs of the environment's files; default `clusters/<env>/**`, `apps/*/<env>/**` (from
    stacks: those in folders a stack names, and the stack file `Pulumi.<stack>.yaml` first)."""
    automerge: bool = False
    """Merge passing updates without review."""
    automerge_type: Literal["pr", "branch", "pr-comment"] = "pr"
    """How to automerge: through a PR (default) or straight onto the branch."""
    schedule: Annotated[list[CronSchedule], pydantic.Field(min_length=1)] = ["at any time"]
    """When Renovate may open and update PRs for this environment."""
    labels: list[str] | None = None
    """Labels on the environment's PRs."""
    description: str | None = None
    """What the rule is for; default: generated from the settings."""


class RenovateEnvironment(_EnvironmentRules):
    """One environment's package rule: which paths, automerge or not, and when."""

    name: Namespace
    """Environment name, e.g. `staging`."""

    @classmethod
    def staging(cls) -> RenovateEnvironment:
        """Automerge at night and on weekends, as the seed's staging rule."""
        return RenovateEnvironment(
            name="staging", automerge=True, schedule=Schedule.nights_and_weekends()
        )

    @classmethod
    def production(cls) -> RenovateEnvironment:
        """Reviewed by hand; PRs open on Sunday nights."""
        return RenovateEnvironment(
            name="production", automerge=False, schedule=Schedule.sunday_night()
        )

    def rule(self) -> dict[str, Any]:
        """The environment's `packageRules` entry."""
        paths = self.paths or _default_paths(self.name)
        when = "at any time" if self.schedule == ["at any time"] else "on schedule"
        how = "automerge" if self.automerge else "manual review"
        rule: dict[str, Any] = {
            "description": self.description or f"{self.name}: {how}, updates {when}",
            "matchFileNames": paths,
            "automerge": self.automerge,
        }
        if self.automerge:
            rule["automergeType"] = self.automerge_type
        rule["schedule"] = list(self.schedule)
        if self.labels:
            rule["labels"] = list(self.labels)
        return rule


class RenovateStackConfig(_EnvironmentRules):
    """The `gitops:renovate` key of one stack: its environment's rule, plus shared settings."""

    enabled: bool = True
    """Contribute this stack's environment to renovate.json."""
    timezone: str | None = None
    """IANA timezone of the schedules; must agree across stacks."""


class SecurityUpdates(FluxModel):
    """How vulnerability fixes are raised (Renovate `vulnerabilityAlerts`)."""

    enabled: bool = True
    """Raise fixes for known vulnerabilities, outside any schedule."""
    automerge: bool = True
    """Merge passing security fixes without review."""
    labels: list[str] = ["security"]
    """Labels on security PRs."""
    osv: bool = False
    """Also use osv.dev advisories (`osvVulnerabilityAlerts`, experimental in Renovate)."""


MARKER_MATCH = (
    r"# renovate: datasource=(?<datasource>\S+) depName=(?<depName>\S+)"
    r"( registryUrl=(?<registryUrl>\S+))?( versioning=(?<versioning>\S+))?"
    r"( extractVersion=(?<extractVersion>\S+))?"
)
"""A `# renovate:` comment: datasource and depName, then optional registryUrl, versioning and
extractVersion, in that order."""

COMMENT_MATCH = (
    MARKER_MATCH + r"\s+(?:-[ \t]+)?[\w.-]+:[ \t]*" + r"""["']?(?<currentValue>[^\s"']+)"""
)
"""The `customManagers` regex: a `# renovate:` comment, then (blank lines allowed) a
`key: value` line, possibly a list item's first key (`- newTag: 1.2.3`)."""


class FluxManagedImages(FluxModel):
    """Images one ImageUpdateAutomation updates, and the files it rewrites: Renovate leaves
    those images alone there, and only there (a stack file may pin the same image for Renovate)."""

    images: Annotated[list[str], pydantic.Field(min_length=1)]
    """Image repositories its policies track, as Renovate names them (`nginx`, `ghcr.io/o/x`)."""
    paths: Annotated[list[_FileGlob], pydantic.Field(min_length=1)]
    """Globs of the files it rewrites (its update path, e.g. `apps/demo/staging/**`)."""
    description: str | None = None
    """What the rule is for; default: generated."""

    def rule(self) -> dict[str, Any]:
        """The `packageRules` entry that disables these images in these files."""
        where = ", ".join(self.paths)
        return {
            "description": self.description or f"Updated by Flux image automation in {where}",
            "matchFileNames": list(self.paths),
            "matchDatasources": ["docker"],
            "matchPackageNames": sorted(set(self.images)),
            "enabled": False,
        }


def _check_timezone(value: str) -> str:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not an IANA timezone (e.g. 'Europe/Stockholm', 'UTC')") from None
    return value


def _check_directory(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value) or value in (".", ".."):
        raise ValueError("must be one top-level directory name, e.g. 'apps'")
    return value


class RenovateSettings(FluxModel):
    """Everything renovate.json holds for the GitOps repository."""

    environments: Annotated[list[RenovateEnvironment], pydantic.Field(min_length=1)]
    """Per-environment rules, in order (a later rule wins where paths overlap)."""
    extends: list[str] = [
        "config:recommended",
        "docker:enableMajor",
        ":disableRateLimiting",
        ":dependencyDashboard",
        ":semanticCommits",
        ":separatePatchReleases",
    ]
    """Presets; the seed's list with `config:base` renamed to `config:recommended`."""
    timezone: Annotated[str, AfterValidator(_check_timezone)] | None = None
    """IANA timezone the schedules are read in; default UTC."""
    dependency_dashboard_title: str = "Renovate Dashboard"
    """Title of the Dependency Dashboard issue."""
    rebase_when: Literal["auto", "never", "conflicted", "behind-base-branch", "automerging"] = (
        "conflicted"
    )
    """When Renovate rebases its branches."""
    manifest_dirs: list[Annotated[str, AfterValidator(_check_directory)]] = [
        "clusters",
        "infrastructure",
        "monitoring",
        "security",
        "apps",
        "automation",
    ]
    """Top-level directories holding Kubernetes/Flux YAML (the flux, kubernetes and comment
    managers read them); `settings_from_stacks` uses the folders the stacks name."""
    helm_values_patterns: list[str] = ["/(^|/)values\\.ya?ml$/"]
    """`managerFilePatterns` of Helm values files."""
    stack_files: list[_FileGlob] = []
    """Stack files (`Pulumi.<stack>.yaml`) whose `# renovate:` markers the comment manager reads;
    the flux and kubernetes managers never read them."""
    flux_managed: list[FluxManagedImages] = []
    """Images Flux image automation updates, each with the files it rewrites."""
    flux_managed_images: list[str] = []
    """Images Renovate leaves alone in every file (prefer `flux_managed`, which is scoped)."""
    security: SecurityUpdates = SecurityUpdates()
    """Vulnerability fixes."""
    extra: dict[str, Any] = {}
    """Further top-level options, checked against `RENOVATE_OPTIONS`."""
    extra_rules: list[dict[str, Any]] = []
    """Further packageRules, appended after the environment rules, checked likewise."""

    @pydantic.model_validator(mode="after")
    def _unique_environments(self) -> RenovateSettings:
        names = [e.name for e in self.environments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"environments {', '.join(dupes)} are listed twice")
        return self

    def _yaml_pattern(self) -> str:
        dirs = "|".join(re.escape(d) for d in self.manifest_dirs)
        return f"/^({dirs})/.+\\.ya?ml$/"

    def render(self) -> dict[str, Any]:
        """The renovate.json document, checked against `RENOVATE_OPTIONS`."""
        yaml_files = [self._yaml_pattern()] if self.manifest_dirs else []
        config: dict[str, Any] = {"$schema": SCHEMA_URL, "extends": list(self.extends)}
        if self.timezone:
            config["timezone"] = self.timezone
        config.update(
            {
                "dependencyDashboard": True,
                "dependencyDashboardTitle": self.dependency_dashboard_title,
                "suppressNotifications": ["prIgnoreNotification"],
                "rebaseWhen": self.rebase_when,
            }
        )
        if yaml_files:
            config["flux"] = {"managerFilePatterns": yaml_files}
            config["kubernetes"] = {"managerFilePatterns": yaml_files}
        config["helm-values"] = {"managerFilePatterns": list(self.helm_values_patterns)}
        if marked := yaml_files + list(self.stack_files):
            config["customManagers"] = [
                {
                    "customType": "regex",
                    "description": "Values annotated with # renovate: datasource= depName=",
                    "managerFilePatterns": marked,
                    "matchStrings": [COMMENT_MATCH],
                    "versioningTemplate": "{{#if versioning}}{{{versioning}}}{{else}}semver{{/if}}",
                }
            ]
        rules = [env.rule() for env in self.environments]
        rules.extend(managed.rule() for managed in self.flux_managed)
        if self.flux_managed_images:
            rules.append(
                {
                    "description": "Updated by Flux image automation (setter markers)",
                    "matchDatasources": ["docker"],
                    "matchPackageNames": sorted(set(self.flux_managed_images)),
                    "enabled": False,
                }
            )
        rules.extend(dict(r) for r in self.extra_rules)
        config["packageRules"] = rules
        sec = self.security
        config["vulnerabilityAlerts"] = {
            "enabled": sec.enabled,
            "labels": list(sec.labels),
            "automerge": sec.automerge,
            "schedule": ["at any time"],
            "prCreation": "immediate",
        }
        if sec.osv:
            config["osvVulnerabilityAlerts"] = True
        for key, value in self.extra.items():
            if key in config:
                raise SpecError(
                    "renovate.json",
                    None,
                    [FieldIssue(key, value, "is set by RenovateSettings; change that instead")],
                )
            config[key] = value
        check_renovate_config(config)
        return config

    def to_json(self) -> str:
        """renovate.json's text: two-space indent, keys in render order, final newline."""
        return json.dumps(self.render(), indent=2, ensure_ascii=False) + "\n"


def settings_from_stacks(
    stacks: Mapping[str, Mapping[str, Any]], *, defaults: Mapping[str, Any] | None = None
) -> RenovateSettings:
    """Combine the stacks' `gitops:renovate` keys into one RenovateSettings.

    `stacks` maps a stack name to its prefix-stripped `gitops:` config. Each stack with a
    `renovate` key contributes its environment (named by `cluster.environment`, else the
    stack): a rule over its stack file `Pulumi.<stack>.yaml` and its `paths` (default:
    `clusters/<env>/**` and `apps/*/<env>/**`, each kept only when its top folder is one the
    contributing stacks name). Those folders are the manifest folders Renovate reads (unless
    `defaults` sets `manifest_dirs`). Images a stack's `automation` key tracks are left to Flux
    in the files under its update path. `timezone` must agree.
    """
    environments: list[tuple[str, str, RenovateStackConfig]] = []
    timezones: dict[str, str] = {}
    folders: set[str] = set()
    automations: list[tuple[list[str], str]] = []
    for stack in sorted(stacks):
        values = stacks[stack]
        # Every stack's automation, contributing or not: it rewrites files Renovate may read.
        images, update_path = automation_scope(values)
        if images:
            automations.append((images, update_path))
        raw = values.get("renovate")
        if raw is None:
            continue
        if not isinstance(raw, dict):
            raise ConfigError(f"Pulumi.{stack}.yaml: gitops:renovate must be a mapping")
        try:
            cfg = RenovateStackConfig(**raw)
        except SpecError as err:
            lines = [f"gitops:renovate.{issue}" for issue in err.issues]
            raise ConfigError(f"Pulumi.{stack}.yaml: " + "; ".join(lines)) from None
        if not cfg.enabled:
            continue
        cluster = values.get("cluster") or {}
        env = cluster.get("environment", stack) if isinstance(cluster, dict) else stack
        environments.append((stack, env, cfg))
        folders |= named_folders(values)
        if cfg.timezone:
            timezones[stack] = cfg.timezone
    if not environments:
        raise ConfigError(
            f"no stack of {', '.join(sorted(stacks)) or '(none)'} has a gitops:renovate key; "
            "add one per environment (e.g. {automerge: true, schedule: [...]})"
        )
    if len(set(timezones.values())) > 1:
        found = ", ".join(f"{s}: {tz}" for s, tz in sorted(timezones.items()))
        raise ConfigError(f"gitops:renovate.timezone differs between stacks ({found})")
    base = dict(defaults or {})
    dirs = list(base.get("manifest_dirs", sorted(folders)))
    managed = []
    for images, update_path in automations:
        # A root update path (or one the stack's own check refuses) covers every manifest
        # folder, never the stack files: the automation only rewrites setter-marked manifests.
        glob = update_glob(update_path)
        if globs := [glob] if glob else [f"{d}/**" for d in dirs]:
            managed.append(FluxManagedImages(images=images, paths=globs))
    rules = []
    for stack, env, cfg in environments:
        fields = cfg.model_dump(exclude={"enabled", "timezone", "paths"}, exclude_unset=True)
        paths = cfg.paths or [p for p in _default_paths(env) if p.split("/", 1)[0] in dirs]
        rules.append(
            RenovateEnvironment(name=env, paths=[f"Pulumi.{stack}.yaml", *paths], **fields)
        )
    return RenovateSettings(
        **{
            **base,
            "environments": rules,
            "timezone": next(iter(timezones.values()), None),
            "manifest_dirs": dirs,
            "stack_files": [f"Pulumi.{stack}.yaml" for stack, _, _ in environments],
            "flux_managed": managed,
        }
    )
