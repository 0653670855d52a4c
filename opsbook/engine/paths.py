"""JSONPath as AWS Step Functions implements it (Jayway semantics), ResultPath and payload templates.

API (the contract, plus keyword-only extras that default to the contract's behaviour):

    class PathNotFound(Exception): path: str; normalized: str
    read_path(data, path, *, context=None, variables=None) -> Any          # raises PathNotFound
    write_result_path(data, result_path, result) -> Any
        # StatesError("States.ReferencePathConflict", 'Unable to apply step "k" to input <json>')
    evaluate_template(template, input, context, variables=None, *, field="Parameters") -> Any
    evaluate_reference(expr, input, context, variables=None, *, field=None) -> Any
    is_definite(path) -> bool; parse_path(path) -> ParsedPath (cached); to_json(value) -> str
    invalid_path_cause(path) -> str   # InputPath/OutputPath/ItemsPath miss, as AWS words it

Causes are the part AWS writes after "An error occurred while executing the state '<name>'
(entered at the event id #<n>). " -- the caller (engine core) adds that prefix.

Values are never copied: results share structure with their inputs, so callers must treat every
JSON value as immutable (write_result_path copies only the spine it changes).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from .errors import StatesError

__all__ = [
    "PathNotFound",
    "PathSyntaxError",
    "invalid_path_cause",
    "is_definite",
    "not_found_cause",
    "parse_path",
    "read_path",
    "to_json",
    "write_result_path",
]


def to_json(value: Any) -> str:
    """Compact JSON as AWS serialises payloads (Jackson: no spaces, non-ASCII kept)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class PathNotFound(Exception):
    """A definite path matched nothing."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path

    @property
    def normalized(self) -> str:
        return normalized_path(self.path)


class PathSyntaxError(ValueError):
    """The path text is not a JSONPath AWS accepts."""


def invalid_path_cause(path: str) -> str:
    """AWS's cause when InputPath/OutputPath/ItemsPath selects nothing."""
    return f"Invalid path '{path}' : No results for path: {normalized_path(path)}"


# ------------------------------------------------------------------------------------ parsing
# A step is a tuple: ("key", name) ("index", i) ("wild",) ("slice", a, b, c) ("union", items)
# ("deep", name-or-None) ("filter", predicate)


class ParsedPath:
    """A parsed path (immutable by convention; slots keep attribute reads fast)."""

    __slots__ = ("root", "steps", "definite", "simple_keys")

    def __init__(self, root: str, steps: tuple, definite: bool, simple_keys: tuple | None):
        self.root = root  # "$" (input), "$$" (context) or a variable name
        self.steps = steps
        self.definite = definite
        self.simple_keys = simple_keys  # the keys when every step is a plain key: the fast path


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT = re.compile(r"-?\d+")


def parse_path(path: str) -> ParsedPath:
    """Parse (cached) a JSONPath; PathSyntaxError for anything AWS would not accept."""
    if not isinstance(path, str):
        raise PathSyntaxError(f"Invalid path '{path}'")
    return _parse_path(path)


@lru_cache(maxsize=8192)
def _parse_path(path: str) -> ParsedPath:
    if not path.startswith("$"):
        raise PathSyntaxError(f"Invalid path '{path}'")
    if path.startswith("$$"):
        root, pos = "$$", 2
    else:
        m = _IDENT.match(path, 1)
        if m:
            root, pos = m.group(0), m.end()
        else:
            root, pos = "$", 1
    steps: list[tuple] = []
    n = len(path)
    while pos < n:
        c = path[pos]
        if path.startswith("..", pos):
            pos += 2
            if pos < n and path[pos] == "*":
                steps.append(("deep", None))
                pos += 1
            elif pos < n and path[pos] == "[":
                steps.append(("deep", None))
            else:
                end = _name_end(path, pos)
                if end == pos:
                    raise PathSyntaxError(f"Invalid path '{path}'")
                steps.append(("deep", path[pos:end]))
                pos = end
        elif c == ".":
            pos += 1
            if pos < n and path[pos] == "*":
                steps.append(("wild",))
                pos += 1
                continue
            end = _name_end(path, pos)
            if end == pos:
                raise PathSyntaxError(f"Invalid path '{path}'")
            steps.append(("key", path[pos:end]))
            pos = end
        elif c == "[":
            step, pos = _parse_bracket(path, pos + 1)
            steps.append(step)
        else:
            raise PathSyntaxError(f"Invalid path '{path}'")
    definite = all(s[0] in ("key", "index") for s in steps)
    simple = tuple(s[1] for s in steps) if all(s[0] == "key" for s in steps) else None
    return ParsedPath(root, tuple(steps), definite, simple)


def _name_end(path: str, pos: int) -> int:
    n = len(path)
    while pos < n and path[pos] not in ".[":
        pos += 1
    return pos


def _parse_bracket(path: str, pos: int) -> tuple[tuple, int]:
    """Parse the inside of [...] starting after '['; return (step, position after ']')."""
    n = len(path)
    pos = _skip_ws(path, pos)
    if pos >= n:
        raise PathSyntaxError(f"Invalid path '{path}'")
    c = path[pos]
    if c == "*":
        pos = _expect(path, _skip_ws(path, pos + 1), "]")
        return ("wild",), pos
    if c == "?":
        pos = _expect(path, _skip_ws(path, pos + 1), "(")
        pred, pos = _FilterParser(path, pos).parse()
        pos = _expect(path, _skip_ws(path, pos), ")")
        pos = _expect(path, _skip_ws(path, pos), "]")
        return ("filter", pred), pos
    if c in "'\"":
        names = []
        while True:
            name, pos = _read_quoted(path, pos)
            names.append(name)
            pos = _skip_ws(path, pos)
            if pos < n and path[pos] == ",":
                pos = _skip_ws(path, pos + 1)
                continue
            pos = _expect(path, pos, "]")
            break
        return (("key", names[0]) if len(names) == 1 else ("union", tuple(names))), pos
    # numbers: index, union of indexes, or slice
    end = path.find("]", pos)
    if end < 0:
        raise PathSyntaxError(f"Invalid path '{path}'")
    body = path[pos:end].replace(" ", "")
    if ":" in body:
        parts = body.split(":")
        if len(parts) > 3 or any(p and not _INT.fullmatch(p) for p in parts):
            raise PathSyntaxError(f"Invalid path '{path}'")
        vals = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
        return ("slice", vals[0], vals[1], vals[2]), end + 1
    items = body.split(",")
    if not items or any(not _INT.fullmatch(i) for i in items):
        raise PathSyntaxError(f"Invalid path '{path}'")
    if len(items) == 1:
        return ("index", int(items[0])), end + 1
    return ("union", tuple(int(i) for i in items)), end + 1


def _skip_ws(path: str, pos: int) -> int:
    while pos < len(path) and path[pos] == " ":
        pos += 1
    return pos


def _expect(path: str, pos: int, ch: str) -> int:
    if pos >= len(path) or path[pos] != ch:
        raise PathSyntaxError(f"Invalid path '{path}'")
    return pos + 1


def _read_quoted(path: str, pos: int) -> tuple[str, int]:
    """A quoted bracket name. Only an escaped quote is unescaped; other backslashes stay
    literal (AWS reads $['a\\"b'] as the key a\\"b)."""
    quote = path[pos]
    pos += 1
    out = []
    n = len(path)
    while pos < n:
        c = path[pos]
        if c == "\\" and pos + 1 < n and path[pos + 1] == quote:
            out.append(quote)
            pos += 2
            continue
        if c == quote:
            return "".join(out), pos + 1
        out.append(c)
        pos += 1
    raise PathSyntaxError(f"Invalid path '{path}'")


class _FilterParser:
    """Filter predicates: @.a.b / $.x operands, literals, == != < <= > >=, =~ /re/, &&, ||, !."""

    def __init__(self, text: str, pos: int):
        self.s = text
        self.pos = pos

    def parse(self) -> tuple[tuple, int]:
        node = self._or()
        return node, self.pos

    def _ws(self) -> None:
        self.pos = _skip_ws(self.s, self.pos)

    def _or(self) -> tuple:
        left = self._and()
        while True:
            self._ws()
            if self.s.startswith("||", self.pos):
                self.pos += 2
                left = ("or", left, self._and())
            else:
                return left

    def _and(self) -> tuple:
        left = self._unary()
        while True:
            self._ws()
            if self.s.startswith("&&", self.pos):
                self.pos += 2
                left = ("and", left, self._unary())
            else:
                return left

    def _unary(self) -> tuple:
        self._ws()
        if self.s.startswith("!", self.pos) and not self.s.startswith("!=", self.pos):
            self.pos += 1
            return ("not", self._unary())
        if self.s.startswith("(", self.pos):
            self.pos += 1
            node = self._or()
            self._ws()
            self.pos = _expect(self.s, self.pos, ")")
            return node
        left = self._operand()
        self._ws()
        for op in ("==", "!=", "<=", ">=", "=~", "<", ">"):
            if self.s.startswith(op, self.pos):
                self.pos += len(op)
                self._ws()
                if op == "=~":
                    return ("cmp", op, left, self._regex())
                return ("cmp", op, left, self._operand())
        if left[0] != "rel":
            raise PathSyntaxError(f"Invalid path '{self.s}'")
        return ("exists", left)

    def _regex(self) -> tuple:
        s = self.s
        if self.pos >= len(s) or s[self.pos] != "/":
            raise PathSyntaxError(f"Invalid path '{s}'")
        end = s.find("/", self.pos + 1)
        if end < 0:
            raise PathSyntaxError(f"Invalid path '{s}'")
        body = s[self.pos + 1 : end]
        self.pos = end + 1
        flags = 0
        while self.pos < len(s) and s[self.pos] in "imsx":
            flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[s[self.pos]]
            self.pos += 1
        return ("regex", re.compile(body, flags))

    def _operand(self) -> tuple:
        s = self.s
        self._ws()
        if self.pos >= len(s):
            raise PathSyntaxError(f"Invalid path '{s}'")
        c = s[self.pos]
        if c in "@$":
            start = self.pos
            self.pos += 1
            depth = 0
            while self.pos < len(s):
                ch = s[self.pos]
                if ch == "[":
                    depth += 1
                elif ch == "]":
                    if depth == 0:
                        break
                    depth -= 1
                elif depth == 0 and (ch in " )=!<>&|"):
                    break
                self.pos += 1
            text = s[start : self.pos]
            sub = "$" + text[1:]
            parse_path(sub)  # validate
            return ("rel" if c == "@" else "abs", sub)
        if c in "'\"":
            val, self.pos = _read_quoted(s, self.pos)
            return ("lit", val)
        m = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?").match(s, self.pos)
        if m:
            self.pos = m.end()
            txt = m.group(0)
            return ("lit", float(txt) if any(ch in txt for ch in ".eE") else int(txt))
        for word, constant in (("true", True), ("false", False), ("null", None)):
            if s.startswith(word, self.pos):
                self.pos += len(word)
                return ("lit", constant)
        raise PathSyntaxError(f"Invalid path '{s}'")


def is_definite(path: str) -> bool:
    return parse_path(path).definite


def normalized_path(path: str) -> str:
    return _normalized_path(path) if isinstance(path, str) else str(path)


@lru_cache(maxsize=4096)
def _normalized_path(path: str) -> str:
    """Jayway's normalised form used in AWS causes: $.a.b[0] -> $['a']['b'][0]."""
    try:
        p = parse_path(path)
    except PathSyntaxError:
        return path
    out = ["$" if p.root in ("$", "$$") else "$" + p.root]
    for s in p.steps:
        kind = s[0]
        if kind == "key":
            out.append(f"['{s[1]}']")
        elif kind == "index":
            out.append(f"[{s[1]}]")
        elif kind == "wild":
            out.append("[*]")
        elif kind == "deep":
            out.append(f"..['{s[1]}']" if s[1] else "..[*]")
        elif kind == "union":
            out.append(
                "[" + ",".join(f"'{i}'" if isinstance(i, str) else str(i) for i in s[1]) + "]"
            )
        elif kind == "slice":
            a, b, _c = s[1], s[2], s[3]
            out.append(f"[{'' if a is None else a}:{'' if b is None else b}]")
        else:
            out.append("[?]")
    return "".join(out)


# ----------------------------------------------------------------------------------- reading
_MISSING = object()


def read_path(data: Any, path: str, *, context: Any = None, variables: dict | None = None) -> Any:
    """Read a JSONPath. Definite paths return the value or raise PathNotFound; indefinite paths
    (wildcards, slices, filters, unions, ..) return a list, possibly empty."""
    if path == "$":
        return data
    try:
        p = parse_path(path)
    except PathSyntaxError:
        raise PathNotFound(path) from None
    if p.root == "$":
        cur = data
    elif p.root == "$$":
        cur = context
    else:
        if variables is None or p.root not in variables:
            raise PathNotFound(path)
        cur = variables[p.root]
    keys = p.simple_keys
    if keys is not None:
        for k in keys:
            if type(cur) is not dict:
                raise PathNotFound(path)
            cur = cur.get(k, _MISSING)
            if cur is _MISSING:
                raise PathNotFound(path)
        return cur
    if p.definite:
        for s in p.steps:
            if s[0] == "key":
                if not isinstance(cur, dict) or s[1] not in cur:
                    raise PathNotFound(path)
                cur = cur[s[1]]
            else:
                i = s[1]
                if not isinstance(cur, list) or not -len(cur) <= i < len(cur):
                    raise PathNotFound(path)
                cur = cur[i]
        return cur
    results = [cur]
    for s in p.steps:
        results = _apply_step(s, results, data, context, variables)
    return results


def _apply_step(step: tuple, values: list, root: Any, context: Any, variables: Any) -> list:
    kind = step[0]
    out: list = []
    for v in values:
        if kind == "key":
            if isinstance(v, dict) and step[1] in v:
                out.append(v[step[1]])
        elif kind == "index":
            if isinstance(v, list) and -len(v) <= step[1] < len(v):
                out.append(v[step[1]])
        elif kind == "wild":
            if isinstance(v, dict):
                out.extend(v.values())
            elif isinstance(v, list):
                out.extend(v)
        elif kind == "slice":
            if isinstance(v, list):
                out.extend(v[slice(step[1], step[2], step[3])])
        elif kind == "union":
            for item in step[1]:
                if isinstance(item, str):
                    if isinstance(v, dict) and item in v:
                        out.append(v[item])
                elif isinstance(v, list) and -len(v) <= item < len(v):
                    out.append(v[item])
        elif kind == "deep":
            _descend(v, step[1], out)
        elif kind == "filter":
            items = v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else []
            for item in items:
                if _filter_true(step[1], item, root, context, variables):
                    out.append(item)
    return out


def _descend(v: Any, name: str | None, out: list) -> None:
    if isinstance(v, dict):
        if name is None:
            out.extend(v.values())
        elif name in v:
            out.append(v[name])
        for child in v.values():
            _descend(child, name, out)
    elif isinstance(v, list):
        if name is None:
            out.extend(v)
        for child in v:
            _descend(child, name, out)


def _operand_value(node: tuple, item: Any, root: Any, context: Any, variables: Any) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "regex":
        return node[1]
    base = item if kind == "rel" else root
    try:
        return read_path(base, node[1], context=context, variables=variables)
    except PathNotFound:
        return _MISSING


def _filter_true(node: tuple, item: Any, root: Any, context: Any, variables: Any) -> bool:
    kind = node[0]
    if kind == "and":
        return _filter_true(node[1], item, root, context, variables) and _filter_true(
            node[2], item, root, context, variables
        )
    if kind == "or":
        return _filter_true(node[1], item, root, context, variables) or _filter_true(
            node[2], item, root, context, variables
        )
    if kind == "not":
        return not _filter_true(node[1], item, root, context, variables)
    if kind == "exists":
        return _operand_value(node[1], item, root, context, variables) is not _MISSING
    _, op, lnode, rnode = node
    left = _operand_value(lnode, item, root, context, variables)
    right = _operand_value(rnode, item, root, context, variables)
    if left is _MISSING or right is _MISSING:
        return False
    if op == "=~":
        return isinstance(left, str) and right.search(left) is not None
    if op == "==":
        return json_equal(left, right)
    if op == "!=":
        return not json_equal(left, right)
    if _is_number(left) and _is_number(right) or type(left) is str and type(right) is str:
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        return left >= right
    return False


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans never equal numbers (Python's True == 1 does)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# ------------------------------------------------------------------------------- ResultPath
def write_result_path(data: Any, result_path: str | None, result: Any) -> Any:
    """Place `result` into `data` at `result_path` as AWS does; never mutates `data`.

    Missing (or null) intermediate fields are created as objects, an existing field is
    overwritten.  A step that cannot be applied (the input, or a value on the way, is not an
    object) raises StatesError("States.ReferencePathConflict",
    'Unable to apply step "<field>" to input <compact input JSON>'), as AWS reports it."""
    if result_path is None:
        return data
    if result_path == "$":
        return result
    try:
        p = parse_path(result_path)
    except PathSyntaxError:
        p = None
    if p is None or p.root != "$" or not p.definite:
        raise StatesError("States.Runtime", f"Invalid path '{result_path}'")
    steps = p.steps
    root = _copy_container(data, steps[0], data)
    cur: Any = root
    last = len(steps) - 1
    for i, s in enumerate(steps):
        key = s[1]
        if i == last:
            cur[key] = result
            break
        if s[0] == "key":
            nxt = cur.get(key)
            if nxt is None:
                nxt = {}
            else:
                nxt = _copy_container(nxt, steps[i + 1], data)
        else:
            nxt = _copy_container(cur[key], steps[i + 1], data)
        cur[key] = nxt
        cur = nxt
    return root


def _copy_container(value: Any, step: tuple, data: Any) -> Any:
    """A shallow copy of `value` when `step` can be applied to it, else the AWS conflict error."""
    if step[0] == "key" and isinstance(value, dict):
        return dict(value)
    if step[0] == "index" and isinstance(value, list) and -len(value) <= step[1] < len(value):
        return list(value)
    raise StatesError(
        "States.ReferencePathConflict",
        f'Unable to apply step "{step[1]}" to input {to_json(data)}',
    )


def not_found_cause(path: str, field: str, input: Any) -> str:
    return (
        f"The JSONPath '{path}' specified for the field '{field}' could not be found "
        f"in the input '{to_json(input)}'"
    )
