"""Store verbs that feed ``inbox stats``: the facts of a period, read in a few queries.

A mixin of :class:`inbox.store.Store` (``self.db``, ``self._thread_rows``); ``core``
and ``quality`` are read at call time because ``core`` imports this module. The
arithmetic (medians, business hours, rates) lives in :mod:`inbox.stats`.
"""

from __future__ import annotations

from datetime import datetime

from inbox.model import Thread
from inbox.store import core, quality


class StatsStore:
    def threads_created_between(self, since: datetime, until: datetime) -> list[Thread]:
        return list(self._thread_rows("t.created_at >= ? AND t.created_at < ?",
                                      [core.iso(since), core.iso(until)]))

    def unclosed_threads(self) -> list[Thread]:
        """Open and pending threads: the backlog."""
        return list(self._thread_rows("t.status != 'closed'", []))

    def threads_with_event(self, action: str, since: datetime, until: datetime) -> set[int]:
        """Threads created in the period that have at least one event ``action`` (e.g. reopened)."""
        return {row["id"] for row in self._rows(
            "SELECT DISTINCT t.id FROM threads t JOIN events e ON e.thread_id = t.id"
            " WHERE e.action = ? AND t.created_at >= ? AND t.created_at < ?",
            [action, core.iso(since), core.iso(until)])}

    def previous_thread_times(self, since: datetime, until: datetime) -> dict[int, datetime]:
        """For threads created in the period: when the same contact's previous thread began."""
        rows = self._rows(
            "SELECT t.id, (SELECT max(p.created_at) FROM threads p WHERE p.contact_id ="
            " t.contact_id AND p.id < t.id) AS previous FROM threads t"
            " WHERE t.created_at >= ? AND t.created_at < ?", [core.iso(since), core.iso(until)])
        return {row["id"]: core.parse_time(row["previous"]) for row in rows if row["previous"]}

    def faq_offers_between(self, since: datetime, until: datetime) -> dict[int, quality.FaqOffer]:
        rows = self._rows(
            "SELECT f.* FROM faq_offers f JOIN threads t ON t.id = f.thread_id"
            " WHERE t.created_at >= ? AND t.created_at < ?", [core.iso(since), core.iso(until)])
        return {row["thread_id"]: quality.faq_offer_from(row) for row in rows}

    def surveys_between(self, since: datetime, until: datetime) -> dict[int, quality.Survey]:
        rows = self._rows(
            "SELECT s.* FROM surveys s JOIN threads t ON t.id = s.thread_id"
            " WHERE t.created_at >= ? AND t.created_at < ?", [core.iso(since), core.iso(until)])
        return {row["thread_id"]: quality.survey_from(row) for row in rows}
