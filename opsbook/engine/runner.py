"""The public entry points: compile_definition, execute, redrive (test_state: teststate.py)."""

from __future__ import annotations

import json
import random
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .clock import RealClock, VirtualClock
from .errors import DefinitionError, Diagnostic, StatesError
from .executor import Aborted, Execution, Failed, Frame, TimedOut, iso
from .expressions import dumps, forget_last
from .history import History, HistoryFull, error_details
from .machine import Machine
from .parse import load_definition
from .quotas import (
    HISTORY_LIMIT_CAUSE,
    HISTORY_LIMIT_ERROR,
    check_execution_input,
    check_execution_name,
)
from .validate import errors_only, validate

ACCOUNT = "123456789012"
REGION = "us-east-1"
DEFAULT_STATE_MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:opsbook-local"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/opsbook-local-stepfunctions"

_CACHE: dict[str, Machine] = {}
_CACHE_MAX = 512


@dataclass
class Run:
    """The outcome of one execution, shaped like DescribeExecution + GetExecutionHistory."""

    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list[dict]
    start_date: datetime
    stop_date: datetime | None
    redrive_count: int = 0
    name: str = ""
    execution_arn: str = ""
    state_machine_arn: str = ""
    input: Any = None
    redrive_date: datetime | None = None
    extra: dict = field(default_factory=dict)


def compile_definition(definition: Any) -> Machine:
    """Validate and compile a definition (dict or JSON text) once; cached by its JSON text."""
    if isinstance(definition, Machine):
        return definition
    try:
        key = definition if isinstance(definition, str) else json.dumps(definition)
    except (TypeError, ValueError):
        key = None
    if key is not None:
        machine = _CACHE.get(key)
        if machine is not None:
            return machine
    data, diags = load_definition(definition)
    if data is None:
        raise DefinitionError(diags or [Diagnostic("INVALID_JSON_DESCRIPTION", "unreadable", "/")])
    errors = errors_only(validate(data))
    if errors:
        raise DefinitionError(errors)
    machine = Machine(data)
    if key is not None:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = machine
    return machine


def _plain_input(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, str):  # AWS takes the input as JSON text
        try:
            return json.loads(value)
        except ValueError:
            raise TypeError(f"execution input is not valid JSON text: {value[:80]!r}") from None
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"execution input is not JSON-serializable: {exc}") from None


def _sm_name(sm_arn: str) -> str:
    """The state machine's name from its ARN, also for a version or alias ARN (name:1)."""
    if ":stateMachine:" in sm_arn:
        return sm_arn.split(":stateMachine:", 1)[1].split(":", 1)[0]
    return sm_arn.rsplit(":", 1)[-1]


def _names(name, execution_arn, state_machine_arn) -> tuple[str, str, str]:
    sm_arn = state_machine_arn or DEFAULT_STATE_MACHINE
    if execution_arn and not name:
        name = execution_arn.rsplit(":", 1)[-1]
    name = name or str(uuid.uuid4())
    if not execution_arn:
        sm_name = _sm_name(sm_arn)
        if ":stateMachine:" in sm_arn:
            prefix = sm_arn.split(":stateMachine:", 1)[0]
            execution_arn = f"{prefix}:execution:{sm_name}:{name}"
        else:
            execution_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{sm_name}:{name}"
    return name, execution_arn, sm_arn


def execute(
    definition: Any,
    input: Any = None,
    *,
    tasks: dict[str, Callable] | None = None,
    clock: Any = None,
    name: str | None = None,
    execution_arn: str | None = None,
    state_machine_arn: str | None = None,
    on_event: Callable[[dict], None] | None = None,
    should_abort: Callable[[], bool] | None = None,
    role_arn: str | None = None,
    seed: int | None = None,
    task_answer: Callable[[str], Callable | None] | None = None,
) -> Run:
    """Run a state machine to completion and return its Run.

    Raises DefinitionError for an invalid definition, TypeError for input that is not JSON,
    and InvalidRequest (AWS's InvalidName / ValidationException) for a name StartExecution
    would refuse or an input over 256 KiB.

    Map iterations and Parallel branches run on the engine's worker threads (opsbook.engine.
    fibers), so task handlers, on_event and should_abort may be called from those threads;
    on_event is never called by two threads at once; handlers and should_abort may be.

    task_answer(state_name) may return a callable that answers that Task state's invocation
    in place of its handler, with the integration's raw result (mock files, replay)."""
    machine = compile_definition(definition)
    value = _plain_input(input)
    check_execution_input(dumps(value))
    if name is not None:
        check_execution_name(name)
    forget_last()
    clock = clock or VirtualClock()
    name, execution_arn, sm_arn = _names(name, execution_arn, state_machine_arn)
    history = History(clock, on_event)
    start = clock.now()
    role = role_arn or ROLE_ARN
    history.add(
        "ExecutionStarted",
        0,
        "executionStartedEventDetails",
        {"input": dumps(value), "inputDetails": {"truncated": False}, "roleArn": role},
    )
    run = Run(
        "RUNNING",
        None,
        None,
        None,
        history.events,
        start,
        None,
        0,
        name,
        execution_arn,
        sm_arn,
        value,
    )
    context = _context(run, role)
    return _drive(
        machine,
        run,
        history,
        context,
        value,
        Frame({}, 0),
        None,
        tasks,
        clock,
        should_abort,
        seed,
        task_answer,
    )


def _context(run: Run, role: str) -> dict:
    ex = {
        "Id": run.execution_arn,
        "Input": run.input,
        "StartTime": iso(run.start_date),
        "Name": run.name,
        "RoleArn": role,
        "RedriveCount": run.redrive_count,
    }
    if run.redrive_date is not None:
        ex["RedriveTime"] = iso(run.redrive_date)
    sm_name = _sm_name(run.state_machine_arn)
    return {"Execution": ex, "StateMachine": {"Id": run.state_machine_arn, "Name": sm_name}}


def _drive(
    machine,
    run,
    history,
    context,
    value,
    frame,
    start_state,
    tasks,
    clock,
    should_abort,
    seed,
    task_answer=None,
) -> Run:
    deadline = None
    if isinstance(machine.timeout, (int, float)) and not isinstance(machine.timeout, bool):
        # a redrive gets the whole TimeoutSeconds again, from the moment it was redriven
        deadline = (run.redrive_date or run.start_date) + timedelta(seconds=machine.timeout)
    ex = Execution(
        machine,
        tasks=tasks,
        clock=clock,
        history=history,
        context=context,
        deadline=deadline,
        should_abort=should_abort,
        rng=random.Random(seed) if seed is not None else None,
    )
    ex.task_answer = task_answer  # read by TaskStates.invoke
    try:
        out = ex.run_machine(machine, value, frame, start_state)
    except Failed as f:
        run.status, run.error, run.cause = "FAILED", f.error, f.cause
        history.add(
            "ExecutionFailed",
            f.last,
            "executionFailedEventDetails",
            error_details(f.error, f.cause),
        )
    except HistoryFull as full:
        run.status, run.error, run.cause = "FAILED", HISTORY_LIMIT_ERROR, HISTORY_LIMIT_CAUSE
        history.add(
            "ExecutionFailed",
            full.last,
            "executionFailedEventDetails",
            error_details(run.error, run.cause),
        )
    except TimedOut as t:
        run.status, run.error = "TIMED_OUT", "States.Timeout"
        history.add(
            "ExecutionTimedOut",
            t.last,
            "executionTimedOutEventDetails",
            {"error": "States.Timeout"},
        )
    except Aborted as a:
        run.status = "ABORTED"
        details = {}
        if isinstance(a.reason, dict):  # StopExecution's error and cause
            run.error, run.cause = a.reason.get("error"), a.reason.get("cause")
            details = error_details(run.error, run.cause)
        # AWS records the abort as an outside event, not caused by the last state event
        history.add("ExecutionAborted", 0, "executionAbortedEventDetails", details)
    except StatesError as err:  # raised outside any state (should not happen): still a result
        run.status, run.error, run.cause = "FAILED", err.error, err.cause
        history.add(
            "ExecutionFailed",
            frame.last,
            "executionFailedEventDetails",
            error_details(err.error, err.cause),
        )
    except Exception as exc:  # an engine bug must end the run, not leave it RUNNING forever
        run.status, run.error = "FAILED", "States.Runtime"
        run.cause = f"Internal error in the local engine: {exc!r}"
        run.extra["traceback"] = traceback.format_exc()
        history.add(
            "ExecutionFailed",
            frame.last,
            "executionFailedEventDetails",
            error_details(run.error, run.cause),
        )
    else:
        text = dumps(out)
        # decoded from the recorded text: the caller gets plain JSON, shared with nobody
        run.status, run.output = "SUCCEEDED", json.loads(text)
        history.add(
            "ExecutionSucceeded",
            frame.last,
            "executionSucceededEventDetails",
            {"output": text, "outputDetails": {"truncated": False}},
        )
    run.stop_date = clock.now()
    return run


# ---------------------------------------------------------------------------------- redrive
def redrive(
    definition: Any,
    history: list[dict],
    *,
    input: Any = None,
    tasks: dict[str, Callable] | None = None,
    clock: Any = None,
    on_event: Callable[[dict], None] | None = None,
    should_abort: Callable[[], bool] | None = None,
    name: str | None = None,
    execution_arn: str | None = None,
    state_machine_arn: str | None = None,
    redrive_count: int | None = None,
    start_date: datetime | None = None,
    seed: int | None = None,
    task_answer: Callable[[str], Callable | None] | None = None,
) -> Run:
    """AWS RedriveExecution: resume a FAILED/TIMED_OUT/ABORTED execution at the state that did
    not finish, keeping its history (plus ExecutionRedriven) and the variables it had set."""
    machine = compile_definition(definition)
    events = [dict(e) for e in history]
    if not events or events[0].get("type") != "ExecutionStarted":
        raise ValueError("redrive needs the execution's history, starting with ExecutionStarted")
    last_type = events[-1].get("type")
    if last_type not in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
        raise ValueError(
            f"only a failed, timed out or aborted execution can be redriven "
            f"(last event: {last_type})"
        )
    started = events[0]["executionStartedEventDetails"]
    original = json.loads(started.get("input") or "{}")
    value_in = original if input is None else _plain_input(input)
    state_name, state_input, variables = _resume_point(machine, events)
    if state_name is None:
        state_name, state_input = machine.start_at, value_in
    clock = clock or VirtualClock()
    count = (
        redrive_count
        if redrive_count is not None
        else sum(1 for e in events if e.get("type") == "ExecutionRedriven")
    ) + 1
    name, execution_arn, sm_arn = _names(name, execution_arn, state_machine_arn)
    h = History(clock, on_event, events)
    rid = h.add(
        "ExecutionRedriven",
        events[-1]["id"],
        "executionRedrivenEventDetails",
        {"redriveCount": count},
    )
    run = Run(
        "RUNNING",
        None,
        None,
        None,
        h.events,
        start_date or events[0]["timestamp"],
        None,
        count,
        name,
        execution_arn,
        sm_arn,
        value_in,
        redrive_date=clock.now(),
    )
    context = _context(run, started.get("roleArn", ROLE_ARN))
    return _drive(
        machine,
        run,
        h,
        context,
        state_input,
        Frame(variables, rid),
        state_name,
        tasks,
        clock,
        should_abort,
        seed,
        task_answer,
    )


def _resume_point(machine: Machine, events: list[dict]):
    """(state to restart, its input, variables) from the top level of a history."""
    depth = 0  # how many Map/Parallel states we are inside
    variables: dict = {}
    pending: tuple[str, Any] | None = None
    for e in events:
        t = e.get("type", "")
        if t.endswith("StateEntered"):
            if depth == 0:
                d = e["stateEnteredEventDetails"]
                pending = (d["name"], json.loads(d.get("input") or "null"))
            if t in ("MapStateEntered", "ParallelStateEntered"):
                depth += 1
        elif t.endswith("StateExited"):
            if t in ("MapStateExited", "ParallelStateExited"):
                depth -= 1
            if depth == 0:
                d = e["stateExitedEventDetails"]
                for k, v in (d.get("assignedVariables") or {}).items():
                    variables[k] = json.loads(v)
                pending = None
    if pending is None or pending[0] not in machine.states:
        return None, None, variables
    return pending[0], pending[1], variables


__all__ = [
    "Run",
    "compile_definition",
    "execute",
    "redrive",
    "RealClock",
    "VirtualClock",
]
