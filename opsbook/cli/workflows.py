"""`opsbook workflows` (what exists) and `opsbook new` (scaffold one under definitions_dir)."""

from __future__ import annotations

import typer

from opsbook.cli.output import emit_json, table
from opsbook.cli.session import session

commands = typer.Typer()


@commands.command("workflows")
def workflows_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """List the workflows: name, partition scheme, schedule, state machine."""
    from opsbook.workflows.registry import all_workflows

    cfg = session(ctx).base_cfg()
    rows = []
    for flow in all_workflows(cfg).values():
        info = flow.to_dict()
        info["state_machine"] = cfg.for_workflow(flow).state_machine_name
        rows.append(info)
    if as_json:
        emit_json(rows)
        return
    shown = [
        {**r, "scheme": f"{r['scheme']} {r['timezone']}", "schedule": r["schedule"] or "-"}
        for r in rows
    ]
    typer.echo(table(shown, ["name", "scheme", "schedule", "state_machine", "folder"]))


@commands.command("new")
def new_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The workflow's name: [a-z][a-z0-9_]*."),
    partition: str = typer.Option(
        ..., "--partition", help="daily, weekly:<DAY> (e.g. weekly:THU) or monthly."
    ),
    tz: str = typer.Option("UTC", "--tz", help="The partitions' and schedule's time zone."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Scaffold a workflow under definitions_dir that runs green as created: a definition with
    one task, its handler, a schedule, a manifest and a test."""
    from opsbook.workflows.registry import SHIPPED_DIR
    from opsbook.workflows.scaffold import scaffold

    cfg = session(ctx).base_cfg()
    created = scaffold(cfg.definitions_dir, name, partition, tz)
    if (SHIPPED_DIR / name).is_dir():  # the user's folder wins on a name clash: say so
        typer.echo(
            f"note: {name} now replaces the workflow of that name shipped with opsbook", err=True
        )
    if as_json:
        emit_json({"workflow": name, "folder": str(created[0].parent), "files": created})
        return
    typer.echo(f"created workflow {name} in {created[0].parent}:")
    for path in created:
        typer.echo(f"  {path}")
    typer.echo(f"try: opsbook --workflow {name} start --partition <KEY>")
