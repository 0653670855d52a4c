"""OpsConsole without a browser: set .value, call .click(), read the HTML/Image widgets."""

from __future__ import annotations

from datetime import date

import pytest

from opsbook.backends import connect
from opsbook.reporting.widgets import OpsConsole


@pytest.fixture
def console(home_copy, demo):
    backend = connect("local", home=home_copy)
    yield OpsConsole(backend, since="2026-10-01", until=demo.end)
    backend.close()


def _button(console: OpsConsole, week: str):
    return next(b for b in console.grid.children if b.tooltip.startswith(week))


def test_grid_colours_weeks_by_status(console, demo):
    tips = [b.tooltip for b in console.grid.children]
    assert len(tips) == 9
    assert tips[:5] == [
        f"{w}: MISSING"
        for w in ("2026-10-01", "2026-10-08", "2026-10-15", "2026-10-22", "2026-10-29")
    ]
    failed = _button(console, demo.failed)
    assert failed.style.button_color == "#c62828" and "opsbook-status-FAILED" in failed._dom_classes
    assert _button(console, demo.end).style.button_color == "#2e7d32"
    assert "9 weeks" in console.message.value and "1 FAILED" in console.message.value


def test_changing_the_range_redraws_the_grid(console, demo):
    console.since.value = date(2026, 11, 1)
    assert [b.tooltip[:10] for b in console.grid.children] == [
        "2026-11-05", "2026-11-12", "2026-11-19", "2026-11-26"
    ]  # fmt: skip
    console.until.value = date(2026, 10, 1)  # before since: a message, not an exception
    assert "before" in console.message.value and "#c62828" in console.message.value


def test_selecting_a_week_shows_executions_events_timeline_graph(console, demo):
    _button(console, demo.failed).click()
    assert console.selected == demo.failed
    assert "FAILED" in console.week_title.value
    assert (
        "week-2026-11-05" in console.executions.value
        and "PollingGaveUp" in console.executions.value
    )
    assert "WaitStateEntered" in console.events.value and "ExecutionFailed" in console.events.value
    assert console.timeline.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in console.graph.value and "LoadFailed" in console.graph.value
    assert console.rerun_button.description == f"Rerun {demo.failed}…"


def test_selecting_a_missing_week_shows_the_plain_graph(console):
    _button(console, "2026-10-01").click()
    assert "no executions" in console.executions.value
    assert console.timeline.value == b""
    assert "PrepareWeek" in console.graph.value


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
    assert _button(console, demo.failed).tooltip == f"{demo.failed}: SUCCEEDED"
    assert "2 executions" in console.week_title.value  # the selection was redrawn too


def test_nothing_to_rerun_hides_confirm(console, demo):
    _button(console, demo.end).click()
    console.rerun_button.click()
    assert "SKIP" in console.plan_view.value
    assert console.confirm_button.layout.display == "none"
    assert "nothing to rerun" in console.message.value


def test_displays_as_its_root_widget(console):
    bundle = console._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == console.widget.model_id
