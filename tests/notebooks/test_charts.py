"""opsbook.reporting.charts against the demo home's real DuckDB warehouse and real histories."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from opsbook.backends import connect
from opsbook.operations.history import History, config_of
from opsbook.reporting import charts
from opsbook.warehouse import DuckDBWarehouse

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def local(demo):
    backend = connect("local", home=demo.home)
    yield backend, config_of(backend), backend.warehouse()
    backend.close()


def _count(home, day: date) -> int:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = con.execute(
            "SELECT table_catalog, table_schema FROM information_schema.tables WHERE table_name='events'"
        ).fetchone()
        return con.execute(
            f'SELECT COUNT(*) FROM "{tables[0]}"."{tables[1]}".events WHERE event_date = ?', [day]
        ).fetchone()[0]


def test_arrival_per_day_counts_match_duckdb(local, demo):
    _, cfg, wh = local
    week = date.fromisoformat(demo.polled)
    arrival = charts.arrival_per_day(wh, cfg, week)
    assert list(arrival["event_date"]) == [week - timedelta(days=7 - i) for i in range(7)]
    assert arrival["is_check_date"].tolist() == [False] * 6 + [True]
    for day, rows in zip(arrival["event_date"], arrival["rows"], strict=True):
        assert rows == _count(demo.home, day) and rows > 0
    assert arrival["weekday"].iloc[0] == "Thu"


def test_days_without_rows_count_zero(local):
    _, cfg, wh = local
    counts = charts.daily_counts(wh, cfg, date(2020, 1, 1), date(2020, 1, 3))
    assert counts["rows"].tolist() == [0, 0, 0]


def test_week_over_week_lists_loaded_weeks_with_changes(local, demo):
    _, cfg, wh = local
    summary = charts.week_over_week(wh, cfg, date.fromisoformat(demo.end), 8)
    # The failed week loaded nothing; the three others did.
    assert [w.isoformat() for w in summary["week"]] == ["2026-11-12", "2026-11-19", "2026-11-26"]
    assert pd.isna(summary["rows_change"].iloc[0])
    changes = summary["rows"].astype(int).diff().iloc[1:].tolist()
    assert summary["rows_change"].iloc[1:].astype(int).tolist() == changes


SOURCE_COLUMNS = "event_date, event_ts, user_id, event_type, amount, arrival_ts"


def _add_earlier_week(home, cfg) -> None:
    """Copy the demo's oldest week one week further back: four earlier weeks instead of three."""
    writable = DuckDBWarehouse(home / "warehouse.duckdb", project=cfg.bq_project)
    source = f"`{cfg.fqn_source}`"
    writable.execute(
        f"INSERT INTO {source} ({SOURCE_COLUMNS}) SELECT DATE_SUB(event_date, INTERVAL 7 DAY),"
        f" event_ts, user_id, event_type, amount, arrival_ts FROM {source}"
        " WHERE event_date BETWEEN @first AND @last",
        {"first": date(2026, 10, 29), "last": date(2026, 11, 4)},
    )
    writable.close()


def _spike(home, cfg, day: date) -> None:
    """16x the day's rows."""
    writable = DuckDBWarehouse(home / "warehouse.duckdb", project=cfg.bq_project)
    source = f"`{cfg.fqn_source}`"
    for _ in range(4):
        writable.execute(
            f"INSERT INTO {source} ({SOURCE_COLUMNS}) SELECT {SOURCE_COLUMNS} FROM {source}"
            " WHERE event_date = @day",
            {"day": day},
        )
    writable.close()


def test_anomalies_flag_a_spike_and_nothing_else(local, home_copy, demo):
    backend = connect("local", home=home_copy)
    cfg = config_of(backend)
    week = date.fromisoformat(demo.end)
    spike_day = week - timedelta(days=1)
    _add_earlier_week(home_copy, cfg)
    before = charts.anomalies(backend.warehouse(), cfg, week)
    _spike(home_copy, cfg, spike_day)
    found = charts.anomalies(backend.warehouse(), cfg, week)
    backend.close()
    assert len(found) == 7
    assert found["baseline_weeks_used"].tolist() == [4] * 7
    was = set(before.loc[before["anomaly"], "event_date"])
    assert spike_day not in was
    assert set(found.loc[found["anomaly"], "event_date"]) == was | {spike_day}
    row = found[found["event_date"] == spike_day].iloc[0]
    assert row["rows"] > row["high"]


def test_fewer_than_four_earlier_weeks_flag_nothing(local, home_copy, demo):
    """Three earlier weeks: even a 16x spike is not flagged, and the band is left out."""
    backend = connect("local", home=home_copy)
    cfg = config_of(backend)
    spike_day = date.fromisoformat(demo.end) - timedelta(days=1)
    _spike(home_copy, cfg, spike_day)
    found = charts.anomalies(backend.warehouse(), cfg, date.fromisoformat(demo.end))
    backend.close()
    assert found["baseline_weeks_used"].tolist() == [3] * 7
    assert not found["anomaly"].any()
    assert found["low"].isna().all() and found["high"].isna().all()
    assert not found["baseline_mean"].isna().any()  # the mean is still shown


def test_anomalies_need_a_baseline(local, demo):
    _, cfg, wh = local
    found = charts.anomalies(wh, cfg, date.fromisoformat(demo.first))
    assert not found["anomaly"].any()
    assert found["baseline_mean"].isna().all()
    assert found["baseline_weeks_used"].tolist() == [0] * 7


def test_as_of_the_run_leaves_out_rows_that_arrived_later(local, demo):
    backend, cfg, wh = local
    week = date.fromisoformat(demo.failed)
    failed = next(ex for ex in backend.list_executions() if ex.partition == demo.failed)
    now = charts.arrival_per_day(wh, cfg, week)
    at_run = charts.arrival_per_day(wh, cfg, week, as_of=failed.stop_date)
    assert now["rows"].iloc[-1] > 0 and at_run["rows"].iloc[-1] == 0  # the check day came late
    assert at_run["rows"].iloc[:-1].tolist() == now["rows"].iloc[:-1].tolist()
    earlier = charts.arrival_per_day(wh, cfg, week, as_of=failed.start_date - timedelta(days=8))
    assert earlier["rows"].sum() == 0  # before the week began nothing had arrived


@pytest.mark.parametrize(
    ("week", "verdict"),
    [
        ("2026-11-05", "after the polling deadline"),  # the failed week
        ("2026-11-12", "while the run was polling"),  # the polled week
        ("2026-11-19", "before the scheduled run"),
    ],
)
def test_check_day_arrival_against_the_run_and_the_deadline(local, week, verdict):
    _, cfg, wh = local
    timing = charts.check_day_arrival(wh, cfg, date.fromisoformat(week))
    assert timing["verdict"] == verdict and timing["rows"] > 0
    assert timing["check_date"] == date.fromisoformat(week) - timedelta(days=1)
    assert timing["scheduled_run"].isoformat() == f"{week}T00:30:00+00:00"  # 09:30 Tokyo
    assert timing["polling_deadline"] - timing["scheduled_run"] == timedelta(hours=3)


def test_check_day_arrival_of_a_day_without_rows(local):
    _, cfg, wh = local
    timing = charts.check_day_arrival(wh, cfg, date(2020, 1, 2))
    assert timing["verdict"] == "not arrived" and timing["rows"] == 0
    assert timing["first_arrival"] is None and timing["last_arrival"] is None


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([100, 110, 90, 100], {"weeks_used": 4, "mean": 100.0, "low": 78.8, "high": 121.2}),
        ([100, 110, 90], {"weeks_used": 3, "mean": None, "low": None, "high": None}),
        ([], {"weeks_used": 0, "mean": None, "low": None, "high": None}),
    ],
)
def test_expected_band_of_rows_loaded(rows, expected):
    weeks = [date(2026, 10, 1) + timedelta(weeks=i) for i in range(len(rows) + 1)]
    # The report's own week (last, 10x) never counts towards its band.
    summary = pd.DataFrame({"week": weeks, "rows": [*rows, 1000]})
    assert charts.expected_band(summary, weeks[-1]) == expected


def test_notifications_from_a_real_history(local, demo):
    backend, cfg, _ = local
    hist = History(backend, cfg)
    failed = next(ex for ex in backend.list_executions() if ex.partition == demo.failed)
    sent = charts.notifications(hist.events(failed))
    assert list(sent.columns) == ["timestamp", "state", "text", "sent"]
    # Polling start, then every 6th poll (notify_every) up to the 18th; the failure itself
    # reaches Slack from the execution status change event, so it is not in the history.
    assert sent["state"].tolist() == ["NotifyWaiting"] * 4
    assert sent["sent"].all()
    assert "polling started" in sent["text"].iloc[0] and demo.failed in sent["text"].iloc[0]
    assert [t.split("after poll ")[1] for t in sent["text"].iloc[1:]] == [
        "6 of 18.",
        "12 of 18.",
        "18 of 18.",
    ]
    assert not sent["text"].str.contains("FAILED").any()
    assert charts.notifications(None).empty and charts.notifications(pd.DataFrame()).empty


def test_charts_render_to_png(local, demo):
    backend, cfg, wh = local
    hist = History(backend, cfg)
    polled = next(ex for ex in backend.list_executions() if ex.partition == demo.polled)
    week = date.fromisoformat(demo.polled)
    figures = [
        charts.gantt(hist.timeline(polled)),
        charts.gantt(pd.DataFrame()),
        charts.arrival_chart(
            charts.arrival_per_day(wh, cfg, week),
            charts.anomalies(wh, cfg, week),
            charts.arrival_per_day(wh, cfg, week, as_of=polled.stop_date),
        ),
        charts.arrival_timing_chart(charts.check_day_arrival(wh, cfg, week)),
        charts.arrival_timing_chart(charts.check_day_arrival(wh, cfg, date(2020, 1, 2))),
        charts.week_over_week_chart(
            charts.week_over_week(wh, cfg, week, 8),
            {"weeks_used": 4, "mean": 300, "low": 250, "high": 350},
            week,
        ),
        charts.week_over_week_chart(pd.DataFrame(columns=["week", "rows"])),
    ]
    for fig in figures:
        assert charts.to_png(fig)[:8] == PNG
    # One Gantt row per state visited, not per visit.
    assert len(figures[0].axes[0].get_yticks()) == hist.timeline(polled)["state"].nunique()


def test_styled_colours_status_cells():
    frame = pd.DataFrame({"week": ["a", "b"], "status": ["FAILED", "SUCCEEDED"]})
    html = charts.styled(frame).to_html()
    assert "background-color: #c62828" in html and "background-color: #2e7d32" in html
    assert charts.status_css("NOPE") == ""
