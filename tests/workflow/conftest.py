"""Fixtures for the workflow tests: a real DuckDB warehouse and objects folder under a temp
home, and a loopback HTTP server that plays a scripted Slack webhook."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from support.loopback import webhook_factory

from opsbook.config import PACKAGE_ROOT
from opsbook.definitions.weekly_load.hooks import ensure_schema
from opsbook.lambdas.resources import Resources
from opsbook.warehouse import DuckDBWarehouse

DEFINITION = PACKAGE_ROOT / "definitions" / "weekly_load" / "weekly_load.asl.json"
SCHEDULE = PACKAGE_ROOT / "definitions" / "weekly_load" / "schedule.json"
SQL_DIR = PACKAGE_ROOT / "definitions" / "weekly_load" / "sql"
SOURCE = "`opsbook-local.analytics.events`"
TARGET = "`opsbook-local.analytics.weekly_summary`"


class Home:
    """A local home: warehouse.duckdb with the schema, objects/sql/ with the templates."""

    def __init__(self, root: Path):
        self.root = root
        self.objects = root / "objects"
        (self.objects / "sql").mkdir(parents=True)
        for path in SQL_DIR.glob("*.sql"):
            shutil.copy(path, self.objects / "sql" / path.name)
        self.db = root / "warehouse.duckdb"
        self.outbox = root / "outbox" / "slack.jsonl"
        wh = self.warehouse()
        ensure_schema(wh)
        wh.close()

    def warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(self.db)

    def add_events(self, day: date, n: int = 3, event_type: str = "view") -> None:
        self.add_days([day], n, event_type)

    def add_days(self, days: list[date], n: int = 3, event_type: str = "view") -> None:
        wh = self.warehouse()
        with wh.session():  # one connection for the whole batch
            for day in days:
                wh.execute(
                    f"INSERT INTO {SOURCE} (event_date, event_ts, user_id, event_type, amount)"
                    " SELECT @d, TIMESTAMP '2026-01-01 00:00:00',"
                    " 'user' || CAST(i AS STRING), @t, 1.25 FROM UNNEST(GENERATE_ARRAY(1, @n)) AS i",
                    {"d": day, "t": event_type, "n": n},
                )
        wh.close()

    def add_week(self, week: date, *, skip_last_day: bool = False, per_day: int = 3) -> None:
        days = [week - timedelta(days=7 - offset) for offset in range(7)]
        self.add_days(days[:-1] if skip_last_day else days, per_day)

    def summary(self) -> list[tuple]:
        wh = self.warehouse()
        frame = wh.query(f"SELECT * FROM {TARGET} ORDER BY week, event_date, event_type")
        wh.close()
        return [tuple(str(v) for v in row) for row in frame.itertuples(index=False)]

    def messages(self) -> list[dict]:
        if not self.outbox.exists():
            return []
        return [json.loads(line) for line in self.outbox.read_text().splitlines()]

    def resources(self, **overrides) -> Resources:
        return Resources.local(self.root, environ={}, **overrides)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home")


@pytest.fixture
def webhook():
    """make(statuses) -> a loopback Slack webhook (support.loopback.Webhook)."""
    yield from webhook_factory("T000/B000/sEcReTtOkEn123")
