"""Property tests for validate(): whatever it is given, it returns diagnostics and never raises.

Random JSON values, random text and bytes, and random mutations (drop / rename / retype / replace
a field) of valid definitions. Every location a diagnostic names must point into the definition.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsbook.engine.errors import Diagnostic
from opsbook.engine.validate import validate

SETTINGS = settings(
    # OPSBOOK_VALIDATE_EXAMPLES=5000 for a long soak; the default keeps CI quick
    max_examples=int(os.environ.get("OPSBOOK_VALIDATE_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
SLOW_CALL = 0.5  # seconds; a real validate takes well under 1 ms: this only catches blow-ups

_HERE = Path(__file__).resolve().parent


def _load_table_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_validate_table", _HERE / "test_validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_TABLE = _load_table_module()
BASES = [_TABLE.weekly_load(), _TABLE.jsonata_machine(), _TABLE.distributed_map()]

json_scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=30)
json_scalars = json_scalars | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
# strings that look like the things validate parses: paths, intrinsics, JSONata
asl_strings = st.sampled_from(
    ["$", "$$", "$.a", "$.a[0]", "$x", "$.a[?(@.b > 1)]", "$..a", "States.Format('{}', $.a)",
     "States.UUID()", "States.Array(", "{% $states.input %}", "{% ( %}", "{%%}", "arn:aws:x:::y",
     "States.ALL", "FULL", "INLINE", "JSONata", "JSONPath", "2026-01-01T00:00:00Z", ""]
)  # fmt: skip
field_names = st.sampled_from(
    ["Type", "Next", "End", "StartAt", "States", "Choices", "Default", "Variable", "Retry",
     "Catch", "ErrorEquals", "Resource", "Parameters", "ResultPath", "InputPath", "OutputPath",
     "Seconds", "Timestamp", "SecondsPath", "Branches", "ItemProcessor", "Iterator",
     "MaxConcurrency", "Assign", "Output", "Arguments", "Condition", "QueryLanguage", "x.$",
     "IntervalSeconds", "BackoffRate", "MaxAttempts", "JitterStrategy", "Label", "Items"]
)  # fmt: skip
mutant_values = json_values | asl_strings


def _check(definition, *, also_text: bool = True) -> list[Diagnostic]:
    start = time.thread_time()  # CPU time: immune to other processes hogging the machine
    diags = validate(definition)
    elapsed = time.thread_time() - start
    assert elapsed < SLOW_CALL, f"validate took {elapsed:.3f}s"
    assert isinstance(diags, list)
    assert len(diags) <= 100
    for d in diags:
        assert isinstance(d, Diagnostic)
        assert isinstance(d.code, str) and d.code.isupper()
        assert isinstance(d.message, str) and d.message
        assert isinstance(d.location, str) and d.location
        assert d.severity in ("ERROR", "WARNING")
        # the catch-all in validate() hides internal bugs as this diagnostic: there must be none
        assert "could not be validated" not in d.message, d
        assert "Unreadable definition" not in d.message, d
    return diags


def _resolve(doc, pointer: str):
    """Follow a JSON pointer; raises KeyError/IndexError when it does not point into doc."""
    node = doc
    if pointer == "/":
        return node
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node[part]
        else:
            raise KeyError(pointer)
    return node


def _locations_point_into(definition: dict, diags: list[Diagnostic]) -> None:
    plain = json.loads(json.dumps(definition))
    for d in diags:
        if d.location.startswith("/"):
            _resolve(plain, d.location)  # must not raise


def _no_nan(name: str):
    raise ValueError(name)


# ------------------------------------------------------------------ arbitrary input
@SETTINGS
@given(json_values)
def test_any_json_value_gives_diagnostics(value):
    diags = _check(value)
    if not isinstance(value, dict):
        assert diags and diags[0].severity == "ERROR"
    if isinstance(value, dict):
        assert _check(json.dumps(value)) == diags  # text and dict agree


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_gives_diagnostics(text):
    diags = _check(text)
    try:
        parsed = json.loads(text, parse_constant=_no_nan)  # AWS's JSON has no NaN/Infinity
    except ValueError:
        assert diags and diags[0].severity == "ERROR"
        return
    if not isinstance(parsed, dict):
        assert diags and diags[0].code == "SCHEMA_VALIDATION_FAILED"


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_give_diagnostics(data):
    _check(data)


@SETTINGS
@given(st.dictionaries(field_names, mutant_values, max_size=6))
def test_random_objects_with_asl_field_names(obj):
    diags = _check(obj)
    _locations_point_into(obj, diags)
    # a random object is essentially never a state machine (needs StartAt + States)
    if "StartAt" not in obj or "States" not in obj:
        assert any(d.severity == "ERROR" for d in diags)


# ------------------------------------------------------------------ mutations of valid machines
def _containers(doc, path=()):
    """Every (path, container) in doc, the root included."""
    yield path, doc
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        if isinstance(value, dict | list):
            yield from _containers(value, (*path, key))


def _at(doc, path):
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def mutated_definitions(draw):
    doc = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    for _ in range(draw(st.integers(1, 4))):
        spots = list(_containers(doc))
        path, node = draw(st.sampled_from(spots))
        node = _at(doc, path)
        op = draw(st.sampled_from(["drop", "rename", "retype", "add", "replace_root_field"]))
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if op == "drop":
                del node[key]
            elif op == "rename":
                node[draw(field_names | st.text(max_size=8))] = node.pop(key)
            elif op == "retype":
                node[key] = draw(mutant_values)
            elif op == "add":
                node[draw(field_names)] = draw(mutant_values)
            else:
                doc[draw(field_names)] = draw(mutant_values)
        elif isinstance(node, list) and node:
            index = draw(st.integers(0, len(node) - 1))
            if op == "drop":
                node.pop(index)
            else:
                node[index] = draw(mutant_values)
    return doc


@SETTINGS
@given(mutated_definitions())
def test_mutated_definitions_give_diagnostics_that_point_into_them(doc):
    diags = _check(doc)
    _locations_point_into(doc, diags)
    assert _check(json.dumps(doc)) == diags  # text and dict agree
    assert validate(doc) == diags  # deterministic


@SETTINGS
@given(
    mutated_definitions(), st.integers(0, 10_000), st.sampled_from(["", " ", "}", "]", ",", "\\"])
)
def test_truncated_or_corrupted_text(doc, cut, junk):
    text = json.dumps(doc)
    cut = cut % (len(text) + 1)
    _check(text[:cut] + junk + text[cut:])
    _check(text[:cut])


# ------------------------------------------------------------------ pathological input is fast
def test_pathological_strings_are_fast():
    nasty = [
        "$" + "." * 50_000,
        "$" + ".a" * 50_000,
        "$" + "[" * 20_000,
        "$['" + "\\'" * 20_000,
        "States.Format(" * 5_000,
        "States.Array(" * 20 + ")" * 20,
        "States.Format('" + "{}" * 20_000 + "')",
        "{% " + "(" * 5_000 + " %}",
        "{% " + "[" * 5_000 + " %}",
        "{% " + "$a." * 20_000 + "b %}",
        "{% '" + "a" * 200_000 + "' %}",
    ]
    for value in nasty:
        for field in ("InputPath", "ResultPath"):
            _check({"StartAt": "A", "States": {"A": {"Type": "Pass", field: value, "End": True}}})
        _check({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x.$": value},
                                                  "End": True}}})  # fmt: skip
        _check({"QueryLanguage": "JSONata", "StartAt": "A",
                "States": {"A": {"Type": "Pass", "Output": value, "End": True}}})  # fmt: skip
        _check({"StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "Z", "Choices": [
            {"Variable": value, "StringMatches": value, "Next": "Z"}]}, "Z": {"Type": "Succeed"}}})  # fmt: skip


def test_deeply_nested_choice_rules_and_branches_do_not_raise():
    rule: dict = {"Variable": "$.a", "IsNull": True}
    for _ in range(70):
        rule = {"Not": rule}
    rule["Next"] = "Z"
    d = {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [rule], "Default": "Z"},
                                    "Z": {"Type": "Succeed"}}}  # fmt: skip
    assert _check(d)  # too deep, reported (not raised)
    machine: dict = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    for _ in range(40):
        machine = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [machine],
                                                    "End": True}}}  # fmt: skip
    assert _check(machine) == [] or all(d.code == "TOO_DEEPLY_NESTED" for d in _check(machine))
