"""`start --name week-Y[-rN]` must agree with --week: listing files an execution under the week
its name says."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("name", ["week-2026-11-19", "week-2026-12-03-r2"])
def test_start_refuses_a_name_of_another_week(cli, tmp_path, name):
    home = tmp_path / "home"
    result = cli("--home", str(home), "start", "--week", "2026-11-26", "--name", name)
    assert result.code == 2, (result.code, result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.err
    named = name[len("week-") : len("week-") + 10]
    assert lines[0] == f"error: --name {name} says week {named} but the partition is 2026-11-26"
    assert not home.exists()  # refused before the backend opened anything


def test_start_accepts_names_of_the_same_week_or_of_no_week(cli, tmp_path):
    home = str(tmp_path / "home")
    assert cli("--home", home, "init").code == 0
    for name in ("week-2026-11-26-r1", "manual-run"):
        result = cli("--home", home, "start", "--week", "2026-11-26", "--name", name, "--no-wait")
        assert result.code == 0, (name, result.out, result.err)
        assert name in result.out and "RUNNING" in result.out
