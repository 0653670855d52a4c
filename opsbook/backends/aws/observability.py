"""What makes a failed Thursday visible: the schedule's dead-letter queue, the log groups (with
a retention period) and the CloudWatch alarms. A component the Deployer hands its clients,
names, config and change notes to; deploy ensures, teardown removes (only what carries the
opsbook tag).

AWS documentation this follows:
- EventBridge Scheduler, "Configuring a schedule's dead-letter queue": a standard SQS queue
  (no FIFO), `sqs:SendMessage` for the schedule's execution role (iam.render_policies).
- EventBridge Scheduler, "Monitoring with CloudWatch": namespace AWS/Scheduler, dimension
  ScheduleGroup, metric TargetErrorCount.
- Step Functions, "Monitoring with CloudWatch": namespace AWS/States, ExecutionsFailed by
  StateMachineArn.
- Amazon SQS, "CloudWatch metrics": namespace AWS/SQS, ApproximateNumberOfMessagesVisible by
  QueueName. A dead letter in the queue is a scheduled start that never happened: the schedule
  could not invoke the starter, or the starter could not start the execution (Lambda sends a
  failed asynchronous invoke there after its retries). Neither shows in ExecutionsFailed, and
  the starter's failure does not show in the schedule's TargetErrorCount either.
- Lambda creates /aws/lambda/<function> on first run with no retention unless it exists, so
  deploy creates it first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from opsbook.backends.aws.common import missing
from opsbook.backends.aws.iam import MANAGED_TAG, Names
from opsbook.config import Config

ALARM_PERIOD_S = 300


class Observability:
    def __init__(
        self,
        client: Callable[[str], Any],
        names: Names,
        cfg: Config,
        note: Callable[..., bool],
        tags: dict[str, str],
        schedule_group: str = "default",
    ):
        self.c = client
        self.names = names
        self.cfg = cfg
        self.note = note
        self.tags = tags
        self.schedule_group = schedule_group

    # --- log groups ----------------------------------------------------------------------

    def _log_group(self, name: str) -> dict[str, Any] | None:
        logs = self.c("logs")
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
            for group in page.get("logGroups", []):
                if group["logGroupName"] == name:
                    return group
        return None

    def ensure_log_groups(self) -> None:
        logs, days = self.c("logs"), self.cfg.log_retention_days
        for name in self.names.log_groups:
            group = self._log_group(name)
            if group is None:
                if self.note("create", "log_group", name, f"retention {days} days"):
                    logs.create_log_group(logGroupName=name, tags=self.tags)
                    logs.put_retention_policy(logGroupName=name, retentionInDays=days)
                continue
            current = group.get("retentionInDays")
            action = "unchanged" if current == days else "update"
            if self.note(action, "log_group", name, f"retention {current} -> {days} days"):
                logs.put_retention_policy(logGroupName=name, retentionInDays=days)

    def logging_configuration(self) -> dict[str, Any]:
        """The state machine's logging: ERROR level; inputs and outputs only when asked."""
        return {
            "level": "ERROR",
            "includeExecutionData": bool(self.cfg.log_execution_data),
            "destinations": [
                {"cloudWatchLogsLogGroup": {"logGroupArn": f"{self.names.states_log_group_arn}:*"}}
            ],
        }

    def remove_log_groups(self) -> None:
        logs = self.c("logs")
        for name in self.names.log_groups:
            group = self._log_group(name)
            if group is None:
                continue
            arn = group.get("arn", "").removesuffix(":*") or self.names.states_log_group_arn
            tags = logs.list_tags_for_resource(resourceArn=arn).get("tags", {})
            if tags.get(MANAGED_TAG[0]) != MANAGED_TAG[1]:
                self.note("unchanged", "log_group", name, "not created by opsbook; left alone")
                continue
            if self.note("delete", "log_group", name):
                logs.delete_log_group(logGroupName=name)

    # --- the schedule's dead-letter queue ------------------------------------------------

    def _queue_url(self) -> str | None:
        try:
            return self.c("sqs").get_queue_url(QueueName=self.names.dlq)["QueueUrl"]
        except ClientError as exc:
            if missing(exc) or "NonExistentQueue" in str(exc):
                return None
            raise

    def ensure_dlq(self) -> str:
        sqs = self.c("sqs")
        url = self._queue_url()
        if url is None:
            if self.note("create", "queue", self.names.dlq, "standard, SSE, the schedule's DLQ"):
                sqs.create_queue(
                    QueueName=self.names.dlq,
                    Attributes={
                        "SqsManagedSseEnabled": "true",
                        "MessageRetentionPeriod": "1209600",
                    },
                    tags=self.tags,
                )
            return self.names.dlq_arn
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        encrypted = attrs.get("SqsManagedSseEnabled") == "true" or attrs.get("KmsMasterKeyId")
        if self.note("unchanged" if encrypted else "update", "queue", self.names.dlq, "SSE"):
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"SqsManagedSseEnabled": "true"})
        return self.names.dlq_arn

    def remove_dlq(self) -> None:
        sqs = self.c("sqs")
        url = self._queue_url()
        if url is None:
            return
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        if tags.get(MANAGED_TAG[0]) != MANAGED_TAG[1]:
            self.note("unchanged", "queue", self.names.dlq, "not created by opsbook; left alone")
            return
        if self.note("delete", "queue", self.names.dlq, "and any dead letters in it"):
            sqs.delete_queue(QueueUrl=url)

    # --- alarms ------------------------------------------------------------------------------

    def alarm_specs(self) -> dict[str, dict[str, Any]]:
        alarms = self.names.alarms
        common: dict[str, Any] = {
            "Statistic": "Sum",
            "Period": ALARM_PERIOD_S,
            "EvaluationPeriods": 1,
            "Threshold": 1.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",  # no run, no data: not an alarm
            "ActionsEnabled": bool(self.cfg.alarm_topic_arn),
            "AlarmActions": [self.cfg.alarm_topic_arn] if self.cfg.alarm_topic_arn else [],
        }
        return {
            alarms["schedule_errors"]: {
                **common,
                "AlarmDescription": "opsbook: the schedule could not start the workflow",
                "Namespace": "AWS/Scheduler",
                "MetricName": "TargetErrorCount",
                "Dimensions": [{"Name": "ScheduleGroup", "Value": self.schedule_group}],
            },
            alarms["executions_failed"]: {
                **common,
                "AlarmDescription": f"opsbook: an execution of {self.names.state_machine} failed",
                "Namespace": "AWS/States",
                "MetricName": "ExecutionsFailed",
                "Dimensions": [{"Name": "StateMachineArn", "Value": self.names.state_machine_arn}],
            },
            alarms["dead_letters"]: {
                **common,
                "Statistic": "Maximum",
                "AlarmDescription": "opsbook: a scheduled start ended in the dead-letter queue",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": self.names.dlq}],
            },
        }

    KEYS = (
        "Namespace", "MetricName", "Dimensions", "Statistic", "Threshold", "AlarmActions",
        "Period",
    )  # fmt: skip

    def ensure_alarms(self) -> None:
        cw = self.c("cloudwatch")
        specs = self.alarm_specs()
        found = {
            a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=list(specs))["MetricAlarms"]
        }
        for name, spec in specs.items():
            current = found.get(name)
            if current is None:
                action = "create"
            else:
                same = all(current.get(k) == spec[k] for k in self.KEYS)
                action = "unchanged" if same else "update"
            detail = f"{spec['Namespace']} {spec['MetricName']}"
            if self.note(action, "alarm", name, detail):
                tags = [{"Key": k, "Value": v} for k, v in self.tags.items()]
                cw.put_metric_alarm(AlarmName=name, Tags=tags, **spec)

    def remove_alarms(self) -> None:
        cw = self.c("cloudwatch")
        names = list(self.names.alarms.values())
        for alarm in cw.describe_alarms(AlarmNames=names)["MetricAlarms"]:
            tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags", [])
            if {"Key": MANAGED_TAG[0], "Value": MANAGED_TAG[1]} not in tags:
                self.note("unchanged", "alarm", alarm["AlarmName"], "not created by opsbook")
                continue
            if self.note("delete", "alarm", alarm["AlarmName"]):
                cw.delete_alarms(AlarmNames=[alarm["AlarmName"]])
