"""Missing AWS credentials, a wrong region or an unreachable endpoint: the CLI prints one line
naming what to configure and exits 2 (real subprocess, scrubbed environment: no AWS_*
variables, HOME in a temp folder, no config files)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import one_line_error, run_cli, scrubbed_env  # noqa: E402
from support.federation import deploy_environment  # noqa: E402

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
COMMANDS = [
    ["executions"],
    ["start", "--week", "2026-11-26", "--no-wait"],
    ["deploy", "--plan"],
    ["weeks", "--since", "2026-11-01", "--until", "2026-11-26"],
]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SETUPS = {
    # what is wrong: (extra environment, fragments the one line must hold)
    "no-region": ({**CREDS}, ["AWS_REGION"]),
    "no-credentials": ({"AWS_REGION": "ap-northeast-1"}, ["AWS_ACCESS_KEY_ID", "AWS_PROFILE"]),
    "bad-region-name": ({**CREDS, "AWS_REGION": "tokyo please"}, ["AWS_REGION", "tokyo please"]),
    "unreachable-endpoint": (
        {**CREDS, "AWS_REGION": "ap-northeast-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:{port}"},
        ["cannot reach", "AWS_ENDPOINT_URL"],
    ),
    "wrong-region": ({**CREDS, "AWS_REGION": "mars-1"}, ["mars-1", "region"]),
}


# Every setup on the two everyday commands; the other commands on two setups (each run is a
# fresh interpreter, so the matrix is kept small).
PARAMS = [(s, c) for s in SETUPS for c in COMMANDS[:2]] + [
    (s, c) for s in ("no-credentials", "unreachable-endpoint") for c in COMMANDS[2:]
]


@pytest.mark.parametrize(("setup", "command"), PARAMS, ids=[f"{s}-{c[0]}" for s, c in PARAMS])
def test_aws_configuration_problems_are_one_line_exit_2(tmp_path, setup, command):
    extra, fragments = SETUPS[setup]
    port = _closed_port()
    extra = {k: v.replace("{port}", str(port)) for k, v in extra.items()}
    env = scrubbed_env(
        tmp_path,
        **deploy_environment(tmp_path),  # deploy's own BigQuery checks pass; AWS's must fail
        OPSBOOK_HOME=str(tmp_path / "home"),
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_MAX_ATTEMPTS="1",
        **extra,
    )
    result = run_cli("--backend", "aws", *command, env=env, cwd=tmp_path, timeout=90)
    line = one_line_error(result)
    for fragment in fragments:
        assert fragment in line, line
