"""Map (inline and distributed) and Parallel states, with virtual-clock concurrency."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from .dataflow import field_path, jsonata, select_path, state_input, state_output
from .errors import StatesError
from .expressions import dumps, evaluate_template
from .fibers import Scheduler
from .flow import Failed, Frame, as_number, expr_text, plain_text
from .history import History, error_details
from .jsonata_eval import json_type
from .machine import ABSENT, Machine, State

RunMachine = Callable[[Machine, Any, Frame], Any]


class MapParallelStates:
    """The Parallel and Map states. What they use is given: the history, the fiber scheduler,
    `run_machine` (the executor's state loop, for branches and iterations), `run_child` (a
    distributed Map's child execution: its output, or Failed) and the state machine's ARN."""

    def __init__(
        self,
        *,
        history: History,
        scheduler: Scheduler,
        run_machine: RunMachine,
        run_child: Callable[[Machine, Any], Any],
        state_machine_arn: str,
    ):
        self.history = history
        self.scheduler = scheduler
        self.run_machine = run_machine
        self.run_child = run_child
        self.state_machine_arn = state_machine_arn

    # ------------------------------------------------------------------ Parallel
    def parallel(self, state: State, raw, frame: Frame, ctx: dict):
        """Every branch on its own fiber, all started at once (docs: state-parallel, "the
        entire Parallel state fails and all its branches are stopped"). The first branch to
        fail stops the others; they record nothing more (AWS has TaskStateAborted-style event
        types, but no recording here shows when it writes them, so none are written)."""
        h = self.history
        eff = state_input(state, raw, ctx, frame)
        started = h.add("ParallelStateStarted", frame.last)
        frame.last = started
        sched = self.scheduler
        results: list[Any] = [None] * len(state.branches)
        end_prev = frame.last
        try:
            for index, branch in enumerate(state.branches):
                sub = Frame(frame.vars, started)  # variables are replaced, never mutated
                sched.spawn(self._branch_run(branch, eff, sub), yields=True, tag=(index, sub))
            for child in sched.join(0):
                if child.error is not None:
                    sched.cancel_children()
                    self._raise_child_error(child.error, frame)
                results[child.tag[0]] = child.value
                end_prev = child.tag[1].last
        except BaseException:
            sched.cancel_children()
            raise
        h.add("ParallelStateSucceeded", end_prev)
        frame.last = end_prev
        return state_output(state, raw, results, ctx, frame)

    def _branch_run(self, machine, value, sub: Frame):
        def run():
            return self.run_machine(machine, value, sub)

        return run

    @staticmethod
    def _raise_child_error(error: BaseException, frame: Frame):
        if isinstance(error, Failed):
            frame.last = error.last
            raise StatesError(error.error, error.cause) from None
        raise error

    # ------------------------------------------------------------------ Map
    def items(self, state: State, raw, frame: Frame, ctx: dict) -> list:
        """The array a Map iterates over, or the StatesError AWS gives when it is none."""
        eff = raw if state.jsonata else select_path(state.input_path, raw, ctx, frame)
        return self._map_items(state, raw, eff, ctx, frame)

    def _map_items(self, state: State, raw, eff, ctx, frame) -> list:
        spec = state.spec
        for field in ("ItemReader", "ResultWriter"):
            if field in spec:  # S3-backed: say so rather than silently run something else
                raise StatesError(
                    "States.Runtime", f"The local engine does not support the Map field {field}."
                )
        if state.jsonata:
            if "Items" not in spec:
                items = raw
            else:
                items = jsonata(spec["Items"], {"input": raw, "context": ctx}, frame, "Items")
            if not isinstance(items, list):
                if "Items" not in spec:  # AWS's cause when the state input itself is iterated
                    raise StatesError(
                        "States.QueryEvaluationError",
                        f"Map state input must be an array but was: {dumps(items)}",
                    )
                expr = expr_text(spec["Items"])
                if callable(items) or (
                    items is not None
                    and json_type(items) == "object"
                    and not isinstance(items, dict)
                ):
                    msg = "specified for the field 'Items' returned an unsupported result type."
                else:
                    msg = (
                        "specified for the field 'Items' returned an unexpected result type. Expected 'array', but was "
                        f"'{json_type(items)}' for value: {dumps(items)}"
                    )
                err = StatesError(
                    "States.QueryEvaluationError",
                    f"The JSONata expression '{expr}' {msg}",
                )
                err.location = "Items"
                raise err
            return items
        path = spec.get("ItemsPath", "$")
        items = select_path(path, eff, ctx, frame)
        if not isinstance(items, list):
            # AWS's words (recorded through TestState); a context path is named from the
            # context object's root: "$$.Execution.Input" -> "$.Execution.Input"
            shown = path[1:] if path.startswith("$$") else path
            raise StatesError("States.Runtime", f'Reference path "{shown}" must point to array.')
        return items

    def _tolerance(self, state: State, raw, ctx, frame) -> tuple[int | None, float | None]:
        spec = state.spec
        count = spec.get("ToleratedFailureCount")
        pct = spec.get("ToleratedFailurePercentage")
        states = {"input": raw, "context": ctx}
        if state.jsonata:
            if isinstance(count, str):
                count = jsonata(count, states, frame, "ToleratedFailureCount")
            if isinstance(pct, str):
                pct = jsonata(pct, states, frame, "ToleratedFailurePercentage")
        if "ToleratedFailureCountPath" in spec:
            p = spec["ToleratedFailureCountPath"]
            count = as_number(field_path("ToleratedFailureCountPath", p, raw, ctx, frame), int)
            if isinstance(count, bool) or not isinstance(count, int):
                raise StatesError(
                    "States.Runtime",
                    f'The ToleratedFailureCountPath field refers to value "{plain_text(count)}" '
                    f"which is not a valid integer: {p}",
                )
        if "ToleratedFailurePercentagePath" in spec:
            p = spec["ToleratedFailurePercentagePath"]
            pct = as_number(field_path("ToleratedFailurePercentagePath", p, raw, ctx, frame), float)
            if isinstance(pct, bool) or not isinstance(pct, (int, float)):
                raise StatesError(
                    "States.Runtime",
                    f"The ToleratedFailurePercentagePath field refers to value "
                    f'"{plain_text(pct)}" which is not a valid float: {p}',
                )
        if count is not None and count < 0:
            raise StatesError("States.Runtime", "ToleratedFailureCount cannot be negative.")
        if pct is not None and not 0 <= pct <= 100:
            raise StatesError(
                "States.Runtime", "ToleratedFailurePercentage must be between 0 and 100."
            )
        return count, pct

    def map(self, state: State, raw, frame: Frame, ctx: dict):
        h = self.history
        # MaxConcurrency is evaluated first, before MapStateStarted: a bad MaxConcurrencyPath
        # fails the execution straight after MapStateEntered (LocalStack's AWS-validated Map).
        max_concurrency = self._max_concurrency(state, raw, ctx, frame)
        eff = raw if state.jsonata else select_path(state.input_path, raw, ctx, frame)
        items = self._map_items(state, raw, eff, ctx, frame)
        frame.last = h.add(
            "MapStateStarted", frame.last, "mapStateStartedEventDetails", {"length": len(items)}
        )
        count, pct = self._tolerance(state, raw, ctx, frame)
        if state.distributed:
            limit = max_concurrency or _INLINE_LIMIT
            return self._distributed(state, raw, eff, items, frame, ctx, count, pct, limit)
        # MaxConcurrency 0 means "as many as possible"; AWS runs at most 40 inline iterations
        # at once (docs: state-map-inline), so 0 gets that cap here too.
        limit = max_concurrency or _INLINE_LIMIT
        sched = self.scheduler
        results: list[Any] = [None] * len(items)
        end_prev = frame.last

        def absorb(done: list) -> None:
            nonlocal end_prev
            for child in done:
                if child.error is not None:
                    self._abort_iterations(state, child.error, frame)
                results[child.tag[0]], end_prev = child.value
                frame.last = child.tag[1].last

        try:
            for index, item in enumerate(items):
                absorb(sched.join(limit - 1))  # a free slot
                value = self._item_input(state, raw, eff, item, index, ctx, frame)
                details = {"index": index, "name": state.name}
                started = h.add(
                    "MapIterationStarted", frame.last, "mapIterationStartedEventDetails", details
                )
                sub = Frame(frame.vars, started)  # variables are replaced, never mutated
                run = self._iteration_run(state, value, sub, details)
                sched.spawn(run, yields=False, tag=(index, sub))
                sched.pause()  # the iteration runs until it waits, then the next one starts
                absorb(sched.collect())
            absorb(sched.join(0))
        except BaseException:
            sched.cancel_children()
            raise
        h.add("MapStateSucceeded", end_prev)
        frame.last = end_prev
        return state_output(state, raw, results, ctx, frame)

    def _iteration_run(self, state: State, value, sub: Frame, details: dict):
        h = self.history

        def run():
            try:
                out = self.run_machine(state.processor, value, sub)
            except Failed as f:
                h.add("MapIterationFailed", f.last, "mapIterationFailedEventDetails", details)
                raise
            done = h.add(
                "MapIterationSucceeded", sub.last, "mapIterationSucceededEventDetails", details
            )
            return out, done

        return run

    def _abort_iterations(self, state: State, error: BaseException, frame: Frame):
        """An iteration failed: AWS stops the Map's other iterations (docs: state-map-inline,
        "If any iteration fails, the entire Map state fails") and records MapIterationAborted
        for each one still running. Their order against MapStateFailed is not in the recorded
        corpus; here they come first, in index order."""
        stopped = self.scheduler.cancel_children()
        if isinstance(error, Failed):
            for child in sorted(stopped, key=lambda c: c.tag[0]):
                details = {"index": child.tag[0], "name": state.name}
                self.history.add(
                    "MapIterationAborted",
                    child.tag[1].last,
                    "mapIterationAbortedEventDetails",
                    details,
                )
        self._raise_child_error(error, frame)

    def _max_concurrency(self, state: State, raw, ctx, frame) -> int:
        """MaxConcurrency, MaxConcurrencyPath or a JSONata MaxConcurrency. The Path causes
        follow the ToleratedFailureCountPath ones AWS recorded (corpus) and LocalStack's
        AWS-validated Map; AWS's texts for a negative value and for a JSONata result that is
        not an integer are not recorded anywhere we could check, so these are our wording."""
        spec = state.spec
        value = spec.get("MaxConcurrency", 0)
        if state.jsonata and isinstance(value, str):
            value = jsonata(value, {"input": raw, "context": ctx}, frame, "MaxConcurrency")
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                err = StatesError(
                    "States.QueryEvaluationError",
                    f"The JSONata expression '{expr_text(spec['MaxConcurrency'])}' specified for "
                    "the field 'MaxConcurrency' returned an unexpected result type. Expected "
                    f"'integer', but was '{json_type(value)}' for value: {dumps(value)}",
                )
                err.location = "MaxConcurrency"
                raise err
        elif "MaxConcurrencyPath" in spec:
            p = spec["MaxConcurrencyPath"]
            value = as_number(field_path("MaxConcurrencyPath", p, raw, ctx, frame), int)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise StatesError(
                    "States.Runtime",
                    f'The MaxConcurrencyPath field refers to value "{plain_text(value)}" which is '
                    f"not a valid integer: {p}",
                )
        if value < 0:
            raise StatesError(
                "States.Runtime",
                f"Expected non-negative integer for MaxConcurrency, got '{value}' instead.",
            )
        return value

    def _item_input(self, state: State, raw, eff, item, index, ctx, frame):
        if state.parameters is ABSENT:
            return item
        item_ctx = {**ctx, "Map": {"Item": {"Index": index, "Value": item}}}
        if state.jsonata:
            states = {"input": raw, "context": item_ctx}
            return jsonata(state.parameters, states, frame, "ItemSelector")
        return evaluate_template(state.parameters, eff, item_ctx, frame.vars, field="ItemSelector")

    def _child_run(self, machine: Machine, value: Any):
        def run():
            return self.run_child(machine, value)

        return run

    def _distributed(self, state, raw, eff, items, frame, ctx, count, pct, limit: int):
        """A distributed Map: child executions, so only MapRun events in this history."""
        h = self.history
        sm = self.state_machine_arn.replace(":stateMachine:", ":mapRun:", 1)
        arn = f"{sm}/{state.spec.get('Label', state.name)}:{uuid.uuid4()}"
        run_started = h.add(
            "MapRunStarted", frame.last, "mapRunStartedEventDetails", {"mapRunArn": arn}
        )
        # The child executions run on fibers too, at most `limit` at once; a failed child
        # does not stop the others (the tolerated-failure thresholds decide, at the end).
        sched = self.scheduler
        results: list[Any] = [None] * len(items)
        failures = 0
        last_err: Failed | None = None

        def absorb(done: list) -> None:
            nonlocal failures, last_err
            for child in done:
                error = child.error
                if error is None:
                    results[child.tag] = child.value
                elif isinstance(error, Failed):
                    failures += 1
                    last_err = error
                    results[child.tag] = error_details(error.error, error.cause)
                else:  # the execution timed out or was stopped
                    sched.cancel_children()
                    raise error

        try:
            for index, item in enumerate(items):
                absorb(sched.join(limit - 1))
                value = self._item_input(state, raw, eff, item, index, ctx, frame)
                sched.spawn(self._child_run(state.processor, value), yields=False, tag=index)
                sched.pause()
                absorb(sched.collect())
            while True:  # join() returns early on a failed child: wait for all of them
                absorb(sched.join(0))
                if not sched.pending():
                    break
        except BaseException:
            sched.cancel_children()
            raise
        # AWS: with both thresholds set, exceeding either one fails the Map; with none, any
        # failure does.
        if count is None and pct is None:
            too_many = failures > 0
        else:
            too_many = (count is not None and failures > count) or (
                pct is not None and failures * 100.0 / max(len(items), 1) > pct
            )
        if too_many:
            error: str | None = "States.ExceedToleratedFailureThreshold"
            cause: str | None = "The specified tolerated failure threshold was exceeded"
            if count is None and pct is None and last_err is not None:
                error, cause = last_err.error, last_err.cause
            frame.last = h.add(
                "MapRunFailed", run_started, "mapRunFailedEventDetails", error_details(error, cause)
            )
            raise StatesError(error, cause)
        ok = h.add("MapRunSucceeded", run_started)
        h.add("MapStateSucceeded", ok)
        frame.last = ok
        return state_output(state, raw, results, ctx, frame)


_INLINE_LIMIT = 40  # AWS runs at most 40 inline Map iterations at once
