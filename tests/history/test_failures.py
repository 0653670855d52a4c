"""opsbook.operations.failures and opsbook.operations.display: pure functions over history
events, checked on hand-made histories and on a real run of the weekly load."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from opsbook.operations.display import duration_text, time_text
from opsbook.operations.failures import (
    FAILURE_KEYS,
    VISIT_KEYS,
    cause_message,
    failure_detail,
    poll_count,
    state_visits,
)

T0 = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)


def ev(i: int, kind: str, seconds: float, **details) -> dict:
    key = {
        "ExecutionStarted": "executionStartedEventDetails",
        "ExecutionFailed": "executionFailedEventDetails",
        "ExecutionSucceeded": "executionSucceededEventDetails",
        "ExecutionRedriven": "executionRedrivenEventDetails",
        "TaskFailed": "taskFailedEventDetails",
    }.get(
        kind, "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
    )
    return {"id": i, "type": kind, "timestamp": T0 + timedelta(seconds=seconds), key: details}


def poll_loop_history(polls: int) -> list[dict]:
    """Check, then `polls` x (wait 600 s, check), then the check fails the execution."""
    events = [ev(1, "ExecutionStarted", 0, input="{}")]
    t = 0.0
    for n in range(polls + 1):
        events.append(
            ev(
                len(events) + 1,
                "TaskStateEntered",
                t,
                name="CheckRecords",
                input=json.dumps({"poll": {"count": n}}),
            )
        )
        if n == polls:
            events.append(
                ev(
                    len(events) + 1,
                    "TaskFailed",
                    t + 1,
                    error="PollingGaveUp",
                    cause='{"errorMessage": "gave up"}',
                )
            )
            events.append(
                ev(
                    len(events) + 1,
                    "ExecutionFailed",
                    t + 1,
                    error="PollingGaveUp",
                    cause='{"errorMessage": "gave up", "errorType": "PollingGaveUp"}',
                )
            )
            break
        events.append(ev(len(events) + 1, "TaskStateExited", t + 2, name="CheckRecords"))
        events.append(ev(len(events) + 1, "WaitStateEntered", t + 2, name="WaitForData"))
        events.append(
            ev(
                len(events) + 1,
                "WaitStateExited",
                t + 602,
                name="WaitForData",
                output=json.dumps({"poll": {"count": n + 1}}),
            )
        )
        t += 602
    return events


def test_a_poll_loop_collapses_to_one_row_per_state_with_its_count():
    visits = state_visits(poll_loop_history(3))
    assert [tuple(v) for v in visits] == [VISIT_KEYS] * 2
    assert [(v["state"], v["type"], v["count"], v["status"]) for v in visits] == [
        ("CheckRecords", "Task", 4, "FAILED"),
        ("WaitForData", "Wait", 3, "SUCCEEDED"),
    ]
    check, wait = visits
    assert wait["duration_s"] == 3 * 600 and check["duration_s"] == 3 * 2 + 1
    assert check["entered"] == T0 and check["exited"] == T0 + timedelta(seconds=3 * 602 + 1)


def test_a_redrive_gives_the_resumed_state_a_row_of_its_own():
    events = poll_loop_history(1)
    n = len(events)
    events += [
        ev(n + 1, "ExecutionRedriven", 5000, redriveCount=1),
        ev(n + 2, "TaskStateEntered", 5000, name="CheckRecords", input="{}"),
        ev(n + 3, "TaskStateExited", 5003, name="CheckRecords"),
        ev(n + 4, "ExecutionSucceeded", 5003, output="{}"),
    ]
    rows = [(v["state"], v["count"], v["status"], v["duration_s"]) for v in state_visits(events)]
    assert rows == [
        ("CheckRecords", 2, "FAILED", 3.0),
        ("WaitForData", 1, "SUCCEEDED", 600.0),
        ("CheckRecords", 1, "SUCCEEDED", 3.0),
    ]
    assert failure_detail(events) is None  # the latest attempt succeeded


def test_a_state_still_running_has_no_duration_yet():
    events = [ev(1, "ExecutionStarted", 0), ev(2, "WaitStateEntered", 0, name="WaitForData")]
    assert state_visits(events) == [
        {"state": "WaitForData", "type": "Wait", "entered": T0, "exited": None,
         "duration_s": None, "count": 1, "status": "RUNNING"},
    ]  # fmt: skip
    assert failure_detail(events) is None


def test_failure_detail_names_the_state_error_full_cause_and_its_input():
    events = poll_loop_history(2)
    detail = failure_detail(events)
    assert tuple(detail) == FAILURE_KEYS
    assert detail["state"] == "CheckRecords" and detail["error"] == "PollingGaveUp"
    assert detail["cause"] == '{"errorMessage": "gave up", "errorType": "PollingGaveUp"}'  # whole
    assert detail["input"] == {"poll": {"count": 2}}
    assert detail["when"] == events[-1]["timestamp"]
    assert cause_message(detail["cause"]) == "gave up"


def test_a_cause_missing_from_the_end_event_comes_from_the_task_failure():
    events = poll_loop_history(0)
    events[-1]["executionFailedEventDetails"] = {}
    detail = failure_detail(events)
    assert (detail["error"], detail["cause"]) == ("PollingGaveUp", '{"errorMessage": "gave up"}')


@pytest.mark.parametrize(
    ("output", "events", "expected"),
    [
        ({"poll": {"count": 5}}, None, 5),  # the definition's own count wins
        ('{"poll": {"count": 2}}', None, 2),  # as a JSON string (AWS output)
        (None, "loop3", 3),  # from the history: the Wait state entered 3 times
        (None, None, None),  # nothing read: unknown
        ({"other": 1}, [], 0),
    ],
)
def test_poll_count(output, events, expected):
    history = poll_loop_history(3) if events == "loop3" else events
    assert poll_count(history, output) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (float("nan"), "-"), (0, "0s"), (45.4, "45s"), (750, "12m30s"),
     (3900, "1h05m"), (10800, "3h00m"), ("x", "-")],
)  # fmt: skip
def test_one_duration_format(seconds, text):
    assert duration_text(seconds) == text


@pytest.mark.parametrize(
    ("moment", "zone", "text"),
    [
        (T0, "Asia/Tokyo", "2026-11-26 00:30:00 UTC / 09:30:00 Asia/Tokyo"),
        (datetime(2026, 11, 25, 20, 0, tzinfo=UTC), "Asia/Tokyo",
         "2026-11-25 20:00:00 UTC / 2026-11-26 05:00:00 Asia/Tokyo"),  # the day differs
        ("2026-11-26T00:30:00Z", "UTC", "2026-11-26 00:30:00 UTC"),
        (None, "Asia/Tokyo", "-"),
    ],
)  # fmt: skip
def test_every_time_carries_its_zone(moment, zone, text):
    assert time_text(moment, ZoneInfo(zone)) == text


def test_time_text_shows_the_chosen_workflows_zone_and_defaults_to_the_weekly_loads():
    import contextvars

    from opsbook.operations.display import use_zone

    assert time_text(T0).endswith("09:30:00 Asia/Tokyo")

    def in_new_york() -> str:
        use_zone(ZoneInfo("America/New_York"))
        return time_text(T0)

    assert contextvars.copy_context().run(in_new_york) == (
        "2026-11-26 00:30:00 UTC / 2026-11-25 19:30:00 America/New_York"
    )
    assert time_text(T0).endswith("09:30:00 Asia/Tokyo")  # the setting stayed in its context
