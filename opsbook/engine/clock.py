"""Clocks: a virtual clock (default; waits and backoff take no real time) and the real clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """Time advances only when the engine (or a task handler) calls sleep()."""

    virtual = True

    def __init__(self, start: datetime | None = None):
        """start: the virtual time when the clock is made (default: now, to the millisecond,
        as AWS timestamps are); a naive datetime is taken as UTC."""
        if start is None:
            start = datetime.now(UTC)
            start = start.replace(microsecond=start.microsecond // 1000 * 1000)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        """Move the clock to `when` (tz-aware or UTC)."""
        self._now = when if when.tzinfo else when.replace(tzinfo=UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now = self._now + timedelta(seconds=seconds)


class RealClock:
    """Wall-clock time; sleep() really sleeps."""

    virtual = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
