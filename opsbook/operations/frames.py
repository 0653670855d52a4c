"""Histories as pandas DataFrames: events, timeline (one row per state visit), failure,
executions; JSON-ready records and the one duration format. Pure functions of their input."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from opsbook.backends.base import (
    ABORTED,
    FAILED,
    PENDING_REDRIVE,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    Execution,
)
from opsbook.masking import REDACTED  # noqa: E402 - re-exported as history.REDACTED

# Default state names of the polling loop, used when the definition cannot be read.


END_EVENTS = {
    "ExecutionSucceeded": SUCCEEDED,
    "ExecutionFailed": FAILED,
    "ExecutionTimedOut": TIMED_OUT,
    "ExecutionAborted": ABORTED,
}


TASK_ATTEMPT_EVENTS = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")


EXECUTION_COLUMNS = [
    "name", "arn", "partition", "status", "start_date", "stop_date", "duration",
    "redrive_count", "redrive_date", "version_arn", "error", "cause",
]  # fmt: skip


EVENT_COLUMNS = [
    "id", "previous_id", "timestamp", "type", "state", "elapsed",
    "input", "output", "error", "cause",
]  # fmt: skip


TIMELINE_COLUMNS = [
    "state", "type", "entered", "exited", "duration", "attempt", "retries",
    "visit", "redrive", "status",
]  # fmt: skip


FAILURE_COLUMNS = [
    "execution", "status", "state", "state_type", "error", "cause",
    "error_type", "error_message", "timestamp",
]  # fmt: skip


WEEK_COLUMNS = [
    "week", "status", "attempts", "execution", "execution_arn", "start_date", "stop_date",
    "duration", "polls", "redrive_count", "error", "cause",
]  # fmt: skip


def decode(value: Any) -> Any:
    """JSON strings decoded; anything else as is."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[", '"') or text in ("true", "false", "null") or is_number(text):
            try:
                return json.loads(text)
            except ValueError:
                return value
    return value


def is_number(text: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text))


def redactor(patterns: Iterable[str], secrets: Iterable[str | None] = ()):
    """A function that masks the secret patterns, the given secrets (and their token parts)
    and webhook-looking URLs in a decoded JSON value (opsbook.masking)."""
    from opsbook.masking import masker

    return masker(secrets, patterns, marker=REDACTED)


def event_details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def timestamp_of(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def frame(
    rows: list[dict[str, Any]], columns: list[str], dates: Iterable[str] = ()
) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    for col in dates:
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


def closed_time(execution: Execution, events: list[dict[str, Any]]) -> datetime | None:
    """When a closed execution stopped: its stop date, else its history's last event (some
    endpoints leave stopDate out, e.g. moto for TIMED_OUT)."""
    if not execution.closed:
        return None
    if execution.stop_date is not None:
        return execution.stop_date
    return timestamp_of(events[-1].get("timestamp")) if history_closed(events) else None


def history_closed(events: list[dict[str, Any]]) -> bool:
    """The history ends with the execution's end (so it is safe to cache)."""
    return bool(events) and events[-1].get("type") in END_EVENTS


def cause_text(fail: pd.Series) -> str | None:
    """A one-line failure cause: the Lambda error message when there is one."""
    if fail.get("error_message"):
        return str(fail["error_message"])
    cause = fail.get("cause")
    if cause is None:
        return None
    return cause if isinstance(cause, str) else json.dumps(cause, ensure_ascii=False)


def events_frame(events: list[dict[str, Any]], redact=None) -> pd.DataFrame:
    """One row per history event, JSON decoded and secrets redacted."""
    redact = redact or (lambda v: v)
    rows = []
    start = timestamp_of(events[0].get("timestamp")) if events else None
    current: str | None = None
    for e in events:
        kind = str(e.get("type", ""))
        details = event_details(e)
        state = current
        if kind.endswith("StateEntered"):
            current = state = details.get("name")
        elif kind.endswith("StateExited"):
            state = details.get("name")
            current = None
        ts = timestamp_of(e.get("timestamp"))
        raw_input = details.get("input", details.get("parameters"))
        rows.append(
            {
                "id": e.get("id"),
                "previous_id": e.get("previousEventId"),
                "timestamp": ts,
                "type": kind,
                "state": state,
                "elapsed": seconds_between(start, ts),
                "input": redact(decode(raw_input)),
                "output": redact(decode(details.get("output"))),
                "error": redact(details.get("error")),
                "cause": redact(decode(details.get("cause"))),
            }
        )
    df = frame(rows, EVENT_COLUMNS, dates=("timestamp",))
    for col in ("id", "previous_id"):
        df[col] = df[col].astype("Int64")
    return df


def timeline_frame(events: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per state visit, with task attempts (1 + retries) and the redrive it ran in."""
    rows: list[dict[str, Any]] = []
    open_visits: list[dict[str, Any]] = []
    visits: dict[str, int] = {}
    redrive = 0
    for e in events:
        kind = str(e.get("type", ""))
        details = event_details(e)
        ts = timestamp_of(e.get("timestamp"))
        if kind == "ExecutionRedriven":
            redrive += 1
        elif kind.endswith("StateEntered"):
            name = str(details.get("name"))
            visits[name] = visits.get(name, 0) + 1
            visit = {
                "state": name,
                "type": kind[: -len("StateEntered")],
                "entered": ts,
                "exited": None,
                "attempt": 0,
                "visit": visits[name],
                "redrive": redrive,
                "status": RUNNING,
            }
            rows.append(visit)
            open_visits.append(visit)
        elif kind.endswith("StateExited"):
            exited = details.get("name")
            for visit in reversed(open_visits):
                if visit["state"] == exited:
                    visit.update(exited=ts, status=SUCCEEDED)
                    open_visits.remove(visit)
                    break
        elif kind in TASK_ATTEMPT_EVENTS and open_visits:
            open_visits[-1]["attempt"] += 1
        elif kind in END_EVENTS:
            for visit in open_visits:
                visit.update(exited=ts, status=END_EVENTS[kind])
            open_visits = []
    for row in rows:
        row["attempt"] = max(1, row["attempt"])
        row["retries"] = row["attempt"] - 1
        row["duration"] = seconds_between(row["entered"], row["exited"])
    return frame(rows, TIMELINE_COLUMNS, dates=("entered", "exited"))


def failed_state(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(name, type) of the state the execution was in when it last ended unsuccessfully."""
    current: tuple[str | None, str | None] = (None, None)
    failed: tuple[str | None, str | None] = (None, None)
    for e in events:
        kind = str(e.get("type", ""))
        if kind.endswith("StateEntered"):
            current = (event_details(e).get("name"), kind[: -len("StateEntered")])
        elif kind.endswith("StateExited"):
            current = (None, None)
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            failed = current
        elif kind == "ExecutionSucceeded":
            failed = (None, None)
    return failed


def failure_frame(execution: Execution, events: list[dict[str, Any]], redact=None) -> pd.DataFrame:
    """The failed state, error and cause of an unsuccessful execution (no rows otherwise)."""
    redact = redact or (lambda v: v)
    end = None
    for e in events:
        if e.get("type") in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            end = e
        elif e.get("type") == "ExecutionSucceeded":
            end = None
    if end is None and execution.status in (SUCCEEDED, RUNNING, PENDING_REDRIVE):
        return frame([], FAILURE_COLUMNS, dates=("timestamp",))
    details = event_details(end) if end else {}
    error = details.get("error", execution.error)
    if error is None and end is not None and end.get("type") == "ExecutionTimedOut":
        error = "States.Timeout"  # what AWS reports; some endpoints leave the details out
    cause = redact(decode(details.get("cause", execution.cause)))
    state, state_type = failed_state(events)
    error_type = error_message = None
    if isinstance(cause, dict) and ("errorMessage" in cause or "errorType" in cause):
        error_type, error_message = cause.get("errorType"), cause.get("errorMessage")
    row = {
        "execution": execution.name,
        "status": END_EVENTS.get(str(end.get("type"))) if end else execution.status,
        "state": state,
        "state_type": state_type,
        "error": redact(error),
        "cause": cause,
        "error_type": error_type,
        "error_message": error_message,
        "timestamp": timestamp_of(end.get("timestamp")) if end else execution.stop_date,
    }
    return frame([row], FAILURE_COLUMNS, dates=("timestamp",))


def executions_frame(listed: Iterable[Execution]) -> pd.DataFrame:
    """One row per execution, in the given order (EXECUTION_COLUMNS)."""
    rows = []
    for ex in listed:
        rows.append(
            {
                "name": ex.name,
                "arn": ex.arn,
                "partition": ex.partition,
                "status": ex.status,
                "start_date": ex.start_date,
                "stop_date": ex.stop_date,
                "duration": seconds_between(ex.start_date, ex.stop_date),
                "redrive_count": ex.redrive_count,
                "redrive_date": ex.redrive_date,
                "version_arn": ex.version_arn,
                "error": ex.error,
                "cause": ex.cause,
            }
        )
    return frame(rows, EXECUTION_COLUMNS, dates=("start_date", "stop_date", "redrive_date"))


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: NaN/NaT -> None, timestamps -> ISO 8601, numpy scalars -> Python."""
    out = []
    for row in df.to_dict("records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, (dict, list)):
                clean[key] = value
            elif value is None or (not isinstance(value, str) and pd.isna(value)):
                clean[key] = None
            elif isinstance(value, pd.Timestamp):
                clean[key] = value.isoformat()
            elif hasattr(value, "item"):  # numpy scalar
                clean[key] = value.item()
            else:
                clean[key] = value
        out.append(clean)
    return out


def human_duration(seconds: float | None) -> str:
    """1h05m, 12m30s, 0s; '-' when unknown."""
    if seconds is None or pd.isna(seconds):
        return "-"
    total = int(round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
