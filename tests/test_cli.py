"""`gitops validate`: one or more CRD sources, problems named by file, kind and name."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from conftest import CRD_DIR
from test_flagger import SEED_CANARY

from gitops_sdk import cli


def validate(argv: list[str]) -> int:
    args = cli.parser().parse_args(["validate", *argv])
    return int(args.func(args))


def test_validate_takes_several_crd_sources(
    tmp_path: Path, third_party_crd_files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    if not CRD_DIR.is_dir():
        pytest.skip("needs ../shared/flux-crds (the official Flux CRDs); CI always has it")
    broken = copy.deepcopy(SEED_CANARY)
    broken["spec"]["analysis"]["threshold"] = "five"
    (tmp_path / "canary.yaml").write_text(yaml.safe_dump_all([SEED_CANARY, broken]))
    flagger = next(f for f in third_party_crd_files if "flagger" in str(f))

    # Flux's CRDs alone do not serve Canary: nothing to check.
    assert validate([str(tmp_path), "--crds", str(CRD_DIR)]) == 0
    capsys.readouterr()
    assert validate([str(tmp_path), "--crds", str(CRD_DIR), "--crds", str(flagger)]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{tmp_path / 'canary.yaml'}: Canary 'demo-app': spec.analysis.threshold: "
        "'five' is not of type 'number'"
    ]
    assert "1 problem(s)" in out.err
