"""Step Functions Local mock configuration files: load one, and run its test cases.

The format is AWS's (developer guide, "Configuration file for mocked service integrations",
https://docs.aws.amazon.com/step-functions/latest/dg/sfn-local-mock-cfg-file.html):

    {"StateMachines": {"<machine>": {"TestCases": {"<case>": {"<TaskState>": "<Response>"}}}},
     "MockedResponses": {"<Response>": {"0": {"Return": ...},
                                        "1-2": {"Throw": {"Error": "...", "Cause": "..."}}}}}

Every invocation of a mocked Task state, retries and Map iterations included, takes the next
response in order ("0", then "1", ...; "1-2" is the 2nd and 3rd). AWS: "When you mock a Task,
you must specify a mocked response for every invocation ... If you do not specify a mocked
response, the state machine execution will fail": an invocation past the last response fails
the execution with States.Runtime (which no Catch can handle). A `Return` is the integration's
raw result (for lambda:invoke the whole {"StatusCode", "Payload", ...} object), so it goes
through the state's ResultSelector, ResultPath and OutputPath as a real result would.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import StatesError
from .runner import Run, compile_definition, execute

__all__ = [
    "CaseResult",
    "MockConfig",
    "MockConfigError",
    "MockResponder",
    "load_mock_config",
    "run_case",
    "run_mock_cases",
    "states_entered",
]

_INDEX = re.compile(r"^(\d+)(?:-(\d+))?$")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # case names may hold what execution names can't


class MockConfigError(ValueError):
    """A mock configuration file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Response:
    """One entry of a MockedResponse: invocations first..last answer Return or Throw."""

    first: int
    last: int
    returns: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def throws(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class MockConfig:
    """A validated mock configuration: test cases per state machine, responses by name."""

    state_machines: dict[str, dict[str, dict[str, str]]]
    responses: dict[str, tuple[Response, ...]]

    def case(self, state_machine: str, case: str) -> dict[str, str]:
        cases = self.state_machines.get(state_machine)
        if cases is None:
            known = ", ".join(sorted(self.state_machines)) or "none"
            raise MockConfigError(
                f"no state machine {state_machine!r} in the mock configuration (known: {known})"
            )
        if case not in cases:
            known = ", ".join(sorted(cases)) or "none"
            raise MockConfigError(
                f"no test case {case!r} for state machine {state_machine!r} (known: {known})"
            )
        return cases[case]


def load_mock_config(source: str | Path | Mapping[str, Any]) -> MockConfig:
    """Read and validate a mock configuration: a path, JSON text, or the decoded dict."""
    if isinstance(source, Mapping):
        data: Any = source
        where = "mock configuration"
    else:
        text, where = _read(source)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise MockConfigError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise MockConfigError(f"{where} must be a JSON object")
    unknown = sorted(set(data) - {"StateMachines", "MockedResponses"})
    if unknown:
        raise MockConfigError(f"{where}: unknown top-level field {unknown[0]!r}")
    responses = {
        name: _responses(name, spec, where)
        for name, spec in _object(data.get("MockedResponses", {}), f"{where}: MockedResponses")
    }
    machines: dict[str, dict[str, dict[str, str]]] = {}
    for sm, sm_spec in _object(data.get("StateMachines", {}), f"{where}: StateMachines"):
        sm_spec = dict(_object(sm_spec, f"{where}: StateMachines.{sm}"))
        if set(sm_spec) != {"TestCases"}:
            raise MockConfigError(
                f"{where}: StateMachines.{sm} must hold exactly one field, TestCases"
            )
        cases: dict[str, dict[str, str]] = {}
        for case, mapping in _object(sm_spec["TestCases"], f"{where}: {sm}.TestCases"):
            states: dict[str, str] = {}
            for state, response in _object(mapping, f"{where}: {sm}.TestCases.{case}"):
                if not isinstance(response, str):
                    raise MockConfigError(
                        f"{where}: {sm}.TestCases.{case}.{state} must name a mocked response"
                    )
                if response not in responses:
                    raise MockConfigError(
                        f"{where}: {sm}.TestCases.{case}.{state} names {response!r}, "
                        "which is not in MockedResponses"
                    )
                states[state] = response
            cases[case] = states
        machines[sm] = cases
    return MockConfig(machines, responses)


def _read(source: str | Path) -> tuple[str, str]:
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return source, "mock configuration"
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise MockConfigError(f"cannot read mock configuration {path}: {exc}") from None


def _object(value: Any, where: str):
    if not isinstance(value, Mapping):
        raise MockConfigError(f"{where} must be a JSON object")
    return value.items()


def _responses(name: str, spec: Any, where: str) -> tuple[Response, ...]:
    out: list[Response] = []
    for key, body in _object(spec, f"{where}: MockedResponses.{name}"):
        at = f"{where}: MockedResponses.{name}.{key}"
        m = _INDEX.match(key)
        if m is None:
            raise MockConfigError(f"{at}: the key must be an invocation number or a range n-m")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if last < first:
            raise MockConfigError(f"{at}: the range ends before it starts")
        if (
            not isinstance(body, Mapping)
            or len(body) != 1
            or next(iter(body))
            not in (
                "Return",
                "Throw",
            )
        ):
            raise MockConfigError(f"{at} must hold exactly one field, Return or Throw")
        if "Return" in body:
            out.append(Response(first, last, returns=body["Return"]))
            continue
        throw = body["Throw"]
        if (
            not isinstance(throw, Mapping)
            or not isinstance(throw.get("Error"), str)
            or not isinstance(throw.get("Cause", ""), str)
            or set(throw) - {"Error", "Cause"}
        ):
            raise MockConfigError(f"{at}.Throw must be an object with string Error and Cause")
        out.append(Response(first, last, error=throw["Error"], cause=throw.get("Cause")))
    out.sort(key=lambda r: r.first)
    expected = 0
    for r in out:  # zero-based and consecutive, as AWS asks: no gap, no overlap
        if r.first != expected:
            problem = "overlaps" if r.first < expected else "leaves a gap before"
            raise MockConfigError(
                f"{where}: MockedResponses.{name} {problem} invocation {min(r.first, expected)}"
                " (keys must count 0, 1, 2... with no gap or overlap)"
            )
        expected = r.last + 1
    if not out:
        raise MockConfigError(f"{where}: MockedResponses.{name} has no responses")
    return tuple(out)


class MockResponder:
    """Answers Task invocations of one test case: each mocked state takes its responses in
    order, one per invocation (thread-safe, so concurrent Map iterations share the count)."""

    def __init__(self, config: MockConfig, mapping: Mapping[str, str]):
        self.config = config
        self.mapping = dict(mapping)
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, state_name: str) -> Callable[[Any], Any] | None:
        response_name = self.mapping.get(state_name)
        if response_name is None:
            return None  # not mocked: the registered handler answers
        with self._lock:
            n = self.calls.get(state_name, 0)
            self.calls[state_name] = n + 1
        response = next(
            (r for r in self.config.responses[response_name] if r.first <= n <= r.last), None
        )

        def answer(_payload: Any) -> Any:
            if response is None:
                raise StatesError(
                    "States.Runtime",
                    f"The mocked response {response_name!r} has no response for invocation {n} "
                    f"of state {state_name!r}.",
                )
            if response.throws:
                raise StatesError(response.error or "", response.cause)
            return json.loads(json.dumps(response.returns))  # a fresh copy per invocation

        return answer


@dataclass
class CaseResult:
    """One test case's outcome: what `opsbook test` prints."""

    case: str
    status: str
    path: list[str]
    error: str | None
    cause: str | None
    run: Run | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "status": self.status,
            "path": self.path,
            "error": self.error,
            "cause": self.cause,
        }


def states_entered(history: list[dict]) -> list[str]:
    """State names in the order they were entered (nested Map/Parallel states included)."""
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in history
        if e.get("type", "").endswith("StateEntered") and "stateEnteredEventDetails" in e
    ]


def run_case(
    definition: Any,
    config: MockConfig,
    state_machine: str,
    case: str,
    input: Any = None,
    *,
    tasks: Mapping[str, Callable] | None = None,
    clock: Any = None,
) -> CaseResult:
    """Run one test case: mocked states answer from the file, others call their handler in
    `tasks` (a Task with neither fails as an unknown function or resource would)."""
    mapping = config.case(state_machine, case)
    machine = compile_definition(definition)
    # A case may name states the definition lacks (one file serves several versions): unused.
    run = execute(
        machine,
        input,
        tasks=dict(tasks or {}),
        clock=clock,
        name=_NAME_UNSAFE.sub("-", f"{state_machine}-{case}")[:80],
        task_answer=MockResponder(config, mapping),
    )
    return CaseResult(case, run.status, states_entered(run.history), run.error, run.cause, run)


def run_mock_cases(
    definition: Any,
    config: MockConfig,
    *,
    state_machine: str | None = None,
    case: str | None = None,
    input: Any = None,
    tasks: Mapping[str, Callable] | None = None,
) -> list[CaseResult]:
    """Run the test cases of one state machine (all, or the one named), in file order.

    `state_machine` may be left out when the file configures exactly one."""
    if state_machine is None:
        if len(config.state_machines) != 1:
            known = ", ".join(sorted(config.state_machines)) or "none"
            raise MockConfigError(
                f"the mock configuration has {len(config.state_machines)} state machines; "
                f"name one (known: {known})"
            )
        state_machine = next(iter(config.state_machines))
    if state_machine not in config.state_machines:
        config.case(state_machine, case or "")  # raises the "no state machine" error
    names = [case] if case is not None else list(config.state_machines[state_machine])
    for name in names:
        config.case(state_machine, name)  # unknown cases fail before anything runs
    return [run_case(definition, config, state_machine, name, input, tasks=tasks) for name in names]
