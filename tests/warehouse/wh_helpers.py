"""Helpers shared by the warehouse tests (imported by name: conftest adds this folder to sys.path)."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

from opsbook.warehouse import render_template, split_statements

SQL_DIR = Path(__file__).resolve().parents[2] / "opsbook" / "definitions" / "weekly_load" / "sql"
NAMES = dict(project="opsbook-local", dataset="analytics", source="events", target="weekly_summary")
EVENTS = "`opsbook-local.analytics.events`"
SUMMARY = "`opsbook-local.analytics.weekly_summary`"
# Four events over two days of the week of 2026-11-26: (event_date, user_id, event_type, amount).
ROWS = [
    (dt.date(2026, 11, 19), "u1", "click", "1.25"),
    (dt.date(2026, 11, 19), "u2", "buy", "10.50"),
    (dt.date(2026, 11, 25), "u1", "click", "0.10"),
    (dt.date(2026, 11, 25), "u3", "click", "0.20"),
]

# Week 2026-11-26 covers Thursday 2026-11-19 .. Wednesday 2026-11-25.
WEEK = {
    "week": dt.date(2026, 11, 26),
    "week_start": dt.date(2026, 11, 19),
    "week_end": dt.date(2026, 11, 25),
}


def template(name: str) -> str:
    return render_template((SQL_DIR / f"{name}.sql").read_text(), **NAMES)


def statements(name: str) -> list[str]:
    return split_statements(template(name))


def add_events(wh, rows) -> int:
    """rows: (event_date, user_id, event_type, amount); event_ts is 03:00 UTC that day."""
    n = 0
    with wh.session():  # one open of the file for all the rows
        for day, user, kind, amount in rows:
            n += wh.execute(
                f"INSERT INTO {EVENTS} (event_date, event_ts, user_id, event_type, amount)"
                " VALUES (@d, @ts, @u, @k, @a)",
                {
                    "d": day,
                    "ts": dt.datetime.combine(day, dt.time(3), tzinfo=dt.UTC),
                    "u": user,
                    "k": kind,
                    "a": decimal.Decimal(amount),
                },
            )
    return n
