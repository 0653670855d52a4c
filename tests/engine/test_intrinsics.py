"""States.* intrinsic functions (opsbook.engine.intrinsics)."""

from __future__ import annotations

import re

import pytest
from support.corpus import case_id, corpus_cases

from opsbook.engine.errors import StatesError
from opsbook.engine.intrinsics import (
    FUNCTIONS,
    IntrinsicSyntaxError,
    call_intrinsic,
    parse_intrinsic,
    validate_intrinsic,
)
from opsbook.engine.templates import evaluate_template


def run(expr: str, input=None, context=None, variables=None):
    return call_intrinsic(expr, {} if input is None else input, context or {}, variables)


# Expected values below are AWS's (from the conformance corpus and AWS-recorded observations).
CASES = [
    ("States.Array(1, 'a', true, null, 1.5)", {}, [1, "a", True, None, 1.5]),
    ("States.Array()", {}, []),
    ("States.Array($.o, $.l)", {"o": {"k": 1}, "l": []}, [{"k": 1}, []]),
    ("States.ArrayPartition($.a, 2)", {"a": [0, 1, 2, 3, 4]}, [[0, 1], [2, 3], [4]]),
    ("States.ArrayPartition($.a, 5)", {"a": [0, 1]}, [[0, 1]]),
    ("States.ArrayPartition($.a, 1)", {"a": []}, []),
    ("States.ArrayContains($.a, $.v)", {"a": [[1, 2, 3], 2], "v": [1, 2, 3]}, True),
    ("States.ArrayContains($.a, $.v)", {"a": [[1, 2, 3], 2], "v": None}, False),
    ("States.ArrayContains($.a, 1)", {"a": [True]}, False),  # true is not 1
    ("States.ArrayContains($.a, true)", {"a": [True, False]}, True),
    ("States.ArrayContains($.a, false)", {"a": [0, 1, -1, -1.5]}, False),
    ("States.ArrayContains($.a, null)", {"a": [1, None, 3]}, True),
    ("States.ArrayContains($.a, $.t)", {"a": [{"a": 1}, {"b": 2}], "t": {"a": 1}}, True),
    ("States.ArrayContains($.a, $.t)", {"a": [{"a": 1}], "t": {"a": 1, "extra": None}}, False),
    # observed on AWS: key order matters, scalars compare by text
    ("States.ArrayContains($.a, $.t)", {"a": [{"a": 1, "b": 2}], "t": {"b": 2, "a": 1}}, False),
    ("States.ArrayContains($.a, true)", {"a": ["true", "false"]}, True),
    ("States.ArrayContains($.a, $.t)", {"a": ["9007199254740991"], "t": 9007199254740991}, True),
    (
        "States.ArrayContains($.a, $.t)",
        {"a": [None, "", 0, True, [0, 1, False]], "t": [0, 1, False]},
        True,
    ),
    ("States.ArrayContains($.a, $.t)", {"a": [], "t": []}, False),
    ("States.ArrayRange(1, 9, 2)", {}, [1, 3, 5, 7, 9]),
    ("States.ArrayRange(1, 9, 9)", {}, [1]),
    ("States.ArrayRange(-2, 2, 2)", {}, [-2, 0, 2]),
    ("States.ArrayRange(5, 1, -2)", {}, [5, 3, 1]),
    ("States.ArrayRange(5, 1, 1)", {}, []),
    ("States.ArrayRange(1.4, 5.6, 2.2)", {}, [1, 3, 5]),
    ("States.ArrayRange(5.4, -0.6, -2.4)", {}, [5, 3, 1]),  # AWS truncates
    ("States.ArrayRange(3, 3, -1)", {}, [3]),
    ("States.ArrayGetItem($.a, 5)", {"a": [1, 2, 3, 4, 5, 6, 7, 8, 9]}, 6),
    ("States.ArrayGetItem($.a, 1.2)", {"a": [10, 20, 30]}, 20),  # AWS truncates
    ("States.ArrayGetItem($.a, 999)", {"a": []}, None),  # AWS: null on an empty array
    ("States.ArrayGetItem(States.Array('x', 'y', 'z'), 1)", {}, "y"),
    ("States.ArrayLength($.a)", {"a": [1, 2, 3]}, 3),
    (
        "States.ArrayUnique($.a)",
        {"a": [1, 2, 1, "1", True, {"a": 1}, {"a": 1}, None, None]},
        [1, 2, "1", True, {"a": 1}, None],
    ),
    ("States.Base64Encode($.s)", {"s": "Data to encode"}, "RGF0YSB0byBlbmNvZGU="),
    ("States.Base64Encode('')", {}, ""),
    ("States.Base64Decode($.s)", {"s": "RGF0YSB0byBlbmNvZGU="}, "Data to encode"),
    ("States.Base64Decode('4pyT')", {}, "✓"),
    ("States.Base64Decode(' YWJjZA== ')", {}, "abcd"),  # AWS is lenient, like Java's MIME decoder
    ("States.Base64Decode('YWJjAGRlZg==')", {}, "abc\x00def"),
    ("States.Base64Decode('aGVsbG8')", {}, "hello"),  # missing padding
    ("States.Hash('input data', 'MD5')", {}, "812f45842bc6d66ee14572ce20db8e86"),
    ("States.Hash($.d, 'SHA-1')", {"d": "input data"}, "aaff4a450a104cd177d28d18d74485e8cae074b7"),
    (
        "States.Hash($.d, $.alg)",
        {"d": "input data", "alg": "SHA-256"},
        "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3",
    ),
    (
        "States.JsonMerge($.a, $.b, false)",
        {"a": {"a": {"a1": 1}, "b": 2, "d": 3}, "b": {"a": {"a3": 1}, "c": 3, "d": 4}},
        {"a": {"a3": 1}, "b": 2, "c": 3, "d": 4},
    ),
    ("States.StringToJson($.s)", {"s": '{"Arg1": 1, "Arg2": []}'}, {"Arg1": 1, "Arg2": []}),
    ("States.StringToJson($.s)", {"s": ""}, None),
    ("States.StringToJson($.s)", {"s": " "}, None),
    ("States.StringToJson($.s)", {"s": "-0"}, 0),
    ('States.StringToJson(\'{"text":"An \\"q\\" here"}\')', {}, {"text": 'An "q" here'}),
    ("States.JsonToString($.v)", {"v": {"Arg1": 1, "Arg2": []}}, '{"Arg1":1,"Arg2":[]}'),
    ("States.JsonToString($.v)", {"v": [1, 2, "HelloWorld"]}, '[1,2,"HelloWorld"]'),
    ("States.JsonToString($.v)", {"v": None}, "null"),
    ("States.JsonToString($.v)", {"v": 1.1}, "1.1"),
    ("States.MathAdd($.a, $.b)", {"a": -9, "b": 3}, -6),
    ("States.MathAdd($.a, $.b)", {"a": 1.5, "b": 1.51}, 4),  # Java Math.round on each operand
    ("States.MathAdd($.a, $.b)", {"a": -1.49, "b": -1.5}, -2),
    ("States.MathAdd($.a, $.b)", {"a": -0.5, "b": 0.5}, 1),
    ("States.MathAdd(-2.5, 0)", {}, -2),
    ("States.MathAdd(2147483646, 1)", {}, 2147483647),
    ("States.MathAdd(States.MathAdd($.x, 1), 2)", {"x": 5}, 8),
    ("States.StringSplit($.s, ',')", {"s": "1,2,3,4,5"}, ["1", "2", "3", "4", "5"]),
    ("States.StringSplit($.s, ',')", {"s": ", , ,"}, [" ", " "]),
    ("States.StringSplit($.s, ',')", {"s": ",,,,"}, []),
    (
        "States.StringSplit($.s, 'T\n')",
        {"s": "split on T and \nnew line"},
        ["split on ", " and ", "new line"],
    ),
    ("States.Format('Formatting argument {}.', $.v)", {"v": 1.1}, "Formatting argument 1.1."),
    ("States.Format('{} {} {}', $.a, $.b, $.c)", {"a": "x", "b": 2, "c": True}, "x 2 true"),
    ("States.Format('{}|{}', $.n, $.f)", {"n": None, "f": False}, "null|false"),
    ("States.Format('v={}', $.o)", {"o": {"Arg1": 1, "Arg2": []}}, "v={Arg1=1, Arg2=[]}"),
    ("States.Format('v={}', $.l)", {"l": [1, "a", {"b": None}]}, "v=[1, a, {b=null}]"),
    ("States.Format('Name: \\'{}\\'', $.n)", {"n": "Gabriel"}, "Name: 'Gabriel'"),
    ("States.Format('literal \\{\\} and {}', 'x')", {}, "literal {} and x"),
    ("States.Format('back\\\\slash {}', 1)", {}, "back\\slash 1"),
    ("States.Format('no placeholders')", {}, "no placeholders"),
    ("States.Format($.t, $.n)", {"t": "Hello {}", "n": "Ada"}, "Hello Ada"),
    (
        "States.Format('arn:{}:{}', $.svc, States.JsonToString($.obj))",
        {"svc": "l", "obj": {"k": 1}},
        'arn:l:{"k":1}',
    ),
    ("  States.ArrayLength( $.a )  ", {"a": [1]}, 1),
]


@pytest.mark.parametrize(("expr", "input", "expected"), CASES)
def test_intrinsic_values(expr, input, expected):
    got = run(expr, input)
    assert got == expected
    assert type(got) is type(expected)


def test_context_and_variables_as_arguments():
    ctx = {"StateMachine": {"Name": "my-machine-x1"}, "Execution": {"Input": {"o": 10}}}
    assert (
        run("States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)", context=ctx)
        == "my"
    )
    expr = (
        "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), "
        "States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))"
    )
    assert run(expr, context=ctx) == "x1"
    assert run("States.MathAdd($$.Execution.Input.o, $d)", context=ctx, variables={"d": 5}) == 15


# Failures: AWS reports States.Runtime "Invalid arguments in States.<Name>".
FAILURES = [
    "States.ArrayRange('a', 5, 1)",
    "States.ArrayRange(1, 10, 0)",
    "States.ArrayRange(1, 10, 0.49)",
    "States.ArrayRange(1, 1001, 1)",
    "States.ArrayRange(1001, 1, -1)",
    "States.ArrayPartition($.a, 0.49)",
    "States.ArrayPartition($.s, 1)",
    "States.ArrayGetItem('not-array', 0)",
    "States.ArrayGetItem($.a, 3)",
    "States.ArrayGetItem($.a, -1)",
    "States.ArrayGetItem($.a, '1')",
    "States.ArrayLength($.s)",
    "States.ArrayUnique($.s)",
    "States.ArrayContains($.s, 1)",
    "States.MathAdd(2147483647, 1)",
    "States.MathAdd(-2147483648, -1)",
    "States.MathAdd(3000000000, 1)",
    "States.MathAdd('a', 1)",
    "States.MathAdd(null, 1)",
    "States.MathAdd(true, 1)",
    "States.MathAdd('-1', 2)",
    "States.MathRandom(1, 1)",
    "States.MathRandom(10, 5)",
    "States.MathRandom(1.49, 1.49)",
    "States.MathRandom(1.4, 1.6)",
    "States.MathRandom('a', 10)",
    "States.MathRandom(1, 10, 'seed')",
    "States.MathRandom(1, 10, null)",
    "States.Base64Decode(123)",
    "States.Base64Decode($.long)",
    "States.Base64Encode(1)",
    "States.Hash('x', 'SHA-3')",
    "States.Hash($.long, 'MD5')",
    "States.Hash('hello', 123)",
    "States.Hash('data', 'sha-256')",
    "States.Hash('data', 'SHA256')",
    "States.JsonMerge($.a, $.a, true)",
    "States.JsonMerge($.a, $.s, false)",
    "States.StringToJson('{bad')",
    "States.StringToJson(1)",
    "States.StringSplit(1, ',')",
    "States.Format('{} {}', $.s)",
    "States.Format('{}', $.s, $.s)",
    "States.Format('Hello {', $.s)",
    "States.Format('}')",
    "States.Format($.a, 1)",
]


@pytest.mark.parametrize("expr", FAILURES)
def test_intrinsic_failures(expr):
    with pytest.raises(StatesError) as info:
        run(expr, {"a": [10, 20, 30], "s": "str", "long": "a" * 10001})
    name = re.match(r"States\.\w+", expr).group(0)
    assert info.value.error == "States.Runtime"
    assert info.value.cause == f"Invalid arguments in {name}"


def test_missing_path_argument_names_field_and_input():
    with pytest.raises(StatesError) as info:
        call_intrinsic("States.ArrayLength($.nope)", {"a": 1}, {}, field="n.$")
    assert info.value.error == "States.Runtime"
    assert info.value.cause == (
        "The JSONPath '$.nope' specified for the field 'n.$' could not be found in the input "
        "'{\"a\":1}'"
    )


def test_math_random_ranges_and_seed():
    for _ in range(200):
        v = run("States.MathRandom(1.6, 5.4)")
        assert isinstance(v, int) and 1 <= v < 5
    a = run("States.MathRandom(1, 1000, 42)")
    assert a == run("States.MathRandom(1, 1000, 42)")  # seeded: deterministic
    assert 1 <= a < 1000
    v = run("States.MathRandom($.s, $.e, $.seed)", {"s": 2147483640, "e": 2147483647, "seed": 1})
    assert 2147483640 <= v < 2147483647


def test_uuid_is_v4():
    u = run("States.UUID()")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u)
    assert u != run("States.UUID()")


@pytest.mark.parametrize(
    "expr",
    [
        "States.Nope(1)",
        "States.ArrayGetItem($.arr)",
        "States.ArrayGetItem($.arr, 1, 999)",
        "States.ArrayGetItem($.arr, )",
        "States.UUID(1)",
        "States.Format('x'",
        "States.Format('x) ",
        "States.Array(1) extra",
        "$.a",
        "States.Array(foo)",
        "States.Array($.a[)",
        "States.Array(1.)",
        "States.Array(.5)",
        "States.Array([1,2])",
        "States.Array(",
        "States.Array(1x)",
    ],
)
def test_malformed_expressions(expr):
    assert validate_intrinsic(expr)
    with pytest.raises(IntrinsicSyntaxError):
        parse_intrinsic(expr)
    with pytest.raises(StatesError) as info:
        run(expr)
    assert info.value.error == "States.IntrinsicFailure"


def test_parser_handles_tricky_literals_and_paths():
    call = parse_intrinsic("States.Array('a,b)', $['x,y'], $.l[?(@.v == ')')], -1.5e2, true)")
    assert [type(a).__name__ for a in call.args] == ["Lit", "PathArg", "PathArg", "Lit", "Lit"]
    assert run(
        "States.Array('a,b)', $['x,y'], $.l[?(@.v == ')')], -1.5e2, true)",
        {"x,y": 1, "l": [{"v": ")"}, {"v": "("}]},
    ) == ["a,b)", 1, [{"v": ")"}], -150.0, True]
    assert validate_intrinsic("States.Format('{}', $.a)") is None


def test_every_function_is_implemented():
    for name, (lo, _hi) in FUNCTIONS.items():
        args = ", ".join(["$.x"] * lo)
        expr = f"{name}({args})"
        assert validate_intrinsic(expr) is None, expr


# ------------------------------------------------------------------------------- corpus
def _corpus_cases() -> list:
    out = []
    for case in corpus_cases():
        if case["category"] != "intrinsic_functions" or "jsonata" in case["flags"]:
            continue
        (state,) = case["definition"]["States"].values()
        if set(state) - {"Type", "Parameters", "End"}:
            continue
        out.append(pytest.param(state["Parameters"], case, id=case_id(case)))
    return out


_CORPUS = _corpus_cases()


@pytest.mark.skipif(not _CORPUS, reason="ASL conformance corpus not found (../shared)")
@pytest.mark.parametrize(("template", "case"), _CORPUS)
def test_corpus_intrinsics(template, case):
    ctx = {
        "Execution": {"Input": case["input"], "Name": "exec"},
        "StateMachine": {
            "Id": "arn:aws:states:us-east-1:111111111111:stateMachine:sm",
            "Name": "sm",
        },
    }
    out = evaluate_template(template, case["input"], ctx, {})
    expected = case["expected_output"]
    if "nondeterministic" in case["flags"] or "placeholder" in case["flags"]:
        assert out.keys() == expected.keys()  # shape only
    else:
        assert out == expected


@pytest.mark.parametrize(
    ("expr", "ok"),
    [
        ("States.Format('{} and {}', 1, 2)", True),
        ("States.Format('\\{\\} {}', 1)", True),
        ("States.Format($.t, 1, 2)", True),  # a path template is only checked at run time
        ("States.Format('{} and {}', 1)", False),
        ("States.Format('{}', 1, 2)", False),
        ("States.Format('Hello {', 1)", False),
        ("States.Format(1)", False),
        ("States.Array(States.Format('{}'))", False),
        ("States.Array(" * 10 + "1" + ")" * 10, True),
        ("States.Array('it\\'s \\{\\} \\\\')", True),
        ("States.Base64Decode('YWJj\\nZA==')", False),  # AWS rejects unknown escapes
        ("States.Array(" * 11 + "1" + ")" * 11, False),  # AWS allows 10 nested functions
    ],
)
def test_validate_checks_literal_format_templates(expr, ok):
    assert (validate_intrinsic(expr) is None) is ok


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (100.0, "100.0"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (12345678.9, "1.23456789E7"),
        (1e20, "1.0E20"),
        (-2.5, "-2.5"),
        (7, "7"),
    ],
)
def test_format_renders_numbers_as_java_does(value, text):
    assert run("States.Format('{}', $.v)", {"v": value}) == text


@pytest.mark.parametrize("bad", [["States.UUID()"], {"a": 1}, 3, None])
def test_non_string_expressions_are_rejected_cleanly(bad):
    assert validate_intrinsic(bad)
    with pytest.raises(IntrinsicSyntaxError):
        parse_intrinsic(bad)
