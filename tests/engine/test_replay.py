"""Replay of recorded histories: the same definition matches event for event; a changed
Choice, Retry or timeout shows the first event where the path parts."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from opsbook.engine import StatesError, VirtualClock, execute, redrive
from opsbook.engine.replay import compare_histories, normalize, replay

FN = "arn:aws:lambda:us-east-1:123456789012:function:check"
START = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)

DEFINITION = {
    "StartAt": "Check",
    "TimeoutSeconds": 7200,
    "States": {
        "Check": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": FN, "Payload.$": "$"},
            "ResultSelector": {"rows.$": "$.Payload.rows"},
            "ResultPath": "$.check",
            "TimeoutSeconds": 60,
            "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 2}],
            "Next": "Ready",
        },
        "Ready": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.check.rows", "NumericGreaterThan": 0, "Next": "Fan"}],
            "Default": "Later",
        },
        "Later": {"Type": "Wait", "Seconds": 600, "Next": "Check"},
        "Fan": {
            "Type": "Map",
            "ItemsPath": "$.days",
            "MaxConcurrency": 1,
            "ItemProcessor": {
                "StartAt": "Load",
                "States": {
                    "Load": {
                        "Type": "Task",
                        "Resource": "arn:aws:lambda:us-east-1:123456789012:function:load",
                        "End": True,
                    }
                },
            },
            "ResultPath": "$.loaded",
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


class Check:
    """rows arrive after `empty` polls; the first call is throttled once; each call takes
    `seconds` of virtual time."""

    def __init__(self, clock, empty=1, seconds=5.0):
        self.clock, self.empty, self.seconds, self.calls = clock, empty, seconds, 0

    def __call__(self, payload):
        self.calls += 1
        self.clock.sleep(self.seconds)
        if self.calls == 1:
            raise StatesError("Lambda.TooManyRequestsException", "Rate exceeded.")
        return {"rows": 0 if self.calls <= self.empty + 1 else 42}


def _record(definition=DEFINITION, days=(1, 2, 3), load=None):
    clock = VirtualClock(START)
    tasks = {FN: Check(clock), "load": load or (lambda day: {"day": day, "ok": True})}
    run = execute(definition, {"days": list(days)}, tasks=tasks, clock=clock, name="week-1")
    return run


def _changed(path, value):
    d = copy.deepcopy(DEFINITION)
    target = d["States"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return d


def test_the_same_definition_replays_event_for_event():
    run = _record()
    assert run.status == "SUCCEEDED"
    types = [e["type"] for e in run.history]
    assert "TaskFailed" in types and "WaitStateEntered" in types and "MapStateEntered" in types
    result = replay(DEFINITION, run.history, name="week-1")
    assert result.match, result.divergence
    assert result.divergence is None
    assert result.run.output == run.output


def test_a_failed_run_replays_its_error():
    def broken(day):
        raise ValueError(f"day {day} is bad")

    run = _record(load=broken)
    assert run.status == "FAILED" and run.error == "ValueError"
    result = replay(DEFINITION, run.history)
    assert result.match, result.divergence
    assert (result.run.status, result.run.error) == ("FAILED", "ValueError")


@pytest.mark.parametrize(
    ("path", "value", "recorded", "replayed", "why"),
    [
        # rows > 100 never holds: the Choice sends the run to Later where it went to Fan
        (
            ["Ready", "Choices", 0, "NumericGreaterThan"],
            100,
            ("MapStateEntered", "Fan"),
            ("WaitStateEntered", "Later"),
            "recorded MapStateEntered 'Fan', the replay did WaitStateEntered 'Later'",
        ),
        # no retry: the throttled first call fails the run where it was retried
        (
            ["Check", "Retry"],
            [],
            ("TaskScheduled", None),
            ("ExecutionFailed", None),
            "recorded TaskScheduled, the replay did ExecutionFailed (Lambda.TooManyRequestsException)",
        ),
        # a 3 s timeout: every recorded call took 5 s
        (
            ["Check", "TimeoutSeconds"],
            3,
            ("TaskScheduled", None),
            ("TaskScheduled", None),
            "TaskScheduled differs in timeoutInSeconds",
        ),
    ],
)
def test_a_changed_definition_shows_where_the_path_parts(path, value, recorded, replayed, why):
    run = _record()
    result = replay(_changed(path, value), run.history)
    assert not result.match
    d = result.divergence
    assert set(d) == {"event_id", "recorded", "replayed", "why"}
    assert (d["recorded"]["type"], _name(d["recorded"])) == recorded
    assert (d["replayed"]["type"], _name(d["replayed"])) == replayed
    assert d["why"] == why
    assert d["event_id"] == d["recorded"]["id"]


def test_a_shorter_timeout_times_the_recorded_call_out():
    run = _record()
    result = replay(_changed(["Check", "TimeoutSeconds"], 3), run.history)
    types = [e["type"] for e in result.run.history]
    assert "TaskTimedOut" in types
    assert (result.run.status, result.run.error) == ("FAILED", "States.Timeout")


def test_a_redriven_execution_replays_with_its_redrive():
    calls = {"n": 0}

    def flaky(day):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return {"day": day}

    clock = VirtualClock(START)
    tasks = {FN: Check(clock, empty=0), "load": flaky}
    first = execute(DEFINITION, {"days": [1, 2]}, tasks=tasks, clock=clock)
    assert first.status == "FAILED"
    clock.sleep(3600)
    again = redrive(DEFINITION, first.history, tasks=tasks, clock=clock)
    assert again.status == "SUCCEEDED"
    result = replay(DEFINITION, again.history)
    assert result.match, result.divergence
    assert sum(e["type"] == "ExecutionRedriven" for e in result.run.history) == 1


def test_map_iterations_get_their_own_answers_whatever_the_order():
    run = _record(days=(1, 2, 3))
    history = run.history
    result = replay(DEFINITION, history)
    assert result.match
    loaded = [x["day"] for x in result.run.output["loaded"]]
    assert loaded == [1, 2, 3]


def test_normalize_ignores_time_role_and_text_formatting():
    a = {
        "id": 1,
        "type": "ExecutionStarted",
        "previousEventId": 0,
        "timestamp": START,
        "executionStartedEventDetails": {"input": '{"a": 1, "b": 2}', "roleArn": "r1"},
    }
    b = {**a, "timestamp": datetime(2030, 1, 1, tzinfo=UTC)}
    b["executionStartedEventDetails"] = {"input": '{"b":2,"a":1}', "roleArn": "r2"}
    assert normalize(a) == normalize(b)
    assert compare_histories([a], [b]) is None
    c = {**a, "executionStartedEventDetails": {"input": '{"a": 2}'}}
    assert compare_histories([a], [c])["why"] == "ExecutionStarted differs in input"
    assert compare_histories([a], [])["why"].startswith("the replay ended")


def test_a_history_must_start_with_execution_started():
    with pytest.raises(ValueError, match="ExecutionStarted"):
        replay(DEFINITION, [])


def _name(event):
    for key, value in event.items():
        if key.endswith("EventDetails"):
            return value.get("name")
    return None


def test_a_stopped_execution_stops_again_at_the_same_moment():
    definition = {
        "StartAt": "One",
        "States": {
            "One": {"Type": "Wait", "Seconds": 600, "Next": "Two"},
            "Two": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    clock = VirtualClock(START)
    stop = {"error": "Stopped", "cause": "by an operator"}
    run = execute(
        definition,
        {},
        clock=clock,
        should_abort=lambda: stop if (clock.now() - START).total_seconds() >= 900 else None,
    )
    assert run.status == "ABORTED"
    result = replay(definition, run.history)
    assert result.match, result.divergence
    assert (result.run.status, result.run.error) == ("ABORTED", "Stopped")
