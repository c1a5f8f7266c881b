"""Spans of time and cutoffs as admins write them: "15m", "2h30m", "180d", "2y", "2024-09-01".

One grammar for the configuration and every command; each use says which units it
allows (retention refuses "m": months or minutes?).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_SPAN = re.compile(r"(\d+)([a-z])")
_UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1),
          "d": timedelta(days=1), "w": timedelta(weeks=1), "y": timedelta(days=365)}
_NAMES = {"s": "s", "m": "m (minutes)", "h": "h", "d": "d", "w": "w", "y": "y (365 days)"}
_EXAMPLES = {"s": 'seconds ("30s")', "h": 'hours ("12h")', "d": 'days ("180d")',
             "w": 'weeks ("8w")', "y": 'years ("1y")'}
AGE_UNITS = "dwy"  # retention ages: days, weeks, years (a year is 365 days)
# What is deleted for its age must be at least this old: "0d" or a date still to come
# would take a thread closed a minute ago, not what an admin setting retention means.
MIN_AGE_DAYS = 1


def parse_span(text: str, units: str = "smhd") -> timedelta:
    """``"15m"``, ``"2h30m"``, ``"180d"``, ``"2y"`` in the given units; raises ValueError."""
    compact = text.replace(" ", "").lower()
    parts = _SPAN.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact or any(
            u not in units for _, u in parts):
        hint = ""
        if "m" in compact and "m" not in units:  # only the units allowed here are offered
            *most, last = [_EXAMPLES[u] for u in units]
            hint = f'; "m" is ambiguous (minutes or months?): write {", ".join(most)}' + (
                f" or {last}" if most else last)
        raise ValueError(f"{text!r} is not a duration (units: "
                         f"{', '.join(_NAMES[u] for u in units)}){hint}")
    return sum((int(n) * _UNITS[u] for n, u in parts), timedelta(0))


def parse_cutoff(text: str, now: datetime, units: str = AGE_UNITS, *,
                 min_days: int = 0) -> datetime:
    """A span before ``now`` ("2y", "180d"), or an ISO date/time ("2024-09-01"); raises
    ValueError. A date means its midnight in UTC.

    With ``min_days``, a cutoff less than that many days before ``now`` (a date to come
    too) is refused, naming the latest date allowed.
    """
    cutoff = _cutoff(text, now, units)
    latest = now - timedelta(days=min_days)
    if min_days and cutoff > latest:
        raise ValueError(f"{text!r} is not at least {min_days}d in the past: write an age of"
                         f" {min_days}d or more, or a date up to {latest.date().isoformat()}")
    return cutoff


def parse_day(text: str) -> date | None:
    """``2024-09-01`` as a date; None for anything else (a span, a time of day)."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _cutoff(text: str, now: datetime, units: str) -> datetime:
    day = parse_day(text)
    if day is not None:
        return datetime.combine(day, datetime.min.time(), UTC)
    try:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return now - parse_span(text, units)
    except ValueError as exc:
        raise ValueError(f"{exc}, or a date like 2024-09-01") from None
