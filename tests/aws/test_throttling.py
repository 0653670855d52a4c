"""Throttling and dropped connections are retried with backoff (botocore's adaptive mode).

A loopback proxy in front of moto answers the first requests of one API with Step Functions'
ThrottlingException, or closes the connection without answering, then forwards the rest.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from urllib.parse import urlparse

import pytest

from opsbook.errors import OperationFailed

pytestmark = pytest.mark.aws


class FaultyProxy:
    def __init__(self, upstream: str, target: str, faults: list[str]):
        self.upstream = urlparse(upstream)
        self.target = target  # e.g. "AWSStepFunctions.ListExecutions"
        self.faults = list(faults)  # "throttle" | "reset", used up one per matching request
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                if target == proxy.target:
                    proxy.seen.append(target)
                    if proxy.faults:
                        fault = proxy.faults.pop(0)
                        if fault == "reset":
                            self.close_connection = True
                            self.connection.shutdown(2)
                            return
                        payload = json.dumps(
                            {"__type": "ThrottlingException", "message": "Rate exceeded"}
                        ).encode()
                        self.send_response(400)
                        self.send_header("Content-Type", "application/x-amz-json-1.0")
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload)
                        return
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(method, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            def do_POST(self):
                self._forward("POST")

            def do_GET(self):
                self._forward("GET")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_throttled_and_reset_calls_are_retried(make_backend, aws_env, monkeypatch):
    deployed = make_backend()
    deployed.deploy()
    deployed.start({"week": "2026-11-26"}, name="week-2026-11-26", wait=False)
    faults = ["throttle", "reset", "throttle"]
    with FaultyProxy(aws_env, "AWSStepFunctions.ListExecutions", faults) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        backend = make_backend()
        listed = backend.list_executions()
    assert [e.name for e in listed] == ["week-2026-11-26"]
    assert len(proxy.seen) == 4  # three faults, then the answer
    assert proxy.faults == []


def test_endless_throttling_ends_in_one_clear_line(make_backend, aws_env, monkeypatch):
    deployed = make_backend()
    deployed.deploy()
    with FaultyProxy(aws_env, "AWSStepFunctions.DescribeExecution", ["throttle"] * 50) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        backend = make_backend()
        # Fewer retries than production's ten keep the test short; the path is the same.
        backend.boto_config = backend.boto_config.merge(
            type(backend.boto_config)(retries={"mode": "adaptive", "max_attempts": 2})
        )
        with pytest.raises(OperationFailed) as info:
            backend.describe("week-2026-11-26")
    assert (
        str(info.value)
        == "AWS kept throttling describing week-2026-11-26; retry later or lower max_concurrency"
    )
    assert len(proxy.seen) == 3  # the first try and two retries
