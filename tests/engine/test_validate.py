"""validate(): AWS-style static diagnostics, zero false positives on the real-AWS corpus."""

from __future__ import annotations

import copy
import json
import time

import pytest
from support.corpus import corpus_file

from opsbook.engine.errors import Diagnostic
from opsbook.engine.validate import validate

LAMBDA = "arn:aws:lambda:ap-northeast-1:123456789012:function:check-records"


def _errors(diags: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diags if d.severity == "ERROR"]


# ------------------------------------------------------------------ zero false positives
def test_every_corpus_definition_is_valid():
    path = corpus_file()
    if path is None:
        pytest.skip(
            "ASL conformance corpus not found: set OPSBOOK_ASL_CONFORMANCE or put it at "
            "<repo>/../shared/asl-conformance"
        )
    cases = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(cases) >= 600
    failures = {}
    for case in cases:
        errors = _errors(validate(case["definition"]))
        if errors:
            failures[case["name"]] = [str(d) for d in errors]
        # the same definition as text must give the same answer
        assert _errors(validate(json.dumps(case["definition"]))) == errors
    assert not failures, f"{len(failures)} AWS-accepted definitions rejected: {failures}"


# ------------------------------------------------------------------ valid definitions
def weekly_load() -> dict:
    """Shaped like opsbook's workflow: check, choice, rounds of notify -> wait -> check, insert."""
    retry = [
        {
            "ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException"],
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2,
            "MaxDelaySeconds": 60,
            "JitterStrategy": "FULL",
        },
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 0},
    ]
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "NotifyFailure"}]
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "OutputPath": "$.Payload",
        "Retry": retry,
        "Catch": catch,
        "TimeoutSeconds": 900,
        "HeartbeatSeconds": 60,
    }
    return {
        "Comment": "weekly load",
        "StartAt": "CheckRecords",
        "TimeoutSeconds": 86400,
        "States": {
            "CheckRecords": {
                **task,
                "Parameters": {"FunctionName": LAMBDA, "Payload": {"week.$": "$.week"}},
                "Next": "HasRecords",
            },
            "HasRecords": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {"Variable": "$.count", "IsPresent": True},
                            {"Variable": "$.count", "NumericGreaterThan": 0},
                        ],
                        "Next": "Insert",
                    },
                    {
                        "Variable": "$.round",
                        "NumericGreaterThanEqualsPath": "$$.Execution.Input.max",
                        "Next": "NotifyFailure",
                    },
                ],  # fmt: skip
                "Default": "Notify",
            },
            "Notify": {
                "Type": "Task",
                "Resource": LAMBDA,
                "Parameters": {"text.$": "States.Format('round {} of {}', $.round, 6)"},
                "ResultPath": None,
                "Next": "Wait600",
            },
            "Wait600": {"Type": "Wait", "Seconds": 600, "Next": "CheckRecords"},
            "Insert": {
                **task,
                "Parameters": {"FunctionName": f"{LAMBDA}:live", "Payload.$": "$"},
                "ResultSelector": {"rows.$": "$.Payload.rows"},
                "ResultPath": "$.insert",
                "Assign": {"inserted.$": "$.Payload.rows", "note": "done"},
                "Next": "Fanout",
            },
            "Fanout": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                    {
                        "StartAt": "M",
                        "States": {
                            "M": {
                                "Type": "Map",
                                "ItemsPath": "$.items",
                                "ItemSelector": {"item.$": "$$.Map.Item.Value"},
                                "MaxConcurrency": 4,
                                "ToleratedFailurePercentage": 12.5,
                                "ItemProcessor": {
                                    "ProcessorConfig": {"Mode": "INLINE"},
                                    "StartAt": "P",
                                    "States": {"P": {"Type": "Pass", "End": True}},
                                },
                                "End": True,
                            }
                        },
                    },
                ],
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
            "NotifyFailure": {
                "Type": "Fail",
                "ErrorPath": "$.error.Error",
                "CausePath": "States.Format('check failed: {}', $.error.Cause)",
            },
        },
    }


def jsonata_machine() -> dict:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": LAMBDA, "Payload": "{% $states.input %}"},
                "Output": "{% $states.result.Payload %}",
                "Assign": {"count": "{% $states.result.Payload.count %}"},
                "TimeoutSeconds": "{% $timeout %}",
                "Retry": [{"ErrorEquals": ["States.TaskFailed"], "BackoffRate": 1.5}],
                "Catch": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "Output": "{% $states.errorOutput %}",
                        "Next": "Failed",
                    },
                ],  # fmt: skip
                "Next": "Route",
            },
            "Route": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $count > 0 %}", "Next": "Wait"}],
                "Default": "Done",
            },
            "Wait": {"Type": "Wait", "Seconds": "{% $count * 10 %}", "Next": "Each"},
            "Each": {
                "Type": "Map",
                "Items": "{% [1, 2, 3] %}",
                "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                "MaxConcurrency": 2,
                "Next": "Done",
            },
            "Done": {"Type": "Succeed", "Output": {"n": "{% $count %}"}},
            "Failed": {"Type": "Fail", "Error": "{% $states.input.Error %}", "Cause": "boom"},
        },
    }


def distributed_map() -> dict:
    return {
        "StartAt": "Big",
        "States": {
            "Big": {
                "Type": "Map",
                "Label": "BigMap",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSONL", "MaxItems": 10},
                    "Parameters": {"Bucket": "b", "Key.$": "$.key"},
                },
                "ItemBatcher": {"MaxItemsPerBatch": 10},
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "b", "Prefix": "out"},
                },
                "ToleratedFailureCountPath": "$.tolerated",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "Work",
                    "States": {"Work": {"Type": "Task", "Resource": LAMBDA, "End": True}},
                },
                "End": True,
            }
        },
    }


@pytest.mark.parametrize("build", [weekly_load, jsonata_machine, distributed_map])
def test_realistic_definitions_are_valid(build):
    assert validate(build()) == []
    assert validate(json.dumps(build())) == []
    assert validate(json.dumps(build()).encode()) == []


def test_warnings_do_not_fail():
    d = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Pass",
                "Result": {"x.$": "$.a"},
                "Parameters": {"looks": "$.like.a.path"},
                "End": True,
            }
        },
    }
    diags = validate(d)
    assert {(x.code, x.location, x.severity) for x in diags} == {
        ("PASS_RESULT_IS_STATIC", "/States/A/Result", "WARNING"),
        ("NO_DOLLAR", "/States/A/Parameters/looks", "WARNING"),
    }


# ------------------------------------------------------------------ invalid definitions
def sm(states: dict, start: str | None = None, **top) -> dict:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def end(**fields) -> dict:
    return {"Type": "Pass", "End": True, **fields}


def task(**fields) -> dict:
    return {"Type": "Task", "Resource": LAMBDA, "End": True, **fields}


def choice(*rules, default="Z", **fields) -> dict:
    out = {"Type": "Choice", "Choices": list(rules), **fields}
    if default:
        out["Default"] = default
    return out


def with_z(states: dict) -> dict:
    return {**states, "Z": {"Type": "Succeed"}}


def rule(**fields) -> dict:
    return {"Variable": "$.v", "Next": "Z", **fields}


def retry(**fields) -> dict:
    return sm({"A": task(Retry=[{"ErrorEquals": ["States.ALL"], **fields}])})


def wait(**fields) -> dict:
    return sm({"W": {"Type": "Wait", "End": True, **fields}})


def fail(**fields) -> dict:
    return sm({"F": {"Type": "Fail", **fields}})


def jsonata(states: dict) -> dict:
    return sm(states, QueryLanguage="JSONata")


def parallel(*branches, **fields) -> dict:
    return {"Type": "Parallel", "Branches": list(branches), "End": True, **fields}


def mapstate(**fields) -> dict:
    proc = {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}
    return {"Type": "Map", "ItemProcessor": proc, "End": True, **fields}


S = "SCHEMA_VALIDATION_FAILED"
T = "MISSING_TRANSITION_TARGET"
A = "/States/A"

INVALID = [
    # top level
    ("no-startat", {"States": {"A": end()}}, S, "/"),
    ("empty-object", {}, S, "/"),
    ("startat-missing-target", sm({"A": end()}, start="Nope"), T, "/StartAt"),
    ("startat-not-string", {"StartAt": 1, "States": {"A": end()}}, S, "/StartAt"),
    ("states-empty", {"StartAt": "A", "States": {}}, S, "/States"),
    ("states-not-object", {"StartAt": "A", "States": []}, S, "/States"),
    ("unknown-top-field", sm({"A": end()}, Foo=1), S, "/Foo"),
    ("top-timeout-zero", sm({"A": end()}, TimeoutSeconds=0), S, "/TimeoutSeconds"),
    ("top-timeout-string", sm({"A": end()}, TimeoutSeconds="5"), S, "/TimeoutSeconds"),
    ("top-querylanguage", sm({"A": end()}, QueryLanguage="XPath"), S, "/QueryLanguage"),
    ("top-version", sm({"A": end()}, Version=1), S, "/Version"),
    ("top-comment", sm({"A": end()}, Comment=["x"]), S, "/Comment"),
    # transitions, terminal and reachable states
    ("next-missing-target", sm({"A": {"Type": "Pass", "Next": "B"}}), T, "/States/A/Next"),
    ("next-and-end", sm({"A": {"Type": "Pass", "Next": "A", "End": True}}), S, A),
    ("neither-next-nor-end", sm({"A": {"Type": "Pass"}}), T, A),
    ("end-false-no-next", sm({"A": {"Type": "Pass", "End": False}}), T, A),
    ("end-not-bool", sm({"A": {"Type": "Pass", "End": "yes"}}), S, "/States/A/End"),
    (
        "no-terminal-state",
        sm({"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}),
        "MISSING_END_STATE",
        "/",
    ),
    ("unreachable", sm({"A": end(), "B": end()}), S, "/States/B"),
    ("slash-in-name", sm({"a/b": {"Type": "Pass", "Next": "x"}}), T, "/States/a~1b/Next"),
    ("name-too-long", sm({"N" * 81: end()}), "INVALID_STATE_NAME", "/States/" + "N" * 81),
    # types and fields
    ("unknown-type", sm({"A": {"Type": "Sleep", "End": True}}), S, "/States/A/Type"),
    ("missing-type", sm({"A": {"End": True}}), S, A),
    ("state-not-object", sm({"A": [1]}), S, A),
    ("unknown-field", sm({"A": end(Foo=1)}), S, "/States/A/Foo"),
    ("comment-not-string", sm({"A": end(Comment=1)}), S, "/States/A/Comment"),
    ("jsonata-inputpath", jsonata({"A": end(InputPath="$.a")}), S, "/States/A/InputPath"),
    ("jsonata-parameters", jsonata({"A": end(Parameters={})}), S, "/States/A/Parameters"),
    ("jsonata-resultpath", jsonata({"A": task(ResultPath="$.a")}), S, "/States/A/ResultPath"),
    ("jsonpath-output", sm({"A": end(Output={})}), S, "/States/A/Output"),
    ("jsonpath-arguments", sm({"A": task(Arguments={})}), S, "/States/A/Arguments"),
    (
        "downgrade-querylanguage",
        jsonata({"A": end(QueryLanguage="JSONPath")}),
        S,
        A,
    ),
    (
        "state-querylanguage",
        sm({"A": end(QueryLanguage="JSONPathX")}),
        S,
        "/States/A/QueryLanguage",
    ),
    ("succeed-next", sm({"A": {"Type": "Succeed", "Next": "A"}}), S, "/States/A/Next"),
    ("fail-next", sm({"A": {"Type": "Fail", "Next": "A"}}), S, "/States/A/Next"),
    ("fail-assign", sm({"A": {"Type": "Fail", "Assign": {}}}), S, "/States/A/Assign"),
    # paths, templates, intrinsics, JSONata
    ("inputpath-no-dollar", sm({"A": end(InputPath="a.b")}), S, "/States/A/InputPath"),
    ("outputpath-bad", sm({"A": end(OutputPath="$.a[")}), S, "/States/A/OutputPath"),
    ("inputpath-number", sm({"A": end(InputPath=3)}), S, "/States/A/InputPath"),
    ("resultpath-context", sm({"A": end(ResultPath="$$.x")}), S, "/States/A/ResultPath"),
    ("resultpath-variable", sm({"A": end(ResultPath="$x")}), S, "/States/A/ResultPath"),
    ("resultpath-wildcard", sm({"A": end(ResultPath="$.a[*]")}), S, "/States/A/ResultPath"),
    ("resultpath-filter", sm({"A": end(ResultPath="$.a[?(@.b)]")}), S, "/States/A/ResultPath"),
    (
        "param-unknown-intrinsic",
        sm({"A": end(Parameters={"x.$": "States.Nope($.a)"})}),
        S,
        "/States/A/Parameters/x.$",
    ),
    (
        "param-intrinsic-syntax",
        sm({"A": end(Parameters={"x.$": "States.Format('a', $.b"})}),
        S,
        "/States/A/Parameters/x.$",
    ),
    (
        "param-intrinsic-arity",
        sm({"A": end(Parameters={"x.$": "States.MathAdd(1)"})}),
        S,
        "/States/A/Parameters/x.$",
    ),
    (
        "param-intrinsic-bad-path-arg",
        sm({"A": end(Parameters={"x.$": "States.ArrayLength($.a.)"})}),
        S,
        "/States/A/Parameters/x.$",
    ),
    ("param-dollar-number", sm({"A": end(Parameters={"x.$": 3})}), S, "/States/A/Parameters/x.$"),
    (
        "param-nested-bad-path",
        sm({"A": end(Parameters={"a": [{"b.$": "nope"}]})}),
        S,
        "/States/A/Parameters/a/0/b.$",
    ),
    (
        "resultselector-bad-path",
        sm({"A": task(ResultSelector={"b.$": "$.["})}),
        S,
        "/States/A/ResultSelector/b.$",
    ),
    (
        "resultselector-not-object",
        sm({"A": task(ResultSelector=[1])}),
        S,
        "/States/A/ResultSelector",
    ),
    (
        "jsonata-output-syntax",
        jsonata({"A": end(Output={"x": "{% ( %}"})}),
        S,
        "/States/A/Output/x",
    ),
    (
        "jsonata-arguments-nested",
        jsonata({"A": task(Arguments={"l": [1, "{% $states.input.[ %}"]})}),
        S,
        "/States/A/Arguments/l/1",
    ),
    (
        "jsonata-assign-syntax",
        jsonata({"A": end(Assign={"v": "{% 1 + %}"})}),
        S,
        "/States/A/Assign/v",
    ),
    # Assign
    ("assign-not-object", sm({"A": end(Assign=[1])}), S, "/States/A/Assign"),
    ("assign-bad-name-digit", sm({"A": end(Assign={"1abc": 1})}), S, "/States/A/Assign/1abc"),
    ("assign-bad-name-dash", sm({"A": end(Assign={"a-b": 1})}), S, "/States/A/Assign/a-b"),
    (
        "assign-name-too-long",
        sm({"A": end(Assign={"v" * 81: 1})}),
        S,
        "/States/A/Assign/" + "v" * 81,
    ),
    ("assign-bad-path", sm({"A": end(Assign={"x.$": "$.a["})}), S, "/States/A/Assign/x.$"),
    # Task
    ("task-no-resource", sm({"A": {"Type": "Task", "End": True}}), S, A),
    (
        "task-resource-not-arn",
        sm({"A": task(Resource="my-fn")}),
        "INVALID_RESOURCE",
        "/States/A/Resource",
    ),
    ("task-resource-number", sm({"A": task(Resource=1)}), "INVALID_RESOURCE", "/States/A/Resource"),
    ("timeout-zero", sm({"A": task(TimeoutSeconds=0)}), S, "/States/A/TimeoutSeconds"),
    ("timeout-float", sm({"A": task(TimeoutSeconds=1.5)}), S, "/States/A/TimeoutSeconds"),
    ("timeout-bool", sm({"A": task(TimeoutSeconds=True)}), S, "/States/A/TimeoutSeconds"),
    ("timeout-and-path", sm({"A": task(TimeoutSeconds=5, TimeoutSecondsPath="$.t")}), S, A),
    ("timeoutpath-bad", sm({"A": task(TimeoutSecondsPath="t")}), S, "/States/A/TimeoutSecondsPath"),
    ("heartbeat-and-path", sm({"A": task(HeartbeatSeconds=5, HeartbeatSecondsPath="$.t")}), S, A),
    (
        "heartbeat-not-below-timeout",
        sm({"A": task(TimeoutSeconds=10, HeartbeatSeconds=10)}),
        S,
        "/States/A/HeartbeatSeconds",
    ),
    ("heartbeat-negative", sm({"A": task(HeartbeatSeconds=-1)}), S, "/States/A/HeartbeatSeconds"),
    ("credentials-not-object", sm({"A": task(Credentials="x")}), S, "/States/A/Credentials"),
    (
        "credentials-no-rolearn",
        sm({"A": task(Credentials={"Role": "x"})}),
        S,
        "/States/A/Credentials",
    ),
    (
        "jsonata-timeout-syntax",
        jsonata({"A": task(TimeoutSeconds="{% ) %}")}),
        S,
        "/States/A/TimeoutSeconds",
    ),
    (
        "jsonata-timeoutpath",
        jsonata({"A": task(TimeoutSecondsPath="$.t")}),
        S,
        "/States/A/TimeoutSecondsPath",
    ),
    # Retry
    ("retry-not-array", sm({"A": task(Retry={})}), S, "/States/A/Retry"),
    ("retry-entry-not-object", sm({"A": task(Retry=[1])}), S, "/States/A/Retry/0"),
    ("retry-no-errorequals", sm({"A": task(Retry=[{}])}), S, "/States/A/Retry/0"),
    (
        "retry-errorequals-empty",
        sm({"A": task(Retry=[{"ErrorEquals": []}])}),
        S,
        "/States/A/Retry/0/ErrorEquals",
    ),
    (
        "retry-errorequals-number",
        sm({"A": task(Retry=[{"ErrorEquals": [1]}])}),
        S,
        "/States/A/Retry/0/ErrorEquals",
    ),
    (
        "retry-all-not-alone",
        sm({"A": task(Retry=[{"ErrorEquals": ["States.ALL", "X"]}])}),
        S,
        "/States/A/Retry/0/ErrorEquals",
    ),
    (
        "retry-all-not-last",
        sm({"A": task(Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}])}),
        S,
        "/States/A/Retry/0/ErrorEquals",
    ),
    ("interval-zero", retry(IntervalSeconds=0), S, "/States/A/Retry/0/IntervalSeconds"),
    ("interval-float", retry(IntervalSeconds=1.5), S, "/States/A/Retry/0/IntervalSeconds"),
    ("interval-string", retry(IntervalSeconds="1"), S, "/States/A/Retry/0/IntervalSeconds"),
    ("maxattempts-negative", retry(MaxAttempts=-1), S, "/States/A/Retry/0/MaxAttempts"),
    ("backoff-below-one", retry(BackoffRate=0.5), S, "/States/A/Retry/0/BackoffRate"),
    ("backoff-bool", retry(BackoffRate=True), S, "/States/A/Retry/0/BackoffRate"),
    ("maxdelay-zero", retry(MaxDelaySeconds=0), S, "/States/A/Retry/0/MaxDelaySeconds"),
    ("jitter-unknown", retry(JitterStrategy="SOME"), S, "/States/A/Retry/0/JitterStrategy"),
    ("retry-unknown-field", retry(Next="A"), S, "/States/A/Retry/0/Next"),
    # Catch
    (
        "catch-missing-target",
        sm({"A": task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Nope"}])}),
        T,
        "/States/A/Catch/0/Next",
    ),
    ("catch-no-next", sm({"A": task(Catch=[{"ErrorEquals": ["X"]}])}), S, "/States/A/Catch/0"),
    (
        "catch-resultpath-wildcard",
        sm({"A": task(Catch=[{"ErrorEquals": ["X"], "Next": "A", "ResultPath": "$.a.*"}])}),
        S,
        "/States/A/Catch/0/ResultPath",
    ),
    (
        "catch-all-not-last",
        sm(
            {
                "A": task(
                    Catch=[
                        {"ErrorEquals": ["States.ALL"], "Next": "A"},
                        {"ErrorEquals": ["X"], "Next": "A"},
                    ]
                )
            }
        ),
        S,
        "/States/A/Catch/0/ErrorEquals",
    ),
    (
        "catch-jsonata-resultpath",
        jsonata({"A": task(Catch=[{"ErrorEquals": ["X"], "Next": "A", "ResultPath": "$.e"}])}),
        S,
        "/States/A/Catch/0/ResultPath",
    ),
    ("pass-retry", sm({"A": end(Retry=[])}), S, "/States/A/Retry"),
    # Choice
    ("choice-no-choices", sm(with_z({"C": {"Type": "Choice", "Default": "Z"}})), S, "/States/C"),
    ("choice-empty", sm(with_z({"C": choice()})), S, "/States/C/Choices"),
    (
        "choice-with-next",
        sm(with_z({"C": choice(rule(IsNull=True), Next="Z")})),
        S,
        "/States/C/Next",
    ),
    (
        "choice-default-missing",
        sm(with_z({"C": choice(rule(IsNull=True), default="Q")})),
        T,
        "/States/C/Default",
    ),
    (
        "choice-rule-next-missing",
        sm(with_z({"C": choice(rule(IsNull=True, Next="Q"))})),
        T,
        "/States/C/Choices/0/Next",
    ),
    (
        "choice-rule-no-next",
        sm(with_z({"C": choice({"Variable": "$.v", "IsNull": True})})),
        S,
        "/States/C/Choices/0",
    ),
    (
        "choice-two-operators",
        sm(with_z({"C": choice(rule(IsNull=True, IsString=True))})),
        S,
        "/States/C/Choices/0",
    ),
    ("choice-no-operator", sm(with_z({"C": choice(rule())})), S, "/States/C/Choices/0"),
    (
        "choice-unknown-operator",
        sm(with_z({"C": choice(rule(NumericIs=3))})),
        S,
        "/States/C/Choices/0/NumericIs",
    ),
    (
        "choice-no-variable",
        sm(with_z({"C": choice({"StringEquals": "a", "Next": "Z"})})),
        S,
        "/States/C/Choices/0",
    ),
    (
        "choice-bad-variable",
        sm(with_z({"C": choice(rule(Variable="v", IsNull=True))})),
        S,
        "/States/C/Choices/0/Variable",
    ),
    (
        "numeric-string-operand",
        sm(with_z({"C": choice(rule(NumericEquals="3"))})),
        S,
        "/States/C/Choices/0/NumericEquals",
    ),
    (
        "numeric-bool-operand",
        sm(with_z({"C": choice(rule(NumericLessThan=True))})),
        S,
        "/States/C/Choices/0/NumericLessThan",
    ),
    (
        "string-number-operand",
        sm(with_z({"C": choice(rule(StringEquals=3))})),
        S,
        "/States/C/Choices/0/StringEquals",
    ),
    (
        "boolean-string-operand",
        sm(with_z({"C": choice(rule(BooleanEquals="true"))})),
        S,
        "/States/C/Choices/0/BooleanEquals",
    ),
    (
        "timestamp-bad-operand",
        sm(with_z({"C": choice(rule(TimestampEquals="yesterday"))})),
        S,
        "/States/C/Choices/0/TimestampEquals",
    ),
    (
        "is-operand-string",
        sm(with_z({"C": choice(rule(IsPresent="yes"))})),
        S,
        "/States/C/Choices/0/IsPresent",
    ),
    (
        "path-operand-bad",
        sm(with_z({"C": choice(rule(StringEqualsPath="x"))})),
        S,
        "/States/C/Choices/0/StringEqualsPath",
    ),
    (
        "not-with-list",
        sm(with_z({"C": choice({"Not": [{"Variable": "$.v", "IsNull": True}], "Next": "Z"})})),
        S,
        "/States/C/Choices/0/Not",
    ),
    (
        "and-empty",
        sm(with_z({"C": choice({"And": [], "Next": "Z"})})),
        S,
        "/States/C/Choices/0/And",
    ),
    (
        "nested-rule-with-next",
        sm(with_z({"C": choice({"Or": [rule(IsNull=True)], "Next": "Z"})})),
        S,
        "/States/C/Choices/0/Or/0/Next",
    ),
    (
        "nested-rule-bad-operand",
        sm(
            with_z(
                {
                    "C": choice(
                        {"And": [{"Not": {"Variable": "$.v", "NumericEquals": "x"}}], "Next": "Z"}
                    )
                }
            )
        ),
        S,
        "/States/C/Choices/0/And/0/Not/NumericEquals",
    ),
    (
        "combinator-with-variable",
        sm(
            with_z(
                {
                    "C": choice(
                        {"Variable": "$.v", "Not": {"Variable": "$.v", "IsNull": True}, "Next": "Z"}
                    )
                }
            )
        ),
        S,
        "/States/C/Choices/0/Variable",
    ),
    (
        "jsonata-condition-syntax",
        jsonata(with_z({"C": choice({"Condition": "{% $states.input. = %}", "Next": "Z"})})),
        S,
        "/States/C/Choices/0/Condition",
    ),
    (
        "jsonata-condition-not-expression",
        jsonata(with_z({"C": choice({"Condition": "yes", "Next": "Z"})})),
        S,
        "/States/C/Choices/0/Condition",
    ),
    (
        "jsonata-no-condition",
        jsonata(with_z({"C": choice({"Next": "Z"})})),
        S,
        "/States/C/Choices/0",
    ),
    (
        "jsonata-rule-variable",
        jsonata(with_z({"C": choice({"Condition": "{% true %}", "Variable": "$.v", "Next": "Z"})})),
        S,
        "/States/C/Choices/0/Variable",
    ),
    (
        "jsonpath-rule-condition",
        sm(with_z({"C": choice(rule(IsNull=True, Condition="{% true %}"))})),
        S,
        "/States/C/Choices/0/Condition",
    ),
    # Wait
    ("wait-two", wait(Seconds=1, SecondsPath="$.s"), S, "/States/W"),
    ("wait-none", wait(), S, "/States/W"),
    ("wait-negative", wait(Seconds=-1), S, "/States/W/Seconds"),
    ("wait-string-seconds", wait(Seconds="10"), S, "/States/W/Seconds"),
    ("wait-bad-timestamp", wait(Timestamp="tomorrow"), S, "/States/W/Timestamp"),
    ("wait-secondspath-bad", wait(SecondsPath="seconds"), S, "/States/W/SecondsPath"),
    ("wait-timestamppath-bad", wait(TimestampPath="$.["), S, "/States/W/TimestampPath"),
    (
        "jsonata-wait-seconds-syntax",
        jsonata({"W": {"Type": "Wait", "Seconds": "{% 1 + %}", "End": True}}),
        S,
        "/States/W/Seconds",
    ),
    (
        "jsonata-wait-secondspath",
        jsonata({"W": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}),
        S,
        "/States/W/SecondsPath",
    ),
    # Fail
    ("fail-error-and-path", fail(Error="E", ErrorPath="$.e"), S, "/States/F"),
    ("fail-cause-and-path", fail(Cause="C", CausePath="$.c"), S, "/States/F"),
    ("fail-errorpath-bad", fail(ErrorPath="States.Nope()"), S, "/States/F/ErrorPath"),
    ("fail-causepath-bad", fail(CausePath="cause"), S, "/States/F/CausePath"),
    ("fail-error-number", fail(Error=1), S, "/States/F/Error"),
    (
        "fail-jsonata-error-syntax",
        jsonata({"F": {"Type": "Fail", "Error": "{% ( %}"}}),
        S,
        "/States/F/Error",
    ),
    # Parallel
    ("parallel-no-branches", sm({"P": {"Type": "Parallel", "End": True}}), S, "/States/P"),
    ("parallel-empty-branches", sm({"P": parallel()}), S, "/States/P/Branches"),
    ("parallel-branch-not-object", sm({"P": parallel(1)}), S, "/States/P/Branches/0"),
    (
        "parallel-branch-no-startat",
        sm({"P": parallel({"States": {"B": end()}})}),
        S,
        "/States/P/Branches/0",
    ),
    (
        "parallel-branch-bad-next",
        sm({"P": parallel({"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "Q"}}})}),
        T,
        "/States/P/Branches/0/States/B/Next",
    ),
    (
        "parallel-branch-cannot-leave",
        sm({"P": parallel({"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "P"}}})}),
        T,
        "/States/P/Branches/0/States/B/Next",
    ),
    (
        "parallel-branch-unreachable",
        sm({"P": parallel({"StartAt": "B", "States": {"B": end(), "C": end()}})}),
        S,
        "/States/P/Branches/0/States/C",
    ),
    (
        "parallel-branch-unknown-field",
        sm({"P": parallel({"StartAt": "B", "States": {"B": end()}, "TimeoutSeconds": 1})}),
        S,
        "/States/P/Branches/0/TimeoutSeconds",
    ),
    (
        "parallel-nested-map-error",
        sm({"P": parallel({"StartAt": "M", "States": {"M": mapstate(MaxConcurrency=-1)}})}),
        S,
        "/States/P/Branches/0/States/M/MaxConcurrency",
    ),
    # Map
    ("map-no-processor", sm({"M": {"Type": "Map", "End": True}}), S, "/States/M"),
    (
        "map-two-processors",
        sm({"M": mapstate(Iterator={"StartAt": "I", "States": {"I": end()}})}),
        S,
        "/States/M",
    ),
    (
        "map-inner-type",
        sm(
            {
                "M": mapstate(
                    ItemProcessor={"StartAt": "I", "States": {"I": {"Type": "X", "End": True}}}
                )
            }
        ),
        S,
        "/States/M/ItemProcessor/States/I/Type",
    ),
    (
        "map-inner-no-end",
        sm({"M": mapstate(ItemProcessor={"StartAt": "I", "States": {"I": {"Type": "Pass"}}})}),
        T,
        "/States/M/ItemProcessor/States/I",
    ),
    (
        "map-maxconcurrency-negative",
        sm({"M": mapstate(MaxConcurrency=-1)}),
        S,
        "/States/M/MaxConcurrency",
    ),
    (
        "map-maxconcurrency-string",
        sm({"M": mapstate(MaxConcurrency="4")}),
        S,
        "/States/M/MaxConcurrency",
    ),
    (
        "map-percentage-over-100",
        sm({"M": mapstate(ToleratedFailurePercentage=101)}),
        S,
        "/States/M/ToleratedFailurePercentage",
    ),
    (
        "map-count-and-path",
        sm({"M": mapstate(ToleratedFailureCount=1, ToleratedFailureCountPath="$.c")}),
        S,
        "/States/M",
    ),
    (
        "map-maxconcurrencypath-bad",
        sm({"M": mapstate(MaxConcurrencyPath="c")}),
        S,
        "/States/M/MaxConcurrencyPath",
    ),
    (
        "map-mode",
        sm(
            {
                "M": mapstate(
                    ItemProcessor={
                        "ProcessorConfig": {"Mode": "FAST"},
                        "StartAt": "I",
                        "States": {"I": end()},
                    }
                )
            }
        ),
        S,
        "/States/M/ItemProcessor/ProcessorConfig/Mode",
    ),
    (
        "map-parameters-and-itemselector",
        sm({"M": mapstate(Parameters={}, ItemSelector={})}),
        S,
        "/States/M",
    ),
    ("map-itemspath-bad", sm({"M": mapstate(ItemsPath="items")}), S, "/States/M/ItemsPath"),
    (
        "map-itemselector-bad",
        sm({"M": mapstate(ItemSelector={"a.$": "$$.Map.["})}),
        S,
        "/States/M/ItemSelector/a.$",
    ),
    ("map-jsonpath-items", sm({"M": mapstate(Items=[1])}), S, "/States/M/Items"),
    ("map-jsonata-items-string", jsonata({"M": mapstate(Items="abc")}), S, "/States/M/Items"),
    ("map-jsonata-itemspath", jsonata({"M": mapstate(ItemsPath="$.a")}), S, "/States/M/ItemsPath"),
    ("map-itemreader-not-object", sm({"M": mapstate(ItemReader="s3")}), S, "/States/M/ItemReader"),
    (
        "map-itemreader-resource",
        sm({"M": mapstate(ItemReader={"Resource": "s3"})}),
        "INVALID_RESOURCE",
        "/States/M/ItemReader/Resource",
    ),
    (
        "map-label-space",
        sm({"M": mapstate(Label="my map")}),
        "INVALID_LABEL_NAME",
        "/States/M/Label",
    ),
    (
        "map-label-too-long",
        sm({"M": mapstate(Label="L" * 41)}),
        "INVALID_LABEL_NAME",
        "/States/M/Label",
    ),
    (
        "map-label-duplicate",
        sm({"M": mapstate(Label="L", End=None, Next="N"), "N": mapstate(Label="L")}),
        "DUPLICATE_LABEL_NAME",
        "/States/N/Label",
    ),
]


def _clean(d):
    """Drop None values used above to remove a field (End=None)."""
    if isinstance(d, dict):
        return {
            k: _clean(v)
            for k, v in d.items()
            if v is not None or k in ("ResultPath", "InputPath", "OutputPath")
        }
    if isinstance(d, list):
        return [_clean(v) for v in d]
    return d


@pytest.mark.parametrize(
    ("definition", "code", "location"),
    [pytest.param(d, c, loc, id=name) for name, d, c, loc in INVALID],
)
def test_invalid_definition(definition, code, location):
    definition = _clean(definition)
    diags = validate(definition)
    found = {(d.code, d.location) for d in diags if d.severity == "ERROR"}
    assert (code, location) in found, f"expected {code} at {location}, got {diags}"
    # each diagnostic is well formed
    for d in diags:
        assert d.code and d.message and d.location.startswith("/")
    # text input gives the same diagnostics as the dict
    assert validate(json.dumps(definition)) == diags


def test_invalid_table_is_large_and_distinct():
    assert len(INVALID) >= 150
    assert len({name for name, *_ in INVALID}) == len(INVALID)


def test_valid_neighbours_of_table_cases():
    """Fixing the one thing a table case breaks makes it valid: the checks are not overbroad."""
    ok = [
        sm({"A": end(InputPath=None, OutputPath=None, ResultPath=None)}),
        sm({"A": task(TimeoutSecondsPath="$.t", HeartbeatSecondsPath="$h")}),
        sm({"A": task(TimeoutSeconds=10, HeartbeatSeconds=9)}),
        retry(
            IntervalSeconds=1,
            MaxAttempts=0,
            BackoffRate=1.0,
            MaxDelaySeconds=1,
            JitterStrategy="NONE",
        ),
        wait(Seconds=0),
        wait(Timestamp="2026-03-14T01:59:00.123+09:00"),
        wait(TimestampPath="$$.Execution.StartTime"),
        fail(Error="E", CausePath="States.JsonToString($.c)"),
        fail(),
        sm(with_z({"C": choice(rule(TimestampGreaterThanEqualsPath="$t"))})),
        sm(with_z({"C": choice(rule(StringMatches="log-*.txt"))})),
        sm(
            with_z(
                {
                    "C": choice(
                        {"Not": {"Variable": "$.v", "IsNull": False}, "Next": "Z"}, default=None
                    )
                }
            )
        ),
        jsonata(with_z({"C": choice({"Condition": True, "Next": "Z"})})),
        sm({"A": end(Parameters={"x.$": "States.UUID()", "y.$": "$$.Execution.Id", "z.$": "$v"})}),
        sm({"A": end(Assign={"_v1": 1, "w.$": "States.ArrayLength($.a)"})}),
        sm({"A": end(Assign={"größe": 1})}),  # Unicode identifiers are fine
        sm({"A": task(Credentials={"RoleArn.$": "$.role"})}),
        sm({"M": mapstate(ToleratedFailurePercentage=100, MaxConcurrency=0, ItemsPath="$v.items")}),
        sm({"A": end(QueryLanguage="JSONata", Output="{% $states.input %}")}),
        sm({"A": end(ResultPath="$['a b'][0]")}),
    ]
    for d in ok:
        assert validate(_clean(d)) == [], d


# ------------------------------------------------------------------ malformed input
@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "MISSING_DESCRIPTION"),
        ("", "SCHEMA_VALIDATION_FAILED"),
        ("   \n", "SCHEMA_VALIDATION_FAILED"),
        ("not a definition", "INVALID_JSON_DESCRIPTION"),
        ('{"StartAt": "A",', "INVALID_JSON_DESCRIPTION"),
        ("[1, 2]", "SCHEMA_VALIDATION_FAILED"),
        ("42", "SCHEMA_VALIDATION_FAILED"),
        ('"text"', "SCHEMA_VALIDATION_FAILED"),
        ("null", "SCHEMA_VALIDATION_FAILED"),
        ('{"StartAt": NaN}', "INVALID_JSON_DESCRIPTION"),
        (b"\xff\xfe{", "INVALID_JSON_DESCRIPTION"),
        (bytearray(b"[]"), "SCHEMA_VALIDATION_FAILED"),
        (42, "SCHEMA_VALIDATION_FAILED"),
        (3.5, "SCHEMA_VALIDATION_FAILED"),
        ([{"StartAt": "A"}], "SCHEMA_VALIDATION_FAILED"),
        (object(), "SCHEMA_VALIDATION_FAILED"),
        ({"StartAt": {1, 2}}, "INVALID_JSON_DESCRIPTION"),
        ({"StartAt": float("nan")}, "INVALID_JSON_DESCRIPTION"),
        ({("a",): 1}, "INVALID_JSON_DESCRIPTION"),
        ("[" * 100_000, "TOO_DEEPLY_NESTED"),
        ('{"a":' * 500 + "1" + "}" * 500, "TOO_DEEPLY_NESTED"),
        ("x" * 2_000_000, "SCHEMA_VALIDATION_FAILED"),
        ('{"a": "' + "y" * 2_000_000 + '"}', "SCHEMA_VALIDATION_FAILED"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else repr(v[:20]),
)
def test_malformed_input_gives_diagnostics(value, code):
    diags = validate(value)
    assert diags and diags[0].code == code, diags
    assert all(isinstance(d, Diagnostic) for d in diags)


def test_json_syntax_error_has_line_and_column():
    [d] = validate('{\n  "StartAt": "A",\n  oops\n}')
    assert d.code == "INVALID_JSON_DESCRIPTION"
    assert d.location == "line: 3, column: 3"


def test_cyclic_and_deep_dicts_do_not_raise():
    cyclic: dict = {"StartAt": "A", "States": {}}
    cyclic["States"]["A"] = cyclic
    assert validate(cyclic)[0].code == "INVALID_JSON_DESCRIPTION"
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    assert validate(deep)[0].code == "TOO_DEEPLY_NESTED"


def test_duplicate_keys_in_text():
    text = '{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"A":{"Type":"Succeed"}}}'
    assert [(d.code, d.location) for d in validate(text)] == [("DUPLICATE_STATE_NAME", "/States/A")]
    text = '{"StartAt":"A","States":{"A":{"Type":"Pass","End":true,"End":true}}}'
    assert [(d.code, d.location) for d in validate(text)] == [
        ("SCHEMA_VALIDATION_FAILED", "/States/A/End")
    ]


def test_diagnostics_are_capped_at_100():
    states = {f"S{i}": {"Type": "Pass", "Next": "Nowhere"} for i in range(300)}
    diags = validate({"StartAt": "S0", "States": states})
    assert len(diags) == 100


def test_validate_does_not_mutate_its_input():
    d = weekly_load()
    before = copy.deepcopy(d)
    validate(d)
    assert d == before


def test_many_problems_are_all_reported():
    d = sm({"A": {"Type": "Pass", "Next": "B", "InputPath": "x"}, "C": {"Type": "Wait"}})
    found = {(x.code, x.location) for x in validate(d)}
    assert {
        (T, "/States/A/Next"),
        (S, "/States/A/InputPath"),
        (S, "/States/C"),
        ("MISSING_END_STATE", "/"),
    } <= found


def test_validate_is_fast():
    """A 20-state definition validates well under a millisecond (budget here: 5 ms, for CI)."""
    states = {}
    for i in range(20):
        nxt = f"S{i + 1}"
        if i == 19:
            states[f"S{i}"] = {"Type": "Succeed"}
        elif i % 3 == 0:
            states[f"S{i}"] = task(End=None, Next=nxt, Retry=weekly_load()["States"]["Insert"]["Retry"],
                                   Parameters={"a.$": "States.Format('{}', $.x)"})  # fmt: skip
        elif i % 3 == 1:
            states[f"S{i}"] = choice(rule(NumericGreaterThan=1, Next=nxt), default=nxt)
        else:
            states[f"S{i}"] = {"Type": "Wait", "Seconds": 1, "Next": nxt}
    d = _clean(sm(states))
    assert validate(d) == []
    runs = 200
    start = time.thread_time()  # CPU time, so a busy CI machine does not make this flaky
    for _ in range(runs):
        validate(d)
    per_call = (time.thread_time() - start) / runs
    assert per_call < 0.005, f"{per_call * 1000:.2f} ms per validate"


def test_execute_refuses_an_invalid_definition_with_these_diagnostics():
    from opsbook.engine import DefinitionError, execute

    bad = sm({"A": {"Type": "Pass", "Next": "Missing"}, "B": end()})
    with pytest.raises(DefinitionError) as info:
        execute(bad, {})
    found = {(d.code, d.location) for d in info.value.diagnostics}
    assert (T, "/States/A/Next") in found
    with pytest.raises(DefinitionError):
        execute("not json at all", {})


def test_huge_jsonata_expressions_are_left_to_run_time_with_a_warning():
    """jsonata-python's parser is superlinear on long path chains and deep nesting."""
    for expr in ["$a." * 1000 + "b", "(" * 500 + "1" + ")" * 500, "'" + "x" * 20_000 + "'"]:
        d = jsonata({"A": end(Output="{% " + expr + " %}")})
        start = time.thread_time()
        diags = validate(d)
        assert time.thread_time() - start < 0.1
        assert [(x.code, x.severity, x.location) for x in diags] == [
            ("EXPRESSION_NOT_CHECKED", "WARNING", "/States/A/Output")
        ]
