"""The local backend: the ASL engine in process, a SQLite store, DuckDB as the warehouse.

Everything lives under `cfg.home`:
  store.sqlite       state machines, versions, the `live` alias, executions, events
  warehouse.duckdb   the BigQuery stand-in (opened read-write only while a task needs it)
  objects/           the S3 stand-in; deploy copies definitions/sql/*.sql to objects/<sql_prefix>
  outbox/slack.jsonl Slack messages when SLACK_WEBHOOK_URL is not set
  cache/             history cache (opsbook.operations.history)

ARNs look like AWS's, in region "local" and account 000000000000, so code written against one
backend reads the other's output unchanged.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsbook.backends.base import (
    REDRIVE_WINDOW,
    SUCCEEDED,
    DeployResult,
    Execution,
    check_execution_name,
    normalize_status,
)
from opsbook.backends.local.deploy import LocalDeploy
from opsbook.backends.local.home import LocalHome
from opsbook.backends.local.names import (
    ACCOUNT,
    ARN_PREFIX,
    REGION,
    canonical,
    execution_arn,
    function_arn,
    render_definition,
    state_machine_arn,
)
from opsbook.backends.local.runs import (
    INTERRUPTED_ERROR,
    RUNNING_HERE,
    LocalRuns,
    config_from_json,
    process_identity,
)
from opsbook.backends.local.store import Store, utcnow
from opsbook.config import Config
from opsbook.errors import ExecutionNotFound, OperationFailed, UsageError
from opsbook.workflows.manifest import Workflow
from opsbook.workflows.registry import get_workflow

__all__ = [
    "ACCOUNT", "ARN_PREFIX", "CLOCKS", "INTERRUPTED_ERROR", "REDRIVE_WINDOW", "REGION",
    "LocalBackend", "build_backend_from_request", "canonical", "execution_arn", "function_arn",
    "process_identity", "render_definition", "state_machine_arn",
]  # fmt: skip

CLOCKS = ("virtual", "real")


class LocalBackend:
    """The Backend API on this machine. See the module docstring for the file layout.

    Its parts receive what they use: `place` (the home, its paths and store), `deployer`
    (deploy, rollback, teardown, the live definition) and `runs` (running, recording and
    reaping executions)."""

    name = "local"

    def __init__(
        self,
        cfg: Config,
        *,
        workflow: Workflow | None = None,
        clock: str = "virtual",
        **_ignored: Any,
    ):
        if clock not in CLOCKS:
            raise UsageError(f"clock must be one of {', '.join(CLOCKS)}, not {clock!r}")
        flow = workflow or get_workflow(cfg)
        self.place = LocalHome(cfg.for_workflow(flow), flow)
        self.deployer = LocalDeploy(self.place)
        self.runs = LocalRuns(self.place, clock=clock, open_warehouse=self.open_warehouse)
        self.lock_timeout = 60.0  # how long to wait for a DuckDB file another process holds

    def __repr__(self) -> str:
        return (
            f"LocalBackend(home={str(self.home.resolve())!r}, workflow={self.workflow.name!r},"
            f" state_machine={self.sm_name!r}, clock={self.clock!r})"
        )

    @property
    def clock(self) -> str:
        """ "virtual" or "real"; settable (tests switch a deployed home to the real clock)."""
        return self.runs.clock

    @clock.setter
    def clock(self, value: str) -> None:
        self.runs.clock = value

    def task_handlers(self) -> dict[str, Any]:
        """The workflow's task handlers as the engine's task registry, run in process on this
        home's resources (what a local run uses; `opsbook test --workflow-handlers`)."""
        return self.runs.tasks(self.runs.clock, self.resources())

    def resources(self, **overrides: Any) -> Any:
        """What the in-process Lambda handlers touch: this home's warehouse, objects, outbox."""
        return self.runs.resources(**overrides)

    # ------------------------------------------------------------------ the home's parts
    @property
    def cfg(self) -> Config:
        return self.place.cfg

    @property
    def workflow(self) -> Workflow:
        return self.place.workflow

    @property
    def home(self) -> Path:
        return self.place.home

    @property
    def store(self) -> Store:
        return self.place.store

    @property
    def warehouse_path(self) -> Path:
        return self.place.warehouse_path

    @property
    def objects_dir(self) -> Path:
        return self.place.objects_dir

    @property
    def outbox_path(self) -> Path:
        return self.place.outbox_path

    @property
    def definition_path(self) -> Path:
        return self.place.definition_path

    @property
    def sm_name(self) -> str:
        return self.place.sm_name

    @property
    def sm_arn(self) -> str:
        return self.place.sm_arn

    @property
    def alias_arn(self) -> str:
        return self.place.alias_arn

    def _ensure_home(self) -> None:
        self.place.ensure_home()

    def close(self) -> None:
        self.place.close()

    # ------------------------------------------------------------------ deploy
    def deploy(self, *, plan: bool = False, rollback: bool = False) -> DeployResult:
        return self.deployer.deploy(plan=plan, rollback=rollback)

    def teardown(self, *, plan: bool = False, force: bool = False) -> DeployResult:
        return self.deployer.teardown(plan=plan, force=force)

    def live_version(self) -> str | None:
        return self.deployer.live_version()

    def definition(self, version: str | None = None) -> dict[str, Any]:
        return self.deployer.definition(version)

    def _deployed(self) -> tuple[str, str]:
        return self.deployer.deployed()

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ warehouse
    def open_warehouse(self, *, timeout: float | None = None):
        """A DuckDBWarehouse on warehouse.duckdb. It opens the file per call (or per
        `session()`), waiting up to `timeout` s while another process holds it."""
        from opsbook.warehouse import DuckDBWarehouse

        self._ensure_home()
        wait = self.lock_timeout if timeout is None else timeout
        return DuckDBWarehouse(self.warehouse_path, project=self.cfg.bq_project, lock_timeout=wait)

    def warehouse(self):
        """The warehouse for reports: warehouse.duckdb opened read-only per call."""
        from opsbook.warehouse import DuckDBWarehouse

        return DuckDBWarehouse(
            self.warehouse_path, read_only=True, project=self.cfg.bq_project, lock_timeout=60.0
        )

    def init(
        self, *, demo_data: bool = False, weeks: int = 12, seed: int = 7, end_week=None
    ) -> dict:
        """Create the home, the store and the workflow's tables (its setup hook); with
        `demo_data`, its demo hook writes `weeks` partitions of synthetic data."""

        self.store.require_writable()  # creates home and store; a read-only home is said so
        summary: dict[str, Any] = {"home": str(self.home), "demo_rows": 0}
        self.runs.ensure_schema()
        if demo_data:
            demo = self.workflow.hook("demo")
            if demo is None:
                raise UsageError(f"workflow {self.workflow.name} has no demo data (hooks.demo)")
            wh = self.open_warehouse()
            try:
                summary.update(demo(wh, self.cfg, count=weeks, seed=seed, end=end_week))
            finally:
                wh.close()
        return summary

    def tag(self, execution: Execution) -> Execution:
        """The execution with its partition filled in from this backend's workflow."""
        return replace(execution, partition=self.workflow.partition_of(execution))

    def start(
        self,
        input: dict[str, Any],
        *,
        name: str,
        wait: bool = True,
        scheduled_time: datetime | None = None,
    ) -> Execution:
        check_execution_name(name)
        try:
            json.dumps(input)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"execution input is not JSON: {exc}") from None
        if scheduled_time is not None:
            # The clock (and so every history timestamp) runs in UTC, as Step Functions' does,
            # whatever zone the schedule's fire time was given in.
            if scheduled_time.tzinfo is None:
                scheduled_time = scheduled_time.replace(tzinfo=UTC)
            scheduled_time = scheduled_time.astimezone(UTC)
        if not wait:
            return self.describe(self.runs.start_detached(input, name, scheduled_time))
        return self.tag(self._start(input, name, scheduled_time, owner_pid=os.getpid()))

    def _start(
        self,
        input: dict[str, Any],
        name: str,
        scheduled_time: datetime | None,
        *,
        owner_pid: int,
        on_created: Callable[[Execution, bool], None] | None = None,
    ) -> Execution:
        self.store.require_writable()  # a read-only or full disk: said before anything else
        version_arn, text = self._deployed()
        self.runs.ensure_schema()
        clock = self.runs.clock_for(scheduled_time)
        arn = execution_arn(self.sm_name, name)
        with ExitStack() as stack:
            held = None
            if self.store.find_execution(self.sm_name, name) is None:
                # Wait for the warehouse before the execution exists (and before anyone is
                # told it is RUNNING); a duplicate start never needs it.
                held = stack.enter_context(self.runs.held_warehouse(clock))
            execution, created = self.store.create_execution(
                state_machine=self.sm_name,
                state_machine_arn=self.sm_arn,
                arn=arn,
                name=name,
                input=input,
                start_date=clock.now(),
                version_arn=version_arn,
                owner_pid=owner_pid,
            )
            if on_created is not None:
                on_created(execution, created)
            if created:
                return self.runs.run(execution, text, clock, redrive=False, held=held)
        # A duplicate start of a RUNNING execution: AWS returns the original.
        return self.wait(execution.arn)

    def _has_store(self) -> bool:
        return self.place.has_store()

    def describe(self, execution: str) -> Execution:
        arn = self._resolve(execution)
        if not self._has_store():
            raise ExecutionNotFound(f"no execution {execution!r} in {self.home}")
        self.runs.reap(arn)
        found = self.store.get_execution(arn)
        if found is None:
            raise ExecutionNotFound(f"no execution {execution!r} in {self.home}")
        return self.tag(found)

    def _resolve(self, execution: str) -> str:
        if not isinstance(execution, str) or not execution:
            raise UsageError("give an execution name or ARN")
        if execution.startswith("arn:"):
            return execution
        return execution_arn(self.sm_name, execution)

    def list_executions(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Execution]:
        if not self._has_store():
            return []
        self.runs.reap()
        status = normalize_status(status)
        found = self.store.list_executions(self.sm_name, status=status, since=since, until=until)
        return [self.tag(e) for e in found]

    def history(self, execution: str) -> list[dict[str, Any]]:
        arn = self.describe(execution).arn
        return self.store.events(arn)

    def wait(self, execution: str, *, timeout: float | None = None) -> Execution:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            current = self.describe(execution)
            if current.closed:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise OperationFailed(
                    f"execution {current.name} is still RUNNING after {timeout:g} s"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def stop(
        self, execution: str, *, error: str | None = None, cause: str | None = None
    ) -> Execution:
        current = self.describe(execution)
        if current.closed:
            raise UsageError(f"execution {current.name} is already {current.status}")
        self.store.request_stop(current.arn, error, cause)
        pid, _ = self.store.owner(current.arn)
        running_elsewhere = (
            pid != os.getpid() and pid is not None and self.runs.owner_alive(current.arn, pid)
        )
        if current.arn in RUNNING_HERE or running_elsewhere:
            # The engine running it sees the request between states and ends it ABORTED.
            return self.wait(current.arn, timeout=60)
        self.runs.abort_now(current.arn, error, cause)
        return self.describe(current.arn)

    def redrive(self, execution: str, *, wait: bool = True) -> Execution:
        current = self.describe(execution)
        if current.status == SUCCEEDED:
            raise UsageError(
                f"execution {current.name} SUCCEEDED; only a failed one can be redriven"
            )
        if not current.closed:
            raise UsageError(f"execution {current.name} is {current.status}; it has not closed yet")
        self._check_resumable(current)
        now = utcnow()
        if current.stop_date and now - current.stop_date > REDRIVE_WINDOW:
            raise UsageError(
                f"execution {current.name} closed {current.stop_date:%Y-%m-%d %H:%M} UTC, more than"
                " 14 days ago; it can no longer be redriven (start a new execution)"
            )
        if not wait:
            return self.describe(self.runs.detached({"op": "redrive", "arn": current.arn}))
        return self.tag(self._redrive(current.arn))

    def _redrive(
        self, arn: str, *, on_claimed: Callable[[Execution, bool], None] | None = None
    ) -> Execution:
        self.store.require_writable()
        current = self.store.get_execution(arn)
        if current is None:
            raise ExecutionNotFound(f"no execution {arn!r} in {self.home}")
        now = utcnow()
        version = self.store.version_by_arn(current.version_arn) if current.version_arn else None
        text = version["definition"] if version else json.dumps(self.definition())
        # Virtual runs may have closed "in the future" (a manual start at now that polled for
        # hours); resume after that so the history never goes back in time.
        clock = self.runs.clock_for(max(now, current.stop_date or now))
        self._check_resumable(current)
        with self.runs.held_warehouse(clock) as held:
            claimed = self.store.claim_redrive(arn, owner_pid=os.getpid(), redrive_date=now)
            if on_claimed is not None:
                on_claimed(claimed, True)
            return self.runs.run(claimed, text, clock, redrive=True, held=held)

    def _check_resumable(self, current: Execution) -> None:
        """A redrive resumes a history that begins with ExecutionStarted; one whose process
        died before its first event has nothing to resume (refused before anything is
        claimed or appended; a new execution is the way on)."""
        first = self.store.events(current.arn)[:1]
        if not first or first[0]["type"] != "ExecutionStarted":
            raise UsageError(
                f"execution {current.name} has no ExecutionStarted event (its process ended"
                " before the run began); it cannot be redriven: start a new execution"
            )


def build_backend_from_request(request: dict[str, Any]) -> LocalBackend:
    return LocalBackend(config_from_json(request["config"]), clock=request.get("clock", "virtual"))


def _detached_main() -> int:
    """Child of --no-wait: create (or claim for a redrive) the execution, report it on stdout,
    then run it to the end."""
    request = json.loads(sys.stdin.read())
    backend = build_backend_from_request(request)
    scheduled = request.get("scheduled_time")
    scheduled_time = datetime.fromisoformat(scheduled) if scheduled else None

    def report(execution: Execution, created: bool) -> None:
        print(json.dumps({"arn": execution.arn, "created": created}), flush=True)
        sys.stdout.close()

    try:
        if request.get("op") == "redrive":
            backend._redrive(request["arn"], on_claimed=report)
        else:
            backend._start(
                request["input"],
                request["name"],
                scheduled_time,
                owner_pid=os.getpid(),
                on_created=report,
            )
    except Exception as exc:  # report errors raised before the execution was recorded
        if not sys.stdout.closed:
            existing = getattr(exc, "existing", None)
            print(
                json.dumps(
                    {
                        "error": type(exc).__name__,
                        "message": str(exc),
                        "exit_code": getattr(exc, "exit_code", 1),
                        "arn": existing.arn if existing is not None else None,
                    }
                ),
                flush=True,
            )
        return 1
    finally:
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(_detached_main())
