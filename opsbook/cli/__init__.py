"""The `opsbook` command line (typer).

The CLI talks only to `opsbook.backends.connect()` and the Backend API; it never asks which
backend it got. This module holds the app, its global options and the entry point (exit
codes, one-line errors); the commands live in one module per group, each a small function:
runs (init, deploy, teardown, start, executions, history, validate), schedule, demo,
partitions (partitions/weeks, rerun, report), workflows (workflows, new). Output helpers are
in output, the shared Session (global options, the chosen workflow) in session.

Exit codes: 0 success; 1 the operation ran and failed (e.g. an execution ended FAILED under
--wait); 2 bad input or configuration, one line on stderr, never a traceback
(OPSBOOK_DEBUG=1 shows tracebacks of unexpected errors).
"""

from __future__ import annotations

import contextvars
import os
import sys
import traceback

import typer

from opsbook.cli import demo as cli_demo
from opsbook.cli import package as cli_package
from opsbook.cli import partitions as cli_weeks
from opsbook.cli import runs as cli_runs
from opsbook.cli import testbench as cli_testbench
from opsbook.cli import workflows as cli_workflows
from opsbook.cli.demo import DEMO_HOME, DEMO_MARKER, prepare_demo_home
from opsbook.cli.output import emit_json, execution_row, table
from opsbook.cli.schedule import schedule_app
from opsbook.cli.session import Session, fail, session
from opsbook.errors import OpsbookError

try:  # typer >= 0.20 vendors click as typer._click
    from typer._click import exceptions as _click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as _click_exceptions  # type: ignore[no-redef]

# Usage errors (unknown option, missing or malformed value) -> one line, exit 2.
_CLICK_ERRORS = (_click_exceptions.ClickException,)
_EXITS = tuple({typer.Exit, getattr(_click_exceptions, "Exit", typer.Exit)})
_ABORTS = tuple({typer.Abort, getattr(_click_exceptions, "Abort", typer.Abort)})

__all__ = [
    "DEMO_HOME", "DEMO_MARKER", "Session", "app", "emit_json", "execution_row", "fail",
    "main", "prepare_demo_home", "run", "session", "table",
]  # fmt: skip

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Operate scheduled Step Functions workflows and their partitions, offline (local) or on AWS.",
)


def _show_version(value: bool) -> None:
    if value:
        from opsbook import __version__

        typer.echo(f"opsbook {__version__}")
        raise typer.Exit(0)


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
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_show_version, help="Show the version."
    ),
    workflow: str = typer.Option(
        None,
        "--workflow",
        envvar="OPSBOOK_WORKFLOW",
        help="The workflow to act on (default: default_workflow, or the only one).",
    ),
) -> None:
    ctx.obj = Session(
        backend_name=backend or None, home=home or None, config=config, workflow_name=workflow
    )
    ctx.call_on_close(ctx.obj.close)


# The commands live in one module per group (opsbook.cli.*); each adds its own to this app.
app.add_typer(cli_runs.commands)
app.add_typer(schedule_app, name="schedule")
app.add_typer(cli_demo.commands)
app.add_typer(cli_weeks.commands)
app.add_typer(cli_testbench.commands)
app.add_typer(cli_package.commands)
app.add_typer(cli_workflows.commands)


# --------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    """Console script: run the app, map errors to exit codes, never print a traceback
    (unless OPSBOOK_DEBUG=1)."""
    code = run(argv)
    sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    # A context of its own: what one command sets (the workflow's display zone) ends with it.
    return contextvars.copy_context().run(_run, argv)


def _run(argv: list[str] | None) -> int:
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
    from opsbook.masking import mask

    line = " ".join(str(message).split()) or "unknown error"
    # Never print the webhook's token, whatever the error quoted (opsbook.masking).
    webhook_env = os.environ.get("OPSBOOK_SLACK_WEBHOOK_ENV") or "SLACK_WEBHOOK_URL"
    line = mask(line, [os.environ.get(webhook_env)])
    typer.echo(f"error: {line}", err=True)
