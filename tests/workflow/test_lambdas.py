"""check_records and insert_week against a real DuckDB file and a local objects folder;
Resources from the environment; templates from S3 and secrets from AWS on a moto server."""

from __future__ import annotations

from datetime import date

import pytest
from support.moto_server import reset
from support.weekly_tasks import weekly_tasks

from opsbook.definitions.weekly_load import check_records, insert_week
from opsbook.errors import ConfigError
from opsbook.lambdas import notify
from opsbook.lambdas.resources import AwsSecrets, LocalObjects, Resources, S3Objects, week_params
from opsbook.workflows.registry import shipped_workflow

WEEK = {
    "week": "2026-11-26",
    "week_start": "2026-11-19",
    "week_end": "2026-11-25",
    "check_date": "2026-11-25",
}


def test_check_records_counts_the_last_day(home):
    home.add_events(date(2026, 11, 25), 4)
    home.add_events(date(2026, 11, 24), 9)  # other days do not count
    assert check_records.run(WEEK, home.resources()) == {"statusCode": 200, "return_value": 4}


def test_check_records_zero_when_nothing_landed(home):
    home.add_events(date(2026, 11, 24), 2)
    assert check_records.run(WEEK, home.resources()) == {"statusCode": 200, "return_value": 0}


def test_check_records_derives_dates_from_the_week(home):
    home.add_events(date(2026, 11, 25), 2)
    assert check_records.run({"week": "2026-11-26"}, home.resources())["return_value"] == 2


def test_check_records_missing_template_names_the_path(home):
    (home.objects / "sql" / "check_records.sql").unlink()
    result = check_records.run(WEEK, home.resources())
    assert result["statusCode"] == 500
    assert str(home.objects / "sql" / "check_records.sql") in result["error"]


def test_check_records_bad_sql_names_the_query_error(home):
    (home.objects / "sql" / "check_records.sql").write_text(
        "SELECT COUNT(*) FROM {{source}} WHERE no_such_column = @check_date"
    )
    result = check_records.run(WEEK, home.resources())
    assert result["statusCode"] == 500
    assert "no_such_column" in result["error"] and "\n" not in result["error"]


def test_check_records_unreachable_warehouse_is_a_500(home, tmp_path):
    (tmp_path / "not-a-db").mkdir()
    resources = Resources.local(
        home.root, environ={}, open_warehouse=lambda: _raise(OSError("warehouse unreachable"))
    )
    result = check_records.run(WEEK, resources)
    assert result == {"statusCode": 500, "error": "OSError: warehouse unreachable"}


def _raise(exc):
    raise exc


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({"week": "2026-11-25"}, "not a Thursday"),
        ({"week": "soon"}, "week='soon' is not a date"),
        ({}, "event has no week"),
        ("not an object", "event must be a JSON object"),
    ],
)
def test_bad_events_are_500s(home, event, fragment):
    result = check_records.run(event, home.resources())
    assert result["statusCode"] == 500 and fragment in result["error"]


def test_insert_week_loads_and_is_idempotent(home):
    home.add_week(date(2026, 11, 26), per_day=3)
    home.add_events(date(2026, 11, 26), 5)  # the next week's first day stays out
    first = insert_week.run(WEEK, home.resources())
    assert first == {"statusCode": 200, "rows": 7}
    rows = home.summary()
    assert len(rows) == 7 and {r[0] for r in rows} == {"2026-11-26"}
    assert {r[3] for r in rows} == {"3"}  # events per day
    again = insert_week.run(WEEK, home.resources())
    assert again == first and home.summary() == rows


def test_insert_week_failure_midway_leaves_the_week_as_it_was(home):
    home.add_week(date(2026, 11, 26))
    assert insert_week.run(WEEK, home.resources())["statusCode"] == 200
    before = home.summary()
    home.add_events(date(2026, 11, 20), 10)  # would change the week if it committed
    template = home.objects / "sql" / "insert_week.sql"
    template.write_text(
        "DELETE FROM {{target}} WHERE week = @week;\n"
        "INSERT INTO {{target}} (week, event_date, event_type, events, users, amount)\n"
        "SELECT @week, event_date, event_type, CAST('x' AS INT64), 0, 0 FROM {{source}}\n"
        "WHERE event_date BETWEEN @week_start AND @week_end;"
    )
    result = insert_week.run(WEEK, home.resources())
    assert result["statusCode"] == 500 and "x" in result["error"]
    assert home.summary() == before  # the DELETE was rolled back


def test_insert_week_missing_template_names_the_path(home):
    (home.objects / "sql" / "insert_week.sql").unlink()
    result = insert_week.run(WEEK, home.resources())
    assert result["statusCode"] == 500 and "insert_week.sql" in result["error"]


def test_week_params_prefers_given_dates():
    params = week_params({"week": "2026-11-26", "check_date": "2026-11-24"})
    assert params["check_date"] == date(2026, 11, 24) and params["week_start"] == date(2026, 11, 19)


def test_resources_from_local_environment(home):
    home.add_events(date(2026, 11, 25), 3)
    env = {
        "OPSBOOK_WAREHOUSE": str(home.db),
        "OPSBOOK_OBJECTS": str(home.objects),
        "OPSBOOK_OUTBOX": str(home.outbox),
    }
    resources = Resources.from_env(env)
    assert isinstance(resources.objects, LocalObjects) and resources.outbox == home.outbox
    assert resources.webhook_url() is None  # no SLACK_WEBHOOK_URL: the outbox
    assert check_records.run(WEEK, resources) == {"statusCode": 200, "return_value": 3}
    env["SLACK_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"
    assert Resources.from_env(env).webhook_url() == "http://127.0.0.1:9/hook"


def test_resources_from_aws_environment_needs_its_settings():
    with pytest.raises(ConfigError, match="BQ_PROJECT"):
        Resources.from_env({"WAREHOUSE": "bigquery", "SQL_BUCKET": "b"})
    with pytest.raises(ConfigError, match="SQL_BUCKET"):
        Resources.from_env({"WAREHOUSE": "bigquery", "BQ_PROJECT": "my-project-1"})
    with pytest.raises(ConfigError, match="not a valid identifier"):
        Resources.from_env(
            {
                "WAREHOUSE": "bigquery",
                "BQ_PROJECT": "my-project-1",
                "SQL_BUCKET": "b",
                "BQ_DATASET": "x; DROP TABLE y",
            }
        )
    resources = Resources.from_env(
        {
            "WAREHOUSE": "bigquery",
            "BQ_PROJECT": "my-project-1",
            "SQL_BUCKET": "b",
            "SQL_PREFIX": "sql/v2/",
            "SLACK_SECRET_NAME": "/opsbook/slack",
        }
    )
    assert (
        isinstance(resources.objects, S3Objects) and resources.objects.location("k") == "s3://b/k"
    )
    assert resources.template_key("check_records.sql") == "sql/v2/check_records.sql"
    assert resources.outbox is None and resources.slack_secret_name == "/opsbook/slack"


def test_the_manifest_lists_the_tasks_and_their_handlers(home):
    home.add_events(date(2026, 11, 25), 1)
    flow = shipped_workflow("weekly_load")
    assert [(t.name, t.lambda_handler) for t in flow.tasks] == [
        ("CheckRecords", "opsbook.definitions.weekly_load.check_records.handler"),
        ("Notify", "opsbook.lambdas.notify.handler"),
        ("InsertWeek", "opsbook.definitions.weekly_load.insert_week.handler"),
    ]
    tasks = weekly_tasks(home.resources())
    assert tasks["${CheckRecordsFunctionArn}"](WEEK) == {"statusCode": 200, "return_value": 1}
    assert tasks["opsbook-check-records"] is tasks["CheckRecordsFunctionArn"]


@pytest.fixture
def moto_endpoint(moto_url):
    """The session's moto server (tests/conftest.py), reset: moto's state is per process, so
    without a reset this test would see secrets other suites left behind."""
    reset(moto_url)
    return moto_url


@pytest.fixture
def aws_clients(moto_endpoint, monkeypatch):
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
    }.items():
        monkeypatch.setenv(key, value)
    return {
        name: boto3.client(name, endpoint_url=moto_endpoint, region_name="ap-northeast-1")
        for name in ("s3", "secretsmanager", "ssm")
    }


@pytest.mark.aws
def test_s3_templates_and_missing_key_named(aws_clients):
    s3 = aws_clients["s3"]
    s3.create_bucket(
        Bucket="opsbook-sql", CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    s3.put_object(Bucket="opsbook-sql", Key="sql/check_records.sql", Body=b"SELECT 1")
    store = S3Objects("opsbook-sql", client=s3)
    assert store.get_text("sql/check_records.sql") == "SELECT 1"
    resources = Resources(open_warehouse=lambda: None, objects=store)
    result = check_records.run(
        WEEK,
        Resources(
            open_warehouse=resources.open_warehouse,
            objects=S3Objects("opsbook-sql", client=s3),
            sql_prefix="missing/",
        ),
    )
    assert result == {
        "statusCode": 500,
        "error": "SQL template not found: s3://opsbook-sql/missing/check_records.sql",
    }


@pytest.mark.aws
def test_webhook_secret_from_secrets_manager_and_ssm(aws_clients):
    sm, ssm = aws_clients["secretsmanager"], aws_clients["ssm"]
    sm.create_secret(
        Name="opsbook/slack-webhook", SecretString='{"webhook_url": "https://hooks.example/T1"}'
    )
    ssm.put_parameter(Name="/opsbook/slack", Value="https://hooks.example/T2", Type="SecureString")
    secrets = AwsSecrets(secretsmanager=sm, ssm=ssm)
    base = dict(open_warehouse=lambda: None, objects=LocalObjects("."), secrets=secrets)
    assert (
        Resources(**base, slack_secret_name="opsbook/slack-webhook").webhook_url()
        == "https://hooks.example/T1"
    )
    assert (
        Resources(**base, slack_secret_name="/opsbook/slack").webhook_url()
        == "https://hooks.example/T2"
    )


def test_handlers_build_resources_from_the_environment(home, monkeypatch):
    home.add_week(date(2026, 11, 26))
    monkeypatch.delenv("WAREHOUSE", raising=False)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.setenv("OPSBOOK_WAREHOUSE", str(home.db))
    monkeypatch.setenv("OPSBOOK_OBJECTS", str(home.objects))
    monkeypatch.setenv("OPSBOOK_OUTBOX", str(home.outbox))
    assert check_records.handler(WEEK, None) == {
        "statusCode": 200,
        "return_value": 3,
    }
    assert insert_week.handler(WEEK, None) == {"statusCode": 200, "rows": 7}
    assert notify.handler({"text": "hi"}, None)["delivered"] == "outbox"
    monkeypatch.setenv("WAREHOUSE", "bigquery")  # on AWS without its settings: a 500 naming them
    result = check_records.handler(WEEK, None)
    assert result["statusCode"] == 500 and "BQ_PROJECT" in result["error"]


def test_errors_are_redacted_of_secret_patterns(home):
    (home.objects / "sql" / "check_records.sql").write_text(
        "SELECT CAST('https://hooks.slack.com/services/T0/B0/xyz' AS INT64) FROM {{source}}"
        " WHERE event_date = @check_date"
    )
    home.add_events(date(2026, 11, 25), 1)
    result = check_records.run(WEEK, home.resources())
    assert result["statusCode"] == 500 and "***" in result["error"]  # the database quoted it
    assert "hooks.slack.com" not in result["error"]
