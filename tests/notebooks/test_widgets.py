"""OpsConsole without a browser: set .value, call .click(), read the HTML/Image widgets."""

from __future__ import annotations

import re
from datetime import date

import pytest

from opsbook.backends import connect
from opsbook.reporting.widgets import OpsConsole, default_console_range, failures_outside


@pytest.fixture
def console(home_copy, demo):
    backend = connect("local", home=home_copy)
    yield OpsConsole(backend, since="2026-10-01", until=demo.end)
    backend.close()


def _button(console: OpsConsole, week: str):
    return next(b for b in console.week_buttons() if b.tooltip.startswith(week))


def _caption(console: OpsConsole, week: str) -> str:
    cell = next(c for c in console.grid.children if c.children[0].tooltip.startswith(week))
    return cell.children[1].value


def test_grid_colours_weeks_by_status_with_a_legend_attempts_and_polls(console, demo):
    tips = [b.tooltip.split(",")[0] for b in console.week_buttons()]
    assert len(tips) == 9
    assert tips[:5] == [
        f"{w}: MISSING"
        for w in ("2026-10-01", "2026-10-08", "2026-10-15", "2026-10-22", "2026-10-29")
    ]
    failed = _button(console, demo.failed)
    assert failed.style.button_color == "#c62828" and "opsbook-status-FAILED" in failed._dom_classes
    assert _button(console, demo.end).style.button_color == "#2e7d32"
    assert "9 weeks" in console.message.value and "1 FAILED" in console.message.value
    for status, colour in (("SUCCEEDED", "#2e7d32"), ("FAILED", "#c62828"), ("MISSING", "#f9a825")):
        assert f"background:{colour}" in console.legend.value and status in console.legend.value
    assert "1 att" in _caption(console, demo.failed) and "18 polls" in _caption(
        console, demo.failed
    )
    assert "3 polls" in _caption(console, demo.polled)
    assert "0 att" in _caption(console, "2026-10-01") and "- polls" in _caption(
        console, "2026-10-01"
    )
    assert console.outside.value == ""  # no failure outside the range


def test_failures_outside_the_range_are_announced(home_copy, demo):
    backend = connect("local", home=home_copy)
    try:
        console = OpsConsole(backend, since="2026-11-12", until=demo.end)
        assert "Outside this range" in console.outside.value
        assert f"{demo.failed} FAILED" in console.outside.value
        assert failures_outside(backend.list_executions(), demo.first, demo.end) == []
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        ("2026-11-30", ("2026-09-10", "2026-11-26")),  # 12 weeks already hold the failure
        ("2027-03-01", ("2026-11-05", "2027-02-25")),  # stretched back to the failed week
        ("2027-09-01", ("2027-06-10", "2027-08-26")),  # beyond 26 weeks: announced, not shown
    ],
)
def test_the_default_range_does_not_hide_a_recent_failure(demo_home, today, expected):
    backend = connect("local", home=demo_home)
    try:
        assert default_console_range(backend.list_executions(), today) == expected
    finally:
        backend.close()


def test_selecting_a_failed_week_opens_the_failure_first(console, demo):
    assert console.panel.layout.display == "none"
    _button(console, demo.failed).click()
    assert console.selected == demo.failed and console.panel.layout.display == ""
    assert "FAILED" in console.week_title.value
    failure = console.failure.value
    # The execution failed at the Task whose check gave up, not at a terminal Fail state.
    assert "Failed state" in failure and "CheckRecords" in failure and "PollingGaveUp" in failure
    assert "LoadFailed" not in failure
    cause = "polling gave up after 18 polls (600 s apart): no rows for 2026-11-04, the last day"
    assert cause in failure  # the full cause, not cut
    # The message reads first, bold; the Lambda's whole JSON (type and stack) follows it.
    assert failure.index(f"<b>{cause}") < failure.index("Raw cause") < failure.index("stackTrace")
    assert "2026-11-05 03:30:00 UTC / 12:30:00 Asia/Tokyo" in failure
    assert "&quot;check_date&quot;: &quot;2026-11-04&quot;" in failure  # the state's input
    assert "week-2026-11-05" in console.executions.value
    assert cause in console.executions.value  # the executions tab keeps the cause too
    assert "stackTrace" not in console.executions.value  # there, the message only
    assert "white-space: nowrap" in console.executions.value  # names are never broken
    assert console.timeline.value[:8] == b"\x89PNG\r\n\x1a\n"
    failed_node = re.search(
        r"<title>CheckRecords</title>(.*?)</g>", console.graph.value, re.S
    )  # the graph marks the failed Task red
    assert failed_node and 'stroke="#c62828"' in failed_node.group(1)
    assert console.rerun_button.description == f"Rerun {demo.failed}…"


def test_events_filter_states_errors_all(console, demo):
    _button(console, demo.failed).click()
    assert console.event_filter.value == "states"
    states = console.events.value
    # header + 9 states (PrepareWeek, IsWeekValid, the 7 of the poll loop), the loop collapsed
    assert states.count("<tr>") == 10
    assert "WaitForData" in states and ">18<" in states and "3h00m" in states
    console.event_filter.value = "errors"
    errors = console.events.value
    assert "TaskFailed" in errors and "ExecutionFailed" in errors
    assert "WaitStateEntered" not in errors
    console.event_filter.value = "all"
    # header + 300 events: the execution's 2, PrepareWeek and IsWeekValid 2 each, CheckRecords
    # 18 x 5 + 4 (the last one fails), 18 x 2 for each of the five other loop states, and
    # NotifyWaiting 4 x 5 (polls 1, 6, 12, 18)
    assert console.events.value.count("<tr>") == 301


def test_picking_a_state_shows_its_input_and_output(console, demo):
    _button(console, demo.failed).click()
    assert console.state_picker.value == "CheckRecords"  # the failed state first
    given, output = console.state_io.value.split("<b>Output</b>")
    assert "entered 19×, FAILED" in given
    assert "&quot;last&quot;: true" in given  # its input: the last allowed poll
    assert "(none)" in output and "{" not in output  # it failed, so no output, not an old one
    console.state_picker.value = "CountPoll"
    given, output = console.state_io.value.split("<b>Output</b>")
    assert "entered 18×, SUCCEEDED" in given and "&quot;count&quot;: 17" in given
    assert "&quot;count&quot;: 18" in output  # its output: the poll it counted


def test_clear_selection_closes_the_panel(console, demo):
    _button(console, demo.failed).click()
    console.rerun_button.click()
    console.clear_button.click()
    assert console.selected is None and console.panel.layout.display == "none"
    assert console.plan is None and console.plan_view.value == ""
    assert "cleared" in console.message.value


def test_show_history_lists_every_event_and_the_command(console, demo):
    console.history_button.click()
    assert "click a week first" in console.message.value
    _button(console, demo.failed).click()
    console.history_button.click()
    assert console.event_filter.value == "all" and console.tabs.selected_index == 1
    assert f"opsbook history {demo.failed}" in console.message.value


@pytest.mark.slow
def test_open_report_runs_it_and_shows_it(console, demo, tmp_path):
    console.report_dir = tmp_path
    _button(console, demo.failed).click()
    console.report_button.click()
    assert "report written" in console.message.value, console.message.value
    assert (tmp_path / f"weekly_report-{demo.failed}.html").is_file()
    assert "<iframe srcdoc=" in console.report_view.value and console.tabs.selected_index == 4


def test_selecting_a_missing_week_shows_the_plain_graph(console):
    _button(console, "2026-10-01").click()
    assert "no executions" in console.executions.value
    assert "no execution yet" in console.failure.value
    assert console.timeline.value == b""
    assert "PrepareWeek" in console.graph.value


def test_a_succeeded_week_has_no_failure(console, demo):
    _button(console, demo.end).click()
    assert "SUCCEEDED" in console.failure.value and "no failure" in console.failure.value


def test_changing_the_range_redraws_the_grid(console, demo):
    console.since.value = date(2026, 11, 1)
    assert [b.tooltip[:10] for b in console.week_buttons()] == [
        "2026-11-05", "2026-11-12", "2026-11-19", "2026-11-26"
    ]  # fmt: skip
    console.until.value = date(2026, 10, 1)  # before since: a message, not an exception
    assert "before" in console.message.value and "#c62828" in console.message.value


def test_rerun_asks_for_confirmation_and_dry_run_changes_nothing(console, demo):
    _button(console, demo.failed).click()
    assert console.dry_run.value is True
    assert console.confirm_button.layout.display == "none"
    console.rerun_button.click()
    assert "START" in console.plan_view.value and "week-2026-11-05-r1" in console.plan_view.value
    assert console.confirm_button.layout.display == ""
    assert console.confirm_button.description == "Confirm dry run of 1 week(s)"
    console.confirm_button.click()
    assert "Dry run" in console.results.value and "week-2026-11-05-r1" in console.results.value
    assert console.confirm_button.layout.display == "none"
    names = [ex.name for ex in console.backend.list_executions()]
    assert "week-2026-11-05-r1" not in names


def test_cancel_starts_nothing(console, demo):
    console.dry_run.value = False
    _button(console, demo.failed).click()
    console.rerun_button.click()
    console.cancel_button.click()
    assert console.plan is None and console.plan_view.value == ""
    assert "cancelled" in console.message.value
    console.confirm_button.click()  # a stray confirm after cancel does nothing
    assert "no plan" in console.message.value
    assert len(console.backend.list_executions()) == 4


def test_confirmed_rerun_starts_the_week_and_recolours_the_grid(console, demo):
    console.dry_run.value = False
    _button(console, demo.failed).click()
    console.rerun_button.click()
    console.confirm_button.click()
    assert "SUCCEEDED" in console.results.value
    assert _button(console, demo.failed).tooltip.startswith(f"{demo.failed}: SUCCEEDED")
    assert "2 executions" in console.week_title.value  # the selection was redrawn too
    assert "2 att" in _caption(console, demo.failed)
    assert "no failure" in console.failure.value


def test_nothing_to_rerun_hides_confirm(console, demo):
    _button(console, demo.end).click()
    console.rerun_button.click()
    assert "SKIP" in console.plan_view.value
    assert console.confirm_button.layout.display == "none"
    assert "nothing to rerun" in console.message.value


def test_displays_as_its_root_widget(console):
    bundle = console._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == console.widget.model_id


def _failed(name: str, key: str):
    from datetime import UTC, datetime

    from opsbook.backends.base import Execution

    return Execution(
        arn=f"arn:aws:states:local:000000000000:execution:sm:{name}", name=name,
        state_machine_arn="arn:aws:states:local:000000000000:stateMachine:sm",
        status="FAILED", start_date=datetime(2026, 1, 1, tzinfo=UTC), partition=key,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "today", "failed", "expected"),
    [
        # The last 12 partitions of the workflow's own scheme, up to the last completed one.
        ("daily", "2026-03-10", None, ("2026-02-26", "2026-03-09")),
        ("monthly", "2026-03-10", None, ("2025-03-01", "2026-02-01")),
        # Stretched back to an older failure within 26 partitions; not beyond.
        ("daily", "2026-03-10", "2026-02-20", ("2026-02-20", "2026-03-09")),
        ("monthly", "2026-03-10", "2024-11", ("2024-11-01", "2026-02-01")),
        ("monthly", "2026-03-10", "2023-01", ("2025-03-01", "2026-02-01")),
    ],
)
def test_the_console_range_is_counted_in_the_workflows_partitions(spec, today, failed, expected):
    from opsbook.workflows.partitions import parse_scheme

    scheme = parse_scheme(spec, "UTC")
    listed = [_failed(scheme.execution_name(failed), failed)] if failed else []
    assert default_console_range(listed, today, scheme) == expected


def test_a_month_inside_the_range_is_not_reported_outside_it():
    listed = [_failed("month-2026-09", "2026-09"), _failed("month-2026-01", "2026-01")]
    assert failures_outside(listed, "2026-09-01", "2026-12-01") == [("2026-01", "FAILED")]
