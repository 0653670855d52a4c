"""Fixtures for the reliability tests: scrubbed subprocess environments, a local home,
loopback HTTP servers (Slack webhook, an AWS fault proxy) and a moto server on 127.0.0.1.

Every subprocess and every server wait is bounded."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opsbook.backends.local import LocalBackend
from opsbook.config import load_config

WEEK = "2026-11-26"
LAST_DAY = "2026-11-25"
TOKEN = "T000/B000/rElIaBiLiTyToKeN42"
logging.getLogger("werkzeug").setLevel(logging.ERROR)


@dataclass
class Result:
    code: int
    out: str
    err: str


def scrubbed_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: no AWS_*, OPSBOOK_*, SLACK_* variables; HOME is a temp folder."""
    home = tmp_path / "user-home"
    home.mkdir(exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "OPSBOOK_", "SLACK_", "BQ_", "GOOGLE_"))
    }
    env.update(HOME=str(home), AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 120, cwd=None) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "opsbook", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def one_line_error(result: Result, code: int = 2) -> str:
    """Assert exit `code`, exactly one `error: ...` line on stderr and no traceback."""
    assert result.code == code, (result.code, result.out[-500:], result.err[-1500:])
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def insert_events(backend: LocalBackend, day: str, n: int = 3) -> None:
    wh = backend.open_warehouse()
    try:
        for i in range(n):
            wh.execute(
                "INSERT INTO `opsbook-local.analytics.events`"
                " (event_date, event_ts, user_id, event_type, amount)"
                " VALUES (@d, TIMESTAMP(@d), @u, 'view', 1.5)",
                {"d": date.fromisoformat(day), "u": f"u{i}"},
            )
    finally:
        wh.close()


def add_week(backend: LocalBackend, week: str = WEEK, *, last_day: bool = True) -> None:
    """Three rows on each day of the week (the last day optional)."""
    from datetime import timedelta

    from opsbook.weeks import week_dates

    start = week_dates(week).week_start
    days = [start + timedelta(days=i) for i in range(7)]
    for day in days if last_day else days[:-1]:
        insert_events(backend, day.isoformat())


def summary(backend: LocalBackend) -> list[tuple]:
    wh = backend.open_warehouse()
    try:
        frame = wh.query(
            "SELECT * FROM `opsbook-local.analytics.weekly_summary`"
            " ORDER BY week, event_date, event_type"
        )
    finally:
        wh.close()
    return [tuple(str(v) for v in row) for row in frame.itertuples(index=False)]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith(("OPSBOOK_", "SLACK_")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def make_local(clean_env):
    made: list[LocalBackend] = []

    def make(home: Path, *, clock: str = "virtual", **overrides) -> LocalBackend:
        backend = LocalBackend(load_config(home=home, **overrides), clock=clock)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def deployed(make_local, tmp_path) -> LocalBackend:
    backend = make_local(tmp_path / "home")
    backend.init()
    backend.deploy()
    return backend


# --------------------------------------------------------------------------- loopback servers
class Loopback:
    """A ThreadingHTTPServer on 127.0.0.1 serving `handler_class` in a daemon thread."""

    def __init__(self, handler_class):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Webhook(Loopback):
    """A scripted Slack webhook: each POST gets the next status (the last repeats); a status of
    0 means "hang for `hang` seconds, then answer 200" (a timeout for the client)."""

    def __init__(self, statuses: list[int], token: str = TOKEN, hang: float = 3.0):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        self.token = token
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                hook.requests.append({"path": self.path, "body": json.loads(body or "null")})
                status = hook.statuses[min(len(hook.requests) - 1, len(hook.statuses) - 1)]
                if status == 0:
                    time.sleep(hang)
                    status = 200
                text = b"ok" if status == 200 else b"error"
                try:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:  # the client gave up (timeout)
                    pass

            def log_message(self, *args):
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/services/{token}"


@pytest.fixture
def webhook():
    made: list[Webhook] = []

    def make(statuses: list[int], **kw) -> Webhook:
        hook = Webhook(statuses, **kw)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.close()


# --------------------------------------------------------------------------- moto
def moto_post(url: str, body: dict | None = None) -> None:
    data = json.dumps(body or {}).encode()
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


@pytest.fixture(scope="session")
def moto_url():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield url
    server.stop()


AWS_REGION = "ap-northeast-1"


@pytest.fixture
def aws_env(moto_url, monkeypatch, tmp_path):
    """Fresh moto state; only the standard AWS variables, pointing at moto."""
    moto_post(f"{moto_url}/moto-api/reset")
    moto_post(f"{moto_url}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
    for var in list(os.environ):
        if var.startswith(("AWS_", "OPSBOOK_", "SLACK_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", AWS_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("OPSBOOK_HOME", str(tmp_path / "home"))
    yield moto_url
    moto_post(f"{moto_url}/moto-api/config", {"stepfunctions": {"execute_state_machine": False}})


# A definition without Task states (moto does not run Lambdas); "hang" keeps it RUNNING.
PASS_DEFINITION = {
    "Comment": "Pass-only stand-in for the weekly load",
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.mode", "IsPresent": True},
                        {"Variable": "$.mode", "StringEquals": "hang"},
                    ],
                    "Next": "Hang",
                }
            ],
            "Default": "InsertWeek",
        },
        "Hang": {"Type": "Wait", "Seconds": 3600, "Next": "InsertWeek"},
        "InsertWeek": {
            "Type": "Pass",
            "Result": {"rows": 3},
            "ResultPath": "$.insert",
            "End": True,
        },
    },
}


def pass_only_definitions(tmp_path: Path) -> Path:
    import shutil

    from opsbook.config import REPO_ROOT

    defs = tmp_path / "definitions"
    if not defs.exists():
        shutil.copytree(REPO_ROOT / "definitions", defs)
        (defs / "weekly_load.asl.json").write_text(json.dumps(PASS_DEFINITION))
    return defs


@pytest.fixture
def aws_deployed(aws_env, tmp_path, tmp_path_factory):
    """An AwsBackend on moto with the pass-only definition deployed (small layer)."""
    from opsbook.backends.aws import AwsBackend

    defs = pass_only_definitions(tmp_path)
    build = tmp_path_factory.mktemp("build")
    backend = AwsBackend(
        load_config(home=tmp_path / "home", backend="aws", definitions_dir=str(defs)),
        layer_requirements=("slack_sdk",),
        build_dir=build,
    )
    backend.deploy()
    yield backend
    backend.close()
