"""Data and waits for tests on the local backend."""

from __future__ import annotations

import time
from datetime import date


def insert_events(backend, day: str, n: int = 3, amount: float = 0) -> None:
    """`n` 'view' rows of `amount` on `day` straight into analytics.events (visible at once)."""
    wh = backend.open_warehouse()
    try:
        for i in range(n):
            wh.execute(
                "INSERT INTO `opsbook-local.analytics.events`"
                " (event_date, event_ts, user_id, event_type, amount)"
                f" VALUES (@d, TIMESTAMP(@d), @u, 'view', {amount})",
                {"d": date.fromisoformat(day), "u": f"u{i}"},
            )
    finally:
        wh.close()


def wait_for_event(backend, name: str, kind: str, timeout: float = 60.0) -> None:
    """Poll the execution's history until an event of type `kind` shows up (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(e["type"] == kind for e in backend.history(name)):
                return
        except Exception:  # not created yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"no {kind} event in {name} after {timeout} s")
