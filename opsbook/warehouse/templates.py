"""SQL templates: `{{source}}` and `{{target}}` become backticked `project.dataset.table` names.

Its own module, with no dataframe imports, so the Lambda functions can render templates
without loading the warehouse module (which needs pandas and pyarrow)."""

from __future__ import annotations

import re

from opsbook.config import IDENTIFIER, PROJECT_ID
from opsbook.errors import ConfigError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")


class WarehouseSpecError(ConfigError, ValueError):
    """A bad warehouse URL, table name or template: exit 2, and a ValueError for callers."""


def render_template(text: str, *, project: str, dataset: str, source: str, target: str) -> str:
    """Replace {{source}} / {{target}} with backticked `project.dataset.table` names.

    Only names from config go in, each checked against the identifier patterns; user values
    never do (they are @parameters)."""
    if not PROJECT_ID.match(project):
        raise WarehouseSpecError(f"invalid BigQuery project id {project!r}")
    for label, name in (("dataset", dataset), ("source", source), ("target", target)):
        if not IDENTIFIER.match(name):
            raise WarehouseSpecError(f"invalid {label} name {name!r} ([A-Za-z_][A-Za-z0-9_]*)")
    tables = {"source": source, "target": target}

    def table(match: re.Match) -> str:
        key = match.group(1)
        if key not in tables:
            raise WarehouseSpecError(f"unknown template placeholder {{{{{key}}}}}")
        return f"`{project}.{dataset}.{tables[key]}`"

    return PLACEHOLDER.sub(table, text)
