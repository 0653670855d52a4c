"""`opsbook new`: a workflow folder that runs green as created.

<definitions_dir>/<name>/
    workflow.toml          manifest: partition scheme, the task and its handler
    definition.asl.json    one Task state calling the handler, then Succeed
    schedule.json          EventBridge Scheduler document firing once per partition
    handler.py             run(event, resources) and the Lambda entry handler(event, context)
    test_<name>.py         runs one partition on the local backend (a name of its own, so
                           plain `pytest` collects the tests of several workflows together)
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from opsbook.errors import UsageError
from opsbook.workflows.manifest import WORKFLOW_NAME
from opsbook.workflows.partitions import WEEKDAYS, parse_scheme

# When the schedule fires: 05:00 local time, after the partition has ended. No time zone
# changes its clocks between 04:00 and 21:00 local time, so 05:00 is never skipped (spring
# forward) nor repeated (fall back): EventBridge Scheduler skips a cron time that does not exist
# that day, which at 02:00 would lose a daily or Sunday partition every spring in New York.
FIRE_HOUR = 5
_CRON = {
    "daily": f"cron(0 {FIRE_HOUR} * * ? *)",
    "monthly": f"cron(0 {FIRE_HOUR} 1 * ? *)",
}

HANDLER = '''"""The {name} workflow's task: called once per partition with the execution input.

Locally, opsbook calls run(event, resources) in process; on AWS, Lambda calls handler(event,
context). `resources` gives the warehouse, object store and secrets of the backend it runs on.
"""

from __future__ import annotations

from typing import Any


def run(event: dict[str, Any], resources: Any) -> dict[str, Any]:
    """Do the partition's work here. The event carries the partition key and its dates."""
    return {{"statusCode": 200, "partition": event.get("partition"), "start": event.get("start"),
            "end": event.get("end")}}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point."""
    from opsbook.lambdas.resources import Resources

    return run(event, Resources.from_env())
'''

TEST = '''"""Runs one partition of {name} on the local backend (pytest {folder}/test_{name}.py)."""

from pathlib import Path

from opsbook.backends import connect

# The folder that holds this workflow's folder, wherever the project is checked out.
DEFINITIONS = Path(__file__).resolve().parent.parent


def test_one_partition_succeeds(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSBOOK_DEFINITIONS_DIR", str(DEFINITIONS))
    with connect("local", workflow={name!r}, home=tmp_path / "home", create=True) as backend:
        key = backend.workflow.scheme.last_completed().key
        name = backend.workflow.execution_name(key)
        execution = backend.start(backend.workflow.execution_input(key), name=name)
        assert execution.status == "SUCCEEDED", execution.cause
        assert execution.partition == key
        assert execution.output["run"]["partition"] == key
'''


def _definition(name: str) -> dict:
    return {
        "Comment": f"The {name} workflow: one task per partition.",
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "${RunFunctionArn}", "Payload.$": "$"},
                "ResultSelector": {"Payload.$": "$.Payload"},
                "OutputPath": "$",
                "ResultPath": "$.run",
                "TimeoutSeconds": 60,
                "Next": "Unwrap",
            },
            "Unwrap": {
                "Type": "Pass",
                "Parameters": {
                    "partition.$": "$.partition",
                    "start.$": "$.start",
                    "end.$": "$.end",
                    "run.$": "$.run.Payload",
                },
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def _schedule(name: str, spec: str, tz: str) -> dict:
    scheme = parse_scheme(spec, tz)
    if scheme.kind == "weekly":
        cron = f"cron(0 {FIRE_HOUR} ? * {WEEKDAYS[scheme.weekday]} *)"
    else:
        cron = _CRON[scheme.kind]
    return {
        "Name": f"opsbook-{name.replace('_', '-')}",
        "GroupName": "default",
        "Description": f"Start {name} once per partition, after the partition has ended.",
        "ScheduleExpression": cron,
        "ScheduleExpressionTimezone": tz,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Target": {
            "Arn": "${StartPartitionFunctionArn}",
            "RoleArn": "${SchedulerRoleArn}",
            "Input": '{"scheduled_time": "<aws.scheduler.scheduled-time>"}',
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 5},
        },
    }


def scaffold(definitions_dir: Path, name: str, partition: str, tz: str = "UTC") -> list[Path]:
    """Write the workflow's folder; refuses a bad name or scheme, or an existing folder."""
    if not WORKFLOW_NAME.match(name):
        raise UsageError(f"workflow name {name!r} must match [a-z][a-z0-9_]* (at most 40)")
    scheme = parse_scheme(partition, tz)  # one-line UsageError for a bad scheme or zone
    folder = Path(definitions_dir) / name
    if folder.exists():
        raise UsageError(f"{folder} already exists; choose another name or remove it")
    manifest = (
        f"# The {name} workflow (scaffolded by `opsbook new`).\n"
        f'name = "{name}"\n'
        f'description = "{name}: one task per {scheme.label}."\n'
        'definition = "definition.asl.json"\n'
        'schedule = "schedule.json"\n\n'
        "[partition]\n"
        f'scheme = "{scheme.spec}"\n'
        f'timezone = "{scheme.timezone.key}"\n\n'
        "# The execution input of one partition: its key and first and last day.\n"
        "[input]\n"
        'partition = "key"\n'
        'start = "start"\n'
        'end = "end"\n\n'
        "# The definition's ${RunFunctionArn}: handler.py's run(event, resources).\n"
        "[tasks.Run]\n"
        'handler = "handler:run"\n'
        "timeout = 60\n"
        "memory = 256\n"
    )
    files = {
        "workflow.toml": manifest,
        "definition.asl.json": json.dumps(_definition(name), indent=2) + "\n",
        "schedule.json": json.dumps(_schedule(name, partition, scheme.timezone.key), indent=2)
        + "\n",
        "handler.py": HANDLER.format(name=name),
        f"test_{name}.py": TEST.format(name=name, folder=folder),
    }
    # Written into a temporary folder beside it, then renamed: a failure leaves nothing behind.
    staging: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
        for filename, text in files.items():
            (staging / filename).write_text(text, encoding="utf-8")
        staging.chmod(0o755)
        staging.rename(folder)
    except OSError as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise UsageError(f"cannot create {folder}: {exc.strerror or exc}") from None
    return [folder / filename for filename in files]
