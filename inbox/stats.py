"""Support metrics for a period, grouped by agent, team, channel, language or segment.

Every metric is computed over the threads *created* in the period (so a
period's numbers do not change when old threads are touched), except the
backlog, which is the open and pending threads now. Times are in business
hours where the thread's SLA policy counts business hours, else wall time.
Percentiles are nearest-rank (p90 of 10 values is the 9th smallest), so each
reported time is one that really happened.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from inbox.config import Config
from inbox.model import Status, Thread
from inbox.store import Store, iso

GROUPINGS = ("agent", "team", "channel", "language", "segment")
REPEAT_WINDOW = timedelta(days=7)
BACKLOG_BUCKETS = (("<1h", timedelta(hours=1)), ("1-4h", timedelta(hours=4)),
                   ("4-24h", timedelta(hours=24)), ("1-3d", timedelta(days=3)),
                   ("3-7d", timedelta(days=7)), (">7d", timedelta.max))
RESPONSE_BUCKETS = (("<15m", 15), ("15-60m", 60), ("1-4h", 240), ("4-24h", 1440),
                    (">24h", math.inf))


class StatsError(ValueError):
    """A period the command cannot read; the message says what to write instead."""


@dataclass(frozen=True)
class Spread:
    """Minutes: how many, the median and the 90th percentile (None when count is 0)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, minutes: Sequence[float]) -> Spread:
        if not minutes:
            return cls()
        ordered = sorted(minutes)
        p90 = ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]
        return cls(len(ordered), round(statistics.median(ordered), 1), round(p90, 1))


@dataclass(frozen=True)
class Metrics:
    """One row of the report: a group (or the total) and its numbers."""

    key: str
    opened: int
    closed: int
    first_response: Spread
    resolution: Spread
    sla_decided: int
    sla_met: int
    reopened: int
    closed_ever: int
    repeat_contacts: int
    faq_offered: int
    faq_deflected: int
    csat_asked: int
    csat_answered: int
    csat_sum: int

    @property
    def sla_met_pct(self) -> float | None:
        return _pct(self.sla_met, self.sla_decided)

    @property
    def reopen_rate(self) -> float | None:
        return _pct(self.reopened, self.closed_ever)

    @property
    def repeat_rate(self) -> float | None:
        return _pct(self.repeat_contacts, self.opened)

    @property
    def faq_deflection_rate(self) -> float | None:
        return _pct(self.faq_deflected, self.opened)

    @property
    def csat_average(self) -> float | None:
        return round(self.csat_sum / self.csat_answered, 2) if self.csat_answered else None

    @property
    def csat_response_rate(self) -> float | None:
        return _pct(self.csat_answered, self.csat_asked)

    def as_json(self) -> dict:
        data = asdict(self)
        del data["csat_sum"]
        data.update(sla_met_pct=self.sla_met_pct, reopen_rate=self.reopen_rate,
                    repeat_rate=self.repeat_rate, faq_deflection_rate=self.faq_deflection_rate,
                    csat_average=self.csat_average, csat_response_rate=self.csat_response_rate)
        return data


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    by: str
    total: Metrics
    groups: tuple[Metrics, ...]
    backlog: dict[str, int]
    daily: dict[str, dict[str, int]]  # local date -> channel -> threads opened
    first_response_histogram: dict[str, int]

    def as_json(self) -> dict:
        return {"since": iso(self.since), "until": iso(self.until), "by": self.by,
                "total": self.total.as_json(), "groups": [g.as_json() for g in self.groups],
                "backlog": self.backlog,
                "daily": [{"date": day, "channels": counts} for day, counts in self.daily.items()],
                "first_response_histogram": self.first_response_histogram}


@dataclass(frozen=True)
class _Facts:
    """What one thread contributes, computed once."""

    thread: Thread
    first_response: float | None  # minutes
    resolution: float | None
    sla: bool | None  # met, missed, or not decided yet / no policy
    reopened: bool
    repeat: bool
    faq_offered: bool
    faq_deflected: bool
    csat_asked: bool
    csat_score: int | None


def build_report(store: Store, config: Config, since: datetime, until: datetime,
                 by: str | None, now: datetime) -> Report:
    """Every number of ``inbox stats`` for threads created in [since, until)."""
    if by is not None and by not in GROUPINGS:
        raise StatsError(f"--by {by!r}: group by one of {', '.join(GROUPINGS)}")
    threads = store.threads_created_between(since, until)
    reopened = store.threads_with_event("reopened", since, until)
    previous = store.previous_thread_times(since, until)
    offers = store.faq_offers_between(since, until)
    surveys = store.surveys_between(since, until)
    facts = []
    for thread in sorted(threads, key=lambda t: t.id):
        offer, survey = offers.get(thread.id), surveys.get(thread.id)
        before = previous.get(thread.id)
        facts.append(_Facts(
            thread=thread,
            first_response=_minutes(config, thread, thread.first_response_at),
            resolution=_minutes(config, thread, thread.closed_at),
            sla=_sla_met(thread, now),
            reopened=thread.id in reopened,
            repeat=before is not None and thread.created_at - before <= REPEAT_WINDOW,
            faq_offered=offer is not None,
            faq_deflected=offer is not None and offer.outcome == "solved",
            csat_asked=survey is not None,
            csat_score=survey.score if survey else None))
    groups: dict[str, list[_Facts]] = defaultdict(list)
    if by:
        for fact in facts:
            groups[getattr(fact.thread, by) or "(none)"].append(fact)
    rows = tuple(_metrics(key, groups[key]) for key in sorted(groups))
    zone = config.calendar.zone
    daily: dict[str, Counter] = defaultdict(Counter)
    for fact in facts:
        daily[fact.thread.created_at.astimezone(zone).date().isoformat()][
            fact.thread.channel] += 1
    histogram = {label: 0 for label, _ in RESPONSE_BUCKETS}
    for fact in facts:
        if fact.first_response is not None:
            label = next(lb for lb, top in RESPONSE_BUCKETS if fact.first_response < top)
            histogram[label] += 1
    return Report(since, until, by or "", _metrics("total", facts), rows,
                  _backlog(store.unclosed_threads(), now),
                  {day: dict(sorted(counts.items())) for day, counts in sorted(daily.items())},
                  histogram)


def _minutes(config: Config, thread: Thread, end: datetime | None) -> float | None:
    if end is None:
        return None
    policy = config.sla.get(thread.sla_policy)
    span = (policy.elapsed(thread.created_at, end, config.calendar) if policy is not None
            else end - thread.created_at)
    return max(span.total_seconds() / 60, 0.0)


def _sla_met(thread: Thread, now: datetime) -> bool | None:
    """True when every decided target was met, False when one was missed, None if none decided.

    Closing a thread stops both clocks: one the FAQ answer solved, never answered
    by an agent, met its first-response target if it was closed in time.
    """
    closed = thread.closed_at if thread.status is Status.CLOSED else None
    decided = []
    for done, due in ((thread.first_response_at or closed, thread.first_response_due),
                      (closed, thread.resolution_due)):
        if due is None:
            continue
        if done is not None:
            decided.append(done <= due)
        elif now > due:
            decided.append(False)
    return all(decided) if decided else None


def _metrics(key: str, facts: Sequence[_Facts]) -> Metrics:
    scores = [f.csat_score for f in facts if f.csat_score is not None]
    return Metrics(
        key=key, opened=len(facts),
        closed=sum(f.thread.status is Status.CLOSED for f in facts),
        first_response=Spread.of(_present(f.first_response for f in facts)),
        resolution=Spread.of(_present(f.resolution for f in facts
                                      if f.thread.status is Status.CLOSED)),
        sla_decided=sum(f.sla is not None for f in facts),
        sla_met=sum(f.sla is True for f in facts),
        reopened=sum(f.reopened for f in facts),
        closed_ever=sum(f.reopened or f.thread.status is Status.CLOSED for f in facts),
        repeat_contacts=sum(f.repeat for f in facts),
        faq_offered=sum(f.faq_offered for f in facts),
        faq_deflected=sum(f.faq_deflected for f in facts),
        csat_asked=sum(f.csat_asked for f in facts), csat_answered=len(scores),
        csat_sum=sum(scores))


def _backlog(threads: Iterable[Thread], now: datetime) -> dict[str, int]:
    counts = {label: 0 for label, _ in BACKLOG_BUCKETS}
    for thread in threads:
        age = now - thread.created_at
        counts[next(label for label, top in BACKLOG_BUCKETS if age < top)] += 1
    return counts


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


COLUMNS = ("key", "opened", "closed", "frt_median_min", "frt_p90_min", "resolution_median_min",
           "resolution_p90_min", "sla_met_pct", "reopen_rate", "repeat_contacts",
           "faq_deflection_rate", "csat_average", "csat_response_rate")


def row_values(m: Metrics) -> list:
    """One row in :data:`COLUMNS` order (the table and the CSV)."""
    return [m.key, m.opened, m.closed, m.first_response.median, m.first_response.p90,
            m.resolution.median, m.resolution.p90, m.sla_met_pct, m.reopen_rate,
            m.repeat_contacts, m.faq_deflection_rate, m.csat_average, m.csat_response_rate]
