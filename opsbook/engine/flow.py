"""Shared pieces of a run: control-flow exceptions, the thread Frame, small value helpers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import StatesError
from .expressions import dumps

UNCATCHABLE = frozenset({"States.Runtime", "States.DataLimitExceeded"})
PREFIXED_ERRORS = frozenset({"States.Runtime", "States.QueryEvaluationError"})
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# Shared context for states whose definition never mentions the context object ($$ or
# $states.context): building the real one per state costs a timestamp format.
NO_CONTEXT: dict = {}
FIELD_RE = re.compile(r"specified for the field '([^']*)'")
MAX_WAIT = timedelta(days=365)  # AWS: an execution lasts at most a year


class Failed(Exception):
    """The current thread of states failed (after Retry/Catch): error, cause, last event id."""

    def __init__(self, error: str | None, cause: str | None, last: int):
        super().__init__(error)
        self.error, self.cause, self.last = error, cause, last


class TimedOut(Exception):
    def __init__(self, last: int):
        self.last = last


class Aborted(Exception):
    """should_abort() said stop; `reason` is what it returned (a dict may carry error/cause)."""

    def __init__(self, last: int, reason: object = True):
        self.last = last
        self.reason = reason


class Frame:
    """One thread of states (the execution, a Map iteration, a Parallel branch)."""

    __slots__ = ("vars", "last")

    def __init__(self, variables: dict, last: int):
        self.vars = variables
        self.last = last


_iso_last: tuple = (None, "")


def iso(dt: datetime) -> str:
    """Context-object time format: 2024-01-01T00:00:00.000Z (memoised: a virtual clock often
    stands still between states)."""
    global _iso_last
    last = _iso_last
    if dt == last[0]:
        return last[1]
    u = dt.astimezone(UTC)
    text = u.strftime("%Y-%m-%dT%H:%M:%S.") + f"{u.microsecond // 1000:03d}Z"
    _iso_last = (dt, text)
    return text


def parse_timestamp(text: Any) -> datetime | None:
    if not isinstance(text, str) or not TIMESTAMP_RE.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def error_matches(names: list[str], error: str | None) -> bool:
    if error in UNCATCHABLE:
        return False
    for name in names:
        if name == error or name == "States.ALL":
            return True
        if name == "States.TaskFailed" and error != "States.Timeout":
            return True
    return False


class RetriableError(Exception):
    """test_state: the first attempt failed with an error a Retrier would retry."""

    def __init__(self, err: StatesError):
        self.err = err


def as_number(value: Any, kind: type) -> Any:
    """AWS accepts a numeric string for the tolerated-failure *Path fields."""
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            return value
    return value


def expr_text(template: Any) -> str:
    if isinstance(template, str):
        if template.startswith("{%") and template.endswith("%}"):
            return template[2:-2].strip()
    return json.dumps(template)


def plain_text(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)
