"""What every deploy step shares: names of settings, AWS's not-found codes, JSON and policy
normalising, and `${Name}` substitution in the definition and schedule files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from opsbook.backends.aws.backend import error_code
from opsbook.errors import ConfigError
from opsbook.lambda_build.targets import DEFAULT_RUNTIME

RUNTIME = DEFAULT_RUNTIME  # the config key lambda_runtime decides; this is its default
NOT_FOUND = frozenset(
    {
        "NoSuchEntity",
        "ResourceNotFoundException",
        "ResourceNotFound",
        "StateMachineDoesNotExist",
        "NoSuchBucket",
        "NoSuchKey",
        "404",
        "NotFound",
    }
)
# Lambda settings per handler: (timeout s, memory MB). Below the state machine's own timeouts
# (900 s for check/insert, 60 s for notify) so a slow Lambda fails as a Lambda error first.
FUNCTION_SETTINGS = {"check_records": (840, 1024), "notify": (50, 256), "insert_week": (840, 1024)}
PLACEHOLDER = re.compile(r"\$\{([A-Za-z][A-Za-z0-9]*)\}")
IAM_RETRY = (12, 5.0)  # attempts, seconds: a new role takes a few seconds to be assumable


def _missing(exc: ClientError) -> bool:
    return error_code(exc) in NOT_FOUND


def _policy(value: Any) -> Any:
    """IAM returns policy documents URL-encoded or parsed depending on the client; normalise."""
    if isinstance(value, str):
        from urllib.parse import unquote

        value = json.loads(unquote(value))
    return json.loads(json.dumps(value, sort_keys=True))


def _short(arn: str) -> str:
    """`name:1` or `name:live` for a state machine version or alias ARN, for the change table."""
    return arn.split(":stateMachine:", 1)[-1]


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def substitute(value: Any, table: dict[str, str], source: str) -> Any:
    """Replace `${Name}` placeholders inside every JSON string; unknown names are an error."""
    if isinstance(value, dict):
        return {k: substitute(v, table, source) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, table, source) for v in value]
    if isinstance(value, str):

        def one(match: re.Match) -> str:
            if match.group(1) not in table:
                known = ", ".join(sorted(table))
                raise ConfigError(
                    f"{source} uses unknown placeholder ${{{match.group(1)}}} (known: {known})"
                )
            return table[match.group(1)]

        return PLACEHOLDER.sub(one, value)
    return value


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist (definitions_dir={path.parent})") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
