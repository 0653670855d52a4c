"""Partition schemes as tables: key, dates, execution name, the partitions between two dates,
the partition a fire time loads, and bad keys as one-line errors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from opsbook.errors import UsageError
from opsbook.workflows.partitions import parse_scheme

D = date.fromisoformat


@pytest.mark.parametrize(
    ("spec", "key", "start", "end", "name"),
    [
        ("daily", "2026-11-25", "2026-11-25", "2026-11-25", "day-2026-11-25"),
        ("weekly:THU", "2026-11-26", "2026-11-19", "2026-11-25", "week-2026-11-26"),
        ("weekly:MON", "2026-11-23", "2026-11-16", "2026-11-22", "week-2026-11-23"),
        ("monthly", "2026-11", "2026-11-01", "2026-11-30", "month-2026-11"),
        ("monthly", "2024-02", "2024-02-01", "2024-02-29", "month-2024-02"),
    ],
)
def test_a_partition_has_its_dates_and_name(spec, key, start, end, name):
    scheme = parse_scheme(spec, "UTC")
    part = scheme.parse(key)
    assert (part.key, part.start, part.end) == (key, D(start), D(end))
    assert scheme.execution_name(key) == name
    assert scheme.execution_name(key, 2) == f"{name}-r2"
    assert scheme.key_in_name(f"{name}-r2") == key and scheme.key_in_name("manual") is None


@pytest.mark.parametrize(
    ("spec", "since", "until", "keys"),
    [
        ("daily", "2026-11-29", "2026-12-02", ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]),
        ("weekly:THU", "2026-11-20", "2026-12-03", ["2026-11-26", "2026-12-03"]),
        ("weekly:THU", "2026-11-27", "2026-12-02", []),
        ("monthly", "2026-10-15", "2027-01-01", ["2026-11", "2026-12", "2027-01"]),
    ],
)  # fmt: skip
def test_partitions_between_two_dates(spec, since, until, keys):
    assert [p.key for p in parse_scheme(spec).between(since, until)] == keys


@pytest.mark.parametrize(
    ("spec", "zone", "fired", "key"),
    [
        # 02:00 in Los Angeles on the 26th (10:00 UTC) loads the 25th, the day that ended.
        ("daily", "America/Los_Angeles", datetime(2026, 11, 26, 10, 0, tzinfo=UTC), "2026-11-25"),
        # 00:30 UTC on Thursday is 09:30 Thursday in Tokyo: that week.
        ("weekly:THU", "Asia/Tokyo", datetime(2026, 11, 26, 0, 30, tzinfo=UTC), "2026-11-26"),
        # 20:00 UTC on Wednesday is already Thursday in Tokyo.
        ("weekly:THU", "Asia/Tokyo", datetime(2026, 11, 25, 20, 0, tzinfo=UTC), "2026-11-26"),
        ("monthly", "UTC", datetime(2026, 12, 1, 2, 0, tzinfo=UTC), "2026-11"),
    ],
)
def test_a_fire_time_loads_the_partition_complete_then(spec, zone, fired, key):
    assert parse_scheme(spec, zone).for_fire_time(fired).key == key


@pytest.mark.parametrize(
    ("spec", "key", "message"),
    [
        ("weekly:THU", "2026-11-27", "is a Friday, not a Thursday; nearest Thursdays: 2026-11-26"),
        ("weekly:MON", "2026-11-26", "not a Monday"),
        ("daily", "2026-02-30", "no such day"),
        ("daily", "yesterday", "not a date"),
        ("monthly", "2026-13", "not a month"),
        ("daily", "0001-01-01", "out of range"),
    ],
)
def test_a_bad_key_is_one_usage_error(spec, key, message):
    with pytest.raises(UsageError, match=message):
        parse_scheme(spec).parse(key)


@pytest.mark.parametrize(
    ("spec", "zone", "message"),
    [
        ("hourly", "UTC", "not daily, weekly"),
        ("weekly", "UTC", "needs a weekday"),
        ("weekly:XYZ", "UTC", "needs a weekday"),
        ("daily:MON", "UTC", "only weekly takes a weekday"),
        ("daily", "Mars/Olympus", "not a known time zone"),
    ],
)
def test_a_bad_scheme_is_one_usage_error(spec, zone, message):
    with pytest.raises(UsageError, match=message):
        parse_scheme(spec, zone)


def test_the_weekly_load_keeps_its_names_and_fire_times():
    from support.definitions import SHIPPED_WEEKLY_LOAD

    from opsbook.workflows.manifest import load_workflow

    weekly = load_workflow(SHIPPED_WEEKLY_LOAD, shipped=True)
    assert weekly.scheme.spec == "weekly:THU" and weekly.scheme.timezone.key == "Asia/Tokyo"
    assert weekly.execution_name("2026-11-26") == "week-2026-11-26"
    # From schedule.json (cron(30 9 ? * THU *) in Asia/Tokyo), not from a copy of it.
    assert weekly.fire_time("2026-11-26") == datetime(2026, 11, 26, 0, 30, tzinfo=UTC)
    assert weekly.execution_input("2026-11-26", poll_seconds=600, max_polls=18) == {
        "week": "2026-11-26",
        "week_start": "2026-11-19",
        "week_end": "2026-11-25",
        "check_date": "2026-11-25",
        "poll_seconds": 600,
        "max_polls": 18,
    }
