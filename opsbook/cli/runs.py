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
from opsbook.cli.session import Session, fail, session
from opsbook.errors import OperationFailed, UsageError
from opsbook.operations.display import duration_text
from opsbook.operations.failures import cause_message
from opsbook.workflows.manifest import Workflow

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
    """Create the home (store, the workflow's tables); optionally with demo data. With several
    workflows and none chosen, the home is prepared for every one of them."""
    state = session(ctx)
    if not demo_data and end_week is None and _init_every_workflow(state):
        return
    if end_week is not None:
        end_week = state.workflow().partition(end_week).key
    backend = state.backend(create=True)
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


def _init_every_workflow(state: Session) -> bool:
    """`init` when several workflows exist and none is chosen: one home, each workflow's
    tables in it. False when one workflow is chosen (or there is only one)."""
    from opsbook.backends import connect
    from opsbook.workflows.registry import all_workflows

    cfg = state.base_cfg()
    found = all_workflows(cfg)
    if cfg.workflow or cfg.default_workflow or len(found) < 2:
        return False
    home = None
    for name in found:
        backend = connect(config=cfg, workflow=name, create=True, **state.options)
        try:
            initialise = getattr(backend, "init", None)
            if initialise is None:
                fail("init prepares a local home; this backend is set up by `opsbook deploy`")
            home = initialise()["home"]
        finally:
            backend.close()
    typer.echo(f"initialised {home} for {len(found)} workflows: {', '.join(found)}")
    return True


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
            f"{command} over {since}..{until} covers {weeks} partitions, more than max_partitions"
            f" ({cfg.max_partitions}); pass --yes to go ahead, or narrow --since/--until"
        )


def check_polling(backend, payload: dict) -> None:
    """Refuse polling settings that outlast the deployed definition's TimeoutSeconds (only for
    a workflow whose input carries poll settings)."""
    from opsbook.workflows.schedules import check_polling_fits

    if "poll_seconds" not in backend.workflow.input_fields.values():
        return

    try:
        definition = backend.definition()
    except Exception:  # noqa: BLE001 - not deployed or unreadable: the start reports that
        return
    check_polling_fits(definition, payload["poll_seconds"], payload["max_polls"])


def partition_key(state: Session, partition: str | None, week: str | None) -> str | None:
    """--partition KEY, or --week DATE on a weekly workflow (the weekly load's old option)."""
    flow = state.workflow()
    if week is not None:
        if flow.scheme.kind != "weekly":
            fail(
                f"--week applies to weekly workflows; {flow.name} is {flow.scheme.spec}: use --partition"
            )
        if partition is not None and partition != week:
            fail("give --partition or --week, not both")
        partition = week
    if partition is None:
        return None
    return flow.partition(partition).key


@commands.command()
def start(
    ctx: typer.Context,
    partition: str = typer.Option(
        None, "--partition", help="The partition key (a date, or YYYY-MM for monthly)."
    ),
    week: str = typer.Option(None, "--week", help="Weekly workflows: the week's run date."),
    name: str = typer.Option(None, "--name", help="Execution name (default <prefix>-<KEY>)."),
    poll_seconds: int = typer.Option(None, "--poll-seconds", help="Seconds between checks."),
    max_polls: int = typer.Option(None, "--max-polls", help="Checks before giving up."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the execution to end."),
    clock: str = typer.Option(
        None, "--clock", help="Local backend: virtual (default; waits take no time) or real."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Start the workflow for one partition (idempotent per execution name)."""
    from opsbook.operations.schedule import check_name, start_partition

    state = session(ctx)
    key = partition_key(state, partition, week)
    if key is None:
        fail("give the partition to run: --partition KEY (or --week DATE on weekly workflows)")
    flow = state.workflow()
    # Bad input fails before anything is opened or written.
    check_name(flow, name or flow.execution_name(key), key)
    flow.execution_input(key, poll_seconds=poll_seconds, max_polls=max_polls)
    options = {"clock": clock} if clock else {}
    backend = state.backend(**options)
    cfg = state.cfg()
    check_polling(
        backend,
        {
            "poll_seconds": cfg.poll_seconds if poll_seconds is None else poll_seconds,
            "max_polls": cfg.max_polls if max_polls is None else max_polls,
        },
    )
    execution, existing = start_partition(
        backend, key, name=name, poll_seconds=poll_seconds, max_polls=max_polls, wait=wait
    )
    head = header(backend, cfg)
    _report_start(execution, existing, key, flow.scheme.label, as_json, wait, head)


def _report_start(
    execution: Execution,
    existing: bool,
    key: str,
    label: str,
    as_json: bool,
    wait: bool,
    head: str,
) -> None:
    same = execution.partition == key
    ok_existing = existing and same and execution.status in ("RUNNING", "SUCCEEDED")
    if as_json:
        doc = execution.to_dict()
        doc["partition"] = execution.partition or key
        doc[label] = doc["partition"]
        doc["existing"] = existing
        emit_json(doc)
    else:
        typer.echo(head)  # which backend, which home
        if existing:
            typer.echo(
                f"execution {execution.name} already exists ({execution.status}, {label}"
                f" {execution.partition}); not started again"
            )
        row = execution_row(execution, label)
        typer.echo(table([row], list(row)))
    if existing and not ok_existing:
        hint = "use --name for a new execution, or `opsbook rerun`"
        raise OperationFailed(
            f"execution {execution.name} already exists and is {execution.status}"
            f"{'' if same else f' for {label} {execution.partition}'}; {hint}"
        )
    if wait and not existing and execution.status not in ("SUCCEEDED", "RUNNING"):
        raise OperationFailed(
            f"execution {execution.name} ended {execution.status}:"
            f" {cause_message(execution.cause) or execution.error}"
            f" (`opsbook history {execution.name} --failed` shows all of it)"
        )


@commands.command()
def executions(
    ctx: typer.Context,
    partition: str = typer.Option(None, "--partition", help="Only this partition."),
    week: str = typer.Option(None, "--week", help="Weekly workflows: only this week."),
    status: str = typer.Option(None, "--status", help="Only this status."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """List the workflow's executions, newest first."""
    state = session(ctx)
    wanted = partition_key(state, partition, week)
    wanted_status = normalize_status(status)  # any case; unknown: exit 2 listing the valid ones
    from opsbook.operations.history import History

    found = state.backend().list_executions(status=wanted_status)
    if wanted:  # the partition from the input, the schedule's fire time or the name
        found = [e for e in found if e.partition == wanted]
    # A listing may leave input, output, error and cause out (Backend.list_executions): JSON
    # shows them all; the table needs error and cause. Closed ones come from the disk cache.
    found = History(state.backend(), state.cfg()).complete(found, unsuccessful_only=not as_json)
    label = state.workflow().scheme.label
    if as_json:  # the partition also under the scheme's name (week, day, month)
        emit_json([{**e.to_dict(), label: e.partition} for e in found])
        return
    rows = [execution_row(e, label) for e in found]
    typer.echo(header(state.backend(), state.cfg()))
    typer.echo(table(rows, ["name", "status", label, "started", "duration", "redrives", "cause"]))


@commands.command()
def history(
    ctx: typer.Context,
    execution: str = typer.Argument(
        ..., help="Execution name or ARN, or a partition key: its latest execution."
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
    described = resolve_execution(backend, execution, state.workflow())
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
    label = state.workflow().scheme.label
    typer.echo(
        f"{described.name}  {described.status}  {label} {described.partition or '-'}"
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


def resolve_execution(backend, key: str, flow: Workflow) -> Execution:
    """An execution name or ARN, or a partition key of the workflow (a date, or YYYY-MM in a
    monthly one): that partition's latest execution."""
    import re

    if not re.fullmatch(r"\d{4}-\d{2}(?:-\d{2})?", key.strip()):
        return backend.describe(key)
    from opsbook.operations.history import group_by_partition, last_execution

    part = flow.partition(key.strip()).key  # one line, exit 2, for a key of another scheme
    latest = last_execution(group_by_partition(backend.list_executions()).get(part, []))
    if latest is None:
        label = flow.scheme.label
        raise UsageError(
            f"{label} {part} of {flow.name} has no execution; start it with"
            f" `opsbook --workflow {flow.name} start --partition {part}`"
        )
    return backend.describe(latest.arn)


def failure_block(failure: dict, *, wide: bool = False, with_input: bool = False) -> str:
    """The failure as labelled lines; the cause in full (wrapped on narrow terminals)."""
    import json
    import textwrap

    cause = failure.get("cause")
    message = cause_message(cause) or "-"
    width = max(40, terminal_width() - 11)
    stamp = when(failure.get("when"))
    if not wide and len(stamp) > width:  # both zones do not fit: one zone a line
        stamp = stamp.replace(" / ", "\n" + " " * 11)
    lines = [
        f"failed in: {failure.get('state') or '-'}",
        f"error:     {failure.get('error') or '-'}",
        f"when:      {stamp}",
    ]
    raw = with_input and isinstance(cause, str) and cause != message  # --failed: all of it
    for label, text in (("cause:    ", message),) + ((("raw cause:", cause),) if raw else ()):
        if wide:
            lines.append(f"{label} {text}")
        else:
            parts = textwrap.wrap(str(text), width, break_on_hyphens=False) or ["-"]
            lines.append(f"{label} {parts[0]}")
            lines.extend(" " * 11 + part for part in parts[1:])
    if with_input:
        lines.append("input:")
        lines.append(json.dumps(failure.get("input"), indent=2, ensure_ascii=False, default=str))
    return "\n".join(lines)


@commands.command()
def validate(
    ctx: typer.Context,
    file: Path = typer.Argument(  # noqa: B008
        None, help="A definition file (default: every workflow's definition and handlers)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Validate a definition file, or every workflow (only the one --workflow names, if
    given): its definition (ASL) and that every task's handler resolves; exit 2 when anything
    is invalid."""
    from opsbook.operations.validate import validate_file, validate_workflows

    if file is not None:
        reports = [validate_file(Path(file))]
    else:
        state = session(ctx)
        reports = validate_workflows(state.base_cfg())
    problems = [p for r in reports for p in r["problems"]]
    if as_json:
        doc = reports[0] if file is not None else {"workflows": reports}
        emit_json({**doc, "result": "FAIL" if problems else "OK"})
    else:
        for report in reports:
            for line in report["lines"]:  # the report goes to stdout, the error to stderr
                typer.echo(line)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"{problems[0]}{more}")
