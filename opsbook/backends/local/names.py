"""The local backend's AWS-shaped names: ARNs in region "local", account 000000000000, and the
definition as deploy publishes it (Lambda ARNs substituted, one canonical text)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opsbook.config import Config
from opsbook.errors import ConfigError, UsageError
from opsbook.workflows.manifest import Workflow
from opsbook.workflows.templates import placeholders, substitute

REGION = "local"
ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:states:{REGION}:{ACCOUNT}"


def state_machine_arn(name: str) -> str:
    return f"{ARN_PREFIX}:stateMachine:{name}"


def execution_arn(state_machine: str, name: str) -> str:
    return f"{ARN_PREFIX}:execution:{state_machine}:{name}"


def function_arn(function: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"


def function_arns(workflow: Workflow, prefix: str = "opsbook") -> dict[str, str]:
    """`${<Task>FunctionArn}` -> the local Lambda ARN of that task's function."""
    return {t.placeholder: function_arn(t.function_name(prefix)) for t in workflow.tasks}


def render_definition(text: str, workflow: Workflow, prefix: str = "opsbook") -> str:
    """The definition with its ${...FunctionArn} placeholders replaced by local Lambda ARNs
    (DefinitionSubstitutions, as deploy does on AWS)."""
    if not placeholders(text):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return text  # validate() reports it
    try:
        rendered = substitute(data, function_arns(workflow, prefix), workflow.definition_file)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    return json.dumps(rendered, indent=2, ensure_ascii=False)


class LocalContext:
    """What an in-process call gets as the Lambda context."""

    def __init__(self, function_name: str, resources: Any):
        self.function_name = function_name
        self.invoked_function_arn = function_arn(function_name)
        self.resources = resources


def task_registry(
    workflow: Workflow, cfg: Config, resources: Any, clock: Any
) -> dict[str, Callable[[Any], Any]]:
    """The engine's task registry for a local run: each task's handler called in process as
    handler(event, resources), under its placeholder (`${CheckRecordsFunctionArn}`), the bare
    placeholder name, its AWS function name and its local ARN, so an unsubstituted or a
    substituted definition both resolve. The workflow's before_task hook runs first."""
    before = workflow.hook("before_task")
    tasks: dict[str, Callable[[Any], Any]] = {}
    for task in workflow.tasks:
        handler = workflow.resolve(task.handler)

        def call(payload: Any, _run=handler, _name=task.name) -> Any:
            if before is not None:
                before(_name, resources, clock, cfg)
            return _run(payload, resources)

        name = task.function_name(cfg.resource_prefix)
        for key in (f"${{{task.placeholder}}}", task.placeholder, name, function_arn(name)):
            tasks[key] = call
    return tasks


def canonical(definition: Any) -> str:
    """Definition text in one canonical form, so formatting changes don't publish a version."""
    data = json.loads(definition) if isinstance(definition, str) else definition
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
