"""What every deploy step shares: names of settings, AWS's not-found codes, JSON and policy
normalising; `${Name}` substitution is opsbook.workflows.templates' (re-exported)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from opsbook.backends.aws.errors import error_code
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
IAM_RETRY = (12, 5.0)  # attempts, seconds: a new role takes a few seconds to be assumable


def missing(exc: ClientError) -> bool:
    return error_code(exc) in NOT_FOUND


def normalise_policy(value: Any) -> Any:
    """IAM returns policy documents URL-encoded or parsed depending on the client; normalise."""
    if isinstance(value, str):
        from urllib.parse import unquote

        value = json.loads(unquote(value))
    return json.loads(json.dumps(value, sort_keys=True))


def short_arn(arn: str) -> str:
    """`name:1` or `name:live` for a state machine version or alias ARN, for the change table."""
    return arn.split(":stateMachine:", 1)[-1]


def plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist (definitions_dir={path.parent})") from None
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
