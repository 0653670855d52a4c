"""How the CLI prints: one JSON document, or compact plain-text tables."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer

from opsbook.backends.base import Execution


def emit_json(value: Any) -> None:
    """Exactly one JSON document on stdout."""
    typer.echo(json.dumps(value, indent=2, default=_json_default, ensure_ascii=False))


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[str], *, empty: str = "(none)") -> str:
    """A compact plain-text table with aligned columns."""
    if not rows:
        return empty
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return text if len(text) <= 70 else text[:67] + "..."


def when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(execution: Execution) -> str:
    """The run's length in the one format opsbook uses (human_duration: 5s, 12m30s, 1h05m)."""
    from opsbook.operations.history import human_duration

    if execution.stop_date is None:
        return "-"
    return human_duration((execution.stop_date - execution.start_date).total_seconds())


def execution_row(execution: Execution, label: str = "partition") -> dict[str, Any]:
    """One table row; `label` names the partition column (week, day or month)."""
    return {
        "name": execution.name,
        "status": execution.status,
        label: execution.partition,
        "started": when(execution.start_date),
        "duration": duration(execution),
        "redrives": execution.redrive_count,
        "cause": execution.cause or execution.error,
    }


def event_state(event: dict[str, Any]) -> str:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            if "name" in value:
                return value["name"]
            if "resource" in value:
                return value.get("resourceType", "") + ":" + str(value["resource"]).split(":")[-1]
            if "error" in value:
                return f"{value['error']}"
    return ""
