"""TestState: run one state once, as AWS's TestState API does
(API reference "TestState", https://docs.aws.amazon.com/step-functions/latest/apireference/API_TestState.html;
developer guide "Testing state machines with TestState API").

    test_state(definition, input, state_name=..., mock={"result": "..."} | {"errorOutput":
               {"error": ..., "cause": ...}}, inspection_level="INFO"|"DEBUG"|"TRACE",
               state_configuration={"retrierRetryCount": n, "errorCausedByState": name,
               "mapIterationFailureCount": n}, variables={...}, context={...})

returns AWS's fields: status (SUCCEEDED, FAILED, RETRIABLE, CAUGHT_ERROR), output, error,
cause, nextState, and inspectionData at DEBUG/TRACE. As in AWS, inspectionData values are JSON
text (input, afterInputPath, afterParameters / afterArguments, result, afterResultSelector,
afterResultPath, variables) and errorDetails holds retryIndex/retryBackoffIntervalSeconds or
catchIndex; TRACE adds request and response for an HTTP Task (http:invoke), built from its
parameters and result. `output` stays a decoded value, as opsbook.engine.test_state always
returned it.

A mock is accepted on Task, Map and Parallel states only (AWS answers "State type 'Pass' is
not supported when a mock is specified"). A mocked Map or Parallel does not run its
iterations or branches: the mock is the state's result, then ResultSelector, ResultPath,
OutputPath (or Output), Retry and Catch apply. As AWS does, Map, Parallel, Activity, .sync and
.waitForTaskToken states are tested only with a mock (API reference, TestState); run them
unmocked through `execute` or `opsbook test`. `fieldValidationMode` (STRICT, the default;
PRESENT; NONE) checks the mocked result against the API model where opsbook knows it:
lambda:invoke's response fields, and the array a Map or Parallel returns; other integrations
are not checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from .clock import VirtualClock
from .dataflow import select_path
from .errors import DefinitionError, Diagnostic, StatesError
from .executor import Execution, Failed, Frame, RetriableError
from .expressions import dumps, evaluate_template, write_result_path
from .flow import error_matches
from .history import History
from .machine import Machine
from .tasks import LAMBDA_INVOKE

__all__ = ["TestStateError", "test_state"]

INSPECTION_LEVELS = ("INFO", "DEBUG", "TRACE")
FIELD_VALIDATION_MODES = ("STRICT", "PRESENT", "NONE")
_MOCKABLE = ("Task", "Map", "Parallel")
_MOCK_RESOURCE = "arn:aws:states:::opsbook:mocked"
HTTP_INVOKE = "arn:aws:states:::http:invoke"
_CONFIG_KEYS = {
    "retrierRetryCount",
    "errorCausedByState",
    "mapIterationFailureCount",
    "mapItemReaderData",
}
# What a mocked Map or Parallel keeps when it runs as a Task answering the mock.
_KEPT = ("Comment", "QueryLanguage", "InputPath", "OutputPath", "ResultPath", "ResultSelector",
         "Retry", "Catch", "Assign", "Output", "Next", "End")  # fmt: skip
# lambda:invoke's response (Lambda API "Invoke"), as the integration returns it.
_LAMBDA_FIELDS = {
    "StatusCode": int,
    "FunctionError": str,
    "LogResult": str,
    "ExecutedVersion": str,
    "Payload": object,
    "SdkHttpMetadata": dict,
    "SdkResponseMetadata": dict,
}
_ACCOUNT = "123456789012"


class TestStateError(ValueError):
    """A request TestState rejects (AWS: ValidationException); the message says why."""

    __test__ = False


def test_state(
    definition: Any,
    input: Any = None,
    *,
    state_name: str | None = None,
    mock: Mapping[str, Any] | None = None,
    inspection_level: str = "INFO",
    state_configuration: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    tasks: Mapping[str, Callable] | None = None,
    clock: Any = None,
    query_language: str | None = None,
) -> dict[str, Any]:
    """Run one state once, like the TestState API. `definition` is a state, or a whole
    state machine with `state_name` naming the state to test."""
    name, spec, top_ql = _pick_state(definition, state_name)
    if query_language:
        top_ql = query_language
    level = str(inspection_level or "INFO").upper()
    if level not in INSPECTION_LEVELS:
        raise TestStateError(f"inspectionLevel must be one of {', '.join(INSPECTION_LEVELS)}")
    config = _state_configuration(state_configuration, spec)
    value = _json_arg(input, "input", {})
    user_vars = _json_arg(variables, "variables", {})
    if not isinstance(user_vars, dict):
        raise TestStateError("variables must be a JSON object")
    user_ctx = _json_arg(context, "context", None)
    if user_ctx is not None:
        _check_context(user_ctx, spec)
    answer = None
    original = spec  # a mocked Map or Parallel runs as a Task; inspection reads the original
    if mock is None:
        _check_runs_without_mock(spec)
    else:
        answer, spec = _mocked(mock, spec, config, value)
    spec = _apply_retry_count(spec, mock, config)
    wrapper: dict[str, Any] = {"StartAt": name, "States": {name: spec}}
    if top_ql:
        wrapper["QueryLanguage"] = top_ql
    machine = Machine(wrapper)
    state = machine.states[name]
    clock = clock or VirtualClock()
    history = History(clock)
    ex = Execution(
        machine,
        tasks=dict(tasks or {}),
        clock=clock,
        history=history,
        context=_base_context(clock, value),
        deadline=None,
        should_abort=None,
    )
    ex.task_answer = answer  # read by TaskStates.invoke: the mock answers every attempt
    if user_ctx is not None:  # AWS: a given context object is the whole context, as given

        def given_context(*args: Any, **kwargs: Any) -> dict:
            return json.loads(json.dumps(user_ctx))

        ex.context = given_context  # type: ignore[method-assign]
    ex.single_attempt = state
    frame = Frame(dict(user_vars), 0)
    result: dict[str, Any] = {
        "status": "SUCCEEDED",
        "output": None,
        "error": None,
        "cause": None,
        "nextState": None,
    }
    error: StatesError | None = None
    try:
        if mock is not None and original.get("Type") == "Map":
            # AWS reads the Map's items before the mock answers: no array fails the test
            mapped = Machine({**wrapper, "States": {name: original}}).states[name]
            ex.map_parallel.items(mapped, value, frame, ex.context(mapped, clock.now()))
        out, nxt = ex.run_state(state, value, frame)
    except RetriableError as r:
        error = r.err
        result.update(status="RETRIABLE", error=error.error, cause=error.cause)
    except Failed as f:
        result.update(status="FAILED", error=f.error, cause=_unprefixed(f.cause))
    except StatesError as err:
        result.update(status="FAILED", error=err.error, cause=_unprefixed(err.cause))
    else:
        if ex.caught is not None and ex.caught[0] is state:
            error = ex.caught[1]
            result.update(status="CAUGHT_ERROR", error=error.error, cause=error.cause)
        result["output"], result["nextState"] = out, nxt
        result["variables"] = frame.vars
    if level != "INFO":
        data = _inspection(ex, state, value, frame, history, result, error, level, original)
        if original.get("Type") == "Map" and result["status"] != "FAILED":
            data.update(_map_inspection(ex, state, original, value, frame))
        if state.assign is None and not user_vars:
            data.pop("variables", None)  # AWS shows variables only when the state has any
        result["inspectionData"] = data
    return result


# An execution's runtime causes open with where they happened; TestState's do not (AWS's
# TestState answers, e.g. 'Reference path "$" must point to array.').
_EXECUTION_PREFIX = re.compile(
    r"^An error occurred while executing the state '.*?' \(entered at the event id #\d+\)\. "
)


def _unprefixed(cause: str | None) -> str | None:
    return _EXECUTION_PREFIX.sub("", cause) if cause else cause


test_state.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


# ------------------------------------------------------------------------------ request checks
def _pick_state(definition: Any, state_name: str | None) -> tuple[str, dict, str | None]:
    if isinstance(definition, (str, bytes)):
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            raise DefinitionError([Diagnostic("INVALID_JSON_DESCRIPTION", str(exc), "/")]) from None
    if not isinstance(definition, dict):
        raise DefinitionError(
            [Diagnostic("SCHEMA_VALIDATION_FAILED", "a definition must be a JSON object", "/")]
        )
    if "States" in definition:  # a whole state machine: test the state it names
        states = definition.get("States")
        if not isinstance(states, dict) or not states:
            raise DefinitionError([Diagnostic("SCHEMA_VALIDATION_FAILED", "no States", "/")])
        if state_name is None:
            raise TestStateError("stateName is required when the definition is a state machine")
        spec = states.get(state_name)
        if not isinstance(spec, dict):
            known = ", ".join(sorted(states))
            raise TestStateError(f"state {state_name!r} is not in the definition (known: {known})")
        ql = definition.get("QueryLanguage")
        return state_name, dict(spec), ql
    if "Type" not in definition:
        raise DefinitionError(
            [Diagnostic("SCHEMA_VALIDATION_FAILED", "a state definition needs a Type", "/")]
        )
    return state_name or "TestState", dict(definition), None


def _json_arg(value: Any, what: str, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, str):  # AWS takes these as JSON text
        try:
            return json.loads(value)
        except ValueError:
            raise TestStateError(f"{what} is not valid JSON text: {value[:80]!r}") from None
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise TestStateError(f"{what} is not JSON-serializable: {exc}") from None


def _state_configuration(config: Mapping[str, Any] | None, spec: dict) -> dict[str, Any]:
    config = dict(config or {})
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise TestStateError(f"unknown stateConfiguration field {unknown[0]!r}")
    for key in ("retrierRetryCount", "mapIterationFailureCount"):
        if key in config:
            n = config[key]
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise TestStateError(f"stateConfiguration.{key} must be an integer >= 0")
    kind = spec.get("Type")
    if "mapIterationFailureCount" in config and kind != "Map":
        raise TestStateError("stateConfiguration.mapIterationFailureCount applies to Map states")
    if "errorCausedByState" in config:
        caused = config["errorCausedByState"]
        if kind not in ("Map", "Parallel"):
            raise TestStateError(
                "stateConfiguration.errorCausedByState applies to Map and Parallel"
            )
        if not isinstance(caused, str) or caused not in _inner_states(spec):
            raise TestStateError(
                f"stateConfiguration.errorCausedByState {caused!r} is not a state of this {kind}"
            )
    return config


def _check_runs_without_mock(spec: dict) -> None:
    """AWS tests Map, Parallel, Activity, .sync and .waitForTaskToken states only with a mock
    (API reference, TestState); without one it refuses the request in these words."""
    kind = spec.get("Type")
    if kind in ("Map", "Parallel"):
        raise TestStateError(
            "TestState API does not support Map or Parallel states. Supported state types "
            "include: [Task, Wait, Pass, Succeed, Fail, Choice]"
        )
    resource = spec.get("Resource")
    if kind == "Task" and isinstance(resource, str):
        if ":activity:" in resource:
            raise TestStateError("TestState API supports an Activity task only with a mock")
        if resource.endswith((".sync", ".sync:2", ".waitForTaskToken")):
            raise TestStateError(
                "TestState API supports the .sync and .waitForTaskToken integration patterns "
                "only with a mock"
            )


def _inner_states(spec: dict) -> set[str]:
    names: set[str] = set()
    stack = [spec]
    while stack:
        s = stack.pop()
        for sub in [*(s.get("Branches") or []), s.get("ItemProcessor"), s.get("Iterator")]:
            if isinstance(sub, dict) and isinstance(sub.get("States"), dict):
                names.update(sub["States"])
                stack.extend(v for v in sub["States"].values() if isinstance(v, dict))
    return names


def _mocked(mock: Mapping[str, Any], spec: dict, config: dict, value: Any):
    """(task_answer, spec to run) for a mocked state."""
    kind = spec.get("Type")
    if kind not in _MOCKABLE:
        raise TestStateError(f"State type '{kind}' is not supported when a mock is specified")
    if not isinstance(mock, Mapping):
        raise TestStateError("mock must be an object with result or errorOutput")
    unknown = sorted(set(mock) - {"result", "errorOutput", "fieldValidationMode"})
    if unknown:
        raise TestStateError(f"unknown mock field {unknown[0]!r}")
    if ("result" in mock) == ("errorOutput" in mock):
        raise TestStateError(
            "A test mock should have only one of the following fields: [result, errorOutput]."
        )
    mode = str(mock.get("fieldValidationMode") or "STRICT").upper()
    if mode not in FIELD_VALIDATION_MODES:
        raise TestStateError(
            f"mock.fieldValidationMode must be one of {', '.join(FIELD_VALIDATION_MODES)}"
        )
    failure: StatesError | None = None
    mocked: Any = None
    if "errorOutput" in mock:
        eo = mock["errorOutput"]
        if not isinstance(eo, Mapping) or not isinstance(eo.get("error"), str):
            raise TestStateError("mock.errorOutput needs a string error (and optional cause)")
        cause = eo.get("cause")
        if cause is not None and not isinstance(cause, str):
            raise TestStateError("mock.errorOutput.cause must be a string")
        failure = StatesError(eo["error"], cause)
    else:
        mocked = _json_arg(mock["result"], "mock.result", None)
        _validate_result(spec, mocked, mode)
    if kind == "Map" and failure is None:
        failure = _tolerance(spec, config, value, mocked)
    if kind in ("Map", "Parallel"):
        task = {k: spec[k] for k in _KEPT if k in spec}
        if kind == "Parallel":
            task.update({k: spec[k] for k in ("Parameters", "Arguments") if k in spec})
        spec = {"Type": "Task", "Resource": _MOCK_RESOURCE, **task}

    def answer(_state_name: str) -> Callable[[Any], Any]:
        def call(_payload: Any) -> Any:
            if failure is not None:
                raise StatesError(failure.error, failure.cause)
            return json.loads(json.dumps(mocked))

        return call

    return answer, spec


def _validate_result(spec: dict, result: Any, mode: str) -> None:
    """AWS's checks of a mocked result (messages as TestState words them). Only the fields of
    the API's response model are checked: a field the model lacks is accepted, as on AWS."""
    if mode == "NONE":
        return
    kind = spec.get("Type")
    if kind == "Map" and "ResultWriter" in spec:
        if not isinstance(result, dict):
            raise TestStateError("Mocked result must be a JSON object.")
        return
    if kind in ("Map", "Parallel"):
        if not isinstance(result, list):  # a Map's or Parallel's result is always an array
            raise TestStateError("Mocked result must be an array.")
        if kind == "Parallel" and len(result) != len(spec.get("Branches") or []):
            raise TestStateError(
                "Mocked result must contain the same number of items as number of Parallel "
                "branches."
            )
        return
    resource = str(spec.get("Resource", ""))
    if resource != LAMBDA_INVOKE or not isinstance(result, dict):
        return  # no API model known here: accepted as given
    for key, value in result.items():
        want = _LAMBDA_FIELDS.get(key)
        if want is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise TestStateError(_schema_error(f"Field '{key}' must be a number"))
        if want is str and not isinstance(value, str):
            raise TestStateError(_schema_error(f"Field '{key}' must be a string"))
        if want is dict and not isinstance(value, dict):
            raise TestStateError(_schema_error(f"Field '{key}' must be an object"))


def _schema_error(detail: str) -> str:
    return f"Mock result schema validation error: {detail}"


def _tolerance(spec: dict, config: dict, value: Any, mocked: Any) -> StatesError | None:
    """mapIterationFailureCount against the Map's ToleratedFailureCount/Percentage."""
    failures = config.get("mapIterationFailureCount")
    if not failures:
        return None
    count = spec.get("ToleratedFailureCount")
    pct = spec.get("ToleratedFailurePercentage")
    if count is None and pct is None:
        count = 0
    items = mocked if isinstance(mocked, list) else value if isinstance(value, list) else []
    too_many = (count is not None and failures > count) or (
        pct is not None and failures * 100.0 / max(len(items), 1) > pct
    )
    if too_many:  # the engine's own cause for a Map run over its tolerance
        return StatesError(
            "States.ExceedToleratedFailureThreshold",
            "The specified tolerated failure threshold was exceeded",
        )
    return None


def _apply_retry_count(spec: dict, mock: Mapping[str, Any] | None, config: dict) -> dict:
    """retrierRetryCount: the retries already made by the Retrier that matches the mocked
    error. Used up (>= MaxAttempts), that Retrier no longer retries, so Catch decides."""
    n = config.get("retrierRetryCount")
    if not n or not mock or "errorOutput" not in mock:
        return spec
    error = mock["errorOutput"]["error"]
    retry = [dict(r) for r in spec.get("Retry") or [] if isinstance(r, dict)]
    for r in retry:
        if error_matches(r.get("ErrorEquals") or [], error):
            if n >= r.get("MaxAttempts", 3):
                r["MaxAttempts"] = 0
            else:
                r["_retried"] = n  # read back by _inspection for the backoff
            break
    return {**spec, "Retry": retry}


def _base_context(clock: Any, value: Any) -> dict:
    """TestState's context object as AWS gives it (the state's input is the execution's)."""
    sm = f"arn:aws:states:us-east-1:{_ACCOUNT}:stateMachine:TestState"
    now = clock.now()
    return {
        "Execution": {
            "Id": f"arn:aws:states:us-east-1:{_ACCOUNT}:express:TestState:test-state",
            "Input": value,
            "StartTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "Name": "test-state",
            "RoleArn": f"arn:aws:iam::{_ACCOUNT}:role/TestState",
        },
        "StateMachine": {"Id": sm, "Name": "TestState"},
    }


# The context object's documented fields, and the JSON type each must have.
_CONTEXT_FIELDS: dict[str, dict[str, type | None]] = {
    "Execution": {
        "Id": str,
        "Input": None,
        "Name": str,
        "RoleArn": str,
        "StartTime": str,
        "RedriveCount": int,
        "RedriveTime": str,
    },
    "State": {"EnteredTime": str, "Name": str, "RetryCount": int},
    "StateMachine": {"Id": str, "Name": str},
    "Task": {"Token": str},
}


def _check_context(ctx: Any, spec: dict) -> None:
    """AWS's checks of a given context object (ValidationException, in its words)."""

    def bad(why: str) -> TestStateError:
        return TestStateError(f"Invalid Context object provided: {why}")

    if not isinstance(ctx, dict):
        raise TestStateError("context must be a JSON object")
    for key, value in ctx.items():
        if key == "Map":
            raise bad("'Map' field is not supported when mocking a Context object")
        fields = _CONTEXT_FIELDS.get(key)
        if fields is None:
            raise bad(f"Field '{key}' is not allowed")
        if not isinstance(value, dict):
            raise bad(f"{key} must be an object")
        for name, v in value.items():
            if name not in fields:
                raise bad(f"Field '{name}' is not allowed")
            want = fields[name]
            if want is str and not isinstance(v, str):
                raise bad(f"{key}.{name} must be a string")
            if want is int and (isinstance(v, bool) or not isinstance(v, int)):
                raise bad(f"{key}.{name} must be an integer")
    resource = str(spec.get("Resource", ""))
    if "Task" in ctx and not (
        spec.get("Type") == "Task"
        and (
            resource.endswith(".sync")
            or ".sync:" in resource
            or resource.endswith(".waitForTaskToken")
        )
    ):
        raise bad(
            "Context object contains 'Task' when state is not a Task state with a '.sync' or "
            "'.waitForTaskToken' service integration pattern"
        )


# ------------------------------------------------------------------------------ inspection
def _inspection(
    ex, state, raw, frame, history, result, error, level, original: dict
) -> dict[str, Any]:
    """DEBUG/TRACE: the data after each processing step, as JSON text, with the fields AWS's
    TestState gives for the state's type: a Pass with Result shows the Result (its InputPath
    and Parameters do not apply); a Fail, Succeed, Choice or Wait shows afterInputPath only;
    a Map shows no result; afterResultSelector is there whenever a result is (the result
    itself when there is no ResultSelector)."""
    data: dict[str, Any] = {"input": dumps(raw)}
    spec = state.spec
    kind = original.get("Type")
    ctx = ex.context(state, ex.clock.now(), 0)
    task_result, task_params = _task_events(history)
    pass_result = kind == "Pass" and "Result" in spec and not state.jsonata
    if kind == "Pass" and not state.jsonata and result["status"] == "SUCCEEDED":
        task_result = spec["Result"] if pass_result else None
    steps: list[tuple[str, Callable[[], Any]]] = []
    if state.jsonata:
        if task_params is not None and "Arguments" in spec:
            steps.append(("afterArguments", lambda: task_params))
    elif not pass_result:
        steps.append(("afterInputPath", lambda: select_path(state.input_path, raw, ctx, frame)))
        if kind in ("Task", "Pass", "Parallel"):
            steps.append(
                (
                    "afterParameters",
                    lambda: (
                        task_params
                        if task_params is not None
                        else evaluate_template(
                            spec["Parameters"],
                            select_path(state.input_path, raw, ctx, frame),
                            ctx,
                            frame.vars,
                        )
                        if "Parameters" in spec
                        else select_path(state.input_path, raw, ctx, frame)
                    ),
                )
            )
    for key, compute in steps:
        try:
            data[key] = dumps(compute())
        except (StatesError, ValueError, TypeError, KeyError):
            pass
    if kind == "Pass" and not pass_result and not state.jsonata and "afterParameters" in data:
        task_result = json.loads(data["afterParameters"])  # a Pass's result is its input
    if task_result is not None:
        if kind != "Map" and (pass_result or kind != "Pass" or state.jsonata):
            data["result"] = dumps(task_result)
        if not state.jsonata and result["status"] == "SUCCEEDED":
            try:
                selected = task_result
                if "ResultSelector" in spec:
                    selected = evaluate_template(
                        spec["ResultSelector"], task_result, ctx, frame.vars
                    )
                data["afterResultSelector"] = dumps(selected)
                data["afterResultPath"] = dumps(write_result_path(raw, state.result_path, selected))
            except (StatesError, ValueError, TypeError, KeyError):
                pass
    if result["status"] in ("SUCCEEDED", "CAUGHT_ERROR"):
        data["variables"] = dumps(frame.vars)
    details = _error_details(state, result, error)
    if details:
        data["errorDetails"] = details
    if level == "TRACE" and spec.get("Resource") == HTTP_INVOKE and isinstance(task_params, dict):
        data.update(_http_trace(task_params, task_result))
    return data


def _http_trace(params: dict, result: Any) -> dict[str, Any]:
    """TRACE for an HTTP Task: the request made from its parameters and the response its
    result holds (InspectionDataRequest / InspectionDataResponse: strings throughout)."""
    url = str(params.get("ApiEndpoint", ""))
    query = params.get("QueryParameters")
    if isinstance(query, dict) and query:
        url += ("&" if "?" in url else "?") + urlencode({k: str(v) for k, v in query.items()})
    body = params.get("RequestBody")
    out: dict[str, Any] = {
        "request": {
            "protocol": "https",
            "method": str(params.get("Method", "")),
            "url": url,
            "headers": dumps(params.get("Headers") or {}),
            "body": body if isinstance(body, str) else dumps(body) if body is not None else "",
        }
    }
    if isinstance(result, dict):
        answer = result.get("ResponseBody")
        out["response"] = {
            "protocol": "https",
            "statusCode": str(result.get("StatusCode", "")),
            "statusMessage": str(result.get("StatusText", "")),
            "headers": dumps(result.get("Headers") or {}),
            "body": answer if isinstance(answer, str) else dumps(answer),
        }
    return out


def _map_inspection(ex, state, spec: dict, raw: Any, frame) -> dict[str, Any]:
    """A JSONPath Map's items after ItemsPath and each iteration's input after ItemSelector,
    with its concurrency and tolerance settings (InspectionData's Map fields)."""
    out: dict[str, Any] = {"maxConcurrency": 0}
    ctx = ex.context(state, ex.clock.now())
    jsonata = spec.get("QueryLanguage", "JSONata" if state.jsonata else None) == "JSONata"
    try:
        if jsonata:
            raise ValueError  # JSONata Maps show no afterItemsPath / afterItemSelector
        eff = select_path(spec.get("InputPath", "$"), raw, ctx, frame)
        items = select_path(spec.get("ItemsPath", "$"), eff, ctx, frame)
        out["afterItemsPath"] = dumps(items)
        selector = spec.get("ItemSelector", spec.get("Parameters"))
        if selector is not None and isinstance(items, list):
            selected = [
                evaluate_template(
                    selector, eff, {**ctx, "Map": {"Item": {"Index": i, "Value": v}}}, frame.vars
                )
                for i, v in enumerate(items)
            ]
            out["afterItemSelector"] = dumps(selected)
    except (StatesError, ValueError, TypeError, KeyError):
        pass
    for key, field in (
        ("MaxConcurrency", "maxConcurrency"),
        ("ToleratedFailureCount", "toleratedFailureCount"),
        ("ToleratedFailurePercentage", "toleratedFailurePercentage"),
    ):
        value = spec.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[field] = float(value) if field == "toleratedFailurePercentage" else value
    return out


def _task_events(history: History) -> tuple[Any, Any]:
    """(the task's raw result, its parameters) from the events the attempt recorded."""
    result = params = None
    for e in history.events:
        t = e["type"]
        if t == "TaskScheduled":
            params = json.loads(e["taskScheduledEventDetails"]["parameters"])
        elif t == "LambdaFunctionScheduled":
            params = json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])
        elif t == "TaskSucceeded":
            result = json.loads(e["taskSucceededEventDetails"]["output"])
        elif t == "LambdaFunctionSucceeded":
            result = json.loads(e["lambdaFunctionSucceededEventDetails"]["output"])
    return result, params


def _error_details(state, result, error) -> dict[str, Any]:
    if error is None:
        return {}
    if result["status"] == "RETRIABLE":
        for i, r in enumerate(state.spec.get("Retry") or []):
            if error_matches(r.get("ErrorEquals") or [], error.error) and r.get("MaxAttempts", 3):
                done = r.get("_retried", 0)
                delay = r.get("IntervalSeconds", 1) * (r.get("BackoffRate", 2.0) ** done)
                if "MaxDelaySeconds" in r:
                    delay = min(delay, r["MaxDelaySeconds"])
                return {"retryIndex": i, "retryBackoffIntervalSeconds": int(delay)}
    if result["status"] == "CAUGHT_ERROR":
        for i, c in enumerate(state.spec.get("Catch") or []):
            if error_matches(c.get("ErrorEquals") or [], error.error):
                return {"catchIndex": i}
    return {}
