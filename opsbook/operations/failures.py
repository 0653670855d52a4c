"""What failed, read from one execution's history events (GetExecutionHistory shape).

    state_visits(events)    one row per state visit; a poll loop collapses to one row per state
    failure_detail(events)  the failing state, its error, full cause, when, and the state's input

Both take the raw event dicts a Backend's `history()` returns (`type`, `timestamp`, and the
`<kind>EventDetails` of each type, as in
https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html),
so they work the same on the local and the AWS backend.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

VISIT_KEYS = ("state", "type", "entered", "exited", "duration_s", "count", "status")
FAILURE_KEYS = ("state", "error", "cause", "when", "input")

_FAILED_ENDS = {
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}
# Events whose details carry the error of a task attempt (the history's own failure record when
# the execution's end event has none).
_TASK_FAILURES = (
    "TaskFailed",
    "TaskTimedOut",
    "TaskStartFailed",
    "TaskSubmitFailed",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
    "LambdaFunctionStartFailed",
    "LambdaFunctionScheduleFailed",
)


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _decode(value: Any) -> Any:
    """JSON text as Python (state input and output are JSON strings in a history)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _state_type(kind: str, suffix: str) -> str:
    return kind[: -len(suffix)]


def state_visits(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per state, in the order the execution first entered them.

    Entering a state again (a poll loop, a redrive re-running the failed state) adds to that
    state's row instead of adding rows: `count` is how many times it was entered, `duration_s`
    the time spent in it over all visits, `entered` the first entry, `exited` the last exit and
    `status` that of the latest visit: SUCCEEDED (exited), FAILED / TIMED_OUT / ABORTED (the
    execution ended while the state was open, which includes a Fail state) or RUNNING.
    """
    rows: dict[str, dict[str, Any]] = {}
    open_visits: list[tuple[str, datetime | None]] = []
    for event in events:
        kind = str(event.get("type", ""))
        details = _details(event)
        at = _when(event.get("timestamp"))
        if kind.endswith("StateEntered"):
            name = str(details.get("name"))
            row = rows.get(name)
            if row is None:
                row = rows[name] = {
                    "state": name,
                    "type": _state_type(kind, "StateEntered"),
                    "entered": at,
                    "exited": None,
                    "duration_s": 0.0,
                    "count": 0,
                    "status": "RUNNING",
                }
            row["count"] += 1
            row["status"] = "RUNNING"
            open_visits.append((name, at))
        elif kind.endswith("StateExited"):
            name = str(details.get("name"))
            for index in range(len(open_visits) - 1, -1, -1):
                if open_visits[index][0] == name:
                    _close(rows[name], open_visits.pop(index)[1], at, "SUCCEEDED")
                    break
        elif kind in _FAILED_ENDS or kind == "ExecutionSucceeded":
            status = _FAILED_ENDS.get(kind, "SUCCEEDED")
            for name, entered in open_visits:
                _close(rows[name], entered, at, status)
            open_visits = []
    return list(rows.values())


def _close(row: dict[str, Any], entered: datetime | None, exited: datetime | None, status: str):
    row["exited"] = exited
    row["status"] = status
    if entered is not None and exited is not None:
        row["duration_s"] += max(0.0, (exited - entered).total_seconds())


def failure_detail(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last failure of an execution, or None when it never failed or later succeeded.

    `state` is the state the execution was in when it ended (the innermost open state, or the
    Fail state it entered), `error` and `cause` come from the end event (else from the last
    failed task attempt of that state), `cause` is the full text, never cut, `when` is the end
    event's time and `input` the failing state's input (decoded JSON).
    """
    end_index = None
    for index, event in enumerate(events):
        kind = event.get("type")
        if kind in _FAILED_ENDS:
            end_index = index
        elif kind == "ExecutionSucceeded":
            end_index = None
    if end_index is None:
        return None
    entered: list[tuple[str, Any]] = []  # open states and their input, outermost first
    last_entered: tuple[str, Any] | None = None
    task_error: tuple[Any, Any] | None = None
    for event in events[:end_index]:
        kind = str(event.get("type", ""))
        details = _details(event)
        if kind.endswith("StateEntered"):
            last_entered = (str(details.get("name")), details.get("input"))
            entered.append(last_entered)
            task_error = None
        elif kind.endswith("StateExited"):
            name = details.get("name")
            entered = [e for e in entered if e[0] != name]
        elif kind in _TASK_FAILURES:
            task_error = (details.get("error"), details.get("cause"))
        elif kind == "ExecutionRedriven":
            entered, task_error = [], None
    failing = entered[-1] if entered else last_entered
    end = _details(events[end_index])
    error, cause = end.get("error"), end.get("cause")
    if error is None and cause is None and task_error is not None:
        error, cause = task_error
    if error is None and events[end_index].get("type") == "ExecutionTimedOut":
        error = "States.Timeout"  # what AWS reports for an execution that timed out
    return {
        "state": failing[0] if failing else None,
        "error": error,
        "cause": cause if cause is None or isinstance(cause, str) else json.dumps(cause),
        "when": _when(events[end_index].get("timestamp")),
        "input": _decode(failing[1]) if failing else None,
    }


__all__ = ["FAILURE_KEYS", "VISIT_KEYS", "failure_detail", "state_visits"]
