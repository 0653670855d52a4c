"""Task states with Python handlers: Lambda shaping, Retry/Catch, timeouts, history events."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from opsbook.engine import RealClock, VirtualClock, execute

FN = "arn:aws:lambda:ap-northeast-1:123456789012:function:check"
INVOKE = "arn:aws:states:::lambda:invoke"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def task(resource: str, **extra) -> dict:
    return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, **extra}}}


def types(run) -> list[str]:
    return [e["type"] for e in run.history]


def details(run, event_type: str) -> dict:
    event = next(e for e in run.history if e["type"] == event_type)
    return next(v for k, v in event.items() if k.endswith("EventDetails"))


def test_lambda_arn_task_passes_input_and_returns_result_unwrapped():
    seen = []

    def check(payload):
        seen.append(payload)
        return {"count": payload["n"] + 1}

    run = execute(task(FN, End=True), {"n": 41}, tasks={FN: check})
    assert run.status == "SUCCEEDED"
    assert run.output == {"count": 42}
    assert seen == [{"n": 41}]
    assert types(run) == [
        "ExecutionStarted",
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    assert [e["previousEventId"] for e in run.history] == [0, 0, 2, 3, 4, 5, 6]
    sched = details(run, "LambdaFunctionScheduled")
    assert sched == {"resource": FN, "input": '{"n":41}', "inputDetails": {"truncated": False}}
    assert details(run, "LambdaFunctionSucceeded")["output"] == '{"count":42}'


def test_handler_found_by_function_name_for_an_arn_resource():
    run = execute(task(FN + ":live", End=True), {}, tasks={"check": lambda p: "by-name"})
    assert run.output == "by-name"


def test_lambda_invoke_wraps_payload_and_resolves_function_name_forms():
    for ref in ("check", FN, FN + ":prod", "123456789012:function:check", "check:7"):
        definition = task(
            INVOKE,
            Parameters={"FunctionName": ref, "Payload": {"x.$": "$.x"}},
            End=True,
        )
        run = execute(definition, {"x": 5}, tasks={"check": lambda p: {"got": p}})
        assert run.status == "SUCCEEDED", (ref, run.error, run.cause)
        out = run.output
        assert out["Payload"] == {"got": {"x": 5}}
        assert out["StatusCode"] == 200 and out["ExecutedVersion"] == "$LATEST"
        assert out["SdkHttpMetadata"]["HttpStatusCode"] == 200
        assert "RequestId" in out["SdkResponseMetadata"]
    assert types(run)[2:5] == ["TaskScheduled", "TaskStarted", "TaskSucceeded"]
    sched = details(run, "TaskScheduled")
    assert sched["resourceType"] == "lambda" and sched["resource"] == "invoke"
    assert json.loads(sched["parameters"]) == {"FunctionName": "check:7", "Payload": {"x": 5}}


def test_handler_exception_fails_task_like_lambda():
    def broken(payload):
        raise KeyError("missing")

    run = execute(task(FN, End=True), {}, tasks={FN: broken})
    assert run.status == "FAILED"
    assert run.error == "KeyError"
    cause = json.loads(run.cause)
    assert cause["errorType"] == "KeyError"
    assert cause["errorMessage"] == "'missing'"
    assert any("broken" in line for line in cause["stackTrace"])
    failed = details(run, "LambdaFunctionFailed")
    assert failed["error"] == "KeyError" and json.loads(failed["cause"]) == cause
    assert types(run)[-1] == "ExecutionFailed"


def test_missing_handler_is_a_catchable_lambda_error():
    run = execute(task(FN, End=True), {}, tasks={})
    assert run.status == "FAILED"
    assert run.error == "Lambda.ResourceNotFoundException"


def test_retry_backoff_timestamps_under_virtual_clock():
    attempts = []

    def flaky(payload):
        attempts.append(payload)
        if len(attempts) < 4:
            raise ConnectionError("try again")
        return "done"

    retry = [
        {
            "ErrorEquals": ["ConnectionError"],
            "IntervalSeconds": 3,
            "BackoffRate": 2.0,
            "MaxAttempts": 5,
        }
    ]
    clock = VirtualClock(T0)
    started = time.monotonic()
    run = execute(task(FN, Retry=retry, End=True), {}, tasks={FN: flaky}, clock=clock)
    assert time.monotonic() - started < 1.0  # 21 s of backoff took no real time
    assert run.status == "SUCCEEDED" and run.output == "done"
    scheduled = [e["timestamp"] for e in run.history if e["type"] == "LambdaFunctionScheduled"]
    gaps = [(b - a).total_seconds() for a, b in zip(scheduled, scheduled[1:], strict=False)]
    assert gaps == [3.0, 6.0, 12.0]
    assert run.stop_date == datetime(2026, 1, 1, 0, 0, 21, tzinfo=UTC)


def test_retry_max_delay_and_exhaustion_then_catch():
    def always(payload):
        raise TimeoutError("nope")

    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": FN,
                "Retry": [
                    {"ErrorEquals": ["Other"], "MaxAttempts": 9},
                    {
                        "ErrorEquals": ["States.ALL"],
                        "IntervalSeconds": 10,
                        "BackoffRate": 10,
                        "MaxDelaySeconds": 15,
                        "MaxAttempts": 2,
                    },
                ],
                "Catch": [
                    {"ErrorEquals": ["ValueError"], "Next": "Wrong"},
                    {
                        "ErrorEquals": ["States.TaskFailed"],
                        "ResultPath": "$.err",
                        "Next": "Handled",
                    },
                ],
                "End": True,
            },
            "Wrong": {"Type": "Fail"},
            "Handled": {"Type": "Pass", "End": True},
        },
    }
    run = execute(definition, {"keep": 1}, tasks={FN: always}, clock=VirtualClock(T0))
    assert run.status == "SUCCEEDED"
    assert run.output["keep"] == 1
    assert run.output["err"]["Error"] == "TimeoutError"
    scheduled = [e["timestamp"] for e in run.history if e["type"] == "LambdaFunctionScheduled"]
    assert [(b - a).total_seconds() for a, b in zip(scheduled, scheduled[1:], strict=False)] == [
        10.0,
        15.0,
    ]
    exited = next(e for e in run.history if e["type"] == "TaskStateExited")
    failed = [e for e in run.history if e["type"] == "LambdaFunctionFailed"][-1]
    assert exited["previousEventId"] == failed["id"]


def test_retry_full_jitter_stays_within_the_delay():
    def always(payload):
        raise OSError("x")

    retry = [
        {
            "ErrorEquals": ["States.ALL"],
            "IntervalSeconds": 8,
            "MaxAttempts": 1,
            "JitterStrategy": "FULL",
        }
    ]
    run = execute(task(FN, Retry=retry, End=True), {}, tasks={FN: always}, clock=VirtualClock(T0))
    scheduled = [e["timestamp"] for e in run.history if e["type"] == "LambdaFunctionScheduled"]
    assert len(scheduled) == 2
    assert 0 <= (scheduled[1] - scheduled[0]).total_seconds() <= 8


def test_task_timeout_under_virtual_clock_via_clock_sleep():
    clock = VirtualClock(T0)

    def slow(payload):
        clock.sleep(30)  # a handler simulates 30 s of work
        return "late"

    run = execute(task(FN, TimeoutSeconds=10, End=True), {}, tasks={FN: slow}, clock=clock)
    assert run.status == "FAILED"
    assert run.error == "States.Timeout"
    assert "LambdaFunctionTimedOut" in types(run)
    assert details(run, "LambdaFunctionScheduled")["timeoutInSeconds"] == 10


def test_task_timeout_path_and_catch_of_timeout():
    clock = VirtualClock(T0)

    def slow(payload):
        clock.sleep(5)
        return "late"

    definition = task(
        "arn:aws:states:::sqs:sendMessage",
        TimeoutSecondsPath="$.limit",
        Catch=[
            {"ErrorEquals": ["States.TaskFailed"], "Next": "NotHere"},
            {"ErrorEquals": ["States.Timeout"], "Next": "Caught"},
        ],
        End=True,
    )
    definition["States"]["NotHere"] = {"Type": "Fail"}
    definition["States"]["Caught"] = {"Type": "Succeed"}
    run = execute(
        definition, {"limit": 2}, tasks={"arn:aws:states:::sqs:sendMessage": slow}, clock=clock
    )
    assert run.status == "SUCCEEDED"
    assert run.output == {"Error": "States.Timeout"}
    timed_out = details(run, "TaskTimedOut")
    assert timed_out["error"] == "States.Timeout" and timed_out["resourceType"] == "sqs"


def test_task_timeout_under_real_clock():
    def slow(payload):
        time.sleep(2)
        return "late"

    started = time.monotonic()
    run = execute(task(FN, TimeoutSeconds=1, End=True), {}, tasks={FN: slow}, clock=RealClock())
    assert run.error == "States.Timeout"
    assert 0.9 < time.monotonic() - started < 1.9


def test_heartbeat_timeout():
    clock = VirtualClock(T0)

    def slow(payload):
        clock.sleep(20)
        return 1

    run = execute(task(FN, HeartbeatSeconds=5, End=True), {}, tasks={FN: slow}, clock=clock)
    assert run.error == "States.HeartbeatTimeout"


def test_result_selector_result_path_output_path_jsonpath():
    definition = task(
        FN,
        Parameters={"id.$": "$.id", "const": 1},
        ResultSelector={"value.$": "$.v"},
        ResultPath="$.res",
        OutputPath="$.res",
        End=True,
    )
    run = execute(definition, {"id": 7}, tasks={FN: lambda p: {"v": p["id"] * p["const"]}})
    assert run.output == {"value": 7}


def test_jsonata_task_arguments_output_and_assign():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": INVOKE,
                "Arguments": {"FunctionName": "check", "Payload": {"n": "{% $states.input.n %}"}},
                "Assign": {"seen": "{% $states.result.Payload.n %}"},
                "Output": "{% $states.result.Payload %}",
                "Next": "Show",
            },
            "Show": {"Type": "Pass", "Output": "{% {'seen': $seen} %}", "End": True},
        },
    }
    run = execute(definition, {"n": 3}, tasks={"check": lambda p: {"n": p["n"] * 2}})
    assert run.status == "SUCCEEDED", run.cause
    assert run.output == {"seen": 6}
    exited = next(e for e in run.history if e["type"] == "TaskStateExited")
    assert exited["stateExitedEventDetails"]["assignedVariables"] == {"seen": "6"}


def test_states_error_from_handler_keeps_its_name_and_cause():
    from opsbook.engine import StatesError

    def throttled(payload):
        raise StatesError("Lambda.TooManyRequestsException", "Rate exceeded")

    run = execute(task(FN, End=True), {}, tasks={FN: throttled})
    assert (run.error, run.cause) == ("Lambda.TooManyRequestsException", "Rate exceeded")


def test_handler_mutating_a_shared_result_between_executions_is_seen():
    shared = {"n": 0}

    def counter(payload):
        shared["n"] += 1  # returns the same object every time, changed in place
        return shared

    first = execute(task(FN, End=True), {}, tasks={FN: counter})
    second = execute(task(FN, End=True), {}, tasks={FN: counter})
    assert first.history[-1]["executionSucceededEventDetails"]["output"] == '{"n":1}'
    assert second.history[-1]["executionSucceededEventDetails"]["output"] == '{"n":2}'


def test_wait_for_task_token_gets_a_token_and_returns_the_callback_output():
    resource = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    got = []

    def send(payload):
        got.append(payload)
        payload["MessageBody"]["mutated"] = True  # a handler's changes stay its own
        return {"approved": True}

    definition = task(
        resource,
        Parameters={"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token", "x.$": "$.x"}},
        ResultPath="$.answer",
        End=True,
    )
    run = execute(definition, {"x": 1}, tasks={resource: send})
    assert run.status == "SUCCEEDED", run.cause
    assert run.output == {"x": 1, "answer": {"approved": True}}
    assert len(got[0]["MessageBody"]["token"]) == 36
    sched = details(run, "TaskScheduled")
    assert (sched["resourceType"], sched["resource"]) == ("sqs", "sendMessage.waitForTaskToken")
    assert "mutated" not in sched["parameters"]


def test_invalid_timeout_path_value_is_a_runtime_error():
    definition = task(FN, TimeoutSecondsPath="$.t", End=True)
    run = execute(definition, {"t": "soon"}, tasks={FN: lambda p: 1})
    assert run.status == "FAILED" and run.error == "States.Runtime"
    assert "TimeoutSecondsPath" in run.cause


def test_handler_results_are_normalised_to_plain_json():
    run = execute(
        task(FN, ResultSelector={"first.$": "$.pair[0]", "all.$": "$"}, End=True),
        {},
        tasks={FN: lambda p: {"pair": (1, 2), "n": True}},
    )
    assert run.status == "SUCCEEDED", run.cause
    assert run.output == {"first": 1, "all": {"pair": [1, 2], "n": True}}


def test_unserializable_handler_result_fails_the_execution():
    run = execute(task(FN, End=True), {}, tasks={FN: lambda p: {"when": object()}})
    assert run.status == "FAILED"
    assert run.error == "States.Runtime"
    assert "not JSON-serializable" in run.cause


@pytest.mark.parametrize(
    ("fields", "error", "timed_out_after"),
    [
        ({"TimeoutSeconds": 1}, "States.Timeout", 1),
        ({"HeartbeatSeconds": 1}, "States.HeartbeatTimeout", 1),
        ({"TimeoutSeconds": 9, "HeartbeatSeconds": 1}, "States.HeartbeatTimeout", 1),
    ],
)
def test_handler_running_too_long_in_real_time_times_out_under_the_virtual_clock(
    fields, error, timed_out_after
):
    def slow(payload):
        time.sleep(3)  # real work, not clock.sleep: the virtual clock does not see it
        return "late"

    started = time.monotonic()
    run = execute(task(FN, End=True, **fields), {}, tasks={FN: slow}, clock=VirtualClock(T0))
    assert time.monotonic() - started < 2.5
    assert (run.status, run.error) == ("FAILED", error)
    timed_out = next(e for e in run.history if e["type"] == "LambdaFunctionTimedOut")
    assert timed_out["lambdaFunctionTimedOutEventDetails"]["error"] == error
    assert timed_out["timestamp"] == T0 + timedelta(seconds=timed_out_after)


def test_handler_within_its_timeout_keeps_its_virtual_time():
    clock = VirtualClock(T0)

    def quick(payload):
        clock.sleep(3)  # simulated work inside the limit
        return "ok"

    run = execute(task(FN, TimeoutSeconds=10, End=True), {}, tasks={FN: quick}, clock=clock)
    assert run.status == "SUCCEEDED"
    done = next(e for e in run.history if e["type"] == "LambdaFunctionSucceeded")
    assert done["timestamp"] == T0 + timedelta(seconds=3)
