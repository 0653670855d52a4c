"""Run a compiled machine: the state loop, input/output processing, Retry/Catch, and the
Pass/Choice/Wait/Succeed/Fail states (Task, Map and Parallel live in their own modules)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .dataflow import (
    field_path,
    jsonata,
    jsonata_assign,
    jsonata_output,
    jsonpath_assign,
    select_path,
)
from .errors import StatesError
from .expressions import dumps, evaluate_rule, evaluate_template, write_result_path
from .fibers import Scheduler
from .flow import (
    MAX_WAIT,
    NO_CONTEXT,
    PREFIXED_ERRORS,
    Aborted,
    Failed,
    Frame,
    RetriableError,
    TimedOut,
    error_matches,
    expr_text,
    iso,
    parse_timestamp,
    plain_text,
)
from .history import History, error_details
from .jsonata_eval import json_type
from .machine import ABSENT, Catcher, Machine, State
from .map_parallel import MapParallelStates
from .quotas import data_limit_error, payload_too_large
from .task_state import TaskStates

_ABORT_POLL_SECONDS = 0.2

__all__ = ["Aborted", "Execution", "Failed", "Frame", "RetriableError", "TimedOut", "iso"]


class Execution:
    """Everything one run needs: compiled machine, handlers, clock, history, context. Task,
    Map and Parallel states are components (TaskStates, MapParallelStates) given what they
    use; the other state types are here."""

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
        scheduler: Scheduler | None = None,
    ):
        self.machine = machine
        self.scheduler = scheduler or Scheduler(clock)
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
        self.task_states = TaskStates(
            history=history,
            clock=clock,
            tasks=tasks,
            scheduler=self.scheduler,
            region=self.region,
        )
        self.map_parallel = MapParallelStates(
            history=history,
            scheduler=self.scheduler,
            run_machine=self.run_machine,
            run_child=self.run_child,
            state_machine_arn=str(self.sm_ctx.get("Id", "")),
        )
        self.run_types: dict[str, Callable[..., Any]] = {
            "Pass": self._pass,
            "Task": self._task,
            "Choice": self._choice,
            "Wait": self._wait,
            "Succeed": self._succeed,
            "Fail": self._fail,
            "Parallel": self._parallel,
            "Map": self._map,
        }
        self.single_attempt: State | None = None  # test_state: this state stops at its 1st error
        self.caught: tuple[State, StatesError] | None = None  # the last error a Catch handled

    # ------------------------------------------------------------------ the state loop
    def run_machine(
        self, machine: Machine, value: Any, frame: Frame, start: str | None = None
    ) -> Any:
        name: str | None = start or machine.start_at
        while True:
            state = machine.states.get(name or "")
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

    def run_state(self, state: State, raw: Any, frame: Frame) -> tuple[Any, str | None]:
        if self.should_abort is not None and (stop := self.should_abort()):
            raise Aborted(frame.last, stop)
        self.check_deadline(frame)
        h = self.history
        entered_prev = frame.last
        eid = h.entered(state.type, state.name, raw, entered_prev)
        frame.last = eid
        self.scheduler.step()  # a Parallel branch lets its siblings take a turn
        ctx = (
            self.context(state, self.clock.now(), 0 if state.type == "Task" else None)
            if state.needs_context
            else NO_CONTEXT
        )
        if state.task_token and state.needs_context:
            ctx["Task"] = {"Token": str(uuid.uuid4())}
        attempts = [0] * len(state.retriers)
        while True:
            try:
                out, nxt, assigned = self.run_types[state.type](state, raw, frame, ctx, eid)
                break
            except StatesError as raised:
                err = self._locate(raised, state, eid)
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
                    if self.single_attempt is state:
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
                self.caught = (state, err)
                break
        if payload_too_large(dumps(out)):  # uncatchable: no Retry or Catch applies
            too_large = data_limit_error(state.name)
            raise Failed(too_large.error, too_large.cause, frame.last)
        frame.last = h.exited(state.type, state.name, out, frame.last, assigned)
        if assigned:
            frame.vars = {**frame.vars, **assigned}
        self.scheduler.step()
        return out, (None if state.end and nxt is None else nxt)

    @staticmethod
    def _locate(err: StatesError, state: State, eid: int) -> StatesError:
        cause = err.cause
        if err.error in PREFIXED_ERRORS and not (cause or "").startswith("An error occurred while"):
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
            assigned = jsonata_assign(catcher.assign, states, frame)
            if catcher.output is ABSENT:
                out = error_output
            else:
                out = jsonata(catcher.output, states, frame, "Output")
            return out, assigned
        assigned = jsonpath_assign(catcher.assign, error_output, ctx, frame)
        return write_result_path(raw, catcher.result_path, error_output), assigned

    def _sleep(self, seconds: float, frame: Frame) -> None:
        if self.should_abort is not None and (stop := self.should_abort()):
            raise Aborted(frame.last, stop)
        timed_out = False
        if self.deadline is not None:
            left = (self.deadline - self.clock.now()).total_seconds()
            if seconds >= left:
                seconds, timed_out = max(left, 0), True
        if self.should_abort is None or getattr(self.clock, "virtual", True):
            self.scheduler.sleep(seconds, self.clock.sleep)
        else:  # a real wait: keep polling should_abort so a stop takes effect promptly
            self.scheduler.sleep(seconds, lambda s: self._polled_sleep(s, frame))
        if timed_out:
            raise TimedOut(frame.last)

    def _polled_sleep(self, seconds: float, frame: Frame) -> None:
        end = time.monotonic() + seconds
        while (rest := end - time.monotonic()) > 0:
            self.clock.sleep(min(rest, _ABORT_POLL_SECONDS))
            if self.should_abort is not None and (stop := self.should_abort()):
                raise Aborted(frame.last, stop)

    # ------------------------------------------------------------------ components
    @property
    def task_answer(self) -> Callable[[str], Callable | None] | None:
        """State name -> a callable answering that Task's invocation (mocks, replay), or None."""
        return self.task_states.task_answer

    @task_answer.setter
    def task_answer(self, answer: Callable[[str], Callable | None] | None) -> None:
        self.task_states.task_answer = answer

    def invoke(
        self, resource: str, params: Any, frame: Frame, timeout, heartbeat, state_name: str = ""
    ) -> Any:
        """One task attempt (TaskStates.invoke): a subclass may answer it otherwise."""
        return self.task_states.invoke(resource, params, frame, timeout, heartbeat, state_name)

    def run_child(self, machine: Machine, value: Any) -> Any:
        """A distributed Map's child execution: same handlers, clock and fibers, its own
        history. Returns its output; raises Failed."""
        child = type(self)(
            machine,
            tasks=self.tasks,
            clock=self.clock,
            history=History(self.clock),
            context={"Execution": self.exec_ctx, "StateMachine": self.sm_ctx},
            deadline=self.deadline,
            should_abort=self.should_abort,
            rng=self._rng,
            scheduler=self.scheduler,
        )
        child.task_answer = self.task_answer
        return child.run_machine(machine, value, Frame({}, 0))

    def _task(self, state: State, raw, frame, ctx, eid):
        return self.task_states.run(state, raw, frame, ctx, invoke=self.invoke)

    def _parallel(self, state: State, raw, frame, ctx, eid):
        return self.map_parallel.parallel(state, raw, frame, ctx)

    def _map(self, state: State, raw, frame, ctx, eid):
        return self.map_parallel.map(state, raw, frame, ctx)

    # ------------------------------------------------------------------ state types
    def _pass(self, state: State, raw, frame, ctx, eid):
        if state.jsonata:
            out, assigned = jsonata_output(state, {"input": raw, "context": ctx}, frame, raw)
            return out, state.next, assigned
        eff = select_path(state.input_path, raw, ctx, frame)
        if "Result" in state.spec:
            result = state.spec["Result"]
        elif state.parameters is not ABSENT:
            result = evaluate_template(state.parameters, eff, ctx, frame.vars)
        else:
            result = eff
        assigned = jsonpath_assign(state.assign, result, ctx, frame)
        out = write_result_path(raw, state.result_path, result)
        return select_path(state.output_path, out, ctx, frame), state.next, assigned

    def _succeed(self, state: State, raw, frame, ctx, eid):
        if state.jsonata:
            out, _ = jsonata_output(state, {"input": raw, "context": ctx}, frame, raw)
            return out, None, None
        eff = select_path(state.input_path, raw, ctx, frame)
        return select_path(state.output_path, eff, ctx, frame), None, None

    def _fail(self, state: State, raw, frame, ctx, eid):
        spec = state.spec
        if state.jsonata:
            states = {"input": raw, "context": ctx}
            error = jsonata(spec.get("Error"), states, frame, "Error")
            cause = jsonata(spec.get("Cause"), states, frame, "Cause")
        else:
            error, cause = spec.get("Error"), spec.get("Cause")
            if "ErrorPath" in spec:
                error = field_path("ErrorPath", spec["ErrorPath"], raw, ctx, frame)
            if "CausePath" in spec:
                cause = field_path("CausePath", spec["CausePath"], raw, ctx, frame)
        raise Failed(error, cause, frame.last)

    def _choice(self, state: State, raw, frame, ctx, eid):
        spec = state.spec
        if state.jsonata:
            states = {"input": raw, "context": ctx}
            for rule in spec.get("Choices") or []:
                ok = jsonata(rule.get("Condition"), states, frame, "Condition")
                if not isinstance(ok, bool):
                    raise StatesError(
                        "States.QueryEvaluationError",
                        f"The JSONata expression '{expr_text(rule.get('Condition'))}' specified "
                        f"for the field 'Condition' returned an unexpected result type. Expected "
                        f"'boolean', but was '{json_type(ok)}' for value: {dumps(ok)}",
                    )
                if ok:
                    assigned = jsonata_assign(rule.get("Assign"), states, frame)
                    out = raw
                    if "Output" in rule:
                        out = jsonata(rule["Output"], states, frame, "Output")
                    return out, rule.get("Next"), assigned
            if "Default" not in spec:
                raise StatesError("States.NoChoiceMatched", _no_choice_cause(state, eid))
            out, assigned = jsonata_output(state, states, frame, raw)
            return out, spec["Default"], assigned
        eff = select_path(state.input_path, raw, ctx, frame)
        for rule in spec.get("Choices") or []:
            if evaluate_rule(rule, eff, ctx, frame.vars):
                assigned = jsonpath_assign(rule.get("Assign"), eff, ctx, frame)
                return select_path(state.output_path, eff, ctx, frame), rule.get("Next"), assigned
        if "Default" not in spec:
            raise StatesError("States.NoChoiceMatched", _no_choice_cause(state, eid))
        assigned = jsonpath_assign(state.assign, eff, ctx, frame)
        return select_path(state.output_path, eff, ctx, frame), spec["Default"], assigned

    def _wait(self, state: State, raw, frame, ctx, eid):
        spec = state.spec
        now = self.clock.now()
        until = None
        if state.jsonata:
            states = {"input": raw, "context": ctx}
            if "Seconds" in spec:
                secs = jsonata(spec["Seconds"], states, frame, "Seconds")
                if isinstance(secs, bool) or not isinstance(secs, (int, float)) or secs < 0:
                    raise StatesError(
                        "States.QueryEvaluationError",
                        f"The JSONata expression '{expr_text(spec['Seconds'])}' specified for "
                        "the field 'Seconds' returned an unexpected result type. Expected "
                        f"'integer', but was '{json_type(secs)}' for value: {dumps(secs)}",
                    )
                until = now + timedelta(seconds=secs)
            elif "Timestamp" in spec:
                text = jsonata(spec["Timestamp"], states, frame, "Timestamp")
                until = parse_timestamp(text)
                if until is None:
                    err = StatesError(
                        "States.QueryEvaluationError",
                        "The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                        f"date-time format string: {text}",
                    )
                    err.location = "Timestamp"
                    raise err
            out, assigned = jsonata_output(state, states, frame, raw)
        else:
            eff = select_path(state.input_path, raw, ctx, frame)
            if "Seconds" in spec:
                until = now + timedelta(seconds=spec["Seconds"])
            elif "Timestamp" in spec:
                until = parse_timestamp(spec["Timestamp"])
            elif "SecondsPath" in spec:
                p = spec["SecondsPath"]
                secs = field_path("SecondsPath", p, eff, ctx, frame)
                if (
                    isinstance(secs, bool)
                    or not isinstance(secs, (int, float))
                    or secs != int(secs)
                ):
                    raise StatesError(
                        "States.Runtime",
                        "The SecondsPath parameter cannot be parsed as a long value: "
                        f"{p} == {plain_text(secs)}",
                    )
                if secs < 0:
                    raise StatesError(
                        "States.Runtime",
                        f"The SecondsPath parameter references a negative value: {p} == "
                        f"{plain_text(secs)}",
                    )
                until = now + timedelta(seconds=int(secs))
            elif "TimestampPath" in spec:
                p = spec["TimestampPath"]
                text = field_path("TimestampPath", p, eff, ctx, frame)
                until = parse_timestamp(text)
                if until is None:
                    raise StatesError(
                        "States.Runtime",
                        "The TimestampPath parameter does not reference a valid ISO-8601 "
                        f"extended offset date-time format string: {p} == {plain_text(text)}",
                    )
            assigned = jsonpath_assign(state.assign, eff, ctx, frame)
            out = select_path(state.output_path, eff, ctx, frame)
        if until is not None:
            if until - now > MAX_WAIT:
                raise StatesError("States.Runtime", "Wait state delay is too long.")
            self._sleep((until - now).total_seconds(), frame)
        return out, state.next, assigned


def _no_choice_cause(state: State, eid: int) -> str:
    return (
        f"An error occurred while executing the state '{state.name}' (entered at the event id "
        f"#{eid}). No Choice Rule matched the input and there is no Default state."
    )
