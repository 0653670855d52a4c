"""The Slack notifier against loopback webhooks, and its outbox mode."""

from __future__ import annotations

import stat
import time

import pytest

from opsbook.lambdas import notify
from opsbook.lambdas.notify import NotifyError

MESSAGE = {"username": "opsbook", "icon_emoji": ":x:", "text": "Week 2026-11-26 FAILED"}


def fast(home, url=None, **overrides):
    """Resources that post to `url`, with quick backoff so retries take milliseconds."""
    values = dict(
        slack_webhook_url=url, slack_backoff_factor=0.01, slack_timeout=2, slack_max_retries=3
    )
    values.update(overrides)
    return home.resources(**values)


def test_posts_the_message_only(home, webhook):
    hook = webhook([200])
    event = dict(MESSAGE, webhook_url="http://127.0.0.1:1/evil", extra="ignored")
    assert notify.run(event, fast(home, hook.url)) == {"statusCode": 200, "delivered": "webhook"}
    assert [r["body"] for r in hook.requests] == [MESSAGE]
    assert hook.requests[0]["path"].endswith(hook.token)
    assert not home.outbox.exists()


def test_retries_429_and_5xx_then_delivers(home, webhook):
    hook = webhook([429, 500, 502, 200])
    started = time.monotonic()
    assert notify.run(MESSAGE, fast(home, hook.url))["statusCode"] == 200
    assert len(hook.requests) == 4 and all(r["body"] == MESSAGE for r in hook.requests)
    assert time.monotonic() - started < 10


def test_a_webhook_that_keeps_failing_is_bounded_and_surfaced(home, webhook):
    hook = webhook([500])
    with pytest.raises(NotifyError) as err:
        notify.run(MESSAGE, fast(home, hook.url, slack_max_retries=2))
    assert len(hook.requests) == 3  # one try + two retries
    assert "HTTP 500" in str(err.value)
    assert hook.token not in str(err.value) and hook.url not in str(err.value)


def test_client_errors_are_not_retried(home, webhook):
    hook = webhook([404])
    with pytest.raises(NotifyError, match="HTTP 404"):
        notify.run(MESSAGE, fast(home, hook.url))
    assert len(hook.requests) == 1


def test_unreachable_webhook_is_retried_then_surfaced_without_the_url(home, webhook):
    hook = webhook([200])
    url = hook.url
    hook.close()  # nothing listens there now
    with pytest.raises(NotifyError) as err:
        notify.run(MESSAGE, fast(home, url, slack_max_retries=1))
    assert "unreachable" in str(err.value) and hook.token not in str(err.value)


def test_url_comes_from_the_secret_at_run_time(home, webhook):
    hook = webhook([200])
    resources = home.resources(slack_backoff_factor=0.01)
    resources.secrets = type(resources.secrets)({"SLACK_WEBHOOK_URL": hook.url})
    assert resources.slack_secret_name == "SLACK_WEBHOOK_URL"
    assert notify.run(MESSAGE, resources)["delivered"] == "webhook"
    assert len(hook.requests) == 1


def test_outbox_mode_appends_private_json_lines(home):
    resources = home.resources()
    assert notify.run(MESSAGE, resources) == {"statusCode": 200, "delivered": "outbox"}
    notify.run(dict(MESSAGE, text="second"), resources)
    assert home.messages() == [MESSAGE, dict(MESSAGE, text="second")]
    assert stat.S_IMODE(home.outbox.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.outbox.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({"username": "x"}, "no text"),
        ({"text": "  "}, "no text"),
        ({"text": "t", "username": 3}, "must be a string"),
        ([], "JSON object"),
    ],
)
def test_bad_events(home, event, fragment):
    with pytest.raises(NotifyError, match=fragment):
        notify.run(event, home.resources())


def test_no_destination_is_an_error(home):
    with pytest.raises(NotifyError, match="no Slack webhook configured"):
        notify.run(MESSAGE, home.resources(outbox=None))


# --- "Step Functions Execution Status Change" events (EventBridge on AWS, the local emitter)


def status_change(status: str, **detail) -> dict:
    """An event in the documented shape (docs.aws.amazon.com/step-functions/latest/dg/cw-events.html)."""
    arn = "arn:aws:states:ap-northeast-1:123456789012:execution:opsbook-weekly-load:week-2026-11-26"
    return {
        "version": "0",
        "id": "315c1398-40ff-a850-213b-158f73e60175",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-26T03:30:00Z",
        "region": "ap-northeast-1",
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
            "name": "week-2026-11-26",
            "status": status,
            "startDate": 1795656600000,
            "stopDate": 1795667400000,
            "input": '{"week": "2026-11-26", "max_polls": 18}',
            "output": None,
            **detail,
        },
    }


@pytest.mark.parametrize(
    ("status", "error", "cause", "text"),
    [
        (
            "FAILED",
            "PollingGaveUp",
            '{"errorMessage": "polling gave up after 18 polls", "errorType": "PollingGaveUp"}',
            "Week 2026-11-26 FAILED (week-2026-11-26): PollingGaveUp: polling gave up after 18 polls",
        ),
        ("TIMED_OUT", "States.Timeout", None, "Week 2026-11-26 TIMED_OUT (week-2026-11-26): States.Timeout"),
        ("ABORTED", None, None, "Week 2026-11-26 ABORTED (week-2026-11-26)"),
    ],
)  # fmt: skip
def test_a_status_change_event_names_the_week_and_the_failure(home, status, error, cause, text):
    event = status_change(status, error=error, cause=cause)
    assert notify.run(event, fast(home)) == {"statusCode": 200, "delivered": "outbox"}
    sent = [line for line in home.outbox.read_text().splitlines() if line]
    assert len(sent) == 1 and text in sent[0] and "http" not in sent[0]


@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED"])
def test_other_statuses_send_nothing(home, status):
    assert notify.run(status_change(status), fast(home))["delivered"] == "none"
    assert not home.outbox.exists()


def test_a_secret_in_the_cause_is_redacted(home):
    secret = "https://hooks.slack.com/services/T0/B0/leakedTOKEN"
    notify.run(status_change("FAILED", error="X", cause=f"posting to {secret} failed"), fast(home))
    text = home.outbox.read_text()
    assert "leakedTOKEN" not in text and "***" in text


def test_the_local_emitter_builds_the_documented_shape():
    from datetime import UTC, datetime

    from opsbook.backends.base import Execution
    from opsbook.backends.local.alerts import status_change_event

    ex = Execution(
        arn="arn:aws:states:local:000000000000:execution:sm:w",
        name="w",
        status="FAILED",
        start_date=datetime(2026, 11, 26, 0, 30, tzinfo=UTC),
        stop_date=datetime(2026, 11, 26, 3, 30, tzinfo=UTC),
        state_machine_arn="arn:aws:states:local:000000000000:stateMachine:sm",
        input={"week": "2026-11-26"},
        error="PollingGaveUp",
        cause="gave up",
    )
    event = status_change_event(ex, "000000000000", "local")
    expected = status_change("FAILED")
    assert set(event) == set(expected) and set(event["detail"]) >= set(expected["detail"])
    assert event["detail"]["startDate"] == 1795653000000 and event["time"] == "2026-11-26T03:30:00Z"
    assert event["detail"]["input"] == '{"week": "2026-11-26"}' and event["resources"] == [ex.arn]
