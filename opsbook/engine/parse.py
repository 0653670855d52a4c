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


class _DupDict(dict):
    """A JSON object in which some keys appeared more than once (the last value wins)."""

    duplicates: list[str]


def _keep_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    dup = _DupDict(obj)
    dup.duplicates = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
    return dup


def _ptr(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _duplicate_diagnostics(data: Any) -> list[Diagnostic]:
    """Locate every duplicated key: DUPLICATE_STATE_NAME inside a States object."""
    out: list[Diagnostic] = []
    stack: list[tuple[Any, str, str]] = [(data, "", "")]
    while stack:
        value, loc, key = stack.pop()
        if isinstance(value, dict):
            if isinstance(value, _DupDict):
                for dup in dict.fromkeys(value.duplicates):
                    where = f"{loc}/{_ptr(dup)}"
                    if key == "States":
                        out.append(
                            Diagnostic(
                                "DUPLICATE_STATE_NAME",
                                f"The state name '{dup[:80]}' appears more than once",
                                where,
                            )
                        )
                    else:
                        out.append(
                            Diagnostic(
                                "SCHEMA_VALIDATION_FAILED",
                                f"The field '{dup[:80]}' appears more than once",
                                where,
                            )
                        )
            stack.extend((v, f"{loc}/{_ptr(k)}", k) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{loc}/{i}", str(i)) for i, v in enumerate(value))
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}': NaN and Infinity are not valid JSON")


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _too_deep(data: Any) -> bool:
    """Iterative (so safe on any input) check that containers nest at most MAX_DEPTH deep."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for child in value.values() if isinstance(value, dict) else value:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _parse_text(text: str, *, detect_duplicates: bool = True) -> tuple[Any, list[Diagnostic]]:
    if not text.strip():
        return None, [Diagnostic("SCHEMA_VALIDATION_FAILED", _NOT_OBJECT, "/")]
    duplicates: list[bool] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict:
        obj = _keep_duplicates(pairs)
        if type(obj) is _DupDict:
            duplicates.append(True)
        return obj

    try:
        data = json.loads(
            text,
            object_pairs_hook=hook if detect_duplicates else None,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        line, col = _line_col(text, exc.pos)
        where = f"line: {line}, column: {col}"
        return None, [Diagnostic("INVALID_JSON_DESCRIPTION", f"{exc.msg} at {where}", where)]
    except RecursionError:
        return None, [Diagnostic("TOO_DEEPLY_NESTED", "The JSON is too deeply nested", "/")]
    except (ValueError, TypeError) as exc:
        return None, [Diagnostic("INVALID_JSON_DESCRIPTION", str(exc)[:300], "/")]
    if not isinstance(data, dict):
        return None, [Diagnostic("SCHEMA_VALIDATION_FAILED", _NOT_OBJECT, "/")]
    # "[" or "{" must occur more than MAX_DEPTH times before nesting can be that deep
    if text.count("{") + text.count("[") > MAX_DEPTH and _too_deep(data):
        return None, [Diagnostic("TOO_DEEPLY_NESTED", "The definition is too deeply nested", "/")]
    if duplicates:
        return None, _duplicate_diagnostics(data)
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
            return None, [
                Diagnostic("TOO_DEEPLY_NESTED", "The definition is too deeply nested", "/")
            ]
        except (TypeError, ValueError) as exc:
            return None, [
                Diagnostic("INVALID_JSON_DESCRIPTION", f"Not a JSON document: {exc}"[:300], "/")
            ]
        if len(text) > MAX_DEFINITION_BYTES:
            return None, [_too_big(len(text))]
        # a dict cannot hold duplicate keys, so skip the (slower) duplicate-detecting parse
        data, diags = _parse_text(text, detect_duplicates=False)
    else:
        return None, [Diagnostic("SCHEMA_VALIDATION_FAILED", _NOT_OBJECT, "/")]
    return data, diags


def _too_big(size: int) -> Diagnostic:
    return Diagnostic(
        "SCHEMA_VALIDATION_FAILED",
        f"Definition size {size} bytes exceeds the maximum of {MAX_DEFINITION_BYTES} bytes",
        "/",
    )
