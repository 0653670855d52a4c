"""Payload templates (Parameters, ResultSelector, ItemSelector, Assign in JSONPath states): keys
ending ".$" take a path or an intrinsic function call. Kept apart from paths.py so that
paths <- intrinsics <- templates has no cycle."""

from __future__ import annotations

from typing import Any

from .errors import StatesError
from .intrinsics import call_intrinsic
from .paths import PathNotFound, not_found_cause, read_path

__all__ = ["evaluate_reference", "evaluate_template"]


def evaluate_reference(
    expr: str,
    input: Any,
    context: Any,
    variables: dict | None = None,
    *,
    field: str | None = None,
) -> Any:
    """Evaluate one ".$" value: a path ($ / $$ / $var) or an intrinsic function call."""
    if expr.startswith("States."):
        return call_intrinsic(expr, input, context, variables, field=field)
    try:
        return read_path(input, expr, context=context, variables=variables)
    except PathNotFound:
        if field is None:
            raise
        raise StatesError("States.Runtime", not_found_cause(expr, field, input)) from None


def evaluate_template(
    template: Any,
    input: Any,
    context: Any,
    variables: dict | None = None,
    *,
    field: str = "Parameters",
) -> Any:
    """Build a payload from a template: keys ending ".$" take a path or intrinsic call; nested
    objects and arrays are walked; other values are copied as they are."""
    if isinstance(template, dict):
        out = {}
        for k, v in template.items():
            if k.endswith(".$"):
                if not isinstance(v, str):
                    raise StatesError(
                        "States.Runtime",
                        f"The value for the field '{k}' must be a STRING that contains a JSONPath "
                        f"but was {_json_type(v)}",
                    )
                out[k[:-2]] = evaluate_reference(v, input, context, variables, field=k)
            elif isinstance(v, (dict, list)):
                out[k] = evaluate_template(v, input, context, variables, field=field)
            else:
                out[k] = v
        return out
    if isinstance(template, list):
        return [
            evaluate_template(v, input, context, variables, field=field)
            if isinstance(v, (dict, list))
            else v
            for v in template
        ]
    return template


def _json_type(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "BOOLEAN"
    if isinstance(v, (int, float)):
        return "NUMBER"
    if isinstance(v, list):
        return "ARRAY"
    if isinstance(v, dict):
        return "OBJECT"
    return "STRING"
