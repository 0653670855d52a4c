"""Run `opsbook` in this process and SIGKILL it right after a chosen Store method returns.

Usage: python tests/support/kill_at.py METHOD -- <opsbook arguments>

A test harness, not a production hook: it wraps the method in this process only, so the kill
lands at an exact point of the real code path (e.g. right after the execution row is
committed, before the first history event)."""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    method, sep, *args = sys.argv[1:]
    assert sep == "--", "usage: kill_at.py METHOD -- ARGS"
    from opsbook.backends.local import store

    original = getattr(store.Store, method)

    def then_die(self, *a, **kw):
        result = original(self, *a, **kw)
        os.kill(os.getpid(), signal.SIGKILL)
        return result  # never reached

    setattr(store.Store, method, then_die)
    from opsbook.cli import main as cli_main

    cli_main(args)


if __name__ == "__main__":
    main()
