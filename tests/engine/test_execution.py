"""Whole executions: clocks, execution timeout, Map at scale, redrive, abort, TestState, bad input."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from opsbook.engine import (
    DefinitionError,
    RealClock,
    VirtualClock,
    compile_definition,
    execute,
    redrive,
    test_state,
    validate,
)

T0 = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
FN = "arn:aws:lambda:us-east-1:123456789012:function:work"


def wait_machine(seconds: int, timeout: int | None = None) -> dict:
    d = {
        "StartAt": "W",
        "States": {
            "W": {"Type": "Wait", "Seconds": seconds, "Next": "Done"},
            "Done": {"Type": "Pass", "Result": "ok", "End": True},
        },
    }
    if timeout is not None:
        d["TimeoutSeconds"] = timeout
    return d


def test_virtual_clock_wait_takes_no_real_time_but_advances_timestamps():
    started = time.monotonic()
    run = execute(wait_machine(600), {}, clock=VirtualClock(T0))
    assert time.monotonic() - started < 0.5
    assert run.status == "SUCCEEDED" and run.output == "ok"
    assert run.start_date == T0
    assert run.stop_date == T0 + timedelta(seconds=600)
    entered, exited = (e for e in run.history if e["type"].startswith("WaitState"))
    assert (exited["timestamp"] - entered["timestamp"]).total_seconds() == 600
    assert all(e["timestamp"].tzinfo is not None for e in run.history)


def test_real_clock_really_waits():
    started = time.monotonic()
    run = execute(wait_machine(1), {}, clock=RealClock())
    assert run.status == "SUCCEEDED"
    assert time.monotonic() - started >= 0.95


def test_execution_timeout_is_timed_out():
    run = execute(wait_machine(600, timeout=60), {}, clock=VirtualClock(T0))
    assert run.status == "TIMED_OUT"
    assert run.output is None and run.error == "States.Timeout"
    assert run.history[-1]["type"] == "ExecutionTimedOut"
    assert run.stop_date == T0 + timedelta(seconds=60)


def test_wait_timestamp_and_seconds_path():
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Wait", "SecondsPath": "$.s", "Next": "B"},
            "B": {"Type": "Wait", "Timestamp": "2026-03-05T10:00:00Z", "End": True},
        },
    }
    run = execute(definition, {"s": 60}, clock=VirtualClock(T0))
    assert run.status == "SUCCEEDED"
    assert run.stop_date == datetime(2026, 3, 5, 10, 0, tzinfo=UTC)


def test_map_of_three_thousand_items():
    # 3,000 iterations of one Task make 21,007 events, under AWS's 25,000-event history quota
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 40,
                "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "Double",
                    "States": {"Double": {"Type": "Task", "Resource": FN, "End": True}},
                },
                "End": True,
            }
        },
    }
    started = time.monotonic()
    run = execute(
        definition,
        {"items": list(range(3_000))},
        tasks={FN: lambda p: p["v"] * 2 + p["i"]},
    )
    assert time.monotonic() - started < 20
    assert run.status == "SUCCEEDED"
    assert run.output == [3 * i for i in range(3_000)]
    iterations = sum(1 for e in run.history if e["type"] == "MapIterationSucceeded")
    assert iterations == 3_000
    assert [e["id"] for e in run.history] == list(range(1, len(run.history) + 1))


def test_map_failure_with_tolerated_count_in_distributed_mode():
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ToleratedFailureCount": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "C",
                    "States": {
                        "C": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Bad"}],
                            "Default": "Good",
                        },
                        "Bad": {"Type": "Fail", "Error": "Two"},
                        "Good": {"Type": "Pass", "End": True},
                    },
                },
                "End": True,
            }
        },
    }
    ok = execute(definition, [1, 2, 3])
    assert ok.status == "SUCCEEDED"
    assert ok.output[0] == 1 and ok.output[2] == 3
    bad = execute(definition, [2, 2, 3])
    assert bad.status == "FAILED"
    assert bad.error == "States.ExceedToleratedFailureThreshold"


def test_parallel_and_variables_scoping():
    definition = {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"x": 1}, "Next": "Par"},
            "Par": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "B1",
                        "States": {
                            "B1": {"Type": "Pass", "Parameters": {"x.$": "$x"}, "End": True}
                        },
                    },
                    {
                        "StartAt": "B2",
                        "States": {"B2": {"Type": "Pass", "Assign": {"y": 2}, "End": True}},
                    },
                ],
                "Next": "After",
            },
            "After": {"Type": "Pass", "Parameters": {"x.$": "$x", "r.$": "$"}, "End": True},
        },
    }
    run = execute(definition, {"in": True})
    assert run.status == "SUCCEEDED", run.cause
    assert run.output == {"x": 1, "r": [{"x": 1}, {"in": True}]}


def test_on_event_streams_every_event_in_order():
    seen = []
    run = execute(wait_machine(5), {}, on_event=seen.append)
    assert seen == run.history
    assert [e["id"] for e in seen] == list(range(1, len(seen) + 1))


def test_should_abort_ends_aborted():
    run = execute(wait_machine(5), {}, should_abort=lambda: True)
    assert run.status == "ABORTED"
    assert run.history[-1]["type"] == "ExecutionAborted"


def test_names_arns_and_context_object():
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {
                    "id.$": "$$.Execution.Id",
                    "name.$": "$$.Execution.Name",
                    "sm.$": "$$.StateMachine.Name",
                    "start.$": "$$.Execution.StartTime",
                },
                "End": True,
            }
        },
    }
    sm = "arn:aws:states:ap-northeast-1:111122223333:stateMachine:weekly-load"
    run = execute(definition, {}, name="run-1", state_machine_arn=sm, clock=VirtualClock(T0))
    assert run.output["name"] == "run-1"
    assert run.output["sm"] == "weekly-load"
    assert run.output["id"].endswith(":execution:weekly-load:run-1")
    assert run.output["start"] == "2026-03-05T09:00:00.000Z"
    assert run.execution_arn == run.output["id"]


def test_redrive_resumes_at_failed_state_with_variables():
    calls = []

    def work(payload):
        calls.append(payload)
        if len(calls) == 1:
            raise RuntimeError("database locked")
        return {"rows": payload["batch"]}

    definition = {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Assign": {"batch": 7}, "Next": "Load"},
            "Load": {
                "Type": "Task",
                "Resource": FN,
                "Parameters": {"batch.$": "$batch"},
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    first = execute(definition, {"week": 10}, tasks={FN: work})
    assert first.status == "FAILED" and first.error == "RuntimeError"
    second = redrive(definition, first.history, tasks={FN: work})
    assert second.status == "SUCCEEDED"
    assert second.output == {"rows": 7}
    assert second.redrive_count == 1
    types = [e["type"] for e in second.history]
    assert types[: len(first.history)] == [e["type"] for e in first.history]
    redriven = second.history[len(first.history)]
    assert redriven["type"] == "ExecutionRedriven"
    assert redriven["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert types.count("PassStateEntered") == 1  # Prepare is not run again
    with pytest.raises(ValueError):
        redrive(definition, second.history, tasks={FN: work})


def test_test_state_statuses():
    ok = test_state({"Type": "Pass", "Parameters": {"a.$": "$.b"}, "Next": "N"}, {"b": 1})
    assert ok == {
        "status": "SUCCEEDED",
        "output": {"a": 1},
        "error": None,
        "cause": None,
        "nextState": "N",
        "variables": {},
    }

    def boom(payload):
        raise ValueError("bad")

    base = {"Type": "Task", "Resource": FN, "End": True}
    failed = test_state(base, {}, tasks={FN: boom})
    assert failed["status"] == "FAILED" and failed["error"] == "ValueError"
    retriable = test_state(
        {**base, "Retry": [{"ErrorEquals": ["States.ALL"]}]}, {}, tasks={FN: boom}
    )
    assert retriable["status"] == "RETRIABLE"
    caught = test_state(
        {**base, "Catch": [{"ErrorEquals": ["ValueError"], "Next": "H"}]}, {}, tasks={FN: boom}
    )
    assert caught["status"] == "CAUGHT_ERROR" and caught["nextState"] == "H"
    assert caught["output"]["Error"] == "ValueError"


@pytest.mark.parametrize(
    "definition",
    [
        "{not json",
        {"StartAt": "Missing", "States": {}},
        {"StartAt": "A", "States": {"A": {"Type": "Pass"}}},
        {"StartAt": "A", "States": {"A": {"Type": "Bogus", "End": True}}},
        42,
        None,
    ],
)
def test_invalid_definitions_raise_definition_error(definition):
    with pytest.raises(DefinitionError) as info:
        execute(definition, {})
    assert info.value.diagnostics
    assert validate(definition)


def test_definition_is_compiled_once_and_cached():
    definition = wait_machine(1)
    assert compile_definition(definition) is compile_definition(json.dumps(definition))


def test_non_serializable_input_is_a_type_error():
    with pytest.raises(TypeError, match="not JSON-serializable"):
        execute(wait_machine(0), {"when": datetime.now()})
    with pytest.raises(TypeError):
        execute(wait_machine(0), {"x": float("nan")})


def test_input_as_json_text_and_default_input():
    assert execute(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, '{"a": 1}'
    ).output == {"a": 1}
    assert execute({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}).output == {}


def test_virtual_clock_runs_map_iterations_and_branches_concurrently():
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 10,
                "ItemProcessor": {
                    "StartAt": "W",
                    "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}},
                },
                "Next": "P",
            },
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": f"B{s}",
                        "States": {f"B{s}": {"Type": "Wait", "Seconds": s, "End": True}},
                    }
                    for s in (10, 30, 20)
                ],
                "End": True,
            },
        },
    }
    run = execute(definition, list(range(100)), clock=VirtualClock(T0))
    assert run.status == "SUCCEEDED"
    # 100 iterations, 10 at a time, 60 s each = 600 s; then the slowest branch, 30 s.
    assert run.stop_date - run.start_date == timedelta(seconds=630)


def test_should_abort_interrupts_a_real_wait():
    started = time.monotonic()
    deadline = started + 0.5
    run = execute(
        wait_machine(30), {}, clock=RealClock(), should_abort=lambda: time.monotonic() > deadline
    )
    assert run.status == "ABORTED"
    assert time.monotonic() - started < 2


def test_redrive_after_timeout_gets_a_fresh_timeout():
    definition = {
        "TimeoutSeconds": 100,
        "StartAt": "A",
        "States": {
            "A": {"Type": "Wait", "Seconds": 60, "Next": "B"},
            "B": {"Type": "Wait", "SecondsPath": "$.b", "End": True},
        },
    }
    clock = VirtualClock(T0)
    first = execute(definition, {"b": 80}, clock=clock)
    assert first.status == "TIMED_OUT"
    second = redrive(definition, first.history, clock=clock)
    assert second.status == "SUCCEEDED"
    entered = [e for e in second.history if e["type"] == "WaitStateEntered"]
    assert [e["stateEnteredEventDetails"]["name"] for e in entered] == ["A", "B", "B"]
    assert second.history[-1]["timestamp"] == T0 + timedelta(seconds=180)


def test_redrive_restarts_a_failed_map_after_retries():
    calls = {"n": 0}

    def work(payload):
        calls["n"] += 1
        if calls["n"] <= 4:  # fails every attempt of the first execution
            raise RuntimeError("flaky")
        return payload * 10

    definition = {
        "StartAt": "Before",
        "States": {
            "Before": {"Type": "Pass", "Result": [1, 2], "Next": "M"},
            "M": {
                "Type": "Map",
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}],
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": FN, "End": True}},
                },
                "Next": "After",
            },
            "After": {"Type": "Pass", "End": True},
        },
    }
    first = execute(definition, {}, tasks={FN: work})
    assert first.status == "FAILED"
    calls["n"] = 10
    second = redrive(definition, first.history, tasks={FN: work})
    assert second.status == "SUCCEEDED", second.cause
    assert second.output == [10, 20]
    assert [e["type"] for e in second.history].count("PassStateEntered") == 2  # Before, After


def test_should_abort_can_carry_stop_error_and_cause():
    stop = {"error": "Operator.Stop", "cause": "stopped from the CLI"}
    run = execute(wait_machine(5), {}, should_abort=lambda: stop)
    assert (run.status, run.error, run.cause) == (
        "ABORTED",
        "Operator.Stop",
        "stopped from the CLI",
    )
    assert run.history[-1]["executionAbortedEventDetails"] == stop


def test_executions_in_parallel_threads_do_not_interfere():
    from concurrent.futures import ThreadPoolExecutor

    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": FN, "Parameters": {"n.$": "$.n"}, "Next": "W"},
            "W": {"Type": "Wait", "Seconds": 60, "Next": "Double"},
            "Double": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.n, $.n)"},
                "End": True,
            },
        },
    }
    shared = {}

    def work(payload):
        shared["n"] = payload["n"]  # the same dict object returned to every thread
        time.sleep(0.001)
        return {"n": payload["n"]}

    def one(i):
        run = execute(definition, {"n": i}, tasks={FN: work}, clock=VirtualClock(T0))
        return run.status, run.output, run.stop_date - run.start_date

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(64)))
    assert results == [("SUCCEEDED", {"n": 2 * i}, timedelta(seconds=60)) for i in range(64)]


def test_map_of_tasks_history_chain():
    definition = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": FN, "End": True}},
                },
                "End": True,
            }
        },
    }
    run = execute(definition, [1, 2], tasks={FN: lambda p: p + 1})
    assert run.output == [2, 3]
    rows = [(e["id"], e["previousEventId"], e["type"]) for e in run.history]
    assert rows == [
        (1, 0, "ExecutionStarted"),
        (2, 0, "MapStateEntered"),
        (3, 2, "MapStateStarted"),
        (4, 3, "MapIterationStarted"),
        (5, 4, "TaskStateEntered"),
        (6, 5, "LambdaFunctionScheduled"),
        (7, 6, "LambdaFunctionStarted"),
        (8, 7, "LambdaFunctionSucceeded"),
        (9, 8, "TaskStateExited"),
        (10, 9, "MapIterationSucceeded"),
        (11, 9, "MapIterationStarted"),
        (12, 11, "TaskStateEntered"),
        (13, 12, "LambdaFunctionScheduled"),
        (14, 13, "LambdaFunctionStarted"),
        (15, 14, "LambdaFunctionSucceeded"),
        (16, 15, "TaskStateExited"),
        (17, 16, "MapIterationSucceeded"),
        (18, 17, "MapStateSucceeded"),
        (19, 17, "MapStateExited"),
        (20, 19, "ExecutionSucceeded"),
    ]
