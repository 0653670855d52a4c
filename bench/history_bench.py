"""Benchmark: browse a year of weekly executions three ways, on a moto server on 127.0.0.1.

    .venv/bin/python bench/history_bench.py [--weeks 52] [--per-week 3] [--json]

It starts `moto_server` (a separate process, so client and server don't share a GIL), lets moto
execute state machines, and creates `weeks x per-week` executions of a ~40-event definition
(a Choice, a chain of Pass states, and a Fail branch). Each week gets week-<DATE>, -r1, -r2; the
first attempts fail and the last succeeds (the newest 4 weeks end FAILED). Then it browses:

1. naive: a boto3 loop, ListExecutions then DescribeExecution + the full GetExecutionHistory of
   every execution, one after another;
2. opsbook first load: history.weeks() through AwsBackend, cache cold: histories only of the
   weeks whose last execution did not succeed (bounded concurrency);
3. opsbook cached reload, new process: a new AwsBackend on the same OPSBOOK_HOME (its
   clients made before the clock starts, like the naive loop's client);
4. opsbook cached reload, same process: weeks() again on the same backend (a notebook cell
   run twice).

API calls are counted with a botocore `before-call` hook on each boto3 Session.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the `support` helpers shared with the tests

from support.aws_calls import CallCounter  # noqa: E402
from support.moto_server import set_execute, wait_ready  # noqa: E402

from opsbook.backends.aws.backend import AwsBackend  # noqa: E402
from opsbook.config import load_config  # noqa: E402
from opsbook.operations import history as H  # noqa: E402
from opsbook.workflows.registry import get_workflow  # noqa: E402
from opsbook.workflows.schedules import last_completed_week  # noqa: E402

REGION = "ap-northeast-1"
ROLE = "arn:aws:iam::123456789012:role/opsbook-bench"
PASS_STATES = 18  # 1 + 2 (Choice) + 2 * 18 + 1 = 40 events on success, 39 on failure


def definition() -> dict:
    states: dict = {
        "Route": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "P1"}],
            "Default": "P0",
        },
        "Failed": {"Type": "Fail", "Error": "DataLate", "Cause": "gave up polling"},
    }
    for i in range(PASS_STATES):
        last = i == PASS_STATES - 1
        states[f"P{i}"] = (
            {"Type": "Pass", "End": True} if last else {"Type": "Pass", "Next": f"P{i + 1}"}
        )
    # The failing path runs P1..P16 then fails.
    states[f"P{PASS_STATES - 2}"] = {"Type": "Pass", "Next": "Gate"}
    states["Gate"] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Failed"}],
        "Default": f"P{PASS_STATES - 1}",
    }
    return {"Comment": "history benchmark", "StartAt": "Route", "States": states}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=20, alive=lambda: proc.poll() is None)
    except OSError:
        proc.kill()
        raise SystemExit("moto_server did not start") from None
    set_execute(url, True)
    return proc, url


def populate(sfn, sm_name: str, weeks: list[date], per_week: int) -> list[str]:
    sm = sfn.create_state_machine(name=sm_name, definition=json.dumps(definition()), roleArn=ROLE)
    arns = []
    failing_weeks = set(weeks[-4:])
    for week in weeks:
        for attempt in range(per_week):
            name = f"week-{week}" if attempt == 0 else f"week-{week}-r{attempt}"
            fail = attempt < per_week - 1 or week in failing_weeks
            payload = json.dumps({"week": week.isoformat(), "fail": fail})
            arns.append(
                sfn.start_execution(
                    stateMachineArn=sm["stateMachineArn"], name=name, input=payload
                )["executionArn"]
            )
    deadline = time.monotonic() + 300
    while True:  # bounded wait until moto has run them all
        running = [
            e for p in sfn.get_paginator("list_executions").paginate(stateMachineArn=sm["stateMachineArn"])
            for e in p["executions"] if e["status"] == "RUNNING"
        ]  # fmt: skip
        if not running:
            return arns
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(running)} executions still running after 300 s")
        time.sleep(0.5)


def naive(counter: CallCounter, sm_arn: str) -> dict:
    sfn = counter.session().client("stepfunctions")
    t0 = time.perf_counter()
    rows = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=sm_arn):
        for item in page["executions"]:
            described = sfn.describe_execution(executionArn=item["executionArn"])
            events = []
            for hp in sfn.get_paginator("get_execution_history").paginate(
                executionArn=item["executionArn"]
            ):
                events.extend(hp["events"])
            rows.append(
                (json.loads(described["input"]).get("week"), described["status"], len(events))
            )
    return {
        "seconds": time.perf_counter() - t0,
        "rows": len(rows),
        "events": sum(r[2] for r in rows),
    }


def warm(backend: AwsBackend) -> AwsBackend:
    """Create the backend's clients (and ask STS for the account) outside the measurement."""
    backend.names  # noqa: B018
    backend.sfn  # noqa: B018
    return backend


def browse(backend: AwsBackend, since: date, until: date) -> dict:
    t0 = time.perf_counter()
    df = H.History(backend).weeks(since, until)
    return {
        "seconds": time.perf_counter() - t0,
        "rows": len(df),
        "statuses": df["status"].value_counts().to_dict(),
    }


def measure(label: str, counter: CallCounter, fn) -> dict:
    before = counter.snapshot()
    result = fn()
    calls = counter.snapshot() - before
    result.update(label=label, calls=dict(calls), total_calls=sum(calls.values()))
    result["history_calls"] = calls.get("GetExecutionHistory", 0)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--per-week", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.weeks <= 260 or not 1 <= args.per_week <= 10:
        parser.error("--weeks must be 1..260 and --per-week 1..10")

    proc, url = start_moto()
    tmp = tempfile.TemporaryDirectory(prefix="opsbook-bench-")
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION=REGION,
            AWS_EC2_METADATA_DISABLED="true",
        )  # fmt: skip
        os.environ.pop("AWS_PROFILE", None)
        until = last_completed_week()
        weeks = [until - timedelta(days=7 * i) for i in range(args.weeks - 1, -1, -1)]
        base = load_config(home=Path(tmp.name) / "home", backend="aws")
        cfg = base.for_workflow(get_workflow(base))  # the weekly load's names
        setup = boto3.session.Session(region_name=REGION).client("stepfunctions")
        t0 = time.perf_counter()
        populate(setup, cfg.state_machine_name, weeks, args.per_week)
        setup_seconds = time.perf_counter() - t0

        counter = CallCounter()
        sm_arn = f"arn:aws:states:{REGION}:123456789012:stateMachine:{cfg.state_machine_name}"
        results = [
            measure(
                "naive boto3 loop (describe + history, sequential)",
                counter,
                lambda: naive(counter, sm_arn),
            )
        ]
        # Like the naive loop's client, each backend's clients exist before the clock starts
        # (botocore loads its service models once per process: ~0.5 s, the same for both).
        first = warm(AwsBackend(cfg, session=counter.session()))
        results.append(
            measure(
                "opsbook first load (cache cold)", counter, lambda: browse(first, weeks[0], until)
            )
        )
        again = warm(AwsBackend(cfg, session=counter.session()))
        results.append(
            measure(
                "opsbook cached reload, new process",
                counter,
                lambda: browse(again, weeks[0], until),
            )
        )
        results.append(
            measure(
                "opsbook cached reload, same process",
                counter,
                lambda: browse(first, weeks[0], until),
            )
        )
        first.close()
        again.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        tmp.cleanup()

    base = results[0]["seconds"]
    for r in results:
        r["speedup"] = base / r["seconds"] if r["seconds"] else float("inf")
    summary = {
        "executions": args.weeks * args.per_week,
        "weeks": args.weeks,
        "events_per_execution": round(results[0]["events"] / max(1, results[0]["rows"]), 1),
        "setup_seconds": round(setup_seconds, 1),
        "max_concurrency": cfg.max_concurrency,
        "results": results,
        "targets": {
            "first_load_10x": results[1]["speedup"] >= 10,
            "cached_reload_20x_new_process": results[2]["speedup"] >= 20
            and results[2]["history_calls"] == 0,
            "cached_reload_20x_same_process": results[3]["speedup"] >= 20
            and results[3]["history_calls"] == 0,
        },
    }
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(
        f"{summary['executions']} executions ({args.weeks} weeks x {args.per_week}),"
        f" {summary['events_per_execution']} events each; moto setup {summary['setup_seconds']} s;"
        f" max_concurrency {cfg.max_concurrency}"
    )
    print(
        f"{'way':<52} {'wall s':>8} {'speedup':>8} {'calls':>6} {'history':>8}  calls by operation"
    )
    for r in results:
        ops = ", ".join(f"{k} {v}" for k, v in sorted(r["calls"].items()))
        print(
            f"{r['label']:<52} {r['seconds']:>8.2f} {r['speedup']:>7.1f}x {r['total_calls']:>6} {r['history_calls']:>8}  {ops}"
        )
    for name, ok in summary["targets"].items():
        print(f"target {name}: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
