"""A partition's status: which executions belong to it, the one that decides it, and
PENDING/MISSING from the schedule's fire time."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from opsbook.backends.base import (
    ABORTED,
    FAILED,
    PENDING_REDRIVE,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    Execution,
)
from opsbook.errors import UsageError
from opsbook.workflows.manifest import Workflow
from opsbook.workflows.partitions import as_date

MISSING = "MISSING"


PENDING = "PENDING"


WEEK_STATUSES = (SUCCEEDED, FAILED, TIMED_OUT, ABORTED, RUNNING, MISSING, PENDING)
# opsbook's own execution names, <prefix>-<KEY>[-r<N>] for any partition scheme.


# opsbook's own execution names, <prefix>-<KEY>[-r<N>] for any partition scheme.
NAME_PATTERN = re.compile(r"^(?:day|week|month)-(\d{4}-\d{2}(?:-\d{2})?)(?:-r(\d+))?$")


def as_instant(today: date | datetime | None) -> datetime:
    """`today` as an instant: a date means the start of that day in UTC."""
    if today is None:
        return datetime.now(UTC)
    if isinstance(today, datetime):
        return today if today.tzinfo else today.replace(tzinfo=UTC)
    return datetime.combine(as_date(today, "today"), time(0), tzinfo=UTC)


def scheduled_partitions(workflow: Workflow, since: date | str, until: date | str) -> list[str]:
    """The keys of the workflow's partitions in [since, until] (dates, or month keys in a
    monthly workflow)."""
    scheme = workflow.scheme
    start, end = scheme.bound(since, "--since"), scheme.bound(until, "--until")
    if start > end:
        raise UsageError(f"--since {start} is after --until {end}")
    if (end - start).days > 366 * 20:
        raise UsageError("the date range is longer than 20 years; narrow --since/--until")
    return [p.key for p in workflow.scheme.between(start, end)]


def partition_of(execution: Execution) -> str | None:
    """The partition an execution ran for, as its backend's workflow read it (from the input,
    the schedule's scheduled_time, or the name <prefix>-<KEY>[-r<N>])."""
    return execution.partition


def group_by_partition(executions: Iterable[Execution]) -> dict[str, list[Execution]]:
    """Executions by partition key; executions of no partition are left out."""
    groups: dict[str, list[Execution]] = {}
    for ex in executions:
        week = partition_of(ex)
        if week:
            groups.setdefault(week, []).append(ex)
    return groups


def activity(ex: Execution) -> tuple[datetime, int]:
    """Sort key: the latest start or redrive, then the rerun number of the name."""
    match = NAME_PATTERN.match(ex.name)
    number = int(match.group(2) or 0) if match else -1
    return max(d for d in (ex.start_date, ex.redrive_date) if d is not None), number


def last_execution(executions: list[Execution]) -> Execution | None:
    """The execution that decides a week's status: a running one, else the latest."""
    if not executions:
        return None
    running = [e for e in executions if e.status in (RUNNING, PENDING_REDRIVE)]
    return max(running or executions, key=activity)


def partition_status(executions: list[Execution], fires: datetime, now: datetime) -> str:
    """The status of a partition whose scheduled run fires at `fires`: its last execution's,
    else PENDING before that time and MISSING after it."""
    last = last_execution(executions)
    if last is None:
        return PENDING if fires > now else MISSING
    return RUNNING if last.status == PENDING_REDRIVE else last.status
