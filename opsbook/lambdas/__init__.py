"""The three Lambda functions of the weekly load, shared by the AWS and the local backends.

The definition (definitions/weekly_load.asl.json) names each function by a placeholder in
Step Functions DefinitionSubstitutions style, e.g. "${CheckRecordsFunctionArn}". On AWS the
deployer substitutes the function ARNs; locally `local_tasks()` maps the same placeholders to
the Python functions for the engine's task registry. FUNCTIONS is the one table both use:

    placeholder               module          AWS handler
    CheckRecordsFunctionArn   check_records   opsbook.lambdas.check_records.handler
    NotifyFunctionArn         notify          opsbook.lambdas.notify.handler
    InsertWeekFunctionArn     insert_week     opsbook.lambdas.insert_week.handler

Each handler is `handler(event, context)`, a thin shell that builds Resources from the
environment and calls `run(event, resources)`, which tests and the local backend call directly.

One more function is no task of the definition: start_partition, the schedule's target on
AWS, which starts the alias under the partition's execution name (its handler reads its own
environment and calls `start(event, sfn, alias_arn, scheme)`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from opsbook.lambdas import check_records, insert_week, notify
from opsbook.lambdas.resources import Resources
from opsbook.workflows.templates import placeholders, substitute


class LambdaFunction(NamedTuple):
    module: str  # "check_records"
    handler: Callable[[Any, Any], Any]  # handler(event, context), deployed unchanged
    run: Callable[[Any, Resources], Any]  # run(event, resources), the testable core
    handler_path: str  # what the Lambda's Handler setting names

    def function_name(self, prefix: str = "opsbook") -> str:
        """The AWS function name deploy gives it, e.g. "opsbook-check-records"."""
        return f"{prefix}-{self.module.replace('_', '-')}"


FUNCTIONS: dict[str, LambdaFunction] = {
    "CheckRecordsFunctionArn": LambdaFunction(
        "check_records",
        check_records.handler,
        check_records.run,
        "opsbook.lambdas.check_records.handler",
    ),
    "NotifyFunctionArn": LambdaFunction(
        "notify", notify.handler, notify.run, "opsbook.lambdas.notify.handler"
    ),
    "InsertWeekFunctionArn": LambdaFunction(
        "insert_week", insert_week.handler, insert_week.run, "opsbook.lambdas.insert_week.handler"
    ),
}


def local_tasks(
    resources: Resources,
    *,
    prefix: str = "opsbook",
    wrap: Callable[[str, Callable[[Any], Any]], Callable[[Any], Any]] | None = None,
) -> dict[str, Callable[[Any], Any]]:
    """The engine's task registry for a local run: each function under its placeholder
    ("${CheckRecordsFunctionArn}"), its bare placeholder name, its module name and its AWS
    function name, so an unsubstituted or a substituted definition both resolve.

    `wrap(module, fn)` lets the caller add behaviour around a call (e.g. releasing late rows
    before a check)."""
    tasks: dict[str, Callable[[Any], Any]] = {}
    for placeholder, fn in FUNCTIONS.items():

        def call(payload: Any, _run=fn.run) -> Any:
            return _run(payload, resources)

        target = wrap(fn.module, call) if wrap else call
        for key in (f"${{{placeholder}}}", placeholder, fn.module, fn.function_name(prefix)):
            tasks[key] = target
    return tasks


__all__ = ["FUNCTIONS", "LambdaFunction", "Resources", "local_tasks", "placeholders", "substitute"]
