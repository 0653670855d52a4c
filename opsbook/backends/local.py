"""The local backend: the ASL engine in process, a SQLite store, DuckDB as the warehouse.

Everything lives under `cfg.home`:
  store.sqlite       state machines, versions, the `live` alias, executions, events
  warehouse.duckdb   the BigQuery stand-in (opened read-write only while a task needs it)
  objects/           the S3 stand-in; deploy copies definitions/sql/*.sql to objects/<sql_prefix>
  outbox/slack.jsonl Slack messages when SLACK_WEBHOOK_URL is not set
  cache/             history cache (opsbook.history)

ARNs look like AWS's, in region "local" and account 000000000000, so code written against one
backend reads the other's output unchanged.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opsbook.backends.base import (
    ABORTED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    Change,
    DeployResult,
    Execution,
    check_execution_name,
)
from opsbook.backends.store import Store, utcnow
from opsbook.config import Config
from opsbook.errors import ExecutionNotFound, OperationFailed, UsageError

REGION = "local"
ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:states:{REGION}:{ACCOUNT}"
REDRIVE_WINDOW = timedelta(days=14)
CLOCKS = ("virtual", "real")
INTERRUPTED_ERROR = "Opsbook.Interrupted"
# Executions this process is running (any thread): stop() asks them instead of closing them.
_RUNNING_HERE: set[str] = set()
_RELEASE_LOCK = threading.Lock()
# AWS execution names: 1-80 characters; no whitespace, brackets, wildcards or these characters.


def state_machine_arn(name: str) -> str:
    return f"{ARN_PREFIX}:stateMachine:{name}"


def execution_arn(state_machine: str, name: str) -> str:
    return f"{ARN_PREFIX}:execution:{state_machine}:{name}"


def function_arn(function: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"


def render_definition(text: str, prefix: str = "opsbook") -> str:
    """The definition with its ${...FunctionArn} placeholders replaced by local Lambda ARNs
    (DefinitionSubstitutions, as deploy does on AWS)."""
    from opsbook.lambdas import FUNCTIONS, placeholders, substitute

    if not placeholders(text):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return text  # validate() reports it
    values = {key: function_arn(fn.function_name(prefix)) for key, fn in FUNCTIONS.items()}
    try:
        return json.dumps(substitute(data, values), indent=2, ensure_ascii=False)
    except KeyError as exc:
        raise UsageError(f"definition: {exc.args[0]}") from None


def canonical(definition: Any) -> str:
    """Definition text in one canonical form, so formatting changes don't publish a version."""
    data = json.loads(definition) if isinstance(definition, str) else definition
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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


class LocalBackend:
    """The Backend API on this machine. See the module docstring for the file layout."""

    name = "local"

    def __init__(self, cfg: Config, *, clock: str = "virtual", **_ignored: Any):
        if clock not in CLOCKS:
            raise UsageError(f"clock must be one of {', '.join(CLOCKS)}, not {clock!r}")
        self.cfg = cfg
        self.clock = clock
        self.home = Path(cfg.home)
        self.lock_timeout = 60.0  # how long to wait for a DuckDB file another process holds
        self._store: Store | None = None

    # ------------------------------------------------------------------ paths and handles
    @property
    def store(self) -> Store:
        if self._store is None:
            self._ensure_home()
            self._store = Store(self.home / "store.sqlite")
        return self._store

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def objects_dir(self) -> Path:
        return self.home / "objects"

    @property
    def outbox_path(self) -> Path:
        return self.home / "outbox" / "slack.jsonl"

    @property
    def definition_path(self) -> Path:
        return Path(self.cfg.definitions_dir) / "weekly_load.asl.json"

    @property
    def sm_name(self) -> str:
        return self.cfg.state_machine_name

    @property
    def sm_arn(self) -> str:
        return state_machine_arn(self.sm_name)

    @property
    def alias_arn(self) -> str:
        return f"{self.sm_arn}:{self.cfg.alias_name}"

    def _ensure_home(self) -> None:
        if self.home.exists() and not self.home.is_dir():
            raise UsageError(f"OPSBOOK_HOME {self.home} is a file, not a folder")
        for sub in ("", "objects", "outbox", "cache"):
            path = self.home / sub
            path.mkdir(parents=True, exist_ok=True)
            try:
                os.chmod(path, 0o700)
            except OSError:
                pass

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

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
        """Create the home, the store and the warehouse schema; optionally synthetic late data."""

        self.store  # noqa: B018 - creates home and store
        summary: dict[str, Any] = {"home": str(self.home), "demo_rows": 0}
        wh = self.open_warehouse()
        try:
            self._ensure_schema()
            if demo_data:
                from opsbook.demo import generate_demo_data

                info = generate_demo_data(
                    wh,
                    dataset=self.cfg.dataset,
                    source=self.cfg.source_table,
                    weeks=weeks,
                    seed=seed,
                    end_week=end_week,
                    poll_seconds=self.cfg.poll_seconds,
                    max_polls=self.cfg.max_polls,
                )
                summary.update(info)
        finally:
            wh.close()
        return summary

    # ------------------------------------------------------------------ deploy
    def _read_definition_file(self) -> str:
        from opsbook.engine import validate

        path = self.definition_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"definition {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read definition {path}: {exc}") from None
        text = render_definition(text, self.cfg.resource_prefix)
        diagnostics = validate(text)
        if diagnostics:
            more = f" (+{len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
            raise UsageError(f"definition {path} is invalid: {diagnostics[0]}{more}")
        return text

    def _sql_files(self) -> list[Path]:
        return sorted((Path(self.cfg.definitions_dir) / "sql").glob("*.sql"))

    def _object_path(self, filename: str) -> Path:
        return self.objects_dir / self.cfg.sql_prefix / filename

    @contextmanager
    def _deploy_lock(self) -> Iterator[None]:
        """One deploy/teardown at a time across processes (a version is published once)."""
        import fcntl

        self._ensure_home()
        with open(self.home / ".deploy.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def deploy(self, *, plan: bool = False, rollback: bool = False) -> DeployResult:
        if plan and not self._has_store():
            return self._deploy(plan=True, rollback=rollback)
        with self._deploy_lock():
            return self._deploy(plan=plan, rollback=rollback)

    def _deploy(self, *, plan: bool, rollback: bool) -> DeployResult:
        if rollback:
            return self._rollback(plan=plan)
        text = self._read_definition_file()
        wanted = canonical(text)
        store = self.store
        changes: list[Change] = []
        sm = store.get_state_machine(self.sm_name)
        if sm is None:
            changes.append(Change("create", "state_machine", self.sm_arn))
        elif canonical(sm["definition"]) != wanted:
            changes.append(Change("update", "state_machine", self.sm_arn, "definition changed"))
        else:
            changes.append(Change("unchanged", "state_machine", self.sm_arn))

        versions = store.versions(self.sm_name) if sm else []
        latest = versions[-1] if versions else None
        if latest is not None and canonical(latest["definition"]) == wanted:
            version_number, version_arn = latest["number"], latest["arn"]
            changes.append(Change("unchanged", "version", version_arn))
        else:
            version_number = (latest["number"] + 1) if latest else 1
            version_arn = f"{self.sm_arn}:{version_number}"
            changes.append(Change("create", "version", version_arn))

        alias = store.get_alias(self.sm_name, self.cfg.alias_name) if sm else None
        if alias is None:
            changes.append(
                Change("create", "alias", self.alias_arn, f"-> version {version_number}")
            )
        elif alias["version"] != version_number:
            changes.append(
                Change(
                    "update",
                    "alias",
                    self.alias_arn,
                    f"version {alias['version']} -> {version_number}",
                )
            )
        else:
            changes.append(
                Change("unchanged", "alias", self.alias_arn, f"-> version {version_number}")
            )

        sql_files = self._sql_files()
        for src in sql_files:
            dest = self._object_path(src.name)
            body = src.read_bytes()
            if not dest.exists():
                changes.append(Change("create", "object", str(dest.relative_to(self.home))))
            elif dest.read_bytes() != body:
                changes.append(Change("update", "object", str(dest.relative_to(self.home))))
            else:
                changes.append(Change("unchanged", "object", str(dest.relative_to(self.home))))
        result = DeployResult(
            changes, applied=False, version_arn=version_arn, alias_arn=self.alias_arn
        )
        if plan:
            return result

        store.put_state_machine(self.sm_name, self.sm_arn, text)
        if not any(c.kind == "version" and c.action == "unchanged" for c in changes):
            published = store.add_version(self.sm_name, self.sm_arn, text)
            version_number, version_arn = published["number"], published["arn"]
            result.version_arn = version_arn
        if alias is None or alias["version"] != version_number:
            store.set_alias(
                self.sm_name,
                self.cfg.alias_name,
                self.alias_arn,
                version_number,
                alias["version"] if alias else None,
            )
        for src in sql_files:
            dest = self._object_path(src.name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            body = src.read_bytes()
            if not dest.exists() or dest.read_bytes() != body:
                tmp = dest.with_suffix(dest.suffix + ".tmp")
                tmp.write_bytes(body)
                os.replace(tmp, dest)
        result.applied = True
        return result

    def _rollback(self, *, plan: bool) -> DeployResult:
        alias = self.store.get_alias(self.sm_name, self.cfg.alias_name)
        if alias is None:
            raise UsageError("nothing is deployed yet; run `opsbook deploy` first")
        previous = alias["previous_version"]
        if previous is None:
            raise UsageError(
                f"alias {self.cfg.alias_name} has no previous version to roll back to"
                f" (it points at version {alias['version']})"
            )
        version_arn = f"{self.sm_arn}:{previous}"
        change = Change(
            "update", "alias", self.alias_arn, f"version {alias['version']} -> {previous}"
        )
        result = DeployResult(
            [change], applied=False, version_arn=version_arn, alias_arn=self.alias_arn
        )
        if not plan:
            # Keep the version we left as "previous", so a second rollback undoes the first.
            self.store.set_alias(
                self.sm_name, self.cfg.alias_name, self.alias_arn, previous, alias["version"]
            )
            result.applied = True
        return result

    def teardown(self, *, plan: bool = False) -> DeployResult:
        if plan or not self._has_store():
            return self._teardown(plan=plan)
        with self._deploy_lock():
            return self._teardown(plan=plan)

    def _teardown(self, *, plan: bool) -> DeployResult:
        changes: list[Change] = []
        store = self.store if self._has_store() else None
        sm = store.get_state_machine(self.sm_name) if store else None
        if sm is not None:
            if store.get_alias(self.sm_name, self.cfg.alias_name):
                changes.append(Change("delete", "alias", self.alias_arn))
            for version in store.versions(self.sm_name):
                changes.append(Change("delete", "version", version["arn"]))
            changes.append(Change("delete", "state_machine", self.sm_arn))
        for src in self._sql_files():
            dest = self._object_path(src.name)
            if dest.exists():
                changes.append(Change("delete", "object", str(dest.relative_to(self.home))))
        result = DeployResult(changes, applied=False)
        if plan:
            return result
        if sm is not None and store is not None:
            store.delete_state_machine(self.sm_name)  # cascades to versions and aliases
        for src in self._sql_files():
            self._object_path(src.name).unlink(missing_ok=True)
        result.applied = True
        return result

    def live_version(self) -> str | None:
        if not self._has_store():
            return None
        alias = self.store.get_alias(self.sm_name, self.cfg.alias_name)
        return f"{self.sm_arn}:{alias['version']}" if alias else None

    def definition(self) -> dict[str, Any]:
        live = self.live_version()
        if live:
            version = self.store.version_by_arn(live)
            if version:
                return json.loads(version["definition"])
        try:
            return json.loads(self.definition_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read definition {self.definition_path}: {exc}") from None

    def _deployed(self) -> tuple[str, str]:
        """(version arn, definition text) that `live` points at; deploys once on first use."""
        live = self.live_version()
        if live is None:
            # A fresh home: deploy the repo's definition so `opsbook start` works at once.
            with self._deploy_lock():
                live = self.live_version()
                if live is None:
                    self._deploy(plan=False, rollback=False)
                    live = self.live_version()
        version = self.store.version_by_arn(live)  # type: ignore[arg-type]
        if version is None:
            raise UsageError(f"live version {live} is missing from the store; run `opsbook deploy`")
        return version["arn"], version["definition"]

    # ------------------------------------------------------------------ executions
    def _clock(self, start: datetime | None):
        from opsbook.engine import RealClock, VirtualClock

        if self.clock == "real":
            return RealClock()
        return VirtualClock((start or utcnow()).astimezone(UTC))

    def resources(self, **overrides: Any):
        """What the in-process Lambda handlers touch: this home's warehouse, objects, outbox."""
        from opsbook.lambdas.resources import Resources

        return Resources.local(self.home, config=self.cfg, **overrides)

    @contextmanager
    def _run_resources(self, clock) -> Iterator[Any]:
        """Resources for one run. Under the virtual clock a run takes well under a second of
        real time, so it keeps one DuckDB connection for the whole run; under the real clock
        each call opens the file and closes it, so waits don't hold the lock."""
        if getattr(clock, "virtual", False) is False:
            yield self.resources()
            return
        wh = self.open_warehouse()
        with wh.session():
            yield self.resources(open_warehouse=lambda: _Borrowed(wh))

    def _tasks(self, clock, resources) -> dict[str, Callable]:
        """The engine's task registry: the workflow's Lambda handlers, run in process.

        Before each check_records call, pending demo rows whose arrival time the (virtual)
        clock has passed are released into the source table."""
        from opsbook.demo import release_arrivals
        from opsbook.lambdas import local_tasks

        cfg = self.cfg

        def wrap(module: str, call: Callable) -> Callable:
            if module != "check_records":
                return call

            def check(payload: Any) -> Any:
                # One release at a time per process: threads (rerun's pool) releasing the same
                # rows at once would conflict in DuckDB.
                from opsbook.warehouse import WarehouseError

                try:
                    with _RELEASE_LOCK, resources.warehouse() as wh:
                        release_arrivals(
                            wh, clock.now(), dataset=cfg.dataset, source=cfg.source_table
                        )
                except WarehouseError:
                    pass  # unreachable warehouse: check_records meets it too and returns a 500
                return call(payload)

            return check

        tasks = local_tasks(resources, prefix=cfg.resource_prefix, wrap=wrap)
        # The substituted definition names each function by its full local ARN.
        for name in list(tasks):
            if name.startswith(f"{cfg.resource_prefix}-"):
                tasks[function_arn(name)] = tasks[name]
        return tasks

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
            return self._start_detached(input, name, scheduled_time)
        return self._start(input, name, scheduled_time, owner_pid=os.getpid())

    def _start(
        self,
        input: dict[str, Any],
        name: str,
        scheduled_time: datetime | None,
        *,
        owner_pid: int,
        on_created: Callable[[Execution, bool], None] | None = None,
    ) -> Execution:
        version_arn, text = self._deployed()
        self._ensure_schema()
        clock = self._clock(scheduled_time)
        arn = execution_arn(self.sm_name, name)
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
        if not created:
            # A duplicate start of a RUNNING execution: AWS returns the original.
            return self.wait(execution.arn)
        return self._run(execution, text, clock, redrive=False)

    def _ensure_schema(self) -> None:
        """The warehouse tables, created once per home (remembered in the store), so duplicate
        starts never need the DuckDB file."""
        from opsbook.warehouse import ensure_schema

        cfg = self.cfg
        key = f"schema:{cfg.dataset}.{cfg.source_table}.{cfg.target_table}"
        if self.warehouse_path.exists() and self.store.get_meta(key):
            return
        wh = self.open_warehouse()
        try:
            ensure_schema(wh, cfg.dataset, cfg.source_table, cfg.target_table)
        finally:
            wh.close()
        self.store.set_meta(key, "ready")

    def _run(self, execution: Execution, text: str, clock, *, redrive: bool) -> Execution:
        store = self.store
        arn = execution.arn

        def persist(event: dict[str, Any]) -> None:
            store.append_event(arn, event)

        def should_abort() -> bool:
            return store.stop_requested(arn)

        # pid + start time + host of the process running it, so _reap never mistakes a
        # reused pid for this run.
        store.set_meta(_owner_key(arn), f"{os.getpid()}:{process_identity(os.getpid())}")
        _RUNNING_HERE.add(arn)
        try:
            with self._run_resources(clock) as resources:
                run = self._engine_run(
                    execution, text, clock, resources, persist, should_abort, redrive
                )
        except BaseException as exc:
            from opsbook.warehouse import WarehouseLocked

            if isinstance(exc, WarehouseLocked) and not redrive and store.discard_unstarted(arn):
                raise  # the warehouse was busy before the run began: as if never started
            # The engine itself broke (not a workflow failure): close the execution, say why.
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                error, cause = INTERRUPTED_ERROR, "the run was interrupted; redrive it to resume"
            else:
                error = "Opsbook.EngineError"
                cause = f"opsbook could not run the execution: {type(exc).__name__}: {exc}"
            self._close_failed(arn, error, cause[:32000], clock.now())
            raise
        finally:
            _RUNNING_HERE.discard(arn)
        return self._record(arn, run, clock)

    def _engine_run(self, execution, text, clock, resources, persist, should_abort, redrive):
        from opsbook import engine

        arn = execution.arn
        common = dict(
            tasks=self._tasks(clock, resources),
            clock=clock,
            on_event=persist,
            should_abort=should_abort,
            name=execution.name,
            execution_arn=arn,
            state_machine_arn=execution.version_arn or self.sm_arn,
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

    def _record(self, arn: str, run, clock) -> Execution:
        """Store how the run ended."""
        store = self.store
        fields: dict[str, Any] = {
            "status": run.status,
            "output": run.output if run.status == SUCCEEDED else None,
            "error": run.error,
            "cause": run.cause,
            "stop_date": run.stop_date or clock.now(),
            "owner_pid": None,
        }
        if run.status == ABORTED:
            # Keep the error/cause the stop request carried.
            current = store.get_execution(arn)
            fields["error"] = current.error if current else run.error
            fields["cause"] = current.cause if current else run.cause
        store.update_execution(arn, **fields)
        return store.get_execution(arn)  # type: ignore[return-value]

    def _close_failed(self, arn: str, error: str, cause: str, when: datetime) -> None:
        store = self.store
        last = store.last_event_id(arn)
        store.append_event(
            arn,
            {
                "timestamp": when,
                "type": "ExecutionFailed",
                "id": last + 1,
                "previousEventId": last,
                "executionFailedEventDetails": {"error": error, "cause": cause},
            },
        )
        store.update_execution(
            arn, status=FAILED, error=error, cause=cause, stop_date=when, owner_pid=None
        )

    def _start_detached(
        self, input: dict[str, Any], name: str, scheduled_time: datetime | None
    ) -> Execution:
        """--no-wait: a detached child process creates and runs the execution; we return once
        it is recorded (RUNNING), exactly like StartExecution."""
        return self._detached(
            {
                "op": "start",
                "input": input,
                "name": name,
                "scheduled_time": scheduled_time.isoformat() if scheduled_time else None,
            }
        )

    def _detached(self, request: dict[str, Any]) -> Execution:
        """Run `request` in a detached child process (it outlives us); return once the child
        has recorded the execution as RUNNING."""
        request = {**request, "config": _config_to_json(self.cfg), "clock": self.clock}
        child = subprocess.Popen(
            [sys.executable, "-m", "opsbook.backends.local"],
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

            cls = getattr(errors, reply["error"], OperationFailed)
            existing = self.store.get_execution(reply["arn"]) if reply.get("arn") else None
            if cls is errors.ExecutionAlreadyExists:
                raise cls(reply["message"], existing)
            raise cls(reply["message"])
        return self.describe(reply["arn"])

    def _has_store(self) -> bool:
        # Reads on a home that was never used answer "nothing" instead of creating files.
        return self._store is not None or (self.home / "store.sqlite").exists()

    def describe(self, execution: str) -> Execution:
        arn = self._resolve(execution)
        if not self._has_store():
            raise ExecutionNotFound(f"no execution {execution!r} in {self.home}")
        self._reap(arn)
        found = self.store.get_execution(arn)
        if found is None:
            raise ExecutionNotFound(f"no execution {execution!r} in {self.home}")
        return found

    def _resolve(self, execution: str) -> str:
        if not isinstance(execution, str) or not execution:
            raise UsageError("give an execution name or ARN")
        if execution.startswith("arn:"):
            return execution
        return execution_arn(self.sm_name, execution)

    def _owner_alive(self, arn: str, pid: int) -> bool:
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

    def _reap(self, arn: str | None = None) -> None:
        """Mark RUNNING executions whose process died (e.g. SIGKILL) as FAILED, interrupted."""
        store = self.store
        for run_arn, pid in store.running():
            if arn is not None and run_arn != arn:
                continue
            if pid is None or self._owner_alive(run_arn, pid):
                continue
            with store.transaction() as conn:
                row = conn.execute(
                    "SELECT status, owner_pid FROM executions WHERE arn = ?", (run_arn,)
                ).fetchone()
                if row is None or row[0] != RUNNING or row[1] != pid:
                    continue  # someone else reaped or redrove it meanwhile
                conn.execute("UPDATE executions SET owner_pid = NULL WHERE arn = ?", (run_arn,))
            events = store.events(run_arn)
            when = max([e["timestamp"] for e in events], default=utcnow())
            self._close_failed(
                run_arn,
                INTERRUPTED_ERROR,
                f"the opsbook process running this execution (pid {pid}) ended before it"
                " finished; redrive it to resume from the interrupted state",
                when,
            )

    def list_executions(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Execution]:
        if not self._has_store():
            return []
        self._reap()
        return self.store.list_executions(self.sm_name, status=status, since=since, until=until)

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
            pid != os.getpid() and pid is not None and self._owner_alive(current.arn, pid)
        )
        if current.arn in _RUNNING_HERE or running_elsewhere:
            # The engine running it sees the request between states and ends it ABORTED.
            return self.wait(current.arn, timeout=60)
        self._abort_now(current.arn, error, cause)
        return self.describe(current.arn)

    def _abort_now(self, arn: str, error: str | None, cause: str | None) -> None:
        store = self.store
        last = store.last_event_id(arn)
        when = utcnow()
        details: dict[str, Any] = {}
        if error:
            details["error"] = error
        if cause:
            details["cause"] = cause
        store.append_event(
            arn,
            {
                "timestamp": when,
                "type": "ExecutionAborted",
                "id": last + 1,
                "previousEventId": last,
                "executionAbortedEventDetails": details,
            },
        )
        store.update_execution(
            arn, status=ABORTED, error=error, cause=cause, stop_date=when, owner_pid=None
        )

    def redrive(self, execution: str, *, wait: bool = True) -> Execution:
        current = self.describe(execution)
        if current.status == SUCCEEDED:
            raise UsageError(
                f"execution {current.name} SUCCEEDED; only a failed one can be redriven"
            )
        if not current.closed:
            raise UsageError(f"execution {current.name} is {current.status}; it has not closed yet")
        now = utcnow()
        if current.stop_date and now - current.stop_date > REDRIVE_WINDOW:
            raise UsageError(
                f"execution {current.name} closed {current.stop_date:%Y-%m-%d %H:%M} UTC, more than"
                " 14 days ago; it can no longer be redriven (start a new execution)"
            )
        if not wait:
            return self._detached({"op": "redrive", "arn": current.arn})
        return self._redrive(current.arn)

    def _redrive(
        self, arn: str, *, on_claimed: Callable[[Execution, bool], None] | None = None
    ) -> Execution:
        current = self.store.get_execution(arn)
        if current is None:
            raise ExecutionNotFound(f"no execution {arn!r} in {self.home}")
        now = utcnow()
        version = self.store.version_by_arn(current.version_arn) if current.version_arn else None
        text = version["definition"] if version else json.dumps(self.definition())
        # Virtual runs may have closed "in the future" (a manual start at now that polled for
        # hours); resume after that so the history never goes back in time.
        clock = self._clock(max(now, current.stop_date or now))
        claimed = self.store.claim_redrive(arn, owner_pid=os.getpid(), redrive_date=now)
        if on_claimed is not None:
            on_claimed(claimed, True)
        return self._run(claimed, text, clock, redrive=True)


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


def build_backend_from_request(request: dict[str, Any]) -> LocalBackend:
    return LocalBackend(_config_from_json(request["config"]), clock=request.get("clock", "virtual"))


def _config_to_json(cfg: Config) -> dict[str, Any]:
    data = asdict(cfg)
    for key in ("home", "definitions_dir"):
        data[key] = str(Path(data[key]).resolve())
    data["secret_patterns"] = list(data["secret_patterns"])
    return data


def _config_from_json(data: dict[str, Any]) -> Config:
    data = dict(data)
    data["home"] = Path(data["home"])
    data["definitions_dir"] = Path(data["definitions_dir"])
    data["secret_patterns"] = tuple(data["secret_patterns"])
    return replace(Config(), **data)


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
