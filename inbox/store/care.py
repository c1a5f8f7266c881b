"""Store verbs for looking after the data: health figures, backup, purge, forget, export, reparse.

A mixin of :class:`inbox.store.Store` (it uses ``self.db``, ``self.transaction()``
and ``self._one``). The store runs with ``secure_delete`` on, so removed personal
data is overwritten in the database file rather than left in free space, and
the full-text index is merged afterwards so no deleted words linger in it.
Attachment files are removed only after the commit that dropped their last
reference: a crash leaves at most an unreferenced file, never a row without one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from inbox.model import FILING_FLAGS, Attachment, Thread
from inbox.store import core  # circular on purpose: core's Store inherits this mixin

# Threads deleted per transaction: the daemon's writes wait at most for one batch.
DELETE_BATCH = 500


@dataclass
class Removed:
    """What a purge or a forget removed (or, in a dry run, would remove)."""

    contacts: int = 0
    threads: int = 0
    messages: int = 0
    raw: int = 0
    attachments: int = 0
    events: int = 0
    outbox: int = 0
    files: int = 0  # attachment files no longer referenced by any message
    # attachment file -> rows referring to it among those removed
    hashes: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, other: Removed) -> None:
        for name in ("contacts", "threads", "messages", "raw", "attachments", "events",
                     "outbox"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for sha, refs in other.hashes.items():
            self.hashes[sha] = self.hashes.get(sha, 0) + refs

    def counts(self) -> dict[str, int]:
        return {"contacts": self.contacts, "threads": self.threads, "messages": self.messages,
                "raw": self.raw, "attachments": self.attachments, "events": self.events,
                "outbox": self.outbox, "files": self.files}


class Snapshot(NamedTuple):
    """A consistent copy of the database made with SQLite's online backup API."""

    path: Path
    schema_version: int
    counts: dict[str, int]
    hashes: frozenset[str]  # attachment files the copy refers to


class RawMessage(NamedTuple):
    """A stored customer message's raw form, what :mod:`inbox.care` re-normalises."""

    id: int
    thread_id: int
    account: str
    kind: str  # "rfc822" | "telegram"
    data: bytes
    edited: bool  # a messenger edit replaced its text: the raw form is older than the text


class SlaBreach(NamedTuple):
    thread: Thread
    target: str  # "first_response" | "resolution"
    due: datetime


class CareStore:
    """Verbs for ``inbox status`` and the data-care commands."""

    db: Any
    path: Path

    # -- health ----------------------------------------------------------------------

    def sla_breaches(self, now: datetime, limit: int = 100) -> tuple[int, list[SlaBreach]]:
        """Open threads past a deadline: unanswered after first_response_due, or past
        resolution_due. Pending threads wait for the customer and do not count.
        Returns the total and up to ``limit`` of them, most overdue first."""
        at = core.iso(now)
        where = """t.status = 'open' AND (
            (t.first_response_at IS NULL AND t.first_response_due < :now)
            OR t.resolution_due < :now)"""
        (total,) = self._rows(f"SELECT count(*) AS n FROM threads t WHERE {where}",
                                 {"now": at})
        rows = self._rows(f"""
            SELECT t.*, c.name AS contact_name,
                   (SELECT count(*) FROM messages m WHERE m.thread_id = t.id) AS message_count,
                   CASE WHEN t.first_response_at IS NULL AND t.first_response_due < :now
                        THEN 'first_response' ELSE 'resolution' END AS target,
                   CASE WHEN t.first_response_at IS NULL AND t.first_response_due < :now
                        THEN t.first_response_due ELSE t.resolution_due END AS due
            FROM threads t JOIN contacts c ON c.id = t.contact_id
            WHERE {where} ORDER BY due, t.id LIMIT {int(limit)}""", {"now": at})
        found = [SlaBreach(core._thread(row), row["target"], core.parse_time(row["due"]))
                 for row in rows]
        return total["n"], found

    def failed_deliveries_since(self, since: datetime) -> int:
        """Outbox entries that failed for good since then (from the event log)."""
        row = self._one("SELECT count(*) AS n FROM events WHERE action = 'delivery-failed'"
                        " AND created_at >= ?", (core.iso(since),))
        return row["n"]

    # -- backup ----------------------------------------------------------------------

    def snapshot(self, target: Path) -> Snapshot:
        """Copy the live database to ``target`` (one self-contained file) while others write.

        The online backup API reads a consistent state; in WAL mode writers carry
        on meanwhile. The copy is switched out of WAL so it is a single file.
        """
        target.unlink(missing_ok=True)
        copy = sqlite3.connect(target)
        try:
            self.conn.backup(copy)  # copies pages as they are, damaged ones too
            damage = _check(copy, "quick_check")  # damaged pages; restore checks more
            if damage:  # an archive of them would not restore: fail tonight's job
                raise core.StoreDamaged(damage)
            copy.execute("PRAGMA journal_mode=DELETE")
            version = copy.execute("PRAGMA user_version").fetchone()[0]
            counts = {table: copy.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                      for table in ("contacts", "threads", "messages", "attachments", "outbox")}
            hashes = frozenset(row[0] for row in copy.execute(
                "SELECT DISTINCT sha256 FROM attachments WHERE sha256 != ''"))
        finally:
            copy.close()
        return Snapshot(target, version, counts, hashes)

    def high_water(self) -> dict[str, int]:
        """The highest id each never-reused table has given (held or deleted since)."""
        return {table: self.conn.execute(
                    f"SELECT {core.HIGH_WATER.format(table=table)}").fetchone()[0]
                for table in sorted(core.NEVER_REUSED)}

    def retire_up_to(self, marks: dict[str, int]) -> None:
        """Give no id up to ``marks`` again: a restored backup must not hand out the numbers
        the store it replaces gave after the backup was made (its notices are out there)."""
        with self._writes():
            for table, high in marks.items():
                self.db.execute(
                    "INSERT INTO retired_ids(name, high) VALUES (?, ?) ON CONFLICT(name)"
                    " DO UPDATE SET high = max(high, excluded.high)", [table, high])

    def is_empty(self) -> bool:
        """No contacts, threads or messages: nothing a restore could overwrite."""
        row = self._one("SELECT (SELECT count(*) FROM contacts) + (SELECT count(*) FROM threads)"
                        " + (SELECT count(*) FROM messages) AS n")
        return row["n"] == 0

    # -- deleting --------------------------------------------------------------------

    def closed_threads_before(self, before: datetime) -> list[int]:
        """Threads closed before ``before`` with no message since (an agent may answer a
        closed thread) and no answer of an agent still waiting to be sent: a reply queued
        today must not go with a thread closed years ago. (A notice to staff waiting for a
        forum topic that never came must not keep a thread for ever: it goes with it.)"""
        return [row["id"] for row in self._rows(
            "SELECT id FROM threads WHERE status = 'closed' AND closed_at < :before"
            " AND last_message_at < :before AND id NOT IN (SELECT thread_id FROM outbox"
            "   WHERE kind = 'reply' AND state IN ('queued', 'retrying')"
            "   AND thread_id IS NOT NULL)"
            " ORDER BY id", {"before": core.iso(before)})]

    def delete_threads(self, thread_ids: Sequence[int], *, dry_run: bool = False) -> Removed:
        """Remove threads with their messages, raw forms, attachments rows, events and
        outbox entries, in batches; then the files no longer referenced by anyone."""
        removed = Removed()
        for start in range(0, len(thread_ids), DELETE_BATCH):
            batch = list(thread_ids[start:start + DELETE_BATCH])
            if dry_run:
                removed.add(self._count_threads(batch))
                continue
            with self.transaction():
                removed.add(self._delete_batch(batch))
        self._finish_delete(removed, dry_run)
        return removed

    def delete_contact(self, contact_id: int, *, dry_run: bool = False) -> Removed:
        """Forget a person: their threads (everything in them), what they wrote in other
        people's threads, identities, rate-limit log and the contact itself."""
        thread_ids = [row["id"] for row in self._rows(
            "SELECT id FROM threads WHERE contact_id = ? ORDER BY id", [contact_id])]
        values = self._identity_values(contact_id)
        marks = ",".join("?" * len(values))
        elsewhere = self._written_elsewhere(contact_id)
        if dry_run:
            removed = self._count_threads(thread_ids)
            removed.add(self._delete_messages(elsewhere, dry_run=True))
        else:
            removed = Removed()
            with self.transaction():
                for start in range(0, len(thread_ids), DELETE_BATCH):
                    removed.add(self._delete_batch(thread_ids[start:start + DELETE_BATCH]))
                removed.add(self._delete_messages(elsewhere))
                if values:
                    self.db.execute(
                        f"DELETE FROM automatic_sent WHERE recipient IN ({marks})", values)
                self.db.execute("DELETE FROM contacts WHERE id = ?", [contact_id])
        removed.contacts = 1
        self._finish_delete(removed, dry_run)
        return removed

    def _written_elsewhere(self, contact_id: int) -> list[int]:
        """Ids of this person's messages in other people's threads: a parent in Cc answering
        by headers, a member of a group chat. Filed in that conversation, written by them;
        a message's sender is their address or user id, alone or as "Name <id>"."""
        found: set[int] = set()
        for row in self._rows("SELECT value FROM identities WHERE contact_id = ?"
                              " AND kind IN ('email', 'telegram')", [contact_id]):
            value, named = row["value"], f" <{row['value']}>"
            found.update(message["id"] for message in self._rows(
                "SELECT m.id FROM messages m JOIN threads t ON t.id = m.thread_id"
                " WHERE m.direction = 'in' AND t.contact_id != ?"
                " AND (m.sender = ? OR substr(m.sender, -length(?)) = ?)",
                [contact_id, value, named, named]))
        return sorted(found)

    def _delete_messages(self, message_ids: Sequence[int], *, dry_run: bool = False) -> Removed:
        """Remove single messages with their raw forms, attachment rows and the events about
        them (an edit's event keeps the text before it); files are left to _finish_delete."""
        if not message_ids:
            return Removed()
        marks = ",".join("?" * len(message_ids))
        ids = list(message_ids)
        events = f"json_extract(detail, '$.message') IN ({marks})"
        row = self._one(f"""SELECT
            (SELECT count(*) FROM messages WHERE raw_id IS NOT NULL AND id IN ({marks})) AS raw,
            (SELECT count(*) FROM attachments WHERE message_id IN ({marks})) AS attachments,
            (SELECT count(*) FROM events WHERE {events}) AS events,
            (SELECT count(*) FROM outbox WHERE about_message_id IN ({marks})) AS outbox""",
                        ids * 4)
        # The notifications quoting these messages go with them (ON DELETE CASCADE).
        removed = Removed(messages=len(ids), raw=row["raw"], attachments=row["attachments"],
                          events=row["events"], outbox=row["outbox"],
                          hashes=self._hashes(f"m.id IN ({marks})", ids))
        if dry_run:
            return removed
        self._index_missing(f"id IN ({marks})", ids)  # the delete trigger takes them out
        self.db.execute(f"DELETE FROM events WHERE {events}", ids)
        raw_ids = self._raw_ids(f"m.id IN ({marks})", ids)
        self.db.execute(f"DELETE FROM messages WHERE id IN ({marks})", ids)
        self._delete_raw(raw_ids)
        return removed

    def _identity_values(self, contact_id: int) -> list[str]:
        return [row["value"] for row in self._rows(
            "SELECT value FROM identities WHERE contact_id = ?", [contact_id])]

    def _count_threads(self, thread_ids: Sequence[int]) -> Removed:
        marks = ",".join("?" * len(thread_ids))
        if not thread_ids:
            return Removed()
        row = self._one(f"""SELECT
            (SELECT count(*) FROM messages WHERE thread_id IN ({marks})) AS messages,
            (SELECT count(*) FROM messages WHERE thread_id IN ({marks})
                AND raw_id IS NOT NULL) AS raw,
            (SELECT count(*) FROM attachments a JOIN messages m ON m.id = a.message_id
                WHERE m.thread_id IN ({marks})) AS attachments,
            (SELECT count(*) FROM events WHERE thread_id IN ({marks})) AS events,
            (SELECT count(*) FROM outbox WHERE thread_id IN ({marks})) AS outbox
        """, list(thread_ids) * 5)
        hashes = self._hashes(f"m.thread_id IN ({marks})", thread_ids)
        return Removed(threads=len(thread_ids), messages=row["messages"], raw=row["raw"],
                       attachments=row["attachments"], events=row["events"],
                       outbox=row["outbox"], hashes=hashes)

    def _hashes(self, messages: str, params: Sequence[Any]) -> dict[str, int]:
        """Attachment file -> rows referring to it, among the messages ``m`` the condition
        ``messages`` selects."""
        return {row["sha256"]: row["n"] for row in self._rows(
            f"SELECT a.sha256, count(*) AS n FROM attachments a"
            f" JOIN messages m ON m.id = a.message_id"
            f" WHERE {messages} AND a.sha256 != '' GROUP BY a.sha256", list(params))}

    def _raw_ids(self, messages: str, params: Sequence[Any]) -> list[int]:
        """The raw forms of the messages ``m`` the condition selects (read before the
        messages go, deleted after them by :meth:`_delete_raw`)."""
        return [row["raw_id"] for row in self._rows(
            f"SELECT raw_id FROM messages m WHERE {messages} AND raw_id IS NOT NULL",
            list(params))]

    def _delete_raw(self, raw_ids: Sequence[int]) -> None:
        for start in range(0, len(raw_ids), 500):
            chunk = raw_ids[start:start + 500]
            self.db.execute(f"DELETE FROM raw WHERE id IN ({','.join('?' * len(chunk))})",
                            chunk)

    def _references(self, sha: str) -> int:
        return self._one("SELECT count(*) AS n FROM attachments WHERE sha256 = ?", (sha,))["n"]

    def _delete_batch(self, thread_ids: Sequence[int]) -> Removed:
        if not thread_ids:
            return Removed()
        removed = self._count_threads(thread_ids)
        marks = ",".join("?" * len(thread_ids))
        ids = list(thread_ids)
        # A newer thread that continued one of these keeps existing, without the link.
        self.db.execute(
            f"UPDATE threads SET reopened_from = NULL WHERE reopened_from IN ({marks})", ids)
        # An agent's answer stays claimed (re-delivered, it must not act again), unlinked.
        self.db.execute(
            f"UPDATE agent_claims SET thread_id = NULL WHERE thread_id IN ({marks})", ids)
        # Messages first (the FTS trigger removes their words, so all must be in the index),
        # cascading to attachments rows and outbox entries; then the threads, to events.
        self._index_missing(f"thread_id IN ({marks})", ids)
        self.db.execute(f"DELETE FROM outbox WHERE thread_id IN ({marks})", ids)
        raw_ids = self._raw_ids(f"m.thread_id IN ({marks})", ids)
        self.db.execute(f"DELETE FROM messages WHERE thread_id IN ({marks})", ids)
        self._delete_raw(raw_ids)
        self.db.execute(f"DELETE FROM threads WHERE id IN ({marks})", ids)
        return removed

    def _finish_delete(self, removed: Removed, dry_run: bool) -> None:
        """Count (and, for real, delete) files nothing refers to any more; tidy the index."""
        if dry_run:
            removed.files = sum(1 for sha, refs in removed.hashes.items()
                                if self._references(sha) == refs)
            return
        if not (removed.threads or removed.contacts):
            return
        with self.transaction():
            # A write takes the database's write lock: no message can be filed between
            # the check and the unlink, so a file is never removed under a new reference.
            self.db.execute("DELETE FROM attachments WHERE 0")
            for sha in sorted(removed.hashes):
                if self._references(sha) == 0:
                    self.attachment_path(sha).unlink(missing_ok=True)  # type: ignore[attr-defined]
                    removed.files += 1
        # Merge the full-text index so deleted words do not survive in old segments,
        # and move the overwritten pages out of the WAL into the database file.
        self.db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- export ----------------------------------------------------------------------

    def contact_record(self, contact_id: int) -> dict[str, Any]:
        """Every row stored about one person, as plain JSON values (for export-contact)."""
        contact = self._one("SELECT * FROM contacts WHERE id = ?", (contact_id,))
        if contact is None:
            raise core.NotFound(f"no contact {contact_id}")
        threads = list(self._rows(
            "SELECT * FROM threads WHERE contact_id = ? ORDER BY id", [contact_id]))
        ids = [t["id"] for t in threads]
        marks = ",".join("?" * len(ids))
        values = self._identity_values(contact_id)
        # Their threads, and what they wrote in other people's (see _written_elsewhere).
        mine = [row["id"] for row in self._rows(
            f"SELECT id FROM messages WHERE thread_id IN ({marks})", ids)] if ids else []
        message_ids = sorted({*mine, *self._written_elsewhere(contact_id)})
        messages = ",".join("?" * len(message_ids))

        def rows(sql: str, params: list) -> list[dict]:
            return [_plain(row) for row in self._rows(sql, params)] if params else []

        return {
            "contact": _plain(contact),
            "identities": rows("SELECT kind, value, display_name FROM identities"
                               " WHERE contact_id = ? ORDER BY kind, value", [contact_id]),
            # Not when the SLA timer job next looks at a thread: its bookkeeping, not theirs.
            "threads": [_plain({k: v for k, v in t.items() if k != "sla_check_at"})
                        for t in threads],
            "messages": rows(f"SELECT * FROM messages WHERE id IN ({messages})"
                             " ORDER BY thread_id, created_at, id", message_ids),
            "attachments": rows(f"SELECT * FROM attachments WHERE message_id IN ({messages})"
                                " ORDER BY id", message_ids),
            # Their threads' events, and those about their messages elsewhere (an edit's).
            "events": rows(f"SELECT * FROM events WHERE thread_id IN ({marks}) OR"
                           f" json_extract(detail, '$.message') IN ({messages}) ORDER BY id",
                           [*ids, *message_ids]),
            # Their threads' entries, and the notifications quoting them elsewhere.
            "outbox": [_outbox_as_exported(row, set(ids)) for row in rows(
                f"SELECT * FROM outbox WHERE thread_id IN ({marks}) OR"
                f" about_message_id IN ({messages}) ORDER BY id", [*ids, *message_ids])],
            "automatic_sent": rows(
                f"SELECT * FROM automatic_sent WHERE recipient IN"
                f" ({','.join('?' * len(values))}) ORDER BY id", values),
        }

    def raw_of_messages(self, message_ids: Sequence[int]) -> Iterator[tuple[int, str, bytes]]:
        """(message id, raw kind, raw bytes) of each of these messages that has one."""
        for start in range(0, len(message_ids), DELETE_BATCH):
            batch = list(message_ids[start:start + DELETE_BATCH])
            marks = ",".join("?" * len(batch))
            for row in self._rows(
                    f"SELECT m.id, r.kind, r.data FROM messages m JOIN raw r ON r.id = m.raw_id"
                    f" WHERE m.id IN ({marks}) ORDER BY m.id", batch):
                yield row["id"], row["kind"], row["data"]

    # -- reparse ---------------------------------------------------------------------

    def raw_messages(self, *, since: datetime | None = None,
                     thread_ids: Iterable[int] = (), after_id: int = 0,
                     limit: int = 200) -> list[RawMessage]:
        """Customer messages with a raw form, by id from ``after_id``, for re-normalising."""
        where, params = ["m.id > ?", "m.direction = 'in'"], [after_id]
        if since is not None:
            where.append("m.created_at >= ?")
            params.append(core.iso(since))
        ids = list(thread_ids)
        if ids:
            where.append(f"m.thread_id IN ({','.join('?' * len(ids))})")
            params.extend(ids)
        rows = self._rows(f"""
            SELECT m.id, m.thread_id, m.account, r.kind, r.data,
                   EXISTS (SELECT 1 FROM events e WHERE e.thread_id = m.thread_id
                           AND e.action = 'edited'
                           AND json_extract(e.detail, '$.message') = m.id) AS edited
            FROM messages m JOIN raw r ON r.id = m.raw_id
            WHERE {' AND '.join(where)} ORDER BY m.id LIMIT {int(limit)}""", params)
        return [RawMessage(row["id"], row["thread_id"], row["account"], row["kind"],
                           row["data"], bool(row["edited"])) for row in rows]

    def renormalise_message(self, message_id: int, *, text: str, visible_text: str,
                            html: str | None, flags: Sequence[str], meta: dict,
                            attachments: Sequence[Attachment] | None) -> bool:
        """Replace what the normaliser derived from a message; ids, threading and the flags
        filing gave it (:data:`~inbox.model.FILING_FLAGS`) stay.

        Attachment rows are updated in place, position by position, so ids that an
        outbox entry may point at survive; ``None`` leaves them as they are.
        Returns whether anything changed.
        """
        row = self._one("SELECT text, visible_text, html, flags, meta FROM messages"
                        " WHERE id = ?", (message_id,))
        old_meta = json.loads(row["meta"])
        filed = FILING_FLAGS.intersection(json.loads(row["flags"]))
        fields = {"text": text, "visible_text": visible_text, "html": html,
                  "flags": json.dumps(sorted({*flags, *filed})),
                  "meta": json.dumps({**old_meta, **meta}, ensure_ascii=False)}
        changed = any(row[key] != value for key, value in fields.items())
        with self.transaction():
            if changed:
                self._index_missing("id = ?", [message_id])  # the update trigger takes them out
                self.db["messages"].update(message_id, fields)
            if attachments is not None:
                changed = self._replace_attachments(message_id, attachments) or changed
        return changed

    def _replace_attachments(self, message_id: int, attachments: Sequence[Attachment]) -> bool:
        old = list(self._rows(
            "SELECT * FROM attachments WHERE message_id = ? ORDER BY id", [message_id]))
        changed = len(old) != len(attachments)
        for position, attachment in enumerate(attachments):
            previous = old[position] if position < len(old) else None
            if previous is not None and _same_attachment(previous, attachment):
                continue
            changed = True
            if previous is not None:
                self.db.execute("DELETE FROM attachments WHERE id = ?", [previous["id"]])
            self._add_attachment(message_id, attachment)  # type: ignore[attr-defined]
            if previous is not None:  # keep the id an outbox entry may refer to
                self.db.execute("UPDATE attachments SET id = ? WHERE id = last_insert_rowid()",
                                [previous["id"]])
        for extra in old[len(attachments):]:
            self.db.execute("DELETE FROM attachments WHERE id = ?", [extra["id"]])
        return changed

    # -- integrity -------------------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """SQLite's integrity check plus the full-text index's; empty when all is well."""
        problems = _check(self.conn, "integrity_check")
        if problems:
            return problems
        try:
            # rank 1: the index is also checked against the messages, so one missing is found
            self.db.execute("INSERT INTO messages_fts(messages_fts, rank)"
                            " VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            problems.append(f"full-text index: {exc}")
        return problems


def _check(conn: sqlite3.Connection, pragma: str) -> list[str]:
    """What SQLite's ``integrity_check`` or ``quick_check`` finds, one line per problem
    (a report may run to a line per row: the first few say enough); [] when all is well."""
    try:
        found = [row[0] for row in conn.execute(f"PRAGMA {pragma}(20)")]
    except sqlite3.OperationalError:
        raise  # the disk (a read error), not the database: said as such by the caller
    except sqlite3.DatabaseError as exc:  # too damaged to be checked at all
        return [str(exc)]
    if found == ["ok"]:
        return []
    return [line.strip() for row in found for line in row.splitlines()
            if line.strip() and not line.startswith("***")]


def _same_attachment(row: dict, attachment: Attachment) -> bool:
    sha = core.content_hash(attachment.data) if attachment.data is not None else ""
    return (row["filename"], row["content_type"], row["size"], row["inline"],
            row["content_id"]) == (attachment.filename, attachment.content_type,
                                   attachment.size, int(attachment.inline),
                                   attachment.content_id) and row["sha256"] == sha


def _outbox_as_exported(row: dict, own_threads: set[int]) -> dict:
    """An outbox row as the person may have it: never a reply address (its token lets mail
    pass as an agent's), and of someone else's thread only that a notice quoted them."""
    if row.get("thread_id") not in own_threads:
        return {key: row.get(key) for key in
                ("id", "kind", "state", "created_at", "about_message_id")}
    headers = {key: value for key, value in (row.get("headers") or {}).items()
               if key.lower() != "reply-to"}
    return {**row, "headers": headers}


def _plain(row: dict) -> dict:
    """A row as JSON-ready values: JSON columns decoded, bytes left out."""
    plain = {}
    for key, value in row.items():
        if isinstance(value, bytes):
            continue
        if key in ("tags", "flags", "meta", "routing", "detail", "headers", "attachments",
                   "segment_evidence") and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        plain[key] = value
    return plain
