"""BigQueryWarehouse with the real google-cloud-bigquery client over real HTTP, against the
loopback BigQuery REST endpoint in bq_server.py (answers computed by a DuckDB warehouse)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
from bq_server import BigQueryError, FakeBigQuery, Result, warehouse_handler
from google.auth.credentials import AnonymousCredentials
from wh_helpers import EVENTS, ROWS, SUMMARY, WEEK, add_events, statements, template

from opsbook.definitions.weekly_load.hooks import ensure_schema
from opsbook.warehouse import BigQueryWarehouse, WarehouseError

D = dt.date


def connect(server: FakeBigQuery) -> BigQueryWarehouse:
    return BigQueryWarehouse(
        "opsbook-local",
        location="asia-northeast1",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": server.url},
    )


@pytest.fixture
def server(wh):
    with FakeBigQuery(warehouse_handler(wh)) as fake:
        yield fake


@pytest.fixture
def bq(server):
    warehouse = connect(server)
    yield warehouse
    warehouse.close()


def test_check_records_over_http(wh, server, bq):
    add_events(wh, ROWS)
    sql = template("check_records")
    df = bq.query(sql, {"check_date": WEEK["week_end"]})
    # What the server received: the template's SQL and one DATE parameter, bound by name.
    sent = server.queries()[-1]
    assert sent["query"] == sql
    assert sent["useLegacySql"] is False
    assert sent["parameterMode"] == "NAMED"
    assert sent["queryParameters"] == [
        {
            "name": "check_date",
            "parameterType": {"type": "DATE"},
            "parameterValue": {"value": "2026-11-25"},
        }
    ]
    jobs = [r for r in server.requests if r["method"] == "POST"]
    assert jobs[-1]["body"]["jobReference"]["location"] == "asia-northeast1"
    assert df["return_value"].tolist() == [2]
    assert str(df["return_value"].dtype) == "Int64"


def test_dataframes_match_the_duckdb_warehouse(wh, bq):
    add_events(wh, ROWS)
    sql = (
        f"SELECT event_date, event_ts, user_id, amount, amount > 1 AS big, 0.5 AS half"
        f" FROM {EVENTS} WHERE event_date BETWEEN @a AND @b ORDER BY user_id, event_date"
    )
    params = {"a": WEEK["week_start"], "b": WEEK["week_end"]}
    over_http = bq.query(sql, params)
    local = wh.query(sql, params)
    pd.testing.assert_frame_equal(over_http, local)
    assert over_http["event_ts"].iloc[0] == pd.Timestamp("2026-11-19 03:00", tz="UTC")
    assert over_http["amount"].iloc[0] == Decimal("1.25")


def test_parameter_types_are_inferred(server, bq):
    params = {
        "d": D(2026, 11, 26),
        "ts": dt.datetime(2026, 11, 26, 0, 30, tzinfo=dt.UTC),
        "naive": dt.datetime(2026, 11, 26, 0, 30),
        "n": 18,
        "f": 0.5,
        "x": Decimal("1.250000000"),
        "s": "Thursday",
        "b": True,
    }
    df = bq.query("SELECT @d AS d, @ts AS ts, @n AS n, @f AS f, @x AS x, @s AS s, @b AS b", params)
    sent = {
        p["name"]: (p["parameterType"]["type"], p["parameterValue"]["value"])
        for p in server.queries()[-1]["queryParameters"]
    }
    assert sent == {
        "d": ("DATE", "2026-11-26"),
        "ts": ("TIMESTAMP", "2026-11-26 00:30:00+00:00"),
        "naive": ("TIMESTAMP", "2026-11-26 00:30:00+00:00"),  # naive means UTC
        "n": ("INT64", "18"),
        "f": ("FLOAT64", 0.5),
        "x": ("NUMERIC", "1.250000000"),
        "s": ("STRING", "Thursday"),
        "b": ("BOOL", "true"),
    }
    row = df.astype(object).iloc[0].to_dict()
    assert row == {
        "d": D(2026, 11, 26),
        "ts": pd.Timestamp("2026-11-26 00:30", tz="UTC"),
        "n": 18,
        "f": 0.5,
        "x": Decimal("1.25"),
        "s": "Thursday",
        "b": True,
    }


def test_insert_week_runs_as_one_transaction_script(wh, server, bq):
    add_events(wh, ROWS)
    rows = bq.script(statements("insert_week"), WEEK)
    assert rows == 3
    sent = server.queries()[-1]
    assert sent["query"].startswith("BEGIN TRANSACTION;\n")
    assert sent["query"].rstrip().endswith("COMMIT TRANSACTION;")
    assert "DELETE FROM `opsbook-local.analytics.weekly_summary`" in sent["query"]
    assert {p["name"] for p in sent["queryParameters"]} == {"week", "week_start", "week_end"}
    # The child jobs were listed for the count.
    assert any(r["query"].get("parentJobId") for r in server.requests if r["method"] == "GET")
    first = wh.query(f"SELECT * FROM {SUMMARY} ORDER BY event_date, event_type")
    assert len(first) == 3
    assert bq.script(statements("insert_week"), WEEK) == 3  # idempotent
    pd.testing.assert_frame_equal(
        wh.query(f"SELECT * FROM {SUMMARY} ORDER BY event_date, event_type"), first
    )


def test_script_failure_rolls_back_and_raises(wh, bq):
    add_events(wh, ROWS)
    bq.script(statements("insert_week"), WEEK)
    before = wh.query(f"SELECT * FROM {SUMMARY} ORDER BY event_date, event_type")
    delete, insert = statements("insert_week")
    broken = insert.replace("COUNT(*) AS events", "MAX(CAST(user_id AS INT64)) AS events")
    with pytest.raises(WarehouseError, match=r"BigQuery invalidQuery: .*Bad int64 value"):
        bq.script([delete + " -- a trailing comment", broken], WEEK)
    after = wh.query(f"SELECT * FROM {SUMMARY} ORDER BY event_date, event_type")
    pd.testing.assert_frame_equal(after, before)


def test_server_errors_surface_as_warehouse_errors(bq):
    with pytest.raises(WarehouseError, match="BigQuery invalidQuery: .*nope") as info:
        bq.query("SELECT * FROM `opsbook-local.analytics.nope`")
    assert "\n" not in str(info.value)
    with pytest.raises(WarehouseError, match="BigQuery invalidQuery"):
        bq.execute("DELETE FROM `opsbook-local.analytics.nope` WHERE TRUE")


def test_not_found_error_payload():
    def handler(sql, params):
        raise BigQueryError("notFound", "Not found: Dataset opsbook-local:analytics")

    with FakeBigQuery(handler) as fake:
        bq = connect(fake)
        with pytest.raises(WarehouseError, match="BigQuery notFound: Not found: Dataset"):
            bq.query("SELECT 1")


def test_results_are_paged(wh):
    def handler(sql, params):
        return Result(fields=[("n", "INTEGER")], rows=[[i] for i in range(7)])

    with FakeBigQuery(handler, page_size=3) as fake:
        df = connect(fake).query("SELECT n FROM UNNEST(GENERATE_ARRAY(0, 6)) AS n")
        assert df["n"].tolist() == list(range(7))
        tokens = [r["query"].get("pageToken") for r in fake.requests if "/queries/" in r["path"]]
        assert "3" in tokens and "6" in tokens


def test_execute_returns_dml_count_and_schema_over_http(wh, bq):
    ensure_schema(bq)  # BigQuery DDL through the endpoint, into the DuckDB behind it
    n = bq.execute(
        f"INSERT INTO {EVENTS} (event_date, user_id, event_type, amount)"
        " VALUES (@d, 'u1', 'click', 1), (@d, 'u2', 'click', 2)",
        {"d": D(2026, 11, 25)},
    )
    assert n == 2
    assert int(wh.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]) == 2


def test_emulator_host_environment_variable(wh, server, monkeypatch):
    # How a Lambda's unchanged code is pointed at a local endpoint: no credentials, no options.
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", server.url)
    add_events(wh, ROWS)
    bq = BigQueryWarehouse("opsbook-local")
    df = bq.query(template("check_records"), {"check_date": WEEK["week_end"]})
    assert df["return_value"].tolist() == [2]
    assert server.queries()[-1]["queryParameters"][0]["name"] == "check_date"


def test_server_answers_jobs_query_too(wh, server, bq):
    # query_and_wait uses jobs.query (POST .../queries) instead of jobs.insert.
    from google.cloud import bigquery

    add_events(wh, ROWS)
    job_config = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("d", "DATE", D(2026, 11, 19))]
    )
    rows = bq.client.query_and_wait(
        f"SELECT user_id FROM {EVENTS} WHERE event_date = @d ORDER BY user_id",
        job_config=job_config,
    )
    assert [r["user_id"] for r in rows] == ["u1", "u2"]
    assert any(r["path"].endswith("/queries") and r["method"] == "POST" for r in server.requests)
    with pytest.raises(Exception, match="nope"):
        bq.client.query_and_wait("SELECT * FROM `opsbook-local.analytics.nope`")
