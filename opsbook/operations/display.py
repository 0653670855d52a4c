"""The one way opsbook shows a duration and a moment, in every face (CLI, console, report).

A duration: `1h05m`, `12m30s`, `45s`, `-` when unknown. A moment: UTC and the workflow's zone
side by side, each labelled, e.g. `2026-11-26 00:30:00 UTC / 09:30:00 Asia/Tokyo` (the other
zone shows its date too when the day differs).
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Tokyo"
_zone: ContextVar[ZoneInfo | None] = ContextVar("display_zone", default=None)


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


def use_zone(zone: ZoneInfo) -> None:
    """Show moments beside UTC in `zone` (the chosen workflow's) from now on in this context."""
    _zone.set(zone)


def display_zone() -> ZoneInfo:
    """The zone moments are shown in beside UTC: the chosen workflow's, else Asia/Tokyo (the
    shipped weekly load's)."""
    return _zone.get() or ZoneInfo(DEFAULT_ZONE)


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
    zone = zone or display_zone()
    utc = moment.astimezone(UTC)
    local = moment.astimezone(zone)
    if str(zone) == "UTC":
        return f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    other = f"{local:%H:%M:%S}" if local.date() == utc.date() else f"{local:%Y-%m-%d %H:%M:%S}"
    return f"{utc:%Y-%m-%d %H:%M:%S} UTC / {other} {zone}"


__all__ = ["DEFAULT_ZONE", "display_zone", "duration_text", "time_text", "use_zone"]
