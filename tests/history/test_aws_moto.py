"""The AWS paths on a moto server over HTTP: AwsBackend + history.weeks / plan_rerun / rerun.

moto runs the definition with its own ASL interpreter. Its limits shape what is checked here:
it reports no version ARN for an execution and has no RedriveExecution, so on moto every rerun
of a failed week is a START (the REDRIVE decision is covered on the local and memory backends).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from opsbook.operations import history as H
from opsbook.operations.backfill import SKIP, START, plan_rerun, rerun

pytestmark = pytest.mark.aws

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SINCE, UNTIL = "2026-10-01", "2026-12-03"


def _start(env, name, payload):
    return env["sfn"].start_execution(
        stateMachineArn=env["sm_arn"], name=name, input=json.dumps(payload)
    )["executionArn"]


def _wait_closed(env, arn, timeout=15.0):
    deadline = time.monotonic() + timeout
    while env["sfn"].describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def aws_year(moto_env):
    env = moto_env
    timed_out = _start(env, "week-2026-10-29", {"week": "2026-10-29", "mode": "hang"})
    _start(env, "week-2026-10-01", {"week": "2026-10-01"})
    _start(env, "week-2026-10-08", {"week": "2026-10-08", "mode": "fail"})
    aborted = _start(env, "week-2026-10-22", {"week": "2026-10-22", "mode": "hang"})
    # A scheduled run: EventBridge Scheduler names it randomly and passes only the fire time.
    _start(env, "4f0c6f7e-0b1d-4a53-9a43-2b8f1d3c5e11", {"scheduled_time": "2026-11-05T00:30:00Z"})
    time.sleep(0.3)
    env["sfn"].stop_execution(executionArn=aborted, error="Stopped", cause="stopped by an operator")
    _wait_closed(env, timed_out)  # the machine's 2 s timeout
    # Later executions run a definition without the timeout (moto snapshots the definition at
    # each start), so this one stays RUNNING until a test stops it.
    relaxed = {k: v for k, v in env["definition"].items() if k != "TimeoutSeconds"}
    env["sfn"].update_state_machine(stateMachineArn=env["sm_arn"], definition=json.dumps(relaxed))
    env["running"] = _start(env, "week-2026-11-26", {"week": "2026-11-26", "mode": "hang"})
    yield env
    if env["sfn"].describe_execution(executionArn=env["running"])["status"] == "RUNNING":
        env["sfn"].stop_execution(executionArn=env["running"])


def test_weeks_statuses_cache_and_plan_on_moto(aws_year, call_counter):
    from opsbook.backends.aws.backend import AwsBackend

    CallCounter = call_counter  # noqa: N806
    env = aws_year
    first = CallCounter()
    backend = AwsBackend(env["cfg"], session=first.session())
    df = H.weeks(backend, SINCE, UNTIL, today=NOW).set_index("week")
    plan = plan_rerun(backend, SINCE, UNTIL, today=NOW).set_index("week")
    assert df["status"].to_dict() == {
        "2026-10-01": "SUCCEEDED",
        "2026-10-08": "FAILED",
        "2026-10-15": "MISSING",
        "2026-10-22": "ABORTED",
        "2026-10-29": "TIMED_OUT",
        "2026-11-05": "SUCCEEDED",
        "2026-11-12": "MISSING",
        "2026-11-19": "MISSING",
        "2026-11-26": "RUNNING",
        "2026-12-03": "PENDING",
    }
    assert plan["action"].to_dict() == {
        "2026-10-01": SKIP,
        "2026-10-08": START,
        "2026-10-15": START,
        "2026-10-22": START,
        "2026-10-29": START,
        "2026-11-05": SKIP,
        "2026-11-12": START,
        "2026-11-19": START,
        "2026-11-26": SKIP,
        "2026-12-03": SKIP,
    }
    assert plan.loc["2026-10-08", "new_name"] == "week-2026-10-08-r1"
    assert plan.loc["2026-10-15", "new_name"] == "week-2026-10-15"
    assert "no published version" in plan.loc["2026-10-08", "reason"]  # moto: no version ARN
    assert "running" in plan.loc["2026-11-26", "reason"]
    assert df.loc["2026-10-08", "error"] == "DataLate" and df.loc["2026-10-08", "polls"] == 1
    assert df.loc["2026-10-29", "error"] == "States.Timeout"
    assert H.pd.notna(df.loc["2026-10-29", "stop_date"])  # moto leaves stopDate out; history has it
    assert df.loc["2026-11-05", "execution"].startswith("4f0c6f7e")
    # One history read per week whose last execution did not succeed (FAILED, ABORTED,
    # TIMED_OUT, RUNNING); the plan reads none again but the RUNNING one's. Succeeded weeks
    # need none: their polls come from the output when the listing has it (not on AWS).
    assert first.counts["GetExecutionHistory"] == 4 + 1
    assert H.pd.isna(df.loc["2026-10-01", "polls"])
    assert first.counts["ListExecutions"] == 2
    # Only the scheduled run (named randomly, its week in its input) is described: the failure
    # causes come from the last executions' histories, read anyway.
    assert first.counts["DescribeExecution"] == 1
    assert df.loc["2026-10-08", "cause"] == "gave up after 1 poll"

    # A second browse (a new process: new backend, same OPSBOOK_HOME) reads no closed
    # execution's history or description: only the RUNNING one's history (named week-<DATE>,
    # it is not described).
    second = CallCounter()
    again = AwsBackend(env["cfg"], session=second.session())
    df2 = H.weeks(again, SINCE, UNTIL, today=NOW)
    assert df2["status"].tolist() == df["status"].tolist()
    assert second.counts["GetExecutionHistory"] == 1
    assert second.counts["DescribeExecution"] == 0
    assert second.counts["ListExecutions"] == 1
    backend.close()
    again.close()


def test_cli_executions_on_moto_are_complete(aws_year, capsys):
    from opsbook.cli import run

    home = str(aws_year["cfg"].home)
    assert run(["--home", home, "--backend", "aws", "executions", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert all(e["input"] is not None for e in listed.values())  # described where needed
    failed = listed["week-2026-10-08"]
    assert failed["week"] == "2026-10-08" and failed["input"]["mode"] == "fail"
    assert (failed["error"], failed["cause"]) == ("DataLate", "gave up after 1 poll")
    # The table: the week of a scheduled run comes from its fire time, of ours from the name.
    assert run(["--home", home, "--backend", "aws", "executions", "--week", "2026-11-05"]) == 0
    table = capsys.readouterr().out
    assert "4f0c6f7e" in table and "2026-11-05" in table and "week-2026-10-08" not in table
    assert run(["--home", home, "--backend", "aws", "executions", "--status", "FAILED"]) == 0
    table = capsys.readouterr().out
    assert "week-2026-10-08" in table and "gave up after 1 poll" in table


def test_rerun_on_moto_starts_failed_weeks_once(aws_year):
    from opsbook.backends.aws.backend import AwsBackend

    env = aws_year
    env["sfn"].stop_execution(
        executionArn=env["running"], error="Stopped", cause="for the rerun test"
    )
    _wait_closed(env, env["running"])
    backend = AwsBackend(env["cfg"])
    plan = plan_rerun(backend, "2026-10-01", "2026-10-29", today=NOW)
    results = rerun(backend, plan, max_concurrency=2, progress=False).set_index("week")
    assert results["action"].to_dict() == {
        "2026-10-01": SKIP,
        "2026-10-08": START,
        "2026-10-15": START,
        "2026-10-22": START,
        "2026-10-29": START,
    }
    acted = results[results["action"] == START]
    assert (acted["status"] == "SUCCEEDED").all(), results
    assert acted.loc["2026-10-08", "execution"] == "week-2026-10-08-r1"
    assert acted.loc["2026-10-15", "execution"] == "week-2026-10-15"

    def names():
        pages = env["sfn"].get_paginator("list_executions").paginate(stateMachineArn=env["sm_arn"])
        return sorted(e["name"] for p in pages for e in p["executions"])

    before = names()
    again = rerun(
        backend, plan_rerun(backend, "2026-10-01", "2026-10-29", today=NOW), progress=False
    )
    assert (again["action"] == SKIP).all()
    assert names() == before  # nothing new started
    weeks = H.weeks(backend, "2026-10-01", "2026-10-29", today=NOW)
    assert (weeks["status"] == "SUCCEEDED").all()
    assert weeks.set_index("week").loc["2026-10-08", "attempts"] == 2
    backend.close()
