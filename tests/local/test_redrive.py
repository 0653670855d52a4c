"""Redrive, stop and crash recovery on the local backend, with AWS's rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from support.local_data import wait_for_event

from opsbook.errors import UsageError
from opsbook.workflows.schedules import week_input

WEEK = "2026-11-26"
LAST_DAY = "2026-11-25"


def _assert_history_intact(events) -> None:
    ids = [e["id"] for e in events]
    assert ids == list(range(1, len(ids) + 1))  # nothing lost, nothing duplicated
    assert sum(e["type"] == "ExecutionStarted" for e in events) == 1


def test_stop_while_polling_then_redrive_after_the_data_arrives(
    tmp_path, make_backend, insert_events
):
    home = tmp_path / "home"
    runner = make_backend(home)
    runner.init()
    runner.deploy()
    runner.clock = "real"  # Waits really wait (1 s), so the run can be stopped mid-way
    result = {}
    payload = week_input(WEEK, poll_seconds=1, max_polls=120)
    thread = threading.Thread(
        target=lambda: result.setdefault("run", runner.start(payload, name="w")), daemon=True
    )
    thread.start()
    other = make_backend(home)
    wait_for_event(other, "w", "WaitStateEntered")
    stopped = other.stop("w", error="Operator.Stopped", cause="stopped by the test")
    thread.join(30)
    assert stopped.status == "ABORTED" and stopped.error == "Operator.Stopped"
    assert result["run"].status == "ABORTED"
    before = other.history("w")
    assert before[-1]["type"] == "ExecutionAborted"

    insert_events(other, LAST_DAY)
    redriven = other.redrive("w")
    assert redriven.status == "SUCCEEDED", redriven.cause
    assert redriven.arn == stopped.arn and redriven.redrive_count == 1
    assert redriven.redrive_date is not None
    after = other.history("w")
    assert after[: len(before)] == before  # the history is kept, then continued
    assert after[len(before)]["type"] == "ExecutionRedriven"
    assert after[len(before)]["executionRedrivenEventDetails"]["redriveCount"] == 1
    _assert_history_intact(after)
    assert other.describe("w").redrive_count == 1


def test_sigkill_mid_run_is_shown_interrupted_and_can_be_redriven(
    tmp_path, make_backend, insert_events
):
    home = tmp_path / "home"
    backend = make_backend(home)
    backend.init()
    backend.deploy()
    env = {**os.environ, "OPSBOOK_HOME": str(home)}
    env.pop("SLACK_WEBHOOK_URL", None)
    args = ["--clock", "real", "--poll-seconds", "1", "--max-polls", "120"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsbook", "start", "--week", WEEK, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_event(backend, f"week-{WEEK}", "WaitStateEntered")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    interrupted = backend.describe(f"week-{WEEK}")
    assert interrupted.status == "FAILED" and interrupted.error == "Opsbook.Interrupted"
    assert "interrupted" in interrupted.cause or "ended before" in interrupted.cause
    events = backend.history(interrupted.arn)
    _assert_history_intact(events)
    assert events[-1]["type"] == "ExecutionFailed"

    insert_events(backend, LAST_DAY)
    redriven = backend.redrive(interrupted.arn)
    assert redriven.status == "SUCCEEDED", redriven.cause
    assert redriven.redrive_count == 1 and redriven.arn == interrupted.arn
    _assert_history_intact(backend.history(interrupted.arn))


def test_only_closed_unsucceeded_executions_within_14_days_can_be_redriven(
    deployed, insert_events, fire_time
):
    insert_events(deployed, LAST_DAY)
    ok = deployed.start(week_input(WEEK), name="ok")
    with pytest.raises(UsageError, match="SUCCEEDED"):
        deployed.redrive(ok.name)
    old = datetime.now(UTC) - timedelta(days=30)
    stale = deployed.start(
        week_input("2026-10-01", max_polls=1, poll_seconds=0), name="stale", scheduled_time=old
    )
    assert stale.status == "FAILED"
    with pytest.raises(UsageError, match="14 days"):
        deployed.redrive("stale")
    assert deployed.describe("stale").redrive_count == 0


def _outbox(backend) -> list[dict]:
    path = backend.cfg.home / "outbox" / "slack.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_late_week_fails_at_its_check_and_a_redrive_after_the_data_lands_succeeds(
    deployed, insert_events
):
    """The execution fails at CheckRecords (the state whose work failed), so a redrive resumes
    there (AWS: "continues the failed execution from the unsuccessful step"), re-runs the
    check and, the rows being there now, inserts the week."""
    failed = deployed.start(week_input(WEEK, max_polls=1, poll_seconds=0), name="w")
    assert failed.status == "FAILED" and failed.error == "PollingGaveUp"
    events = deployed.history("w")
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    assert entered[-1] == "CheckRecords" and "LoadFailed" not in entered
    # The failure reached Slack through the status change event, naming the week.
    last = _outbox(deployed)[-1]["text"]
    assert last.startswith(f"Week {WEEK} FAILED (w): PollingGaveUp: polling gave up after 1 polls")

    insert_events(deployed, LAST_DAY)
    again = deployed.redrive("w")
    assert again.status == "SUCCEEDED", again.cause
    assert again.redrive_count == 1 and again.arn == failed.arn
    history = deployed.history("w")
    _assert_history_intact(history)
    after = history[[e["type"] for e in history].index("ExecutionRedriven") :]
    resumed = [
        e["stateEnteredEventDetails"]["name"] for e in after if "stateEnteredEventDetails" in e
    ]
    assert resumed[:2] == ["CheckRecords", "IsDataReady"] and "InsertWeek" in resumed
    assert "loaded" in _outbox(deployed)[-1]["text"]


def test_an_aborted_execution_is_announced_like_a_failed_one(deployed):
    """Stopping an execution closes it ABORTED; the status change event reaches the notifier."""
    deployed.clock = "real"  # waits really wait, so the run is still polling when stopped
    started = deployed.start(week_input(WEEK, poll_seconds=1, max_polls=120), name="bg", wait=False)
    wait_for_event(deployed, "bg", "WaitStateEntered")
    stopped = deployed.stop(started.arn, error="Operator.Stopped", cause="by the test")
    assert stopped.status == "ABORTED"
    deadline = 50
    while deadline and not any("ABORTED" in m["text"] for m in _outbox(deployed)):
        deadline -= 1
        time.sleep(0.2)
    texts = [m["text"] for m in _outbox(deployed) if "ABORTED" in m["text"]]
    assert texts and texts[-1].startswith(
        f"Week {WEEK} ABORTED (bg): Operator.Stopped: by the test"
    )


def test_redrive_without_waiting_returns_running_and_finishes(
    tmp_path, make_backend, insert_events
):
    home = tmp_path / "home"
    backend = make_backend(home)
    backend.init()
    backend.deploy()
    backend.clock = "real"
    result = {}
    payload = week_input(WEEK, poll_seconds=1, max_polls=120)
    thread = threading.Thread(
        target=lambda: result.setdefault("run", backend.start(payload, name="w")), daemon=True
    )
    thread.start()
    other = make_backend(home)
    wait_for_event(other, "w", "WaitStateEntered")
    other.stop("w")
    thread.join(30)
    insert_events(other, LAST_DAY)
    started = other.redrive("w", wait=False)
    assert started.status in ("RUNNING", "SUCCEEDED") and started.redrive_count == 1
    done = other.wait("w", timeout=60)
    assert done.status == "SUCCEEDED" and done.redrive_count == 1
    _assert_history_intact(other.history("w"))
