"""A reported run is never lost, and recovery always converges (issue 14, findings 1, 2, 4).

1. `start --no-wait` while another process holds the DuckDB file: either start refuses before
   it answers (nothing recorded), or the execution it reported ends in a recorded terminal
   state. It never disappears.
2. A SIGKILL right after the execution row is committed (before ExecutionStarted): the reaped
   execution is planned START, never REDRIVE, and its history is never appended to again.
4. Two overlapping redrives: the late one's claim is refused once the first one SUCCEEDED; a
   SUCCEEDED execution never turns FAILED.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WEEK, add_week, one_line_error, run_cli, scrubbed_env  # noqa: E402

from opsbook.errors import UsageError  # noqa: E402

NAME = f"week-{WEEK}"
KILL_AT = Path(__file__).resolve().parents[1] / "support" / "kill_at.py"


def _hold_warehouse(path: Path) -> subprocess.Popen:
    """Another process holding warehouse.duckdb open read-write (DuckDB's file lock)."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
         " time.sleep(300)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.slow
def test_a_reported_no_wait_start_is_never_lost(deployed, tmp_path):
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    holder = _hold_warehouse(home / "warehouse.duckdb")
    try:
        started = run_cli("start", "--week", WEEK, "--no-wait", "--json", env=env, timeout=150)
        if started.code == 0:
            # It answered RUNNING: that execution must end in a recorded state, with a cause.
            assert json.loads(started.out)["status"] == "RUNNING"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                shown = run_cli("history", NAME, "--json", env=env)
                assert shown.code == 0, f"the reported execution vanished: {shown.err}"
                if json.loads(shown.out)["execution"]["status"] != "RUNNING":
                    break
                time.sleep(1)
            execution = json.loads(shown.out)["execution"]
            assert execution["status"] == "FAILED" and "warehouse" in execution["cause"]
        else:
            # Or it refused before answering, naming the held file; nothing was recorded.
            line = one_line_error(started)
            assert "warehouse.duckdb" in line
            listed = run_cli("executions", "--json", env=env)
            assert listed.code == 0 and json.loads(listed.out) == []
    finally:
        holder.kill()
        holder.wait(30)


def _kill_after_create(env: dict) -> subprocess.CompletedProcess:
    return _kill_after(env, "create_execution")


def _kill_after(env: dict, method: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(KILL_AT), method, "--", "start", "--week", WEEK],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_a_kill_before_the_first_event_is_rerun_as_a_new_execution(deployed, tmp_path):
    home = Path(deployed.cfg.home)
    add_week(deployed)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    killed = _kill_after_create(env)
    assert killed.returncode == -9, killed.stderr
    listed = json.loads(run_cli("executions", "--json", env=env).out)
    assert [(e["name"], e["status"]) for e in listed] == [(NAME, "FAILED")]
    before = json.loads(run_cli("history", NAME, "--json", env=env).out)["events"]
    assert [e["type"] for e in before] == ["ExecutionFailed"]
    # The recorded cause says what works: a new execution, not a redrive that is refused.
    cause = before[0]["executionFailedEventDetails"]["cause"]
    assert "start a new execution" in cause and "redrive it" not in cause, cause
    for _ in range(2):  # converges: the second rerun has nothing left to do
        result = run_cli("rerun", "--since", WEEK, "--until", WEEK, "--yes", "--json", env=env)
        assert result.code == 0, result.err
    after = json.loads(run_cli("history", NAME, "--json", env=env).out)["events"]
    assert after == before  # never appended to a history it cannot resume
    listed = json.loads(run_cli("executions", "--json", env=env).out)
    statuses = {e["name"]: e["status"] for e in listed}
    assert statuses == {NAME: "FAILED", f"{NAME}-r1": "SUCCEEDED"}


def test_plan_never_redrives_a_history_without_execution_started(deployed, tmp_path):
    from opsbook.operations.backfill import START, plan_rerun

    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    assert _kill_after_create(env).returncode == -9
    plan = plan_rerun(deployed, WEEK, WEEK)
    (row,) = plan.to_dict("records")
    assert row["action"] == START and "ExecutionStarted" in row["reason"]
    with pytest.raises(UsageError, match="ExecutionStarted"):
        deployed.redrive(NAME)
    assert [e["type"] for e in deployed.history(NAME)] == ["ExecutionFailed"]


def test_a_late_redrive_claim_never_turns_succeeded_into_failed(deployed, make_local, tmp_path):
    """Two redrives of one FAILED execution; the second one's claim is delayed until the first
    has SUCCEEDED (as a slow process would be). The late claim is refused."""
    # A run killed right after its first event is reaped FAILED (interrupted), redrivable.
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    assert _kill_after(env, "append_event").returncode == -9
    assert deployed.describe(NAME).status == "FAILED"
    add_week(deployed)
    deployed.close()
    late = make_local(home)
    store = late.store
    original = store.claim_redrive
    passed_checks = threading.Event()
    first_done = threading.Event()

    def delayed_claim(*args, **kwargs):
        passed_checks.set()
        assert first_done.wait(60)
        return original(*args, **kwargs)

    store.claim_redrive = delayed_claim  # type: ignore[method-assign]
    outcome: dict = {}

    def second() -> None:
        try:
            outcome["result"] = late.redrive(NAME)
        except Exception as exc:  # noqa: BLE001 - the assertion below looks at it
            outcome["error"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    assert passed_checks.wait(60)
    first = deployed.redrive(NAME)
    assert first.status == "SUCCEEDED"
    first_done.set()
    thread.join(60)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), UsageError), outcome
    assert "SUCCEEDED" in str(outcome["error"])
    final = deployed.describe(NAME)
    events = deployed.history(NAME)
    assert final.status == "SUCCEEDED" and events[-1]["type"] == "ExecutionSucceeded"
