"""Map iterations and Parallel branches run concurrently on threads: handlers overlap, histories
interleave deterministically, Waits follow the virtual clock, a failure stops the siblings."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from opsbook.engine import RealClock, VirtualClock, execute

FN = "arn:aws:lambda:ap-northeast-1:123456789012:function:work"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def task_map(max_concurrency: int, **task_extra) -> dict:
    return {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": max_concurrency,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": FN, "End": True, **task_extra}},
                },
                "End": True,
            }
        },
    }


def parallel(*branches: dict, **extra) -> dict:
    return {
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": list(branches), "End": True, **extra}},
    }


def chain(*states: tuple[str, dict]) -> dict:
    names = [n for n, _ in states]
    body = {}
    for i, (name, spec) in enumerate(states):
        spec = dict(spec)
        if spec["Type"] not in ("Fail", "Succeed"):
            spec.update({"Next": names[i + 1]} if i + 1 < len(names) else {"End": True})
        body[name] = spec
    return {"StartAt": names[0], "States": body}


class Overlap:
    """A handler that sleeps in real time and records how many calls ran at once."""

    def __init__(self, seconds: float, jitter: float = 0.0):
        self.seconds, self.jitter = seconds, jitter
        self.lock = threading.Lock()
        self.now = self.peak = 0

    def __call__(self, payload):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(self.seconds + random.uniform(0, self.jitter))
        with self.lock:
            self.now -= 1
        return payload


def assert_consistent_ids(history: list[dict]) -> None:
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))
    assert all(0 <= e["previousEventId"] < e["id"] for e in history)


def shape(history: list[dict]) -> list[tuple]:
    """A history without timestamps and without the per-invocation Lambda ids."""
    return [
        (e["type"], e["id"], e["previousEventId"], str(e.get("stateEnteredEventDetails")))
        for e in history
    ]


@pytest.mark.parametrize(
    ("max_concurrency", "peak_range"),
    [(1, (1, 1)), (5, (2, 5)), (0, (2, 40))],
)
def test_map_handlers_overlap_up_to_max_concurrency(max_concurrency, peak_range):
    work = Overlap(0.02)
    run = execute(task_map(max_concurrency), list(range(60)), tasks={FN: work})
    assert run.status == "SUCCEEDED"
    assert run.output == list(range(60))
    assert peak_range[0] <= work.peak <= peak_range[1]
    assert_consistent_ids(run.history)


def test_map_of_waiting_handlers_finishes_in_a_fraction_of_the_serial_time():
    items = list(range(40))
    started = time.monotonic()
    run = execute(task_map(20), items, tasks={FN: Overlap(0.05)})
    elapsed = time.monotonic() - started
    assert run.status == "SUCCEEDED"
    assert elapsed < 40 * 0.05 / 3  # serial would take 2 s


def test_concurrent_map_history_is_the_same_whatever_the_handler_durations():
    shapes = []
    for _ in range(3):
        run = execute(task_map(8), list(range(16)), tasks={FN: Overlap(0.001, jitter=0.01)})
        assert run.status == "SUCCEEDED"
        shapes.append(shape(run.history))
    assert shapes[0] == shapes[1] == shapes[2]


def test_concurrent_iterations_all_start_before_the_first_finishes():
    run = execute(task_map(3), [1, 2, 3], tasks={FN: Overlap(0.01)})
    types = [e["type"] for e in run.history]
    last_start = max(i for i, t in enumerate(types) if t == "MapIterationStarted")
    first_done = types.index("MapIterationSucceeded")
    assert last_start < first_done
    # every iteration's task was called before any returned
    assert types.count("LambdaFunctionScheduled") == 3
    last_scheduled = max(i for i, t in enumerate(types) if t == "LambdaFunctionScheduled")
    assert last_scheduled < types.index("LambdaFunctionSucceeded")


def test_parallel_branches_interleave_every_first_state_entered_before_any_exits():
    branches = [chain((f"A{i}", {"Type": "Pass"}), (f"B{i}", {"Type": "Pass"})) for i in range(3)]
    run = execute(parallel(*branches), {"x": 1})
    assert run.status == "SUCCEEDED"
    assert run.output == [{"x": 1}] * 3
    states = [
        (e["type"], e.get("stateEnteredEventDetails", e.get("stateExitedEventDetails"))["name"])
        for e in run.history
        if e["type"].startswith("Pass")
    ]
    assert states[:4] == [
        ("PassStateEntered", "A0"),
        ("PassStateEntered", "A1"),
        ("PassStateEntered", "A2"),
        ("PassStateExited", "A0"),
    ]
    assert_consistent_ids(run.history)
    # each branch's events chain to its own previous event
    by_id = {e["id"]: e for e in run.history}
    for e in run.history:
        if e["type"] == "PassStateExited":
            prev = by_id[e["previousEventId"]]
            assert prev["type"] == "PassStateEntered"
            assert prev["stateEnteredEventDetails"]["name"] == e["stateExitedEventDetails"]["name"]


def test_waits_in_branches_follow_the_virtual_clock_without_blocking_each_other():
    branches = [
        chain(("Long", {"Type": "Wait", "Seconds": 100}), ("LongDone", {"Type": "Pass"})),
        chain(("Short", {"Type": "Wait", "Seconds": 5}), ("ShortDone", {"Type": "Pass"})),
    ]
    started = time.monotonic()
    run = execute(parallel(*branches), {}, clock=VirtualClock(T0))
    assert time.monotonic() - started < 2
    assert run.stop_date - run.start_date == timedelta(seconds=100)
    entered = {
        e["stateEnteredEventDetails"]["name"]: e
        for e in run.history
        if e["type"].endswith("Entered")
    }
    assert entered["ShortDone"]["timestamp"] == T0 + timedelta(seconds=5)
    assert entered["LongDone"]["timestamp"] == T0 + timedelta(seconds=100)
    assert entered["ShortDone"]["id"] < entered["LongDone"]["id"]


def test_waits_in_branches_overlap_under_the_real_clock():
    branches = [chain((f"W{i}", {"Type": "Wait", "Seconds": 1})) for i in range(3)]
    started = time.monotonic()
    run = execute(parallel(*branches), {}, clock=RealClock())
    assert run.status == "SUCCEEDED"
    assert time.monotonic() - started < 2.5  # one after another would take 3 s


def test_a_failing_branch_stops_its_siblings():
    branches = [
        chain(("Boom", {"Type": "Fail", "Error": "Custom.Boom", "Cause": "no"})),
        chain(("Slow", {"Type": "Wait", "Seconds": 10}), ("NeverReached", {"Type": "Pass"})),
    ]
    run = execute(parallel(*branches), {}, clock=VirtualClock(T0))
    assert (run.status, run.error, run.cause) == ("FAILED", "Custom.Boom", "no")
    types = [e["type"] for e in run.history]
    names = [
        e["stateEnteredEventDetails"]["name"]
        for e in run.history
        if "stateEnteredEventDetails" in e
    ]
    assert "NeverReached" not in names
    assert types[-2:] == ["ParallelStateFailed", "ExecutionFailed"]
    assert run.stop_date == T0  # the 10 s Wait was cut short
    assert_consistent_ids(run.history)


def test_a_failing_iteration_aborts_the_iterations_still_running():
    def work(payload):
        if payload == 0:
            raise ValueError("bad item")
        time.sleep(0.2)
        return payload

    started = time.monotonic()
    run = execute(task_map(3), [0, 1, 2], tasks={FN: work})
    assert time.monotonic() - started < 0.19  # nobody waited for the sleeping handlers
    assert run.status == "FAILED" and run.error == "ValueError"
    types = [e["type"] for e in run.history]
    assert types.count("MapIterationFailed") == 1
    aborted = [e for e in run.history if e["type"] == "MapIterationAborted"]
    assert [e["mapIterationAbortedEventDetails"]["index"] for e in aborted] == [1, 2]
    assert types[-2:] == ["MapStateFailed", "ExecutionFailed"]
    assert_consistent_ids(run.history)


def test_a_caught_branch_failure_goes_on_to_the_catcher():
    definition = parallel(
        chain(("Boom", {"Type": "Fail", "Error": "E"})),
        chain(("Fine", {"Type": "Pass"})),
        Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
    )
    definition["States"]["P"].pop("End")
    definition["States"]["P"]["Next"] = "Caught"
    definition["States"]["Caught"] = {"Type": "Succeed"}
    run = execute(definition, {})
    assert run.status == "SUCCEEDED"
    assert run.output == {"Error": "E"}


def test_distributed_map_children_overlap_and_keep_their_order():
    definition = task_map(10)
    definition["States"]["M"]["ItemProcessor"]["ProcessorConfig"] = {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    definition["States"]["M"]["ToleratedFailureCount"] = 5

    def work(payload):
        time.sleep(0.05)
        if payload % 7 == 3:
            raise ValueError("bad")
        return payload

    started = time.monotonic()
    run = execute(definition, list(range(20)), tasks={FN: work})
    assert time.monotonic() - started < 20 * 0.05 / 3  # one after another: 1 s
    assert run.status == "SUCCEEDED"
    assert [x if isinstance(x, int) else x["error"] for x in run.output] == [
        "ValueError" if i % 7 == 3 else i for i in range(20)
    ]
    assert [e["type"] for e in run.history][-4:] == [
        "MapRunSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]


def test_execution_timeout_reaches_waits_inside_branches():
    definition = parallel(
        chain(("Long", {"Type": "Wait", "Seconds": 500})),
        chain(("Short", {"Type": "Wait", "Seconds": 5}), ("After", {"Type": "Pass"})),
    )
    definition["TimeoutSeconds"] = 60
    run = execute(definition, {}, clock=VirtualClock(T0))
    assert run.status == "TIMED_OUT"
    assert run.stop_date == T0 + timedelta(seconds=60)
    assert run.history[-1]["type"] == "ExecutionTimedOut"
    assert_consistent_ids(run.history)


def test_stop_request_ends_branches_waiting_in_real_time():
    branches = [chain((f"W{i}", {"Type": "Wait", "Seconds": 30})) for i in range(2)]
    started = time.monotonic()
    deadline = started + 0.5
    run = execute(
        parallel(*branches),
        {},
        clock=RealClock(),
        should_abort=lambda: time.monotonic() > deadline,
    )
    assert run.status == "ABORTED"
    assert time.monotonic() - started < 3
    assert run.history[-1]["type"] == "ExecutionAborted"


def test_a_failure_stops_a_map_running_inside_a_sibling_branch():
    inner_map = task_map(5)["States"]["M"]
    inner_map["Next"] = "NeverReached"
    inner_map.pop("End")
    slow_branch = {
        "StartAt": "M",
        "States": {"M": inner_map, "NeverReached": {"Type": "Pass", "End": True}},
    }
    # a handler takes no virtual time, so the failure must not wait on the virtual clock
    failing = chain(("First", {"Type": "Pass"}), ("Boom", {"Type": "Fail", "Error": "E"}))
    calls = []

    def work(payload):
        calls.append(payload)
        time.sleep(0.2)
        return payload

    started = time.monotonic()
    run = execute(parallel(failing, slow_branch), list(range(10)), tasks={FN: work})
    assert time.monotonic() - started < 0.19  # nobody waited for the running handlers
    assert (run.status, run.error) == ("FAILED", "E")
    names = [
        e["stateEnteredEventDetails"]["name"]
        for e in run.history
        if "stateEnteredEventDetails" in e
    ]
    assert "NeverReached" not in names
    assert 1 <= len(calls) <= 5  # never more than MaxConcurrency; the rest never started
    assert_consistent_ids(run.history)
