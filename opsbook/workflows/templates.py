"""The one `${Name}` substitution (Step Functions DefinitionSubstitutions style) for
definitions and schedule documents, on AWS and locally."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from opsbook.errors import ConfigError

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(document: Any) -> set[str]:
    """The ${Name} placeholders a document (text or JSON value) uses."""
    text = document if isinstance(document, str) else json.dumps(document)
    return set(PLACEHOLDER.findall(text))


def substitute(value: Any, table: Mapping[str, str], source: str = "definition") -> Any:
    """Replace `${Name}` inside every JSON string of `value` (text is parsed first); an unknown
    name is a one-line ConfigError naming `source` and the known names."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    return _walk(value, table, source)


def _walk(value: Any, table: Mapping[str, str], source: str) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, table, source) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, table, source) for v in value]
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            if match.group(1) not in table:
                known = ", ".join(sorted(table)) or "none"
                raise ConfigError(
                    f"{source} uses unknown placeholder ${{{match.group(1)}}} (known: {known})"
                )
            return str(table[match.group(1)])

        return PLACEHOLDER.sub(one, value)
    return value
