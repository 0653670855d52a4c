"""The local backend's AWS-shaped names: ARNs in region "local", account 000000000000, and the
definition as deploy publishes it (Lambda ARNs substituted, one canonical text)."""

from __future__ import annotations

import json
from typing import Any

from opsbook.errors import UsageError

REGION = "local"
ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:states:{REGION}:{ACCOUNT}"


def state_machine_arn(name: str) -> str:
    return f"{ARN_PREFIX}:stateMachine:{name}"


def execution_arn(state_machine: str, name: str) -> str:
    return f"{ARN_PREFIX}:execution:{state_machine}:{name}"


def function_arn(function: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}"


def render_definition(text: str, prefix: str = "opsbook") -> str:
    """The definition with its ${...FunctionArn} placeholders replaced by local Lambda ARNs
    (DefinitionSubstitutions, as deploy does on AWS)."""
    from opsbook.lambdas import FUNCTIONS, placeholders, substitute

    if not placeholders(text):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return text  # validate() reports it
    values = {key: function_arn(fn.function_name(prefix)) for key, fn in FUNCTIONS.items()}
    try:
        return json.dumps(substitute(data, values), indent=2, ensure_ascii=False)
    except KeyError as exc:
        raise UsageError(f"definition: {exc.args[0]}") from None


def canonical(definition: Any) -> str:
    """Definition text in one canonical form, so formatting changes don't publish a version."""
    data = json.loads(definition) if isinstance(definition, str) else definition
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
