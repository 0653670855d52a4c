"""CLI fixtures: run `python -m opsbook` in a subprocess, or opsbook.cli.run in process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("OPSBOOK_") or key == "SLACK_WEBHOOK_URL":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # a stray default home would land here, never in the repo
    return tmp_path


@pytest.fixture
def opsbook(clean_env):
    """Run `python -m opsbook ARGS` in a subprocess."""

    def run(*args: str, env: dict | None = None, timeout: float = 300) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "opsbook", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def cli(clean_env, capsys):
    """Run opsbook.cli.run(ARGS) in process (fast); returns code, stdout, stderr."""
    from opsbook.cli import run

    def call(*args: str) -> Result:
        code = run(list(args))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return call
