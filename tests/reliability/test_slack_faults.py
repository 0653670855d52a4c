"""The Slack webhook answers 500 or 429, or times out: the notifier retries with backoff (the
loopback webhook counts attempts and their timing); a notification that still fails never fails
the data load, and its error is in the history (the definition's Catch).

(Also: tests/workflow/test_notify.py for 4xx/unreachable/secret lookup, and
tests/workflow/test_end_to_end.py::test_failing_notifications_never_fail_the_load.)"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import TOKEN, WEEK, add_week, summary  # noqa: E402

from opsbook.lambdas import notify  # noqa: E402
from opsbook.lambdas.notify import NotifyError  # noqa: E402
from opsbook.lambdas.resources import Resources  # noqa: E402
from opsbook.workflows.schedules import week_input  # noqa: E402

MESSAGE = {"username": "opsbook", "icon_emoji": ":x:", "text": "hello"}


def _resources(tmp_path, hook, **overrides) -> Resources:
    values = dict(slack_webhook_url=hook.url, slack_backoff_factor=0.1, slack_max_retries=3)
    values.update(overrides)
    return Resources.local(tmp_path, environ={}, **values)


def _gaps(hook) -> list[float]:
    stamps = [r["at"] for r in hook.requests]
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


@pytest.fixture
def timed_webhook(webhook):
    """The conftest webhook, with each request's arrival time recorded."""

    def make(statuses, **kw):
        hook = webhook(statuses, **kw)

        class Stamped(list):
            def append(self, item):
                item["at"] = time.monotonic()
                super().append(item)

        hook.requests = Stamped()
        return hook

    return make


def test_5xx_is_retried_with_growing_backoff_then_delivered(tmp_path, timed_webhook):
    hook = timed_webhook([500, 503, 200])
    result = notify.run(MESSAGE, _resources(tmp_path, hook, slack_backoff_factor=0.6))
    assert result == {"statusCode": 200, "delivered": "webhook"}
    assert len(hook.requests) == 3
    assert all(r["body"] == MESSAGE for r in hook.requests)
    gaps = _gaps(hook)
    # backoff_factor * 2**attempt plus a jitter of under 1 s: >= 0.6 s, then >= 1.2 s (more
    # than jitter alone could give, so a missing backoff fails here)
    assert gaps[0] >= 0.6 and gaps[1] >= 1.2, gaps


def test_429_is_retried_then_delivered(tmp_path, timed_webhook):
    hook = timed_webhook([429, 429, 200])
    assert notify.run(MESSAGE, _resources(tmp_path, hook))["delivered"] == "webhook"
    assert len(hook.requests) == 3


def test_a_timeout_is_not_retried_and_is_surfaced_without_the_url(tmp_path, timed_webhook):
    """A request that timed out may have been delivered: retrying it would post the message
    twice (issue 14, finding 6), so it is reported, not retried."""
    hook = timed_webhook([0], hang=3.0)  # never answers within the client's 1 s timeout
    resources = _resources(tmp_path, hook, slack_timeout=1, slack_max_retries=1)
    started = time.monotonic()
    with pytest.raises(NotifyError) as info:
        notify.run(MESSAGE, resources)
    assert time.monotonic() - started < 15
    time.sleep(2.5)  # a retry would have arrived by now
    assert len(hook.requests) == 1
    message = str(info.value)
    assert "may have been delivered" in message
    assert TOKEN not in message and hook.url not in message


def test_a_failing_webhook_never_fails_the_load_and_shows_in_history(
    deployed, webhook, monkeypatch
):
    """The whole week through the local backend, SLACK_WEBHOOK_URL pointing at a webhook that
    always answers 429: every message is retried, the load succeeds, the history shows why."""
    add_week(deployed, WEEK)
    hook = webhook([429])
    monkeypatch.setenv("SLACK_WEBHOOK_URL", hook.url)
    run = deployed.start(week_input(WEEK), name="noisy")
    assert run.status == "SUCCEEDED", run.cause
    assert len(summary(deployed)) > 0  # the data load happened
    retries = deployed.resources().slack_max_retries
    assert len(hook.requests) == 2 * (1 + retries)  # two messages, each tried 1 + retries times
    history = deployed.history("noisy")
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failed] == ["NotifyError", "NotifyError"]
    assert all("HTTP 429" in f["cause"] for f in failed)
    caught = [
        e for e in history if e["type"] == "PassStateEntered" or e["type"] == "TaskStateExited"
    ]
    assert caught  # the Catch moved on to the next state
    assert not deployed.outbox_path.exists() or TOKEN not in deployed.outbox_path.read_text()
