"""Clocks: a virtual clock (default; waits and backoff take no real time) and the real clock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """Time advances only when the engine (or a task handler) calls sleep().

    A Map iteration or Parallel branch runs on its own thread with its own time (bind()), so a
    Wait in one branch moves that branch's clock only; the others keep theirs."""

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
        self._local = threading.local()

    def __getstate__(self) -> dict:  # copy/pickle the shared time, not the threads' own
        return {"_now": self._now}

    def __setstate__(self, state: dict) -> None:
        self._now = state["_now"]
        self._local = threading.local()

    def now(self) -> datetime:
        mine = getattr(self._local, "now", None)
        return self._now if mine is None else mine

    def set(self, when: datetime) -> None:
        """Move the clock to `when` (tz-aware or UTC): this thread's time when it has one."""
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if getattr(self._local, "now", None) is not None:
            self._local.now = when
        else:
            self._now = when

    def bind(self, when: datetime | None) -> None:
        """Give the calling thread its own time (None: back to the shared one)."""
        self._local.now = when

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.set(self.now() + timedelta(seconds=seconds))


class RealClock:
    """Wall-clock time; sleep() really sleeps."""

    virtual = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
