"""BigQuery jobs from a Lambda are bounded: bytes billed from config, a job timeout that ends
before the function does (from the Lambda context's remaining time), over real HTTP to the
loopback BigQuery server."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from google.auth.credentials import AnonymousCredentials

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))

from bq_server import FakeBigQuery, Result  # noqa: E402

from opsbook.definitions.weekly_load import insert_week  # noqa: E402
from opsbook.lambdas.resources import Resources  # noqa: E402
from opsbook.warehouse.bigquery_jobs import BigQueryError, BigQueryJobs, job_budget  # noqa: E402


@pytest.mark.parametrize(
    ("remaining_ms", "max_job_s", "job_ms", "wait_s"),
    [
        (840_000, 720.0, 720_000, 730.0),  # a fresh 840 s invocation: the config cap
        (300_000, 720.0, 240_000, 270.0),  # 5 min left: the job ends 60 s before the function
        (90_000, 720.0, 30_000, 60.0),
        (None, 600.0, 600_000, 610.0),  # no context (tests, CLI): the cap alone
    ],
)
def test_job_budget_ends_before_the_function(remaining_ms, max_job_s, job_ms, wait_s):
    assert job_budget(remaining_ms, max_job_s) == (job_ms, wait_s)
    if remaining_ms is not None:
        assert job_ms < remaining_ms and wait_s * 1000 < remaining_ms


def test_too_little_time_left_runs_no_job():
    with pytest.raises(BigQueryError, match="not enough time left"):
        job_budget(60_500, 720.0)


def one_count(sql, params):
    return Result(fields=[("n", "INT64")], rows=[[7]])


def test_each_job_carries_its_byte_limit_and_timeout():
    with FakeBigQuery(one_count) as server:
        jobs = BigQueryJobs(
            "acme-analytics",
            credentials=AnonymousCredentials(),
            api_endpoint=server.url,
            maximum_bytes_billed=5_000_000,
            max_job_seconds=720,
            remaining_ms=lambda: 300_000,
        )
        assert jobs.query("SELECT 7 AS n") == [(7,)]
        (insert,) = [r for r in server.requests if r["path"].endswith("/jobs")]
    config = insert["body"]["configuration"]
    assert config["jobTimeoutMs"] == "240000"
    assert config["query"]["maximumBytesBilled"] == "5000000"


def test_insert_week_on_a_nearly_spent_lambda_answers_500_without_a_job(monkeypatch, tmp_path):
    """The handler's context says 30 s remain: no job may start that could commit after the
    function has given up."""
    with FakeBigQuery(one_count) as server:
        env = {
            "WAREHOUSE": "bigquery",
            "BQ_PROJECT": "acme-analytics",
            "SQL_BUCKET": "unused",
            "BQ_API_ENDPOINT": server.url,
        }
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", server.url)
        context = SimpleNamespace(get_remaining_time_in_millis=lambda: 30_000)
        resources = Resources.from_env(env, context=context)
        (tmp_path / "sql").mkdir()
        (tmp_path / "sql" / "insert_week.sql").write_text(
            "DELETE FROM {{target}} WHERE week = @week;\n"
            "INSERT INTO {{target}} SELECT @week AS week;\n"
        )
        from opsbook.lambdas.resources import LocalObjects

        resources.objects = LocalObjects(tmp_path)
        result = insert_week.run({"week": "2026-11-26"}, resources)
        assert result["statusCode"] == 500 and "not enough time left" in result["error"]
        assert [r for r in server.requests if r["path"].endswith("/jobs")] == []


@pytest.mark.slow
def test_a_job_outliving_its_wait_is_cancelled_and_reported_before_the_function_ends():
    """The job never finishes on its own: when the client's bounded wait runs out, the
    function cancels it and reads the final state (stopped), so it answers with the truth
    while it still runs; the transaction's statements never ran."""
    ran = []

    def handler(sql, params):
        ran.append(sql)
        return Result()

    with FakeBigQuery(handler, hold=True) as server:
        jobs = BigQueryJobs(
            "acme-analytics",
            credentials=AnonymousCredentials(),
            api_endpoint=server.url,
            max_job_seconds=1,  # job_timeout_ms 1000, wait 11 s
        )
        with pytest.raises(BigQueryError, match="stopped"):
            jobs.script(["DELETE FROM t WHERE TRUE", "INSERT INTO t SELECT 1"])
        cancels = [r for r in server.requests if r["path"].endswith("/cancel")]
        (insert,) = [r for r in server.requests if r["path"].endswith("/jobs")]
    assert len(cancels) == 1
    assert insert["body"]["configuration"]["jobTimeoutMs"] == "1000"
    assert ran == []


def test_insert_week_answers_500_when_the_bigquery_client_cannot_load(tmp_path):
    """An import failure on the BigQuery path (a layer without google-cloud-bigquery) is the
    handler's error answer, not an exception out of the Lambda."""
    from opsbook.lambdas.resources import LocalObjects

    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "insert_week.sql").write_text("DELETE FROM {{target}} WHERE TRUE;\n")

    def no_bigquery():
        from google.cloud import bigquery_not_in_this_layer  # noqa: F401

    resources = Resources(open_warehouse=no_bigquery, objects=LocalObjects(tmp_path))
    result = insert_week.run({"week": "2026-11-26"}, resources)
    assert result["statusCode"] == 500
    assert "bigquery_not_in_this_layer" in result["error"]
