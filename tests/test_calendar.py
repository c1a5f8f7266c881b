"""The school's business calendar: open or not, next opening, SLA arithmetic across
weekends, holidays, night hours and DST changes, and reading it from inbox.toml."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from inbox.sections import Section
from routing.calendar import BusinessCalendar, calendar_from_section

KYIV = ZoneInfo("Europe/Kyiv")  # DST: 2026-03-29 03:00 -> 04:00, 2026-10-25 04:00 -> 03:00
ALMATY = ZoneInfo("Asia/Almaty")
HOURS = timedelta(hours=1)


def kyiv(*args: int) -> datetime:
    return datetime(*args, tzinfo=KYIV)


SCHOOL = BusinessCalendar("Europe/Kyiv", holidays=frozenset({date(2026, 3, 9)}))


def test_open_only_on_working_days_within_hours():
    assert SCHOOL.is_open(kyiv(2026, 3, 2, 9, 0))
    assert not SCHOOL.is_open(kyiv(2026, 3, 2, 18, 0))  # closing time is closed
    assert not SCHOOL.is_open(kyiv(2026, 3, 2, 8, 59))
    assert not SCHOOL.is_open(kyiv(2026, 3, 7, 12, 0))  # Saturday
    assert not SCHOOL.is_open(kyiv(2026, 3, 9, 12, 0))  # holiday


def test_is_open_uses_the_calendar_zone_whatever_zone_the_time_is_in():
    # 07:30 UTC on a Monday is 09:30 in Kyiv (winter) and 12:30 in Almaty.
    monday = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert SCHOOL.is_open(monday)
    assert BusinessCalendar("Asia/Almaty").is_open(monday)
    assert not BusinessCalendar("America/New_York").is_open(monday)


def test_next_opening_skips_the_weekend_and_a_holiday():
    assert SCHOOL.next_opening(kyiv(2026, 3, 6, 19, 0)) == kyiv(2026, 3, 10, 9, 0)
    assert SCHOOL.next_opening(kyiv(2026, 3, 2, 10, 0)) == kyiv(2026, 3, 2, 10, 0)


def test_add_business_time_carries_over_the_weekend():
    assert SCHOOL.add_business_time(kyiv(2026, 3, 13, 17, 0), 2 * HOURS) == kyiv(2026, 3, 16, 10)


def test_add_business_time_skips_a_holiday():
    # Friday 6th 17:00 + 2h: Monday 9th is a holiday, so Tuesday 10:00.
    assert SCHOOL.add_business_time(kyiv(2026, 3, 6, 17, 0), 2 * HOURS) == kyiv(2026, 3, 10, 10)


def test_add_business_time_across_the_spring_dst_change_keeps_wall_clock_hours():
    due = SCHOOL.add_business_time(kyiv(2026, 3, 27, 17, 0), 2 * HOURS)
    assert due == kyiv(2026, 3, 30, 10, 0)
    assert due.utcoffset() == timedelta(hours=3)  # summer time after the change
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_add_business_time_landing_exactly_on_closing_time():
    assert SCHOOL.add_business_time(kyiv(2026, 3, 2, 9, 0), 9 * HOURS) == kyiv(2026, 3, 2, 18)


def test_add_business_time_from_outside_hours_starts_at_the_opening():
    assert SCHOOL.add_business_time(kyiv(2026, 3, 2, 6, 0), 30 * timedelta(minutes=1)) == kyiv(
        2026, 3, 2, 9, 30)


def test_business_time_between_counts_open_time_only():
    assert SCHOOL.business_time_between(kyiv(2026, 3, 6, 17, 0), kyiv(2026, 3, 10, 10, 0)) == (
        2 * HOURS)
    assert SCHOOL.business_time_between(kyiv(2026, 3, 10, 10), kyiv(2026, 3, 6, 17)) == -2 * HOURS
    assert SCHOOL.business_time_between(kyiv(2026, 3, 7, 10), kyiv(2026, 3, 8, 10)) == timedelta(0)


def test_a_round_the_clock_calendar_has_a_23_hour_day_at_the_spring_change():
    always = BusinessCalendar("Europe/Kyiv", tuple(range(7)), "00:00", "24:00")
    assert always.business_time_between(kyiv(2026, 3, 29), kyiv(2026, 3, 30)) == 23 * HOURS
    assert always.business_time_between(kyiv(2026, 10, 25), kyiv(2026, 10, 26)) == 25 * HOURS
    assert always.add_business_time(kyiv(2026, 3, 29), 23 * HOURS) == kyiv(2026, 3, 30)


def test_between_and_add_agree():
    start = kyiv(2026, 3, 25, 15, 20)
    for hours in (1, 5, 9, 20, 41):
        due = SCHOOL.add_business_time(start, hours * HOURS)
        assert SCHOOL.business_time_between(start, due) == hours * HOURS


def test_night_hours_run_past_midnight_and_belong_to_the_day_they_start():
    night = BusinessCalendar("Asia/Almaty", (0, 1, 2, 3, 4), "20:00", "08:00")
    almaty = lambda *args: datetime(*args, tzinfo=ALMATY)  # noqa: E731
    assert night.is_open(almaty(2026, 3, 6, 23, 0))  # Friday night
    assert night.is_open(almaty(2026, 3, 7, 7, 0))  # Saturday early: Friday's shift
    assert not night.is_open(almaty(2026, 3, 7, 21, 0))  # Saturday night: no shift
    assert night.add_business_time(almaty(2026, 3, 7, 7, 0), 2 * HOURS) == almaty(2026, 3, 9, 21)
    assert night.describe() == "Mon-Fri 20:00-08:00 Asia/Almaty"


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        SCHOOL.is_open(datetime(2026, 3, 2, 12, 0))


def read(text: str) -> tuple[BusinessCalendar, list[str], Section]:
    problems: list[str] = []
    section = Section(tomllib.loads(text)["school"], "inbox.toml: school", problems)
    return calendar_from_section(section), problems, section


def test_calendar_from_the_school_table_with_dates_ranges_and_other_keys_left_alone():
    calendar, problems, section = read(
        '[school]\nname = "Sunrise"\ntimezone = "Asia/Almaty"\n'
        'working_days = ["mon", "tue", "wed", "thu", "fri", "sat"]\n'
        'opens = "08:30"\ncloses = "17:00"\n'
        'holidays = [2026-03-08, "2026-03-21..2026-03-23", "2026-12-16"]\n')
    assert problems == []
    assert calendar == BusinessCalendar(
        "Asia/Almaty", (0, 1, 2, 3, 4, 5), "08:30", "17:00",
        frozenset({date(2026, 3, 8), date(2026, 3, 21), date(2026, 3, 22), date(2026, 3, 23),
                   date(2026, 12, 16)}))
    assert "name" not in section.seen  # the caller reads it and calls done()


def test_defaults_when_the_school_table_says_nothing():
    calendar, problems, _ = read("[school]\n")
    assert (calendar, problems) == (BusinessCalendar(), [])


def test_bad_calendar_values_are_each_reported_and_replaced_by_defaults():
    calendar, problems, _ = read(
        '[school]\ntimezone = "Asia/Almati"\nworking_days = ["monday", "tue"]\n'
        'opens = "9am"\ncloses = "25:00"\nholidays = ["2026-02-30", "2027-01-08..2027-01-01"]\n')
    assert problems == [
        'inbox.toml: school: timezone "Asia/Almati" is not a known time zone (an IANA name like'
        ' "Asia/Almaty")',
        'inbox.toml: school: working_days "monday" is not one of: mon, tue, wed, thu, fri, sat,'
        " sun",
        'inbox.toml: school: opens "9am" is not a time like "09:00"',
        'inbox.toml: school: closes "25:00" is not a time like "18:00"',
        'inbox.toml: school: holidays "2026-02-30" is not a date like "2026-12-31" or a range'
        ' like "2026-12-31..2027-01-08"',
        'inbox.toml: school: holidays "2027-01-08..2027-01-01" is not a date like "2026-12-31"'
        ' or a range like "2026-12-31..2027-01-08"',
    ]
    assert calendar == BusinessCalendar("UTC", (1,), "09:00", "18:00")


def test_equal_opening_and_closing_is_refused():
    _, problems, _ = read('[school]\nopens = "09:00"\ncloses = "09:00"\n')
    assert problems == ['inbox.toml: school: opens and closes are both "09:00": the school'
                        " would never open"]
