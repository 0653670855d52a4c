"""The test bench commands: test-state (AWS TestState), test (Step Functions Local mock
configuration files), replay and verify (recorded executions through the engine).

Every command exits 0 when it ran, whatever the tested state, case or replay found (the
result is in the output), and 2 on bad input: one line on stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from opsbook.cli.output import emit_json
from opsbook.cli.session import fail, session

commands = typer.Typer()


# --------------------------------------------------------------------------- input helpers
def _read_json_arg(value: str, what: str) -> Any:
    """Inline JSON text, or @FILE / a path to a JSON file."""
    text = value
    if value.startswith("@") or (
        not value.lstrip().startswith(("{", "[", '"')) and Path(value).is_file()
    ):
        path = Path(value[1:] if value.startswith("@") else value)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {what} {path}: {exc}")
    try:
        return json.loads(text)
    except ValueError as exc:
        fail(f"{what} is not valid JSON: {exc}")


def _definition(value: str) -> Any:
    if not value.lstrip().startswith("{"):
        path = Path(value)
        if not path.is_file():
            fail(f"definition file {path} does not exist")
    data = _read_json_arg(value, "definition")
    if not isinstance(data, dict):
        fail("the definition must be a JSON object")
    return data


def _handlers(specs: list[str], workflow: bool, ctx: typer.Context) -> dict[str, Any]:
    """Task handlers: RESOURCE=module:function entries, plus the workflow's own Lambda
    task handlers from its manifest (on this home's warehouse and outbox) with
    --workflow-handlers."""
    tasks: dict[str, Any] = {}
    if workflow:
        backend = session(ctx).backend()
        task_handlers = getattr(backend, "task_handlers", None)
        if not callable(task_handlers):
            fail("--workflow-handlers runs the handlers in process: use the local backend")
        else:
            tasks.update(task_handlers())
    if specs and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # handlers in the user's project, as `python -m` sees it
    for spec in specs:
        resource, sep, target = spec.rpartition("=")
        module, colon, attr = target.partition(":")
        if not sep or not resource or not colon or not module or not attr:
            fail(f"--handler {spec!r}: expected RESOURCE=module:function")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            fail(f"--handler {spec!r}: cannot import {target}: {exc}")
        if not callable(fn):
            fail(f"--handler {spec!r}: {target} is not callable")
        tasks[resource] = fn
    return tasks


# --------------------------------------------------------------------------- test-state
@commands.command("test-state")
def test_state_command(
    definition: str = typer.Argument(..., help="State or state machine: a JSON file or text."),
    state_name: str = typer.Option(None, "--state-name", help="The state to test (machines)."),
    input: str = typer.Option(None, "--input", help="State input: JSON text or @FILE."),
    mock: str = typer.Option(
        None, "--mock", help='{"result": "<json text>"} or {"errorOutput": {...}}.'
    ),
    inspection_level: str = typer.Option("INFO", "--inspection-level", help="INFO|DEBUG|TRACE."),
    state_configuration: str = typer.Option(
        None, "--state-configuration", help='e.g. {"retrierRetryCount": 1}.'
    ),
    variables: str = typer.Option(None, "--variables", help="Variables: JSON object."),
    context: str = typer.Option(None, "--context", help="Context object overrides: JSON."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Run one state once, like AWS's TestState API."""
    from opsbook.engine import DefinitionError, test_state
    from opsbook.engine.teststate import TestStateError

    spec = _definition(definition)
    kwargs: dict[str, Any] = {
        "state_name": state_name,
        "inspection_level": inspection_level,
        "input": None if input is None else _read_json_arg(input, "--input"),
        "mock": None if mock is None else _read_json_arg(mock, "--mock"),
        "state_configuration": None
        if state_configuration is None
        else _read_json_arg(state_configuration, "--state-configuration"),
        "variables": None if variables is None else _read_json_arg(variables, "--variables"),
        "context": None if context is None else _read_json_arg(context, "--context"),
    }
    try:
        result = test_state(spec, **kwargs)
    except (TestStateError, DefinitionError, TypeError) as exc:
        fail(str(exc))
    if as_json:
        emit_json(result)
        return
    typer.echo(f"status: {result['status']}")
    for key in ("nextState", "error", "cause"):
        if result.get(key) is not None:
            typer.echo(f"{key}: {result[key]}")
    if result["status"] in ("SUCCEEDED", "CAUGHT_ERROR"):
        typer.echo(f"output: {json.dumps(result['output'], ensure_ascii=False)}")
    for key, value in (result.get("inspectionData") or {}).items():
        typer.echo(f"  {key}: {value if isinstance(value, str) else json.dumps(value)}")


# --------------------------------------------------------------------------- test (mock files)
@commands.command("test")
def test_command(
    ctx: typer.Context,
    definition: str = typer.Argument(..., help="State machine definition: a JSON file."),
    mock_config: Path = typer.Option(  # noqa: B008
        ..., "--mock-config", help="Step Functions Local mock configuration file."
    ),
    state_machine: str = typer.Option(
        None,
        "--state-machine",
        help="State machine in the file (default: the only one, or the one named like DEFINITION).",
    ),
    case: str = typer.Option(None, "--case", help="Run only this test case."),
    input: str = typer.Option(None, "--input", help="Execution input: JSON text or @FILE."),
    handler: list[str] = typer.Option(  # noqa: B008
        [], "--handler", help="RESOURCE=module:function for unmocked Task states (repeatable)."
    ),
    workflow_handlers: bool = typer.Option(
        False,
        "--workflow-handlers",
        help="Unmocked states call the chosen workflow's own task handlers.",
    ),
    as_json: bool = typer.Option(False, "--json", help="A JSON list, one object per case."),
) -> None:
    """Run the test cases of a mock configuration file against a definition."""
    from opsbook.engine import DefinitionError, compile_definition
    from opsbook.engine.mockconfig import MockConfigError, load_mock_config, run_mock_cases

    spec = _definition(definition)
    try:
        machine = compile_definition(spec)
    except DefinitionError as exc:
        fail(f"{definition}: invalid definition: {exc}")
    try:
        config = load_mock_config(mock_config)
    except MockConfigError as exc:
        fail(str(exc))
    if state_machine is None and len(config.state_machines) > 1:
        # several machines in one file: the one named like the definition file, if any
        stem = Path(definition).name.split(".")[0]
        if stem in config.state_machines:
            state_machine = stem
    value = None if input is None else _read_json_arg(input, "--input")
    tasks = _handlers(handler, workflow_handlers, ctx)
    try:
        results = run_mock_cases(
            machine, config, state_machine=state_machine, case=case, input=value, tasks=tasks
        )
    except MockConfigError as exc:
        fail(str(exc))
    except TypeError as exc:  # execution input that is not JSON
        fail(str(exc))
    if as_json:
        emit_json([r.to_dict() for r in results])
        return
    for r in results:
        typer.echo(f"{r.case}: {r.status}")
        typer.echo(f"  path:  {' > '.join(r.path) or '-'}")
        typer.echo(f"  error: {r.error or '-'}")
        typer.echo(f"  cause: {r.cause or '-'}")


# --------------------------------------------------------------------------- replay / verify
@commands.command("replay")
def replay_command(
    ctx: typer.Context,
    execution: str = typer.Argument(..., help="Execution name or ARN."),
    definition: Path = typer.Option(  # noqa: B008
        None, "--definition", help="Replay through this definition instead of the deployed one."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Replay a recorded execution through the engine; report the first divergence."""
    from opsbook.operations.fidelity import load_definition, replay_execution

    chosen = None if definition is None else load_definition(definition)
    report = replay_execution(session(ctx).backend(), execution, chosen)
    if as_json:
        emit_json(report.to_dict())
        return
    if report.match:
        typer.echo(f"{report.execution}: match (replayed {report.replayed_status})")
        return
    d = report.divergence or {}
    typer.echo(f"{report.execution}: diverges at event {d.get('event_id')}")
    typer.echo(f"  {d.get('why')}")
    typer.echo(f"  recorded {report.status}, replayed {report.replayed_status}")


@commands.command("verify")
def verify_command(
    ctx: typer.Context,
    since: str = typer.Option(..., "--since", help="First start day (YYYY-MM-DD)."),
    until: str = typer.Option(..., "--until", help="Last start day (YYYY-MM-DD), inclusive."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document."),
) -> None:
    """Replay every closed execution started in the range; count those that match."""
    from opsbook.operations.fidelity import verify

    report = verify(session(ctx).backend(), since, until, progress=not as_json)
    if as_json:
        emit_json(report.to_dict())
        return
    for r in report.results:
        where = "" if r.match else f"  event {(r.divergence or {}).get('event_id')}"
        typer.echo(f"{r.execution:30} {r.status:10} {'match' if r.match else 'DIVERGES'}{where}")
    total = len(report.results)
    typer.echo(f"{report.matched} of {total} executions match event for event")
    if report.skipped:
        typer.echo(f"not replayed (still running): {', '.join(report.skipped)}")
