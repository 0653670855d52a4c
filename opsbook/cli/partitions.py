"""`opsbook partitions` (alias `weeks`), `rerun` and `report`: the status matrix of a
workflow's partitions, reruns and the report."""

from __future__ import annotations

import sys
from typing import Any

import typer

from opsbook.cli.output import emit_json, table
from opsbook.cli.session import fail, session
from opsbook.errors import OperationFailed

commands = typer.Typer()


# --------------------------------------------------------------------------- partitions, rerun
# The status matrix and reruns of failed/missing partitions; the logic lives in
# opsbook.operations.history and opsbook.operations.backfill, these only parse, confirm, print.
# The first column is named by the scheme: week, day or month.
WEEK_TABLE = ["week", "status", "attempts", "execution", "polls", "duration", "cause"]
RERUN_TABLE = ["week", "status", "action", "execution", "reason"]


def _columns(columns: list[str], label: str) -> list[str]:
    return [label if c == "week" else c for c in columns]


def _check_range(ctx: typer.Context, since: str, until: str) -> str:
    """The scheme's label after checking the range (a one-line UsageError when bad)."""
    from opsbook.operations import history as hist

    flow = session(ctx).workflow()
    hist.scheduled_partitions(flow, since, until)
    return flow.scheme.label


def week_rows(df) -> list[dict[str, Any]]:
    from opsbook.operations import history as hist

    rows = hist.records(df)
    for row in rows:
        row["duration"] = hist.human_duration(row.get("duration"))
        row["cause"] = row.get("cause") or row.get("error")
    return rows


def _print_frame(
    df, columns: list[str], rows: list[dict[str, Any]], as_json: bool, as_csv: bool
) -> None:
    from opsbook.operations import history as hist

    if as_json:
        emit_json(hist.records(df))
    elif as_csv:
        typer.echo(df.to_csv(index=False), nl=False)
    else:
        typer.echo(table(rows, columns))


@commands.command("partitions")
def partitions_command(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="First day (YYYY-MM-DD)."),
    until: str = typer.Option(..., "--until", help="Last day (YYYY-MM-DD)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout."),
) -> None:
    """One row per partition: status, attempts, last execution, polls, duration, cause."""
    from opsbook.operations import history as hist

    if as_json and as_csv:
        fail("give --json or --csv, not both")
    label = _check_range(ctx, since, until)
    df = hist.partitions(session(ctx).backend(), since, until)
    _print_frame(df, _columns(WEEK_TABLE, label), week_rows(df), as_json, as_csv)


@commands.command("weeks")
def weeks_command(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="First day (YYYY-MM-DD)."),
    until: str = typer.Option(..., "--until", help="Last day (YYYY-MM-DD)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout."),
) -> None:
    """The same as `partitions` (the weekly load's name for it)."""
    partitions_command(ctx, since, until, as_json, as_csv)


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
    from opsbook.operations import history as hist
    from opsbook.operations.backfill import SKIP, plan_rerun, rerun

    label = _check_range(ctx, since, until)
    backend = session(ctx).backend()
    plan = plan_rerun(backend, since, until)
    acting = plan[plan["action"] != SKIP]
    if not dry_run and len(acting) and not yes:
        if not sys.stdin.isatty():
            fail(f"rerun would act on {len(acting)} week(s); use --yes to confirm (or --dry-run)")
        typer.echo(table(hist.records(plan), _columns(RERUN_TABLE, label)))
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
                [label, "action", "status", "attempts", "execution", "reason", "error"],
            )
        )
        verb = "would act on" if dry_run else "acted on"
        typer.echo(f"{verb} {len(acting)} of {len(plan)} {label}s")
    bad = results[(results["action"] != SKIP) & ~results["status"].isin(["SUCCEEDED", "RUNNING"])]
    if not dry_run and len(bad):
        weeks_list = ", ".join(f"{r[label]} {r['status']}" for _, r in bad.iterrows())
        raise OperationFailed(f"{len(bad)} rerun(s) did not succeed: {weeks_list}")


# --------------------------------------------------------------------------- report
# papermill runs the workflow's report notebook; opsbook.reporting.report does the work.
@commands.command("report")
def report_command(
    ctx: typer.Context,
    partition: str = typer.Option(
        None, "--partition", help="The partition key; default: the last completed partition."
    ),
    week: str = typer.Option(None, "--week", help="Weekly workflows: the week's run date."),
    out: str = typer.Option("reports", "--out", help="Folder for the .ipynb, .html and .json."),
    lookback_weeks: int = typer.Option(
        8, "--lookback-weeks", min=1, max=104, help="Weekly load: weeks of weekly_summary."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document: paths and figures."),
) -> None:
    """Write a partition's report: the executed notebook, HTML (no code), key figures (JSON)."""
    from opsbook.cli.runs import partition_key
    from opsbook.reporting.report import run_report

    state = session(ctx)
    flow = state.workflow()
    key = partition_key(state, partition, week)  # a bad key fails before any kernel starts
    files = run_report(
        key, out, backend=state.backend_name, home=state.home, config=state.config,
        workflow=flow.name, lookback_weeks=lookback_weeks,
        progress=not as_json and sys.stderr.isatty(),
    )  # fmt: skip
    paths = {"notebook": files.notebook, "html": files.html, "figures": files.figures}
    if as_json:
        emit_json({**paths, "data": files.data})
        return
    data = files.data
    label = flow.scheme.label
    if "rows_total" in data:  # the weekly load's report
        typer.echo(
            f"{label} {data[label]}: {data['status']},"
            f" {data['polls'] if data['polls'] is not None else '-'} polls,"
            f" {data['rows_total']} rows, {len(data['anomalies'])} anomalies"
        )
    else:
        typer.echo(f"{label} {data[label]}: {data['status']}, {data['attempts']} attempt(s)")
    for kind, path in paths.items():
        typer.echo(f"{kind}: {path}")
