"""AWS quotas with AWS's errors: 256 KiB payloads, the 25,000-event history, execution names,
and a bound on a runaway JSONata evaluation."""

from __future__ import annotations

import time

import pytest

from opsbook.engine import InvalidRequest, execute
from opsbook.engine.quotas import HISTORY_LIMIT_CAUSE, PAYLOAD_LIMIT

FN = "arn:aws:lambda:us-east-1:123456789012:function:big"
SQS = "arn:aws:states:::sqs:sendMessage"


def data_limit_cause(who: str) -> str:
    return (
        f"The state/task '{who}' returned a result with a size exceeding the maximum number of "
        "bytes service limit."
    )


def pass_result(result) -> dict:
    return {
        "StartAt": "Big",
        "States": {
            "Big": {"Type": "Pass", "Result": result, "End": True},
        },
    }


@pytest.mark.parametrize(
    ("result", "fails"),
    [
        ("x" * (PAYLOAD_LIMIT - 2), False),  # with its quotes: exactly 262,144 bytes
        ("x" * (PAYLOAD_LIMIT - 1), True),
        ("é" * (PAYLOAD_LIMIT // 2 - 1), False),  # two bytes a character in UTF-8
        ("é" * (PAYLOAD_LIMIT // 2), True),  # 131,072 characters but 262,146 bytes
    ],
)
def test_state_output_over_256_kib_fails_the_execution(result, fails):
    run = execute(pass_result(result), {})
    if not fails:
        assert run.status == "SUCCEEDED" and run.output == result
        return
    assert (run.status, run.error) == ("FAILED", "States.DataLimitExceeded")
    assert run.cause == data_limit_cause("Big")
    assert [e["type"] for e in run.history] == [
        "ExecutionStarted",
        "PassStateEntered",
        "ExecutionFailed",
    ]


@pytest.mark.parametrize(
    ("resource", "failed_event", "who"),
    [(FN, "LambdaFunctionFailed", "lambda"), (SQS, "TaskFailed", "sqs")],
)
def test_task_result_over_256_kib_fails_the_task_past_retry_and_catch(resource, failed_event, who):
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": resource,
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    run = execute(definition, {}, tasks={resource: lambda p: "y" * PAYLOAD_LIMIT})
    assert (run.status, run.error, run.cause) == (
        "FAILED",
        "States.DataLimitExceeded",
        data_limit_cause(who),
    )
    types = [e["type"] for e in run.history]
    assert types.count(failed_event) == 1  # no retry of an uncatchable error
    failed = next(e for e in run.history if e["type"] == failed_event)
    details = next(v for k, v in failed.items() if k.endswith("EventDetails"))
    assert details["error"] == "States.DataLimitExceeded"


def test_task_parameters_over_256_kib_fail_before_the_task_is_scheduled():
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": SQS,
                "Parameters": {"a.$": "$.s", "b.$": "$.s"},  # twice the input
                "End": True,
            }
        },
    }
    calls = []
    run = execute(definition, {"s": "q" * 140_000}, tasks={SQS: calls.append})
    assert (run.status, run.error) == ("FAILED", "States.DataLimitExceeded")
    assert run.cause == data_limit_cause("T")
    assert calls == []
    assert "TaskScheduled" not in [e["type"] for e in run.history]


def test_execution_input_over_256_kib_is_refused():
    with pytest.raises(InvalidRequest) as info:
        execute(pass_result(1), {"blob": "z" * PAYLOAD_LIMIT})
    assert info.value.code == "ValidationException"
    assert "262144" in info.value.message


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("week-2026-01-05", True),
        ("a" * 80, True),
        ("Name_with-dots.and-dashes", True),
        ("", False),
        ("a" * 81, False),
        ("has space", False),
        ("tab\there", False),
        ("slash/here", False),
        ("colon:here", False),
        ("star*", False),
        ("brace{", False),
        ('quote"', False),
        ("ctl\x01", False),
        ("del\x7f", False),
    ],
)
def test_execution_name_rules(name, ok):
    definition = pass_result(1)
    if ok:
        assert execute(definition, {}, name=name).name == name
        return
    with pytest.raises(InvalidRequest) as info:
        execute(definition, {}, name=name)
    assert info.value.code == "InvalidName"


def counting_loop(rounds: int) -> dict:
    """1 + 4 events a round + 2 (Succeed) + 1 (ExecutionSucceeded) = 4 * rounds + 4 events."""
    return {
        "StartAt": "Inc",
        "States": {
            "Inc": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.n, 1)"},
                "Next": "Check",
            },
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": rounds, "Next": "Inc"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def test_history_may_end_with_execution_succeeded_as_event_25000():
    run = execute(counting_loop(6249), {"n": 0})
    assert run.status == "SUCCEEDED"
    assert len(run.history) == 25_000
    assert run.history[-1]["type"] == "ExecutionSucceeded"


def test_history_limit_fails_the_execution_at_event_25000():
    run = execute(counting_loop(10**9), {"n": 0})
    assert run.status == "FAILED"
    assert run.cause == HISTORY_LIMIT_CAUSE
    assert len(run.history) == 25_000
    last = run.history[-1]
    assert (last["type"], last["id"], last["previousEventId"]) == ("ExecutionFailed", 25000, 24999)


def test_history_limit_inside_a_map_fails_the_execution():
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }
    run = execute(definition, list(range(7000)))  # 4 events an item: 28,000 in all
    assert run.status == "FAILED" and run.cause == HISTORY_LIMIT_CAUSE
    assert len(run.history) == 25_000


@pytest.mark.slow
def test_runaway_jsonata_recursion_ends_with_a_query_evaluation_error():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Output": "{% ($f := function($n){ $n = 0 ? 0 : $f($n - 1) }; $f(1e12)) %}",
                "End": True,
            }
        },
    }
    started = time.monotonic()
    run = execute(definition, {})
    assert time.monotonic() - started < 15
    assert (run.status, run.error) == ("FAILED", "States.QueryEvaluationError")
    assert "D1012: Evaluation timeout" in run.cause
    assert "specified for the field 'Output'" in run.cause


def test_bounded_jsonata_recursion_still_works():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Output": "{% ($f := function($n){ $n = 0 ? 'done' : $f($n - 1) }; $f(500)) %}",
                "End": True,
            }
        },
    }
    assert execute(definition, {}).output == "done"


def test_a_string_doubled_by_intrinsics_in_a_loop_ends_at_the_payload_limit():
    """A runaway Pass/Choice loop growing a string with States.Format stops at 256 KiB with
    States.DataLimitExceeded, long before the history limit, in bounded time."""
    definition = {
        "StartAt": "Seed",
        "States": {
            "Seed": {"Type": "Pass", "Parameters": {"s": "x" * 64}, "Next": "Grow"},
            "Grow": {
                "Type": "Pass",
                "Parameters": {"s.$": "States.Format('{}{}', $.s, $.s)"},
                "Next": "Again",
            },
            "Again": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.never", "IsPresent": True, "Next": "Done"}],
                "Default": "Grow",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    began = time.monotonic()
    run = execute(definition, {})
    assert run.status == "FAILED" and run.error == "States.DataLimitExceeded"
    assert "'Grow'" in run.cause
    assert len(run.history) < 100 and time.monotonic() - began < 10
