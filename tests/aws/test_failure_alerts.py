"""The failure-alerts deploy step on moto over HTTP: the EventBridge rule on the state
machine's FAILED / TIMED_OUT / ABORTED status changes, its target (the notify function) and
the function's permission for EventBridge; idempotent, planned, torn down."""

from __future__ import annotations

import json

import pytest
from aws_helpers import ACCOUNT, REGION

from opsbook.backends.aws.alerts import STATEMENT_ID, rule_name
from opsbook.backends.aws.iam import deployer_policy
from opsbook.config import Config

pytestmark = pytest.mark.aws

SM_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:opsbook-weekly-load"
RULE = "opsbook-execution-failed"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{RULE}"
NOTIFY_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:opsbook-notify"


def alert_changes(result) -> dict[str, str]:
    kinds = ("event rule", "event target", "permission")
    return {c.kind: c.action for c in result.changes if c.kind in kinds}


def test_deploy_creates_the_rule_its_target_and_the_permission(backend):
    planned = backend.deploy(plan=True)
    assert alert_changes(planned) == dict.fromkeys(
        ("event rule", "event target", "permission"), "create"
    )
    events = backend.client("events")
    assert RULE not in {r["Name"] for r in events.list_rules()["Rules"]}  # the plan changed nothing

    result = backend.deploy()
    assert alert_changes(result) == dict.fromkeys(
        ("event rule", "event target", "permission"), "create"
    )
    rule = events.describe_rule(Name=RULE)
    assert rule["State"] == "ENABLED" and rule["Arn"] == RULE_ARN
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED"], "stateMachineArn": [SM_ARN]},
    }
    targets = events.list_targets_by_rule(Rule=RULE)["Targets"]
    assert [(t["Id"], t["Arn"]) for t in targets] == [("notify", NOTIFY_ARN)]
    tags = {
        t["Key"]: t["Value"] for t in events.list_tags_for_resource(ResourceARN=RULE_ARN)["Tags"]
    }
    assert tags["opsbook:managed-by"] == "opsbook"

    policy = json.loads(
        backend.client("lambda").get_policy(FunctionName="opsbook-notify")["Policy"]
    )
    [statement] = [s for s in policy["Statement"] if s["Sid"] == STATEMENT_ID]
    assert statement["Effect"] == "Allow" and statement["Action"] == "lambda:InvokeFunction"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Resource"] == NOTIFY_ARN
    assert RULE_ARN in json.dumps(statement["Condition"])  # only this rule may invoke it

    again = backend.deploy()
    assert alert_changes(again) == dict.fromkeys(
        ("event rule", "event target", "permission"), "unchanged"
    )


def test_a_changed_rule_is_updated_and_teardown_removes_it(backend):
    backend.deploy()
    events = backend.client("events")
    events.put_rule(
        Name=RULE, EventPattern=json.dumps({"source": ["aws.states"]}), State="DISABLED"
    )
    fixed = backend.deploy()
    assert alert_changes(fixed)["event rule"] == "update"
    assert events.describe_rule(Name=RULE)["State"] == "ENABLED"

    removed = backend.teardown()
    assert ("delete", "event rule", RULE) in {(c.action, c.kind, c.name) for c in removed.changes}
    assert RULE not in {r["Name"] for r in events.list_rules()["Rules"]}


def test_teardown_leaves_a_rule_it_did_not_create(backend):
    events = backend.client("events")
    events.put_rule(Name=rule_name(backend.names), EventPattern='{"source": ["x"]}')
    result = backend.teardown()
    assert ("unchanged", "event rule") in {(c.action, c.kind) for c in result.changes}
    assert RULE in {r["Name"] for r in events.list_rules()["Rules"]}


def test_the_deployer_may_manage_only_this_rule():
    policy = deployer_policy(Config(), ACCOUNT, REGION)
    [statement] = [s for s in policy["Statement"] if s.get("Sid") == "FailureAlerts"]
    assert statement["Resource"] == [RULE_ARN, NOTIFY_ARN]
    assert "events:PutRule" in statement["Action"] and "lambda:AddPermission" in statement["Action"]
    assert not any("*" in action for action in statement["Action"])
