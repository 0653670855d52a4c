"""`opsbook schedule` (next fire times) and `schedule run` (fire it over a range)."""

from __future__ import annotations

from datetime import UTC

import typer

from opsbook.cli.output import emit_json, table
from opsbook.cli.session import fail, session
from opsbook.operations.display import time_text

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
    """The next fire times in the schedule's own zone and in UTC, with the partition each
    loads."""
    if ctx.invoked_subcommand is not None:
        return
    from opsbook.workflows.schedules import next_fire_times

    flow = session(ctx).workflow()
    sched = flow.schedule()
    if sched is None:
        fail(f"workflow {flow.name} has no schedule ({flow.schedule_path})")
    label = flow.scheme.label
    times = next_fire_times(sched, next_)
    rows = [
        {
            "local": t.isoformat(),
            "utc": t.astimezone(UTC).isoformat(),
            label: flow.scheme.for_fire_time(t).key,
        }
        for t in times
    ]
    if as_json:
        emit_json(
            {
                "workflow": flow.name,
                "expression": sched.expression_text,
                "timezone": str(sched.timezone),
                "fire_times": rows,
            }
        )
        return
    typer.echo(f"{sched.expression_text} in {sched.timezone}")
    shown = [  # the one way opsbook shows a moment: UTC and the schedule's zone, labelled
        {"fires": time_text(t, sched.timezone), label: row[label]}
        for t, row in zip(times, rows, strict=True)
    ]
    typer.echo(table(shown, ["fires", label]))


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
    from opsbook.operations.schedule import fire_schedule

    state = session(ctx)
    flow = state.workflow()
    count = flow.scheme.count_between(since, until)  # validates both dates first
    check_range_size("schedule run", since, until, count, state.cfg(), yes)
    backend = state.backend()
    check_polling(
        backend, {"poll_seconds": state.cfg().poll_seconds, "max_polls": state.cfg().max_polls}
    )
    results = fire_schedule(backend, since, until, progress=not as_json)
    if as_json:
        emit_json(results)
        return
    label = flow.scheme.label
    typer.echo(table(results, [label, "name", "status", "polls", "duration", "cause"]))
