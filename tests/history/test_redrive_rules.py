"""When the rerun plan may redrive, one rule a row.

AWS's RedriveExecution rules (API reference and DescribeExecution's redriveStatusReason): the
execution is not SUCCEEDED or RUNNING, it started after RedriveExecution launched (2023-11-15),
it closed within the last 14 days, and its history has fewer than 24,999 events. opsbook adds
its own: the execution ran the version `live` points at (a redrive keeps the execution's own
definition, so a fixed definition needs a new execution), it has an ExecutionStarted event, and
it did not fail in a Fail state or where every path ends in one (a redrive would fail again).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsbook.backends.base import Execution
from opsbook.operations.backfill import redrive_refusal

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SM = "arn:aws:states:ap-northeast-1:123456789012:stateMachine:opsbook-weekly-load"
V1, V2 = f"{SM}:1", f"{SM}:2"
DEFINITION = {
    "StartAt": "CheckRecords",
    "States": {
        "CheckRecords": {"Type": "Task", "Resource": "x", "Next": "Notify"},
        "Notify": {"Type": "Task", "Resource": "y", "End": True},
        "NotifyFailure": {"Type": "Task", "Resource": "z", "Next": "LoadFailed"},
        "LoadFailed": {"Type": "Fail", "Error": "LoadFailed"},
    },
}


def history(state: str = "CheckRecords", kind: str = "Task", end: str = "ExecutionFailed",
            padding: int = 0, started: bool = True) -> list[dict]:  # fmt: skip
    events = [{"type": "ExecutionStarted", "executionStartedEventDetails": {}}] if started else []
    events.append({"type": f"{kind}StateEntered", "stateEnteredEventDetails": {"name": state}})
    events += [{"type": "TaskScheduled"}] * padding
    events.append({"type": end, "executionFailedEventDetails": {"error": "PollingGaveUp"}})
    return [{**e, "id": i + 1} for i, e in enumerate(events)]


def execution(status: str = "FAILED", closed_ago: timedelta | None = timedelta(days=1),
              started: datetime | None = None, version: str | None = V1) -> Execution:  # fmt: skip
    stop = NOW - closed_ago if closed_ago is not None else None
    return Execution(
        arn=f"{SM.replace('stateMachine', 'execution')}:week-2026-11-26",
        name="week-2026-11-26",
        status=status,
        start_date=started or (stop or NOW) - timedelta(hours=3),
        state_machine_arn=SM,
        stop_date=stop,
        version_arn=version,
    )


CASES = [
    # (case, execution, history, live version, the refusal's words or None for REDRIVE)
    ("failed yesterday at a Task", execution(), history(), V1, None),
    ("timed out", execution("TIMED_OUT"), history(end="ExecutionTimedOut"), V1, None),
    ("aborted", execution("ABORTED"), history(end="ExecutionAborted"), V1, None),
    (
        "closed 13 days 23 hours ago",
        execution(closed_ago=timedelta(days=13, hours=23)),
        history(),
        V1,
        None,
    ),  # fmt: skip
    (
        "succeeded",
        execution("SUCCEEDED"),
        history(end="ExecutionSucceeded"),
        V1,
        "is SUCCEEDED",
    ),  # fmt: skip
    ("still running", execution("RUNNING", closed_ago=None), history(), V1, "is RUNNING"),
    (
        "closed 14 days ago",
        execution(closed_ago=timedelta(days=14)),
        history(),
        V1,
        "closed more than 14 days ago (redrive window passed)",
    ),  # fmt: skip
    (
        "started before redrive existed",
        execution(started=datetime(2023, 11, 14, tzinfo=UTC)),
        history(),
        V1,
        "started before 2023-11-15",
    ),  # fmt: skip
    ("24,999 events", execution(), history(padding=24_996), V1, "24999 history events"),
    ("24,998 events", execution(), history(padding=24_995), V1, None),
    (
        "no ExecutionStarted",
        execution(),
        history(started=False),
        V1,
        "no ExecutionStarted event",
    ),  # fmt: skip
    ("an older version than live", execution(), history(), V2, "ran version 1, live is version 2"),
    (
        "no published version",
        execution(version=None),
        history(),
        V1,
        "ran no published version",
    ),  # fmt: skip
    (
        "failed in a Fail state",
        execution(),
        history("LoadFailed", "Fail"),
        V1,
        "ended in Fail state LoadFailed",
    ),  # fmt: skip
    (
        "failed where every path fails",
        execution(),
        history("NotifyFailure"),
        V1,
        "from which every path fails",
    ),  # fmt: skip
]


@pytest.mark.parametrize(("case", "ex", "events", "live", "refusal"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_redrive_rules(case, ex, events, live, refusal):
    found = redrive_refusal(ex, events, live, NOW, DEFINITION)
    if refusal is None:
        assert found is None, case
    else:
        assert found is not None and refusal in found, (case, found)
