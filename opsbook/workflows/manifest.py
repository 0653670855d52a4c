"""A workflow is a folder: its definition, its schedule, its SQL and a manifest, `workflow.toml`.

    name = "weekly_load"                          # default: the folder's name
    description = "..."
    state_machine_name = "opsbook-weekly-load"    # default: opsbook-<name, dashed>
    definition = "weekly_load.asl.json"           # default: definition.asl.json
    schedule = "schedule.json"                    # default: schedule.json (optional file)
    sql = "sql"                                   # default: sql (optional folder)
    report = "weekly_report.ipynb"                # default: partition_report.ipynb
    resource_scope = ""                           # AWS roles/layer/SQL: <prefix>-<scope>-...
                                                  # (default: the name, dashed)

    [partition]
    scheme = "weekly:THU"                         # daily | weekly:<DAY> | monthly
    timezone = "Asia/Tokyo"                       # default: the schedule's zone, else UTC

    [input]                                       # the execution input of one partition
    week = "key"                                  # from: key, start, end, poll_seconds,
    check_date = "end"                            #       max_polls (default: partition,
                                                  #       start, end)
    [tasks.CheckRecords]                          # the definition's ${CheckRecordsFunctionArn}
    handler = "opsbook.definitions.weekly_load.check_records:run"  # run(event, resources)
    function = "check-records"                    # AWS name after "<prefix>-" (default:
    timeout = 840                                 # <name>-<task>, dashed); Lambda seconds, MB
    memory = 1024

    [hooks]                                       # optional, module:function
    setup = "hooks:setup"                         # (warehouse, cfg): tables, before runs
    demo = "hooks:demo"                           # (warehouse, cfg, **options): demo data
    before_task = "hooks:before_task"             # (task, resources, clock, cfg), local only

Template parameters are the `${Name}` placeholders the definition uses: one per task
(`${<Task>FunctionArn}`), filled with each function's ARN.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from opsbook.errors import ConfigError, UsageError
from opsbook.workflows.handlers import resolve as resolve_handler
from opsbook.workflows.partitions import (
    Partition,
    PartitionScheme,
    parse_instant,
    parse_scheme,
)
from opsbook.workflows.polling import check_notify_every, check_polling

MANIFEST = "workflow.toml"
WORKFLOW_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TASK_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,39}$")
INPUT_SOURCES = ("key", "start", "end", "poll_seconds", "max_polls", "notify_every")
DEFAULT_INPUT = {"partition": "key", "start": "start", "end": "end"}
HOOKS = ("setup", "demo", "before_task")


@dataclass(frozen=True)
class Task:
    """One Task state's Lambda: the definition names it `${<name>FunctionArn}`."""

    name: str  # "CheckRecords"
    handler: str  # "module:function", called run(event, resources)
    function: str  # AWS function name after "<prefix>-", e.g. "check-records"
    timeout: int = 60
    memory: int = 256

    @property
    def placeholder(self) -> str:
        return f"{self.name}FunctionArn"

    @property
    def module(self) -> str:
        return self.handler.partition(":")[0]

    @property
    def lambda_handler(self) -> str:
        """The Lambda Handler setting: the module's `handler(event, context)`."""
        return f"{self.module}.handler"

    def function_name(self, prefix: str) -> str:
        return f"{prefix}-{self.function}"


@dataclass(frozen=True)
class Workflow:
    name: str
    folder: Path
    scheme: PartitionScheme
    state_machine_name: str
    definition_file: str = "definition.asl.json"
    schedule_file: str = "schedule.json"
    sql_folder: str = "sql"
    report: str = "partition_report.ipynb"
    description: str = ""
    tasks: tuple[Task, ...] = ()
    input_fields: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_INPUT))
    hooks: dict[str, str] = field(default_factory=dict)
    # Keeps this workflow's AWS roles, layer and SQL objects apart from other workflows'.
    resource_scope: str = ""
    shipped: bool = False

    # -- files
    @property
    def definition_path(self) -> Path:
        return self.folder / self.definition_file

    @property
    def schedule_path(self) -> Path:
        return self.folder / self.schedule_file

    @property
    def sql_dir(self) -> Path:
        return self.folder / self.sql_folder

    def report_path(self) -> Path:
        """The report notebook: in the workflow's folder, else one shipped with opsbook."""
        from opsbook.config import PACKAGE_ROOT

        own = self.folder / self.report
        return own if own.is_file() else PACKAGE_ROOT / "notebooks" / self.report

    def sql_files(self) -> list[Path]:
        return sorted(self.sql_dir.glob("*.sql")) if self.sql_dir.is_dir() else []

    def definition_text(self) -> str:
        try:
            return self.definition_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"definition {self.definition_path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read definition {self.definition_path}: {exc}") from None

    def schedule(self):
        """The schedule document as a Schedule, or None when the workflow has none."""
        from opsbook.workflows.schedules import load_schedule

        if not self.schedule_path.is_file():
            return None
        return load_schedule(self.schedule_path)

    # -- partitions
    def partition(self, key: str | date) -> Partition:
        return self.scheme.parse(key)

    def execution_name(self, key: str, rerun: int = 0) -> str:
        return self.scheme.execution_name(key, rerun)

    def starter_function(self, prefix: str) -> str:
        """The AWS name of the Lambda the schedule invokes to start a partition's execution
        under its own name (opsbook.lambdas.start_partition), e.g. "opsbook-weekly-load-start"."""
        return f"{prefix}-{self.name.replace('_', '-')}-start"

    def execution_input(
        self,
        key: str | date,
        *,
        poll_seconds: int | None = None,
        max_polls: int | None = None,
        notify_every: int | None = None,
    ) -> dict[str, Any]:
        """The input of one partition's execution, as the manifest's [input] table lays out."""
        part = self.scheme.parse(key)
        wanted = set(self.input_fields.values())
        if {"poll_seconds", "max_polls"} & wanted:
            poll_seconds, max_polls = check_polling(poll_seconds, max_polls)
        check_notify_every(notify_every)
        values = {
            "key": part.key,
            "start": part.start.isoformat(),
            "end": part.end.isoformat(),
            "poll_seconds": poll_seconds,
            "max_polls": max_polls,
            "notify_every": notify_every,
        }
        # notify_every is sent only when given: the definition has its own default.
        return {
            name: values[source]
            for name, source in self.input_fields.items()
            if not (source == "notify_every" and notify_every is None)
        }

    def partition_of(self, execution: Any) -> str | None:
        """The partition an execution ran for: the input's key field; else the schedule's
        `scheduled_time` (runs the schedule started before the starter function have random
        names); else its name."""
        data = execution.input if isinstance(execution.input, dict) else {}
        key_field = next((k for k, v in self.input_fields.items() if v == "key"), None)
        value = data.get(key_field) if key_field else None
        if isinstance(value, str) and value:
            try:
                return self.scheme.parse(value).key
            except UsageError:
                return None
        fired = data.get("scheduled_time")
        if isinstance(fired, str) and fired:
            try:
                return self.scheme.for_fire_time(parse_instant(fired)).key
            except (ValueError, UsageError):
                return None
        return self.scheme.key_in_name(execution.name)

    def fire_time(self, key: str | date) -> datetime:
        """When the schedule fires for a partition (UTC): the first fire time after the
        partition has ended, read from the schedule document; without a schedule, the
        partition's first moment after its end."""
        from opsbook.workflows.schedules import next_fire_times

        part = self.scheme.parse(key)
        ends = datetime.combine(part.end + timedelta(days=1), datetime.min.time())
        ends = ends.replace(tzinfo=self.scheme.timezone)
        sched = self.schedule()
        if sched is not None:
            times = next_fire_times(sched, 1, after=ends - timedelta(microseconds=1))
            if times:
                return times[0].astimezone(UTC)
        return ends.astimezone(UTC)

    def unscheduled(self, since: date, until: date) -> list[str]:
        """Keys in [since, until] that no fire time of the schedule loads: the first fire time
        after the partition ends loads a later one, as when a cron time falls into a
        spring-forward gap (EventBridge Scheduler skips it). Empty without a schedule."""
        if self.schedule() is None:
            return []
        missed = []
        for part in self.scheme.between(since, until):
            if self.scheme.for_fire_time(self.fire_time(part.key)).key != part.key:
                missed.append(part.key)
        return missed

    # -- handlers and hooks
    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise UsageError(f"workflow {self.name} has no task {name!r}")

    def resolve(self, target: str) -> Callable[..., Any]:
        return resolve_handler(target, self)

    def hook(self, name: str) -> Callable[..., Any] | None:
        target = self.hooks.get(name)
        return self.resolve(target) if target else None

    def to_dict(self) -> dict[str, Any]:
        sched = self.schedule() if self.schedule_path.is_file() else None
        return {
            "name": self.name,
            "scheme": self.scheme.spec,
            "timezone": self.scheme.timezone.key,
            "schedule": (
                f"{sched.expression_text} {sched.timezone.key}" if sched is not None else None
            ),
            "state_machine": self.state_machine_name,
            "tasks": [t.name for t in self.tasks],
            "folder": str(self.folder),
            "shipped": self.shipped,
        }


def _schedule_zone(folder: Path, schedule_file: str) -> str:
    try:
        doc = json.loads((folder / schedule_file).read_text(encoding="utf-8"))
        return str(doc.get("ScheduleExpressionTimezone") or "UTC")
    except (OSError, ValueError, AttributeError):
        return "UTC"


def _str(data: dict[str, Any], key: str, default: str, where: Path) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty string")
    return value


def load_workflow(folder: Path, *, shipped: bool = False) -> Workflow:
    """Read `<folder>/workflow.toml`; a bad manifest is a one-line ConfigError naming it."""
    path = folder / MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} is not a readable TOML manifest: {exc}") from None
    name = _str(data, "name", folder.name, path)
    if not WORKFLOW_NAME.match(name):
        raise ConfigError(f"{path}: workflow name {name!r} must match [a-z][a-z0-9_]*")
    files = {
        key: _str(data, key, default, path)
        for key, default in (
            ("definition", "definition.asl.json"),
            ("schedule", "schedule.json"),
            ("sql", "sql"),
            ("report", "partition_report.ipynb"),
        )
    }
    part = data.get("partition", {})
    if not isinstance(part, dict) or "scheme" not in part:
        raise ConfigError(f"{path}: [partition] needs scheme = daily | weekly:<DAY> | monthly")
    tz = part.get("timezone") or _schedule_zone(folder, files["schedule"])
    try:
        scheme = parse_scheme(part["scheme"], tz)
    except UsageError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    inputs = data.get("input", DEFAULT_INPUT)
    if not isinstance(inputs, dict) or not all(v in INPUT_SOURCES for v in inputs.values()):
        raise ConfigError(f"{path}: [input] values must be one of {', '.join(INPUT_SOURCES)}")
    if "key" not in inputs.values():
        raise ConfigError(f'{path}: [input] must carry the partition key (a field = "key")')
    tasks = []
    for task_name, spec in (data.get("tasks") or {}).items():
        if not TASK_NAME.match(task_name) or not isinstance(spec, dict):
            raise ConfigError(f"{path}: task {task_name!r} must be [tasks.<CamelCaseName>]")
        handler = spec.get("handler")
        if not isinstance(handler, str) or ":" not in handler:
            raise ConfigError(f'{path}: task {task_name} needs handler = "module:function"')
        dashed = re.sub(r"(?<!^)(?=[A-Z])", "-", task_name).lower()
        tasks.append(
            Task(
                name=task_name,
                handler=handler,
                function=str(spec.get("function") or f"{name.replace('_', '-')}-{dashed}"),
                timeout=int(spec.get("timeout", 60)),
                memory=int(spec.get("memory", 256)),
            )
        )
    hooks = data.get("hooks", {})
    if not isinstance(hooks, dict) or set(hooks) - set(HOOKS):
        raise ConfigError(f"{path}: [hooks] may name {', '.join(HOOKS)}")
    return Workflow(
        name=name,
        folder=folder.resolve(),
        scheme=scheme,
        state_machine_name=_str(
            data, "state_machine_name", f"opsbook-{name.replace('_', '-')}", path
        ),
        definition_file=files["definition"],
        schedule_file=files["schedule"],
        sql_folder=files["sql"],
        report=files["report"],
        description=str(data.get("description", "")),
        tasks=tuple(tasks),
        input_fields=dict(inputs),
        hooks=dict(hooks),
        resource_scope=str(data.get("resource_scope", name.replace("_", "-"))),
        shipped=shipped,
    )
