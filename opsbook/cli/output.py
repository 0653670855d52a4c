"""How the CLI prints: one JSON document, or compact plain-text tables."""

from __future__ import annotations

import json
import shutil
import textwrap
from datetime import date, datetime
from pathlib import Path
from typing import Any

import typer

from opsbook.backends.base import Execution
from opsbook.operations.display import duration_text, time_text
from opsbook.operations.failures import cause_message, poll_count


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


def terminal_width() -> int:
    """The terminal's width (COLUMNS when set, 100 when not a terminal)."""
    return shutil.get_terminal_size((100, 24)).columns


def table(
    rows: list[dict[str, Any]],
    columns: list[str],
    *,
    empty: str = "(none)",
    wide: bool = False,
    width: int | None = None,
) -> str:
    """A plain-text table with aligned columns. Nothing is ever cut: when a row is wider than
    the terminal (and not `wide`), the last column wraps onto indented continuation lines;
    when the other columns leave it under 20 characters, a cell longer than 30 wraps below its
    row instead, indented by four."""
    if not rows:
        return empty
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    indent = sum(widths[:-1]) + 2 * (len(widths) - 1)
    total = width or terminal_width()
    room = total - indent
    for r in cells:
        head = "  ".join(v.ljust(w) for v, w in zip(r[:-1], widths[:-1], strict=True))
        last = r[-1]
        if wide or len(last) <= room or (room < 20 and len(last) <= 30):  # fits, or is short
            lines.append((head + ("  " if head else "") + last).rstrip())
        elif room < 20:  # no room beside the row: the whole cell on lines of its own
            lines.append(head.rstrip())
            lines.extend("    " + part for part in _wrap(last, max(20, total - 4)))
        else:
            parts = _wrap(last, room)
            lines.append((head + ("  " if head else "") + parts[0]).rstrip())
            lines.extend(" " * indent + part for part in parts[1:])
    return "\n".join(lines)


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width`, broken at spaces (never inside a date like 2026-09-10)."""
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [text]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return time_text(value)
    return " ".join(str(value).split("\n")) if "\n" in str(value) else str(value)


def when(value: datetime | None) -> str:
    """UTC and the schedule's zone, labelled (opsbook.operations.display.time_text)."""
    return time_text(value)


def duration(execution: Execution) -> str:
    """The run's length in the one format opsbook uses (operations.display.duration_text)."""
    if execution.stop_date is None:
        return "-"
    return duration_text((execution.stop_date - execution.start_date).total_seconds())


def polls(events: list[dict[str, Any]]) -> int:
    """How many times the run polled (opsbook.operations.failures.poll_count)."""
    return poll_count(events) or 0


def header(backend: Any, cfg: Any) -> str:
    """The first line of a command's output: which backend (its repr), which home."""
    home = str(Path(cfg.home).resolve())
    described = repr(backend)
    return f"# {described}" if home in described else f"# {described} · home {home}"


def execution_row(execution: Execution, label: str = "partition") -> dict[str, Any]:
    """One table row; `label` names the partition column (week, day or month)."""
    return {
        "name": execution.name,
        "status": execution.status,
        label: execution.partition,
        "started": when(execution.start_date),
        "duration": duration(execution),
        "redrives": execution.redrive_count,
        # The readable message (a Lambda error's errorMessage); `history --failed` has it all.
        "cause": cause_message(execution.cause) or execution.error,
    }


def event_state(event: dict[str, Any]) -> str:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            if "name" in value:
                return value["name"]
            if value.get("error"):  # a task's failure: its error, not its resource
                return str(value["error"])
            if "resource" in value:
                return value.get("resourceType", "") + ":" + str(value["resource"]).split(":")[-1]
            if "error" in value:
                return f"{value['error']}"
    return ""
