"""Values reach DuckDB and BigQuery only as bound parameters; table and dataset names come from
config and must match the identifier pattern.

- A week value with SQL metacharacters is refused by the Lambdas before any SQL runs
  (a recording DuckDB warehouse proves no statement was sent).
- A hostile string bound as a parameter round-trips literally in DuckDB and reaches the
  loopback BigQuery server only in queryParameters, never in the SQL text.
- Names: `dataset = "x; DROP TABLE y"` is refused by config, by Resources and by the renderer.
  (The CLI's exit 2 for it: test_bad_input.py::...[config-dataset-injection]; the BigQuery
  Lambda path with real templates: tests/aws/test_bigquery_path.py.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "warehouse"))
from bq_server import FakeBigQuery, warehouse_handler  # noqa: E402

from opsbook.config import load_config  # noqa: E402
from opsbook.definitions.weekly_load import check_records, insert_week  # noqa: E402
from opsbook.definitions.weekly_load.hooks import ensure_schema  # noqa: E402
from opsbook.errors import ConfigError  # noqa: E402
from opsbook.lambdas.resources import Resources  # noqa: E402
from opsbook.warehouse import (  # noqa: E402
    BigQueryWarehouse,
    DuckDBWarehouse,
    render_template,
)

EVENTS = "`opsbook-local.analytics.events`"
HOSTILE = [
    "2026-11-26'; DROP TABLE analytics.events; --",
    '2026-11-26" OR 1=1 --',
    "2026-11-26) UNION SELECT 1 --",
    "@week",
    "2026-11-26; DELETE FROM analytics.weekly_summary",
    "'",
]
FIELDS = ["week", "week_start", "week_end", "check_date"]


class RecordingWarehouse(DuckDBWarehouse):
    """A real DuckDB warehouse that also records every statement it is asked to run."""

    sent: list[str] = []

    def query(self, sql, params=None):
        self.sent.append(sql)
        return super().query(sql, params)

    def execute(self, sql, params=None):
        self.sent.append(sql)
        return super().execute(sql, params)

    def script(self, statements, params=None):
        self.sent.extend(statements)
        return super().script(statements, params)


@pytest.fixture
def home(tmp_path):
    from opsbook.config import PACKAGE_ROOT

    (tmp_path / "objects" / "sql").mkdir(parents=True)
    for path in (PACKAGE_ROOT / "definitions" / "weekly_load" / "sql").glob("*.sql"):
        (tmp_path / "objects" / "sql" / path.name).write_text(path.read_text())
    wh = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    ensure_schema(wh)
    wh.execute(
        f"INSERT INTO {EVENTS} (event_date, event_ts, user_id, event_type, amount)"
        " VALUES (DATE '2026-11-25', TIMESTAMP '2026-11-25 01:00:00', 'u', 'view', 1)"
    )
    wh.close()
    return tmp_path


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_week_values_are_refused_before_any_sql(home, value):
    RecordingWarehouse.sent = []
    resources = Resources.local(
        home, environ={}, open_warehouse=lambda: RecordingWarehouse(home / "warehouse.duckdb")
    )
    for field in FIELDS:
        event = {"week": "2026-11-26", field: value}
        for handler in (check_records, insert_week):
            result = handler.run(event, resources)
            assert result["statusCode"] == 500 and field in result["error"], result
    assert RecordingWarehouse.sent == []  # refused before any statement
    wh = DuckDBWarehouse(home / "warehouse.duckdb", read_only=True)
    assert int(wh.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]) == 1
    wh.close()


def test_a_valid_week_runs_only_parameterised_sql(home):
    RecordingWarehouse.sent = []
    resources = Resources.local(
        home, environ={}, open_warehouse=lambda: RecordingWarehouse(home / "warehouse.duckdb")
    )
    event = {"week": "2026-11-26"}
    assert check_records.run(event, resources) == {"statusCode": 200, "return_value": 1}
    assert insert_week.run(event, resources)["statusCode"] == 200
    assert RecordingWarehouse.sent
    for sql in RecordingWarehouse.sent:
        for value in ("2026-11-26", "2026-11-19", "2026-11-25"):
            assert value not in sql, sql  # dates travel as @parameters


def test_duckdb_binds_strings_literally(home):
    wh = DuckDBWarehouse(home / "warehouse.duckdb")
    try:
        with wh.session():
            for value in HOSTILE:
                wh.execute(
                    f"INSERT INTO {EVENTS} (event_date, event_ts, user_id, event_type, amount)"
                    " VALUES (DATE '2026-11-24', TIMESTAMP '2026-11-24 00:00:00', @u, 'view', 0)",
                    {"u": value},
                )
                got = wh.query(f"SELECT user_id FROM {EVENTS} WHERE user_id = @u", {"u": value})
                assert list(got["user_id"]) == [value]
            count = wh.query(f"SELECT COUNT(*) AS n FROM {EVENTS}")["n"].iloc[0]
            assert int(count) == 1 + len(HOSTILE)  # every table still there, nothing dropped
    finally:
        wh.close()


def test_bigquery_gets_values_only_as_query_parameters(home):
    duck = DuckDBWarehouse(home / "warehouse.duckdb")
    hostile = "x'; DROP TABLE analytics.events; --"
    with FakeBigQuery(warehouse_handler(duck)) as server:
        bq = BigQueryWarehouse(
            "opsbook-local",
            location="asia-northeast1",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": server.url},
        )
        try:
            frame = bq.query(
                f"SELECT COUNT(*) AS n FROM {EVENTS} WHERE user_id = @u", {"u": hostile}
            )
        finally:
            bq.close()
        (sent,) = server.queries()
    duck.close()
    assert int(frame["n"].iloc[0]) == 0
    assert hostile not in sent["query"] and "@u" in sent["query"]
    assert sent["parameterMode"] == "NAMED"
    assert sent["queryParameters"] == [
        {"name": "u", "parameterType": {"type": "STRING"}, "parameterValue": {"value": hostile}}
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("dataset", "x; DROP TABLE y"),
        ("source_table", "events`; DELETE FROM z; --"),
        ("target_table", "weekly summary"),
        ("dataset", "1abc"),
        ("bq_project", "proj`.x; --"),
    ],
)
def test_names_must_be_identifiers_everywhere(tmp_path, key, value):
    with pytest.raises(ConfigError, match=key):
        load_config(home=tmp_path, **{key: value})
    resource_key = {"bq_project": "project"}.get(key, key)
    with pytest.raises(ConfigError):
        Resources.local(tmp_path, environ={}, **{resource_key: value})
    names = dict(
        project="opsbook-local", dataset="analytics", source="events", target="weekly_summary"
    )
    names[
        {"bq_project": "project", "source_table": "source", "target_table": "target"}.get(key, key)
    ] = value
    with pytest.raises(ValueError):
        render_template("SELECT * FROM {{source}} JOIN {{target}}", **names)
