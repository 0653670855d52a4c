"""Run a compiled machine: the state loop, input/output processing, Retry/Catch, Map/Parallel."""

from __future__ import annotations

import heapq
import json
import random
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from . import tasks as taskmod
from ._expr import (
    PathNotFound,
    dumps,
    evaluate_reference,
    evaluate_rule,
    evaluate_template,
    forget_last,
    invalid_path_cause,
    jsonata_resolve,
    write_result_path,
)
from .errors import StatesError
from .history import History, error_details
from .machine import _ABSENT, Catcher, Machine, State

_UNCATCHABLE = frozenset({"States.Runtime", "States.DataLimitExceeded"})
_PREFIXED = frozenset({"States.Runtime", "States.QueryEvaluationError"})
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# Shared context for states whose definition never mentions the context object ($$ or
# $states.context): building the real one per state costs a timestamp format.
_NO_CONTEXT: dict = {}
_FIELD_RE = re.compile(r"specified for the field '([^']*)'")
_MAX_WAIT = timedelta(days=365)  # AWS: an execution lasts at most a year


class Failed(Exception):
    """The current thread of states failed (after Retry/Catch): error, cause, last event id."""

    def __init__(self, error: str | None, cause: str | None, last: int):
        super().__init__(error)
        self.error, self.cause, self.last = error, cause, last


class TimedOut(Exception):
    def __init__(self, last: int):
        self.last = last


class Aborted(Exception):
    def __init__(self, last: int):
        self.last = last


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
    if not isinstance(text, str) or not _TS_RE.match(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def error_matches(names: list[str], error: str) -> bool:
    if error in _UNCATCHABLE:
        return False
    for name in names:
        if name == error or name == "States.ALL":
            return True
        if name == "States.TaskFailed" and error != "States.Timeout":
            return True
    return False


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Execution:
    """Everything one run needs: compiled machine, handlers, clock, history, context."""

    def __init__(
        self,
        machine: Machine,
        *,
        tasks: dict | None,
        clock: Any,
        history: History,
        context: dict,
        deadline: datetime | None,
        should_abort: Callable[[], bool] | None,
        rng: random.Random | None = None,
    ):
        self.machine = machine
        self.tasks = tasks
        self.clock = clock
        self.history = history
        self.exec_ctx = context["Execution"]
        self.sm_ctx = context["StateMachine"]
        arn_parts = str(self.sm_ctx.get("Id", "")).split(":")
        self.region = arn_parts[3] if len(arn_parts) > 3 and arn_parts[3] else "us-east-1"
        self.deadline = deadline
        self.should_abort = should_abort
        self._rng = rng
        self.single_attempt = False  # test_state: stop at the first error
        self.run_types = {
            "Pass": self._pass,
            "Task": self._task,
            "Choice": self._choice,
            "Wait": self._wait,
            "Succeed": self._succeed,
            "Fail": self._fail,
            "Parallel": self._parallel,
            "Map": self._map,
        }

    # ------------------------------------------------------------------ the state loop
    def run_machine(self, machine: Machine, value: Any, frame: Frame, start: str | None = None):
        name = start or machine.start_at
        while True:
            state = machine.states.get(name)
            if state is None:
                raise Failed("States.Runtime", f"State '{name}' does not exist.", frame.last)
            value, name = self.run_state(state, value, frame)
            if name is None:
                return value

    def context(self, state: State, entered: datetime, retry: int | None = None) -> dict:
        st: dict[str, Any] = {"EnteredTime": iso(entered), "Name": state.name}
        if retry is not None:
            st["RetryCount"] = retry
        return {"Execution": self.exec_ctx, "StateMachine": self.sm_ctx, "State": st}

    def check_deadline(self, frame: Frame) -> None:
        if self.deadline is not None and self.clock.now() >= self.deadline:
            raise TimedOut(frame.last)

    def run_state(self, state: State, raw: Any, frame: Frame):
        if self.should_abort is not None and self.should_abort():
            raise Aborted(frame.last)
        self.check_deadline(frame)
        h = self.history
        entered_prev = frame.last
        eid = h.entered(state.type, state.name, raw, entered_prev)
        frame.last = eid
        ctx = (
            self.context(state, self.clock.now(), 0 if state.type == "Task" else None)
            if state.needs_context
            else _NO_CONTEXT
        )
        attempts = [0] * len(state.retriers)
        while True:
            try:
                out, nxt, assigned = self.run_types[state.type](state, raw, frame, ctx, eid)
                break
            except StatesError as err:
                err = self._locate(err, state, eid)
                if err.error == "States.QueryEvaluationError":
                    details = error_details(err.error, err.cause)
                    if getattr(err, "location", None):
                        details["location"] = err.location
                    details["state"] = state.name
                    frame.last = h.add(
                        "EvaluationFailed",
                        eid if state.type == "Wait" else entered_prev,
                        "evaluationFailedEventDetails",
                        details,
                    )
                delay = self._retry_delay(state, err, attempts)
                if delay is not None:
                    if self.single_attempt:
                        raise RetriableError(err) from None
                    self._sleep(delay, frame)
                    if state.needs_context:
                        ctx["State"]["RetryCount"] = ctx["State"].get("RetryCount", 0) + 1
                    continue
                if state.type in ("Map", "Parallel") and err.error != "States.Runtime":
                    frame.last = h.add(state.type + "StateFailed", frame.last)
                catcher = self._find_catcher(state, err)
                if catcher is None:
                    raise Failed(err.error, err.cause, frame.last) from None
                out, assigned = self._caught(state, catcher, raw, err, frame, ctx)
                nxt = catcher.next
                break
        frame.last = h.exited(state.type, state.name, out, frame.last, assigned)
        if assigned:
            frame.vars = {**frame.vars, **assigned}
        return out, (None if state.end and nxt is None else nxt)

    @staticmethod
    def _locate(err: StatesError, state: State, eid: int) -> StatesError:
        cause = err.cause
        if err.error in _PREFIXED and not (cause or "").startswith("An error occurred while"):
            prefix = f"An error occurred while executing the state '{state.name}' "
            prefix += f"(entered at the event id #{eid})."
            new = StatesError(err.error, f"{prefix} {cause}" if cause else prefix)
            new.location = getattr(err, "location", None)
            return new
        return err

    def _retry_delay(self, state: State, err: StatesError, attempts: list[int]) -> float | None:
        for i, r in enumerate(state.retriers):
            if error_matches(r.errors, err.error):
                if attempts[i] >= r.max_attempts:
                    return None
                delay = r.interval * (r.backoff ** attempts[i])
                attempts[i] += 1
                if r.max_delay is not None:
                    delay = min(delay, r.max_delay)
                if r.jitter == "FULL":
                    if self._rng is None:
                        self._rng = random.Random()
                    delay = self._rng.uniform(0, delay)
                return delay
        return None

    @staticmethod
    def _find_catcher(state: State, err: StatesError) -> Catcher | None:
        for c in state.catchers:
            if error_matches(c.errors, err.error):
                return c
        return None

    def _caught(self, state, catcher: Catcher, raw, err: StatesError, frame: Frame, ctx):
        error_output = {"Error": err.error}
        if err.cause is not None:
            error_output["Cause"] = err.cause
        if state.jsonata:
            states = {"input": raw, "context": ctx, "errorOutput": error_output}
            assigned = self._jsonata_assign(catcher.assign, states, frame)
            if catcher.output is _ABSENT:
                out = error_output
            else:
                out = self.jsonata(catcher.output, states, frame, "Output")
            return out, assigned
        assigned = self._jsonpath_assign(catcher.assign, error_output, ctx, frame)
        return write_result_path(raw, catcher.result_path, error_output), assigned

    def _sleep(self, seconds: float, frame: Frame) -> None:
        if self.should_abort is not None and self.should_abort():
            raise Aborted(frame.last)
        timed_out = False
        if self.deadline is not None:
            left = (self.deadline - self.clock.now()).total_seconds()
            if seconds >= left:
                seconds, timed_out = max(left, 0), True
        if self.should_abort is None or getattr(self.clock, "virtual", True):
            self.clock.sleep(seconds)
        else:  # a real wait: keep polling should_abort so a stop takes effect promptly
            end = time.monotonic() + seconds
            while (rest := end - time.monotonic()) > 0:
                self.clock.sleep(min(rest, _ABORT_POLL_SECONDS))
                if self.should_abort():
                    raise Aborted(frame.last)
        if timed_out:
            raise TimedOut(frame.last)

    # ------------------------------------------------------------------ expression helpers
    def path(self, path: str, data: Any, ctx: dict, frame: Frame) -> Any:
        """InputPath/OutputPath/ItemsPath: a path or null ({})."""
        if path is None:
            return {}
        if path == "$":
            return data
        try:
            return evaluate_reference(path, data, ctx, frame.vars)
        except PathNotFound:
            raise StatesError("States.Runtime", invalid_path_cause(path)) from None

    def field_path(self, field: str, path: str, data: Any, ctx: dict, frame: Frame) -> Any:
        """ErrorPath, CausePath, SecondsPath...: the AWS 'could not be found' cause."""
        try:
            return evaluate_reference(path, data, ctx, frame.vars)
        except PathNotFound:
            raise StatesError(
                "States.Runtime",
                f"The JSONPath '{path}' specified for the field '{field}' could not be found in "
                f"the input '{dumps(data)}'",
            ) from None

    def jsonata(self, template: Any, states: dict, frame: Frame, field: str) -> Any:
        """Resolve a JSONata template; errors carry the field as their location."""
        try:
            return jsonata_resolve(template, states, frame.vars, field=field)
        except StatesError as err:
            m = _FIELD_RE.search(err.cause or "")
            err.location = m.group(1) if m else field
            raise

    def _jsonata_assign(self, assign, states: dict, frame: Frame) -> dict | None:
        if assign is None:
            return None
        return {k: self.jsonata(v, states, frame, f"Assign/{k}") for k, v in assign.items()}

    def _jsonpath_assign(self, assign, value, ctx, frame: Frame) -> dict | None:
        if assign is None:
            return None
        return evaluate_template(assign, value, ctx, frame.vars, field="Assign")

    def _jsonpath_result(self, state: State, raw, result, ctx, frame):
        """ResultSelector -> Assign -> ResultPath -> OutputPath."""
        if state.result_selector is not _ABSENT:
            result = evaluate_template(
                state.result_selector, result, ctx, frame.vars, field="ResultSelector"
            )
        assigned = self._jsonpath_assign(state.assign, result, ctx, frame)
        out = write_result_path(raw, state.result_path, result)
        return self.path(state.output_path, out, ctx, frame), assigned

    def _jsonata_output(self, state: State, states: dict, frame: Frame, default: Any):
        assigned = self._jsonata_assign(state.assign, states, frame)
        if state.output is _ABSENT:
            return default, assigned
        return self.jsonata(state.output, states, frame, "Output"), assigned

    # ------------------------------------------------------------------ state types
    def _pass(self, state: State, raw, frame, ctx, eid):
        if state.jsonata:
            out, assigned = self._jsonata_output(state, {"input": raw, "context": ctx}, frame, raw)
            return out, state.next, assigned
        eff = self.path(state.input_path, raw, ctx, frame)
        if "Result" in state.spec:
            result = state.spec["Result"]
        elif state.parameters is not _ABSENT:
            result = evaluate_template(state.parameters, eff, ctx, frame.vars)
        else:
            result = eff
        assigned = self._jsonpath_assign(state.assign, result, ctx, frame)
        out = write_result_path(raw, state.result_path, result)
        return self.path(state.output_path, out, ctx, frame), state.next, assigned

    def _succeed(self, state: State, raw, frame, ctx, eid):
        if state.jsonata:
            out, _ = self._jsonata_output(state, {"input": raw, "context": ctx}, frame, raw)
            return out, None, None
        eff = self.path(state.input_path, raw, ctx, frame)
        return self.path(state.output_path, eff, ctx, frame), None, None

    def _fail(self, state: State, raw, frame, ctx, eid):
        spec = state.spec
        if state.jsonata:
            states = {"input": raw, "context": ctx}
            error = self.jsonata(spec.get("Error"), states, frame, "Error")
            cause = self.jsonata(spec.get("Cause"), states, frame, "Cause")
        else:
            error, cause = spec.get("Error"), spec.get("Cause")
            if "ErrorPath" in spec:
                error = self.field_path("ErrorPath", spec["ErrorPath"], raw, ctx, frame)
            if "CausePath" in spec:
                cause = self.field_path("CausePath", spec["CausePath"], raw, ctx, frame)
        raise Failed(error, cause, frame.last)

    def _choice(self, state: State, raw, frame, ctx, eid):
        spec = state.spec
        if state.jsonata:
            states = {"input": raw, "context": ctx}
            for rule in spec.get("Choices") or []:
                ok = self.jsonata(rule.get("Condition"), states, frame, "Condition")
                if not isinstance(ok, bool):
                    raise StatesError(
                        "States.QueryEvaluationError",
                        f"The JSONata expression '{_expr_text(rule.get('Condition'))}' specified "
                        f"for the field 'Condition' returned an unexpected result type. Expected "
                        f"'boolean', but was '{_type_name(ok)}' for value: {dumps(ok)}",
                    )
                if ok:
                    assigned = self._jsonata_assign(rule.get("Assign"), states, frame)
                    out = raw
                    if "Output" in rule:
                        out = self.jsonata(rule["Output"], states, frame, "Output")
                    return out, rule.get("Next"), assigned
            if "Default" not in spec:
                raise StatesError("States.NoChoiceMatched", _no_choice_cause(state, eid))
            out, assigned = self._jsonata_output(state, states, frame, raw)
            return out, spec["Default"], assigned
        eff = self.path(state.input_path, raw, ctx, frame)
        for rule in spec.get("Choices") or []:
            if evaluate_rule(rule, eff, ctx, frame.vars):
                assigned = self._jsonpath_assign(rule.get("Assign"), eff, ctx, frame)
                return self.path(state.output_path, eff, ctx, frame), rule.get("Next"), assigned
        if "Default" not in spec:
            raise StatesError("States.NoChoiceMatched", _no_choice_cause(state, eid))
        assigned = self._jsonpath_assign(state.assign, eff, ctx, frame)
        return self.path(state.output_path, eff, ctx, frame), spec["Default"], assigned

    def _wait(self, state: State, raw, frame, ctx, eid):
        spec = state.spec
        now = self.clock.now()
        until = None
        if state.jsonata:
            states = {"input": raw, "context": ctx}
            if "Seconds" in spec:
                secs = self.jsonata(spec["Seconds"], states, frame, "Seconds")
                if isinstance(secs, bool) or not isinstance(secs, (int, float)) or secs < 0:
                    raise StatesError(
                        "States.QueryEvaluationError",
                        f"The JSONata expression '{_expr_text(spec['Seconds'])}' specified for "
                        "the field 'Seconds' returned an unexpected result type. Expected "
                        f"'integer', but was '{_type_name(secs)}' for value: {dumps(secs)}",
                    )
                until = now + timedelta(seconds=secs)
            elif "Timestamp" in spec:
                text = self.jsonata(spec["Timestamp"], states, frame, "Timestamp")
                until = parse_timestamp(text)
                if until is None:
                    err = StatesError(
                        "States.QueryEvaluationError",
                        "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                        f"date-time format string: {text}",
                    )
                    err.location = "Timestamp"
                    raise err
            out, assigned = self._jsonata_output(state, states, frame, raw)
        else:
            eff = self.path(state.input_path, raw, ctx, frame)
            if "Seconds" in spec:
                until = now + timedelta(seconds=spec["Seconds"])
            elif "Timestamp" in spec:
                until = parse_timestamp(spec["Timestamp"])
            elif "SecondsPath" in spec:
                p = spec["SecondsPath"]
                secs = self.field_path("SecondsPath", p, eff, ctx, frame)
                if (
                    isinstance(secs, bool)
                    or not isinstance(secs, (int, float))
                    or secs != int(secs)
                ):
                    raise StatesError(
                        "States.Runtime",
                        "The SecondsPath parameter cannot be parsed as a long value: "
                        f"{p} == {_plain(secs)}",
                    )
                if secs < 0:
                    raise StatesError(
                        "States.Runtime",
                        f"The SecondsPath parameter references a negative value: {p} == "
                        f"{_plain(secs)}",
                    )
                until = now + timedelta(seconds=int(secs))
            elif "TimestampPath" in spec:
                p = spec["TimestampPath"]
                text = self.field_path("TimestampPath", p, eff, ctx, frame)
                until = parse_timestamp(text)
                if until is None:
                    raise StatesError(
                        "States.Runtime",
                        "The TimestampPath parameter does not reference a valid ISO-8601 "
                        f"extended offset date-time format string: {p} == {_plain(text)}",
                    )
            assigned = self._jsonpath_assign(state.assign, eff, ctx, frame)
            out = self.path(state.output_path, eff, ctx, frame)
        if until is not None:
            if until - now > _MAX_WAIT:
                raise StatesError("States.Runtime", "Wait state delay is too long.")
            self._sleep((until - now).total_seconds(), frame)
        return out, state.next, assigned

    # ------------------------------------------------------------------ Task
    def _timeout_field(self, state: State, name: str, raw, ctx, frame) -> float | None:
        spec = state.spec
        value = spec.get(name)
        if state.jsonata and isinstance(value, str):
            value = self.jsonata(value, {"input": raw, "context": ctx}, frame, name)
        elif name + "Path" in spec:
            value = self.field_path(name + "Path", spec[name + "Path"], raw, ctx, frame)
        return value

    def _task(self, state: State, raw, frame, ctx, eid):
        resource = state.spec.get("Resource", "")
        if state.jsonata:
            states = {"input": raw, "context": ctx}
            params = raw
            if state.arguments is not _ABSENT:
                params = self.jsonata(state.arguments, states, frame, "Arguments")
        else:
            eff = self.path(state.input_path, raw, ctx, frame)
            params = eff
            if state.parameters is not _ABSENT:
                params = evaluate_template(state.parameters, eff, ctx, frame.vars)
        timeout = heartbeat = None
        if state.has_timeouts:
            timeout = self._timeout_field(state, "TimeoutSeconds", raw, ctx, frame)
            heartbeat = self._timeout_field(state, "HeartbeatSeconds", raw, ctx, frame)
        result = self.invoke(resource, params, frame, timeout, heartbeat)
        if state.jsonata:
            states["result"] = result
            out, assigned = self._jsonata_output(state, states, frame, result)
            return out, state.next, assigned
        out, assigned = self._jsonpath_result(state, raw, result, ctx, frame)
        return out, state.next, assigned

    def invoke(self, resource: str, params, frame: Frame, timeout, heartbeat) -> Any:
        """Schedule/start/run one task attempt, recording AWS's events; return its result."""
        h = self.history
        is_lambda = taskmod.is_lambda_arn(resource)
        if is_lambda:
            sched = {"resource": resource, "input": dumps(params)}
            sched["inputDetails"] = {"truncated": False}
            if timeout is not None:
                sched["timeoutInSeconds"] = timeout
            frame.last = h.add(
                "LambdaFunctionScheduled", frame.last, "lambdaFunctionScheduledEventDetails", sched
            )
            frame.last = h.add("LambdaFunctionStarted", frame.last)
            prefix, base = "lambdaFunction", {}
        else:
            kind, action = taskmod.service_parts(resource)
            base = {"resourceType": kind, "resource": action}
            sched = {**base, "region": self.region, "parameters": dumps(params)}
            if timeout is not None:
                sched["timeoutInSeconds"] = timeout
            if heartbeat is not None:
                sched["heartbeatInSeconds"] = heartbeat
            frame.last = h.add("TaskScheduled", frame.last, "taskScheduledEventDetails", sched)
            frame.last = h.add("TaskStarted", frame.last, "taskStartedEventDetails", dict(base))
            prefix = "task"
        event = "LambdaFunction" if is_lambda else "Task"
        handler = taskmod.find_handler(self.tasks, resource, params)
        started = self.clock.now()
        try:
            if handler is None:
                raise _missing_handler(resource, params)
            payload = params
            invoke = resource.startswith(taskmod.LAMBDA_INVOKE)
            if invoke:
                payload = params.get("Payload", {}) if isinstance(params, dict) else {}
            limit = (
                min(x for x in (timeout, heartbeat) if x is not None)
                if (timeout is not None or heartbeat is not None)
                else None
            )
            try:
                result = taskmod.call_handler(handler, payload, self.clock, limit)
            finally:
                forget_last()
            elapsed = (self.clock.now() - started).total_seconds()
            if timeout is not None and elapsed > timeout:
                raise StatesError("States.Timeout")
            if heartbeat is not None and elapsed > heartbeat:
                raise StatesError("States.HeartbeatTimeout")
            if invoke:
                result = taskmod.lambda_invoke_result(result)
            try:
                text = dumps(result)
            except (TypeError, ValueError) as exc:
                raise StatesError(
                    "States.Runtime", f"The task result is not JSON-serializable: {exc}"
                ) from None
        except Exception as exc:  # noqa: BLE001 - a handler failure fails the task
            err = taskmod.exception_to_error(exc)
            if err.error in ("States.Timeout", "States.HeartbeatTimeout"):
                frame.last = h.add(
                    event + "TimedOut",
                    frame.last,
                    prefix + "TimedOutEventDetails",
                    {**base, **error_details(err.error, err.cause)},
                )
            else:
                frame.last = h.add(
                    event + "Failed",
                    frame.last,
                    prefix + "FailedEventDetails",
                    {**base, **error_details(err.error, err.cause)},
                )
            raise err from None
        done = {**base, "output": text, "outputDetails": {"truncated": False}}
        frame.last = h.add(event + "Succeeded", frame.last, prefix + "SucceededEventDetails", done)
        return result

    # ------------------------------------------------------------------ Parallel
    def _parallel(self, state: State, raw, frame, ctx, eid):
        h = self.history
        if state.jsonata:
            states = {"input": raw, "context": ctx}
            eff = raw
            if state.arguments is not _ABSENT:
                eff = self.jsonata(state.arguments, states, frame, "Arguments")
        else:
            eff = self.path(state.input_path, raw, ctx, frame)
            if state.parameters is not _ABSENT:
                eff = evaluate_template(state.parameters, eff, ctx, frame.vars)
        started = h.add("ParallelStateStarted", frame.last)
        frame.last = started
        results = []
        slots = _Slots(self.clock, 0)
        for branch in state.branches:
            slots.begin()
            sub = Frame(frame.vars, started)  # variables are replaced, never mutated
            try:
                results.append(self.run_machine(branch, eff, sub))
            except Failed as f:
                frame.last = f.last
                raise StatesError(f.error, f.cause) from None
            finally:
                slots.end()
            frame.last = sub.last
        slots.finish()
        end_prev = frame.last
        h.add("ParallelStateSucceeded", end_prev)
        frame.last = end_prev
        if state.jsonata:
            states["result"] = results
            out, assigned = self._jsonata_output(state, states, frame, results)
            return out, state.next, assigned
        out, assigned = self._jsonpath_result(state, raw, results, ctx, frame)
        return out, state.next, assigned

    # ------------------------------------------------------------------ Map
    def _map_items(self, state: State, raw, eff, ctx, frame) -> list:
        spec = state.spec
        if state.jsonata:
            if "Items" not in spec:
                items = raw
            else:
                items = self.jsonata(spec["Items"], {"input": raw, "context": ctx}, frame, "Items")
            if not isinstance(items, list):
                expr = _expr_text(spec.get("Items"))
                if callable(items) or (
                    items is not None
                    and _type_name(items) == "object"
                    and not isinstance(items, dict)
                ):
                    msg = "specified for the field 'Items' returned an unsupported result type."
                else:
                    msg = (
                        "specified for the field 'Items' returned an unexpected result type. Expected 'array', but was "
                        f"'{_type_name(items)}' for value: {dumps(items)}"
                    )
                err = StatesError(
                    "States.QueryEvaluationError",
                    f"The JSONata expression '{expr}' {msg}",
                )
                err.location = "Items"
                raise err
            return items
        path = spec.get("ItemsPath", "$")
        items = self.path(path, eff, ctx, frame)
        if not isinstance(items, list):
            raise StatesError(
                "States.Runtime",
                f"Invalid path '{path}': The value at the path is not an array: {dumps(items)}",
            )
        return items

    def _tolerance(self, state: State, raw, ctx, frame) -> tuple[int | None, float | None]:
        spec = state.spec
        count = spec.get("ToleratedFailureCount")
        pct = spec.get("ToleratedFailurePercentage")
        states = {"input": raw, "context": ctx}
        if state.jsonata:
            if isinstance(count, str):
                count = self.jsonata(count, states, frame, "ToleratedFailureCount")
            if isinstance(pct, str):
                pct = self.jsonata(pct, states, frame, "ToleratedFailurePercentage")
        if "ToleratedFailureCountPath" in spec:
            p = spec["ToleratedFailureCountPath"]
            count = _as_number(
                self.field_path("ToleratedFailureCountPath", p, raw, ctx, frame), int
            )
            if isinstance(count, bool) or not isinstance(count, int):
                raise StatesError(
                    "States.Runtime",
                    f'The ToleratedFailureCountPath field refers to value "{_plain(count)}" '
                    f"which is not a valid integer: {p}",
                )
        if "ToleratedFailurePercentagePath" in spec:
            p = spec["ToleratedFailurePercentagePath"]
            pct = _as_number(
                self.field_path("ToleratedFailurePercentagePath", p, raw, ctx, frame), float
            )
            if isinstance(pct, bool) or not isinstance(pct, (int, float)):
                raise StatesError(
                    "States.Runtime",
                    f"The ToleratedFailurePercentagePath field refers to value "
                    f'"{_plain(pct)}" which is not a valid float: {p}',
                )
        if count is not None and count < 0:
            raise StatesError("States.Runtime", "ToleratedFailureCount cannot be negative.")
        if pct is not None and not 0 <= pct <= 100:
            raise StatesError(
                "States.Runtime", "ToleratedFailurePercentage must be between 0 and 100."
            )
        return count, pct

    def _map(self, state: State, raw, frame, ctx, eid):
        h = self.history
        eff = raw if state.jsonata else self.path(state.input_path, raw, ctx, frame)
        items = self._map_items(state, raw, eff, ctx, frame)
        frame.last = h.add(
            "MapStateStarted", frame.last, "mapStateStartedEventDetails", {"length": len(items)}
        )
        count, pct = self._tolerance(state, raw, ctx, frame)
        if state.distributed:
            return self._distributed(state, raw, eff, items, frame, ctx, count, pct)
        results = []
        end_prev = frame.last
        slots = _Slots(self.clock, self._max_concurrency(state, raw, ctx, frame) or _INLINE_LIMIT)
        for index, item in enumerate(items):
            slots.begin()
            value = self._item_input(state, raw, eff, item, index, ctx, frame)
            details = {"index": index, "name": state.name}
            started = h.add(
                "MapIterationStarted", frame.last, "mapIterationStartedEventDetails", details
            )
            sub = Frame(frame.vars, started)  # variables are replaced, never mutated
            try:
                results.append(self.run_machine(state.processor, value, sub))
            except Failed as f:
                h.add("MapIterationFailed", f.last, "mapIterationFailedEventDetails", details)
                frame.last = f.last
                raise StatesError(f.error, f.cause) from None
            finally:
                slots.end()
            end_prev = h.add(
                "MapIterationSucceeded", sub.last, "mapIterationSucceededEventDetails", details
            )
            frame.last = sub.last
        slots.finish()
        h.add("MapStateSucceeded", end_prev)
        frame.last = end_prev
        return self._map_output(state, raw, results, ctx, frame)

    def _max_concurrency(self, state: State, raw, ctx, frame) -> int:
        spec = state.spec
        value = spec.get("MaxConcurrency", 0)
        if state.jsonata and isinstance(value, str):
            value = self.jsonata(value, {"input": raw, "context": ctx}, frame, "MaxConcurrency")
        elif "MaxConcurrencyPath" in spec:
            p = spec["MaxConcurrencyPath"]
            value = _as_number(self.field_path("MaxConcurrencyPath", p, raw, ctx, frame), int)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise StatesError(
                "States.Runtime",
                f"MaxConcurrency must be a non-negative integer, got {_plain(value)}",
            )
        return value

    def _map_output(self, state: State, raw, results, ctx, frame):
        if state.jsonata:
            states = {"input": raw, "context": ctx, "result": results}
            out, assigned = self._jsonata_output(state, states, frame, results)
            return out, state.next, assigned
        out, assigned = self._jsonpath_result(state, raw, results, ctx, frame)
        return out, state.next, assigned

    def _item_input(self, state: State, raw, eff, item, index, ctx, frame):
        if state.parameters is _ABSENT:
            return item
        item_ctx = {**ctx, "Map": {"Item": {"Index": index, "Value": item}}}
        if state.jsonata:
            states = {"input": raw, "context": item_ctx}
            return self.jsonata(state.parameters, states, frame, "ItemSelector")
        return evaluate_template(state.parameters, eff, item_ctx, frame.vars, field="ItemSelector")

    def _distributed(self, state, raw, eff, items, frame, ctx, count, pct):
        """A distributed Map: child executions, so only MapRun events in this history."""
        h = self.history
        sm = self.sm_ctx["Id"].replace(":stateMachine:", ":mapRun:", 1)
        arn = f"{sm}/{state.spec.get('Label', state.name)}:{uuid.uuid4()}"
        run_started = h.add(
            "MapRunStarted", frame.last, "mapRunStartedEventDetails", {"mapRunArn": arn}
        )
        results, failures, last_err = [], 0, None
        for index, item in enumerate(items):
            value = self._item_input(state, raw, eff, item, index, ctx, frame)
            child = Execution(
                state.processor,
                tasks=self.tasks,
                clock=self.clock,
                history=History(self.clock),
                context={"Execution": self.exec_ctx, "StateMachine": self.sm_ctx},
                deadline=self.deadline,
                should_abort=self.should_abort,
                rng=self._rng,
            )
            try:
                results.append(child.run_machine(state.processor, value, Frame({}, 0)))
            except Failed as f:
                failures += 1
                last_err = f
                results.append(error_details(f.error, f.cause))
        too_many = failures > 0 and not (
            (count is not None and failures <= count)
            or (pct is not None and items and failures * 100.0 / len(items) <= pct)
        )
        if too_many:
            error = "States.ExceedToleratedFailureThreshold"
            cause = "The specified tolerated failure threshold was exceeded"
            if count is None and pct is None and last_err is not None:
                error, cause = last_err.error, last_err.cause
            frame.last = h.add(
                "MapRunFailed", run_started, "mapRunFailedEventDetails", error_details(error, cause)
            )
            raise StatesError(error, cause)
        ok = h.add("MapRunSucceeded", run_started)
        h.add("MapStateSucceeded", ok)
        frame.last = ok
        return self._map_output(state, raw, results, ctx, frame)


_ABORT_POLL_SECONDS = 0.2
_INLINE_LIMIT = 40  # AWS runs at most 40 inline Map iterations at once


class _Slots:
    """Concurrency under a virtual clock: iterations/branches run one after another here, but
    each starts at the virtual time a slot frees up (at most `limit` at once, 0 = no limit),
    and the state ends when the last one would have, as on AWS. A real clock is left alone."""

    def __init__(self, clock: Any, limit: int):
        self.clock = clock
        self.on = getattr(clock, "virtual", False) and hasattr(clock, "set")
        if self.on:
            self.t0 = self.latest = clock.now()
            self.limit = limit
            self.ends: list = []

    def begin(self) -> None:
        if self.on:
            start = self.t0
            if self.limit and len(self.ends) >= self.limit:
                start = heapq.heappop(self.ends)
            self.clock.set(start)

    def end(self) -> None:
        if self.on:
            now = self.clock.now()
            heapq.heappush(self.ends, now)
            if now > self.latest:
                self.latest = now

    def finish(self) -> None:
        if self.on:
            self.clock.set(self.latest)


class RetriableError(Exception):
    """test_state: the first attempt failed with an error a Retrier would retry."""

    def __init__(self, err: StatesError):
        self.err = err


def _as_number(value: Any, kind: type) -> Any:
    """AWS accepts a numeric string for the tolerated-failure *Path fields."""
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            return value
    return value


def _expr_text(template: Any) -> str:
    if isinstance(template, str):
        if template.startswith("{%") and template.endswith("%}"):
            return template[2:-2].strip()
    return json.dumps(template)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else dumps(value)


def _no_choice_cause(state: State, eid: int) -> str:
    return (
        f"An error occurred while executing the state '{state.name}' (entered at the event id "
        f"#{eid}). No Choice Rule matched the input and there is no Default state."
    )


def _missing_handler(resource: str, params: Any) -> StatesError:
    if taskmod.is_lambda_arn(resource) or resource.startswith(taskmod.LAMBDA_INVOKE):
        ref = resource
        if isinstance(params, dict) and isinstance(params.get("FunctionName"), str):
            ref = params["FunctionName"]
        return StatesError(
            "Lambda.ResourceNotFoundException",
            f"Function not found: {ref} (no task handler registered for it)",
        )
    return StatesError("States.TaskFailed", f"No task handler registered for resource '{resource}'")
