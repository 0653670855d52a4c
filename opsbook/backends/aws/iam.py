"""Names, ARNs and least-privilege IAM policies of what `deploy` creates on AWS.

Pure functions: nothing here calls AWS, so tests (and reviewers) can audit every policy that
deploy will write. Resources are exact ARNs; the only patterns are the CloudWatch Logs ARNs
that Lambda logging needs (`log-group:/aws/lambda/<function>:*` covers the function's streams).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from opsbook.backends.aws.alerts import deployer_statement, has_notify_task
from opsbook.backends.aws.names import Names
from opsbook.config import Config
from opsbook.workflows.manifest import Workflow
from opsbook.workflows.registry import get_workflow

MANAGED_TAG = ("opsbook:managed-by", "opsbook")
# Step Functions logging ("Logging using CloudWatch Logs"): actions without resource-level
# permissions, so the one statement audit_policy lets use Resource "*".
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
POLICY_VERSION = "2012-10-17"


def sql_templates(cfg: Config, workflow: Workflow | None = None) -> list[str]:
    """The workflow's SQL template file names, uploaded to s3://bucket/<sql_prefix><name>."""
    return [p.name for p in (workflow or get_workflow(cfg)).sql_files()]


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": list(statements)}


def trust_policies(names: Names) -> dict[str, dict[str, Any]]:
    """Who may assume each role; SourceAccount guards against the confused deputy."""
    services = {
        names.lambda_role: "lambda.amazonaws.com",
        names.states_role: "states.amazonaws.com",
        names.scheduler_role: "scheduler.amazonaws.com",
        names.starter_role: "lambda.amazonaws.com",
    }
    return {
        role: _doc(
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": names.account}},
            }
        )
        for role, service in services.items()
    }


def render_policies(
    cfg: Config,
    account: str,
    region: str,
    *,
    secret_arns: Mapping[str, str] | None = None,
    templates: Sequence[str] | None = None,
    workflow: Workflow | None = None,
) -> dict[str, dict[str, Any]]:
    """The inline policy of each role, keyed by role (and policy) name.

    `secret_arns` maps a secret name to its full ARN (deploy reads the suffixed ARN back from
    Secrets Manager); `templates` are the SQL file names (default: definitions/sql/*.sql).
    """
    names = Names.from_config(cfg, account, region, workflow)
    secret_arns = dict(secret_arns or {})
    templates = sql_templates(cfg, workflow) if templates is None else list(templates)

    secrets = [s for s in (names.slack_secret, names.bq_secret) if s]
    secret_statements = []
    sm = [secret_arns.get(s, names.secret_arn(s)) for s in secrets if not s.startswith("/")]
    ssm = [names.secret_arn(s) for s in secrets if s.startswith("/")]
    if sm:
        secret_statements.append(
            {
                "Sid": "ReadSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": sm,
            }
        )
    if ssm:
        secret_statements.append(
            {
                "Sid": "ReadParameters",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": ssm,
            }
        )
    statements = []
    if templates:
        statements.append(
            {
                "Sid": "ReadSqlTemplates",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [names.object_arn(f"{names.sql_prefix}{t}") for t in templates],
            }
        )
    lambda_policy = _doc(
        *statements,
        *secret_statements,
        {
            "Sid": "CreateLogGroups",
            "Effect": "Allow",
            "Action": "logs:CreateLogGroup",
            "Resource": [names.log_group_arn(m) for m in names.functions],
        },
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{names.log_group_arn(m)}:*" for m in names.functions],
        },
    )
    # The definition invokes the unqualified function ARNs ($LATEST), so no `:*` forms.
    states_policy = _doc(
        {
            "Sid": "InvokeFunctions",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [names.function_arn(m) for m in names.functions],
        },
        {
            # What the Step Functions developer guide lists for logging to CloudWatch Logs;
            # these log-delivery actions take no resource-level permissions, hence "*".
            "Sid": "LogDelivery",
            "Effect": "Allow",
            "Action": list(LOG_DELIVERY_ACTIONS),
            "Resource": "*",
        },
    )
    dead_letters = {
        "Sid": "DeadLetters",
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": [names.dlq_arn],
    }
    # The schedule invokes the starter (the unqualified ARN) and nothing else. Scheduler sends
    # dead-letter events with the schedule's own role (EventBridge Scheduler user guide,
    # "Configuring a schedule's dead-letter queue").
    scheduler_policy = _doc(
        {
            "Sid": "InvokeStarter",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [names.starter_arn],
        },
        dead_letters,
    )
    # Step Functions authorizes a start through an alias against the unqualified state machine
    # ARN; the states:StateMachineQualifier condition keeps it to the alias ("Authorization
    # for versions and aliases in Step Functions workflows"). Scheduler invokes the starter
    # asynchronously, so a failed start ends in the function's dead-letter queue (the
    # schedule's), sent with the function's role.
    starter_log = names.function_log_group_arn(names.starter)
    starter_policy = _doc(
        {
            "Sid": "StartLiveAlias",
            "Effect": "Allow",
            "Action": "states:StartExecution",
            "Resource": [names.state_machine_arn],
            # As AWS's example writes it: ForAnyValue over the qualifier's values. A start on
            # the unqualified ARN has no qualifier, and ForAnyValue of nothing allows nothing.
            "Condition": {
                "ForAnyValue:StringEquals": {"states:StateMachineQualifier": [names.alias]}
            },
        },
        dead_letters,
        {
            "Sid": "CreateLogGroups",
            "Effect": "Allow",
            "Action": "logs:CreateLogGroup",
            "Resource": [starter_log],
        },
        {
            "Sid": "WriteLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [f"{starter_log}:*"],
        },
    )
    return {
        names.lambda_role: lambda_policy,
        names.states_role: states_policy,
        names.scheduler_role: scheduler_policy,
        names.starter_role: starter_policy,
    }


_LOG_PATTERN = re.compile(r"^arn:[\w-]+:logs:[\w-]+:\d{12}:log-group:/aws/lambda/[\w-]+:\*$")


def audit_policy(doc: Mapping[str, Any]) -> list[str]:
    """Problems in a policy: wildcard actions, or wildcard resources other than log streams."""
    problems = []
    for st in doc.get("Statement", []):
        actions = st.get("Action", [])
        resources = st.get("Resource", [])
        acts = [actions] if isinstance(actions, str) else list(actions)
        if resources == "*" and acts and set(acts) <= set(LOG_DELIVERY_ACTIONS):
            continue  # documented: log delivery takes no resource-level permissions
        for action in [actions] if isinstance(actions, str) else actions:
            if "*" in action or "?" in action:
                problems.append(f"wildcard action {action}")
        for resource in [resources] if isinstance(resources, str) else resources:
            if ("*" in resource or "?" in resource) and not _LOG_PATTERN.match(resource):
                problems.append(f"wildcard resource {resource}")
        if "NotAction" in st or "NotResource" in st:
            problems.append("NotAction/NotResource grants everything else")
    return problems


def deployer_policy(
    cfg: Config, account: str, region: str, workflow: Workflow | None = None
) -> dict[str, Any]:
    """What the person or CI role running `opsbook deploy/teardown/start/...` needs.

    Scoped to the deploy's names; Secrets Manager ARNs end in a random suffix, so the secret
    statement uses AWS's documented `-??????` form, and layer versions need `:*`.
    """
    n = Names.from_config(cfg, account, region, workflow)
    p = n.partition
    roles = [n.role_arn(r) for r in n.roles]
    functions = [n._arn("lambda", f"function:{f}") for f in n.all_functions]
    layer = n._arn("lambda", f"layer:{n.layer}")
    secrets = [
        f"{n.secret_arn(s)}-??????"
        for s in (n.slack_secret, n.bq_secret)
        if s and not s.startswith("/")
    ]
    schedule = n._arn("scheduler", f"schedule/default/{n.schedule}")
    statements: list[dict[str, Any]] = [
        {"Sid": "WhoAmI", "Effect": "Allow", "Action": "sts:GetCallerIdentity", "Resource": "*"},
        {
            "Sid": "SqlBucket",
            "Effect": "Allow",
            "Action": [
                "s3:CreateBucket",
                "s3:DeleteBucket",
                "s3:ListBucket",
                "s3:GetBucketTagging",
                "s3:PutBucketTagging",
                "s3:PutBucketPublicAccessBlock",
            ],
            "Resource": f"arn:{p}:s3:::{n.bucket}",
        },
        {
            "Sid": "SqlObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": [
                f"arn:{p}:s3:::{n.bucket}/{n.sql_prefix}*",
                f"arn:{p}:s3:::{n.bucket}/{n.prefix}-artifacts/*",
            ],
        },
        {
            "Sid": "Roles",
            "Effect": "Allow",
            "Action": [
                "iam:GetRole",
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:TagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:GetRolePolicy",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:DetachRolePolicy",
            ],
            "Resource": roles,
        },
        {
            "Sid": "PassRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": roles,
            "Condition": {
                "StringEquals": {
                    "iam:PassedToService": [
                        "lambda.amazonaws.com",
                        "states.amazonaws.com",
                        "scheduler.amazonaws.com",
                    ]
                }
            },
        },
        {
            "Sid": "Functions",
            "Effect": "Allow",
            "Action": [
                "lambda:GetFunction",
                "lambda:CreateFunction",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:DeleteFunction",
                "lambda:TagResource",
                # GetFunction returns the function's tags only with ListTags, and teardown
                # deletes only what carries the opsbook tag.
                "lambda:ListTags",
            ],
            "Resource": functions,
        },
        {
            "Sid": "Layer",
            "Effect": "Allow",
            "Action": [
                "lambda:PublishLayerVersion",
                "lambda:GetLayerVersion",
                "lambda:ListLayerVersions",
                "lambda:DeleteLayerVersion",
            ],
            "Resource": [layer, f"{layer}:*"],
        },
        {
            "Sid": "StateMachine",
            "Effect": "Allow",
            "Action": [
                "states:DescribeStateMachine",
                "states:CreateStateMachine",
                "states:UpdateStateMachine",
                "states:DeleteStateMachine",
                "states:PublishStateMachineVersion",
                "states:ListStateMachineVersions",
                "states:CreateStateMachineAlias",
                "states:UpdateStateMachineAlias",
                "states:DescribeStateMachineAlias",
                "states:DeleteStateMachineAlias",
                "states:TagResource",
                "states:ListTagsForResource",
                "states:ListExecutions",
                "states:StartExecution",
            ],
            "Resource": [n.state_machine_arn, f"{n.state_machine_arn}:*"],
        },
        {
            "Sid": "Executions",
            "Effect": "Allow",
            "Action": [
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:StopExecution",
                "states:RedriveExecution",
            ],
            "Resource": n._arn("states", f"execution:{n.state_machine}:*"),
        },
        {
            "Sid": "Schedule",
            "Effect": "Allow",
            "Action": [
                "scheduler:GetSchedule",
                "scheduler:CreateSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:DeleteSchedule",
            ],
            "Resource": schedule,
        },
    ]
    log_groups = [n._arn("logs", f"log-group:{g}") for g in n.log_groups]
    statements += [
        {
            "Sid": "LogGroups",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagResource",
                "logs:TagLogGroup",
                "logs:ListTagsForResource",
                "logs:ListTagsLogGroup",
            ],
            "Resource": log_groups + [f"{g}:*" for g in log_groups],
        },
        {
            # Passed on to Step Functions when the state machine logs; no resource-level
            # permissions exist for these (DescribeLogGroups lists by prefix).
            "Sid": "LogDelivery",
            "Effect": "Allow",
            "Action": list(LOG_DELIVERY_ACTIONS),
            "Resource": "*",
        },
        {
            "Sid": "DeadLetterQueue",
            "Effect": "Allow",
            "Action": [
                "sqs:CreateQueue",
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
                "sqs:ListQueueTags",
                "sqs:DeleteQueue",
            ],
            "Resource": n.dlq_arn,
        },
        {
            "Sid": "Alarms",
            "Effect": "Allow",
            "Action": [
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:TagResource",
                "cloudwatch:ListTagsForResource",
            ],
            "Resource": [n.alarm_arn(a) for a in n.alarms.values()],
        },
    ]
    if secrets:
        statements.append(
            {
                "Sid": "Secrets",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:CreateSecret",
                    "secretsmanager:TagResource",
                    "secretsmanager:RestoreSecret",
                    "secretsmanager:DeleteSecret",
                ],
                "Resource": secrets,
            }
        )
    if has_notify_task(n):
        statements.append(deployer_statement(n))  # the failure-alerts deploy step
    return _doc(*statements)
