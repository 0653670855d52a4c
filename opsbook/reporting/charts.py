"""The weekly report's data and pictures, as plain functions the notebook calls.

Queries are BigQuery SQL run through `backend.warehouse()`, so the same cell works on DuckDB
offline and on BigQuery. Charts are matplotlib figures, which nbconvert embeds as PNG.

"Rows" means one thing throughout: rows of the source table (one per event), counted per day
(`rows`), per week, or as loaded into weekly_summary (whose `events` column counts them).
"As of" a moment counts only rows whose `arrival_ts` is at or before it (rows without one are
taken as having been there all along).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
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
MIN_BASELINE_WEEKS = 4  # fewer earlier partitions than this: no expected band, no flags
ARRIVAL_COLUMN = "arrival_ts"
NOTIFY_STATES_PREFIX = "Notify"

DAILY_COUNTS_SQL = """
SELECT event_date, COUNT(*) AS n_rows, COUNT(DISTINCT user_id) AS users, SUM(amount) AS amount
FROM {{source}}
WHERE event_date BETWEEN @since AND @until{as_of}
GROUP BY event_date
ORDER BY event_date
"""
AS_OF_FILTER = " AND (arrival_ts IS NULL OR arrival_ts <= @as_of)"
CHECK_DAY_ARRIVAL_SQL = """
SELECT COUNT(*) AS n_rows, MIN(arrival_ts) AS first_arrival, MAX(arrival_ts) AS last_arrival
FROM {{source}}
WHERE event_date = @day
"""


def _sql(text: str, cfg: Config) -> str:
    return render_template(
        text,
        project=cfg.bq_project,
        dataset=cfg.dataset,
        source=cfg.source_table,
        target=cfg.target_table,
    )


def daily_counts(
    warehouse: Any, cfg: Config, since: date, until: date, as_of: datetime | None = None
) -> pd.DataFrame:
    """Rows per day in the source table, with a row (0) for every day that has none; with
    `as_of`, only the rows that had arrived by then."""
    params: dict[str, Any] = {"since": since, "until": until}
    text = DAILY_COUNTS_SQL.replace("{as_of}", AS_OF_FILTER if as_of is not None else "")
    if as_of is not None:
        params["as_of"] = as_of
    found = warehouse.query(_sql(text, cfg), params).rename(columns={"n_rows": "rows"})
    days = pd.DataFrame({"event_date": pd.date_range(since, until, freq="D").date})
    if len(found):
        found = found.assign(event_date=pd.to_datetime(found["event_date"]).dt.date)
    merged = days.merge(found, on="event_date", how="left")
    for column in ("rows", "users"):
        merged[column] = pd.to_numeric(merged.get(column), errors="coerce").fillna(0).astype(int)
    merged["amount"] = pd.to_numeric(merged.get("amount"), errors="coerce").fillna(0.0)
    return merged


def arrival_per_day(
    warehouse: Any, cfg: Config, week: date, as_of: datetime | None = None
) -> pd.DataFrame:
    """The week's seven days with their row counts (as of `as_of` when given); `is_check_date`
    marks the day the run waited for."""
    dates = week_dates(week)
    frame = daily_counts(warehouse, cfg, dates.week_start, dates.week_end, as_of)
    frame["weekday"] = [d.strftime("%a") for d in frame["event_date"]]
    frame["is_check_date"] = frame["event_date"] == dates.check_date
    return frame


def check_day_arrival(warehouse: Any, cfg: Config, week: date) -> dict[str, Any]:
    """When the check day's rows arrived, against the scheduled run and the polling deadline
    (the run fires at 09:30 Tokyo and gives up after max_polls waits of poll_seconds)."""
    from opsbook.operations.history import fire_time

    dates = week_dates(week)
    found = warehouse.query(_sql(CHECK_DAY_ARRIVAL_SQL, cfg), {"day": dates.check_date})
    scheduled = fire_time(week)
    deadline = scheduled + timedelta(seconds=cfg.poll_seconds * cfg.max_polls)
    row = found.iloc[0] if len(found) else {}
    first, last = (_instant(row.get(k)) for k in ("first_arrival", "last_arrival"))
    if last is None:
        verdict = "no arrival times recorded" if int(row.get("n_rows") or 0) else "not arrived"
    elif last <= scheduled:
        verdict = "before the scheduled run"
    elif last <= deadline:
        verdict = "while the run was polling"
    else:
        verdict = "after the polling deadline"
    return {
        "check_date": dates.check_date,
        "rows": int(row.get("n_rows") or 0),
        "first_arrival": first,
        "last_arrival": last,
        "scheduled_run": scheduled,
        "polling_deadline": deadline,
        "verdict": verdict,
    }


def _instant(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    moment = pd.Timestamp(value)
    return (moment if moment.tzinfo else moment.tz_localize("UTC")).to_pydatetime()


def anomalies(
    warehouse: Any,
    cfg: Config,
    week: date,
    baseline_weeks: int = BASELINE_WEEKS,
    sigmas: float = ANOMALY_SIGMAS,
    min_weeks: int = MIN_BASELINE_WEEKS,
) -> pd.DataFrame:
    """Days of the week whose count lies outside mean ± sigmas·σ of the same weekday over the
    previous `baseline_weeks` weeks (same weekday, because traffic has a weekly rhythm).

    Only earlier weeks that have data count (`baseline_weeks_used`); with fewer than
    `min_weeks` of them a day gets no band (`low`/`high` NaN) and is never flagged."""
    dates = week_dates(week)
    first = dates.week_start - timedelta(weeks=baseline_weeks)
    counts = daily_counts(warehouse, cfg, first, dates.week_end)
    counts["offset"] = [(d - dates.week_start).days for d in counts["event_date"]]
    current = counts[counts["offset"] >= 0]
    history = counts[counts["offset"] < 0]
    # Days before the table's first row are "no data yet", not zero traffic.
    has_rows = history[history["rows"] > 0]
    if len(has_rows):
        history = history[history["offset"] >= has_rows["offset"].min()]
    else:
        history = history.iloc[0:0]
    rows = []
    for _, day in current.iterrows():
        same_weekday = history[history["offset"] % 7 == day["offset"] % 7]["rows"]
        used = len(same_weekday)
        mean = float(same_weekday.mean()) if used else float("nan")
        std = float(same_weekday.std(ddof=0)) if used else float("nan")
        low, high = mean - sigmas * std, mean + sigmas * std
        if used < min_weeks:
            low = high = float("nan")
        flagged = used >= min_weeks and not (low <= day["rows"] <= high)
        rows.append(
            {
                "event_date": day["event_date"],
                "rows": int(day["rows"]),
                "baseline_weeks_used": used,
                "baseline_mean": round(mean, 1),
                "baseline_std": round(std, 1),
                "low": round(low, 1),
                "high": round(high, 1),
                "anomaly": flagged,
            }
        )
    columns = [
        "event_date", "rows", "baseline_weeks_used", "baseline_mean", "baseline_std",
        "low", "high", "anomaly",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def week_over_week(warehouse: Any, cfg: Config, week: date, lookback_weeks: int) -> pd.DataFrame:
    """The loaded weekly_summary for `week` and the `lookback_weeks` weeks before it; the SQL's
    `events` columns are named `rows` here (they count source rows)."""
    from opsbook.workflows.registry import get_workflow

    text = (get_workflow(cfg).sql_dir / "weekly_summary.sql").read_text()
    since = week - timedelta(weeks=lookback_weeks)
    frame = warehouse.query(_sql(text, cfg), {"since": since, "until": week})
    if len(frame):
        frame = frame.assign(week=pd.to_datetime(frame["week"]).dt.date)
    return frame.rename(columns=lambda c: c.replace("events", "rows"))


def expected_band(
    summary: pd.DataFrame,
    week: date,
    sigmas: float = ANOMALY_SIGMAS,
    min_weeks: int = MIN_BASELINE_WEEKS,
) -> dict[str, Any]:
    """The expected rows loaded for `week`: mean ± sigmas·σ of the loaded weeks before it.
    `low`/`high` are None with fewer than `min_weeks` earlier weeks; `weeks_used` says how many."""
    earlier = summary[summary["week"] < week] if len(summary) else summary
    values = pd.to_numeric(earlier.get("rows", pd.Series(dtype=float)), errors="coerce").dropna()
    used = len(values)
    if used < min_weeks:
        return {"weeks_used": used, "mean": None, "low": None, "high": None}
    mean, std = float(values.mean()), float(values.std(ddof=0))
    return {
        "weeks_used": used,
        "mean": round(mean, 1),
        "low": round(mean - sigmas * std, 1),
        "high": round(mean + sigmas * std, 1),
    }


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


def arrival_chart(
    arrival: pd.DataFrame,
    anomalies_frame: pd.DataFrame | None = None,
    at_run: pd.DataFrame | None = None,
) -> Figure:
    """Rows per day: as of the run (light) beside as of now (dark), the expected band (grey,
    mean ± 3σ of the same weekday) where the baseline is long enough; the check day outlined,
    anomalous days red."""
    import numpy as np

    fig = Figure(figsize=(8.5, 3.4), layout="constrained")
    ax = fig.subplots()
    flagged: set = set()
    band = None
    if anomalies_frame is not None and len(anomalies_frame):
        flagged = set(anomalies_frame.loc[anomalies_frame["anomaly"], "event_date"])
        band = anomalies_frame.set_index("event_date")
    x = np.arange(len(arrival))
    labels = [
        f"{d:%m-%d}\n{w}" for d, w in zip(arrival["event_date"], arrival["weekday"], strict=True)
    ]
    if band is not None:
        for i, day in enumerate(arrival["event_date"]):
            low, high = band.at[day, "low"], band.at[day, "high"]
            if pd.notna(low) and pd.notna(high):
                ax.add_patch(
                    _band_patch(i - 0.45, max(low, 0), 0.9, high - max(low, 0)),
                )
    width = 0.4 if at_run is not None else 0.8
    if at_run is not None:
        ax.bar(x - width / 2, at_run["rows"], width, color="#90caf9", label="as of the run")
    colors = ["#c62828" if d in flagged else "#1565c0" for d in arrival["event_date"]]
    bars = ax.bar(
        x + (width / 2 if at_run is not None else 0), arrival["rows"], width,
        color=colors, label="as of now",
    )  # fmt: skip
    for bar, is_check in zip(bars, arrival["is_check_date"], strict=True):
        if is_check:
            bar.set_edgecolor("black")
            bar.set_linewidth(2)
    ax.set_xticks(x, labels)
    ax.set_ylabel("rows")
    title = "Rows per day"
    if band is not None and band["low"].notna().any():
        ax.add_patch(_band_patch(0, 0, 0, 0, label="expected (mean ± 3σ)"))
    else:
        title += " (no expected band: fewer than 4 earlier weeks)"
    ax.set_title(title + "; outlined: the check day; red: anomaly", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _band_patch(x: float, y: float, width: float, height: float, label: str | None = None):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), width, height, color="#bdbdbd", alpha=0.5, zorder=0, label=label)


def arrival_timing_chart(timing: dict[str, Any], tz: Any = None) -> Figure:
    """When the check day's rows arrived, against the scheduled run and the polling deadline."""
    from matplotlib import dates as mdates

    from opsbook.operations.history import FIRE_TZ

    tz = tz or FIRE_TZ
    fig = Figure(figsize=(8.5, 2.3), layout="constrained")
    ax = fig.subplots()
    run, deadline = timing["scheduled_run"], timing["polling_deadline"]
    first, last = timing["first_arrival"], timing["last_arrival"]
    ax.axvspan(run, deadline, color="#e3f2fd", label="polling window")
    ax.axvline(run, color="#1565c0", lw=2, label=f"scheduled run {run.astimezone(tz):%H:%M}")
    ax.axvline(
        deadline, color="#c62828", lw=2, ls="--", label=f"deadline {deadline.astimezone(tz):%H:%M}"
    )
    if first is not None and last is not None:
        span = f"{first.astimezone(tz):%H:%M}"
        if last != first:
            span += f"–{last.astimezone(tz):%H:%M}"
        ax.plot([first, last], [0.3, 0.3], color="#2e7d32", lw=8, solid_capstyle="butt")
        ax.plot([last], [0.3], marker="D", color="#2e7d32", markersize=9, ls="none",
                label=f"rows arrived {span}")  # fmt: skip
        left = min(first, run) - timedelta(minutes=30)
        right = max(last, deadline) + timedelta(minutes=30)
    else:
        left, right = run - timedelta(minutes=30), deadline + timedelta(minutes=30)
    ax.set_xlim(left, right)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    hours = (right - left).total_seconds() / 3600
    ax.xaxis.set_major_locator(mdates.HourLocator(interval=max(1, math.ceil(hours / 7)), tz=tz))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=tz))
    ax.set_xlabel(f"{run.astimezone(tz):%Y-%m-%d}, {tz} time")
    ax.set_title(f"The check day's ({timing['check_date']}) rows: {timing['verdict']}", fontsize=10)
    ax.legend(loc="upper left", ncol=2, fontsize=8)
    return fig


def week_over_week_chart(
    summary: pd.DataFrame, band: dict[str, Any] | None = None, week: date | None = None
) -> Figure:
    """Rows loaded per week (weekly_summary), with the expected band of the report's week."""
    fig = Figure(figsize=(8.5, 3.2), layout="constrained")
    ax = fig.subplots()
    if summary.empty:
        ax.text(0.5, 0.5, "no loaded weeks in range", ha="center", va="center")
        ax.set_axis_off()
        return fig
    weeks = [f"{w:%m-%d}" for w in summary["week"]]
    rows = pd.to_numeric(summary["rows"], errors="coerce").fillna(0)
    if band and band.get("low") is not None:
        ax.axhspan(
            band["low"], band["high"], color="#bdbdbd", alpha=0.5,
            label=f"expected (mean ± 3σ of {band['weeks_used']} earlier weeks)",
        )  # fmt: skip
    ax.plot(weeks, rows, marker="o", color="#1565c0", label="rows loaded")
    if week is not None and week in set(summary["week"]):
        at = list(summary["week"]).index(week)
        ax.plot([weeks[at]], [rows.iloc[at]], marker="o", markersize=11, color="#1565c0",
                markerfacecolor="none")  # fmt: skip
    ax.set_ylabel("rows loaded")
    ax.set_xlabel("week (Thursday)")
    title = "Week over week: rows loaded into weekly_summary"
    if band is not None and band.get("low") is None:
        title += f" (no expected band: {band['weeks_used']} earlier weeks, needs 4)"
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
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
