"""The schedule: definitions/schedule.json, EventBridge Scheduler expressions, fire times."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsbook.config import PACKAGE_ROOT
from opsbook.errors import UsageError
from opsbook.workflows.schedules import (
    fire_times_between,
    load_schedule,
    next_fire_times,
    parse_expression,
    schedule_from_dict,
    week_for_fire_time,
)

TOKYO = ZoneInfo("Asia/Tokyo")
SCHEDULE = PACKAGE_ROOT / "definitions" / "weekly_load" / "schedule.json"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_schedule_document_is_createschedule_shaped():
    doc = json.loads(SCHEDULE.read_text())
    assert doc["ScheduleExpression"] == "cron(30 9 ? * THU *)"
    assert doc["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert doc["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert doc["State"] == "ENABLED"
    target = doc["Target"]
    assert target["Arn"].startswith("${") and target["RoleArn"].startswith("${")
    retry = target["RetryPolicy"]
    assert 60 <= retry["MaximumEventAgeInSeconds"] <= 86400
    assert 0 <= retry["MaximumRetryAttempts"] <= 185
    # Input is a JSON string (as CreateSchedule takes it) carrying the scheduled time.
    assert json.loads(target["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert "hooks.slack.com" not in SCHEDULE.read_text()


def test_tokyo_schedule_equals_the_legacy_utc_rule_for_ten_years():
    tokyo = load_schedule(SCHEDULE)
    legacy = {"ScheduleExpression": "cron(30 0 ? * THU *)", "ScheduleExpressionTimezone": "UTC"}
    after = utc("2026-11-28T00:00:00")
    ours = next_fire_times(tokyo, 522, after)
    theirs = next_fire_times(legacy, 522, after)
    assert [t.astimezone(UTC) for t in ours] == theirs
    assert all(t.tzinfo == TOKYO and (t.hour, t.minute, t.weekday()) == (9, 30, 3) for t in ours)
    # Each fire time loads the week named by its own Thursday.
    assert all(week_for_fire_time(t) == t.date() for t in ours)
    assert ours[0] == datetime(2026, 12, 3, 9, 30, tzinfo=TOKYO)


def test_next_fire_times_is_strictly_after():
    tokyo = load_schedule(SCHEDULE)
    at_fire = datetime(2026, 11, 26, 9, 30, tzinfo=TOKYO)
    assert next_fire_times(tokyo, 1, at_fire)[0] == at_fire + timedelta(days=7)
    assert next_fire_times(tokyo, 1, at_fire - timedelta(seconds=1))[0] == at_fire
    assert next_fire_times(tokyo, 0, at_fire) == []


def test_fire_times_between_dates_covers_whole_days():
    tokyo = load_schedule(SCHEDULE)
    times = fire_times_between(tokyo, date(2026, 11, 1), date(2026, 11, 26))
    assert [t.date().isoformat() for t in times] == [
        "2026-11-05",
        "2026-11-12",
        "2026-11-19",
        "2026-11-26",
    ]
    assert fire_times_between(tokyo, "2026-11-27", "2026-12-02") == []
    with pytest.raises(UsageError, match="before"):
        fire_times_between(tokyo, "2026-12-02", "2026-11-27")


EXPRESSIONS = [
    # expression, zone, after (UTC), the next fire times (local, ISO)
    (
        "cron(0/15 8-9 ? * MON-FRI *)",
        "UTC",
        "2026-11-28T00:00:00",
        ["2026-11-30T08:00", "2026-11-30T08:15", "2026-11-30T08:30"],
    ),
    ("cron(0 10 * * ? *)", "UTC", "2026-11-28T10:00:00", ["2026-11-29T10:00", "2026-11-30T10:00"]),
    ("cron(0 8 1 * ? *)", "UTC", "2026-11-28T00:00:00", ["2026-12-01T08:00", "2027-01-01T08:00"]),
    (
        "cron(0 18 ? * MON-FRI *)",
        "UTC",
        "2026-11-27T19:00:00",
        ["2026-11-30T18:00", "2026-12-01T18:00"],
    ),
    ("cron(0 10 L * ? *)", "UTC", "2027-01-31T11:00:00", ["2027-02-28T10:00", "2027-03-31T10:00"]),
    (
        "cron(0 10 LW * ? *)",
        "UTC",
        "2026-11-28T00:00:00",
        ["2026-11-30T10:00", "2026-12-31T10:00", "2027-01-29T10:00"],
    ),
    (
        "cron(0 10 15W * ? *)",
        "UTC",
        "2026-11-01T00:00:00",
        ["2026-11-16T10:00", "2026-12-15T10:00"],
    ),  # 11-15 is a Sunday
    (
        "cron(0 10 1W * ? *)",
        "UTC",
        "2026-08-01T00:00:00",
        ["2026-08-03T10:00"],
    ),  # Sat the 1st -> Mon the 3rd
    (
        "cron(0 10 ? * 5#2 *)",
        "UTC",
        "2026-11-28T00:00:00",
        ["2026-12-10T10:00", "2027-01-14T10:00"],
    ),
    (
        "cron(0 10 ? * THU#2 *)",
        "UTC",
        "2026-11-28T00:00:00",
        ["2026-12-10T10:00", "2027-01-14T10:00"],
    ),
    ("cron(0 10 ? * 6L *)", "UTC", "2026-11-28T00:00:00", ["2026-12-25T10:00", "2027-01-29T10:00"]),
    ("cron(0 10 ? * L *)", "UTC", "2026-11-28T11:00:00", ["2026-12-05T10:00"]),  # L = Saturday
    (
        "cron(0 10 ? * FRI-MON *)",
        "UTC",
        "2026-11-26T11:00:00",
        [
            "2026-11-27T10:00",
            "2026-11-28T10:00",
            "2026-11-29T10:00",
            "2026-11-30T10:00",
            "2026-12-04T10:00",
        ],
    ),
    (
        "cron(5,35 22 ? * sun,wed *)",
        "UTC",
        "2026-11-28T00:00:00",
        ["2026-11-29T22:05", "2026-11-29T22:35"],
    ),
    (
        "cron(0 12 1 JAN,JUL ? 2027-2028)",
        "UTC",
        "2026-11-28T00:00:00",
        ["2027-01-01T12:00", "2027-07-01T12:00", "2028-01-01T12:00", "2028-07-01T12:00"],
    ),
    ("cron(0 12 29 2 ? *)", "UTC", "2026-11-28T00:00:00", ["2028-02-29T12:00"]),
    ("cron(30 9 ? * THU *)", "Asia/Tokyo", "2026-11-28T00:00:00", ["2026-12-03T09:30"]),
    ("rate(90 minutes)", "UTC", "2026-11-28T00:00:30", ["2026-11-28T00:01", "2026-11-28T01:31"]),
    ("rate(1 day)", "UTC", "2026-11-28T00:00:30", ["2026-11-28T00:01", "2026-11-29T00:01"]),
    ("at(2026-12-24T18:00:00)", "Asia/Tokyo", "2026-11-28T00:00:00", ["2026-12-24T18:00"]),
    ("at(2026-01-01T00:00:00)", "UTC", "2026-11-28T00:00:00", []),
]


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), EXPRESSIONS)
def test_expressions(expression, zone, after, expected):
    schedule = {"ScheduleExpression": expression, "ScheduleExpressionTimezone": zone}
    got = next_fire_times(
        schedule, len(expected) + 1 if expression.startswith("at") else len(expected), utc(after)
    )
    assert [t.strftime("%Y-%m-%dT%H:%M") for t in got] == expected
    assert all(str(t.tzinfo) == zone for t in got)


def test_rate_counts_from_start_date():
    schedule = {
        "ScheduleExpression": "rate(2 hours)",
        "ScheduleExpressionTimezone": "UTC",
        "StartDate": "2026-11-28T01:00:00Z",
        "EndDate": "2026-11-28T06:00:00Z",
    }
    got = next_fire_times(schedule, 10, utc("2026-11-28T02:00:00"))
    assert [t.hour for t in got] == [3, 5]


def test_daylight_saving_gap_skips_and_overlap_fires_once():
    # EventBridge Scheduler: a local time that does not exist is skipped; one that happens
    # twice fires once.
    ny = {
        "ScheduleExpression": "cron(30 2 * * ? *)",
        "ScheduleExpressionTimezone": "America/New_York",
    }
    got = next_fire_times(ny, 3, utc("2027-03-13T00:00:00"))
    assert [t.date().isoformat() for t in got] == ["2027-03-13", "2027-03-15", "2027-03-16"]
    back = {
        "ScheduleExpression": "cron(30 1 * * ? *)",
        "ScheduleExpressionTimezone": "America/New_York",
    }
    got = next_fire_times(back, 3, utc("2026-10-31T12:00:00"))
    assert [t.date().isoformat() for t in got] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert got[0].utcoffset() == timedelta(hours=-4)  # the first 01:30 (EDT)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("cron(30 9 * * THU *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(30 9 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(60 9 ? * THU *)", "minutes field '60' has 60, outside 0-59"),
        ("cron(30 24 ? * THU *)", "hours field '24' has 24, outside 0-23"),
        ("cron(30 9 ? * FOO *)", "day-of-week field 'FOO'"),
        ("cron(30 9 ? * 8 *)", "outside 1-7"),
        ("cron(30 9 ? 13 THU *)", "month field '13'"),
        ("cron(30 9 ? * THU 1969)", "outside 1970-2199"),
        ("cron(30 9 ? * THU)", "cron needs 6 fields"),
        ("cron(30 9 ? * 5#6 *)", "'#' takes one day and an instance 1-5"),
        ("cron(30 9 ? * 5#1,6#3 *)", "'#' takes one day"),
        ("cron(0/0 9 ? * THU *)", "step"),
        ("cron(1,,2 9 ? * THU *)", "empty list item"),
        ("cron(0 9 32W * ? *)", "'W' needs a day 1-31"),
        ("rate(0 minutes)", "rate needs a positive number"),
        ("rate(5 weeks)", "rate needs a positive number"),
        ("at(2026-11-26 09:30)", "at needs yyyy-mm-ddThh:mm:ss"),
        ("every thursday", "expected cron(...), rate(...) or at(...)"),
        ("", "expected cron(...), rate(...) or at(...)"),
    ],
)
def test_invalid_expressions_get_one_clear_line(expression, fragment):
    with pytest.raises(UsageError) as err:
        parse_expression(expression)
    message = str(err.value)
    assert fragment in message and "\n" not in message
    assert message.startswith(f"invalid schedule expression {expression.strip()!r}")


def test_bad_schedule_documents(tmp_path):
    with pytest.raises(UsageError, match="not a known time zone"):
        schedule_from_dict(
            {"ScheduleExpression": "rate(1 hour)", "ScheduleExpressionTimezone": "Mars/Olympus"}
        )
    with pytest.raises(UsageError, match="no ScheduleExpression"):
        schedule_from_dict({"Name": "x"})
    bad = tmp_path / "s.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_schedule(bad)
    with pytest.raises(UsageError, match="does not exist"):
        load_schedule(tmp_path / "missing.json")


CRON_CHARS = "0123456789*?,-/#LW THUMONFRIJANDEC"


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=CRON_CHARS, min_size=1, max_size=6), min_size=0, max_size=7))
def test_random_cron_expressions_parse_or_fail_with_one_line(fields):
    expression = f"cron({' '.join(fields)})"
    try:
        parsed = parse_expression(expression)
    except UsageError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("invalid schedule expression")
        return
    # A valid expression yields fire times in order, each after the last.
    times = next_fire_times({"ScheduleExpression": expression}, 3, utc("2026-11-28T00:00:00"))
    assert times == sorted(times) and len(set(times)) == len(times)
    assert parsed.text == expression


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_random_text_is_refused_cleanly(text):
    try:
        parse_expression(text)
    except UsageError as exc:
        assert "\n" not in str(exc).replace(repr(text), "")
