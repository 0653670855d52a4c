"""Browse executions as pandas DataFrames: executions, events, timeline, failure, weeks.

Every function takes a Backend first and talks to it only through the Backend protocol.
Histories of closed executions come from the on-disk cache (opsbook.operations.cache) when they can;
missing ones are fetched with bounded concurrency.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from opsbook.backends.base import (
    ABORTED,
    FAILED,
    PENDING_REDRIVE,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    Backend,
    Execution,
)
from opsbook.config import Config, load_config
from opsbook.errors import UsageError
from opsbook.operations.cache import ExecutionCache, HistoryCache, listed_only
from opsbook.workflows.manifest import Workflow
from opsbook.workflows.partitions import as_date  # re-exported: callers import it from here

MISSING = "MISSING"
PENDING = "PENDING"
WEEK_STATUSES = (SUCCEEDED, FAILED, TIMED_OUT, ABORTED, RUNNING, MISSING, PENDING)
# opsbook's own execution names, <prefix>-<KEY>[-r<N>] for any partition scheme.
NAME_PATTERN = re.compile(r"^(?:day|week|month)-(\d{4}-\d{2}(?:-\d{2})?)(?:-r(\d+))?$")
REDACTED = "<redacted>"
# Default state names of the polling loop, used when the definition cannot be read.
DEFAULT_CHECK_STATE = "CheckRecords"
DEFAULT_WAIT_STATE = "WaitForData"

_END_EVENTS = {
    "ExecutionSucceeded": SUCCEEDED,
    "ExecutionFailed": FAILED,
    "ExecutionTimedOut": TIMED_OUT,
    "ExecutionAborted": ABORTED,
}
_TASK_ATTEMPT_EVENTS = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")

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


# ---------------------------------------------------------------- small helpers


def config_of(backend: Backend, cfg: Config | None = None) -> Config:
    """The backend's Config (backends keep the one they were opened with)."""
    if cfg is not None:
        return cfg
    for attr in ("config", "cfg"):
        value = getattr(backend, attr, None)
        if isinstance(value, Config):
            return value
    return load_config()


def as_instant(today: date | datetime | None) -> datetime:
    """`today` as an instant: a date means the start of that day in UTC."""
    if today is None:
        return datetime.now(UTC)
    if isinstance(today, datetime):
        return today if today.tzinfo else today.replace(tzinfo=UTC)
    return datetime.combine(as_date(today, "today"), time(0), tzinfo=UTC)


def workflow_of(backend: Backend, cfg: Config | None = None) -> Workflow:
    """The workflow a backend operates (backends keep the one they were opened on)."""
    flow = getattr(backend, "workflow", None)
    if isinstance(flow, Workflow):
        return flow
    from opsbook.workflows.registry import get_workflow

    return get_workflow(config_of(backend, cfg))


def scheduled_partitions(workflow: Workflow, since: date | str, until: date | str) -> list[str]:
    """The keys of the workflow's partitions in [since, until]."""
    start, end = as_date(since, "--since"), as_date(until, "--until")
    if start > end:
        raise UsageError(f"--since {start} is after --until {end}")
    if (end - start).days > 366 * 20:
        raise UsageError("the date range is longer than 20 years; narrow --since/--until")
    return [p.key for p in workflow.scheme.between(start, end)]


def partition_of(execution: Execution) -> str | None:
    """The partition an execution ran for, as its backend's workflow read it (from the input,
    the schedule's scheduled_time, or the name <prefix>-<KEY>[-r<N>])."""
    return execution.partition


def _decode(value: Any) -> Any:
    """JSON strings decoded; anything else as is."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[", '"') or text in ("true", "false", "null") or _is_number(text):
            try:
                return json.loads(text)
            except ValueError:
                return value
    return value


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", text))


def redactor(patterns: Iterable[str]):
    """A function that replaces every match of the secret patterns in a decoded JSON value."""
    compiled = [re.compile(p) for p in patterns]

    def redact(value: Any) -> Any:
        if isinstance(value, str):
            for rx in compiled:
                value = rx.sub(REDACTED, value)
            return value
        if isinstance(value, dict):
            return {k: redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [redact(v) for v in value]
        return value

    return redact


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _ts(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _frame(
    rows: list[dict[str, Any]], columns: list[str], dates: Iterable[str] = ()
) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    for col in dates:
        df[col] = pd.to_datetime(df[col], utc=True)
    return df


# ---------------------------------------------------------------- fetching


class History:
    """The browsing functions bound to one backend, one config and one cache."""

    def __init__(
        self,
        backend: Backend,
        cfg: Config | None = None,
        *,
        cache: HistoryCache | None = None,
        max_concurrency: int | None = None,
    ):
        self.backend = backend
        self.cfg = config_of(backend, cfg)
        self.workflow = workflow_of(backend, self.cfg)
        self.cache = cache if cache is not None else HistoryCache(Path(self.cfg.home))
        self.max_concurrency = max(1, max_concurrency or self.cfg.max_concurrency)
        self.redact = redactor(self.cfg.secret_patterns)
        self._names: tuple[str, str] | None = None

    # -- raw access
    def resolve(self, execution: Execution | str) -> Execution:
        return execution if isinstance(execution, Execution) else self.backend.describe(execution)

    def complete(
        self, executions: Iterable[Execution], *, unsuccessful_only: bool = False
    ) -> list[Execution]:
        """The executions in order, those a backend listed without describing (input, output,
        error and cause None; see Backend.list_executions) described: closed ones through the
        on-disk cache, the rest at most max_concurrency at a time. `unsuccessful_only`
        describes only closed unsuccessful ones (enough for error and cause)."""
        items = list(executions)
        if unsuccessful_only:
            wanted = [e for e in items if listed_only(e) and e.closed and e.status != SUCCEEDED]
        else:
            wanted = [e for e in items if listed_only(e)]
        if not wanted:
            return items
        done = ExecutionCache(self.cfg.home).complete(
            wanted, self.backend.describe, self.max_concurrency
        )
        full = {e.arn: self.tag(e) for e in done}
        return [full.get(e.arn, e) for e in items]

    def tag(self, execution: Execution) -> Execution:
        """The execution with its partition filled in (backends fill it; a cached or
        hand-made one may lack it)."""
        if execution.partition is not None:
            return execution
        return replace(execution, partition=self.workflow.partition_of(execution))

    @property
    def label(self) -> str:
        """The key column of the partition matrix: week, day or month."""
        return self.workflow.scheme.label

    def raw_history(self, execution: Execution | str) -> list[dict[str, Any]]:
        """The events of one execution, from the cache when it is closed and cached."""
        ex = self.resolve(execution)
        return self.raw_histories([ex])[ex.arn]

    def raw_histories(self, executions: Iterable[Execution]) -> dict[str, list[dict[str, Any]]]:
        """Events by ARN; cache hits cost nothing, misses run on a bounded thread pool."""
        out: dict[str, list[dict[str, Any]]] = {}
        todo: list[Execution] = []
        for ex in executions:
            if ex.arn in out:
                continue
            cached = self.cache.get(ex)
            if cached is not None:
                out[ex.arn] = cached
            else:
                todo.append(ex)
        if not todo:
            return out

        def fetch(ex: Execution) -> tuple[str, list[dict[str, Any]]]:
            events = list(self.backend.history(ex.arn))
            if ex.closed and _history_closed(events):
                self.cache.put(ex, events)
            return ex.arn, events

        if len(todo) == 1 or self.max_concurrency == 1:
            out.update(fetch(ex) for ex in todo)
        else:
            with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(todo))) as pool:
                out.update(pool.map(fetch, todo))
        return out

    def loop_states(self) -> tuple[str, str]:
        """(check state, wait state) of the polling loop, read from the definition."""
        if self._names is None:
            self._names = _loop_states(self.workflow)
        return self._names

    # -- DataFrames
    def executions(
        self,
        since: date | datetime | str | None = None,
        until: date | datetime | str | None = None,
        status: str | None = None,
    ) -> pd.DataFrame:
        """Executions started in [since, until] (dates are whole days, UTC), newest first."""
        start = _bound(since, "--since", end=False)
        stop = _bound(until, "--until", end=True)
        listed = self.backend.list_executions(status=status, since=start, until=stop)
        # error and cause of unsuccessful executions the backend listed without describing.
        done = self.complete(listed, unsuccessful_only=True)
        return executions_frame([self.tag(e) for e in done])

    def events(self, execution: Execution | str) -> pd.DataFrame:
        ex = self.resolve(execution)
        return events_frame(self.raw_histories([ex])[ex.arn], self.redact)

    def timeline(self, execution: Execution | str) -> pd.DataFrame:
        ex = self.resolve(execution)
        return timeline_frame(self.raw_histories([ex])[ex.arn])

    def failure(self, execution: Execution | str) -> pd.DataFrame:
        ex = self.resolve(execution)
        return failure_frame(ex, self.raw_histories([ex])[ex.arn], self.redact)

    def partitions(
        self,
        since: date | str,
        until: date | str,
        today: date | datetime | None = None,
        *,
        listed: list[Execution] | None = None,
    ) -> pd.DataFrame:
        """One row per partition in [since, until] (the key column is named week, day or
        month): status, attempts, last execution, polls, duration and failure cause."""
        week_list = scheduled_partitions(self.workflow, since, until)
        listed = self.backend.list_executions() if listed is None else listed
        listed = [self.tag(e) for e in listed]
        groups = group_by_partition(listed)
        now = as_instant(today)
        lasts = {w: last_execution(groups.get(w, [])) for w in week_list}
        histories = self.raw_histories(ex for ex in lasts.values() if ex is not None)
        _check_state, wait_state = self.loop_states()
        rows = []
        for week in week_list:
            execs = groups.get(week, [])
            last = lasts[week]
            row: dict[str, Any] = dict.fromkeys(WEEK_COLUMNS)
            fires = self.workflow.fire_time(week)
            row.update(week=week, status=partition_status(execs, fires, now))
            row["attempts"] = sum(1 + e.redrive_count for e in execs)
            if last is not None:
                events = histories[last.arn]
                stop = closed_time(last, events)
                row.update(
                    execution=last.name,
                    execution_arn=last.arn,
                    start_date=last.start_date,
                    stop_date=stop,
                    duration=_seconds(last.start_date, stop),
                    polls=count_state(events, wait_state),
                    redrive_count=last.redrive_count,
                )
                if last.closed and last.status != SUCCEEDED:
                    fail = failure_frame(last, events, self.redact)
                    if listed_only(last) and (not len(fail) or pd.isna(fail.at[0, "error"])):
                        # The history's end event has no error (some endpoints leave it
                        # out): DescribeExecution has it.
                        full = self.complete([last])[0]
                        fail = failure_frame(full, events, self.redact)
                    if len(fail):
                        row["error"] = fail.at[0, "error"]
                        row["cause"] = _cause_text(fail.iloc[0])
            rows.append(row)
        df = _frame(rows, WEEK_COLUMNS, dates=("start_date", "stop_date"))
        df["attempts"] = df["attempts"].astype("int64")
        df["polls"] = df["polls"].astype("Int64")
        df["redrive_count"] = df["redrive_count"].astype("Int64")
        return df.rename(columns={"week": self.label})

    weeks = partitions  # the weekly load's name for it


def closed_time(execution: Execution, events: list[dict[str, Any]]) -> datetime | None:
    """When a closed execution stopped: its stop date, else its history's last event (some
    endpoints leave stopDate out, e.g. moto for TIMED_OUT)."""
    if not execution.closed:
        return None
    if execution.stop_date is not None:
        return execution.stop_date
    return _ts(events[-1].get("timestamp")) if _history_closed(events) else None


def _history_closed(events: list[dict[str, Any]]) -> bool:
    """The history ends with the execution's end (so it is safe to cache)."""
    return bool(events) and events[-1].get("type") in _END_EVENTS


def _loop_states(workflow: Workflow) -> tuple[str, str]:
    """Find the Wait state of the polling loop and the check it goes back to."""
    path = workflow.definition_path
    try:
        states = json.loads(path.read_text(encoding="utf-8")).get("States", {})
    except (OSError, ValueError, AttributeError):
        return DEFAULT_CHECK_STATE, DEFAULT_WAIT_STATE
    waits = [n for n, s in states.items() if isinstance(s, dict) and s.get("Type") == "Wait"]
    if DEFAULT_WAIT_STATE in waits or not waits:
        wait = DEFAULT_WAIT_STATE
    else:
        wait = waits[0]
    check = (states.get(wait) or {}).get("Next") or DEFAULT_CHECK_STATE
    return check, wait


def _cause_text(fail: pd.Series) -> str | None:
    """A one-line failure cause: the Lambda error message when there is one."""
    if fail.get("error_message"):
        return str(fail["error_message"])
    cause = fail.get("cause")
    if cause is None:
        return None
    return cause if isinstance(cause, str) else json.dumps(cause, ensure_ascii=False)


# ---------------------------------------------------------------- pure shaping


def group_by_partition(executions: Iterable[Execution]) -> dict[str, list[Execution]]:
    """Executions by partition key; executions of no partition are left out."""
    groups: dict[str, list[Execution]] = {}
    for ex in executions:
        week = partition_of(ex)
        if week:
            groups.setdefault(week, []).append(ex)
    return groups


def _activity(ex: Execution) -> tuple[datetime, int]:
    """Sort key: the latest start or redrive, then the rerun number of the name."""
    match = NAME_PATTERN.match(ex.name)
    number = int(match.group(2) or 0) if match else -1
    return max(d for d in (ex.start_date, ex.redrive_date) if d is not None), number


def last_execution(executions: list[Execution]) -> Execution | None:
    """The execution that decides a week's status: a running one, else the latest."""
    if not executions:
        return None
    running = [e for e in executions if e.status in (RUNNING, PENDING_REDRIVE)]
    return max(running or executions, key=_activity)


def partition_status(executions: list[Execution], fires: datetime, now: datetime) -> str:
    """The status of a partition whose scheduled run fires at `fires`: its last execution's,
    else PENDING before that time and MISSING after it."""
    last = last_execution(executions)
    if last is None:
        return PENDING if fires > now else MISSING
    return RUNNING if last.status == PENDING_REDRIVE else last.status


def count_state(events: list[dict[str, Any]], state: str) -> int:
    """How many times `state` was entered."""
    return sum(
        1
        for e in events
        if str(e.get("type", "")).endswith("StateEntered") and _details(e).get("name") == state
    )


def events_frame(events: list[dict[str, Any]], redact=None) -> pd.DataFrame:
    """One row per history event, JSON decoded and secrets redacted."""
    redact = redact or (lambda v: v)
    rows = []
    start = _ts(events[0].get("timestamp")) if events else None
    current: str | None = None
    for e in events:
        kind = str(e.get("type", ""))
        details = _details(e)
        state = current
        if kind.endswith("StateEntered"):
            current = state = details.get("name")
        elif kind.endswith("StateExited"):
            state = details.get("name")
            current = None
        ts = _ts(e.get("timestamp"))
        raw_input = details.get("input", details.get("parameters"))
        rows.append(
            {
                "id": e.get("id"),
                "previous_id": e.get("previousEventId"),
                "timestamp": ts,
                "type": kind,
                "state": state,
                "elapsed": _seconds(start, ts),
                "input": redact(_decode(raw_input)),
                "output": redact(_decode(details.get("output"))),
                "error": redact(details.get("error")),
                "cause": redact(_decode(details.get("cause"))),
            }
        )
    df = _frame(rows, EVENT_COLUMNS, dates=("timestamp",))
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
        details = _details(e)
        ts = _ts(e.get("timestamp"))
        if kind == "ExecutionRedriven":
            redrive += 1
        elif kind.endswith("StateEntered"):
            name = details.get("name")
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
            name = details.get("name")
            for visit in reversed(open_visits):
                if visit["state"] == name:
                    visit.update(exited=ts, status=SUCCEEDED)
                    open_visits.remove(visit)
                    break
        elif kind in _TASK_ATTEMPT_EVENTS and open_visits:
            open_visits[-1]["attempt"] += 1
        elif kind in _END_EVENTS:
            for visit in open_visits:
                visit.update(exited=ts, status=_END_EVENTS[kind])
            open_visits = []
    for row in rows:
        row["attempt"] = max(1, row["attempt"])
        row["retries"] = row["attempt"] - 1
        row["duration"] = _seconds(row["entered"], row["exited"])
    return _frame(rows, TIMELINE_COLUMNS, dates=("entered", "exited"))


def failed_state(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(name, type) of the state the execution was in when it last ended unsuccessfully."""
    current: tuple[str | None, str | None] = (None, None)
    failed: tuple[str | None, str | None] = (None, None)
    for e in events:
        kind = str(e.get("type", ""))
        if kind.endswith("StateEntered"):
            current = (_details(e).get("name"), kind[: -len("StateEntered")])
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
        return _frame([], FAILURE_COLUMNS, dates=("timestamp",))
    details = _details(end) if end else {}
    error = details.get("error", execution.error)
    if error is None and end is not None and end.get("type") == "ExecutionTimedOut":
        error = "States.Timeout"  # what AWS reports; some endpoints leave the details out
    cause = redact(_decode(details.get("cause", execution.cause)))
    state, state_type = failed_state(events)
    error_type = error_message = None
    if isinstance(cause, dict) and ("errorMessage" in cause or "errorType" in cause):
        error_type, error_message = cause.get("errorType"), cause.get("errorMessage")
    row = {
        "execution": execution.name,
        "status": _END_EVENTS.get(end.get("type")) if end else execution.status,
        "state": state,
        "state_type": state_type,
        "error": redact(error),
        "cause": cause,
        "error_type": error_type,
        "error_message": error_message,
        "timestamp": _ts(end.get("timestamp")) if end else execution.stop_date,
    }
    return _frame([row], FAILURE_COLUMNS, dates=("timestamp",))


# ---------------------------------------------------------------- module-level API


def executions(
    backend: Backend,
    since: date | datetime | str | None = None,
    until: date | datetime | str | None = None,
    status: str | None = None,
    cfg: Config | None = None,
) -> pd.DataFrame:
    """Executions started in [since, until] (dates are whole days, UTC), newest first."""
    return History(backend, cfg).executions(since, until, status)


def executions_frame(listed: Iterable[Execution]) -> pd.DataFrame:
    """One row per execution, in the given order (EXECUTION_COLUMNS)."""
    rows = []
    for ex in listed:
        rows.append(
            {
                "name": ex.name,
                "arn": ex.arn,
                "partition": partition_of(ex),
                "status": ex.status,
                "start_date": ex.start_date,
                "stop_date": ex.stop_date,
                "duration": _seconds(ex.start_date, ex.stop_date),
                "redrive_count": ex.redrive_count,
                "redrive_date": ex.redrive_date,
                "version_arn": ex.version_arn,
                "error": ex.error,
                "cause": ex.cause,
            }
        )
    return _frame(rows, EXECUTION_COLUMNS, dates=("start_date", "stop_date", "redrive_date"))


def _bound(value: date | datetime | str | None, what: str, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    day = as_date(value, what)
    moment = datetime.combine(day, time(0), tzinfo=UTC)
    return moment + timedelta(days=1) - timedelta(microseconds=1) if end else moment


def events(backend: Backend, execution: Execution | str, cfg: Config | None = None) -> pd.DataFrame:
    """id, previous_id, timestamp, type, state, elapsed, input, output, error, cause."""
    return History(backend, cfg).events(execution)


def timeline(
    backend: Backend, execution: Execution | str, cfg: Config | None = None
) -> pd.DataFrame:
    """One row per state visit: state, type, entered, exited, duration, attempt, ..."""
    return History(backend, cfg).timeline(execution)


def failure(
    backend: Backend, execution: Execution | str, cfg: Config | None = None
) -> pd.DataFrame:
    """The failed state, error and cause (Lambda JSON causes decoded); empty if it did not fail."""
    return History(backend, cfg).failure(execution)


def partitions(
    backend: Backend,
    since: date | str,
    until: date | str,
    today: date | datetime | None = None,
    cfg: Config | None = None,
) -> pd.DataFrame:
    """One row per partition of the backend's workflow in [since, until]: status, attempts,
    last execution, polls, duration and failure cause. `today` (default: now) decides MISSING
    versus PENDING."""
    return History(backend, cfg).partitions(since, until, today)


weeks = partitions  # the weekly load's name for it


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
