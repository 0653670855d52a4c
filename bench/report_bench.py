"""Benchmark: `opsbook report` against a bare papermill run of the same notebook.

    .venv/bin/python bench/report_bench.py [--runs 3] [--weeks 12] [--json]

It builds a demo home (init --demo-data, deploy, schedule run) in a temporary folder, then
alternates, `--runs` times each, two commands on the same week (the failed one):

1. bare:  papermill opsbook/notebooks/weekly_report.ipynb OUT -r week W -p home H -k python3
2. opsbook: opsbook --home H report --week W --out D   (papermill + offline HTML + figures)

Both are fresh processes (interpreter start, imports and kernel start included), timed by
wall clock. It prints each run, the medians and their ratio; the issue's goal is <= 2.0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NOTEBOOK = REPO / "opsbook" / "notebooks" / "weekly_report.ipynb"
END_WEEK = "2026-11-26"


def _run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        args, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        timeout=600,
    )  # fmt: skip
    return time.perf_counter() - start


def _demo(home: Path, weeks: int, env: dict[str, str]) -> str:
    """A demo home with `weeks` weeks run by the schedule; returns its first late (failed) week."""
    opsbook = [str(BIN / "opsbook"), "--home", str(home)]
    said = subprocess.run(
        [*opsbook, "init", "--demo-data", "--weeks", str(weeks), "--end-week", END_WEEK],
        check=True, env=env, capture_output=True, text=True, timeout=600,
    ).stdout  # fmt: skip
    late = said.split("arrives too late: ")[-1].split(",")[0].strip()
    subprocess.run([*opsbook, "deploy"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(
        [*opsbook, "schedule", "run", "--since", _first_week(weeks), "--until", END_WEEK],
        check=True, env=env, capture_output=True, timeout=600,
    )  # fmt: skip
    return late


def _first_week(weeks: int) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(END_WEEK) - timedelta(weeks=weeks - 1)).isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
    with tempfile.TemporaryDirectory(prefix="opsbook-report-bench-") as tmp:
        root = Path(tmp)
        env.update(JUPYTER_DATA_DIR=str(root / "jd"), JUPYTER_RUNTIME_DIR=str(root / "jr"))
        home = root / "home"
        week = _demo(home, args.weeks, env)
        bare_cmd = [
            str(BIN / "papermill"), str(NOTEBOOK), str(root / "bare.ipynb"),
            "-r", "week", week, "-p", "home", str(home), "-k", "python3",
            "--cwd", str(NOTEBOOK.parent),
        ]  # fmt: skip
        report_cmd = [
            str(BIN / "opsbook"), "--home", str(home), "report", "--week", week,
            "--out", str(root / "out"),
        ]  # fmt: skip
        bare, report = [], []
        for i in range(args.runs):
            bare.append(_run(bare_cmd, env))
            report.append(_run(report_cmd, env))
            if not args.json:
                print(f"run {i + 1}: papermill {bare[-1]:.2f} s, opsbook report {report[-1]:.2f} s")
    load = os.getloadavg()[0]
    result = {
        "week": week,
        "runs": args.runs,
        "papermill_s": [round(t, 2) for t in bare],
        "opsbook_report_s": [round(t, 2) for t in report],
        "papermill_median_s": round(statistics.median(bare), 2),
        "opsbook_report_median_s": round(statistics.median(report), 2),
        "ratio": round(statistics.median(report) / statistics.median(bare), 2),
        "load_average_1min": round(load, 2),
        "cores": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"week {week}: papermill median {result['papermill_median_s']:.2f} s, opsbook report"
        f" median {result['opsbook_report_median_s']:.2f} s, ratio {result['ratio']:.2f}"
        f" (goal <= 2.0; cores {result['cores']}, load average {load:.1f})"
    )


if __name__ == "__main__":
    main()
