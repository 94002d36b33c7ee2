"""The package layout: folders name the architecture and imports go one direction, from `cli`
down to `core`; the layers below the components never import Pulumi."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gitops_sdk"
LAYERS = ("core", "api", "services", "components", "stack", "cli")
"""Lowest first: a module may import its own folder and the folders before it."""
NO_PULUMI = ("core", "api", "services")
MAX_LINES = 550


def layer_of(module: str) -> str | None:
    """The folder of a dotted `gitops_sdk.<folder>...` name (None for the package facade)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "gitops_sdk" else None


def imported(source: str) -> list[str]:
    """The absolute modules a source file imports (relative imports are refused elsewhere)."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
            out += [f"{node.module}.{alias.name}" for alias in node.names]
    return out


def violations(layer: str, source: str) -> list[str]:
    """What a module of `layer` imports against the direction (or Pulumi, where it must not)."""
    rank = LAYERS.index(layer)
    found = []
    for module in imported(source):
        target = layer_of(module)
        if target in LAYERS and LAYERS.index(target) > rank:
            found.append(f"imports {module} ({target} is above {layer})")
        if layer in NO_PULUMI and module.split(".")[0] in ("pulumi", "pulumi_kubernetes"):
            found.append(f"imports {module} ({layer} must not use Pulumi)")
    return sorted(set(found))


def modules() -> list[tuple[str, Path]]:
    return [
        (path.relative_to(PACKAGE).parts[0], path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if len(path.relative_to(PACKAGE).parts) > 1
    ]


def test_every_module_is_in_a_layer_folder() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - {"data"} == set(LAYERS)  # data/: files shipped with the package, no code
    assert not list((PACKAGE / "data").rglob("*.py"))
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "_compat.py"]


@pytest.mark.parametrize(("layer", "path"), modules(), ids=lambda v: str(v))
def test_imports_go_one_direction(layer: str, path: Path) -> None:
    source = path.read_text()
    assert violations(layer, source) == [], path
    tree = ast.parse(source)
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert not relative, f"{path}: relative imports hide the layer; use gitops_sdk.<layer>..."


@pytest.mark.parametrize(("layer", "path"), modules(), ids=lambda v: str(v))
def test_modules_stay_small(layer: str, path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_LINES, path


@pytest.mark.parametrize(("layer", "path"), modules(), ids=lambda v: str(v))
def test_every_public_module_declares_its_surface(layer: str, path: Path) -> None:
    if path.name.startswith("_") and path.name != "__init__.py":
        return
    tree = ast.parse(path.read_text())
    names = {
        target.id
        for node in tree.body
        for target in (
            node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        )
        if isinstance(target, ast.Name)
    }
    assert "__all__" in names, f"{path} has no __all__"


@pytest.mark.parametrize(
    ("layer", "source", "expected"),
    [
        ("api", "import pulumi\n", "imports pulumi (api must not use Pulumi)"),
        (
            "api",
            "from gitops_sdk.components.resource import FluxResource\n",
            "imports gitops_sdk.components.resource (components is above api)",
        ),
        (
            "core",
            "from gitops_sdk.api import source\n",
            "imports gitops_sdk.api.source (api is above core)",
        ),
        (
            "services",
            "import pulumi_kubernetes as k8s\n",
            "imports pulumi_kubernetes (services must not use Pulumi)",
        ),
        (
            "stack",
            "from gitops_sdk.cli.app import main\n",
            "imports gitops_sdk.cli.app (cli is above stack)",
        ),
    ],
)
def test_the_direction_check_catches_an_upward_import(
    layer: str, source: str, expected: str
) -> None:
    assert expected in violations(layer, source)


def test_the_direction_check_allows_downward_and_sideways_imports() -> None:
    source = (
        "import pydantic\nfrom gitops_sdk.core.errors import SpecError\n"
        "from gitops_sdk.api.source import GitRepository\n"
        "from gitops_sdk.services.crds import validate_manifest\n"
    )
    assert violations("services", source) == []
