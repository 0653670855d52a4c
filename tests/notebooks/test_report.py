"""opsbook.reporting.report without papermill: load_week on the demo home, figures round trip, inputs."""

from __future__ import annotations

from datetime import date

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from opsbook.backends import connect
from opsbook.errors import UsageError
from opsbook.reporting import report
from opsbook.workflows.schedules import last_completed_week


@pytest.fixture(scope="module")
def backend(demo):
    ops = connect("local", home=demo.home)
    yield ops
    ops.close()


def test_load_week_of_the_failed_week(backend, demo):
    r = report.load_week(backend, demo.failed)
    assert r.week == date.fromisoformat(demo.failed) and r.status == "FAILED"
    assert r.polls == 18 and r.execution.name == "week-2026-11-05"
    assert r.status_table()["duration"].tolist() == ["3h00m"]
    assert len(r.arrival) == 7 and len(r.anomalies) == 7
    assert r.timeline["state"].iloc[0] == "PrepareWeek"
    assert r.definition["StartAt"] == "PrepareWeek"
    figures = r.figures()
    assert figures["status"] == "FAILED" and figures["rows_total"] == sum(
        figures["rows_per_day"].values()
    )


def test_load_week_without_an_execution(backend):
    r = report.load_week(backend, "2026-10-01")  # before the demo: no execution, no data
    assert r.status == "MISSING" and r.execution is None and r.polls is None
    assert r.events.empty and r.timeline.empty and r.notifications.empty
    figures = r.figures()
    assert (
        figures["execution"] is None and figures["rows_total"] == 0 and figures["anomalies"] == []
    )


def test_bad_inputs_are_usage_errors(backend):
    with pytest.raises(UsageError, match="not a Thursday"):
        report.load_week(backend, "2026-11-27")
    with pytest.raises(UsageError, match="lookback_weeks"):
        report.load_week(backend, "2026-11-26", lookback_weeks=0)
    with pytest.raises(UsageError, match="not a date"):
        report.default_range("yesterday", None)
    with pytest.raises(UsageError, match="before"):
        report.default_range("2026-11-26", "2026-11-01")


def test_defaults():
    assert report.resolve_week(None) == report.resolve_week("") == last_completed_week()
    since, until = report.default_range(None, "2026-11-26")
    assert (since, until) == ("2026-10-01", "2026-11-26")


def test_figures_round_trip_through_a_notebook_file(tmp_path):
    nb = new_notebook(
        cells=[
            new_code_cell("x", outputs=[new_output("display_data", data={"text/plain": "x"})]),
            new_code_cell(
                "emit",
                outputs=[
                    new_output(
                        "display_data", data={report.FIGURES_MIME: {"status": "OK", "polls": 2}}
                    )
                ],
            ),
        ]
    )
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert report.read_figures(path) == {"status": "OK", "polls": 2}
    assert report.read_figures(new_notebook(cells=[new_code_cell("1")])) is None
