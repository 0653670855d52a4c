"""Starting partitions: one partition's execution (as `opsbook start` does) and firing the
workflow's schedule over a range (as EventBridge Scheduler would)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from opsbook.backends.base import Backend, Execution
from opsbook.config import Config
from opsbook.errors import ExecutionAlreadyExists, UsageError
from opsbook.operations.failures import cause_message, poll_count
from opsbook.operations.history import History, human_duration
from opsbook.workflows.manifest import Workflow


def partition_input(
    workflow: Workflow,
    cfg: Config,
    key: str,
    poll_seconds: int | None = None,
    max_polls: int | None = None,
) -> dict[str, Any]:
    """The execution input of one partition; poll settings default to the config's."""
    return workflow.execution_input(
        key,
        poll_seconds=cfg.poll_seconds if poll_seconds is None else poll_seconds,
        max_polls=cfg.max_polls if max_polls is None else max_polls,
        notify_every=cfg.notify_every,
    )


def check_name(workflow: Workflow, name: str, key: str) -> str:
    """An execution name for partition `key`: opsbook's own names must name that partition,
    because listings file an execution under the partition its name says."""
    from opsbook.backends.base import check_execution_name

    check_execution_name(name)
    named = workflow.scheme.key_in_name(name)
    if named is not None and named != key:
        label = workflow.scheme.label
        raise UsageError(f"--name {name} says {label} {named} but the partition is {key}")
    return name


def start_partition(
    backend: Backend,
    key: str,
    *,
    name: str | None = None,
    poll_seconds: int | None = None,
    max_polls: int | None = None,
    wait: bool = True,
) -> tuple[Execution, bool]:
    """Start one partition's execution (default name <prefix>-<KEY>). Returns (execution,
    existing): an execution of that name that already exists is returned, not started again."""
    workflow = backend.workflow
    part = workflow.partition(key)
    payload = partition_input(workflow, backend.cfg, part.key, poll_seconds, max_polls)
    exec_name = check_name(workflow, name or workflow.execution_name(part.key), part.key)
    try:
        return backend.start(payload, name=exec_name, wait=wait), False
    except ExecutionAlreadyExists as exc:
        if exc.existing is None:
            raise
        return backend.describe(exc.existing.arn), True


def fire_schedule(
    backend: Backend, since: str, until: str, *, progress: bool = True
) -> list[dict[str, Any]]:
    """Start one execution per scheduled time in [since, until], as the schedule would
    (`start(..., scheduled_time=fire_time)`). Existing executions are reported, not redone."""
    from tqdm.auto import tqdm

    from opsbook.workflows.schedules import fire_times_between

    workflow, cfg = backend.workflow, backend.cfg
    sched = workflow.schedule()
    if sched is None:
        raise UsageError(f"workflow {workflow.name} has no schedule ({workflow.schedule_path})")
    times = fire_times_between(sched, since, until)
    _check, wait_state = History(backend, cfg).loop_states()
    label = workflow.scheme.label
    results = []
    # disable=None: a bar on a terminal, nothing in logs and pipes.
    bar = tqdm(
        times, desc=f"{label}s", unit=label, disable=None if progress else True, file=sys.stderr
    )
    for fired in bar:
        key = workflow.scheme.for_fire_time(fired).key
        bar.set_postfix_str(key)
        execution, existing = _fire(backend, workflow, cfg, key, fired)
        events = backend.history(execution.arn)
        results.append(
            {
                label: key,
                "fired": fired.isoformat(),
                "name": execution.name,
                "status": execution.status,
                "polls": poll_count(events, None, wait_state),
                "duration": human_duration(_seconds(execution)),
                "existing": existing,
                "cause": cause_message(execution.cause) or execution.error,
                "arn": execution.arn,
            }
        )
    return results


def _fire(
    backend: Backend, workflow: Workflow, cfg: Config, key: str, fired: datetime
) -> tuple[Execution, bool]:
    payload = partition_input(workflow, cfg, key)
    try:
        name = workflow.execution_name(key)
        return backend.start(payload, name=name, wait=True, scheduled_time=fired), False
    except ExecutionAlreadyExists as exc:
        if exc.existing is None:
            raise
        return backend.describe(exc.existing.arn), True


def _seconds(execution: Execution) -> float | None:
    if execution.stop_date is None:
        return None
    return (execution.stop_date - execution.start_date).total_seconds()
