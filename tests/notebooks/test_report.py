"""opsbook.reporting.report without papermill: load_week on the demo home, figures round trip, inputs."""

from __future__ import annotations

from datetime import date, timedelta

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
    assert r.title == "opsbook-weekly-load · week 2026-11-05 · FAILED" == figures["title"]


def test_the_failed_week_as_of_the_run_and_now(backend, demo):
    """The run saw no rows for the check day; they are there now, and the report says both."""
    r = report.load_week(backend, demo.failed)
    table = r.side_by_side()
    check = table[table["is_check_date"]].iloc[0]
    assert check["rows_at_run"] == 0 and check["rows_now"] > 0
    assert check["arrived_after_run"] == check["rows_now"]
    assert (table[~table["is_check_date"]]["arrived_after_run"] == 0).all()
    figures = r.figures()
    assert figures["run_end"] == "2026-11-05T03:30:00+00:00"
    assert figures["rows_total_at_run"] == figures["rows_total"] - check["rows_now"]
    assert figures["check_day"]["verdict"] == "after the polling deadline"
    text = r.verdict()
    assert text.startswith("## Is this week OK? **No: FAILED**")
    assert "had 0 rows" in text and f"has {check['rows_now']} rows" in text
    assert f"{check['rows_now']} rows arrived after the run ended" in text
    assert "after the polling deadline" in text and "03:30:00 UTC / 12:30:00 Asia/Tokyo" in text
    assert "PollingGaveUp" in text and "no rows for 2026-11-04" in text
    # The readable message, not the Lambda's JSON with its stack trace (the figures keep that).
    assert "errorMessage" not in text and "stackTrace" not in text
    assert r.status_table()["cause"].iloc[0].startswith("polling gave up after 18 polls")
    assert "stackTrace" in figures["cause"]
    sent = r.notifications_table()["timestamp"]
    assert len(sent) and all(t.endswith("Asia/Tokyo") and " UTC / " in t for t in sent)


def test_the_text_says_how_many_earlier_weeks_the_anomaly_check_used(backend, demo):
    r = report.load_week(backend, demo.end)  # three earlier weeks of demo data
    assert r.baseline_weeks_used == 3 and r.figures()["baseline_weeks_used"] == 3
    assert "not checked: 3 earlier week(s) with data, at least 4 needed" in r.verdict()
    assert not r.anomalies["anomaly"].any() and r.figures()["anomalies"] == []
    assert r.verdict().startswith("## Is this week OK? **Yes")


def test_a_future_week_is_refused(backend):
    future = last_completed_week() + timedelta(weeks=1)
    with pytest.raises(UsageError, match=f"week {future} has not run yet"):
        report.load_week(backend, future.isoformat())
    due = f"{future} 00:30:00 UTC / 09:30:00 Asia/Tokyo"  # both zones, labelled, one format
    with pytest.raises(UsageError, match=f"its scheduled run is {due};"):
        report.require_run_due(future)
    assert report.require_run_due(last_completed_week() - timedelta(weeks=1))


def test_load_week_without_an_execution(backend):
    r = report.load_week(backend, "2026-10-01")  # before the demo: no execution, no data
    assert r.status == "MISSING" and r.execution is None and r.polls is None
    assert r.events.empty and r.timeline.empty and r.notifications.empty
    figures = r.figures()
    assert (
        figures["execution"] is None and figures["rows_total"] == 0 and figures["anomalies"] == []
    )
    assert r.arrival_at_run is None and "no run has ended" in r.arrival_note
    assert "No: the week never ran" in r.verdict() and "no run has ended" in r.verdict()


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
    assert report.resolve_week(None) == report.resolve_week("") == report.latest_due_week()
    assert report.latest_due_week() in (
        last_completed_week(),
        last_completed_week() - timedelta(weeks=1),
    )


@pytest.mark.parametrize(
    ("now", "week"),
    [
        ("2026-11-25T23:59:00+00:00", "2026-11-19"),  # Thu 08:59 Tokyo: not due yet
        ("2026-11-26T00:30:00+00:00", "2026-11-26"),  # Thu 09:30 Tokyo: the run fires
        ("2026-11-30T12:00:00+00:00", "2026-11-26"),
    ],
)
def test_latest_due_week(now, week):
    from datetime import datetime

    assert report.latest_due_week(datetime.fromisoformat(now)).isoformat() == week
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


def test_a_succeeded_week_with_rows_that_came_after_the_load_says_check(home_copy, demo):
    """Rows that land after a successful run are not in weekly_summary: the headline says so."""
    from datetime import UTC, datetime

    from support.local_data import insert_events

    ops = connect("local", home=home_copy)
    try:
        insert_events(ops, "2026-11-24", n=5)  # arrival_ts NULL: taken as always there
        assert report.load_week(ops, demo.end).verdict().startswith("## Is this week OK? **Yes")
        wh = ops.open_warehouse()
        try:
            wh.execute(
                "UPDATE `opsbook-local.analytics.events` SET arrival_ts = @t"
                " WHERE arrival_ts IS NULL",
                {"t": datetime(2026, 11, 27, tzinfo=UTC)},  # the day after the run
            )
        finally:
            wh.close()
        r = report.load_week(ops, demo.end)
    finally:
        ops.close()
    assert r.verdict().startswith(
        "## Is this week OK? **Check: loaded, but 5 rows arrived after the run (not loaded)**"
    )
    assert r.side_by_side()["arrived_after_run"].tolist() == [0] * 5 + [5, 0]
