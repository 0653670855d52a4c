"""AWS Step Functions quotas the engine enforces, with AWS's errors and causes.

Sources: the Step Functions developer guide, "Step Functions service quotas" (payload 256 KiB,
history 25,000 events) and "Avoid reaching the history quota" (bp-history-limit); the
StartExecution API reference (name rules, InvalidName).
"""

from __future__ import annotations

import re

from .errors import InvalidRequest, StatesError

# "The maximum input or result data size for a task, state, or execution": 262,144 bytes of
# UTF-8 JSON text.
PAYLOAD_LIMIT = 262_144
# "Maximum number of events in execution history": event 25,000 may only be ExecutionSucceeded
# (or the event that closes the execution); anything else fails the execution.
HISTORY_LIMIT = 25_000
HISTORY_LIMIT_ERROR = "States.Runtime"  # AWS does not document the error name; this is a guess
HISTORY_LIMIT_CAUSE = "The execution reached the maximum number of history events (25000)."
# StartExecution: 1-80 characters, no whitespace, brackets, wildcards, control characters or
# " # % \ ^ | ~ ` $ & , ; : /
_BAD_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def payload_too_large(text: str) -> bool:
    """True when JSON text is over 256 KiB in UTF-8 (encoded only when it may be)."""
    if len(text) * 4 <= PAYLOAD_LIMIT:  # UTF-8 takes at most 4 bytes a character
        return False
    return len(text) > PAYLOAD_LIMIT or len(text.encode("utf-8")) > PAYLOAD_LIMIT


def data_limit_error(who: str) -> StatesError:
    """AWS's error for a result over the payload quota; `who` is the state's name or, for a
    service integration's result, its resource type ('lambda'), as AWS names them."""
    return StatesError(
        "States.DataLimitExceeded",
        f"The state/task '{who}' returned a result with a size exceeding the maximum number of "
        "bytes service limit.",
    )


def check_execution_name(name: str) -> None:
    """StartExecution's name rules; a bad name is AWS's InvalidName error. AWS's message for
    it is not documented; this one names the rule that failed."""
    if not isinstance(name, str) or not 1 <= len(name) <= 80:
        raise InvalidRequest("InvalidName", f"Invalid Name: '{name}' (1 to 80 characters)")
    bad = _BAD_NAME.search(name)
    if bad:
        raise InvalidRequest(
            "InvalidName", f"Invalid Name: '{name}' (it may not contain {bad.group()!r})"
        )


def check_execution_input(text: str) -> None:
    """StartExecution's input is at most 256 KiB (a length constraint of the API, so AWS
    answers with its usual ValidationException text)."""
    if payload_too_large(text):
        raise InvalidRequest(
            "ValidationException",
            "1 validation error detected: Value at 'input' failed to satisfy constraint: "
            f"Member must have length less than or equal to {PAYLOAD_LIMIT}",
        )
