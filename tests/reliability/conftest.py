"""Fixtures for the reliability tests: scrubbed subprocess environments, a local home,
loopback HTTP servers (Slack webhook, an AWS fault proxy) and a moto server on 127.0.0.1.

Every subprocess and every server wait is bounded."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.definitions import pass_only_definitions
from support.local_data import insert_events as insert_rows
from support.loopback import Loopback, webhook_factory  # noqa: F401 - Loopback re-exported
from support.moto_server import MOTO_REGION, point_environment_at, reset, set_execute

from opsbook.backends.local.backend import LocalBackend
from opsbook.config import load_config

WEEK = "2026-11-26"
LAST_DAY = "2026-11-25"
TOKEN = "T000/B000/rElIaBiLiTyToKeN42"


@dataclass
class Result:
    code: int
    out: str
    err: str


def scrubbed_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: no AWS_*, OPSBOOK_*, SLACK_* variables; HOME is a temp folder."""
    home = tmp_path / "user-home"
    home.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "OPSBOOK_", "SLACK_", "BQ_", "GOOGLE_"))
    }
    env.update(HOME=str(home), AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 120, cwd=None) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "opsbook", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def one_line_error(result: Result, code: int = 2) -> str:
    """Assert exit `code`, exactly one `error: ...` line on stderr and no traceback."""
    assert result.code == code, (result.code, result.out[-500:], result.err[-1500:])
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def insert_events(backend: LocalBackend, day: str, n: int = 3) -> None:
    insert_rows(backend, day, n, amount=1.5)


def add_week(backend: LocalBackend, week: str = WEEK, *, last_day: bool = True) -> None:
    """Three rows on each day of the week (the last day optional)."""
    from datetime import timedelta

    from opsbook.workflows.schedules import week_dates

    start = week_dates(week).week_start
    days = [start + timedelta(days=i) for i in range(7)]
    for day in days if last_day else days[:-1]:
        insert_events(backend, day.isoformat())


def summary(backend: LocalBackend) -> list[tuple]:
    wh = backend.open_warehouse()
    try:
        frame = wh.query(
            "SELECT * FROM `opsbook-local.analytics.weekly_summary`"
            " ORDER BY week, event_date, event_type"
        )
    finally:
        wh.close()
    return [tuple(str(v) for v in row) for row in frame.itertuples(index=False)]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith(("OPSBOOK_", "SLACK_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def make_local(clean_env):
    made: list[LocalBackend] = []

    def make(home: Path, *, clock: str = "virtual", **overrides) -> LocalBackend:
        backend = LocalBackend(load_config(home=home, **overrides), clock=clock)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def deployed(make_local, tmp_path) -> LocalBackend:
    backend = make_local(tmp_path / "home")
    backend.init()
    backend.deploy()
    return backend


# --------------------------------------------------------------------------- loopback servers
# Loopback and Webhook live in support.loopback (shared with tests/workflow); Loopback is
# imported here by name for the tests that import it from this conftest.
@pytest.fixture
def webhook():
    yield from webhook_factory(TOKEN)


# --------------------------------------------------------------------------- moto
# moto_url: the session's moto server (tests/conftest.py).
AWS_REGION = MOTO_REGION


@pytest.fixture
def aws_env(moto_url, monkeypatch, tmp_path):
    """Fresh moto state; only the standard AWS variables, pointing at moto."""
    reset(moto_url, execute=True)
    point_environment_at(monkeypatch, moto_url, tmp_path, scrub=("AWS_", "OPSBOOK_", "SLACK_"))
    yield moto_url
    set_execute(moto_url, False)


@pytest.fixture
def aws_deployed(aws_env, tmp_path, tmp_path_factory):
    """An AwsBackend on moto with the pass-only definition deployed (small layer)."""
    from opsbook.backends.aws.backend import AwsBackend

    defs = pass_only_definitions(tmp_path)
    backend = AwsBackend(
        load_config(home=tmp_path / "home", backend="aws", definitions_dir=str(defs))
    )
    backend.deploy()
    yield backend
    backend.close()
