"""BigQuery-dialect SQL run through DuckDBWarehouse must give BigQuery's documented results.

Each row cites the behaviour from the BigQuery Standard SQL reference
(cloud.google.com/bigquery/docs/reference/standard-sql/...). A sqlglot or duckdb upgrade
that changes any result fails here. Values are compared after the pandas conversion, and the
dtype is the one google-cloud-bigquery's to_dataframe gives for the BigQuery type.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from opsbook.warehouse import DuckDBWarehouse, WarehouseError

D = dt.date
UTC = dt.UTC

# (expression, expected value, expected dtype) -- run as `SELECT <expression> AS x`.
CASES = [
    # conversion_rules / conversion_functions: "SAFE_CAST ... returns NULL instead of an
    # error"; a STRING converts to INT64 only if it is an integer literal ('3.5' is not).
    ("SAFE_CAST('3.5' AS INT64)", None, "Int64"),
    ("SAFE_CAST('12' AS INT64)", 12, "Int64"),
    # conversion_functions, CAST AS INT64: "hex strings can be cast to an integer.
    # For example, 0x123 to 291".
    ("SAFE_CAST('0x1A' AS INT64)", 26, "Int64"),
    # CAST AS INT64 from FLOAT64: "Returns the closest integer value. Halfway cases such as
    # 1.5 or -0.5 round away from zero."
    ("CAST(2.5 AS INT64)", 3, "Int64"),
    ("CAST(-2.5 AS INT64)", -3, "Int64"),
    # SAFE_CAST to DATE of a non-date string: NULL.
    ("SAFE_CAST('not a date' AS DATE)", None, "dbdate"),
    # date_functions EXTRACT: "DAYOFWEEK: Returns values in the range [1,7] with Sunday as
    # the first day of the week." 2026-11-26 is a Thursday, 2026-11-29 a Sunday.
    ("EXTRACT(DAYOFWEEK FROM DATE '2026-11-26')", 5, "Int64"),
    ("EXTRACT(DAYOFWEEK FROM DATE '2026-11-29')", 1, "Int64"),
    # EXTRACT ISOWEEK: "Returns the ISO 8601 week number ... ISO weeks begin on Monday".
    ("EXTRACT(ISOWEEK FROM DATE '2026-11-26')", 48, "Int64"),
    # EXTRACT ISOYEAR: the ISO 8601 week-numbering year; 2027-01-01 (a Friday) is in 2026-W53.
    ("EXTRACT(ISOYEAR FROM DATE '2027-01-01')", 2026, "Int64"),
    # EXTRACT WEEK: "Weeks begin with Sunday, and dates prior to the first Sunday of the year
    # are in week 0." 2026 starts on a Thursday; its first Sunday is 2026-01-04.
    ("EXTRACT(WEEK FROM DATE '2026-01-03')", 0, "Int64"),
    ("EXTRACT(WEEK FROM DATE '2026-11-26')", 47, "Int64"),
    # EXTRACT WEEK(<WEEKDAY>): weeks begin on WEEKDAY; 2026-01-01 is itself a Thursday.
    ("EXTRACT(WEEK(THURSDAY) FROM DATE '2026-01-01')", 1, "Int64"),
    # DATE_ADD returns a DATE.
    ("DATE_ADD(DATE '2026-11-26', INTERVAL 1 DAY)", D(2026, 11, 27), "dbdate"),
    # DATE_ADD / DATE_SUB with MONTH: "If the resulting month has fewer days than the original
    # date's day, then the resulting date is the last date of that month."
    ("DATE_ADD(DATE '2024-01-31', INTERVAL 1 MONTH)", D(2024, 2, 29), "dbdate"),
    ("DATE_SUB(DATE '2026-03-31', INTERVAL 1 MONTH)", D(2026, 2, 28), "dbdate"),
    # DATE_TRUNC returns a DATE; MONTH -> the first day of the month.
    ("DATE_TRUNC(DATE '2026-11-26', MONTH)", D(2026, 11, 1), "dbdate"),
    # DATE_TRUNC WEEK(<WEEKDAY>): truncates to the preceding WEEKDAY; the week 2026-11-26
    # covers Thursday 11-19 .. Wednesday 11-25.
    ("DATE_TRUNC(DATE '2026-11-25', WEEK(THURSDAY))", D(2026, 11, 19), "dbdate"),
    # DATE_TRUNC ISOWEEK: "the preceding Monday".
    ("DATE_TRUNC(DATE '2026-11-26', ISOWEEK)", D(2026, 11, 23), "dbdate"),
    # DATE_DIFF: documented example DATE_DIFF('2017-10-15', '2017-10-14', WEEK) = 1
    # (WEEK counts Sunday boundaries; 2017-10-15 is a Sunday).
    ("DATE_DIFF(DATE '2017-10-15', DATE '2017-10-14', WEEK)", 1, "Int64"),
    ("DATE_DIFF(DATE '2026-11-26', DATE '2026-11-19', DAY)", 7, "Int64"),
    # LAST_DAY: last day of the month (leap year).
    ("LAST_DAY(DATE '2024-02-10')", D(2024, 2, 29), "dbdate"),
    # DATE_FROM_UNIX_DATE returns a DATE: days since 1970-01-01.
    ("DATE_FROM_UNIX_DATE(20000)", D(2024, 10, 4), "dbdate"),
    ("UNIX_DATE(DATE '2026-11-26')", 20783, "Int64"),
    # FORMAT_TIMESTAMP(format, ts, time_zone): formats in the given time zone; default UTC.
    (
        "FORMAT_TIMESTAMP('%Y-%m-%d %H:%M', TIMESTAMP '2026-11-26 20:00:00+00', 'Asia/Tokyo')",
        "2026-11-27 05:00",
        "str",
    ),
    ("FORMAT_TIMESTAMP('%H:%M', TIMESTAMP '2026-11-26 20:00:00+00')", "20:00", "str"),
    # DATE(timestamp, time_zone): the date in that zone.
    ("DATE(TIMESTAMP '2026-11-26 20:00:00+00', 'Asia/Tokyo')", D(2026, 11, 27), "dbdate"),
    # EXTRACT(... FROM ts AT TIME ZONE tz): the part in that zone.
    ("EXTRACT(HOUR FROM TIMESTAMP '2026-11-26 20:00:00+00' AT TIME ZONE 'Asia/Tokyo')", 5, "Int64"),
    # PARSE_TIMESTAMP(format, string, time_zone): the string is wall time in time_zone.
    (
        "PARSE_TIMESTAMP('%Y-%m-%d %H:%M', '2026-11-27 05:00', 'Asia/Tokyo')",
        pd.Timestamp("2026-11-26 20:00", tz="UTC"),
        "datetime64[us, UTC]",
    ),
    # TIMESTAMP(string, time_zone).
    (
        "TIMESTAMP('2026-11-27 05:00:00', 'Asia/Tokyo')",
        pd.Timestamp("2026-11-26 20:00", tz="UTC"),
        "datetime64[us, UTC]",
    ),
    # TIMESTAMP_TRUNC(ts, DAY, time_zone): the start of that day in the zone.
    (
        "TIMESTAMP_TRUNC(TIMESTAMP '2026-11-26 20:30:00+00', DAY, 'Asia/Tokyo')",
        pd.Timestamp("2026-11-26 15:00", tz="UTC"),
        "datetime64[us, UTC]",
    ),
    (
        "TIMESTAMP_DIFF(TIMESTAMP '2026-11-26 10:00:00+00', TIMESTAMP '2026-11-26 09:30:00+00', MINUTE)",
        30,
        "Int64",
    ),
    # FORMAT_DATE / PARSE_DATE.
    ("FORMAT_DATE('%Y%m%d', DATE '2026-11-26')", "20261126", "str"),
    ("PARSE_DATE('%Y%m%d', '20261126')", D(2026, 11, 26), "dbdate"),
    # mathematical_functions: DIV "rounds toward zero" -- documented DIV(-20, 3) = -6;
    # MOD takes the sign of X -- documented MOD(-25, 12) = -1.
    ("DIV(-20, 3)", -6, "Int64"),
    ("MOD(-25, 12)", -1, "Int64"),
    # ROUND: "Halfway cases such as 2.5 are rounded away from zero" -> -3.0; a 2.5 literal is
    # FLOAT64.
    ("ROUND(-2.5)", -3.0, "float64"),
    # lexical: a literal with a decimal point is a FLOAT64 (IEEE double), so 0.1 + 0.2 is
    # not exactly 0.3 -- unlike NUMERIC below.
    ("0.1 + 0.2", 0.30000000000000004, "float64"),
    # operators: "/" on INT64 returns FLOAT64.
    ("7 / 2", 3.5, "float64"),
    # SAFE_DIVIDE: NULL on division by zero.
    ("SAFE_DIVIDE(1, 0)", None, "float64"),
    # NUMERIC is exact decimal: 1.1 + 2.2 = 3.3 exactly (FLOAT64 would give 3.3000000000000003).
    ("NUMERIC '1.1' + NUMERIC '2.2'", Decimal("3.3"), "object"),
    # string_functions CONCAT: "If any input argument is NULL, the function returns NULL."
    ("CONCAT('a', NULL)", None, "object"),
    # SUBSTR with a negative position counts from the end.
    ("SUBSTR('apple', -2)", "le", "str"),
    ("SUBSTR('apple', 2, 2)", "pp", "str"),
    # LENGTH of a STRING counts characters, not bytes.
    ("LENGTH('日本')", 2, "Int64"),
    # GREATEST: "Returns NULL if any of the inputs is NULL."
    ("GREATEST(1, NULL, 3)", None, "Int64"),
    # GENERATE_DATE_ARRAY includes both ends: a week is seven dates.
    ("ARRAY_LENGTH(GENERATE_DATE_ARRAY(DATE '2026-11-19', DATE '2026-11-25'))", 7, "Int64"),
    ("REGEXP_CONTAINS('week-2026-11-26', r'^week-\\d{4}')", True, "boolean"),
    ("IF(1 > 2, 'x', 'y')", "y", "str"),
]

# Whole queries: (sql, expected records, expected dtypes).
QUERIES = [
    # aggregate_functions COUNTIF / SUM over INT64: INT64 results.
    (
        "SELECT COUNTIF(x > 1) AS c, SUM(x) AS s FROM UNNEST([1, 2, 3]) AS x",
        [{"c": 2, "s": 6}],
        {"c": "Int64", "s": "Int64"},
    ),
    # Over no rows: COUNT and COUNTIF give 0, SUM gives NULL ("Returns NULL if the input
    # contains only NULLs" / no rows).
    (
        "SELECT COUNT(*) AS n, COUNTIF(x > 0) AS c, SUM(x) AS s"
        " FROM UNNEST(CAST([] AS ARRAY<INT64>)) AS x",
        [{"n": 0, "c": 0, "s": None}],
        {"n": "Int64", "c": "Int64", "s": "Int64"},
    ),
    # STRING_AGG with ORDER BY; QUALIFY filters on a window function.
    (
        "SELECT STRING_AGG(x, ',' ORDER BY x DESC) AS g FROM UNNEST(['a', 'c', 'b']) AS x",
        [{"g": "c,b,a"}],
        {"g": "str"},
    ),
    (
        "SELECT x FROM UNNEST([3, 1, 2]) AS x QUALIFY ROW_NUMBER() OVER (ORDER BY x) = 1",
        [{"x": 1}],
        {"x": "Int64"},
    ),
]


@pytest.fixture(scope="module")
def memory_wh():
    warehouse = DuckDBWarehouse(":memory:")
    yield warehouse
    warehouse.close()


def _same(actual, expected) -> bool:
    if expected is None:
        return actual is None or pd.isna(actual)
    if isinstance(expected, float):
        return float(actual) == expected
    return actual == expected


@pytest.mark.parametrize(("expression", "expected", "dtype"), CASES, ids=[c[0] for c in CASES])
def test_expression_matches_bigquery(memory_wh, expression, expected, dtype):
    df = memory_wh.query(f"SELECT {expression} AS x")
    assert len(df) == 1
    value = df["x"].iloc[0]
    assert _same(value, expected), f"{expression}: got {value!r}, BigQuery gives {expected!r}"
    assert str(df["x"].dtype) == dtype


@pytest.mark.parametrize(("sql", "records", "dtypes"), QUERIES, ids=[q[0][:60] for q in QUERIES])
def test_query_matches_bigquery(memory_wh, sql, records, dtypes):
    df = memory_wh.query(sql)
    got = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in df.to_dict("records")]
    assert got == records
    assert {c: str(t) for c, t in df.dtypes.items()} == dtypes


def test_cast_of_decimal_string_to_int64_is_an_error(memory_wh):
    # CAST (not SAFE_CAST) of '3.5' AS INT64 is an error in BigQuery: "Bad int64 value: 3.5".
    with pytest.raises(WarehouseError, match="Bad int64 value: 3.5"):
        memory_wh.query("SELECT CAST('3.5' AS INT64) AS x")


def test_timestamp_columns_are_utc_instants(memory_wh):
    # TIMESTAMP is an absolute instant; the session zone is UTC so DATE(ts) is the UTC date.
    df = memory_wh.query(
        "SELECT DATE(@ts) AS utc_day, DATE(@ts, 'Asia/Tokyo') AS tokyo_day",
        {"ts": dt.datetime(2026, 11, 25, 20, 30, tzinfo=UTC)},
    )
    assert df.to_dict("records") == [{"utc_day": D(2026, 11, 25), "tokyo_day": D(2026, 11, 26)}]


def test_bq_server_helper_stays_opsbook_independent():
    # tests/warehouse/bq_server.py is reused by other test areas as a plain BigQuery endpoint.
    from pathlib import Path

    text = (Path(__file__).parent / "bq_server.py").read_text()
    assert "import opsbook" not in text and "from opsbook" not in text


def test_case_count_meets_the_issue_minimum():
    assert len(CASES) + len(QUERIES) >= 25
