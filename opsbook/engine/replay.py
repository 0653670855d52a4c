"""Replay a recorded execution through the engine and compare the histories event for event.

Every Task state answers what it answered in the recorded history, in order per state
(results, errors, timeouts; so retries replay too), after the virtual time it took then, so
Waits, backoff and timeouts play out on the recorded timeline. Nothing real is called.

What is compared, event by event (see `normalize`): the type, the id, the previousEventId and
the event's details, with JSON text fields (input, output, parameters, assigned variables)
compared as decoded JSON. Ignored: timestamps, the execution's role and version/alias ARNs,
and the `*Details: {"truncated": ...}` flags. The first difference is the divergence.

With another definition, the replay answers "what would this change have done to that run":
a changed Choice enters another state, a changed Retry schedules another attempt (answered
with the state's last recorded answer), a changed TimeoutSeconds times the recorded call out.
A Task state the recording never ran fails with States.Runtime (no recorded answer).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .clock import VirtualClock
from .errors import StatesError
from .runner import Run, compile_definition, execute, redrive

__all__ = ["RecordedAnswers", "ReplayResult", "compare_histories", "normalize", "replay"]

_TERMINAL = {
    "TaskSucceeded": "ok",
    "LambdaFunctionSucceeded": "ok",
    "TaskFailed": "fail",
    "LambdaFunctionFailed": "fail",
    "TaskStartFailed": "fail",
    "TaskSubmitFailed": "fail",
    "LambdaFunctionStartFailed": "fail",
    "LambdaFunctionScheduleFailed": "fail",
    "TaskTimedOut": "fail",
    "LambdaFunctionTimedOut": "fail",
}
_SCHEDULED = ("TaskScheduled", "LambdaFunctionScheduled")
_IGNORED_KEYS = frozenset(
    {"roleArn", "stateMachineAliasArn", "stateMachineVersionArn", "inputDetails",
     "outputDetails", "assignedVariablesDetails"}
)  # fmt: skip
_JSON_KEYS = frozenset({"input", "output", "parameters"})


@dataclass
class Answer:
    seconds: float  # recorded time from scheduling to the outcome
    payload: Any = None  # what the handler was given (to tell Map iterations apart)
    output: Any = None
    error: str | None = None
    cause: str | None = None
    failed: bool = False
    used: bool = False


class RecordedAnswers:
    """task_answer for the engine: per Task state, its recorded outcomes. Each invocation
    takes the first unused outcome recorded for the same payload (so concurrent Map
    iterations get their own), else the first unused one; past the last, the last again
    (a retry the recording never made)."""

    def __init__(self, history: list[dict], clock: Any):
        self.clock = clock
        self.by_state: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        events = {e["id"]: e for e in history}
        for e in history:
            kind = _TERMINAL.get(e.get("type", ""))
            if kind is None:
                continue
            state, scheduled = _task_origin(events, e)
            if state is None:
                continue
            seconds, payload = 0.0, None
            if scheduled is not None:
                seconds = max(0.0, (_when(e) - _when(scheduled)).total_seconds())
                payload = _payload(scheduled)
            details = _details(e)
            if kind == "ok":
                answer = Answer(seconds, payload, output=_decode(details.get("output")))
            else:
                error = details.get("error")
                if error is None and e["type"].endswith("TimedOut"):
                    error = "States.Timeout"
                answer = Answer(
                    seconds, payload, error=error, cause=details.get("cause"), failed=True
                )
            self.by_state.setdefault(state, []).append(answer)

    def _take(self, state_name: str, payload: Any) -> Answer | None:
        answers = self.by_state.get(state_name)
        if not answers:
            return None
        with self._lock:
            unused = [a for a in answers if not a.used]
            chosen = next((a for a in unused if a.payload == payload), None)
            if chosen is None:
                chosen = unused[0] if unused else answers[-1]
            chosen.used = True
        return chosen

    def __call__(self, state_name: str) -> Callable[[Any], Any]:
        def answer(payload: Any) -> Any:
            a = self._take(state_name, payload)
            if a is None:
                raise StatesError(
                    "States.Runtime",
                    f"Replay: the recorded execution never ran the Task state {state_name!r}, "
                    "so there is no recorded answer for it.",
                )
            self.clock.sleep(a.seconds)  # the call took this long then; timeouts see it
            if a.failed:
                raise StatesError(a.error or "States.TaskFailed", a.cause)
            return json.loads(json.dumps(a.output))

        return answer


def _payload(scheduled: dict) -> Any:
    """What the engine hands a handler for this scheduled task (lambda:invoke: the Payload)."""
    details = _details(scheduled)
    if scheduled["type"] == "LambdaFunctionScheduled":
        return _decode(details.get("input"))
    params = _decode(details.get("parameters"))
    if details.get("resourceType") == "lambda" and str(details.get("resource", "")).startswith(
        "invoke"
    ):
        return params.get("Payload", {}) if isinstance(params, dict) else {}
    return params


def _task_origin(events: dict[int, dict], terminal: dict) -> tuple[str | None, dict | None]:
    """(Task state name, its scheduled event) for a task's terminal event, by walking the
    previousEventId chain back (branches and iterations keep their own chains)."""
    scheduled = None
    e: dict | None = terminal
    for _ in range(len(events) + 1):  # bounded: ids only go down
        if e is None:
            return None, scheduled
        t = e.get("type", "")
        if scheduled is None and t in _SCHEDULED:
            scheduled = e
        if t == "TaskStateEntered":
            return e["stateEnteredEventDetails"]["name"], scheduled
        if t.endswith("StateEntered"):
            return None, scheduled
        e = events.get(e.get("previousEventId", 0))
    return None, scheduled


def _details(event: dict) -> dict:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _decode(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _when(event: dict) -> datetime:
    ts = event.get("timestamp")
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    if isinstance(ts, str):
        parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(ts, (int, float)):
        return datetime.fromtimestamp(ts, UTC)
    raise ValueError(f"event {event.get('id')} has no timestamp")


def normalize(event: dict) -> dict:
    """The part of an event that replay compares (see the module docstring)."""
    out: dict[str, Any] = {
        "id": event.get("id"),
        "type": event.get("type"),
        "previousEventId": event.get("previousEventId", 0),
    }
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            details = {}
            for k, v in value.items():
                if k in _IGNORED_KEYS:
                    continue
                if k in _JSON_KEYS:
                    v = _decode(v)
                elif k == "assignedVariables" and isinstance(v, dict):
                    v = {name: _decode(text) for name, text in v.items()}
                details[k] = v
            out[key] = details
    return out


def _label(event: dict | None) -> str:
    if event is None:
        return "nothing (the history ended)"
    details = _details(event)
    name = details.get("name")
    text = event["type"] + (f" {name!r}" if name else "")
    if details.get("error"):
        text += f" ({details['error']})"
    return text


def _why(recorded: dict | None, replayed: dict | None) -> str:
    if recorded is None:
        return f"the replay went on after the recorded history ended: {_label(replayed)}"
    if replayed is None:
        return f"the replay ended where the recording went on: {_label(recorded)}"
    if recorded["type"] != replayed["type"] or _details(recorded).get("name") != _details(
        replayed
    ).get("name"):
        return f"recorded {_label(recorded)}, the replay did {_label(replayed)}"
    if recorded["previousEventId"] != replayed["previousEventId"]:
        return (
            f"{_label(recorded)} follows event {recorded['previousEventId']} in the recording "
            f"but event {replayed['previousEventId']} in the replay"
        )
    a, b = _details(recorded), _details(replayed)
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"{_label(recorded)} differs in {', '.join(keys)}"


def compare_histories(recorded: list[dict], replayed: list[dict]) -> dict | None:
    """None when they match event for event; else the first divergence:
    {"event_id", "recorded", "replayed", "why"} with the normalized events (or None)."""
    for i in range(max(len(recorded), len(replayed))):
        a = normalize(recorded[i]) if i < len(recorded) else None
        b = normalize(replayed[i]) if i < len(replayed) else None
        if a != b:
            return {"event_id": i + 1, "recorded": a, "replayed": b, "why": _why(a, b)}
    return None


@dataclass
class ReplayResult:
    match: bool
    divergence: dict | None
    run: Run
    recorded_events: int
    replayed_events: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "match": self.match,
            "divergence": self.divergence,
            "status": self.run.status,
            "recorded_events": self.recorded_events,
            "replayed_events": self.replayed_events,
        }


def _stopped_at(events: list[dict], clock: Any) -> Callable[[], Any] | None:
    """A recorded StopExecution happens again at the same moment of the virtual timeline
    (the engine notices it at its next state or wait, as it does a real stop)."""
    aborted = next((e for e in events if e.get("type") == "ExecutionAborted"), None)
    if aborted is None:
        return None
    when = _when(aborted)
    details = _details(aborted)
    reason: Any = {"error": details.get("error"), "cause": details.get("cause")}
    if not details:
        reason = True

    def should_abort() -> Any:
        return reason if clock.now() >= when else None

    return should_abort


def replay(
    definition: Any,
    history: list[dict],
    *,
    name: str | None = None,
    execution_arn: str | None = None,
    state_machine_arn: str | None = None,
) -> ReplayResult:
    """Replay a recorded history (boto3 get_execution_history events, ExecutionStarted
    first) through `definition`; redrives in the recording are replayed as redrives."""
    events = sorted((dict(e) for e in history), key=lambda e: e["id"])
    if not events or events[0].get("type") != "ExecutionStarted":
        raise ValueError("a replay needs the execution's history, starting with ExecutionStarted")
    machine = compile_definition(definition)
    started = events[0].get("executionStartedEventDetails") or {}
    clock = VirtualClock(_when(events[0]))
    answers = RecordedAnswers(events, clock)
    common = dict(
        tasks={},
        clock=clock,
        name=name,
        execution_arn=execution_arn,
        state_machine_arn=state_machine_arn,
        task_answer=answers,
    )
    run = execute(
        machine,
        _decode(started.get("input") or "{}"),
        role_arn=started.get("roleArn"),
        should_abort=_stopped_at(events, clock),
        **common,  # type: ignore[arg-type]
    )
    for redriven in (e for e in events if e.get("type") == "ExecutionRedriven"):
        if run.status not in ("FAILED", "TIMED_OUT", "ABORTED"):
            break  # the replay did not fail where the recording did: the histories differ
        clock.set(_when(redriven))
        run = redrive(machine, run.history, start_date=run.start_date, **common)  # type: ignore[arg-type]
    divergence = compare_histories(events, run.history)
    return ReplayResult(divergence is None, divergence, run, len(events), len(run.history))
