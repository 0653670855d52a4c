"""The local twin of EventBridge's "Step Functions Execution Status Change" event.

On AWS, Step Functions emits this event when an execution's status changes and an EventBridge
rule sends FAILED, TIMED_OUT and ABORTED ones to the notify function
(https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html). The local backend
builds the same event when an execution closes with one of those statuses and hands it to the
same handler, so a failure reaches Slack (or the outbox) the same way on both backends.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any

from opsbook.backends.base import Execution
from opsbook.lambdas.notify import ALERT_STATUSES, STATUS_CHANGE

log = logging.getLogger("opsbook.backends.local.alerts")


def _millis(when: datetime | None) -> int | None:
    return None if when is None else int(when.timestamp() * 1000)


def status_change_event(execution: Execution, account: str, region: str) -> dict[str, Any]:
    """The event EventBridge delivers for `execution`'s current status (detail in the
    documented shape: dates in epoch milliseconds, input and output as JSON strings)."""
    stop = execution.stop_date or execution.start_date
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": STATUS_CHANGE,
        "source": "aws.states",
        "account": account,
        "time": stop.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution.arn],
        "detail": {
            "executionArn": execution.arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": execution.status,
            "startDate": _millis(execution.start_date),
            "stopDate": _millis(execution.stop_date),
            "input": json.dumps(execution.input),
            "inputDetails": {"included": True},
            "output": None if execution.output is None else json.dumps(execution.output),
            "outputDetails": None if execution.output is None else {"included": True},
            "error": execution.error,
            "cause": execution.cause,
        },
    }


def announce(execution: Execution, resources: Any, account: str, region: str) -> bool:
    """Send the status change event of a FAILED, TIMED_OUT or ABORTED execution to the notify
    handler. A notification that fails is logged, never raised: the execution is closed."""
    if execution.status not in ALERT_STATUSES:
        return False
    from opsbook.lambdas import notify

    try:
        notify.run(status_change_event(execution, account, region), resources)
    except Exception as exc:  # Slack down, no destination: the failure itself is recorded
        log.warning("failure notification for %s not sent: %s", execution.name, exc)
        return False
    return True


__all__ = ["announce", "status_change_event"]
