"""check_records: count the rows for the week's last day (check_date).

Returns {"statusCode": 200, "return_value": n} or, on any failure, {"statusCode": 500,
"error": "<the query error or the missing template path>"}.

The weekly load sets two flags so that an execution fails at this Task (and a redrive re-runs
it): `fail_on_error` raises CheckRecordsFailed instead of answering 500, and `require_rows`
(the last allowed poll) raises PollingGaveUp when the count is 0. Lambda reports a raised
exception as error = the class name, cause = {"errorMessage", "errorType", "stackTrace"}.
"""

from __future__ import annotations

import logging
from typing import Any

from opsbook.lambdas.resources import (
    Resources,
    bound_params,
    describe_error,
    run_from_env,
    week_params,
)

TEMPLATE = "check_records.sql"
log = logging.getLogger("opsbook.definitions.weekly_load.check_records")


class CheckRecordsFailed(Exception):
    """The check query failed (fail_on_error)."""


class PollingGaveUp(Exception):
    """The last allowed poll still found no rows (require_rows)."""


def run(event: dict[str, Any], resources: Resources) -> dict[str, Any]:
    answer = _count(event, resources)
    flags = event if isinstance(event, dict) else {}
    if answer["statusCode"] != 200 and flags.get("fail_on_error") is True:
        raise CheckRecordsFailed(
            f"check_records failed for week {flags.get('week')} (check date"
            f" {flags.get('check_date')}): {answer['error']}"
        )
    if answer.get("return_value") == 0 and flags.get("require_rows") is True:
        raise PollingGaveUp(
            f"polling gave up after {flags.get('polls')} polls ({flags.get('poll_seconds')} s"
            f" apart): no rows for {flags.get('check_date')}, the last day of week"
            f" {flags.get('week')}"
        )
    return answer


def _count(event: dict[str, Any], resources: Resources) -> dict[str, Any]:
    try:
        params = week_params(event)
        sql = resources.read_template(TEMPLATE)
        with resources.warehouse() as wh:
            frame = wh.query(sql, bound_params(sql, params))
        return {"statusCode": 200, "return_value": _first_int(frame)}
    except Exception as exc:  # every failure becomes a 500 the definition can route on
        error = resources.redact(describe_error(exc))
        log.warning("check_records failed: %s", error)
        return {"statusCode": 500, "error": error}


def _first_int(frame: Any) -> int:
    """The count in the first cell; an empty result or NULL counts as 0. `frame` is a
    DataFrame (DuckDB offline) or a list of row tuples (BigQuery on Lambda)."""
    if frame is None:
        return 0
    if hasattr(frame, "iat"):
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            return 0
        value = frame.iat[0, 0]
    else:
        if not frame or not frame[0]:
            return 0
        value = frame[0][0]
    try:
        return 0 if value is None or value != value else int(value)  # NaN != NaN
    except (TypeError, ValueError):
        raise ValueError(f"check query returned {value!r}, not a count") from None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point."""
    return run_from_env(event, run, context)
