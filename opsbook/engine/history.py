"""The execution history: events shaped exactly like boto3 get_execution_history()["events"]."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .expressions import dumps
from .quotas import HISTORY_LIMIT

_NOT_TRUNCATED = {"truncated": False}


class HistoryFull(Exception):
    """The next event would be number 25,000 and would not close the execution: AWS fails the
    execution there instead (docs: bp-history-limit). `last` is the last event recorded."""

    def __init__(self, last: int):
        super().__init__(last)
        self.last = last


class History:
    """Appends events with sequential ids; calls on_event for each one as it is added."""

    __slots__ = ("events", "clock", "on_event")

    def __init__(self, clock: Any, on_event: Callable[[dict], None] | None = None, events=None):
        self.events: list[dict] = list(events or [])
        self.clock = clock
        self.on_event = on_event

    def add(
        self, type_: str, prev: int, key: str | None = None, details: dict | None = None
    ) -> int:
        events = self.events
        eid = len(events) + 1
        if eid >= HISTORY_LIMIT and not type_.startswith("Execution"):
            raise HistoryFull(eid - 1)
        if key is None:
            event = {
                "timestamp": self.clock.now(),
                "type": type_,
                "id": eid,
                "previousEventId": prev,
            }
        else:
            event = {
                "timestamp": self.clock.now(),
                "type": type_,
                "id": eid,
                "previousEventId": prev,
                key: details,
            }
        events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return eid

    def entered(self, state_type: str, name: str, value: Any, prev: int) -> int:
        details = {"name": name, "input": dumps(value), "inputDetails": _NOT_TRUNCATED}
        return self.add(state_type + "StateEntered", prev, "stateEnteredEventDetails", details)

    def exited(self, state_type: str, name: str, value: Any, prev: int, assigned=None) -> int:
        details: dict[str, Any] = {"name": name, "output": dumps(value)}
        details["outputDetails"] = _NOT_TRUNCATED
        if assigned:  # an empty Assign ({}) adds nothing, as on AWS
            details["assignedVariables"] = {k: dumps(v) for k, v in assigned.items()}
            details["assignedVariablesDetails"] = _NOT_TRUNCATED
        return self.add(state_type + "StateExited", prev, "stateExitedEventDetails", details)


def error_details(error: str | None, cause: str | None, **extra: Any) -> dict:
    """{"error":..,"cause":..} with absent values left out, as AWS does."""
    details = dict(extra)
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    return details
