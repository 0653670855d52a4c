"""The week calendar and the schedule that fires each week's run.

A week is named by its run date, a Thursday, and covers the seven days Thursday..Wednesday
that end the day before: week 2026-11-26 covers 2026-11-19..2026-11-25 and its check looks at
2026-11-25 (the last day, "yesterday" on the run date).

The schedule is an EventBridge Scheduler document (definitions/schedule.json). Its expression
(`cron(...)`, `rate(...)` or `at(...)`) is evaluated here in its ScheduleExpressionTimezone, with
EventBridge Scheduler's daylight-saving rules: a local time that does not exist is skipped, and
a local time that happens twice fires once (the first time).
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opsbook.errors import UsageError
from opsbook.workflows.partitions import as_date, in_range
from opsbook.workflows.polling import check_notify_every, check_polling

THURSDAY = 3  # date.weekday()
TOKYO = ZoneInfo("Asia/Tokyo")
DEFAULT_POLL_SECONDS = 600
DEFAULT_MAX_POLLS = 18
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- the week calendar -------------------------------------------------------------------


class WeekDates(NamedTuple):
    week: date  # the run date, a Thursday
    week_start: date  # the Thursday before
    week_end: date  # the Wednesday before the run date
    check_date: date  # the day whose rows must have landed before the load


def _nearest_thursdays(day: date) -> tuple[date, date]:
    back = (day.weekday() - THURSDAY) % 7
    before = day - timedelta(days=back or 7)
    return before, before + timedelta(days=7)


def parse_week(text: str | date) -> date:
    """A week name (YYYY-MM-DD, a Thursday) as a date; anything else is a UsageError."""
    if isinstance(text, datetime):
        text = text.date()
    if isinstance(text, date):
        day = text
    else:
        raw = str(text).strip()
        if not _ISO_DATE.match(raw):
            raise UsageError(
                f"{str(text)!r} is not a date (YYYY-MM-DD); weeks are named by their Thursday, e.g. 2026-11-26"
            )
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise UsageError(
                f"{raw!r} is not a date (YYYY-MM-DD): no such day in the calendar"
            ) from None
    in_range(day, "week")
    if day.weekday() != THURSDAY:
        before, after = _nearest_thursdays(day)
        raise UsageError(
            f"{day.isoformat()} is a {day.strftime('%A')}, not a Thursday; "
            f"nearest Thursdays: {before.isoformat()} and {after.isoformat()}"
        )
    return day


def week_dates(week: str | date) -> WeekDates:
    """The dates a week covers. `week` must be a Thursday."""
    day = parse_week(week)
    return WeekDates(
        week=day,
        week_start=day - timedelta(days=7),
        week_end=day - timedelta(days=1),
        check_date=day - timedelta(days=1),
    )


def week_input(
    week: str | date,
    *,
    poll_seconds: int | None = None,
    max_polls: int | None = None,
    notify_every: int | None = None,
) -> dict[str, Any]:
    """The execution input for a week: the week, its derived dates, and the polling settings.

    The definition re-derives the dates from `week`, so the input stays the single source of
    truth for which week runs; the extra fields make histories readable.
    """
    poll_seconds, max_polls = check_polling(poll_seconds, max_polls)
    check_notify_every(notify_every)
    dates = week_dates(week)
    out: dict[str, Any] = {
        "week": dates.week.isoformat(),
        "week_start": dates.week_start.isoformat(),
        "week_end": dates.week_end.isoformat(),
        "check_date": dates.check_date.isoformat(),
        "poll_seconds": poll_seconds,
        "max_polls": max_polls,
    }
    if notify_every is not None:  # absent: the definition's default (6)
        out["notify_every"] = notify_every
    return out


def check_polling_fits(definition: Any, poll_seconds: int, max_polls: int) -> None:
    """Polling must end inside the state machine's own TimeoutSeconds, with room left for the
    longest Task (the insert): otherwise the execution ends TIMED_OUT, silently, with no
    failure message. The timeout is read from the definition, never assumed."""
    if not isinstance(definition, dict):
        return
    timeout = definition.get("TimeoutSeconds")
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        return  # no execution timeout: a year, checked by week_input
    states = definition.get("States")
    tasks = states.values() if isinstance(states, dict) else []
    room = max(
        (
            int(state["TimeoutSeconds"])
            for state in tasks
            if isinstance(state, dict)
            and state.get("Type") == "Task"
            and isinstance(state.get("TimeoutSeconds"), int)
        ),
        default=0,
    )
    if poll_seconds * max_polls + room > timeout:
        raise UsageError(
            f"{max_polls} polls {poll_seconds} s apart ({poll_seconds * max_polls} s) plus {room} s"
            f" for the longest task outlast the state machine's TimeoutSeconds ({timeout} s);"
            " lower --poll-seconds or --max-polls"
        )


def thursday_on_or_before(day: date) -> date:
    return day - timedelta(days=(day.weekday() - THURSDAY) % 7)


def weeks_between(since: str | date, until: str | date) -> list[date]:
    """Every Thursday from `since` to `until`, both inclusive (either may be any day)."""
    start, end = _as_date(since, "since"), _as_date(until, "until")
    if end < start:
        raise UsageError(f"--until {end.isoformat()} is before --since {start.isoformat()}")
    first = start + timedelta(days=(THURSDAY - start.weekday()) % 7)
    return (
        [first + timedelta(days=7 * i) for i in range((end - first).days // 7 + 1)]
        if first <= end
        else []
    )


def last_completed_week(today: date | datetime | None = None) -> date:
    """The latest week whose seven days have all ended: the Thursday on or before `today`.

    A datetime is read in Tokyo time (the workflow's calendar); None means now.
    """
    if today is None:
        today = datetime.now(TOKYO)
    if isinstance(today, datetime):
        today = (today.astimezone(TOKYO) if today.tzinfo else today).date()
    return thursday_on_or_before(today)


def week_for_fire_time(fired: datetime, tz: ZoneInfo = TOKYO) -> date:
    """The week a scheduled run loads: the Thursday on or before its local fire date.

    The definition's PrepareWeek state computes the same thing from
    `<aws.scheduler.scheduled-time>`; tests keep the two in step.
    """
    if fired.tzinfo is None:
        fired = fired.replace(tzinfo=UTC)
    return thursday_on_or_before(fired.astimezone(tz).date())


def _as_date(value: str | date, what: str) -> date:
    """--since/--until as a date within the calendar's range."""
    return in_range(as_date(value, f"--{what}"), f"--{what}")


# --- schedule expressions ------------------------------------------------------------------

_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MAX_YEAR = 2199


class _CronField:
    """One cron field parsed to the set of values it allows."""

    def __init__(
        self, text: str, name: str, low: int, high: int, names: dict[str, int] | None = None
    ):
        self.text, self.name, self.low, self.high, self.names = text, name, low, high, names or {}
        self.values: set[int] = set()
        for part in text.split(","):
            if not part:
                raise self._error("has an empty list item")
            self.values |= self._part(part)

    def _error(self, problem: str) -> UsageError:
        return UsageError(f"cron {self.name} field {self.text!r} {problem}")

    def _value(self, token: str) -> int:
        upper = token.upper()
        if upper in self.names:
            return self.names[upper]
        if not token.isdigit():
            raise self._error(
                f"has {token!r}, which is not a number{' or name' if self.names else ''}"
            )
        value = int(token)
        if not self.low <= value <= self.high:
            raise self._error(f"has {value}, outside {self.low}-{self.high}")
        return value

    def _part(self, part: str) -> set[int]:
        step, stepped = 1, "/" in part
        if stepped:
            part, _, step_text = part.partition("/")
            if not step_text.isdigit() or int(step_text) < 1:
                raise self._error(f"has step {step_text!r}; a step is a whole number >= 1")
            step = int(step_text)
        if part == "*":
            start, end = self.low, self.high
        elif "-" in part:
            a, _, b = part.partition("-")
            start, end = self._value(a), self._value(b)
        else:
            start = self._value(part)
            end = self.high if stepped else start  # "5/15" runs from 5 to the top
        span = (end - start) % (self.high - self.low + 1)  # ranges may wrap, e.g. FRI-MON
        return {
            self.low + (start - self.low + i) % (self.high - self.low + 1)
            for i in range(0, span + 1, step)
        }


@dataclass(frozen=True)
class CronExpression:
    """An EventBridge cron expression: minutes hours day-of-month month day-of-week year."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    dom: str  # raw day-of-month field
    dow: str  # raw day-of-week field
    _dom_values: frozenset[int] = field(default=frozenset())
    _dow_values: frozenset[int] = field(default=frozenset())

    def days(self, year: int, month: int) -> list[int]:
        """The days of one month the expression fires on."""
        last = calendar.monthrange(year, month)[1]
        if self.dom != "?":
            return self._month_days(year, month, last)
        return self._week_days(year, month, last)

    def _month_days(self, year: int, month: int, last: int) -> list[int]:
        dom = self.dom.upper()
        if dom == "L":
            return [last]
        if dom == "LW":
            day = last
            while calendar.weekday(year, month, day) >= 5:
                day -= 1
            return [day]
        if dom.endswith("W"):
            target = min(int(dom[:-1]), last)
            wd = calendar.weekday(year, month, target)
            if wd < 5:
                return [target]
            # The nearest weekday in the same month: Saturday -> Friday (or Monday on the 1st),
            # Sunday -> Monday (or Friday on the last day).
            if wd == 5:
                return [target - 1] if target > 1 else [target + 2]
            return [target + 1] if target < last else [target - 2]
        return sorted(d for d in self._dom_values if d <= last)

    def _week_days(self, year: int, month: int, last: int) -> list[int]:
        dow = self.dow.upper()

        def aws_dow(day: int) -> int:  # 1=SUN..7=SAT
            return (calendar.weekday(year, month, day) + 1) % 7 + 1

        if "#" in dow:
            a, _, n = dow.partition("#")
            want, nth = _DAYS.get(a) or int(a), int(n)
            hits = [d for d in range(1, last + 1) if aws_dow(d) == want]
            return [hits[nth - 1]] if nth <= len(hits) else []
        if dow.endswith("L") and dow != "L":
            a = dow[:-1]
            want = _DAYS.get(a) or int(a)
            return [max(d for d in range(1, last + 1) if aws_dow(d) == want)]
        return [d for d in range(1, last + 1) if aws_dow(d) in self._dow_values]

    def local_times_from(self, start: date):
        """Naive local datetimes the expression names, in order, from `start` onward."""
        for year in sorted(y for y in self.years if y >= start.year):
            for month in sorted(self.months):
                if (year, month) < (start.year, start.month):
                    continue
                for day in self.days(year, month):
                    if date(year, month, day) < start:
                        continue
                    for hour in sorted(self.hours):
                        for minute in sorted(self.minutes):
                            yield datetime(year, month, day, hour, minute)


def _parse_cron(text: str, body: str) -> CronExpression:
    parts = body.split()
    if len(parts) != 6:
        raise UsageError(
            f"invalid schedule expression {text!r}: cron needs 6 fields "
            f"(minutes hours day-of-month month day-of-week year), got {len(parts)}"
        )
    minute, hour, dom, month, dow, year = parts
    try:
        if (dom == "?") == (dow == "?"):
            raise UsageError(
                "exactly one of day-of-month and day-of-week must be '?' (AWS cron cannot use both)"
            )
        dom_values: frozenset[int] = frozenset()
        dow_values: frozenset[int] = frozenset()
        if dom != "?":
            up = dom.upper()
            if up in ("L", "LW"):
                pass
            elif up.endswith("W"):
                if not up[:-1].isdigit() or not 1 <= int(up[:-1]) <= 31:
                    raise UsageError(
                        f"cron day-of-month field {dom!r}: 'W' needs a day 1-31 before it"
                    )
            else:
                dom_values = frozenset(_CronField(dom, "day-of-month", 1, 31).values)
        if dow != "?":
            up = dow.upper()
            if "#" in up:
                a, _, n = up.partition("#")
                if (
                    "," in up
                    or (a not in _DAYS and not (a.isdigit() and 1 <= int(a) <= 7))
                    or not (n.isdigit() and 1 <= int(n) <= 5)
                ):
                    raise UsageError(
                        f"cron day-of-week field {dow!r}: '#' takes one day and an instance 1-5, e.g. 5#2 or THU#2"
                    )
            elif up == "L":
                dow_values = frozenset({7})  # the last day of the week: Saturday
            elif up.endswith("L"):
                a = up[:-1]
                if a not in _DAYS and not (a.isdigit() and 1 <= int(a) <= 7):
                    raise UsageError(
                        f"cron day-of-week field {dow!r}: 'L' needs a day before it, e.g. 5L or THUL"
                    )
            else:
                dow_values = frozenset(_CronField(dow, "day-of-week", 1, 7, _DAYS).values)
        return CronExpression(
            text=text,
            minutes=frozenset(_CronField(minute, "minutes", 0, 59).values),
            hours=frozenset(_CronField(hour, "hours", 0, 23).values),
            months=frozenset(_CronField(month, "month", 1, 12, _MONTHS).values),
            years=frozenset(_CronField(year, "year", 1970, _MAX_YEAR).values),
            dom=dom,
            dow=dow,
            _dom_values=dom_values,
            _dow_values=dow_values,
        )
    except UsageError as exc:
        raise UsageError(f"invalid schedule expression {text!r}: {exc}") from None


@dataclass(frozen=True)
class RateExpression:
    text: str
    every: timedelta


@dataclass(frozen=True)
class AtExpression:
    text: str
    at: datetime  # naive local time


Expression = CronExpression | RateExpression | AtExpression
_RATE = re.compile(r"^(\d+)\s+(minute|minutes|hour|hours|day|days)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def parse_expression(text: str) -> Expression:
    """Parse `cron(...)`, `rate(...)` or `at(...)`; a bad expression is a one-line UsageError."""
    if not isinstance(text, str):
        raise UsageError(f"invalid schedule expression {text!r}: expected a string")
    raw = text.strip()
    match = re.fullmatch(r"(cron|rate|at)\((.*)\)", raw, flags=re.S)
    if not match:
        raise UsageError(
            f"invalid schedule expression {text!r}: expected cron(...), rate(...) or at(...)"
        )
    kind, body = match.group(1), match.group(2).strip()
    if kind == "cron":
        return _parse_cron(raw, body)
    if kind == "rate":
        m = _RATE.match(body)
        if not m or int(m.group(1)) < 1:
            raise UsageError(
                f"invalid schedule expression {text!r}: rate needs a positive number and "
                "minute(s), hour(s) or day(s), e.g. rate(5 minutes)"
            )
        unit = m.group(2).rstrip("s")
        return RateExpression(raw, timedelta(seconds=int(m.group(1)) * _UNITS[unit]))
    try:
        at = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise UsageError(
            f"invalid schedule expression {text!r}: at needs yyyy-mm-ddThh:mm:ss, e.g. at(2026-11-26T09:30:00)"
        ) from None
    return AtExpression(raw, at)


# --- schedules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    name: str
    expression: Expression
    timezone: ZoneInfo
    start_date: datetime | None = None
    end_date: datetime | None = None
    document: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def expression_text(self) -> str:
        return self.expression.text


def _zone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise UsageError(
            f"ScheduleExpressionTimezone {name!r} is not a time zone name (e.g. Asia/Tokyo)"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"ScheduleExpressionTimezone {name!r} is not a known time zone (e.g. Asia/Tokyo)"
        ) from None


def _instant(value: Any, key: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"schedule {key} {value!r} is not an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def schedule_from_dict(document: dict[str, Any]) -> Schedule:
    """A Schedule from a CreateSchedule-shaped dict."""
    if not isinstance(document, dict):
        raise UsageError("schedule must be a JSON object shaped like CreateSchedule")
    expression = document.get("ScheduleExpression")
    if not expression:
        raise UsageError("schedule has no ScheduleExpression")
    return Schedule(
        name=str(document.get("Name", "schedule")),
        expression=parse_expression(expression),
        timezone=_zone(document.get("ScheduleExpressionTimezone", "UTC")),
        start_date=_instant(document.get("StartDate"), "StartDate"),
        end_date=_instant(document.get("EndDate"), "EndDate"),
        document=document,
    )


def load_schedule(path: str | Path | None = None) -> Schedule:
    """Load definitions/schedule.json (or `path`)."""
    if path is None:
        from opsbook.config import Config

        path = Config().definitions_dir / "schedule.json"
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"schedule file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read schedule file {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"schedule file {path} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    return schedule_from_dict(document)


def _as_schedule(schedule: Schedule | dict | str) -> Schedule:
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, dict):
        return schedule_from_dict(schedule)
    return schedule_from_dict({"ScheduleExpression": schedule, "ScheduleExpressionTimezone": "UTC"})


def _resolve_local(naive: datetime, tz: ZoneInfo) -> datetime | None:
    """A wall-clock time in `tz`, or None when the clocks skip it (EventBridge skips it too).
    A time that happens twice resolves to its first occurrence (fold=0): it fires once."""
    aware = naive.replace(tzinfo=tz, fold=0)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        return None
    return aware


def _iter_fire_times(schedule: Schedule, after: datetime):
    """Fire times strictly after `after`, in the schedule's zone, in order (bounded)."""
    tz = schedule.timezone
    if schedule.start_date and schedule.start_date > after:
        after = schedule.start_date - timedelta(microseconds=1)
    expr = schedule.expression
    if isinstance(expr, AtExpression):
        fired = _resolve_local(expr.at, tz)
        if fired and fired > after:
            yield fired
        return
    if isinstance(expr, RateExpression):
        # Rate schedules count from StartDate; without one, from the next whole minute.
        anchor = schedule.start_date or after.replace(second=0, microsecond=0) + timedelta(
            minutes=1
        )
        current = anchor
        if anchor <= after:
            current = anchor + expr.every * ((after - anchor) // expr.every + 1)
        while True:
            yield current.astimezone(tz)
            current += expr.every
    start_local = after.astimezone(tz)
    for naive in expr.local_times_from(start_local.date()):
        fired = _resolve_local(naive, tz)
        if fired is not None and fired > after:
            yield fired


def _aware(value: datetime | date | None, tz: ZoneInfo, *, end_of_day: bool = False) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if not isinstance(value, datetime):
        t = time(23, 59, 59, 999999) if end_of_day else time(0)
        return datetime.combine(value, t, tzinfo=tz)
    return value if value.tzinfo else value.replace(tzinfo=tz)


def next_fire_times(
    schedule: Schedule | dict | str, n: int = 10, after: datetime | date | None = None
) -> list[datetime]:
    """The next `n` fire times strictly after `after` (default now), tz-aware in the schedule's
    zone. Naive datetimes and dates are read in the schedule's zone."""
    sched = _as_schedule(schedule)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise UsageError(f"--next must be a whole number >= 0, not {n!r}")
    out: list[datetime] = []
    if n == 0:
        return out
    ended = False
    for fired in _iter_fire_times(sched, _aware(after, sched.timezone)):
        if sched.end_date and fired > sched.end_date:
            ended = True
            break
        out.append(fired)
        if len(out) >= n:
            return out
    expr = sched.expression
    if not ended and isinstance(expr, CronExpression) and _MAX_YEAR in expr.years:
        # Fewer than asked because cron years stop at 2199: say so, never cut silently.
        raise UsageError(
            f"the schedule fires only {len(out)} more time(s): EventBridge cron years end in"
            f" {_MAX_YEAR}; ask for fewer with --next"
        )
    return out


def fire_times_between(
    schedule: Schedule | dict | str, since: datetime | date | str, until: datetime | date | str
) -> list[datetime]:
    """Every fire time with since <= t <= until. Dates cover whole days in the schedule's zone."""
    sched = _as_schedule(schedule)
    tz = sched.timezone
    since = _as_date(since, "since") if isinstance(since, str) else since
    until = _as_date(until, "until") if isinstance(until, str) else until
    start, end = _aware(since, tz), _aware(until, tz, end_of_day=True)
    if end < start:
        raise UsageError(f"--until {until} is before --since {since}")
    expr = sched.expression
    if (
        isinstance(expr, CronExpression)
        and end.year > _MAX_YEAR
        and _MAX_YEAR in expr.years
        and not (sched.end_date and sched.end_date.year <= _MAX_YEAR)
    ):
        # EventBridge cron years run 1970-2199
        # (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html):
        # say so rather than silently cut the range there.
        raise UsageError(
            f"the schedule's cron expression fires until {_MAX_YEAR} at the latest (EventBridge"
            f" cron years are 1970-{_MAX_YEAR}); --until {until} is past it"
        )
    out: list[datetime] = []
    for fired in _iter_fire_times(sched, start - timedelta(microseconds=1)):
        if fired > end or (sched.end_date and fired > sched.end_date):
            break
        out.append(fired)
        if len(out) > 100_000:  # bounded: a rate(1 minute) over years is a mistake
            raise UsageError("the range holds more than 100000 fire times; narrow --since/--until")
    return out
