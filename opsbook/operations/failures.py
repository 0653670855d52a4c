"""History that starts from the failure: state visits with their durations, the failure's
state, error, full cause and input, and the poll count.

Plain functions over a list of history events in the shape of boto3's
get_execution_history()["events"] (both backends give that shape). The CLI (`opsbook history
--states/--failed`) and the console use the same functions.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

_END = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
_FAILED_ENDS = ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")
# Where a task's own failure is recorded before the execution fails (its cause, when the
# execution's end event has none).
_TASK_FAILED = ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut")
VISIT_KEYS = ("state", "type", "entered", "exited", "duration_s", "count", "status")
FAILURE_KEYS = ("state", "error", "cause", "when", "input")


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _ts(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def state_visits(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per state visit, in the order states were first entered: state, type,
    entered, exited, duration_s, count, status.

    A state entered again in the same attempt (the poll loop: CheckRecords, WaitForData, ...)
    collapses into one row: `count` visits, `entered` the first, `exited` the last,
    `duration_s` the time spent in it over all visits, `status` that of the last visit. A
    redrive starts a new attempt, so the state it resumes at gets a row of its own.
    status: SUCCEEDED (exited), RUNNING (still in it), or how the execution ended while it was
    in the state (FAILED, TIMED_OUT, ABORTED)."""
    rows: list[dict[str, Any]] = []
    by_state: dict[str, dict[str, Any]] = {}
    open_rows: list[tuple[dict[str, Any], datetime | None]] = []
    for e in events:
        kind = str(e.get("type", ""))
        details = _details(e)
        ts = _ts(e.get("timestamp"))
        if kind == "ExecutionRedriven":
            by_state = {}  # a new attempt: its visits get their own rows
        elif kind.endswith("StateEntered"):
            name = str(details.get("name"))
            row = by_state.get(name)
            if row is None:
                row = {
                    "state": name,
                    "type": kind[: -len("StateEntered")],
                    "entered": ts,
                    "exited": None,
                    "duration_s": 0.0,
                    "count": 0,
                    "status": "RUNNING",
                }
                by_state[name] = row
                rows.append(row)
            row["count"] += 1
            row["status"] = "RUNNING"
            open_rows.append((row, ts))
        elif kind.endswith("StateExited"):
            name = str(details.get("name"))
            for i in range(len(open_rows) - 1, -1, -1):
                row, since = open_rows[i]
                if row["state"] == name:
                    _close(row, since, ts, "SUCCEEDED")
                    del open_rows[i]
                    break
        elif kind in _END:
            for row, since in open_rows:
                _close(row, since, ts, _END[kind])
            open_rows = []
    for row in rows:
        if row["exited"] is None and row["status"] == "RUNNING":
            row["duration_s"] = None  # still in it: no duration yet
    return rows


def _close(row: dict[str, Any], since: datetime | None, ts: datetime | None, status: str) -> None:
    spent = _seconds(since, ts)
    if spent is not None and row["duration_s"] is not None:
        row["duration_s"] += spent
    row["exited"] = ts
    row["status"] = status


def failure_detail(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The failure an execution ended with: state (where it failed), error, cause (full, as
    recorded), when (the end event's time) and input (that state's input, JSON decoded).
    None when the execution's latest attempt did not end unsuccessfully (it succeeded, is
    running, or was redriven and has not ended yet)."""
    end: dict[str, Any] | None = None
    current: dict[str, Any] | None = None
    failed_in: dict[str, Any] | None = None
    task_failure: dict[str, Any] | None = None
    for e in events:
        kind = str(e.get("type", ""))
        details = _details(e)
        if kind.endswith("StateEntered"):
            current = details
            task_failure = None
        elif kind.endswith("StateExited"):
            current = None
        elif kind in _TASK_FAILED:
            task_failure = details
        elif kind in _FAILED_ENDS:
            end, failed_in = e, current
        elif kind in ("ExecutionSucceeded", "ExecutionRedriven", "ExecutionStarted"):
            end = failed_in = None
    if end is None:
        return None
    details = _details(end)
    error = details.get("error")
    cause = details.get("cause")
    if error is None and task_failure is not None:
        error = task_failure.get("error")
    if cause is None and task_failure is not None:
        cause = task_failure.get("cause")
    if error is None and end.get("type") == "ExecutionTimedOut":
        error = "States.Timeout"  # what AWS reports; some endpoints leave the details out
    return {
        "state": failed_in.get("name") if failed_in else None,
        "error": error,
        "cause": cause,
        "when": _ts(end.get("timestamp")),
        "input": _decode(failed_in.get("input")) if failed_in else None,
    }


def cause_message(cause: Any) -> str | None:
    """The readable part of a cause: a Lambda error's errorMessage, else the cause itself."""
    decoded = _decode(cause)
    if isinstance(decoded, dict) and isinstance(decoded.get("errorMessage"), str):
        return decoded["errorMessage"]
    if cause is None:
        return None
    return cause if isinstance(cause, str) else json.dumps(cause, ensure_ascii=False)


def poll_count(
    events: list[dict[str, Any]] | None = None,
    output: Any = None,
    wait_state: str = "WaitForData",
) -> int | None:
    """How many polls an execution made: the `poll.count` that the definition's CountPoll
    state keeps (read from a finished execution's output), else the number of times the
    history entered the polling Wait state. None when neither is known (no output, no
    history read)."""
    found = _count_in(_decode(output))
    if found is not None:
        return found
    if events is None:
        return None
    return count_state(events, wait_state)


def count_state(events: list[dict[str, Any]], state: str) -> int:
    """How many times `state` was entered (a poll is one entry of the polling Wait state)."""
    return sum(
        1
        for e in events
        if str(e.get("type", "")).endswith("StateEntered") and _details(e).get("name") == state
    )


def _count_in(doc: Any) -> int | None:
    if isinstance(doc, dict):
        poll = doc.get("poll")
        if isinstance(poll, dict) and isinstance(poll.get("count"), int):
            return poll["count"]
    return None


__all__ = [
    "FAILURE_KEYS",
    "VISIT_KEYS",
    "cause_message",
    "count_state",
    "failure_detail",
    "poll_count",
    "state_visits",
]
