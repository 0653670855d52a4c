"""definitions/weekly_load.asl.json: valid, shaped as the issue asks, and its week derivation
agrees with opsbook.workflows.schedules."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from opsbook.config import PACKAGE_ROOT
from opsbook.engine import VirtualClock, execute, validate
from opsbook.workflows.registry import shipped_workflow
from opsbook.workflows.schedules import week_dates, week_for_fire_time
from opsbook.workflows.templates import placeholders, substitute

DEFINITION_PATH = PACKAGE_ROOT / "definitions" / "weekly_load" / "weekly_load.asl.json"
# The manifest's tasks: the one list of the functions the definition names.
TASK_PLACEHOLDERS = [task.placeholder for task in shipped_workflow("weekly_load").tasks]
TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads(DEFINITION_PATH.read_text())


def test_definition_is_valid(definition):
    assert validate(definition) == []
    # As deployed: placeholders replaced by real ARNs.
    arns = {
        name: f"arn:aws:lambda:ap-northeast-1:123456789012:function:opsbook-{i}"
        for i, name in enumerate(TASK_PLACEHOLDERS)
    }
    assert validate(substitute(definition, arns)) == []


def test_the_states_the_issue_names(definition):
    states = definition["States"]
    for name in (
        "CheckRecords",
        "IsDataReady",
        "NotifyWaiting",
        "WaitForData",
        "NotifyInsertStarting",
        "InsertWeek",
        "InsertSucceeded",
        "NotifyComplete",
        "CountPoll",
    ):
        assert name in states, name
    assert states["CheckRecords"]["Next"] == "IsDataReady"
    assert states["NotifyWaiting"]["Next"] == "WaitForData"
    assert states["WaitForData"]["Next"] == "CheckRecords"
    assert states["WaitForData"]["SecondsPath"] == "$.poll_seconds"
    assert states["NotifyInsertStarting"]["Next"] == "InsertWeek"
    assert states["InsertWeek"]["Next"] == "InsertSucceeded"
    assert states[states["NotifyComplete"]["Next"]]["Type"] == "Succeed"
    # No failure-notification state: failures reach Slack from the status change event.
    assert not any("Failure" in name for name in states)
    # Every state's Comment carries its intent, in English.
    for name, state in states.items():
        assert len(state.get("Comment", "")) > 20, f"{name} has no Comment"
        assert name.isascii() and name[0].isupper()


def test_every_task_retries_transient_lambda_errors_with_backoff(definition):
    tasks = {n: s for n, s in definition["States"].items() if s["Type"] == "Task"}
    assert len(tasks) == 5
    for name, task in tasks.items():
        assert task["Resource"] == "arn:aws:states:::lambda:invoke"
        retried = [r for r in task["Retry"] if TRANSIENT <= set(r["ErrorEquals"])]
        assert retried, name
        assert retried[0]["BackoffRate"] > 1 and retried[0]["MaxAttempts"] >= 2


def test_work_tasks_fail_the_execution_where_they_fail(definition):
    """RedriveExecution resumes at the failed state: the check and the insert must fail the
    execution themselves (no Catch), not route to a Fail state a redrive would re-run."""
    states = definition["States"]
    for name in ("CheckRecords", "InsertWeek"):
        assert "Catch" not in states[name], name
        assert states[name]["Parameters"]["Payload"]["fail_on_error"] is True
    assert states["CheckRecords"]["Parameters"]["Payload"]["require_rows.$"] == "$.poll.last"


def test_notifications_never_fail_the_load(definition):
    states = definition["States"]
    for name, state in states.items():
        if not name.startswith("Notify"):
            continue
        catch = state["Catch"][0]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == state["Next"], name
        payload = state["Parameters"]["Payload"]
        # Only the message travels; the webhook URL is resolved by the notifier.
        assert {k.removesuffix(".$") for k in payload} == {"username", "icon_emoji", "text"}


def test_lambda_placeholders_match_the_manifests_tasks(definition):
    assert placeholders(definition) == set(TASK_PLACEHOLDERS)
    text = DEFINITION_PATH.read_text()
    assert "hooks.slack.com" not in text and "webhook" not in text.lower().replace(
        "webhook url", ""
    )


def test_no_current_date_in_queries(definition):
    text = json.dumps(definition)
    assert "CURRENT_DATE" not in text and "$now()" not in text


def _prepare_only(definition: dict) -> dict:
    state = dict(definition["States"]["PrepareWeek"])
    state.pop("Next")
    state["End"] = True
    return {"StartAt": "PrepareWeek", "States": {"PrepareWeek": state}}


def test_prepare_week_from_an_explicit_week(definition):
    run = execute(_prepare_only(definition), {"week": "2026-11-26", "poll_seconds": 5})
    assert run.status == "SUCCEEDED"
    dates = week_dates("2026-11-26")
    assert run.output == {
        "week": "2026-11-26",
        "week_start": dates.week_start.isoformat(),
        "week_end": dates.week_end.isoformat(),
        "check_date": dates.check_date.isoformat(),
        "week_is_thursday": True,
        "poll_seconds": 5,
        "max_polls": 18,
        "notify_every": 6,
        "poll": {"count": 0, "last": False},
    }
    wednesday = execute(_prepare_only(definition), {"week": "2026-11-25"}).output
    assert wednesday["week_is_thursday"] is False
    garbage = execute(_prepare_only(definition), {"week": "next week"}).output
    assert garbage["week_is_thursday"] is False and garbage["week"] == "next week"


def test_prepare_week_from_the_scheduled_time_matches_the_calendar(definition):
    machine = _prepare_only(definition)
    rng = random.Random(7)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    times = [
        datetime(2026, 11, 26, 0, 30, tzinfo=UTC),
        datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
        datetime(2026, 11, 25, 14, 59, 59, tzinfo=UTC),
    ]
    times += [base + timedelta(minutes=rng.randrange(0, 60 * 24 * 365 * 3)) for _ in range(60)]
    for fired in times:
        stamp = fired.strftime("%Y-%m-%dT%H:%M:%SZ")  # <aws.scheduler.scheduled-time>'s format
        out = execute(machine, {"scheduled_time": stamp}).output
        expected = week_dates(week_for_fire_time(fired))
        assert out["week"] == expected.week.isoformat(), stamp
        assert out["check_date"] == expected.check_date.isoformat(), stamp
        assert out["week_is_thursday"] is True
    # No week and no scheduled time: the execution's start time decides.
    started = datetime(2026, 11, 26, 0, 31, tzinfo=UTC)
    out = execute(machine, {}, clock=VirtualClock(started)).output
    assert out["week"] == "2026-11-26"
