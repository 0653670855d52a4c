"""The warehouse: one protocol, BigQuery in production and DuckDB offline, same BigQuery SQL.

Public API (all SQL is BigQuery Standard SQL with @named parameters; values only ever travel
as bound parameters):

    wh = open_warehouse("duckdb:///abs/path/warehouse.duckdb")     # or DuckDBWarehouse(path)
    wh = open_warehouse("duckdb:///abs/path/warehouse.duckdb?read_only=true")
    wh = open_warehouse("duckdb://:memory:")                        # tests
    wh = open_warehouse("bigquery://my-project?location=asia-northeast1")
    wh = open_warehouse({"kind": "bigquery", "project": "my-project", "credentials": sa_json})

    wh.query(sql, {"check_date": date(2026, 11, 25)})  -> pandas.DataFrame (BigQuery's dtypes:
                                                          Int64, boolean, dbdate, object Decimal)
    wh.execute(sql, params)                            -> rows affected (0 for DDL)
    wh.script([stmt, ...], params)                     -> rows affected by the LAST statement;
                                                          all statements in ONE transaction
    with duck_wh.transaction() as tx: tx.execute(...)  # DuckDB only: query/execute in one tx
    wh.close()

    sql = render_template(text, project=..., dataset=..., source=..., target=...)
    statements = split_statements(sql)                 # a template's `;`-separated statements
    # (tables are a workflow's own: the weekly load creates its in definitions/weekly_load/hooks.py)

BigQuery: credentials are a service-account JSON (str or dict), a google.auth Credentials
object, or None for the default chain. BIGQUERY_EMULATOR_HOST=http://127.0.0.1:PORT (honoured
by google-cloud-bigquery) sends every request to a local endpoint, with anonymous credentials.

Errors: WarehouseError (an OperationFailed, exit 1) carries the database's message;
WarehouseLocked (exit 2) names a DuckDB file another process holds open;
WarehouseSpecError (a ConfigError and a ValueError, exit 2): bad URL, name or placeholder.

DuckDB files: another process cannot open the file at all (not even read-only) while one
process holds it open read-write, so DuckDBWarehouse opens the file for each call and closes it
right after; a locked file is retried for `lock_timeout` seconds (default 30). An open costs
30-150 ms, so wrap bursts in `with wh.session(): ...`, which keeps the file open until the
block ends. Calls are thread-safe: each runs on its own cursor of the open database.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsbook.warehouse.rules import split_statements
    from opsbook.warehouse.templates import WarehouseSpecError, render_template
    from opsbook.warehouse.warehouses import (
        BigQueryWarehouse,
        DuckDBWarehouse,
        Warehouse,
        WarehouseError,
        WarehouseLocked,
        open_warehouse,
    )

# Names are loaded on first use, so the Lambda functions can import `opsbook.warehouse.rules`,
# `.templates` or `.bigquery_jobs` without pandas, pyarrow or DuckDB (absent from the layer).
_HOMES = {
    "BigQueryWarehouse": "warehouses",
    "DuckDBWarehouse": "warehouses",
    "Warehouse": "warehouses",
    "WarehouseError": "warehouses",
    "WarehouseLocked": "warehouses",
    "open_warehouse": "warehouses",
    "WarehouseSpecError": "templates",
    "render_template": "templates",
    "split_statements": "rules",
}

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


def __getattr__(name: str) -> Any:
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module 'opsbook.warehouse' has no attribute {name!r}")
    return getattr(importlib.import_module(f"opsbook.warehouse.{module}"), name)
