"""The weekly report's data and pictures, as plain functions the notebook calls.

Queries are BigQuery SQL run through `backend.warehouse()`, so the same cell works on DuckDB
offline and on BigQuery. Charts are matplotlib figures, which nbconvert embeds as PNG.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from opsbook.config import Config
from opsbook.warehouse import render_template
from opsbook.workflows.schedules import week_dates

# Week and execution statuses as colours (background, text), shared by reports and widgets.
STATUS_COLORS = {
    "SUCCEEDED": ("#2e7d32", "white"),
    "FAILED": ("#c62828", "white"),
    "TIMED_OUT": ("#e65100", "white"),
    "ABORTED": ("#6d4c41", "white"),
    "RUNNING": ("#1565c0", "white"),
    "PENDING_REDRIVE": ("#1565c0", "white"),
    "MISSING": ("#f9a825", "black"),
    "PENDING": ("#e0e0e0", "black"),
    "ERROR": ("#880e4f", "white"),
}
ANOMALY_SIGMAS = 3.0
BASELINE_WEEKS = 8
NOTIFY_STATES_PREFIX = "Notify"

DAILY_COUNTS_SQL = """
SELECT event_date, COUNT(*) AS events, COUNT(DISTINCT user_id) AS users, SUM(amount) AS amount
FROM {{source}}
WHERE event_date BETWEEN @since AND @until
GROUP BY event_date
ORDER BY event_date
"""


def _sql(text: str, cfg: Config) -> str:
    return render_template(
        text,
        project=cfg.bq_project,
        dataset=cfg.dataset,
        source=cfg.source_table,
        target=cfg.target_table,
    )


def daily_counts(warehouse: Any, cfg: Config, since: date, until: date) -> pd.DataFrame:
    """Rows per day in the source table, with a row (0) for every day that has none."""
    found = warehouse.query(_sql(DAILY_COUNTS_SQL, cfg), {"since": since, "until": until})
    days = pd.DataFrame({"event_date": pd.date_range(since, until, freq="D").date})
    if len(found):
        found = found.assign(event_date=pd.to_datetime(found["event_date"]).dt.date)
    merged = days.merge(found, on="event_date", how="left")
    for column in ("events", "users"):
        merged[column] = pd.to_numeric(merged.get(column), errors="coerce").fillna(0).astype(int)
    merged["amount"] = pd.to_numeric(merged.get("amount"), errors="coerce").fillna(0.0)
    return merged


def arrival_per_day(warehouse: Any, cfg: Config, week: date) -> pd.DataFrame:
    """The week's seven days with their row counts; `is_check_date` marks the day the run waited for."""
    dates = week_dates(week)
    frame = daily_counts(warehouse, cfg, dates.week_start, dates.week_end)
    frame["weekday"] = [d.strftime("%a") for d in frame["event_date"]]
    frame["is_check_date"] = frame["event_date"] == dates.check_date
    return frame


def anomalies(
    warehouse: Any,
    cfg: Config,
    week: date,
    baseline_weeks: int = BASELINE_WEEKS,
    sigmas: float = ANOMALY_SIGMAS,
) -> pd.DataFrame:
    """Days of the week whose count lies outside mean ± sigmas·σ of the same weekday over the
    previous `baseline_weeks` weeks (same weekday, because traffic has a weekly rhythm)."""
    dates = week_dates(week)
    first = dates.week_start - timedelta(weeks=baseline_weeks)
    counts = daily_counts(warehouse, cfg, first, dates.week_end)
    counts["offset"] = [(d - dates.week_start).days for d in counts["event_date"]]
    current = counts[counts["offset"] >= 0]
    history = counts[counts["offset"] < 0]
    # Days before the table's first row are "no data yet", not zero traffic.
    has_rows = history[history["events"] > 0]
    if len(has_rows):
        history = history[history["offset"] >= has_rows["offset"].min()]
    else:
        history = history.iloc[0:0]
    rows = []
    for _, day in current.iterrows():
        same_weekday = history[history["offset"] % 7 == day["offset"] % 7]["events"]
        mean = float(same_weekday.mean()) if len(same_weekday) else float("nan")
        std = float(same_weekday.std(ddof=0)) if len(same_weekday) else float("nan")
        low, high = mean - sigmas * std, mean + sigmas * std
        flagged = bool(len(same_weekday)) and not (low <= day["events"] <= high)
        rows.append(
            {
                "event_date": day["event_date"],
                "events": int(day["events"]),
                "baseline_mean": round(mean, 1),
                "baseline_std": round(std, 1),
                "low": round(low, 1),
                "high": round(high, 1),
                "anomaly": flagged,
            }
        )
    return pd.DataFrame(rows)


def week_over_week(warehouse: Any, cfg: Config, week: date, lookback_weeks: int) -> pd.DataFrame:
    """The loaded weekly_summary for `week` and the `lookback_weeks` weeks before it."""
    from opsbook.workflows.registry import get_workflow

    text = (get_workflow(cfg).sql_dir / "weekly_summary.sql").read_text()
    since = week - timedelta(weeks=lookback_weeks)
    frame = warehouse.query(_sql(text, cfg), {"since": since, "until": week})
    if len(frame):
        frame = frame.assign(week=pd.to_datetime(frame["week"]).dt.date)
    return frame


def notifications(events: pd.DataFrame | None) -> pd.DataFrame:
    """The Slack messages an execution sent: one row per notify task attempt, from its history
    (events_frame shape). `sent` is False when the notify Lambda failed or timed out."""
    columns = ["timestamp", "state", "text", "sent"]
    if events is None or events.empty:
        return pd.DataFrame(columns=columns)
    rows: list[dict[str, Any]] = []
    pending: dict[str, Any] | None = None
    for event in events.to_dict("records"):
        kind = event.get("type")
        if kind in ("TaskScheduled", "LambdaFunctionScheduled"):
            state = str(event.get("state") or "")
            pending = None
            if state.startswith(NOTIFY_STATES_PREFIX):
                pending = {
                    "timestamp": event["timestamp"],
                    "state": state,
                    "text": _payload_text(event.get("input")),
                    "sent": None,
                }
                rows.append(pending)
        elif pending is not None and kind in _TASK_OUTCOMES:
            pending["sent"] = _TASK_OUTCOMES[kind]
            pending = None
    return pd.DataFrame(rows, columns=columns)


_TASK_OUTCOMES = {
    "TaskSucceeded": True,
    "LambdaFunctionSucceeded": True,
    "TaskFailed": False,
    "TaskTimedOut": False,
    "LambdaFunctionFailed": False,
    "LambdaFunctionTimedOut": False,
    "LambdaFunctionStartFailed": False,
    "TaskStartFailed": False,
}


def _payload_text(value: Any) -> str | None:
    # TaskScheduled input is {"FunctionName":..,"Payload":{..}}; LambdaFunctionScheduled is the payload.
    if isinstance(value, dict):
        parameters = value.get("parameters", value)
        if isinstance(parameters, dict):
            payload = parameters.get("Payload", parameters)
            if isinstance(payload, dict):
                return payload.get("text")
    return None


def gantt(timeline: pd.DataFrame, title: str = "State durations") -> Figure:
    """A Gantt chart of state visits: one row per state, one bar per visit. Waits are light
    blue, retried tasks dark green, the visit the execution failed in red."""
    states = list(dict.fromkeys(timeline["state"])) if len(timeline) else []
    fig = Figure(figsize=(9, max(2.5, 0.32 * len(states) + 1.2)), layout="constrained")
    ax = fig.subplots()
    if timeline.empty:
        ax.text(0.5, 0.5, "no state visits (no execution for this week)", ha="center", va="center")
        ax.set_axis_off()
        return fig
    entered_at = pd.to_datetime(timeline["entered"], utc=True)
    exited_at = pd.to_datetime(timeline["exited"], utc=True).fillna(entered_at)
    start = entered_at.min()
    left = (entered_at - start).dt.total_seconds() / 60
    # Instant states still get a sliver, so the path stays visible.
    width = ((exited_at - start).dt.total_seconds() / 60 - left).clip(lower=0.3)
    y = [states.index(s) for s in timeline["state"]]
    ax.barh(
        y,
        width,
        left=left,
        color=[_gantt_color(r) for r in timeline.to_dict("records")],
        height=0.6,
    )
    ax.set_yticks(range(len(states)), states, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("minutes since the execution started")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _gantt_color(visit: dict[str, Any]) -> str:
    if visit.get("status") in ("FAILED", "TIMED_OUT", "ABORTED"):
        return "#c62828"
    if visit.get("type") == "Wait":
        return "#90caf9"
    if (visit.get("retries") or 0) > 0:
        return "#1b5e20"
    return "#43a047"


def arrival_chart(arrival: pd.DataFrame, anomalies_frame: pd.DataFrame | None = None) -> Figure:
    """Bar chart of rows per day; the check date outlined, anomalous days red."""
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.subplots()
    flagged = set()
    if anomalies_frame is not None and len(anomalies_frame):
        flagged = set(anomalies_frame.loc[anomalies_frame["anomaly"], "event_date"])
    colors = ["#c62828" if d in flagged else "#1565c0" for d in arrival["event_date"]]
    labels = [
        f"{d:%m-%d}\n{w}" for d, w in zip(arrival["event_date"], arrival["weekday"], strict=True)
    ]
    bars = ax.bar(labels, arrival["events"], color=colors)
    for bar, is_check in zip(bars, arrival["is_check_date"], strict=True):
        if is_check:
            bar.set_edgecolor("black")
            bar.set_linewidth(2)
    ax.set_ylabel("rows")
    ax.set_title("Data arrival per day (outlined: the day the run checked; red: anomaly)")
    return fig


def week_over_week_chart(summary: pd.DataFrame) -> Figure:
    """Events per loaded week, with the week-over-week change as labels."""
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.subplots()
    if summary.empty:
        ax.text(0.5, 0.5, "no loaded weeks in range", ha="center", va="center")
        ax.set_axis_off()
        return fig
    weeks = [f"{w:%m-%d}" for w in summary["week"]]
    events = pd.to_numeric(summary["events"], errors="coerce").fillna(0)
    ax.plot(weeks, events, marker="o", color="#1565c0")
    ax.set_ylabel("events loaded")
    ax.set_xlabel("week (Thursday)")
    ax.set_title("Week over week: weekly_summary")
    ax.grid(alpha=0.3)
    return fig


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a figure (no pyplot, so no global state and no backend switch in a kernel)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def status_css(value: Any) -> str:
    """CSS for a status cell (pandas Styler.map)."""
    colors = STATUS_COLORS.get(str(value))
    return f"background-color: {colors[0]}; color: {colors[1]}; font-weight: bold" if colors else ""


def styled(frame: pd.DataFrame, columns: tuple[str, ...] = ("status",)):
    """A Styler that colours status columns; plain tables otherwise (and when empty)."""
    present = [c for c in columns if c in frame.columns]
    style = frame.style.hide(axis="index").format(na_rep="")
    return style.map(status_css, subset=present) if present and len(frame) else style
