"""Map input-type and MaxConcurrency causes, and an empty Assign, as AWS records them."""

from __future__ import annotations

import pytest

from opsbook.engine import execute

PREFIX = "An error occurred while executing the state 'M' (entered at the event id #2). "


def map_with(**fields) -> dict:
    return {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "End": True,
                **fields,
            }
        },
    }


def types(run) -> list[str]:
    return [e["type"] for e in run.history]


@pytest.mark.parametrize(
    ("value", "cause"),
    [
        (
            "NoNumber",
            'The MaxConcurrencyPath field refers to value "NoNumber" which is not a valid integer: $.mc',
        ),
        (
            {},
            'The MaxConcurrencyPath field refers to value "{}" which is not a valid integer: $.mc',
        ),
        (
            2.5,
            'The MaxConcurrencyPath field refers to value "2.5" which is not a valid integer: $.mc',
        ),
        (
            True,
            'The MaxConcurrencyPath field refers to value "true" which is not a valid integer: $.mc',
        ),
        (-1, "Expected non-negative integer for MaxConcurrency, got '-1' instead."),
    ],
)
def test_bad_max_concurrency_path_fails_right_after_map_state_entered(value, cause):
    run = execute(map_with(MaxConcurrencyPath="$.mc"), {"mc": value, "items": [1]})
    assert (run.status, run.error, run.cause) == ("FAILED", "States.Runtime", PREFIX + cause)
    assert types(run) == ["ExecutionStarted", "MapStateEntered", "ExecutionFailed"]


@pytest.mark.parametrize("value", ["3", 3, 3.0, 0])
def test_max_concurrency_path_accepts_integers_and_numeric_strings(value):
    run = execute(
        map_with(MaxConcurrencyPath="$.mc", ItemsPath="$.items"), {"mc": value, "items": [1, 2]}
    )
    assert run.status == "SUCCEEDED" and run.output == [1, 2]


# Recorded on AWS: LocalStack's test_base_scenarios.snapshot.json (Apache-2.0),
# TestBaseScenarios::test_map_state_items_input_types[number|string|boolean|object|null].
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("1", "1"),
        ('"string"', '"string"'),
        ("true", "true"),
        ({"foo": "bar"}, '{"foo":"bar"}'),
        ("null", "null"),
    ],
)
def test_jsonata_map_without_items_over_a_non_array_input(value, shown):
    definition = map_with()
    definition["QueryLanguage"] = "JSONata"
    run = execute(definition, value)  # a str is the input's JSON text
    assert (run.status, run.error) == ("FAILED", "States.QueryEvaluationError")
    assert run.cause == PREFIX + "Map state input must be an array but was: " + shown
    assert types(run) == [
        "ExecutionStarted",
        "MapStateEntered",
        "EvaluationFailed",
        "MapStateFailed",
        "ExecutionFailed",
    ]
    failed = next(e for e in run.history if e["type"] == "EvaluationFailed")
    assert "location" not in failed["evaluationFailedEventDetails"]  # AWS names no field


def test_jsonata_max_concurrency_that_is_not_an_integer():
    definition = map_with(MaxConcurrency="{% 'two' %}")
    definition["QueryLanguage"] = "JSONata"
    run = execute(definition, [1])
    assert (run.status, run.error) == ("FAILED", "States.QueryEvaluationError")
    assert run.cause.endswith(
        "The JSONata expression ''two'' specified for the field 'MaxConcurrency' returned an "
        "unexpected result type. Expected 'integer', but was 'string' for value: \"two\""
    )


@pytest.mark.parametrize("jsonata", [False, True])
def test_empty_assign_adds_no_assigned_variables(jsonata):
    definition = {
        "StartAt": "Empty",
        "States": {
            "Empty": {"Type": "Pass", "Assign": {}, "Next": "Some"},
            "Some": {"Type": "Pass", "Assign": {"x": 1}, "End": True},
        },
    }
    if jsonata:
        definition["QueryLanguage"] = "JSONata"
    run = execute(definition, {})
    exits = [e["stateExitedEventDetails"] for e in run.history if e["type"] == "PassStateExited"]
    assert "assignedVariables" not in exits[0]
    assert "assignedVariablesDetails" not in exits[0]
    assert exits[1]["assignedVariables"] == {"x": "1"}


def test_items_path_that_is_no_array_fails_the_execution():
    # AWS's words, recorded through TestState; an execution adds where it happened
    run = execute(map_with(ItemsPath="$.x"), {"x": 1})
    assert (run.status, run.error) == ("FAILED", "States.Runtime")
    assert run.cause == PREFIX + 'Reference path "$.x" must point to array.'
