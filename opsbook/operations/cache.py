"""On-disk caches of closed executions: histories (OPSBOOK_HOME/cache/history) and
descriptions (OPSBOOK_HOME/cache/executions).

A closed execution's history only changes when it is redriven, so each entry records the
execution's start date, status and redrive count, and is used only while all three match.
Files are written atomically (temp file + os.replace), 0600 inside a 0700 directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from opsbook.backends.base import CLOSED_STATUSES, Execution

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
FORMAT = 1


DATE_FIELDS = ("start_date", "stop_date", "redrive_date")


def _encode(value: Any) -> Any:
    # Only history events' "timestamp" and Execution's DATE_FIELDS hold datetimes; they are
    # turned back into datetimes on load (cheaper than an object_hook on every dict).
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot cache {type(value).__name__}")


def _dates(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    for key in keys:
        if isinstance(obj.get(key), str):
            obj[key] = datetime.fromisoformat(obj[key])
    return obj


def _fingerprint(execution: Execution) -> dict[str, Any]:
    return {
        "arn": execution.arn,
        "start_date": execution.start_date.timestamp() if execution.start_date else None,
        "status": execution.status,
        "redrive_count": execution.redrive_count,
    }


class HistoryCache:
    """Histories of closed executions keyed by execution ARN."""

    def __init__(self, home: str | Path, subdir: str = "history"):
        self.dir = Path(home) / "cache" / subdir

    def path(self, arn: str) -> Path:
        # Readable tail plus a hash: ARNs hold ':' and may exceed filename limits.
        tail = _UNSAFE.sub("_", arn.rsplit(":", 1)[-1])[:80]
        digest = hashlib.sha256(arn.encode("utf-8")).hexdigest()[:20]
        return self.dir / f"{tail}-{digest}.json"

    def get(self, execution: Execution) -> list[dict[str, Any]] | None:
        """The cached events for this closed execution, or None (miss or stale entry)."""
        if not execution.closed:
            return None
        try:
            entry = json.loads(self.path(execution.arn).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT:
            return None
        if entry.get("execution") != _fingerprint(execution):
            return None
        events = entry.get("events")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return None
        try:
            return [_dates(e, ("timestamp",)) for e in events]
        except ValueError:
            return None

    def put(self, execution: Execution, events: list[dict[str, Any]]) -> bool:
        """Store the history of a closed execution; running ones are never cached."""
        if not execution.closed:
            return False
        entry = {"format": FORMAT, "execution": _fingerprint(execution), "events": events}
        return self.write(execution.arn, json.dumps(entry, default=_encode, separators=(",", ":")))

    def write(self, arn: str, data: str) -> bool:
        """Atomically replace the entry for `arn` (a reader sees the old file or the new one).
        The cache is an optimisation: a home we cannot write to just means no caching."""
        try:
            self._ensure_dir()
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".json")  # mode 0600
        except OSError:
            return False
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
            os.replace(tmp, self.path(arn))
        except BaseException as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(exc, OSError):
                return False
            raise
        return True

    def _ensure_dir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # mkdir's mode is masked by umask and skipped for existing dirs: set it explicitly.
        for d in (self.dir.parent, self.dir):
            if d.stat().st_mode & 0o777 != 0o700:
                os.chmod(d, 0o700)

    def clear(self) -> int:
        """Delete every cached history; returns how many files were removed."""
        removed = 0
        if self.dir.is_dir():
            for f in self.dir.glob("*.json"):
                f.unlink(missing_ok=True)
                removed += 1
        return removed


def _instant(value: Any) -> float | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.timestamp() if isinstance(value, datetime) else None


def listed_only(execution: Execution) -> bool:
    """Whether this execution came from a listing without its description (input, output,
    error and cause unknown). A described execution always has an input: Step Functions
    stores at least "{}"."""
    return execution.input is None


class ExecutionCache:
    """DescribeExecution results of closed executions, under OPSBOOK_HOME/cache/executions.

    For executions a backend listed without describing them (see Backend.list_executions): a
    cached description is reused while the listing still shows the same status, start date and
    redrive count, so describing the same closed execution again costs no API call.
    """

    def __init__(self, home: str | Path):
        self.files = HistoryCache(home, "executions")

    def get(
        self, arn: str, *, status: str, start_date: Any, redrive_count: int | None = 0
    ) -> Execution | None:
        """The cached Execution when it still matches what a listing reports, else None."""
        if status not in CLOSED_STATUSES:
            return None
        try:
            data = json.loads(self.files.path(arn).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        fields = data.get("execution")
        if not isinstance(fields, dict) or fields.get("arn") != arn:
            return None
        if fields.get("status") != status or int(fields.get("redrive_count") or 0) != int(
            redrive_count or 0
        ):
            return None
        if _instant(fields.get("start_date")) != _instant(start_date):
            return None
        try:
            return Execution(**_dates(fields, DATE_FIELDS))
        except (TypeError, ValueError):
            return None

    def put(self, execution: Execution) -> bool:
        if not execution.closed:
            return False
        entry = {"format": FORMAT, "execution": dataclasses.asdict(execution)}
        return self.files.write(
            execution.arn, json.dumps(entry, default=_encode, separators=(",", ":"))
        )

    def lookup(self, execution: Execution) -> Execution | None:
        """The cached description of a listed execution while the listing still matches it."""
        return self.get(
            execution.arn,
            status=execution.status,
            start_date=execution.start_date,
            redrive_count=execution.redrive_count,
        )

    def complete(
        self,
        executions: Iterable[Execution],
        describe: Callable[[str], Execution],
        max_concurrency: int = 4,
    ) -> list[Execution]:
        """The executions in the same order, each listed-only one replaced by its description:
        from this cache when it still matches, else described (at most `max_concurrency` at a
        time) and, when closed, cached."""
        out = list(executions)
        todo: list[int] = []
        for i, ex in enumerate(out):
            if not listed_only(ex):
                continue
            hit = self.lookup(ex)
            if hit is not None:
                out[i] = hit
            else:
                todo.append(i)
        if not todo:
            return out
        arns = [out[i].arn for i in todo]
        if len(arns) == 1 or max_concurrency <= 1:
            described = [describe(arn) for arn in arns]
        else:
            with ThreadPoolExecutor(max_workers=min(max_concurrency, len(arns))) as pool:
                described = list(pool.map(describe, arns))
        for i, ex in zip(todo, described, strict=True):
            out[i] = ex
            self.put(ex)
        return out
