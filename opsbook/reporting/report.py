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
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from opsbook.backends.base import Backend, Execution
from opsbook.config import PACKAGE_ROOT, Config
from opsbook.errors import OperationFailed, UsageError

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
            "rows_per_day": {
                d.isoformat(): int(n)
                for d, n in zip(self.arrival["event_date"], self.arrival["events"], strict=True)
            },
            "rows_total": int(self.arrival["events"].sum()) if len(self.arrival) else 0,
            "anomalies": [
                {"date": d.isoformat(), "events": int(n), "low": float(lo), "high": float(hi)}
                for d, n, lo, hi in zip(
                    flagged.get("event_date", []),
                    flagged.get("events", []),
                    flagged.get("low", []),
                    flagged.get("high", []),
                    strict=True,
                )
            ],
            "notifications": len(self.notifications),
            "error": ex.error if ex else None,
            "cause": ex.cause if ex else None,
        }


def _when(value: Any) -> str:
    return (
        "-"
        if value is None or pd.isna(value)
        else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")
    )


def resolve_week(week: str | date | None) -> date:
    """A Thursday, or the last completed week for None/"" (UsageError for anything else)."""
    from opsbook.workflows.schedules import last_completed_week, parse_week

    if week is None or (isinstance(week, str) and not week.strip()):
        return last_completed_week()
    return parse_week(week)


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
    from opsbook.operations.history import History, count_state, group_by_partition, last_execution
    from opsbook.reporting import charts

    if (
        isinstance(lookback_weeks, bool)
        or not isinstance(lookback_weeks, int)
        or lookback_weeks < 1
    ):
        raise UsageError(f"lookback_weeks must be a whole number >= 1, not {lookback_weeks!r}")
    day = resolve_week(week)
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
    warehouse = backend.warehouse()
    session = getattr(warehouse, "session", None)
    with session() if session else contextlib.nullcontext():
        arrival = charts.arrival_per_day(warehouse, cfg, day)
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
        polls=count_state(raw, wait_state) if raw is not None else None,
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

    def figures(self) -> dict[str, Any]:
        ex = self.execution
        return {
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
    if week is None or (isinstance(week, str) and not week.strip()):
        key = flow.scheme.last_completed().key
    else:
        key = flow.partition(week).key
    source = Path(notebook) if notebook else flow.report_path()
    if not source.is_file():
        raise OperationFailed(f"report notebook {source} not found")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a bad --out is the user's to fix: one line, exit 2
        raise UsageError(f"cannot create the report folder {out}: {exc.strerror}") from None
    stem = f"{source.stem}-{key}"
    executed = out / f"{stem}.ipynb"
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
    html.write_text(to_html(executed), encoding="utf-8")
    data = read_figures(executed)
    if data is None:
        raise OperationFailed(f"{executed} has no {FIGURES_MIME} output; the notebook emits none")
    figures = out / f"{stem}.json"
    figures.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return ReportFiles(executed, html, figures, data)


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


def to_html(notebook: str | Path) -> str:
    """HTML without input cells or prompts; PNGs are embedded as data: URIs, SVG inline."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:  # the key figures are for machines; HTML has no view of them
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if FIGURES_MIME not in o.get("data", {})]
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
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
    "load_partition",
    "load_week",
    "notebook_path",
    "read_figures",
    "resolve_week",
    "run_report",
    "show",
    "to_html",
]
