"""The schedule's starter (opsbook.lambdas.start_partition) on the moto server: one execution
per partition, named as a manual start names it, however often Scheduler fires.

moto never runs Lambda code, so the handler is called in process with the event Scheduler
would send: the deployed schedule's Target.Input with `<aws.scheduler.scheduled-time>`
rendered, and the environment deploy gave the function."""

from __future__ import annotations

import json

import boto3
import pytest
from aws_helpers import ACCOUNT, REGION
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from opsbook.lambdas import start_partition

pytestmark = pytest.mark.aws

SM_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:opsbook-weekly-load"
ALIAS_ARN = f"{SM_ARN}:live"
STARTER = "opsbook-weekly-load-start"
THURSDAY = "2026-11-26T00:30:00Z"  # Thursday 09:30 in Tokyo: the weekly load's fire time


def scheduled_event(backend, when: str) -> dict:
    """The deployed schedule's input as Scheduler renders it at `when`."""
    target = backend.client("scheduler").get_schedule(
        Name="opsbook-weekly-load", GroupName="default"
    )["Target"]
    assert target["Arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STARTER}"
    return json.loads(target["Input"].replace("<aws.scheduler.scheduled-time>", when))


def starter_environment(backend) -> dict[str, str]:
    config = backend.client("lambda").get_function(FunctionName=STARTER)["Configuration"]
    assert config["Handler"] == "opsbook.lambdas.start_partition.handler"
    assert config["Role"] == f"arn:aws:iam::{ACCOUNT}:role/opsbook-starter"
    return config["Environment"]["Variables"]


def recording_client(backend) -> tuple[object, list[str]]:
    """A Step Functions client on the endpoint that records each StartExecution's target."""
    sfn = backend.session.client("stepfunctions")
    targets: list[str] = []

    def record(params, **_):
        targets.append(params["stateMachineArn"])

    sfn.meta.events.register("provide-client-params.sfn.StartExecution", record)
    return sfn, targets


def executions(backend) -> list[dict]:
    sfn = backend.client("stepfunctions")
    return sfn.list_executions(stateMachineArn=SM_ARN)["executions"]


def test_a_repeated_scheduled_fire_starts_one_execution_named_for_the_partition(backend):
    backend.deploy()
    event = scheduled_event(backend, THURSDAY)
    assert event == {"scheduled_time": THURSDAY}
    env = starter_environment(backend)
    assert env["STATE_MACHINE_ALIAS_ARN"] == ALIAS_ARN
    scheme = backend.workflow.scheme
    sfn, targets = recording_client(backend)

    first = start_partition.start(event, sfn, ALIAS_ARN, scheme)
    again = start_partition.start(event, sfn, ALIAS_ARN, scheme)  # Scheduler fired twice

    name = backend.workflow.execution_name("2026-11-26")
    assert name == "week-2026-11-26"
    assert first["name"] == again["name"] == name
    assert first["executionArn"] == again["executionArn"]
    assert [e["name"] for e in executions(backend)] == [name]
    # Started through the alias; moto cannot, so the emulator fallback follows that call.
    assert targets[0] == ALIAS_ARN and set(targets) <= {ALIAS_ARN, SM_ARN}
    described = backend.describe(name)
    assert described.input == event  # the input the schedule gave the alias before
    assert described.partition == "2026-11-26"

    # A fire after the run has ended meets ExecutionAlreadyExists: success, nothing started.
    backend.client("stepfunctions").stop_execution(executionArn=first["executionArn"])
    late = start_partition.start(event, sfn, ALIAS_ARN, scheme)
    assert late == {"executionArn": first["executionArn"], "name": name, "started": False}
    assert [e["name"] for e in executions(backend)] == [name]


def test_a_manual_start_of_the_partition_means_the_fire_starts_nothing(backend):
    backend.deploy()
    manual = backend.start({"week": "2026-11-26"}, name="week-2026-11-26", wait=False)
    sfn, _ = recording_client(backend)
    result = start_partition.start(
        scheduled_event(backend, THURSDAY), sfn, ALIAS_ARN, backend.workflow.scheme
    )
    assert result == {"executionArn": manual.arn, "name": "week-2026-11-26", "started": False}
    assert len(executions(backend)) == 1


def test_the_handler_names_each_fire_time_by_its_partition(backend, monkeypatch):
    backend.deploy()
    env = starter_environment(backend)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)  # as Lambda sets it
    names = {}
    for when in (
        "2026-12-03T00:30:00Z",  # the next Thursday
        "2026-11-25T14:59:00Z",  # Wednesday 23:59 in Tokyo: still the week of 11-19
        "2026-11-25T15:00:00Z",  # Thursday 00:00 in Tokyo: the week of 11-26
    ):
        result = start_partition.handler(scheduled_event(backend, when), None, environ=env)
        names[when] = result["name"]
    assert names == {
        "2026-12-03T00:30:00Z": "week-2026-12-03",
        "2026-11-25T14:59:00Z": "week-2026-11-19",
        "2026-11-25T15:00:00Z": "week-2026-11-26",
    }
    assert sorted(e["name"] for e in executions(backend)) == sorted(names.values())


def aws_client():
    """A client whose endpoint is AWS itself (stubbed: nothing leaves the process)."""
    return boto3.client(
        "stepfunctions",
        region_name=REGION,
        endpoint_url=f"https://states.{REGION}.amazonaws.com",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.mark.parametrize("code", ["AccessDeniedException", "StateMachineDoesNotExist"])
def test_any_other_error_raises_so_lambda_retries_and_dead_letters(code):
    sfn = aws_client()
    event = {"scheduled_time": THURSDAY}
    with Stubber(sfn) as stub:
        stub.add_client_error("start_execution", service_error_code=code)
        with pytest.raises(ClientError) as raised:
            start_partition.start(event, sfn, ALIAS_ARN, _scheme())
        stub.assert_no_pending_responses()  # one call: no fallback against AWS
    assert raised.value.response["Error"]["Code"] == code


def test_a_missing_state_machine_raises_on_the_emulator_too(aws_env):
    sfn = boto3.client("stepfunctions", region_name=REGION)
    with pytest.raises(ClientError, match="StateMachineDoesNotExist"):
        start_partition.start({"scheduled_time": THURSDAY}, sfn, ALIAS_ARN, _scheme())


@pytest.mark.parametrize("event", [{}, {"scheduled_time": "soon"}, "2026-11-26"])
def test_an_event_without_a_scheduled_time_raises(event):
    with pytest.raises(ValueError):
        start_partition.start(event, aws_client(), ALIAS_ARN, _scheme())


def _scheme():
    from opsbook.workflows.registry import shipped_workflow

    return shipped_workflow("weekly_load").scheme
