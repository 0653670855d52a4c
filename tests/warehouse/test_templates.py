"""The SQL templates in definitions/sql/ on a real DuckDB file: the check, the idempotent
weekly insert in one transaction, and the report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from wh_helpers import EVENTS, SUMMARY, WEEK, add_events, statements, template

from opsbook.warehouse import WarehouseError

D = dt.date

ROWS = [
    (D(2026, 11, 18), "u0", "click", "9.00"),  # the day before the week: not loaded
    (D(2026, 11, 19), "u1", "click", "1.25"),
    (D(2026, 11, 19), "u1", "click", "2.00"),
    (D(2026, 11, 19), "u2", "buy", "10.50"),
    (D(2026, 11, 25), "u1", "click", "0.10"),
    (D(2026, 11, 25), "u3", "click", "0.20"),
    (D(2026, 11, 26), "u9", "click", "5.00"),  # the run day itself: next week
]


def summary(wh):
    df = wh.query(f"SELECT * FROM {SUMMARY} ORDER BY week, event_date, event_type")
    return df.astype(object).to_dict("records")


def test_check_records_counts_the_last_day(wh):
    sql = template("check_records")
    df = wh.query(sql, {"check_date": WEEK["week_end"]})
    assert list(df.columns) == ["return_value"]
    assert str(df["return_value"].dtype) == "Int64"
    assert int(df["return_value"].iloc[0]) == 0
    add_events(wh, ROWS)
    assert int(wh.query(sql, {"check_date": D(2026, 11, 25)})["return_value"].iloc[0]) == 2
    assert int(wh.query(sql, {"check_date": D(2026, 11, 19)})["return_value"].iloc[0]) == 3
    assert int(wh.query(sql, {"check_date": D(2026, 11, 24)})["return_value"].iloc[0]) == 0


def test_insert_week_aggregates_the_week(wh):
    add_events(wh, ROWS)
    inserted = wh.script(statements("insert_week"), WEEK)
    assert inserted == 3  # (11-19 buy), (11-19 click), (11-25 click)
    assert summary(wh) == [
        {"week": D(2026, 11, 26), "event_date": D(2026, 11, 19), "event_type": "buy",
         "events": 1, "users": 1, "amount": Decimal("10.5")},
        {"week": D(2026, 11, 26), "event_date": D(2026, 11, 19), "event_type": "click",
         "events": 2, "users": 1, "amount": Decimal("3.25")},
        {"week": D(2026, 11, 26), "event_date": D(2026, 11, 25), "event_type": "click",
         "events": 2, "users": 2, "amount": Decimal("0.3")},
    ]  # fmt: skip


def test_insert_week_is_idempotent(wh):
    add_events(wh, ROWS)
    wh.script(statements("insert_week"), WEEK)
    first = summary(wh)
    assert wh.script(statements("insert_week"), WEEK) == 3
    assert summary(wh) == first
    # Late rows for the week replace the week's rows; they are never added twice.
    add_events(wh, [(D(2026, 11, 25), "u4", "buy", "1.00")])
    wh.script(statements("insert_week"), WEEK)
    after = summary(wh)
    assert len(after) == 4
    assert sum(r["events"] for r in after) == sum(r["events"] for r in first) + 1


def test_insert_week_leaves_other_weeks_alone(wh):
    add_events(wh, ROWS)
    previous = {"week": D(2026, 11, 19), "week_start": D(2026, 11, 12), "week_end": D(2026, 11, 18)}
    wh.script(statements("insert_week"), previous)
    wh.script(statements("insert_week"), WEEK)
    wh.script(statements("insert_week"), WEEK)
    weeks = [r["week"] for r in summary(wh)]
    assert weeks.count(D(2026, 11, 19)) == 1
    assert weeks.count(D(2026, 11, 26)) == 3


def test_failure_after_the_delete_rolls_the_week_back(wh):
    add_events(wh, ROWS)
    wh.script(statements("insert_week"), WEEK)
    before = summary(wh)
    delete, insert = statements("insert_week")
    # The DELETE succeeds, then the INSERT fails at run time (a bad cast of a real row):
    broken = insert.replace("COUNT(*) AS events", "MAX(CAST(user_id AS INT64)) AS events")
    with pytest.raises(WarehouseError, match="Bad int64 value"):
        wh.script([delete, broken], WEEK)
    assert summary(wh) == before
    # And the warehouse is usable afterwards (no transaction left open).
    assert wh.script(statements("insert_week"), WEEK) == 3


def test_script_missing_parameter_runs_nothing(wh):
    add_events(wh, ROWS)
    wh.script(statements("insert_week"), WEEK)
    before = summary(wh)
    with pytest.raises(WarehouseError, match="@week_end"):
        wh.script(
            statements("insert_week"), {"week": WEEK["week"], "week_start": WEEK["week_start"]}
        )
    assert summary(wh) == before


def test_weekly_summary_report_compares_weeks(wh):
    add_events(wh, ROWS)
    previous = {"week": D(2026, 11, 19), "week_start": D(2026, 11, 12), "week_end": D(2026, 11, 18)}
    wh.script(statements("insert_week"), previous)
    wh.script(statements("insert_week"), WEEK)
    df = wh.query(template("weekly_summary"), {"since": D(2026, 11, 1), "until": D(2026, 11, 30)})
    records = df.astype(object).to_dict("records")
    assert [r["week"] for r in records] == [D(2026, 11, 19), D(2026, 11, 26)]
    assert [r["events"] for r in records] == [1, 5]
    assert (
        records[0]["events_change"] is None
        or records[0]["events_change"] != records[0]["events_change"]
        or str(records[0]["events_change"]) == "<NA>"
    )
    assert records[1]["events_change"] == 4
    assert records[1]["events_change_ratio"] == 4.0
    assert records[1]["amount"] == Decimal("14.05")


def test_templates_use_only_parameters_and_placeholders():
    # Values only travel as @parameters; table names only as {{source}} / {{target}}.
    for name, params in [
        ("check_records", {"check_date"}),
        ("insert_week", {"week", "week_start", "week_end"}),
        ("weekly_summary", {"since", "until"}),
    ]:
        text = template(name)
        assert "{{" not in text
        assert "CURRENT_DATE" not in text.upper()
        import re

        assert set(re.findall(r"@(\w+)", text)) == params, name
        assert EVENTS in text or SUMMARY in text


def test_string_dates_are_refused_as_bigquery_would(wh):
    # BigQuery types a str parameter as STRING, and DATE BETWEEN STRING AND STRING has no
    # matching signature there; the offline warehouse refuses it too instead of casting.
    add_events(wh, ROWS)
    as_strings = {k: v.isoformat() for k, v in WEEK.items()}
    with pytest.raises(WarehouseError, match="DATE and VARCHAR"):
        wh.script(statements("insert_week"), as_strings)
    assert summary(wh) == []
