"""Loopback HTTP servers for tests: a generic one, an OAuth-style token endpoint and a scripted
Slack webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


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


class TokenEndpoint(Loopback):
    """A token endpoint (an OAuth 2.0 or RFC 8693 form POST) at `path`: `answer(form)` gives
    the HTTP status and the JSON body of each answer."""

    def __init__(self, path: str, answer: Callable[[dict[str, str]], tuple[int, dict]]):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                status, payload = answer({k: v[-1] for k, v in parse_qs(body).items()})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}{path}"


class Webhook(Loopback):
    """A scripted Slack webhook: each POST gets the next status (the last repeats) and its body
    is recorded; a status of 0 means "hang for `hang` seconds, then answer 200" (a timeout for
    the client)."""

    def __init__(self, statuses: list[int], token: str, hang: float = 3.0):
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
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                except OSError:  # the client gave up (timeout)
                    pass

            def log_message(self, *args):  # keep test output clean
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/services/{token}"


def webhook_factory(token: str):
    """The body of a `webhook` fixture: yields make(statuses, **kw) -> Webhook, closes them all."""
    made: list[Webhook] = []

    def make(statuses: list[int], **kw) -> Webhook:
        kw.setdefault("token", token)
        hook = Webhook(statuses, **kw)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.close()
