"""Every week status and rerun action on the local backend: the real definition, the real
engine, the real SQLite store and DuckDB warehouse."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from support.local_data import insert_events, wait_for_event

from opsbook.backends.local.backend import LocalBackend
from opsbook.config import load_config
from opsbook.operations import history as H
from opsbook.operations.backfill import REDRIVE, SKIP, START, plan_rerun, rerun
from opsbook.reporting.report import latest_due_week
from opsbook.workflows.schedules import week_input

LAST = latest_due_week()  # its run has fired: before 09:30 on a Thursday, the week before
W = {k: (LAST - timedelta(days=7 * k)).isoformat() for k in range(-1, 6)}
# W[5] SUCCEEDED, W[4] FAILED (Fail state), W[3] MISSING, W[2] TIMED_OUT, W[1] ABORTED (recent),
# W[0] RUNNING, W[-1] PENDING.


def insert_day(backend: LocalBackend, week: str, n: int = 3) -> None:
    """Rows for the week's last day straight into analytics.events (visible at once)."""
    day = date.fromisoformat(week) - timedelta(days=1)
    insert_events(backend, day.isoformat(), n, amount=1)


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("OPSBOOK_HOME", raising=False)
    made: list[LocalBackend] = []

    def make(clock: str = "virtual") -> LocalBackend:
        backend = LocalBackend(load_config(home=tmp_path / "home", backend="local"), clock=clock)
        made.append(backend)
        return backend

    first = make()
    first.init()
    first.deploy()
    yield make
    for backend in made:
        backend.close()


def _real_run(make, week: str) -> threading.Thread:
    """A real-clock run polling every second (no data yet), in a thread: RUNNING until stopped."""
    runner = make("real")
    payload = week_input(week, poll_seconds=1, max_polls=120)
    thread = threading.Thread(
        target=runner.start, args=(payload,), kwargs={"name": f"week-{week}"}, daemon=True
    )
    thread.start()
    wait_for_event(make(), f"week-{week}", "WaitStateEntered")
    return thread


@pytest.fixture
def year(local):
    b = local()
    fire = b.workflow.fire_time  # the schedule's fire time for a week
    insert_day(b, W[5])
    assert (
        b.start(
            week_input(W[5]), name=f"week-{W[5]}", scheduled_time=fire(date.fromisoformat(W[5]))
        ).status
        == "SUCCEEDED"
    )
    failed = b.start(
        week_input(W[4], poll_seconds=0, max_polls=1),
        name=f"week-{W[4]}",
        scheduled_time=fire(date.fromisoformat(W[4])),
    )
    assert failed.status == "FAILED"
    # 18 polls 2 h apart outlast the definition's 12 h TimeoutSeconds.
    timed_out = b.start(
        week_input(W[2], poll_seconds=7200, max_polls=18),
        name=f"week-{W[2]}",
        scheduled_time=fire(date.fromisoformat(W[2])),
    )
    assert timed_out.status == "TIMED_OUT"
    aborted = _real_run(local, W[1])
    assert (
        b.stop(f"week-{W[1]}", error="Operator.Stopped", cause="stopped by the test").status
        == "ABORTED"
    )
    aborted.join(30)
    running = _real_run(local, W[0])
    yield b
    try:
        b.stop(f"week-{W[0]}")
    except Exception:  # already stopped by the test
        pass
    running.join(30)


def test_every_status_and_action_then_rerun_is_idempotent(year):
    b = year
    weeks = H.weeks(b, W[5], W[-1]).set_index("week")
    assert weeks["status"].to_dict() == {
        W[5]: "SUCCEEDED",
        W[4]: "FAILED",
        W[3]: "MISSING",
        W[2]: "TIMED_OUT",
        W[1]: "ABORTED",
        W[0]: "RUNNING",
        W[-1]: "PENDING",
    }
    assert weeks.loc[W[4], "error"] == "PollingGaveUp" and weeks.loc[W[4], "polls"] == 1
    assert weeks.loc[W[2], "error"] == "States.Timeout"
    assert weeks.loc[W[2], "duration"] == 12 * 3600
    assert weeks.loc[W[1], "polls"] >= 1

    plan = plan_rerun(b, W[5], W[-1]).set_index("week")
    assert plan["action"].to_dict() == {
        W[5]: SKIP,
        W[4]: START,
        W[3]: START,
        W[2]: START,
        W[1]: REDRIVE,
        W[0]: SKIP,
        W[-1]: SKIP,
    }
    assert "Fail state" in plan.loc[W[4], "reason"] or "14 days" in plan.loc[W[4], "reason"]
    assert plan.loc[W[3], "new_name"] == f"week-{W[3]}"
    assert plan.loc[W[2], "new_name"] == f"week-{W[2]}-r1"

    # The late data arrives; the running week is stopped, so it is redriven too.
    for week in (W[4], W[3], W[2], W[1], W[0]):
        insert_day(b, week)
    b.stop(f"week-{W[0]}")
    summary_before = _summary_rows(b, W[5])
    results = rerun(b, plan_rerun(b, W[5], W[-1]), max_concurrency=2, progress=False).set_index(
        "week"
    )
    assert results["action"].to_dict() == {
        W[5]: SKIP,
        W[4]: START,
        W[3]: START,
        W[2]: START,
        W[1]: REDRIVE,
        W[0]: REDRIVE,
        W[-1]: SKIP,
    }
    acted = results[results["action"] != SKIP]
    assert (acted["status"] == "SUCCEEDED").all(), acted[["status", "reason", "error"]]
    assert b.describe(f"week-{W[1]}").redrive_count == 1
    assert _summary_rows(b, W[5]) == summary_before  # the succeeded week is untouched
    assert b.describe(f"week-{W[5]}").redrive_count == 0

    names = sorted(e.name for e in b.list_executions())
    again = rerun(b, plan_rerun(b, W[5], W[-1]), progress=False)
    assert (again["action"] == SKIP).all()
    assert sorted(e.name for e in b.list_executions()) == names
    after = H.weeks(b, W[5], W[0]).set_index("week")
    assert (after["status"] == "SUCCEEDED").all()
    assert after.loc[W[1], "attempts"] == 2 and after.loc[W[4], "attempts"] == 2


def _summary_rows(b: LocalBackend, week: str):
    wh = b.open_warehouse()
    try:
        df = wh.query(
            "SELECT * FROM `opsbook-local.analytics.weekly_summary` WHERE week = @w ORDER BY event_date, event_type",
            {"w": date.fromisoformat(week)},
        )
    finally:
        wh.close()
    return df.to_dict("records")


def test_local_redrive_timeline_and_failure_views(local):
    b = local()
    week = W[3]
    failed = b.start(week_input(week, poll_seconds=600, max_polls=2), name="w")
    assert failed.status == "FAILED"
    fail = H.failure(b, "w").iloc[0]
    assert (fail["state"], fail["state_type"], fail["error"]) == (
        "CheckRecords",
        "Task",
        "PollingGaveUp",
    )
    tl = H.timeline(b, "w")
    assert tl[tl["state"] == "WaitForData"]["duration"].tolist() == [600.0, 600.0]
    ev = H.events(b, "w")
    assert ev["type"].iloc[0] == "ExecutionStarted" and ev["input"].iloc[0]["week"] == week
    assert "hooks.slack.com" not in ev.to_json(date_format="iso")
