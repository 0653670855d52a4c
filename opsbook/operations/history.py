"""Browse executions as pandas DataFrames: executions, events, timeline, failure, partitions.

This module fetches (History: listings, descriptions and histories through the cache, with
bounded concurrency); opsbook.operations.frames shapes them and opsbook.operations.status
decides a partition's status. Their public names are re-exported here.

Every function takes a Backend first and talks to it only through the Backend protocol.
Histories of closed executions come from the on-disk cache (opsbook.operations.cache) when they can;
missing ones are fetched with bounded concurrency.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from opsbook.backends.base import (
    ABORTED,
    FAILED,
    SUCCEEDED,
    TIMED_OUT,
    Backend,
    Execution,
)
from opsbook.config import Config, load_config
from opsbook.errors import UsageError
from opsbook.operations.cache import ExecutionCache, HistoryCache, listed_only
from opsbook.operations.failures import count_state, poll_count
from opsbook.operations.frames import (
    EVENT_COLUMNS,
    EXECUTION_COLUMNS,
    FAILURE_COLUMNS,
    REDACTED,
    TIMELINE_COLUMNS,
    WEEK_COLUMNS,
    cause_text,
    closed_time,
    decode,
    events_frame,
    executions_frame,
    failed_state,
    failure_frame,
    frame,
    history_closed,
    human_duration,
    records,
    redactor,
    seconds_between,
    timeline_frame,
)
from opsbook.operations.status import (
    MISSING,
    NAME_PATTERN,
    PENDING,
    WEEK_STATUSES,
    as_instant,
    group_by_partition,
    last_execution,
    partition_of,
    partition_status,
    scheduled_partitions,
)
from opsbook.workflows.manifest import Workflow
from opsbook.workflows.partitions import as_date  # re-exported: callers import it from here


def _shipped_schedule_zone() -> ZoneInfo:
    from opsbook.config import PACKAGE_ROOT
    from opsbook.workflows.schedules import load_schedule

    return load_schedule(PACKAGE_ROOT / "definitions" / "weekly_load" / "schedule.json").timezone


# The weekly load's schedule zone, read from its schedule document (times shown beside UTC).
FIRE_TZ = _shipped_schedule_zone()
DEFAULT_CHECK_STATE = "CheckRecords"
DEFAULT_WAIT_STATE = "WaitForData"

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


def workflow_of(backend: Backend, cfg: Config | None = None) -> Workflow:
    """The workflow a backend operates (backends keep the one they were opened on)."""
    flow = getattr(backend, "workflow", None)
    if isinstance(flow, Workflow):
        return flow
    from opsbook.workflows.registry import get_workflow

    return get_workflow(config_of(backend, cfg))


def fire_time(key: str | date, workflow: Workflow | None = None) -> datetime:
    """When the workflow's schedule fires for a partition, in UTC (read from its schedule
    document); the weekly load's when no workflow is given."""
    if workflow is None:
        from opsbook.workflows.registry import shipped_workflow

        workflow = shipped_workflow("weekly_load")
    return workflow.fire_time(key)


DEFAULT_PARTITIONS = 12
UNSUCCESSFUL = (FAILED, TIMED_OUT, ABORTED)


def default_range(
    today: date | datetime | None = None,
    count: int = DEFAULT_PARTITIONS,
    workflow: Workflow | None = None,
) -> tuple[date, date]:
    """(since, until) of the last `count` partitions up to today: until is today (in the
    partition scheme's zone), since the start of the partition `count - 1` before the latest
    completed one."""
    if workflow is None:
        from opsbook.workflows.registry import shipped_workflow

        workflow = shipped_workflow("weekly_load")
    scheme = workflow.scheme
    zone = scheme.timezone
    if today is None:
        today = datetime.now(zone)
    if isinstance(today, datetime):
        today = (today.astimezone(zone) if today.tzinfo else today).date()
    latest = scheme.last_completed(today)
    return scheme.shifted(latest, 1 - count).day, today


def failures_outside(
    listed: Iterable[Execution],
    since: date | str,
    until: date | str | None = None,
    workflow: Workflow | None = None,
) -> list[str]:
    """Partitions before `since` (or after `until`) whose latest execution ended FAILED,
    TIMED_OUT or ABORTED, oldest first: read from the listing alone (no history calls).
    With `workflow`, keys and bounds are read by its scheme (month keys in a monthly one)."""
    scheme = workflow.scheme if workflow is not None else None

    def day_of(value: date | str, what: str) -> date:
        return scheme.bound(value, what) if scheme is not None else as_date(value, what)

    start = day_of(since, "--since")
    end = day_of(until, "--until") if until is not None else None
    out = []
    for key, execs in group_by_partition(listed).items():
        try:
            day = day_of(key, "key")
        except UsageError:
            continue
        if day >= start and (end is None or day <= end):
            continue
        last = last_execution(execs)
        if last is not None and last.status in UNSUCCESSFUL:
            out.append(key)
    return sorted(out)


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
        self.redact = redactor(self.cfg.secret_patterns, self.cfg.known_secrets())
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
            if ex.closed and history_closed(events):
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
        since: date | str | None = None,
        until: date | str | None = None,
        today: date | datetime | None = None,
        *,
        listed: list[Execution] | None = None,
    ) -> pd.DataFrame:
        """One row per partition in [since, until] (the key column is named week, day or
        month): status, attempts, last execution, polls, duration and failure cause. Without
        since/until: the last 12 partitions up to today, as the CLI shows them."""
        since, until = self.span(since, until, today)
        week_list = scheduled_partitions(self.workflow, since, until)
        listed = self.backend.list_executions() if listed is None else listed
        listed = [self.tag(e) for e in listed]
        groups = group_by_partition(listed)
        now = as_instant(today)
        lasts = {w: last_execution(groups.get(w, [])) for w in week_list}
        # Histories only of partitions that did not succeed (their failure and polls live
        # there); a succeeded one's polls come from its output, or its cached history.
        histories = self.raw_histories(
            ex for ex in lasts.values() if ex is not None and ex.status != SUCCEEDED
        )
        for ex in lasts.values():
            if ex is not None and ex.status == SUCCEEDED and ex.arn not in histories:
                cached = self.cache.get(ex)
                if cached is not None:
                    histories[ex.arn] = cached
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
                read = histories.get(last.arn)
                events = read if read is not None else []
                stop = closed_time(last, events)
                row.update(
                    execution=last.name,
                    execution_arn=last.arn,
                    start_date=last.start_date,
                    stop_date=stop,
                    duration=seconds_between(last.start_date, stop),
                    polls=poll_count(read, last.output, wait_state),
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
                        row["cause"] = cause_text(fail.iloc[0])
            rows.append(row)
        df = frame(rows, WEEK_COLUMNS, dates=("start_date", "stop_date"))
        df["attempts"] = df["attempts"].astype("int64")
        df["polls"] = df["polls"].astype("Int64")
        df["redrive_count"] = df["redrive_count"].astype("Int64")
        return df.rename(columns={"week": self.label})

    weeks = partitions  # the weekly load's name for it

    def span(
        self,
        since: date | str | None,
        until: date | str | None,
        today: date | datetime | None = None,
    ) -> tuple[date | str, date | str]:
        """(since, until), each defaulting to default_range's: the last 12 partitions up to
        today."""
        first, last = default_range(today, workflow=self.workflow)
        return (first if since is None else since), (last if until is None else until)


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


# ---------------------------------------------------------------- pure shaping


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
    since: date | str | None = None,
    until: date | str | None = None,
    today: date | datetime | None = None,
    cfg: Config | None = None,
) -> pd.DataFrame:
    """One row per partition of the backend's workflow in [since, until] (default: the last
    12 up to today): status, attempts, last execution, polls, duration and failure cause.
    `today` (default: now) decides MISSING versus PENDING."""
    return History(backend, cfg).partitions(since, until, today)


weeks = partitions  # the weekly load's name for it


# The shaping (frames) and status functions are part of this module's API.
__all__ = [
    "EVENT_COLUMNS", "EXECUTION_COLUMNS", "FAILURE_COLUMNS", "FIRE_TZ", "MISSING",
    "NAME_PATTERN", "PENDING", "REDACTED", "TIMELINE_COLUMNS", "WEEK_COLUMNS", "WEEK_STATUSES",
    "History", "as_date", "as_instant", "closed_time", "config_of", "count_state", "decode",
    "default_range", "events", "events_frame", "executions", "executions_frame",
    "failed_state", "failure", "failure_frame", "failures_outside", "fire_time", "group_by_partition",
    "human_duration", "last_execution", "partition_of", "partition_status", "partitions",
    "records", "redactor", "scheduled_partitions", "timeline",
    "timeline_frame", "weeks", "workflow_of",
]  # fmt: skip
