"""Choice rules in JSONPath mode, as AWS Step Functions evaluates them.

API:
    evaluate_rule(rule, input, context, variables=None) -> bool
    parse_timestamp(text) -> tuple[int, int] | None   # (epoch seconds, nanoseconds) for RFC 3339
    string_matches(value, pattern) -> bool

A Variable (or a *Path comparand) that selects nothing raises StatesError("States.Runtime",
"Invalid path '<path>': The choice state's condition path references an invalid value.") -- the
engine core prefixes "An error occurred while executing the state ...". IsPresent never raises.
Comparisons between mismatched types are simply false, as on AWS.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from .errors import StatesError
from .paths import PathNotFound, read_path

__all__ = ["evaluate_rule", "parse_timestamp", "string_matches"]

_META = frozenset({"Variable", "Next", "Comment", "Assign", "Output"})


def evaluate_rule(rule: dict, input: Any, context: Any, variables: dict | None = None) -> bool:
    if "And" in rule:
        return all(evaluate_rule(r, input, context, variables) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate_rule(r, input, context, variables) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], input, context, variables)
    path = rule.get("Variable")
    op = _operator(rule)
    if op is None or not isinstance(path, str):
        raise StatesError("States.Runtime", "The choice rule has no comparison operator.")
    want = rule[op]
    try:
        value = read_path(input, path, context=context, variables=variables)
    except PathNotFound:
        if op == "IsPresent":
            return want is False
        raise StatesError("States.Runtime", _invalid_path(path)) from None
    if op == "IsPresent":
        return want is True
    if op.endswith("Path"):
        if not isinstance(want, str):
            raise StatesError("States.Runtime", _invalid_path(str(want)))
        try:
            want = read_path(input, want, context=context, variables=variables)
        except PathNotFound:
            raise StatesError("States.Runtime", _invalid_path(rule[op])) from None
        op = op[:-4]
    return _compare(op, value, want)


def _operator(rule: dict) -> str | None:
    for k in rule:
        if k not in _META:
            return k
    return None


def _invalid_path(path: str) -> str:
    return f"Invalid path '{path}': The choice state's condition path references an invalid value."


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _compare(op: str, value: Any, want: Any) -> bool:
    if op.startswith("Is"):
        if op == "IsNull":
            got = value is None
        elif op == "IsNumeric":
            got = _is_num(value)
        elif op == "IsString":
            got = isinstance(value, str)
        elif op == "IsBoolean":
            got = isinstance(value, bool)
        elif op == "IsTimestamp":
            got = isinstance(value, str) and parse_timestamp(value) is not None
        else:
            raise StatesError("States.Runtime", f"Unknown choice operator {op}")
        return got is (want is True)
    if op == "BooleanEquals":
        return isinstance(value, bool) and isinstance(want, bool) and value is want
    if op == "StringMatches":
        return isinstance(value, str) and isinstance(want, str) and string_matches(value, want)
    a: Any
    b: Any
    if op.startswith("String"):
        if not (isinstance(value, str) and isinstance(want, str)):
            return False
        a, b = value, want
        rel = op[6:]
    elif op.startswith("Numeric"):
        if not (_is_num(value) and _is_num(want)):
            return False
        a, b = value, want
        rel = op[7:]
    elif op.startswith("Timestamp"):
        if not (isinstance(value, str) and isinstance(want, str)):
            return False
        a, b = parse_timestamp(value), parse_timestamp(want)
        if a is None or b is None:
            return False
        rel = op[9:]
    else:
        raise StatesError("States.Runtime", f"Unknown choice operator {op}")
    if rel == "Equals":
        return a == b
    if rel == "LessThan":
        return a < b
    if rel == "GreaterThan":
        return a > b
    if rel == "LessThanEquals":
        return a <= b
    if rel == "GreaterThanEquals":
        return a >= b
    raise StatesError("States.Runtime", f"Unknown choice operator {op}")


# Java's ISO_OFFSET_DATE_TIME (case-insensitive, seconds optional, up to 9 fraction digits).
_TS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2})(?::(\d{2}))?)"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_timestamp(text: str) -> tuple[int, int] | None:
    """(epoch seconds, nanoseconds) of an RFC 3339 timestamp with an offset, else None."""
    return _parse_timestamp(text) if isinstance(text, str) else None


@lru_cache(maxsize=4096)
def _parse_timestamp(text: str) -> tuple[int, int] | None:
    m = _TS.fullmatch(text)
    if not m:
        return None
    y, mo, d, h, mi = (int(m.group(i)) for i in range(1, 6))
    sec = int(m.group(6) or 0)
    frac = m.group(7) or ""
    nanos = int(frac.ljust(9, "0")) if frac else 0
    try:
        local = datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
    except ValueError:
        return None
    offset = 0
    if not m.group(8):
        oh, om, osec = int(m.group(10)), int(m.group(11)), int(m.group(12) or 0)
        if oh > 18 or om > 59 or osec > 59:
            return None
        offset = oh * 3600 + om * 60 + osec
        if m.group(9) == "-":
            offset = -offset
    seconds = (local - _EPOCH) // timedelta(seconds=1) - offset
    return seconds, nanos


@lru_cache(maxsize=1024)
def _wildcard_regex(pattern: str) -> re.Pattern:
    # '*' matches any run of characters; '\*' is a literal star and '\\' a literal backslash.
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.S)


def string_matches(value: str, pattern: str) -> bool:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return False
    return _wildcard_regex(pattern).fullmatch(value) is not None
