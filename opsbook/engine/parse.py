"""Load a state machine definition (dict, JSON text or bytes) into plain JSON data.

Never raises: every problem becomes a Diagnostic, in the manner of AWS's
ValidateStateMachineDefinition (INVALID_JSON_DESCRIPTION, SCHEMA_VALIDATION_FAILED, ...).
"""

from __future__ import annotations

import json
from typing import Any

from opsbook.engine.errors import Diagnostic

# AWS caps a definition at 1 MiB; anything larger is rejected before parsing (keeps us fast).
MAX_DEFINITION_BYTES = 1_048_576
# Deeper JSON than this is not a real state machine; refusing it keeps every walker off the
# Python recursion limit.
MAX_DEPTH = 150

_NOT_OBJECT = "Definition must be a valid JSON object"


class _Duplicate(Exception):
    def __init__(self, key: str):
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}': NaN and Infinity are not valid JSON")


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _too_deep(data: Any) -> bool:
    """Iterative depth check (no recursion, so it is safe on any input)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return False


def _parse_text(text: str) -> tuple[Any, list[Diagnostic]]:
    if not text.strip():
        return None, [Diagnostic("SCHEMA_VALIDATION_FAILED", _NOT_OBJECT, "/")]
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except _Duplicate as dup:
        return None, [
            Diagnostic(
                "INVALID_JSON_DESCRIPTION",
                f"Duplicate field '{dup.key[:200]}'",
                "/",
            )
        ]
    except json.JSONDecodeError as exc:
        line, col = _line_col(text, exc.pos)
        where = f"line: {line}, column: {col}"
        return None, [Diagnostic("INVALID_JSON_DESCRIPTION", f"{exc.msg} at {where}", where)]
    except RecursionError:
        return None, [Diagnostic("TOO_DEEPLY_NESTED", "The JSON is too deeply nested", "/")]
    except (ValueError, TypeError) as exc:
        return None, [Diagnostic("INVALID_JSON_DESCRIPTION", str(exc)[:300], "/")]
    return data, []


def load_definition(definition: Any) -> tuple[dict | None, list[Diagnostic]]:
    """Return (definition as plain JSON dict, []) or (None, diagnostics). Never raises."""
    try:
        return _load(definition)
    except Exception as exc:  # last line of defence: malformed input must not escape
        return None, [Diagnostic("INVALID_JSON_DESCRIPTION", f"Unreadable definition: {exc}", "/")]


def _load(definition: Any) -> tuple[dict | None, list[Diagnostic]]:
    if definition is None:
        return None, [Diagnostic("MISSING_DESCRIPTION", "The definition is empty", "/")]
    if isinstance(definition, bytes | bytearray | memoryview):
        if len(definition) > MAX_DEFINITION_BYTES:
            return None, [_too_big(len(definition))]
        try:
            definition = bytes(definition).decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, [
                Diagnostic("INVALID_JSON_DESCRIPTION", f"Invalid UTF-8: {exc.reason}", "/")
            ]
    if isinstance(definition, str):
        # len(str) <= bytes in UTF-8, so check the cheap bound first.
        if len(definition) > MAX_DEFINITION_BYTES or (
            len(definition) * 4 > MAX_DEFINITION_BYTES
            and len(definition.encode("utf-8", "surrogatepass")) > MAX_DEFINITION_BYTES
        ):
            return None, [_too_big(len(definition.encode("utf-8", "surrogatepass")))]
        data, diags = _parse_text(definition)
    elif isinstance(definition, dict):
        # Round-trip through JSON text: rejects cycles, NaN, non-JSON values and non-string
        # keys exactly as AWS (which only ever sees text) would, and gives us plain data.
        try:
            text = json.dumps(definition, allow_nan=False, ensure_ascii=False)
        except RecursionError:
            return None, [Diagnostic("TOO_DEEPLY_NESTED", "The definition is too deeply nested", "/")]
        except (TypeError, ValueError) as exc:
            return None, [
                Diagnostic("INVALID_JSON_DESCRIPTION", f"Not a JSON document: {exc}"[:300], "/")
            ]
        if len(text) > MAX_DEFINITION_BYTES:
            return None, [_too_big(len(text))]
        data, diags = _parse_text(text)
    else:
        return None, [Diagnostic("SCHEMA_VALIDATION_FAILED", _NOT_OBJECT, "/")]
    if diags:
        return None, diags
    if not isinstance(data, dict):
        return None, [Diagnostic("SCHEMA_VALIDATION_FAILED", _NOT_OBJECT, "/")]
    if _too_deep(data):
        return None, [Diagnostic("TOO_DEEPLY_NESTED", "The definition is too deeply nested", "/")]
    return data, []


def _too_big(size: int) -> Diagnostic:
    return Diagnostic(
        "SCHEMA_VALIDATION_FAILED",
        f"Definition size {size} bytes exceeds the maximum of {MAX_DEFINITION_BYTES} bytes",
        "/",
    )
