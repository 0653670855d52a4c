"""The schedule fires twice, or many operators start the same week at once: one execution.

Local: 20 real `opsbook start` processes are proven by tests/local/test_concurrency.py; here
the duplicate scheduled firing (`schedule run` twice over the same range, in two processes at
once). AWS: 20 threads start the same name on moto at once; StartExecution's name uniqueness
plus opsbook's "report the existing one" make one execution."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WEEK, add_week, scrubbed_env  # noqa: E402

from opsbook.backends.aws.backend import AwsBackend  # noqa: E402
from opsbook.errors import ExecutionAlreadyExists  # noqa: E402

THREADS = 20


def test_twenty_concurrent_aws_starts_make_one_execution(aws_deployed):
    cfg = aws_deployed.cfg
    payload = {"week": WEEK, "mode": "hang"}
    results: list[tuple[str, str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS, timeout=60)

    def start() -> None:
        backend = AwsBackend(cfg)
        try:
            backend.names  # noqa: B018 - STS before the barrier, so the starts really race
            barrier.wait()
            try:
                execution = backend.start(payload, name=f"week-{WEEK}", wait=False)
                results.append(("started", execution.arn))
            except ExecutionAlreadyExists as exc:
                results.append(("existing", exc.existing.arn))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            backend.close()

    threads = [threading.Thread(target=start) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert len(results) == THREADS
    arns = {arn for _, arn in results}
    assert len(arns) == 1 and next(iter(arns)).endswith(f":week-{WEEK}")
    listed = aws_deployed.list_executions()
    assert [e.name for e in listed] == [f"week-{WEEK}"]
    described = aws_deployed.describe(f"week-{WEEK}")
    assert described.status == "RUNNING" and described.input == payload


def test_the_schedule_firing_twice_at_once_runs_each_week_once(deployed, tmp_path):
    """Two `opsbook schedule run` processes over the same weeks, at the same time."""
    home = Path(deployed.cfg.home)
    add_week(deployed, WEEK)
    add_week(deployed, "2026-11-19")
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    command = [
        sys.executable, "-m", "opsbook", "schedule", "run",
        "--since", "2026-11-19", "--until", "2026-11-26", "--json",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    docs = [json.loads(out) for out, _ in outputs]
    for doc in docs:
        assert [(r["week"], r["status"]) for r in doc] == [
            ("2026-11-19", "SUCCEEDED"),
            (WEEK, "SUCCEEDED"),
        ]
    # Each week ran once: one execution, and one run's worth of notifications.
    listed = deployed.list_executions()
    assert sorted(e.name for e in listed) == ["week-2026-11-19", f"week-{WEEK}"]
    for execution in listed:
        events = deployed.history(execution.arn)
        assert sum(e["type"] == "ExecutionStarted" for e in events) == 1
    lines = (home / "outbox" / "slack.jsonl").read_text().splitlines()
    assert len(lines) == 4  # 2 weeks x (starting + complete)
