"""insert_week: replace the week's rows in the weekly summary, in one transaction.

The template (insert_week.sql) is idempotent per week (DELETE + INSERT, or MERGE) and runs as
one transaction, so a failure midway leaves the week's rows as they were. Returns
{"statusCode": 200, "rows": n} or {"statusCode": 500, "error": "..."}; with `fail_on_error`
(as the weekly load calls it) a failure raises InsertWeekFailed instead, so the execution fails
at this Task and a redrive re-runs the insert.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from opsbook.lambdas.resources import (
    Resources,
    bound_params,
    describe_error,
    run_from_env,
    week_params,
)

TEMPLATE = "insert_week.sql"
log = logging.getLogger("opsbook.definitions.weekly_load.insert_week")
_TX = re.compile(r"^\s*(BEGIN(\s+TRANSACTION)?|COMMIT(\s+TRANSACTION)?)\s*;?\s*$", re.I)


class InsertWeekFailed(Exception):
    """The insert failed and was rolled back (fail_on_error)."""


def run(event: dict[str, Any], resources: Resources) -> dict[str, Any]:
    answer = _insert(event, resources)
    if (
        answer["statusCode"] != 200
        and isinstance(event, dict)
        and event.get("fail_on_error") is True
    ):
        raise InsertWeekFailed(
            f"insert_week failed for week {event.get('week')}: {answer['error']}"
        )
    return answer


def _insert(event: dict[str, Any], resources: Resources) -> dict[str, Any]:
    try:
        from opsbook.warehouse.rules import split_statements  # inside the try: a 500, not a crash

        params = week_params(event)
        sql = resources.read_template(TEMPLATE)
        # The warehouse wraps the statements in its own transaction.
        statements = [s for s in split_statements(sql) if not _TX.match(s)]
        if not statements:
            raise ValueError(
                f"SQL template {resources.objects.location(resources.template_key(TEMPLATE))} is empty"
            )
        with resources.warehouse() as wh:
            rows = wh.script(statements, bound_params(sql, params))
        return {"statusCode": 200, "rows": int(rows)}
    except Exception as exc:
        error = resources.redact(describe_error(exc))
        log.warning("insert_week failed: %s", error)
        return {"statusCode": 500, "error": error}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point."""
    return run_from_env(event, run, context)
