"""The week calendar: names, dates, refusals, and ranges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsbook.errors import UsageError
from opsbook.workflows.schedules import (
    WeekDates,
    last_completed_week,
    parse_week,
    week_dates,
    week_for_fire_time,
    week_input,
    weeks_between,
)

D = date.fromisoformat


@pytest.mark.parametrize(
    ("week", "start", "end", "check"),
    [
        ("2026-11-26", "2026-11-19", "2026-11-25", "2026-11-25"),
        ("2026-01-01", "2025-12-25", "2025-12-31", "2025-12-31"),  # across a year end
        ("2024-02-29", "2024-02-22", "2024-02-28", "2024-02-28"),  # a leap day Thursday
        ("2027-03-04", "2027-02-25", "2027-03-03", "2027-03-03"),  # across a February end
    ],
)
def test_week_dates(week, start, end, check):
    assert week_dates(week) == WeekDates(D(week), D(start), D(end), D(check))
    assert week_dates(D(week)) == week_dates(week)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "2026-11-25",
            "2026-11-25 is a Wednesday, not a Thursday; nearest Thursdays: 2026-11-19 and 2026-11-26",
        ),
        (
            "2026-11-27",
            "2026-11-27 is a Friday, not a Thursday; nearest Thursdays: 2026-11-26 and 2026-12-03",
        ),
        (
            "2026-11-22",
            "2026-11-22 is a Sunday, not a Thursday; nearest Thursdays: 2026-11-19 and 2026-11-26",
        ),
        ("2026-12-31", "2026-12-31 is a Thursday"),  # (valid; checked separately below)
        ("foo", "'foo' is not a date (YYYY-MM-DD)"),
        ("", "'' is not a date (YYYY-MM-DD)"),
        ("2026/11/26", "'2026/11/26' is not a date (YYYY-MM-DD)"),
        ("2026-02-30", "'2026-02-30' is not a date (YYYY-MM-DD): no such day"),
        ("26-11-26", "'26-11-26' is not a date (YYYY-MM-DD)"),
    ],
)
def test_parse_week_refusals_name_the_fix(text, message):
    if text == "2026-12-31":
        assert parse_week(text) == D(text)
        return
    with pytest.raises(UsageError) as err:
        parse_week(text)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_week_input_carries_the_week_and_its_dates():
    assert week_input("2026-11-26") == {
        "week": "2026-11-26",
        "week_start": "2026-11-19",
        "week_end": "2026-11-25",
        "check_date": "2026-11-25",
        "poll_seconds": 600,
        "max_polls": 18,
    }
    assert week_input("2026-11-26", poll_seconds=5, max_polls=2)["poll_seconds"] == 5
    assert week_input("2026-11-26", poll_seconds=0, max_polls=1)["max_polls"] == 1
    for bad in ({"poll_seconds": -1}, {"max_polls": 0}, {"max_polls": True}):
        with pytest.raises(UsageError):
            week_input("2026-11-26", **bad)
    with pytest.raises(UsageError, match="not a Thursday"):
        week_input("2026-11-25")


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("2026-11-01", "2026-11-26", ["2026-11-05", "2026-11-12", "2026-11-19", "2026-11-26"]),
        ("2026-11-26", "2026-11-26", ["2026-11-26"]),
        ("2026-11-27", "2026-12-02", []),
        ("2026-12-31", "2027-01-07", ["2026-12-31", "2027-01-07"]),
    ],
)
def test_weeks_between(since, until, expected):
    assert weeks_between(since, until) == [D(x) for x in expected]


def test_weeks_between_refuses_a_backwards_range():
    with pytest.raises(UsageError, match="before"):
        weeks_between("2026-12-01", "2026-11-01")
    with pytest.raises(UsageError, match="not a date"):
        weeks_between("soon", "2026-11-01")


@pytest.mark.parametrize(
    ("today", "week"),
    [
        (date(2026, 11, 26), "2026-11-26"),  # the run date itself
        (date(2026, 11, 25), "2026-11-19"),
        (date(2026, 11, 28), "2026-11-26"),
        # 2026-11-25 23:00 UTC is already Thursday in Tokyo
        (datetime(2026, 11, 25, 23, 0, tzinfo=UTC), "2026-11-26"),
        (datetime(2026, 11, 25, 14, 0, tzinfo=UTC), "2026-11-19"),
    ],
)
def test_last_completed_week(today, week):
    assert last_completed_week(today) == D(week)


@pytest.mark.parametrize(
    ("fired", "week"),
    [
        ("2026-11-26T00:30:00+00:00", "2026-11-26"),  # the schedule: Thu 09:30 JST
        ("2026-11-25T15:00:00+00:00", "2026-11-26"),  # Thu 00:00 JST
        ("2026-11-25T14:59:59+00:00", "2026-11-19"),  # still Wednesday in Tokyo
        ("2026-12-02T10:00:00+00:00", "2026-11-26"),
    ],
)
def test_week_for_fire_time(fired, week):
    assert week_for_fire_time(datetime.fromisoformat(fired)) == D(week)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_parse_week_raises_only_usage_error(text):
    try:
        day = parse_week(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        assert day.weekday() == 3


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(1971, 1, 1), max_value=date(2199, 12, 1)))
def test_every_date_is_a_week_or_names_its_neighbours(day):
    if day.weekday() == 3:
        dates = week_dates(day)
        assert dates.week_end - dates.week_start == timedelta(days=6)
        assert dates.check_date == dates.week - timedelta(days=1)
        assert dates.week_start.weekday() == 3
    else:
        with pytest.raises(UsageError) as err:
            parse_week(day.isoformat())
        before, after = str(err.value).split("nearest Thursdays: ")[1].split(" and ")
        assert D(before) < day < D(after) and (D(after) - D(before)).days == 7
