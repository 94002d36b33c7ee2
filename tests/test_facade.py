"""The package facade: every public name importable from `gitops_sdk`, each loaded on first use,
so that `import gitops_sdk` and the dynamic provider's process stay cheap."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import gitops_sdk

INIT = Path(gitops_sdk.__file__)


def loaded_after(code: str) -> set[str]:
    """The `gitops_sdk` modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return {m for m in json.loads(out.splitlines()[-1]) if m.split(".")[0] == "gitops_sdk"}


def type_checking_imports() -> dict[str, str]:
    """name -> module, as the facade's `if TYPE_CHECKING:` block imports them (what mypy sees)."""
    tree = ast.parse(INIT.read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.dump(n))
    return {
        alias.name: str(node.module)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_import_loads_no_module_but_the_facade() -> None:
    assert loaded_after("import gitops_sdk") == {"gitops_sdk", "gitops_sdk._compat"}


def test_the_dynamic_provider_module_loads_only_what_it_uses() -> None:
    # What Pulumi's dynamic provider process imports to unpickle the SDK's providers.
    loaded = loaded_after("import gitops_sdk.components.github_providers")
    assert {m.split(".")[1] for m in loaded - {"gitops_sdk"}} <= {
        "_compat",
        "components",
        "core",
        "services",
    }
    assert not any(m.startswith(("gitops_sdk.api", "gitops_sdk.stack")) for m in loaded)
    assert "gitops_sdk.components.layers" not in loaded


def test_every_public_name_resolves_to_what_mypy_sees() -> None:
    declared = type_checking_imports()
    assert sorted(declared) == sorted(gitops_sdk.__all__)
    for name, module in declared.items():
        value = getattr(gitops_sdk, name)
        if name in gitops_sdk._MODULES:
            # a module; once the old path `gitops_sdk.<name>` was imported, Python binds that
            # deprecated view here instead, which reads the same names
            assert value.__name__ in (f"{module}.{name}", f"gitops_sdk.{name}"), name
            continue
        assert value is getattr(sys.modules[module], name), name
    assert set(gitops_sdk.__all__) <= set(dir(gitops_sdk))


def test_the_lazy_tables_name_exactly_the_public_surface() -> None:
    names = [n for group in gitops_sdk._NAMES.values() for n in group]
    assert len(names) == len(set(names))
    assert sorted([*names, *gitops_sdk._MODULES]) == sorted(gitops_sdk.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'HelmReleaze'"):
        _ = gitops_sdk.HelmReleaze  # type: ignore[attr-defined]
    with pytest.raises(ImportError):
        exec("from gitops_sdk import HelmReleaze", {})


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("image.toolkit.fluxcd.io/v1", "ImageUpdateAutomation"),
        ("source.toolkit.fluxcd.io/v1", "Bucket"),
        ("notification.toolkit.fluxcd.io/v1beta3", "Alert"),
    ],
)
def test_from_manifest_knows_every_kind_in_a_fresh_process(api_version: str, kind: str) -> None:
    # Nothing else imported: the kind's module is loaded for the manifest, not by luck.
    code = (
        "from gitops_sdk import from_manifest\n"
        "from gitops_sdk.api.kinds import flux_kinds\n"
        f"kinds = {{k for _, k in flux_kinds()}}\nassert {kind!r} in kinds, sorted(kinds)\n"
        "try:\n"
        f"    from_manifest({{'apiVersion': {api_version!r}, 'kind': {kind!r}, "
        "'metadata': {'name': 'x', 'namespace': 'flux-system'}, 'spec': {}})\n"
        "except Exception as err:\n"
        "    assert 'not a Flux kind' not in str(err), err\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
