"""opsbook.reporting.graph on the real definition with real histories from the local backend."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from opsbook.backends import connect
from opsbook.reporting import graph

REPO = Path(__file__).resolve().parents[2]
DEFINITION = json.loads(
    (REPO / "opsbook" / "definitions" / "weekly_load" / "weekly_load.asl.json").read_text()
)
FAILED, POLLED = "2026-11-05", "2026-11-12"  # see conftest: seed 7, four weeks
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz 'dot' not installed")


@pytest.fixture(scope="module")
def histories(demo):
    backend = connect("local", home=demo.home)
    try:
        by_week = {ex.partition: backend.history(ex.arn) for ex in backend.list_executions()}
    finally:
        backend.close()
    return by_week


def _node(svg: str, name: str) -> str:
    """The <g class="node"> block whose title is `name`."""
    match = re.search(
        rf"<g id=\"node\d+\" class=\"node\">\s*<title>{name}</title>(.*?)</g>", svg, re.S
    )
    assert match, f"no node {name} in the SVG"
    return match.group(1)


def test_build_graph_has_every_state_and_labelled_choice_edges():
    g = graph.build_graph(DEFINITION)
    assert set(g.states) == set(DEFINITION["States"])
    assert g.start == DEFINITION["StartAt"]
    choice = [e for e in g.edges if e.source == "ArePollsExhausted"]
    assert {e.kind for e in choice} == {"choice", "default"}
    assert any("max_polls" in e.label for e in choice)
    # Only the Slack notifications are caught; the work Tasks fail the execution where they fail.
    catches = {(e.source, e.target) for e in g.edges if e.kind == "catch"}
    assert catches == {
        ("NotifyWaiting", "WaitForData"),
        ("NotifyInsertStarting", "InsertWeek"),
        ("NotifyComplete", "LoadSucceeded"),
    }


def test_overlay_of_the_failed_week(histories):
    overlay = graph.overlay_from_history(histories[FAILED])
    assert overlay.status == "FAILED"
    # The execution fails in the Task whose check gave up (PollingGaveUp on the last poll).
    assert overlay.failed_state == "CheckRecords"
    assert overlay.state_status("CheckRecords") == "failed"
    assert overlay.visits["CheckRecords"] == 19  # the first check and one after each of 18 waits
    assert overlay.visits["WaitForData"] == 18
    assert overlay.transitions[("WaitForData", "CheckRecords")] == 18
    assert overlay.visits["NotifyWaiting"] == 4  # polls 1, 6, 12 and 18
    # No notify task failed, so no catch edge was taken.
    assert sum(overlay.caught.values()) == 0
    assert overlay.state_status("InsertWeek") == "idle"
    assert overlay.state_status("LoadFailed") == "idle"


def test_overlay_of_a_succeeded_week(histories):
    overlay = graph.overlay_from_history(histories[POLLED])
    assert overlay.status == "SUCCEEDED"
    assert overlay.failed_state is None
    assert overlay.visits["WaitForData"] == 3
    assert overlay.state_status("LoadSucceeded") == "succeeded"
    assert overlay.state_status("LoadFailed") == "idle"


@needs_dot
def test_svg_highlights_the_failed_state_red_and_the_path_green(histories):
    svg = graph.render(DEFINITION, histories[FAILED], format="svg")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    failed = _node(svg, "CheckRecords")
    assert 'fill="#fdecea"' in failed and 'stroke="#c62828"' in failed and "×19" in failed
    visited = _node(svg, "WaitForData")
    assert 'stroke="#2e7d32"' in visited and "×18" in visited
    for name in ("InsertWeek", "LoadFailed"):
        assert 'stroke="#9e9e9e"' in _node(svg, name)


@needs_dot
def test_png_and_inline_html(histories):
    png = graph.render(DEFINITION, histories[POLLED], format="png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    html = graph.GraphView(DEFINITION, histories[POLLED])._repr_html_()
    assert html.startswith('<div class="opsbook-graph"><svg width="100%"')
    assert "<?xml" not in html and "LoadSucceeded" in html


def test_text_rendering_marks_the_path(histories):
    text = graph.render(DEFINITION, histories[FAILED], format="text")
    assert "✘ CheckRecords [Task] ×19" in text
    assert "✔ WaitForData [Wait] ×18" in text
    assert "· InsertWeek [Task]" in text
    assert "· LoadFailed [Fail]" in text
    lines = text.splitlines()
    wait = lines.index("✔ NotifyWaiting [Task] ×4")
    # The normal edge was taken 4 times; the catch edge to the same state never.
    assert lines[wait + 1] == "    ═> WaitForData"
    assert lines[wait + 2] == "    -> WaitForData (catch States.ALL)"


def test_falls_back_to_text_without_dot(histories, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no `dot`
    assert not graph.dot_available()
    out = graph.render(DEFINITION, histories[FAILED], format="svg")
    assert isinstance(out, str) and out.startswith("start → PrepareWeek")
    view = graph.GraphView(DEFINITION, histories[FAILED])
    assert view._repr_svg_() is None
    assert view._repr_html_().startswith("<pre>start → PrepareWeek")


def test_bad_format_is_rejected():
    with pytest.raises(ValueError, match="svg, png or text"):
        graph.render(DEFINITION, format="gif")
