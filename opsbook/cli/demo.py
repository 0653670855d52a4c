"""`opsbook demo`: a fresh demo home, the schedule fired over it, then weeks, rerun and report."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import typer

from opsbook.cli.output import event_state, table
from opsbook.cli.partitions import WEEK_TABLE, week_rows
from opsbook.cli.session import Session, fail, session
from opsbook.operations.display import time_text

DEMO_WORKFLOW = "weekly_load"  # the shipped workflow with demo data
DEMO_HOME = ".opsbook-demo"
DEMO_MARKER = ".opsbook-demo"

commands = typer.Typer()


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


def _short_history(events: list[dict[str, Any]], zone: Any) -> list[dict[str, Any]]:
    rows = []
    for e in events:
        kind = e["type"]
        entered = kind in _SHORT_STATES
        if not (entered or kind.startswith("Execution")):
            continue
        rows.append(
            {
                "time": time_text(e["timestamp"], zone),  # UTC and the schedule's zone
                "event": kind,
                "state": event_state(e) if entered else "",
            }
        )
    return rows


@commands.command()
def demo(
    ctx: typer.Context,
    weeks: int = typer.Option(12, "--weeks", min=1, max=104, help="Weeks of demo data."),
    # Seed 16's story over 12 weeks: two weeks poll, two miss the window. One of those closed
    # more than 14 days ago (the rerun starts it anew), the other is the week before the newest
    # (inside redrive's 14 days: the rerun redrives it where it failed).
    seed: int = typer.Option(16, "--seed", help="Seed for the demo data."),
) -> None:
    """A fresh demo home: 12 weeks of late-arriving data, deploy, fire the schedule, results."""
    from datetime import timedelta

    from opsbook.operations.schedule import fire_schedule

    state = session(ctx)
    home = _demo_home(state)
    state.home = str(home)
    state.workflow_name = state.workflow_name or DEMO_WORKFLOW
    cfg = state.cfg()  # validates config before the home is touched
    flow = state.workflow()
    if cfg.backend != "local":
        fail("opsbook demo runs on the local backend; drop --backend aws")
    prepare_demo_home(home)
    backend = state.backend(create=True)
    end = flow.scheme.last_completed().day
    first = end - timedelta(days=7 * (weeks - 1))
    typer.echo(f"demo home: {home.resolve()}")
    initialise = getattr(backend, "init")  # noqa: B009 - the local backend's, not the protocol's
    info = initialise(demo_data=True, weeks=weeks, seed=seed, end_week=end.isoformat())
    typer.echo(
        f"1. synthetic events for {weeks} weeks ({first} .. {end}): {info['demo_rows']} rows;"
        f" each day lands 05:00-10:00 Tokyo the next morning, a few land too late"
    )
    result = backend.deploy()
    typer.echo(f"2. deployed {result.version_arn}")
    sched = flow.schedule()
    where = f"{sched.expression_text} in {sched.timezone}" if sched else "no schedule"
    typer.echo(f"3. firing the schedule ({where}) for {weeks} weeks:")
    results = fire_schedule(backend, first.isoformat(), end.isoformat())
    typer.echo(table(results, ["week", "status", "polls", "duration", "cause"]))
    ok = sum(r["status"] == "SUCCEEDED" for r in results)
    typer.echo(f"{ok} of {len(results)} weeks loaded; {len(results) - ok} failed")
    polled = [r for r in results if r["status"] == "SUCCEEDED" and r["polls"] > 0]
    if polled:
        pick = polled[0]
        typer.echo(
            f"\n4. history of week {pick['week']} (waited {pick['polls']} times for its data):"
        )
        rows = _short_history(backend.history(pick["arn"]), flow.scheme.timezone)
        typer.echo(table(rows, ["time", "event", "state"]))
    demo_rerun(backend, first, end)  # steps 5-7 (history engineer): weeks table, rerun, after
    demo_report(state, home, end)  # step 8 (notebooks engineer): the weekly report
    from opsbook.workflows.registry import all_workflows

    # Beside other workflows (./definitions), the hint names the one the demo ran.
    chosen = "" if len(all_workflows(state.base_cfg())) == 1 else f" --workflow {flow.name}"
    typer.echo(
        f"\nexplore: opsbook --home {home}{chosen} executions | history <name> | start --week {end}"
    )


def demo_rerun(backend, first, end) -> None:
    """Demo steps 5-7: the weeks table, a rerun of the failed weeks (their late data has
    arrived by now), and the weeks table after."""
    from opsbook.operations import history as hist
    from opsbook.operations.backfill import SKIP, plan_rerun, rerun

    typer.echo("\n5. the weeks table (opsbook weeks):")
    typer.echo(table(week_rows(hist.weeks(backend, first, end)), WEEK_TABLE))
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
    typer.echo(table(week_rows(hist.weeks(backend, first, end)), WEEK_TABLE))


def demo_report(state: Session, home: Path, end: date) -> None:
    """Demo step 8: the weekly report of the last demo week, written into the demo home."""
    from opsbook.reporting.report import latest_due_week, run_report

    end = min(end, latest_due_week())  # on a Thursday before 09:30 Tokyo, its run is not due
    typer.echo(f"\n8. the weekly report for week {end} (opsbook report):")
    files = run_report(
        end, home / "reports", backend=state.backend_name, home=str(home), config=state.config,
        workflow=state.workflow_name, progress=sys.stderr.isatty(),
    )  # fmt: skip
    typer.echo(f"report: {files.html.resolve()}")
