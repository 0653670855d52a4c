"""The SQLite store: round trips, persistence, StartExecution idempotency, WAL, corruption."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from opsbook.backends.local.store import Store
from opsbook.errors import ExecutionAlreadyExists, UsageError

T0 = datetime(2026, 11, 26, 0, 30, tzinfo=UTC)
SM = "sm"
SM_ARN = "arn:aws:states:local:000000000000:stateMachine:sm"


def _create(store: Store, name: str, input: dict, **kw):
    return store.create_execution(
        state_machine=SM,
        state_machine_arn=SM_ARN,
        arn=f"arn:aws:states:local:000000000000:execution:sm:{name}",
        name=name,
        input=input,
        start_date=kw.pop("start_date", T0),
        version_arn=f"{SM_ARN}:1",
        **kw,
    )


def _event(i: int, kind: str, when: datetime, **details) -> dict:
    return {"timestamp": when, "type": kind, "id": i, "previousEventId": i - 1, **details}


def test_state_machine_versions_alias_round_trip(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.put_state_machine(SM, SM_ARN, '{"a": 1}')
    v1 = store.add_version(SM, SM_ARN, '{"a": 1}')
    v2 = store.add_version(SM, SM_ARN, '{"a": 2}')
    store.set_alias(SM, "live", f"{SM_ARN}:live", v2["number"], v1["number"])
    store.close()

    again = Store(tmp_path / "s.sqlite")  # survives a restart
    assert again.get_state_machine(SM)["definition"] == '{"a": 1}'
    assert [v["number"] for v in again.versions(SM)] == [1, 2]
    assert again.version_by_arn(f"{SM_ARN}:2")["definition"] == '{"a": 2}'
    alias = again.get_alias(SM, "live")
    assert (alias["version"], alias["previous_version"]) == (2, 1)
    again.delete_state_machine(SM)  # cascades
    assert again.versions(SM) == [] and again.get_alias(SM, "live") is None


def test_execution_and_events_round_trip(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    execution, created = _create(store, "week-2026-11-26", {"week": "2026-11-26"}, owner_pid=1)
    assert created and execution.status == "RUNNING" and execution.input["week"] == "2026-11-26"
    details = {"executionStartedEventDetails": {"input": '{"week":"2026-11-26"}'}}
    assert store.append_event(execution.arn, _event(1, "ExecutionStarted", T0, **details))
    # The same event again is ignored: PRIMARY KEY (execution, id).
    assert not store.append_event(execution.arn, _event(1, "ExecutionStarted", T0, **details))
    store.append_event(execution.arn, _event(2, "ExecutionSucceeded", T0 + timedelta(seconds=5)))
    store.update_execution(
        execution.arn, status="SUCCEEDED", output={"ok": True}, stop_date=T0 + timedelta(seconds=5)
    )
    store.close()

    again = Store(tmp_path / "s.sqlite")
    got = again.get_execution(execution.arn)
    assert got.status == "SUCCEEDED" and got.output == {"ok": True}
    assert got.start_date == T0 and got.stop_date == T0 + timedelta(seconds=5)
    events = again.events(execution.arn)
    assert [e["id"] for e in events] == [1, 2]
    assert events[0]["executionStartedEventDetails"]["input"] == '{"week":"2026-11-26"}'
    assert events[0]["timestamp"] == T0 and events[0]["previousEventId"] == 0
    assert again.find_execution(SM, "week-2026-11-26").arn == execution.arn


def test_start_idempotency_follows_aws(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    first, created = _create(store, "w", {"week": "2026-11-26"})
    # Same name + same input while RUNNING: the original, nothing new.
    same, created_again = _create(store, "w", {"week": "2026-11-26"})
    assert created and not created_again and same.arn == first.arn
    # Different input: ExecutionAlreadyExists carrying the existing execution.
    with pytest.raises(ExecutionAlreadyExists) as info:
        _create(store, "w", {"week": "2026-11-19"})
    assert info.value.existing.arn == first.arn and "different input" in str(info.value)
    # Closed: even the same input is refused.
    store.update_execution(first.arn, status="FAILED", stop_date=T0)
    with pytest.raises(ExecutionAlreadyExists) as info:
        _create(store, "w", {"week": "2026-11-26"})
    assert info.value.existing.status == "FAILED"
    assert len(store.list_executions(SM)) == 1


def test_list_filters_and_order(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    for i in range(4):
        ex, _ = _create(store, f"w{i}", {"i": i}, start_date=T0 + timedelta(days=7 * i))
        store.update_execution(ex.arn, status="SUCCEEDED" if i % 2 else "FAILED")
    names = [e.name for e in store.list_executions(SM)]
    assert names == ["w3", "w2", "w1", "w0"]  # newest first
    assert [e.name for e in store.list_executions(SM, status="FAILED")] == ["w2", "w0"]
    window = store.list_executions(SM, since=T0 + timedelta(days=7), until=T0 + timedelta(days=21))
    assert [e.name for e in window] == ["w2", "w1"]


def test_wal_mode_and_pragmas(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_claim_redrive_is_atomic(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    ex, _ = _create(store, "w", {})
    with pytest.raises(UsageError, match="RUNNING"):
        store.claim_redrive(ex.arn, owner_pid=1, redrive_date=T0)
    store.update_execution(ex.arn, status="FAILED", error="E", cause="C", stop_date=T0)
    claimed = store.claim_redrive(ex.arn, owner_pid=1, redrive_date=T0 + timedelta(hours=1))
    assert claimed.status == "RUNNING" and claimed.redrive_count == 1
    assert claimed.error is None and claimed.redrive_date == T0 + timedelta(hours=1)
    with pytest.raises(UsageError):  # a second claimer loses
        store.claim_redrive(ex.arn, owner_pid=2, redrive_date=T0)


def test_corrupted_store_is_a_clear_error_and_is_not_overwritten(tmp_path):
    path = tmp_path / "store.sqlite"
    junk = b"this is not a database" * 100
    path.write_bytes(junk)
    with pytest.raises(UsageError) as info:
        Store(path)
    assert str(path) in str(info.value) and "move it aside" in str(info.value)
    assert path.read_bytes() == junk


def test_a_second_connection_sees_committed_writes(tmp_path):
    a, b = Store(tmp_path / "s.sqlite"), Store(tmp_path / "s.sqlite")
    ex, _ = _create(a, "w", {"x": 1})
    assert b.get_execution(ex.arn).input == {"x": 1}
    # A write lock held by one connection makes the other wait, then fail only after the timeout.
    slow = Store(tmp_path / "s.sqlite", timeout=0.2)
    a.conn.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _create(slow, "w2", {})
    a.conn.execute("ROLLBACK")
    assert _create(slow, "w2", {})[1]
