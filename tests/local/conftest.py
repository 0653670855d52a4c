"""Fixtures for the local backend: a fresh home under tmp_path, never the repo's .opsbook."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from support.local_data import insert_events as insert_rows

from opsbook.backends.local.backend import LocalBackend
from opsbook.config import load_config


def _make_backend(home, **overrides) -> LocalBackend:
    return LocalBackend(load_config(home=home, **overrides))


def _fire_time(week: str) -> datetime:
    """The schedule's fire time for a week: Thursday 09:30 Tokyo = 00:30 UTC."""
    day = date.fromisoformat(week)
    return datetime(day.year, day.month, day.day, 0, 30, tzinfo=UTC)


def _insert_events(backend: LocalBackend, day: str, n: int = 3) -> None:
    """Rows of amount 0 straight into analytics.events (visible at once)."""
    insert_rows(backend, day, n, amount=0)


@pytest.fixture
def make_backend():
    made = []

    def make(home, **overrides):
        b = _make_backend(home, **overrides)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


@pytest.fixture
def fire_time():
    return _fire_time


@pytest.fixture
def insert_events():
    return _insert_events


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("OPSBOOK_HOME", raising=False)
    return tmp_path / "home"


@pytest.fixture
def backend(home, make_backend):
    return make_backend(home)


@pytest.fixture
def deployed(backend):
    backend.init()
    backend.deploy()
    return backend
