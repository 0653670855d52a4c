"""The Python API's guardrails: a missing home, the backend's repr, status filters, the
modules `import opsbook` reaches, and `__all__` lists."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pandas as pd
import pytest

import opsbook
from opsbook.backends.base import STATUSES
from opsbook.errors import UsageError
from opsbook.operations.backfill import REDRIVE, SKIP, START, outcome, summarize, summary_line
from opsbook.workflows.schedules import week_input

WEEK = "2026-11-26"


@pytest.fixture
def local(tmp_path, monkeypatch):
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    backend = opsbook.connect("local", home=tmp_path / "home", create=True)
    backend.init()
    backend.deploy()
    backend.start(week_input(WEEK, max_polls=1, poll_seconds=0), name="w")
    yield backend
    backend.close()


def test_connect_refuses_a_home_that_does_not_exist(tmp_path):
    with pytest.raises(UsageError) as refused:
        opsbook.connect("local", home=tmp_path / "typo")
    assert str(refused.value).startswith(f"opsbook home {tmp_path / 'typo'} does not exist")
    assert "init" in str(refused.value) and not (tmp_path / "typo").exists()


def test_the_backends_repr_says_what_it_is(local, tmp_path):
    assert repr(local) == (
        f"LocalBackend(home={str((tmp_path / 'home').resolve())!r},"
        " workflow='weekly_load', state_machine='opsbook-weekly-load', clock='virtual')"
    )


@pytest.mark.parametrize("status", ["failed", "Failed", " FAILED "])
def test_status_filters_are_case_insensitive(local, status):
    assert [e.name for e in local.list_executions(status=status)] == ["w"]
    assert local.list_executions(status=status.lower().replace("failed", "succeeded")) == []


@pytest.mark.parametrize("status", ["BOGUS", "fail", ""])
def test_an_unknown_status_is_an_error_listing_the_valid_ones(local, status):
    with pytest.raises(UsageError) as refused:
        local.list_executions(status=status)
    assert str(refused.value) == f"unknown status {status!r}; use one of {', '.join(STATUSES)}"
    with pytest.raises(UsageError, match="unknown status"):
        opsbook.history.executions(local, status=status)


def test_the_cli_status_filter_too(local, capsys):
    from opsbook.cli import run

    home = str(local.home)
    assert run(["--home", home, "executions", "--status", "failed", "--json"]) == 0
    assert '"name": "w"' in capsys.readouterr().out
    assert run(["--home", home, "executions", "--status", "nope"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: unknown status 'nope'; use one of {', '.join(STATUSES)}"
    )


def test_import_opsbook_reaches_history_and_backfill():
    code = (
        "import opsbook; print(opsbook.history.weeks.__module__, "
        "opsbook.backfill.plan_rerun.__module__, opsbook.failures.state_visits.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    assert out == [
        "opsbook.operations.history",
        "opsbook.operations.backfill",
        "opsbook.operations.failures",
    ]
    with pytest.raises(AttributeError):
        opsbook.no_such_thing  # noqa: B018


def test_every_all_lists_only_public_names_that_exist():
    for info in pkgutil.walk_packages(opsbook.__path__, "opsbook."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            assert not name.startswith("_"), (info.name, name)
            assert hasattr(module, name), (info.name, name)


def _results(dry_run: bool) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"week": "a", "action": REDRIVE, "status": "SUCCEEDED", "execution": "week-a", "dry_run": dry_run},
            {"week": "b", "action": START, "status": "FAILED", "execution": "week-b-r1", "dry_run": dry_run},
            {"week": "c", "action": SKIP, "status": "SUCCEEDED", "execution": "week-c", "dry_run": False},
        ]
    )  # fmt: skip


def test_a_dry_run_says_would_not_started():
    dry = _results(True)
    assert summarize(dry)["started"] == 0 and summarize(dry)["redriven"] == 0
    assert (summarize(dry)["would_start"], summarize(dry)["would_redrive"]) == (1, 1)
    assert summary_line(dry) == "dry run: would redrive 1, would start 1 of 3 weeks"
    assert [outcome(r) for r in dry.to_dict("records")] == [
        "would redrive week-a",
        "would start week-b-r1",
        "skipped",
    ]
    done = _results(False)
    assert summary_line(done) == "redrove 1, started 1 of 3 weeks: 1 succeeded, 1 did not"
    assert outcome(done.to_dict("records")[0]) == "redriven week-a: SUCCEEDED"


def test_weeks_and_the_plan_default_to_the_last_12_weeks_as_the_cli_does(local):
    """`opsbook.history.weeks(backend)` and `plan_rerun(backend)` need no range."""
    from opsbook.operations.history import default_range

    since, until = default_range()
    table = opsbook.history.weeks(local)
    assert len(table) == 12 and table["week"].iloc[0] == since.isoformat()
    assert table.equals(opsbook.history.weeks(local, since, until))
    plan = opsbook.backfill.plan_rerun(local)
    assert list(plan["week"]) == list(table["week"])
    assert opsbook.backfill.plan_rerun(local, statuses="failed").attrs["statuses"] == ("FAILED",)
