"""Deploy step: failure alerts. An EventBridge rule sends the state machine's FAILED,
TIMED_OUT and ABORTED "Step Functions Execution Status Change" events to the notify function.

The weekly load fails at the state whose work failed (so RedriveExecution resumes there) and
sends no failure message itself; this rule is what tells Slack. Step Functions sends the event
to the default event bus for standard workflows, best effort
(https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html,
https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html). EventBridge
invokes a Lambda function only when the function's resource policy allows the
events.amazonaws.com principal for that rule's ARN
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html).

Plain functions that receive the clients, names and the deployer's `note` (which records the
change and says whether to apply it), so deploy.py calls one function per direction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from opsbook.backends.aws.names import Names
from opsbook.lambdas.notify import ALERT_STATUSES, STATUS_CHANGE

TARGET_ID = "notify"
# The manifest task whose function hears the failures (a workflow without one gets no rule).
NOTIFY_TASK = "Notify"


def has_notify_task(names: Names) -> bool:
    return any(task.name == NOTIFY_TASK for task in names.tasks)


STATEMENT_ID = "opsbook-failure-alerts"

Note = Callable[..., bool]


def rule_name(names: Names) -> str:
    return names.scoped("execution-failed")


def rule_arn(names: Names) -> str:
    return names._arn("events", f"rule/{rule_name(names)}")


def event_pattern(names: Names) -> dict[str, Any]:
    """Status changes of this state machine that end it unsuccessfully."""
    return {
        "source": ["aws.states"],
        "detail-type": [STATUS_CHANGE],
        "detail": {
            "status": list(ALERT_STATUSES),
            "stateMachineArn": [names.state_machine_arn],
        },
    }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _permission_present(lam: Any, function: str, source_arn: str) -> bool:
    try:
        policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return False
        raise
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal") or {}
        service = principal.get("Service") if isinstance(principal, dict) else principal
        condition = json.dumps(statement.get("Condition") or {})
        if (
            statement.get("Sid") == STATEMENT_ID
            and service == "events.amazonaws.com"
            and source_arn in condition
        ):
            return True
    return False


def ensure_failure_alerts(
    events: Any, lam: Any, names: Names, tags: dict[str, str], note: Note
) -> None:
    """Create or update the rule, its target (the notify function) and the function's
    permission for EventBridge; each says create / update / unchanged through `note`."""
    if not has_notify_task(names):
        return
    name = rule_name(names)
    pattern = json.dumps(event_pattern(names), sort_keys=True)
    try:
        current = events.describe_rule(Name=name)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        current = None
    if current is None:
        action = "create"
    else:
        same = json.loads(current.get("EventPattern") or "{}") == json.loads(pattern)
        action = "unchanged" if same and current.get("State") == "ENABLED" else "update"
    if note(action, "event rule", name, "FAILED/TIMED_OUT/ABORTED -> notify"):
        events.put_rule(
            Name=name,
            EventPattern=pattern,
            State="ENABLED",
            Description=f"opsbook: tell Slack when {names.state_machine} fails, times out or is aborted",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
    function = names.function(NOTIFY_TASK)
    function_arn = names.function_arn(NOTIFY_TASK)
    targets = [] if current is None else events.list_targets_by_rule(Rule=name)["Targets"]
    present = any(t.get("Id") == TARGET_ID and t.get("Arn") == function_arn for t in targets)
    if note("unchanged" if present else "create", "event target", f"{name} -> {function}"):
        events.put_targets(Rule=name, Targets=[{"Id": TARGET_ID, "Arn": function_arn}])
    source = rule_arn(names)
    has = _permission_present(lam, function, source)  # no function yet (plan): not there
    if note("unchanged" if has else "create", "permission", f"{function} <- {name}"):
        if _statement_taken(lam, function):
            lam.remove_permission(FunctionName=function, StatementId=STATEMENT_ID)
        lam.add_permission(
            FunctionName=function,
            StatementId=STATEMENT_ID,
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=source,
        )


def _statement_taken(lam: Any, function: str) -> bool:
    try:
        policy = json.loads(lam.get_policy(FunctionName=function)["Policy"])
    except ClientError:
        return False
    return any(s.get("Sid") == STATEMENT_ID for s in policy.get("Statement", []))


def remove_failure_alerts(events: Any, names: Names, tags: dict[str, str], note: Note) -> None:
    """Delete the rule (its targets first) when it carries the deploy's tags. The permission
    goes with the notify function, which teardown deletes next."""
    name = rule_name(names)
    try:
        events.describe_rule(Name=name)
        found = events.list_tags_for_resource(ResourceARN=rule_arn(names))["Tags"]
    except ClientError as exc:
        if _code(exc) == "ResourceNotFoundException":
            return
        raise
    present = {t["Key"]: t["Value"] for t in found}
    if any(present.get(key) != value for key, value in tags.items()):
        note("unchanged", "event rule", name, "not managed by opsbook; left alone")
        return
    if note("delete", "event rule", name):
        ids = [t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]]
        if ids:
            events.remove_targets(Rule=name, Ids=ids)
        events.delete_rule(Name=name)


def deployer_statement(names: Names) -> dict[str, Any]:
    """What the deployer needs for this step, scoped to the rule (and AddPermission on the
    notify function, granted with the other Lambda actions)."""
    return {
        "Sid": "FailureAlerts",
        "Effect": "Allow",
        "Action": [
            "events:DescribeRule",
            "events:PutRule",
            "events:DeleteRule",
            "events:PutTargets",
            "events:RemoveTargets",
            "events:ListTargetsByRule",
            "events:TagResource",
            "events:ListTagsForResource",
            "lambda:GetPolicy",
            "lambda:AddPermission",
            "lambda:RemovePermission",
        ],
        "Resource": [rule_arn(names), names.function_arn(NOTIFY_TASK)],
    }


__all__ = [
    "STATEMENT_ID",
    "TARGET_ID",
    "deployer_statement",
    "ensure_failure_alerts",
    "event_pattern",
    "remove_failure_alerts",
    "rule_arn",
    "rule_name",
]
