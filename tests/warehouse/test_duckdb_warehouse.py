"""DuckDBWarehouse on real files: parameters, errors, the file lock, schema, templates, factory."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
import time
from decimal import Decimal

import pytest
from wh_helpers import EVENTS, add_events

from opsbook.definitions.weekly_load.hooks import ensure_schema
from opsbook.errors import ConfigError, UsageError
from opsbook.warehouse import (
    BigQueryWarehouse,
    DuckDBWarehouse,
    Warehouse,
    WarehouseError,
    WarehouseLocked,
    open_warehouse,
    render_template,
)
from opsbook.warehouse.rules import split_statements, transpile

HOLD = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("ready", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
    """
)


def hold_file(path, seconds: float) -> subprocess.Popen:
    """Another process holding the DuckDB file open read-write for `seconds`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_is_a_warehouse(wh):
    assert isinstance(wh, Warehouse)


def columns_of(path):
    # Read the catalog with DuckDB itself: this checks the DDL, not the transpiler.
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'analytics' ORDER BY table_name, ordinal_position"
        ).fetchall()
    return {(t, c): d for t, c, d in rows}


def test_schema_has_the_documented_columns(wh, duck_path):
    columns = columns_of(duck_path)
    assert columns == {
        ("events", "event_date"): "DATE",
        ("events", "event_ts"): "TIMESTAMP WITH TIME ZONE",
        ("events", "user_id"): "VARCHAR",
        ("events", "event_type"): "VARCHAR",
        ("events", "amount"): "DECIMAL(38,9)",
        ("events", "arrival_ts"): "TIMESTAMP WITH TIME ZONE",
        ("weekly_summary", "week"): "DATE",
        ("weekly_summary", "event_date"): "DATE",
        ("weekly_summary", "event_type"): "VARCHAR",
        ("weekly_summary", "events"): "BIGINT",
        ("weekly_summary", "users"): "BIGINT",
        ("weekly_summary", "amount"): "DECIMAL(38,9)",
    }
    ensure_schema(wh)  # idempotent
    assert columns_of(duck_path) == columns


def test_parameters_bind_by_name_and_unused_ones_are_ignored(wh):
    df = wh.query(
        "SELECT @d AS d, @n AS n, @x AS x, @s AS s, @b AS b",
        {
            "d": dt.date(2026, 11, 26),
            "n": 7,
            "x": Decimal("1.25"),
            "s": "it's",
            "b": True,
            "unused": 1,
        },
    )
    assert df.astype(object).to_dict("records") == [
        {"d": dt.date(2026, 11, 26), "n": 7, "x": Decimal("1.25"), "s": "it's", "b": True}
    ]


def test_values_are_never_spliced_into_sql(wh):
    add_events(wh, [(dt.date(2026, 11, 25), "u1", "click", "1")])
    hostile = "x'; DELETE FROM analytics.events; --"
    df = wh.query(f"SELECT COUNT(*) AS n FROM {EVENTS} WHERE user_id = @u", {"u": hostile})
    assert int(df["n"].iloc[0]) == 0
    assert int(wh.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]) == 1


def test_missing_parameter_is_named(wh):
    with pytest.raises(WarehouseError, match="@check_date has no value"):
        wh.query(f"SELECT COUNT(*) FROM {EVENTS} WHERE event_date = @check_date", {})


def test_sql_errors_carry_the_database_message(wh):
    with pytest.raises(WarehouseError, match="nope"):
        wh.query("SELECT * FROM `opsbook-local.analytics.nope`")
    with pytest.raises(WarehouseError, match="not valid BigQuery SQL"):
        wh.query("SELEC 1")


def test_execute_returns_rows_affected(wh):
    assert add_events(wh, [(dt.date(2026, 11, 25), f"u{i}", "click", "1") for i in range(3)]) == 3
    assert wh.execute(f"DELETE FROM {EVENTS} WHERE user_id IN ('u0', 'u1')") == 2
    assert wh.execute("CREATE TABLE IF NOT EXISTS analytics.scratch (a INT64)") == 0


def test_read_only_warehouse_reads_but_refuses_writes(wh, duck_path):
    add_events(wh, [(dt.date(2026, 11, 25), "u1", "click", "1")])
    reader = DuckDBWarehouse(duck_path, read_only=True)
    assert int(reader.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]) == 1
    with pytest.raises(WarehouseError, match="read-only"):
        reader.execute(f"DELETE FROM {EVENTS} WHERE TRUE")
    with pytest.raises(WarehouseError, match="read-only"):
        reader.script([f"DELETE FROM {EVENTS} WHERE TRUE"])


def test_locked_file_gives_a_clear_usage_error(wh, duck_path):
    proc = hold_file(duck_path, 30)
    try:
        locked = DuckDBWarehouse(duck_path, lock_timeout=0.3)
        with pytest.raises(WarehouseLocked) as info:
            locked.query("SELECT 1 AS x")
        message = str(info.value)
        assert str(duck_path) in message
        assert f"process {proc.pid}" in message
        assert "retry" in message and "\n" not in message
        assert isinstance(info.value, UsageError) and info.value.exit_code == 2
        # Read-only opens are refused too while another process writes.
        with pytest.raises(WarehouseLocked):
            DuckDBWarehouse(duck_path, read_only=True, lock_timeout=0.1).query("SELECT 1 AS x")
    finally:
        proc.kill()
        proc.wait()


def test_waits_for_a_short_lock(wh, duck_path):
    proc = hold_file(duck_path, 0.5)
    try:
        start = time.monotonic()
        df = DuckDBWarehouse(duck_path, lock_timeout=10).query("SELECT 1 AS x")
        assert int(df["x"].iloc[0]) == 1
        assert time.monotonic() - start < 10
    finally:
        proc.wait(timeout=10)


def test_file_is_released_between_calls(wh, duck_path):
    wh.query("SELECT 1 AS x")
    # Another process can open it read-write right away: we hold nothing between calls.
    proc = hold_file(duck_path, 0)
    assert proc.wait(timeout=10) == 0


def test_session_holds_the_file_until_it_ends(wh, duck_path):
    with wh.session():
        wh.query("SELECT 1 AS x")
        with pytest.raises(WarehouseLocked):
            # the same in another process:
            result = subprocess.run(
                [sys.executable, "-c", HOLD, str(duck_path), "0"], capture_output=True, text=True
            )
            assert "Could not set lock" in result.stderr
            raise WarehouseLocked("seen from the other process")
    assert hold_file(duck_path, 0).wait(timeout=10) == 0


def test_transpile_is_cached():
    sql = "SELECT EXTRACT(DAYOFWEEK FROM @d) AS x"
    transpile(sql)
    hits = transpile.cache_info().hits
    assert transpile(sql) == ("SELECT (DAYOFWEEK($d) + 1) AS x", ("d",))
    assert transpile.cache_info().hits == hits + 1


def test_project_qualified_names_map_to_dataset_tables():
    out, _ = transpile("SELECT * FROM `my-project.analytics.events` JOIN analytics.other USING (x)")
    assert '"analytics"."events"' in out and "my-project" not in out


def test_split_statements_ignores_semicolons_in_strings_and_comments():
    text = "DELETE FROM t WHERE a = 'x;y'; -- note; here\nINSERT INTO t SELECT 1;\n\n-- end;\n"
    assert split_statements(text) == [
        "DELETE FROM t WHERE a = 'x;y'",
        "-- note; here\nINSERT INTO t SELECT 1",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project": "Bad_Project"}, "project id"),
        ({"dataset": "analytics`; DROP TABLE x; --"}, "dataset"),
        ({"source": "events x"}, "source"),
        ({"target": "1summary"}, "target"),
    ],
)
def test_render_template_rejects_bad_names(kwargs, message):
    names = dict(project="opsbook-local", dataset="analytics", source="events", target="summary")
    with pytest.raises(ValueError, match=message) as info:
        render_template("SELECT * FROM {{source}}", **{**names, **kwargs})
    assert isinstance(info.value, ConfigError) and info.value.exit_code == 2


def test_render_template_replaces_placeholders_only():
    names = dict(project="my-project", dataset="ds", source="events", target="summary")
    out = render_template("INSERT INTO {{ target }} SELECT * FROM {{source}} WHERE d = @d", **names)
    assert (
        out
        == "INSERT INTO `my-project.ds.summary` SELECT * FROM `my-project.ds.events` WHERE d = @d"
    )
    with pytest.raises(ValueError, match="unknown template placeholder"):
        render_template("SELECT {{week}}", **names)


def test_open_warehouse_specs(tmp_path):
    path = tmp_path / "w.duckdb"
    rw = open_warehouse(f"duckdb://{path}")
    assert isinstance(rw, DuckDBWarehouse) and rw.path == str(path) and not rw.read_only
    ensure_schema(rw)
    ro = open_warehouse(f"duckdb://{path}?read_only=true&project=other-project")
    assert ro.read_only and ro.project == "other-project"
    assert isinstance(open_warehouse("duckdb://:memory:"), DuckDBWarehouse)
    assert open_warehouse({"kind": "duckdb", "path": str(path), "read_only": True}).read_only
    from google.auth.credentials import AnonymousCredentials

    bq = open_warehouse(
        {"kind": "bigquery", "project": "my-project", "credentials": AnonymousCredentials()}
    )
    assert isinstance(bq, BigQueryWarehouse) and bq.client.project == "my-project"
    for bad in [
        "postgres://x",
        "duckdb://",
        "bigquery://",
        f"duckdb://{path}?colour=red",
        {"kind": "x"},
    ]:
        with pytest.raises(ValueError):
            open_warehouse(bad)


def test_bigquery_credentials_from_service_account_json():
    # A throwaway key generated for this test; it signs nothing anywhere.
    pytest.importorskip("cryptography")  # a moto dependency; google-auth signs with it or rsa
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    from opsbook.warehouse.warehouses import bigquery_credentials

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "my-project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "loader@my-project.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    import json

    for given in (info, json.dumps(info)):
        creds = bigquery_credentials(given)
        assert isinstance(creds, service_account.Credentials)
        assert creds.service_account_email == "loader@my-project.iam.gserviceaccount.com"
    with pytest.raises(WarehouseError, match="not a service-account JSON"):
        bigquery_credentials("{not json")


def test_transaction_block_commits_or_rolls_back(wh):
    with wh.transaction() as tx:
        assert tx.execute(f"INSERT INTO {EVENTS} (user_id) VALUES ('a'), ('b')") == 2
        # Inside the transaction its own writes are visible.
        assert int(tx.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]) == 2
    with pytest.raises(RuntimeError), wh.transaction() as tx:
        tx.execute(f"DELETE FROM {EVENTS} WHERE TRUE")
        raise RuntimeError("stop half-way")
    assert int(wh.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]) == 2


def test_calls_from_many_threads(wh):
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> int:
        wh.execute(f"INSERT INTO {EVENTS} (user_id) VALUES (@u)", {"u": f"t{i}"})
        return int(wh.query("SELECT @i + 1 AS x", {"i": i})["x"].iloc[0])

    with wh.session(), ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(work, range(16))) == [i + 1 for i in range(16)]
    assert int(wh.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]) == 16


def test_bigquery_ddl_storage_clauses_are_dropped(wh):
    # PARTITION BY / CLUSTER BY / OPTIONS only decide storage in BigQuery.
    wh.execute(
        "CREATE TABLE IF NOT EXISTS `opsbook-local.analytics.daily` (day DATE, n INT64, x NUMERIC)"
        " PARTITION BY day CLUSTER BY n OPTIONS (description = 'daily totals')"
    )
    assert (
        wh.execute(
            "INSERT INTO `opsbook-local.analytics.daily` VALUES (@d, 1, 0.5)",
            {"d": dt.date(2026, 1, 1)},
        )
        == 1
    )
    df = wh.query("SELECT day, n, x FROM `opsbook-local.analytics.daily`")
    assert df.astype(object).to_dict("records") == [
        {"day": dt.date(2026, 1, 1), "n": 1, "x": Decimal("0.5")}
    ]


def test_unsupported_sql_fails_loudly_not_silently():
    # Something sqlglot cannot express for DuckDB must be an error, never a wrong answer.
    with pytest.raises(WarehouseError, match="expected one SQL statement"):
        DuckDBWarehouse(":memory:").query("SELECT 1; SELECT 2")


def test_read_only_beside_a_writer_in_the_same_process(wh, duck_path):
    add_events(wh, [(dt.date(2026, 11, 25), "u1", "click", "1")])
    reader = DuckDBWarehouse(duck_path, read_only=True)
    with wh.session():  # this process holds the file read-write
        assert int(reader.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]) == 1
        with pytest.raises(WarehouseError, match="read-only"):
            reader.execute(f"DELETE FROM {EVENTS} WHERE TRUE")
    assert int(wh.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]) == 1
