"""deploy / plan / rollback / teardown against moto over HTTP, checked through boto3 lists."""

from __future__ import annotations

import json

import pytest
from aws_helpers import ACCOUNT, REGION
from support.definitions import weekly_load_copy

from opsbook.backends.aws.deploy import substitute
from opsbook.backends.aws.iam import LOG_DELIVERY_ACTIONS, Names, audit_policy, render_policies
from opsbook.config import PACKAGE_ROOT
from opsbook.errors import UsageError

pytestmark = pytest.mark.aws

SM_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:opsbook-weekly-load"
ALIAS_ARN = f"{SM_ARN}:live"
BUCKET = f"opsbook-sql-{ACCOUNT}-{REGION}"
TASK_FUNCTIONS = {"opsbook-check-records", "opsbook-notify", "opsbook-insert-week"}
STARTER = "opsbook-weekly-load-start"  # the schedule's target (opsbook.lambdas.start_partition)
STARTER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STARTER}"
FUNCTIONS = TASK_FUNCTIONS | {STARTER}
ROLES = {"opsbook-lambda", "opsbook-states", "opsbook-scheduler", "opsbook-starter"}


def inventory(backend) -> dict:
    """Everything deploy can create, listed through the same endpoint."""
    c = backend.client
    buckets = {b["Name"] for b in c("s3").list_buckets()["Buckets"]}
    objects = set()
    for bucket in buckets:
        objects |= {o["Key"] for o in c("s3").list_objects_v2(Bucket=bucket).get("Contents", [])}
    return {
        "roles": {r["RoleName"] for r in c("iam").list_roles()["Roles"]},
        "functions": {f["FunctionName"] for f in c("lambda").list_functions()["Functions"]},
        "layers": {layer["LayerName"] for layer in c("lambda").list_layers()["Layers"]},
        "buckets": buckets,
        "objects": objects,
        "state_machines": {
            m["name"] for m in c("stepfunctions").list_state_machines()["stateMachines"]
        },
        "schedules": {s["Name"] for s in c("scheduler").list_schedules()["Schedules"]},
        "secrets": {s["Name"] for s in c("secretsmanager").list_secrets()["SecretList"]},
    }


def test_deploy_creates_exactly_the_expected_resources(backend):
    result = backend.deploy()
    assert result.applied and result.changed
    assert {c.action for c in result.changes} == {"create"}
    assert inventory(backend) == {
        "roles": ROLES,
        "functions": FUNCTIONS,
        "layers": {"opsbook-deps"},
        "buckets": {BUCKET},
        "objects": {"sql/check_records.sql", "sql/insert_week.sql", "sql/weekly_summary.sql"},
        "state_machines": {"opsbook-weekly-load"},
        "schedules": {"opsbook-weekly-load"},
        "secrets": {"opsbook/slack-webhook"},
    }
    # One version, and the live alias on it.
    assert result.version_arn == f"{SM_ARN}:1"
    assert backend.live_version() == f"{SM_ARN}:1"
    # The uploaded templates are the repository's, byte for byte.
    s3 = backend.client("s3")
    body = s3.get_object(Bucket=BUCKET, Key="sql/check_records.sql")["Body"].read()
    assert (
        body
        == (PACKAGE_ROOT / "definitions" / "weekly_load" / "sql" / "check_records.sql").read_bytes()
    )


def test_functions_get_the_zip_layer_role_and_environment(backend):
    backend.deploy()
    lam = backend.client("lambda")
    layer_arn = lam.list_layer_versions(LayerName="opsbook-deps")["LayerVersions"][0][
        "LayerVersionArn"
    ]
    handlers = {  # each task's handler module, as the weekly load's manifest names it
        "check_records": "opsbook.definitions.weekly_load.check_records.handler",
        "notify": "opsbook.lambdas.notify.handler",
        "insert_week": "opsbook.definitions.weekly_load.insert_week.handler",
    }
    for module, handler in handlers.items():
        config = lam.get_function(FunctionName=f"opsbook-{module.replace('_', '-')}")[
            "Configuration"
        ]
        assert config["Handler"] == handler
        assert config["Runtime"] == "python3.11"
        assert config["Role"] == f"arn:aws:iam::{ACCOUNT}:role/opsbook-lambda"
        assert [layer["Arn"] for layer in config["Layers"]] == [layer_arn]
        env = config["Environment"]["Variables"]
        assert env["WAREHOUSE"] == "bigquery"
        assert env["SQL_BUCKET"] == BUCKET and env["SQL_PREFIX"] == "sql/"
        assert env["SLACK_SECRET_NAME"] == "opsbook/slack-webhook"
        assert env["BQ_PROJECT"] == backend.cfg.bq_project and env["BQ_DATASET"] == "analytics"
        # No secret value travels in the configuration.
        assert not any("hooks.slack.com" in v for v in env.values())


def test_deployed_definition_is_the_file_with_arns_substituted(backend):
    backend.deploy()
    names = backend.names
    source = json.loads(
        (PACKAGE_ROOT / "definitions" / "weekly_load" / "weekly_load.asl.json").read_text()
    )
    expected = substitute(source, names.placeholders, "weekly_load.asl.json")
    deployed = backend.definition()
    assert deployed == expected
    text = json.dumps(deployed)
    assert "${" not in text
    for task in ("CheckRecords", "Notify", "InsertWeek"):
        assert names.function_arn(task) in text
    # Only the FunctionName fields changed.
    assert json.dumps(source).count("FunctionArn}") == sum(
        text.count(names.function_arn(m)) for m in ("CheckRecords", "Notify", "InsertWeek")
    )


def test_every_iam_policy_is_least_privilege(backend):
    backend.deploy()
    iam = backend.client("iam")
    secret_arn = backend.client("secretsmanager").describe_secret(SecretId="opsbook/slack-webhook")[
        "ARN"
    ]
    deployed = {}
    for role in ROLES:
        names = iam.list_role_policies(RoleName=role)["PolicyNames"]
        assert names == [role]  # one inline policy, nothing attached
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []
        deployed[role] = iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
        assert audit_policy(deployed[role]) == [], role
    rendered = render_policies(
        backend.cfg, ACCOUNT, REGION, secret_arns={"opsbook/slack-webhook": secret_arn}
    )
    assert deployed == rendered

    def grants(doc):
        out = {}
        for st in doc["Statement"]:
            assert st["Effect"] == "Allow"
            actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
            for action in actions:
                out.setdefault(action, set()).update(resources)
        return out

    obj = f"arn:aws:s3:::{BUCKET}/sql/"
    logs = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/"
    assert grants(deployed["opsbook-lambda"]) == {
        "s3:GetObject": {
            obj + "check_records.sql",
            obj + "insert_week.sql",
            obj + "weekly_summary.sql",
        },
        "secretsmanager:GetSecretValue": {secret_arn},
        "logs:CreateLogGroup": {logs + f for f in TASK_FUNCTIONS},
        "logs:CreateLogStream": {logs + f + ":*" for f in TASK_FUNCTIONS},
        "logs:PutLogEvents": {logs + f + ":*" for f in TASK_FUNCTIONS},
    }
    assert secret_arn.startswith(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:opsbook/slack-webhook-"
    )
    assert grants(deployed["opsbook-states"]) == {
        "lambda:InvokeFunction": {
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{f}" for f in TASK_FUNCTIONS
        },
        **{action: {"*"} for action in LOG_DELIVERY_ACTIONS},
    }
    # The schedule may only invoke the starter; dead letters go to the schedule's own queue.
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:opsbook-schedule-dlq"
    assert grants(deployed["opsbook-scheduler"]) == {
        "lambda:InvokeFunction": {STARTER_ARN},
        "sqs:SendMessage": {dlq},
    }
    # Step Functions authorizes a start through the alias against the unqualified state
    # machine ARN; the qualifier condition holds the starter to the alias. A start that still
    # fails after Lambda's retries goes to the same queue, sent with the starter's role.
    sm_arn = ALIAS_ARN.rsplit(":", 1)[0]
    assert grants(deployed["opsbook-starter"]) == {
        "states:StartExecution": {sm_arn},
        "sqs:SendMessage": {dlq},
        "logs:CreateLogGroup": {logs + STARTER},
        "logs:CreateLogStream": {logs + STARTER + ":*"},
        "logs:PutLogEvents": {logs + STARTER + ":*"},
    }
    (start,) = [s for s in deployed["opsbook-starter"]["Statement"] if s["Sid"] == "StartLiveAlias"]
    assert start["Condition"] == {
        "ForAnyValue:StringEquals": {"states:StateMachineQualifier": ["live"]}
    }
    # Each role can be assumed only by its service, from this account.
    principals = {}
    for role in ROLES:
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        (statement,) = trust["Statement"]
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        principals[role] = statement["Principal"]["Service"]
    assert principals == {
        "opsbook-lambda": "lambda.amazonaws.com",
        "opsbook-states": "states.amazonaws.com",
        "opsbook-scheduler": "scheduler.amazonaws.com",
        "opsbook-starter": "lambda.amazonaws.com",
    }


def test_audit_catches_wildcards():
    bad = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/k"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
            {
                "Effect": "Allow",
                "Action": "logs:PutLogEvents",
                "Resource": "arn:aws:logs:r:1:log-group:*",
            },
        ]
    }
    assert audit_policy(bad) == [
        "wildcard action s3:*",
        "wildcard resource arn:aws:s3:::b/*",
        "wildcard resource arn:aws:logs:r:1:log-group:*",
    ]


def test_schedule_is_tokyo_time_and_targets_the_starter(backend):
    backend.deploy()
    schedule = backend.client("scheduler").get_schedule(
        Name="opsbook-weekly-load", GroupName="default"
    )
    source = json.loads(
        (PACKAGE_ROOT / "definitions" / "weekly_load" / "schedule.json").read_text()
    )
    assert schedule["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert schedule["ScheduleExpression"] == source["ScheduleExpression"]
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert target["Arn"] == STARTER_ARN  # which starts the alias under the partition's name
    assert target["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/opsbook-scheduler"
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert target["RetryPolicy"] == source["Target"]["RetryPolicy"]


def test_second_deploy_is_a_no_op_and_plan_changes_nothing(backend):
    backend.deploy()
    before = inventory(backend)
    again = backend.deploy()
    assert not again.changed
    assert {c.action for c in again.changes} == {"unchanged"}
    assert {c.kind for c in again.changes} >= {
        "bucket", "object", "secret", "role", "layer", "lambda", "state_machine", "version", "alias", "schedule",
    }  # fmt: skip
    plan = backend.deploy(plan=True)
    assert not plan.applied and not plan.changed
    assert inventory(backend) == before
    assert backend.live_version() == f"{SM_ARN}:1"


def test_plan_on_an_empty_account_creates_nothing(backend):
    plan = backend.deploy(plan=True)
    assert not plan.applied
    assert {c.action for c in plan.changes} == {"create"}
    kinds = [c.kind for c in plan.changes]
    assert kinds.count("lambda") == 4 and kinds.count("role") == 4 and "schedule" in kinds
    assert all(not v for v in inventory(backend).values())


def test_changed_definition_publishes_a_version_and_rollback_moves_the_alias(
    make_backend, tmp_path
):
    defs = weekly_load_copy(tmp_path)
    backend = make_backend(definitions_dir=str(defs))
    backend.deploy()
    path = defs / "weekly_load" / "weekly_load.asl.json"
    doc = json.loads(path.read_text())
    doc["Comment"] = "changed"
    path.write_text(json.dumps(doc))

    plan = backend.deploy(plan=True)
    changed = {(c.kind, c.action) for c in plan.changes if c.action != "unchanged"}
    assert changed == {("state_machine", "update"), ("version", "create"), ("alias", "update")}
    assert backend.live_version() == f"{SM_ARN}:1"  # plan changed nothing

    result = backend.deploy()
    assert result.version_arn == f"{SM_ARN}:2"
    assert backend.live_version() == f"{SM_ARN}:2"
    assert backend.definition()["Comment"] == "changed"
    lambdas = [c for c in result.changes if c.kind == "lambda"]
    assert {c.action for c in lambdas} == {"unchanged"}  # only what changed is touched

    back = backend.deploy(rollback=True)
    assert [(c.kind, c.action) for c in back.changes] == [("alias", "update")]
    assert backend.live_version() == f"{SM_ARN}:1"
    assert backend.definition()["Comment"] != "changed"
    with pytest.raises(UsageError, match="oldest version"):
        backend.deploy(rollback=True)
    # A plain deploy puts live back on the version that matches the files.
    forward = backend.deploy()
    assert [c.action for c in forward.changes if c.action != "unchanged"] == ["update"]
    assert backend.live_version() == f"{SM_ARN}:2"


def test_rollback_before_deploy_is_a_usage_error(backend):
    with pytest.raises(UsageError, match="deploy first"):
        backend.deploy(rollback=True)


def test_teardown_removes_everything_deploy_made_and_nothing_else(backend):
    c = backend.client
    # Someone else's things in the same account, one of them in the deploy bucket.
    c("iam").create_role(
        RoleName="someone-else", AssumeRolePolicyDocument=json.dumps({"Statement": []})
    )
    c("s3").create_bucket(
        Bucket="other-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    c("secretsmanager").create_secret(Name="other/secret", SecretString="x")
    backend.deploy()
    c("s3").put_object(Bucket=BUCKET, Key="notes/readme.txt", Body=b"mine")

    preview = backend.teardown(plan=True)
    assert not preview.applied and {ch.action for ch in preview.changes} == {"delete"}
    assert inventory(backend)["functions"] == FUNCTIONS  # plan removed nothing

    done = backend.teardown()
    deleted = {(ch.kind, ch.name) for ch in done.changes if ch.action == "delete"}
    assert ("state_machine", "opsbook-weekly-load") in deleted
    assert ("schedule", "default/opsbook-weekly-load") in deleted
    left = inventory(backend)
    assert left == {
        "roles": {"someone-else"},
        "functions": set(),
        "layers": set(),
        "buckets": {"other-bucket", BUCKET},  # ours holds someone's object, so it stays
        "objects": {"notes/readme.txt"},
        "state_machines": set(),
        "schedules": set(),
        "secrets": {"other/secret"},  # ours is scheduled for deletion (7-day recovery)
    }
    # Tearing down again finds nothing to do; deploying again restores the secret.
    assert not backend.teardown().changed
    redeploy = backend.deploy()
    assert ("secret", "update") in {(ch.kind, ch.action) for ch in redeploy.changes}
    assert inventory(backend)["functions"] == FUNCTIONS


def test_teardown_deletes_the_bucket_it_created_when_empty(backend):
    backend.deploy()
    backend.teardown()
    assert all(not v for v in inventory(backend).values())


def test_names_follow_the_prefix(make_backend):
    backend = make_backend(
        resource_prefix="acme", state_machine_name="acme-load", sql_bucket="acme-sql"
    )
    backend.deploy()
    inv = inventory(backend)
    assert inv["roles"] == {"acme-lambda", "acme-states", "acme-scheduler", "acme-starter"}
    assert inv["functions"] == {
        "acme-check-records", "acme-notify", "acme-insert-week", "acme-weekly-load-start",
    }  # fmt: skip
    assert inv["buckets"] == {"acme-sql"} and inv["state_machines"] == {"acme-load"}
    names = Names.from_config(backend.cfg, ACCOUNT, REGION)
    assert backend.live_version() == f"{names.state_machine_arn}:1"


def test_a_layer_over_the_direct_upload_limit_goes_through_s3(make_backend, build_dir):
    from opsbook.lambda_build.configured import build_for_config

    backend = make_backend(direct_upload_limit=1_000)  # the layer counts as "over 50 MB"
    backend.deploy()
    expected = build_for_config(backend.cfg, cache_dir=build_dir).layer
    assert expected.size > 1_000
    content = backend.client("lambda").get_layer_version(LayerName="opsbook-deps", VersionNumber=1)[
        "Content"
    ]
    assert content["CodeSha256"] == expected.sha256 and content["CodeSize"] == expected.size
    # The staged zip is removed once Lambda has its copy.
    listed = backend.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="opsbook-artifacts/")
    assert listed.get("KeyCount", 0) == 0
    assert not backend.deploy().changed


def test_deployer_policy_names_only_the_deploy_resources():
    from opsbook.backends.aws.iam import deployer_policy
    from opsbook.config import Config

    doc = deployer_policy(Config(), ACCOUNT, REGION)
    actions = [
        a
        for st in doc["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    ]
    assert not any("*" in a for a in actions)
    assert {
        "iam:PassRole",
        "states:CreateStateMachineAlias",
        "lambda:PublishLayerVersion",
        "lambda:ListTags",  # GetFunction returns tags only with it; teardown reads them
    } <= set(actions)
    for st in doc["Statement"]:
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        if st["Sid"] in ("WhoAmI", "LogDelivery"):  # actions with no resource to scope
            assert resources == ["*"]
            continue
        assert all("opsbook" in r for r in resources), st["Sid"]


def test_calls_a_new_role_fails_are_retried_until_iam_propagates(backend):
    from botocore.exceptions import ClientError

    from opsbook.backends.aws.deploy import Deployer

    deployer = Deployer(backend, iam_retry=(4, 0.0))
    deployer.fresh_roles = True
    failures = [
        ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "Neither the global service principal "
             "states.amazonaws.com, nor the regional one is authorized to assume the provided role."}},
            "CreateStateMachine",
        ),
        ClientError(
            {"Error": {"Code": "InvalidParameterValueException",
                       "Message": "The role defined for the function cannot be assumed by Lambda."}},
            "CreateFunction",
        ),
        ClientError(
            {"Error": {"Code": "InvalidParameterValueException",
                       "Message": "The provided execution role does not have permissions to call "
                       "SendMessage on SQS"}},
            "CreateFunction",
        ),
    ]  # fmt: skip

    def call():
        if failures:
            raise failures.pop(0)
        return "created"

    assert deployer._after_iam(call) == "created"
    other = ClientError(
        {"Error": {"Code": "ValidationException", "Message": "bad cron"}}, "CreateSchedule"
    )
    with pytest.raises(ClientError):
        deployer._after_iam(lambda: (_ for _ in ()).throw(other))


def test_ssm_parameter_and_bigquery_secret_policies():
    from opsbook.config import Config

    cfg = Config(slack_secret_name="/opsbook/slack-webhook", bq_credentials_secret="opsbook/bq-sa")
    bq_arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:opsbook/bq-sa-AbCdEf"
    doc = render_policies(cfg, ACCOUNT, REGION, secret_arns={"opsbook/bq-sa": bq_arn})[
        "opsbook-lambda"
    ]
    assert audit_policy(doc) == []
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert by_sid["ReadSecrets"]["Action"] == "secretsmanager:GetSecretValue"
    assert by_sid["ReadSecrets"]["Resource"] == [bq_arn]
    assert by_sid["ReadParameters"]["Action"] == "ssm:GetParameter"
    assert by_sid["ReadParameters"]["Resource"] == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/opsbook/slack-webhook"
    ]


def test_bigquery_secret_must_exist(make_backend):
    from opsbook.errors import ConfigError

    backend = make_backend(bq_credentials_secret="opsbook/bq-sa")
    with pytest.raises(ConfigError, match="opsbook/bq-sa"):
        backend.deploy()
    backend.client("secretsmanager").create_secret(Name="opsbook/bq-sa", SecretString="{}")
    backend.deploy()
    env = backend.client("lambda").get_function(FunctionName="opsbook-insert-week")["Configuration"]
    assert env["Environment"]["Variables"]["BQ_CREDENTIALS_SECRET"] == "opsbook/bq-sa"
    doc = backend.client("iam").get_role_policy(
        RoleName="opsbook-lambda", PolicyName="opsbook-lambda"
    )
    secrets = [st for st in doc["PolicyDocument"]["Statement"] if st["Sid"] == "ReadSecrets"][0]
    assert len(secrets["Resource"]) == 2 and all(
        "-" in r.rsplit(":", 1)[1] for r in secrets["Resource"]
    )
    # Teardown leaves the user's BigQuery secret alone (deploy did not create it).
    backend.teardown()
    names = {s["Name"] for s in backend.client("secretsmanager").list_secrets()["SecretList"]}
    assert names == {"opsbook/bq-sa"}
