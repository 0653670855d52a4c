"""The insert fails midway (after its DELETE ran) inside a real local execution: the week's
rows are exactly as before, because the template runs as one transaction; the execution ends
FAILED naming the error, and the failure notification goes out.

(Lambda level: tests/workflow/test_lambdas.py::test_insert_week_failure_midway_leaves_the_week_as_it_was;
DuckDB: tests/warehouse/test_templates.py::test_failure_after_the_delete_rolls_the_week_back;
BigQuery script over HTTP: tests/warehouse/test_bigquery_http.py::test_script_failure_rolls_back_and_raises.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WEEK, add_week, insert_events, summary  # noqa: E402

from opsbook.workflows.schedules import week_input  # noqa: E402

FAILS_MIDWAY = (
    "DELETE FROM {{target}} WHERE week = @week;\n"
    "INSERT INTO {{target}} (week, event_date, event_type, events, users, amount)\n"
    "SELECT @week, event_date, event_type, COUNT(*), COUNT(DISTINCT user_id), SUM(amount)\n"
    "FROM {{source}} WHERE event_date BETWEEN @week_start AND @week_end\n"
    "GROUP BY event_date, event_type;\n"
    "INSERT INTO {{target}} (week, event_date, event_type, events, users, amount)\n"
    "SELECT @week, event_date, event_type, CAST('not a number' AS INT64), 0, 0 FROM {{source}}\n"
    "WHERE event_date BETWEEN @week_start AND @week_end;"
)


def test_an_insert_that_fails_midway_leaves_the_week_as_it_was(deployed):
    add_week(deployed, WEEK)
    add_week(deployed, "2026-11-19")
    assert deployed.start(week_input("2026-11-19"), name="other").status == "SUCCEEDED"
    assert deployed.start(week_input(WEEK), name="first").status == "SUCCEEDED"
    before = summary(deployed)
    insert_events(deployed, "2026-11-20", 5)  # new rows: a committed DELETE+INSERT would show
    (deployed.objects_dir / "sql" / "insert_week.sql").write_text(FAILS_MIDWAY)
    run = deployed.start(week_input(WEEK), name="midway")
    assert run.status == "FAILED" and run.error == "InsertWeekFailed"
    assert "not a number" in run.cause or "Conversion" in run.cause
    assert summary(deployed) == before  # both weeks' rows exactly as before
    last = json.loads(deployed.outbox_path.read_text().splitlines()[-1])["text"]
    assert last.startswith(f"Week {WEEK} FAILED (midway): InsertWeekFailed: insert_week failed")
