"""JSONata evaluation with Step Functions bindings and functions (opsbook.engine.jsonata_eval)."""

from __future__ import annotations

import hashlib
import json
import re
import time

import pytest
from support.corpus import case_id, corpus_cases

from opsbook.engine.errors import StatesError
from opsbook.engine.jsonata_eval import (
    _compile,
    evaluate,
    is_expression,
    json_type,
    resolve,
    strip_expression,
    unexpected_type_cause,
)

STATES = {
    "input": {"a": 1, "n": None, "arr": [3, 1, 2], "empty": [], "s": "x", "o": {"k": [1]}},
    "context": {"Execution": {"Name": "run-1"}, "Map": {"Item": {"Value": "v", "Index": 0}}},
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("$states.input.a", 1),
        ("$states.input.a + 1", 2),
        ("$states.input.n", None),
        ("$states.input.empty", []),
        ("$states.input.o", {"k": [1]}),
        ("$states.input.arr[1]", 1),
        ("$states.context.Execution.Name", "run-1"),
        ("$states.context.Map.Item.Value", "v"),
        ("$sum($states.input.arr)", 6),
        ("$sort($states.input.arr)", [1, 2, 3]),
        ("$map($states.input.arr, function($v) { $v * 2 })", [6, 2, 4]),
        ("$states.input.arr[$ > 1]", [3, 2]),
        ("{'foo': 'bar'}", {"foo": "bar"}),
        ("null", None),
        ("2/1", 2),
        ("1.5 * 2", 3),
        ("$number('2')", 2),
        ("$not($states.input.s = 'x')", False),
        ("$merge([{'a': 1}, {'b': null}])", {"a": 1, "b": None}),
        ("[1, null, {'x': null}]", [1, None, {"x": None}]),
        # Step Functions' own functions
        ("$partition([1,2,3,4,5,6,7,8,9], 3)", [[1, 2, 3], [4, 5, 6], [7, 8, 9]]),
        ("$partition([0], 1)", [[0]]),
        ("$partition([0, 1, 2, 3], 3)", [[0, 1, 2], [3]]),
        ("$range(0, 10, 2)", [0, 2, 4, 6, 8, 10]),
        ("$range(0, 10, 3)", [0, 3, 6, 9]),
        ("$range(1, 9, 9)", 1),  # a singleton collapses, as JSONata sequences do on AWS
        ("$range(9, 1, -2)", [9, 7, 5, 3, 1]),
        ("$append([], $range(7, 7, 1))", [7]),
        ("$hash('input data', 'MD5')", "812f45842bc6d66ee14572ce20db8e86"),
        ("$hash('input data', 'SHA-384')", hashlib.sha384(b"input data").hexdigest()),
        ("$parse('1')", 1),
        ("$parse('true')", True),
        ("$parse('\"HelloWorld\"')", "HelloWorld"),
        ("$parse('{\"a\": [1, null]}')", {"a": [1, None]}),
        ("$parse('null')", None),
    ],
)
def test_evaluate(expr, expected):
    got = evaluate(expr, STATES)
    assert got == expected
    assert type(got) is type(expected)


def test_variables_are_bound():
    variables = {"var_constant_1": 5, "nothing": None, "obj": {"x": [1, 2]}}
    assert evaluate("$sum($states.input.arr) + $var_constant_1", STATES, variables) == 11
    assert evaluate("$nothing", STATES, variables) is None
    assert evaluate("$obj.x[1]", STATES, variables) == 2
    assert evaluate("$variable := 1", STATES, variables) == 1


def test_random_uuid():
    r = evaluate("$random()", STATES)
    assert 0 <= r < 1
    assert evaluate("$random(7)", STATES) == evaluate("$random(7)", STATES)
    u = evaluate("$uuid()", STATES)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u)


def test_undefined_result_cause_matches_aws():
    # corpus: assign::test_undefined_reference[BASE_UNDEFINED_OUTPUT]
    with pytest.raises(StatesError) as info:
        evaluate("$doesNotExist", STATES, field="Output")
    assert info.value.error == "States.QueryEvaluationError"
    assert info.value.cause == (
        "The JSONata expression '$doesNotExist' specified for the field 'Output' returned "
        "nothing (undefined)."
    )


def test_function_result_is_unsupported():
    # corpus: scenarios::test_map_state_items_eval_jsonata_fail[function]
    with pytest.raises(StatesError) as info:
        evaluate("$fn := function($x){$x}", STATES, field="Items")
    assert info.value.cause == (
        "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' returned "
        "an unsupported result type."
    )


@pytest.mark.parametrize(
    ("expr", "detail"),
    [
        (
            "$range('0', 4, 1)",
            'T0410: Argument 1 of function "range" does not match function signature',
        ),
        (
            "$range(0, 4, 1, 2)",
            'T0410: Argument 4 of function "range" does not match function signature',
        ),
        ("1 +", "S0207: Unexpected end of expression"),
        # Step Functions runs JSONata 2.0.6 without $eval ("use $parse instead")
        ('$eval("1+1")', "T1006: Attempted to invoke a non-function"),
        # jsonata-js's own wording (function names and types JSON-quoted), which AWS gives
        ('$sum(["a"])', 'T0412: Argument 1 of function "sum" must be an array of "numbers"'),
        ('"a" + 1', 'T2001: The left side of the "+" operator must evaluate to a number'),
        ("sum([1])", "T1005: Attempted to invoke a non-function. Did you mean $sum?"),
        ("$sqrt(-1)", "D3060: The sqrt function cannot be applied to a negative number: -1"),
    ],
)
def test_errors_during_evaluation(expr, detail):
    with pytest.raises(StatesError) as info:
        evaluate(expr, STATES, field="Output")
    assert info.value.error == "States.QueryEvaluationError"
    assert info.value.cause == (
        f"The JSONata expression '{expr}' specified for the field 'Output' threw an error during "
        f"evaluation. {detail}"
    )


@pytest.mark.parametrize("expr", ["$hash('x', 'SHA-3')", "$parse('{bad')", "$partition([1], 0)"])
def test_aws_function_errors_are_query_errors(expr):
    with pytest.raises(StatesError) as info:
        evaluate(expr, STATES, field="Output")
    assert info.value.error == "States.QueryEvaluationError"
    assert "threw an error during evaluation" in info.value.cause


@pytest.mark.parametrize("expr", ["$range(3, 1, 1)", "$range(1, 3, -1)", "$range(0, 4, 0)"])
def test_empty_range_is_undefined(expr):
    with pytest.raises(StatesError) as info:
        evaluate(expr, STATES, field="Output")
    assert info.value.cause.endswith("returned nothing (undefined).")


def test_resolve_walks_templates_and_names_fields():
    template = {
        "result": "{% $states.input.a %}",
        "static": {"keep": "{not an expression}", "n": 1, "lst": ["{% $states.input.s %}", 2]},
        "spaced": " {% 1 %}",  # must start with {% to be an expression
    }
    assert resolve(template, STATES, field="Output") == {
        "result": 1,
        "static": {"keep": "{not an expression}", "n": 1, "lst": ["x", 2]},
        "spaced": " {% 1 %}",
    }
    assert resolve("{% $states.input %}", STATES, field="Output") == STATES["input"]
    assert resolve(7, STATES) == 7
    with pytest.raises(StatesError) as info:
        resolve({"result": "{% $doesNotExist %}"}, STATES, field="Assign")
    assert "specified for the field 'Assign/result' returned nothing" in info.value.cause


def test_helpers():
    assert is_expression("{% 1 %}") and not is_expression(" {% 1 %}") and not is_expression(1)
    assert strip_expression("{%   $x  %}") == "$x"
    assert [json_type(v) for v in (None, True, 1, "s", [], {})] == [
        "null",
        "boolean",
        "number",
        "string",
        "array",
        "object",
    ]
    # corpus: scenarios::test_map_state_items_eval_jsonata_fail[object]
    assert unexpected_type_cause("{% {'foo': 'bar'} %}", "Items", "array", {"foo": "bar"}) == (
        "The JSONata expression '{'foo': 'bar'}' specified for the field 'Items' returned an "
        "unexpected result type. Expected 'array', but was 'object' for value: {\"foo\":\"bar\"}"
    )


def test_compiled_expressions_are_cached_and_fast():
    _compile.cache_clear()
    for _ in range(50):
        evaluate("$states.input.a + 41", STATES)
    info = _compile.cache_info()
    assert info.misses == 1 and info.hits == 49
    start = time.perf_counter()
    for _ in range(2000):
        evaluate("$states.input.a + 41", STATES)
    per_call = (time.perf_counter() - start) / 2000
    assert per_call < 0.002  # ~30 us measured; generous bound for slow CI


def test_inputs_are_not_mutated():
    states = {"input": {"l": [None, {"x": None}]}, "context": {}}
    snapshot = json.dumps(states)
    evaluate("$states.input", states)
    evaluate("$states.input.l", states)
    assert json.dumps(states) == snapshot


# ------------------------------------------------------------------------------- corpus
def _corpus_cases() -> list:
    out = []
    for case in corpus_cases():
        if case["category"] != "intrinsic_functions" or "jsonata" not in case["flags"]:
            continue
        (state,) = case["definition"]["States"].values()
        out.append(pytest.param(state["Output"], case, id=case_id(case)))
    return out


_CORPUS = _corpus_cases()


@pytest.mark.skipif(not _CORPUS, reason="ASL conformance corpus not found (../shared)")
@pytest.mark.parametrize(("template", "case"), _CORPUS)
def test_corpus_jsonata_functions(template, case):
    out = resolve(template, {"input": case["input"], "context": {}}, {}, field="Output")
    assert out == case["expected_output"]


def test_states_as_a_whole_carries_the_context_object():
    # $states alone (not only $states.context) reaches the context: the engine must build it
    from opsbook.engine import execute

    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Output": "{% $states %}", "End": True}},
    }
    out = execute(definition, {"a": 1}).output
    assert out["input"] == {"a": 1}
    assert out["context"]["State"]["Name"] == "P"
    assert out["context"]["Execution"]["Input"] == {"a": 1}
