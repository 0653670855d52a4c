"""The warehouse is unreachable, or a query errors, during a real local execution: the check
returns 500, the failure notification goes out, the execution ends FAILED with a cause naming
the error, and the week's rows are exactly as before (no partial insert).

(BigQuery over HTTP: tests/aws/test_bigquery_path.py::test_query_error_comes_back_as_a_500 and
tests/warehouse/test_bigquery_http.py::test_server_errors_surface_as_warehouse_errors.)"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WEEK, add_week, summary  # noqa: E402

from opsbook.workflows.schedules import week_input  # noqa: E402


def _loaded(backend):
    """Week W loaded once, successfully; returns its weekly_summary rows."""
    add_week(backend, WEEK)
    assert backend.start(week_input(WEEK), name="first").status == "SUCCEEDED"
    rows = summary(backend)
    assert rows
    return rows


def _messages(backend) -> list[str]:
    return [json.loads(x)["text"] for x in backend.outbox_path.read_text().splitlines()]


def _check_failures(backend, name: str) -> list[dict]:
    """How the check_records Task failed, from the TaskFailed events: the Lambda raised
    CheckRecordsFailed, so the execution fails at that Task (and a redrive re-runs it)."""
    return [
        event["taskFailedEventDetails"]
        for event in backend.history(name)
        if event["type"] == "TaskFailed"
    ]


def test_unreachable_warehouse_fails_the_week_with_a_500_and_a_notification(deployed):
    before = _loaded(deployed)
    path = deployed.warehouse_path
    parked = path.with_name("parked.duckdb")
    os.rename(path, parked)
    path.mkdir()  # the warehouse cannot be opened
    try:
        deployed.clock = "real"  # each Lambda call opens the warehouse itself
        run = deployed.start(week_input(WEEK), name="unreachable")
    finally:
        path.rmdir()
        os.rename(parked, path)
        deployed.clock = "virtual"
    assert run.status == "FAILED" and run.error == "CheckRecordsFailed"
    assert "cannot open" in run.cause and str(path) in run.cause
    checks = _check_failures(deployed, "unreachable")
    assert [c["error"] for c in checks] == ["CheckRecordsFailed"]
    assert "cannot open" in json.loads(checks[0]["cause"])["errorMessage"]
    last = _messages(deployed)[-1]
    assert last.startswith(f"Week {WEEK} FAILED (unreachable): CheckRecordsFailed: ")
    assert "cannot open" in last
    assert summary(deployed) == before  # nothing inserted, nothing removed


def test_a_query_error_fails_the_week_naming_the_error(deployed):
    before = _loaded(deployed)
    template = deployed.objects_dir / "sql" / "check_records.sql"
    template.write_text(
        "SELECT COUNT(no_such_column) FROM {{source}} WHERE event_date = @check_date"
    )
    run = deployed.start(week_input(WEEK), name="bad-query")
    assert run.status == "FAILED" and run.error == "CheckRecordsFailed"
    assert "no_such_column" in run.cause
    checks = _check_failures(deployed, "bad-query")
    assert [c["error"] for c in checks] == ["CheckRecordsFailed"]
    assert "no_such_column" in checks[0]["cause"]
    assert _messages(deployed)[-1].startswith(f"Week {WEEK} FAILED (bad-query): CheckRecordsFailed")
    assert "no_such_column" in _messages(deployed)[-1]
    assert summary(deployed) == before
