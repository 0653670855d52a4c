"""Partition schemes: daily, weekly on a weekday, monthly, each in a time zone.

A partition is the slice of time one execution loads, named by a key, like a Dagster partition
or an Airflow logical date:

    scheme          key           covers                                  execution name
    daily           2026-11-25    that day                                day-2026-11-25
    weekly:THU      2026-11-26    the seven days before that Thursday     week-2026-11-26
    monthly         2026-11       that month                              month-2026-11

A weekly partition is named by its run date (the weekday it fires on), as the weekly load
always named its weeks; daily and monthly partitions are named by the period itself. A schedule
fire time belongs to the last partition complete at that moment (in the scheme's zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opsbook.errors import UsageError

WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # date.weekday() order
KINDS = ("daily", "weekly", "monthly")
# Keys far enough from date.min/max that the period and zone arithmetic never overflow.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9998, 12, 31)
MAX_PARTITIONS = 100_000
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_MONTH = re.compile(r"^\d{4}-\d{2}$")


@dataclass(frozen=True)
class Partition:
    key: str
    start: date  # first day covered
    end: date  # last day covered
    day: date  # the date the key names (weekly: the run date; monthly: the 1st)


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name; anything else is a one-line UsageError."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"{name!r} is not a known time zone (e.g. Asia/Tokyo, UTC)") from None


def as_date(value: str | date | datetime, what: str = "date") -> date:
    """A date from a date, datetime or 'YYYY-MM-DD' string; UsageError otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise UsageError(f"{what} {str(value)!r} is not a date (YYYY-MM-DD)") from None


def in_range(day: date, what: str) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise UsageError(
            f"{what} {day.isoformat()} is out of range: use a date from"
            f" {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
        )
    return day


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass(frozen=True)
class PartitionScheme:
    """One scheme: kind ("daily" | "weekly" | "monthly"), the weekday of a weekly scheme
    (0 = Monday) and the zone its calendar is read in."""

    kind: str
    timezone: ZoneInfo
    weekday: int = 3

    # -- naming
    @property
    def label(self) -> str:
        """What one partition is called: day, week or month (a table's key column)."""
        return {"daily": "day", "weekly": "week", "monthly": "month"}[self.kind]

    @property
    def prefix(self) -> str:
        return self.label

    @property
    def spec(self) -> str:
        """The scheme as `opsbook new --partition` takes it: daily, weekly:THU, monthly."""
        return f"weekly:{WEEKDAYS[self.weekday]}" if self.kind == "weekly" else self.kind

    def describe(self) -> str:
        return f"{self.spec} {self.timezone.key}"

    @property
    def name_pattern(self) -> re.Pattern[str]:
        """`<prefix>-<KEY>[-r<N>]`: the names opsbook gives executions of this scheme."""
        key = r"\d{4}-\d{2}" if self.kind == "monthly" else r"\d{4}-\d{2}-\d{2}"
        return re.compile(rf"^{self.prefix}-({key})(?:-r(\d+))?$")

    def execution_name(self, key: str, rerun: int = 0) -> str:
        plain = f"{self.prefix}-{self.parse(key).key}"
        return f"{plain}-r{rerun}" if rerun else plain

    def key_in_name(self, name: str) -> str | None:
        """The key a `<prefix>-<KEY>[-r<N>]` name gives, else None."""
        match = self.name_pattern.match(name)
        return match.group(1) if match else None

    # -- keys and dates
    def parse(self, key: str | date) -> Partition:
        """A partition from its key; a key that names no partition of this scheme is a
        one-line UsageError that says what would."""
        if self.kind == "monthly":
            return self._month(key)
        day = self._day(key)
        if self.kind == "daily":
            return Partition(day.isoformat(), day, day, day)
        if day.weekday() != self.weekday:
            name = date(2026, 11, 23 + self.weekday).strftime("%A")  # a Monday-based week
            back = (day.weekday() - self.weekday) % 7
            before = day - timedelta(days=back or 7)
            raise UsageError(
                f"{day.isoformat()} is a {day.strftime('%A')}, not a {name}; "
                f"nearest {name}s: {before.isoformat()} and {(before + timedelta(7)).isoformat()}"
            )
        return Partition(day.isoformat(), day - timedelta(days=7), day - timedelta(days=1), day)

    def _day(self, key: str | date) -> date:
        if isinstance(key, datetime):
            key = key.date()
        if isinstance(key, date):
            return in_range(key, self.label)
        raw = str(key).strip()
        if not _ISO_DATE.match(raw):
            example = "e.g. 2026-11-26"
            if self.kind == "weekly":
                day = date(2026, 11, 23 + self.weekday).strftime("%A")
                example = f"{self.label}s are named by their {day}, {example}"
            raise UsageError(f"{str(key)!r} is not a date (YYYY-MM-DD); {example}")
        try:
            return in_range(date.fromisoformat(raw), self.label)
        except ValueError:
            raise UsageError(
                f"{raw!r} is not a date (YYYY-MM-DD): no such day in the calendar"
            ) from None

    def _month(self, key: str | date) -> Partition:
        if isinstance(key, date):
            first = _month_start(key)
        else:
            raw = str(key).strip()
            if _ISO_DATE.match(raw):
                raw = raw[:7]
            if not _ISO_MONTH.match(raw):
                raise UsageError(f"{str(key)!r} is not a month (YYYY-MM, e.g. 2026-11)")
            try:
                first = date.fromisoformat(f"{raw}-01")
            except ValueError:
                raise UsageError(f"{raw!r} is not a month (YYYY-MM, e.g. 2026-11)") from None
        in_range(first, self.label)
        return Partition(first.isoformat()[:7], first, _next_month(first) - timedelta(1), first)

    def _on_or_before(self, day: date) -> date:
        """The day of the latest partition whose key day is on or before `day`."""
        if self.kind == "weekly":
            return day - timedelta(days=(day.weekday() - self.weekday) % 7)
        if self.kind == "monthly":
            return _month_start(day)
        return day

    def bound(self, value: str | date, what: str) -> date:
        """A --since/--until bound as a day: a date (YYYY-MM-DD) in any scheme, or, in a
        monthly one, a month key (YYYY-MM), which stands for its key day, the 1st (so a range
        of month keys includes both ends). A one-line UsageError otherwise."""
        if isinstance(value, str) and self.kind == "monthly" and _ISO_MONTH.match(value.strip()):
            try:
                return in_range(date.fromisoformat(f"{value.strip()}-01"), what)
            except ValueError:
                raise UsageError(
                    f"{what} {value!r} is not a month (YYYY-MM, e.g. 2026-11)"
                ) from None
        try:
            return in_range(as_date(value, what), what)
        except UsageError:
            if self.kind != "monthly":
                raise
            raise UsageError(
                f"{what} {str(value)!r} is not a date or month (YYYY-MM-DD or YYYY-MM)"
            ) from None

    def _first_and_end(self, since: str | date, until: str | date) -> tuple[date, date]:
        """The key day of the first partition on or after `since`, and `until`, both checked
        (a one-line UsageError for a bad date or an inverted range)."""
        start = self.bound(since, "--since")
        end = self.bound(until, "--until")
        if end < start:
            raise UsageError(f"--until {end.isoformat()} is before --since {start.isoformat()}")
        first = self._on_or_before(start)
        return (self._after(first) if first < start else first), end

    def between(self, since: str | date, until: str | date) -> list[Partition]:
        """Every partition whose key day lies in [since, until] (both inclusive, any days)."""
        first, end = self._first_and_end(since, until)
        out: list[Partition] = []
        day = first
        while day <= end:
            out.append(self.parse(day))
            if len(out) > MAX_PARTITIONS:
                raise UsageError("the range holds too many partitions; narrow --since/--until")
            day = self._after(day)
        return out

    def count_between(self, since: str | date, until: str | date) -> int:
        """How many partitions `between` would list, counted without listing them (a range
        size is checked before anything is built)."""
        first, end = self._first_and_end(since, until)
        if first > end:
            return 0
        if self.kind == "weekly":
            return (end - first).days // 7 + 1
        if self.kind == "monthly":
            return (end.year - first.year) * 12 + end.month - first.month + 1
        return (end - first).days + 1

    def shifted(self, part: Partition, steps: int) -> Partition:
        """The partition `steps` partitions after `part` (before it when negative)."""
        if self.kind == "weekly":
            return self.parse(part.day + timedelta(days=7 * steps))
        if self.kind == "monthly":
            months = part.day.year * 12 + part.day.month - 1 + steps
            return self.parse(date(months // 12, months % 12 + 1, 1))
        return self.parse(part.day + timedelta(days=steps))

    def _after(self, day: date) -> date:
        if self.kind == "weekly":
            return day + timedelta(days=7)
        if self.kind == "monthly":
            return _next_month(day)
        return day + timedelta(days=1)

    def _local_day(self, moment: datetime) -> date:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.timezone).date()

    def for_fire_time(self, fired: datetime) -> Partition:
        """The partition a scheduled run at `fired` loads: the last one complete then.
        A weekly run loads the week named by the weekday on or before its local date."""
        day = self._local_day(fired)
        if self.kind == "weekly":
            return self.parse(self._on_or_before(day))
        if self.kind == "monthly":
            return self.parse(_month_start(day) - timedelta(days=1))
        return self.parse(day - timedelta(days=1))

    def last_completed(self, now: date | datetime | None = None) -> Partition:
        """The latest partition whose days have all ended by `now` (default: now), in the
        scheme's zone."""
        if now is None:
            now = datetime.now(self.timezone)
        day = self._local_day(now) if isinstance(now, datetime) else now
        if self.kind == "weekly":
            return self.parse(self._on_or_before(day))
        return self.for_fire_time(datetime.combine(day, datetime.min.time(), self.timezone))


def parse_instant(text: str) -> datetime:
    """An ISO 8601 timestamp as Scheduler renders `<aws.scheduler.scheduled-time>`
    ("2026-11-26T00:30:00Z"); a naive one is UTC. ValueError when it is not one."""
    moment = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_scheme(spec: str, timezone: str = "UTC") -> PartitionScheme:
    """`daily`, `weekly:THU` or `monthly` (as `opsbook new --partition` takes it)."""
    kind, colon, day = str(spec).strip().partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise UsageError(f"partition scheme {spec!r} is not daily, weekly:<DAY> or monthly")
    if kind == "weekly":
        if day.upper() not in WEEKDAYS:
            raise UsageError(
                f"partition scheme {spec!r}: weekly needs a weekday, e.g. weekly:THU"
                f" ({', '.join(WEEKDAYS)})"
            )
        return PartitionScheme("weekly", zone(timezone), WEEKDAYS.index(day.upper()))
    if colon:
        raise UsageError(f"partition scheme {spec!r}: only weekly takes a weekday")
    return PartitionScheme(kind, zone(timezone))
