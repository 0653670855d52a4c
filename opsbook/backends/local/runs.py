"""The local backend's in-process run machinery (a component LocalBackend builds): clocks, the engine's
task registry, running and recording an execution, detached --no-wait children, and reaping
executions whose process died."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsbook.backends.base import ABORTED, FAILED, SUCCEEDED, Execution
from opsbook.backends.local.home import LocalHome
from opsbook.backends.local.store import StorageError, Store, utcnow
from opsbook.config import Config
from opsbook.errors import OperationFailed
from opsbook.masking import REDACTED, masker
from opsbook.workflows.manifest import Workflow

INTERRUPTED_ERROR = "Opsbook.Interrupted"
# The events that close an execution: stored with its status row, in one transaction.
CLOSING_EVENTS = frozenset(
    {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
)
# Executions this process is running (any thread): stop() asks them instead of closing them.
RUNNING_HERE: set[str] = set()


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_identity(pid: int) -> str | None:
    """'<start time>@<host>' of a live process (Linux /proc), or None when unknown. With the
    pid it tells the process apart from a later one that reuses the pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, field 3 onwards
    if len(fields) < 20:
        return None
    return f"{fields[19]}@{socket.gethostname()}"  # field 22: start time since boot


def _owner_key(arn: str) -> str:
    return f"owner:{arn}"


class LocalRuns:
    """Runs executions in this process (or a detached child). It receives what it uses: the
    home (`place`: paths, store, config, workflow), the clock choice ("virtual" or "real") and
    the backend's `open_warehouse` (which waits for a locked file as configured)."""

    def __init__(self, place: LocalHome, *, clock: str, open_warehouse: Callable[[], Any]) -> None:
        self.place = place
        self.clock = clock
        self.open_warehouse = open_warehouse

    @property
    def cfg(self) -> Config:
        return self.place.cfg

    @property
    def workflow(self) -> Workflow:
        return self.place.workflow

    @property
    def store(self) -> Store:
        return self.place.store

    # ------------------------------------------------------------------ executions
    def clock_for(self, start: datetime | None):
        from opsbook.engine import RealClock, VirtualClock

        if self.clock == "real":
            return RealClock()
        return VirtualClock((start or utcnow()).astimezone(UTC))

    def resources(self, **overrides: Any):
        """What the in-process Lambda handlers touch: this home's warehouse, objects, outbox."""
        from opsbook.lambdas.resources import Resources

        return Resources.local(self.place.home, config=self.cfg, **overrides)

    @contextmanager
    def held_warehouse(self, clock) -> Iterator[Any]:
        """The warehouse a virtual-clock run keeps open from start to end (None under the real
        clock). It is taken BEFORE the execution is created or claimed: a file another process
        holds is then a refusal before anything was reported, never a reported run that is
        later lost (issue 14, finding 1)."""
        if getattr(clock, "virtual", False) is False:
            yield None
            return
        wh = self.open_warehouse()
        with wh.session():
            yield wh

    @contextmanager
    def _run_resources(self, held: Any) -> Iterator[Any]:
        """Resources for one run. Under the virtual clock a run takes well under a second of
        real time, so it uses the one DuckDB connection `held` for the whole run; under the
        real clock (held None) each call opens the file and closes it, so waits don't hold
        the lock."""
        if held is None:
            yield self.resources()
            return
        yield self.resources(open_warehouse=lambda: _Borrowed(held))

    def tasks(self, clock, resources) -> dict[str, Callable]:
        """The engine's task registry: the workflow's task handlers, run in process.

        The workflow's before_task hook (if any) runs before each call; the weekly load's
        releases the demo rows whose arrival time the (virtual) clock has passed."""
        from opsbook.backends.local.names import task_registry

        return task_registry(self.workflow, self.cfg, resources, clock)

    def ensure_schema(self) -> None:
        """The workflow's tables (its setup hook), created once per home (remembered in the
        store), so duplicate starts never need the DuckDB file."""
        setup = self.workflow.hook("setup")
        if setup is None:
            return
        cfg = self.cfg
        key = f"schema:{self.workflow.name}:{cfg.dataset}.{cfg.source_table}.{cfg.target_table}"
        if self.place.warehouse_path.exists() and self.store.get_meta(key):
            return
        wh = self.open_warehouse()
        try:
            setup(wh, cfg)
        finally:
            wh.close()
        self.store.set_meta(key, "ready")

    def run(
        self, execution: Execution, text: str, clock, *, redrive: bool, held: Any = None
    ) -> Execution:
        store = self.store
        arn = execution.arn

        closing: list[dict[str, Any]] = []
        # Nothing secret is stored: the webhook URL's token parts, the secret patterns and
        # webhook-looking URLs are masked in every event (an error body may echo the path).
        scrub = masker(self.cfg.known_secrets(), self.cfg.secret_patterns, marker=REDACTED)

        def persist(event: dict[str, Any]) -> None:
            event = scrub(event)
            if event.get("type") in CLOSING_EVENTS:
                closing.append(event)  # written with the status row, in one transaction
                return
            store.append_event(arn, event)

        def should_abort() -> bool:
            return store.stop_requested(arn)

        # pid + start time + host of the process running it, so _reap never mistakes a
        # reused pid for this run.
        store.set_meta(_owner_key(arn), f"{os.getpid()}:{process_identity(os.getpid())}")
        RUNNING_HERE.add(arn)
        try:
            with self._run_resources(held) as resources:
                run = self._engine_run(
                    execution, text, clock, resources, persist, should_abort, redrive
                )
        except BaseException as exc:
            # The engine itself broke (not a workflow failure): close the execution, say why.
            # An execution someone may have seen is never deleted, only closed with its cause.
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                error, cause = INTERRUPTED_ERROR, "the run was interrupted; redrive it to resume"
            else:
                error = "Opsbook.EngineError"
                cause = f"opsbook could not run the execution: {type(exc).__name__}: {exc}"
            self._close_failed(arn, error, cause[:32000], clock.now())
            raise
        finally:
            RUNNING_HERE.discard(arn)
        return self._record(arn, run, clock, closing, scrub)

    def _engine_run(self, execution, text, clock, resources, persist, should_abort, redrive):
        from opsbook import engine

        arn = execution.arn
        common = dict(
            tasks=self.tasks(clock, resources),
            clock=clock,
            on_event=persist,
            should_abort=should_abort,
            name=execution.name,
            execution_arn=arn,
            state_machine_arn=execution.version_arn or self.place.sm_arn,
        )
        if redrive:
            return engine.redrive(
                text,
                self.store.events(arn),
                redrive_count=execution.redrive_count - 1,  # the engine adds this one
                start_date=execution.start_date,
                **common,
            )
        return engine.execute(text, execution.input, **common)

    def _record(
        self, arn: str, run, clock, closing: list[dict[str, Any]], scrub: Callable[[Any], Any]
    ) -> Execution:
        """Store how the run ended: the closing event and the status row together."""
        store = self.store
        fields: dict[str, Any] = {
            "status": run.status,
            "output": scrub(run.output) if run.status == SUCCEEDED else None,
            "error": scrub(run.error),
            "cause": scrub(run.cause),
            "stop_date": run.stop_date or clock.now(),
            "owner_pid": None,
        }
        if run.status == ABORTED:
            # Keep the error/cause the stop request carried.
            current = store.get_execution(arn)
            fields["error"] = current.error if current else run.error
            fields["cause"] = current.cause if current else run.cause
        if closing:
            store.finish_execution(arn, closing[-1], **fields)
        else:
            store.update_execution(arn, **fields)
        return self._announce(arn)

    def _announce(self, arn: str) -> Execution:
        """Emit the execution status change event, as Step Functions does on AWS (a FAILED,
        TIMED_OUT or ABORTED execution reaches the notify handler)."""
        from opsbook.backends.local.alerts import announce
        from opsbook.backends.local.names import ACCOUNT, REGION

        execution = self.store.get_execution(arn)
        assert execution is not None
        announce(execution, self.resources(), ACCOUNT, REGION)
        return execution

    def _close_failed(self, arn: str, error: str, cause: str, when: datetime) -> None:
        self.store.finish_execution(
            arn,
            {
                "timestamp": when,
                "type": "ExecutionFailed",
                "executionFailedEventDetails": {"error": error, "cause": cause},
            },
            status=FAILED, error=error, cause=cause, stop_date=when, owner_pid=None,
        )  # fmt: skip
        self._announce(arn)

    def start_detached(
        self, input: dict[str, Any], name: str, scheduled_time: datetime | None
    ) -> str:
        """--no-wait: a detached child process creates and runs the execution; we return its
        ARN once it is recorded (RUNNING), exactly like StartExecution."""
        return self.detached(
            {
                "op": "start",
                "input": input,
                "name": name,
                "scheduled_time": scheduled_time.isoformat() if scheduled_time else None,
            }
        )

    def detached(self, request: dict[str, Any]) -> str:
        """Run `request` in a detached child process (it outlives us); return the execution's
        ARN once the child has recorded it as RUNNING."""
        request = {**request, "config": config_to_json(self.cfg), "clock": self.clock}
        child = subprocess.Popen(
            [sys.executable, "-m", "opsbook.backends.local.backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            text=True,
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(json.dumps(request))
        child.stdin.close()
        line = child.stdout.readline()
        child.stdout.close()
        try:
            reply = json.loads(line)
        except ValueError:
            child.wait(timeout=30)
            raise OperationFailed(
                "the background execution process ended before it started"
            ) from None
        if "error" in reply:
            child.wait(timeout=30)
            from opsbook import errors

            # Errors defined elsewhere (e.g. WarehouseLocked) keep their exit code.
            fallback = errors.UsageError if reply.get("exit_code") == 2 else OperationFailed
            cls = getattr(errors, reply["error"], fallback)
            existing = self.store.get_execution(reply["arn"]) if reply.get("arn") else None
            if cls is errors.ExecutionAlreadyExists:
                raise cls(reply["message"], existing)
            raise cls(reply["message"])
        return str(reply["arn"])

    def owner_alive(self, arn: str, pid: int) -> bool:
        """Is the process that runs `arn` alive? pid + start time + host when recorded."""
        recorded = self.store.get_meta(_owner_key(arn)) or ""
        rec_pid, _, identity = recorded.partition(":")
        host = identity.partition("@")[2]
        if host and host != socket.gethostname():
            return True  # another machine's process: it cannot be checked from here
        if rec_pid == str(pid) and identity and not identity.startswith("None"):
            current = process_identity(pid)
            if current is not None:
                return current == identity
        return _pid_alive(pid)

    def reap(self, arn: str | None = None) -> None:
        """Mark RUNNING executions whose process died (e.g. SIGKILL) as FAILED, interrupted."""
        store = self.store
        if store.read_only:
            return  # nothing can be recorded on a read-only disk; the next writer reaps
        for run_arn, pid in store.running():
            if arn is not None and run_arn != arn:
                continue
            if pid is None or self.owner_alive(run_arn, pid):
                continue
            try:
                self._reap_one(run_arn, pid)
            except StorageError:
                return  # a full disk: reads go on, the next command that can write reaps

    def _reap_one(self, run_arn: str, pid: int) -> None:
        store = self.store
        events = store.events(run_arn)
        when = max([e["timestamp"] for e in events], default=utcnow())
        error = INTERRUPTED_ERROR
        if events and events[0]["type"] == "ExecutionStarted":
            cause = (
                f"the opsbook process running this execution (pid {pid}) ended before it"
                " finished; redrive it to resume from the interrupted state"
            )
        else:  # nothing to resume: a redrive is refused, a new execution is the way on
            cause = (
                f"the opsbook process running this execution (pid {pid}) ended before the run"
                " began; start a new execution (opsbook rerun does)"
            )
        # One transaction, guarded by the owner: a reap that cannot be written leaves the
        # execution as it was, for the next command to reap.
        store.finish_execution(
            run_arn,
            {
                "timestamp": when,
                "type": "ExecutionFailed",
                "executionFailedEventDetails": {"error": error, "cause": cause},
            },
            owner=pid, status=FAILED, error=error, cause=cause, stop_date=when, owner_pid=None,
        )  # fmt: skip

    def abort_now(self, arn: str, error: str | None, cause: str | None) -> None:
        when = utcnow()
        details: dict[str, Any] = {}
        if error:
            details["error"] = error
        if cause:
            details["cause"] = cause
        self.store.finish_execution(
            arn,
            {
                "timestamp": when,
                "type": "ExecutionAborted",
                "executionAbortedEventDetails": details,
            },
            status=ABORTED, error=error, cause=cause, stop_date=when, owner_pid=None,
        )  # fmt: skip
        self._announce(arn)


class _Borrowed:
    """A warehouse borrowed for one call: close() leaves the shared connection open."""

    def __init__(self, warehouse: Any):
        self._warehouse = warehouse
        self.project = warehouse.project

    def query(self, sql: str, params: Any = None):
        return self._warehouse.query(sql, params)

    def execute(self, sql: str, params: Any = None) -> int:
        return self._warehouse.execute(sql, params)

    def script(self, statements: list[str], params: Any = None) -> int:
        return self._warehouse.script(statements, params)

    def close(self) -> None:
        pass


def config_to_json(cfg: Config) -> dict[str, Any]:
    data = asdict(cfg)
    for key in ("home", "definitions_dir"):
        data[key] = str(Path(data[key]).resolve())
    data["secret_patterns"] = list(data["secret_patterns"])
    return data


def config_from_json(data: dict[str, Any]) -> Config:
    data = dict(data)
    data["home"] = Path(data["home"])
    data["definitions_dir"] = Path(data["definitions_dir"])
    data["secret_patterns"] = tuple(data["secret_patterns"])
    return replace(Config(), **data)
