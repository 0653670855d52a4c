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
    for day, events in zip(arrival["event_date"], arrival["events"], strict=True):
        assert events == _count(demo.home, day) and events > 0
    assert arrival["weekday"].iloc[0] == "Thu"


def test_days_without_rows_count_zero(local):
    _, cfg, wh = local
    counts = charts.daily_counts(wh, cfg, date(2020, 1, 1), date(2020, 1, 3))
    assert counts["events"].tolist() == [0, 0, 0]


def test_week_over_week_lists_loaded_weeks_with_changes(local, demo):
    _, cfg, wh = local
    summary = charts.week_over_week(wh, cfg, date.fromisoformat(demo.end), 8)
    # The failed week loaded nothing; the three others did.
    assert [w.isoformat() for w in summary["week"]] == ["2026-11-12", "2026-11-19", "2026-11-26"]
    assert pd.isna(summary["events_change"].iloc[0])
    changes = summary["events"].astype(int).diff().iloc[1:].tolist()
    assert summary["events_change"].iloc[1:].astype(int).tolist() == changes


def test_anomalies_flag_a_spike_and_nothing_else(local, home_copy, demo):
    _, _, original = local
    backend = connect("local", home=home_copy)
    cfg = config_of(backend)
    spike_day = date.fromisoformat(demo.end) - timedelta(days=1)
    writable = DuckDBWarehouse(home_copy / "warehouse.duckdb", project=cfg.bq_project)
    source = f"`{cfg.fqn_source}`"
    for _ in range(4):  # 16x the day's rows
        writable.execute(
            f"INSERT INTO {source} SELECT * FROM {source} WHERE event_date = @day",
            {"day": spike_day},
        )
    writable.close()
    week = date.fromisoformat(demo.end)
    before = charts.anomalies(original, cfg, week)
    found = charts.anomalies(backend.warehouse(), cfg, week)
    backend.close()
    assert len(found) == 7
    was = set(before.loc[before["anomaly"], "event_date"])
    assert spike_day not in was
    assert set(found.loc[found["anomaly"], "event_date"]) == was | {spike_day}
    row = found[found["event_date"] == spike_day].iloc[0]
    assert row["events"] > row["high"]
    # Baselines only use weeks that have data (the demo has three before this one).
    assert not found["baseline_mean"].isna().any()


def test_anomalies_need_a_baseline(local, demo):
    _, cfg, wh = local
    found = charts.anomalies(wh, cfg, date.fromisoformat(demo.first))
    assert not found["anomaly"].any()
    assert found["baseline_mean"].isna().all()


def test_notifications_from_a_real_history(local, demo):
    backend, cfg, _ = local
    hist = History(backend, cfg)
    failed = next(ex for ex in backend.list_executions() if ex.partition == demo.failed)
    sent = charts.notifications(hist.events(failed))
    assert list(sent.columns) == ["timestamp", "state", "text", "sent"]
    assert sent["state"].tolist() == ["NotifyWaiting"] * 18 + ["NotifyFailure"]
    assert sent["sent"].all()
    assert "poll 1 of 18" in sent["text"].iloc[0]
    assert demo.failed in sent["text"].iloc[-1] and "FAILED" in sent["text"].iloc[-1]
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
            charts.arrival_per_day(wh, cfg, week), charts.anomalies(wh, cfg, week)
        ),
        charts.week_over_week_chart(charts.week_over_week(wh, cfg, week, 8)),
        charts.week_over_week_chart(pd.DataFrame(columns=["week", "events"])),
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
