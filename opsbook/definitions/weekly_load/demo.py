"""Synthetic late-arriving data for the local backend, released as the virtual clock passes.

`generate_demo_data` writes events for the N weeks ending at `end_week` into a pending table
(`<dataset>._arrivals`, the source columns plus `arrival_ts`). Day D "arrives" at a random time
between 05:00 and 10:00 Tokyo time on D+1. For a few weeks (chosen by the seed) the week's last
day is special:
  - "polled" weeks: it lands a little after the 09:30 run, so the run polls several times;
  - "late" weeks: it lands after the polling window (09:30 + max_polls * poll_seconds), so the
    scheduled run fails; a later start or redrive (virtual clock = now) finds it.

`release_arrivals(warehouse, now)` moves every pending row with arrival_ts <= now into the
source table, keeping its arrival_ts (the report's "as of the run" view reads it). The local backend calls it before each check_records invocation with the engine's
clock, so the same data gives the same runs every time.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from opsbook.config import IDENTIFIER
from opsbook.errors import UsageError

TOKYO = ZoneInfo("Asia/Tokyo")
ARRIVALS_TABLE = "_arrivals"
RUN_TIME = time(9, 30)  # the schedule fires Thursdays 09:30 Tokyo time
EVENT_TYPES = ("view", "view", "view", "click", "click", "purchase", "signup")
_COLUMNS = ("event_date", "event_ts", "user_id", "event_type", "amount")
_BATCH = 200  # rows per INSERT (values always travel as bound parameters)


def _table(warehouse: Any, dataset: str, table: str) -> str:
    if not IDENTIFIER.match(dataset) or not IDENTIFIER.match(table):
        raise UsageError(f"invalid dataset or table name {dataset}.{table}")
    return f"`{warehouse.project}.{dataset}.{table}`"


def _tokyo(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=TOKYO)


def _weeks(end_week: date | str | None, weeks: int) -> list[date]:
    from opsbook.workflows.schedules import last_completed_week, parse_week

    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 1 <= weeks <= 520:
        raise UsageError(f"--weeks must be a whole number from 1 to 520, not {weeks!r}")
    end = parse_week(end_week) if end_week is not None else last_completed_week()
    return [end - timedelta(days=7 * i) for i in range(weeks - 1, -1, -1)]


def plan_arrivals(
    weeks: list[date], seed: int, *, poll_seconds: int = 600, max_polls: int = 18
) -> dict[str, Any]:
    """Which weeks poll and which miss the window, and when each week's last day lands."""
    rng = random.Random(f"opsbook-demo-plan-{seed}")
    count = max(1, round(len(weeks) / 6))
    # The newest week always succeeds on a rerun soon after, so keep it out of the late set.
    candidates = weeks[:-1] if len(weeks) > 1 else weeks
    late = sorted(rng.sample(candidates, min(count, len(candidates))))
    rest = [w for w in weeks if w not in late]
    polled = sorted(rng.sample(rest, min(count, len(rest))))
    window_end = timedelta(seconds=poll_seconds * max_polls)
    last_day: dict[date, datetime] = {}
    for week in weeks:
        run = _tokyo(week, RUN_TIME)
        if week in late:
            # After the last poll: 15 minutes to 2 hours past the window.
            last_day[week] = run + window_end + timedelta(seconds=rng.randint(900, 7200))
        elif week in polled:
            # Between the 2nd and 3rd poll after the run: three checks find nothing.
            spread = max(poll_seconds, 60)
            last_day[week] = run + timedelta(seconds=int(spread * rng.uniform(2.1, 2.9)))
        else:
            last_day[week] = _tokyo(week, time(5)) + timedelta(seconds=rng.randint(0, 15900))
    return {
        "weeks": weeks,
        "late_weeks": late,
        "polled_weeks": polled,
        "last_day_arrival": last_day,
    }


def demo_rows(
    weeks: list[date], seed: int, *, poll_seconds: int = 600, max_polls: int = 18
) -> tuple[list[tuple], dict[str, Any]]:
    """Deterministic rows (source columns + arrival_ts) for every day of `weeks`."""
    plan = plan_arrivals(weeks, seed, poll_seconds=poll_seconds, max_polls=max_polls)
    rng = random.Random(f"opsbook-demo-rows-{seed}")
    rows: list[tuple] = []
    for week in weeks:
        for offset in range(7, 0, -1):
            day = week - timedelta(days=offset)
            if offset == 1:
                arrival = plan["last_day_arrival"][week]
            else:
                arrival = _tokyo(day + timedelta(days=1), time(5)) + timedelta(
                    seconds=rng.randint(0, 5 * 3600)
                )
            for _ in range(rng.randint(30, 60)):
                kind = rng.choice(EVENT_TYPES)
                amount = (
                    Decimal(rng.randint(300, 20000)).scaleb(-2)
                    if kind == "purchase"
                    else Decimal("0.00")
                )
                ts = _tokyo(day, time(0)) + timedelta(seconds=rng.randint(0, 86399))
                rows.append(
                    (
                        day,
                        ts.astimezone(UTC),
                        f"u{rng.randint(1, 80):03d}",
                        kind,
                        amount,
                        arrival.astimezone(UTC),
                    )
                )
    return rows, plan


def generate_demo_data(
    warehouse: Any,
    weeks: int = 12,
    seed: int = 7,
    end_week: date | str | None = None,
    *,
    dataset: str = "analytics",
    source: str = "events",
    poll_seconds: int = 600,
    max_polls: int = 18,
) -> dict[str, Any]:
    """Write synthetic pending events for the `weeks` weeks ending at `end_week` (default: the
    last completed week). Running it again for the same range replaces that range's data."""
    week_list = _weeks(end_week, weeks)
    rows, plan = demo_rows(week_list, seed, poll_seconds=poll_seconds, max_polls=max_polls)
    arrivals = _table(warehouse, dataset, ARRIVALS_TABLE)
    events = _table(warehouse, dataset, source)
    first, last = week_list[0] - timedelta(days=7), week_list[-1] - timedelta(days=1)
    warehouse.execute(
        f"CREATE TABLE IF NOT EXISTS {arrivals} (event_date DATE, event_ts TIMESTAMP,"
        " user_id STRING, event_type STRING, amount NUMERIC, arrival_ts TIMESTAMP)"
    )
    statements = [
        f"DELETE FROM {arrivals} WHERE event_date BETWEEN @first AND @last",
        f"DELETE FROM {events} WHERE event_date BETWEEN @first AND @last",
    ]
    warehouse.script(statements, {"first": first, "last": last})
    columns = (*_COLUMNS, "arrival_ts")
    session = getattr(warehouse, "session", None)
    with session() if session else _null():
        for start in range(0, len(rows), _BATCH):
            batch = rows[start : start + _BATCH]
            values: list[str] = []
            params: dict[str, Any] = {}
            for i, row in enumerate(batch):
                names = [f"{c}_{i}" for c in columns]
                values.append("(" + ", ".join(f"@{n}" for n in names) + ")")
                params.update(zip(names, row, strict=True))
            warehouse.execute(
                f"INSERT INTO {arrivals} ({', '.join(columns)}) VALUES {', '.join(values)}",
                params,
            )
    return {
        "weeks": [w.isoformat() for w in week_list],
        "late_weeks": [w.isoformat() for w in plan["late_weeks"]],
        "polled_weeks": [w.isoformat() for w in plan["polled_weeks"]],
        "demo_rows": len(rows),
        "seed": seed,
    }


def release_arrivals(
    warehouse: Any, now: datetime, *, dataset: str = "analytics", source: str = "events"
) -> int:
    """Move pending rows whose arrival_ts <= now into the source table (one transaction).
    Returns the number of rows released; 0 when there is no pending table."""
    from opsbook.warehouse import WarehouseError

    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    arrivals = _table(warehouse, dataset, ARRIVALS_TABLE)
    events = _table(warehouse, dataset, source)
    cols = ", ".join((*_COLUMNS, "arrival_ts"))
    try:
        pending = warehouse.query(
            f"SELECT COUNT(*) AS n FROM {arrivals} WHERE arrival_ts <= @now", {"now": now}
        )
    except WarehouseError as exc:
        if ARRIVALS_TABLE in str(exc) and "not exist" in str(exc):
            return 0
        raise
    count = int(pending["n"].iloc[0])
    if count == 0:
        return 0
    warehouse.script(
        [
            f"INSERT INTO {events} ({cols}) SELECT {cols} FROM {arrivals} WHERE arrival_ts <= @now",
            f"DELETE FROM {arrivals} WHERE arrival_ts <= @now",
        ],
        {"now": now},
    )
    return count


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
