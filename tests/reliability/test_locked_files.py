"""The DuckDB file is held by another process, or the SQLite store is corrupted: a clear error
that names the file and what to do, and nothing overwritten (every file hashed before/after)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WEEK, add_week, one_line_error, run_cli, scrubbed_env  # noqa: E402

from opsbook.warehouse import WarehouseLocked  # noqa: E402
from opsbook.workflows.schedules import week_input  # noqa: E402


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _junk(path: Path) -> None:
    path.write_bytes(b"this is not a database" * 200)


def _damage_a_page(path: Path) -> None:
    """A real store with the events table's root page overwritten (the header and schema stay
    valid, so the file opens and only reading events would fail)."""
    import sqlite3

    conn = sqlite3.connect(path)
    (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()
    conn.close()
    with open(path, "r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xde\xad\xbe\xef" * (page_size // 4))


@pytest.fixture
def used_home(deployed, tmp_path):
    """A home with two closed executions, checkpointed into store.sqlite."""
    add_week(deployed, WEEK)
    assert deployed.start(week_input(WEEK), name=f"week-{WEEK}").status == "SUCCEEDED"
    failed = deployed.start(week_input("2026-11-19", max_polls=1), name="week-2026-11-19")
    assert failed.status == "FAILED"
    deployed.close()  # the last connection checkpoints the WAL
    home = Path(deployed.cfg.home)
    for leftover in ("store.sqlite-wal", "store.sqlite-shm"):
        assert not (home / leftover).exists() or (home / leftover).stat().st_size == 0
    return home


COMMANDS = [
    ["executions"],
    ["history", f"week-{WEEK}"],
    ["start", "--week", WEEK],
    ["weeks", "--since", "2026-11-19", "--until", WEEK],
    ["deploy"],
]


@pytest.mark.parametrize("damage", [_junk, _damage_a_page], ids=["junk", "damaged-page"])
def test_a_corrupted_store_is_named_and_never_overwritten(used_home, tmp_path, damage):
    store = used_home / "store.sqlite"
    damage(store)
    before = hashes(used_home)
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(used_home))
    for command in COMMANDS:
        line = one_line_error(run_cli(*command, env=env, cwd=tmp_path, timeout=60))
        assert str(store) in line, (command, line)
        assert "move it aside" in line and "backup" in line, line
        assert hashes(used_home) == before, f"{command} changed a file"


def test_a_held_warehouse_file_is_named_and_left_alone(used_home, make_local):
    """Another process writes to warehouse.duckdb: starting a week waits, then says which file
    and what to do; no execution is half-made and no file changes. (The CLI shows the same
    error after its 60 s wait: tests/local/test_executions.py covers the backend path too.)"""
    backend = make_local(used_home)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(60)", str(backend.warehouse_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "ready"
        before = hashes(used_home)
        backend.lock_timeout = 0.5
        with pytest.raises(WarehouseLocked) as info:
            backend.start(week_input("2026-12-03"), name="week-2026-12-03")
        message = str(info.value)
        assert str(backend.warehouse_path) in message and f"process {holder.pid}" in message
        assert "retry" in message and "\n" not in message and info.value.exit_code == 2
        names = sorted(e.name for e in backend.list_executions())
        assert names == ["week-2026-11-19", "week-2026-11-26"]  # nothing half-started
        backend.close()
        after = hashes(used_home)
        assert after["warehouse.duckdb"] == before["warehouse.duckdb"]
    finally:
        holder.kill()
        holder.wait(30)
