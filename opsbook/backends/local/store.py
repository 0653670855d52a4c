"""The local backend's SQLite store: state machines, versions, aliases, executions, events.

One file (`store.sqlite`, WAL) shared by every CLI process. Writes that must be atomic across
processes (the execution-name check + insert) run under BEGIN IMMEDIATE, so twenty processes
starting the same week make exactly one execution. Events have PRIMARY KEY (execution, id): an
event is persisted once, as the engine emits it, and never duplicated.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opsbook.backends.base import ABORTED, FAILED, RUNNING, TIMED_OUT, Execution, dumps
from opsbook.errors import ExecutionAlreadyExists, UsageError

SCHEMA_VERSION = 1
REDRIVABLE = (FAILED, TIMED_OUT, ABORTED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state_machines (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    state_machine TEXT NOT NULL REFERENCES state_machines(name) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    arn TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (state_machine, number)
);
CREATE TABLE IF NOT EXISTS aliases (
    state_machine TEXT NOT NULL REFERENCES state_machines(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    arn TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    previous_version INTEGER,
    updated TEXT NOT NULL,
    PRIMARY KEY (state_machine, name)
);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY,
    state_machine TEXT NOT NULL,
    state_machine_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    error TEXT,
    cause TEXT,
    start_date TEXT NOT NULL,
    stop_date TEXT,
    version_arn TEXT,
    redrive_count INTEGER NOT NULL DEFAULT 0,
    redrive_date TEXT,
    owner_pid INTEGER,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    UNIQUE (state_machine, name)
);
CREATE INDEX IF NOT EXISTS executions_start ON executions(state_machine, start_date);
CREATE TABLE IF NOT EXISTS events (
    execution TEXT NOT NULL REFERENCES executions(arn) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    previous_id INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    type TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (execution, id)
);
"""

_EXEC_COLUMNS = (
    "arn, name, status, input, output, error, cause, start_date, stop_date, state_machine_arn,"
    " version_arn, redrive_count, redrive_date"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_text(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds, so text order is time order."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def from_text(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _loads(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


# SQLite's words for a damaged file (SQLITE_NOTADB, SQLITE_CORRUPT, our quick_check).
_DAMAGE = ("not a database", "malformed", "integrity check failed")


class StorageError(UsageError):
    """The store's disk is full or read-only: said as such, with the path (never "corrupt")."""


def storage_problem(path: Path, exc: BaseException, what: str = "the store") -> str | None:
    """What a failed open or write of `path` means when the disk is to blame, else None.

    SQLite reports a full disk as "database or disk is full" (or, when even the -shm file
    cannot be made, "disk I/O error"), and a read-only one as "attempt to write a readonly
    database" or "unable to open database file"; the filesystem tells which it was."""
    text = str(exc).lower()
    if any(marker in text for marker in _DAMAGE):
        return None  # the file itself is damaged, whatever the disk
    folder = path.parent
    try:
        st: os.statvfs_result | None = os.statvfs(folder)
    except OSError:
        st = None
    if "full" in text or getattr(exc, "errno", None) == errno.ENOSPC or (st and st.f_bavail == 0):
        return f"disk is full: {what} {path} cannot be written ({exc}); free some space, then retry"
    read_only = (
        "readonly" in text
        or "read-only" in text
        or getattr(exc, "errno", None) in (errno.EROFS, errno.EACCES, errno.EPERM)
        or (st is not None and bool(st.f_flag & os.ST_RDONLY))
        or not os.access(folder, os.W_OK)
        or (path.exists() and not os.access(path, os.W_OK))
    )
    if read_only:
        return (
            f"read-only: {what} {path} cannot be written ({exc}); reading works, commands that"
            " change it need a writable home"
        )
    return None


def column_updates(fields: dict[str, Any]) -> tuple[str, list[Any]]:
    """`col = ?, ...` and the values for an UPDATE of the executions row (datetimes and JSON
    values encoded as the store keeps them)."""
    values = []
    for key, value in fields.items():
        if key in ("start_date", "stop_date", "redrive_date"):
            value = to_text(value)
        elif key in ("input", "output") and value is not None:
            value = dumps(value)
        values.append(value)
    return ", ".join(f"{key} = ?" for key in fields), values


class Store:
    """A SQLite store. Each thread gets its own connection (rerun acts on weeks from a thread
    pool, and one sqlite3 connection must not interleave transactions of two threads).

    A store that can be read but not written (read-only or full disk) is opened read-only:
    reads work, writes raise StorageError naming the problem. Every committed transaction
    bumps a write counter kept in the store and in `<store>-writes` beside it; a store whose
    counter is behind the file's lost committed writes (e.g. its -wal was deleted)."""

    def __init__(self, path: str | Path, *, timeout: float = 60.0):
        self.path = Path(path)
        self.timeout = timeout
        self.counter_path = self.path.with_name(self.path.name + "-writes")
        self.read_only = False
        self._write_problem: str | None = None
        self._target = str(self.path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._noted = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            size = self.path.stat().st_size if self.path.exists() else None
        except OSError as exc:
            raise UsageError(f"cannot use the folder {self.path.parent}: {exc.strerror}") from None
        if size == 0:
            # sqlite3 would quietly make it a new, empty store: a truncated file is damage.
            raise UsageError(
                f"store {self.path} is empty (0 bytes), not a store; move it aside or restore it"
                " from a backup"
            )
        try:
            if size is None:
                self._create()
            self._check_integrity()
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as exc:
            problem = storage_problem(self.path, exc)
            if problem is None or not self.path.exists():
                if problem is not None:
                    raise StorageError(problem) from None
                raise self._unreadable(exc) from None
            self._open_read_only(problem)
        self._check_writes()
        if not self.read_only:
            for target in (self.path, self.counter_path):
                try:
                    os.chmod(target, 0o600)
                except OSError:
                    pass

    def _unreadable(self, exc: Exception) -> UsageError:
        # A corrupted or foreign file: name it and say what to do; never overwrite it.
        return UsageError(
            f"store {self.path} is unreadable ({exc}); move it aside or restore it from a backup"
        )

    def _create(self) -> None:
        """Build a new store beside its place and link it in whole, so a kill mid-creation
        leaves no zero-byte or schema-less store behind (a second creator links first: fine)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.new")
        try:
            conn = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                self._schema(conn)
            finally:
                conn.close()
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: use theirs
            else:
                # A new store starts counting afresh; a counter left by a store someone
                # removed on purpose must not read as lost writes.
                self.counter_path.unlink(missing_ok=True)
        finally:
            tmp.unlink(missing_ok=True)
            tmp.with_name(tmp.name + "-wal").unlink(missing_ok=True)
            tmp.with_name(tmp.name + "-shm").unlink(missing_ok=True)

    def _open_read_only(self, problem: str) -> None:
        """Reads on a disk that cannot take writes. `mode=ro` still needs the -shm file;
        `immutable=1` needs none, and is exact when no -wal holds newer pages."""
        self.close()
        wal = self.path.with_name(self.path.name + "-wal")
        uri = "file:" + urllib.parse.quote(str(self.path))
        targets = [uri + "?mode=ro"]
        if not wal.exists() or wal.stat().st_size == 0:
            targets.append(uri + "?immutable=1")
        for target in targets:
            self._target = target
            self.read_only = True
            try:
                self._check_integrity()
            except sqlite3.DatabaseError as exc:
                self.close()
                if any(marker in str(exc).lower() for marker in _DAMAGE):
                    raise self._unreadable(exc) from None  # damaged, whatever the disk
                continue
            self._write_problem = problem
            return
        raise StorageError(problem)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self._target,
                    timeout=self.timeout,
                    isolation_level=None,
                    check_same_thread=False,
                    uri=self.read_only,
                )
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                conn.execute("PRAGMA foreign_keys = ON")
                if not self.read_only:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.DatabaseError as exc:
                if storage_problem(self.path, exc) is not None:
                    raise
                raise self._unreadable(exc) from None
            self._local.conn = conn
            with self._guard:
                self._all.append(conn)
        return conn

    def _check_integrity(self) -> None:
        """A damaged page would otherwise surface later, mid-command, as a bare DatabaseError;
        quick_check reads every page once (milliseconds for a store of years) and writes
        nothing, so a damaged file is refused before anything touches it."""
        (verdict,) = self.conn.execute("PRAGMA quick_check(1)").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {verdict}")

    @staticmethod
    def _schema(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('writes', '0')")
        conn.execute("COMMIT")

    def _migrate(self) -> None:
        # An up-to-date store is only read: readers work where writing cannot.
        try:
            current = self.get_meta("schema_version")
        except sqlite3.OperationalError:  # no meta table yet
            current = None
        if current == str(SCHEMA_VERSION) and self.get_meta("writes") is not None:
            return
        self._schema(self.conn)

    # ------------------------------------------------------------------ write counter
    def _check_writes(self) -> None:
        """A counter file ahead of the store means committed transactions are gone (a -wal
        deleted or not copied, an older copy restored): say so instead of showing less."""
        try:
            noted = int(self.counter_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return
        stored = int(self.get_meta("writes") or 0)
        if noted > stored:
            raise UsageError(
                f"store {self.path} lost {noted - stored} committed write(s): its write-ahead"
                f" log {self.path.name}-wal was removed or an older copy was restored; put the"
                f" -wal file back or restore a backup (delete {self.counter_path.name} to accept"
                " the loss)"
            )
        self._noted = noted

    def _note_writes(self, count: int) -> None:
        if count <= self._noted:
            return
        try:
            fd = os.open(self.counter_path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                # Fixed width at offset 0: one small write, never a half-written number.
                os.pwrite(fd, f"{count:020d}\n".encode(), 0)
            finally:
                os.close(fd)
            self._noted = count
        except OSError:
            pass  # the counter is a detector; the committed data is what matters

    def require_writable(self) -> None:
        if self._write_problem:
            raise StorageError(self._write_problem)

    def _write_error(self, exc: sqlite3.Error) -> BaseException:
        problem = storage_problem(self.path, exc)
        return StorageError(problem) if problem else exc

    def close(self) -> None:
        with self._guard:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so check-then-insert is
        atomic. A full or read-only disk becomes a StorageError naming it."""
        self.require_writable()
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._write_error(exc) from None
        try:
            yield conn
            (count,) = conn.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'writes'"
                " RETURNING value"
            ).fetchone() or (0,)
            conn.execute("COMMIT")
        except BaseException as exc:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise self._write_error(exc) from None
            raise
        self._note_writes(int(count))

    # ------------------------------------------------------------------ state machines
    def get_state_machine(self, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT name, arn, definition, created, updated FROM state_machines WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return None
        return dict(zip(("name", "arn", "definition", "created", "updated"), row, strict=True))

    def put_state_machine(self, name: str, arn: str, definition: str) -> None:
        now = to_text(utcnow())
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO state_machines(name, arn, definition, created, updated)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET definition = excluded.definition,"
                " updated = excluded.updated",
                (name, arn, definition, now, now),
            )

    def delete_state_machine(self, name: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM state_machines WHERE name = ?", (name,))

    # ------------------------------------------------------------------ versions and aliases
    def versions(self, state_machine: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT number, arn, definition, created FROM versions WHERE state_machine = ?"
            " ORDER BY number",
            (state_machine,),
        ).fetchall()
        return [dict(zip(("number", "arn", "definition", "created"), r, strict=True)) for r in rows]

    def version_by_arn(self, arn: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT number, arn, definition, created FROM versions WHERE arn = ?", (arn,)
        ).fetchone()
        return (
            dict(zip(("number", "arn", "definition", "created"), row, strict=True)) if row else None
        )

    def add_version(self, state_machine: str, arn_prefix: str, definition: str) -> dict[str, Any]:
        """Publish the next numbered version (immutable once written)."""
        with self.transaction() as conn:
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(number), 0) FROM versions WHERE state_machine = ?",
                (state_machine,),
            ).fetchone()
            number = last + 1
            arn = f"{arn_prefix}:{number}"
            conn.execute(
                "INSERT INTO versions(state_machine, number, arn, definition, created)"
                " VALUES (?, ?, ?, ?, ?)",
                (state_machine, number, arn, definition, to_text(utcnow())),
            )
        return {"number": number, "arn": arn, "definition": definition}

    def get_alias(self, state_machine: str, name: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT name, arn, version, previous_version FROM aliases"
            " WHERE state_machine = ? AND name = ?",
            (state_machine, name),
        ).fetchone()
        if row is None:
            return None
        return dict(zip(("name", "arn", "version", "previous_version"), row, strict=True))

    def set_alias(
        self, state_machine: str, name: str, arn: str, version: int, previous: int | None
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO aliases(state_machine, name, arn, version, previous_version, updated)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(state_machine, name) DO UPDATE SET version = excluded.version,"
                " previous_version = excluded.previous_version, updated = excluded.updated",
                (state_machine, name, arn, version, previous, to_text(utcnow())),
            )

    # ------------------------------------------------------------------ executions
    def create_execution(
        self,
        *,
        state_machine: str,
        state_machine_arn: str,
        arn: str,
        name: str,
        input: Any,
        start_date: datetime,
        version_arn: str | None,
        owner_pid: int | None = None,
    ) -> tuple[Execution, bool]:
        """Insert a RUNNING execution, with StartExecution's idempotency.

        Returns (execution, created). Same name + same input while RUNNING returns the original
        with created=False; a closed execution or a different input raises ExecutionAlreadyExists.
        """
        input_text = dumps(input)
        with self.transaction() as conn:
            row = conn.execute(
                f"SELECT {_EXEC_COLUMNS}, owner_pid FROM executions"
                " WHERE state_machine = ? AND name = ?",
                (state_machine, name),
            ).fetchone()
            if row is not None:
                existing = _execution(row[:-1])
                if existing.status == RUNNING and row[3] == input_text:
                    return existing, False
                why = (
                    "with a different input"
                    if row[3] != input_text
                    else f"and is {existing.status}"
                )
                raise ExecutionAlreadyExists(
                    f"execution {name} already exists {why}: {existing.arn}", existing
                )
            conn.execute(
                "INSERT INTO executions(arn, state_machine, state_machine_arn, name, status, input,"
                " start_date, version_arn, owner_pid, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    arn,
                    state_machine,
                    state_machine_arn,
                    name,
                    RUNNING,
                    input_text,
                    to_text(start_date),
                    version_arn,
                    owner_pid,
                    to_text(utcnow()),
                ),
            )
        return self.get_execution(arn), True  # type: ignore[return-value]

    def update_execution(self, arn: str, **fields: Any) -> None:
        """Set columns; datetimes and JSON values are encoded."""
        if not fields:
            return
        assignments, values = column_updates(fields)
        with self.transaction() as conn:
            conn.execute(f"UPDATE executions SET {assignments} WHERE arn = ?", (*values, arn))

    def finish_execution(
        self, arn: str, event: dict[str, Any], *, owner: int | None = None, **fields: Any
    ) -> bool:
        """Append the closing event and set the status row in ONE transaction, so a history
        never ends SUCCEEDED while the row says RUNNING or FAILED (a full disk between the two
        writes did exactly that). An event without an id gets the next one. With `owner`,
        only a RUNNING execution still owned by that pid is closed (the reaper's guard);
        returns whether it was closed."""
        assignments, values = column_updates(fields)
        with self.transaction() as conn:
            if owner is not None:
                row = conn.execute(
                    "SELECT status, owner_pid FROM executions WHERE arn = ?", (arn,)
                ).fetchone()
                if row is None or row[0] != RUNNING or row[1] != owner:
                    return False  # someone else closed, reaped or redrove it meanwhile
            if "id" not in event:
                (last,) = conn.execute(
                    "SELECT COALESCE(MAX(id), 0) FROM events WHERE execution = ?", (arn,)
                ).fetchone()
                event = {**event, "id": last + 1, "previousEventId": last}
            self._insert_event(conn, arn, event)
            conn.execute(f"UPDATE executions SET {assignments} WHERE arn = ?", (*values, arn))
        return True

    def claim_redrive(self, arn: str, *, owner_pid: int, redrive_date: datetime) -> Execution:
        """Move a FAILED, TIMED_OUT or ABORTED execution back to RUNNING for a redrive: one
        compare-and-set, so of two overlapping redrives one wins, and a redrive whose checks
        passed before another one SUCCEEDED is refused (RedriveExecution's rule)."""
        with self.transaction() as conn:
            claimed = conn.execute(
                "UPDATE executions SET status = ?, output = NULL, error = NULL, cause = NULL,"
                " stop_date = NULL, redrive_count = redrive_count + 1, redrive_date = ?,"
                " owner_pid = ?, stop_requested = 0"
                f" WHERE arn = ? AND status IN ({', '.join('?' * len(REDRIVABLE))})",
                (RUNNING, to_text(redrive_date), owner_pid, arn, *REDRIVABLE),
            ).rowcount
            if not claimed:
                row = conn.execute(
                    "SELECT name, status FROM executions WHERE arn = ?", (arn,)
                ).fetchone()
                if row is None:
                    raise UsageError(f"no execution {arn}")
                raise UsageError(
                    f"execution {row[0]} is {row[1]}; only a failed, timed out or aborted one"
                    " can be redriven"
                )
        return self.get_execution(arn)  # type: ignore[return-value]

    def get_execution(self, arn: str) -> Execution | None:
        row = self.conn.execute(
            f"SELECT {_EXEC_COLUMNS} FROM executions WHERE arn = ?", (arn,)
        ).fetchone()
        return _execution(row) if row else None

    def find_execution(self, state_machine: str, name: str) -> Execution | None:
        row = self.conn.execute(
            f"SELECT {_EXEC_COLUMNS} FROM executions WHERE state_machine = ? AND name = ?",
            (state_machine, name),
        ).fetchone()
        return _execution(row) if row else None

    def owner(self, arn: str) -> tuple[int | None, bool]:
        """(owner pid, stop requested) of an execution."""
        row = self.conn.execute(
            "SELECT owner_pid, stop_requested FROM executions WHERE arn = ?", (arn,)
        ).fetchone()
        return (row[0], bool(row[1])) if row else (None, False)

    def stop_requested(self, arn: str) -> bool:
        row = self.conn.execute(
            "SELECT stop_requested FROM executions WHERE arn = ?", (arn,)
        ).fetchone()
        return bool(row and row[0])

    def request_stop(self, arn: str, error: str | None, cause: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE executions SET stop_requested = 1, error = ?, cause = ?"
                " WHERE arn = ? AND status = ?",
                (error, cause, arn, RUNNING),
            )

    def list_executions(
        self,
        state_machine: str,
        *,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Execution]:
        """Newest first, filtered by start date (since inclusive, until exclusive)."""
        sql = f"SELECT {_EXEC_COLUMNS} FROM executions WHERE state_machine = ?"
        args: list[Any] = [state_machine]
        if status:
            sql += " AND status = ?"
            args.append(status)
        if since is not None:
            sql += " AND start_date >= ?"
            args.append(to_text(since))
        if until is not None:
            sql += " AND start_date < ?"
            args.append(to_text(until))
        sql += " ORDER BY start_date DESC, created DESC"
        return [_execution(r) for r in self.conn.execute(sql, args).fetchall()]

    def running(self) -> list[tuple[str, int | None]]:
        """(arn, owner pid) of every RUNNING execution."""
        return self.conn.execute(
            "SELECT arn, owner_pid FROM executions WHERE status = ?", (RUNNING,)
        ).fetchall()

    def delete_executions(self, state_machine: str) -> int:
        with self.transaction() as conn:
            return conn.execute(
                "DELETE FROM executions WHERE state_machine = ?", (state_machine,)
            ).rowcount

    # ------------------------------------------------------------------ events
    def append_event(self, execution: str, event: dict[str, Any]) -> bool:
        """Persist one history event; False when that id is already stored (never duplicated)."""
        with self.transaction() as conn:
            return self._insert_event(conn, execution, event)

    @staticmethod
    def _insert_event(conn: sqlite3.Connection, execution: str, event: dict[str, Any]) -> bool:
        details = {
            k: v
            for k, v in event.items()
            if k not in ("id", "previousEventId", "timestamp", "type")
        }
        cursor = conn.execute(
            "INSERT OR IGNORE INTO events(execution, id, previous_id, timestamp, type, details)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                execution,
                int(event["id"]),
                int(event.get("previousEventId", 0)),
                to_text(event["timestamp"]),
                event["type"],
                json.dumps(details, default=str, separators=(",", ":")),
            ),
        )
        return cursor.rowcount == 1

    def events(self, execution: str) -> list[dict[str, Any]]:
        """Events in id order, shaped like boto3's get_execution_history()["events"]."""
        rows = self.conn.execute(
            "SELECT id, previous_id, timestamp, type, details FROM events WHERE execution = ?"
            " ORDER BY id",
            (execution,),
        ).fetchall()
        out = []
        for event_id, previous, timestamp, kind, details in rows:
            event = {
                "timestamp": from_text(timestamp),
                "type": kind,
                "id": event_id,
                "previousEventId": previous,
            }
            event.update(json.loads(details))
            out.append(event)
        return out

    def last_event_id(self, execution: str) -> int:
        (last,) = self.conn.execute(
            "SELECT COALESCE(MAX(id), 0) FROM events WHERE execution = ?", (execution,)
        ).fetchone()
        return last


def _execution(row: tuple) -> Execution:
    (
        arn,
        name,
        status,
        input_text,
        output_text,
        error,
        cause,
        start,
        stop,
        sm_arn,
        version_arn,
        redrive_count,
        redrive_date,
    ) = row
    return Execution(
        arn=arn,
        name=name,
        status=status,
        start_date=from_text(start),  # type: ignore[arg-type]
        state_machine_arn=sm_arn,
        stop_date=from_text(stop),
        input=_loads(input_text),
        output=_loads(output_text),
        error=error,
        cause=cause,
        version_arn=version_arn,
        redrive_count=redrive_count,
        redrive_date=from_text(redrive_date),
    )
