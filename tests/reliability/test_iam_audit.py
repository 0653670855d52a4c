"""Every IAM policy deploy renders: no wildcard action, exact-ARN resources (only the Lambda
log-group stream patterns excepted), Allow only, scoped to this deploy's own names.

The auditor here is independent of opsbook.backends.aws.iam.audit_policy, so weakening that
function cannot hide a broad policy. It runs over the pure render function for a matrix of
configs (partitions, prefixes, SSM vs Secrets Manager secrets, custom bucket and prefix) and
over the policies actually created on moto (tests/aws/test_deploy.py also compares them)."""

from __future__ import annotations

import re

import pytest

from opsbook.backends.aws.iam import Names, render_policies, trust_policies
from opsbook.config import load_config

ACCOUNT = "123456789012"
ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")
# Step Functions logging to CloudWatch Logs: the actions AWS's developer guide lists with
# Resource "*" ("Logging using CloudWatch Logs"); no other statement may use "*".
LOG_DELIVERY = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}  # fmt: skip


def exact_resources(names: Names) -> set[str]:
    """Everything a policy may name: this deploy's functions (the tasks' and the schedule's
    starter), alias, objects, secrets, logs."""
    allowed = {names.function_arn(m) for m in names.functions}
    allowed |= {names.dlq_arn}
    allowed |= {names.log_group_arn(m) for m in names.functions}
    allowed |= {f"{names.log_group_arn(m)}:*" for m in names.functions}  # the one allowed pattern
    where = f"{names.partition}:{{}}:{names.region}:{names.account}"
    starter_log = f"arn:{where.format('logs')}:log-group:/aws/lambda/{names.starter}"
    allowed |= {f"arn:{where.format('lambda')}:function:{names.starter}", starter_log}
    allowed |= {f"{starter_log}:*"}
    return allowed


def audit(doc: dict, names: Names, templates: list[str], secret_arns: dict[str, str]) -> list[str]:
    problems = []
    allowed = exact_resources(names)
    allowed |= {
        f"arn:{names.partition}:s3:::{names.bucket}/{names.sql_prefix}{t}" for t in templates
    }
    allowed |= set(secret_arns.values())
    allowed |= {
        names.secret_arn(s) for s in (names.slack_secret, names.bq_secret) if s.startswith("/")
    }
    assert doc["Version"] == "2012-10-17"
    for st in doc["Statement"]:
        if st.get("Effect") != "Allow":
            problems.append(f"effect {st.get('Effect')}")
        for key in ("NotAction", "NotResource", "Principal", "NotPrincipal"):
            if key in st:
                problems.append(f"{key} in an identity policy")
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        for action in actions:
            if not ACTION.match(action):
                problems.append(f"action {action!r} is not one exact action")
        for resource in resources:
            if resource == "*" and set(actions) <= LOG_DELIVERY:
                continue
            if resource == names.state_machine_arn:
                # Starting through the alias: the unqualified ARN, held to the alias.
                want = {"ForAnyValue:StringEquals": {"states:StateMachineQualifier": [names.alias]}}
                if st.get("Condition") != want:
                    problems.append("state machine ARN without the alias qualifier condition")
                continue
            if resource not in allowed:
                problems.append(f"resource {resource!r} is not one of this deploy's exact ARNs")
            if not resource.startswith(f"arn:{names.partition}:"):
                problems.append(f"resource {resource!r} is in the wrong partition")
    return problems


CONFIGS = [
    ("ap-northeast-1", {}),
    ("eu-west-1", {"resource_prefix": "acme-ops", "sql_bucket": "acme-sql", "sql_prefix": "t/v2/"}),
    ("cn-north-1", {"slack_secret_name": "/opsbook/slack-webhook"}),
    ("us-gov-west-1", {"bq_credentials_secret": "opsbook/bq-sa"}),
    ("ap-northeast-1", {"slack_secret_name": "/a/b", "bq_credentials_secret": "/c/d"}),
]


@pytest.mark.parametrize(("region", "overrides"), CONFIGS)
def test_rendered_policies_are_least_privilege(tmp_path, region, overrides):
    cfg = load_config(home=tmp_path, backend="aws", **overrides)
    names = Names.from_config(cfg, ACCOUNT, region)
    templates = ["check_records.sql", "insert_week.sql", "weekly_summary.sql"]
    secret_arns = {
        s: f"{names.secret_arn(s)}-AbC123"
        for s in (names.slack_secret, names.bq_secret)
        if s and not s.startswith("/")
    }
    policies = render_policies(cfg, ACCOUNT, region, secret_arns=secret_arns, templates=templates)
    assert set(policies) == set(names.roles)
    for role, doc in policies.items():
        assert audit(doc, names, templates, secret_arns) == [], role
    grants = {
        role: {
            a
            for st in doc["Statement"]
            for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
        }
        for role, doc in policies.items()
    }
    assert grants[names.states_role] == {"lambda:InvokeFunction"} | LOG_DELIVERY
    # The schedule invokes the starter only; the starter alone starts executions.
    assert grants[names.scheduler_role] == {"lambda:InvokeFunction", "sqs:SendMessage"}
    (invoke,) = [
        st for st in policies[names.scheduler_role]["Statement"]
        if st["Action"] == "lambda:InvokeFunction"
    ]  # fmt: skip
    assert invoke["Resource"] == [
        f"arn:{names.partition}:lambda:{region}:{ACCOUNT}:function:{names.starter}"
    ]
    assert grants[names.starter_role] == {
        "states:StartExecution", "sqs:SendMessage",
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
    }  # fmt: skip
    assert not any(
        "states:StartExecution" in grants[r] for r in names.roles if r != names.starter_role
    )
    assert grants[names.lambda_role] <= {
        "s3:GetObject", "secretsmanager:GetSecretValue", "ssm:GetParameter",
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
    }  # fmt: skip
    # Each role is assumable only by its own service, from this account.
    for role, trust in trust_policies(names).items():
        (st,) = trust["Statement"]
        assert st["Action"] == "sts:AssumeRole" and st["Effect"] == "Allow"
        assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        assert st["Principal"]["Service"].endswith(".amazonaws.com"), role


def test_the_auditor_catches_broad_policies(tmp_path):
    cfg = load_config(home=tmp_path, backend="aws")
    names = Names.from_config(cfg, ACCOUNT, "ap-northeast-1")
    broad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "lambda:*", "Resource": names.function_arn("Notify")},
            {
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": f"{names.function_arn('Notify')}:*",
            },
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{names.bucket}/*",
            },
            {
                "Effect": "Allow",
                "Action": "states:StartExecution",
                "Resource": names.state_machine_arn,
            },
            {"Effect": "Allow", "NotAction": "iam:*", "Action": "s3:GetObject", "Resource": "*"},
        ],
    }
    problems = audit(broad, names, [], {})
    assert len(problems) >= 6, problems


def test_policies_created_on_moto_pass_the_audit(aws_deployed):
    backend = aws_deployed
    iam = backend.client("iam")
    names = backend.names
    templates = ["check_records.sql", "insert_week.sql", "weekly_summary.sql"]
    secret = backend.client("secretsmanager").describe_secret(SecretId=names.slack_secret)["ARN"]
    ours = [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"{names.prefix}-")]
    assert sorted(r["RoleName"] for r in ours) == sorted(names.roles)
    for role in names.roles:
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
            assert audit(doc, names, templates, {names.slack_secret: secret}) == [], role
