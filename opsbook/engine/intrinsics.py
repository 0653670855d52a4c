"""Intrinsic functions (States.*) for JSONPath states, as AWS Step Functions evaluates them.

API:
    call_intrinsic(expr, input, context, variables=None, *, field=None) -> Any
    parse_intrinsic(expr) -> Call          # cached; raises IntrinsicSyntaxError (a ValueError)
    validate_intrinsic(expr) -> str | None # a message when the call is malformed (for validate())
    FUNCTIONS: dict[str, (min_args, max_args)]

Runtime failures raise StatesError("States.Runtime", "Invalid arguments in States.<Name>") -- what
AWS reports (the engine core prefixes "An error occurred while executing the state ...").  A
malformed expression (which validate() rejects before any run) raises
StatesError("States.IntrinsicFailure", <message>).  A path argument that selects nothing raises
StatesError("States.Runtime", "The JSONPath '<p>' specified for the field '<field>' could not be
found in the input '<input>'").

AWS quirks reproduced (observed on AWS): MathAdd rounds operands half-up (Java Math.round) and
stays within int32; ArrayRange/ArrayGetItem/MathRandom truncate fractions; ArrayRange yields at
most 1000 items; ArrayGetItem on an empty array is null; ArrayContains compares scalars by their
text (true matches "true") and containers by their JSON text; Hash hashes non-strings by their
JSON text; Base64Decode is lenient like Java's MIME decoder; StringSplit splits on every
character of the separator and drops empty tokens; Format renders objects as Java maps
({a=1, b=[1, 2]}) and doubles as Java does (1.0E20); only \\' \\{ \\} \\\\ escapes are valid
(validate_intrinsic also checks literal Format templates and the 10-level nesting limit).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from .errors import StatesError
from .paths import (
    PathNotFound,
    PathSyntaxError,
    not_found_cause,
    parse_path,
    read_path,
    to_json,
)

__all__ = [
    "FUNCTIONS",
    "IntrinsicSyntaxError",
    "call_intrinsic",
    "format_value",
    "parse_intrinsic",
    "validate_intrinsic",
]


class IntrinsicSyntaxError(ValueError):
    """The text is not a well-formed intrinsic function call."""


# ------------------------------------------------------------------------------------ parsing
class Call(NamedTuple):
    name: str
    args: tuple


class Lit(NamedTuple):
    value: Any
    raw: str | None = None  # for string literals: the text with \{ \} escapes kept (Format)


class PathArg(NamedTuple):
    path: str


# (min, max) argument counts; max None = unbounded
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "States.Format": (1, None),
    "States.StringToJson": (1, 1),
    "States.JsonToString": (1, 1),
    "States.Array": (0, None),
    "States.ArrayPartition": (2, 2),
    "States.ArrayContains": (2, 2),
    "States.ArrayRange": (3, 3),
    "States.ArrayGetItem": (2, 2),
    "States.ArrayLength": (1, 1),
    "States.ArrayUnique": (1, 1),
    "States.Base64Encode": (1, 1),
    "States.Base64Decode": (1, 1),
    "States.Hash": (2, 2),
    "States.JsonMerge": (3, 3),
    "States.MathRandom": (2, 3),
    "States.MathAdd": (2, 2),
    "States.StringSplit": (2, 2),
    "States.UUID": (0, 0),
}


_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
MAX_NESTING = 10  # AWS: at most 10 nested intrinsic functions in a field


class _Parser:
    def __init__(self, text: str, strict: bool = False):
        self.s = text
        self.pos = 0
        self.strict = strict  # validation: reject escapes other than \' \{ \} \\

    def fail(self, what: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(f"{what} at position {self.pos} in '{self.s}'")

    def ws(self) -> None:
        s = self.s
        while self.pos < len(s) and s[self.pos] in " \t\r\n":
            self.pos += 1

    def parse(self) -> Call:
        self.ws()
        node = self.expr()
        self.ws()
        if self.pos != len(self.s):
            raise self.fail("Unexpected text")
        if not isinstance(node, Call):
            raise self.fail("Expected an intrinsic function call")
        return node

    def expr(self) -> Any:
        s = self.s
        self.ws()
        if self.pos >= len(s):
            raise self.fail("Unexpected end")
        c = s[self.pos]
        if c == "'":
            return self.string()
        if c == "$":
            return self.path()
        if c == "-" or c.isdigit():
            return self.number()
        if s.startswith("States.", self.pos):
            return self.call()
        for word, val in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, self.pos):
                end = self.pos + len(word)
                if end == len(s) or not (s[end].isalnum() or s[end] == "_"):
                    self.pos = end
                    return Lit(val)
        raise self.fail("Unexpected token")

    def call(self) -> Call:
        s = self.s
        start = self.pos
        self.pos += len("States.")
        while self.pos < len(s) and (s[self.pos].isalnum() or s[self.pos] == "_"):
            self.pos += 1
        name = s[start : self.pos]
        if name not in FUNCTIONS:
            raise IntrinsicSyntaxError(f"Unknown intrinsic function {name} in '{s}'")
        self.ws()
        if self.pos >= len(s) or s[self.pos] != "(":
            raise self.fail("Expected '('")
        self.pos += 1
        args: list = []
        self.ws()
        if self.pos < len(s) and s[self.pos] == ")":
            self.pos += 1
        else:
            while True:
                args.append(self.expr())
                self.ws()
                if self.pos < len(s) and s[self.pos] == ",":
                    self.pos += 1
                    continue
                if self.pos < len(s) and s[self.pos] == ")":
                    self.pos += 1
                    break
                raise self.fail("Expected ',' or ')'")
        lo, hi = FUNCTIONS[name]
        if len(args) < lo or (hi is not None and len(args) > hi):
            raise IntrinsicSyntaxError(
                f"{name} takes {_arity_text(lo, hi)} argument(s), got {len(args)} in '{s}'"
            )
        return Call(name, tuple(args))

    def string(self) -> Lit:
        s = self.s
        self.pos += 1
        value: list[str] = []
        raw: list[str] = []
        while self.pos < len(s):
            c = s[self.pos]
            if c == "\\" and self.pos + 1 < len(s):
                nxt = s[self.pos + 1]
                if nxt in "{}":
                    value.append(nxt)
                    raw.append("\\" + nxt)  # Format: an escaped brace is not a placeholder
                    self.pos += 2
                elif nxt in "'\\":
                    value.append(nxt)
                    raw.append("\\\\" if nxt == "\\" else nxt)
                    self.pos += 2
                else:  # only \' \{ \} \\ are escapes; any other backslash is literal
                    if self.strict:
                        raise self.fail(f"Invalid escape sequence '\\{nxt}'")
                    value.append(c)
                    raw.append("\\\\")
                    self.pos += 1
                continue
            if c == "'":
                self.pos += 1
                return Lit("".join(value), "".join(raw))
            value.append(c)
            raw.append(c)
            self.pos += 1
        raise self.fail("Unterminated string literal")

    def number(self) -> Lit:
        m = _NUMBER.match(self.s, self.pos)
        if not m or (
            m.end() < len(self.s) and (self.s[m.end()].isalnum() or self.s[m.end()] == ".")
        ):
            raise self.fail("Invalid number")
        self.pos = m.end()
        text = m.group(0)
        return Lit(float(text) if m.group(1) or m.group(2) else int(text))

    def path(self) -> PathArg:
        s = self.s
        start = self.pos
        depth = 0
        quote = None
        while self.pos < len(s):
            c = s[self.pos]
            if quote:
                if c == "\\" and self.pos + 1 < len(s):
                    self.pos += 2
                    continue
                if c == quote:
                    quote = None
            elif c in "'\"" and depth > 0:
                quote = c
            elif c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
            elif depth == 0 and c in ",) \t\r\n":
                break
            self.pos += 1
        text = s[start : self.pos]
        try:
            parse_path(text)
        except PathSyntaxError:
            raise self.fail(f"Invalid path '{text}'") from None
        return PathArg(text)


def _arity_text(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"at least {lo}"
    return str(lo) if lo == hi else f"{lo} to {hi}"


def parse_intrinsic(expr: str) -> Call:
    """Parse (cached) an intrinsic call; IntrinsicSyntaxError when malformed."""
    if not isinstance(expr, str):
        raise IntrinsicSyntaxError(f"Expected an intrinsic function call, got {expr!r}")
    return _parse_intrinsic(expr)


@lru_cache(maxsize=4096)
def _parse_intrinsic(expr: str) -> Call:
    return _Parser(expr).parse()


def validate_intrinsic(expr: str) -> str | None:
    """A message when the call cannot run: bad syntax, unknown function, wrong argument count,
    or a literal States.Format template whose {} count differs from its arguments."""
    if not isinstance(expr, str):
        return f"Expected an intrinsic function call, got {expr!r}"
    try:
        call = _Parser(expr, strict=True).parse()
    except IntrinsicSyntaxError as exc:
        return str(exc)
    if _depth(call) > MAX_NESTING:
        return f"Intrinsic functions can be nested at most {MAX_NESTING} deep in '{expr}'"
    return _check_formats(call)


def _depth(call: Call) -> int:
    return 1 + max((_depth(a) for a in call.args if type(a) is Call), default=0)


def _check_formats(call: Call) -> str | None:
    if call.name == "States.Format" and type(call.args[0]) is Lit:
        raw = call.args[0].raw
        if not isinstance(call.args[0].value, str):
            return "The first argument of States.Format must be a string"
        count = _placeholders(raw or "")
        if count is None:
            return f"Malformed States.Format template '{call.args[0].value}'"
        if count != len(call.args) - 1:
            return (
                f"States.Format template has {count} placeholder(s) but "
                f"{len(call.args) - 1} argument(s)"
            )
    for arg in call.args:
        if type(arg) is Call:
            problem = _check_formats(arg)
            if problem:
                return problem
    return None


def _placeholders(template: str) -> int | None:
    """Number of {} in a Format template (escapes honoured); None when a brace is unmatched."""
    count, i, n = 0, 0, len(template)
    while i < n:
        c = template[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            if i + 1 < n and template[i + 1] == "}":
                count += 1
                i += 2
                continue
            return None
        if c == "}":
            return None
        i += 1
    return count


# --------------------------------------------------------------------------------- evaluation
def call_intrinsic(
    expr: str,
    input: Any,
    context: Any,
    variables: dict | None = None,
    *,
    field: str | None = None,
) -> Any:
    try:
        call = parse_intrinsic(expr)
    except IntrinsicSyntaxError as exc:
        raise StatesError("States.IntrinsicFailure", str(exc)) from None
    return _eval_call(call, _Env(input, context, variables, field))


class _Env(NamedTuple):
    input: Any
    context: Any
    variables: dict | None
    field: str | None


def _eval_arg(node: Any, env: _Env) -> Any:
    if type(node) is Lit:
        return node.value
    if type(node) is PathArg:
        try:
            return read_path(env.input, node.path, context=env.context, variables=env.variables)
        except PathNotFound:
            field = env.field or "Parameters"
            raise StatesError(
                "States.Runtime", not_found_cause(node.path, field, env.input)
            ) from None
    return _eval_call(node, env)


def _eval_call(call: Call, env: _Env) -> Any:
    name = call.name
    if name == "States.Format":
        return _format(call, env)
    args = [_eval_arg(a, env) for a in call.args]
    return _IMPL[name](name, *args)


def _bad(name: str) -> StatesError:
    return StatesError("States.Runtime", f"Invalid arguments in {name}")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _java_round(x: float) -> int:
    # Java Math.round: half rounds up (towards +inf), which AWS uses for MathAdd.
    return math.floor(x + 0.5)


_INT32 = (-(2**31), 2**31 - 1)


def _int_arg(name: str, v: Any, *, rounding: str = "trunc") -> int:
    if not _is_num(v) or (isinstance(v, float) and not math.isfinite(v)):
        raise _bad(name)
    if isinstance(v, int):
        return v
    return _java_round(v) if rounding == "round" else math.trunc(v)


def _format(call: Call, env: _Env) -> str:
    name = call.name
    first = call.args[0]
    if type(first) is Lit:
        if not isinstance(first.value, str):
            raise _bad(name)
        template = first.raw if first.raw is not None else first.value
    else:
        template = _eval_arg(first, env)
        if not isinstance(template, str):
            raise _bad(name)
    values = [_eval_arg(a, env) for a in call.args[1:]]
    out: list[str] = []
    i, n, used = 0, len(template), 0
    while i < n:
        c = template[i]
        if c == "\\" and i + 1 < n:
            out.append(template[i + 1])
            i += 2
            continue
        if c == "{":
            if i + 1 < n and template[i + 1] == "}":
                if used >= len(values):
                    raise _bad(name)
                out.append(format_value(values[used]))
                used += 1
                i += 2
                continue
            raise _bad(name)
        if c == "}":
            raise _bad(name)
        out.append(c)
        i += 1
    if used != len(values):
        raise _bad(name)
    return "".join(out)


def format_value(v: Any, nested: bool = False) -> str:
    """How States.Format renders an argument: strings raw, JSON scalars as JSON, objects and
    arrays as Java's Map/List toString ({a=1, b=[1, 2]})."""
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _java_double(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={format_value(x, True)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(format_value(x, True) for x in v) + "]"
    return str(v)


def _java_double(v: float) -> str:
    """Java's Double.toString: plain between 1e-3 and 1e7, else d.dddE<n>."""
    if not math.isfinite(v):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
    if v == 0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"
    sign, digits, exponent = Decimal(repr(v)).as_tuple()
    exp = int(exponent)  # an int for a finite value
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exp += len(digits) - len(text)  # value = int(text) * 10**exp
    minus = "-" if sign else ""
    if 1e-3 <= abs(v) < 1e7:
        point = len(text) + exp  # digits before the decimal point
        if point <= 0:
            return f"{minus}0.{'0' * -point}{text}"
        if point >= len(text):
            return f"{minus}{text}{'0' * (point - len(text))}.0"
        return f"{minus}{text[:point]}.{text[point:]}"
    sci = len(text) + exp - 1
    return f"{minus}{text[0]}.{text[1:] or '0'}E{sci}"


def _string_to_json(name: str, s: Any) -> Any:
    if not isinstance(s, str):
        raise _bad(name)
    if not s.strip():
        return None
    try:
        return json.loads(s)
    except ValueError:
        raise _bad(name) from None


def _json_to_string(name: str, v: Any) -> str:
    return to_json(v)


def _array(name: str, *args: Any) -> list:
    return list(args)


def _array_partition(name: str, arr: Any, size: Any) -> list:
    if not isinstance(arr, list):
        raise _bad(name)
    n = _int_arg(name, size, rounding="round")
    if n <= 0:
        raise _bad(name)
    return [arr[i : i + n] for i in range(0, len(arr), n)]


def _array_contains(name: str, arr: Any, value: Any) -> bool:
    if not isinstance(arr, list):
        raise _bad(name)
    want = _contains_key(value)
    return any(_contains_key(x) == want for x in arr)


def _contains_key(v: Any) -> tuple:
    # As observed on AWS: scalars compare by their text (true matches "true", 7 matches "7",
    # false does not match 0), objects and arrays by their JSON text (key order matters).
    if isinstance(v, (dict, list)):
        return ("json", to_json(v))
    return ("text", format_value(v))


def _array_range(name: str, start: Any, end: Any, step: Any) -> list:
    a, b, s = (_int_arg(name, v) for v in (start, end, step))
    if s == 0:
        raise _bad(name)
    if (s > 0 and a > b) or (s < 0 and a < b):
        return []
    count = (b - a) // s + 1
    if count > 1000:
        raise _bad(name)
    return list(range(a, b + (1 if s > 0 else -1), s))


def _array_get_item(name: str, arr: Any, index: Any) -> Any:
    if not isinstance(arr, list):
        raise _bad(name)
    i = _int_arg(name, index)
    if not arr:
        return None  # AWS returns null for any index into an empty array
    if not 0 <= i < len(arr):
        raise _bad(name)
    return arr[i]


def _array_length(name: str, arr: Any) -> int:
    if not isinstance(arr, list):
        raise _bad(name)
    return len(arr)


def _array_unique(name: str, arr: Any) -> list:
    if not isinstance(arr, list):
        raise _bad(name)
    out: list = []
    seen: set = set()
    for x in arr:
        key = _hash_key(x)
        if key in seen:
            continue
        seen.add(key)
        out.append(x)
    return out


def _hash_key(x: Any) -> Any:
    # A hashable, type-exact identity for JSON values (True and 1 stay distinct; 1 and 1.0 equal).
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return (type(x).__name__, x)
    if isinstance(x, int):
        return ("int", x)
    if isinstance(x, float):
        return ("float", x)  # 1 and 1.0 stay distinct, as Jackson's nodes do
    return ("json", json.dumps(x, sort_keys=True, separators=(",", ":")))


def _base64_encode(name: str, s: Any) -> str:
    if not isinstance(s, str) or len(s) > 10000:
        raise _bad(name)
    return base64.b64encode(s.encode("utf-8")).decode("ascii")


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _base64_decode(name: str, s: Any) -> str:
    if not isinstance(s, str) or len(s) > 10000:
        raise _bad(name)
    # AWS decodes leniently (like Java's MIME decoder): characters outside the alphabet,
    # misplaced padding and surrounding spaces are ignored; bad UTF-8 becomes U+FFFD.
    text = "".join(ch for ch in s if ch in _B64_ALPHABET)
    if len(text) % 4 == 1:
        text = text[:-1]
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(text.encode("ascii"))
    except (ValueError, binascii.Error):
        raise _bad(name) from None
    return raw.decode("utf-8", errors="replace")


_HASHES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def hash_text(data: str, algorithm: str) -> str | None:
    algo = _HASHES.get(algorithm)
    if algo is None:
        return None
    return hashlib.new(algo, data.encode("utf-8")).hexdigest()


def _hash(name: str, data: Any, algorithm: Any) -> str:
    if not isinstance(data, str):
        data = to_json(data)  # AWS hashes numbers and objects by their JSON text
    if len(data) > 10000 or not isinstance(algorithm, str):
        raise _bad(name)
    out = hash_text(data, algorithm)
    if out is None:
        raise _bad(name)
    return out


def _json_merge(name: str, a: Any, b: Any, deep: Any) -> dict:
    if not isinstance(a, dict) or not isinstance(b, dict) or deep is not False:
        raise _bad(name)
    merged = dict(a)
    merged.update(b)
    return merged


def _math_random_seeded(name: str, start: Any, end: Any, *seed: Any) -> int:
    if seed and (seed[0] is None or not _is_num(seed[0])):
        raise _bad(name)
    # AWS truncates the bounds (MathRandom(1.6, 5.4) can return 1); the end is exclusive.
    a, b = _int_arg(name, start), _int_arg(name, end)
    if a >= b:
        raise _bad(name)
    if not seed:
        return random.randrange(a, b)
    return random.Random(_int_arg(name, seed[0])).randrange(a, b)


def _math_add(name: str, a: Any, b: Any) -> int:
    x, y = _int_arg(name, a, rounding="round"), _int_arg(name, b, rounding="round")
    lo, hi = _INT32
    total = x + y
    if not (lo <= x <= hi and lo <= y <= hi and lo <= total <= hi):
        raise _bad(name)
    return total


def _string_split(name: str, s: Any, sep: Any) -> list:
    if not isinstance(s, str) or not isinstance(sep, str):
        raise _bad(name)
    # Java StringTokenizer: every character of sep is a delimiter; empty tokens are dropped.
    if not sep:
        return [s] if s else []
    out: list[str] = []
    cur: list[str] = []
    delims = set(sep)
    for ch in s:
        if ch in delims:
            if cur:
                out.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def _uuid(name: str) -> str:
    return str(uuid.uuid4())


_IMPL: dict[str, Callable[..., Any]] = {
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": _array,
    "States.ArrayPartition": _array_partition,
    "States.ArrayContains": _array_contains,
    "States.ArrayRange": _array_range,
    "States.ArrayGetItem": _array_get_item,
    "States.ArrayLength": _array_length,
    "States.ArrayUnique": _array_unique,
    "States.Base64Encode": _base64_encode,
    "States.Base64Decode": _base64_decode,
    "States.Hash": _hash,
    "States.JsonMerge": _json_merge,
    "States.MathRandom": _math_random_seeded,
    "States.MathAdd": _math_add,
    "States.StringSplit": _string_split,
    "States.UUID": _uuid,
}
