"""Task states: parameters, timeouts, the handler call and its Lambda/Task history events."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import tasks as taskmod
from .dataflow import field_path, jsonata, state_input, state_output
from .errors import StatesError
from .expressions import copy_json, dumps, forget_last
from .fibers import Scheduler
from .flow import Frame, plain_text
from .history import History, error_details
from .machine import State
from .quotas import data_limit_error, payload_too_large

InvokeFn = Callable[[str, Any, Frame, "float | None", "float | None", str], Any]


class TaskStates:
    """The Task state: what it needs is given, nothing is shared with the executor.

    run() prepares the attempt (parameters, timeouts), calls `invoke` (this component's own
    invoke() unless the executor passes another, e.g. a mock), then shapes the output."""

    def __init__(
        self,
        *,
        history: History,
        clock: Any,
        tasks: Mapping[str, Callable] | None,
        scheduler: Scheduler,
        region: str,
    ):
        self.history = history
        self.clock = clock
        self.tasks = tasks
        self.scheduler = scheduler
        self.region = region
        # state name -> a callable answering that Task's invocation (mocks, replay), or None
        self.task_answer: Callable[[str], Callable | None] | None = None

    def _timeout_field(self, state: State, name: str, raw, ctx, frame) -> float | None:
        spec = state.spec
        value = spec.get(name)
        if state.jsonata and isinstance(value, str):
            value = jsonata(value, {"input": raw, "context": ctx}, frame, name)
        elif name + "Path" in spec:
            value = field_path(name + "Path", spec[name + "Path"], raw, ctx, frame)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
        ):
            field = name + "Path" if name + "Path" in spec else name
            raise StatesError(
                "States.Runtime",
                f'The {field} field refers to value "{plain_text(value)}" which is not a valid '
                "positive integer",
            )
        return value

    def run(self, state: State, raw, frame: Frame, ctx: dict, invoke: InvokeFn | None = None):
        """A Task state's output, Assign and next state."""
        resource = state.spec.get("Resource", "")
        params = state_input(state, raw, ctx, frame)
        if payload_too_large(dumps(params)):  # AWS's cause for parameters is not documented
            raise data_limit_error(state.name)
        timeout = heartbeat = None
        if state.has_timeouts:
            timeout = self._timeout_field(state, "TimeoutSeconds", raw, ctx, frame)
            heartbeat = self._timeout_field(state, "HeartbeatSeconds", raw, ctx, frame)
        result = (invoke or self.invoke)(resource, params, frame, timeout, heartbeat, state.name)
        return state_output(state, raw, result, ctx, frame)

    def invoke(
        self, resource: str, params, frame: Frame, timeout, heartbeat, state_name: str = ""
    ) -> Any:
        """Schedule/start/run one task attempt, recording AWS's events; return its result."""
        h = self.history
        is_lambda = taskmod.is_lambda_arn(resource)
        if is_lambda:
            sched: dict[str, Any] = {"resource": resource, "input": dumps(params)}
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
        # A mock or a recorded answer (mockconfig, replay, teststate) speaks for the state by
        # name and returns the integration's raw result: no lambda:invoke wrapping.
        handler = self.task_answer(state_name) if self.task_answer is not None else None
        raw = handler is not None
        if handler is None:
            handler = taskmod.find_handler(self.tasks, resource, params)
        started = self.clock.now()
        try:
            if handler is None:
                raise _missing_handler(resource, params)
            payload = params
            invoke = resource == taskmod.LAMBDA_INVOKE  # .waitForTaskToken returns unwrapped
            if resource.startswith(taskmod.LAMBDA_INVOKE):
                payload = params.get("Payload", {}) if isinstance(params, dict) else {}
            payload = copy_json(payload, dumps(payload))  # its own copy, as over the wire
            limit = (
                min(x for x in (timeout, heartbeat) if x is not None)
                if (timeout is not None or heartbeat is not None)
                else None
            )
            try:
                result = self.scheduler.blocking(
                    lambda: taskmod.call_handler(handler, payload, self.clock, limit)
                )
            except StatesError as exc:
                if (
                    exc.error == "States.Timeout"
                    and heartbeat is not None
                    and (timeout is None or heartbeat < timeout)
                ):
                    # a Python handler sends no heartbeats: HeartbeatSeconds is a deadline too
                    raise StatesError("States.HeartbeatTimeout") from None
                raise
            finally:
                forget_last()
            elapsed = (self.clock.now() - started).total_seconds()
            if timeout is not None and elapsed > timeout:
                raise StatesError("States.Timeout")
            if heartbeat is not None and elapsed > heartbeat:
                raise StatesError("States.HeartbeatTimeout")
            if invoke and not raw:
                result = taskmod.lambda_invoke_result(result, self.clock.now())
            try:
                text = dumps(result)
            except (TypeError, ValueError) as exc:
                raise StatesError(
                    "States.Runtime", f"The task result is not JSON-serializable: {exc}"
                ) from None
            if payload_too_large(text):  # AWS names the resource type: 'lambda'
                raise data_limit_error(base.get("resourceType", "lambda"))
            result = copy_json(result, text)  # decoupled from objects the handler keeps
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
