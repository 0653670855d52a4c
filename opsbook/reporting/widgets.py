"""The ops console: an ipywidgets dashboard over one Backend (notebooks/ops_console.ipynb).

    OpsConsole(connect())   # displays itself in a notebook or Voila

Built for the first look of someone on call:
  - a grid with partitions (weeks) across, coloured by status with a legend, each cell showing
    its attempts and polls; failures outside the shown range are announced above it, and the
    default range reaches back far enough to include recent failures;
  - clicking a week opens a failure-first panel: the failed state, error, full cause, when (UTC
    and the schedule's zone) and the failing state's input; then tabs with the executions, the
    events filtered to state visits / errors / all, the timeline, and a readable graph with a
    state picker showing that state's input and output;
  - per-week actions: rerun (the plan first, then Confirm or Cancel; dry run by default), the
    weekly report, the history; and Clear to close the selection.

Every view is an HTML or Image widget, so tests read `.value` after setting `.value` and calling
`.click()`; no kernel or browser is needed. Handlers never raise: errors land in `message`,
because an exception in a Voila callback is invisible.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from opsbook.backends.base import Backend, Execution
from opsbook.config import Config
from opsbook.errors import OpsbookError, UsageError
from opsbook.operations import backfill
from opsbook.operations.display import time_text, use_zone
from opsbook.operations.failures import cause_message, failure_detail, state_visits
from opsbook.operations.history import (
    History,
    group_by_partition,
    human_duration,
    last_execution,
)
from opsbook.reporting import charts
from opsbook.reporting.report import STATUS_COLUMNS
from opsbook.workflows.partitions import PartitionScheme

EVENT_COLUMNS = ["id", "timestamp", "type", "state", "error", "cause"]
EXECUTION_COLUMNS = STATUS_COLUMNS
VISIT_COLUMNS = ["state", "type", "entered", "exited", "duration", "count", "status"]
EVENT_FILTERS = ("states", "errors", "all")
DEFAULT_WEEKS = 12  # partitions shown by default, up to the last completed week
LOOKBACK_FOR_FAILURES = 26  # weeks the default range may stretch back to show a failure
UNSUCCESSFUL = ("FAILED", "TIMED_OUT", "ABORTED")
# A glyph per status, so the grid reads without colour too.
STATUS_MARKS = {
    "SUCCEEDED": "✔",
    "FAILED": "✘",
    "TIMED_OUT": "!",
    "ABORTED": "■",
    "RUNNING": "▶",
    "MISSING": "?",
    "PENDING": "·",
}
NOWRAP_COLUMNS = ("name", "execution", "week", "state", "error")
LEGEND_ORDER = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "RUNNING", "MISSING", "PENDING")


def frame_html(
    frame: pd.DataFrame,
    columns: list[str] | None = None,
    *,
    empty: str = "(none)",
    limit: int | None = 80,
) -> str:
    """A small HTML table with coloured status cells; long cells are cut to `limit` characters
    (None: never cut, long text wraps)."""
    if frame is None or frame.empty:
        return f"<i>{html.escape(empty)}</i>"
    view = frame[[c for c in (columns or list(frame.columns)) if c in frame.columns]].copy()
    for column in view.columns:
        if isinstance(view[column].dtype, pd.DatetimeTZDtype):
            view[column] = view[column].dt.strftime("%Y-%m-%d %H:%M:%S")
        elif view[column].dtype == object:
            view[column] = [_short(v, limit) for v in view[column]]
    styles = [
        {"selector": "th", "props": "white-space: nowrap; text-align: left"},
        {"selector": "td", "props": "vertical-align: top; padding-right: 10px"},
    ]
    styler = charts.styled(view)
    whole = [c for c in NOWRAP_COLUMNS if c in view.columns]
    if whole and len(view):  # names read whole, never broken at their hyphens
        styler = styler.set_properties(subset=whole, **{"white-space": "nowrap"})
    table = styler.set_table_attributes('class="opsbook-table"').set_table_styles(styles).to_html()
    # break-word wraps long causes without splitting short words across lines
    return f'<div style="white-space: normal; overflow-wrap: break-word">{table}</div>'


def _short(value: Any, limit: int | None = 80) -> Any:
    if value is None or (not isinstance(value, (dict, list)) and pd.isna(value)):
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def both_zones(moment: datetime | None) -> str:
    """UTC and the workflow's zone, labelled: opsbook.operations.display.time_text."""
    return time_text(moment)


def legend_html() -> str:
    """One swatch per status, with its glyph."""
    parts = []
    for status in LEGEND_ORDER:
        background, text = charts.STATUS_COLORS[status]
        parts.append(
            f'<span class="opsbook-legend-item" style="background:{background};color:{text};'
            f'padding:2px 8px;margin-right:6px;border-radius:3px">'
            f"{STATUS_MARKS[status]} {status}</span>"
        )
    return '<div class="opsbook-legend"><b>Legend</b>&nbsp; ' + "".join(parts) + "</div>"


def failures_outside(listed: list[Execution], since: str, until: str) -> list[tuple[str, str]]:
    """(key, status) of partitions outside [since, until] whose latest execution did not
    succeed. Bounds are keys or dates; a month key stands for its key day, the 1st."""

    def day(key: str) -> str:
        return f"{key}-01" if len(key) == 7 else key

    found = []
    for week, execs in sorted(group_by_partition(listed).items()):
        if day(since) <= day(week) <= day(until):
            continue
        last = last_execution(execs)
        if last is not None and last.status in UNSUCCESSFUL:
            found.append((week, last.status))
    return found


def default_console_range(
    listed: list[Execution],
    today: date | datetime | None = None,
    scheme: PartitionScheme | None = None,
) -> tuple[str, str]:
    """The last DEFAULT_WEEKS partitions up to the last completed one, stretched back (at most
    LOOKBACK_FOR_FAILURES partitions) to the oldest one whose latest execution did not
    succeed. `scheme`: the workflow's (default: the weekly load's); the range is given as the
    key days of its first and last partitions."""
    from opsbook.workflows.partitions import as_date

    if scheme is None:
        from opsbook.workflows.registry import shipped_workflow

        scheme = shipped_workflow("weekly_load").scheme
    latest = scheme.last_completed(as_date(today, "today") if isinstance(today, str) else today)
    first = scheme.shifted(latest, 1 - DEFAULT_WEEKS)
    horizon = scheme.shifted(latest, 1 - LOOKBACK_FOR_FAILURES).key
    failed = [
        key for key, _ in failures_outside(listed, first.key, latest.key)
        if horizon <= key < first.key
    ]  # fmt: skip
    if failed:
        first = scheme.parse(min(failed))
    return first.day.isoformat(), latest.day.isoformat()


def readable_graph(view: Any) -> str:
    """The graph at a size whose labels read (at least 1250 px wide, scrolling if need be),
    instead of shrunk to the page like the report's."""
    page = view._repr_html_().replace("max-width: 1100px", "min-width: 1250px")
    return f'<div style="overflow: auto; max-height: 1000px">{page}</div>'


def _json_block(value: Any) -> str:
    if value is None:
        return "<i>(none)</i>"
    text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
    return (
        '<pre style="white-space: pre-wrap; max-height: 260px; overflow: auto; margin: 0;'
        ' line-height: 1.3; font-size: 12px">'
        f"{html.escape(text)}</pre>"
    )


def failure_html(week: str, execution: Execution | None, detail: dict[str, Any] | None) -> str:
    """The failure panel: what failed, why, when, and with which input."""
    if execution is None:
        return f"<p>Week {html.escape(week)} has no execution yet.</p>"
    if detail is None:
        return (
            f"<p>{html.escape(execution.name)}: <b>{html.escape(execution.status)}</b>"
            " (no failure).</p>"
        )
    raw = detail["cause"]
    message = cause_message(raw) or "(no cause)"
    rows = [
        ("Execution", html.escape(execution.name)),
        ("Failed state", f"<b>{html.escape(str(detail['state']))}</b>"),
        ("Error", f"<b>{html.escape(str(detail['error']))}</b>"),
        ("Cause", f"<b>{html.escape(message)}</b>"),
        ("When", html.escape(both_zones(detail["when"]))),
        ("Input of the failed state", _json_block(detail["input"])),
    ]
    if raw != message:  # a Lambda error: its whole JSON (type, stack) under the message
        rows.insert(4, ("Raw cause", _json_block(raw)))
    cells = "".join(
        f'<tr><th style="text-align:left;vertical-align:top;padding-right:12px">{k}</th>'
        f"<td>{v}</td></tr>"
        for k, v in rows
    )
    return (
        '<div style="border-left: 6px solid #c62828; padding: 4px 12px; background: #fdecea">'
        f"<h4 style='margin:4px 0'>What failed</h4><table>{cells}</table></div>"
    )


def _guarded(method: Callable) -> Callable:
    """Run a handler; show an opsbook error (or any other) in the message line, never raise."""

    @functools.wraps(method)
    def run(self: OpsConsole, *args: Any) -> None:
        try:
            method(self, *args)
        except OpsbookError as exc:
            self.say(str(exc), error=True)
        except Exception as exc:  # a Voila callback would swallow it silently otherwise
            self.say(f"{type(exc).__name__}: {exc}", error=True)

    return run


class OpsConsole:
    """The dashboard. `widget` is the root; the named parts are public for tests."""

    def __init__(
        self,
        backend: Backend,
        *,
        since: date | str | None = None,
        until: date | str | None = None,
        today: date | datetime | None = None,
        cfg: Config | None = None,
        max_concurrency: int = 2,
        report_dir: str | Path | None = None,
    ):
        from opsbook.reporting.report import default_range

        self.backend = backend
        use_zone(backend.workflow.scheme.timezone)  # times beside UTC in the workflow's zone
        self.history = History(backend, cfg)
        self.today = today
        self.max_concurrency = max_concurrency
        self.report_dir = Path(report_dir or Path(self.history.cfg.home) / "reports")
        self.selected: str | None = None
        self.plan: pd.DataFrame | None = None
        self.listed: list[Execution] = backend.list_executions()
        self.weeks: pd.DataFrame = pd.DataFrame()
        self.visits: list[dict[str, Any]] = []
        self.all_events: pd.DataFrame = pd.DataFrame()
        if since is None and until is None:
            start, end = default_console_range(self.listed, today, backend.workflow.scheme)
        else:
            start, end = default_range(since, until)

        self.since = w.DatePicker(description="Since", value=date.fromisoformat(start))
        self.until = w.DatePicker(description="Until", value=date.fromisoformat(end))
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.message = w.HTML()
        self.legend = w.HTML(legend_html())
        self.outside = w.HTML()
        self.grid = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.week_title = w.HTML("<i>Click a week to see what happened.</i>")
        self.clear_button = w.Button(description="Clear selection", icon="times")
        self.rerun_button = w.Button(
            description="Rerun failed weeks…",
            icon="redo",
            layout=w.Layout(width="auto", min_width="180px"),  # "Rerun 2026-11-05…" whole
        )
        self.report_button = w.Button(
            description="Open report", icon="file", layout=w.Layout(width="auto")
        )
        self.history_button = w.Button(
            description="Show history", icon="list", layout=w.Layout(width="auto")
        )
        self.failure = w.HTML()
        self.executions = w.HTML()
        self.event_filter = w.ToggleButtons(options=list(EVENT_FILTERS), value="states")
        self.events = w.HTML()
        self.timeline = w.Image(format="png", layout=w.Layout(max_width="1000px"))
        self.graph = w.HTML()
        self.state_picker = w.Dropdown(description="State", options=[])
        self.state_io = w.HTML(layout=w.Layout(margin="0 0 0 16px"))
        self.report_view = w.HTML()
        self.tabs = w.Tab(
            children=[
                self.executions,
                w.VBox([self.event_filter, self.events]),
                self.timeline,
                w.VBox([w.HBox([self.state_picker, self.state_io]), self.graph]),
                self.report_view,
            ]
        )
        for i, title in enumerate(("Executions", "Events", "Timeline", "Graph", "Report")):
            self.tabs.set_title(i, title)
        self.dry_run = w.Checkbox(value=True, description="Dry run", indent=False)
        self.plan_view = w.HTML()
        self.confirm_button = w.Button(
            description="Confirm", button_style="danger", layout=w.Layout(display="none")
        )
        self.cancel_button = w.Button(description="Cancel", layout=w.Layout(display="none"))
        self.results = w.HTML()
        self.panel = w.VBox(
            [
                w.HBox(
                    [
                        self.week_title,
                        self.rerun_button,
                        self.report_button,
                        self.history_button,
                        self.clear_button,
                    ],
                    layout=w.Layout(align_items="center"),
                ),
                self.failure,
                self.dry_run,
                self.plan_view,
                w.HBox([self.confirm_button, self.cancel_button]),
                self.results,
                self.tabs,
            ],
            layout=w.Layout(display="none"),
        )
        for part, name in (
            (self.refresh_button, "refresh"),
            (self.rerun_button, "rerun"),
            (self.report_button, "report"),
            (self.history_button, "history"),
            (self.clear_button, "clear"),
            (self.confirm_button, "confirm"),
            (self.cancel_button, "cancel"),
            (self.plan_view, "plan"),
            (self.results, "results"),
            (self.grid, "grid"),
            (self.legend, "legend-box"),
            (self.outside, "outside"),
            (self.message, "message"),
            (self.panel, "panel"),
            (self.failure, "failure"),
            (self.executions, "executions"),
            (self.events, "events"),
            (self.event_filter, "event-filter"),
            (self.graph, "graph-view"),
            (self.state_picker, "state-picker"),
            (self.state_io, "state-io"),
            (self.report_view, "report-view"),
        ):
            part.add_class(f"opsbook-{name}")

        self.refresh_button.on_click(lambda _: self.refresh())
        self.rerun_button.on_click(lambda _: self.show_plan())
        self.report_button.on_click(lambda _: self.open_report())
        self.history_button.on_click(lambda _: self.show_history())
        self.clear_button.on_click(lambda _: self.clear_selection())
        self.confirm_button.on_click(lambda _: self.confirm())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.since.observe(self._range_changed, names="value")
        self.until.observe(self._range_changed, names="value")
        self.event_filter.observe(lambda _c: self._show_events(), names="value")
        self.state_picker.observe(lambda _c: self._show_state(), names="value")

        self.widget = w.VBox(
            [
                w.HBox([self.since, self.until, self.refresh_button]),
                self.message,
                self.legend,
                self.outside,
                self.grid,
                self.panel,
            ]
        )
        self.refresh()

    # -- display
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def say(self, text: str, *, error: bool = False) -> None:
        color = "#c62828" if error else "#424242"
        self.message.value = f'<span style="color:{color}">{html.escape(text)}</span>'

    # -- range and grid
    def _range(self) -> tuple[str, str]:
        from opsbook.reporting.report import default_range

        if self.since.value is None or self.until.value is None:
            raise UsageError("pick both dates of the range")
        return default_range(self.since.value, self.until.value)

    def _range_changed(self, _change: dict) -> None:
        self.refresh()

    @_guarded
    def refresh(self) -> None:
        """Re-read executions and redraw the grid (and the selected week, if any)."""
        since, until = self._range()
        self.listed = self.backend.list_executions()
        self.weeks = self.history.weeks(since, until, self.today, listed=self.listed)
        self.grid.children = [self._week_cell(row) for row in self.weeks.to_dict("records")]
        counts = self.weeks["status"].value_counts().to_dict() if len(self.weeks) else {}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no scheduled weeks"
        self.say(f"{len(self.weeks)} weeks from {since} to {until}: {summary}")
        outside = failures_outside(self.listed, since, until)
        self.outside.value = (
            '<div style="color:#c62828"><b>⚠ Outside this range:</b> '
            + ", ".join(f"{wk} {st}" for wk, st in outside)
            + "</div>"
            if outside
            else ""
        )
        if self.selected and self.selected in set(self.weeks["week"]):
            self.select(self.selected)

    def _week_cell(self, row: dict[str, Any]) -> w.VBox:
        week, status = row["week"], row["status"]
        background, text = charts.STATUS_COLORS.get(status, ("#ffffff", "black"))
        polls = row.get("polls")
        polls_text = "-" if polls is None or pd.isna(polls) else str(int(polls))
        attempts = int(row.get("attempts") or 0)
        button = w.Button(
            description=week[5:],
            tooltip=f"{week}: {status}, {attempts} attempt(s), {polls_text} poll(s)",
            layout=w.Layout(width="86px", margin="2px 2px 0 2px"),
        )
        button.style.button_color = background
        button.style.text_color = text
        button.add_class(f"opsbook-week-{week}")
        button.add_class(f"opsbook-status-{status}")
        button.on_click(lambda _b, week=week: self.select(week))
        caption = w.HTML(
            f'<div class="opsbook-cell" style="font-size:11px;text-align:center;line-height:1.2">'
            f"{STATUS_MARKS.get(status, '')} {status}<br>"
            f'<span class="opsbook-attempts">{attempts} att</span> · '
            f'<span class="opsbook-polls">{polls_text} polls</span></div>',
            layout=w.Layout(width="86px", margin="0 2px 4px 2px"),
        )
        return w.VBox([button, caption])

    def week_buttons(self) -> list[w.Button]:
        return [cell.children[0] for cell in self.grid.children]

    def week_status(self, week: str) -> str | None:
        found = self.weeks[self.weeks["week"] == week] if len(self.weeks) else self.weeks
        return str(found["status"].iloc[0]) if len(found) else None

    # -- the selected week
    @_guarded
    def select(self, week: str) -> None:
        """Open the failure-first panel of one week."""
        from opsbook.reporting.graph import GraphView

        self.selected = week
        self.panel.layout.display = ""
        execs = group_by_partition(self.listed).get(week, [])
        last = last_execution(execs)
        status = self.week_status(week) or "?"
        self.week_title.value = (
            f"<h4 style='margin:4px 12px 4px 0'>Week {html.escape(week)}: {html.escape(status)}"
            f" ({len(execs)} execution{'s' if len(execs) != 1 else ''})</h4>"
        )
        self.rerun_button.description = f"Rerun {week}…"
        frame = self.history.executions().pipe(lambda df: df[df["partition"] == week]).copy()
        frame["duration"] = [human_duration(v) for v in frame["duration"]]
        frame["start_date"] = [both_zones(v) for v in frame["start_date"]]
        frame["stop_date"] = [both_zones(v) for v in frame["stop_date"]]
        frame["cause"] = [cause_message(v) for v in frame["cause"]]  # the readable message
        self.executions.value = frame_html(
            frame, EXECUTION_COLUMNS, empty="no executions", limit=None
        )
        self.report_view.value = ""
        if last is None:
            self.failure.value = failure_html(week, None, None)
            self.visits, self.all_events = [], pd.DataFrame()
            self._show_events()
            self.timeline.value = b""
            self.graph.value = readable_graph(GraphView(self.backend.definition()))
            self.state_picker.options = []
            self.state_io.value = ""
            return
        raw = self.history.raw_history(last)
        detail = failure_detail(raw) if last.status in UNSUCCESSFUL else None
        self.failure.value = failure_html(week, last, detail)
        self.visits = state_visits(raw)
        self.all_events = self.history.events(last)
        self._show_events()
        timeline = self.history.timeline(last)
        self.timeline.value = charts.to_png(charts.gantt(timeline, title=f"{last.name}"))
        self.graph.value = readable_graph(
            GraphView(self.backend.definition(), raw, title=last.name)
        )
        names = [v["state"] for v in self.visits]
        self.state_picker.options = names
        pick = detail["state"] if detail and detail["state"] in names else None
        self.state_picker.value = pick or (names[-1] if names else None)
        self._show_state()

    def _show_events(self) -> None:
        choice = self.event_filter.value
        if choice == "states":
            frame = pd.DataFrame(self.visits, columns=[*VISIT_COLUMNS, "duration_s"])
            frame["duration"] = [human_duration(v) for v in frame["duration_s"]]
            for column in ("entered", "exited"):
                frame[column] = [both_zones(v) for v in frame[column]]
            self.events.value = frame_html(frame, VISIT_COLUMNS, empty="no state visits")
            return
        frame = self.all_events
        if choice == "errors" and len(frame):
            failed = frame["type"].str.contains("Failed|TimedOut|Aborted", regex=True)
            frame = frame[failed | frame["error"].notna()]
        self.events.value = frame_html(frame, EVENT_COLUMNS, empty="no events", limit=None)

    def _show_state(self) -> None:
        name = self.state_picker.value
        if not name or self.all_events.empty:
            self.state_io.value = ""
            return
        mine = self.all_events[self.all_events["state"] == name]
        entered = mine[mine["type"].str.endswith("StateEntered")]
        exited = mine[mine["type"].str.endswith("StateExited")]
        visit = next((v for v in self.visits if v["state"] == name), None)
        seen = f" (entered {visit['count']}×, {visit['status']})" if visit else ""
        # A latest visit that failed (or is still running) never exited: it has no output,
        # rather than the output of the visit before it.
        done = len(exited) > 0 and (
            len(entered) == 0 or exited["id"].iloc[-1] > entered["id"].iloc[-1]
        )
        self.state_io.value = (
            f"<b>{html.escape(name)}</b>{html.escape(seen)}"
            "<br><b>Input</b> (latest visit)"
            + _json_block(entered["input"].iloc[-1] if len(entered) else None)
            + "<b>Output</b> (latest visit)"
            + _json_block(exited["output"].iloc[-1] if done else None)
        )

    @_guarded
    def clear_selection(self) -> None:
        self.selected = None
        self.panel.layout.display = "none"
        self.rerun_button.description = "Rerun failed weeks…"
        self.cancel()
        self.say("selection cleared")

    @_guarded
    def show_history(self) -> None:
        """The history of the selected week: every event, and the CLI command for it."""
        if not self.selected:
            raise UsageError("click a week first")
        self.event_filter.value = "all"
        self.tabs.selected_index = 1
        self.say(f"history of {self.selected}; in a terminal: opsbook history {self.selected}")

    @_guarded
    def open_report(self) -> None:
        """Run the weekly report for the selected week and show its HTML in the Report tab."""
        from opsbook.reporting.report import run_report

        if not self.selected:
            raise UsageError("click a week first")
        cfg = self.history.cfg
        self.say(f"running the report for {self.selected}…")
        files = run_report(
            self.selected,
            self.report_dir,
            backend=cfg.backend,
            home=cfg.home,
            progress=False,
        )
        page = files.html.read_text(encoding="utf-8")
        self.report_view.value = (
            f"<p>{html.escape(str(files.html))}</p>"
            f'<iframe srcdoc="{html.escape(page, quote=True)}" '
            'style="width:100%;height:900px;border:1px solid #ccc"></iframe>'
        )
        self.tabs.selected_index = 4
        self.say(f"report written: {files.html}")

    # -- rerun: plan, then confirm or cancel
    def _scope(self) -> tuple[str, str]:
        return (self.selected, self.selected) if self.selected else self._range()

    @_guarded
    def show_plan(self) -> None:
        """Plan the rerun of the selected week (or the range) and ask for confirmation."""
        since, until = self._scope()
        self.results.value = ""
        self.plan = backfill.plan_rerun(self.backend, since, until, today=self.today)
        acting = self.plan[self.plan["action"] != backfill.SKIP]
        columns = ["week", "status", "action", "reason", "new_name"]
        self.plan_view.value = "<b>Plan</b>" + frame_html(self.plan, columns, limit=None)
        if acting.empty:
            self._ask(False)
            self.say(f"nothing to rerun from {since} to {until}")
            return
        mode = "dry run" if self.dry_run.value else "rerun"
        self.confirm_button.description = f"Confirm {mode} of {len(acting)} week(s)"
        self._ask(True)
        self.say(f"{len(acting)} week(s) to act on; confirm or cancel")

    def _ask(self, visible: bool) -> None:
        display = "" if visible else "none"
        self.confirm_button.layout = w.Layout(display=display, width="auto")
        self.cancel_button.layout = w.Layout(display=display)

    @_guarded
    def confirm(self) -> None:
        if self.plan is None:
            self.say("no plan to confirm; press rerun first", error=True)
            return
        plan, self.plan = self.plan, None
        self._ask(False)
        dry = bool(self.dry_run.value)
        results = backfill.rerun(
            self.backend, plan, max_concurrency=self.max_concurrency, dry_run=dry, progress=False
        )
        title = "Dry run: nothing was started" if dry else "Results"
        columns = ["week", "action", "status", "execution", "reason", "error"]
        self.results.value = f"<b>{title}</b>" + frame_html(results, columns, limit=None)
        if not dry:
            self.refresh()
        counts = ", ".join(f"{n} {k}" for k, n in backfill.summarize(results).items())
        self.say(f"{'dry run' if dry else 'rerun'}: {counts}")

    @_guarded
    def cancel(self) -> None:
        self.plan = None
        self._ask(False)
        self.plan_view.value = ""
        self.say("rerun cancelled; nothing was started")


__all__ = [
    "OpsConsole",
    "both_zones",
    "default_console_range",
    "failure_html",
    "failures_outside",
    "frame_html",
    "legend_html",
]
