"""Bad input on every command that takes input: exit 2, one `error:` line, no traceback, and
nothing written to the home. Table-driven: one row per (command, bad input).

Most rows run opsbook.cli.run in process (fast); a sample runs `python -m opsbook` in a
scrubbed subprocess to prove the same holds end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import Result, one_line_error, run_cli, scrubbed_env  # noqa: E402

BAD_SCHEDULE = {
    "ScheduleExpression": "cron(30 0 ? * FRI-MON-X *)",
    "ScheduleExpressionTimezone": "Asia/Tokyo",
}

# (id, argv, fragment expected in the error line). {tmp} is the test's folder; {home} the home.
CASES = [
    # global options and config
    ("backend", ["--backend", "gcp", "executions"], "backend"),
    ("config-missing", ["--config", "{tmp}/none.toml", "executions"], "does not exist"),
    ("config-toml", ["--config", "{tmp}/broken.toml", "executions"], "not valid TOML"),
    ("config-unknown-key", ["--config", "{tmp}/unknown.toml", "deploy"], "unknown key"),
    ("config-dataset-injection", ["--config", "{tmp}/inject.toml", "deploy"], "dataset"),
    (
        "config-table-injection",
        ["--config", "{tmp}/table.toml", "start", "--week", "2026-11-26"],
        "target_table",
    ),
    ("config-int", ["--config", "{tmp}/int.toml", "executions"], "max_polls"),
    (
        "config-project",
        [
            "--config",
            "{tmp}/project.toml",
            "weeks",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-26",
        ],
        "bq_project",
    ),
    ("config-secret-pattern", ["--config", "{tmp}/pattern.toml", "executions"], "secret pattern"),
    ("home-is-a-file", ["--home", "{tmp}/afile", "start", "--week", "2026-11-26"], "is a file"),
    # init
    ("init-weeks", ["init", "--demo-data", "--weeks", "0"], "weeks"),
    ("init-seed", ["init", "--seed", "x"], "seed"),
    ("init-end-week", ["init", "--demo-data", "--end-week", "2026-11-27"], "not a Thursday"),
    ("init-end-week-year-1", ["init", "--demo-data", "--end-week", "0001-01-04"], "out of range"),
    (
        "schedule-run-year-1",
        ["schedule", "run", "--since", "0001-01-01", "--until", "0001-01-10"],
        "out of range",
    ),
    # deploy / teardown
    ("deploy-unknown-option", ["deploy", "--force"], "--force"),
    ("teardown-bad-config", ["--config", "{tmp}/int.toml", "teardown", "--yes"], "max_polls"),
    # start
    ("start-no-week", ["start"], "--week"),
    ("start-wednesday", ["start", "--week", "2026-11-25"], "nearest Thursdays"),
    ("start-not-a-date", ["start", "--week", "2026-02-30"], "not a date"),
    ("start-sql-metachars", ["start", "--week", "2026-11-26'; DROP TABLE x; --"], "not a date"),
    (
        "start-poll-seconds",
        ["start", "--week", "2026-11-26", "--poll-seconds", "-5"],
        "poll seconds",
    ),
    ("start-max-polls", ["start", "--week", "2026-11-26", "--max-polls", "0"], "max polls"),
    ("start-name", ["start", "--week", "2026-11-26", "--name", "a b"], "execution name"),
    ("start-name-long", ["start", "--week", "2026-11-26", "--name", "x" * 81], "80"),
    ("start-clock", ["start", "--week", "2026-11-26", "--clock", "sundial"], "clock"),
    (
        "start-poll-overflow",
        ["start", "--week", "2026-11-26", "--poll-seconds", "9" * 20],
        "1 year",
    ),
    ("start-too-many-polls", ["start", "--week", "2026-11-26", "--max-polls", "100000"], "at most"),
    ("start-year-1", ["start", "--week", "0001-01-04"], "out of range"),
    # executions / history
    ("executions-week", ["executions", "--week", "2026-11-24"], "not a Thursday"),
    ("executions-status", ["executions", "--status", "DONE"], "DONE"),
    ("history-missing", ["history", "week-1999-01-07"], "does not exist; create it with"),
    ("history-no-arg", ["history"], "EXECUTION"),
    # validate (JSON input)
    ("validate-not-json", ["validate", "{tmp}/notjson.json"], "invalid"),
    ("validate-json-array", ["validate", "{tmp}/array.json"], "invalid"),
    ("validate-bad-definition", ["validate", "{tmp}/baddef.json"], "invalid"),
    ("validate-missing", ["validate", "{tmp}/none.json"], "does not exist"),
    ("validate-binary", ["validate", "{tmp}/binary.json"], "definition"),
    ("validate-directory", ["validate", "{tmp}"], "definition"),
    # schedule (cron)
    ("schedule-next", ["schedule", "--next", "-1"], "--next"),
    ("schedule-bad-cron", ["schedule"], "cron"),
    (
        "schedule-run-date",
        ["schedule", "run", "--since", "2026-13-01", "--until", "2026-11-26"],
        "not a date",
    ),
    (
        "schedule-run-backwards",
        ["schedule", "run", "--since", "2026-11-26", "--until", "2026-11-01"],
        "before",
    ),
    # weeks / rerun / report / demo
    ("weeks-date", ["weeks", "--since", "yesterday", "--until", "2026-11-26"], "yesterday"),
    (
        "weeks-json-csv",
        ["weeks", "--since", "2026-11-01", "--until", "2026-11-26", "--json", "--csv"],
        "not both",
    ),
    ("rerun-date", ["rerun", "--since", "2026-11-01", "--until", "2026-02-30"], "2026-02-30"),
    (
        "rerun-concurrency",
        ["rerun", "--since", "2026-11-01", "--until", "2026-11-26", "--max-concurrency", "0"],
        "max-concurrency",
    ),
    ("report-week", ["report", "--week", "2026-11-25"], "not a Thursday"),
    (
        "report-out-not-a-folder",
        ["report", "--week", "2026-11-26", "--out", "{tmp}/afile/x"],
        "report folder",
    ),
    ("report-lookback", ["report", "--week", "2026-11-26", "--lookback-weeks", "0"], "lookback"),
    ("demo-weeks", ["demo", "--weeks", "0"], "weeks"),
    ("demo-not-a-demo-home", ["--home", "{tmp}/notdemo", "demo"], "not empty"),
]


def _fixtures(tmp: Path) -> None:
    files = {
        "broken.toml": "max_polls = [",
        "unknown.toml": 'colour = "blue"\n',
        "inject.toml": 'dataset = "x; DROP TABLE y"\n',
        "table.toml": 'target_table = "weekly_summary`; DELETE FROM events; --"\n',
        "int.toml": 'max_polls = "many"\n',
        "project.toml": 'bq_project = "Bad Project!"\n',
        "pattern.toml": 'secret_patterns = ["(unclosed"]\n',
        "afile": "not a folder",
        "notjson.json": "{not json",
        "array.json": "[1, 2, 3]",
        "baddef.json": json.dumps({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}),
    }
    for name, text in files.items():
        (tmp / name).write_text(text)
    (tmp / "binary.json").write_bytes(b"\xff\xfe\x00\x80garbage")
    (tmp / "notdemo").mkdir()
    (tmp / "notdemo" / "precious.txt").write_text("keep me")
    # A user's copy of the weekly load (it wins over the shipped one) with a bad schedule.
    from support.definitions import SHIPPED_WEEKLY_LOAD

    defs = tmp / "baddefs" / "weekly_load"
    defs.mkdir(parents=True)
    for name in ("workflow.toml", "weekly_load.asl.json"):
        (defs / name).write_text((SHIPPED_WEEKLY_LOAD / name).read_text())
    (defs / "schedule.json").write_text(json.dumps(BAD_SCHEDULE))


def _argv(args: list[str], tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in args]


@pytest.fixture
def workdir(clean_env, monkeypatch):
    tmp = clean_env
    _fixtures(tmp)
    monkeypatch.setenv("OPSBOOK_HOME", str(tmp / "home"))
    return tmp


def _listing(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(("case", "args", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line(workdir, capsys, monkeypatch, case, args, fragment):
    from opsbook.cli import run

    if case == "schedule-bad-cron":
        monkeypatch.setenv("OPSBOOK_DEFINITIONS_DIR", str(workdir / "baddefs"))
    before = _listing(workdir)
    code = run(_argv(args, workdir))
    captured = capsys.readouterr()
    line = one_line_error(Result(code, captured.out, captured.err))
    assert fragment.lower() in line.lower(), line
    assert not (workdir / "home").exists(), "bad input must not create the home"
    assert _listing(workdir) == before, "bad input must not write or change any file"


SUBPROCESS_SAMPLE = [
    "config-dataset-injection",
    "start-wednesday",
    "validate-not-json",
    "executions-status",
    "schedule-run-backwards",
]


@pytest.mark.parametrize("case", SUBPROCESS_SAMPLE)
def test_bad_input_in_a_real_process(tmp_path, case):
    _fixtures(tmp_path)
    args = next(c[1] for c in CASES if c[0] == case)
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(tmp_path / "home"))
    one_line_error(run_cli(*_argv(args, tmp_path), env=env, cwd=tmp_path, timeout=60))
    assert not (tmp_path / "home").exists()
