"""`opsbook validate`: a definition file, or every workflow (its definition, its schedule and
that every task's handler and every hook resolves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opsbook.backends.local.names import render_definition
from opsbook.config import Config
from opsbook.errors import OpsbookError
from opsbook.workflows.manifest import Workflow
from opsbook.workflows.registry import all_workflows, get_workflow


def _diagnostics(text: str) -> list[dict[str, Any]]:
    from opsbook.engine import validate

    return [
        {"code": d.code, "message": d.message, "location": d.location, "severity": d.severity}
        for d in validate(text)
    ]


def validate_file(path: Path) -> dict[str, Any]:
    """One definition file: {file, diagnostics, problems, lines}."""
    from opsbook.errors import UsageError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"definition file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read definition file {path}: {exc}") from None
    found = _diagnostics(text)
    lines = [_line(d) for d in found] or [f"{path}: OK"]
    problems = [f"{path} is invalid: {lines[0]}"] if found else []
    return {"file": str(path), "diagnostics": found, "problems": problems, "lines": lines}


def _line(d: dict[str, Any]) -> str:
    return f"{d['location']}: {d['code']}: {d['message']}"


def validate_workflow(workflow: Workflow, cfg: Config) -> dict[str, Any]:
    """One workflow: the definition as deploy renders it, the schedule, handlers and hooks."""
    problems: list[str] = []
    diagnostics: list[dict[str, Any]] = []
    try:
        text = render_definition(workflow.definition_text(), workflow, cfg.resource_prefix)
        diagnostics = _diagnostics(text)
    except OpsbookError as exc:
        problems.append(str(exc))
    for d in diagnostics:
        problems.append(f"{workflow.name}: {workflow.definition_path} is invalid: {_line(d)}")
    try:
        workflow.schedule()
    except OpsbookError as exc:
        problems.append(f"{workflow.name}: {workflow.schedule_path}: {exc}")
    targets = [(t.name, t.handler) for t in workflow.tasks]
    targets += [(f"hooks.{k}", v) for k, v in workflow.hooks.items()]
    for what, target in targets:
        try:
            workflow.resolve(target)
        except OpsbookError as exc:
            problems.append(f"{workflow.name}: {what}: {exc}")
    status = "FAIL" if problems else "OK"
    lines = [
        f"{workflow.name}: {status} ({workflow.definition_path.name}, {len(workflow.tasks)}"
        f" task handler(s), {workflow.scheme.describe()})",
        *(f"  {p}" for p in problems),
    ]
    return {
        "workflow": workflow.name,
        "file": str(workflow.definition_path),
        "result": status,
        "diagnostics": diagnostics,
        "problems": problems,
        "lines": lines,
    }


def validate_workflows(cfg: Config) -> list[dict[str, Any]]:
    """Every workflow's report; only the one named by `cfg.workflow` (--workflow,
    OPSBOOK_WORKFLOW) when one is named (an unknown name is a one-line UsageError)."""
    if cfg.workflow:
        flows = [get_workflow(cfg)]
    else:
        flows = list(all_workflows(cfg).values())
    return [validate_workflow(wf, cfg.for_workflow(wf)) for wf in flows]
