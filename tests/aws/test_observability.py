"""A failed Thursday cannot go unseen: deploy on moto, then read back the dead-letter queue,
the alarms, the state machine's logging and every log group's retention; teardown removes
them; a second deploy changes nothing."""

from __future__ import annotations

import pytest
from aws_helpers import ACCOUNT, REGION

pytestmark = pytest.mark.aws

SM_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:opsbook-weekly-load"
DLQ_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:opsbook-schedule-dlq"
LOG_GROUPS = {
    "/aws/lambda/opsbook-check-records",
    "/aws/lambda/opsbook-notify",
    "/aws/lambda/opsbook-insert-week",
    "/aws/lambda/opsbook-weekly-load-start",
    "/aws/vendedlogs/states/opsbook-weekly-load",
}
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:opsbook-alerts"


def read_back(backend) -> dict:
    c = backend.client
    groups = {
        g["logGroupName"]: g.get("retentionInDays")
        for g in c("logs").describe_log_groups()["logGroups"]
    }
    queues = c("sqs").list_queues().get("QueueUrls", [])
    queue = {}
    if queues:
        (url,) = queues
        queue = c("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    alarms = {a["AlarmName"]: a for a in c("cloudwatch").describe_alarms()["MetricAlarms"]}
    return {"groups": groups, "queue": queue, "alarms": alarms}


@pytest.mark.parametrize(
    ("overrides", "retention", "execution_data", "actions"),
    [
        ({}, 30, False, []),
        (
            {"log_retention_days": 90, "log_execution_data": True, "alarm_topic_arn": TOPIC},
            90,
            True,
            [TOPIC],
        ),
    ],
)
def test_deploy_sets_up_dead_letters_logging_and_alarms(
    make_backend, overrides, retention, execution_data, actions
):
    backend = make_backend(**overrides)
    backend.deploy()
    seen = read_back(backend)
    # Every log group deploy creates, the Lambdas' included, has the retention period.
    assert seen["groups"] == dict.fromkeys(LOG_GROUPS, retention)
    # A standard (not FIFO), encrypted queue is the schedule's dead-letter queue.
    assert seen["queue"]["QueueArn"] == DLQ_ARN
    assert seen["queue"]["SqsManagedSseEnabled"] == "true"
    assert seen["queue"].get("FifoQueue", "false") == "false"
    schedule = backend.client("scheduler").get_schedule(Name="opsbook-weekly-load")
    assert schedule["Target"]["DeadLetterConfig"] == {"Arn": DLQ_ARN}
    # The state machine logs errors to its log group; execution data only when asked.
    described = backend.client("stepfunctions").describe_state_machine(stateMachineArn=SM_ARN)
    logging = described["loggingConfiguration"]
    assert logging["level"] == "ERROR"
    assert logging["includeExecutionData"] is execution_data
    (destination,) = logging["destinations"]
    assert destination["cloudWatchLogsLogGroup"]["logGroupArn"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/states/opsbook-weekly-load:*"
    )
    # One alarm on the schedule's target errors, one on failed executions, one on dead letters
    # (a start that never happened: the starter's failures reach only the queue).
    alarms = seen["alarms"]
    assert set(alarms) == {
        "opsbook-schedule-target-errors", "opsbook-executions-failed",
        "opsbook-schedule-dead-letters",
    }  # fmt: skip
    errors, failed = alarms["opsbook-schedule-target-errors"], alarms["opsbook-executions-failed"]
    letters = alarms["opsbook-schedule-dead-letters"]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Scheduler", "TargetErrorCount")
    assert errors["Dimensions"] == [{"Name": "ScheduleGroup", "Value": "default"}]
    assert (failed["Namespace"], failed["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert failed["Dimensions"] == [{"Name": "StateMachineArn", "Value": SM_ARN}]
    assert (letters["Namespace"], letters["MetricName"]) == (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible",
    )  # fmt: skip
    assert letters["Dimensions"] == [{"Name": "QueueName", "Value": "opsbook-schedule-dlq"}]
    assert letters["Statistic"] == "Maximum"
    for alarm in (errors, failed, letters):
        assert alarm["Threshold"] == 1.0 and alarm["ComparisonOperator"].startswith("GreaterThan")
        assert alarm["AlarmActions"] == actions
        assert alarm["ActionsEnabled"] is bool(actions)
    # Deploying again changes none of it.
    again = backend.deploy()
    touched = [c for c in again.changes if c.action != "unchanged"]
    assert touched == [], touched


def test_a_changed_retention_is_updated(make_backend):
    make_backend().deploy()
    result = make_backend(log_retention_days=14).deploy()
    updated = {c.name for c in result.changes if c.kind == "log_group" and c.action == "update"}
    assert updated == LOG_GROUPS
    assert set(read_back(make_backend())["groups"].values()) == {14}


def test_teardown_removes_queue_alarms_and_log_groups(make_backend):
    backend = make_backend()
    backend.deploy()
    backend.teardown()
    seen = read_back(backend)
    assert seen == {"groups": {}, "queue": {}, "alarms": {}}


def test_teardown_leaves_a_log_group_it_did_not_create(make_backend):
    backend = make_backend()
    logs = backend.client("logs")
    logs.create_log_group(logGroupName="/aws/lambda/opsbook-notify")  # someone else's
    backend.deploy()
    result = backend.teardown()
    kept = [c for c in result.changes if c.kind == "log_group" and c.action == "unchanged"]
    assert [c.name for c in kept] == ["/aws/lambda/opsbook-notify"]
    assert list(read_back(backend)["groups"]) == ["/aws/lambda/opsbook-notify"]
