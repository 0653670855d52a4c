"""JSONata for Step Functions (QueryLanguage "JSONata"), on the pure-Python jsonata-python.

API (the contract, plus keyword-only extras):
    evaluate(expression, states, variables=None, *, field=None) -> Any
        expression is the text inside {% %}; binds $states and every variable as $name;
        compiled expressions are cached (lru_cache).
    resolve(template, states, variables=None, *, field=None) -> Any
        recursively evaluates every "{% ... %}" string of a JSON template; the field in error
        causes is extended as AWS does ("Output/result").
    is_expression(value) -> bool
    compile_expression(text) -> compiled   # cached; raises jsonata.JException on bad syntax
    strip_expression(text) -> str          # "{% $x %}" -> "$x"
    unexpected_type_cause(expression, field, expected, value) -> str   # e.g. Map Items not array
    json_type(value) -> str                # 'array' | 'object' | 'string' | 'number' | ...

Errors raise StatesError("States.QueryEvaluationError", cause) with AWS's texts:
    "The JSONata expression '<e>' specified for the field '<f>' returned nothing (undefined)."
    "The JSONata expression '<e>' specified for the field '<f>' returned an unsupported result type."
    "The JSONata expression '<e>' specified for the field '<f>' threw an error during evaluation.
     <code>: <message>"
(the engine core prefixes "An error occurred while executing the state ...").  Step Functions'
own functions are installed: $partition, $range, $hash, $random (optional seed), $uuid, $parse;
$eval is not (AWS leaves it out). Error messages read as jsonata-js words them.
Results share structure with the bound values: treat them as immutable.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import uuid
from functools import lru_cache
from typing import Any

import jsonata
from jsonata import Utils
from jsonata.jsonata import Jsonata
from jsonata.parser import Parser

from .errors import StatesError
from .intrinsics import hash_text
from .paths import to_json

__all__ = [
    "compile_expression",
    "evaluate",
    "is_expression",
    "json_type",
    "resolve",
    "strip_expression",
    "unexpected_type_cause",
]

_NULL = Utils.NULL_VALUE


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def strip_expression(text: str) -> str:
    if is_expression(text):
        return text[2:-2].strip()
    return text.strip()


class _FunctionError(Exception):
    """Raised by the Step Functions JSONata functions; the message reads like JSONata's."""


# ------------------------------------------------------------------------- AWS JSONata functions
def _plain(v: Any) -> Any:
    """Turn jsonata-python's values back into plain JSON (NULL_VALUE -> None, JList -> list)."""
    if v is _NULL:
        return None
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fn_partition(array: Any = None, size: Any = None) -> Any:
    if array is None or size is None:
        return None
    array = _plain(array)
    if not isinstance(array, list):
        array = [array]
    if not _num(size) or int(size) != size or size < 1:
        raise _FunctionError(
            'T0410: Argument 2 of function "partition" does not match function signature'
        )
    n = int(size)
    return [array[i : i + n] for i in range(0, len(array), n)]


def _fn_range(start: Any = None, end: Any = None, step: Any = None, *extra: Any) -> Any:
    if extra:
        raise _FunctionError(
            f'T0410: Argument {4} of function "range" does not match function signature'
        )
    for i, v in enumerate((start, end, step), 1):
        if v is not None and (not _num(v) or not math.isfinite(v)):
            raise _FunctionError(
                f'T0410: Argument {i} of function "range" does not match function signature'
            )
    if start is None or end is None or step is None:
        return None
    a, b, s = math.trunc(start), math.trunc(end), math.trunc(step)
    if s == 0 or (s > 0 and a > b) or (s < 0 and a < b):
        return None
    values = list(range(a, b + (1 if s > 0 else -1), s))
    return values[0] if len(values) == 1 else values


def _fn_hash(data: Any = None, algorithm: Any = None) -> Any:
    if data is None:
        return None
    data = _plain(data)
    if not isinstance(data, str):
        data = to_json(data)
    if not isinstance(algorithm, str):
        raise _FunctionError(
            'T0410: Argument 2 of function "hash" does not match function signature'
        )
    out = hash_text(data, algorithm)
    if out is None:
        raise _FunctionError(
            f"Unsupported hash algorithm '{algorithm}'. Supported: MD5, SHA-1, SHA-256, "
            "SHA-384, SHA-512"
        )
    return out


def _fn_random(seed: Any = None) -> float:
    if seed is None or seed is _NULL:
        return random.random()
    if not _num(seed):
        raise _FunctionError(
            'T0410: Argument 1 of function "random" does not match function signature'
        )
    return random.Random(seed).random()


def _fn_uuid() -> str:
    return str(uuid.uuid4())


def _fn_parse(text: Any = None) -> Any:
    if text is None:
        return None
    if not isinstance(text, str):
        raise _FunctionError(
            'T0410: Argument 1 of function "parse" does not match function signature'
        )
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _FunctionError(f"Unable to parse JSON string: {exc}") from None
    return _NULL if value is None else value


_AWS_FUNCTIONS = {
    "partition": _fn_partition,
    "range": _fn_range,
    "hash": _fn_hash,
    "random": _fn_random,
    "uuid": _fn_uuid,
    "parse": _fn_parse,
}


# ------------------------------------------------------------------------------- evaluation
@lru_cache(maxsize=4096)
def _compile(expression: str) -> Jsonata:
    expr = jsonata.Jsonata(expression)
    expr.set_validate_input(False)  # our values are JSON already; validation costs a full walk
    expr.set_output_convert_nulls(False)  # keep null (NULL_VALUE) apart from undefined (None)
    for name, fn in _AWS_FUNCTIONS.items():
        expr.register_lambda(name, fn)
    return expr


def compile_expression(expression: str) -> Jsonata:
    """The cached compiled expression (validate() uses it to report syntax errors)."""
    if not isinstance(expression, str):
        raise TypeError(f"a JSONata expression must be a string, got {type(expression).__name__}")
    return _compile(expression.strip())


def _prefix(expression: str, field: str | None) -> str:
    if field:
        return f"The JSONata expression '{expression}' specified for the field '{field}'"
    return f"The JSONata expression '{expression}'"


# jsonata-js names the expected element type of an array argument (T0412) in words.
_ARRAY_TYPES = {
    "a": "arrays",
    "b": "booleans",
    "f": "functions",
    "n": "numbers",
    "o": "objects",
    "s": "strings",
}
_PLACEHOLDER = re.compile(r"\{\{\{(\w+)\}\}\}|\{\{(\w+)\}\}")


def _js_json(value: Any) -> str:
    """JSON.stringify as jsonata-js applies it to a message's {{placeholder}}."""
    if value is None:
        return "undefined"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    try:
        return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _jsonata_message(exc: jsonata.JException) -> str:
    """The message jsonata-js (which AWS runs) gives for the error: jsonata-python's port says
    'Object' where jsonata-js says 'function' and fills {{placeholders}} raw, where jsonata-js
    JSON-encodes them ({{{placeholders}}} stay raw); its arguments are in template order."""
    template = jsonata.JException.error_codes.get(exc.error)
    if template is None or template == "{{{message}}}":
        return str(exc)
    template = template.replace("Object", "function")
    args = iter([exc.current, exc.expected, exc.extra])

    def fill(m: re.Match) -> str:
        value = next(args, None)
        if m.group(1):  # {{{raw}}}
            return "" if value is None else str(value)
        if exc.error == "T0412" and m.group(2) == "type" and isinstance(value, str):
            value = _ARRAY_TYPES.get(value, value)
        return _js_json(value)

    return _PLACEHOLDER.sub(fill, template)


def _error(expression: str, field: str | None, exc: Exception) -> StatesError:
    code = getattr(exc, "error", None)
    if isinstance(exc, jsonata.JException) and code:
        detail = f"{code}: {_jsonata_message(exc)}"
    else:
        detail = str(exc) or type(exc).__name__
    return StatesError(
        "States.QueryEvaluationError",
        f"{_prefix(expression, field)} threw an error during evaluation. {detail}",
    )


# A user-defined JSONata function can recurse without end (jsonata-python runs tail calls in a
# loop, so no stack overflow stops it): an evaluation that defines a function gets this much
# wall-clock time, then fails with JSONata's own timeout error (D1012).
EVALUATION_LIMIT_MS = 5000


def _runaway_guard() -> Any:
    started = time.monotonic()
    steps = 0

    def on_entry(expr: Any, input: Any, env: Any) -> None:
        nonlocal steps
        steps += 1
        if steps & 255 == 0 and (time.monotonic() - started) * 1000 > EVALUATION_LIMIT_MS:
            raise jsonata.JException("D1012", -1, EVALUATION_LIMIT_MS)

    return on_entry


def evaluate(
    expression: str,
    states: dict,
    variables: dict | None = None,
    *,
    field: str | None = None,
) -> Any:
    """Evaluate JSONata text (without {% %}) with $states and the variables bound."""
    expression = expression.strip()
    try:
        expr = compile_expression(expression)
    except Exception as exc:  # a syntax error: validate() normally rejects it first
        raise _error(expression, field, exc) from None
    # Step Functions leaves $eval out of JSONata ("use $parse instead"); calling it is calling
    # nothing: T1006, as AWS answers.
    bindings: dict[str, Any] = {"states": states, "eval": None}
    if variables:
        for k, v in variables.items():
            bindings[k] = _NULL if v is None else v
    if "function" in expression or "λ" in expression:  # only a function can loop forever
        bindings["__evaluate_entry"] = _runaway_guard()  # jsonata-python's step hook
    Jsonata.CURRENT.jsonata = expr  # jsonata-python's higher-order functions read this
    try:
        result = expr.evaluate(None, bindings)
    except RecursionError:  # AWS's words for an evaluation that nests too deeply
        raise StatesError(
            "States.QueryEvaluationError",
            f"{_prefix(expression, field)} threw an error during evaluation: Stack overflow "
            "error: Check for non-terminating recursive function. Consider rewriting as "
            "tail-recursive.",
        ) from None
    except Exception as exc:
        raise _error(expression, field, exc) from None
    if result is None:
        raise StatesError(
            "States.QueryEvaluationError",
            f"{_prefix(expression, field)} returned nothing (undefined).",
        )
    if isinstance(result, (Parser.Symbol, Jsonata.JFunctionCallable)) or callable(result):
        raise StatesError(
            "States.QueryEvaluationError",
            f"{_prefix(expression, field)} returned an unsupported result type.",
        )
    return _output(result)


def _output(v: Any) -> Any:
    """Plain JSON out: NULL_VALUE -> None, sequences -> lists, integral floats -> ints."""
    if v is _NULL:
        return None
    t = type(v)
    if t is dict:
        if any(_needs_fix(x) for x in v.values()):
            return {k: _output(x) for k, x in v.items()}
        return v
    if isinstance(v, list):
        if t is list and not any(_needs_fix(x) for x in v):
            return v
        return [_output(x) for x in v]
    if t is float and v.is_integer() and abs(v) < 2**53:
        return int(v)
    if isinstance(v, (Parser.Symbol, Jsonata.JFunctionCallable)):
        return None  # functions inside structures serialise as nothing
    return v


def _needs_fix(x: Any) -> bool:
    t = type(x)
    if x is _NULL or (t is float and x.is_integer()):
        return True
    if t is dict:
        return any(_needs_fix(y) for y in x.values())
    if isinstance(x, list):
        return t is not list or any(_needs_fix(y) for y in x)
    return isinstance(x, (Parser.Symbol, Jsonata.JFunctionCallable))


def resolve(
    template: Any,
    states: dict,
    variables: dict | None = None,
    *,
    field: str | None = None,
) -> Any:
    """Evaluate every "{% %}" string inside a JSON template (objects and arrays recursively)."""
    if isinstance(template, str):
        if is_expression(template):
            return evaluate(template[2:-2], states, variables, field=field)
        return template
    if isinstance(template, dict):
        return {
            k: resolve(v, states, variables, field=f"{field}/{k}" if field else k)
            for k, v in template.items()
        }
    if isinstance(template, list):
        return [
            resolve(v, states, variables, field=f"{field}[{i}]" if field else f"[{i}]")
            for i, v in enumerate(template)
        ]
    return template


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def unexpected_type_cause(expression: str, field: str, expected: str, value: Any) -> str:
    """e.g. Map Items: "... returned an unexpected result type. Expected 'array', but was
    'boolean' for value: true"."""
    return (
        f"{_prefix(strip_expression(expression), field)} returned an unexpected result type. "
        f"Expected '{expected}', but was '{json_type(value)}' for value: {to_json(value)}"
    )
