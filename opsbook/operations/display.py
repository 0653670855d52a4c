"""The one way opsbook shows a duration and a moment, in every face (CLI, console, report).

A duration: `1h05m`, `12m30s`, `45s`, `-` when unknown. A moment: UTC and the schedule's zone
side by side, each labelled, e.g. `2026-11-26 00:30:00 UTC / 09:30:00 Asia/Tokyo` (the other
zone shows its date too when the day differs).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Tokyo"


def duration_text(seconds: float | None) -> str:
    """1h05m, 12m30s, 45s; '-' when unknown (None or NaN)."""
    if seconds is None:
        return "-"
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return "-"
    if math.isnan(value):
        return "-"
    total = int(round(value))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@lru_cache(maxsize=8)
def schedule_zone(definitions_dir: str | None = None) -> ZoneInfo:
    """The schedule's time zone (definitions/.../schedule.json ScheduleExpressionTimezone);
    Asia/Tokyo when the file cannot be read."""
    import json

    from opsbook.config import Config

    folder = Path(definitions_dir) if definitions_dir else Config().definitions_dir
    try:
        doc = json.loads((folder / "schedule.json").read_text(encoding="utf-8"))
        return ZoneInfo(str(doc.get("ScheduleExpressionTimezone") or "UTC"))
    except (OSError, ValueError, KeyError):
        return ZoneInfo(DEFAULT_ZONE)


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        if value != value:  # NaT
            return None
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def time_text(value: Any, zone: ZoneInfo | None = None) -> str:
    """`2026-11-26 00:30:00 UTC / 09:30:00 Asia/Tokyo`; '-' when unknown."""
    moment = _instant(value)
    if moment is None:
        return "-"
    zone = zone or schedule_zone()
    utc = moment.astimezone(UTC)
    local = moment.astimezone(zone)
    if str(zone) == "UTC":
        return f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    other = f"{local:%H:%M:%S}" if local.date() == utc.date() else f"{local:%Y-%m-%d %H:%M:%S}"
    return f"{utc:%Y-%m-%d %H:%M:%S} UTC / {other} {zone}"


__all__ = ["DEFAULT_ZONE", "duration_text", "schedule_zone", "time_text"]
