"""Every notebook runs under papermill against the demo home; `opsbook report` end to end."""

from __future__ import annotations

import json
import re

import nbformat
import papermill as pm
import pytest

from opsbook.cli import run
from opsbook.reporting.report import FIGURES_MIME, read_figures

pytestmark = pytest.mark.slow


def _execute(demo, name: str, tmp_path, **parameters):
    out = tmp_path / name
    pm.execute_notebook(
        str(demo.notebooks / name),
        str(out),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(demo.notebooks),
    )
    return nbformat.read(str(out), as_version=4)


def _texts(nb) -> str:
    """Every output's HTML, Markdown, plain and stream text, joined."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            parts += [data.get(m, "") for m in ("text/html", "text/markdown", "text/plain")]
            parts.append(output.get("text", ""))
    return "\n".join(parts)


def test_weekly_report_notebook_defaults_to_the_latest_week_whose_run_is_due(demo, tmp_path):
    nb = _execute(demo, "weekly_report.ipynb", tmp_path, home=str(demo.home))
    figures = read_figures(nb)
    from opsbook.reporting.report import latest_due_week

    assert figures["week"] == latest_due_week().isoformat()
    mimes = {m for c in nb.cells for o in c.get("outputs", []) for m in o.get("data", {})}
    assert {"image/png", "text/html", FIGURES_MIME} <= mimes


@pytest.mark.parametrize("dry_run", [True, False])
def test_rerun_notebook(demo, home_copy, tmp_path, dry_run):
    nb = _execute(
        demo, "rerun_failed_weeks.ipynb", tmp_path,
        home=str(home_copy), since=demo.first, until=demo.end, dry_run=dry_run,
    )  # fmt: skip
    text = _texts(nb)
    assert "week-2026-11-05-r1" in text and "START" in text  # the plan
    weeks_after = nb.cells[-1].outputs[0]["data"]["text/html"]
    if dry_run:
        # Nothing was done: the summary counts what would be started, nothing started.
        assert "**1** would_start" in text and "**0** started" in text
        assert "FAILED" in weeks_after
        assert "#c62828" in weeks_after  # the failed week is still red
    else:
        assert "**1** succeeded" in text
        assert "FAILED" not in weeks_after and weeks_after.count("SUCCEEDED") == 4


def test_ops_console_notebook_displays_the_widget(demo, tmp_path):
    nb = _execute(demo, "ops_console.ipynb", tmp_path, home=str(demo.home))
    outputs = nb.cells[-1].outputs
    assert outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]


def test_opsbook_report_writes_notebook_html_and_figures(report_run, demo):
    out, stem = report_run.out, report_run.stem
    assert report_run.code == 0, report_run.err
    assert f"html: {stem}.html" in out and "FAILED, 18 polls" in out
    html = stem.with_suffix(".html").read_text()
    assert html.count("data:image/png;base64,") >= 4  # arrival, its timing, Gantt, week over week
    # The graph, inline, marks red the Task the execution failed at (not a Fail state).
    failed_node = re.search(r"<title>CheckRecords</title>(.*?)</g>", html, re.S)
    assert "<svg" in html and failed_node and 'stroke="#c62828"' in failed_node.group(1)
    assert "ops = connect(" not in html  # no input cells
    assert "<title>opsbook-weekly-load · week 2026-11-05 · FAILED</title>" in html
    assert "Is this week OK?" in html and "rows arrived after the run ended" in html
    for remote in ("cdnjs", "jsdelivr", "unpkg", "require.js", "MathJax.js", 'src="http'):
        assert remote not in html  # nothing is fetched from the internet
    figures = json.loads(stem.with_suffix(".json").read_text())
    assert figures["status"] == "FAILED" and figures["polls"] == 18
    assert figures["execution"] == "week-2026-11-05" and figures["error"] == "PollingGaveUp"
    assert list(figures["rows_per_day"]) == [f"2026-10-{d}" for d in range(29, 32)] + [
        f"2026-11-0{d}" for d in range(1, 5)
    ]
    # The states sent 4 messages (polls 1, 6, 12, 18); the failure alert goes from the status
    # change event, outside the history, and the page says so.
    assert figures["notifications"] == 4 and figures["anomalies"] == []
    assert "execution status change event" in html
    assert figures["rows_per_day_at_run"]["2026-11-04"] == 0 < figures["rows_per_day"]["2026-11-04"]
    assert figures["baseline_weeks_used"] == 0
    executed = nbformat.read(str(stem.with_suffix(".ipynb")), as_version=4)
    assert executed.metadata["papermill"]["parameters"]["week"] == demo.failed
    assert read_figures(executed) == figures


def test_opsbook_report_bad_week_exits_2(demo, tmp_path, capsys):
    code = run(["--home", str(demo.home), "report", "--week", "2026-11-06", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "not a Thursday" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_opsbook_report_future_week_exits_2_with_one_line(demo, tmp_path, capsys):
    from datetime import timedelta

    from opsbook.workflows.schedules import last_completed_week

    future = (last_completed_week() + timedelta(weeks=2)).isoformat()
    code = run(["--home", str(demo.home), "report", "--week", future, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and f"week {future} has not run yet" in err
    assert len(err.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_opsbook_report_shows_progress(report_run):
    assert "running the notebook with papermill" in report_run.err
    assert "Executing:" in report_run.err and "cell/s]" in report_run.err  # papermill's bar


def test_opsbook_report_failing_notebook_exits_1_with_the_error(tmp_path, capsys, no_opsbook_env):
    empty = tmp_path / "empty-home"  # no warehouse: the notebook's first real cell fails
    empty.mkdir()
    out = tmp_path / "out"
    code = run(["--home", str(empty), "report", "--week", "2026-11-26", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: weekly_report.ipynb failed in cell ")
    assert "WarehouseError: cannot open" in lines[-1] and "read-only" in lines[-1]
    executed = nbformat.read(str(out / "weekly_report-2026-11-26.ipynb"), as_version=4)
    assert executed.metadata["papermill"]["exception"] is True
    assert not (out / "weekly_report-2026-11-26.html").exists()
