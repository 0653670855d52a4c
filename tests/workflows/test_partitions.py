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
        # Around daylight saving and month ends:
        # 05:00 in New York on the spring-forward day (2026-03-08, 09:00 UTC, EDT) loads the 7th.
        ("daily", "America/New_York", datetime(2026, 3, 8, 9, 0, tzinfo=UTC), "2026-03-07"),
        # 00:30 local on the fall-back day (2026-11-01, still EDT: 04:30 UTC) loads Oct 31st.
        ("daily", "America/New_York", datetime(2026, 11, 1, 4, 30, tzinfo=UTC), "2026-10-31"),
        # 23:30 UTC on Saturday is already Sunday in Berlin (summer time): that Sunday's week.
        ("weekly:SUN", "Europe/Berlin", datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "2026-03-29"),
        # The 1st of the month 00:30 in Berlin is still the last day of the month in UTC.
        ("monthly", "Europe/Berlin", datetime(2026, 2, 28, 23, 30, tzinfo=UTC), "2026-02"),
        ("monthly", "UTC", datetime(2026, 2, 28, 23, 30, tzinfo=UTC), "2026-01"),
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


# -- month and weekday edges, ranges in the scheme's own keys, DST -----------------------------


@pytest.mark.parametrize(
    ("spec", "key", "start", "end", "day"),
    [
        ("monthly", "2026-02", "2026-02-01", "2026-02-28", "2026-02-01"),
        ("monthly", "2028-02", "2028-02-01", "2028-02-29", "2028-02-01"),  # leap year
        ("monthly", "2026-12", "2026-12-01", "2026-12-31", "2026-12-01"),
        ("monthly", "2026-04-17", "2026-04-01", "2026-04-30", "2026-04-01"),  # a day: its month
        ("weekly:SUN", "2026-03-08", "2026-03-01", "2026-03-07", "2026-03-08"),
        ("weekly:SUN", "2027-01-03", "2026-12-27", "2027-01-02", "2027-01-03"),  # over New Year
        ("weekly:MON", "2024-03-04", "2024-02-26", "2024-03-03", "2024-03-04"),  # over Feb 29
        ("daily", "2028-02-29", "2028-02-29", "2028-02-29", "2028-02-29"),
    ],
)
def test_edges_of_months_years_and_weeks(spec, key, start, end, day):
    part = parse_scheme(spec).parse(key)
    assert (part.start, part.end, part.day) == (D(start), D(end), D(day))


@pytest.mark.parametrize(
    ("spec", "steps", "key", "expected"),
    [
        ("monthly", -1, "2026-01", "2025-12"),
        ("monthly", 1, "2026-12", "2027-01"),
        ("monthly", -13, "2026-03", "2025-02"),
        ("weekly:SUN", 1, "2026-12-27", "2027-01-03"),
        ("daily", 1, "2026-02-28", "2026-03-01"),
    ],
)
def test_shifting_a_partition(spec, steps, key, expected):
    scheme = parse_scheme(spec)
    assert scheme.shifted(scheme.parse(key), steps).key == expected


@pytest.mark.parametrize(
    ("spec", "since", "until", "keys"),
    [
        # Both bounds are inclusive: a partition is in the range when its key day is.
        ("daily", "2026-02-27", "2026-03-01", ["2026-02-27", "2026-02-28", "2026-03-01"]),
        ("daily", "2026-03-01", "2026-03-01", ["2026-03-01"]),
        ("weekly:SUN", "2026-03-01", "2026-03-15", ["2026-03-01", "2026-03-08", "2026-03-15"]),
        ("weekly:SUN", "2026-03-02", "2026-03-14", ["2026-03-08"]),
        # A monthly range in month keys includes both months; a date stands for itself, so a
        # mid-month --since starts at the next month (whose key day, the 1st, is in range).
        ("monthly", "2026-09", "2026-10", ["2026-09", "2026-10"]),
        ("monthly", "2026-12", "2027-02", ["2026-12", "2027-01", "2027-02"]),
        ("monthly", "2026-09-15", "2026-10", ["2026-10"]),
        ("monthly", "2026-09-01", "2026-09-30", ["2026-09"]),
    ],
)  # fmt: skip
def test_ranges_are_inclusive_in_the_schemes_own_keys(spec, since, until, keys):
    scheme = parse_scheme(spec)
    assert [p.key for p in scheme.between(since, until)] == keys
    assert scheme.count_between(since, until) == len(keys)


@pytest.mark.parametrize(
    ("spec", "since", "until", "message"),
    [
        ("daily", "2026-09", "2026-10-01", "--since '2026-09' is not a date"),  # months: monthly only
        ("monthly", "2026-13", "2027-01", "--since '2026-13' is not a month"),
        ("monthly", "2026-09", "soon", "--until 'soon' is not a date or month"),
        ("monthly", "2026-10", "2026-09", "--until 2026-09-01 is before --since 2026-10-01"),
    ],
)  # fmt: skip
def test_a_bad_range_is_one_usage_error(spec, since, until, message):
    with pytest.raises(UsageError, match=message):
        parse_scheme(spec).between(since, until)


@pytest.mark.parametrize(
    ("spec", "now", "expected"),
    [
        # The latest partition complete at `now`, in the scheme's zone.
        ("daily", datetime(2026, 3, 8, 4, 59, tzinfo=UTC), "2026-03-06"),
        ("daily", datetime(2026, 3, 8, 5, 0, tzinfo=UTC), "2026-03-07"),
        ("monthly", datetime(2026, 3, 1, 4, 59, tzinfo=UTC), "2026-01"),
        ("monthly", datetime(2026, 3, 1, 5, 0, tzinfo=UTC), "2026-02"),
    ],
)
def test_the_last_completed_partition_is_read_in_the_zone(spec, now, expected):
    # America/New_York is UTC-5 on both dates: midnight local is 05:00 UTC.
    assert parse_scheme(spec, "America/New_York").last_completed(now).key == expected


@pytest.mark.parametrize("spec", ["daily:", "monthly:", "weekly:"])
def test_a_trailing_colon_is_no_scheme(spec):
    with pytest.raises(UsageError, match=r"weekday|only weekly"):
        parse_scheme(spec)
