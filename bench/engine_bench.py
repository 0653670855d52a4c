"""Engine benchmark: executions/s of opsbook.engine vs moto's in-process ASL interpreter.

    .venv/bin/python bench/engine_bench.py [--quick]

Prints, from one run (medians of several repeats):
  1. a 10-state Pass/Choice chain: opsbook.engine executions/s, moto executions/s, the ratio;
  2. the weekly-load shape (check, choice, six rounds of notify -> Wait 600 -> check, insert,
     notify) with stub tasks under the virtual clock: executions/s;
  3. peak RSS of a 3,500-item inline Map (24,506 history events: near the 25,000-event quota
     an execution may not pass), measured in a fresh subprocess;
  4. a 1,000-item Map whose Python handler sleeps 10 ms (I/O), with MaxConcurrency 40 and 1:
     the iterations' handlers overlap on threads.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from opsbook.engine import execute  # noqa: E402

FN = "arn:aws:lambda:ap-northeast-1:123456789012:function:"


def chain_definition() -> dict:
    """10 states: Pass and Choice alternating, every Choice taking its first rule."""
    states: dict = {}
    for i in range(5):
        states[f"Pass{i}"] = {
            "Type": "Pass",
            "Parameters": {"n.$": "$.n", "step": i},
            "Next": f"Choice{i}",
        }
        nxt = f"Pass{i + 1}" if i < 4 else "Done"
        states[f"Choice{i}"] = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 0, "Next": nxt}],
            "Default": "Done",
        }
    states["Done"] = {"Type": "Succeed"}  # the 11th is the terminal; 10 states do the work
    return {"StartAt": "Pass0", "States": states}


def weekly_definition() -> dict:
    states: dict = {
        "Check0": {
            "Type": "Task",
            "Resource": FN + "check",
            "Parameters": {"round": 0},
            "Next": "Ready0",
        },
    }
    for r in range(6):
        states[f"Ready{r}"] = {
            "Type": "Choice",
            "Choices": [{"Variable": "$.ready", "BooleanEquals": True, "Next": "Insert"}],
            "Default": f"Notify{r + 1}",
        }
        states[f"Notify{r + 1}"] = {
            "Type": "Task",
            "Resource": FN + "notify",
            "ResultPath": None,
            "Next": f"Wait{r + 1}",
        }
        states[f"Wait{r + 1}"] = {"Type": "Wait", "Seconds": 600, "Next": f"Check{r + 1}"}
        states[f"Check{r + 1}"] = {
            "Type": "Task",
            "Resource": FN + "check",
            "Parameters": {"round": r + 1},
            "Next": f"Ready{r + 1}" if r < 5 else "Insert",
        }
    states["Insert"] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "insert", "Payload.$": "$"},
        "ResultSelector": {"rows.$": "$.Payload.rows"},
        "Next": "NotifyDone",
    }
    states["NotifyDone"] = {"Type": "Task", "Resource": FN + "notify", "End": True}
    return {"StartAt": "Check0", "States": states}


WEEKLY_TASKS = {
    FN + "check": lambda p: {"ready": p["round"] >= 6, "round": p["round"]},
    FN + "notify": lambda p: {"sent": True},
    "insert": lambda p: {"rows": 1234},
}


def rate(fn, n: int, repeats: int) -> tuple[float, float]:
    """Median executions/s over `repeats` batches of n executions: (per wall-clock second,
    per CPU second of this process). CPU time counts every thread (moto's workers too) and is
    not inflated by other processes competing for the cores."""
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        wall.append(n / (time.perf_counter() - w))
        cpu.append(n / max(time.process_time() - c, 1e-9))
    return statistics.median(wall), statistics.median(cpu)


def bench_engine_chain(n: int, repeats: int) -> float:
    d = json.dumps(chain_definition())
    run = execute(d, {"n": 1})
    assert run.status == "SUCCEEDED", run.error
    return rate(lambda: execute(d, {"n": 1}), n, repeats)


def bench_weekly(n: int, repeats: int) -> float:
    d = json.dumps(weekly_definition())
    run = execute(d, {}, tasks=WEEKLY_TASKS)
    assert run.status == "SUCCEEDED" and run.output == {"sent": True}, (run.error, run.cause)
    waits = sum(1 for e in run.history if e["type"] == "WaitStateExited")
    assert waits == 6 and (run.stop_date - run.start_date).total_seconds() == 3600
    return rate(lambda: execute(d, {}, tasks=WEEKLY_TASKS), n, repeats)


def bench_moto_chain(n: int, repeats: int) -> float:
    """moto 5.x's ASL interpreter (the LocalStack-derived 'parser' backend), in process."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    from moto import mock_aws
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
        sm = backend.create_state_machine(
            name="chain",
            definition=json.dumps(chain_definition()),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )
        counter = iter(range(10**9))

        def one() -> None:
            ex = backend.start_execution(
                sm.arn, name=f"e{next(counter)}", execution_input='{"n": 1}'
            )
            deadline = time.monotonic() + 30
            while ex.exec_status is None or ex.exec_status.value == "RUNNING":
                if time.monotonic() > deadline:
                    raise RuntimeError("moto execution did not finish")
                time.sleep(0.0005)
            assert ex.exec_status.value == "SUCCEEDED", ex.exec_status

        one()
        return rate(one, n, repeats)


RSS_SCRIPT = """
import resource, sys
sys.path.insert(0, {repo!r})
from opsbook.engine import execute
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
d = {{"StartAt": "M", "States": {{"M": {{"Type": "Map", "ItemsPath": "$.items",
     "ItemSelector": {{"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value"}},
     "ItemProcessor": {{"StartAt": "T", "States": {{"T": {{"Type": "Task",
     "Resource": "arn:aws:lambda:us-east-1:123456789012:function:f", "End": True}}}}}},
     "End": True}}}}}}
run = execute(d, {{"items": [{{"id": i, "name": "item-%d" % i}} for i in range({items})]}},
              tasks={{"f": lambda p: {{"ok": p["i"]}}}})
assert run.status == "SUCCEEDED" and len(run.output) == {items}, (run.error, run.cause)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(base, peak, len(run.history))
"""


RSS_ITEMS = 3_500  # 7 events an item: 24,506 events, under the 25,000-event history quota


def bench_map_rss() -> tuple[float, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", RSS_SCRIPT.format(repo=str(REPO), items=RSS_ITEMS)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    base_kb, peak_kb, events = int(out[0]), int(out[1]), int(out[2])
    return base_kb / 1024, peak_kb / 1024, events


def io_map_definition(max_concurrency: int) -> dict:
    return {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": max_concurrency,
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": FN + "io", "End": True}},
                },
                "End": True,
            }
        },
    }


def io_handler(payload):
    time.sleep(0.010)  # a handler waiting 10 ms on I/O
    return payload


def bench_io_map(max_concurrency: int, repeats: int) -> float:
    """Median wall seconds of a 1,000-item Map whose handler sleeps 10 ms."""
    d = json.dumps(io_map_definition(max_concurrency))
    items = list(range(1000))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run = execute(d, items, tasks={FN + "io": io_handler})
        times.append(time.perf_counter() - started)
        assert run.status == "SUCCEEDED" and run.output == items, (run.error, run.cause)
    return statistics.median(times)


def main() -> None:
    quick = "--quick" in sys.argv
    repeats = 3 if quick else 5
    # First, while this process is small: a child's ru_maxrss starts from its parent's size.
    base_mb, peak_mb, events = bench_map_rss()
    engine = bench_engine_chain(200 if quick else 1000, repeats)
    weekly = bench_weekly(100 if quick else 500, repeats)
    io_40 = bench_io_map(40, repeats)
    io_1 = bench_io_map(1, 1 if quick else 3)  # about 10.5 s a run
    moto = bench_moto_chain(5 if quick else 20, repeats)  # last: it leaves worker threads
    load = os.getloadavg()[0]
    print(f"(cores: {os.cpu_count()}, load average at the end: {load:.1f})")
    print(
        f"10-state Pass/Choice chain: opsbook.engine {engine[0]:,.0f} exec/s "
        f"({engine[1]:,.0f} per CPU-s); moto {moto[0]:,.1f} exec/s ({moto[1]:,.1f} per CPU-s); "
        f"ratio {engine[0] / moto[0]:,.0f}x wall, {engine[1] / moto[1]:,.0f}x CPU (target >= 30x)"
    )
    print(
        f"weekly-load shape (6 x Wait 600, stub tasks, virtual clock): {weekly[0]:,.0f} exec/s "
        f"({weekly[1]:,.0f} per CPU-s) (target >= 500)"
    )
    print(
        f"{RSS_ITEMS:,}-item inline Map: peak RSS {peak_mb:,.0f} MB (interpreter + engine before "
        f"the run: {base_mb:,.0f} MB; {events:,} history events) (target < 300 MB)"
    )
    print(
        f"1,000-item Map, handler sleeps 10 ms: MaxConcurrency 40 {io_40:.2f} s, MaxConcurrency 1 "
        f"{io_1:.2f} s: {io_1 / io_40:.0f}x faster (target >= 20x)"
    )


if __name__ == "__main__":
    main()
