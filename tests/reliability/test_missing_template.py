"""A SQL template is missing from the local object store (objects/ stands in for S3): the
execution ends FAILED with a cause naming the missing path, and nothing is loaded.

(S3 on moto: tests/aws/test_bigquery_path.py::test_missing_template_names_the_s3_path and
tests/workflow/test_lambdas.py::test_s3_templates_and_missing_key_named name s3://bucket/key.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WEEK, add_week, summary  # noqa: E402

from opsbook.workflows.schedules import week_input  # noqa: E402


@pytest.mark.parametrize(
    ("template", "error"),
    [("check_records.sql", "CheckRecordsFailed"), ("insert_week.sql", "InsertWeekFailed")],
)
def test_a_missing_template_fails_the_week_naming_the_path(deployed, template, error):
    add_week(deployed, WEEK)
    path = deployed.objects_dir / "sql" / template
    path.unlink()
    run = deployed.start(week_input(WEEK), name="missing")
    assert run.status == "FAILED" and run.error == error
    assert str(path) in run.cause, run.cause
    assert summary(deployed) == []  # nothing loaded
    # A deploy puts the template back and the week loads.
    deployed.deploy()
    assert path.exists()
    assert deployed.start(week_input(WEEK), name="after-deploy").status == "SUCCEEDED"
