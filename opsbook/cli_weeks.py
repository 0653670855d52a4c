"""`opsbook weeks`, `rerun` and `report`: the weekly status matrix, reruns and the report."""

from __future__ import annotations

import sys
from typing import Any

import typer

from opsbook.cli_output import emit_json, table
from opsbook.cli_session import fail, session
from opsbook.errors import OperationFailed

commands = typer.Typer()


# --------------------------------------------------------------------------- weeks and rerun
# (history engineer) The weekly status matrix and reruns of failed/missing weeks; the logic
# lives in opsbook.history and opsbook.backfill, these only parse, confirm and print.
WEEK_TABLE = ["week", "status", "attempts", "execution", "polls", "duration", "cause"]
RERUN_TABLE = ["week", "status", "action", "execution", "reason"]


def _check_range(since: str, until: str) -> None:
    from opsbook import history as hist

    hist.scheduled_weeks(since, until)  # one-line UsageError for a bad date or range


def week_rows(df) -> list[dict[str, Any]]:
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


@commands.command("weeks")
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
    _print_frame(df, WEEK_TABLE, week_rows(df), as_json, as_csv)


@commands.command("rerun")
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
    from opsbook.cli_runs import check_polling, check_range_size
    from opsbook.history import scheduled_weeks

    _check_range(since, until)
    state = session(ctx)
    weeks = len(scheduled_weeks(since, until))
    check_range_size("rerun", since, until, weeks, state.cfg(), yes or dry_run)
    backend = state.backend()
    cfg = state.cfg()
    check_polling(backend, {"poll_seconds": cfg.poll_seconds, "max_polls": cfg.max_polls})
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
                week_rows(results),
                ["week", "action", "status", "attempts", "execution", "reason", "error"],
            )
        )
        verb = "would act on" if dry_run else "acted on"
        typer.echo(f"{verb} {len(acting)} of {len(plan)} weeks")
    bad = results[(results["action"] != SKIP) & ~results["status"].isin(["SUCCEEDED", "RUNNING"])]
    if not dry_run and len(bad):
        weeks_list = ", ".join(f"{r.week} {r.status}" for r in bad.itertuples())
        raise OperationFailed(f"{len(bad)} rerun(s) did not succeed: {weeks_list}")


# --------------------------------------------------------------------------- report
# (notebooks engineer) papermill runs notebooks/weekly_report.ipynb; opsbook.report does the work.
@commands.command("report")
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
