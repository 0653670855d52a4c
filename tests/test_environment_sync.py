"""environment.yml (for conda users) must list the same runtime dependencies as pyproject.toml."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# conda-forge package names that differ from PyPI's.
CONDA_TO_PYPI = {"python-duckdb": "duckdb", "python-graphviz": "graphviz"}
# conda-only entries with no PyPI counterpart in pyproject: the interpreter, pip, the dot binary.
CONDA_ONLY = {"python", "pip", "graphviz"}
SPEC = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)\s*(.*)$")


def _split(spec: str) -> tuple[str, str]:
    name, version = SPEC.match(spec.strip()).groups()
    return name.lower().split("[")[0].replace("_", "-"), version.replace(" ", "")


def pyproject_deps() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(_split(s) for s in data["project"]["dependencies"])


def environment_deps() -> dict[str, str]:
    """Parse the dependency list of environment.yml without needing PyYAML's schema."""
    deps: dict[str, str] = {}
    in_pip = in_deps = False
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line and not line.startswith(" "):
            in_deps = line.startswith("dependencies:")
            continue
        if not in_deps or not line.strip().startswith("- "):
            continue
        item = line.strip()[2:].strip()
        indent = len(line) - len(line.lstrip())
        if item == "pip:":
            in_pip = True
            continue
        if in_pip and indent <= 2:
            in_pip = False
        if item.startswith("-e ") or not item:
            continue
        name, version = _split(item)
        if not in_pip:
            if name in CONDA_ONLY and name not in CONDA_TO_PYPI:
                continue
            name = CONDA_TO_PYPI.get(name, name)
        deps[name] = version
    return deps


def test_environment_lists_every_pyproject_dependency_with_the_same_bounds():
    assert environment_deps() == pyproject_deps()


def test_pins_that_change_results_are_exact():
    deps = pyproject_deps()
    assert deps["sqlglot"].startswith("==")
    assert deps["duckdb"].startswith("==")
