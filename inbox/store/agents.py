"""Store verbs of the agents' side: Telegram links, link codes, claimed messages, notifications.

A mixin of :class:`inbox.store.Store` (it uses ``self.db``, ``self.transaction()``,
``self._one``); ``core`` is read at call time because ``core`` imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from inbox.model import Outbound
from inbox.store import core


class AgentStore:
    # -- links ---------------------------------------------------------------------------

    def add_link_code(self, code: str, agent: str, expires_at: datetime) -> None:
        with self.transaction():
            self.db["link_codes"].insert(
                {"code": code, "agent": agent, "expires_at": core.iso(expires_at)})

    def link_code_agent(self, code: str, now: datetime) -> str | None:
        """The agent a code that is still valid would link; the code stays."""
        row = self._one("SELECT agent FROM link_codes WHERE code = ? AND expires_at >= ?",
                        (code, core.iso(now)))
        return row["agent"] if row else None

    def take_link_code(self, code: str, now: datetime) -> str | None:
        """The agent a one-time code links, once; an expired or used code gives None."""
        with self.transaction():
            row = self._one("SELECT agent, expires_at FROM link_codes WHERE code = ?", (code,))
            if row is None:
                return None
            self.db.execute("DELETE FROM link_codes WHERE code = ? OR expires_at < ?",
                            [code, core.iso(now)])
            return row["agent"] if core.parse_time(row["expires_at"]) >= now else None

    def link_agent(self, agent: str, kind: str, value: str, at: datetime) -> None:
        """Link an agent to an account (one per kind); the account leaves any other agent."""
        with self.transaction():
            self.db.execute("DELETE FROM agent_links WHERE agent = ? OR (kind = ? AND value = ?)",
                            [agent, kind, value])
            self.db["agent_links"].insert(
                {"agent": agent, "kind": kind, "value": value, "linked_at": core.iso(at)})

    def agent_links(self, kind: str) -> dict[str, str]:
        """Agent id -> linked account of that kind (a Telegram user id)."""
        return {row["agent"]: row["value"] for row in self._rows(
            "SELECT agent, value FROM agent_links WHERE kind = ?", [kind])}

    # -- claimed messages ----------------------------------------------------------------

    def was_claimed(self, account: str | None, external_id: str) -> bool:
        """Whether this message was acted on; ``account`` None: by any channel (a mail's
        Message-ID names it in every mailbox, a messenger's ids only within one bot)."""
        if account is None:
            return self._one("SELECT 1 AS x FROM agent_claims WHERE external_id = ?",
                             (external_id,)) is not None
        return self._one("SELECT 1 AS x FROM agent_claims WHERE account = ? AND external_id = ?",
                         (account, external_id)) is not None

    def record_claim(self, account: str, external_id: str, agent: str,
                     thread_id: int | None, at: datetime) -> None:
        with self.transaction():
            self.db["agent_claims"].insert(
                {"account": account, "external_id": external_id, "agent": agent,
                 "thread_id": thread_id, "claimed_at": core.iso(at)}, ignore=True)

    # -- notifications and replies -------------------------------------------------------

    def notification_by_external(self, account: str, external_id: str) -> Outbound | None:
        """The notification the channel delivered as ``external_id`` (what an agent replies to)."""
        row = self._one(
            "SELECT id FROM outbox WHERE account = ? AND external_id = ? AND external_id != ''"
            " AND kind = 'notification' ORDER BY id DESC LIMIT 1", (account, external_id))
        return self.outbound(row["id"]) if row else None

    def notification_among(self, account: str, external_ids: Sequence[str], thread_id: int,
                           recipient: str) -> bool:
        """Whether one of these sent messages began a notification about the thread to
        this recipient (by the index on external_id)."""
        marks = ",".join("?" * len(external_ids))
        return self._one(
            f"SELECT 1 AS x FROM outbox WHERE external_id IN ({marks}) AND external_id != ''"
            " AND account = ? AND thread_id = ? AND recipient = ? AND kind = 'notification'",
            (*external_ids, account, thread_id, recipient)) is not None

    def other_reply_since(self, thread_id: int, agent: str,
                          since: datetime) -> tuple[str, str] | None:
        """(agent, text) of another agent's answer to this thread at or after ``since``
        (a collision)."""
        row = self._one(
            "SELECT sender, text FROM messages WHERE thread_id = ? AND direction = 'out'"
            " AND sender != ? AND sender != '' AND created_at >= ? ORDER BY id DESC LIMIT 1",
            (thread_id, agent, core.iso(since)))
        return (row["sender"], row["text"]) if row else None
