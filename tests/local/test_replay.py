"""Replay and verify on the local backend, with real executions of the weekly load: a week
that polls then succeeds, a week whose data never arrives (FAILED), a redriven week."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from opsbook.errors import UsageError
from opsbook.operations.fidelity import fill_placeholders, load_definition, replay_execution, verify
from opsbook.reporting.report import latest_due_week
from opsbook.workflows.schedules import week_input

ROOT = Path(__file__).resolve().parents[2]


def _day(week: date, offset: int) -> str:
    return (week + timedelta(days=offset)).isoformat()


GOOD_WEEK = latest_due_week()  # the week before it is still inside redrive's 14 days
GOOD, LATE = GOOD_WEEK.isoformat(), _day(GOOD_WEEK, -7)


@pytest.fixture
def weeks(deployed, insert_events, fire_time):
    """One good week (its last day lands after a poll would be needed: it has rows now) and
    one week with no rows at all: it polls 18 times and fails."""
    for day in (_day(GOOD_WEEK, -7), _day(GOOD_WEEK, -4), _day(GOOD_WEEK, -1)):
        insert_events(deployed, day)
    good = deployed.start(week_input(GOOD), name=f"week-{GOOD}", scheduled_time=fire_time(GOOD))
    late = deployed.start(week_input(LATE), name=f"week-{LATE}", scheduled_time=fire_time(LATE))
    assert (good.status, late.status) == ("SUCCEEDED", "FAILED")
    return deployed


def _definition(change=None):
    data = load_definition(
        ROOT / "opsbook" / "definitions" / "weekly_load" / "weekly_load.asl.json"
    )
    if change:
        change(data["States"])
    return data


def _never_ready(states):
    for rule in states["IsDataReady"]["Choices"]:
        for cond in rule.get("And", []):
            if cond.get("NumericGreaterThan") == 0:
                cond["NumericGreaterThan"] = 10**9


@pytest.mark.parametrize("week", [GOOD, LATE])
def test_the_deployed_definition_replays_both_weeks_exactly(weeks, week):
    report = replay_execution(weeks, f"week-{week}")
    assert report.match, report.divergence
    assert report.divergence is None
    assert report.replayed_status == report.status


def test_the_shipped_file_with_placeholders_replays_like_the_deployed_one(weeks):
    report = replay_execution(weeks, f"week-{GOOD}", _definition())
    assert report.match, report.divergence


def test_a_changed_choice_shows_where_the_good_week_would_have_gone(weeks):
    report = replay_execution(weeks, f"week-{GOOD}", _definition(_never_ready))
    assert not report.match
    d = report.divergence
    recorded = d["recorded"]["stateEnteredEventDetails"]["name"]
    replayed = d["replayed"]["stateEnteredEventDetails"]["name"]
    assert recorded == "NotifyInsertStarting"
    assert replayed != recorded
    assert d["why"].startswith("recorded TaskStateEntered 'NotifyInsertStarting'")
    history = weeks.history(f"week-{GOOD}")
    assert history[d["event_id"] - 1]["type"] == d["recorded"]["type"]


def test_a_changed_retry_on_the_failed_week_still_matches_when_nothing_retried(weeks):
    def more_retries(states):
        states["CheckRecords"]["Retry"][0]["MaxAttempts"] = 1

    report = replay_execution(weeks, f"week-{LATE}", _definition(more_retries))
    assert report.match, report.divergence  # no retriable error happened in that run


def test_a_changed_timeout_parts_at_the_first_check(weeks):
    def short(states):
        states["CheckRecords"]["TimeoutSeconds"] = 30

    report = replay_execution(weeks, f"week-{LATE}", _definition(short))
    assert not report.match
    assert report.divergence["recorded"]["type"] == "TaskScheduled"
    assert "timeoutInSeconds" in report.divergence["why"]


def test_verify_counts_matches_over_a_range(weeks):
    report = verify(weeks, _day(GOOD_WEEK, -25), GOOD)
    data = report.to_dict()
    assert (data["replayed"], data["matched"], data["diverged"]) == (2, 2, 0)
    assert [e["execution"] for e in data["executions"]] == [f"week-{LATE}", f"week-{GOOD}"]
    assert verify(weeks, _day(GOOD_WEEK, -6), _day(GOOD_WEEK, -1)).to_dict()["replayed"] == 0


def test_a_redriven_week_replays_with_its_redrive(weeks):
    redriven = weeks.redrive(f"week-{LATE}")  # resumes at the state that failed
    assert redriven.redrive_count == 1
    assert any(e["type"] == "ExecutionRedriven" for e in weeks.history(f"week-{LATE}"))
    report = replay_execution(weeks, f"week-{LATE}")
    assert report.match, report.divergence


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: replay_execution(b, "week-2020-01-02"), "week-2020-01-02"),
        (lambda b: verify(b, "2026-13-01", "2026-11-30"), "--since"),
        (lambda b: verify(b, "2026-11-30", "2026-11-01"), "before --since"),
    ],
)
def test_bad_input_is_a_usage_error(weeks, call, message):
    with pytest.raises(UsageError, match=message):
        call(weeks)


def test_fill_placeholders_takes_the_deployed_values():
    mine = {"A": {"FunctionName": "${CheckFn}", "Other": "x-${Two}-y"}, "B": "${Nope}"}
    deployed = {"A": {"FunctionName": "arn:fn:check", "Other": "x-2-y"}}
    assert fill_placeholders(copy.deepcopy(mine), deployed) == {
        "A": {"FunctionName": "arn:fn:check", "Other": "x-2-y"},
        "B": "${Nope}",
    }
    assert json.dumps(fill_placeholders({"k": 1}, {})) == '{"k": 1}'


def test_an_execution_replays_through_the_version_it_ran_after_a_new_deploy(
    tmp_path, make_backend, insert_events, fire_time
):
    import shutil

    from opsbook.config import PACKAGE_ROOT

    definitions = tmp_path / "definitions"
    shutil.copytree(PACKAGE_ROOT / "definitions" / "weekly_load", definitions / "weekly_load")
    backend = make_backend(tmp_path / "home", definitions_dir=definitions)
    backend.init()
    backend.deploy()
    insert_events(backend, _day(GOOD_WEEK, -1))
    backend.start(week_input(GOOD), name=f"week-{GOOD}", scheduled_time=fire_time(GOOD))
    path = definitions / "weekly_load" / "weekly_load.asl.json"
    data = json.loads(path.read_text())
    _never_ready(data["States"])
    path.write_text(json.dumps(data))
    assert backend.deploy().version_arn.endswith(":2")
    assert replay_execution(backend, f"week-{GOOD}").match  # version 1, as it ran
    assert not replay_execution(backend, f"week-{GOOD}", backend.definition()).match
