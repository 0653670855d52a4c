"""`opsbook schedule` (next fire times) and `schedule run` (fire it over a range)."""

from __future__ import annotations

import sys
from datetime import UTC
from pathlib import Path

import typer

from opsbook.cli.output import duration, emit_json, polls, table
from opsbook.cli.runs import input_for_week
from opsbook.cli.session import session
from opsbook.errors import ExecutionAlreadyExists

schedule_app = typer.Typer(
    invoke_without_command=True,
    help="Show the schedule's next fire times, or fire it over a range (`schedule run`).",
)


@schedule_app.callback()
def schedule(
    ctx: typer.Context,
    next_: int = typer.Option(10, "--next", min=0, max=10000, help="How many fire times."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """The next fire times in Tokyo time and UTC."""
    if ctx.invoked_subcommand is not None:
        return
    from opsbook.workflows.schedules import load_schedule, next_fire_times, week_for_fire_time

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

    from opsbook.workflows.schedules import fire_times_between, load_schedule, week_for_fire_time

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
        payload = input_for_week(cfg, week, None, None)
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
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Go ahead over more weeks than max_partitions."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Fire every scheduled time in the range (virtual clock at each fire time)."""
    from opsbook.cli.runs import check_polling, check_range_size
    from opsbook.workflows.schedules import weeks_between

    weeks = weeks_between(since, until)  # validates both dates before anything is written
    state = session(ctx)
    check_range_size("schedule run", since, until, len(weeks), state.cfg(), yes)
    backend = state.backend()
    check_polling(
        backend, {"poll_seconds": state.cfg().poll_seconds, "max_polls": state.cfg().max_polls}
    )
    results = fire_schedule(backend, state.cfg(), since, until, progress=not as_json)
    if as_json:
        emit_json(results)
        return
    typer.echo(table(results, ["week", "name", "status", "polls", "duration", "cause"]))
