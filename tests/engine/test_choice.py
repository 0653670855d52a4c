"""Choice rules in JSONPath mode (opsbook.engine.choice)."""

from __future__ import annotations

import pytest
from support.corpus import case_id, corpus_cases

from opsbook.engine.choice import evaluate_rule, parse_timestamp, string_matches
from opsbook.engine.errors import StatesError


def rule(op, value, var="$.v", **extra):
    return {"Variable": var, op: value, "Next": "X", **extra}


T, F = True, False

CASES = [
    # operator, comparand, variable value, expected
    ("StringEquals", "a", "a", T),
    ("StringEquals", "a", "A", F),
    ("StringEquals", "1", 1, F),
    ("StringEquals", "\t\r\n", "\t\n", F),
    ("StringLessThan", "b", "a", T),
    ("StringLessThan", "", "", F),
    ("StringGreaterThan", "A ", "A", F),
    ("StringLessThanEquals", "", "", T),
    ("StringGreaterThanEquals", "A", "AB", T),
    ("NumericEquals", 1, 1.0, T),
    ("NumericEquals", 1, True, F),  # booleans are not numbers
    ("NumericEquals", 0, "0", F),
    ("NumericLessThan", 2, 1.5, T),
    ("NumericGreaterThan", 2, 2, F),
    ("NumericLessThanEquals", 2, 2, T),
    ("NumericGreaterThanEquals", -1, -0.5, T),
    ("BooleanEquals", True, True, T),
    ("BooleanEquals", False, 0, F),
    ("BooleanEquals", True, 1, F),
    ("TimestampEquals", "2012-10-09T19:00:55Z", "2012-10-09T20:00:55+01:00", T),
    ("TimestampEquals", "2012-10-09T19:00:55Z", "2012-10-09T19:00:55.000Z", T),
    ("TimestampEquals", "2012-10-09T19:00:55Z", "2012-10-09T19:00:55", F),  # no offset
    ("TimestampEquals", "2012-10-09T19:00:55Z", 0, F),
    ("TimestampLessThan", "2012-10-09T19:00:55.1Z", "2012-10-09T19:00:55.01Z", T),
    ("TimestampGreaterThan", "2012-10-09T19:00:55Z", "2012-10-09T19:00:56Z", T),
    ("TimestampLessThanEquals", "2012-10-09T19:00:55Z", "2012-10-09T19:00:55Z", T),
    ("TimestampGreaterThanEquals", "2012-10-09T19:00:56Z", "2012-10-09T19:00:55Z", F),
    ("StringMatches", "log-*.txt", "log-2024.txt", T),
    ("StringMatches", "log-*.txt", "log-2024.csv", F),
    ("StringMatches", "*", "", T),
    ("StringMatches", "a\\*b", "a*b", T),
    ("StringMatches", "a\\*b", "axb", F),
    ("StringMatches", "a\\\\*", "a\\zzz", T),
    ("StringMatches", "x.y", "xzy", F),  # '.' is literal
    ("IsNull", True, None, T),
    ("IsNull", False, 0, T),
    ("IsNumeric", True, 1.5, T),
    ("IsNumeric", True, "1", F),
    ("IsNumeric", True, False, F),
    ("IsString", True, "", T),
    ("IsString", False, [], T),
    ("IsBoolean", True, False, T),
    ("IsBoolean", True, 0, F),
    ("IsTimestamp", True, "2016-03-14T01:59:00Z", T),
    ("IsTimestamp", True, "2016-03-14t01:59:00.123456789z", T),
    ("IsTimestamp", True, "2016-03-14T01:59Z", T),
    ("IsTimestamp", True, "2016-13-14T01:59:00Z", F),
    ("IsTimestamp", True, "2016-03-14", F),
    ("IsTimestamp", True, "2012-10-09T19:00:55", F),
    ("IsTimestamp", False, 5, T),
    ("IsPresent", True, None, T),
]


@pytest.mark.parametrize(("op", "want", "value", "expected"), CASES)
def test_operators(op, want, value, expected):
    assert evaluate_rule(rule(op, want), {"v": value}, {}) is expected


@pytest.mark.parametrize(
    ("op", "value", "other", "expected"),
    [
        ("StringEqualsPath", "a", "a", T),
        ("NumericLessThanPath", 1, 2, T),
        ("NumericEqualsPath", 1, "1", F),
        ("BooleanEqualsPath", True, True, T),
        ("BooleanEqualsPath", None, False, F),
        ("TimestampGreaterThanEqualsPath", "2012-10-09T19:00:56Z", "2012-10-09T19:00:55Z", T),
        ("StringGreaterThanPath", "AB", "ABC", F),
    ],
)
def test_path_variants(op, value, other, expected):
    assert evaluate_rule(rule(op, "$.o"), {"v": value, "o": other}, {}) is expected


def test_and_or_not_nesting():
    r = {
        "And": [
            {"Variable": "$.a", "NumericGreaterThan": 1},
            {
                "Or": [
                    {"Variable": "$.b", "StringEquals": "x"},
                    {"Not": {"Variable": "$.c", "IsPresent": True}},
                ]
            },
        ],
        "Next": "N",
    }
    assert evaluate_rule(r, {"a": 2, "b": "x"}, {})
    assert evaluate_rule(r, {"a": 2, "b": "y"}, {})
    assert not evaluate_rule(r, {"a": 2, "b": "y", "c": 1}, {})
    assert not evaluate_rule(r, {"a": 1, "b": "x"}, {})


def test_is_present():
    assert evaluate_rule(rule("IsPresent", False), {}, {}) is True
    assert evaluate_rule(rule("IsPresent", True), {}, {}) is False
    assert evaluate_rule(rule("IsPresent", True, var="$.v[3]"), {"v": [1]}, {}) is False


def test_missing_variable_is_runtime_error():
    with pytest.raises(StatesError) as info:
        evaluate_rule(rule("StringEquals", "x", var="$.x"), {}, {})
    assert info.value.error == "States.Runtime"
    assert info.value.cause == (
        "Invalid path '$.x': The choice state's condition path references an invalid value."
    )


def test_missing_comparand_path_is_runtime_error():
    with pytest.raises(StatesError) as info:
        evaluate_rule(rule("NumericEqualsPath", "$.nope"), {"v": 1}, {})
    assert info.value.cause == (
        "Invalid path '$.nope': The choice state's condition path references an invalid value."
    )


def test_context_and_variables():
    ctx = {"Execution": {"Input": {"input-value": 3}}}
    assert evaluate_rule(rule("NumericEquals", 3, var="$$.Execution.Input.input-value"), {}, ctx)
    assert evaluate_rule(
        rule("StringEqualsPath", "$answer", var="$guess"), {}, {}, {"guess": "a", "answer": "a"}
    )
    assert not evaluate_rule(
        rule("StringEqualsPath", "$answer", var="$guess"), {}, {}, {"guess": "a", "answer": "b"}
    )


def test_parse_timestamp_offsets_and_precision():
    assert parse_timestamp("1970-01-01T00:00:00Z") == (0, 0)
    assert parse_timestamp("1970-01-01T01:00:00+01:00") == (0, 0)
    assert parse_timestamp("1970-01-01T00:00:00.000000001Z") == (0, 1)
    assert parse_timestamp("1969-12-31T23:59:59-00:00") == (-1, 0)
    assert parse_timestamp("2024-02-30T00:00:00Z") is None
    assert parse_timestamp("2024-01-01T25:00:00Z") is None
    assert parse_timestamp("2024-01-01 00:00:00Z") is None


def test_string_matches_helper():
    assert string_matches("a.b*c", "a.b\\*c")
    assert string_matches("abc", "a*c*")


# ------------------------------------------------------------------------------- corpus
def _corpus_cases() -> list:
    out = []
    for case in corpus_cases():
        if case["category"] != "choice_operators":
            continue
        choice = case["definition"]["States"]["CheckValues"]
        (r,) = choice["Choices"]
        expected = case["expected_output"]["TestResult.$"] == "ConditionTrue"
        out.append(pytest.param(r, case["input"], expected, id=case_id(case)))
    return out


_CORPUS = _corpus_cases()


@pytest.mark.skipif(not _CORPUS, reason="ASL conformance corpus not found (../shared)")
@pytest.mark.parametrize(("r", "input", "expected"), _CORPUS)
def test_corpus_choice_operators(r, input, expected):
    assert evaluate_rule(r, input, {"Execution": {"Input": input}}) is expected


def test_helpers_tolerate_non_strings():
    assert parse_timestamp(["2016-03-14T01:59:00Z"]) is None
    assert parse_timestamp(None) is None
    assert not string_matches(["a"], "*")
