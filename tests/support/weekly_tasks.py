"""The weekly load's task registry for tests that run its definition through the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opsbook.lambdas.resources import Resources
from opsbook.workflows.registry import shipped_workflow


def weekly_tasks(
    resources: Resources,
    *,
    wrap: Callable[[str, Callable[[Any], Any]], Callable[[Any], Any]] | None = None,
    prefix: str = "opsbook",
) -> dict[str, Callable[[Any], Any]]:
    """The weekly load's task registry from its manifest (as the local backend builds it, minus
    its demo hook), each task's handler called in process on `resources`, keyed by placeholder,
    bare placeholder name, handler module name and AWS function name. `wrap(module, fn)` lets
    a test add behaviour around a call (late rows, a flaky function)."""
    flow = shipped_workflow("weekly_load")
    tasks: dict[str, Callable[[Any], Any]] = {}
    for task in flow.tasks:
        handler = flow.resolve(task.handler)

        def call(payload: Any, _run=handler) -> Any:
            return _run(payload, resources)

        module = task.module.rsplit(".", 1)[-1]
        target = wrap(module, call) if wrap else call
        for key in (
            f"${{{task.placeholder}}}",
            task.placeholder,
            module,
            task.function_name(prefix),
        ):
            tasks[key] = target
    return tasks
