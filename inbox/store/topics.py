"""Store verbs of Telegram staff groups: each thread's forum topic, and what waits for it.

A thread of a ``client = "telegram-group"`` team gets one topic in the team's
forum group. Telegram names the topic's id only once it has created it (an
outbox entry of kind "topic"), so notifications queued before that wait in the
outbox at :data:`HELD` and are released into the topic when it exists.

A mixin of :class:`inbox.store.Store` (it uses ``self.db``, ``self.transaction()``,
``self._one``); ``core`` is read at call time because ``core`` imports this module.
"""

from __future__ import annotations

from datetime import UTC, datetime

from inbox.store import core

HELD = datetime(9999, 12, 31, tzinfo=UTC)  # next_attempt_at of a notification awaiting its topic


class TopicStore:
    def request_topic(self, thread_id: int, chat_id: str, at: datetime) -> bool:
        """Note that the thread's topic is being created; False when it already was."""
        with self.transaction():
            return self.db.execute(
                "INSERT OR IGNORE INTO forum_topics (thread_id, chat_id, requested_at)"
                " VALUES (?, ?, ?)", [thread_id, chat_id, core.iso(at)]).rowcount == 1

    def forget_topic(self, thread_id: int, topic_id: int) -> None:
        """The thread's topic ``topic_id`` is gone (deleted in Telegram): the next
        notification asks for a new one. Once that is asked for, this does nothing."""
        with self.transaction():
            self.db.execute("DELETE FROM forum_topics WHERE thread_id = ? AND topic_id = ?",
                            [thread_id, topic_id])

    def topic_of(self, thread_id: int) -> int | None:
        """The thread's topic id in its staff group; None while it is not (yet) created."""
        row = self._one("SELECT topic_id FROM forum_topics WHERE thread_id = ?", (thread_id,))
        return row["topic_id"] if row else None

    def thread_for_topic(self, chat_id: str, topic_id: int) -> int | None:
        row = self._one("SELECT thread_id FROM forum_topics WHERE chat_id = ? AND topic_id = ?",
                        (chat_id, topic_id))
        return row["thread_id"] if row else None

    def topic_created(self, thread_id: int, topic_id: int | None, at: datetime) -> int:
        """Record the topic (None: it could not be created) and release what waited for it.

        The waiting notifications go into the topic, or without one (the group's
        General topic) when creation failed; then the next notification asks
        for a topic again. Returns how many were released.
        """
        with self.transaction():
            row = self._one("SELECT chat_id FROM forum_topics WHERE thread_id = ?", (thread_id,))
            if row is None:
                return 0
            if topic_id is None:
                self.db.execute("DELETE FROM forum_topics WHERE thread_id = ?", [thread_id])
                headers = "headers"
            else:
                self.db.execute("UPDATE forum_topics SET topic_id = ? WHERE thread_id = ?",
                                [topic_id, thread_id])
                headers = "json_set(headers, '$.message_thread_id', ?)"
            params = [str(topic_id)] if topic_id is not None else []
            return self.db.execute(
                # Due from now: inbox status counts its wait from here (see outbox_summary).
                f"UPDATE outbox SET headers = {headers}, next_attempt_at = ?, created_at = ?"
                " WHERE thread_id = ? AND recipient = ? AND kind = 'notification'"
                " AND state = 'queued' AND next_attempt_at = ?",
                [*params, core.iso(at), core.iso(at), thread_id, row["chat_id"],
                 core.iso(HELD)]).rowcount
