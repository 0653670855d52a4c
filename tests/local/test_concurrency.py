"""Twenty CLI processes start the same week at once: exactly one execution."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from opsbook.workflows.schedules import week_input

WEEK = "2026-11-26"
PROCESSES = 20


def test_twenty_concurrent_starts_make_exactly_one_execution(tmp_path, make_backend, insert_events):
    home = tmp_path / "home"
    setup = make_backend(home)
    setup.init()
    setup.deploy()
    insert_events(setup, "2026-11-25")
    setup.close()
    env = {**os.environ, "OPSBOOK_HOME": str(home)}
    env.pop("SLACK_WEBHOOK_URL", None)
    command = [sys.executable, "-m", "opsbook", "start", "--week", WEEK, "--json"]
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert all("Traceback" not in err for _, err in outputs), [e for _, e in outputs if e][:2]
    assert codes == [0] * PROCESSES, [err for _, err in outputs if err][:3]
    docs = [json.loads(out) for out, _ in outputs]
    assert {d["arn"] for d in docs} == {
        "arn:aws:states:local:000000000000:execution:opsbook-weekly-load:week-2026-11-26"
    }
    assert {d["status"] for d in docs} == {"SUCCEEDED"}
    assert all(d["week"] == WEEK and d["name"] == f"week-{WEEK}" for d in docs)

    check = make_backend(home)
    executions = check.list_executions()
    assert len(executions) == 1 and executions[0].input == week_input(WEEK, notify_every=6)
    events = check.history(executions[0].arn)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert sum(e["type"] == "ExecutionStarted" for e in events) == 1
    outbox = (home / "outbox" / "slack.jsonl").read_text().splitlines()
    assert len(outbox) == 2  # one run's notifications, not twenty
