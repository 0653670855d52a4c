"""Replay and verify fetch recorded executions from AWS (a moto server over HTTP) through the
same Backend calls as locally: describe, history, list_executions, definition."""

from __future__ import annotations

import json
import time

import pytest

from opsbook.operations.fidelity import replay_execution, verify

pytestmark = pytest.mark.aws


def _run(env, name, payload):
    arn = env["sfn"].start_execution(
        stateMachineArn=env["sm_arn"], name=name, input=json.dumps(payload)
    )["executionArn"]
    deadline = time.monotonic() + 15
    while env["sfn"].describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{name} still running"
        time.sleep(0.1)
    return arn


def test_replay_and_verify_fetch_from_aws(moto_env):
    from opsbook.backends.aws.backend import AwsBackend

    env = moto_env
    _run(env, "week-2026-10-01", {"week": "2026-10-01"})
    _run(env, "week-2026-10-08", {"week": "2026-10-08", "mode": "fail"})
    backend = AwsBackend(env["cfg"])
    for name, status in (("week-2026-10-01", "SUCCEEDED"), ("week-2026-10-08", "FAILED")):
        report = replay_execution(backend, name)
        assert (report.status, report.replayed_status) == (status, status)
        assert report.match, report.divergence
    data = verify(backend, "2000-01-01", "2100-01-01").to_dict()
    assert (data["replayed"], data["matched"]) == (2, 2)

    changed = json.loads(json.dumps(env["definition"]))
    changed["States"]["LoadFailed"] = {"Type": "Succeed"}  # a late week would not fail
    report = replay_execution(backend, "week-2026-10-08", changed)
    assert not report.match and report.replayed_status == "SUCCEEDED"
    d = report.divergence
    assert (d["recorded"]["type"], d["replayed"]["type"]) == (
        "FailStateEntered",
        "SucceedStateEntered",
    )
