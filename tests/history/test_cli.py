"""`opsbook weeks` and `opsbook rerun` on the local backend, as a newcomer would use them."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from opsbook.backends.local.backend import LocalBackend
from opsbook.cli import run
from opsbook.config import load_config
from opsbook.workflows.schedules import last_completed_week

OLD = (last_completed_week() - timedelta(days=14)).isoformat()  # succeeds at once
LATE = (last_completed_week() - timedelta(days=7)).isoformat()  # its data comes late


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


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("OPSBOOK_HOME", str(home))
    monkeypatch.delenv("OPSBOOK_BACKEND", raising=False)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    assert run(["init"]) == 0
    return home


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_newcomer_fails_weeks_reads_json_reruns_twice(home, capsys):
    insert_day(home, OLD)
    assert cli(capsys, "start", "--week", OLD)[0] == 0
    code, _, _ = cli(capsys, "start", "--week", LATE, "--max-polls", "2", "--poll-seconds", "60")
    assert code == 1  # FAILED: the last day has not landed

    code, out, _ = cli(capsys, "weeks", "--since", OLD, "--until", LATE, "--json")
    assert code == 0
    weeks = {w["week"]: w for w in json.loads(out)}
    assert {w: (weeks[w]["status"], weeks[w]["attempts"]) for w in weeks} == {
        OLD: ("SUCCEEDED", 1),
        LATE: ("FAILED", 1),
    }
    assert weeks[LATE]["polls"] == 2 and "gave up" in weeks[LATE]["cause"]

    # Without --yes and without a terminal, rerun refuses in one line (exit 2).
    code, out, err = cli(capsys, "rerun", "--since", OLD, "--until", LATE)
    assert code == 2 and "use --yes" in err and len(err.strip().splitlines()) == 1

    insert_day(home, LATE)  # the late data arrives
    code, out, _ = cli(capsys, "rerun", "--since", OLD, "--until", LATE, "--yes", "--json")
    assert code == 0, out
    rows = {r["week"]: r for r in json.loads(out)}
    assert rows[OLD]["action"] == "SKIP" and rows[OLD]["status"] == "SUCCEEDED"
    # It failed at its check (not a Fail state), so the plan redrives it and it succeeds.
    assert rows[LATE]["action"] == "REDRIVE" and rows[LATE]["status"] == "SUCCEEDED"
    assert rows[LATE]["attempts"] == 2

    code, out, _ = cli(capsys, "executions", "--json")
    names_after_first = sorted(e["name"] for e in json.loads(out))
    code, out, _ = cli(capsys, "rerun", "--since", OLD, "--until", LATE, "--yes", "--json")
    assert code == 0 and all(r["action"] == "SKIP" for r in json.loads(out))
    code, out, _ = cli(capsys, "executions", "--json")
    assert sorted(e["name"] for e in json.loads(out)) == names_after_first  # nothing new
    old = [e for e in json.loads(out) if e["name"] == f"week-{OLD}"][0]
    assert old["redrive_count"] == 0  # the week that had succeeded is untouched

    code, out, _ = cli(capsys, "weeks", "--since", OLD, "--until", LATE)
    assert out.splitlines()[0].startswith("# LocalBackend(home=")  # the header: backend, home
    assert code == 0 and out.splitlines()[1].split()[:3] == ["WEEK", "STATUS", "ATTEMPTS"]
    assert out.count("SUCCEEDED") == 2


def test_weeks_csv_and_dry_run_table(home, capsys):
    code, out, _ = cli(capsys, "weeks", "--since", OLD, "--until", LATE, "--csv")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("week,status,attempts") and len(lines) == 3
    assert all(",MISSING," in line for line in lines[1:])
    code, out, _ = cli(capsys, "rerun", "--since", OLD, "--until", LATE, "--dry-run")
    assert code == 0 and "dry run: would redrive 0, would start 2 of 2 weeks" in out
    assert f"would start week-{OLD}" in out and "started" not in out
    assert f"week-{OLD}" in out
    code, out, _ = cli(capsys, "executions", "--json")
    assert json.loads(out) == []  # a dry run starts nothing


@pytest.mark.parametrize(
    "argv, message",
    [
        (["weeks", "--since", "2026-02-30", "--until", "2026-03-05"], "not a date"),
        (["weeks", "--since", "2026-03-05", "--until", "2026-01-01"], "after"),
        (["rerun", "--since", "yesterday", "--until", "2026-03-05", "--yes"], "not a date"),
        (
            ["weeks", "--since", "2026-01-01", "--until", "2026-03-05", "--json", "--csv"],
            "not both",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(home, capsys, argv, message):
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
