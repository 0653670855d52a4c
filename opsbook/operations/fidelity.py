"""Replay recorded executions from any backend through the engine: one (`replay_execution`)
or every closed execution started in a range (`verify`), the engine's fidelity measured on
the user's own runs. Knows the Backend protocol only (history, describe, list_executions,
definition), so it works the same on the local store and on AWS."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from opsbook.errors import UsageError

__all__ = ["ReplayReport", "VerifyReport", "load_definition", "replay_execution", "verify"]

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass
class ReplayReport:
    execution: str
    status: str  # the recorded status
    match: bool
    divergence: dict | None
    replayed_status: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "execution": self.execution,
            "status": self.status,
            "replayed_status": self.replayed_status,
            "match": self.match,
            "divergence": self.divergence,
        }


@dataclass
class VerifyReport:
    since: str
    until: str
    results: list[ReplayReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # still running

    @property
    def matched(self) -> int:
        return sum(1 for r in self.results if r.match)

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "until": self.until,
            "replayed": len(self.results),
            "matched": self.matched,
            "diverged": len(self.results) - self.matched,
            "skipped_running": self.skipped,
            "executions": [r.to_dict() for r in self.results],
        }


def load_definition(path: str | Path) -> dict[str, Any]:
    """A definition file as a dict; an unreadable one is a one-line UsageError."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read definition {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"definition {path} is not a JSON object")
    return data


def fill_placeholders(definition: Any, deployed: Any) -> Any:
    """`${Name}` placeholders of a definition file (as in definitions/weekly_load.asl.json)
    take the values deploy gave them, read off the deployed definition at the same place, so
    the replayed parameters name the same functions as the recorded ones."""
    values: dict[str, str] = {}

    def learn(mine: Any, theirs: Any) -> None:
        if isinstance(mine, dict) and isinstance(theirs, dict):
            for k, v in mine.items():
                if k in theirs:
                    learn(v, theirs[k])
        elif isinstance(mine, list) and isinstance(theirs, list):
            for a, b in zip(mine, theirs, strict=False):
                learn(a, b)
        elif isinstance(mine, str) and isinstance(theirs, str) and _PLACEHOLDER.search(mine):
            names = _PLACEHOLDER.findall(mine)
            pattern = "".join(
                "(.+?)" if i % 2 else re.escape(part)
                for i, part in enumerate(_PLACEHOLDER.split(mine))
            )
            m = re.fullmatch(pattern, theirs)
            if m:
                values.update(zip(names, m.groups(), strict=True))

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
        return value

    learn(definition, deployed)
    return fill(definition) if values else definition


def replay_execution(
    backend: Any,
    execution: str,
    definition: Mapping[str, Any] | None = None,
    *,
    cache: dict[str | None, Any] | None = None,
) -> ReplayReport:
    """Replay one recorded execution through `definition` (default: the version it ran).
    `cache` keeps definitions by version ARN across calls (verify reads each one once)."""
    from opsbook.engine import DefinitionError
    from opsbook.engine.replay import replay

    described = backend.describe(execution)
    if not described.closed:
        raise UsageError(f"execution {described.name} is {described.status}; replay a closed one")
    events = backend.history(execution)
    cache = {} if cache is None else cache
    if described.version_arn not in cache:
        cache[described.version_arn] = _ran(backend, described.version_arn)
    deployed = cache[described.version_arn]
    chosen = deployed if definition is None else fill_placeholders(definition, deployed)
    try:
        result = replay(
            chosen,
            events,
            name=described.name,
            execution_arn=described.arn,
            state_machine_arn=described.version_arn or described.state_machine_arn,
        )
    except DefinitionError as exc:
        raise UsageError(f"the definition is not valid: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"cannot replay {described.name}: {exc}") from None
    return ReplayReport(
        described.name, described.status, result.match, result.divergence, result.run.status
    )


def _ran(backend: Any, version: str | None) -> dict[str, Any]:
    """The definition the execution ran: its version's when the backend knows versions."""
    if version:
        try:
            return backend.definition(version=version)
        except TypeError:  # a Backend whose definition() takes no version
            pass
    return backend.definition()


def parse_day(text: str, option: str) -> datetime:
    """YYYY-MM-DD (or an ISO date-time) as an aware UTC datetime; bad text is a UsageError."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def verify(backend: Any, since: str, until: str, *, progress: bool = False) -> VerifyReport:
    """Replay every closed execution started from `since` through the whole `until` day."""
    from tqdm.auto import tqdm

    start = parse_day(since, "--since")
    end = parse_day(until, "--until")
    if len(until) == 10:
        end += timedelta(days=1)  # the whole last day
    if end <= start:
        raise UsageError(f"--until {until} is before --since {since}")
    report = VerifyReport(since, until)
    listed = backend.list_executions(since=start, until=end)
    listed = sorted((e for e in listed if start <= e.start_date < end), key=lambda e: e.start_date)
    cache: dict[str | None, Any] = {}
    for execution in tqdm(listed, desc="replaying", unit="execution", disable=not progress):
        if not execution.closed:
            report.skipped.append(execution.name)
            continue
        report.results.append(replay_execution(backend, execution.arn, cache=cache))
    return report
