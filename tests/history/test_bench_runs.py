"""bench/history_bench.py still runs (a smaller year, so the call counts, not the timings, are
checked): the figures in docs/performance.md come from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "history_bench.py"

pytestmark = [pytest.mark.slow, pytest.mark.aws]


def test_history_bench_runs_and_counts_calls(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--weeks", "2", "--per-week", "1", "--json"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    calls = {r["label"]: r["total_calls"] for r in doc["results"]}
    assert doc["executions"] == 2 and len(calls) == 4
    # Naive: a listing, then describe + history per execution; cached reloads: one listing.
    assert calls["naive boto3 loop (describe + history, sequential)"] == 5
    assert calls["opsbook cached reload, new process"] == 1
    assert calls["opsbook cached reload, same process"] == 1
