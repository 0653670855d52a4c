"""The expression modules the core uses (paths, choice, jsonata_eval), plus compact JSON text."""

from __future__ import annotations

import json
from typing import Any

from .choice import evaluate_rule
from .jsonata_eval import resolve as jsonata_resolve
from .paths import PathNotFound, invalid_path_cause, read_path, write_result_path
from .templates import evaluate_reference, evaluate_template

__all__ = [
    "PathNotFound",
    "dumps",
    "evaluate_reference",
    "evaluate_rule",
    "evaluate_template",
    "copy_json",
    "forget_last",
    "invalid_path_cause",
    "jsonata_resolve",
    "read_path",
    "write_result_path",
]

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_last: tuple = (None, "")  # (the last container encoded, its text); swapped atomically


def dumps(value: Any) -> str:
    """JSON text exactly as AWS writes it in history events (compact).

    A state's output is usually the next state's input (the same object: the engine never
    mutates values), so the last container's text is reused instead of encoding it twice.
    """
    global _last
    if type(value) in (dict, list):
        last = _last
        if value is last[0]:
            return last[1]
        text = _ENCODE(value)
        _last = (value, text)
        return text
    return _ENCODE(value)


def forget_last() -> None:
    """Drop the reuse cache: called after user code (a task handler) ran, since it may have
    mutated an object it returned before."""
    global _last
    _last = (None, "")


class _NotPlain(Exception):
    pass


_SCALARS = (str, int, float, bool, type(None))


def _plain_copy(value: Any) -> Any:
    t = type(value)
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise _NotPlain
            out[k] = _plain_copy(v)
        return out
    if t is list:
        return [_plain_copy(v) for v in value]
    if t in _SCALARS and (t is not float or value == value):
        return value
    raise _NotPlain


def copy_json(value: Any, text: str) -> Any:
    """An independent copy of a JSON value whose text is `text`: a quick structural copy for
    plain dicts/lists/scalars, else the text decoded (normalises tuples, subclasses, ...)."""
    try:
        return _plain_copy(value)
    except _NotPlain:
        return json.loads(text)
