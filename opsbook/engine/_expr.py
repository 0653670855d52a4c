"""Adapter to the expression modules (paths, intrinsics, choice, jsonata_eval).

engine-expr owns those modules; until one exists this file supplies a minimal private fallback so
the core can run. Once all four are present the fallbacks are dead code (TODO: delete them).
"""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import StatesError

try:  # pragma: no cover - depends on which modules have landed
    from .paths import PathNotFound, evaluate_reference, evaluate_template, read_path
    from .paths import write_result_path

    HAVE_PATHS = True
except ImportError:  # pragma: no cover
    HAVE_PATHS = False

try:  # pragma: no cover
    from .choice import evaluate_rule

    HAVE_CHOICE = True
except ImportError:  # pragma: no cover
    HAVE_CHOICE = False

try:  # pragma: no cover
    from .jsonata_eval import evaluate as jsonata_evaluate

    HAVE_JSONATA = True
except ImportError:  # pragma: no cover
    HAVE_JSONATA = False


def dumps(value: Any) -> str:
    """JSON text exactly as AWS writes it in history events (compact)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- fallbacks (private, temporary)
if not HAVE_PATHS:  # pragma: no cover

    class PathNotFound(Exception):  # type: ignore[no-redef]
        def __init__(self, path: str):
            super().__init__(path)
            self.path = path

    _TOKEN = re.compile(r"\.([^.\[\]]+)|\['([^']*)'\]|\[(\d+)\]")

    def read_path(data: Any, path: str) -> Any:  # type: ignore[no-redef]
        if path == "$":
            return data
        if not path.startswith("$"):
            raise PathNotFound(path)
        cur = data
        pos = 1
        while pos < len(path):
            m = _TOKEN.match(path, pos)
            if not m:
                raise PathNotFound(path)
            key = m.group(1) if m.group(1) is not None else m.group(2)
            if key is not None:
                if not isinstance(cur, dict) or key not in cur:
                    raise PathNotFound(path)
                cur = cur[key]
            else:
                idx = int(m.group(3))
                if not isinstance(cur, list) or idx >= len(cur):
                    raise PathNotFound(path)
                cur = cur[idx]
            pos = m.end()
        return cur

    def write_result_path(data: Any, result_path: str | None, result: Any) -> Any:  # type: ignore[no-redef]
        if result_path is None:
            return data
        if result_path == "$":
            return result
        keys = [m.group(1) or m.group(2) for m in _TOKEN.finditer(result_path)]
        root = dict(data) if isinstance(data, dict) else {}
        cur = root
        for k in keys[:-1]:
            nxt = cur.get(k)
            nxt = dict(nxt) if isinstance(nxt, dict) else {}
            cur[k] = nxt
            cur = nxt
        cur[keys[-1]] = result
        return root

    def evaluate_reference(expr: str, input: Any, context: Any, variables=None) -> Any:  # type: ignore[no-redef]
        if expr.startswith("$$"):
            return read_path(context, expr[1:])
        if expr.startswith("$") and len(expr) > 1 and expr[1] not in ".[":
            m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", expr)
            name = m.group(1)
            if not variables or name not in variables:
                raise PathNotFound(expr)
            return read_path(variables[name], "$" + expr[m.end() :])
        return read_path(input, expr)

    def evaluate_template(template, input, context, variables=None, *, field="Parameters"):  # type: ignore[no-redef]
        if isinstance(template, dict):
            out = {}
            for k, v in template.items():
                if k.endswith(".$") and isinstance(v, str):
                    try:
                        out[k[:-2]] = evaluate_reference(v, input, context, variables)
                    except PathNotFound:
                        raise StatesError(
                            "States.Runtime",
                            f"The JSONPath '{v}' specified for the field '{k}' could not be found "
                            f"in the input '{dumps(input)}'",
                        ) from None
                else:
                    out[k] = evaluate_template(v, input, context, variables, field=field)
            return out
        if isinstance(template, list):
            return [evaluate_template(v, input, context, variables, field=field) for v in template]
        return template


if not HAVE_CHOICE:  # pragma: no cover

    def evaluate_rule(rule: dict, input: Any, context: Any, variables=None) -> bool:  # type: ignore[no-redef]
        if "And" in rule:
            return all(evaluate_rule(r, input, context, variables) for r in rule["And"])
        if "Or" in rule:
            return any(evaluate_rule(r, input, context, variables) for r in rule["Or"])
        if "Not" in rule:
            return not evaluate_rule(rule["Not"], input, context, variables)
        try:
            val = evaluate_reference(rule["Variable"], input, context, variables)
            present = True
        except PathNotFound:
            val, present = None, False
        for op, want in rule.items():
            if op in ("Variable", "Next", "Assign", "Output", "Comment"):
                continue
            if op == "IsPresent":
                return present == want
            if not present:
                return False
            if op.endswith("Path"):
                want = evaluate_reference(want, input, context, variables)
                op = op[:-4]
            num = isinstance(val, (int, float)) and not isinstance(val, bool)
            if op == "IsNull":
                return (val is None) == want
            if op == "IsNumeric":
                return num == want
            if op == "IsString":
                return isinstance(val, str) == want
            if op == "IsBoolean":
                return isinstance(val, bool) == want
            if op == "BooleanEquals":
                return isinstance(val, bool) and val == want
            kind = op.replace("Equals", "").replace("LessThan", "").replace("GreaterThan", "")
            if kind == "Numeric" and not num:
                return False
            if kind in ("String", "Timestamp") and not isinstance(val, str):
                return False
            rel = op[len(kind) :]
            return {
                "Equals": val == want,
                "LessThan": val < want,
                "GreaterThan": val > want,
                "LessThanEquals": val <= want,
                "GreaterThanEquals": val >= want,
            }.get(rel, False)
        return False


if not HAVE_JSONATA:  # pragma: no cover
    import jsonata as _jsonata

    _CACHE: dict[str, Any] = {}

    def jsonata_evaluate(expression: str, states: dict, variables: dict | None = None) -> Any:  # type: ignore[no-redef]
        expr = _CACHE.get(expression)
        if expr is None:
            expr = _CACHE[expression] = _jsonata.Jsonata(expression)
        frame = expr.create_frame()
        frame.bind("states", states)
        for k, v in (variables or {}).items():
            frame.bind(k, v)
        try:
            return expr.evaluate(None, frame)
        except Exception as exc:
            raise StatesError("States.QueryEvaluationError", str(exc)) from None
