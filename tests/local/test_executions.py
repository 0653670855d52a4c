"""Executions on the local backend: start, describe, list, history, notifications, idempotency."""

from __future__ import annotations

import json

import pytest

from opsbook.errors import ExecutionAlreadyExists, ExecutionNotFound, UsageError
from opsbook.workflows.schedules import week_input

WEEK = "2026-11-26"  # covers 2026-11-19..2026-11-25; checks 2026-11-25


def _outbox(backend) -> list[dict]:
    path = backend.home / "outbox" / "slack.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _summary(backend):
    wh = backend.open_warehouse()
    try:
        return wh.query(
            "SELECT week, event_date, event_type, events, users, amount"
            " FROM `opsbook-local.analytics.weekly_summary` ORDER BY 1, 2, 3"
        )
    finally:
        wh.close()


def test_a_complete_week_succeeds_with_notifications_in_order(deployed, insert_events, fire_time):
    for day in ("2026-11-19", "2026-11-22", "2026-11-25"):
        insert_events(deployed, day)
    execution = deployed.start(
        week_input(WEEK), name=f"week-{WEEK}", scheduled_time=fire_time(WEEK)
    )
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.arn == (
        "arn:aws:states:local:000000000000:execution:opsbook-weekly-load:week-2026-11-26"
    )
    assert execution.version_arn == deployed.live_version()
    assert execution.start_date == fire_time(WEEK)
    texts = [m["text"] for m in _outbox(deployed)]
    assert len(texts) == 2 and WEEK in texts[0] and WEEK in texts[1]
    assert texts[0] != texts[1]
    summary = _summary(deployed)
    assert set(summary["event_date"].astype(str)) == {"2026-11-19", "2026-11-22", "2026-11-25"}
    assert int(summary["events"].sum()) == 9

    # describe / list / history agree with what ran.
    assert deployed.describe(f"week-{WEEK}") == execution
    assert deployed.describe(execution.arn) == execution
    assert [e.name for e in deployed.list_executions()] == [f"week-{WEEK}"]
    assert deployed.list_executions(status="FAILED") == []
    events = deployed.history(execution.name)
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["previousEventId"] < e["id"] for e in events)


def test_a_missing_last_day_fails_after_the_configured_polls(deployed, insert_events, fire_time):
    insert_events(deployed, "2026-11-20")  # but nothing for 2026-11-25
    execution = deployed.start(
        week_input(WEEK, poll_seconds=300, max_polls=4), name="w", scheduled_time=fire_time(WEEK)
    )
    assert execution.status == "FAILED"
    assert "4" in execution.cause and "2026-11-25" in execution.cause
    events = deployed.history("w")
    waits = [e for e in events if e["type"] == "WaitStateEntered"]
    assert len(waits) == 4
    # The virtual clock moved 4 x 300 s; no real time passed.
    assert (execution.stop_date - execution.start_date).total_seconds() == 4 * 300
    texts = [m["text"] for m in _outbox(deployed)]
    # Polling started (poll 1), then the failure from the status change event; with
    # notify_every 6 (the default) polls 2-4 send nothing.
    assert len(texts) == 2 and texts[0].startswith(f"Week {WEEK}: polling started")
    assert texts[-1].startswith(f"Week {WEEK} FAILED (w): PollingGaveUp: polling gave up after 4")
    assert _summary(deployed).empty


def test_a_week_run_twice_leaves_weekly_summary_unchanged(deployed, insert_events, fire_time):
    for day in ("2026-11-21", "2026-11-25"):
        insert_events(deployed, day, n=4)
    first = deployed.start(week_input(WEEK), name="first", scheduled_time=fire_time(WEEK))
    before = _summary(deployed)
    second = deployed.start(week_input(WEEK), name="second")
    assert first.status == second.status == "SUCCEEDED"
    after = _summary(deployed)
    assert not before.empty and before.equals(after)


def test_a_closed_name_cannot_be_started_again(deployed, insert_events):
    insert_events(deployed, "2026-11-25")
    done = deployed.start(week_input(WEEK), name="w")
    with pytest.raises(ExecutionAlreadyExists) as info:
        deployed.start(week_input(WEEK), name="w")
    assert info.value.existing.arn == done.arn and info.value.existing.status == "SUCCEEDED"
    assert len(deployed.list_executions()) == 1


def test_bad_names_inputs_and_unknown_executions(deployed):
    for bad in ("", "a b", "x" * 81, "a/b", "week:1", "[w]"):
        with pytest.raises(UsageError):
            deployed.start({"week": WEEK}, name=bad)
    with pytest.raises(UsageError, match="JSON"):
        deployed.start({"week": object()}, name="ok")
    with pytest.raises(ExecutionNotFound):
        deployed.describe("nope")
    with pytest.raises(ExecutionNotFound):
        deployed.history("nope")
    assert deployed.list_executions() == []


def test_start_on_a_fresh_home_deploys_first(backend, insert_events):
    execution = backend.start(week_input(WEEK, max_polls=1, poll_seconds=0), name="w")
    assert backend.live_version() is not None
    assert execution.version_arn == backend.live_version()
    assert execution.status == "FAILED"  # no data at all


def test_reads_on_an_unused_home_create_nothing(backend):
    assert backend.list_executions() == []
    assert backend.live_version() is None
    with pytest.raises(ExecutionNotFound):
        backend.describe("w")
    assert not backend.home.exists()


def test_no_wait_returns_running_and_the_execution_finishes(deployed, insert_events):
    insert_events(deployed, "2026-11-25")
    started = deployed.start(week_input(WEEK), name="bg", wait=False)
    assert started.status in ("RUNNING", "SUCCEEDED")
    done = deployed.wait("bg", timeout=60)
    assert done.status == "SUCCEEDED" and done.arn == started.arn


def test_threads_sharing_one_backend_run_weeks_side_by_side(backend):
    """rerun() acts on weeks from a thread pool over one backend instance."""
    from concurrent.futures import ThreadPoolExecutor

    backend.init(demo_data=True, weeks=4, seed=7, end_week=WEEK)
    backend.deploy()
    weeks = ["2026-11-05", "2026-11-12", "2026-11-19", WEEK]
    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda w: backend.start(week_input(w), name=f"week-{w}"), weeks))
    assert [r.status for r in runs] == ["SUCCEEDED"] * 4, [r.cause for r in runs]
    for run in runs:
        ids = [e["id"] for e in backend.history(run.arn)]
        assert ids == list(range(1, len(ids) + 1))
    assert len(backend.list_executions()) == 4


def test_local_backend_implements_the_backend_protocol(backend):
    from opsbook.backends import Backend, connect

    assert isinstance(backend, Backend) and backend.name == "local"
    other = connect("local", home=backend.home, create=True)
    try:
        assert type(other) is type(backend) and other.home == backend.home
    finally:
        other.close()


def test_a_held_warehouse_file_is_a_clear_error_and_starts_nothing(deployed, tmp_path):
    import subprocess
    import sys

    from opsbook.warehouse import WarehouseLocked

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " time.sleep(60)",
            str(deployed.warehouse_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        deployed.lock_timeout = 0.5
        with pytest.raises(WarehouseLocked) as info:
            deployed.start(week_input(WEEK), name="w")
        assert str(deployed.warehouse_path) in str(info.value) and info.value.exit_code == 2
        assert deployed.list_executions() == []  # nothing half-started
    finally:
        holder.kill()
        holder.wait(30)
    assert deployed.start(week_input(WEEK, max_polls=1), name="w").status == "FAILED"


def test_a_fire_time_in_tokyo_time_runs_and_records_utc(deployed, insert_events):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    insert_events(deployed, "2026-11-25")
    fired = datetime(2026, 11, 26, 9, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    run = deployed.start(week_input(WEEK), name="w", scheduled_time=fired)
    assert run.status == "SUCCEEDED", run.cause
    assert run.start_date == datetime(2026, 11, 26, 0, 30, tzinfo=UTC)
    assert all(e["timestamp"].utcoffset().total_seconds() == 0 for e in deployed.history("w"))
