"""The package's structure: no import cycles, no private names borrowed across modules, and
mypy clean. The import graph is read from the source with ast (tests/structure/imports.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from imports import PACKAGE, cycles, graph, imports, modules  # noqa: E402


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert cycles(edges) == expected


def test_the_graph_sees_lazy_imports_and_relative_ones(tmp_path):
    pkg = tmp_path / "opsbook"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from opsbook.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from .. import a\n")
    assert graph(pkg) == {
        "opsbook": set(),
        "opsbook.a": {"opsbook.sub.b"},
        "opsbook.sub": set(),
        "opsbook.sub.b": {"opsbook.a"},
    }
    assert cycles(graph(pkg)) == [["opsbook.a", "opsbook.sub.b"]]


def test_the_graph_counts_imports_made_only_for_type_checking(tmp_path):
    pkg = tmp_path / "opsbook"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from opsbook import b\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from opsbook.a import A\n"
    )
    assert cycles(graph(pkg)) == [["opsbook.a", "opsbook.b"]]


AREAS = ["opsbook.engine", "opsbook (outside the engine)"]


def _in(area: str, module: str) -> bool:
    engine = module == "opsbook.engine" or module.startswith("opsbook.engine.")
    return engine if area == "opsbook.engine" else not engine


@pytest.mark.parametrize("area", AREAS)
def test_no_import_cycles_inside_opsbook(area):
    found = [c for c in cycles(graph()) if any(_in(area, m) for m in c)]
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("area", AREAS)
def test_no_private_name_is_imported_from_another_module(area):
    known = modules()
    borrowed = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} from {target}"
        for module, path in known.items()
        for target, name, line in imports(module, path, known)
        if target.startswith("opsbook")
        and name.startswith("_")
        and not name.startswith("__")
        and target != module
        and _in(area, module)
    ]
    assert not borrowed, "\n".join(borrowed)


@pytest.mark.slow
def test_mypy_reports_no_errors_in_opsbook():
    if shutil.which("mypy", path=str(Path(sys.executable).parent)) is None:
        try:
            import mypy  # noqa: F401
        except ImportError:
            pytest.skip("mypy is not installed (a dev dependency: pip install -e .[dev])")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "opsbook"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
