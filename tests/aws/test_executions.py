"""start / describe / list / history / stop through the AWS backend, on moto over HTTP.

moto does not run Lambdas, so these tests deploy a small definition without Task states
(definitions_dir in a temporary folder) and let moto's own ASL interpreter execute it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aws_helpers import ACCOUNT, REGION
from support.definitions import pass_only_definitions

from opsbook.backends.base import Backend, Execution
from opsbook.config import REPO_ROOT
from opsbook.errors import ExecutionAlreadyExists, ExecutionNotFound, UsageError

pytestmark = pytest.mark.aws

SM_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:opsbook-weekly-load"


@pytest.fixture
def deployed(make_backend, moto_executes, tmp_path):
    defs = pass_only_definitions(tmp_path)
    backend = make_backend(definitions_dir=str(defs))
    backend.deploy()
    return backend


def test_the_backend_satisfies_the_protocol(backend):
    assert isinstance(backend, Backend)
    assert backend.name == "aws"


def test_start_runs_a_week_and_describe_decodes_it(deployed):
    done = deployed.start({"week": "2026-11-26"}, name="week-2026-11-26", wait=True)
    assert isinstance(done, Execution)
    assert done.name == "week-2026-11-26"
    assert (
        done.arn
        == f"arn:aws:states:{REGION}:{ACCOUNT}:execution:opsbook-weekly-load:week-2026-11-26"
    )
    assert done.status == "SUCCEEDED" and done.closed
    assert done.input == {"week": "2026-11-26"} and done.partition == "2026-11-26"
    assert done.output == {"week": "2026-11-26", "insert": {"rows": 3}}
    assert done.start_date.tzinfo is not None
    # By name or by ARN, the same execution.
    assert deployed.describe("week-2026-11-26") == deployed.describe(done.arn)


def test_start_is_idempotent_while_running_and_refuses_otherwise(deployed):
    first = deployed.start(
        {"week": "2026-11-19", "mode": "hang"}, name="week-2026-11-19", wait=False
    )
    assert first.status == "RUNNING"
    again = deployed.start(
        {"week": "2026-11-19", "mode": "hang"}, name="week-2026-11-19", wait=False
    )
    assert again.arn == first.arn  # same name + same input while RUNNING: the original
    with pytest.raises(ExecutionAlreadyExists) as info:
        deployed.start({"week": "2026-11-19"}, name="week-2026-11-19", wait=False)
    assert info.value.existing.arn == first.arn
    assert info.value.existing.status == "RUNNING"
    assert "another input" in str(info.value)
    stopped = deployed.stop("week-2026-11-19", error="Operator", cause="stopped in a test")
    assert stopped.status == "ABORTED"
    # A closed execution's name cannot be reused, even with the same input.
    with pytest.raises(ExecutionAlreadyExists) as info:
        deployed.start({"week": "2026-11-19", "mode": "hang"}, name="week-2026-11-19", wait=False)
    assert info.value.existing.status == "ABORTED"


def test_scheduled_time_is_refused_on_aws(deployed):
    with pytest.raises(UsageError, match="EventBridge Scheduler"):
        deployed.start(
            {"week": "2026-11-26"}, name="week-2026-11-26", scheduled_time=datetime.now(UTC)
        )


def test_start_before_deploy_says_to_deploy(backend):
    with pytest.raises(UsageError, match="deploy"):
        backend.start({"week": "2026-11-26"}, name="week-2026-11-26", wait=False)
    assert backend.list_executions() == []
    assert backend.live_version() is None


def test_list_executions_filters_and_orders_newest_first(deployed):
    ok = deployed.start({"week": "2026-11-12"}, name="week-2026-11-12", wait=True)
    bad = deployed.start({"week": "2026-11-19", "mode": "fail"}, name="week-2026-11-19", wait=True)
    assert bad.status == "FAILED"
    assert (bad.error, bad.cause) == ("PollingGaveUp", "no rows for 2026-11-25")
    running = deployed.start(
        {"week": "2026-11-26", "mode": "hang"}, name="week-2026-11-26", wait=False
    )

    listed = deployed.list_executions()
    assert [e.name for e in listed] == ["week-2026-11-26", "week-2026-11-19", "week-2026-11-12"]
    # opsbook's own names give the week: listed without DescribeExecution, so input, output,
    # error and cause are unknown; everything else is as described, and describe() is complete.
    assert [e.input for e in listed] == [None, None, None]
    for got, want in ((listed[1], bad), (listed[2], ok)):
        assert (got.error, got.cause, got.output) == (None, None, None)
        fill = {"input": want.input, "output": want.output, "error": want.error}
        assert replace(got, **fill, cause=want.cause) == want
    assert deployed.describe(listed[1].arn) == bad
    assert [e.name for e in deployed.list_executions(status="FAILED")] == ["week-2026-11-19"]
    assert [e.name for e in deployed.list_executions(status="RUNNING")] == [running.name]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert deployed.list_executions(since=future) == []
    assert len(deployed.list_executions(until=future)) == 3
    assert deployed.list_executions(until=ok.start_date) == []


def test_listing_describes_only_executions_whose_name_hides_the_week(deployed, make_backend):
    ok = deployed.start({"week": "2026-11-12"}, name="week-2026-11-12", wait=True)
    # A scheduled run: EventBridge Scheduler names it randomly; its week is in its input.
    fired = {"scheduled_time": "2026-11-19T00:30:00Z"}
    scheduled = deployed.start(fired, name="0b5d7c1e-scheduled", wait=True)
    backend = make_backend(definitions_dir=str(deployed.cfg.definitions_dir))
    calls: Counter = Counter()
    backend.session.events.register("before-call", lambda model, **_: calls.update([model.name]))

    listed = {e.name: e for e in backend.list_executions()}
    assert listed[scheduled.name] == scheduled  # described: input decoded
    own = listed["week-2026-11-12"]
    assert (own.input, own.status, own.stop_date) == (None, "SUCCEEDED", ok.stop_date)
    assert calls["ListExecutions"] == 1 and calls["DescribeExecution"] == 1

    # Listed again (a new process would do the same): the closed scheduled run's description
    # comes from OPSBOOK_HOME/cache/executions, so the listing is the only call.
    calls.clear()
    assert {e.name: e for e in backend.list_executions()} == listed
    assert dict(calls) == {"ListExecutions": 1}


def test_listing_resolves_each_alias_once(deployed):
    alias = deployed.names.alias_arn
    item = {"name": "week-2026-11-12", "status": "SUCCEEDED", "stateMachineArn": SM_ARN}
    item["startDate"] = datetime(2026, 11, 12, 0, 30, tzinfo=UTC)
    items = [
        {**item, "executionArn": f"{SM_ARN.replace('stateMachine', 'execution')}:w{i}"}
        for i in range(3)
    ]
    calls: Counter = Counter()
    deployed.sfn.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
    aliases: dict = {}
    found = [deployed._to_execution({**i, "stateMachineAliasArn": alias}, aliases) for i in items]
    live = deployed.live_version()
    assert live and [e.version_arn for e in found] == [live] * 3
    assert calls["DescribeStateMachineAlias"] == 2  # one for the listing, one for live_version
    assert all(e.input is None and e.redrive_count == 0 for e in found)


def test_history_comes_back_as_boto3_events(deployed):
    done = deployed.start({"week": "2026-11-26"}, name="week-2026-11-26", wait=True)
    events = deployed.history("week-2026-11-26")
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "PassStateEntered" in types and "ChoiceStateEntered" in types
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(isinstance(e["timestamp"], datetime) for e in events)
    started = events[0]["executionStartedEventDetails"]
    assert json.loads(started["input"]) == {"week": "2026-11-26"}
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")
    ]
    assert entered == ["Route", "InsertWeek", "Done"]
    assert json.loads(events[-1]["executionSucceededEventDetails"]["output"]) == done.output
    assert deployed.history(done.arn) == events


def test_unknown_executions_are_not_found(deployed):
    with pytest.raises(ExecutionNotFound):
        deployed.describe("week-1999-01-07")
    with pytest.raises(ExecutionNotFound):
        deployed.history("week-1999-01-07")


def test_wait_is_bounded(deployed):
    from opsbook.errors import OperationFailed

    deployed.start({"week": "2026-11-26", "mode": "hang"}, name="week-2026-11-26", wait=False)
    with pytest.raises(OperationFailed, match="still RUNNING"):
        deployed.wait("week-2026-11-26", timeout=0.5)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opsbook", "--backend", "aws", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        cwd=REPO_ROOT,
    )


def test_cli_deploy_start_executions_history_teardown(aws_env, tmp_path, monkeypatch):
    """The newcomer's path: only AWS variables set, the CLI does the rest."""
    monkeypatch.setenv("OPSBOOK_HOME", str(tmp_path / "cli-home"))
    first = _cli("deploy", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["changed"] is True
    second = _cli("deploy", "--json")
    assert second.returncode == 0, second.stderr
    doc = json.loads(second.stdout)
    assert doc["changed"] is False, [
        c for c in doc["changes"] if c["action"] != "unchanged"
    ] and doc["version_arn"] == f"{SM_ARN}:1"

    started = _cli("start", "--week", "2026-11-26", "--no-wait", "--json")
    assert started.returncode == 0, started.stderr
    execution = json.loads(started.stdout)
    assert execution["name"] == "week-2026-11-26"
    assert execution["status"] == "RUNNING" and execution["week"] == "2026-11-26"
    # The schedule's twin firing: the same start again reports the running execution.
    twice = _cli("start", "--week", "2026-11-26", "--no-wait", "--json")
    assert twice.returncode == 0, twice.stderr
    assert json.loads(twice.stdout)["arn"] == execution["arn"]

    listed = _cli("executions", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "week-2026-11-26" in listed.stdout

    # The execution is still RUNNING: teardown names it and stops, until --force.
    refused = _cli("teardown", "--yes", "--json")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "week-2026-11-26 is RUNNING" in refused.stderr
    gone = _cli("teardown", "--yes", "--force", "--json")
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout)["changed"] is True


def test_cli_without_credentials_is_one_line_exit_2(aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = _cli("executions")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AWS_ACCESS_KEY_ID" in lines[0]
    assert "Traceback" not in result.stderr


def _shape(execution: Execution, events: list[dict]) -> dict:
    """What a caller sees, minus what differs by nature (ARNs, times, ids)."""
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]
    return {
        "status": execution.status,
        "input": execution.input,
        "output": execution.output,
        "error": execution.error,
        "cause": execution.cause,
        "week": execution.partition,
        "first": events[0]["type"],
        "last": events[-1]["type"],
        "entered": entered,
        "event_keys": {k for e in events for k in e if k.endswith("EventDetails")},
    }


@pytest.mark.parametrize("mode", ["load", "fail"])
def test_same_api_as_the_local_backend(deployed, tmp_path, mode):
    from opsbook.backends.local.backend import LocalBackend

    local = LocalBackend(replace_home(deployed.cfg, tmp_path / "local"))
    try:
        local.deploy()
        payload = {"week": "2026-11-26", "mode": mode}
        here = local.start(payload, name="week-2026-11-26", wait=True)
        there = deployed.start(payload, name="week-2026-11-26", wait=True)
        assert _shape(there, deployed.history(there.arn)) == _shape(here, local.history(here.arn))
        assert [e.name for e in deployed.list_executions()] == [
            e.name for e in local.list_executions()
        ]
        assert (
            type(there.start_date) is type(here.start_date)
            and there.start_date.utcoffset() == here.start_date.utcoffset()
        )
    finally:
        local.close()


def replace_home(cfg, home):
    import dataclasses

    return dataclasses.replace(cfg, backend="local", home=home)
