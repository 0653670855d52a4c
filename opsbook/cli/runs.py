"""Commands on the deployment and its executions: init, deploy, teardown, start, executions,
history, validate."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import typer

from opsbook.backends.base import Execution, normalize_status
from opsbook.cli.output import (
    emit_json,
    event_state,
    execution_row,
    header,
    table,
    terminal_width,
    when,
)
from opsbook.cli.session import fail, session
from opsbook.errors import ExecutionAlreadyExists, OperationFailed, UsageError
from opsbook.operations.display import duration_text

commands = typer.Typer()


@commands.command()
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
        from opsbook.workflows.schedules import parse_week

        end_week = parse_week(end_week).isoformat()
    backend = session(ctx).backend(create=True)
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


def _print_changes(
    result, as_json: bool, unchanged: str = "no changes: everything is up to date"
) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    rows = [
        {"action": c.action, "kind": c.kind, "name": c.name, "detail": c.detail}
        for c in result.changes
    ]
    typer.echo(table(rows, ["action", "kind", "name", "detail"], empty="nothing to do"))
    if not result.applied:
        verb = "plan only, nothing changed"
    elif result.changed:
        counts = Counter(c.action for c in result.changes if c.action != "unchanged")
        verb = "applied: " + ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
    else:
        verb = unchanged
    typer.echo(f"{verb}; live version: {result.version_arn or '-'}")


@commands.command()
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


@commands.command()
def teardown(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Don't ask for confirmation."),
    plan: bool = typer.Option(False, "--plan", help="Show what would be removed."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
    force: bool = typer.Option(False, "--force", help="Even while an execution is RUNNING."),
) -> None:
    """Remove what deploy created (not the warehouse data)."""
    backend = session(ctx).backend()
    if not plan and not yes:
        preview = backend.teardown(plan=True, force=force)
        if not preview.changes:
            _print_changes(preview, as_json, "nothing to remove")
            return
        if not sys.stdin.isatty():
            fail("teardown removes the deployment; pass --yes to confirm (or --plan to preview)")
        _print_changes(preview, False)
        if not typer.confirm("Remove these?", default=False):
            fail("teardown cancelled", code=1)
    _print_changes(backend.teardown(plan=plan, force=force), as_json, "nothing to remove")


def check_range_size(command: str, since: str, until: str, weeks: int, cfg, yes: bool) -> None:
    """A range over more weeks than `max_partitions` needs --yes (no thousands of runs by a
    typo)."""
    if weeks > cfg.max_partitions and not yes:
        raise UsageError(
            f"{command} over {since}..{until} covers {weeks} weeks, more than max_partitions"
            f" ({cfg.max_partitions}); pass --yes to go ahead, or narrow --since/--until"
        )


def check_polling(backend, payload: dict) -> None:
    """Refuse polling settings that outlast the deployed definition's TimeoutSeconds."""
    from opsbook.workflows.schedules import check_polling_fits

    try:
        definition = backend.definition()
    except Exception:  # noqa: BLE001 - not deployed or unreadable: the start reports that
        return
    check_polling_fits(definition, payload["poll_seconds"], payload["max_polls"])


def input_for_week(cfg, week: str, poll_seconds: int | None, max_polls: int | None) -> dict:
    from opsbook.workflows.schedules import week_input

    return week_input(
        week,
        poll_seconds=cfg.poll_seconds if poll_seconds is None else poll_seconds,
        max_polls=cfg.max_polls if max_polls is None else max_polls,
        notify_every=cfg.notify_every,
    )


@commands.command()
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
    from opsbook.workflows.schedules import parse_week

    day = parse_week(week)
    state = session(ctx)
    payload = input_for_week(state.cfg(), day.isoformat(), poll_seconds, max_polls)
    exec_name = name or f"week-{day.isoformat()}"
    from opsbook.backends.base import check_execution_name, week_in_name

    check_execution_name(exec_name)
    named_week = week_in_name(exec_name)
    # Listing files an execution under the week its name says, so the two must agree.
    if named_week is not None and named_week != day.isoformat():
        raise UsageError(
            f"--name {exec_name} says week {named_week} but --week is {day.isoformat()}"
        )
    options = {"clock": clock} if clock else {}
    backend = state.backend(**options)
    check_polling(backend, payload)
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


@commands.command()
def executions(
    ctx: typer.Context,
    week: str = typer.Option(None, "--week", help="Only this week."),
    status: str = typer.Option(None, "--status", help="Only this status."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """List executions, newest first."""
    wanted_week = None
    if week is not None:
        from opsbook.workflows.schedules import parse_week

        wanted_week = parse_week(week).isoformat()
    wanted_status = normalize_status(status)  # any case; unknown: exit 2 listing the valid ones
    from opsbook.operations.history import History, week_of

    state = session(ctx)
    found = state.backend().list_executions(status=wanted_status)
    if wanted_week:  # the week from the input, the schedule's fire time or week-<DATE>
        found = [e for e in found if week_of(e) == wanted_week]
    # A listing may leave input, output, error and cause out (Backend.list_executions): JSON
    # shows them all; the table needs error and cause. Closed ones come from the disk cache.
    found = History(state.backend(), state.cfg()).complete(found, unsuccessful_only=not as_json)
    if as_json:
        emit_json([e.to_dict() for e in found])
        return
    rows = [{**execution_row(e), "week": week_of(e)} for e in found]
    typer.echo(header(state.backend(), state.cfg()))
    typer.echo(table(rows, ["name", "status", "week", "started", "duration", "redrives", "cause"]))


@commands.command()
def history(
    ctx: typer.Context,
    execution: str = typer.Argument(
        ..., help="Execution name or ARN, or a week (YYYY-MM-DD): its latest execution."
    ),
    states: bool = typer.Option(
        False, "--states", help="One row per state visit with its duration (loops collapsed)."
    ),
    failed: bool = typer.Option(
        False, "--failed", help="Only the failure: state, error, full cause and its input."
    ),
    wide: bool = typer.Option(False, "--wide", help="Never wrap long cells."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """An execution's history, failure first: the failing state, error and full cause, then
    the events (or --states, or only --failed)."""
    from opsbook.operations.failures import failure_detail, state_visits
    from opsbook.operations.history import redactor

    if states and failed:
        fail("give --states or --failed, not both")
    state = session(ctx)
    backend = state.backend()
    described = resolve_execution(backend, execution)
    # History views never show values that match the configured secret patterns.
    redact = redactor(state.cfg().secret_patterns, state.cfg().known_secrets())
    events = [redact(e) for e in backend.history(described.arn)]
    failure = failure_detail(events)
    if as_json:
        doc: dict = {"execution": redact(described.to_dict()), "failure": failure}
        if states:
            doc["states"] = state_visits(events)
        elif not failed:
            doc["events"] = events
        emit_json(doc)
        return
    typer.echo(header(backend, state.cfg()))
    typer.echo(
        f"{described.name}  {described.status}  week {described.week or '-'}"
        f"  redrives {described.redrive_count}  started {when(described.start_date)}"
    )
    if failure is not None:
        typer.echo(failure_block(failure, wide=wide, with_input=failed))
    elif failed:
        typer.echo(f"{described.name} has no failure ({described.status})")
    if failed:
        return
    if states:
        rows = [
            {
                "state": v["state"],
                "type": v["type"],
                "count": v["count"],
                "status": v["status"],
                "entered": when(v["entered"]),
                "duration": duration_text(v["duration_s"]),
            }
            for v in state_visits(events)
        ]
        columns = ["state", "type", "count", "status", "entered", "duration"]
        typer.echo(table(rows, columns, wide=wide))
        return
    rows = [
        {"id": e["id"], "time": when(e["timestamp"]), "type": e["type"], "detail": event_state(e)}
        for e in events
    ]
    typer.echo(table(rows, ["id", "time", "type", "detail"], wide=wide))


def resolve_execution(backend, key: str) -> Execution:
    """An execution name or ARN, or a week (YYYY-MM-DD): that week's latest execution."""
    import re

    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", key.strip()):
        return backend.describe(key)
    from opsbook.operations.history import group_by_week, last_execution
    from opsbook.workflows.schedules import parse_week

    week = parse_week(key.strip()).isoformat()
    latest = last_execution(group_by_week(backend.list_executions()).get(week, []))
    if latest is None:
        raise UsageError(
            f"week {week} has no execution; start it with `opsbook start --week {week}`"
        )
    return backend.describe(latest.arn)


def failure_block(failure: dict, *, wide: bool = False, with_input: bool = False) -> str:
    """The failure as labelled lines; the cause in full (wrapped on narrow terminals)."""
    import json
    import textwrap

    from opsbook.operations.failures import cause_message

    cause = failure.get("cause")
    message = cause_message(cause) or "-"
    lines = [
        f"failed in: {failure.get('state') or '-'}",
        f"error:     {failure.get('error') or '-'}",
        f"when:      {when(failure.get('when'))}",
    ]
    width = max(40, terminal_width() - 11)
    raw = with_input and isinstance(cause, str) and cause != message  # --failed: all of it
    for label, text in (("cause:    ", message),) + ((("raw cause:", cause),) if raw else ()):
        if wide:
            lines.append(f"{label} {text}")
        else:
            parts = textwrap.wrap(str(text), width, break_long_words=True) or ["-"]
            lines.append(f"{label} {parts[0]}")
            lines.extend(" " * 11 + part for part in parts[1:])
    if with_input:
        lines.append("input:")
        lines.append(json.dumps(failure.get("input"), indent=2, ensure_ascii=False, default=str))
    return "\n".join(lines)


@commands.command()
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
