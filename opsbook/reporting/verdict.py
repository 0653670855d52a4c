"""The weekly report's answer to "is this week OK?", as Markdown built from a report.WeekReport."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd

from opsbook.backends.base import Execution
from opsbook.operations.failures import cause_message


class VerdictInputs(Protocol):
    """What the verdict reads of a week's report (report.WeekReport has it)."""

    week: date
    status: str
    execution: Execution | None
    polls: int | None
    failure: dict[str, Any] | None
    arrival: pd.DataFrame
    arrival_at_run: pd.DataFrame | None
    anomalies: pd.DataFrame
    run_end: datetime | None
    arrival_note: str
    check_arrival: dict[str, Any]

    @property
    def baseline_weeks_used(self) -> int: ...


def when(moment: datetime | None) -> str:
    """UTC and the schedule's zone side by side, labelled (opsbook.operations.display)."""
    from opsbook.operations.display import time_text

    return time_text(moment)


def _n(value: Any) -> str:
    return f"{int(value):,}"


def headline(report: VerdictInputs) -> str:
    """Yes / No / Not yet / Check, and why in a few words."""
    flagged = int(report.anomalies["anomaly"].sum()) if len(report.anomalies) else 0
    late = _arrived_after_run(report)
    if report.status == "SUCCEEDED":
        if late:
            return f"Check: loaded, but {_n(late)} rows arrived after the run (not loaded)"
        if flagged:
            return f"Check: loaded, but {flagged} day(s) outside the expected band"
        return "Yes: loaded, nothing unusual"
    if report.status in ("RUNNING", "PENDING"):
        return f"Not yet: {report.status}"
    if report.status == "MISSING":
        return "No: the week never ran"
    return f"No: {report.status}"


def verdict_markdown(report: VerdictInputs) -> str:
    """A short list: what happened, the data as of the run and now, when the check day's rows
    arrived, the anomaly check with the number of weeks it used, and the next step."""
    lines = [f"## Is this week OK? **{headline(report)}**", ""]
    fail = report.failure
    if fail:
        lines.append(
            f"- **What failed:** `{fail['state']}` with `{fail['error']}` at {when(fail['when'])}:"
            f" {cause_message(fail['cause']) or '(no cause)'}"
        )
    elif report.execution is not None:
        lines.append(
            f"- **Run:** {report.execution.name} {report.status}, {report.polls or 0} poll(s)"
        )
    check = report.check_arrival.get("check_date") or (
        report.arrival.loc[report.arrival["is_check_date"], "event_date"].iloc[0]
        if len(report.arrival)
        else None
    )
    now_total = int(report.arrival["rows"].sum()) if len(report.arrival) else 0
    now_check = _check_rows(report.arrival)
    if report.arrival_at_run is not None:
        run_total = int(report.arrival_at_run["rows"].sum())
        run_check = _check_rows(report.arrival_at_run)
        lines.append(
            f"- **The data as of the run** (ended {when(report.run_end)}): {_n(run_total)} rows"
            f" in the week; the check day {check} had {_n(run_check)} rows."
        )
        later = now_total - run_total
        lines.append(
            f"- **The data now:** {_n(now_total)} rows in the week; the check day has"
            f" {_n(now_check)} rows. "
            + (
                f"{_n(later)} rows arrived after the run ended."
                if later
                else "Nothing arrived since."
            )
        )
    else:
        lines.append(f"- **The data now:** {_n(now_total)} rows in the week; the check day"
                     f" {check} has {_n(now_check)} rows ({report.arrival_note}).")  # fmt: skip
    timing = report.check_arrival
    if timing:
        if timing.get("last_arrival") is not None:
            span = when(timing["last_arrival"])
            if timing["first_arrival"] != timing["last_arrival"]:
                span = f"{when(timing['first_arrival'])} to {span}"
            lines.append(
                f"- **The check day's rows arrived** {span}: {timing['verdict']} (scheduled run"
                f" {when(timing['scheduled_run'])}, polling deadline"
                f" {when(timing['polling_deadline'])})."
            )
        else:
            lines.append(f"- **The check day's rows:** {timing['verdict']}"
                         f" (polling deadline {when(timing['polling_deadline'])}).")  # fmt: skip
    used = report.baseline_weeks_used
    flagged = report.anomalies[report.anomalies["anomaly"]] if len(report.anomalies) else None
    from opsbook.reporting.charts import MIN_BASELINE_WEEKS

    if used < MIN_BASELINE_WEEKS:
        lines.append(
            f"- **Anomalies:** not checked: {used} earlier week(s) with data, at least"
            f" {MIN_BASELINE_WEEKS} needed."
        )
    else:
        count = 0 if flagged is None else len(flagged)
        lines.append(
            f"- **Anomalies:** {count} day(s) outside mean ± 3σ of the same weekday over"
            f" {used} earlier weeks."
        )
    if report.status not in ("SUCCEEDED", "RUNNING", "PENDING"):
        lines.append(
            f"- **Next:** `opsbook rerun --since {report.week} --until {report.week} --dry-run`"
            " shows the plan; the console's Rerun button does the same."
        )
    return "\n".join(lines)


def _arrived_after_run(report: VerdictInputs) -> int:
    if report.arrival_at_run is None or not len(report.arrival):
        return 0
    return int(report.arrival["rows"].sum()) - int(report.arrival_at_run["rows"].sum())


def _check_rows(frame: pd.DataFrame) -> int:
    if "is_check_date" not in frame:
        return 0
    mine = frame.loc[frame["is_check_date"], "rows"]
    return int(mine.iloc[0]) if len(mine) else 0


__all__ = ["headline", "verdict_markdown", "when"]
