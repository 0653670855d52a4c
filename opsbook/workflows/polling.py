"""The poll settings of an execution input (how long a workflow waits for late data), checked
in one place."""

from __future__ import annotations

from typing import Any

from opsbook.errors import UsageError

# A Step Functions standard execution lasts at most a year and 25,000 history events (about 18
# per poll); beyond these AWS would fail the run.
MAX_POLLS = 1000
MAX_POLLING_SECONDS = 365 * 24 * 3600


def check_polling(poll_seconds: Any, max_polls: Any) -> tuple[int, int]:
    """Poll settings for an execution input; a bad value is a one-line UsageError."""
    if poll_seconds is None or max_polls is None:
        from opsbook.config import Config

        defaults = Config()
        poll_seconds = defaults.poll_seconds if poll_seconds is None else poll_seconds
        max_polls = defaults.max_polls if max_polls is None else max_polls
    if isinstance(poll_seconds, bool) or not isinstance(poll_seconds, int) or poll_seconds < 0:
        raise UsageError(f"poll seconds must be a whole number >= 0, not {poll_seconds!r}")
    if isinstance(max_polls, bool) or not isinstance(max_polls, int) or max_polls < 1:
        raise UsageError(f"max polls must be a whole number >= 1, not {max_polls!r}")
    if max_polls > MAX_POLLS:
        raise UsageError(f"max polls must be at most {MAX_POLLS}, not {max_polls}")
    if poll_seconds * max_polls > MAX_POLLING_SECONDS:
        raise UsageError(
            f"{max_polls} polls {poll_seconds} s apart outlast a Step Functions execution"
            f" (1 year); lower --poll-seconds or --max-polls"
        )
    return poll_seconds, max_polls


def check_notify_every(notify_every: Any) -> None:
    """Slack hears every `notify_every` polls (None: the definition's default)."""
    if notify_every is not None and (
        isinstance(notify_every, bool) or not isinstance(notify_every, int) or notify_every < 0
    ):
        raise UsageError(f"notify every must be a whole number >= 0, not {notify_every!r}")
