"""`opsbook validate`: a definition file, or every workflow (its definition, its schedule and
that every task's handler and every hook resolves)."""

from __future__ import annotations

from datetime import date, timedelta
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
    warnings = [] if problems else schedule_warnings(workflow)
    status = "FAIL" if problems else "OK"
    lines = [
        f"{workflow.name}: {status} ({workflow.definition_path.name}, {len(workflow.tasks)}"
        f" task handler(s), {workflow.scheme.describe()})",
        *(f"  {p}" for p in problems),
        *(f"  warning: {w}" for w in warnings),
    ]
    return {
        "workflow": workflow.name,
        "file": str(workflow.definition_path),
        "result": status,
        "diagnostics": diagnostics,
        "problems": problems,
        "warnings": warnings,
        "lines": lines,
    }


def schedule_warnings(workflow: Workflow, today: date | None = None) -> list[str]:
    """Partitions of the coming year that the schedule never loads (a warning, not an error:
    `rerun` can still run them), e.g. a cron time inside the zone's spring-forward gap."""
    start = today or date.today()
    try:
        missed = workflow.unscheduled(start, start + timedelta(days=366))
    except OpsbookError:
        return []
    if not missed:
        return []
    label = workflow.scheme.label
    return [
        f"no scheduled run loads {label} {', '.join(missed[:3])}"
        f"{f' (+{len(missed) - 3} more)' if len(missed) > 3 else ''} in the coming year: the"
        f" next fire time loads a later {label} (a time a clock change skips in"
        f" {workflow.scheme.timezone.key}, or a schedule that leaves {label}s out)"
    ]


def validate_workflows(cfg: Config) -> list[dict[str, Any]]:
    """Every workflow's report; only the one named by `cfg.workflow` (--workflow,
    OPSBOOK_WORKFLOW) when one is named (an unknown name is a one-line UsageError)."""
    if cfg.workflow:
        flows = [get_workflow(cfg)]
    else:
        flows = list(all_workflows(cfg).values())
    return [validate_workflow(wf, cfg.for_workflow(wf)) for wf in flows]
