"""JSONPath reading, ResultPath writing and payload templates (opsbook.engine.paths)."""

from __future__ import annotations

import copy
import json

import pytest
from support.corpus import case_id, corpus_cases

from opsbook.engine.errors import StatesError
from opsbook.engine.paths import (
    PathNotFound,
    invalid_path_cause,
    is_definite,
    read_path,
    to_json,
    write_result_path,
)
from opsbook.engine.templates import evaluate_reference, evaluate_template

DOC = {
    "items": [{"item_key": i, "itemValue": i * 10} for i in range(11)],
    "users": [{"year": 1997, "status": 0}, {"year": 1998, "status": 1, "tag": "x"}],
    'Test\\""Name"': 'Value"\\',
    "delivery-partner": "UQS",
    "nested": {"a": {"b": [1, 2, {"c": None}]}},
    "flag": False,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DOC),
        ("$.delivery-partner", "UQS"),
        ("$['delivery-partner']", "UQS"),
        ('$["delivery-partner"]', "UQS"),
        ("$.items[10]", {"item_key": 10, "itemValue": 100}),
        ("$.items[-1].item_key", 10),
        ("$.nested.a.b[2].c", None),
        ("$.nested['a'].b[0]", 1),
        ("$.flag", False),
        # AWS keeps backslashes inside a bracketed name literally
        ('$[\'Test\\""Name"\']', 'Value"\\'),
        # indefinite paths always give a list
        ("$.items[*].itemValue", [i * 10 for i in range(11)]),
        ("$.items[1:3].item_key", [1, 2]),
        ("$.items[:1]", [{"item_key": 0, "itemValue": 0}]),
        ("$.items[9:].item_key", [9, 10]),
        ("$.items[::5].item_key", [0, 5, 10]),
        ("$.items[0,2].item_key", [0, 2]),
        ("$.users[?(@.status == 0)]", [{"year": 1997, "status": 0}]),
        ("$.users[?(@.year > 1997 && @.status == 1)].year", [1998]),
        ("$.users[?(@.year < 1997 || @.status != 1)].year", [1997]),
        ("$.users[?(@.tag)].year", [1998]),
        ("$.users[?(@.tag == 'x')].year", [1998]),
        ("$.users[?(@.tag =~ /x+/)].year", [1998]),
        ("$..status", [0, 1]),
        ("$.users[*].tag", ["x"]),  # a missing leaf is skipped
    ],
)
def test_read_path(path, expected):
    assert read_path(DOC, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        "$.item.items[*]",
        "$.item.items[1:5].itemValue",
        "$.item.items[1:]",
        "$.item.items[:1]",
        "$.items[*].itemValue",
        "$[*]",
    ],
)
def test_indefinite_path_on_empty_input_is_empty_list(path):
    # corpus: base::test_json_path_array_wildcard_or_slice_with_no_input
    assert read_path({}, path) == []


@pytest.mark.parametrize(
    ("path", "normalized"),
    [
        ("$.nope", "$['nope']"),
        ("$.items[20]", "$['items'][20]"),
        ("$.flag.x", "$['flag']['x']"),
        ("$.items.x", "$['items']['x']"),
        ("$.nested[0]", "$['nested'][0]"),
    ],
)
def test_missing_definite_path_raises(path, normalized):
    with pytest.raises(PathNotFound) as info:
        read_path(DOC, path)
    assert info.value.path == path
    assert info.value.normalized == normalized


def test_invalid_path_cause_matches_aws():
    # corpus: scenarios::test_invalid_jsonpath[ST.INVALID_JSONPATH_IN_INPUTPATH]
    assert (
        invalid_path_cause("$.NoSuchInputPath")
        == "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']"
    )


def test_context_and_variable_roots():
    ctx = {"Execution": {"Input": {"k": [1, 2]}, "Name": "run-1"}, "Map": {"Item": {"Index": 3}}}
    variables = {"answer": {"v": 42}, "list": [5, 6], "nothing": None}
    assert read_path(None, "$$.Execution.Name", context=ctx) == "run-1"
    assert read_path(None, "$$", context=ctx) is ctx
    assert read_path(None, "$$.Execution.Input.k[1]", context=ctx) == 2
    assert read_path(None, "$answer.v", variables=variables) == 42
    assert read_path(None, "$list[1]", variables=variables) == 6
    assert read_path(None, "$nothing", variables=variables) is None
    with pytest.raises(PathNotFound):
        read_path(None, "$undefinedVar", variables=variables)
    with pytest.raises(PathNotFound):
        read_path(None, "$$.Execution.Missing", context=ctx)


def test_syntax_errors_are_path_not_found():
    for bad in ["x", "$.", "$[", "$['a'", "$.a[?(@.x ==)]", "$[1:2:3:4]"]:
        with pytest.raises(PathNotFound):
            read_path(DOC, bad)


def test_is_definite():
    assert is_definite("$.a.b[0]")
    assert not is_definite("$.a[*]")
    assert not is_definite("$..a")
    assert not is_definite("$.a[1:2]")


# ---------------------------------------------------------------------------- ResultPath
@pytest.mark.parametrize(
    ("data", "result_path", "expected"),
    [
        ({"a": 1}, None, {"a": 1}),
        ({"a": 1}, "$", {"r": 1}),
        ("text", "$", {"r": 1}),
        ({"a": 1}, "$.res", {"a": 1, "res": {"r": 1}}),
        ({"a": 1}, "$.a", {"a": {"r": 1}}),  # overwrite
        ({"a": {"b": 1}}, "$.a.c.d", {"a": {"b": 1, "c": {"d": {"r": 1}}}}),  # create path
        ({"a": None}, "$.a.b", {"a": {"b": {"r": 1}}}),
        ({"a": [0, {"x": 1}]}, "$.a[1].y", {"a": [0, {"x": 1, "y": {"r": 1}}]}),
        ({}, "$['odd key'].v", {"odd key": {"v": {"r": 1}}}),
    ],
)
def test_write_result_path(data, result_path, expected):
    before = copy.deepcopy(data)
    assert write_result_path(data, result_path, {"r": 1}) == expected
    assert data == before  # never mutates its input


@pytest.mark.parametrize(
    ("data", "result_path", "step"),
    [
        ("str", "$.x", "x"),
        ([1, 2], "$.aggregatedResult", "aggregatedResult"),
        (7, "$.x", "x"),
        (None, "$.x", "x"),
        ({"a": "s"}, "$.a.b", "b"),
        ({"a": {"b": [1]}}, "$.a.b.c", "c"),
        ({"a": [1]}, "$.a[5]", "5"),
        ({"a": {"k": 1}}, "$.a[0]", "0"),
    ],
)
def test_write_result_path_conflicts(data, result_path, step):
    # AWS: States.ReferencePathConflict 'Unable to apply step "x" to input <json>'
    with pytest.raises(StatesError) as info:
        write_result_path(data, result_path, 1)
    assert info.value.error == "States.ReferencePathConflict"
    assert info.value.cause == f'Unable to apply step "{step}" to input {to_json(data)}'


@pytest.mark.parametrize("result_path", ["$$.x", "$.a[*]", "$..a", "nope", "$x.y"])
def test_write_result_path_rejects_non_reference_paths(result_path):
    with pytest.raises(StatesError) as info:
        write_result_path({"a": 1}, result_path, 1)
    assert info.value.error == "States.Runtime"


# ---------------------------------------------------------------------------- templates
def test_template_paths_context_variables_intrinsics():
    template = {
        "static": {"deep": [1, {"k": "v"}]},
        "fromInput.$": "$.a",
        "whole.$": "$",
        "ctx.$": "$$.Execution.Name",
        "var.$": "$v.x",
        "intrinsic.$": "States.Format('{}-{}', $.a, $v.x)",
        "list": [{"inner.$": "$.a"}, "plain"],
    }
    out = evaluate_template(template, {"a": 1}, {"Execution": {"Name": "E"}}, {"v": {"x": "X"}})
    assert out == {
        "static": {"deep": [1, {"k": "v"}]},
        "fromInput": 1,
        "whole": {"a": 1},
        "ctx": "E",
        "var": "X",
        "intrinsic": "1-X",
        "list": [{"inner": 1}, "plain"],
    }
    assert "fromInput.$" in template  # the template is untouched


def test_template_missing_path_cause_matches_aws():
    # corpus: scenarios::test_invalid_jsonpath[INVALID_JSONPATH_IN_STRING_EXPR_JSONPATH]
    with pytest.raises(StatesError) as info:
        evaluate_template({"value.$": "$.no_such_jsonpath"}, {"a": [1, "é"]}, {}, {})
    assert info.value.error == "States.Runtime"
    assert info.value.cause == (
        "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found "
        'in the input \'{"a":[1,"é"]}\''
    )


def test_template_missing_context_path_names_the_field():
    with pytest.raises(StatesError) as info:
        evaluate_template({"v.$": "$$.Execution.Input.nope"}, {}, {"Execution": {"Input": {}}})
    assert (
        "The JSONPath '$$.Execution.Input.nope' specified for the field 'v.$'" in info.value.cause
    )


def test_template_non_string_reference_is_runtime_error():
    with pytest.raises(StatesError) as info:
        evaluate_template({"v.$": 3}, {}, {})
    assert info.value.error == "States.Runtime"


def test_evaluate_reference_without_field_raises_path_not_found():
    with pytest.raises(PathNotFound):
        evaluate_reference("$.x", {}, {})
    assert evaluate_reference("States.ArrayLength($.a)", {"a": [1, 2]}, {}) == 2


def test_to_json_is_compact():
    assert to_json({"a": [1, 2.5, None, True], "b": "ü"}) == '{"a":[1,2.5,null,true],"b":"ü"}'


# ---------------------------------------------------------------------------- corpus
def _single_pass_parameter_cases() -> list:
    """Corpus cases that are one Pass state with Parameters: the template alone decides."""
    cases = []
    for case in corpus_cases():
        states = case["definition"].get("States", {})
        if len(states) != 1 or case["category"] == "intrinsic_functions":
            continue
        (state,) = states.values()
        if state.get("Type") != "Pass" or "Parameters" not in state:
            continue
        if set(state) - {"Type", "Parameters", "End", "Comment"}:
            continue
        if case["flags"] or case["expected_status"] != "SUCCEEDED":
            continue
        cases.append(pytest.param(state["Parameters"], case, id=case_id(case)))
    return cases


_PASS_CASES = _single_pass_parameter_cases()


@pytest.mark.skipif(not _PASS_CASES, reason="ASL conformance corpus not found (../shared)")
@pytest.mark.parametrize(("template", "case"), _PASS_CASES)
def test_corpus_pass_parameters(template, case):
    ctx = {"Execution": {"Input": case["input"]}}
    assert evaluate_template(template, case["input"], ctx, {}) == case["expected_output"]


# ---------------------------------------------------------------------------- properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.lists(st.text(alphabet="abcxyz_-", min_size=1, max_size=4), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(data=st.dictionaries(st.text(max_size=4), _json, max_size=4), keys=_keys, result=_json)
def test_result_path_then_read_path_round_trips(data, keys, result):
    path = "$" + "".join(f"['{k}']" for k in keys)
    before = json.dumps(data, sort_keys=True)
    try:
        out = write_result_path(data, path, result)
    except StatesError as exc:
        assert exc.error == "States.ReferencePathConflict"
        assert exc.cause.startswith("Unable to apply step ")
    else:
        assert read_path(out, path) == result
        # the keys not on the path keep their values
        for k, v in data.items():
            if k != keys[0]:
                assert out[k] is v
    assert json.dumps(data, sort_keys=True) == before  # input never mutated


@settings(max_examples=60, deadline=None)
@given(doc=_json, keys=_keys)
def test_read_path_never_crashes(doc, keys):
    for path in ("$." + ".".join(keys), "$" + "".join(f"[{len(k)}]" for k in keys), "$..a"):
        try:
            read_path(doc, path)
        except PathNotFound as exc:
            assert exc.path == path


@pytest.mark.parametrize("bad", [["$.a"], {"a": 1}, 3, None])
def test_non_string_paths_are_rejected_cleanly(bad):
    from opsbook.engine.paths import PathSyntaxError, parse_path

    with pytest.raises(PathSyntaxError):
        parse_path(bad)
    with pytest.raises(PathNotFound):
        read_path({}, bad)
