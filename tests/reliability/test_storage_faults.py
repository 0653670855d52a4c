"""Honest storage errors (issue 14, findings 3 and 13, and the zero-byte store).

Real small filesystems (tmpfs mounts, root only), a read-only remount, a store whose WAL was
lost after a SIGKILL, a zero-byte store, and homes that cannot be used (/proc, a symlink loop,
a 300-character name). A full or read-only disk is reported as such, with the path, never as
a corrupt store; read-only commands work on a read-only home; a week is never SUCCEEDED in its
history and FAILED in the store."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WEEK, add_week, one_line_error, run_cli, scrubbed_env  # noqa: E402

NAME = f"week-{WEEK}"
TERMINAL = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionAborted": "ABORTED",
    "ExecutionTimedOut": "TIMED_OUT",
}


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}); needs root")


def _umount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


@pytest.fixture
def small_fs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mnt = tmp_path / "mnt"
    _mount_tmpfs(mnt, "16m")
    yield mnt
    _umount(mnt)


@pytest.fixture
def prepared_home(deployed):
    """A deployed home with a complete week of data, closed (no process holds it)."""
    add_week(deployed)
    deployed.close()
    return Path(deployed.cfg.home)


def _fill(mnt: Path, leave_kib: int) -> None:
    st = os.statvfs(mnt)
    extra = st.f_bavail * st.f_frsize - leave_kib * 1024
    if extra > 0:
        with open(mnt / "filler", "wb") as out:
            out.truncate(0)
            chunk = b"\0" * (1 << 20)
            while extra > 0:
                try:
                    extra -= out.write(chunk[: min(extra, len(chunk))])
                except OSError:
                    break


def _state(env) -> tuple[str | None, list[str]]:
    shown = run_cli("history", NAME, "--json", env=env)
    if shown.code != 0:
        return None, []
    doc = json.loads(shown.out)
    return doc["execution"]["status"], [e["type"] for e in doc["events"]]


@pytest.mark.slow
def test_a_full_disk_is_named_and_never_splits_history_from_status(
    prepared_home, small_fs, tmp_path
):
    """The week runs on a filesystem with little room left, at sizes around every write of
    the run. The error says the disk is full and names the file; afterwards (space freed) the
    history's terminal event and the status row agree; the store is never called unreadable."""
    seen_full = 0
    for leave in (0, 40, 120, 200, 280, 340, 400, 440, 480, 520):
        home = small_fs / "home"
        shutil.rmtree(home, ignore_errors=True)
        (small_fs / "filler").unlink(missing_ok=True)
        shutil.copytree(prepared_home, home)
        env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
        _fill(small_fs, leave)
        started = run_cli("start", "--week", WEEK, env=env)
        listed = run_cli("executions", "--json", env=env)  # read-only: works on a full disk
        (small_fs / "filler").unlink()
        assert "unreadable" not in started.err + listed.err, (leave, started.err, listed.err)
        assert listed.code == 0, (leave, listed.err)
        if started.code != 0:
            line = one_line_error(started, started.code)
            assert "disk is full" in line and str(home) in line, (leave, line)
            seen_full += 1
        status, types = _state(env)
        if status is None:
            continue  # refused before the execution was created
        closing = [t for t in types if t in TERMINAL]
        assert len(closing) <= 1, (leave, types)
        if closing:
            assert TERMINAL[closing[0]] == status, (leave, status, types)
    assert seen_full >= 3  # the sizes really did hit the full disk


@pytest.fixture
def read_only_home(prepared_home, small_fs, tmp_path):
    home = small_fs / "home"
    shutil.copytree(prepared_home, home)
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    assert run_cli("start", "--week", WEEK, env=env).code == 0
    remount = subprocess.run(
        ["mount", "-o", "remount,ro", str(small_fs)], capture_output=True, text=True, timeout=30
    )
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
    return home, env


def test_read_only_commands_work_on_a_read_only_home(read_only_home):
    home, env = read_only_home
    listed = run_cli("executions", "--json", env=env)
    assert listed.code == 0, listed.err
    assert [(e["name"], e["status"]) for e in json.loads(listed.out)] == [(NAME, "SUCCEEDED")]
    shown = run_cli("history", NAME, "--json", env=env)
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["events"][-1]["type"] == "ExecutionSucceeded"
    weeks = run_cli("weeks", "--since", WEEK, "--until", WEEK, "--json", env=env)
    assert weeks.code == 0, weeks.err
    assert json.loads(weeks.out)[0]["status"] == "SUCCEEDED"


def test_writing_to_a_read_only_home_says_read_only(read_only_home):
    """Every command that writes the home says "read-only" with the path (exit 2, one
    line), never an OSError or a warehouse error with exit 1."""
    home, env = read_only_home
    for args in (
        ["start", "--week", "2026-11-19"],
        ["start", "--week", "2026-11-19", "--no-wait"],
        ["schedule", "run", "--since", "2026-11-19", "--until", "2026-11-19"],
        ["deploy"],
        ["teardown", "--yes"],
        ["init"],
        ["init", "--demo-data"],
    ):
        line = one_line_error(run_cli(*args, env=env))
        assert "read-only" in line and str(home) in line and "unreadable" not in line, (
            args,
            line,
        )


def test_deploy_plan_reads_a_read_only_home(read_only_home):
    home, env = read_only_home
    planned = run_cli("deploy", "--plan", env=env)
    assert planned.code == 0, planned.err


def test_a_zero_byte_store_is_an_error_not_a_new_store(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "store.sqlite").write_bytes(b"")
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    for args in (["executions"], ["init"], ["deploy"]):
        line = one_line_error(run_cli(*args, env=env))
        assert "empty" in line and str(home / "store.sqlite") in line
    assert (home / "store.sqlite").stat().st_size == 0
    assert sorted(p.name for p in home.iterdir()) == ["store.sqlite"]  # nothing written


def test_a_lost_wal_is_detected(prepared_home, tmp_path):
    """A finished week's record lives only in the WAL (another process kept the store open,
    then was killed, so nothing checkpointed it); the operator deletes the -wal file. The next
    command says the store lost committed writes instead of silently showing less."""
    store = prepared_home / "store.sqlite"
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(prepared_home))
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]);"
         " c.execute('SELECT COUNT(*) FROM meta').fetchone(); print('held', flush=True);"
         " time.sleep(300)", str(store)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert run_cli("start", "--week", WEEK, env=env).code == 0
    finally:
        holder.kill()
        holder.wait(30)
    wal = store.with_name("store.sqlite-wal")
    assert wal.exists() and wal.stat().st_size > 0
    wal.unlink()
    store.with_name("store.sqlite-shm").unlink(missing_ok=True)
    line = one_line_error(run_cli("executions", env=env))
    assert "lost" in line and str(store) in line


@pytest.mark.parametrize(
    "make_home",
    [
        pytest.param(lambda tmp: Path("/proc/opsbook-home"), id="on-proc"),
        pytest.param(lambda tmp: _loop(tmp), id="symlink-loop"),
        pytest.param(lambda tmp: tmp / ("h" * 300), id="300-char-name"),
        pytest.param(lambda tmp: _file(tmp) / "home", id="under-a-file"),
    ],
)
def test_an_unusable_home_is_one_line_exit_2(make_home, tmp_path):
    home = make_home(tmp_path)
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(home))
    for args in (["init"], ["deploy"], ["start", "--week", WEEK]):
        one_line_error(run_cli(*args, env=env))
    listed = run_cli("executions", env=env)  # reading a home that is not there: nothing, or
    if listed.code != 0:  # one line when the path itself cannot be looked at
        one_line_error(listed)


def _loop(tmp: Path) -> Path:
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    return tmp / "a" / "home"


def _file(tmp: Path) -> Path:
    (tmp / "plain").write_text("x")
    return tmp / "plain"


def test_the_store_schema_is_not_rewritten_by_readers(prepared_home):
    """Opening an up-to-date store writes nothing (so readers work where writing cannot)."""
    store = prepared_home / "store.sqlite"
    before = store.stat().st_mtime_ns, store.stat().st_size
    from opsbook.backends.local.store import Store

    opened = Store(store)
    opened.get_meta("schema_version")
    opened.close()
    assert (store.stat().st_mtime_ns, store.stat().st_size) == before
    conn = sqlite3.connect(store)
    assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
    conn.close()


def test_a_store_removed_on_purpose_starts_a_new_count(prepared_home, tmp_path):
    """Deleting store.sqlite (and its -wal/-shm) to start over is not a lost WAL."""
    env = scrubbed_env(tmp_path, OPSBOOK_HOME=str(prepared_home))
    assert run_cli("start", "--week", WEEK, env=env).code == 0
    assert (prepared_home / "store.sqlite-writes").exists()
    for name in ("store.sqlite", "store.sqlite-wal", "store.sqlite-shm"):
        (prepared_home / name).unlink(missing_ok=True)
    listed = run_cli("executions", "--json", env=env)
    assert listed.code == 0 and json.loads(listed.out) == []
    again = run_cli("start", "--week", WEEK, env=env)
    assert again.code == 0, again.err


def test_a_damaged_store_on_a_read_only_home_is_still_called_damaged(read_only_home, small_fs):
    """Read-only is not an excuse to misname damage: a junk store on a read-only disk is
    reported unreadable, not read-only."""
    home, env = read_only_home
    subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True, timeout=30)
    (home / "store.sqlite").write_bytes(b"not a database at all " * 512)
    for name in ("store.sqlite-wal", "store.sqlite-shm"):
        (home / name).unlink(missing_ok=True)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True, timeout=30)
    line = one_line_error(run_cli("executions", env=env))
    assert "unreadable" in line and "read-only" not in line
