"""Static validation of Amazon States Language definitions, like ValidateStateMachineDefinition.

validate(definition) -> list[Diagnostic]; [] means valid. It never raises: malformed input of
any kind becomes diagnostics. Codes follow AWS (SCHEMA_VALIDATION_FAILED, INVALID_JSON_DESCRIPTION,
MISSING_TRANSITION_TARGET, MISSING_END_STATE, INVALID_RESOURCE, INVALID_STATE_NAME, ...);
locations are JSON pointers into the definition ("/States/CheckRecords/Next").
Warnings (severity "WARNING": NO_DOLLAR, PASS_RESULT_IS_STATIC) do not make a definition invalid.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from opsbook.engine.errors import Diagnostic
from opsbook.engine.intrinsics import validate_intrinsic
from opsbook.engine.parse import load_definition
from opsbook.engine.paths import parse_path

MAX_DIAGNOSTICS = 100  # AWS truncates its diagnostics list at 100
JSONPATH, JSONATA = "JSONPath", "JSONata"
SCHEMA = "SCHEMA_VALIDATION_FAILED"
MISSING_TARGET = "MISSING_TRANSITION_TARGET"

_TOP_FIELDS = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
_BRANCH_FIELDS = {"StartAt", "States", "Comment"}
_PROCESSOR_FIELDS = {"StartAt", "States", "Comment", "ProcessorConfig"}

_COMMON = {"Type", "Comment", "QueryLanguage"}
_FLOW = {"Next", "End"}
_JP_IO = {"InputPath", "OutputPath"}
_JP_RESULT = {"Parameters", "ResultSelector", "ResultPath"}
# Fields allowed per state type and query language (besides _COMMON).
_FIELDS: dict[str, dict[str, set[str]]] = {
    "Pass": {
        JSONPATH: _FLOW | _JP_IO | {"Parameters", "ResultPath", "Result", "Assign"},
        JSONATA: _FLOW | {"Output", "Assign"},
    },
    "Task": {
        JSONPATH: _FLOW
        | _JP_IO
        | _JP_RESULT
        | {"Resource", "Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath"}
        | {"HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials", "Assign"},
        JSONATA: _FLOW
        | {"Resource", "Arguments", "Output", "Retry", "Catch", "TimeoutSeconds"}
        | {"HeartbeatSeconds", "Credentials", "Assign"},
    },
    "Choice": {
        JSONPATH: _JP_IO | {"Choices", "Default", "Assign"},
        JSONATA: {"Choices", "Default", "Output", "Assign"},
    },
    "Wait": {
        JSONPATH: _FLOW
        | _JP_IO
        | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"}
        | {"Assign"},
        JSONATA: _FLOW | {"Seconds", "Timestamp", "Output", "Assign"},
    },
    "Succeed": {JSONPATH: set(_JP_IO), JSONATA: {"Output"}},
    "Fail": {JSONPATH: {"Error", "ErrorPath", "Cause", "CausePath"}, JSONATA: {"Error", "Cause"}},
    "Parallel": {
        JSONPATH: _FLOW | _JP_IO | _JP_RESULT | {"Branches", "Retry", "Catch", "Assign"},
        JSONATA: _FLOW | {"Branches", "Arguments", "Output", "Retry", "Catch", "Assign"},
    },
    "Map": {
        JSONPATH: _FLOW
        | _JP_IO
        | _JP_RESULT
        | {"ItemProcessor", "Iterator", "ItemsPath", "ItemSelector", "ItemReader"}
        | {"ItemBatcher", "ResultWriter", "MaxConcurrency", "MaxConcurrencyPath"}
        | {"ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage"}
        | {"ToleratedFailurePercentagePath", "Label", "Retry", "Catch", "Assign"},
        JSONATA: _FLOW
        | {"ItemProcessor", "Iterator", "Items", "ItemSelector", "ItemReader", "ItemBatcher"}
        | {"ResultWriter", "MaxConcurrency", "ToleratedFailureCount"}
        | {"ToleratedFailurePercentage", "Label", "Output", "Retry", "Catch", "Assign"},
    },
}
_JSONPATH_ONLY = {
    "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Result",
    "SecondsPath", "TimestampPath", "ErrorPath", "CausePath", "TimeoutSecondsPath",
    "HeartbeatSecondsPath", "ItemsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath", "Variable",
}  # fmt: skip
_JSONATA_ONLY = {"Arguments", "Output", "Condition", "Items"}

_RETRY_FIELDS = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate"} | {
    "MaxDelaySeconds", "JitterStrategy", "Comment"
}  # fmt: skip
_CATCH_FIELDS = {JSONPATH: {"ErrorEquals", "Next", "ResultPath", "Comment", "Assign"},
                 JSONATA: {"ErrorEquals", "Next", "Output", "Comment", "Assign"}}  # fmt: skip

_STRING_OPS = ["StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals",
               "StringGreaterThanEquals"]  # fmt: skip
_NUMERIC_OPS = ["NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals",
                "NumericGreaterThanEquals"]  # fmt: skip
_TIMESTAMP_OPS = ["TimestampEquals", "TimestampLessThan", "TimestampGreaterThan",
                  "TimestampLessThanEquals", "TimestampGreaterThanEquals"]  # fmt: skip
# Comparison operator -> expected operand kind.
_OPERATORS: dict[str, str] = {"StringMatches": "string", "BooleanEquals": "boolean"}
_OPERATORS.update({op: "string" for op in _STRING_OPS})
_OPERATORS.update({op: "number" for op in _NUMERIC_OPS})
_OPERATORS.update({op: "timestamp" for op in _TIMESTAMP_OPS})
for _op in [*_STRING_OPS, *_NUMERIC_OPS, *_TIMESTAMP_OPS, "BooleanEquals"]:
    _OPERATORS[_op + "Path"] = "path"
for _op in ["IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"]:
    _OPERATORS[_op] = "boolean"

_MAX_INT = 99_999_999
_TIMESTAMP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z", re.ASCII
)
_LABEL_BAD = set(' \t\n\r<>{}[]?*"#%\\^|~`$&,;:/')


def _ptr(part: Any) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_jsonata(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


# jsonata-python's parser is superlinear in path steps (4,000 steps take seconds), so huge
# expressions are left to run time (with a warning) rather than stall validate().
MAX_JSONATA_CHARS = 10_000
MAX_JSONATA_STEPS = 300


MAX_JSONATA_NESTING = 100


def too_costly_to_parse(expression: str) -> bool:
    if len(expression) > MAX_JSONATA_CHARS or expression.count(".") > MAX_JSONATA_STEPS:
        return True
    if expression.count("(") + expression.count("[") + expression.count("{") <= MAX_JSONATA_NESTING:
        return False
    depth = 0  # deep nesting makes the recursive-descent parser slow (and blow the stack)
    for char in expression:
        if char in "([{":
            depth += 1
            if depth > MAX_JSONATA_NESTING:
                return True
        elif char in ")]}":
            depth -= 1
    return False


def _compile_jsonata(expression: str) -> Any:
    # share the engine's compiled-expression cache, so execute() doesn't parse it again
    from opsbook.engine.jsonata_eval import compile_expression

    return compile_expression(expression)


@functools.lru_cache(maxsize=4096)
def jsonata_error(expression: str) -> str | None:
    """Syntax error of a JSONata expression (text between {% and %}), or None."""
    try:
        _compile_jsonata(expression.strip())
    except Exception as exc:  # the parser raises JException, RecursionError, ...
        return str(exc) or type(exc).__name__
    return None


# ---------------------------------------------------------------- JSONPath and intrinsic syntax
# The grammars live with their evaluators (paths.py, intrinsics.py); here we only ask them.
@functools.lru_cache(maxsize=8192)
def path_error(path: str, *, reference: bool = False) -> str | None:
    """Why `path` is not a valid JSONPath ("$", "$.a", "$$.Execution", "$var.x", ...), or None.

    reference=True demands what ResultPath needs: a definite path into the state input (no
    wildcards, filters, slices, unions or deep scan; no "$$" context, no "$var" variable)."""
    try:
        parsed = parse_path(path)
    except Exception as exc:  # PathSyntaxError, or anything a hostile string provokes
        return str(exc) or "invalid path"
    if reference:
        if parsed.root != "$":
            return "it must refer to the state input ($...), not the context or a variable"
        if not parsed.definite:
            return "it must be a reference path (no wildcards, filters, slices or deep scan)"
    return None


@functools.lru_cache(maxsize=4096)
def intrinsic_error(expr: str) -> str | None:
    """Why `expr` is not a valid intrinsic function call (known name, arity, syntax), or None."""
    try:
        return validate_intrinsic(expr)
    except RecursionError:
        return "intrinsic function calls are nested too deeply"
    except Exception as exc:
        return str(exc) or "invalid intrinsic function call"


def reference_error(value: str) -> str | None:
    """A '.$' value or an ErrorPath/CausePath: a path or an intrinsic call."""
    if value.startswith("$"):
        return path_error(value)
    return intrinsic_error(value)


# ---------------------------------------------------------------- the validator
class _Validator:
    def __init__(self) -> None:
        self.diags: list[Diagnostic] = []
        self.labels: dict[str, str] = {}
        self.top_language = JSONPATH

    def add(self, code: str, message: str, location: str, severity: str = "ERROR") -> None:
        self.diags.append(Diagnostic(code, message, location or "/", severity))

    def schema(self, message: str, location: str) -> None:
        self.add(SCHEMA, message, location)

    # -- state machine scopes (top level, Parallel branch, Map processor)
    def machine(self, d: Any, loc: str, allowed: set[str], language: str) -> None:
        if not isinstance(d, dict):
            self.schema("Expected a JSON object with StartAt and States", loc or "/")
            return
        missing = [k for k in ("States", "StartAt") if k not in d]
        if missing:
            self.schema(f"These fields are required: [{', '.join(missing)}]", loc or "/")
        for key in d:
            if key not in allowed:
                self.schema(f"The field '{key[:80]}' is not supported by Step Functions here",
                            f"{loc}/{_ptr(key)}")  # fmt: skip
        if "Comment" in d and not isinstance(d["Comment"], str):
            self.schema("Comment must be a string", f"{loc}/Comment")
        states = d.get("States")
        if "States" in d and (not isinstance(states, dict) or not states):
            self.schema("The field 'States' should be a non-empty object", f"{loc}/States")
            states = None
        start = d.get("StartAt")
        if "StartAt" in d:
            if not isinstance(start, str):
                self.schema("StartAt must be a string", f"{loc}/StartAt")
            elif states is not None and start not in states:
                self.add(
                    MISSING_TARGET, f"Missing 'StartAt' target: {start[:80]}", f"{loc}/StartAt"
                )
        if states is None:
            return
        edges: dict[str, list[str]] = {}
        terminal: bool | None = False
        for name, state in states.items():
            sloc = f"{loc}/States/{_ptr(name)}"
            if not name or len(name) > 80:
                self.add("INVALID_STATE_NAME", "State names must be 1 to 80 characters long", sloc)
            targets: list[str] = []
            kind = self.state(name, state, sloc, language, states, targets)
            if kind is None and terminal is False:
                terminal = None  # a broken state may be terminal: don't pile on MISSING_END_STATE
            elif kind:
                terminal = True
            edges[name] = targets
        if terminal is False:
            self.add("MISSING_END_STATE", "No terminal state: the workflow needs a state with "
                     "\"End\": true, a Succeed state or a Fail state", loc or "/")  # fmt: skip
        if isinstance(start, str) and start in states:
            seen = {start}
            todo = [start]
            while todo:
                for nxt in edges.get(todo.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            for name in states:
                if name not in seen:
                    self.schema(
                        f"State '{name[:80]}' is not reachable", f"{loc}/States/{_ptr(name)}"
                    )

    def target(self, value: Any, loc: str, field: str, states: dict, targets: list[str]) -> None:
        if not isinstance(value, str):
            self.schema(f"{field} must be a state name (a string)", loc)
        elif value not in states:
            self.add(MISSING_TARGET, f"Missing '{field}' target: {value[:80]}", loc)
        else:
            targets.append(value)

    # -- one state; returns True when it is terminal, None when its type is unknown
    def state(
        self, name: str, s: Any, loc: str, parent_language: str, states: dict, targets: list[str]
    ) -> bool | None:
        if not isinstance(s, dict):
            self.schema("A state must be a JSON object", loc)
            return None
        stype = s.get("Type")
        if not isinstance(stype, str) or stype not in _FIELDS:
            if "Type" not in s:
                self.schema("These fields are required: [Type]", loc)
            else:
                self.schema("The field 'Type' should have one of these values: [Task, Wait, Pass, "
                            f"Succeed, Fail, Choice, Parallel, Map], not {_short(stype)}",
                            f"{loc}/Type")  # fmt: skip
            # keep its transitions so the states after it are not reported unreachable
            for field in ("Next", "Default"):
                if isinstance(s.get(field), str) and s[field] in states:
                    targets.append(s[field])
            return None
        language = parent_language
        if "QueryLanguage" in s:
            ql = s["QueryLanguage"]
            if ql not in (JSONPATH, JSONATA):
                self.schema("QueryLanguage must be 'JSONPath' or 'JSONata'", f"{loc}/QueryLanguage")
            elif ql == JSONPATH and self.top_language == JSONATA:
                self.schema("'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole "
                            "state machine", loc)  # fmt: skip
            else:
                language = ql
        allowed = _FIELDS[stype][language] | _COMMON
        for key in s:
            if key in allowed:
                continue
            if language == JSONATA and key in _JSONPATH_ONLY:
                self.schema(f"The field '{key}' is not supported for JSONata; use Arguments, "
                            "Output or a {% %} expression", f"{loc}/{_ptr(key)}")  # fmt: skip
            elif language == JSONPATH and key in _JSONATA_ONLY:
                self.schema(f"The field '{key}' is only supported with QueryLanguage JSONata",
                            f"{loc}/{_ptr(key)}")  # fmt: skip
            else:
                self.schema(f"The field '{key[:80]}' is not supported by {stype} states",
                            f"{loc}/{_ptr(key)}")  # fmt: skip
        if "Comment" in s and not isinstance(s["Comment"], str):
            self.schema("Comment must be a string", f"{loc}/Comment")

        terminal = stype in ("Succeed", "Fail")
        if stype not in ("Choice", "Succeed", "Fail"):
            terminal = self.flow(s, loc, states, targets)
        self.io_fields(s, loc, language, stype)
        if "Assign" in s:
            self.assign(s["Assign"], f"{loc}/Assign", language)
        getattr(self, "state_" + stype.lower())(s, loc, language, states, targets)
        return terminal

    def flow(self, s: dict, loc: str, states: dict, targets: list[str]) -> bool:
        has_next, end = "Next" in s, s.get("End")
        if "End" in s and not isinstance(end, bool):
            self.schema("End must be a boolean", f"{loc}/End")
            end = None
        if has_next:
            self.target(s["Next"], f"{loc}/Next", "Next", states, targets)
            if end is True:
                self.schema("Next and End are mutually exclusive", loc)
        elif end is not True:
            self.add(MISSING_TARGET, 'The state needs either "Next" or "End": true', loc)
        return end is True

    # -- shared field checks
    def io_fields(self, s: dict, loc: str, language: str, stype: str) -> None:
        if language == JSONPATH:
            for field in ("InputPath", "OutputPath"):
                if field in s and s[field] is not None:
                    self.path_field(s[field], f"{loc}/{field}", field)
            if "ResultPath" in s and s["ResultPath"] is not None:
                self.path_field(s["ResultPath"], f"{loc}/ResultPath", "ResultPath", result=True)
            for field in ("Parameters", "ResultSelector"):
                if field in s:
                    if field == "ResultSelector" and not isinstance(s[field], dict):
                        self.schema(f"{field} must be a JSON object", f"{loc}/{field}")
                    else:
                        self.template(s[field], f"{loc}/{field}", 0)
        else:
            for field in ("Arguments", "Output"):
                if field in s:
                    self.jsonata_template(s[field], f"{loc}/{field}", 0)

    def path_field(self, value: Any, loc: str, field: str, *, result: bool = False) -> None:
        if not isinstance(value, str):
            self.schema(
                f"The value for the field '{field}' must be a valid JSONPath (a string)", loc
            )
            return
        problem = path_error(value, reference=result)
        if problem:
            self.schema(f"The value for the field '{field}' must be a valid JSONPath: "
                        f"{problem}", loc)  # fmt: skip

    def reference_field(self, value: Any, loc: str, field: str) -> None:
        """ErrorPath / CausePath: a path or an intrinsic call."""
        if not isinstance(value, str):
            self.schema(f"The value for the field '{field}' must be a JSONPath or intrinsic "
                        "function (a string)", loc)  # fmt: skip
            return
        problem = reference_error(value)
        if problem:
            self.schema(f"The value for the field '{field}' must be a valid JSONPath or intrinsic "
                        f"function: {problem}", loc)  # fmt: skip

    def template(self, value: Any, loc: str, depth: int) -> None:
        """A JSONPath payload template: keys ending '.$' take a path or intrinsic call."""
        if isinstance(value, dict):
            for key, item in value.items():
                kloc = f"{loc}/{_ptr(key)}"
                if key.endswith(".$"):
                    if not isinstance(item, str):
                        self.schema(f"The value of '{key[:80]}' must be a JSONPath or intrinsic "
                                    "function (a string)", kloc)  # fmt: skip
                    else:
                        problem = reference_error(item)
                        if problem:
                            self.schema(f"The value of '{key[:80]}' must be a valid JSONPath or "
                                        f"intrinsic function: {problem}", kloc)  # fmt: skip
                else:
                    if isinstance(item, str) and (
                        item.startswith("$.") or (item.startswith("States.") and "(" in item)
                    ):
                        self.add("NO_DOLLAR", f"'{key[:80]}' has a value that looks like a "
                                 "JSONPath or intrinsic function but its name does not end with "
                                 "'.$'", kloc, "WARNING")  # fmt: skip
                    self.template(item, kloc, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.template(item, f"{loc}/{i}", depth + 1)

    def jsonata_template(self, value: Any, loc: str, depth: int) -> None:
        if isinstance(value, str):
            self.jsonata_string(value, loc)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.jsonata_template(item, f"{loc}/{_ptr(key)}", depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.jsonata_template(item, f"{loc}/{i}", depth + 1)

    def jsonata_string(self, value: str, loc: str) -> None:
        if is_jsonata(value):
            expression = value[2:-2]
            if too_costly_to_parse(expression):
                self.add("EXPRESSION_NOT_CHECKED", "This JSONata expression is too large or has "
                         "too many path steps to check statically", loc, "WARNING")  # fmt: skip
                return
            problem = jsonata_error(expression)
            if problem:
                self.schema(f"Invalid JSONata expression {_short(value)}: {problem}", loc)

    def number_or_expr(
        self, s: dict, field: str, loc: str, language: str, *, minimum: float, integer: bool = True,
        maximum: float | None = None, path_form: bool = True,
    ) -> None:  # fmt: skip
        """A numeric field, its JSONata expression form, and its exclusive '<field>Path' form."""
        floc = f"{loc}/{field}"
        if field in s:
            value = s[field]
            if language == JSONATA and is_jsonata(value):
                self.jsonata_string(value, floc)
            elif not (_is_int(value) if integer else _is_number(value)):
                kind = "an integer" if integer else "a number"
                self.schema(f"{field} must be {kind}", floc)
            elif value < minimum or (maximum is not None and value > maximum):
                upper = f" and at most {_num(maximum)}" if maximum is not None else ""
                self.schema(f"{field} must be at least {_num(minimum)}{upper}", floc)
        pfield = field + "Path"
        if path_form and pfield in s and language == JSONPATH:
            self.path_field(s[pfield], f"{loc}/{pfield}", pfield)
            if field in s:
                self.schema(f"{field} and {pfield} are mutually exclusive", loc)

    def assign(self, value: Any, loc: str, language: str) -> None:
        if not isinstance(value, dict):
            self.schema("Assign must be a JSON object", loc)
            return
        for key, item in value.items():
            kloc = f"{loc}/{_ptr(key)}"
            name = key[:-2] if language == JSONPATH and key.endswith(".$") else key
            # AWS: Unicode identifier rules (ID_Start then ID_Continue), at most 80 characters
            if not name.isidentifier() or len(name) > 80:
                self.schema(f"'{name[:80]}' is not a valid variable name (letters, digits and _, "
                            "not starting with a digit, at most 80 characters)", kloc)  # fmt: skip
            if language == JSONATA:
                self.jsonata_template(item, kloc, 0)
            else:
                self.template({key: item}, loc, 0)

    def retry_catch(
        self, s: dict, loc: str, language: str, states: dict, targets: list[str]
    ) -> None:
        for field in ("Retry", "Catch"):
            if field not in s:
                continue
            items = s[field]
            if not isinstance(items, list):
                self.schema(f"{field} must be an array", f"{loc}/{field}")
                continue
            for i, item in enumerate(items):
                iloc = f"{loc}/{field}/{i}"
                if not isinstance(item, dict):
                    self.schema(f"Each {field} entry must be a JSON object", iloc)
                    continue
                self.error_equals(item, iloc, last=i == len(items) - 1, field=field)
                if field == "Retry":
                    self.retrier(item, iloc)
                else:
                    self.catcher(item, iloc, language, states, targets)

    def error_equals(self, item: dict, loc: str, *, last: bool, field: str) -> None:
        if "ErrorEquals" not in item:
            self.schema("These fields are required: [ErrorEquals]", loc)
            return
        errors = item["ErrorEquals"]
        eloc = f"{loc}/ErrorEquals"
        if not isinstance(errors, list) or not errors:
            self.schema("ErrorEquals must be a non-empty array of error names", eloc)
            return
        if not all(isinstance(e, str) and e for e in errors):
            self.schema("ErrorEquals must contain only non-empty strings", eloc)
            return
        if "States.ALL" in errors:
            if len(errors) > 1:
                self.schema("States.ALL must appear alone in ErrorEquals", eloc)
            elif not last:
                self.schema(f"States.ALL must be in the last {field} entry", eloc)

    def retrier(self, item: dict, loc: str) -> None:
        for key in item:
            if key not in _RETRY_FIELDS:
                self.schema(
                    f"The field '{key[:80]}' is not supported in Retry", f"{loc}/{_ptr(key)}"
                )
        checks = (
            ("IntervalSeconds", 1, _MAX_INT, True),
            ("MaxAttempts", 0, _MAX_INT, True),
            ("MaxDelaySeconds", 1, 31_622_400, True),
            ("BackoffRate", 1.0, None, False),
        )
        for field, low, high, integer in checks:
            self.number_or_expr(item, field, loc, JSONPATH, minimum=low, maximum=high,
                                integer=integer, path_form=False)  # fmt: skip
        if "JitterStrategy" in item and item["JitterStrategy"] not in ("FULL", "NONE"):
            self.schema("JitterStrategy must be FULL or NONE", f"{loc}/JitterStrategy")

    def catcher(self, item: dict, loc: str, language: str, states: dict, targets: list) -> None:
        allowed = _CATCH_FIELDS[language]
        for key in item:
            if key not in allowed:
                self.schema(
                    f"The field '{key[:80]}' is not supported in Catch", f"{loc}/{_ptr(key)}"
                )
        if "Next" not in item:
            self.schema("These fields are required: [Next]", loc)
        else:
            self.target(item["Next"], f"{loc}/Next", "Next", states, targets)
        if language == JSONPATH and item.get("ResultPath") is not None:
            self.path_field(item["ResultPath"], f"{loc}/ResultPath", "ResultPath", result=True)
        if language == JSONATA and "Output" in item:
            self.jsonata_template(item["Output"], f"{loc}/Output", 0)
        if "Assign" in item:
            self.assign(item["Assign"], f"{loc}/Assign", language)

    # -- per state type
    def state_pass(self, s: dict, loc: str, language: str, states: dict, targets: list) -> None:
        if "Result" in s and isinstance(s["Result"], dict):
            if any(isinstance(k, str) and k.endswith(".$") for k in s["Result"]):
                self.add("PASS_RESULT_IS_STATIC", "Result is static: '.$' keys in a Pass state's "
                         "Result are not evaluated", f"{loc}/Result", "WARNING")  # fmt: skip

    def state_succeed(self, s: dict, loc: str, language: str, states: dict, targets: list) -> None:
        pass

    def state_task(self, s: dict, loc: str, language: str, states: dict, targets: list) -> None:
        if "Resource" not in s:
            self.schema("These fields are required: [Resource]", loc)
        elif not isinstance(s["Resource"], str) or not re.match(
            r"arn:[^:\s]+:[^:\s]+:", s["Resource"]
        ):
            self.add("INVALID_RESOURCE", f"Resource must be an ARN, got {_short(s['Resource'])}",
                     f"{loc}/Resource")  # fmt: skip
        self.number_or_expr(s, "TimeoutSeconds", loc, language, minimum=1, maximum=_MAX_INT)
        self.number_or_expr(s, "HeartbeatSeconds", loc, language, minimum=1, maximum=_MAX_INT)
        timeout: Any = s.get("TimeoutSeconds")
        heartbeat: Any = s.get("HeartbeatSeconds")
        if _is_int(timeout) and _is_int(heartbeat) and heartbeat >= timeout:
            self.schema("HeartbeatSeconds must be smaller than TimeoutSeconds",
                        f"{loc}/HeartbeatSeconds")  # fmt: skip
        if "Credentials" in s and not isinstance(s["Credentials"], dict):
            self.schema("Credentials must be a JSON object", f"{loc}/Credentials")
        elif "Credentials" in s and not {"RoleArn", "RoleArn.$"} & set(s["Credentials"]):
            self.schema("The field 'RoleArn' is required but was missing", f"{loc}/Credentials")
        self.retry_catch(s, loc, language, states, targets)

    def state_wait(self, s: dict, loc: str, language: str, states: dict, targets: list) -> None:
        present = [f for f in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if f in s]
        if len(present) != 1:
            self.schema("A Wait state needs exactly one of Seconds, Timestamp, SecondsPath or "
                        f"TimestampPath (found {len(present)})", loc)  # fmt: skip
        if "Seconds" in s:
            self.number_or_expr(s, "Seconds", loc, language, minimum=0, maximum=_MAX_INT,
                                path_form=False)  # fmt: skip
        if "Timestamp" in s:
            value = s["Timestamp"]
            tloc = f"{loc}/Timestamp"
            if language == JSONATA and is_jsonata(value):
                self.jsonata_string(value, tloc)
            elif not isinstance(value, str) or not _TIMESTAMP_RE.match(value):
                self.schema("Timestamp must be an RFC 3339 timestamp such as "
                            "2026-03-14T01:59:00Z", tloc)  # fmt: skip
        for field in ("SecondsPath", "TimestampPath"):
            if field in s and language == JSONPATH:
                self.path_field(s[field], f"{loc}/{field}", field)

    def state_fail(self, s: dict, loc: str, language: str, states: dict, targets: list) -> None:
        for field in ("Error", "Cause"):
            if field in s:
                if not isinstance(s[field], str):
                    self.schema(f"{field} must be a string", f"{loc}/{field}")
                elif language == JSONATA:
                    self.jsonata_string(s[field], f"{loc}/{field}")
            if language == JSONPATH and field + "Path" in s:
                self.reference_field(s[field + "Path"], f"{loc}/{field}Path", field + "Path")
                if field in s:
                    self.schema(f"{field} and {field}Path are mutually exclusive", loc)

    def state_choice(self, s: dict, loc: str, language: str, states: dict, targets: list) -> None:
        if "Default" in s:
            self.target(s["Default"], f"{loc}/Default", "Default", states, targets)
        choices = s.get("Choices")
        cloc = f"{loc}/Choices"
        if "Choices" not in s:
            self.schema("These fields are required: [Choices]", loc)
        elif not isinstance(choices, list) or not choices:
            self.schema("Choices must be a non-empty array", cloc)
        else:
            for i, rule in enumerate(choices):
                rloc = f"{cloc}/{i}"
                if not isinstance(rule, dict):
                    self.schema("A choice rule must be a JSON object", rloc)
                    continue
                if "Next" not in rule:
                    self.schema("These fields are required: [Next]", rloc)
                else:
                    self.target(rule["Next"], f"{rloc}/Next", "Next", states, targets)
                if "Assign" in rule:
                    self.assign(rule["Assign"], f"{rloc}/Assign", language)
                if language == JSONATA:
                    self.jsonata_rule(rule, rloc)
                else:
                    self.rule(rule, rloc, top=True, depth=0)

    def jsonata_rule(self, rule: dict, loc: str) -> None:
        for key in rule:
            if key not in ("Condition", "Next", "Comment", "Assign", "Output"):
                self.schema(f"The field '{key[:80]}' is not supported in a JSONata choice rule",
                            f"{loc}/{_ptr(key)}")  # fmt: skip
        if "Condition" not in rule:
            self.schema("These fields are required: [Condition]", loc)
            return
        if "Output" in rule:
            self.jsonata_template(rule["Output"], f"{loc}/Output", 0)
        cond = rule["Condition"]
        if isinstance(cond, bool):
            return
        if not is_jsonata(cond):
            self.schema("Condition must be a {% %} JSONata expression or a boolean",
                        f"{loc}/Condition")  # fmt: skip
        else:
            self.jsonata_string(cond, f"{loc}/Condition")

    def rule(self, rule: Any, loc: str, *, top: bool, depth: int) -> None:
        """A JSONPath choice rule: Variable + one operator, or And / Or / Not."""
        if not isinstance(rule, dict):
            self.schema("A choice rule must be a JSON object", loc)
            return
        if depth > 50:
            self.add("TOO_DEEPLY_NESTED", "Choice rules are nested too deeply", loc)
            return
        allowed = {"Variable", "Comment", "And", "Or", "Not", *_OPERATORS}
        if top:
            allowed |= {"Next", "Assign"}
        for key in rule:
            if key not in allowed:
                where = "a nested choice rule" if key == "Next" else "a choice rule"
                self.schema(
                    f"The field '{key[:80]}' is not supported in {where}", f"{loc}/{_ptr(key)}"
                )
        ops = [k for k in rule if k in _OPERATORS]
        combinators = [k for k in rule if k in ("And", "Or", "Not")]
        if len(ops) + len(combinators) != 1:
            self.schema("Each choice rule must have exactly one comparison operator or one of "
                        f"And/Or/Not (found {len(ops) + len(combinators)})", loc)  # fmt: skip
        if combinators:
            if "Variable" in rule:
                self.schema("Variable cannot be used with And/Or/Not", f"{loc}/Variable")
            for comb in combinators:
                sub = rule[comb]
                sloc = f"{loc}/{comb}"
                if comb == "Not":
                    self.rule(sub, sloc, top=False, depth=depth + 1)
                elif not isinstance(sub, list) or not sub:
                    self.schema(f"{comb} must be a non-empty array of choice rules", sloc)
                else:
                    for i, item in enumerate(sub):
                        self.rule(item, f"{sloc}/{i}", top=False, depth=depth + 1)
            return
        if not ops:
            return
        if "Variable" not in rule:
            self.schema("These fields are required: [Variable]", loc)
        else:
            self.path_field(rule["Variable"], f"{loc}/Variable", "Variable")
        for op in ops:
            self.operand(op, rule[op], f"{loc}/{op}")

    def operand(self, op: str, value: Any, loc: str) -> None:
        kind = _OPERATORS[op]
        if kind == "path":
            self.path_field(value, loc, op)
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.schema(f"{op} must be a boolean", loc)
        elif kind == "number":
            if not _is_number(value):
                self.schema(f"{op} must be a number", loc)
        elif not isinstance(value, str):
            self.schema(f"{op} must be a string", loc)
        elif kind == "timestamp" and not _TIMESTAMP_RE.match(value):
            self.schema(f"{op} must be an RFC 3339 timestamp", loc)

    def state_parallel(self, s: dict, loc: str, language: str, states: dict, targets: list) -> None:
        branches = s.get("Branches")
        if "Branches" not in s:
            self.schema("These fields are required: [Branches]", loc)
        elif not isinstance(branches, list) or not branches:
            self.schema("Branches must be a non-empty array", f"{loc}/Branches")
        else:
            for i, branch in enumerate(branches):
                self.machine(branch, f"{loc}/Branches/{i}", _BRANCH_FIELDS, language)
        self.retry_catch(s, loc, language, states, targets)

    def state_map(self, s: dict, loc: str, language: str, states: dict, targets: list) -> None:
        processors = [f for f in ("ItemProcessor", "Iterator") if f in s]
        if len(processors) != 1:
            self.schema("A Map state needs exactly one of ItemProcessor or Iterator", loc)
        for field in processors:
            proc = s[field]
            ploc = f"{loc}/{field}"
            # AWS accepts ProcessorConfig in the legacy Iterator too.
            self.machine(proc, ploc, _PROCESSOR_FIELDS, language)
            if isinstance(proc, dict) and "ProcessorConfig" in proc:
                self.processor_config(proc["ProcessorConfig"], f"{ploc}/ProcessorConfig")
        if "Parameters" in s and "ItemSelector" in s:
            self.schema("Parameters and ItemSelector are mutually exclusive", loc)
        if "ItemSelector" in s:
            if language == JSONATA:
                self.jsonata_template(s["ItemSelector"], f"{loc}/ItemSelector", 0)
            else:
                self.template(s["ItemSelector"], f"{loc}/ItemSelector", 0)
        if language == JSONPATH and "ItemsPath" in s:
            self.path_field(s["ItemsPath"], f"{loc}/ItemsPath", "ItemsPath")
        if language == JSONATA and "Items" in s:
            items = s["Items"]
            if not (isinstance(items, list) or is_jsonata(items)):
                self.schema("Items must be an array or a {% %} JSONata expression",
                            f"{loc}/Items")  # fmt: skip
            self.jsonata_template(items, f"{loc}/Items", 0)
        self.number_or_expr(s, "MaxConcurrency", loc, language, minimum=0, maximum=_MAX_INT)
        self.number_or_expr(s, "ToleratedFailureCount", loc, language, minimum=0,
                            maximum=_MAX_INT)  # fmt: skip
        self.number_or_expr(s, "ToleratedFailurePercentage", loc, language, minimum=0,
                            maximum=100, integer=False)  # fmt: skip
        for field in ("ItemReader", "ResultWriter", "ItemBatcher"):
            if field in s:
                self.structural(s[field], f"{loc}/{field}", field, language)
        if "Label" in s:
            self.label(s["Label"], f"{loc}/Label")
        self.retry_catch(s, loc, language, states, targets)

    def processor_config(self, config: Any, loc: str) -> None:
        if not isinstance(config, dict):
            self.schema("ProcessorConfig must be a JSON object", loc)
            return
        for key, value in config.items():
            if key == "Mode":
                if value not in ("INLINE", "DISTRIBUTED"):
                    self.schema("Mode must be INLINE or DISTRIBUTED", f"{loc}/Mode")
            elif key == "ExecutionType":
                if value not in ("STANDARD", "EXPRESS"):
                    self.schema("ExecutionType must be STANDARD or EXPRESS", f"{loc}/ExecutionType")
            else:
                self.schema(f"The field '{key[:80]}' is not supported in ProcessorConfig",
                            f"{loc}/{_ptr(key)}")  # fmt: skip

    def structural(self, value: Any, loc: str, field: str, language: str) -> None:
        """ItemReader / ResultWriter / ItemBatcher (distributed Map): accepted structurally."""
        if not isinstance(value, dict):
            self.schema(f"{field} must be a JSON object", loc)
            return
        if field in ("ItemReader", "ResultWriter") and "Resource" in value:
            if not isinstance(value["Resource"], str) or not value["Resource"].startswith("arn:"):
                self.add("INVALID_RESOURCE", f"{field} Resource must be an ARN", f"{loc}/Resource")
        if language == JSONPATH and isinstance(value.get("Parameters"), dict):
            self.template(value["Parameters"], f"{loc}/Parameters", 0)
        if language == JSONATA and "Arguments" in value:
            self.jsonata_template(value["Arguments"], f"{loc}/Arguments", 0)

    def label(self, value: Any, loc: str) -> None:
        if not isinstance(value, str) or not value or len(value) > 40:
            self.add("INVALID_LABEL_NAME", "Label must be a string of 1 to 40 characters", loc)
        elif any(c in _LABEL_BAD or ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            self.add("INVALID_LABEL_NAME", "Label contains a character that is not allowed", loc)
        elif value in self.labels:
            self.add("DUPLICATE_LABEL_NAME", f"Label '{value}' is also used at "
                     f"{self.labels[value]}", loc)  # fmt: skip
        else:
            self.labels[value] = loc

    # -- entry point
    def run(self, d: dict) -> None:
        ql = d.get("QueryLanguage", JSONPATH)
        if ql not in (JSONPATH, JSONATA):
            self.schema("QueryLanguage must be 'JSONPath' or 'JSONata'", "/QueryLanguage")
            ql = JSONPATH
        self.top_language = ql
        if "Version" in d and not isinstance(d["Version"], str):
            self.schema("Version must be a string", "/Version")
        if "TimeoutSeconds" in d:
            value = d["TimeoutSeconds"]
            if not _is_int(value) or not 0 < value <= _MAX_INT:
                self.schema("TimeoutSeconds must be a positive integer", "/TimeoutSeconds")
        self.machine(d, "", _TOP_FIELDS, ql)


# Results for recently seen definition texts (small ones only, so the cache stays small).
_TEXT_CACHE: dict[str, tuple[Diagnostic, ...]] = {}
_TEXT_CACHE_MAX, _TEXT_CACHE_MAX_CHARS = 128, 65_536


def validate(definition: Any) -> list[Diagnostic]:
    """Validate an ASL definition (dict, JSON text or bytes). [] when valid; never raises."""
    try:
        cacheable = isinstance(definition, str) and len(definition) <= _TEXT_CACHE_MAX_CHARS
        if cacheable:
            cached = _TEXT_CACHE.get(definition)
            if cached is not None:
                return list(cached)
        result = _validate(definition)
        if cacheable:
            if len(_TEXT_CACHE) >= _TEXT_CACHE_MAX:
                _TEXT_CACHE.clear()
            _TEXT_CACHE[definition] = tuple(result)
        return result
    except RecursionError:
        return [Diagnostic("TOO_DEEPLY_NESTED", "The definition is too deeply nested", "/")]
    except Exception as exc:  # a bug here must never crash an execute(); report it instead
        return [Diagnostic(SCHEMA, f"Definition could not be validated: {exc!r}"[:300], "/")]


def _validate(definition: Any) -> list[Diagnostic]:
    data, diags = load_definition(definition)
    if data is None:
        return diags
    v = _Validator()
    v.run(data)
    out = v.diags
    if len(out) > MAX_DIAGNOSTICS:
        out = out[:MAX_DIAGNOSTICS]
    return out


def errors_only(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics that make a definition invalid (severity ERROR)."""
    return [d for d in diagnostics if d.severity == "ERROR"]
