"""Rerun failed and missing weeks: plan (one row per week, with the reason) and act.

Like Airflow's backfill or Dagster's partition backfills: a preview first, then only the weeks
that need it, with a concurrency limit, and idempotent: every week is re-planned right before
acting, so a second run starts nothing for a week that is running or has succeeded.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from opsbook.backends.base import (
    ABORTED,
    FAILED,
    REDRIVE_WINDOW,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    Backend,
    Execution,
)
from opsbook.config import Config
from opsbook.errors import ExecutionAlreadyExists, UsageError
from opsbook.operations.history import (
    MISSING,
    PENDING,
    WEEK_STATUSES,
    History,
    as_instant,
    closed_time,
    config_of,
    failed_state,
    group_by_partition,
    last_execution,
)
from opsbook.workflows.partitions import PartitionScheme

REDRIVE = "REDRIVE"
START = "START"
SKIP = "SKIP"
DEFAULT_STATUSES = (FAILED, TIMED_OUT, ABORTED, MISSING)
# AWS's redrive rules (RedriveExecution): not SUCCEEDED, closed under 14 days ago, started on or
# after 2023-11-15, fewer than 24,999 history events.
REDRIVE_EPOCH = datetime(2023, 11, 15, tzinfo=UTC)
REDRIVE_MAX_EVENTS = 24_999

PLAN_COLUMNS = [
    "week", "status", "attempts", "action", "reason", "execution", "execution_name", "new_name",
]  # fmt: skip
RESULT_COLUMNS = [
    "week", "action", "execution", "arn", "status", "attempts", "reason", "error", "dry_run",
]  # fmt: skip


def _check_statuses(statuses: Any) -> tuple[str, ...]:
    if isinstance(statuses, str):
        statuses = [s for s in statuses.split(",") if s.strip()]
    out = tuple(str(s).strip().upper() for s in statuses)
    bad = [s for s in out if s not in WEEK_STATUSES]
    if bad:
        raise UsageError(f"unknown week status {bad[0]!r}; use {', '.join(WEEK_STATUSES)}")
    return out


def next_name(
    week: str, executions: list[Execution], taken: set[str], scheme: PartitionScheme
) -> str:
    """`<prefix>-<KEY>` (e.g. week-<DATE>) for a partition's first execution, else
    `<prefix>-<KEY>-r<N>` with N one past the highest rerun number used, skipping names taken
    by any other execution."""
    plain = scheme.execution_name(week)
    if not executions and plain not in taken:
        return plain
    numbers = [0]
    for ex in executions:
        match = scheme.name_pattern.match(ex.name)
        if match and match.group(1) == week:
            numbers.append(int(match.group(2) or 0))
    n = max(numbers) + 1
    while f"{plain}-r{n}" in taken:
        n += 1
    return f"{plain}-r{n}"


def redrive_refusal(
    execution: Execution,
    events: list[dict[str, Any]],
    live_version: str | None,
    now: datetime,
    definition: dict[str, Any] | None = None,
) -> str | None:
    """Why this execution cannot (usefully) be redriven, or None when REDRIVE is right."""
    if execution.status == SUCCEEDED or not execution.closed:
        return f"{execution.name} is {execution.status}"
    if not events or events[0].get("type") != "ExecutionStarted":
        # Its process ended before the run began: there is nothing to resume (issue 14, #2).
        return f"{execution.name} has no ExecutionStarted event; nothing to redrive"
    if execution.start_date < REDRIVE_EPOCH:
        return f"{execution.name} started before 2023-11-15 (not redrivable)"
    closed_at = closed_time(execution, events)
    if closed_at is None or now - closed_at >= REDRIVE_WINDOW:
        return f"{execution.name} closed more than 14 days ago (redrive window passed)"
    if execution.version_arn is None or live_version is None:
        return f"{execution.name} ran no published version; a new execution runs the live one"
    if execution.version_arn != live_version:
        return (
            f"{execution.name} ran {_short(execution.version_arn)}, live is {_short(live_version)}"
        )
    if len(events) >= REDRIVE_MAX_EVENTS:
        return f"{execution.name} has {len(events)} history events (redrive needs < 24,999)"
    state, state_type = failed_state(events)
    if state_type == "Fail":
        # Redrive resumes at the failed state; a Fail state would just fail again.
        return f"{execution.name} ended in Fail state {state}; a redrive would fail again"
    if state and definition is not None and not can_succeed_from(definition, state):
        # e.g. it failed while notifying the failure: every path from there ends in Fail.
        return f"{execution.name} failed at {state}, from which every path fails; a redrive would fail again"
    return None


def can_succeed_from(definition: dict[str, Any], state: str) -> bool:
    """Whether some path from top-level `state` reaches a Succeed state or an End (following
    Next, Default, Choices and Catch). Unknown (e.g. nested) states count as able to succeed."""
    states = definition.get("States") if isinstance(definition, dict) else None
    if not isinstance(states, dict) or state not in states:
        return True
    seen: set[str] = set()
    todo = [state]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        spec = states[name] if isinstance(states[name], dict) else {}
        kind = spec.get("Type")
        if kind == "Succeed" or (kind != "Fail" and spec.get("End") is True):
            return True
        targets = [spec.get("Next"), spec.get("Default")]
        targets += [c.get("Next") for c in spec.get("Choices", []) if isinstance(c, dict)]
        targets += [c.get("Next") for c in spec.get("Catch", []) if isinstance(c, dict)]
        todo.extend(t for t in targets if isinstance(t, str))
    return False


def _definition(backend: Backend) -> dict[str, Any] | None:
    """The live definition (a redrive runs the same one: REDRIVE needs the live version)."""
    try:
        found = backend.definition()
    except Exception:  # unreadable: decide without it
        return None
    return found if isinstance(found, dict) else None


def _short(arn: str) -> str:
    return "version " + arn.rsplit(":", 1)[-1]


def plan_rerun(
    backend: Backend,
    since: date | str | None = None,
    until: date | str | None = None,
    statuses: tuple[str, ...] | list[str] | str = DEFAULT_STATUSES,
    today: date | datetime | None = None,
    *,
    cfg: Config | None = None,
    history: History | None = None,
) -> pd.DataFrame:
    """One row per scheduled week: week, status, attempts, action (REDRIVE | START | SKIP),
    reason, execution (ARN to redrive), execution_name, new_name (for START). Without
    since/until: the last 12 partitions up to today."""
    selected = _check_statuses(statuses)
    hist = history or History(backend, cfg)
    listed = [hist.tag(e) for e in backend.list_executions()]
    table = hist.partitions(since, until, today, listed=listed)
    key = hist.label
    table = table.rename(columns={key: "week"})  # one name for the key column in here
    groups = group_by_partition(listed)
    scheme = hist.workflow.scheme
    taken = {ex.name for ex in listed}
    now = as_instant(today)
    candidates = {
        row.week: last_execution(groups.get(row.week, []))
        for row in table.itertuples()
        if row.status in selected and row.status in (FAILED, TIMED_OUT, ABORTED)
    }
    live = backend.live_version() if candidates else None
    definition = _definition(backend) if candidates else None
    histories = hist.raw_histories(ex for ex in candidates.values() if ex is not None)
    rows = []
    for row in table.itertuples():
        week, status = row.week, row.status
        out = dict.fromkeys(PLAN_COLUMNS)
        out.update(week=week, status=status, attempts=int(row.attempts))
        out["execution_name"] = row.execution if isinstance(row.execution, str) else None
        if status == SUCCEEDED:
            out.update(action=SKIP, reason=f"succeeded ({row.execution})")
        elif status == RUNNING:
            out.update(action=SKIP, reason=f"running ({row.execution})")
        elif status == PENDING:
            out.update(action=SKIP, reason="scheduled in the future")
        elif status not in selected:
            out.update(action=SKIP, reason=f"{status} is not among the selected statuses")
        elif status == MISSING:
            name = next_name(week, groups.get(week, []), taken, scheme)
            out.update(action=START, reason=f"no execution for a past {key}", new_name=name)
        else:
            last = candidates[week]
            assert last is not None  # a FAILED, TIMED_OUT or ABORTED partition has executions
            events = histories.get(last.arn, [])
            refusal = redrive_refusal(last, events, live, now, definition)
            if refusal is None:
                at = failed_state(events)[0]
                where = f" at {at}; a redrive resumes there" if at else ", redrivable"
                out.update(
                    action=REDRIVE,
                    reason=f"{last.name} {status}{where} (same live version, closed < 14 days,"
                    f" {len(events)} events < 24,999)",
                    execution=last.arn,
                )
            else:
                name = next_name(week, groups.get(week, []), taken, scheme)
                out.update(action=START, reason=refusal, new_name=name)
        rows.append(out)
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS).rename(columns={"week": key})
    plan["attempts"] = plan["attempts"].astype("int64")
    plan.attrs["statuses"] = selected
    plan.attrs["today"] = today
    plan.attrs["key"] = key
    return plan


def _result(row: dict[str, Any], **values: Any) -> dict[str, Any]:
    out = dict.fromkeys(RESULT_COLUMNS)
    out.update(
        week=row["week"],
        action=row["action"],
        status=row["status"],
        attempts=int(row["attempts"]),
        reason=row["reason"],
        dry_run=False,
    )
    out.update(values)
    return out


def _act(
    backend: Backend,
    week: str,
    statuses: tuple[str, ...],
    today: date | datetime | None,
    wait: bool,
    cfg: Config | None,
) -> dict[str, Any]:
    """Re-plan one partition against the backend's current state, then act on that fresh plan."""
    cfg = config_of(backend, cfg)
    hist = History(backend, cfg)
    fresh = plan_rerun(backend, week, week, statuses, today, cfg=cfg, history=hist)
    fresh = fresh.rename(columns={hist.label: "week"}).to_dict("records")[0]
    if fresh["action"] == SKIP:
        return _result(fresh, execution=fresh["execution_name"])
    if fresh["action"] == REDRIVE:
        fresh["redrive_count"] = backend.describe(fresh["execution"]).redrive_count
        try:
            ex = backend.redrive(fresh["execution"], wait=wait)
            return _result(
                fresh,
                execution=ex.name,
                arn=ex.arn,
                status=ex.status,
                attempts=fresh["attempts"] + 1,
            )
        except Exception as exc:
            after = backend.describe(fresh["execution"])
            if not after.closed or after.redrive_count > fresh["redrive_count"]:
                # The redrive happened (only waiting for it failed): never start a duplicate.
                return _result(
                    fresh, execution=after.name, arn=after.arn, status=after.status,
                    attempts=fresh["attempts"] + 1, error=_one_line(exc),
                )  # fmt: skip
            # Refused (the rules changed meanwhile, or the endpoint can't redrive): start anew.
            listed = [hist.tag(e) for e in backend.list_executions()]
            execs = group_by_partition(listed).get(week, [])
            fresh.update(
                action=START,
                reason=f"redrive refused ({_one_line(exc)}); started a new execution",
                new_name=next_name(week, execs, {e.name for e in listed}, hist.workflow.scheme),
            )
    name = fresh["new_name"]
    try:
        payload = hist.workflow.execution_input(
            week,
            poll_seconds=cfg.poll_seconds,
            max_polls=cfg.max_polls,
            notify_every=cfg.notify_every,
        )
        ex = backend.start(payload, name=name, wait=wait)
    except ExecutionAlreadyExists:
        # Another rerun started this very name first: report that execution instead.
        ex = backend.describe(name)
        if wait and not ex.closed:
            ex = backend.wait(ex.arn)
        return _result(
            fresh, execution=ex.name, arn=ex.arn, status=ex.status,
            reason=f"{name} was started meanwhile by another rerun",
        )  # fmt: skip
    return _result(
        fresh, execution=ex.name, arn=ex.arn, status=ex.status, attempts=fresh["attempts"] + 1
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def rerun(
    backend: Backend,
    plan: pd.DataFrame,
    max_concurrency: int = 2,
    dry_run: bool = False,
    wait: bool = True,
    *,
    progress: bool = True,
    cfg: Config | None = None,
) -> pd.DataFrame:
    """Carry out a plan from plan_rerun(): one result row per week (SKIP rows included).

    Each week is re-planned right before acting, so rerunning twice is safe. `dry_run` acts on
    nothing and reports what would be done. Errors of one week don't stop the others; they
    land in the `error` column with status ERROR.
    """
    from tqdm.auto import tqdm

    if (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise UsageError(f"--max-concurrency must be a whole number >= 1, not {max_concurrency!r}")
    key = plan.attrs.get("key", "week")
    missing = {key, "status", "attempts", "action", "reason"} - set(plan.columns)
    if missing:
        raise UsageError(f"the plan lacks column {sorted(missing)[0]!r}; make it with plan_rerun()")
    statuses = tuple(plan.attrs.get("statuses") or DEFAULT_STATUSES)
    today = plan.attrs.get("today")
    rows = plan.rename(columns={key: "week"}).to_dict("records")
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for row in rows:
        if row["action"] == SKIP:
            results[row["week"]] = _result(row, execution=row.get("execution_name"))
        elif dry_run:
            target = row.get("new_name") if row["action"] == START else row.get("execution_name")
            results[row["week"]] = _result(
                row, execution=target, arn=row.get("execution"), dry_run=True
            )
        else:
            todo.append(row)
    if todo:
        bar = tqdm(total=len(todo), desc="rerun", unit=key, disable=not progress)
        with ThreadPoolExecutor(max_workers=min(max_concurrency, len(todo))) as pool:
            futures = {
                pool.submit(_act, backend, row["week"], statuses, today, wait, cfg): row
                for row in todo
            }
            for future in as_completed(futures):
                row = futures[future]
                try:
                    results[row["week"]] = future.result()
                except Exception as exc:
                    results[row["week"]] = _result(row, status="ERROR", error=_one_line(exc))
                bar.set_postfix_str(f"{row['week']} {results[row['week']]['status']}")
                bar.update(1)
        bar.close()
    out = pd.DataFrame([results[row["week"]] for row in rows], columns=RESULT_COLUMNS)
    out["attempts"] = out["attempts"].astype("int64")
    out.attrs["key"] = key
    return out.rename(columns={"week": key})


def summarize(results: pd.DataFrame) -> dict[str, int]:
    """Counts by action and outcome, for a one-line report. Dry-run rows count as
    would_redrive / would_start, never as redriven / started (nothing was done)."""
    acted = results[results["action"] != SKIP]
    dry = acted["dry_run"].fillna(False).astype(bool)
    done = acted[~dry]
    planned = acted[dry]
    return {
        "weeks": len(results),
        "redriven": int((done["action"] == REDRIVE).sum()),
        "started": int((done["action"] == START).sum()),
        "would_redrive": int((planned["action"] == REDRIVE).sum()),
        "would_start": int((planned["action"] == START).sum()),
        "skipped": int((results["action"] == SKIP).sum()),
        "succeeded": int((done["status"] == SUCCEEDED).sum()),
        "failed": int((~done["status"].isin([SUCCEEDED, RUNNING])).sum()),
    }


def outcome(row: dict[str, Any]) -> str:
    """What happened to one week, in words: "would redrive w", "redriven w: SUCCEEDED",
    "would start week-…-r1", "started …: FAILED", "skipped"."""
    action, name = row.get("action"), row.get("execution") or "-"
    if action == SKIP:
        return "skipped"
    verb = {REDRIVE: ("would redrive", "redriven"), START: ("would start", "started")}[str(action)]
    if row.get("dry_run"):
        return f"{verb[0]} {name}"
    return f"{verb[1]} {name}: {row.get('status')}"


def summary_line(results: pd.DataFrame, label: str = "week") -> str:
    """One line: "dry run: would redrive 1, would start 0 of 12 weeks" or "redrove 1,
    started 0 of 12 weeks: 1 succeeded, 0 did not" (`label`: the scheme's week, day, month)."""
    counts = summarize(results)
    units = f"{label}s"
    if results["dry_run"].fillna(False).astype(bool).any() or not (
        counts["redriven"] or counts["started"]
    ):
        if counts["would_redrive"] or counts["would_start"]:
            return (
                f"dry run: would redrive {counts['would_redrive']}, would start"
                f" {counts['would_start']} of {counts['weeks']} {units}"
            )
        return f"nothing to rerun in {counts['weeks']} {units}"
    return (
        f"redrove {counts['redriven']}, started {counts['started']} of {counts['weeks']} {units}:"
        f" {counts['succeeded']} succeeded, {counts['failed']} did not"
    )


__all__ = [
    "can_succeed_from",
    "DEFAULT_STATUSES",
    "REDRIVE",
    "SKIP",
    "START",
    "next_name",
    "outcome",
    "plan_rerun",
    "redrive_refusal",
    "rerun",
    "summarize",
    "summary_line",
]
