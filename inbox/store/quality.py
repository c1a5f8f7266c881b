"""Store verbs of service quality: SLA timers and pauses, automatic answers, FAQ offers, surveys.

A mixin of :class:`inbox.store.Store` (it uses ``self.db``, ``self.transaction()``,
``self._one``, ``self._thread_rows``); ``core`` is read at call time because ``core``
imports this module. Every "fire once" promise rests on a primary key here, so a
restart or a second daemon instance never repeats a warning, a survey or an offer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from inbox.model import SlaClocks, Thread
from inbox.store import core

SLA_PLAN_KEY = "sla:check-times-for"


class FaqOffer(NamedTuple):
    """An FAQ answer sent on a thread; ``outcome`` is "" (no answer yet), "solved" or "person"."""

    thread_id: int
    entry: str
    score: float
    offered_at: datetime
    outcome: str = ""
    answered_at: datetime | None = None


class Survey(NamedTuple):
    """A satisfaction question sent after a thread was closed; ``score`` None until answered."""

    thread_id: int
    asked_at: datetime
    score: int | None = None
    comment: str = ""
    answered_at: datetime | None = None


class QualityStore:
    # -- SLA timers ------------------------------------------------------------------------

    def sla_threads(self, now: datetime) -> list[SlaClocks]:
        """Open threads with a policy that the timer job has to look at by ``now``.

        Each thread's ``sla_check_at`` is the instant before which none of its timers can
        fire, written by :meth:`set_sla_checks` after a look. ``update_thread`` replaces it
        with a new mark (which sorts before every instant) when a due time, the status or
        the policy changes. So the half-minute job reads the few threads with something
        due, not every open one.
        """
        rows = self.conn.execute(
            "SELECT id, sla_policy, first_response_due, resolution_due, first_response_at,"
            " sla_check_at, (SELECT group_concat(s.target || ' ' || s.stage, ',')"
            "  FROM sla_timers s WHERE s.thread_id = t.id)"
            " FROM threads t INDEXED BY threads_sla_check"
            " WHERE status = 'open' AND sla_check_at <= ? AND sla_policy != ''",
            [core.iso(now)])
        return [SlaClocks(id_, policy, core.parse_time(first_due), core.parse_time(due),
                          core.parse_time(answered),
                          frozenset(tuple(pair.split()) for pair in fired.split(","))
                          if fired else frozenset(), mark)
                for id_, policy, first_due, due, answered, mark, fired in rows]

    def set_sla_checks(self, checks: Sequence[tuple[SlaClocks, datetime]]) -> None:
        """Remember when to look at each thread again; not over a newer mark (a due time
        moved meanwhile by another process): that thread is looked at again first.
        Nothing looked at, nothing written: most checks take no write lock."""
        if not checks:
            return
        with self.transaction():
            self.conn.executemany(
                "UPDATE threads SET sla_check_at = ? WHERE id = ? AND sla_check_at = ?",
                [(core.iso(at), clocks.id, clocks.mark) for clocks, at in checks])

    def reset_sla_checks(self, plan: str) -> None:
        """Look at every thread again: the SLA policies or the calendar that the times to
        look again were worked out with (``plan``, their description) have changed."""
        with self.transaction():
            # Open threads only: the others get a new mark when they are opened again.
            self.db.execute("UPDATE threads SET sla_check_at = ''"
                            " WHERE status = 'open' AND sla_check_at != ''")
            self.set_sync("", SLA_PLAN_KEY, plan)

    def sla_plan(self) -> str | None:
        """The SLA policies and calendar the stored check times were worked out with."""
        return self.get_sync("", SLA_PLAN_KEY)

    def record_timer(self, thread_id: int, target: str, stage: str, due: datetime,
                     at: datetime, notified: bool = True) -> bool:
        """Mark a timer fired; False when it had fired already (the caller must then stay quiet)."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO sla_timers (thread_id, target, stage, due, fired_at,"
                " notified) VALUES (?, ?, ?, ?, ?, ?)",
                [thread_id, target, stage, core.iso(due), core.iso(at), int(notified)])
            return cursor.rowcount == 1

    def unapplied_pauses(self) -> list[int]:
        """Open SLA threads with a ``pending`` or ``closed`` event whose pause (see
        :func:`inbox.sla.pauses`) has not shifted the due times.

        Read in the indexes alone, open threads first (their number is bounded; a school's
        closed events grow with its years): SQLite, left to itself, read every event of
        every open thread instead (8 ms every check with 3,240 open threads; now 0.5 ms).
        """
        return [row["thread_id"] for row in self._rows(
            "SELECT DISTINCT e.thread_id FROM threads t INDEXED BY threads_sla_check"
            " JOIN events e INDEXED BY events_pauses ON e.thread_id = t.id"
            " WHERE e.action IN ('pending', 'closed') AND t.status = 'open'"
            " AND t.sla_policy != ''"
            " AND NOT EXISTS (SELECT 1 FROM sla_pauses p WHERE p.thread_id = e.thread_id"
            "                 AND p.paused_at = e.created_at) ORDER BY e.thread_id")]

    def applied_pauses(self, thread_id: int) -> set[datetime]:
        return {core.parse_time(row["paused_at"]) for row in self._rows(
            "SELECT paused_at FROM sla_pauses WHERE thread_id = ?", [thread_id])}

    def record_pause(self, thread_id: int, paused_at: datetime, resumed_at: datetime) -> bool:
        """Remember a pause as applied; False when it was (so due times shift only once)."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO sla_pauses (thread_id, paused_at, resumed_at)"
                " VALUES (?, ?, ?)", [thread_id, core.iso(paused_at), core.iso(resumed_at)])
            return cursor.rowcount == 1

    # -- automatic answers -----------------------------------------------------------------

    def automatic_count(self, recipient: str, kind: str, since: datetime) -> int:
        """How many automatic messages of ``kind`` went to ``recipient`` since ``since``."""
        row = self._one(
            "SELECT count(*) AS n FROM automatic_sent WHERE recipient = ? AND kind = ?"
            " AND sent_at >= ?", (recipient, kind, core.iso(since)))
        return row["n"] if row else 0

    def record_automatic(self, recipient: str, kind: str, at: datetime) -> None:
        with self.transaction():
            self.db["automatic_sent"].insert(
                {"recipient": recipient, "kind": kind, "sent_at": core.iso(at)})

    # -- FAQ offers ------------------------------------------------------------------------

    def record_faq_offer(self, thread_id: int, entry: str, score: float, at: datetime) -> None:
        with self.transaction():
            self.db["faq_offers"].insert({"thread_id": thread_id, "entry": entry,
                                          "score": round(score, 4), "offered_at": core.iso(at)},
                                         replace=True)

    def faq_offer(self, thread_id: int) -> FaqOffer | None:
        row = self._one("SELECT * FROM faq_offers WHERE thread_id = ?", (thread_id,))
        return faq_offer_from(row) if row else None

    def answer_faq_offer(self, thread_id: int, outcome: str, at: datetime) -> None:
        with self.transaction():
            self.db["faq_offers"].update(thread_id, {"outcome": outcome,
                                                     "answered_at": core.iso(at)})

    # -- surveys ---------------------------------------------------------------------------

    def threads_to_survey(self, closed_after: datetime, closed_before: datetime) -> list[Thread]:
        """Closed threads an agent answered, not yet surveyed and not solved by an FAQ answer."""
        return list(self._thread_rows(
            "t.status = 'closed' AND t.closed_at > ? AND t.closed_at <= ?"
            " AND t.first_response_at IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM surveys s WHERE s.thread_id = t.id)"
            " AND NOT EXISTS (SELECT 1 FROM faq_offers f WHERE f.thread_id = t.id"
            "                 AND f.outcome = 'solved')",
            [core.iso(closed_after), core.iso(closed_before)]))

    def record_survey(self, thread_id: int, at: datetime) -> bool:
        """Mark a thread surveyed; False when it was (one question per thread, ever)."""
        with self.transaction():
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO surveys (thread_id, asked_at) VALUES (?, ?)",
                [thread_id, core.iso(at)])
            return cursor.rowcount == 1

    def survey(self, thread_id: int) -> Survey | None:
        row = self._one("SELECT * FROM surveys WHERE thread_id = ?", (thread_id,))
        return survey_from(row) if row else None

    def survey_asked_in(self, header_id: str) -> int | None:
        """The thread whose survey mail had this Message-ID; None for any other message."""
        row = self._one("SELECT thread_id FROM messages WHERE header_message_id = ?"
                        " AND header_message_id != ''"  # the partial index, not a scan
                        " AND direction = 'auto' AND sender = 'auto:survey'", (header_id,))
        return row["thread_id"] if row else None

    def unanswered_survey(self, contact_id: int, asked_after: datetime) -> Survey | None:
        """The contact's latest survey still waiting for a score, asked after ``asked_after``."""
        row = self._one(
            "SELECT s.* FROM surveys s JOIN threads t ON t.id = s.thread_id"
            " WHERE t.contact_id = ? AND s.score IS NULL AND s.asked_at > ?"
            " ORDER BY s.asked_at DESC, s.thread_id DESC LIMIT 1",
            (contact_id, core.iso(asked_after)))
        return survey_from(row) if row else None

    def answer_survey(self, thread_id: int, score: int, comment: str, at: datetime) -> None:
        with self.transaction():
            self.db["surveys"].update(thread_id, {"score": score, "comment": comment,
                                                  "answered_at": core.iso(at)})


def faq_offer_from(row: dict) -> FaqOffer:
    return FaqOffer(row["thread_id"], row["entry"], row["score"],
                    core.parse_time(row["offered_at"]), row["outcome"],
                    core.parse_time(row["answered_at"]))


def survey_from(row: dict) -> Survey:
    return Survey(row["thread_id"], core.parse_time(row["asked_at"]), row["score"],
                  row["comment"], core.parse_time(row["answered_at"]))
