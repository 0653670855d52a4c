"""Notebook fixtures: one small demo home per session, Jupyter state in temporary folders."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from opsbook.cli import run

END_WEEK = "2026-11-26"  # fixed, so every run sees the same four weeks
FIRST_WEEK = "2026-11-05"
FAILED_WEEK = "2026-11-05"  # seed 7: its last day lands after the polling window
POLLED_WEEK = "2026-11-12"  # seed 7: the run waits three times for its data
REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "opsbook" / "notebooks"


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory, jupyter_dirs) -> Path:
    """init --demo-data (4 weeks) + deploy + schedule run: 1 failed, 3 succeeded weeks."""
    home = tmp_path_factory.mktemp("demo") / "home"
    base = ["--home", str(home)]
    assert run([*base, "init", "--demo-data", "--weeks", "4", "--end-week", END_WEEK]) == 0
    assert run([*base, "deploy"]) == 0
    assert run([*base, "schedule", "run", "--since", FIRST_WEEK, "--until", END_WEEK]) == 0
    return home


@pytest.fixture(scope="session")
def demo(demo_home) -> SimpleNamespace:
    """The demo home and the facts tests rely on (tests cannot import conftest)."""
    return SimpleNamespace(
        home=demo_home,
        end=END_WEEK,
        first=FIRST_WEEK,
        failed=FAILED_WEEK,
        polled=POLLED_WEEK,
        repo=REPO,
        notebooks=NOTEBOOKS,
    )


@pytest.fixture(scope="session")
def report_run(demo, tmp_path_factory) -> SimpleNamespace:
    """`opsbook --home H report --week <failed week> --out D`, run once per session."""
    out_dir = tmp_path_factory.mktemp("report")
    stdout, stderr = io.StringIO(), io.StringIO()
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("OPSBOOK_")}
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = run(
                ["--home", str(demo.home), "report", "--week", demo.failed, "--out", str(out_dir)]
            )
    finally:
        os.environ.update(saved)
    stem = out_dir / f"weekly_report-{demo.failed}"
    return SimpleNamespace(code=code, out=stdout.getvalue(), err=stderr.getvalue(), stem=stem)


@pytest.fixture
def home_copy(demo_home, tmp_path) -> Path:
    """A private copy of the demo home for tests that change it (reruns)."""
    target = tmp_path / "home"
    shutil.copytree(demo_home, target)
    return target


@pytest.fixture
def no_opsbook_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("OPSBOOK_"):
            monkeypatch.delenv(key, raising=False)
