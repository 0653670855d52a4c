"""test_state at TestState parity: mocks, inspection data, state configuration, context."""

from __future__ import annotations

import json
import re

import pytest

from opsbook.engine import DefinitionError, test_state
from opsbook.engine.teststate import TestStateError

LAMBDA = {
    "Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "f", "Payload.$": "$.x"},
    "ResultSelector": {"p.$": "$.Payload"},
    "ResultPath": "$.r",
    "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 2, "IntervalSeconds": 3}],
    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Bad"}],
    "Next": "Good",
}
OK = {"result": json.dumps({"StatusCode": 200, "Payload": {"a": 1}})}
BOOM = {"errorOutput": {"error": "Boom", "cause": "it broke"}}
OTHER = {"errorOutput": {"error": "Other", "cause": "no retrier"}}
MAP = {
    "Type": "Map",
    "ItemsPath": "$.items",
    "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
    "ResultPath": "$.out",
    "ToleratedFailureCount": 1,
    "End": True,
}
PARALLEL = {
    "Type": "Parallel",
    "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}],
    "ResultSelector": {"first.$": "$[0]"},
    "Next": "After",
}


@pytest.mark.parametrize(
    ("state", "mock", "config", "status", "error", "next_state", "output"),
    [
        (LAMBDA, OK, None, "SUCCEEDED", None, "Good", {"x": 1, "r": {"p": {"a": 1}}}),
        (LAMBDA, BOOM, None, "RETRIABLE", "Boom", None, None),
        (LAMBDA, BOOM, {"retrierRetryCount": 1}, "RETRIABLE", "Boom", None, None),
        # the retrier's two attempts are used: the Catch decides
        (
            LAMBDA,
            BOOM,
            {"retrierRetryCount": 2},
            "CAUGHT_ERROR",
            "Boom",
            "Bad",
            {"Error": "Boom", "Cause": "it broke"},
        ),
        (LAMBDA, OTHER, None, "CAUGHT_ERROR", "Other", "Bad", {"Error": "Other", "Cause": "no retrier"}),
        ({**LAMBDA, "Catch": []}, OTHER, None, "FAILED", "Other", None, None),
        (MAP, {"result": "[1,2,3]"}, None, "SUCCEEDED", None, None, {"items": [9], "out": [1, 2, 3]}),
        (MAP, {"result": "[1,2,3]"}, {"mapIterationFailureCount": 1}, "SUCCEEDED", None, None, {"items": [9], "out": [1, 2, 3]}),
        (
            MAP,
            {"result": "[1,2,3]"},
            {"mapIterationFailureCount": 2},
            "FAILED",
            "States.ExceedToleratedFailureThreshold",
            None,
            None,
        ),
        (PARALLEL, {"result": '[{"b":1}]'}, None, "SUCCEEDED", None, "After", {"first": {"b": 1}}),
        (
            PARALLEL,
            {"errorOutput": {"error": "States.TaskFailed", "cause": "branch"}},
            {"errorCausedByState": "B"},
            "FAILED",
            "States.TaskFailed",
            None,
            None,
        ),
    ],
)  # fmt: skip
def test_statuses_with_mocks(state, mock, config, status, error, next_state, output):
    result = test_state(
        state, {"x": 1} if state is not MAP else {"items": [9]}, mock=mock,
        state_configuration=config,
    )  # fmt: skip
    assert result["status"] == status
    assert result["error"] == error
    assert result["nextState"] == next_state
    assert result["output"] == output


def test_debug_inspection_data_follows_each_processing_step():
    result = test_state(LAMBDA, {"x": 1}, mock=OK, inspection_level="DEBUG")
    data = {k: json.loads(v) for k, v in result["inspectionData"].items()}
    assert data == {
        "input": {"x": 1},
        "afterInputPath": {"x": 1},
        "afterParameters": {"FunctionName": "f", "Payload": 1},
        "result": {"StatusCode": 200, "Payload": {"a": 1}},
        "afterResultSelector": {"p": {"a": 1}},
        "afterResultPath": {"x": 1, "r": {"p": {"a": 1}}},
    }
    info = test_state(LAMBDA, {"x": 1}, mock=OK)
    assert "inspectionData" not in info


@pytest.mark.parametrize(
    ("config", "details"),
    [
        (None, {"retryIndex": 0, "retryBackoffIntervalSeconds": 3}),
        ({"retrierRetryCount": 1}, {"retryIndex": 0, "retryBackoffIntervalSeconds": 6}),
        ({"retrierRetryCount": 2}, {"catchIndex": 0}),
    ],
)
def test_error_details_name_the_retrier_or_catcher(config, details):
    result = test_state(
        LAMBDA, {"x": 1}, mock=BOOM, inspection_level="TRACE", state_configuration=config
    )
    assert result["inspectionData"]["errorDetails"] == details


def test_variables_context_and_a_state_of_a_whole_machine():
    machine = {
        "QueryLanguage": "JSONata",
        "StartAt": "First",
        "States": {
            "First": {"Type": "Pass", "Next": "Second"},
            "Second": {
                "Type": "Pass",
                "Output": "{% [$states.input.a, $seen, $states.context.Execution.Name] %}",
                "Assign": {"seen": "{% $seen + 1 %}"},
                "End": True,
            },
        },
    }
    result = test_state(
        machine,
        {"a": 5},
        state_name="Second",
        variables={"seen": 1},
        context={"Execution": {"Name": "my-run"}},
        inspection_level="DEBUG",
    )
    assert result["status"] == "SUCCEEDED"
    assert result["output"] == [5, 1, "my-run"]
    assert json.loads(result["inspectionData"]["variables"]) == {"seen": 2}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"definition": {"Type": "Pass", "End": True}, "mock": OK}, "State type 'Pass' is not supported"),
        ({"definition": {"Type": "Choice", "Choices": []}, "mock": OK}, "State type 'Choice'"),
        ({"mock": {}}, r"only one of the following fields: \[result, errorOutput\]"),
        ({"mock": {**OK, **BOOM}}, r"only one of the following fields: \[result, errorOutput\]"),
        ({"mock": {**OK, "fieldValidationMode": "LOOSE"}}, "fieldValidationMode"),
        ({"mock": {"result": '{"StatusCode": "200"}'}}, "^Mock result schema validation error: Field 'StatusCode' must be a number$"),
        ({"mock": {"result": "{nope"}}, "mock.result is not valid JSON"),
        ({"inspection_level": "LOUD"}, "inspectionLevel"),
        ({"state_configuration": {"retries": 1}}, "unknown stateConfiguration field"),
        ({"state_configuration": {"retrierRetryCount": -1}}, "integer >= 0"),
        ({"state_configuration": {"mapIterationFailureCount": 1}}, "applies to Map states"),
        ({"definition": PARALLEL, "state_configuration": {"errorCausedByState": "Z"}}, "not a state of this Parallel"),
        ({"definition": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}}, "stateName is required"),
        ({"variables": [1]}, "variables must be a JSON object"),
        ({"definition": MAP, "mock": {"result": '{"a": 1}'}}, r"^Mocked result must be an array\.$"),
        ({"definition": PARALLEL, "mock": {"result": '{"a": 1}'}}, r"^Mocked result must be an array\.$"),
        ({"definition": PARALLEL, "mock": {"result": "[1, 2, 3]"}}, "same number of items as number of Parallel branches"),
    ],
)  # fmt: skip
def test_requests_aws_refuses(kwargs, message):
    kwargs = {"definition": LAMBDA, **kwargs}
    definition = kwargs.pop("definition")
    with pytest.raises(TestStateError, match=message):
        test_state(definition, {"x": 1}, **kwargs)


def test_field_validation_none_accepts_any_result_and_bad_json_is_a_definition_error():
    loose = {"result": '{"Nope": 1}', "fieldValidationMode": "NONE"}
    plain = {k: v for k, v in LAMBDA.items() if k != "ResultSelector"}
    result = test_state(plain, {"x": 1}, mock=loose)
    assert (result["status"], result["output"]) == ("SUCCEEDED", {"x": 1, "r": {"Nope": 1}})
    # the mocked result still meets ResultSelector as a real one would: a missing path fails
    assert test_state(LAMBDA, {"x": 1}, mock=loose)["error"] == "States.Runtime"
    with pytest.raises(DefinitionError):
        test_state("{not json", {})


def test_trace_shows_the_http_request_and_response_of_an_http_task():
    http = {
        "Type": "Task",
        "Resource": "arn:aws:states:::http:invoke",
        "Parameters": {
            "ApiEndpoint": "https://api.example.com/orders",
            "Method": "POST",
            "Headers": {"Content-Type": "application/json"},
            "QueryParameters": {"dry": "1"},
            "RequestBody": {"id.$": "$.id"},
            "Authentication": {"ConnectionArn": "arn:aws:events:::connection/x"},
        },
        "End": True,
    }
    response = {
        "StatusCode": 201,
        "StatusText": "Created",
        "Headers": {},
        "ResponseBody": {"ok": 1},
    }
    result = test_state(
        http, {"id": 7}, mock={"result": json.dumps(response)}, inspection_level="TRACE"
    )
    data = result["inspectionData"]
    assert data["request"] == {
        "protocol": "https",
        "method": "POST",
        "url": "https://api.example.com/orders?dry=1",
        "headers": '{"Content-Type":"application/json"}',
        "body": '{"id":7}',
    }
    assert data["response"]["statusCode"] == "201"
    assert json.loads(data["response"]["body"]) == {"ok": 1}
    debug = test_state(
        http, {"id": 7}, mock={"result": json.dumps(response)}, inspection_level="DEBUG"
    )
    assert "request" not in debug["inspectionData"]


def test_a_mocked_map_shows_its_items_and_each_iterations_input():
    mapped = {
        **MAP,
        "ItemsPath": "$.order.items",
        "ItemSelector": {"sku.$": "$$.Map.Item.Value.sku", "n.$": "$$.Map.Item.Index"},
        "MaxConcurrency": 2,
    }
    order = {"order": {"items": [{"sku": "a"}, {"sku": "b"}]}}
    result = test_state(mapped, order, mock={"result": "[1, 2]"}, inspection_level="DEBUG")
    data = result["inspectionData"]
    assert json.loads(data["afterItemsPath"]) == [{"sku": "a"}, {"sku": "b"}]
    assert json.loads(data["afterItemSelector"]) == [{"sku": "a", "n": 0}, {"sku": "b", "n": 1}]
    assert (data["maxConcurrency"], data["toleratedFailureCount"]) == (2, 1)
    assert json.loads(data["afterResultPath"]) == {**order, "out": [1, 2]}


def test_strict_validation_checks_only_the_fields_of_the_response_model():
    # Recorded on AWS (LocalStack's test_field_validation_mode snapshot, Apache-2.0): under
    # STRICT a mocked field the API's response model lacks is accepted; only the model's own
    # fields are checked, and a wrong type is refused in TestState's words.
    plain = {k: v for k, v in LAMBDA.items() if k != "ResultSelector"}
    result = test_state(plain, {"x": 1}, mock={"result": '{"random": "json"}'})
    assert (result["status"], result["output"]) == ("SUCCEEDED", {"x": 1, "r": {"random": "json"}})
    with pytest.raises(TestStateError, match="Field 'ExecutedVersion' must be a string"):
        test_state(plain, {"x": 1}, mock={"result": '{"ExecutedVersion": 1}'})


# The fields of inspectionData at DEBUG, as AWS recorded them for each kind of state
# (LocalStack's test_test_state_scenarios snapshot, Apache-2.0: BASE_PASS_STATE,
# BASE_RESULT_PASS_STATE, IO_PASS_STATE, IO_RESULT_PASS_STATE, BASE_FAIL_STATE,
# BASE_SUCCEED_STATE, BASE_CHOICE_STATE; test_base_map_state_inspect for the JSONata Map).
IO_INPUT = {"initialData": {"fieldFromInput": "value from input", "otherField": "other"}}
IO_FIELDS = {
    "InputPath": "$.initialData",
    "Parameters": {"staticValue": "some value", "inputValue.$": "$.fieldFromInput"},
    "ResultPath": "$.modifiedData",
}
JSONATA_MAP = {
    "Type": "Map",
    "QueryLanguage": "JSONata",
    "Items": "{% $states.input.Values %}",
    "MaxConcurrency": 1,
    "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Pass", "End": True}}},
    "End": True,
}


@pytest.mark.parametrize(
    ("state", "state_input", "mock", "fields"),
    [
        ({"Type": "Pass", "End": True}, {"v": 1}, None,
         {"input", "afterInputPath", "afterParameters", "afterResultSelector", "afterResultPath"}),
        ({"Type": "Pass", "Result": {"r": 1}, "End": True}, {"v": 1}, None,
         {"input", "result", "afterResultSelector", "afterResultPath"}),
        ({"Type": "Pass", **IO_FIELDS, "End": True}, IO_INPUT, None,
         {"input", "afterInputPath", "afterParameters", "afterResultSelector", "afterResultPath"}),
        ({"Type": "Pass", **IO_FIELDS, "Result": {"r": 1}, "End": True}, IO_INPUT, None,
         {"input", "result", "afterResultSelector", "afterResultPath"}),
        ({"Type": "Fail", "Error": "SomeFailure"}, {"v": 1}, None, {"input", "afterInputPath"}),
        ({"Type": "Succeed"}, {"v": 1}, None, {"input", "afterInputPath"}),
        ({"Type": "Choice", "Choices": [{"Variable": "$.v", "NumericEquals": 1, "Next": "A"}]},
         {"v": 1}, None, {"input", "afterInputPath"}),
        (JSONATA_MAP, {"Values": [1, 2]}, {"result": "[1, 1]"}, {"input", "maxConcurrency"}),
    ],
    ids=["pass", "pass-result", "pass-io", "pass-io-result", "fail", "succeed", "choice", "jsonata-map"],
)  # fmt: skip
def test_debug_inspection_fields_per_state_type(state, state_input, mock, fields):
    result = test_state(state, state_input, mock=mock, inspection_level="DEBUG")
    assert set(result["inspectionData"]) == fields


def test_pass_with_result_inspects_its_result_not_its_parameters():
    state = {"Type": "Pass", **IO_FIELDS, "Result": {"r": 1}, "End": True}
    data = test_state(state, IO_INPUT, inspection_level="DEBUG")["inspectionData"]
    assert json.loads(data["afterResultSelector"]) == {"r": 1}
    assert json.loads(data["afterResultPath"]) == {**IO_INPUT, "modifiedData": {"r": 1}}


def test_context_object_is_the_test_executions():
    state = {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states %}", "End": True}
    out = test_state(state, {"v": 1})["output"]
    execution = out["context"]["Execution"]
    assert execution["Input"] == {"v": 1}  # AWS: the tested state's input
    assert ":express:" in execution["Id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", execution["StartTime"])


@pytest.mark.parametrize(
    ("items_path", "context", "shown"),
    [("$$", None, "$"), ("$$.Execution.Input", {"Execution": {"Input": {"a": 1}}}, "$.Execution.Input")],
)  # fmt: skip
def test_map_items_that_are_no_array_fail_in_aws_words(items_path, context, shown):
    # Recorded on AWS (LocalStack's test_state_context_object snapshot, Apache-2.0,
    # test_state_map_context_object[ALL|EXECUTION_INPUT]): TestState's cause has no
    # "An error occurred while executing the state" prefix, and a failed Map inspects its input.
    state = {
        "Type": "Map",
        "ItemsPath": items_path,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "End": True,
    }
    items = ["fire", "electricity", "grass"]
    mock = {"result": json.dumps(["CHARIZARD", "PIKACHU", "BULBASAUR"])}  # as recorded
    result = test_state(state, items, mock=mock, context=context, inspection_level="DEBUG")
    assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")
    assert result["cause"] == f'Reference path "{shown}" must point to array.'
    assert set(result["inspectionData"]) == {"input", "afterInputPath"}


# Recorded on AWS (LocalStack's test_state_context_object snapshot, Apache-2.0): a given
# context object is checked, then used as the whole context, as given.
@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"Map": {"Item": {"Index": 0}}}, "'Map' field is not supported when mocking a Context object"),
        ({"Execution": {"pokemon": 1}}, "Field 'pokemon' is not allowed"),
        ({"Pokedex": {}}, "Field 'Pokedex' is not allowed"),
        ({"Execution": {"Id": 5}}, "Execution.Id must be a string"),
        ({"Task": {"Token": "t"}}, "Context object contains 'Task' when state is not a Task state"),
    ],
)  # fmt: skip
def test_context_objects_aws_refuses(context, message):
    with pytest.raises(TestStateError, match=f"^Invalid Context object provided: {message}"):
        test_state(LAMBDA, {"x": 1}, mock=OK, context=context)


@pytest.mark.parametrize(
    "context",
    [{}, {"Execution": {}, "State": {}, "StateMachine": {}}],
    ids=["empty", "empty-objects"],
)
def test_a_given_context_object_is_the_whole_context(context):
    state = {"Type": "Pass", "Parameters": {"c.$": "$$"}, "End": True}
    assert test_state(state, {"x": 1}, context=context)["output"] == {"c": context}


# AWS tests these states only with a mock (API reference, TestState: "TestState only supports
# the following when a mock is specified: Activity tasks, .sync or .waitForTaskToken service
# integration patterns, Parallel, or Map states").
@pytest.mark.parametrize(
    ("state", "message"),
    [
        (MAP, r"^TestState API does not support Map or Parallel states\. Supported state types include: \[Task, Wait, Pass, Succeed, Fail, Choice\]$"),
        (PARALLEL, r"^TestState API does not support Map or Parallel states\."),
        ({"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:a", "End": True}, "Activity task only with a mock"),
        ({"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2", "End": True}, "only with a mock"),
        ({"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True}, "only with a mock"),
    ],
)  # fmt: skip
def test_states_aws_tests_only_with_a_mock_are_refused_without_one(state, message):
    with pytest.raises(TestStateError, match=message):
        test_state(state, {"items": [1]})
