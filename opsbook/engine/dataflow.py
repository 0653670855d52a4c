"""Input and output processing shared by every state type: paths, templates, JSONata, Assign
and the Task/Map/Parallel result steps. Plain functions of their arguments."""

from __future__ import annotations

from typing import Any

from .errors import StatesError
from .expressions import (
    PathNotFound,
    dumps,
    evaluate_reference,
    evaluate_template,
    invalid_path_cause,
    jsonata_resolve,
    write_result_path,
)
from .flow import FIELD_RE, Frame
from .machine import ABSENT, State

__all__ = [
    "field_path",
    "jsonata",
    "jsonata_assign",
    "jsonata_output",
    "jsonpath_assign",
    "jsonpath_result",
    "select_path",
    "state_input",
    "state_output",
]


def select_path(path: str, data: Any, ctx: dict, frame: Frame) -> Any:
    """InputPath/OutputPath/ItemsPath: a path or null ({})."""
    if path is None:
        return {}
    if path == "$":
        return data
    try:
        return evaluate_reference(path, data, ctx, frame.vars)
    except PathNotFound:
        raise StatesError("States.Runtime", invalid_path_cause(path)) from None


def field_path(field: str, path: str, data: Any, ctx: dict, frame: Frame) -> Any:
    """ErrorPath, CausePath, SecondsPath...: the AWS 'could not be found' cause."""
    try:
        return evaluate_reference(path, data, ctx, frame.vars)
    except PathNotFound:
        raise StatesError(
            "States.Runtime",
            f"The JSONPath '{path}' specified for the field '{field}' could not be found in "
            f"the input '{dumps(data)}'",
        ) from None


def jsonata(template: Any, states: dict, frame: Frame, field: str) -> Any:
    """Resolve a JSONata template; errors carry the field as their location."""
    try:
        return jsonata_resolve(template, states, frame.vars, field=field)
    except StatesError as err:
        m = FIELD_RE.search(err.cause or "")
        err.location = m.group(1) if m else field
        raise


def state_input(state: State, raw: Any, ctx: dict, frame: Frame) -> Any:
    """What a Task or Parallel state works on: its Arguments (JSONata), or its InputPath
    then Parameters (JSONPath); the raw input when neither is given."""
    if state.jsonata:
        if state.arguments is ABSENT:
            return raw
        return jsonata(state.arguments, {"input": raw, "context": ctx}, frame, "Arguments")
    eff = select_path(state.input_path, raw, ctx, frame)
    if state.parameters is ABSENT:
        return eff
    return evaluate_template(state.parameters, eff, ctx, frame.vars)


def jsonata_assign(assign, states: dict, frame: Frame) -> dict | None:
    if assign is None:
        return None
    return {k: jsonata(v, states, frame, f"Assign/{k}") for k, v in assign.items()}


def jsonpath_assign(assign, value, ctx, frame: Frame) -> dict | None:
    if assign is None:
        return None
    return evaluate_template(assign, value, ctx, frame.vars, field="Assign")


def jsonpath_result(state: State, raw, result, ctx, frame):
    """ResultSelector -> Assign -> ResultPath -> OutputPath."""
    if state.result_selector is not ABSENT:
        result = evaluate_template(
            state.result_selector, result, ctx, frame.vars, field="ResultSelector"
        )
    assigned = jsonpath_assign(state.assign, result, ctx, frame)
    out = write_result_path(raw, state.result_path, result)
    return select_path(state.output_path, out, ctx, frame), assigned


def jsonata_output(state: State, states: dict, frame: Frame, default: Any):
    assigned = jsonata_assign(state.assign, states, frame)
    if state.output is ABSENT:
        return default, assigned
    return jsonata(state.output, states, frame, "Output"), assigned


def state_output(state: State, raw, result, ctx, frame):
    """A Task, Parallel or Map state's output, Assign and next state, from its result."""
    if state.jsonata:
        states = {"input": raw, "context": ctx, "result": result}
        out, assigned = jsonata_output(state, states, frame, result)
    else:
        out, assigned = jsonpath_result(state, raw, result, ctx, frame)
    return out, state.next, assigned
