"""What a newcomer does with several workflows, black-box through the CLI: scaffold daily,
weekly and monthly workflows in other zones, prepare one home for all of them, read a
partition's history by its key, rerun by month keys, and run the scaffolded tests with plain
`pytest`; plus the scaffolded schedules across daylight saving time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opsbook.workflows.manifest import load_workflow
from opsbook.workflows.scaffold import scaffold

WORKFLOWS = [  # name, --partition, --tz, a past key
    ("nightly", "daily", "America/New_York", "2026-03-08"),
    ("sunday", "weekly:SUN", "Europe/Berlin", "2026-03-29"),
    ("close", "monthly", "Europe/Berlin", "2026-02"),
]


@pytest.mark.parametrize(
    ("spec", "zone"),
    [
        ("daily", "America/New_York"),  # spring forward 2026-03-08 02:00, back 2026-11-01
        ("daily", "Europe/Berlin"),
        ("daily", "Australia/Sydney"),  # the other hemisphere
        ("weekly:SUN", "America/New_York"),  # every DST change in these zones is on a Sunday
        ("weekly:SUN", "Europe/Berlin"),
        ("monthly", "America/Santiago"),
    ],
)
def test_a_scaffolded_schedule_fires_once_for_every_partition_across_dst(tmp_path, spec, zone):
    scaffold(tmp_path, "flow", spec, zone)
    flow = load_workflow(tmp_path / "flow")
    keys = [p.key for p in flow.scheme.between("2026-01-01", "2026-12-31")]
    fires = [flow.fire_time(key) for key in keys]
    # No fire time is skipped (a cron time inside the spring-forward gap would be) or shared.
    assert len(set(fires)) == len(keys) and fires == sorted(fires)
    for key, fired in zip(keys, fires, strict=True):
        assert flow.scheme.for_fire_time(fired).key == key
        local = fired.astimezone(flow.scheme.timezone)
        assert (local.hour, local.minute) == (5, 0)


def test_several_workflows_from_new_to_history_and_rerun(run, tmp_path):
    for name, spec, zone, _ in WORKFLOWS:
        run("new", name, "--partition", spec, "--tz", zone)
    listed = {w["name"]: w for w in run("workflows", "--json")}
    assert set(listed) == {"nightly", "sunday", "close", "weekly_load"}
    # `validate` checks every workflow, or the one --workflow names.
    assert len(run("validate", "--json")["workflows"]) == 4
    only = run("--workflow", "close", "validate", "--json")["workflows"]
    assert [r["workflow"] for r in only] == ["close"]
    # Several workflows and none chosen: a command asks which, in one line.
    err = run("executions", code=2)
    assert err.count("\n") == 1 and "choose one with --workflow NAME" in err
    # `init` without a choice prepares the one home for every workflow.
    out = run("init")
    assert "for 4 workflows: close, nightly, sunday, weekly_load" in out
    for name, _, _, key in WORKFLOWS:
        flow = ("--workflow", name)
        started = run(*flow, "start", "--partition", key, "--json")
        assert (started["status"], started["partition"]) == ("SUCCEEDED", key)
        # `history KEY` is the latest execution of that partition of this workflow.
        shown = run(*flow, "history", key, "--json")
        assert shown["execution"]["name"] == started["name"]
    # A key of another scheme is one line, exit 2.
    err = run("--workflow", "sunday", "history", "2026-03-27", code=2)
    assert "is a Friday, not a Sunday" in err and err.count("\n") == 1
    err = run("--workflow", "close", "history", "2026-01", code=2)
    assert err.strip() == (
        "error: month 2026-01 of close has no execution; start it with"
        " `opsbook --workflow close start --partition 2026-01`"
    )
    # A monthly workflow takes month keys for its ranges, in partitions and in rerun.
    close = ("--workflow", "close")
    rows = run(*close, "partitions", "--since", "2025-12", "--until", "2026-02", "--json")
    assert [(r["month"], r["status"]) for r in rows] == [
        ("2025-12", "MISSING"), ("2026-01", "MISSING"), ("2026-02", "SUCCEEDED"),
    ]  # fmt: skip
    done = run(*close, "rerun", "--since", "2025-12", "--until", "2026-01", "--yes", "--json")
    assert [(r["month"], r["status"]) for r in done] == [
        ("2025-12", "SUCCEEDED"), ("2026-01", "SUCCEEDED"),
    ]  # fmt: skip
    # Months far ahead are PENDING: their schedule has not fired yet.
    rows = run(*close, "partitions", "--since", "2099-01", "--until", "2099-02", "--json")
    assert [r["status"] for r in rows] == ["PENDING", "PENDING"]


@pytest.mark.slow
def test_the_scaffolded_tests_pass_with_plain_pytest_in_the_project_folder(run, tmp_path):
    for name, spec, zone, _ in WORKFLOWS:
        run("new", name, "--partition", spec, "--tz", zone)
    # The project moves (a clone elsewhere): the tests find their workflows from where they are.
    moved = tmp_path / "clone"
    moved.mkdir()
    (tmp_path / "definitions").rename(moved / "definitions")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=300, cwd=moved, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_a_user_workflow_named_like_a_shipped_one_replaces_it(run):
    out = run("new", "weekly_load", "--partition", "daily")
    listed = {w["name"]: w for w in run("workflows", "--json")}
    assert (listed["weekly_load"]["scheme"], listed["weekly_load"]["shipped"]) == ("daily", False)
    assert "created workflow weekly_load" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["my flow", "--partition", "daily"], "workflow name 'my flow' must match"),
        (["Daily", "--partition", "daily"], "workflow name 'Daily' must match"),
        (["a/b", "--partition", "daily"], "workflow name 'a/b' must match"),
        (["ok", "--partition", "hourly"], "'hourly' is not daily, weekly:<DAY> or monthly"),
        (["ok", "--partition", "weekly:XYZ"], "weekly needs a weekday"),
        (["ok", "--partition", "daily:"], "only weekly takes a weekday"),
        (["ok", "--partition", "daily", "--tz", "Mars/Base"], "not a known time zone"),
    ],
)
def test_bad_input_to_new_is_one_line_and_writes_nothing(run, tmp_path, args, message):
    err = run("new", *args, code=2)
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "definitions").exists() or not any((tmp_path / "definitions").iterdir())


def test_new_refuses_an_existing_folder_and_leaves_it_alone(run, tmp_path):
    mine = tmp_path / "definitions" / "taken"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    err = run("new", "taken", "--partition", "daily", code=2)
    assert "already exists" in err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert [p.name for p in mine.parent.iterdir()] == ["taken"]  # no staging folder left


def test_week_on_a_non_weekly_workflow_is_one_line(run):
    run("new", "nightly", "--partition", "daily")
    err = run("--workflow", "nightly", "start", "--week", "2026-11-26", code=2)
    assert err.strip() == (
        "error: --week applies to weekly workflows; nightly is daily: use --partition"
    )


@pytest.mark.slow
def test_the_demo_beside_user_workflows_names_its_workflow_in_the_hint(run, tmp_path, capsys):
    from opsbook.cli import run as cli_run

    run("new", "nightly", "--partition", "daily")
    assert cli_run(["demo", "--weeks", "2"]) == 0
    hint = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("explore: ")
    )
    command = hint.removeprefix("explore: opsbook ").split(" | ")[0].split()
    assert "--workflow" in command and command[-1] == "executions"
    assert cli_run(command) == 0
    assert "week-" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("spec", "cron", "missed"),
    [
        # 02:30 does not exist in New York on 2026-03-08: that fire time is skipped, so the
        # run of 03-09 loads the 8th and nothing loads the 7th.
        ("daily", "cron(30 2 * * ? *)", ["2026-03-07"]),
        ("weekly:SUN", "cron(30 2 ? * SUN *)", ["2026-03-08"]),
        ("daily", "cron(0 5 * * ? *)", []),  # what `opsbook new` writes
        ("daily", "cron(0 5 ? * MON-FRI *)", None),  # weekends are never loaded: many days
    ],
)
def test_validate_warns_of_partitions_no_scheduled_run_loads(tmp_path, spec, cron, missed):
    from datetime import date

    from opsbook.operations.validate import schedule_warnings

    scaffold(tmp_path, "flow", spec, "America/New_York")
    document = json.loads((tmp_path / "flow" / "schedule.json").read_text())
    document["ScheduleExpression"] = cron
    (tmp_path / "flow" / "schedule.json").write_text(json.dumps(document))
    flow = load_workflow(tmp_path / "flow")
    found = flow.unscheduled(date(2026, 1, 1), date(2026, 12, 31))
    warnings = schedule_warnings(flow, date(2026, 1, 1))
    if missed is None:
        assert len(found) > 100 and "+" in warnings[0]
        return
    assert found == missed
    assert [bool(w) for w in warnings] == ([True] if missed else [])
    if missed:
        assert f"no scheduled run loads {flow.scheme.label} {missed[0]}" in warnings[0]


@pytest.mark.slow
def test_reports_of_two_workflows_for_one_key_keep_their_own_files(run, tmp_path):
    key = "2026-03-29"  # a day of `nightly` and a Sunday, so a week of `sunday`
    for name, spec, zone, _ in WORKFLOWS[:2]:
        run("new", name, "--partition", spec, "--tz", zone)
    run("init")
    made = {}
    for name in ("nightly", "sunday"):
        run("--workflow", name, "start", "--partition", key)
        made[name] = run("--workflow", name, "report", "--partition", key, "--json")
    assert Path(made["nightly"]["html"]).name == f"nightly-{key}.html"
    assert Path(made["sunday"]["html"]).name == f"sunday-{key}.html"
    assert made["nightly"]["data"]["day"] == made["sunday"]["data"]["week"] == key
    assert all(Path(m[kind]).is_file() for m in made.values() for kind in ("html", "notebook"))
