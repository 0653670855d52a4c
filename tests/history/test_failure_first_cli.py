"""`opsbook history`, `weeks` and `rerun` start from the failure: a late week on a real local
home, through the CLI (in process, typer's runner underneath) and in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

import opsbook as opsbook_package
from opsbook.backends.local.backend import LocalBackend
from opsbook.cli import run
from opsbook.config import load_config
from opsbook.operations.history import default_range
from opsbook.workflows.schedules import last_completed_week

OLD = (last_completed_week() - timedelta(days=14)).isoformat()  # its data is there
LATE = (last_completed_week() - timedelta(days=7)).isoformat()  # its data comes late
ANCIENT = (last_completed_week() - timedelta(days=7 * 20)).isoformat()  # before the default range
DEFINITION = Path(opsbook_package.__file__).parent / "definitions/weekly_load/weekly_load.asl.json"
MOCK_CONFIG = Path(__file__).resolve().parents[2] / "docs/examples/weekly_load.mock.json"
CHECK_DAY = (date.fromisoformat(LATE) - timedelta(days=1)).isoformat()
CAUSE = f"polling gave up after 2 polls (60 s apart): no rows for {CHECK_DAY}, the last day of week {LATE}"


def insert_day(home, week: str) -> None:
    backend = LocalBackend(load_config(home=home, backend="local"))
    wh = backend.open_warehouse()
    try:
        wh.execute(
            "INSERT INTO `opsbook-local.analytics.events` (event_date, event_ts, user_id, event_type, amount)"
            " VALUES (@d, TIMESTAMP(@d), 'u1', 'view', 1)",
            {"d": date.fromisoformat(week) - timedelta(days=1)},
        )
    finally:
        wh.close()
        backend.close()


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def home(tmp_path, monkeypatch, capsys):
    """A home with OLD succeeded, LATE and ANCIENT failed for lack of data."""
    home = tmp_path / "home"
    monkeypatch.setenv("OPSBOOK_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    for key in ("OPSBOOK_BACKEND", "SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(key, raising=False)
    assert run(["init"]) == 0
    insert_day(home, OLD)
    assert cli(capsys, "start", "--week", OLD)[0] == 0
    polls = ["--max-polls", "2", "--poll-seconds", "60"]
    assert cli(capsys, "start", "--week", LATE, *polls)[0] == 1
    assert cli(capsys, "start", "--week", ANCIENT, "--max-polls", "1")[0] == 1
    return home


def test_history_by_week_starts_from_the_failure(home, capsys):
    code, out, _ = cli(capsys, "history", LATE)  # a week: its latest execution
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("# LocalBackend(home=")
    assert lines[1].startswith(f"week-{LATE}  FAILED  week {LATE}")
    assert (
        lines[2:5]
        == [
            "failed in: CheckRecords",
            "error:     PollingGaveUp",
            lines[4],
        ]
        and lines[4].startswith("when:      ")
        and " UTC / " in lines[4]
    )
    assert lines[4].endswith("Asia/Tokyo")
    assert f"cause:     {CAUSE}" in out  # never cut
    assert "raw cause:" not in out  # the Lambda's JSON (with its stack) only under --failed
    # Every time in the event table carries both zones, labelled.
    started = [line for line in lines if "ExecutionStarted" in line][0]
    assert " UTC / " in started and "Asia/Tokyo" in started
    task_failed = [line for line in lines if "TaskFailed" in line]
    assert task_failed and all(line.split()[-1] == "PollingGaveUp" for line in task_failed)


def test_a_narrow_terminal_wraps_the_cause_and_wide_keeps_it_on_one_line(home, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = cli(capsys, "history", LATE, "--failed")
    assert code == 0 and all(len(line) <= 60 for line in out.splitlines()[2:6])
    start = out.index("cause:     ") + len("cause:     ")
    block = out[start:].split("\nraw cause:")[0]
    assert " ".join(part.strip() for part in block.splitlines()) == CAUSE
    code, out, _ = cli(capsys, "history", LATE, "--failed", "--wide")
    assert f"cause:     {CAUSE}\n" in out
    raw = [line for line in out.splitlines() if line.startswith("raw cause:")]
    assert len(raw) == 1 and json.loads(raw[0][len("raw cause: ") :])["errorMessage"] == CAUSE


def test_history_states_collapses_the_poll_loop(home, capsys):
    code, out, _ = cli(capsys, "history", f"week-{LATE}", "--states")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[5:] if line.strip()}
    assert rows["STATE"][:6] == ["STATE", "TYPE", "COUNT", "STATUS", "ENTERED", "DURATION"]
    assert rows["CheckRecords"][1:4] == ["Task", "3", "FAILED"]
    assert rows["WaitForData"][1:4] == ["Wait", "2", "SUCCEEDED"]
    assert rows["WaitForData"][-1] == "2m00s" and "Asia/Tokyo" in rows["WaitForData"]
    assert rows["NotifyWaiting"][1:3] == ["Task", "1"]  # Slack heard of the first poll only
    code, out, _ = cli(capsys, "history", LATE, "--states", "--json")
    doc = json.loads(out)
    assert doc["failure"]["state"] == "CheckRecords"
    assert {v["state"]: v["count"] for v in doc["states"]}["CheckRecords"] == 3


def test_history_failed_shows_the_failing_states_input(home, capsys):
    code, out, _ = cli(capsys, "history", LATE, "--failed")
    assert code == 0 and "ExecutionStarted" not in out
    given = json.loads(out[out.index("input:\n") + len("input:\n") :])
    assert given["week"] == LATE and given["poll"]["count"] == 2 and given["poll"]["last"] is True
    code, out, _ = cli(capsys, "history", OLD, "--failed")
    assert code == 0 and "has no failure (SUCCEEDED)" in out


def test_tables_show_the_failures_message_and_start_names_its_backend(home, capsys):
    code, out, _ = cli(capsys, "executions", "--status", "failed")
    assert code == 0 and out.startswith("# LocalBackend(home=")
    assert CAUSE.split(":")[0] in out  # the errorMessage, not the Lambda's JSON and stack
    assert "errorMessage" not in out and "stackTrace" not in out
    code, out, err = cli(capsys, "start", "--week", ANCIENT, "--name", "again", "--max-polls", "1")
    assert code == 1 and out.splitlines()[0].startswith("# LocalBackend(home=")
    assert "errorMessage" not in out + err
    assert err.strip().splitlines() == [
        f"error: execution again ended FAILED: polling gave up after 1 polls (600 s apart):"
        f" no rows for {date.fromisoformat(ANCIENT) - timedelta(days=1)}, the last day of week"
        f" {ANCIENT} (`opsbook history again --failed` shows all of it)"
    ]


def test_history_of_a_week_without_executions_is_one_line(home, capsys):
    week = (last_completed_week() - timedelta(days=35)).isoformat()
    code, _, err = cli(capsys, "history", week)
    assert code == 2 and err.strip() == (
        f"error: week {week} of weekly_load has no execution; start it with"
        f" `opsbook --workflow weekly_load start --partition {week}`"
    )


def test_weeks_default_to_the_last_12_and_name_failures_before_them(home, capsys):
    code, out, _ = cli(capsys, "weeks")
    assert code == 0
    lines = out.splitlines()
    weeks = [line.split()[0] for line in lines[2:] if line[:4].isdigit()]
    assert len(weeks) == 12 and weeks[-1] == last_completed_week().isoformat()
    since, until = default_range()  # the 12 Thursdays up to today in the schedule's zone
    assert weeks[0] == since.isoformat()
    assert lines[-1] == (
        f"note: 1 week(s) outside {since}..{until} failed: {ANCIENT}"
        " (widen --since/--until to include them)"
    )
    code, out, err = cli(capsys, "weeks", "--json")
    assert len(json.loads(out)) == 12 and ANCIENT in err  # the JSON stays one document
    rows = {r["week"]: r for r in json.loads(out)}
    # A succeeded week's polls come from its output (CountPoll's count), a failed one's history.
    assert (rows[OLD]["status"], rows[OLD]["polls"]) == ("SUCCEEDED", 0)
    assert (rows[LATE]["status"], rows[LATE]["polls"]) == ("FAILED", 2)
    code, out, _ = cli(capsys, "weeks", "--since", ANCIENT)
    assert "note:" not in out


def test_rerun_dry_run_says_would_redrive_then_redrives_to_succeeded(home, capsys):
    code, out, _ = cli(capsys, "rerun", "--since", LATE, "--until", LATE, "--dry-run")
    assert code == 0
    assert f"would redrive week-{LATE}" in out
    assert f"week-{LATE} FAILED at CheckRecords; a redrive resumes there (same live version" in out
    assert "dry run: would redrive 1, would start 0 of 1 weeks" in out
    assert "redriven" not in out and "started" not in out
    assert f"{ANCIENT}" in out  # the failure before the range is named

    insert_day(home, LATE)  # the late data arrives
    code, out, _ = cli(capsys, "rerun", "--since", LATE, "--until", LATE, "--yes")
    assert code == 0, out
    assert f"redriven week-{LATE}: SUCCEEDED" in out
    assert "redrove 1, started 0 of 1 weeks: 1 succeeded, 0 did not" in out
    code, out, _ = cli(capsys, "history", LATE, "--json")
    doc = json.loads(out)
    assert doc["execution"]["status"] == "SUCCEEDED" and doc["execution"]["redrive_count"] == 1
    assert doc["failure"] is None


def test_rerun_defaults_to_the_last_12_weeks(home, capsys):
    code, out, _ = cli(capsys, "rerun", "--dry-run", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 12
    assert {r["week"]: r["action"] for r in rows}[LATE] == "REDRIVE"


# --------------------------------------------------------------------------- guardrails


def _subprocess(*args: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
    return subprocess.run(
        [sys.executable, "-m", "opsbook", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["weeks"],
        ["rerun", "--dry-run"],
        ["executions"],
        ["history", "week-2026-11-26"],
        ["start", "--week", "2026-11-26"],
        ["deploy"],
        ["teardown", "--yes"],
        ["partitions"],
        ["history", "2026-11-26", "--failed"],
        ["report", "--week", "2026-11-26", "--out", "reports"],
        ["replay", "week-2026-11-26"],
        ["verify", "--since", "2026-11-01", "--until", "2026-11-26"],
        ["schedule", "run", "--since", "2026-11-19", "--until", "2026-11-26"],
        ["test", str(DEFINITION), "--mock-config", str(MOCK_CONFIG), "--workflow-handlers"],
    ],
)
def test_commands_refuse_a_home_that_does_not_exist(tmp_path, argv):
    """Every command that reads or writes the home, after checking its own arguments (the
    test bench, `schedule`, `validate`, `workflows`, `new` and `package` use no home)."""
    missing = tmp_path / "typo"
    proc = _subprocess("--home", str(missing), *argv, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: opsbook home {missing} does not exist; create it with"
        f" `opsbook --home {missing} init` (or point --home / OPSBOOK_HOME at an existing home)"
    ]
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing was created


def test_a_missing_home_from_the_environment_is_refused_and_help_still_answers(tmp_path):
    missing = tmp_path / "typo"
    proc = _subprocess("weeks", env={"OPSBOOK_HOME": str(missing)}, cwd=tmp_path)
    assert proc.returncode == 2 and str(missing) in proc.stderr and "init" in proc.stderr
    for argv in (["weeks", "--help"], ["report", "--help"], ["--help"]):
        shown = _subprocess("--home", str(missing), *argv, cwd=tmp_path)
        assert shown.returncode == 0 and "Usage: opsbook" in shown.stdout, argv
    assert list(tmp_path.iterdir()) == []


def test_report_refuses_the_default_home_when_it_does_not_exist(tmp_path):
    """No --home: ./.opsbook is refused before papermill starts; no report file or folder is
    left behind (not even the --out folders it made)."""
    proc = _subprocess("report", "--week", "2026-11-26", "--out", "reports/w48", cwd=tmp_path)
    home = tmp_path / ".opsbook"
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: opsbook home {home} does not exist; create it with"
        f" `opsbook --home {home} init` (or point --home / OPSBOOK_HOME at an existing home)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_init_creates_the_home_and_version_is_printed(tmp_path):
    home = tmp_path / "new"
    assert _subprocess("--home", str(home), "init").returncode == 0 and home.is_dir()
    version = _subprocess("--version")
    from opsbook import __version__

    assert version.returncode == 0 and version.stdout.strip() == f"opsbook {__version__}"


def test_history_takes_any_workflows_partition_key(tmp_path, monkeypatch, capsys):
    """A daily workflow's day (not a Thursday) names its latest execution too."""
    monkeypatch.chdir(tmp_path)  # `opsbook new` writes ./definitions/
    monkeypatch.setenv("OPSBOOK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    assert run(["init"]) == 0
    assert cli(capsys, "new", "daily_sales", "--partition", "daily")[0] == 0
    flow = ["--workflow", "daily_sales"]
    assert cli(capsys, *flow, "start", "--partition", "2026-12-01")[0] == 0
    code, out, _ = cli(capsys, *flow, "history", "2026-12-01", "--states")
    assert code == 0 and out.splitlines()[1].startswith("day-2026-12-01  SUCCEEDED  day 2026-12-01")
    code, _, err = cli(capsys, *flow, "history", "2026-12-02")
    assert code == 2 and err.strip() == (
        "error: day 2026-12-02 of daily_sales has no execution; start it with"
        " `opsbook --workflow daily_sales start --partition 2026-12-02`"
    )
