"""Core state semantics the corpus covers thinly: JSONata Catch/Map/Choice, variable scoping."""

from __future__ import annotations

from opsbook.engine import execute

FN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def test_jsonata_catch_output_and_assign_see_error_output():
    def boom(payload):
        raise PermissionError("denied")

    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": FN,
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Assign": {"failedWith": "{% $states.errorOutput.Error %}"},
                        "Output": "{% {'in': $states.input, 'err': $states.errorOutput.Error} %}",
                        "Next": "After",
                    }
                ],
                "End": True,
            },
            "After": {"Type": "Pass", "Output": "{% [$states.input, $failedWith] %}", "End": True},
        },
    }
    run = execute(definition, {"k": 1}, tasks={FN: boom})
    assert run.status == "SUCCEEDED", run.cause
    assert run.output == [{"in": {"k": 1}, "err": "PermissionError"}, "PermissionError"]


def test_jsonata_map_items_item_selector_and_output():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% $states.input.xs %}",
                "ItemSelector": {
                    "v": "{% $states.context.Map.Item.Value %}",
                    "i": "{% $states.context.Map.Item.Index %}",
                },
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {
                        "P": {
                            "Type": "Pass",
                            "Output": "{% $states.input.v * 10 + $states.input.i %}",
                            "End": True,
                        }
                    },
                },
                "Output": "{% $sum($states.result) %}",
                "End": True,
            }
        },
    }
    run = execute(definition, {"xs": [1, 2, 3]})
    assert run.status == "SUCCEEDED", run.cause
    assert run.output == 63


def test_assign_and_output_both_see_values_from_before_the_state():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "B"},
            "B": {
                "Type": "Pass",
                "Assign": {"x": "{% $x + 1 %}", "y": "{% $x %}"},
                "Output": "{% $x %}",
                "Next": "C",
            },
            "C": {"Type": "Pass", "Output": "{% [$states.input, $x, $y] %}", "End": True},
        },
    }
    run = execute(definition, {})
    assert run.output == [1, 2, 1]


def test_inner_scope_reads_outer_variables_but_does_not_leak_assignments():
    definition = {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"outer": "o"}, "Next": "M"},
            "M": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "In",
                    "States": {
                        "In": {
                            "Type": "Pass",
                            "Assign": {"inner": "i"},
                            "Parameters": {"seen.$": "$outer"},
                            "End": True,
                        }
                    },
                },
                "Next": "Check",
            },
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$inner", "IsPresent": True, "Next": "Leaked"}],
                "Default": "Done",
            },
            "Leaked": {"Type": "Fail", "Error": "Leaked"},
            "Done": {"Type": "Succeed"},
        },
    }
    run = execute(definition, [1, 2])
    assert run.status == "SUCCEEDED", (run.error, run.cause)
    assert run.output == [{"seen": "o"}, {"seen": "o"}]


def test_runtime_errors_are_not_caught_by_states_all():
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Task",
                "Resource": FN,
                "InputPath": "$.missing",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    run = execute(definition, {}, tasks={FN: lambda p: p})
    assert run.status == "FAILED"
    assert run.error == "States.Runtime"
    assert run.cause.startswith("An error occurred while executing the state 'P' (entered at the")


def test_fail_state_error_path_and_history_end():
    definition = {
        "StartAt": "F",
        "States": {"F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}},
    }
    run = execute(definition, {"e": "Bad", "c": "because"})
    assert (run.status, run.error, run.cause) == ("FAILED", "Bad", "because")
    assert [e["type"] for e in run.history] == [
        "ExecutionStarted",
        "FailStateEntered",
        "ExecutionFailed",
    ]
    assert run.history[-1]["executionFailedEventDetails"] == {"error": "Bad", "cause": "because"}
