"""Map iterations and Parallel branches as fibers: real threads, one running engine code at a time.

Each iteration or branch runs on its own thread so that Python task handlers waiting on I/O
overlap. Only the handler call (and, under the real clock, a Wait or retry backoff) runs outside
the baton; every history event is recorded by the fiber holding it, and the scheduler decides
who holds it next, deterministically:

- virtual clock: the fiber with the earliest virtual time runs first; at equal times, a fiber
  ready to run before one whose handler is still in flight, then first come first served. A
  handler's result is taken in the order the handlers were called, however long each one took
  in real time, so a run records the same history every time. A Wait in a branch moves only
  that branch's time (VirtualClock keeps one time per thread), never blocking its siblings.
- real clock: ready fibers first come first served, then handlers and waits as they finish.

Parallel branches yield after every state event, so their histories interleave as AWS's do
(every branch's first state entered before any exits). A Map iteration runs until it waits
(a handler, a Wait), then the next iteration starts: AWS's recordings of instantaneous
iterations show them one after another.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

READY, RUNNING, BLOCKED, JOINING, DONE = range(5)
_IDLE_SECONDS = 60.0  # a worker thread with nothing to do for this long ends


class _Workers:
    """Threads for fibers, reused across executions: a 1,000-item Map does not start 1,000
    threads, and code keeping per-thread resources (a SQLite connection per thread in
    on_event) sees a bounded set of threads. A new thread starts only when none is idle, so
    any number of fibers can wait on each other without starving."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[queue.SimpleQueue] = []

    def run(self, fn: Callable[[], None]) -> None:
        with self.lock:
            inbox = self.idle.pop() if self.idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            threading.Thread(
                target=self._loop, args=(inbox,), daemon=True, name="opsbook-engine-fiber"
            ).start()
        inbox.put(fn)

    def _loop(self, inbox: queue.SimpleQueue) -> None:
        while True:
            try:
                fn = inbox.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with self.lock:
                    if inbox in self.idle:
                        self.idle.remove(inbox)
                        return
                continue  # run() took this worker just now: its work is on the way
            fn()
            with self.lock:
                self.idle.append(inbox)


_WORKERS = _Workers()


class Cancelled(BaseException):
    """A sibling failed: this fiber unwinds without recording anything (not an Exception, so
    the engine's `except Exception` around a handler does not swallow it)."""


class Fiber:
    """One thread of states in the scheduler (the root, an iteration, a branch)."""

    __slots__ = (
        "parent",
        "t",
        "state",
        "seq",
        "go",
        "yields",
        "cancelled",
        "children",
        "finished",
        "wait_left",
        "handler_done",
        "value",
        "error",
        "resume_t",
        "urgent",
        "tag",
    )

    def __init__(self, parent: Fiber | None, t: datetime | None, yields: bool, tag: Any = None):
        self.parent = parent
        self.t = t
        self.state = RUNNING
        self.seq = 0
        self.go = threading.Event()
        self.yields = yields
        self.cancelled = False
        self.children: list[Fiber] = []  # running children
        self.finished: list[Fiber] = []  # children done, in the order they finished
        self.wait_left = 0
        self.handler_done = False
        self.value: Any = None
        self.error: BaseException | None = None
        self.resume_t: datetime | None = None
        self.urgent = False  # a child failed: stop its siblings before they go on
        self.tag = tag  # what the spawner wants back (an iteration index, a branch number)


class Scheduler:
    """The fibers of one execution (and of distributed Map children run inside it)."""

    def __init__(self, clock: Any):
        self.clock = clock
        self.virtual = bool(getattr(clock, "virtual", True))
        self.can_set = self.virtual and hasattr(clock, "set")
        self.lock = threading.Lock()
        self.waiting: list[Fiber] = []  # READY or BLOCKED fibers
        self.running: Fiber | None = None
        self.count = itertools.count(1)
        self.local = threading.local()
        self.live = 0  # fibers started and not done (the root not counted)

    # ------------------------------------------------------------------ who is running
    def current(self) -> Fiber:
        fiber = getattr(self.local, "fiber", None)
        if fiber is None:  # the calling thread: the root fiber, holding the baton
            fiber = Fiber(None, None, False)
            self.local.fiber = fiber
            with self.lock:
                if self.running is None:
                    self.running = fiber
        return fiber

    def _now(self) -> datetime | None:
        return self.clock.now() if self.virtual else None

    # ------------------------------------------------------------------ yield points
    def step(self) -> None:
        """After a state event: a Parallel branch lets its siblings take a turn."""
        if not self.live:
            return
        fiber = self.current()
        if fiber.cancelled:
            raise Cancelled
        if fiber.yields:
            self._yield(fiber, self._now())

    def pause(self) -> None:
        """Let fibers that are ready at the same time run first (a Map after spawning)."""
        fiber = self.current()
        if self.live:
            self._yield(fiber, self._now())

    def sleep(self, seconds: float, real_sleep: Callable[[float], None]) -> None:
        """A Wait or a retry backoff: virtual time moves for this fiber only; a real wait runs
        outside the baton."""
        fiber = self.current()
        if not self.live:
            if self.virtual:
                self.clock.sleep(seconds)
            else:
                real_sleep(seconds)
            return
        if self.virtual:
            self.clock.sleep(seconds)
            self._yield(fiber, self.clock.now())
        else:
            self.blocking(lambda: real_sleep(seconds))

    def blocking(self, fn: Callable[[], Any]) -> Any:
        """Run fn (a task handler) outside the baton, so sibling fibers go on meanwhile."""
        fiber = self.current()
        if not self.live:
            return fn()
        with self.lock:
            fiber.state = BLOCKED
            fiber.seq = next(self.count)
            fiber.t = self._now()
            fiber.handler_done = False
            fiber.resume_t = None
            self.waiting.append(fiber)
            self.running = None
            self._dispatch()
        value, error = None, None
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - re-raised once this fiber has the baton again
            error = exc
        with self.lock:
            if fiber.cancelled:  # nobody waits for it any more: end without the baton
                if fiber in self.waiting:
                    self.waiting.remove(fiber)
                raise Cancelled
            fiber.handler_done = True
            if not self.virtual:  # real clock: handlers are taken as they finish
                fiber.seq = next(self.count)
            self._dispatch()
        self._wait_turn(fiber)
        if error is not None:
            raise error
        return value

    # ------------------------------------------------------------------ children
    def spawn(self, fn: Callable[[], Any], *, yields: bool, tag: Any = None) -> Fiber:
        """Start fn on a new fiber, ready to run at the parent's current time."""
        parent = self.current()
        child = Fiber(parent, self._now(), yields, tag)
        with self.lock:
            child.state = READY
            child.seq = next(self.count)
            child.resume_t = child.t
            parent.children.append(child)
            self.waiting.append(child)
            self.live += 1
        _WORKERS.run(lambda: self._main(child, fn))
        return child

    def join(self, left: int) -> list[Fiber]:
        """Wait until at most `left` children still run, or one of them failed; return the
        children that finished since the last call, in the order they finished."""
        fiber = self.current()
        with self.lock:
            if not self._joined(fiber, left):
                fiber.t = self._now()
                fiber.state = JOINING
                fiber.wait_left = left
                self.running = None
                self._dispatch()
                wait = True
            else:
                wait = False
        if wait:
            self._wait_turn(fiber)
        return self.collect()

    def pending(self) -> int:
        """How many children of the current fiber still run."""
        fiber = self.current()
        with self.lock:
            return len(fiber.children)

    def collect(self) -> list[Fiber]:
        """The children that finished since the last call; under the virtual clock this fiber's
        time moves on to the latest time one of them ended at."""
        fiber = self.current()
        with self.lock:
            done, fiber.finished = fiber.finished, []
        if self.can_set and done:
            latest = max((c.t for c in done if c.t is not None), default=None)
            if latest is not None and latest > self.clock.now():
                self.clock.set(latest)
        return done

    def cancel_children(self) -> list[Fiber]:
        """Stop every running child (and their children); return them, oldest first."""
        fiber = self.current()
        with self.lock:
            stopped = list(fiber.children)
            for child in stopped:
                self._cancel(child)
            fiber.children = []
        return stopped

    # ------------------------------------------------------------------ internals
    def _cancel(self, fiber: Fiber) -> None:
        fiber.cancelled = True
        for child in fiber.children:
            self._cancel(child)
        if fiber.state == BLOCKED and not fiber.handler_done and fiber in self.waiting:
            self.waiting.remove(fiber)  # its handler ends on its own; nobody waits for it
        elif fiber.state == JOINING:
            self._make_ready(fiber, fiber.t)

    @staticmethod
    def _joined(fiber: Fiber, left: int) -> bool:
        return len(fiber.children) <= left or any(c.error is not None for c in fiber.finished)

    def _make_ready(self, fiber: Fiber, t: datetime | None, urgent: bool = False) -> None:
        fiber.urgent = urgent
        fiber.state = READY
        fiber.seq = next(self.count)
        fiber.t = t
        fiber.resume_t = t
        self.waiting.append(fiber)

    def _yield(self, fiber: Fiber, t: datetime | None) -> None:
        with self.lock:
            self._make_ready(fiber, t)
            self.running = None
            self._dispatch()
        self._wait_turn(fiber)

    def _wait_turn(self, fiber: Fiber) -> None:
        fiber.go.wait()
        fiber.go.clear()
        if fiber.cancelled:
            raise Cancelled
        if self.can_set and fiber.resume_t is not None:
            self.clock.set(fiber.resume_t)

    def _key(self, fiber: Fiber) -> tuple | None:
        if fiber.cancelled or fiber.urgent:
            return (0, 0, 0, fiber.seq)  # unwind (records nothing) / stop the siblings first
        blocked = fiber.state == BLOCKED
        if blocked and not self.virtual and not fiber.handler_done:
            return None
        if not self.virtual:
            return (1, 0, int(blocked), fiber.seq)
        return (1, fiber.t, int(blocked), fiber.seq)

    def _dispatch(self) -> None:
        """Give the baton to the next fiber (called with the lock held, baton free)."""
        if self.running is not None or not self.waiting:
            return
        best, best_key = None, None
        for fiber in self.waiting:
            key = self._key(fiber)
            if key is not None and (best_key is None or key < best_key):
                best, best_key = fiber, key
        if best is None or (best.state == BLOCKED and not best.handler_done):
            return  # the first in line is a handler still running; its end dispatches again
        self.waiting.remove(best)
        best.urgent = False
        best.state = RUNNING
        self.running = best
        best.go.set()

    def _main(self, fiber: Fiber, fn: Callable[[], Any]) -> None:
        self.local.fiber = fiber
        bind = getattr(self.clock, "bind", None) if self.virtual else None
        end = None
        try:
            fiber.go.wait()
            fiber.go.clear()
            if bind is not None:
                bind(fiber.t)
            if fiber.cancelled:
                raise Cancelled
            fiber.value = fn()
        except Cancelled:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the parent, which re-raises
            fiber.error = exc
        finally:
            if self.virtual:
                end = self.clock.now()
            if bind is not None:
                bind(None)
        with self.lock:
            self.live -= 1
            was_running = fiber.state == RUNNING
            fiber.state = DONE
            fiber.t = end
            parent = fiber.parent
            if not fiber.cancelled and parent is not None and fiber in parent.children:
                parent.children.remove(fiber)
                parent.finished.append(fiber)
                if parent.state == JOINING and self._joined(parent, parent.wait_left):
                    t = parent.t
                    if end is not None and (t is None or end > t):
                        t = end
                    self._make_ready(parent, t, urgent=fiber.error is not None)
            if was_running and self.running is fiber:
                self.running = None
            self._dispatch()
