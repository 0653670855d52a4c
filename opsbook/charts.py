"""The weekly report's data and pictures, as plain functions the notebook calls.

Queries are BigQuery SQL run through `backend.warehouse()`, so the same cell works on DuckDB
offline and on BigQuery. Charts are matplotlib figures, which nbconvert embeds as PNG.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from opsbook.config import Config
from opsbook.warehouse import render_template
from opsbook.weeks import week_dates

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
    text = (cfg.definitions_dir / "sql" / "weekly_summary.sql").read_text()
    since = week - timedelta(weeks=lookback_weeks)
    frame = warehouse.query(_sql(text, cfg), {"since": since, "until": week})
    if len(frame):
        frame = frame.assign(week=pd.to_datetime(frame["week"]).dt.date)
    return frame


def notifications(events: pd.DataFrame) -> pd.DataFrame:
    """The Slack messages an execution sent: one row per notify task, from its history."""
    rows = []
    scheduled = events[events["type"].isin(["TaskScheduled", "LambdaFunctionScheduled"])]
    for _, event in scheduled.iterrows():
        state = event.get("state") or ""
        if not str(state).startswith(NOTIFY_STATES_PREFIX):
            continue
        text = _payload_text(event.get("input"))
        rows.append({"timestamp": event["timestamp"], "state": state, "text": text})
    return pd.DataFrame(rows, columns=["timestamp", "state", "text"])


def _payload_text(value: Any) -> str | None:
    # TaskScheduled input is {"FunctionName":..,"Payload":{..}}; LambdaFunctionScheduled is the payload.
    if isinstance(value, dict):
        parameters = value.get("parameters", value)
        if isinstance(parameters, dict):
            payload = parameters.get("Payload", parameters)
            if isinstance(payload, dict):
                return payload.get("text")
    return None


def gantt(timeline: pd.DataFrame, title: str = "State durations"):
    """A Gantt chart of state visits (one bar per visit, retries shaded darker)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.35 * len(timeline) + 1)))
    if timeline.empty:
        ax.text(0.5, 0.5, "no state visits", ha="center", va="center")
        ax.set_axis_off()
        return fig
    start = pd.to_datetime(timeline["entered"]).min()
    entered = (pd.to_datetime(timeline["entered"]) - start).dt.total_seconds() / 60
    exited = pd.to_datetime(timeline["exited"]).fillna(pd.to_datetime(timeline["entered"]))
    width = ((exited - start).dt.total_seconds() / 60 - entered).clip(lower=0.05)
    states = list(dict.fromkeys(timeline["state"]))
    y = [states.index(s) for s in timeline["state"]]
    colors = ["#c62828" if s == "FAILED" else "#2e7d32" for s in timeline.get("status", [])]
    ax.barh(y, width, left=entered, color=colors or "#2e7d32", height=0.6)
    ax.set_yticks(range(len(states)), states)
    ax.invert_yaxis()
    ax.set_xlabel("minutes since the execution started")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def arrival_chart(arrival: pd.DataFrame, anomalies_frame: pd.DataFrame | None = None):
    """Bar chart of rows per day; the check date outlined, anomalous days red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
    flagged = set()
    if anomalies_frame is not None and len(anomalies_frame):
        flagged = set(anomalies_frame.loc[anomalies_frame["anomaly"], "event_date"])
    colors = ["#c62828" if d in flagged else "#1565c0" for d in arrival["event_date"]]
    labels = [f"{d:%m-%d}\n{w}" for d, w in zip(arrival["event_date"], arrival["weekday"], strict=True)]
    bars = ax.bar(labels, arrival["events"], color=colors)
    for bar, is_check in zip(bars, arrival["is_check_date"], strict=True):
        if is_check:
            bar.set_edgecolor("black")
            bar.set_linewidth(2)
    ax.set_ylabel("rows")
    ax.set_title("Data arrival per day (outlined: the day the run checked; red: anomaly)")
    fig.tight_layout()
    return fig


def week_over_week_chart(summary: pd.DataFrame):
    """Events per loaded week, with the week-over-week change as labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2))
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
    fig.tight_layout()
    return fig
