"""The `opsbook` command line (typer).

The CLI talks only to `opsbook.backends.connect()` and the Backend API; it never asks which
backend it got. Each command is one small function; add one with `@app.command()`.

Exit codes: 0 success; 1 the operation ran and failed (e.g. an execution ended FAILED under
--wait); 2 bad input or configuration, one line on stderr, never a traceback
(OPSBOOK_DEBUG=1 shows tracebacks of unexpected errors).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer

from opsbook.backends.base import STATUSES, Execution
from opsbook.errors import ExecutionAlreadyExists, OperationFailed, OpsbookError, UsageError

try:  # typer >= 0.20 vendors click as typer._click
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as _click_exceptions

# Usage errors (unknown option, missing or malformed value) -> one line, exit 2.
_CLICK_ERRORS = (_click_exceptions.ClickException,)
_EXITS = tuple({typer.Exit, getattr(_click_exceptions, "Exit", typer.Exit)})
_ABORTS = tuple({typer.Abort, getattr(_click_exceptions, "Abort", typer.Abort)})

TOKYO_TZ = "Asia/Tokyo"
DEMO_HOME = ".opsbook-demo"
DEMO_MARKER = ".opsbook-demo"

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Operate the weekly-load Step Functions workflow, offline (local) or on AWS.",
)
schedule_app = typer.Typer(
    invoke_without_command=True,
    help="Show the schedule's next fire times, or fire it over a range (`schedule run`).",
)
app.add_typer(schedule_app, name="schedule")


# --------------------------------------------------------------------------- shared state
@dataclass
class Session:
    """Global options; the backend is opened on first use, so bad input fails before any
    file is written."""

    backend_name: str | None = None
    home: str | None = None
    config: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    _backend: Any = None
    _cfg: Any = None

    def cfg(self):
        if self._cfg is None:
            from opsbook.config import load_config

            self._cfg = load_config(self.config, home=self.home, backend=self.backend_name)
        return self._cfg

    def backend(self, **options: Any):
        if self._backend is None:
            from opsbook.backends import connect

            self._backend = connect(config=self.cfg(), **{**self.options, **options})
        return self._backend

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def session(ctx: typer.Context) -> Session:
    obj = ctx.find_root().obj
    if not isinstance(obj, Session):
        obj = Session()
        ctx.find_root().obj = obj
    return obj


@app.callback()
def _root(
    ctx: typer.Context,
    backend: str = typer.Option(
        None, "--backend", envvar="OPSBOOK_BACKEND", help="local (default) or aws."
    ),
    home: str = typer.Option(
        None, "--home", envvar="OPSBOOK_HOME", help="Local state folder (default ./.opsbook)."
    ),
    config: str = typer.Option(None, "--config", help="TOML config file."),
) -> None:
    ctx.obj = Session(backend_name=backend or None, home=home or None, config=config)
    ctx.call_on_close(ctx.obj.close)


# --------------------------------------------------------------------------- output helpers
def emit_json(value: Any) -> None:
    """Exactly one JSON document on stdout."""
    typer.echo(json.dumps(value, indent=2, default=_json_default, ensure_ascii=False))


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[str], *, empty: str = "(none)") -> str:
    """A compact plain-text table with aligned columns."""
    if not rows:
        return empty
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return text if len(text) <= 70 else text[:67] + "..."


def when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(execution: Execution) -> str:
    if execution.stop_date is None:
        return "-"
    seconds = int((execution.stop_date - execution.start_date).total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def polls(events: list[dict[str, Any]]) -> int:
    """How many times the run waited for data (Wait states entered)."""
    return sum(1 for e in events if e.get("type") == "WaitStateEntered")


def execution_row(execution: Execution) -> dict[str, Any]:
    return {
        "name": execution.name,
        "status": execution.status,
        "week": execution.week,
        "started": when(execution.start_date),
        "duration": duration(execution),
        "redrives": execution.redrive_count,
        "cause": execution.cause or execution.error,
    }


def fail(message: str, code: int = 2) -> None:
    raise UsageError(message) if code == 2 else OperationFailed(message)


# --------------------------------------------------------------------------- commands
@app.command()
def init(
    ctx: typer.Context,
    demo_data: bool = typer.Option(False, "--demo-data", help="Add synthetic late-arriving data."),
    weeks: int = typer.Option(12, "--weeks", min=1, max=520, help="Weeks of demo data."),
    seed: int = typer.Option(7, "--seed", help="Seed for the demo data."),
    end_week: str = typer.Option(
        None, "--end-week", help="Last demo week (default: last completed)."
    ),
) -> None:
    """Create the home (store, warehouse schema); optionally with demo data."""
    if end_week is not None:
        from opsbook.weeks import parse_week

        end_week = parse_week(end_week).isoformat()
    backend = session(ctx).backend()
    initialise = getattr(backend, "init", None)
    if initialise is None:
        fail("init prepares a local home; this backend is set up by `opsbook deploy`")
    info = initialise(demo_data=demo_data, weeks=weeks, seed=seed, end_week=end_week)
    typer.echo(f"initialised {info['home']}")
    if demo_data:
        typer.echo(
            f"demo data: {info['demo_rows']} rows over {len(info['weeks'])} weeks"
            f" ({info['weeks'][0]} .. {info['weeks'][-1]}), seed {seed};"
            f" weeks that poll: {', '.join(info['polled_weeks']) or '-'};"
            f" weeks whose data arrives too late: {', '.join(info['late_weeks']) or '-'}"
        )


def _print_changes(result, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    rows = [
        {"action": c.action, "kind": c.kind, "name": c.name, "detail": c.detail}
        for c in result.changes
    ]
    typer.echo(table(rows, ["action", "kind", "name", "detail"], empty="nothing to do"))
    verb = "applied" if result.applied else "plan only, nothing changed"
    typer.echo(f"{verb}; live version: {result.version_arn or '-'}")


@app.command()
def deploy(
    ctx: typer.Context,
    plan: bool = typer.Option(False, "--plan", help="Show what would change; change nothing."),
    rollback: bool = typer.Option(
        False, "--rollback", help="Point `live` at the previous version."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Create or update the state machine, its version, the `live` alias and the SQL objects."""
    result = session(ctx).backend().deploy(plan=plan, rollback=rollback)
    _print_changes(result, as_json)


@app.command()
def teardown(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Don't ask for confirmation."),
    plan: bool = typer.Option(False, "--plan", help="Show what would be removed."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Remove what deploy created (not the warehouse data)."""
    backend = session(ctx).backend()
    if not plan and not yes:
        preview = backend.teardown(plan=True)
        if not preview.changes:
            _print_changes(preview, as_json)
            return
        if not sys.stdin.isatty():
            fail("teardown removes the deployment; pass --yes to confirm (or --plan to preview)")
        _print_changes(preview, False)
        if not typer.confirm("Remove these?", default=False):
            fail("teardown cancelled", code=1)
    _print_changes(backend.teardown(plan=plan), as_json)


def _input_for_week(cfg, week: str, poll_seconds: int | None, max_polls: int | None) -> dict:
    from opsbook.weeks import week_input

    return week_input(
        week,
        poll_seconds=cfg.poll_seconds if poll_seconds is None else poll_seconds,
        max_polls=cfg.max_polls if max_polls is None else max_polls,
    )


@app.command()
def start(
    ctx: typer.Context,
    week: str = typer.Option(..., "--week", help="The week's Thursday, YYYY-MM-DD."),
    name: str = typer.Option(None, "--name", help="Execution name (default week-<DATE>)."),
    poll_seconds: int = typer.Option(None, "--poll-seconds", help="Seconds between checks."),
    max_polls: int = typer.Option(None, "--max-polls", help="Checks before giving up."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the execution to end."),
    clock: str = typer.Option(
        None, "--clock", help="Local backend: virtual (default; waits take no time) or real."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Start the weekly load for one week (idempotent per execution name)."""
    from opsbook.weeks import parse_week

    day = parse_week(week)
    state = session(ctx)
    payload = _input_for_week(state.cfg(), day.isoformat(), poll_seconds, max_polls)
    exec_name = name or f"week-{day.isoformat()}"
    from opsbook.backends.base import check_execution_name

    check_execution_name(exec_name)
    options = {"clock": clock} if clock else {}
    backend = state.backend(**options)
    existing = False
    try:
        execution = backend.start(payload, name=exec_name, wait=wait)
    except ExecutionAlreadyExists as exc:
        if exc.existing is None:
            raise
        execution, existing = exc.existing, True
    _report_start(execution, existing, day.isoformat(), as_json, wait)


def _report_start(execution: Execution, existing: bool, week: str, as_json: bool, wait: bool):
    same_week = execution.week == week
    ok_existing = existing and same_week and execution.status in ("RUNNING", "SUCCEEDED")
    if as_json:
        doc = execution.to_dict()
        doc["week"] = execution.week or week
        doc["existing"] = existing
        emit_json(doc)
    else:
        if existing:
            typer.echo(
                f"execution {execution.name} already exists ({execution.status}, week"
                f" {execution.week}); not started again"
            )
        typer.echo(table([execution_row(execution)], list(execution_row(execution))))
    if existing and not ok_existing:
        hint = "use --name for a new execution, or `opsbook rerun`"
        raise OperationFailed(
            f"execution {execution.name} already exists and is {execution.status}"
            f"{'' if same_week else f' for week {execution.week}'}; {hint}"
        )
    if wait and not existing and execution.status not in ("SUCCEEDED", "RUNNING"):
        raise OperationFailed(
            f"execution {execution.name} ended {execution.status}: {execution.cause or execution.error}"
        )


@app.command()
def executions(
    ctx: typer.Context,
    week: str = typer.Option(None, "--week", help="Only this week."),
    status: str = typer.Option(None, "--status", help="Only this status."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """List executions, newest first."""
    wanted_week = None
    if week is not None:
        from opsbook.weeks import parse_week

        wanted_week = parse_week(week).isoformat()
    if status is not None:
        status = status.upper()
        if status not in STATUSES:
            fail(f"--status {status!r} is not one of {', '.join(STATUSES)}")
    from opsbook.history import History, week_of

    state = session(ctx)
    found = state.backend().list_executions(status=status)
    if wanted_week:  # the week from the input, the schedule's fire time or week-<DATE>
        found = [e for e in found if week_of(e) == wanted_week]
    # A listing may leave input, output, error and cause out (Backend.list_executions): JSON
    # shows them all; the table needs error and cause. Closed ones come from the disk cache.
    found = History(state.backend(), state.cfg()).complete(found, unsuccessful_only=not as_json)
    if as_json:
        emit_json([e.to_dict() for e in found])
        return
    rows = [{**execution_row(e), "week": week_of(e)} for e in found]
    typer.echo(table(rows, ["name", "status", "week", "started", "duration", "redrives", "cause"]))


def _event_state(event: dict[str, Any]) -> str:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            if "name" in value:
                return value["name"]
            if "resource" in value:
                return value.get("resourceType", "") + ":" + str(value["resource"]).split(":")[-1]
            if "error" in value:
                return f"{value['error']}"
    return ""


@app.command()
def history(
    ctx: typer.Context,
    execution: str = typer.Argument(..., help="Execution name or ARN."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """An execution's history events."""
    from opsbook.history import redactor

    state = session(ctx)
    backend = state.backend()
    described = backend.describe(execution)
    # History views never show values that match the configured secret patterns.
    redact = redactor(state.cfg().secret_patterns)
    events = [redact(e) for e in backend.history(described.arn)]
    if as_json:
        emit_json({"execution": redact(described.to_dict()), "events": events})
        return
    typer.echo(
        f"{described.name}  {described.status}  week {described.week or '-'}"
        f"  redrives {described.redrive_count}"
    )
    rows = [
        {
            "id": e["id"],
            "time (UTC)": when(e["timestamp"]),
            "type": e["type"],
            "detail": _event_state(e),
        }
        for e in events
    ]
    typer.echo(table(rows, ["id", "time (UTC)", "type", "detail"]))


@app.command()
def validate(
    file: Path = typer.Argument(  # noqa: B008
        None, help="Definition file (default definitions/weekly_load.asl.json)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Validate a state machine definition; exit 2 when it is invalid."""
    from opsbook.config import Config
    from opsbook.engine import validate as validate_definition

    path = file or Config().definitions_dir / "weekly_load.asl.json"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"definition file {path} does not exist")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read definition file {path}: {exc}")
    diagnostics = validate_definition(text)
    if as_json:
        emit_json(
            {
                "file": str(path),
                "result": "FAIL" if diagnostics else "OK",
                "diagnostics": [
                    {
                        "code": d.code,
                        "message": d.message,
                        "location": d.location,
                        "severity": d.severity,
                    }
                    for d in diagnostics
                ],
            }
        )
    elif diagnostics:
        for d in diagnostics:  # the report itself goes to stdout; the one-line error to stderr
            typer.echo(str(d))
    else:
        typer.echo(f"{path}: OK")
    if diagnostics:
        more = f" (+{len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        raise UsageError(f"{path} is invalid: {diagnostics[0]}{more}")


# --------------------------------------------------------------------------- schedule
@schedule_app.callback()
def schedule(
    ctx: typer.Context,
    next_: int = typer.Option(10, "--next", min=0, max=10000, help="How many fire times."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """The next fire times in Tokyo time and UTC."""
    if ctx.invoked_subcommand is not None:
        return
    from opsbook.weeks import load_schedule, next_fire_times, week_for_fire_time

    sched = load_schedule(Path(session(ctx).cfg().definitions_dir) / "schedule.json")
    times = next_fire_times(sched, next_)
    rows = [
        {
            "tokyo": t.isoformat(),
            "utc": t.astimezone(UTC).isoformat(),
            "week": week_for_fire_time(t).isoformat(),
        }
        for t in times
    ]
    if as_json:
        emit_json(
            {
                "expression": sched.expression_text,
                "timezone": str(sched.timezone),
                "fire_times": rows,
            }
        )
        return
    typer.echo(f"{sched.expression_text} in {sched.timezone}")
    typer.echo(table(rows, ["tokyo", "utc", "week"]))


def fire_schedule(backend, cfg, since: str, until: str, *, progress: bool = True) -> list[dict]:
    """Start one execution per scheduled time in [since, until], as the schedule would
    (`start(..., scheduled_time=fire_time)`). Existing executions are reported, not redone."""
    from tqdm.auto import tqdm

    from opsbook.weeks import fire_times_between, load_schedule, week_for_fire_time

    sched = load_schedule(Path(cfg.definitions_dir) / "schedule.json")
    times = fire_times_between(sched, since, until)
    results = []
    # disable=None: a bar on a terminal, nothing in logs and pipes.
    bar = tqdm(
        times, desc="weeks", unit="week", disable=None if progress else True, file=sys.stderr
    )
    for fired in bar:
        week = week_for_fire_time(fired).isoformat()
        bar.set_postfix_str(week)
        payload = _input_for_week(cfg, week, None, None)
        existing = False
        try:
            execution = backend.start(payload, name=f"week-{week}", wait=True, scheduled_time=fired)
        except ExecutionAlreadyExists as exc:
            if exc.existing is None:
                raise
            execution, existing = exc.existing, True
        events = backend.history(execution.arn)
        results.append(
            {
                "week": week,
                "fired": fired.isoformat(),
                "name": execution.name,
                "status": execution.status,
                "polls": polls(events),
                "duration": duration(execution),
                "existing": existing,
                "cause": execution.cause or execution.error,
                "arn": execution.arn,
            }
        )
    return results


@schedule_app.command("run")
def schedule_run(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="First day (YYYY-MM-DD)."),
    until: str = typer.Option(..., "--until", help="Last day (YYYY-MM-DD)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Fire every scheduled time in the range (virtual clock at each fire time)."""
    from opsbook.weeks import weeks_between

    weeks_between(since, until)  # validates both dates before anything is written
    state = session(ctx)
    results = fire_schedule(state.backend(), state.cfg(), since, until, progress=not as_json)
    if as_json:
        emit_json(results)
        return
    typer.echo(table(results, ["week", "name", "status", "polls", "duration", "cause"]))


# --------------------------------------------------------------------------- demo
def _demo_home(state: Session) -> Path:
    return Path(state.home) if state.home else Path(DEMO_HOME)


def prepare_demo_home(home: Path) -> None:
    """A fresh demo home. Refuses a folder holding anything but an earlier demo."""
    import shutil

    if home.exists():
        if not home.is_dir():
            fail(f"{home} is a file; give a folder for the demo with --home")
        entries = list(home.iterdir())
        if entries and not (home / DEMO_MARKER).is_file():
            fail(
                f"{home} is not empty and holds no earlier opsbook demo; give an empty or new"
                " folder with --home"
            )
        for entry in entries:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    home.mkdir(parents=True, exist_ok=True)
    (home / DEMO_MARKER).write_text("opsbook demo home; `opsbook demo` may delete and rebuild it\n")


_SHORT_STATES = (
    "TaskStateEntered",
    "WaitStateEntered",
    "SucceedStateEntered",
    "FailStateEntered",
)


def _short_history(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from zoneinfo import ZoneInfo

    tokyo = ZoneInfo(TOKYO_TZ)
    rows = []
    for e in events:
        kind = e["type"]
        entered = kind in _SHORT_STATES
        if not (entered or kind.startswith("Execution")):
            continue
        rows.append(
            {
                "tokyo": e["timestamp"].astimezone(tokyo).strftime("%Y-%m-%d %H:%M:%S"),
                "event": kind,
                "state": _event_state(e) if entered else "",
            }
        )
    return rows


@app.command()
def demo(
    ctx: typer.Context,
    weeks: int = typer.Option(12, "--weeks", min=1, max=104, help="Weeks of demo data."),
    seed: int = typer.Option(7, "--seed", help="Seed for the demo data."),
) -> None:
    """A fresh demo home: 12 weeks of late-arriving data, deploy, fire the schedule, results."""
    from datetime import timedelta

    from opsbook.weeks import last_completed_week

    state = session(ctx)
    home = _demo_home(state)
    state.home = str(home)
    cfg = state.cfg()  # validates config before the home is touched
    if cfg.backend != "local":
        fail("opsbook demo runs on the local backend; drop --backend aws")
    prepare_demo_home(home)
    backend = state.backend()
    end = last_completed_week()
    first = end - timedelta(days=7 * (weeks - 1))
    typer.echo(f"demo home: {home.resolve()}")
    info = backend.init(demo_data=True, weeks=weeks, seed=seed, end_week=end.isoformat())
    typer.echo(
        f"1. synthetic events for {weeks} weeks ({first} .. {end}): {info['demo_rows']} rows;"
        f" each day lands 05:00-10:00 Tokyo the next morning, a few land too late"
    )
    result = backend.deploy()
    typer.echo(f"2. deployed {result.version_arn}")
    typer.echo(f"3. firing the schedule (Thursdays 09:30 Tokyo) for {weeks} weeks:")
    results = fire_schedule(backend, cfg, first.isoformat(), end.isoformat())
    typer.echo(table(results, ["week", "status", "polls", "duration", "cause"]))
    ok = sum(r["status"] == "SUCCEEDED" for r in results)
    typer.echo(f"{ok} of {len(results)} weeks loaded; {len(results) - ok} failed")
    polled = [r for r in results if r["status"] == "SUCCEEDED" and r["polls"] > 0]
    if polled:
        pick = polled[0]
        typer.echo(
            f"\n4. history of week {pick['week']} (waited {pick['polls']} times for its data):"
        )
        typer.echo(table(_short_history(backend.history(pick["arn"])), ["tokyo", "event", "state"]))
    demo_rerun(backend, first, end)  # steps 5-7 (history engineer): weeks table, rerun, after
    demo_report(state, home, end)  # step 8 (notebooks engineer): the weekly report
    typer.echo(f"\nexplore: opsbook --home {home} executions | history <name> | start --week {end}")


# --------------------------------------------------------------------------- weeks and rerun
# (history engineer) The weekly status matrix and reruns of failed/missing weeks; the logic
# lives in opsbook.history and opsbook.backfill, these only parse, confirm and print.
WEEK_TABLE = ["week", "status", "attempts", "execution", "polls", "duration", "cause"]
RERUN_TABLE = ["week", "status", "action", "execution", "reason"]


def _check_range(since: str, until: str) -> None:
    from opsbook import history as hist

    hist.scheduled_weeks(since, until)  # one-line UsageError for a bad date or range


def _week_rows(df) -> list[dict[str, Any]]:
    from opsbook import history as hist

    rows = hist.records(df)
    for row in rows:
        row["duration"] = hist.human_duration(row.get("duration"))
        row["cause"] = row.get("cause") or row.get("error")
    return rows


def _print_frame(
    df, columns: list[str], rows: list[dict[str, Any]], as_json: bool, as_csv: bool
) -> None:
    from opsbook import history as hist

    if as_json:
        emit_json(hist.records(df))
    elif as_csv:
        typer.echo(df.to_csv(index=False), nl=False)
    else:
        typer.echo(table(rows, columns))


@app.command("weeks")
def weeks_command(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="First day (YYYY-MM-DD)."),
    until: str = typer.Option(..., "--until", help="Last day (YYYY-MM-DD)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout."),
) -> None:
    """One row per scheduled week: status, attempts, last execution, polls, duration, cause."""
    from opsbook import history as hist

    if as_json and as_csv:
        fail("give --json or --csv, not both")
    _check_range(since, until)
    df = hist.weeks(session(ctx).backend(), since, until)
    _print_frame(df, WEEK_TABLE, _week_rows(df), as_json, as_csv)


@app.command("rerun")
def rerun_command(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="First day (YYYY-MM-DD)."),
    until: str = typer.Option(..., "--until", help="Last day (YYYY-MM-DD)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; start nothing."),
    max_concurrency: int = typer.Option(
        2, "--max-concurrency", min=1, max=50, help="Weeks rerun at once."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Don't ask for confirmation."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Rerun FAILED, TIMED_OUT, ABORTED and MISSING weeks (redrive, else a new execution).

    A week is redriven when AWS allows it, otherwise week-<DATE>-r<N> is started; weeks that
    succeeded, are running or are in the future are left alone. Safe to run twice."""
    from opsbook import history as hist
    from opsbook.backfill import SKIP, plan_rerun, rerun

    _check_range(since, until)
    backend = session(ctx).backend()
    plan = plan_rerun(backend, since, until)
    acting = plan[plan["action"] != SKIP]
    if not dry_run and len(acting) and not yes:
        if not sys.stdin.isatty():
            fail(f"rerun would act on {len(acting)} week(s); use --yes to confirm (or --dry-run)")
        typer.echo(table(hist.records(plan), RERUN_TABLE))
        if not typer.confirm(f"Rerun {len(acting)} week(s)?", default=False):
            fail("rerun cancelled; nothing was started", code=1)
    results = rerun(
        backend, plan, max_concurrency=max_concurrency, dry_run=dry_run,
        progress=not as_json and sys.stderr.isatty(),
    )  # fmt: skip
    if as_json:
        emit_json(hist.records(results))
    else:
        typer.echo(
            table(
                _week_rows(results),
                ["week", "action", "status", "attempts", "execution", "reason", "error"],
            )
        )
        verb = "would act on" if dry_run else "acted on"
        typer.echo(f"{verb} {len(acting)} of {len(plan)} weeks")
    bad = results[(results["action"] != SKIP) & ~results["status"].isin(["SUCCEEDED", "RUNNING"])]
    if not dry_run and len(bad):
        weeks_list = ", ".join(f"{r.week} {r.status}" for r in bad.itertuples())
        raise OperationFailed(f"{len(bad)} rerun(s) did not succeed: {weeks_list}")


def demo_rerun(backend, first, end) -> None:
    """Demo steps 5-7: the weeks table, a rerun of the failed weeks (their late data has
    arrived by now), and the weeks table after."""
    from opsbook import history as hist
    from opsbook.backfill import SKIP, plan_rerun, rerun

    typer.echo("\n5. the weeks table (opsbook weeks):")
    typer.echo(table(_week_rows(hist.weeks(backend, first, end)), WEEK_TABLE))
    plan = plan_rerun(backend, first, end)
    acting = plan[plan["action"] != SKIP]
    typer.echo(
        f"\n6. rerunning the {len(acting)} failed or missing week(s) now that their data has"
        " arrived (opsbook rerun):"
    )
    results = rerun(backend, plan, max_concurrency=2, progress=sys.stderr.isatty())
    typer.echo(
        table(
            hist.records(results[results["action"] != SKIP]),
            ["week", "action", "status", "execution", "reason"],
        )
    )
    typer.echo("\n7. the weeks table after the rerun:")
    typer.echo(table(_week_rows(hist.weeks(backend, first, end)), WEEK_TABLE))


# --------------------------------------------------------------------------- report
# (notebooks engineer) papermill runs notebooks/weekly_report.ipynb; opsbook.report does the work.
@app.command("report")
def report_command(
    ctx: typer.Context,
    week: str = typer.Option(
        None, "--week", help="The week's Thursday (YYYY-MM-DD); default: the last completed week."
    ),
    out: str = typer.Option("reports", "--out", help="Folder for the .ipynb, .html and .json."),
    lookback_weeks: int = typer.Option(
        8, "--lookback-weeks", min=1, max=104, help="Weeks of weekly_summary to compare."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document: paths and figures."),
) -> None:
    """Write the weekly report: the executed notebook, HTML (no code) and key figures as JSON."""
    from opsbook.report import resolve_week, run_report

    state = session(ctx)
    day = resolve_week(week)  # a bad week fails (exit 2) before any kernel starts
    files = run_report(
        day, out, backend=state.backend_name, home=state.home, config=state.config,
        lookback_weeks=lookback_weeks, progress=not as_json and sys.stderr.isatty(),
    )  # fmt: skip
    paths = {"notebook": files.notebook, "html": files.html, "figures": files.figures}
    if as_json:
        emit_json({**paths, "data": files.data})
        return
    data = files.data
    typer.echo(
        f"week {data['week']}: {data['status']}, {data['polls'] if data['polls'] is not None else '-'}"
        f" polls, {data['rows_total']} rows, {len(data['anomalies'])} anomalies"
    )
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")


def demo_report(state: Session, home: Path, end: date) -> None:
    """Demo step 8: the weekly report of the last demo week, written into the demo home."""
    from opsbook.report import run_report

    typer.echo(f"\n8. the weekly report for week {end} (opsbook report):")
    files = run_report(
        end, home / "reports", backend=state.backend_name, home=str(home), config=state.config,
        progress=sys.stderr.isatty(),
    )  # fmt: skip
    typer.echo(f"report: {files.html.resolve()}")


# --------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    """Console script: run the app, map errors to exit codes, never print a traceback
    (unless OPSBOOK_DEBUG=1)."""
    code = run(argv)
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    debug = os.environ.get("OPSBOOK_DEBUG", "") not in ("", "0")
    try:
        result = app(args=argv, prog_name="opsbook", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except _EXITS as exc:
        return exc.exit_code
    except _ABORTS:
        typer.echo("error: aborted", err=True)
        return 130
    except _CLICK_ERRORS as exc:
        message = exc.format_message()
        if message.strip():  # empty when the help was shown instead (no command given)
            _error(message)
        return exc.exit_code
    except OpsbookError as exc:
        if debug:
            traceback.print_exc()
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        return 130
    except Exception as exc:  # a bug or an environment problem: one line, not a traceback
        if debug:
            traceback.print_exc()
        _error(f"{type(exc).__name__}: {exc} (set OPSBOOK_DEBUG=1 for the traceback)")
        return 1


def _error(message: str) -> None:
    line = " ".join(str(message).split()) or "unknown error"
    typer.echo(f"error: {line}", err=True)
