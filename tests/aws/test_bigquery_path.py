"""The Lambda code path on AWS, over real HTTP on both sides: templates from S3 (moto, put there
by deploy) and the real google-cloud-bigquery client against the loopback BigQuery REST server
of tests/warehouse/bq_server.py (answers computed by DuckDB). Resources come from the very
environment deploy gave the functions. Values reach BigQuery only as bound parameters."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))

from bq_server import BigQueryError, FakeBigQuery, warehouse_handler  # noqa: E402
from wh_helpers import ROWS, SUMMARY, add_events  # noqa: E402

from opsbook.definitions.weekly_load import check_records, insert_week  # noqa: E402
from opsbook.definitions.weekly_load.hooks import ensure_schema  # noqa: E402
from opsbook.lambdas.resources import Resources  # noqa: E402
from opsbook.warehouse import DuckDBWarehouse  # noqa: E402
from opsbook.warehouse.bigquery_jobs import BigQueryJobs  # noqa: E402

pytestmark = pytest.mark.aws

EVENT = {
    "week": "2026-11-26",
    "week_start": "2026-11-19",
    "week_end": "2026-11-25",
    "check_date": "2026-11-25",
}


@pytest.fixture
def duck(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    ensure_schema(wh)
    add_events(wh, ROWS)
    yield wh
    wh.close()


@pytest.fixture
def fake_bq(duck):
    with FakeBigQuery(warehouse_handler(duck)) as server:
        yield server


@pytest.fixture
def resources(backend, fake_bq):
    """Resources.from_env() with the functions' deployed environment; only the BigQuery
    endpoint and credentials differ from Lambda (loopback, anonymous)."""
    backend.deploy()
    config = backend.client("lambda").get_function(FunctionName="opsbook-check-records")[
        "Configuration"
    ]
    env = config["Environment"]["Variables"]
    made = Resources.from_env(env)
    assert made.objects.location("sql/x.sql") == f"s3://{env['SQL_BUCKET']}/sql/x.sql"

    def open_bigquery():
        return BigQueryJobs(
            env["BQ_PROJECT"],
            location=env["BQ_LOCATION"],
            credentials=AnonymousCredentials(),
            api_endpoint=fake_bq.url,
            maximum_bytes_billed=int(env["BQ_MAXIMUM_BYTES_BILLED"]),
        )

    return dataclasses.replace(made, open_warehouse=open_bigquery, slack_secret_name=None)


def test_check_records_reads_s3_and_binds_the_date(resources, fake_bq):
    assert check_records.run(EVENT, resources) == {"statusCode": 200, "return_value": 2}
    (sent,) = fake_bq.queries()
    assert sent["parameterMode"] == "NAMED"
    # Every job is bounded in bytes and in time (opsbook.warehouse.bigquery_jobs).
    assert int(sent["maximumBytesBilled"]) == 10 * 1024**3
    assert sent["queryParameters"] == [
        {
            "name": "check_date",
            "parameterType": {"type": "DATE"},
            "parameterValue": {"value": "2026-11-25"},
        }
    ]
    # The SQL is the S3 template with table names from config; the value is never formatted in.
    assert "@check_date" in sent["query"] and "2026-11-25" not in sent["query"]
    assert "`acme-analytics.analytics.events`" in sent["query"]


def test_insert_week_runs_one_bound_transaction(resources, fake_bq, duck):
    assert insert_week.run(EVENT, resources) == {"statusCode": 200, "rows": 3}
    sent = fake_bq.queries()[-1]
    assert sent["query"].startswith("BEGIN TRANSACTION;") and "COMMIT TRANSACTION;" in sent["query"]
    params = {
        p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"])
        for p in sent["queryParameters"]
    }
    assert (
        params.items()
        <= {
            "week": ("DATE", "2026-11-26"),
            "week_start": ("DATE", "2026-11-19"),
            "week_end": ("DATE", "2026-11-25"),
            "check_date": ("DATE", "2026-11-25"),
        }.items()
    )
    assert {"week_start", "week_end"} <= set(params)
    for value in ("2026-11-26", "2026-11-19", "2026-11-25"):
        assert value not in sent["query"]
    assert len(duck.query(f"SELECT * FROM {SUMMARY}")) == 3
    # Rerunning the week replaces its rows instead of adding more.
    assert insert_week.run(EVENT, resources)["statusCode"] == 200
    assert len(duck.query(f"SELECT * FROM {SUMMARY}")) == 3


def test_missing_template_names_the_s3_path(resources, backend, fake_bq):
    bucket = backend.names.bucket
    backend.client("s3").delete_object(Bucket=bucket, Key="sql/check_records.sql")
    result = check_records.run(EVENT, resources)
    assert result["statusCode"] == 500
    assert f"s3://{bucket}/sql/check_records.sql" in result["error"]
    assert fake_bq.queries() == []  # nothing ran


def test_query_error_comes_back_as_a_500(backend, tmp_path):
    def failing(sql, params):
        raise BigQueryError("invalidQuery", "Unrecognized name: event_dat at [3:7]")

    with FakeBigQuery(failing) as server:
        backend.deploy()
        env = backend.client("lambda").get_function(FunctionName="opsbook-check-records")[
            "Configuration"
        ]["Environment"]["Variables"]
        resources = dataclasses.replace(
            Resources.from_env(env),
            open_warehouse=lambda: BigQueryJobs(
                env["BQ_PROJECT"], credentials=AnonymousCredentials(), api_endpoint=server.url
            ),
            slack_secret_name=None,
        )
        result = check_records.run(EVENT, resources)
    assert result["statusCode"] == 500
    assert "Unrecognized name: event_dat" in result["error"]
