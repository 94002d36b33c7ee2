"""renovate.json from typed settings: golden output, option checks, `gitops renovate`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import run_automation_cli

from gitops_sdk.core.errors import ConfigError, SpecError
from gitops_sdk.services.renovate import (
    COMMENT_MATCH,
    FluxManagedImages,
    RenovateEnvironment,
    RenovateSettings,
    Schedule,
    settings_from_stacks,
)
from gitops_sdk.services.renovate_options import RENOVATE_OPTIONS, check_renovate_config

GOLDEN = Path(__file__).parent / "data" / "automation" / "renovate.json"


def homelab(**extra: Any) -> RenovateSettings:
    return RenovateSettings(
        environments=[RenovateEnvironment.staging(), RenovateEnvironment.production()],
        timezone="Europe/Stockholm",
        stack_files=["Pulumi.production.yaml", "Pulumi.staging.yaml"],
        flux_managed=[FluxManagedImages(images=["nginx"], paths=["apps/demo-app/staging/**"])],
        **extra,
    )


STACKS: dict[str, dict[str, Any]] = {
    "staging": {
        "cluster": {"name": "kubestaging", "environment": "staging"},
        "renovate": {
            "automerge": True,
            "schedule": ["* 22-23 * * 1-5", "* 0-4 * * 1-5", "* * * * 0,6"],
            "timezone": "Europe/Stockholm",
        },
        "automation": {
            "images": {"nginx": {"image": "nginx", "policy": {"semver": {"range": "^1.21.x"}}}},
            "update": {"path": "./apps/demo-app/staging"},
        },
        "layers": {
            "infrastructure": {"units": {"cert-manager": {"preset": "cert-manager"}}},
            "monitoring": {"units": {"grafana": {}}},
            "apps": {"units": {"demo": {"path": "./apps/demo-app/staging"}}},
        },
    },
    "production": {
        "cluster": {"name": "kubeproduction", "environment": "production"},
        "renovate": {"automerge": False, "schedule": ["* 22-23 * * 0"]},
    },
}


# --- generated config ----------------------------------------------------------------------------


def test_homelab_config_matches_the_golden_file() -> None:
    assert homelab().to_json() == GOLDEN.read_text()


def test_staging_rule_automerges_nights_and_weekends() -> None:
    assert RenovateEnvironment.staging().rule() == {
        "description": "staging: automerge, updates on schedule",
        "matchFileNames": ["clusters/staging/**", "apps/*/staging/**"],
        "automerge": True,
        "automergeType": "pr",
        "schedule": ["* 22-23 * * 1-5", "* 0-4 * * 1-5", "* * * * 0,6"],
    }


def test_production_rule_waits_for_review_on_sunday_nights() -> None:
    assert RenovateEnvironment.production().rule() == {
        "description": "production: manual review, updates on schedule",
        "matchFileNames": ["clusters/production/**", "apps/*/production/**"],
        "automerge": False,
        "schedule": ["* 22-23 * * 0"],
    }


def test_security_updates_are_immediate_and_flux_images_left_to_flux() -> None:
    config = homelab().render()
    assert config["vulnerabilityAlerts"] == {
        "enabled": True,
        "labels": ["security"],
        "automerge": True,
        "schedule": ["at any time"],
        "prCreation": "immediate",
    }
    # Only in the files the automation rewrites: a stack file may pin nginx for Renovate.
    assert config["packageRules"][-1] == {
        "description": "Updated by Flux image automation in apps/demo-app/staging/**",
        "matchFileNames": ["apps/demo-app/staging/**"],
        "matchDatasources": ["docker"],
        "matchPackageNames": ["nginx"],
        "enabled": False,
    }
    assert "regexManagers" not in config
    assert config["customManagers"][0]["customType"] == "regex"


def test_comment_regex_finds_annotated_values() -> None:
    # JavaScript's (?<name>) groups, as Renovate writes them; Python spells them (?P<name>).
    pattern = re.compile(COMMENT_MATCH.replace("(?<", "(?P<"))
    text = (
        "      # renovate: datasource=helm depName=cert-manager versioning=semver\n"
        '      version: "v1.14.4"\n'
    )
    m = pattern.search(text)
    assert m is not None
    assert m.group("datasource", "depName", "versioning", "currentValue") == (
        "helm",
        "cert-manager",
        "semver",
        "v1.14.4",
    )


def test_generated_config_uses_only_table_options() -> None:
    def keys(value: Any) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    managers = {"flux", "kubernetes", "helm-values"}
    assert keys(homelab().render()) - set(RENOVATE_OPTIONS) == managers


def test_settings_from_stacks_builds_the_same_rules() -> None:
    settings = settings_from_stacks(STACKS)
    # Stacks are read in name order, so production's rule comes first.
    assert [e.name for e in settings.environments] == ["production", "staging"]
    assert settings.timezone == "Europe/Stockholm"
    staging = settings.environments[1].rule()
    assert staging == {
        **RenovateEnvironment.staging().rule(),
        # The stack file is the environment's; clusters/ is named by no stack, so dropped.
        "matchFileNames": ["Pulumi.staging.yaml", "apps/*/staging/**"],
    }
    assert settings.environments[0].rule()["matchFileNames"] == [
        "Pulumi.production.yaml",
        "apps/*/production/**",
    ]


def test_manifest_folders_are_those_the_stacks_name() -> None:
    settings = settings_from_stacks(STACKS)
    # cert-manager is a chart unit without a path: infrastructure/ is not a manifest folder.
    assert settings.manifest_dirs == ["apps", "monitoring"]
    config = settings.render()
    assert config["flux"] == {"managerFilePatterns": ["/^(apps|monitoring)/.+\\.ya?ml$/"]}
    assert config["customManagers"][0]["managerFilePatterns"] == [
        "/^(apps|monitoring)/.+\\.ya?ml$/",
        "Pulumi.production.yaml",
        "Pulumi.staging.yaml",
    ]


def test_stack_files_alone_get_only_the_comment_manager() -> None:
    stacks = {"production": {"renovate": {}, "layers": {"infra": {"units": {"x": {"chart": "x"}}}}}}
    config = settings_from_stacks(stacks).render()
    assert "flux" not in config and "kubernetes" not in config
    assert config["customManagers"][0]["managerFilePatterns"] == ["Pulumi.production.yaml"]
    assert config["packageRules"][0]["matchFileNames"] == ["Pulumi.production.yaml"]


def test_explicit_paths_are_kept_with_the_stack_file() -> None:
    stacks = {"staging": {"renovate": {"paths": ["clusters/kubestaging/**"]}}}
    settings = settings_from_stacks(stacks)
    assert settings.manifest_dirs == ["clusters"]
    assert settings.environments[0].rule()["matchFileNames"] == [
        "Pulumi.staging.yaml",
        "clusters/kubestaging/**",
    ]


def test_automation_rule_is_scoped_to_each_update_path() -> None:
    production = {
        **STACKS["production"],
        "automation": {"images": {"web": {"image": "ghcr.io/o/web"}}},  # update path: ./
    }
    settings = settings_from_stacks({**STACKS, "production": production})
    rules = [m.rule() for m in settings.flux_managed]
    assert [(r["matchPackageNames"], r["matchFileNames"]) for r in rules] == [
        # The repository root means every manifest folder, never the stack files.
        (["ghcr.io/o/web"], ["apps/**", "monitoring/**"]),
        (["nginx"], ["apps/demo-app/staging/**"]),
    ]
    assert settings.flux_managed_images == []


def test_automation_of_a_stack_without_renovate_is_still_left_to_flux() -> None:
    stacks = {**STACKS, "dev": {"automation": STACKS["staging"]["automation"]}}
    settings = settings_from_stacks(stacks)
    assert [m.paths for m in settings.flux_managed] == [
        ["apps/demo-app/staging/**"],
        ["apps/demo-app/staging/**"],
    ]
    assert "Pulumi.dev.yaml" not in settings.stack_files


# --- bad inputs (error text pinned) ------------------------------------------------------------


def test_unknown_option_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(
        SpecError,
        match=r"renovate.json: automergeTyp 'pr': is not a documented Renovate option "
        r"\(did you mean 'automergeType'\?\)",
    ):
        homelab(extra={"automergeTyp": "pr"}).render()


def test_deprecated_regex_managers_is_rejected() -> None:
    with pytest.raises(
        SpecError,
        match=r"regexManagers \[\]: is not a Renovate option any more: renamed to "
        r"'customManagers'",
    ):
        check_renovate_config({"regexManagers": []})


def test_file_match_in_a_manager_is_rejected() -> None:
    with pytest.raises(
        SpecError, match=r"kubernetes.fileMatch \['x'\]: .*replaced by 'managerFilePatterns'"
    ):
        check_renovate_config({"kubernetes": {"fileMatch": ["x"]}})


def test_global_only_option_is_rejected() -> None:
    with pytest.raises(
        SpecError, match=r"platform 'github': is a self-hosted \(global\) option; a repository"
    ):
        check_renovate_config({"platform": "github", "includeForks": True})


def test_option_in_the_wrong_place_is_rejected() -> None:
    with pytest.raises(
        SpecError,
        match=r"packageRules\[3\].customType 'regex': is not valid in packageRules "
        r"\(only in customManagers\)",
    ):
        homelab(extra_rules=[{"customType": "regex"}]).render()


def test_wrong_type_and_value_are_rejected() -> None:
    with pytest.raises(SpecError, match=r"automerge 'yes': must be of type boolean"):
        check_renovate_config({"automerge": "yes"})
    with pytest.raises(
        SpecError, match=r"rebaseWhen 'sometimes': expected one of auto, never, conflicted"
    ):
        check_renovate_config({"rebaseWhen": "sometimes"})


def test_regex_without_current_value_group_is_rejected() -> None:
    manager = {
        "customType": "regex",
        "managerFilePatterns": ["/\\.yaml$/"],
        "matchStrings": ["# renovate: datasource=(?<datasource>\\S+) depName=(?<depName>\\S+)"],
    }
    with pytest.raises(
        SpecError,
        match=r"customManagers\[0\].matchStrings\[0\] .*: defines no \(\?<currentValue>...\) "
        r"group and the manager sets no currentValueTemplate",
    ):
        check_renovate_config({"customManagers": [manager]})


def test_regex_with_lookahead_is_rejected() -> None:
    manager = {
        "customType": "regex",
        "managerFilePatterns": ["/^(?!\\.github/).*\\.yaml$/"],
        "matchStrings": ["(?<currentValue>x)"],
        "depNameTemplate": "x",
        "datasourceTemplate": "docker",
    }
    with pytest.raises(SpecError, match=r"is not a Go regexp: lookaround assertions"):
        check_renovate_config({"customManagers": [manager]})


def test_later_text_schedule_is_rejected() -> None:
    with pytest.raises(
        SpecError,
        match=r"RenovateEnvironment: schedule\[0\] 'after 10pm every weekday': is not a cron "
        r"schedule",
    ):
        RenovateEnvironment(name="staging", schedule=["after 10pm every weekday"])


def test_cron_with_minutes_or_bad_hours_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"has minutes set: Renovate schedules by the hour"):
        RenovateEnvironment(name="staging", schedule=["0 22 * * *"])
    with pytest.raises(SpecError, match=r"has hour '22-25': expected 0-23"):
        RenovateEnvironment(name="staging", schedule=["* 22-25 * * *"])


def test_renamed_preset_is_rejected() -> None:
    with pytest.raises(
        SpecError, match=r"extends.*preset 'config:base' was renamed to 'config:recommended'"
    ):
        homelab(extends=["config:base"]).render()


def test_bad_timezone_and_duplicate_environments_are_rejected() -> None:
    with pytest.raises(SpecError, match=r"timezone 'Mars/Olympus': is not an IANA timezone"):
        RenovateSettings(environments=[RenovateEnvironment.staging()], timezone="Mars/Olympus")
    with pytest.raises(SpecError, match=r"environments staging are listed twice"):
        RenovateSettings(
            environments=[RenovateEnvironment.staging(), RenovateEnvironment.staging()]
        )


def test_extra_cannot_override_generated_options() -> None:
    with pytest.raises(SpecError, match=r"packageRules \[\]: is set by RenovateSettings"):
        homelab(extra={"packageRules": []}).render()


def test_stacks_must_agree_on_the_timezone() -> None:
    stacks = {**STACKS, "production": {**STACKS["production"]}}
    stacks["production"]["renovate"] = {"schedule": ["* 22-23 * * 0"], "timezone": "UTC"}
    with pytest.raises(
        ConfigError,
        match=r"gitops:renovate.timezone differs between stacks \(production: UTC, "
        r"staging: Europe/Stockholm\)",
    ):
        settings_from_stacks(stacks)


def test_stack_config_errors_name_the_stack_file() -> None:
    with pytest.raises(
        ConfigError, match=r"Pulumi.staging.yaml: gitops:renovate.automerge 'often'"
    ):
        settings_from_stacks({"staging": {"renovate": {"automerge": "often"}}})
    with pytest.raises(ConfigError, match=r"no stack of a, b has a gitops:renovate key"):
        settings_from_stacks({"a": {}, "b": {}})


def test_schedule_factories() -> None:
    assert Schedule.nights_and_weekends(23, 6) == [
        "* 23-23 * * 1-5",
        "* 0-5 * * 1-5",
        "* * * * 0,6",
    ]
    assert Schedule.at_any_time() == ["at any time"]


# --- CLI -----------------------------------------------------------------------------------------


def write_stacks(project: Path) -> None:
    (project / "Pulumi.staging.yaml").write_text(
        "config:\n"
        "  gitops:cluster: {name: kubestaging, environment: staging}\n"
        "  gitops:renovate:\n"
        "    automerge: true\n"
        "    schedule: ['* 22-23 * * 1-5', '* 0-4 * * 1-5', '* * * * 0,6']\n"
    )
    (project / "Pulumi.production.yaml").write_text(
        "config:\n"
        "  gitops:cluster: {name: kubeproduction, environment: production}\n"
        "  gitops:renovate: {schedule: ['* 22-23 * * 0']}\n"
    )


def test_cli_writes_then_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_stacks(tmp_path)
    out = tmp_path / "renovate.json"
    assert run_automation_cli(["renovate", "--check"], tmp_path) == 1
    assert "renovate.json: missing" in capsys.readouterr().err
    assert run_automation_cli(["renovate"], tmp_path) == 0
    written = json.loads(out.read_text())
    assert [r["matchFileNames"] for r in written["packageRules"]] == [
        ["Pulumi.production.yaml"],
        ["Pulumi.staging.yaml"],
    ]
    assert run_automation_cli(["renovate", "--check"], tmp_path) == 0
    # Reformatting alone is no difference; a changed value is.
    out.write_text(json.dumps(written))
    assert run_automation_cli(["renovate", "--check"], tmp_path) == 0
    written["packageRules"][1]["automerge"] = False
    out.write_text(json.dumps(written, indent=2))
    capsys.readouterr()
    assert run_automation_cli(["renovate", "--check"], tmp_path) == 1
    captured = capsys.readouterr()
    assert '+      "automerge": true,' in captured.out
    assert "differs from the stack settings; run `gitops renovate`" in captured.err


def test_cli_reports_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.staging.yaml").write_text(
        "config:\n  gitops:renovate: {schedule: ['after 10pm']}\n"
    )
    assert run_automation_cli(["renovate"], tmp_path) == 2
    assert "Pulumi.staging.yaml: gitops:renovate.schedule[0] 'after 10pm'" in (
        capsys.readouterr().err
    )


def test_a_malformed_automation_section_does_not_break_renovate() -> None:
    stacks = {k: {**v, "automation": {"images": ["demo-app"]}} for k, v in STACKS.items()}
    assert settings_from_stacks(stacks) == settings_from_stacks(
        {k: {**v, "automation": {}} for k, v in STACKS.items()}
    )
