"""A second workflow made with `opsbook new` (daily, in another time zone) runs beside the
weekly load: start, partitions, rerun and report on the local backend, deploy on moto."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from support.moto_server import point_environment_at, reset

DAILY = "daily_sales"
ZONE = "America/Los_Angeles"
DAYS = ["2026-11-23", "2026-11-24", "2026-11-25"]
WEEK = "2026-11-26"


def test_new_makes_a_folder_that_runs_green_as_created(run, tmp_path):
    made = run("new", DAILY, "--partition", "daily", "--tz", ZONE, "--json")
    folder = tmp_path / "definitions" / DAILY
    assert Path(made["folder"]).resolve() == folder.resolve()
    assert {p.name for p in folder.iterdir()} >= {
        "workflow.toml", "definition.asl.json", "schedule.json", "handler.py", f"test_{DAILY}.py",
    }  # fmt: skip
    listed = {w["name"]: w for w in run("workflows", "--json")}
    assert set(listed) == {DAILY, "weekly_load"}
    assert (listed[DAILY]["scheme"], listed[DAILY]["timezone"]) == ("daily", ZONE)
    assert listed[DAILY]["state_machine"] == "opsbook-daily-sales"
    assert listed["weekly_load"]["schedule"] == "cron(30 9 ? * THU *) Asia/Tokyo"
    checked = run("validate", "--json")
    assert checked["result"] == "OK" and len(checked["workflows"]) == 2
    # The scaffolded test passes as created.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         str(folder / f"test_{DAILY}.py")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # A second `new` of the same name refuses, and a bad scheme is one line, exit 2.
    run("new", DAILY, "--partition", "daily", code=2)
    run("new", "other", "--partition", "weekly:XYZ", code=2)


@pytest.mark.slow
def test_a_daily_workflow_beside_the_weekly_load_on_the_local_backend(run):
    run("new", DAILY, "--partition", "daily", "--tz", ZONE)
    # Two workflows and no default: commands that act on one ask which.
    run("executions", code=2)
    daily = ("--workflow", DAILY)
    run(*daily, "start", "--partition", DAYS[2], code=2)  # no home yet: `init` makes it
    run(*daily, "init")

    started = run(*daily, "start", "--partition", DAYS[2], "--json")
    assert (started["name"], started["status"]) == (f"day-{DAYS[2]}", "SUCCEEDED")
    assert started["partition"] == started["day"] == DAYS[2]
    assert started["input"] == {"partition": DAYS[2], "start": DAYS[2], "end": DAYS[2]}
    run(*daily, "start", "--week", DAYS[2], code=2)  # --week is for weekly workflows

    matrix = run(*daily, "partitions", "--since", DAYS[0], "--until", DAYS[2], "--json")
    assert [(r["day"], r["status"]) for r in matrix] == [
        (DAYS[0], "MISSING"), (DAYS[1], "MISSING"), (DAYS[2], "SUCCEEDED"),
    ]  # fmt: skip
    plan = run(*daily, "rerun", "--since", DAYS[0], "--until", DAYS[2], "--dry-run", "--json")
    assert [r["action"] for r in plan] == ["START", "START", "SKIP"]
    done = run(*daily, "rerun", "--since", DAYS[0], "--until", DAYS[2], "--yes", "--json")
    assert [(r["day"], r["status"]) for r in done] == [
        (DAYS[0], "SUCCEEDED"), (DAYS[1], "SUCCEEDED"), (DAYS[2], "SUCCEEDED"),
    ]  # fmt: skip
    again = run(*daily, "weeks", "--since", DAYS[0], "--until", DAYS[2], "--json")  # the alias
    assert {r["status"] for r in again} == {"SUCCEEDED"}

    # The weekly load beside it, in the same home: its own state machine and executions.
    weekly = ("--workflow", "weekly_load")
    run(*weekly, "init", "--demo-data", "--weeks", "2", "--end-week", WEEK)
    week = run(*weekly, "start", "--week", WEEK, "--json")
    assert (week["name"], week["status"], week["week"]) == (f"week-{WEEK}", "SUCCEEDED", WEEK)
    names = {e["name"] for e in run(*weekly, "executions", "--json")}
    assert names == {f"week-{WEEK}"}
    names = {e["name"] for e in run(*daily, "executions", "--json")}
    assert names == {f"day-{d}" for d in DAYS}
    # Each workflow's times are shown beside UTC in its own zone.
    daily_rows = run(*daily, "executions").splitlines()[2:]
    assert daily_rows and all(" UTC / " in r and r.count(ZONE) == 1 for r in daily_rows)
    weekly_rows = run(*weekly, "executions").splitlines()[2:]
    assert weekly_rows and all("Asia/Tokyo" in r and ZONE not in r for r in weekly_rows)

    schedule = run(*daily, "schedule", "--next", "2", "--json")
    assert schedule["timezone"] == ZONE
    assert all(t["local"].endswith("T05:00:00-08:00") for t in schedule["fire_times"])
    # A fire time loads the day that ended before it (in the scheme's zone).
    first = schedule["fire_times"][0]
    fired_local = datetime.fromisoformat(first["local"]).date()
    assert first["day"] == (fired_local - timedelta(days=1)).isoformat()

    report = run(*daily, "report", "--partition", DAYS[1], "--out", "reports", "--json")
    assert report["data"]["status"] == "SUCCEEDED" and report["data"]["day"] == DAYS[1]
    assert Path(report["html"]).is_file() and Path(report["notebook"]).is_file()


@pytest.fixture
def on_moto(moto_url, monkeypatch, tmp_path):
    reset(moto_url, execute=False)
    point_environment_at(
        monkeypatch, moto_url, tmp_path,
        scrub=("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"),
    )  # fmt: skip
    return moto_url


@pytest.mark.slow
@pytest.mark.aws
def test_deploy_of_both_workflows_on_moto(run, on_moto):
    import os

    import boto3

    session = boto3.session.Session(region_name=os.environ["AWS_REGION"])
    run("new", DAILY, "--partition", "daily", "--tz", ZONE)
    aws = ("--backend", "aws")
    made = run(*aws, "--workflow", DAILY, "deploy", "--json")
    assert made["applied"] and made["changed"]
    run(*aws, "--workflow", "weekly_load", "deploy", "--json")
    again = run(*aws, "--workflow", DAILY, "deploy", "--json")
    assert {c["action"] for c in again["changes"]} == {"unchanged"}, [
        c for c in again["changes"] if c["action"] != "unchanged"
    ]  # the weekly load left it

    lam = session.client("lambda")
    functions = {f["FunctionName"]: f for f in lam.list_functions()["Functions"]}
    assert set(functions) == {
        "opsbook-daily-sales-run", "opsbook-check-records", "opsbook-notify",
        "opsbook-insert-week",
        "opsbook-daily-sales-start", "opsbook-weekly-load-start",  # each schedule's starter
    }  # fmt: skip
    daily_fn = functions["opsbook-daily-sales-run"]
    assert daily_fn["Handler"] == "handler.handler" and daily_fn["Timeout"] == 60
    assert daily_fn["Role"].endswith(":role/opsbook-daily-sales-lambda")
    code = lam.get_function(FunctionName="opsbook-daily-sales-run")["Code"]["Location"]
    assert code  # moto keeps the zip; its handler module sits at the root (checked below)

    sfn = session.client("stepfunctions")
    machines = {m["name"] for m in sfn.list_state_machines()["stateMachines"]}
    assert machines == {"opsbook-daily-sales", "opsbook-weekly-load"}
    arn = next(
        m["stateMachineArn"]
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"] == "opsbook-daily-sales"
    )
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    assert definition["States"]["Run"]["Parameters"]["FunctionName"].endswith(
        ":function:opsbook-daily-sales-run"
    )
    iam = session.client("iam")
    policy = iam.get_role_policy(
        RoleName="opsbook-daily-sales-states", PolicyName="opsbook-daily-sales-states"
    )["PolicyDocument"]
    resources = policy["Statement"][0]["Resource"]
    assert [r.rsplit(":", 1)[-1] for r in resources] == ["opsbook-daily-sales-run"]
    schedules = session.client("scheduler").list_schedules()["Schedules"]
    assert {s["Name"] for s in schedules} == {"opsbook-daily-sales", "opsbook-weekly-load"}


def test_the_function_zip_carries_a_user_workflows_handler(run, tmp_path):
    import io
    import zipfile

    from opsbook.backends.aws import packaging

    run("new", DAILY, "--partition", "monthly", "--tz", ZONE)
    folder = tmp_path / "definitions" / DAILY
    extra = {"handler.py": (folder / "handler.py").read_bytes()}
    artifact = packaging.build_function_zip(extra=extra)
    with zipfile.ZipFile(io.BytesIO(artifact.data)) as zf:
        assert "handler.py" in zf.namelist() and f"test_{DAILY}.py" not in zf.namelist()
        assert "def handler(event" in zf.read("handler.py").decode()
