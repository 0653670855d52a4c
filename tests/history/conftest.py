"""A small in-memory Backend for pure-logic tests: real engine runs, no store.

It implements the Backend protocol with the real ASL engine and a virtual clock. Each week's
data "arrives" after `arrivals[week]` polls (None: never), so weeks poll, succeed or fail.
Every call is counted in `calls`, so tests can check what the history layer asked for.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from support.aws_calls import CallCounter
from support.moto_server import MOTO_REGION, reset, set_execute

from opsbook.backends.base import CLOSED_STATUSES, RUNNING, SUCCEEDED, DeployResult, Execution
from opsbook.config import load_config
from opsbook.engine import StatesError, VirtualClock, execute, redrive
from opsbook.errors import ExecutionAlreadyExists, ExecutionNotFound, UsageError
from opsbook.workflows.registry import get_workflow

SM = "arn:aws:states:us-east-1:123456789012:stateMachine:weekly"

_present = {"Variable": "$.mode", "IsPresent": True}
DEFINITION = {
    "StartAt": "Route",
    "TimeoutSeconds": 3600 * 6,
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {"And": [_present, {"Variable": "$.mode", "StringEquals": "hang"}], "Next": "Hang"},
                {
                    "And": [_present, {"Variable": "$.mode", "StringEquals": "crash"}],
                    "Next": "Crash",
                },
            ],
            "Default": "CheckRecords",
        },
        "Hang": {"Type": "Wait", "Seconds": 86400, "Next": "LoadSucceeded"},
        "Crash": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "crash", "Payload.$": "$"},
            "Next": "LoadSucceeded",
        },
        "CheckRecords": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "check", "Payload.$": "$"},
            "ResultSelector": {"rows.$": "$.Payload.rows"},
            "ResultPath": "$.check",
            "Retry": [
                {
                    "ErrorEquals": ["Lambda.TooManyRequestsException"],
                    "IntervalSeconds": 2,
                    "MaxAttempts": 3,
                    "BackoffRate": 2,
                }
            ],
            "Next": "IsDataReady",
        },
        "IsDataReady": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.check.rows", "NumericGreaterThan": 0, "Next": "LoadSucceeded"}
            ],
            "Default": "WaitForData",
        },
        "WaitForData": {"Type": "Wait", "Seconds": 600, "Next": "CountPoll"},
        "CountPoll": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.check.rows", "NumericEquals": -1, "Next": "LoadFailed"}],
            "Default": "CheckRecords",
        },
        "LoadFailed": {"Type": "Fail", "Error": "DataLate", "Cause": "gave up polling"},
        "LoadSucceeded": {"Type": "Succeed"},
    },
}


class MemoryBackend:
    name = "memory"

    def __init__(self, cfg, *, now: datetime | None = None):
        self.cfg = cfg
        self.now = now or datetime.now(UTC)
        self.executions: dict[str, Execution] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.arrivals: dict[str, int | None] = {}
        self.throttles: dict[str, int] = {}
        self.broken: set[str] = set()
        self.polls: Counter = Counter()
        self.calls: Counter = Counter()
        self.version = f"{SM}:1"
        self.lock = threading.Lock()

    # --- tasks
    def _tasks(self, week: str):
        def check(payload):
            if self.throttles.get(week, 0) > 0:
                self.throttles[week] -= 1
                raise StatesError("Lambda.TooManyRequestsException", "Rate exceeded")
            self.polls[week] += 1
            arrival = self.arrivals.get(week, 0)
            if arrival is None:
                return {"rows": 0 if self.polls[week] < 3 else -1}
            return {"rows": 10 if self.polls[week] > arrival else 0}

        def crash(payload):
            if week in self.broken:
                raise ValueError(f"warehouse unreachable for {week}")
            return {"ok": True}

        return {"check": check, "crash": crash}

    # --- protocol
    def deploy(self, *, plan=False, rollback=False):
        return DeployResult(applied=not plan, version_arn=self.version)

    def teardown(self, *, plan=False, force=False):
        return DeployResult(applied=not plan)

    def live_version(self):
        self.calls["live_version"] += 1
        return self.version

    def definition(self):
        return DEFINITION

    def _arn(self, name: str) -> str:
        return f"arn:aws:states:us-east-1:123456789012:execution:weekly:{name}"

    def start(self, input, *, name, wait=True, scheduled_time=None):
        self.calls["start"] += 1
        arn = self._arn(name)
        with self.lock:
            if arn in self.executions:
                old = self.executions[arn]
                if old.status == RUNNING and old.input == input:
                    return old
                raise ExecutionAlreadyExists(f"execution {name} already exists", old)
            when = scheduled_time or self.now
            self.executions[arn] = Execution(
                arn, name, RUNNING, when, SM, input=input, version_arn=self.version
            )
        week = input.get("week", "")
        self.polls[week] = 0
        run = execute(
            DEFINITION,
            input,
            tasks=self._tasks(week),
            clock=VirtualClock(when),
            name=name,
            execution_arn=arn,
        )
        return self._close(arn, run)

    def _close(self, arn, run):
        ex = replace(
            self.executions[arn],
            status=run.status,
            stop_date=run.stop_date,
            output=run.output,
            error=run.error,
            cause=run.cause,
            redrive_count=run.redrive_count,
            redrive_date=run.redrive_date,
        )
        self.executions[arn] = ex
        self.events[arn] = list(run.history)
        return ex

    def redrive(self, execution, *, wait=True):
        self.calls["redrive"] += 1
        ex = self.describe(execution)
        if ex.status == SUCCEEDED or ex.status not in CLOSED_STATUSES:
            raise UsageError(f"{ex.name} is {ex.status}")
        week = ex.input.get("week", "")
        self.polls[week] = 0
        run = redrive(
            DEFINITION,
            self.events[ex.arn],
            tasks=self._tasks(week),
            clock=VirtualClock(self.now),
            name=ex.name,
            execution_arn=ex.arn,
            # AWS restarts the execution timeout at a redrive; the engine counts it from start_date.
            start_date=self.now,
        )
        return self._close(ex.arn, run)

    def describe(self, execution):
        self.calls["describe"] += 1
        arn = execution if execution.startswith("arn:") else self._arn(execution)
        if arn not in self.executions:
            raise ExecutionNotFound(f"no execution {execution!r}")
        return self.executions[arn]

    def list_executions(self, *, status=None, since=None, until=None):
        self.calls["list_executions"] += 1
        out = [e for e in self.executions.values() if status is None or e.status == status]
        out = [
            e
            for e in out
            if (since is None or e.start_date >= since) and (until is None or e.start_date < until)
        ]
        return sorted(out, key=lambda e: e.start_date, reverse=True)

    def history(self, execution):
        self.calls["history"] += 1
        return [dict(e) for e in self.events[self.describe(execution).arn]]

    def stop(self, execution, *, error=None, cause=None):
        raise UsageError("not supported")

    def wait(self, execution, *, timeout=None):
        return self.describe(execution)

    def close(self):
        pass

    # --- test helpers
    def add_running(self, name: str, week: str, when: datetime) -> Execution:
        arn = self._arn(name)
        ex = Execution(arn, name, RUNNING, when, SM, input={"week": week}, version_arn=self.version)
        self.executions[arn] = ex
        self.events[arn] = [
            {
                "timestamp": when,
                "type": "ExecutionStarted",
                "id": 1,
                "previousEventId": 0,
                "executionStartedEventDetails": {"input": json.dumps({"week": week})},
            }
        ]
        return ex

    def abort(self, name: str, week: str, when: datetime) -> Execution:
        arn = self._arn(name)
        self.executions[arn] = Execution(
            arn, name, RUNNING, when, SM, input={"week": week}, version_arn=self.version
        )
        run = execute(
            DEFINITION,
            {"week": week, "mode": "hang"},
            clock=VirtualClock(when),
            should_abort=lambda: True,
        )
        return self._close(arn, run)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.delenv("OPSBOOK_HOME", raising=False)
    monkeypatch.delenv("OPSBOOK_BACKEND", raising=False)
    return load_config(home=tmp_path / "home", backend="local")


@pytest.fixture
def memory(cfg):
    """A MemoryBackend whose 'now' is Friday 2026-11-27 12:00 UTC."""
    return MemoryBackend(cfg, now=datetime(2026, 11, 27, 12, 0, tzinfo=UTC))


# --- a moto server for the AWS paths ----------------------------------------------------------
MOTO_ROLE = "arn:aws:iam::123456789012:role/opsbook-history-tests"
_mode = {"Variable": "$.mode", "IsPresent": True}
# Runs on moto's own ASL interpreter: a Fail branch, a long Wait (stopped -> ABORTED, or past the
# machine's timeout -> TIMED_OUT) and a success path. week_input() has no mode: it succeeds.
MOTO_DEFINITION = {
    "StartAt": "Route",
    "TimeoutSeconds": 2,
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [_mode, {"Variable": "$.mode", "StringEquals": "fail"}],
                    "Next": "WaitForData",
                },
                {"And": [_mode, {"Variable": "$.mode", "StringEquals": "hang"}], "Next": "Hang"},
            ],
            "Default": "CheckRecords",
        },
        "WaitForData": {"Type": "Wait", "Seconds": 0, "Next": "LoadFailed"},
        "Hang": {"Type": "Wait", "Seconds": 600, "Next": "CheckRecords"},
        "CheckRecords": {"Type": "Pass", "Next": "LoadSucceeded"},
        "LoadFailed": {"Type": "Fail", "Error": "DataLate", "Cause": "gave up after 1 poll"},
        "LoadSucceeded": {"Type": "Succeed"},
    },
}


# moto_server: the session's moto server (tests/conftest.py).


@pytest.fixture(scope="module")
def moto_env(moto_server, tmp_path_factory):
    """A reset moto that executes state machines, the AWS environment, and the state machine
    (published as version 1, alias `live`) under the configured name."""
    import boto3

    reset(moto_server, execute=True)
    home = tmp_path_factory.mktemp("aws-home")
    with pytest.MonkeyPatch.context() as mp:
        for var in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "OPSBOOK_HOME",
            "OPSBOOK_BACKEND",
        ):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ENDPOINT_URL", moto_server)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_REGION", MOTO_REGION)
        mp.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        cfg = load_config(home=home / "home", backend="aws")
        cfg = cfg.for_workflow(get_workflow(cfg))  # the weekly load's state machine name
        sfn = boto3.session.Session(region_name=MOTO_REGION).client("stepfunctions")
        sm = sfn.create_state_machine(
            name=cfg.state_machine_name,
            definition=json.dumps(MOTO_DEFINITION),
            roleArn=MOTO_ROLE,
            publish=True,
        )
        sfn.create_state_machine_alias(
            name=cfg.alias_name,
            routingConfiguration=[
                {"stateMachineVersionArn": sm["stateMachineVersionArn"], "weight": 100}
            ],
        )
        yield {
            "cfg": cfg,
            "sfn": sfn,
            "sm_arn": sm["stateMachineArn"],
            "url": moto_server,
            "definition": MOTO_DEFINITION,
        }
    set_execute(moto_server, False)


@pytest.fixture
def call_counter():
    """CallCounter, the class (make one per boto3 Session you want to count)."""
    return CallCounter
