"""Old import paths (before the package was laid out in folders) keep working for one release:
every public name of every old module resolves, to the same object, with a DeprecationWarning."""

from __future__ import annotations

import importlib
import json
import sys
import warnings
from pathlib import Path

import pytest

import gitops_sdk
from gitops_sdk import _compat

OLD = json.loads((Path(__file__).parent / "data" / "old_public_names.json").read_text())
"""Each old module's public names (its `__all__`, or its public top-level names), as released."""
# Old modules whose path is now a real package: what it offers under that path.
REAL_PACKAGES = {"cli": ["main", "parser", "run"], "components": ["GitSource", "Layers"]}


def fresh(module: str) -> object:
    sys.modules.pop(module, None)
    return importlib.import_module(module)


@pytest.mark.parametrize("old", sorted(OLD))
def test_every_old_public_name_still_imports(old: str) -> None:
    names = REAL_PACKAGES.get(old, OLD[old])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = fresh(f"gitops_sdk.{old}")
        missing = [n for n in names if not hasattr(module, n)]
    assert missing == [], f"gitops_sdk.{old} lost {missing}"


@pytest.mark.parametrize("old", sorted(_compat.MOVED))
def test_an_old_path_warns_and_names_the_new_one(old: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"gitops_sdk\.{old} is deprecated .* from "):
        fresh(f"gitops_sdk.{old}")


def test_old_and_new_paths_give_the_same_objects() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from gitops_sdk.controller import FluxInstall  # type: ignore[attr-defined]
        from gitops_sdk.secrets import SopsSecret  # type: ignore[attr-defined]
        from gitops_sdk.source import GitRepository as OldGitRepository
    assert OldGitRepository is gitops_sdk.GitRepository
    assert SopsSecret is gitops_sdk.SopsSecret
    assert FluxInstall is gitops_sdk.FluxInstall


def test_an_unknown_name_on_an_old_path_is_an_attribute_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = fresh("gitops_sdk.secrets")
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = module.nothing_here  # type: ignore[attr-defined]


def test_no_old_path_shadows_a_real_module() -> None:
    for old in _compat.MOVED:
        assert not (Path(gitops_sdk.__file__).parent / f"{old}.py").exists()
