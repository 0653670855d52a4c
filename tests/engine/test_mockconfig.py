"""Step Functions Local mock configuration files: the loader's checks and the runner's
answers (order, ranges, retries, Map iterations, exhaustion, handlers)."""

from __future__ import annotations

import json

import pytest

from opsbook.engine.mockconfig import (
    MockConfigError,
    load_mock_config,
    run_case,
    run_mock_cases,
)

LAMBDA_OK = {"Return": {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello"}}}
NOT_READY = {"Throw": {"Error": "Lambda.ResourceNotReadyException", "Cause": "not ready"}}
TIMEOUT = {"Throw": {"Error": "Lambda.TimeoutException", "Cause": "Lambda timed out."}}

# The developer guide's example, as AWS prints it.
CONFIG = {
    "StateMachines": {
        "LambdaSQSIntegration": {
            "TestCases": {
                "HappyPath": {"LambdaState": "MockedLambdaSuccess", "SQSState": "MockedSQS"},
                "RetryPath": {"LambdaState": "MockedLambdaRetry", "SQSState": "MockedSQS"},
                "HybridPath": {"LambdaState": "MockedLambdaSuccess"},
                "TooFew": {"LambdaState": "NotReadyOnce"},
                "Caught": {"LambdaState": "AlwaysTimeout", "SQSState": "MockedSQS"},
            }
        }
    },
    "MockedResponses": {
        "MockedLambdaSuccess": {"0": LAMBDA_OK},
        "NotReadyOnce": {"0": NOT_READY},
        "AlwaysTimeout": {"0-3": TIMEOUT},
        "MockedSQS": {"0": {"Return": {"MD5OfMessageBody": "3bcb", "MessageId": "m-1"}}},
        "MockedLambdaRetry": {"0": NOT_READY, "1-2": TIMEOUT, "3": LAMBDA_OK},
    },
}

DEFINITION = {
    "StartAt": "LambdaState",
    "States": {
        "LambdaState": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "HelloFunction", "Payload.$": "$"},
            "ResultSelector": {"body.$": "$.Payload.body"},
            "ResultPath": "$.lambda",
            "Retry": [
                {
                    "ErrorEquals": [
                        "Lambda.ResourceNotReadyException",
                        "Lambda.TimeoutException",
                    ],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 3,
                    "BackoffRate": 2,
                }
            ],
            "Catch": [
                {"ErrorEquals": ["Lambda.TimeoutException"], "Next": "Failed", "ResultPath": "$.e"}
            ],
            "Next": "SQSState",
        },
        "SQSState": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage",
            "Parameters": {"QueueUrl": "https://sqs.example/q", "MessageBody.$": "$.lambda.body"},
            "End": True,
        },
        "Failed": {"Type": "Fail", "Error": "GaveUp", "Cause": "the Lambda kept timing out"},
    },
}


def _config(**changes):
    return load_mock_config({**CONFIG, **changes})


@pytest.mark.parametrize(
    ("case", "status", "path", "error"),
    [
        ("HappyPath", "SUCCEEDED", ["LambdaState", "SQSState"], None),
        # 0 NotReady, 1-2 Timeout, 3 Return: three retries then success
        ("RetryPath", "SUCCEEDED", ["LambdaState", "SQSState"], None),
        # the SQS state is not mocked and has no handler: it fails as a missing resource
        ("HybridPath", "FAILED", ["LambdaState", "SQSState"], "States.TaskFailed"),
        # one response, but the Retry asks again: the execution fails, uncatchable
        ("TooFew", "FAILED", ["LambdaState"], "States.Runtime"),
        # four timeouts: the retries are used up and the Catch takes over
        ("Caught", "FAILED", ["LambdaState", "Failed"], "GaveUp"),
    ],
)
def test_cases_of_the_developer_guide_example(case, status, path, error):
    result = run_case(DEFINITION, load_mock_config(CONFIG), "LambdaSQSIntegration", case, {})
    assert (result.status, result.path, result.error) == (status, path, error)


def test_retries_consume_responses_in_order_and_return_goes_through_result_selector():
    result = run_case(DEFINITION, load_mock_config(CONFIG), "LambdaSQSIntegration", "RetryPath")
    events = result.run.history
    failures = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failures == [
        "Lambda.ResourceNotReadyException",
        "Lambda.TimeoutException",
        "Lambda.TimeoutException",
    ]
    assert result.run.output == {"MD5OfMessageBody": "3bcb", "MessageId": "m-1"}
    sqs = [e for e in events if e["type"] == "TaskScheduled"][-1]
    params = json.loads(sqs["taskScheduledEventDetails"]["parameters"])
    assert params["MessageBody"] == "Hello"  # the mocked Payload.body, via ResultSelector


def test_an_exhausted_mock_names_the_response_and_invocation():
    result = run_case(DEFINITION, load_mock_config(CONFIG), "LambdaSQSIntegration", "TooFew")
    assert "'NotReadyOnce'" in result.cause and "invocation 1" in result.cause


def test_unmocked_states_call_their_registered_handler():
    seen = []

    def send(payload):
        seen.append(payload)
        return {"MessageId": "real"}

    result = run_case(
        DEFINITION,
        load_mock_config(CONFIG),
        "LambdaSQSIntegration",
        "HybridPath",
        tasks={"arn:aws:states:::sqs:sendMessage": send},
    )
    assert result.status == "SUCCEEDED"
    assert result.run.output == {"MessageId": "real"}
    assert seen == [{"QueueUrl": "https://sqs.example/q", "MessageBody": "Hello"}]


def test_map_iterations_take_the_next_response_each():
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "Work",
                    "States": {
                        "Work": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": "w", "Payload.$": "$"},
                            "OutputPath": "$.Payload",
                            "End": True,
                        }
                    },
                },
                "End": True,
            }
        },
    }
    config = load_mock_config(
        {
            "StateMachines": {"M": {"TestCases": {"T": {"Work": "Seq"}}}},
            "MockedResponses": {
                "Seq": {
                    "0": {"Return": {"Payload": "a"}},
                    "1-2": {"Return": {"Payload": "b"}},
                }
            },
        }
    )
    result = run_case(definition, config, "M", "T", [1, 2, 3])
    assert result.status == "SUCCEEDED"
    assert sorted(result.run.output) == ["a", "b", "b"]
    assert result.path == ["Each", "Work", "Work", "Work"]


def test_run_mock_cases_runs_every_case_in_file_order_or_just_one():
    config = load_mock_config(CONFIG)
    names = [r.case for r in run_mock_cases(DEFINITION, config)]
    assert names == list(CONFIG["StateMachines"]["LambdaSQSIntegration"]["TestCases"])
    only = run_mock_cases(DEFINITION, config, case="RetryPath")
    assert [r.to_dict()["case"] for r in only] == ["RetryPath"]
    assert set(only[0].to_dict()) == {"case", "status", "path", "error", "cause"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Extra": {}}, "unknown top-level field 'Extra'"),
        ({"StateMachines": []}, "StateMachines must be a JSON object"),
        ({"StateMachines": {"S": {"Cases": {}}}}, "exactly one field, TestCases"),
        (
            {"StateMachines": {"S": {"TestCases": {"C": {"A": "Nope"}}}}},
            "names 'Nope', which is not in MockedResponses",
        ),
        ({"StateMachines": {"S": {"TestCases": {"C": {"A": 3}}}}}, "must name a mocked response"),
        ({"MockedResponses": {"R": {"x": LAMBDA_OK}}}, "invocation number or a range"),
        ({"MockedResponses": {"R": {"2-1": LAMBDA_OK}}}, "ends before it starts"),
        ({"MockedResponses": {"R": {"1": LAMBDA_OK}}}, "leaves a gap before invocation 0"),
        ({"MockedResponses": {"R": {"0-2": LAMBDA_OK, "2": LAMBDA_OK}}}, "overlaps"),
        ({"MockedResponses": {"R": {"0": {}}}}, "exactly one field, Return or Throw"),
        ({"MockedResponses": {"R": {"0": {**LAMBDA_OK, **TIMEOUT}}}}, "exactly one field"),
        ({"MockedResponses": {"R": {"0": {"Throw": {"Cause": "x"}}}}}, "string Error and Cause"),
        ({"MockedResponses": {"R": {}}}, "has no responses"),
    ],
)
def test_malformed_files_are_refused_with_the_place(change, message):
    with pytest.raises(MockConfigError, match=message.replace("(", r"\(")):
        _config(**change)


def test_unknown_state_machine_or_case_is_an_error_before_anything_runs():
    config = load_mock_config(CONFIG)
    with pytest.raises(MockConfigError, match="no test case 'Nope'"):
        run_mock_cases(DEFINITION, config, case="Nope")
    with pytest.raises(MockConfigError, match="no state machine 'Other'"):
        run_mock_cases(DEFINITION, config, state_machine="Other")


def test_files_and_text_load_alike(tmp_path):
    path = tmp_path / "MockConfigFile.json"
    path.write_text(json.dumps(CONFIG))
    assert load_mock_config(path) == load_mock_config(json.dumps(CONFIG))
    with pytest.raises(MockConfigError, match="not valid JSON"):
        load_mock_config("{nope")
    with pytest.raises(MockConfigError, match="cannot read"):
        load_mock_config(tmp_path / "missing.json")
