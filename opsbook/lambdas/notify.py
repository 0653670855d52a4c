"""notify: a generic Slack notifier taking {username, icon_emoji, text}, or an EventBridge
"Step Functions Execution Status Change" event (a failed, timed-out or aborted execution).

The status change event is how a failure reaches Slack: the workflow fails at the state whose
work failed (so a redrive resumes there) and sends no failure message itself. On AWS an
EventBridge rule targets this function; the local backend emits the same event to it.

The webhook URL is resolved at run time from a secret (Secrets Manager / SSM on AWS, an
environment variable locally) and never read from the event, so it never enters an execution's
input, output or history. Without a URL, local runs append the message to the outbox file.

Posting is bounded by a total deadline below the Notify tasks' TimeoutSeconds; it retries
429 (Retry-After honoured up to a cap), 5xx and connection errors with backoff, and never
retries a timeout (the message may have been delivered). A message that still fails raises
NotifyError, every secret part masked: the task fails visibly in the history and the
definition's Catch keeps the data load going. slack_sdk's own log lines are masked and kept
at DEBUG.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from opsbook.lambdas.resources import Resources
from opsbook.masking import mask

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


class _MaskedForward(logging.Handler):
    """slack_sdk's own log records (they hold the full request URL), masked and passed on to
    opsbook's logger at DEBUG: they never reach a terminal or a store unfiltered."""

    def __init__(self, secrets: list[str], patterns: tuple[str, ...]):
        super().__init__(logging.DEBUG)
        self.secrets = secrets
        self.patterns = patterns

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad record is dropped, never raised
            return
        log.debug("slack_sdk: %s", mask(text, self.secrets, self.patterns))


def _sdk_logger(url: str, resources: Resources) -> logging.Logger:
    sdk = logging.getLogger("opsbook.lambdas.notify.slack_sdk")
    sdk.propagate = False
    sdk.setLevel(logging.INFO)  # slack_sdk checks `level <= DEBUG` before logging the body
    for old in list(sdk.handlers):
        sdk.removeHandler(old)
    sdk.addHandler(_MaskedForward([url], resources.secret_patterns))
    return sdk


def _timed_out(exc: BaseException) -> bool:
    """Did the request time out (after it may have reached the server)?"""
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return True
    reason = getattr(exc, "reason", None)
    return isinstance(reason, (TimeoutError, socket.timeout))


def _retry_after(response: Any) -> float | None:
    headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        seconds = float(value) if value is not None else 1.0
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def post_webhook(url: str, message: dict[str, str], resources: Resources) -> None:
    """POST to the webhook within a total deadline (`slack_deadline`, below the Notify tasks'
    TimeoutSeconds); raise NotifyError, with every secret part masked, on failure.

    Retried: 429 after its Retry-After when that fits `slack_retry_after_cap` and the
    deadline; every 5xx and connection errors with exponential backoff. Never retried: a
    timeout (the server may have delivered the message; a retry would post it twice)."""
    from slack_sdk.errors import SlackRequestError
    from slack_sdk.webhook import WebhookClient

    def masked(text: str) -> str:
        return mask(text, [url], resources.secret_patterns)

    sdk_logger = _sdk_logger(url, resources)
    deadline = time.monotonic() + resources.slack_deadline
    retries = max(0, int(resources.slack_max_retries))
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            raise NotifyError(f"Slack webhook: no delivery within {resources.slack_deadline:g} s")
        timeout = max(0.05, min(float(resources.slack_timeout), remaining))
        client = WebhookClient(url, timeout=timeout, logger=sdk_logger, retry_handlers=[])  # type: ignore[arg-type]
        wait: float | None
        try:
            began = time.monotonic()
            response = _within(remaining, client.send_dict, message)
        except SlackRequestError as exc:  # e.g. a URL that is not http(s): not retried
            raise NotifyError(masked(f"Slack webhook URL refused: {exc}")) from None
        except Exception as exc:  # noqa: BLE001 - classified below
            if _timed_out(exc):
                raise NotifyError(
                    f"Slack webhook did not answer within {time.monotonic() - began:.3g} s; the"
                    " message may have been delivered, so it is not sent again"
                ) from None
            if attempt >= retries:
                raise NotifyError(
                    masked(f"Slack webhook unreachable: {type(exc).__name__}: {exc}")
                ) from None
            wait = resources.slack_backoff_factor * (2**attempt)
            problem = masked(f"{type(exc).__name__}: {exc}")
        else:
            status = response.status_code
            if status == 200:
                return
            body = masked((response.body or "").strip()[:200])
            problem = f"Slack webhook answered HTTP {status}: {body}"
            if status == 429:
                wait = _retry_after(response)
                cap = resources.slack_retry_after_cap
                if wait is None or wait > cap:
                    raise NotifyError(
                        f"{problem} (Retry-After {_header_text(response)} s is more than the"
                        f" {cap:g} s opsbook waits)"
                    )
            elif 500 <= status <= 599:
                wait = resources.slack_backoff_factor * (2**attempt)
            else:
                raise NotifyError(problem)
            if attempt >= retries:
                raise NotifyError(problem)
        if time.monotonic() + wait >= deadline:
            raise NotifyError(
                f"{problem} (no time left for a retry within {resources.slack_deadline:g} s)"
            )
        time.sleep(wait)
        attempt += 1


class _AttemptOverran(TimeoutError):
    """One attempt outlived the time left: its socket timeout bounds each read, not the
    whole answer (a server may trickle it, or redirect again and again)."""


def _within(seconds: float, call: Any, *args: Any) -> Any:
    """`call(*args)` given at most `seconds` of wall-clock time; past that, _AttemptOverran
    (a timeout: the request may have been delivered). The abandoned call finishes in a
    daemon thread, bounded by its own socket timeout per read, and its result is dropped."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="opsbook-slack-post", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise _AttemptOverran(f"no complete answer within {seconds:.3g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _header_text(response: Any) -> str:
    headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
    value = headers.get("retry-after", "?")
    return str(value[0] if isinstance(value, list) and value else value)[:20]


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
    resources = Resources.from_env()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        # Never outlive the Lambda itself (its Timeout is 50 s, the Notify tasks' 60 s):
        # keep two seconds to report the failure.
        resources.slack_deadline = max(1.0, min(resources.slack_deadline, remaining() / 1000 - 2))
    return run(event, resources)
