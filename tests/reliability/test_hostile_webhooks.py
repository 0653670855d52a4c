"""Hostile webhooks (issue 14, findings 5, 6, 7): a 429 with an hour-long Retry-After, an
answer slower than the client timeout, a 5xx forever, an error body that echoes the request
path, and a mistyped scheme. Notifications stay inside a total deadline below the Notify tasks'
TimeoutSeconds, a request that may have been delivered is never sent again, and no part of the
webhook's token reaches stderr, the history, the execution output or the store file."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import TOKEN, WEEK, Loopback, add_week, run_cli, scrubbed_env  # noqa: E402

from opsbook.config import PACKAGE_ROOT  # noqa: E402
from opsbook.lambdas import notify  # noqa: E402
from opsbook.lambdas.notify import NotifyError  # noqa: E402
from opsbook.lambdas.resources import Resources  # noqa: E402

MESSAGE = {"username": "opsbook", "icon_emoji": ":x:", "text": "hello"}
SEGMENTS = TOKEN.split("/")  # every part of the token, not only the whole URL


class Hostile(Loopback):
    """A webhook answering each POST with `answer(n, path) -> (status, headers, body, delay)`."""

    def __init__(self, answer):
        self.requests: list[float] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.requests.append(time.monotonic())
                status, headers, body, delay = answer(len(hook.requests), self.path)
                time.sleep(delay)
                data = body.encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up
                    pass

            do_GET = do_POST  # noqa: N815 - a followed redirect arrives as a GET

            def log_message(self, *args):
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/services/{TOKEN}"


@pytest.fixture
def hostile():
    made: list[Hostile] = []

    def make(answer) -> Hostile:
        hook = Hostile(answer)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.close()


def _notify_bounded(resources: Resources, limit: float) -> tuple[float, BaseException | None]:
    """notify.run in a thread, waited for at most `limit` s (an unbounded sleep fails)."""
    outcome: dict = {}

    def call() -> None:
        try:
            outcome["result"] = notify.run(MESSAGE, resources)
        except BaseException as exc:  # noqa: BLE001 - returned to the test
            outcome["error"] = exc

    began = time.monotonic()
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"notify still running after {limit} s"
    return time.monotonic() - began, outcome.get("error")


def _resources(tmp_path, hook, **kw) -> Resources:
    values = dict(slack_webhook_url=hook.url, slack_backoff_factor=0.1, slack_timeout=1.0)
    values.update(kw)
    return Resources.local(tmp_path, environ={}, **values)


def test_an_hour_long_retry_after_is_not_slept(tmp_path, hostile):
    hook = hostile(lambda n, path: (429, {"Retry-After": "3600"}, "rate_limited", 0))
    took, error = _notify_bounded(_resources(tmp_path, hook), 60)
    assert isinstance(error, NotifyError) and "Retry-After" in str(error)
    assert took < 10 and len(hook.requests) == 1


def test_a_short_retry_after_is_honoured(tmp_path, hostile):
    hook = hostile(
        lambda n, path: (
            (429, {"Retry-After": "2"}, "rate_limited", 0) if n == 1 else (200, {}, "ok", 0)
        )
    )
    took, error = _notify_bounded(_resources(tmp_path, hook), 60)
    assert error is None and len(hook.requests) == 2
    assert hook.requests[1] - hook.requests[0] >= 1.9


def test_a_slow_answer_is_never_sent_twice(tmp_path, hostile):
    """The webhook answers (200) after the client gave up: it may well have delivered, so the
    message is not sent again; the error says so."""
    hook = hostile(lambda n, path: (200, {}, "ok", 2.5))
    took, error = _notify_bounded(_resources(tmp_path, hook, slack_timeout=1.0), 60)
    time.sleep(3)  # a retry, had there been one, would have arrived by now
    assert len(hook.requests) == 1
    assert isinstance(error, NotifyError) and "may have been delivered" in str(error)


def test_a_total_deadline_bounds_every_retry(tmp_path, hostile):
    hook = hostile(lambda n, path: (503, {}, "unavailable", 0))
    took, error = _notify_bounded(
        _resources(
            tmp_path, hook, slack_max_retries=100, slack_backoff_factor=0.5, slack_deadline=3
        ),
        60,
    )
    assert isinstance(error, NotifyError)
    assert took < 6 and len(hook.requests) < 10


def test_the_deadline_is_below_every_notify_task_timeout():
    definition = json.loads(
        (PACKAGE_ROOT / "definitions" / "weekly_load" / "weekly_load.asl.json").read_text()
    )
    notify_tasks = [
        s for s in definition["States"].values()
        if s.get("Type") == "Task" and "Notify" in json.dumps(s.get("Resource", ""))
        or s.get("Type") == "Task" and "notify" in json.dumps(s).lower()
    ]  # fmt: skip
    assert notify_tasks
    for state in notify_tasks:
        assert Resources.local(".", environ={}).slack_deadline < state["TimeoutSeconds"]


def _run_week(tmp_path, deployed, url: str):
    add_week(deployed)
    home = Path(deployed.cfg.home)
    deployed.close()
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home), SLACK_WEBHOOK_URL=url)
    started = run_cli("start", "--week", WEEK, "--json", env=env)
    shown = run_cli("history", f"week-{WEEK}", "--json", env=env)
    return home, started, shown


def _assert_no_token(*texts: str | bytes) -> None:
    for text in texts:
        blob = text if isinstance(text, bytes) else text.encode()
        for part in SEGMENTS:
            assert part.encode() not in blob, (part, blob[:3000])


def test_an_echoed_request_path_never_stores_the_token(deployed, hostile, tmp_path):
    hook = hostile(lambda n, path: (404, {}, f"no_service: POST {path} not found", 0))
    home, started, shown = _run_week(tmp_path, deployed, hook.url)
    assert started.code == 0, started.err
    assert json.loads(started.out)["status"] == "SUCCEEDED"  # notifications never fail a load
    assert "no_service" in shown.out  # the error is visible, with the token masked
    _assert_no_token(started.out, started.err, shown.out, shown.err)
    for path in home.rglob("*"):
        if path.is_file():
            _assert_no_token(path.read_bytes())
    assert started.err.strip() == ""


def test_a_mistyped_scheme_leaks_nothing_on_stderr(deployed, tmp_path):
    home, started, shown = _run_week(tmp_path, deployed, f"htps://hooks.slack.com/services/{TOKEN}")
    assert started.code == 0, started.err
    assert started.err.strip() == ""  # slack_sdk's own logging never reaches the terminal
    _assert_no_token(started.out, started.err, shown.out)
    for path in home.rglob("*"):
        if path.is_file():
            _assert_no_token(path.read_bytes())


def test_the_lambda_never_outlives_its_remaining_time(hostile, monkeypatch):
    """On AWS the Lambda context's remaining time bounds the deadline too."""
    hook = hostile(lambda n, path: (503, {}, "unavailable", 0))
    monkeypatch.setenv("SLACK_WEBHOOK_URL", hook.url)

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 4000  # 4 s left: 2 s for the webhook, 2 s to report

    began = time.monotonic()
    with pytest.raises(NotifyError):
        notify.handler(MESSAGE, Context())
    assert time.monotonic() - began < 3.5


class Trickle(Loopback):
    """A webhook that reads the message, then sends its answer one header line every
    `pause` s: each read is quick, so a per-read socket timeout never fires."""

    def __init__(self, lines: int, pause: float):
        self.requests: list[float] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.requests.append(time.monotonic())
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(lines):
                        self.wfile.flush()
                        time.sleep(pause)
                        self.wfile.write(b"X-Slow: a\r\n")
                    self.wfile.write(b"Content-Length: 2\r\n\r\nok")
                except OSError:  # the client gave up
                    pass

            def log_message(self, *args):
                pass

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/services/{TOKEN}"


def test_an_answer_trickled_slower_than_the_deadline_is_cut_at_the_deadline(tmp_path):
    """Each header line arrives within the 1 s client timeout, the whole answer takes 20 s:
    the total deadline (3 s) holds anyway, and the message is not sent twice."""
    hook = Trickle(lines=40, pause=0.5)
    try:
        took, error = _notify_bounded(
            _resources(tmp_path, hook, slack_timeout=1.0, slack_deadline=3), 30
        )
        assert isinstance(error, NotifyError) and "may have been delivered" in str(error)
        assert took < 5, took
        time.sleep(1)
        assert len(hook.requests) == 1
    finally:
        hook.close()


def test_a_redirect_chain_stays_inside_the_deadline(tmp_path, hostile):
    """A webhook that redirects to itself, each hop slow: the chain ends at the deadline."""

    def answer(n, path):
        return 302, {"Location": f"/again{n}{path}"}, "", 0.8

    hook = hostile(answer)
    took, error = _notify_bounded(
        _resources(tmp_path, hook, slack_timeout=1.0, slack_deadline=2), 30
    )
    assert isinstance(error, NotifyError)
    assert took < 4, took
