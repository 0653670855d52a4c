"""Cases that are not in the conformance corpus, reconstructed by hand from AWS recordings.

Source: LocalStack's Step Functions snapshot tests (github.com/localstack/localstack, Apache
License 2.0), whose `*.snapshot.json` files were recorded against real AWS:
- scenarios/test_base_scenarios.snapshot.json: TestBaseScenarios::test_parallel_state and
  ::test_map_state_items_variable_sampling[number|string|boolean|object|null]
- intrinsic_functions/test_math_operations_jsonata.snapshot.json:
  TestMathOperationsJSONata::test_math_random_seeded
Definitions from the same project's templates; the expected values are AWS's, copied from the
recordings.
"""

from __future__ import annotations

import json

import pytest

from opsbook.engine import execute


def _details(event: dict) -> dict:
    return next((v for k, v in event.items() if k.endswith("EventDetails")), {})


# test_map_state_items_variable_sampling: a JSONata Map whose Items is a variable holding a
# non-array. AWS records EvaluationFailed (location "Items") right after MapStateEntered.
def _map_over_variable(value) -> dict:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Assign": {"ItemsVar": value}, "Next": "MapIterateState"},
            "MapIterateState": {
                "Type": "Map",
                "Items": "{% $ItemsVar %}",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Pass",
                    "States": {"Pass": {"Type": "Pass", "End": True}},
                },
                "End": True,
            },
        },
    }


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        (1, "number", "1"),
        ("string", "string", '"string"'),
        (True, "boolean", "true"),
        ({"foo": "bar"}, "object", '{"foo":"bar"}'),
        (None, "null", "null"),
    ],
    ids=["number", "string", "boolean", "object", "null"],
)
def test_map_state_items_variable_sampling(value, kind, shown):
    cause = (
        "An error occurred while executing the state 'MapIterateState' (entered at the event "
        "id #4). The JSONata expression '$ItemsVar' specified for the field 'Items' returned an "
        f"unexpected result type. Expected 'array', but was '{kind}' for value: {shown}"
    )
    run = execute(_map_over_variable(value), {})
    assert (run.status, run.error, run.cause) == ("FAILED", "States.QueryEvaluationError", cause)
    assert [(e["id"], e["previousEventId"], e["type"]) for e in run.history] == [
        (1, 0, "ExecutionStarted"),
        (2, 0, "PassStateEntered"),
        (3, 2, "PassStateExited"),
        (4, 3, "MapStateEntered"),
        (5, 3, "EvaluationFailed"),
        (6, 5, "MapStateFailed"),
        (7, 6, "ExecutionFailed"),
    ]
    assert run.history[2]["stateExitedEventDetails"]["assignedVariables"] == {
        "ItemsVar": json.dumps(value, separators=(",", ":"))
    }
    assert _details(run.history[4]) == {
        "error": "States.QueryEvaluationError",
        "cause": cause,
        "location": "Items",
        "state": "MapIterateState",
    }


def test_math_random_seeded_is_not_a_function():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "State_0",
        "States": {
            "State_0": {
                "Type": "Pass",
                "Output": {
                    "FunctionResult": "{% $randomSeeded($states.input.FunctionInput.fst) %}"
                },
                "End": True,
            }
        },
    }
    cause = (
        "An error occurred while executing the state 'State_0' (entered at the event id #2). "
        "The JSONata expression '$randomSeeded($states.input.FunctionInput.fst)' specified for "
        "the field 'Output/FunctionResult' threw an error during evaluation. T1006: Attempted "
        "to invoke a non-function"
    )
    run = execute(definition, {"FunctionInput": "fst"})
    assert (run.status, run.error, run.cause) == ("FAILED", "States.QueryEvaluationError", cause)
    assert [(e["id"], e["previousEventId"], e["type"]) for e in run.history] == [
        (1, 0, "ExecutionStarted"),
        (2, 0, "PassStateEntered"),
        (3, 0, "EvaluationFailed"),
        (4, 3, "ExecutionFailed"),
    ]
    assert _details(run.history[2])["location"] == "Output/FunctionResult"


def test_parallel_state_branch_events_as_recorded():
    """The recorder sorted the branch events between ParallelStateStarted and the Parallel's
    end (their order is racy on AWS) and masked their ids, and left ParallelStateSucceeded
    (#18) out; the ids around them and the branch events as a set are AWS's."""
    branch = {"Type": "Pass"}
    definition = {
        "StartAt": "LoadInput",
        "States": {
            "LoadInput": {"Type": "Pass", "Result": [1, 2, 3, 4], "Next": "ParallelState"},
            "ParallelState": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {"StartAt": "Branch1", "States": {"Branch1": {**branch, "End": True}}},
                    {
                        "StartAt": "Branch21",
                        "States": {
                            "Branch21": {**branch, "Next": "Branch22"},
                            "Branch22": {**branch, "End": True},
                        },
                    },
                    {
                        "StartAt": "Branch31",
                        "States": {
                            "Branch31": {**branch, "Next": "Branch32"},
                            "Branch32": {**branch, "Next": "Branch33"},
                            "Branch33": {**branch, "End": True},
                        },
                    },
                ],
            },
        },
    }
    run = execute(definition, {})
    assert run.status == "SUCCEEDED" and run.output == [[1, 2, 3, 4]] * 3
    ids = [(e["id"], e["previousEventId"], e["type"]) for e in run.history]
    assert ids[:5] == [
        (1, 0, "ExecutionStarted"),
        (2, 0, "PassStateEntered"),
        (3, 2, "PassStateExited"),
        (4, 3, "ParallelStateEntered"),
        (5, 4, "ParallelStateStarted"),
    ]
    assert ids[-3:] == [
        (18, 17, "ParallelStateSucceeded"),
        (19, 17, "ParallelStateExited"),
        (20, 19, "ExecutionSucceeded"),
    ]
    names = ["Branch1", "Branch21", "Branch22", "Branch31", "Branch32", "Branch33"]
    branch_events = sorted((e["type"], _details(e)["name"]) for e in run.history[5:17])
    assert branch_events == sorted(
        [("PassStateEntered", n) for n in names] + [("PassStateExited", n) for n in names]
    )
    # the engine's interleaving (the recording's order was sorted away): every branch's
    # first state is entered before any branch state exits
    first_exit = next(
        i for i, e in enumerate(run.history) if e["type"] == "PassStateExited" and i > 4
    )
    entered_first = {_details(e)["name"] for e in run.history[5:first_exit]}
    assert {"Branch1", "Branch21", "Branch31"} <= entered_first
