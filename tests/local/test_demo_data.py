"""Synthetic late-arriving data: determinism, release by clock, polled and failed weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsbook.definitions.weekly_load.demo import (
    demo_rows,
    generate_demo_data,
    plan_arrivals,
    release_arrivals,
)
from opsbook.definitions.weekly_load.hooks import ensure_schema
from opsbook.errors import UsageError
from opsbook.warehouse import DuckDBWarehouse
from opsbook.workflows.schedules import parse_week, week_input

END = "2026-11-26"


def _weeks(n: int) -> list:
    end = parse_week(END)
    return [end - timedelta(days=7 * i) for i in range(n - 1, -1, -1)]


def test_rows_are_deterministic_for_a_seed_and_differ_across_seeds():
    rows_a, plan_a = demo_rows(_weeks(12), 7)
    rows_b, plan_b = demo_rows(_weeks(12), 7)
    rows_c, plan_c = demo_rows(_weeks(12), 8)
    assert rows_a == rows_b and plan_a == plan_b
    assert rows_a != rows_c


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_arrival_times_follow_the_story(seed):
    weeks = _weeks(12)
    plan = plan_arrivals(weeks, seed, poll_seconds=600, max_polls=18)
    assert len(plan["late_weeks"]) == 2 and len(plan["polled_weeks"]) == 2
    assert not set(plan["late_weeks"]) & set(plan["polled_weeks"])
    assert weeks[-1] not in plan["late_weeks"]
    rows, _ = demo_rows(weeks, seed)
    tokyo = timedelta(hours=9)
    for day, _ts, _user, _kind, _amount, arrival in rows:
        local = arrival + tokyo
        week = day + timedelta(days=(3 - day.weekday()) % 7 or 7)  # the Thursday after
        assert local.date() == day + timedelta(days=1)
        run = datetime(week.year, week.month, week.day, 0, 30, tzinfo=UTC)
        if week in plan["late_weeks"] and day == week - timedelta(days=1):
            assert arrival > run + timedelta(seconds=600 * 18)
        elif week in plan["polled_weeks"] and day == week - timedelta(days=1):
            assert run + timedelta(seconds=1200) < arrival < run + timedelta(seconds=1800)
        else:
            assert 5 <= local.hour < 10


def test_release_moves_only_rows_whose_time_has_come(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    ensure_schema(wh)
    info = generate_demo_data(wh, weeks=2, seed=3, end_week=END)
    assert info["weeks"] == ["2026-11-19", "2026-11-26"]
    total = info["demo_rows"]

    def count(table):
        return int(wh.query(f"SELECT COUNT(*) AS n FROM analytics.{table}")["n"].iloc[0])

    assert count("events") == 0 and count("_arrivals") == total
    # Nothing has arrived before the first day's morning.
    assert release_arrivals(wh, datetime(2026, 11, 12, tzinfo=UTC)) == 0
    moved = release_arrivals(wh, datetime(2026, 11, 20, 3, 0, tzinfo=UTC))  # noon Tokyo, 11-20
    assert moved > 0 and count("events") == moved
    dates = set(
        wh.query("SELECT DISTINCT event_date FROM analytics.events")["event_date"].astype(str)
    )
    # Days 11-12..11-19 have landed by noon Tokyo on 11-20 (each day lands by 10:00 next day).
    assert dates == {f"2026-11-{d}" for d in range(12, 20)}
    assert release_arrivals(wh, datetime(2030, 1, 1, tzinfo=UTC)) == total - moved
    assert count("_arrivals") == 0 and count("events") == total
    # Generating again replaces the range instead of duplicating it.
    generate_demo_data(wh, weeks=2, seed=3, end_week=END)
    assert count("events") == 0 and count("_arrivals") == total


def test_release_without_demo_data_is_a_no_op(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    ensure_schema(wh)
    assert release_arrivals(wh, datetime(2030, 1, 1, tzinfo=UTC)) == 0


def test_bad_arguments_are_usage_errors(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    with pytest.raises(UsageError):
        generate_demo_data(wh, weeks=0, end_week=END)
    with pytest.raises(UsageError, match="Thursday"):
        generate_demo_data(wh, weeks=2, end_week="2026-11-25")


def test_scheduled_runs_poll_fail_and_a_later_start_sees_everything(backend, fire_time):
    info = backend.init(demo_data=True, weeks=6, seed=7, end_week=END)
    backend.deploy()
    polled, late = info["polled_weeks"][0], info["late_weeks"][0]
    results = {}
    # Fire in date order, as the schedule does: a later run would release earlier rows.
    for week in sorted({polled, late}):
        run = backend.start(week_input(week), name=f"week-{week}", scheduled_time=fire_time(week))
        waits = [e for e in backend.history(run.arn) if e["type"] == "WaitStateEntered"]
        results[week] = (run, len(waits))

    run, waits = results[polled]
    assert run.status == "SUCCEEDED" and waits == 3  # three checks found nothing
    run, waits = results[late]
    assert run.status == "FAILED" and waits == 18
    assert "18 polls" in run.cause

    # A manual start now (virtual clock = now): the late rows have long arrived.
    again = backend.start(week_input(late), name=f"week-{late}-r1")
    assert again.status == "SUCCEEDED"
    assert not any(e["type"] == "WaitStateEntered" for e in backend.history(again.arn))
