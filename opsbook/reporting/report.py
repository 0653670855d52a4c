"""A partition's report: what the notebooks show (`load_week` for the weekly load,
`load_partition` for any workflow) and how a report is produced (`run_report`).

`run_report` executes the workflow's report notebook (the manifest's `report`, default
partition_report.ipynb; the weekly load's is weekly_report.ipynb) with papermill on the
`python3` kernel of the running environment, then writes three files side by side:

    <out>/<notebook>-<key>.ipynb   the executed notebook
    <out>/<notebook>-<key>.html    no input cells; charts as data:image/png, the graph as SVG
    <out>/<notebook>-<key>.json    key figures, read back from the notebook's outputs

The notebook emits its key figures with `display({FIGURES_MIME: payload}, raw=True)`; we read
them back with nbformat (scrapbook's last release no longer imports).

The notebooks ship inside the package (opsbook/notebooks), so a wheel install has them.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from opsbook.backends.base import Backend, Execution
from opsbook.config import PACKAGE_ROOT, Config
from opsbook.errors import OperationFailed, UsageError
from opsbook.reporting.verdict import verdict_markdown
from opsbook.workflows.manifest import Workflow

# The execution columns an operator reads, in the report and (less the cause) the ops console.
STATUS_COLUMNS = [
    "name", "status", "start_date", "stop_date", "duration", "redrive_count", "error", "cause",
]  # fmt: skip

NOTEBOOKS_DIR = PACKAGE_ROOT / "notebooks"
WEEKLY_REPORT = "weekly_report.ipynb"
FIGURES_MIME = "application/vnd.opsbook+json"
KERNEL_NAME = "python3"
CELL_TIMEOUT = 600  # seconds per cell; a BigQuery query may be slow, a hung one is not fine


def notebook_path(name: str) -> Path:
    path = NOTEBOOKS_DIR / name
    if not path.is_file():
        raise OperationFailed(f"notebook {path} not found in the opsbook package")
    return path


# ---------------------------------------------------------------- what the notebook shows


@dataclass
class WeekReport:
    """Everything the weekly report shows for one week, as DataFrames."""

    week: date
    status: str
    execution: Execution | None
    executions: pd.DataFrame
    events: pd.DataFrame
    timeline: pd.DataFrame
    raw_history: list[dict[str, Any]] | None
    definition: dict[str, Any]
    arrival: pd.DataFrame
    anomalies: pd.DataFrame
    summary: pd.DataFrame
    notifications: pd.DataFrame
    polls: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    # The data as the run saw it: rows that had arrived by the run's end (None: no run ended,
    # or the source table has no arrival times).
    arrival_at_run: pd.DataFrame | None = None
    run_end: datetime | None = None
    arrival_note: str = ""
    check_arrival: dict[str, Any] = field(default_factory=dict)
    band: dict[str, Any] = field(default_factory=dict)  # rows loaded: the expected band
    failure: dict[str, Any] | None = None
    workflow: str = ""

    @property
    def title(self) -> str:
        """The page title: workflow, partition and status."""
        return f"{self.workflow or 'weekly load'} · week {self.week.isoformat()} · {self.status}"

    @property
    def baseline_weeks_used(self) -> int:
        """Earlier weeks the anomaly check compared with (the fewest over the week's days)."""
        if not len(self.anomalies):
            return 0
        return int(self.anomalies["baseline_weeks_used"].min())

    def side_by_side(self) -> pd.DataFrame:
        """Rows per day as of the run's end and as of now, and how many arrived in between."""
        table = self.arrival[["event_date", "weekday", "is_check_date"]].copy()
        table["rows_at_run"] = (
            self.arrival_at_run["rows"].to_numpy() if self.arrival_at_run is not None else pd.NA
        )
        table["rows_now"] = self.arrival["rows"].to_numpy()
        if self.arrival_at_run is not None:
            table["arrived_after_run"] = table["rows_now"] - table["rows_at_run"]
        else:
            table["arrived_after_run"] = pd.NA
        return table

    def verdict(self) -> str:
        """Markdown answering "is this week OK?", from the figures the report shows."""
        return verdict_markdown(self)

    def status_table(self) -> pd.DataFrame:
        """The week's executions (newest first) with the columns an operator reads."""
        from opsbook.operations.history import human_duration

        columns = [c for c in STATUS_COLUMNS if c in self.executions.columns]
        table = self.executions[columns].copy()
        if "duration" in table:
            table["duration"] = [human_duration(v) for v in table["duration"]]
        for column in ("start_date", "stop_date"):
            if column in table:
                table[column] = [_when(v) for v in table[column]]
        if "cause" in table:  # the readable message; the figures JSON keeps the raw cause
            from opsbook.operations.failures import cause_message

            table["cause"] = [cause_message(v) for v in table["cause"]]
        return table

    def notifications_table(self) -> pd.DataFrame:
        """The Slack messages sent, each time in UTC and the schedule's zone."""
        table = self.notifications.copy()
        if "timestamp" in table:
            table["timestamp"] = [_when(v) for v in table["timestamp"]]
        return table

    def figures(self) -> dict[str, Any]:
        """Key figures as plain JSON: status, polls, rows per day, anomalies, notifications."""
        ex = self.execution
        flagged = (
            self.anomalies[self.anomalies["anomaly"]] if len(self.anomalies) else self.anomalies
        )
        return {
            "week": self.week.isoformat(),
            "status": self.status,
            "execution": ex.name if ex else None,
            "execution_arn": ex.arn if ex else None,
            "attempts": len(self.executions),
            "polls": self.polls,
            "title": self.title,
            "rows_per_day": _per_day(self.arrival),
            "rows_total": int(self.arrival["rows"].sum()) if len(self.arrival) else 0,
            "run_end": self.run_end.isoformat() if self.run_end else None,
            "rows_per_day_at_run": (
                _per_day(self.arrival_at_run) if self.arrival_at_run is not None else None
            ),
            "rows_total_at_run": (
                int(self.arrival_at_run["rows"].sum()) if self.arrival_at_run is not None else None
            ),
            "check_day": {
                k: (v.isoformat() if isinstance(v, (date, datetime)) else v)
                for k, v in self.check_arrival.items()
            },
            "baseline_weeks_used": self.baseline_weeks_used,
            "anomalies": [
                {"date": d.isoformat(), "rows": int(n), "low": float(lo), "high": float(hi)}
                for d, n, lo, hi in zip(
                    flagged.get("event_date", []),
                    flagged.get("rows", []),
                    flagged.get("low", []),
                    flagged.get("high", []),
                    strict=True,
                )
            ],
            "rows_loaded_band": self.band,
            "notifications": len(self.notifications),
            "error": ex.error if ex else None,
            "cause": ex.cause if ex else None,
        }


def _per_day(frame: pd.DataFrame) -> dict[str, int]:
    return {d.isoformat(): int(n) for d, n in zip(frame["event_date"], frame["rows"], strict=True)}


def _when(value: Any) -> str:
    """UTC and the schedule's zone, labelled (opsbook.operations.display.time_text)."""
    from opsbook.operations.display import time_text

    return time_text(value)


def resolve_week(week: str | date | None) -> date:
    """A Thursday, or the latest week whose run is due for None/"" (UsageError otherwise)."""
    from opsbook.workflows.schedules import parse_week

    if week is None or (isinstance(week, str) and not week.strip()):
        return latest_due_week()
    return parse_week(week)


def latest_due_week(now: datetime | None = None) -> date:
    """The newest week whose scheduled run has fired by `now` (a Thursday before 09:30 Tokyo
    time is not yet due, so the week before it is)."""
    from datetime import timedelta

    from opsbook.operations.history import fire_time
    from opsbook.workflows.schedules import last_completed_week

    now = now or datetime.now(UTC)
    day = last_completed_week(now)
    return day if fire_time(day) <= now else day - timedelta(weeks=1)


def require_run_due(day: date, now: datetime | None = None) -> date:
    """`day` if its scheduled run has fired by `now`; a UsageError for a future week."""
    from opsbook.operations.history import FIRE_TZ, fire_time

    due = fire_time(day)
    if due > (now or datetime.now(UTC)):
        from opsbook.operations.display import time_text

        raise UsageError(
            f"week {day} has not run yet: its scheduled run is {time_text(due, FIRE_TZ)};"
            " pick a past week"
        )
    return day


def default_range(
    since: str | date | None, until: str | date | None, weeks: int = 8
) -> tuple[str, str]:
    """(since, until) as ISO dates: until defaults to the last completed week, since to
    `weeks` weeks before it. Bad dates are a UsageError."""
    from datetime import timedelta

    from opsbook.workflows.schedules import as_date, last_completed_week, weeks_between

    end = as_date(until, "until") if until else last_completed_week()
    start = as_date(since, "since") if since else end - timedelta(weeks=weeks)
    weeks_between(start, end)  # raises when until is before since
    return start.isoformat(), end.isoformat()


def load_week(
    backend: Backend,
    week: str | date | None = None,
    lookback_weeks: int = 8,
    cfg: Config | None = None,
) -> WeekReport:
    """Read one week's executions, history, data arrival and weekly_summary from the backend."""
    from opsbook.operations.failures import poll_count
    from opsbook.operations.history import History, group_by_partition, last_execution
    from opsbook.reporting import charts

    if (
        isinstance(lookback_weeks, bool)
        or not isinstance(lookback_weeks, int)
        or lookback_weeks < 1
    ):
        raise UsageError(f"lookback_weeks must be a whole number >= 1, not {lookback_weeks!r}")
    from opsbook.operations.failures import failure_detail
    from opsbook.warehouse import WarehouseError

    day = require_run_due(resolve_week(week))
    hist = History(backend, cfg)
    cfg = hist.cfg
    listed = backend.list_executions()
    mine = group_by_partition(listed).get(day.isoformat(), [])
    last = last_execution(mine)
    if last is not None:  # listed executions may lack input, error and cause: describe it
        last = hist.complete([last])[0]
    status = hist.weeks(day, day, listed=listed).at[0, "status"]
    executions = hist.executions().pipe(lambda df: df[df["partition"] == day.isoformat()])
    raw = hist.raw_history(last) if last else None
    events = hist.events(last) if last else pd.DataFrame()
    timeline = hist.timeline(last) if last else pd.DataFrame()
    _, wait_state = hist.loop_states()
    run_end = _run_end(last, raw)
    warehouse = backend.warehouse()
    session = getattr(warehouse, "session", None)
    at_run, note, timing = None, "", {}
    with session() if session else contextlib.nullcontext():
        arrival = charts.arrival_per_day(warehouse, cfg, day)
        try:  # needs the source's arrival_ts column
            if run_end is not None:
                at_run = charts.arrival_per_day(warehouse, cfg, day, as_of=run_end)
            timing = charts.check_day_arrival(warehouse, cfg, day)
        except WarehouseError as exc:
            note = (
                f"the source table has no usable {charts.ARRIVAL_COLUMN} column, so the data as "
                f"of the run cannot be told apart from the data now ({' '.join(str(exc).split())[:160]})"
            )
        if run_end is None and not note:
            note = "no run has ended for this week, so there is no data as of the run"
        flagged = charts.anomalies(warehouse, cfg, day)
        summary = charts.week_over_week(warehouse, cfg, day, lookback_weeks)
    return WeekReport(
        week=day,
        status=str(status),
        execution=last,
        executions=executions.reset_index(drop=True),
        events=events,
        timeline=timeline,
        raw_history=raw,
        definition=backend.definition(),
        arrival=arrival,
        anomalies=flagged,
        summary=summary,
        notifications=charts.notifications(events),
        polls=poll_count(raw, last.output if last else None, wait_state)
        if raw is not None
        else None,
        arrival_at_run=at_run,
        run_end=run_end,
        arrival_note=note,
        check_arrival=timing,
        band=charts.expected_band(summary, day),
        failure=failure_detail(raw) if raw and last and last.status != "SUCCEEDED" else None,
        workflow=cfg.state_machine_name,
    )


@dataclass
class PartitionReport:
    """What the generic report shows for one partition of any workflow."""

    workflow: str
    label: str
    key: str
    status: str
    execution: Execution | None
    executions: pd.DataFrame
    events: pd.DataFrame
    timeline: pd.DataFrame
    raw_history: list[dict[str, Any]] | None
    definition: dict[str, Any]

    def status_table(self) -> pd.DataFrame:
        return WeekReport.status_table(self)  # type: ignore[arg-type]

    @property
    def title(self) -> str:
        """The page title: workflow, partition and status."""
        return f"{self.workflow} · {self.label} {self.key} · {self.status}"

    def figures(self) -> dict[str, Any]:
        ex = self.execution
        return {
            "title": self.title,
            "workflow": self.workflow,
            self.label: self.key,
            "partition": self.key,
            "status": self.status,
            "execution": ex.name if ex else None,
            "execution_arn": ex.arn if ex else None,
            "attempts": len(self.executions),
            "states": int(len(self.timeline)),
            "error": ex.error if ex else None,
            "cause": ex.cause if ex else None,
        }


def load_partition(
    backend: Backend, key: str | date | None = None, cfg: Config | None = None
) -> PartitionReport:
    """One partition's status, executions, history and timeline, for any workflow."""
    from opsbook.operations.history import History, group_by_partition, last_execution

    hist = History(backend, cfg)
    scheme = hist.workflow.scheme
    part = scheme.last_completed() if key in (None, "") else scheme.parse(key)  # type: ignore[arg-type]
    listed = backend.list_executions()
    mine = group_by_partition(listed).get(part.key, [])
    last = last_execution(mine)
    if last is not None:
        last = hist.complete([last])[0]
    status = hist.partitions(part.day, part.day, listed=listed).at[0, "status"]
    executions = hist.executions().pipe(lambda df: df[df["partition"] == part.key])
    return PartitionReport(
        workflow=hist.workflow.name,
        label=scheme.label,
        key=part.key,
        status=str(status),
        execution=last,
        executions=executions.reset_index(drop=True),
        events=hist.events(last) if last else pd.DataFrame(),
        timeline=hist.timeline(last) if last else pd.DataFrame(),
        raw_history=hist.raw_history(last) if last else None,
        definition=backend.definition(),
    )


def _run_end(execution: Execution | None, raw: list[dict[str, Any]] | None) -> datetime | None:
    """When the week's deciding execution ended (None while it runs, or without one)."""
    from opsbook.operations.history import closed_time

    if execution is None or raw is None:
        return None
    return closed_time(execution, raw)


def show(figure: Any) -> None:
    """Display a matplotlib Figure as PNG (the HTML report embeds it as data:image/png)."""
    from IPython.display import Image, display

    from opsbook.reporting.charts import to_png

    display(Image(data=to_png(figure)))


def emit_figures(payload: dict[str, Any]) -> None:
    """Display the key figures as a raw output the report runner reads back."""
    from IPython.display import display

    display({FIGURES_MIME: json.loads(json.dumps(payload, default=str))}, raw=True)


def read_figures(notebook: Any) -> dict[str, Any] | None:
    """The last key-figures output of an executed notebook (a path or a NotebookNode)."""
    import nbformat

    nb = (
        nbformat.read(str(notebook), as_version=4)
        if isinstance(notebook, (str, Path))
        else notebook
    )
    found = None
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if FIGURES_MIME in data:
                found = data[FIGURES_MIME]
    return dict(found) if found is not None else None


# ---------------------------------------------------------------- running it with papermill


@dataclass
class ReportFiles:
    notebook: Path
    html: Path
    figures: Path
    data: dict[str, Any]


def report_key(flow: Workflow, week: str | date | None, source: Path | None = None) -> str:
    """The partition a report is for: `week` (any scheme's key), else the latest one due. A
    partition whose scheduled run has not fired yet (the weekly report) or that has not
    started (other workflows) is a UsageError."""
    source = source or flow.report_path()
    if source.name == WEEKLY_REPORT:
        return require_run_due(resolve_week(week)).isoformat()
    if week is None or (isinstance(week, str) and not week.strip()):
        return flow.scheme.last_completed().key
    part = flow.partition(week)
    if part.start > date.today():
        raise UsageError(f"{flow.scheme.label} {part.key} has not started yet; pick a past one")
    return part.key


def prepare_report_folder(out_dir: str | Path) -> Path:
    """The report folder, created private (0700) if missing; a bad path is a UsageError."""
    out = Path(out_dir)
    try:
        private_folder(out)
    except OSError as exc:  # a bad --out is the user's to fix: one line, exit 2
        raise UsageError(f"cannot create the report folder {out}: {exc.strerror}") from None
    return out


def missing_folders(out: str | Path) -> list[Path]:
    """The folders prepare_report_folder(out) would create, deepest first."""
    folder = Path(out).absolute()
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_folders(folders: list[Path]) -> None:
    """Remove these folders (deepest first) where they are still empty: undoes
    prepare_report_folder when the report cannot run after all."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty, or already gone: leave it
            return


def run_report(
    week: str | date | None,
    out_dir: str | Path = "reports",
    *,
    backend: str | None = None,
    home: str | Path | None = None,
    config: str | Path | None = None,
    workflow: str | None = None,
    lookback_weeks: int = 8,
    notebook: str | Path | None = None,
    progress: bool = True,
) -> ReportFiles:
    """Execute the report of one partition (`week`: its key; None: the last completed one) of
    the workflow and write .ipynb, .html and .json into `out_dir`.

    Raises UsageError for a bad key (before anything runs) and OperationFailed with the failing
    cell's error when the notebook fails.
    """
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from opsbook.config import load_config
    from opsbook.workflows.registry import get_workflow

    cfg = load_config(config, home=home, backend=backend, workflow=workflow)
    flow = get_workflow(cfg)
    source = Path(notebook) if notebook else flow.report_path()
    if not source.is_file():
        raise OperationFailed(f"report notebook {source} not found")
    key = report_key(flow, week, source)
    out = prepare_report_folder(out_dir)
    # The weekly report keeps its names; a notebook several workflows share (partition_report)
    # carries the workflow's name, so two workflows' reports of one key never overwrite.
    stem = f"{source.stem}-{key}" if source.name == WEEKLY_REPORT else f"{flow.name}-{key}"
    executed = out / f"{stem}.ipynb"
    # papermill rewrites the file in place, keeping the mode it finds: make it private first.
    private_write(executed, b"")
    key_parameter = "week" if source.name == WEEKLY_REPORT else "partition"
    parameters = {
        key_parameter: key,  # a string: the notebook parses it like the CLI does
        "workflow": flow.name,
        "backend": cfg.backend,
        "home": str(Path(cfg.home).expanduser().resolve()),
        "config": str(Path(config).expanduser().resolve()) if config else None,
        "lookback_weeks": lookback_weeks,
    }
    # The kernel runs in the notebook's folder: give it the user's workflows by absolute path.
    definitions = str(Path(cfg.definitions_dir).expanduser().resolve())
    try:
        with _this_environments_kernel(), _environment("OPSBOOK_DEFINITIONS_DIR", definitions):
            pm.execute_notebook(
                str(source),
                str(executed),
                parameters=parameters,
                kernel_name=KERNEL_NAME,
                progress_bar=progress,
                execution_timeout=CELL_TIMEOUT,
                cwd=str(source.parent),
                # The kernel's own log (TCP warning, shutdown interrupt) is noise in a report run;
                # cell errors still reach us through PapermillExecutionError.
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
            )
    except PapermillExecutionError as exc:
        evalue = " ".join(str(exc.evalue).split())
        raise OperationFailed(
            f"{source.name} failed in cell {exc.cell_index}: {exc.ename}: {evalue} "
            f"(executed notebook: {executed})"
        ) from None
    except (CellTimeoutError, DeadKernelError) as exc:
        message = " ".join(str(exc).split())[:300]
        raise OperationFailed(
            f"{source.name} did not finish: {type(exc).__name__}: {message}"
        ) from None
    html = out / f"{stem}.html"
    private_write(html, to_html(executed).encode("utf-8"))
    data = read_figures(executed)
    if data is None:
        raise OperationFailed(f"{executed} has no {FIGURES_MIME} output; the notebook emits none")
    figures = out / f"{stem}.json"
    private_write(figures, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
    return ReportFiles(executed, html, figures, data)


def private_folder(path: Path) -> None:
    """Create `path` (and missing parents) 0700 whatever the umask, as docs/reliability.md
    requires for folders of files with notification texts; an existing folder is left as
    its owner set it (its files are private anyway)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for folder in missing:
        os.chmod(folder, 0o700)


def private_write(path: Path, data: bytes) -> None:
    """Write `path` 0600 whatever the umask (it holds notification texts and causes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


@contextlib.contextmanager
def _this_environments_kernel() -> Iterator[None]:
    """Make `python3` resolve to this environment's kernelspec first: JUPYTER_PATH outranks a
    user-level python3 kernelspec that may point at another interpreter."""
    ours = str(Path(sys.prefix) / "share" / "jupyter")
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([ours, *([saved] if saved else [])])
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved


# nbconvert's lab template loads require.js, MathJax and (when a diagram needs it) mermaid from
# cdnjs, and widget scripts from jsDelivr. The report has no widgets, math or diagrams, so this
# template empties those blocks: the page fetches nothing from the internet.
OFFLINE_TEMPLATE = "opsbook_offline.html.j2"
_OFFLINE_TEMPLATE_TEXT = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def to_html(notebook: str | Path, title: str | None = None) -> str:
    """HTML without input cells or prompts and without remote scripts; PNGs are embedded as
    data: URIs, SVG inline. `title` (default: the key figures' title) names the page."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    figures = read_figures(nb) or {}
    for cell in nb.cells:  # the key figures are for machines; HTML has no view of them
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if FIGURES_MIME not in o.get("data", {})]
    nb.metadata["title"] = title or figures.get("title") or "opsbook report"
    exporter = HTMLExporter(
        extra_loaders=[jinja2.DictLoader({OFFLINE_TEMPLATE: _OFFLINE_TEMPLATE_TEXT})],
        template_file=OFFLINE_TEMPLATE,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    return body


__all__ = [
    "FIGURES_MIME",
    "ReportFiles",
    "PartitionReport",
    "WeekReport",
    "default_range",
    "emit_figures",
    "latest_due_week",
    "load_partition",
    "load_week",
    "notebook_path",
    "read_figures",
    "require_run_due",
    "resolve_week",
    "run_report",
    "show",
    "to_html",
]
