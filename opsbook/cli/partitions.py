"""`opsbook partitions` (alias `weeks`), `rerun` and `report`: the status matrix of a
workflow's partitions, reruns and the report."""

from __future__ import annotations

import sys
from typing import Any

import typer

from opsbook.cli.output import emit_json, header, table
from opsbook.cli.session import fail, session
from opsbook.errors import OperationFailed, UsageError

commands = typer.Typer()


# --------------------------------------------------------------------------- partitions, rerun
# The status matrix and reruns of failed/missing partitions; the logic lives in
# opsbook.operations.history and opsbook.operations.backfill, these only parse, confirm, print.
# The first column is named by the scheme: week, day or month.
WEEK_TABLE = ["week", "status", "attempts", "execution", "polls", "duration", "cause"]
RERUN_TABLE = ["week", "status", "action", "execution", "reason"]


def _columns(columns: list[str], label: str) -> list[str]:
    return [label if c == "week" else c for c in columns]


def _range(
    ctx: typer.Context,
    since: str | None,
    until: str | None,
    command: str | None = None,
    yes: bool = False,
) -> tuple[str, str, str]:
    """--since/--until, defaulting to the last 12 partitions up to today, checked (exit 2);
    with the scheme's label (week, day or month). With `command`, a range over more than
    max_partitions partitions needs --yes (checked before any partition is listed)."""
    from opsbook.cli.runs import check_range_size
    from opsbook.operations import history as hist

    state = session(ctx)
    flow = state.workflow()
    first, last = hist.default_range(workflow=flow)
    if since is None and until is not None:
        first = hist.default_range(flow.scheme.bound(until, "--until"), workflow=flow)[0]
    since = since or first.isoformat()
    until = until or last.isoformat()
    if command is not None:
        count = flow.scheme.count_between(since, until)
        check_range_size(command, since, until, count, state.cfg(), yes)
    hist.scheduled_partitions(flow, since, until)  # one-line UsageError for a bad date or range
    return since, until, flow.scheme.label


def _say_failures_outside(backend, since: str, until: str, label: str, as_json: bool) -> None:
    """Tell when partitions before (or after) the range failed, so a default range hides none."""
    from opsbook.operations import history as hist

    outside = hist.failures_outside(
        backend.list_executions(), since, until, hist.workflow_of(backend)
    )
    if outside:
        typer.echo(
            f"note: {len(outside)} {label}(s) outside {since}..{until} failed:"
            f" {', '.join(outside)} (widen --since/--until to include them)",
            err=as_json,
        )


def week_rows(df) -> list[dict[str, Any]]:
    from opsbook.operations import history as hist

    rows = hist.records(df)
    for row in rows:
        row["duration"] = hist.human_duration(row.get("duration"))
        row["cause"] = row.get("cause") or row.get("error")
    return rows


def _print_frame(
    df,
    columns: list[str],
    rows: list[dict[str, Any]],
    as_json: bool,
    as_csv: bool,
    wide: bool = False,
) -> None:
    from opsbook.operations import history as hist

    if as_json:
        emit_json(hist.records(df))
    elif as_csv:
        typer.echo(df.to_csv(index=False), nl=False)
    else:
        typer.echo(table(rows, columns, wide=wide))


@commands.command("partitions")
def partitions_command(
    ctx: typer.Context,
    since: str = typer.Option(None, "--since", help="First day (default: 12 partitions back)."),
    until: str = typer.Option(
        None, "--until", help="Last day (YYYY-MM-DD, or YYYY-MM for monthly; default: today)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout."),
    wide: bool = typer.Option(False, "--wide", help="Never wrap long cells."),
) -> None:
    """One row per partition: status, attempts, last execution, polls, duration, cause.
    Without --since/--until: the last 12 partitions up to today."""
    from opsbook.operations import history as hist

    if as_json and as_csv:
        fail("give --json or --csv, not both")
    since, until, label = _range(ctx, since, until)
    state = session(ctx)
    backend = state.backend()
    df = hist.partitions(backend, since, until)
    if not (as_json or as_csv):
        typer.echo(header(backend, state.cfg()))
    _print_frame(df, _columns(WEEK_TABLE, label), week_rows(df), as_json, as_csv, wide)
    _say_failures_outside(backend, since, until, label, as_json or as_csv)


# `weeks`: the weekly load's name for the same command.
commands.command("weeks", help="The same as `partitions` (the weekly load's name for it).")(
    partitions_command
)


@commands.command("rerun")
def rerun_command(
    ctx: typer.Context,
    since: str = typer.Option(None, "--since", help="First day (default: 12 partitions back)."),
    until: str = typer.Option(
        None, "--until", help="Last day (YYYY-MM-DD, or YYYY-MM for monthly; default: today)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; start nothing."),
    max_concurrency: int = typer.Option(
        2, "--max-concurrency", min=1, max=50, help="Partitions rerun at once."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Don't ask for confirmation."),
    wide: bool = typer.Option(False, "--wide", help="Never wrap long cells."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Rerun FAILED, TIMED_OUT, ABORTED and MISSING partitions (redrive, else a new execution).

    A partition is redriven when AWS allows it, otherwise <prefix>-<KEY>-r<N> is started;
    partitions that succeeded, are running or are in the future are left alone. Safe to run
    twice. Without --since/--until: the last 12 partitions up to today."""
    from opsbook.cli.runs import check_polling
    from opsbook.operations import history as hist
    from opsbook.operations.backfill import SKIP, outcome, plan_rerun, rerun, summary_line

    since, until, label = _range(ctx, since, until, "rerun", yes or dry_run)
    state = session(ctx)
    backend = state.backend()
    cfg = state.cfg()
    check_polling(backend, {"poll_seconds": cfg.poll_seconds, "max_polls": cfg.max_polls})
    plan = plan_rerun(backend, since, until)
    acting = plan[plan["action"] != SKIP]
    if not as_json:
        typer.echo(header(backend, state.cfg()))
    if not dry_run and len(acting) and not yes:
        if not sys.stdin.isatty():
            fail(
                f"rerun would act on {len(acting)} {label}(s); use --yes to confirm (or --dry-run)"
            )
        typer.echo(table(hist.records(plan), _columns(RERUN_TABLE, label), wide=wide))
        if not typer.confirm(f"Rerun {len(acting)} {label}(s)?", default=False):
            fail("rerun cancelled; nothing was started", code=1)
    results = rerun(
        backend, plan, max_concurrency=max_concurrency, dry_run=dry_run,
        progress=not as_json and sys.stderr.isatty(),
    )  # fmt: skip
    if as_json:
        emit_json(hist.records(results))
    else:
        rows = week_rows(results)
        for row in rows:
            row["outcome"] = outcome(row)
        typer.echo(
            table(
                rows,
                [label, "action", "outcome", "attempts", "error", "reason"],
                wide=wide,
            )
        )
        typer.echo(summary_line(results, label))
    _say_failures_outside(backend, since, until, label, as_json)
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
        None, "--partition", help="The partition key; default: the latest one whose run is due."
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
    from opsbook.reporting.report import (
        missing_folders,
        prepare_report_folder,
        remove_folders,
        report_key,
        run_report,
    )

    state = session(ctx)
    flow = state.workflow()
    # A bad or future partition fails (exit 2) before any kernel starts or file is written.
    key = report_key(flow, partition_key(state, partition, week))
    created = missing_folders(out)
    prepare_report_folder(out)  # an unusable --out fails (exit 2) before anything is printed
    try:  # the kernel would open the home: a missing one fails here, not in a notebook cell
        state.require_home()
    except UsageError:
        remove_folders(created)  # nothing stays behind
        raise
    if not as_json:  # papermill's progress bar follows on stderr, cell by cell
        typer.echo(
            f"report for {flow.scheme.label} {key}: running the notebook with papermill", err=True
        )
    files = run_report(
        key, out, backend=state.backend_name, home=state.home, config=state.config,
        workflow=flow.name, lookback_weeks=lookback_weeks, progress=not as_json,
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
