"""The public surface: tiers, exports that resolve, names type checkers can see, py.typed."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

import onemap

ROOT = Path(onemap.__file__).parent
SUBPACKAGES = ["onemap.change", "onemap.ingest", "onemap.overlay", "onemap.testing"]


def _type_checking_names(path: Path) -> set[str]:
    """Names bound inside ``if TYPE_CHECKING:`` in a module (what a type checker sees)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    names.update(a.asname or a.name for a in stmt.names)
    return names


def test_top_level_names_resolve_and_type_checkers_see_them():
    seen = _type_checking_names(ROOT / "__init__.py")
    public = set(onemap.__all__) - {"__version__"}
    assert public | set(onemap._ALIASES) <= seen, sorted((public | set(onemap._ALIASES)) - seen)
    for name in public | set(onemap._ALIASES):
        value = getattr(onemap, name)
        if name in onemap._SUBMODULES:
            assert isinstance(value, types.ModuleType)
        else:  # the module that defines it says so: no private helper reaches the top level
            module = importlib.import_module((onemap._API | onemap._ALIASES)[name])
            assert name in module.__all__ and getattr(module, name) is value


def test_test_tools_live_in_onemap_testing_not_at_the_top():
    from onemap.summary import evaluate
    from onemap.synth import make_county
    from onemap.testing import evaluate as ev, make_county as mc

    assert ev is evaluate and mc is make_county
    for name in ("make_county", "evaluate"):
        assert name not in onemap.__all__
        with pytest.raises(AttributeError, match=name):
            getattr(onemap, name)


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_subpackages_export_what_they_own(package):
    mod = importlib.import_module(package)
    assert mod.__all__ and len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        value = getattr(mod, name)
        # a function named like its module (change.label, overlay.rasterize) must win
        assert not isinstance(value, types.ModuleType), f"{package}.{name} is a module"
        home = getattr(value, "__module__", None)
        if home is not None and callable(value):
            assert home.startswith(package.rsplit(".", 1)[0]), (name, home)


def test_import_onemap_stays_cheap():
    code = ("import sys, onemap; heavy = [m for m in ('numba', 'xarray', 'geopandas', 'dask') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_package_is_marked_typed_and_ships_the_marker():
    assert (ROOT / "py.typed").is_file()
    import tomllib

    pyproject = tomllib.loads((ROOT.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["onemap"]


def test_all_lists_exactly_the_lazy_names():
    expected = set(onemap._API) | onemap._SUBMODULES | {"__version__"}
    assert sorted(onemap.__all__) == sorted(expected)
