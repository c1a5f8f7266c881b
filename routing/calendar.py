"""When the school (or one agent) is open, and SLA arithmetic in business time.

All arithmetic is done on UTC instants: Python subtracts two aware datetimes in
the same ``ZoneInfo`` by wall clock, which is an hour off across a DST change.
Opening hours are wall-clock times in the calendar's zone, so a day has its
real length (23 or 25 hours on a DST change). ``closes`` at or before ``opens``
means the hours run past midnight (a night duty desk): the interval belongs to
the day it starts on. ``closes = "24:00"`` means the end of the day.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from inbox.sections import Section
from inbox.staff import WorkingHours

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_HORIZON = 3700  # days searched for business time before giving up (ten years)


def clock_minutes(text: str, *, end: bool = False) -> int:
    """Minutes after midnight for ``"HH:MM"``; ``"24:00"`` only as an end (closing time)."""
    match = _CLOCK.fullmatch(text.strip())
    hours, minutes = (int(match[1]), int(match[2])) if match else (99, 99)
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise ValueError(f"{text!r} is not a time of day like '09:00'")
    return hours * 60 + minutes


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days (0 = Monday), daily opening hours and holidays, in one IANA zone.

    Construct with valid values (``calendar_from_section`` checks a config
    table and reports problems); every method takes aware datetimes only and
    answers in the calendar's zone.
    """

    timezone: str = "UTC"
    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: str = "09:00"
    end: str = "18:00"
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if _zone(self.timezone) is None:
            raise ValueError(f"unknown time zone {self.timezone!r}")
        if not self.days or any(day not in range(7) for day in self.days):
            raise ValueError(f"days must be weekday numbers 0-6, not {self.days!r}")
        if clock_minutes(self.start) == clock_minutes(self.end, end=True):
            raise ValueError(f"opening hours {self.start}-{self.end} are empty")

    @classmethod
    def for_hours(cls, hours: WorkingHours) -> BusinessCalendar:
        """An agent's duty hours as a calendar (no holidays)."""
        return cls(hours.timezone, tuple(hours.days), hours.start, hours.end)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _minutes(self) -> tuple[int, int]:
        """Opening and closing as minutes after the opening day's midnight."""
        opens, closes = clock_minutes(self.start), clock_minutes(self.end, end=True)
        return opens, closes if closes > opens else closes + 24 * 60

    def describe(self) -> str:
        """Short human form for traces: ``Mon-Fri 09:00-18:00 Asia/Almaty``."""
        names = [DAY_NAMES[day].capitalize() for day in sorted(self.days)]
        consecutive = sorted(self.days) == list(range(min(self.days), max(self.days) + 1))
        days = f"{names[0]}-{names[-1]}" if consecutive and len(names) > 2 else ",".join(names)
        return f"{days} {self.start}-{self.end} {self.timezone}"

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def local(self, at: datetime) -> datetime:
        return _aware(at).astimezone(self.zone)

    def is_open(self, at: datetime) -> bool:
        instant = _aware(at).astimezone(UTC)
        opens, _ = next(self._intervals(instant))  # the first interval still running or to come
        return opens <= instant

    def next_opening(self, at: datetime) -> datetime:
        """``at`` itself when open, else the moment the calendar next opens."""
        instant = _aware(at).astimezone(UTC)
        opens, _ = next(self._intervals(instant))
        return max(opens, instant).astimezone(self.zone)

    def add_business_time(self, start: datetime, amount: timedelta) -> datetime:
        """The instant by which ``amount`` of open time has passed since ``start`` (SLA due).

        Time outside opening hours does not count: 2 hours from Friday 17:00,
        with hours 09:00-18:00 Mon-Fri, is Monday 10:00.
        """
        if amount < timedelta(0):
            raise ValueError("amount must not be negative")
        cursor = _aware(start).astimezone(UTC)
        if not amount:
            return cursor.astimezone(self.zone)
        left = amount
        for opens, closes in self._intervals(cursor):
            begin = max(opens, cursor)
            if left <= closes - begin:
                return (begin + left).astimezone(self.zone)
            left -= closes - begin
        raise ValueError(f"no business time within {_HORIZON} days")  # pragma: no cover

    def business_time_between(self, first: datetime, second: datetime) -> timedelta:
        """Open time from ``first`` to ``second``; negative when ``second`` is earlier."""
        a, b = _aware(first).astimezone(UTC), _aware(second).astimezone(UTC)
        if b < a:
            return -self.business_time_between(second, first)
        total = timedelta(0)
        for opens, closes in self._intervals(a):
            if opens >= b:
                break
            total += min(closes, b) - max(opens, a)
        return total

    def _intervals(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals (UTC) that end after ``instant``, in order."""
        # Start a day early: last night's overnight hours may still be running.
        day = instant.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(_HORIZON):
            interval = self._open_interval(day)
            if interval is not None and interval[1] > instant:
                yield interval
            day += timedelta(days=1)

    def _open_interval(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's opening hours in UTC (None on a day off), worked out once per day:
        every new thread's SLA deadlines walk the same few days."""
        known = self._intervals_by_day
        if day not in known:
            known[day] = None
            if self.is_working_day(day):
                opens, closes = self._minutes
                midnight = datetime.combine(day, time(), self.zone)
                # Wall-clock addition within one ZoneInfo: 09:00 stays 09:00 on a DST day.
                known[day] = ((midnight + timedelta(minutes=opens)).astimezone(UTC),
                              (midnight + timedelta(minutes=closes)).astimezone(UTC))
        return known[day]

    @cached_property
    def _intervals_by_day(self) -> dict[date, tuple[datetime, datetime] | None]:
        return {}


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a time zone is required: {at.isoformat()} is naive")
    return at


def calendar_from_section(section: Section) -> BusinessCalendar:
    """Read the calendar keys of ``inbox.toml``'s ``[school]`` table.

    Does not call ``section.done()``: the table holds other keys the caller reads.
    A bad value is reported and replaced by its default, so the answer is usable.
    """
    timezone = section.text("timezone", "UTC")
    if _zone(timezone) is None:
        section.problem(f'timezone "{timezone}" is not a known time zone'
                        ' (an IANA name like "Asia/Almaty")')
        timezone = "UTC"
    days = []
    for name in section.texts("working_days", DAY_NAMES[:5]):
        if name.lower() in DAY_NAMES:
            days.append(DAY_NAMES.index(name.lower()))
        else:
            section.problem(f'working_days "{name}" is not one of: {", ".join(DAY_NAMES)}')
    if not days:
        section.problem("working_days is empty: the school would never open")
        days = [0, 1, 2, 3, 4]
    opens = _clock(section, "opens", "09:00")
    closes = _clock(section, "closes", "18:00", end=True)
    if clock_minutes(opens) == clock_minutes(closes, end=True):
        section.problem(f'opens and closes are both "{opens}": the school would never open')
        opens, closes = "09:00", "18:00"
    return BusinessCalendar(timezone, tuple(sorted(set(days))), opens, closes,
                            _holidays(section))


def _clock(section: Section, key: str, default: str, *, end: bool = False) -> str:
    value = section.text(key, default)
    try:
        clock_minutes(value, end=end)
    except ValueError:
        section.problem(f'{key} "{value}" is not a time like "{default}"')
        return default
    return value


def _holidays(section: Section) -> frozenset[date]:
    """Dates (TOML dates or strings) and inclusive ranges ``"2026-12-31..2027-01-08"``."""
    section.seen.add("holidays")
    value = section.data.get("holidays", [])
    if not isinstance(value, list):
        section.problem("holidays must be a list of dates")
        return frozenset()
    days: set[date] = set()
    for item in value:
        span = _span(item)
        if span is None:
            section.problem(f'holidays "{item}" is not a date like "2026-12-31"'
                            ' or a range like "2026-12-31..2027-01-08"')
            continue
        first, last = span
        days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    return frozenset(days)


def _span(item: object) -> tuple[date, date] | None:
    if isinstance(item, date) and not isinstance(item, datetime):
        return item, item
    if not isinstance(item, str):
        return None
    first, _, last = item.partition("..")
    try:
        span = date.fromisoformat(first.strip()), date.fromisoformat((last or first).strip())
    except ValueError:
        return None
    return span if span[0] <= span[1] else None
