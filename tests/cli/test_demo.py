"""`opsbook demo` end to end in a temporary home, and its refusal of a foreign folder."""

from __future__ import annotations

import time

from opsbook.cli import DEMO_MARKER, prepare_demo_home


def test_demo_end_to_end(opsbook, tmp_path):
    home = tmp_path / "demo"
    started = time.monotonic()
    result = opsbook("--home", str(home), "demo", timeout=120)
    elapsed = time.monotonic() - started
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert elapsed < 120
    out = result.out
    assert "firing the schedule" in out
    rows = [line.split() for line in out.splitlines() if line[:4].isdigit() and "  " in line]
    statuses = [r[1] for r in rows if len(r) > 1 and r[1] in ("SUCCEEDED", "FAILED")]
    assert len(statuses) >= 12
    assert statuses[:12].count("FAILED") == 2  # the two late weeks of the demo's seed
    # After the rerun (their late rows have landed by now) every week is in.
    assert statuses[-12:] == ["SUCCEEDED"] * 12
    rerun = out.split("6. rerunning")[1].split("7. the weeks table")[0]
    actions = {
        line.split()[0]: line.split()[1] for line in rerun.splitlines() if line[:4].isdigit()
    }
    # The older late week closed more than 14 days ago: a new execution. The week before the
    # newest failed within redrive's 14 days: it resumes where it failed.
    assert sorted(actions.values()) == ["REDRIVE", "START"]
    assert actions[max(actions)] == "REDRIVE"  # the newer of the two
    assert '"errorMessage"' not in out and "stackTrace" not in out  # causes are readable
    assert "history of week" in out and "WaitStateEntered" in out
    history = out.split("4. history of week")[1].split("5. the weeks table")[0]
    started = [line for line in history.splitlines() if "ExecutionStarted" in line]
    assert len(started) == 1 and " UTC / 09:30:00 Asia/Tokyo" in started[0]  # both zones
    assert (home / DEMO_MARKER).is_file()
    assert (home / "store.sqlite").is_file() and (home / "warehouse.duckdb").is_file()


def test_demo_refuses_a_folder_that_is_not_a_demo(opsbook, tmp_path):
    home = tmp_path / "mine"
    home.mkdir()
    (home / "precious.txt").write_text("keep me")
    result = opsbook("--home", str(home), "demo")
    assert result.code == 2 and "Traceback" not in result.err
    assert "not empty" in result.err and len(result.err.strip().splitlines()) == 1
    assert (home / "precious.txt").read_text() == "keep me"
    assert sorted(p.name for p in home.iterdir()) == ["precious.txt"]


def test_an_earlier_demo_home_is_rebuilt(tmp_path):
    home = tmp_path / "demo"
    prepare_demo_home(home)
    (home / "store.sqlite").write_text("old")
    (home / "objects").mkdir()
    prepare_demo_home(home)
    assert sorted(p.name for p in home.iterdir()) == [DEMO_MARKER]
