"""state_visits and failure_detail over hand-written histories and a real failed demo week."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from opsbook.operations.failures import FAILURE_KEYS, VISIT_KEYS, failure_detail, state_visits

T0 = datetime(2026, 11, 5, 0, 30, tzinfo=UTC)


def history(*steps: tuple) -> list[dict]:
    """(minutes, type, details) -> GetExecutionHistory-shaped events."""
    events = []
    for i, (minutes, kind, details) in enumerate(steps, start=1):
        key = {
            "Entered": "stateEnteredEventDetails",
            "Exited": "stateExitedEventDetails",
        }.get(kind[-7:], kind[0].lower() + kind[1:] + "EventDetails")
        events.append(
            {"id": i, "type": kind, "timestamp": T0 + timedelta(minutes=minutes), key: details}
        )
    return events


def enter(m, kind, name, data=None):
    return (m, f"{kind}StateEntered", {"name": name, "input": json.dumps(data or {})})


def leave(m, kind, name):
    return (m, f"{kind}StateExited", {"name": name, "output": "{}"})


POLL_TWICE_THEN_FAIL = history(
    (0, "ExecutionStarted", {"input": "{}"}),
    enter(0, "Task", "Check", {"poll": 0}), leave(0, "Task", "Check"),
    enter(0, "Wait", "Wait"), leave(10, "Wait", "Wait"),
    enter(10, "Task", "Check", {"poll": 1}), leave(10, "Task", "Check"),
    enter(10, "Wait", "Wait"), leave(20, "Wait", "Wait"),
    enter(20, "Task", "Check", {"poll": 2}),
    (20, "TaskFailed", {"error": "Lambda.Unknown", "cause": "boom " * 60}),
    (21, "ExecutionFailed", {}),
)  # fmt: skip

FAIL_STATE = history(
    (0, "ExecutionStarted", {"input": "{}"}),
    enter(0, "Pass", "GaveUp", {"week": "2026-11-05"}), leave(0, "Pass", "GaveUp"),
    enter(1, "Fail", "LoadFailed", {"week": "2026-11-05", "failure": {"error": "X"}}),
    (1, "ExecutionFailed", {"error": "PollingGaveUp", "cause": "no rows for 2026-11-04 " * 10}),
)  # fmt: skip

REDRIVEN_TO_SUCCESS = FAIL_STATE[:-1] + [
    {"id": 5, "type": "ExecutionFailed", "timestamp": T0 + timedelta(minutes=1),
     "executionFailedEventDetails": {"error": "PollingGaveUp", "cause": "late"}},
    {"id": 6, "type": "ExecutionRedriven", "timestamp": T0 + timedelta(minutes=90),
     "executionRedrivenEventDetails": {"redriveCount": 1}},
    {"id": 7, "type": "TaskStateEntered", "timestamp": T0 + timedelta(minutes=90),
     "stateEnteredEventDetails": {"name": "GaveUp", "input": "{}"}},
    {"id": 8, "type": "TaskStateExited", "timestamp": T0 + timedelta(minutes=92),
     "stateExitedEventDetails": {"name": "GaveUp", "output": "{}"}},
    {"id": 9, "type": "ExecutionSucceeded", "timestamp": T0 + timedelta(minutes=92),
     "executionSucceededEventDetails": {"output": "{}"}},
]  # fmt: skip


def test_a_poll_loop_collapses_to_one_row_per_state_with_its_count():
    rows = state_visits(POLL_TWICE_THEN_FAIL)
    assert all(tuple(r) == VISIT_KEYS for r in rows)
    table = [(r["state"], r["type"], r["count"], r["duration_s"], r["status"]) for r in rows]
    assert table == [
        ("Check", "Task", 3, 60.0, "FAILED"),  # the open third visit closes at ExecutionFailed
        ("Wait", "Wait", 2, 1200.0, "SUCCEEDED"),
    ]
    assert rows[0]["entered"] == T0 and rows[0]["exited"] == T0 + timedelta(minutes=21)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # the end event has no error: the failed task attempt's error and full cause
        (POLL_TWICE_THEN_FAIL,
         {"state": "Check", "error": "Lambda.Unknown", "cause": "boom " * 60,
          "when": T0 + timedelta(minutes=21), "input": {"poll": 2}}),
        # a Fail state: the end event's error and cause, uncut; the Fail state's input
        (FAIL_STATE,
         {"state": "LoadFailed", "error": "PollingGaveUp", "cause": "no rows for 2026-11-04 " * 10,
          "when": T0 + timedelta(minutes=1),
          "input": {"week": "2026-11-05", "failure": {"error": "X"}}}),
        (REDRIVEN_TO_SUCCESS, None),
        (FAIL_STATE[:-1], None),  # still running, never failed
        ([], None),
    ],
)  # fmt: skip
def test_failure_detail(events, expected):
    found = failure_detail(events)
    assert found == expected
    if found is not None:
        assert tuple(found) == FAILURE_KEYS


def test_a_timed_out_execution_reports_states_timeout():
    events = FAIL_STATE[:-1] + [
        {"id": 9, "type": "ExecutionTimedOut", "timestamp": T0, "executionTimedOutEventDetails": {}}
    ]
    assert failure_detail(events)["error"] == "States.Timeout"


def test_the_failed_demo_week(tmp_path):
    """The real history of a week whose data came after the polling window."""
    from opsbook.backends import connect
    from opsbook.cli import run

    home = str(tmp_path / "home")
    assert (
        run(["--home", home, "init", "--demo-data", "--weeks", "1", "--end-week", "2026-11-05"])
        == 0
    )
    assert run(["--home", home, "deploy"]) == 0
    run(["--home", home, "schedule", "run", "--since", "2026-11-05", "--until", "2026-11-05"])
    backend = connect("local", home=home)
    try:
        events = backend.history("week-2026-11-05")
    finally:
        backend.close()
    assert events[-1]["type"] == "ExecutionFailed"  # the default seed makes this week late
    detail = failure_detail(events)
    assert detail["error"] == "PollingGaveUp" and "no rows for 2026-11-04" in detail["cause"]
    visits = {r["state"]: r for r in state_visits(events)}
    assert visits["WaitForData"]["count"] == 18 and visits["CheckRecords"]["count"] == 19
    assert len(visits) < 20 < len(events)
