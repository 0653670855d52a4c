"""Fixtures for the workflow-model tests."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    """opsbook.cli.run in process, in an empty working folder (definitions_dir ./definitions).
    A call expecting exit 2 returns its stderr; with --json, the decoded document."""
    from opsbook.cli import run as cli_run

    for key in list(os.environ):
        if key.startswith("OPSBOOK_") or key == "SLACK_WEBHOOK_URL":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)

    def call(*args: str, code: int = 0):
        got = cli_run(["--home", str(tmp_path / "home"), *args])
        out = capsys.readouterr()
        assert got == code, (args, out.out, out.err)
        if code == 2:
            return out.err
        return json.loads(out.out) if "--json" in args else out.out

    return call
