"""A plain (not editable) install from the wheel runs the demo in an empty folder: the shipped
workflow and the notebooks travel as package data. Uses pip's cache; PyPI only."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, timeout: float = 1200) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOOK_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_the_wheel_installed_into_a_fresh_venv_runs_the_demo(tmp_path):
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
         str(ROOT)],
        tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("opsbook-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "opsbook/definitions/weekly_load/workflow.toml",
        "opsbook/definitions/weekly_load/weekly_load.asl.json",
        "opsbook/definitions/weekly_load/schedule.json",
        "opsbook/definitions/weekly_load/sql/check_records.sql",
        "opsbook/notebooks/weekly_report.ipynb",
        "opsbook/notebooks/partition_report.ipynb",
    } <= names

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]

    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([str(python), "-c", "import opsbook; print(opsbook.__file__)"], empty)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not this checkout
    demo = _run([str(venv / "bin" / "opsbook"), "demo", "--weeks", "3"], empty)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "8. the weekly report" in demo.stdout
    reports = list((empty / ".opsbook-demo" / "reports").glob("weekly_report-*.html"))
    assert len(reports) == 1 and reports[0].stat().st_size > 10_000
    listed = _run([str(venv / "bin" / "opsbook"), "workflows", "--json"], empty)
    assert listed.returncode == 0 and '"weekly_load"' in listed.stdout
