"""DataFrame shaping from real engine histories (MemoryBackend in conftest runs the engine)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from support.definitions import SHIPPED_WEEKLY_LOAD

from opsbook.engine import VirtualClock, execute, redrive
from opsbook.errors import UsageError
from opsbook.operations import history as H
from opsbook.workflows.manifest import load_workflow

WEEKLY = load_workflow(SHIPPED_WEEKLY_LOAD, shipped=True)


def at(day: str, hour: int = 0, minute: int = 30) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


SLACK = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"

LOOP = {
    "StartAt": "Prep",
    "States": {
        "Prep": {
            "Type": "Pass",
            "Result": {"url": SLACK, "token": "xoxb-123-abc"},
            "ResultPath": "$.p",
            "Next": "Call",
        },
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "flaky", "Payload.$": "$"},
            "ResultSelector": {"Payload.$": "$.Payload"},
            "ResultPath": "$.r",
            "Retry": [
                {
                    "ErrorEquals": ["Lambda.TooManyRequestsException"],
                    "IntervalSeconds": 2,
                    "MaxAttempts": 3,
                    "BackoffRate": 2,
                }
            ],
            "Next": "Wait",
        },
        "Wait": {"Type": "Wait", "Seconds": 600, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}


def _flaky(fail_times: int):
    from opsbook.engine import StatesError

    state = {"n": 0}

    def handler(payload):
        state["n"] += 1
        if state["n"] <= fail_times:
            raise StatesError("Lambda.TooManyRequestsException", "Rate exceeded")
        return {"ok": True}

    return handler


def test_events_frame_decodes_json_and_redacts_secrets():
    run = execute(
        LOOP,
        {"week": "2026-11-26"},
        tasks={"flaky": _flaky(0)},
        clock=VirtualClock(at("2026-11-26")),
    )
    df = H.events_frame(
        run.history, H.redactor((r"https://hooks\.slack\.com/\S+", r"xox[abprs]-[A-Za-z0-9-]+"))
    )
    assert list(df.columns) == H.EVENT_COLUMNS
    assert df["id"].tolist() == list(range(1, len(run.history) + 1))
    assert df.loc[0, "type"] == "ExecutionStarted" and df.loc[0, "input"] == {"week": "2026-11-26"}
    # Events inside a state carry its name; elapsed counts from the first event.
    scheduled = df[df["type"] == "TaskScheduled"].iloc[0]
    assert scheduled["state"] == "Call"
    assert scheduled["input"]["FunctionName"] == "flaky"  # parameters decoded
    assert df["elapsed"].iloc[-1] == 600.0
    assert str(df["timestamp"].dtype).startswith("datetime64") and df["timestamp"].dt.tz is not None
    exited = df[(df["type"] == "PassStateExited")].iloc[0]
    assert exited["output"]["p"] == {"url": H.REDACTED, "token": H.REDACTED}
    text = df.to_json(date_format="iso")
    assert "hooks.slack.com" not in text and "xoxb-" not in text


def test_timeline_counts_retries_and_durations():
    run = execute(LOOP, {}, tasks={"flaky": _flaky(2)}, clock=VirtualClock(at("2026-11-26")))
    tl = H.timeline_frame(run.history)
    assert list(tl.columns) == H.TIMELINE_COLUMNS
    assert tl["state"].tolist() == ["Prep", "Call", "Wait", "Done"]
    call = tl.set_index("state").loc["Call"]
    assert (call["attempt"], call["retries"]) == (3, 2)
    assert call["duration"] == 6.0  # backoff 2 s then 4 s under the virtual clock
    wait = tl.set_index("state").loc["Wait"]
    assert wait["type"] == "Wait" and wait["duration"] == 600.0
    assert (tl["status"] == "SUCCEEDED").all()
    assert (tl["exited"] >= tl["entered"]).all()


def test_timeline_and_failure_of_a_lambda_crash_then_redrive():
    calls = {"n": 0}

    def crash_once(payload):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("warehouse unreachable")
        return {"ok": True}

    first = execute(LOOP, {}, tasks={"flaky": crash_once}, clock=VirtualClock(at("2026-11-26")))
    assert first.status == "FAILED"
    fail = H.failure_frame(_ex("x", "FAILED"), first.history)
    assert list(fail.columns) == H.FAILURE_COLUMNS and len(fail) == 1
    row = fail.iloc[0]
    assert (row["state"], row["state_type"], row["error"]) == ("Call", "Task", "ValueError")
    assert (row["error_type"], row["error_message"]) == ("ValueError", "warehouse unreachable")
    assert isinstance(row["cause"], dict) and "stackTrace" in row["cause"]
    tl = H.timeline_frame(first.history)
    assert tl.set_index("state").loc["Call", "status"] == "FAILED"

    second = redrive(
        LOOP, first.history, tasks={"flaky": crash_once}, clock=VirtualClock(at("2026-11-26", 2))
    )
    assert second.status == "SUCCEEDED"
    tl = H.timeline_frame(second.history)
    calls_rows = tl[tl["state"] == "Call"]
    assert calls_rows["redrive"].tolist() == [0, 1] and calls_rows["visit"].tolist() == [1, 2]
    assert H.failure_frame(_ex("x", "SUCCEEDED"), second.history).empty
    assert H.failed_state(second.history) == (None, None)


def test_failure_of_a_fail_state_reports_its_error_and_cause():
    definition = {
        "StartAt": "F",
        "States": {"F": {"Type": "Fail", "Error": "DataLate", "Cause": "gave up after 18 polls"}},
    }
    run = execute(definition, {}, clock=VirtualClock())
    fail = H.failure_frame(_ex("x", "FAILED"), run.history).iloc[0]
    assert (fail["state"], fail["state_type"]) == ("F", "Fail")
    assert (fail["error"], fail["cause"]) == ("DataLate", "gave up after 18 polls")
    assert fail["error_type"] is None


def test_week_of_prefers_input_then_name():
    assert WEEKLY.partition_of(_ex("anything", "FAILED", week="2026-11-26")) == "2026-11-26"
    assert WEEKLY.partition_of(_ex("week-2026-11-19-r3", "FAILED")) == "2026-11-19"
    assert WEEKLY.partition_of(_ex("week-2026-11-19", "FAILED")) == "2026-11-19"
    assert WEEKLY.partition_of(_ex("manual-run", "FAILED")) is None


def test_as_date_and_ranges_reject_bad_input():
    with pytest.raises(UsageError, match="not a date"):
        H.as_date("2026-13-01", "--since")
    with pytest.raises(UsageError):
        H.scheduled_partitions(WEEKLY, "2026-12-01", "2026-11-01")
    found = H.scheduled_partitions(WEEKLY, "2026-11-20", "2026-12-03")
    assert found == ["2026-11-26", "2026-12-03"]


def test_fire_time_comes_from_the_schedule_document():
    # schedule.json: cron(30 9 ? * THU *) in Asia/Tokyo
    assert WEEKLY.fire_time(date(2026, 11, 26)) == datetime(2026, 11, 26, 0, 30, tzinfo=UTC)


def _ex(name, status, week=None):
    from opsbook.backends.base import Execution

    return Execution(
        arn=f"arn:aws:states:us-east-1:1:execution:sm:{name}",
        name=name,
        status=status,
        start_date=at("2026-11-26"),
        state_machine_arn="arn:aws:states:us-east-1:1:stateMachine:sm",
        stop_date=at("2026-11-26", 1) if status != "RUNNING" else None,
        input={"week": week} if week else {},
    )


def test_events_frame_of_empty_history_is_empty_with_columns():
    df = H.events_frame([])
    assert df.empty and list(df.columns) == H.EVENT_COLUMNS
    assert isinstance(H.timeline_frame([]), pd.DataFrame)


def test_decode_leaves_plain_text_alone():
    assert H.decode("not json {") == "not json {"
    assert H.decode('{"a": 1}') == {"a": 1}
    assert H.decode(json.dumps("x")) == "x"


def test_week_of_a_scheduled_run_comes_from_its_fire_time():
    from opsbook.backends.base import Execution

    ex = Execution(
        arn="arn:aws:states:ap-northeast-1:1:execution:sm:0b7c2c1e-uuid",
        name="0b7c2c1e-uuid",
        status="SUCCEEDED",
        start_date=at("2026-11-26"),
        state_machine_arn="arn:aws:states:ap-northeast-1:1:stateMachine:sm",
        input={"scheduled_time": "2026-11-26T00:30:00Z"},
    )
    assert WEEKLY.partition_of(ex) == "2026-11-26"


def test_redrive_is_useful_only_where_a_path_can_still_succeed():
    from opsbook.operations.backfill import can_succeed_from

    definition = json.loads((SHIPPED_WEEKLY_LOAD / "weekly_load.asl.json").read_text())
    assert can_succeed_from(definition, "WaitForData") and can_succeed_from(
        definition, "InsertWeek"
    )
    assert can_succeed_from(definition, "CheckRecords")  # where a late week fails
    assert not can_succeed_from(definition, "InvalidWeek")  # it only leads to LoadFailed
    assert not can_succeed_from(definition, "LoadFailed")
    assert can_succeed_from(definition, "NoSuchState")  # unknown: don't rule redrive out
