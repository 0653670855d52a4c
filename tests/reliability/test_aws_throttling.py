"""AWS throttles or resets connections: botocore's adaptive retries absorb it, and the Backend
API, the CLI and the notebook code path (opsbook.operations.history) carry on with the right answers.

A loopback proxy sits between opsbook and moto (AWS_ENDPOINT_URL points at it). For the first
N Step Functions requests of each operation it answers ThrottlingException (HTTP 400, the JSON
AWS sends) or resets the connection, then forwards everything to moto unchanged."""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import Loopback, run_cli, scrubbed_env  # noqa: E402

from opsbook.backends.aws.backend import AwsBackend  # noqa: E402
from opsbook.config import load_config  # noqa: E402
from opsbook.operations import history as hist  # noqa: E402

# Adaptive mode slows the client after each throttle (that is the point), so one throttle per
# operation keeps the test quick; resets are retried at full speed.
FAULTS = {"throttle": 1, "reset": 3}
THROTTLE_BODY = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()


class FaultProxy(Loopback):
    """Fails the first `faults` Step Functions requests of each operation, then forwards."""

    def __init__(self, upstream: str, *, faults: int, mode: str):
        target = urlsplit(upstream)
        self.faults = faults
        self.mode = mode  # "throttle" | "reset"
        self.seen: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                operation = self.headers.get("X-Amz-Target", "")
                with proxy.lock:
                    if operation.startswith("AWSStepFunctions."):
                        proxy.seen[operation] += 1
                        fail = proxy.seen[operation] <= proxy.faults
                        if fail:
                            proxy.failed[operation] += 1
                    else:
                        fail = False
                if fail and proxy.mode == "reset":
                    # RST instead of FIN: the client sees "connection reset by peer".
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    self.connection.close()
                    return
                if fail:
                    self._reply(400, {"Content-Type": "application/x-amz-json-1.0"}, THROTTLE_BODY)
                    return
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = target.netloc
                upstream_conn.request(self.command, self.path, body=body, headers=headers)
                response = upstream_conn.getresponse()
                data = response.read()
                keep = {
                    k: v
                    for k, v in response.getheaders()
                    if k.lower() not in ("transfer-encoding", "connection", "content-length")
                }
                upstream_conn.close()
                if operation:
                    with proxy.lock:
                        proxy.forwarded[operation] += 1
                self._reply(response.status, keep, data)

            def _reply(self, status, headers, data):
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

            def finish(self):
                try:
                    super().finish()
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}"


@pytest.fixture
def started(aws_deployed):
    """Two executions on moto (one succeeded, one running), made without the proxy."""
    ok = aws_deployed.start(
        {"week": "2026-11-19", "mode": "load"}, name="week-2026-11-19", wait=True
    )
    running = aws_deployed.start(
        {"week": "2026-11-26", "mode": "hang"}, name="week-2026-11-26", wait=False
    )
    assert ok.status == "SUCCEEDED" and running.status == "RUNNING"
    return aws_deployed


def _through(proxy: FaultProxy, direct: AwsBackend, monkeypatch) -> AwsBackend:
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    return AwsBackend(
        load_config(
            home=Path(direct.cfg.home).parent / "proxy-home",
            backend="aws",
            definitions_dir=str(direct.cfg.definitions_dir),
        )
    )


@pytest.mark.parametrize("mode", ["throttle", "reset"])
def test_list_describe_history_survive_throttling_and_resets(started, monkeypatch, mode):
    expected = [(e.name, e.status) for e in started.list_executions()]
    expected_history = [e["type"] for e in started.history("week-2026-11-19")]
    proxy = FaultProxy(os.environ["AWS_ENDPOINT_URL"], faults=FAULTS[mode], mode=mode)
    try:
        backend = _through(proxy, started, monkeypatch)
        listed = backend.list_executions()
        assert [(e.name, e.status) for e in listed] == expected
        assert backend.describe("week-2026-11-26").status == "RUNNING"
        assert [e["type"] for e in backend.history("week-2026-11-19")] == expected_history
        backend.close()
    finally:
        proxy.close()
    # Every operation was refused 3 times, then retried until it went through.
    for operation in (
        "AWSStepFunctions.ListExecutions",
        "AWSStepFunctions.DescribeExecution",
        "AWSStepFunctions.GetExecutionHistory",
    ):
        assert proxy.failed[operation] == FAULTS[mode], (operation, proxy.failed)
        assert proxy.forwarded[operation] >= 1, (operation, proxy.forwarded)


def test_notebook_views_survive_throttling(started, monkeypatch):
    """opsbook.operations.history (what the notebooks call) through a throttling endpoint."""
    proxy = FaultProxy(os.environ["AWS_ENDPOINT_URL"], faults=1, mode="throttle")
    try:
        backend = _through(proxy, started, monkeypatch)
        frame = hist.executions(backend)
        assert set(frame["name"]) == {"week-2026-11-19", "week-2026-11-26"}
        events = hist.events(backend, "week-2026-11-19")
        assert list(events["type"])[0] == "ExecutionStarted"
        assert list(events["type"])[-1] == "ExecutionSucceeded"
        backend.close()
    finally:
        proxy.close()
    assert sum(proxy.failed.values()) >= 2


@pytest.mark.parametrize("mode", ["throttle", "reset"])
def test_cli_executions_survives_throttling(started, monkeypatch, tmp_path, mode):
    proxy = FaultProxy(os.environ["AWS_ENDPOINT_URL"], faults=FAULTS[mode], mode=mode)
    env = scrubbed_env(
        tmp_path,
        AWS_ENDPOINT_URL=proxy.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="ap-northeast-1",
        OPSBOOK_HOME=str(tmp_path / "cli-home"),
        OPSBOOK_DEFINITIONS_DIR=str(started.cfg.definitions_dir),
    )
    try:
        result = run_cli("--backend", "aws", "executions", "--json", env=env, timeout=120)
        history = run_cli("--backend", "aws", "history", "week-2026-11-19", "--json", env=env)
    finally:
        proxy.close()
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert {d["name"] for d in json.loads(result.out)} == {"week-2026-11-19", "week-2026-11-26"}
    assert history.code == 0, history.err
    assert json.loads(history.out)["events"][-1]["type"] == "ExecutionSucceeded"
    assert proxy.failed["AWSStepFunctions.ListExecutions"] == FAULTS[mode]
