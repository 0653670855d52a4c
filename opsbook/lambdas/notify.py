"""notify: a generic Slack notifier taking {username, icon_emoji, text}, or an EventBridge
"Step Functions Execution Status Change" event (a failed, timed-out or aborted execution).

The status change event is how a failure reaches Slack: the workflow fails at the state whose
work failed (so a redrive resumes there) and sends no failure message itself. On AWS an
EventBridge rule targets this function; the local backend emits the same event to it.

The webhook URL is resolved at run time from a secret (Secrets Manager / SSM on AWS, an
environment variable locally) and never read from the event, so it never enters an execution's
input, output or history. Without a URL, local runs append the message to the outbox file.

Posting retries 429, 5xx, connection errors and timeouts with backoff (slack_sdk retry
handlers, bounded). A message that still fails raises NotifyError: the task fails visibly in
the history and the definition's Catch keeps the data load going.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from opsbook.lambdas.resources import Resources

log = logging.getLogger("opsbook.lambdas.notify")
FIELDS = ("username", "icon_emoji", "text")


class NotifyError(Exception):
    """The message could not be delivered (bad payload, no destination, webhook failure)."""


STATUS_CHANGE = "Step Functions Execution Status Change"
ALERT_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")


def is_status_change(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("source") == "aws.states"
        and event.get("detail-type") == STATUS_CHANGE
        and isinstance(event.get("detail"), dict)
    )


def status_change_message(event: dict[str, Any]) -> dict[str, str] | None:
    """The Slack message for a status change event, or None when the status needs none.

    Event shape (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html): detail
    has executionArn, stateMachineArn, name, status, startDate, stopDate (epoch ms), input
    (a JSON string), output, error and cause. The message names the week and the execution;
    it carries no link and no input beyond the week."""
    detail = event["detail"]
    status = str(detail.get("status") or "")
    if status not in ALERT_STATUSES:
        return None
    name = str(detail.get("name") or detail.get("executionArn") or "?")
    week = _week_of(detail.get("input"))
    reason = ": ".join(
        str(part) for part in (detail.get("error"), _readable_cause(detail.get("cause"))) if part
    )
    head = f"Week {week} {status}" if week else f"Execution {name} {status}"
    text = f"{head} ({name})" + (f": {reason}" if reason else "")
    return {"username": "opsbook", "icon_emoji": ":x:", "text": text}


def _week_of(raw: Any) -> str | None:
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    week = data.get("week") if isinstance(data, dict) else None
    return week if isinstance(week, str) else None


def _readable_cause(cause: Any) -> str | None:
    """A Lambda error's cause is {"errorMessage", "errorType", "stackTrace"}: its message."""
    if not isinstance(cause, str):
        return None
    try:
        data = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(data, dict) and isinstance(data.get("errorMessage"), str):
        return data["errorMessage"]
    return cause


def payload_from(event: Any) -> dict[str, str]:
    """Only {username, icon_emoji, text}; anything else in the event is ignored."""
    if not isinstance(event, dict):
        raise NotifyError(f"notify event must be a JSON object, not {type(event).__name__}")
    text = event.get("text")
    if not isinstance(text, str) or not text.strip():
        raise NotifyError("notify event has no text")
    out: dict[str, str] = {}
    for key in ("username", "icon_emoji"):
        value = event.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise NotifyError(f"notify event field {key} must be a string")
            out[key] = value
    out["text"] = text
    return out


def _retry_handlers(resources: Resources) -> list:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

    class AnyServerErrorRetryHandler(ServerErrorRetryHandler):
        """Retry every 5xx, not only 500 and 503."""

        def _can_retry(self, *, state, request, response=None, error=None) -> bool:
            return response is not None and 500 <= response.status_code <= 599

    backoff = BackoffRetryIntervalCalculator(backoff_factor=resources.slack_backoff_factor)
    retries = resources.slack_max_retries
    from urllib.error import URLError

    return [
        RateLimitErrorRetryHandler(max_retry_count=retries),
        AnyServerErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
        ConnectionErrorRetryHandler(
            max_retry_count=retries,
            interval_calculator=backoff,
            error_types=[URLError, ConnectionError, TimeoutError],
        ),
    ]


def post_webhook(url: str, message: dict[str, str], resources: Resources) -> None:
    """POST to the webhook with bounded retries; raise NotifyError (URL masked) on failure."""
    from slack_sdk.webhook import WebhookClient

    quiet = logging.getLogger("opsbook.lambdas.notify.http")
    quiet.setLevel(logging.WARNING)  # slack_sdk logs request URLs at DEBUG: keep them out

    def mask(text: str) -> str:
        return resources.redact(text.replace(url, "***"))

    client = WebhookClient(
        url,
        timeout=max(1, int(resources.slack_timeout)),
        logger=quiet,
        retry_handlers=_retry_handlers(resources),
    )
    try:
        response = client.send_dict(message)
    except Exception as exc:  # connection refused, reset, timed out: after the retries
        raise NotifyError(mask(f"Slack webhook unreachable: {type(exc).__name__}: {exc}")) from None
    if response.status_code != 200:
        body = (response.body or "").strip()[:200]
        raise NotifyError(mask(f"Slack webhook answered HTTP {response.status_code}: {body}"))


def append_outbox(path: Path, message: dict[str, str]) -> None:
    """Append one JSON line; the file is created 0600 in a 0700 folder (messages may be
    sensitive)."""
    path = Path(path)
    if not path.parent.exists():
        os.makedirs(path.parent, mode=0o700, exist_ok=True)
        os.chmod(path.parent, 0o700)
    line = json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))  # one write per line: concurrent appends stay whole
    finally:
        os.close(fd)


def run(event: dict[str, Any], resources: Resources) -> dict[str, Any]:
    if is_status_change(event):
        found = status_change_message(event)
        if found is None:
            return {"statusCode": 200, "delivered": "none"}
        message = {**found, "text": resources.redact(found["text"])}
    else:
        message = payload_from(event)
    try:
        url = resources.webhook_url()
    except Exception as exc:  # the secret store failed; say which secret, never its value
        raise NotifyError(
            f"cannot resolve the Slack webhook secret {resources.slack_secret_name!r}: {type(exc).__name__}"
        ) from None
    if url:
        post_webhook(url, message, resources)
        return {"statusCode": 200, "delivered": "webhook"}
    if resources.outbox is not None:
        append_outbox(resources.outbox, message)
        return {"statusCode": 200, "delivered": "outbox"}
    raise NotifyError(
        f"no Slack webhook configured: set the secret {resources.slack_secret_name!r}"
        if resources.slack_secret_name
        else "no Slack webhook configured and no outbox"
    )


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point: raises NotifyError on failure (the definition catches it)."""
    return run(event, Resources.from_env())
