"""start_partition: the schedule's target. It starts one execution per partition, named as a
manual start names it (`week-2026-11-26`), so a duplicate Scheduler fire (Scheduler delivers at
least once) meets Step Functions' name idempotency instead of starting a second run.

The event is the schedule's Input, {"scheduled_time": "<aws.scheduler.scheduled-time>"}
rendered by Scheduler; it is passed on unchanged as the execution's input, so the definition's
PrepareWeek state reads it as it did when the schedule targeted the alias. A name cannot be
built from the placeholder in the schedule itself, hence this function.

ExecutionAlreadyExists for that name is success (logged; the existing execution's ARN is
returned). Any other error raises: Scheduler invokes the function asynchronously, so Lambda
retries it and then sends the event to the function's dead-letter queue (the schedule's).

Environment (set by deploy): STATE_MACHINE_ALIAS_ARN, PARTITION_SCHEME (e.g. weekly:THU),
PARTITION_TIMEZONE (e.g. Asia/Tokyo) and, for a configured emulator, OPSBOOK_LOCAL_EMULATOR=1.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from opsbook.endpoints import is_local_emulator
from opsbook.workflows.partitions import PartitionScheme, parse_instant, parse_scheme

log = logging.getLogger("opsbook.lambdas.start_partition")
# What an endpoint without alias starts answers (moto); AWS's own refusal raises as it is.
_NO_ALIAS_START = ("StateMachineDoesNotExist", "InvalidArn")


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def execution_name(event: Any, scheme: PartitionScheme) -> str:
    """The partition's execution name for the event's scheduled time (ValueError when the
    event carries none)."""
    fired = event.get("scheduled_time") if isinstance(event, Mapping) else None
    if not isinstance(fired, str) or not fired:
        raise ValueError(f"event has no scheduled_time: {event!r}")
    part = scheme.for_fire_time(parse_instant(fired))
    return scheme.execution_name(part.key)


def execution_arn(alias_arn: str, name: str) -> str:
    """arn:...:stateMachine:<sm>:<alias> -> arn:...:execution:<sm>:<name> (an execution
    started through an alias is named under the state machine)."""
    head, _, rest = alias_arn.partition(":stateMachine:")
    machine = rest.split(":", 1)[0]
    return f"{head}:execution:{machine}:{name}"


def start(
    event: Any,
    sfn: Any,
    alias_arn: str,
    scheme: PartitionScheme,
    *,
    emulator: bool = False,
) -> dict[str, Any]:
    """StartExecution on the alias under the partition's name, with the event as input.
    Returns {"executionArn", "name", "started"}; `started` is False for a duplicate fire."""
    name = execution_name(event, scheme)
    payload = json.dumps(event)
    try:
        arn = _start(sfn, alias_arn, name, payload, emulator)
    except Exception as exc:
        if _code(exc) != "ExecutionAlreadyExists":
            raise
        existing = execution_arn(alias_arn, name)
        log.info("execution %s already exists (a repeated schedule fire): %s", name, existing)
        return {"executionArn": existing, "name": name, "started": False}
    log.info("started %s: %s", name, arn)
    return {"executionArn": arn, "name": name, "started": True}


def _start(sfn: Any, alias_arn: str, name: str, payload: str, emulator: bool) -> str:
    try:
        return sfn.start_execution(stateMachineArn=alias_arn, name=name, input=payload)[
            "executionArn"
        ]
    except Exception as exc:
        if _code(exc) not in _NO_ALIAS_START:
            raise
        if not is_local_emulator(emulator, sfn.meta.endpoint_url):
            raise
    # The emulator cannot start through an alias (as in AwsBackend._start): start the state
    # machine itself, which the alias points at after a deploy.
    machine = alias_arn.rsplit(":", 1)[0]
    log.warning("endpoint cannot start executions through an alias; using %s", machine)
    return sfn.start_execution(stateMachineArn=machine, name=name, input=payload)["executionArn"]


def handler(event: Any, context: Any = None, environ: Mapping[str, str] | None = None) -> Any:
    """AWS Lambda entry point."""
    import boto3  # the runtime's own

    env = os.environ if environ is None else environ
    scheme = parse_scheme(env["PARTITION_SCHEME"], env.get("PARTITION_TIMEZONE") or "UTC")
    return start(
        event,
        boto3.client("stepfunctions"),
        env["STATE_MACHINE_ALIAS_ARN"],
        scheme,
        emulator=env.get("OPSBOOK_LOCAL_EMULATOR") == "1",
    )
