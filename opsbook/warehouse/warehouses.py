"""The warehouse implementations: the Warehouse protocol, DuckDB offline, BigQuery in production
(opsbook.warehouse documents the API)."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, unquote, urlparse

import pandas as pd
import pyarrow as pa

from opsbook.errors import ConfigError, OperationFailed, UsageError
from opsbook.warehouse.bigquery_jobs import (
    BIGQUERY_SCOPES,
    BigQueryError,
    google_message,
    query_parameter,
)
from opsbook.warehouse.rules import TranspileError, split_statements, transpile
from opsbook.warehouse.templates import WarehouseSpecError, render_template

try:
    import duckdb

    HAVE_DUCKDB = True
except ImportError:  # the Lambda layer ships BigQuery only; DuckDB is for offline use
    HAVE_DUCKDB = False

__all__ = [
    "BigQueryWarehouse",
    "DuckDBWarehouse",
    "Warehouse",
    "WarehouseError",
    "WarehouseLocked",
    "WarehouseSpecError",
    "open_warehouse",
    "render_template",
    "split_statements",
]

Params = Mapping[str, Any] | None


class WarehouseError(OperationFailed):
    """A query failed; the message is the database's own."""


class WarehouseLocked(WarehouseError, UsageError):
    """Another process holds the DuckDB file open: a one-line "what to do", exit 2."""

    exit_code = 2


@runtime_checkable
class Warehouse(Protocol):
    project: str

    def query(self, sql: str, params: Params = None) -> pd.DataFrame: ...

    def execute(self, sql: str, params: Params = None) -> int: ...

    def script(self, statements: list[str], params: Params = None) -> int: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- templates


# render_template and WarehouseSpecError live in opsbook.warehouse.templates (no dataframe imports).


# ---------------------------------------------------------------- DuckDB


def _arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """The dtypes google-cloud-bigquery's to_dataframe gives, so both warehouses agree."""
    import db_dtypes

    def mapper(t: pa.DataType):
        if pa.types.is_boolean(t):
            return pd.BooleanDtype()
        if pa.types.is_integer(t):
            return pd.Int64Dtype()
        if pa.types.is_date(t):
            return db_dtypes.DateDtype()
        if pa.types.is_time(t):
            return db_dtypes.TimeDtype()
        return None

    return table.to_pandas(types_mapper=mapper)


class DuckDBWarehouse:
    """BigQuery SQL on a local DuckDB file, through sqlglot plus opsbook.warehouse.rules."""

    def __init__(
        self,
        path: str | Path,
        *,
        read_only: bool = False,
        project: str = "opsbook-local",
        lock_timeout: float = 30.0,
    ):
        if not HAVE_DUCKDB:
            raise ConfigError("DuckDBWarehouse needs the duckdb package: pip install duckdb")
        self.path = str(path)
        self.read_only = read_only
        self.project = project
        self.lock_timeout = lock_timeout
        self._memory = self.path == ":memory:"
        # The open database while any call or session uses it; each call works on its own
        # cursor of it, so threads do not share a DuckDB connection.
        self._con: duckdb.DuckDBPyConnection | None = None
        self._users = 0
        self._lock = threading.Lock()  # guards _con / _users only, never held during SQL
        if self._memory:  # nothing to share; keep it or lose it
            self._con = self._open()
            self._users = 1

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({self.path!r}, read_only={self.read_only})"

    # -- connections

    def _open(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        read_only = self.read_only
        while True:
            try:
                con = duckdb.connect(self.path, read_only=read_only)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                text = str(exc)
                if "different configuration" in text and read_only:
                    # This process already has the file open read-write: read through that.
                    read_only = False
                    continue
                if "lock" not in text.lower() and "different configuration" not in text:
                    raise WarehouseError(f"cannot open {self.path}: {_duck_message(exc)}") from None
                if time.monotonic() >= deadline:
                    raise WarehouseLocked(self._locked_message(text)) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
            except duckdb.Error as exc:
                raise WarehouseError(f"cannot open {self.path}: {_duck_message(exc)}") from None
        # GLOBAL: the cursors each call works on inherit it.
        con.execute("SET GLOBAL TimeZone='UTC'")
        return con

    def _locked_message(self, text: str) -> str:
        holder = re.search(r"\(PID (\d+)\)", text)
        if "different configuration" in text:
            who = "a read-only connection in this process"
        else:
            who = f"process {holder.group(1)}" if holder else "another process"
        return (
            f"the warehouse file {self.path} is locked by {who}; wait for it to finish or "
            "stop it (DuckDB allows one writer process), then retry"
        )

    def _acquire(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._con is None:
                self._con = self._open()
            self._users += 1
            return self._con

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._con is not None:
                self._con.close()  # lets other processes open the file
                self._con = None

    @contextlib.contextmanager
    def session(self) -> Iterator[DuckDBWarehouse]:
        """Keep the file open across the calls inside the block (each open costs 30-150 ms)."""
        self._acquire()
        try:
            yield self
        finally:
            self._release()

    @contextlib.contextmanager
    def _connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = self._acquire().cursor()
        try:
            yield cursor
        finally:
            cursor.close()
            self._release()

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            self._con = None
            self._users = 0

    # -- SQL

    @staticmethod
    def _prepare(sql: str, params: Params) -> tuple[str, dict[str, Any]]:
        params = dict(params or {})
        try:
            names = transpile(sql)[1]
            missing = [n for n in names if n not in params]
            if missing:
                raise WarehouseError(f"query parameter @{missing[0]} has no value")
            # Only the names the SQL uses (DuckDB refuses unused ones), typed like BigQuery.
            bound = {n: params[n] for n in names}
            types = tuple((n, t) for n in names if (t := _duck_type(n, bound[n])) is not None)
            duck_sql, _ = transpile(sql, types)
        except TranspileError as exc:
            raise WarehouseError(str(exc)) from None
        return duck_sql, bound

    def query(self, sql: str, params: Params = None) -> pd.DataFrame:
        duck_sql, bound = self._prepare(sql, params)
        with self._connection() as con:
            return _run_query(con, duck_sql, bound)

    def execute(self, sql: str, params: Params = None) -> int:
        duck_sql, bound = self._prepare(sql, params)
        if self.read_only:
            raise WarehouseError(f"{self.path} is open read-only; cannot run {sql.split()[0]}")
        with self._connection() as con:
            return _run_execute(con, duck_sql, bound)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[DuckDBTransaction]:
        """A block of query/execute calls on one connection, committed at the end of the block
        and rolled back if anything in it raises."""
        if self.read_only:
            raise WarehouseError(f"{self.path} is open read-only; cannot write")
        with self._connection() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield DuckDBTransaction(con, self._prepare)
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                if isinstance(exc, duckdb.Error):  # the COMMIT itself failed
                    raise WarehouseError(_duck_message(exc)) from None
                raise

    def script(self, statements: list[str], params: Params = None) -> int:
        """Run the statements in one transaction; any failure rolls all of them back.
        Returns the rows affected by the last statement."""
        for statement in statements:  # refuse bad SQL and missing parameters up front
            self._prepare(statement, params)
        rows = 0
        with self.transaction() as tx:
            for statement in statements:
                rows = tx.execute(statement, params)
        return rows


class DuckDBTransaction:
    """query / execute inside DuckDBWarehouse.transaction()."""

    def __init__(self, con: duckdb.DuckDBPyConnection, prepare):
        self._con = con
        self._prepare = prepare

    def query(self, sql: str, params: Params = None) -> pd.DataFrame:
        return _run_query(self._con, *self._prepare(sql, params))

    def execute(self, sql: str, params: Params = None) -> int:
        return _run_execute(self._con, *self._prepare(sql, params))


def _run_query(con: duckdb.DuckDBPyConnection, duck_sql: str, bound: dict) -> pd.DataFrame:
    try:
        rel = con.sql(duck_sql, params=bound)
        if rel is None:  # not a SELECT
            return pd.DataFrame()
        table = rel.to_arrow_table()
        # SUM of integers is HUGEINT in DuckDB, INT64 in BigQuery.
        for i, kind in enumerate(rel.types):
            if str(kind) == "HUGEINT":
                table = table.set_column(i, table.field(i).name, table[i].cast(pa.int64()))
    except duckdb.Error as exc:
        raise WarehouseError(_duck_message(exc)) from None
    except pa.ArrowInvalid as exc:
        raise WarehouseError(f"integer overflow in INT64 result: {exc}") from None
    return _arrow_to_pandas(table)


def _run_execute(con: duckdb.DuckDBPyConnection, duck_sql: str, bound: dict) -> int:
    try:
        return _affected(con.execute(duck_sql, bound))
    except duckdb.Error as exc:
        raise WarehouseError(_duck_message(exc)) from None


def _duck_type(name: str, value: Any) -> str | None:
    """The DuckDB type of BigQuery's type for a bound Python value (see bigquery_parameter)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float):
        return "DOUBLE"
    if isinstance(value, decimal.Decimal):
        return "DECIMAL(38, 9)"
    if isinstance(value, dt.datetime):
        return "TIMESTAMPTZ"  # a naive datetime is read in the session zone, UTC
    if isinstance(value, dt.date):
        return "DATE"
    if isinstance(value, str):
        return "VARCHAR"
    if isinstance(value, bytes):
        return "BLOB"
    if hasattr(value, "item"):  # numpy scalars
        return _duck_type(name, value.item())
    raise WarehouseError(f"query parameter @{name}: unsupported type {type(value).__name__}")


def _affected(cursor: duckdb.DuckDBPyConnection) -> int:
    # DML returns one row holding the count; DDL returns nothing.
    try:
        if cursor.description and cursor.description[0][0] == "Count":
            row = cursor.fetchone()
            return int(row[0]) if row else 0
    except duckdb.Error:
        pass
    return 0


def _duck_message(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# ---------------------------------------------------------------- BigQuery


def bigquery_parameter(name: str, value: Any):
    """A ScalarQueryParameter whose type is inferred from the Python value
    (bigquery_jobs.query_parameter, its error as a WarehouseError)."""
    try:
        return query_parameter(name, value)
    except BigQueryError as exc:
        raise WarehouseError(str(exc)) from None


def bigquery_credentials(credentials: Any):
    """None (the default chain), a Credentials object, or a service-account JSON (str/dict)."""
    if credentials is None or hasattr(credentials, "before_request"):
        return credentials
    from google.oauth2 import service_account

    if isinstance(credentials, (str, bytes)):
        try:
            credentials = json.loads(credentials)
        except ValueError:
            raise WarehouseError("BigQuery credentials are not a service-account JSON") from None
    if not isinstance(credentials, dict):
        raise WarehouseError("BigQuery credentials must be a service-account JSON object")
    try:
        return service_account.Credentials.from_service_account_info(
            credentials, scopes=list(BIGQUERY_SCOPES)
        )
    except (ValueError, KeyError) as exc:
        raise WarehouseError(f"BigQuery service-account JSON is not usable: {exc}") from None


class BigQueryWarehouse:
    """The real BigQuery, through google-cloud-bigquery with bound query parameters."""

    def __init__(
        self,
        project: str,
        *,
        location: str | None = None,
        credentials: Any = None,
        client: Any = None,
        client_options: Any = None,
    ):
        from google.cloud import bigquery

        self.project = project
        self.location = location
        if client is None:
            if credentials is None and os.environ.get("BIGQUERY_EMULATOR_HOST"):
                # The client sends every request to that endpoint (a local BigQuery-compatible
                # server in tests); it takes no Google credentials.
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()
            client = bigquery.Client(
                project=project,
                location=location,
                credentials=bigquery_credentials(credentials),
                client_options=client_options,
            )
        self.client = client

    def __repr__(self) -> str:
        return f"BigQueryWarehouse({self.project!r}, location={self.location!r})"

    def _run(self, sql: str, params: Params):
        from google.api_core import exceptions as api_exceptions
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            use_legacy_sql=False,
            query_parameters=[bigquery_parameter(k, v) for k, v in (params or {}).items()],
        )
        try:
            job = self.client.query(sql, job_config=config, location=self.location)
            rows = job.result()
        except api_exceptions.GoogleAPICallError as exc:
            raise WarehouseError(google_message(exc)) from None
        except (api_exceptions.RetryError, OSError) as exc:
            raise WarehouseError(f"BigQuery did not answer: {exc}") from None
        return job, rows

    def query(self, sql: str, params: Params = None) -> pd.DataFrame:
        import warnings

        _, rows = self._run(sql, params)
        with warnings.catch_warnings():
            # 3.47 steers to_dataframe users towards pandas-gbq; the result is the same.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return rows.to_dataframe(create_bqstorage_client=False)

    def execute(self, sql: str, params: Params = None) -> int:
        job, _ = self._run(sql, params)
        return int(job.num_dml_affected_rows or 0)

    def script(self, statements: list[str], params: Params = None) -> int:
        """One BigQuery script, BEGIN TRANSACTION ... COMMIT TRANSACTION: all or nothing."""
        from opsbook.warehouse.bigquery_jobs import last_dml_count, transaction_script

        job, _ = self._run(transaction_script(statements), params)
        return last_dml_count(self.client, job)

    def close(self) -> None:
        self.client.close()


# ---------------------------------------------------------------- factory


def open_warehouse(spec: str | Mapping[str, Any]) -> Warehouse:
    """Open a warehouse from a URL or a dict.

    "duckdb:///abs/path.duckdb[?read_only=true&project=P]", "duckdb://relative/path.duckdb",
    "duckdb://:memory:",
    "bigquery://PROJECT[?location=L]", or {"kind": "duckdb"|"bigquery", ...keyword args}."""
    if isinstance(spec, Mapping):
        options = dict(spec)
        kind = options.pop("kind", None)
        if kind == "duckdb":
            path = options.pop("path", None)
            if not path:
                raise WarehouseSpecError("a duckdb warehouse needs a path")
            return DuckDBWarehouse(path, **options)
        if kind == "bigquery":
            project = options.pop("project", None)
            if not project:
                raise WarehouseSpecError("a bigquery warehouse needs a project")
            return BigQueryWarehouse(project, **options)
        raise WarehouseSpecError(f"warehouse kind must be 'duckdb' or 'bigquery', not {kind!r}")
    url = urlparse(spec)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    if url.scheme == "duckdb":
        # duckdb:///abs/path, duckdb://relative/path, duckdb://:memory:
        path = ":memory:" if url.netloc == ":memory:" else unquote(url.netloc + url.path)
        if not path:
            raise WarehouseSpecError(f"warehouse URL {spec!r} has no file path")
        read_only = query.pop("read_only", "false").lower() in ("1", "true", "yes")
        project = query.pop("project", "opsbook-local")
        if query:
            raise WarehouseSpecError(f"warehouse URL {spec!r}: unknown option {sorted(query)[0]!r}")
        return DuckDBWarehouse(path, read_only=read_only, project=project)
    if url.scheme == "bigquery":
        if not url.netloc:
            raise WarehouseSpecError(f"warehouse URL {spec!r} has no project")
        location = query.pop("location", None)
        if query:
            raise WarehouseSpecError(f"warehouse URL {spec!r}: unknown option {sorted(query)[0]!r}")
        return BigQueryWarehouse(url.netloc, location=location)
    raise WarehouseSpecError(
        f"warehouse URL must start with duckdb:// or bigquery://, not {spec!r}"
    )
