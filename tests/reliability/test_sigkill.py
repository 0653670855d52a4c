"""SIGKILL of `opsbook start --clock real` in the middle of a run.

After the kill the store is intact (PRAGMA integrity_check), the execution shows FAILED with
Opsbook.Interrupted and a cause naming the dead pid (detected on list/describe: the owning
process, recorded as pid + start time + host, is gone), the history has no gap and no
duplicate, and a redrive through the Backend API finishes the week. A pid reused by an
unrelated live process does not keep the dead run RUNNING."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import LAST_DAY, WEEK, insert_events, run_cli, scrubbed_env  # noqa: E402

NAME = f"week-{WEEK}"


def _wait_in_store(store: Path, kind: str, timeout: float = 60.0) -> None:
    """Poll the store file directly (no backend call, so nothing is reaped meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store.exists():
            conn = sqlite3.connect(store, timeout=5)
            try:
                (n,) = conn.execute(
                    "SELECT COUNT(*) FROM events WHERE type = ?", (kind,)
                ).fetchone()
            except sqlite3.OperationalError:
                n = 0
            finally:
                conn.close()
            if n:
                return
        time.sleep(0.05)
    raise AssertionError(f"no {kind} event after {timeout} s")


def _start_and_kill(home: Path, env: dict) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "opsbook", "start", "--week", WEEK, "--clock", "real",
         "--poll-seconds", "1", "--max-polls", "120"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_in_store(home / "store.sqlite", "WaitStateEntered")
        time.sleep(0.3)  # asleep in WaitForData
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    return proc.pid


def assert_history_consistent(events: list[dict]) -> None:
    ids = [e["id"] for e in events]
    assert ids == list(range(1, len(ids) + 1)), ids  # nothing lost, nothing duplicated
    for event in events:
        assert 0 <= event["previousEventId"] < event["id"], event
    assert sum(e["type"] == "ExecutionStarted" for e in events) == 1
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)


def test_sigkill_leaves_an_intact_store_an_interrupted_execution_and_a_redrive(deployed, tmp_path):
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    pid = _start_and_kill(home, env)

    conn = sqlite3.connect(home / "store.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()

    listed = run_cli("executions", "--json", env=env)
    assert listed.code == 0, listed.err
    (row,) = json.loads(listed.out)
    assert row["name"] == NAME and row["status"] == "FAILED"
    assert row["error"] == "Opsbook.Interrupted"
    assert f"pid {pid}" in row["cause"] and "interrupted" in row["cause"]

    history = json.loads(run_cli("history", NAME, "--json", env=env).out)["events"]
    assert_history_consistent(history)
    assert history[-1]["type"] == "ExecutionFailed"
    assert history[-1]["executionFailedEventDetails"]["error"] == "Opsbook.Interrupted"
    assert sum(e["type"] == "ExecutionFailed" for e in history) == 1  # closed once

    insert_events(deployed, LAST_DAY)
    redriven = deployed.redrive(NAME)
    assert redriven.status == "SUCCEEDED", redriven.cause
    assert redriven.redrive_count == 1
    events = deployed.history(NAME)
    kept = [(e["id"], e["type"]) for e in events[: len(history)]]
    assert kept == [(e["id"], e["type"]) for e in history]  # the history is kept, then continued
    assert_history_consistent(events)
    assert [e["type"] for e in events].count("ExecutionRedriven") == 1
    conn = sqlite3.connect(home / "store.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_reused_pid_does_not_keep_a_dead_run_running(deployed, tmp_path):
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    _start_and_kill(home, env)
    # Another, unrelated process now holds "the" pid: rewrite the recorded owner to its pid,
    # keeping the dead process's start time (what pid reuse looks like).
    squatter = subprocess.Popen(["sleep", "60"])
    try:
        store = home / "store.sqlite"
        conn = sqlite3.connect(store, isolation_level=None)
        (arn,) = conn.execute("SELECT arn FROM executions").fetchone()
        (recorded,) = conn.execute(
            "SELECT value FROM meta WHERE key = ?", (f"owner:{arn}",)
        ).fetchone()
        identity = recorded.partition(":")[2]
        conn.execute("UPDATE executions SET owner_pid = ? WHERE arn = ?", (squatter.pid, arn))
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = ?",
            (f"{squatter.pid}:{identity}", f"owner:{arn}"),
        )
        conn.close()
        assert os.path.exists(f"/proc/{squatter.pid}")
        described = run_cli("history", NAME, "--json", env=env)
        doc = json.loads(described.out)["execution"]
        assert doc["status"] == "FAILED" and doc["error"] == "Opsbook.Interrupted"
        assert f"pid {squatter.pid}" in doc["cause"]
    finally:
        squatter.kill()
        squatter.wait(10)


def test_after_a_sigkill_opsbook_rerun_redrives_the_week(deployed, tmp_path):
    """The operator's path: `opsbook rerun` plans a REDRIVE for the interrupted week and it
    finishes; the history keeps the interrupted part."""
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    _start_and_kill(home, env)
    insert_events(deployed, LAST_DAY)
    deployed.close()
    result = run_cli("rerun", "--since", WEEK, "--until", WEEK, "--yes", "--json", env=env)
    assert result.code == 0, result.err
    (row,) = json.loads(result.out)
    assert row["week"] == WEEK and row["action"] == "REDRIVE" and row["status"] == "SUCCEEDED"
    events = json.loads(run_cli("history", NAME, "--json", env=env).out)["events"]
    types = [e["type"] for e in events]
    assert types.count("ExecutionFailed") == 1 and types.count("ExecutionRedriven") == 1
    assert types[-1] == "ExecutionSucceeded"
    assert_history_consistent(events)
