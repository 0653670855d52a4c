"""A definition compiled into plain Python objects (runner.compile_definition caches them)."""

from __future__ import annotations

import json
import re

ABSENT = object()  # a field that is not in the definition (distinct from an explicit null)
# $states other than $states.input / .result / .errorOutput: may read $states.context
_STATES_WHOLE = re.compile(r"\$states(?!\.(?:input|result|errorOutput)\b)")


class Retrier:
    __slots__ = ("errors", "interval", "max_attempts", "backoff", "max_delay", "jitter")

    def __init__(self, spec: dict):
        self.errors = list(spec.get("ErrorEquals") or [])
        self.interval = spec.get("IntervalSeconds", 1)
        self.max_attempts = spec.get("MaxAttempts", 3)
        self.backoff = spec.get("BackoffRate", 2.0)
        self.max_delay = spec.get("MaxDelaySeconds")
        self.jitter = spec.get("JitterStrategy", "NONE")


class Catcher:
    __slots__ = ("errors", "next", "result_path", "assign", "output")

    def __init__(self, spec: dict):
        self.errors = list(spec.get("ErrorEquals") or [])
        self.next = spec.get("Next")
        self.result_path = spec.get("ResultPath", "$")
        self.assign = spec.get("Assign")
        self.output = spec.get("Output", ABSENT)


class State:
    """One compiled state. Fields not used by a type stay at their defaults."""

    def __init__(self, name: str, spec: dict, top_ql: str):
        """top_ql: the definition's top-level QueryLanguage, which every state (nested ones
        too) uses unless it sets its own."""
        self.name = name
        self.spec = spec
        self.type: str = spec.get("Type") or ""
        self.jsonata = spec.get("QueryLanguage", top_ql) == "JSONata"
        self.next = spec.get("Next")
        self.end = bool(spec.get("End")) or self.type in ("Succeed", "Fail")
        self.input_path = spec.get("InputPath", "$")
        self.output_path = spec.get("OutputPath", "$")
        self.result_path = spec.get("ResultPath", "$")
        self.parameters = spec.get("Parameters", ABSENT)
        self.result_selector = spec.get("ResultSelector", ABSENT)
        self.assign = spec.get("Assign")
        self.output = spec.get("Output", ABSENT)
        self.arguments = spec.get("Arguments", ABSENT)
        text = json.dumps(spec)
        # JSONata reaches the context through $states too: $states alone, $states.*, ...
        self.needs_context = "$$" in text or "context" in text or bool(_STATES_WHOLE.search(text))
        self.has_timeouts = any(
            k in spec
            for k in (
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
            )
        )
        resource = spec.get("Resource")
        self.task_token = isinstance(resource, str) and resource.endswith(".waitForTaskToken")
        self.retriers = [Retrier(r) for r in spec.get("Retry") or [] if isinstance(r, dict)]
        self.catchers = [Catcher(c) for c in spec.get("Catch") or [] if isinstance(c, dict)]
        self.branches: list[Machine] = []
        self.processor: Machine | None = None
        self.distributed = False
        if self.type == "Parallel":
            self.branches = [Machine(b, top_ql) for b in spec.get("Branches") or []]
        elif self.type == "Map":
            proc = spec.get("ItemProcessor") or spec.get("Iterator") or {}
            self.processor = Machine(proc, top_ql)
            mode = (proc.get("ProcessorConfig") or {}).get("Mode", "INLINE")
            self.distributed = mode == "DISTRIBUTED"
            if "ItemSelector" in spec:
                self.parameters = spec["ItemSelector"]


class Machine:
    """A compiled state machine or sub-machine (Parallel branch, Map ItemProcessor)."""

    def __init__(self, spec: dict, ql: str | None = None):
        self.spec = spec
        top_ql = ql or spec.get("QueryLanguage", "JSONPath")
        self.jsonata = top_ql == "JSONata"
        self.start_at: str = spec.get("StartAt") or ""
        self.timeout = spec.get("TimeoutSeconds")
        self.states: dict[str, State] = {
            name: State(name, body, top_ql)
            for name, body in (spec.get("States") or {}).items()
            if isinstance(body, dict)
        }
