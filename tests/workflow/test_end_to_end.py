"""The whole definition through opsbook.engine with the real handlers, a real DuckDB file and
the virtual clock."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from support.weekly_tasks import weekly_tasks

from opsbook.config import PACKAGE_ROOT
from opsbook.engine import StatesError, VirtualClock, execute
from opsbook.workflows.schedules import week_input

DEFINITION = json.loads(
    (PACKAGE_ROOT / "definitions" / "weekly_load" / "weekly_load.asl.json").read_text()
)
WEEK = date(2026, 11, 26)
FIRE = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)  # Thursday 09:30 in Tokyo


def run_week(home, input=None, tasks=None, **resource_overrides):
    tasks = tasks or weekly_tasks(home.resources(**resource_overrides))
    return execute(DEFINITION, input or week_input(WEEK), tasks=tasks, clock=VirtualClock(FIRE))


def message(run) -> str:
    """A raising Lambda's cause is Lambda's JSON; its errorMessage says what failed."""
    return json.loads(run.cause)["errorMessage"]


def failed_at(run) -> str:
    """The state the execution failed in: the last one entered."""
    return entered(run)[-1]


def entered(run) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in run.history
        if "stateEnteredEventDetails" in e
    ]


def test_complete_week_succeeds_with_notifications_in_order(home):
    home.add_week(WEEK)
    run = run_week(home)
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert [m["text"] for m in home.messages()] == [
        "Week 2026-11-26: 3 rows found for 2026-11-25; inserting 2026-11-19..2026-11-25.",
        "Week 2026-11-26: loaded 7 rows into the weekly summary (2026-11-19..2026-11-25).",
    ]
    assert all(set(m) == {"username", "icon_emoji", "text"} for m in home.messages())
    assert len(home.summary()) == 7
    assert run.output["insert"]["Payload"] == {"statusCode": 200, "rows": 7}
    assert "WaitForData" not in entered(run)


def test_a_rerun_leaves_the_summary_unchanged(home):
    home.add_week(WEEK)
    assert run_week(home).status == "SUCCEEDED"
    first = home.summary()
    assert run_week(home).status == "SUCCEEDED"
    assert home.summary() == first


def test_scheduled_run_derives_its_week_from_the_scheduled_time(home):
    home.add_week(WEEK)
    run = run_week(home, {"scheduled_time": "2026-11-26T00:30:00Z"})
    assert run.status == "SUCCEEDED"
    assert run.output["week"] == "2026-11-26" and run.output["check_date"] == "2026-11-25"


def test_missing_last_day_fails_after_max_polls(home):
    home.add_week(WEEK, skip_last_day=True)
    run = run_week(home, week_input(WEEK, max_polls=3))
    assert run.status == "FAILED"
    assert run.error == "PollingGaveUp" and failed_at(run) == "CheckRecords"
    assert message(run).startswith(
        "polling gave up after 3 polls (600 s apart): no rows for 2026-11-25"
    )
    assert entered(run).count("WaitForData") == 3 and entered(run).count("CheckRecords") == 4
    # The engine alone sends no failure message: that comes from the status change event.
    texts = [m["text"] for m in home.messages()]
    assert texts == [
        "Week 2026-11-26: polling started, no rows yet for 2026-11-25; checking every 600 s,"
        " up to 3 polls."
    ]
    assert home.summary() == []
    assert run.stop_date - run.start_date >= timedelta(seconds=3 * 600)


def test_default_polling_bound_is_18_polls_three_hours(home):
    home.add_week(WEEK, skip_last_day=True)
    run = run_week(home, {"week": "2026-11-26"})
    assert run.status == "FAILED" and message(run).startswith(
        "polling gave up after 18 polls (600 s apart)"
    )
    assert entered(run).count("WaitForData") == 18
    # Slack cadence: the first poll, then every 6th (6, 12, 18): 4 messages, not 18.
    texts = [m["text"] for m in home.messages()]
    assert len(texts) == 4 and all("Week 2026-11-26" in t for t in texts)
    assert [t.rsplit("after poll ", 1)[-1] for t in texts[1:]] == [
        "6 of 18.",
        "12 of 18.",
        "18 of 18.",
    ]
    assert not any("hooks.slack.com" in t or "http" in t for t in texts)
    assert run.stop_date - run.start_date >= timedelta(hours=3)


def test_late_rows_are_picked_up_by_a_later_poll(home):
    home.add_week(WEEK, skip_last_day=True)
    checks = []

    def late(module, call):
        if module != "check_records":
            return call

        def check(payload):
            checks.append(payload["check_date"])
            if len(checks) == 3:  # the last day lands before the third check
                home.add_events(date(2026, 11, 25), 2)
            return call(payload)

        return check

    run = run_week(home, tasks=weekly_tasks(home.resources(), wrap=late))
    assert run.status == "SUCCEEDED"
    assert entered(run).count("WaitForData") == 2
    texts = [m["text"] for m in home.messages()]
    assert len(texts) == 3 and "polling started" in texts[0] and "loaded 7 rows" in texts[-1]


def test_insert_failure_ends_failed_and_names_the_error(home):
    home.add_week(WEEK)
    (home.objects / "sql" / "insert_week.sql").write_text(
        "DELETE FROM {{target}} WHERE week = @week;\nINSERT INTO {{target}} (week) SELECT no_such_col FROM {{source}};"
    )
    run = run_week(home)
    assert run.status == "FAILED" and run.error == "InsertWeekFailed"
    assert failed_at(run) == "InsertWeek"
    assert message(run).startswith(
        "insert_week failed for week 2026-11-26: "
    ) and "no_such_col" in message(run)


def test_check_query_error_and_missing_template_end_failed_with_the_reason(home):
    home.add_week(WEEK)
    template = home.objects / "sql" / "check_records.sql"
    original = template.read_text()
    template.write_text("SELECT COUNT(*) FROM {{source}} WHERE missing_column = @check_date")
    run = run_week(home)
    assert (
        run.status == "FAILED"
        and run.error == "CheckRecordsFailed"
        and failed_at(run) == "CheckRecords"
        and "missing_column" in message(run)
    )
    template.unlink()
    run = run_week(home)
    assert run.status == "FAILED" and str(template) in message(run)
    assert home.summary() == []
    template.write_text(original)


def test_invalid_week_in_input_ends_failed(home):
    run = run_week(home, {"week": "2026-11-25"})
    assert run.status == "FAILED" and run.error == "InvalidWeek" and "2026-11-25" in run.cause
    assert "CheckRecords" not in entered(run)


def test_transient_lambda_errors_are_retried(home):
    home.add_week(WEEK)
    attempts = []

    def flaky(module, call):
        def invoke(payload):
            attempts.append(module)
            if attempts.count(module) == 1:
                raise StatesError("Lambda.TooManyRequestsException", "Rate exceeded")
            return call(payload)

        return invoke

    run = run_week(home, tasks=weekly_tasks(home.resources(), wrap=flaky))
    assert run.status == "SUCCEEDED"
    failed = [e for e in run.history if e["type"] == "TaskFailed"]
    assert len(failed) == 3  # first call of each function, then retried
    assert all(
        e["taskFailedEventDetails"]["error"] == "Lambda.TooManyRequestsException" for e in failed
    )


def test_a_crashing_lambda_ends_failed_after_retries(home):
    home.add_week(WEEK)
    tasks = weekly_tasks(home.resources())

    def broken(payload):
        raise RuntimeError("handler crashed")

    tasks["${InsertWeekFunctionArn}"] = broken
    run = run_week(home, tasks=tasks)
    # Lambda reports an unhandled exception as its class name; the execution fails right there.
    assert run.status == "FAILED" and run.error == "RuntimeError" and failed_at(run) == "InsertWeek"
    assert message(run) == "handler crashed"


def test_failing_notifications_never_fail_the_load(home, webhook):
    home.add_week(WEEK)
    hook = webhook([500])
    run = run_week(home, slack_webhook_url=hook.url, slack_backoff_factor=0.01, slack_max_retries=1)
    assert run.status == "SUCCEEDED" and len(home.summary()) == 7
    failed = [e["taskFailedEventDetails"] for e in run.history if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failed] == ["NotifyError", "NotifyError"]  # visible in history
    assert "HTTP 500" in failed[0]["cause"]
    assert run.output["notify_error"]["Error"] == "NotifyError"
    assert len(hook.requests) == 4  # two messages, each tried twice


@pytest.mark.parametrize("complete", [True, False])
def test_the_webhook_url_never_appears_in_history(home, webhook, complete):
    home.add_week(WEEK, skip_last_day=not complete)
    hook = webhook([200])
    resources = home.resources(slack_backoff_factor=0.01)
    resources.secrets = type(resources.secrets)({"SLACK_WEBHOOK_URL": hook.url})
    run = run_week(home, week_input(WEEK, max_polls=2), tasks=weekly_tasks(resources))
    assert run.status == ("SUCCEEDED" if complete else "FAILED")
    assert len(hook.requests) == (2 if complete else 1)  # the messages really went out
    everything = json.dumps([run.history, run.output, run.error, run.cause], default=str)
    assert hook.token not in everything and "127.0.0.1" not in everything
