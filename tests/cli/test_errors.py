"""Bad input on every command: exit 2, one line on stderr, no traceback, nothing written."""

from __future__ import annotations

import json

import pytest


def _one_line_error(result, code: int = 2) -> str:
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("week", "expected"),
    [
        ("2026-11-25", "2026-11-25 is a Wednesday, not a Thursday; nearest Thursdays: 2026-11-19"),
        ("2026-02-30", "not a date"),
        ("next week", "not a date"),
    ],
)
def test_bad_week_is_refused_before_anything_is_written(opsbook, tmp_path, week, expected):
    home = tmp_path / "home"
    line = _one_line_error(opsbook("--home", str(home), "start", "--week", week))
    assert expected in line
    assert not home.exists()


def test_bad_definitions_exit_2(opsbook, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "invalid" in _one_line_error(opsbook("validate", str(broken)))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}))
    result = opsbook("validate", str(bad))
    assert result.code == 2 and "Traceback" not in result.err
    assert result.err.strip().splitlines()[-1].startswith("error: ")
    assert "does not exist" in _one_line_error(opsbook("validate", str(tmp_path / "none.json")))


def test_the_repo_definition_is_valid(opsbook):
    result = opsbook("validate")
    assert result.code == 0 and result.out.startswith("weekly_load: OK (weekly_load.asl.json")
    result = opsbook("validate", "--json")
    doc = json.loads(result.out)
    assert doc["result"] == "OK" and [w["workflow"] for w in doc["workflows"]] == ["weekly_load"]
    assert doc["workflows"][0]["diagnostics"] == [] and doc["workflows"][0]["problems"] == []


def test_bad_config_exits_2(opsbook, tmp_path):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("max_polls = [")
    assert "not valid TOML" in _one_line_error(opsbook("--config", str(bad_toml), "executions"))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('colour = "blue"\n')
    assert "unknown key" in _one_line_error(opsbook("--config", str(unknown), "executions"))
    assert "backend" in _one_line_error(opsbook("--backend", "gcp", "executions"))
    assert "backend" in _one_line_error(opsbook("executions", env={"OPSBOOK_BACKEND": "azure"}))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("max_polls = 0\n")
    assert "max_polls" in _one_line_error(opsbook("--config", str(wrong), "executions"))


@pytest.mark.parametrize(
    "args",
    [
        ["bogus"],
        ["start"],
        ["start", "--week", "2026-11-26", "--poll-seconds", "x"],
        ["start", "--week", "2026-11-26", "--max-polls", "0"],
        ["start", "--week", "2026-11-26", "--name", "has space"],
        ["start", "--week", "2026-11-26", "--clock", "sundial"],
        ["executions", "--status", "DONE"],
        ["history", "no-such-execution"],
        ["schedule", "--next", "-1"],
        ["schedule", "run", "--since", "2026-13-01", "--until", "2026-11-26"],
        ["schedule", "run", "--since", "2026-11-26", "--until", "2026-11-01"],
        ["init", "--demo-data", "--end-week", "2026-11-27"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(opsbook, tmp_path, args):
    home = tmp_path / "home"
    _one_line_error(opsbook("--home", str(home), *args))
    assert not home.exists()  # nothing half-written
