"""Property tests: with random and malformed input, opsbook raises only its documented errors.

Already elsewhere (not repeated): validate() on any value, text, bytes and mutated definitions
(tests/engine/test_validate_props.py); parse_week on any text (tests/workflow/test_weeks.py);
cron/rate expressions (tests/workflow/test_schedule.py). Here the gaps:
- engine.execute on random small definitions and random input: a Run with an AWS status, or
  DefinitionError / TypeError, never anything else (loops are bounded by should_abort);
- the weekly definition with random input and random task results: a closed status, never a
  Python exception;
- week_input with random values: UsageError only;
- load_config from random TOML text, random typed keys and random OPSBOOK_* environment:
  a Config or ConfigError only;
- the Lambdas with random events: a 500 with a message, never an exception."""

from __future__ import annotations

import json
import os
import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsbook.config import Config, load_config
from opsbook.engine import DefinitionError, VirtualClock, execute
from opsbook.errors import ConfigError, UsageError
from opsbook.workflows.schedules import parse_week, week_input

SETTINGS = settings(
    max_examples=int(os.environ.get("OPSBOOK_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
RUN_STATUSES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
MAX_EVENTS = 400

json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False)
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)
paths = st.sampled_from(
    ["$", "$.a", "$.a.b", "$.a[0]", "$.missing", "$$.Execution.Input", "$..a", "$.a[?(@.b > 1)]",
     "States.Format('{}', $.a)", "States.StringToJson($.a)", "States.MathAdd($.a, 1)", "bad", ""]
)  # fmt: skip
names = st.sampled_from(["A", "B", "C", "D"])


@st.composite
def state(draw, name):
    kind = draw(
        st.sampled_from(
            ["Pass", "Pass", "Choice", "Wait", "Succeed", "Fail", "Map", "Parallel", "Task"]
        )
    )
    body: dict = {"Type": kind}
    nxt = draw(names)
    if kind in ("Pass", "Wait", "Map", "Parallel", "Task"):
        if draw(st.booleans()):
            body["Next"] = nxt
        else:
            body["End"] = True
    if kind == "Pass":
        if draw(st.booleans()):
            body["Result"] = draw(json_values)
        if draw(st.booleans()):
            body["Parameters"] = {"x.$": draw(paths), "y": draw(json_scalars)}
        for key in ("InputPath", "ResultPath", "OutputPath"):
            if draw(st.integers(0, 3)) == 0:
                body[key] = draw(paths | st.none())
    elif kind == "Choice":
        op = draw(
            st.sampled_from(["NumericGreaterThan", "StringEquals", "IsPresent", "BooleanEquals"])
        )
        value = draw(json_scalars)
        body["Choices"] = [{"Variable": draw(paths), op: value, "Next": draw(names)}]
        if draw(st.booleans()):
            body["Default"] = nxt
    elif kind == "Wait":
        choice = draw(st.integers(0, 2))
        if choice == 0:
            body["Seconds"] = draw(st.integers(-5, 10**6))
        elif choice == 1:
            body["SecondsPath"] = draw(paths)
        else:
            body["Timestamp"] = draw(
                st.sampled_from(["2026-11-26T00:00:00Z", "not a time", "2026-02-30T00:00:00Z"])
            )
    elif kind == "Fail":
        if draw(st.booleans()):
            body["Error"] = draw(st.text(max_size=10))
        if draw(st.booleans()):
            body["CausePath"] = draw(paths)
    elif kind == "Map":
        body["ItemsPath"] = draw(paths)
        body["MaxConcurrency"] = draw(st.integers(-1, 3))
        body["ItemProcessor"] = {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}
    elif kind == "Parallel":
        body["Branches"] = [
            {
                "StartAt": "P",
                "States": {
                    "P": {
                        "Type": draw(st.sampled_from(["Pass", "Succeed", "Fail"])),
                        **({"End": True} if True else {}),
                    }
                },
            }
        ]
        if body["Branches"][0]["States"]["P"]["Type"] != "Pass":
            body["Branches"][0]["States"]["P"].pop("End")
    elif kind == "Task":
        body["Resource"] = draw(
            st.sampled_from(
                [
                    "arn:aws:lambda:local:000000000000:function:echo",
                    "arn:aws:states:::lambda:invoke",
                    "unknown",
                ]
            )
        )
        if draw(st.booleans()):
            body["Retry"] = [
                {
                    "ErrorEquals": ["States.ALL"],
                    "MaxAttempts": draw(st.integers(0, 3)),
                    "IntervalSeconds": 1,
                }
            ]
        if draw(st.booleans()):
            body["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": draw(names)}]
    return body


@st.composite
def definitions(draw):
    count = draw(st.integers(1, 4))
    state_names = ["A", "B", "C", "D"][:count]
    states = {n: draw(state(n)) for n in state_names}
    return {"StartAt": draw(names), "States": states}


def _echo(payload):
    if isinstance(payload, dict) and payload.get("boom"):
        raise RuntimeError("boom")
    return payload


def _bounded_run(definition, value):
    seen = []
    return execute(
        definition,
        value,
        tasks={"echo": _echo, "arn:aws:lambda:local:000000000000:function:echo": _echo},
        clock=VirtualClock(),
        on_event=seen.append,
        should_abort=lambda: len(seen) > MAX_EVENTS,
    )


@SETTINGS
@given(definitions(), json_values)
def test_execute_returns_a_run_or_raises_definition_error(definition, value):
    try:
        run = _bounded_run(definition, value)
    except DefinitionError as exc:
        assert exc.diagnostics
        return
    except TypeError as exc:  # a str input is JSON text; not JSON -> TypeError (documented)
        assert isinstance(value, str) and "JSON" in str(exc)
        return
    assert run.status in RUN_STATUSES, run.status
    if run.status == "FAILED":  # a Fail state may carry no error (as on AWS)
        assert run.error is None or isinstance(run.error, str)
    if run.status == "SUCCEEDED":
        json.dumps(run.output)  # the output is JSON
    ids = [e["id"] for e in run.history]
    assert ids == list(range(1, len(ids) + 1))


@SETTINGS
@given(st.one_of(st.text(max_size=40), st.binary(max_size=40), json_values))
def test_execute_on_malformed_definitions_raises_only_definition_error(definition):
    try:
        _bounded_run(definition, {})
    except DefinitionError:
        pass


@settings(max_examples=25, deadline=None, database=None)
@given(st.sampled_from([object(), {1, 2}, b"bytes", float("nan")]))
def test_execute_refuses_input_that_is_not_json_with_type_error_only(value):
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    try:
        run = _bounded_run(definition, {"v": value})
    except (TypeError, ValueError):
        return
    assert run.status in RUN_STATUSES


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(json_values, st.lists(json_values, min_size=1, max_size=4))
def test_the_weekly_definition_with_random_input_and_task_results_closes(value, results):
    """Random execution input and random Lambda answers: the run closes with an AWS status."""
    from support.definitions import SHIPPED_WEEKLY_LOAD

    from opsbook.backends.local.names import render_definition
    from opsbook.workflows.manifest import load_workflow

    weekly = load_workflow(SHIPPED_WEEKLY_LOAD, shipped=True)
    text = render_definition(weekly.definition_text(), weekly)
    answers = iter(results * 50)

    def task(payload):
        return next(answers, {"statusCode": 500})

    tasks = {}
    for fn in weekly.tasks:
        function = fn.function_name("opsbook")
        tasks[function] = task
        tasks[f"arn:aws:lambda:local:000000000000:function:{function}"] = task
    seen = []
    run = execute(
        text, value if isinstance(value, dict) else {"week": value}, tasks=tasks,
        clock=VirtualClock(), on_event=seen.append, should_abort=lambda: len(seen) > 2000,
    )  # fmt: skip
    assert run.status in RUN_STATUSES


@SETTINGS
@given(st.text(max_size=20) | json_scalars, json_scalars, json_scalars)
def test_week_input_raises_only_usage_error(week, poll_seconds, max_polls):
    try:
        doc = week_input(week, poll_seconds=poll_seconds, max_polls=max_polls)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert parse_week(doc["week"]).weekday() == 3


TOML_VALUES = st.sampled_from(
    ['"local"', '"aws"', '"gcp"', "0", "-1", "18", "600", "true", "1.5", '"x; DROP TABLE y"',
     '"analytics"', '["a", "("]', '["xox[a-z]+"]', "[1, 2]", '"~/somewhere"', '""', "{ a = 1 }",
     '"2026-11-26"', "1979-05-27", '"opsbook-local"', '"Bad Project"']
)  # fmt: skip
KEYS = st.sampled_from(sorted(Config.__dataclass_fields__) + ["colour", "opsbook", "Home"])


@SETTINGS
@given(st.dictionaries(KEYS, TOML_VALUES, max_size=5), st.booleans())
def test_load_config_from_random_typed_toml_gives_config_or_config_error(
    tmp_path_factory, values, wrap
):
    body = "\n".join(f"{k} = {v}" for k, v in values.items())
    if wrap:
        body = "[opsbook]\n" + body
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(body)
    try:
        tomllib.loads(body)
    except tomllib.TOMLDecodeError:
        pass
    _load_only_config_errors(path)


@SETTINGS
@given(st.text(max_size=80) | st.binary(max_size=80).map(lambda b: b.decode("latin-1")))
def test_load_config_from_random_text_gives_config_or_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    _load_only_config_errors(path)


@SETTINGS
@given(st.sampled_from(["OPSBOOK_MAX_POLLS", "OPSBOOK_POLL_SECONDS", "OPSBOOK_DATASET",
                        "OPSBOOK_BACKEND", "OPSBOOK_SECRET_PATTERNS", "OPSBOOK_BQ_PROJECT"]),
       st.text(max_size=20).filter(lambda s: "\x00" not in s))  # fmt: skip
def test_random_environment_values_give_config_or_config_error(tmp_path_factory, key, value):
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        _load_only_config_errors(None, home=tmp_path_factory.mktemp("h"))
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def _load_only_config_errors(path, home=None):
    try:
        cfg = load_config(path, home=home or (path.parent if path else None))
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc).strip() or "TOML" in str(exc)
    else:
        assert isinstance(cfg, Config)


@SETTINGS
@given(json_values)
def test_lambdas_turn_any_event_into_a_500_or_a_result(tmp_path_factory, event):
    from opsbook.definitions.weekly_load import check_records, insert_week
    from opsbook.lambdas.resources import Resources

    home = tmp_path_factory.mktemp("lh")
    resources = Resources.local(home, environ={})
    for handler in (check_records, insert_week):
        result = handler.run(event, resources)
        assert result["statusCode"] in (200, 500)
        if result["statusCode"] == 500:
            assert isinstance(result["error"], str) and result["error"]
