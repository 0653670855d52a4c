"""The ops console: an ipywidgets dashboard over one Backend (notebooks/ops_console.ipynb).

    OpsConsole(connect())   # displays itself in a notebook or Voila

A date range, a grid of weeks coloured by status, the selected week's executions, events,
timeline and graph, and a rerun button that shows the plan and waits for Confirm or Cancel
(dry run by default). Every view is an HTML or Image widget, so tests read `.value` after
setting `.value` and calling `.click()`; no kernel or browser is needed. Handlers never raise:
errors land in `message`, because an exception in a Voila callback is invisible.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import ipywidgets as w
import pandas as pd

from opsbook.backends.base import Backend, Execution
from opsbook.config import Config
from opsbook.errors import OpsbookError, UsageError
from opsbook.operations import backfill
from opsbook.operations.history import History, group_by_partition, human_duration, last_execution
from opsbook.reporting import charts
from opsbook.reporting.report import STATUS_COLUMNS

EVENT_COLUMNS = ["id", "timestamp", "type", "state", "error", "cause"]
# The report's status columns; the long cause is read in the events view instead.
EXECUTION_COLUMNS = [c for c in STATUS_COLUMNS if c != "cause"]


def frame_html(
    frame: pd.DataFrame, columns: list[str] | None = None, *, empty: str = "(none)"
) -> str:
    """A small HTML table with coloured status cells; long cells are cut to 80 characters."""
    if frame is None or frame.empty:
        return f"<i>{html.escape(empty)}</i>"
    view = frame[[c for c in (columns or list(frame.columns)) if c in frame.columns]].copy()
    for column in view.columns:
        if view[column].dtype == object:
            view[column] = [_short(v) for v in view[column]]
    for column in view.columns:
        if isinstance(view[column].dtype, pd.DatetimeTZDtype):
            view[column] = view[column].dt.strftime("%Y-%m-%d %H:%M:%S")
    return charts.styled(view).set_table_attributes('class="opsbook-table"').to_html()


def _short(value: Any, limit: int = 80) -> Any:
    if value is None or (not isinstance(value, (dict, list)) and pd.isna(value)):
        return ""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    ):
        from opsbook.reporting.report import default_range

        self.backend = backend
        self.history = History(backend, cfg)
        self.today = today
        self.max_concurrency = max_concurrency
        self.selected: str | None = None
        self.plan: pd.DataFrame | None = None
        self.listed: list[Execution] = []
        self.weeks: pd.DataFrame = pd.DataFrame()
        start, end = default_range(since, until)

        self.since = w.DatePicker(description="Since", value=date.fromisoformat(start))
        self.until = w.DatePicker(description="Until", value=date.fromisoformat(end))
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.message = w.HTML()
        self.grid = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.week_title = w.HTML("<i>Click a week to see its executions.</i>")
        self.executions = w.HTML()
        self.events = w.HTML()
        self.timeline = w.Image(format="png", layout=w.Layout(max_width="900px"))
        self.graph = w.HTML()
        self.tabs = w.Tab(children=[self.executions, self.events, self.timeline, self.graph])
        for i, title in enumerate(("Executions", "Events", "Timeline", "Graph")):
            self.tabs.set_title(i, title)
        self.dry_run = w.Checkbox(value=True, description="Dry run", indent=False)
        self.rerun_button = w.Button(
            description="Rerun failed weeks…", icon="redo", layout=w.Layout(width="auto")
        )
        self.plan_view = w.HTML()
        self.confirm_button = w.Button(
            description="Confirm", button_style="danger", layout=w.Layout(display="none")
        )
        self.cancel_button = w.Button(description="Cancel", layout=w.Layout(display="none"))
        self.results = w.HTML()
        for part, name in (
            (self.refresh_button, "refresh"),
            (self.rerun_button, "rerun"),
            (self.confirm_button, "confirm"),
            (self.cancel_button, "cancel"),
            (self.plan_view, "plan"),
            (self.results, "results"),
            (self.grid, "grid"),
            (self.message, "message"),
            (self.executions, "executions"),
            (self.events, "events"),
        ):
            part.add_class(f"opsbook-{name}")

        self.refresh_button.on_click(lambda _: self.refresh())
        self.rerun_button.on_click(lambda _: self.show_plan())
        self.confirm_button.on_click(lambda _: self.confirm())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.since.observe(self._range_changed, names="value")
        self.until.observe(self._range_changed, names="value")

        self.widget = w.VBox(
            [
                w.HBox([self.since, self.until, self.refresh_button]),
                self.message,
                self.grid,
                self.week_title,
                self.tabs,
                w.HTML("<h4>Rerun</h4>"),
                w.HBox([self.dry_run, self.rerun_button]),
                self.plan_view,
                w.HBox([self.confirm_button, self.cancel_button]),
                self.results,
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
        buttons = []
        for row in self.weeks.itertuples():
            buttons.append(self._week_button(row.week, row.status))
        self.grid.children = buttons
        counts = self.weeks["status"].value_counts().to_dict() if len(self.weeks) else {}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no scheduled weeks"
        self.say(f"{len(self.weeks)} weeks from {since} to {until}: {summary}")
        if self.selected and self.selected in set(self.weeks["week"]):
            self.select(self.selected)

    def _week_button(self, week: str, status: str) -> w.Button:
        background, text = charts.STATUS_COLORS.get(status, ("#ffffff", "black"))
        button = w.Button(
            description=week[5:],
            tooltip=f"{week}: {status}",
            layout=w.Layout(width="82px", margin="2px"),
        )
        button.style.button_color = background
        button.style.text_color = text
        button.add_class(f"opsbook-week-{week}")
        button.add_class(f"opsbook-status-{status}")
        button.on_click(lambda _b, week=week: self.select(week))
        return button

    def week_status(self, week: str) -> str | None:
        found = self.weeks[self.weeks["week"] == week] if len(self.weeks) else self.weeks
        return str(found["status"].iloc[0]) if len(found) else None

    # -- the selected week
    @_guarded
    def select(self, week: str) -> None:
        """Show one week's executions, the last one's events, timeline and graph."""
        from opsbook.reporting.graph import GraphView

        self.selected = week
        execs = group_by_partition(self.listed).get(week, [])
        last = last_execution(execs)
        status = self.week_status(week) or "?"
        self.week_title.value = (
            f"<h4>Week {html.escape(week)}: {html.escape(status)}"
            f" ({len(execs)} execution{'s' if len(execs) != 1 else ''})</h4>"
        )
        self.rerun_button.description = f"Rerun {week}…"
        frame = self.history.executions().pipe(lambda df: df[df["partition"] == week]).copy()
        frame["duration"] = [human_duration(v) for v in frame["duration"]]
        self.executions.value = frame_html(frame, EXECUTION_COLUMNS, empty="no executions")
        if last is None:
            self.events.value = "<i>no execution, so no events</i>"
            self.timeline.value = b""
            self.graph.value = GraphView(self.backend.definition())._repr_html_()
            return
        self.events.value = frame_html(self.history.events(last), EVENT_COLUMNS)
        timeline = self.history.timeline(last)
        self.timeline.value = charts.to_png(charts.gantt(timeline, title=f"{last.name}"))
        raw = self.history.raw_history(last)
        self.graph.value = GraphView(self.backend.definition(), raw, title=last.name)._repr_html_()

    def clear_selection(self) -> None:
        self.selected = None
        self.rerun_button.description = "Rerun failed weeks…"

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
        self.plan_view.value = "<b>Plan</b>" + frame_html(self.plan, columns)
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
        self.results.value = f"<b>{title}</b>" + frame_html(results, columns)
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


__all__ = ["OpsConsole", "frame_html"]
