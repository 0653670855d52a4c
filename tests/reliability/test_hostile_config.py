"""Hostile configuration and unbounded ranges (issue 14, findings 8, 9, 10).

Every row: one `error:` line, exit 2, no traceback, nothing created or changed. Values are
type-checked (integers are integers, finite, in range), names follow AWS's rules, paths stay
inside their root, config files over a sane size are refused, polling must fit the state
machine's TimeoutSeconds, and big ranges need --yes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WEEK, Result, one_line_error, run_cli, scrubbed_env  # noqa: E402

from opsbook.config import PACKAGE_ROOT  # noqa: E402

# (id, TOML body, fragment expected in the error line)
CONFIGS = [
    ("prefix-quote", "resource_prefix = 'x\"y'", "resource_prefix"),
    ("prefix-brace", "resource_prefix = 'x}{'", "resource_prefix"),
    ("prefix-empty", "resource_prefix = ''", "resource_prefix"),
    ("poll-inf", "poll_seconds = 1e400", "poll_seconds"),
    ("poll-nan", "poll_seconds = nan", "poll_seconds"),
    ("poll-float", "poll_seconds = 600.5", "poll_seconds"),
    ("poll-negative", "poll_seconds = -1", "poll_seconds"),
    ("poll-huge", "poll_seconds = 99999999999999999", "poll_seconds"),
    ("polls-fraction", "max_polls = 1.9", "max_polls"),
    ("polls-zero", "max_polls = 0", "max_polls"),
    ("polls-bool", "max_polls = true", "max_polls"),
    ("polls-string", "max_polls = '18'", "max_polls"),
    ("polls-too-many", "max_polls = 1001", "max_polls"),
    ("concurrency-zero", "max_concurrency = 0", "max_concurrency"),
    ("partitions-zero", "max_partitions = 0", "max_partitions"),
    ("sql-prefix-escape", "sql_prefix = '../../../../tmp/x/'", "sql_prefix"),
    ("sql-prefix-absolute", "sql_prefix = '/etc/'", "sql_prefix"),
    ("sql-prefix-inner-dots", "sql_prefix = 'sql/../../x/'", "sql_prefix"),
    ("sm-name-space", "state_machine_name = 'a b'", "state_machine_name"),
    ("sm-name-colon", "state_machine_name = 'a:b'", "state_machine_name"),
    ("sm-name-space", "state_machine_name = 'a b'", "state_machine_name"),
    ("sm-name-81", f"state_machine_name = '{'a' * 81}'", "state_machine_name"),
    ("alias-colon", "alias_name = 'a:b'", "alias_name"),
    ("alias-empty", "alias_name = ''", "alias_name"),
    ("alias-number", "alias_name = '12'", "alias_name"),
    ("webhook-env-name", "slack_webhook_env = 'A B'", "slack_webhook_env"),
    ("definitions-number", "definitions_dir = 3", "definitions_dir"),
    ("definitions-not-string", "definitions_dir = []", "definitions_dir"),
    # second pass: every value, not only the ones the first attack named
    ("sm-name-empty", "state_machine_name = ''", "state_machine_name"),
    (
        "workflow-sm-name-empty",
        "[workflows.weekly_load]\nstate_machine_name = ''",
        "state_machine_name",
    ),
    ("notify-every-huge", "notify_every = 99999999999999999", "notify_every"),
    ("notify-every-float", "notify_every = 2.0", "notify_every"),
    ("bytes-billed-float", "bq_maximum_bytes_billed = 1e12", "bq_maximum_bytes_billed"),
    ("bucket-quote", "sql_bucket = 'b\"c'", "sql_bucket"),
    ("bucket-upper", "sql_bucket = 'MyBucket'", "sql_bucket"),
    ("bucket-escape", "sql_bucket = '../x'", "sql_bucket"),
    ("bucket-ip", "sql_bucket = '192.168.5.4'", "sql_bucket"),
    ("region-quote", "region = 'us-east-1\"'", "region"),
    ("region-newline", 'region = "us-east-1\\nx"', "region"),
    ("location-quote", "bq_location = 'a\"b'", "bq_location"),
    ("slack-secret-wildcard", "slack_secret_name = '*'", "slack_secret_name"),
    ("slack-secret-placeholder", "slack_secret_name = '${x}'", "slack_secret_name"),
    ("bq-secret-quote", "bq_credentials_secret = 'a\"b'", "bq_credentials_secret"),
    ("ssm-secret-wildcard", "slack_secret_name = '/opsbook/*'", "slack_secret_name"),
    ("alarm-topic-quote", "alarm_topic_arn = 'arn:\"x'", "alarm_topic_arn"),
    (
        "alarm-topic-wildcard",
        "alarm_topic_arn = 'arn:aws:sns:us-east-1:123456789012:*'",
        "alarm_topic_arn",
    ),
]


@pytest.mark.parametrize(("case", "body", "fragment"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_hostile_config_values_are_one_line_exit_2(
    tmp_path, monkeypatch, capsys, case, body, fragment
):
    from opsbook.cli import run

    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("OPSBOOK_", "SLACK_")):
            monkeypatch.delenv(key, raising=False)
    config = tmp_path / "hostile.toml"
    config.write_text(body + "\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    code = run(["--home", str(tmp_path / "home"), "--config", str(config), "deploy"])
    captured = capsys.readouterr()
    line = one_line_error(Result(code, captured.out, captured.err))
    assert fragment in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing created


def test_a_huge_config_file_is_refused_without_reading_it(tmp_path):
    env = scrubbed_env(tmp_path)
    for target in ("/dev/zero", "/dev/urandom"):
        line = one_line_error(run_cli("--config", target, "executions", env=env, timeout=30))
        assert target in line
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (2 << 20) + "\n")
    line = one_line_error(run_cli("--config", str(big), "executions", env=env, timeout=30))
    assert "too large" in line


def test_polling_must_fit_the_definitions_timeout(deployed, tmp_path):
    """24 polls an hour apart outlast the definition's TimeoutSeconds (12 h): refused before
    anything starts, naming the timeout read from the definition."""
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    timeout = json.loads(
        (PACKAGE_ROOT / "definitions" / "weekly_load" / "weekly_load.asl.json").read_text()
    )["TimeoutSeconds"]
    started = run_cli(
        "start", "--week", WEEK, "--poll-seconds", "3600", "--max-polls", "24", env=env
    )
    line = one_line_error(started)
    assert str(timeout) in line and "TimeoutSeconds" in line
    assert json.loads(run_cli("executions", "--json", env=env).out) == []
    # what fits runs (the default: 18 polls 600 s apart)
    assert run_cli("start", "--week", WEEK, "--max-polls", "1", env=env).code in (0, 1)


def test_schedule_run_over_a_huge_range_needs_yes(deployed, tmp_path):
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    line = one_line_error(
        run_cli("schedule", "run", "--since", "1970-01-01", "--until", "9998-12-31", env=env)
    )
    assert "--yes" in line
    assert json.loads(run_cli("executions", "--json", env=env).out) == []


def test_rerun_over_a_huge_range_needs_yes_before_planning(deployed, tmp_path):
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    result = run_cli("rerun", "--since", "2010-01-01", "--until", "2026-11-26", env=env)
    line = one_line_error(result)
    assert "--yes" in line and "max_partitions" in line
    assert json.loads(run_cli("executions", "--json", env=env).out) == []
    # a dry run acts on nothing: it may look at any range
    dry = run_cli("rerun", "--since", "2026-01-01", "--until", "2026-11-26", "--dry-run", env=env)
    assert dry.code == 0, dry.err


def test_a_range_past_the_schedules_last_year_is_refused_not_cut(tmp_path):
    """EventBridge cron years run 1970-2199: a range beyond that is said, not silently cut."""
    from opsbook.errors import UsageError
    from opsbook.workflows.schedules import fire_times_between, load_schedule

    sched = load_schedule(PACKAGE_ROOT / "definitions" / "weekly_load" / "schedule.json")
    with pytest.raises(UsageError, match="2199"):
        fire_times_between(sched, "2199-12-01", "2200-01-31")
    inside = fire_times_between(sched, "2199-12-01", "2199-12-31")
    assert inside and all(t.year == 2199 for t in inside)


@pytest.mark.parametrize("key", ["../x.sql", "sql/../../x.sql", "/etc/passwd", "link/x.sql"])
def test_object_keys_never_lead_outside_the_objects_folder(tmp_path, key):
    """Defence in depth behind the sql_prefix check: a key (or a symlink) out of objects/ is
    refused by the object store itself."""
    from opsbook.errors import ConfigError
    from opsbook.lambdas.resources import LocalObjects

    root = tmp_path / "objects"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    (tmp_path / "x.sql").write_text("SELECT 1")
    with pytest.raises(ConfigError, match="outside"):
        LocalObjects(root).get_text(key)
    assert LocalObjects(root).path("sql/check.sql") == root.resolve() / "sql" / "check.sql"


def test_next_fire_times_are_never_cut_at_2199_silently():
    from datetime import datetime

    from opsbook.errors import UsageError
    from opsbook.workflows.schedules import load_schedule, next_fire_times

    sched = load_schedule(PACKAGE_ROOT / "definitions" / "weekly_load" / "schedule.json")
    after = datetime(2199, 11, 1)
    assert len(next_fire_times(sched, 3, after=after)) == 3
    with pytest.raises(UsageError, match="2199"):
        next_fire_times(sched, 10, after=after)


def test_config_paths_that_are_not_files_are_one_line_exit_2(tmp_path):
    """A folder, a FIFO nobody writes to (open() alone would block forever), a symlink loop:
    each is one line and exit 2, within seconds."""
    env = scrubbed_env(tmp_path)
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    for name in ("folder", "fifo", "loop1"):
        target = str(tmp_path / name)
        line = one_line_error(run_cli("--config", target, "executions", env=env, timeout=30))
        assert target in line, line


def test_a_config_given_through_a_pipe_is_read(tmp_path):
    """`--config <(...)` (a pipe with a writer) still works."""
    import subprocess

    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        ["bash", "-c", f"{sys.executable} -m opsbook --config <(echo 'max_polls = 0') executions"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "max_polls" in done.stderr, done.stderr
