"""The one Backend API that the CLI, notebooks and rerun logic talk to.

Like httpx's transports under one Client: `connect()` picks an implementation
(local engine + SQLite, or AWS via boto3); callers never ask which one they got.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from opsbook.errors import UsageError

if TYPE_CHECKING:
    from opsbook.config import Config
    from opsbook.workflows.manifest import Workflow

# Execution statuses as Step Functions reports them.
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
ABORTED = "ABORTED"
PENDING_REDRIVE = "PENDING_REDRIVE"
STATUSES = (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE)
CLOSED_STATUSES = (SUCCEEDED, FAILED, TIMED_OUT, ABORTED)
# RedriveExecution accepts an execution closed less than 14 days ago.
REDRIVE_WINDOW = timedelta(days=14)
# StartExecution's name rules: no whitespace, brackets, wildcards or these characters.
_BAD_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def normalize_status(status: str | None, valid: tuple[str, ...] = STATUSES) -> str | None:
    """A status filter in any case ("failed" -> "FAILED"); an unknown one is a UsageError
    listing the valid ones. None (no filter) stays None."""
    if status is None:
        return None
    text = str(status).strip().upper()
    if text not in valid:
        raise UsageError(f"unknown status {status!r}; use one of {', '.join(valid)}")
    return text


def check_execution_name(name: str) -> str:
    """StartExecution's name rules; a bad name is a one-line UsageError."""
    if not isinstance(name, str) or not 1 <= len(name) <= 80:
        raise UsageError(f"execution name {name!r} must be 1 to 80 characters")
    bad = _BAD_NAME.search(name)
    if bad:
        raise UsageError(
            f"execution name {name!r} contains {bad.group()!r}; names cannot hold whitespace,"
            ' brackets, wildcards or " # % \\ ^ | ~ ` $ & , ; : /'
        )
    return name


@dataclass(frozen=True)
class Execution:
    """One execution, shaped like DescribeExecution with JSON fields decoded."""

    arn: str
    name: str
    status: str
    start_date: datetime  # timezone-aware UTC
    state_machine_arn: str
    stop_date: datetime | None = None
    input: Any = None
    output: Any = None
    error: str | None = None
    cause: str | None = None
    # The version (or alias-resolved version) ARN the execution ran; None when unversioned.
    version_arn: str | None = None
    redrive_count: int = 0
    redrive_date: datetime | None = None
    # The partition key the execution ran for (its workflow's scheme reads it from the input,
    # the scheduled time or the name); None when none tells it.
    partition: str | None = None

    @property
    def closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (datetimes as ISO 8601)."""
        out = asdict(self)
        for key in ("start_date", "stop_date", "redrive_date"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        return out


@dataclass(frozen=True)
class Change:
    """One resource that deploy or teardown would create, update or delete."""

    action: str  # "create" | "update" | "delete" | "unchanged"
    kind: str  # "state_machine", "version", "alias", "lambda", "layer", "role", "schedule", "object", ...
    name: str
    detail: str = ""


@dataclass
class DeployResult:
    changes: list[Change] = field(default_factory=list)
    applied: bool = False  # False for --plan
    version_arn: str | None = None
    alias_arn: str | None = None

    @property
    def changed(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "changed": self.changed,
            "version_arn": self.version_arn,
            "alias_arn": self.alias_arn,
            "changes": [asdict(c) for c in self.changes],
        }


@runtime_checkable
class Backend(Protocol):
    """What every backend does. Names and ARNs are accepted wherever `execution` is."""

    name: str  # "local" | "aws"

    @property
    def workflow(self) -> Workflow:
        """The workflow this backend operates."""

    @property
    def cfg(self) -> Config:
        """The configuration as that workflow sees it."""

    def deploy(self, *, plan: bool = False, rollback: bool = False) -> DeployResult:
        """Create or update everything; `plan` changes nothing; `rollback` moves the alias back."""

    def teardown(self, *, plan: bool = False, force: bool = False) -> DeployResult:
        """Remove everything deploy created, and nothing else; refuse while an execution is
        RUNNING unless `force`."""

    def start(
        self,
        input: dict[str, Any],
        *,
        name: str,
        wait: bool = True,
        scheduled_time: datetime | None = None,
    ) -> Execution:
        """StartExecution with AWS's idempotency: same name + same input while RUNNING returns
        the original; otherwise an existing name raises ExecutionAlreadyExists.
        `scheduled_time` simulates a schedule firing at that time (local backend only)."""

    def describe(self, execution: str) -> Execution: ...

    def list_executions(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Execution]:
        """Executions of the deployed state machine, newest first, filtered by start date.

        Always set, as ListExecutions reports them: arn, name, status, start_date,
        state_machine_arn, stop_date (once closed; some endpoints leave it out for TIMED_OUT),
        version_arn, redrive_count, redrive_date. input, output, error and cause may be None
        for an execution whose name gives its partition (<prefix>-<KEY>[-r<N>], see
        Workflow.partition_of): the AWS backend lists those without DescribeExecution.
        Every other execution comes described, so its partition is known. describe() is always
        complete; opsbook.operations.history.History.complete() describes listed ones (cached on disk).
        """

    def history(self, execution: str) -> list[dict[str, Any]]:
        """Events shaped like boto3 get_execution_history()["events"]."""

    def redrive(self, execution: str, *, wait: bool = True) -> Execution: ...

    def stop(
        self, execution: str, *, error: str | None = None, cause: str | None = None
    ) -> Execution: ...

    def wait(self, execution: str, *, timeout: float | None = None) -> Execution: ...

    def live_version(self) -> str | None:
        """The version ARN that the `live` alias points at, or None before the first deploy."""

    def definition(self, version: str | None = None) -> dict[str, Any]:
        """The deployed definition (falls back to the workflow's definition file); with a
        version ARN (Execution.version_arn), the definition that version holds."""

    def warehouse(self) -> Any:
        """A read-only opsbook.warehouse.Warehouse for reports: the DuckDB file locally,
        BigQuery on AWS. Queries are BigQuery SQL either way."""

    def close(self) -> None: ...


def dumps(value: Any) -> str:
    """Compact JSON as Step Functions writes it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
