"""The conversation store: the one module that speaks SQL.

One :class:`Store` owns the SQLite connection (WAL, foreign keys on) and the
attachment directory. It offers verbs in the product's words (``add_message``,
``queue_outbound``, ``thread``) and returns model objects, never rows. Writes
that belong together go inside ``with store.transaction():`` — nested blocks
become savepoints, so one bad message can be rolled back without losing the
batch around it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from functools import cached_property
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from inbox.model import (
    Attachment,
    Contact,
    DeliveryState,
    Direction,
    Event,
    Identity,
    Message,
    Outbound,
    Status,
    Thread,
)
from inbox.store.agents import AgentStore
from inbox.store.care import CareStore
from inbox.store.quality import QualityStore
from inbox.store.schema import MIGRATIONS
from inbox.store.stats import StatsStore
from inbox.store.topics import TopicStore
from inbox.subjects import normalise as normalise_subject

if TYPE_CHECKING:
    import sqlite_utils

SCHEMA_VERSION = len(MIGRATIONS)
# How SQLite words "this file cannot be written now" (see Store.write_failure).
_WRITE_FAILURES = ("disk I/O error", "readonly database", "disk is full",
                   "unable to open database file")
# ... and how the file system does, for attachment files.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM}
# Store.due_outbound; the subquery is served by migration 9's outbox_retrying index.
DUE_OUTBOUND = (
    "SELECT * FROM outbox o WHERE state IN ('queued', 'retrying') AND next_attempt_at <= :now"
    " AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.state = 'retrying'"
    "   AND e.account = o.account AND e.recipient = o.recipient AND e.id < o.id"
    "   AND e.next_attempt_at > :now)"
    " ORDER BY id LIMIT :limit")  # in order per recipient, oldest first
YO_SPELLINGS = 16  # most е/ё spellings one query word is searched by (see _fts_word)
SEARCH_WINDOW = 2000  # matches, newest first, that search ranks (see Store.search)
COMMON_WORD = 50_000  # messages a word may be found in and still be ranked by (Store.search)


class StoreError(Exception):
    """The database cannot be used: newer schema than this program, or not a store at all."""


class StoreDamaged(StoreError):
    """SQLite finds the database file damaged (a bad disk sector, a copy cut short)."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__("; ".join(self.problems[:3]) + more)


class NotFound(StoreError):
    """A thread, message or contact id that does not exist."""


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with offset, in UTC: sortable as text and unambiguous for the JSON contract."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def content_hash(data: bytes) -> str:
    """The SHA-256 an attachment's file is named by."""
    import hashlib  # here, not at the top: loading OpenSSL costs every CLI command ~3 ms

    return hashlib.sha256(data).hexdigest()


IN_MEMORY = ":memory:"


def missing_store(path: Path) -> str:
    return (f"no store at {path}: the daemon makes it on its first run (inbox run);"
            " if it has run, check [store] path in inbox.toml")


def _use_wal(conn: sqlite3.Connection, path: Path) -> None:
    """Switch a database to WAL (a no-op once it is). Switching needs the file to itself,
    and SQLite answers "locked" at once, without waiting, to a second process opening a
    new store at the same moment (the daemon and a status check): so it is tried again."""
    deadline = time.monotonic() + 30
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise StoreError(f"{path}: cannot be opened: {exc}") from None
            time.sleep(0.05)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a school-inbox database: {exc}") from None


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class Stored(NamedTuple):
    """What :meth:`Store.add_message` did: a new message id, or the existing one (re-delivery)."""

    message_id: int
    thread_id: int
    created: bool
    attachment_ids: tuple[int, ...] = ()  # of a new message, in the order given


class FoundMail(NamedTuple):
    """A customer's mail found by its Message-ID: the channel that filed it, and where."""

    account: str
    stored: Stored


class Store(AgentStore, QualityStore, StatsStore, CareStore, TopicStore):
    """The SQLite store and the attachment files beside it."""

    def __init__(self, path: str | Path, attachments_dir: str | Path | None = None, *,
                 create: bool = True):
        """``create=False`` for what only reads or tidies: a mistyped path, or a store not yet
        made, is an error then, not a new empty store (a nightly backup of one would look
        like a good archive while the real ones age out). ``path`` :data:`IN_MEMORY` is an
        empty store that leaves no file."""
        self.path = Path(path)
        in_memory = str(path) == IN_MEMORY
        if not in_memory:
            if not create and not self.path.exists():
                raise StoreError(missing_store(self.path))
            # Personal data of children: a new store is readable by its owner only, also
            # when it is not systemd (UMask=0077) that starts us. SQLite gives -wal and
            # -shm the database file's mode.
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.attachments_dir = Path(attachments_dir or self.path.parent / "attachments")
        self.conn = conn = sqlite3.connect(
            IN_MEMORY if in_memory else self.path, isolation_level=None,
            check_same_thread=False, timeout=30)
        self._lock = threading.RLock()
        self._unindexed: list[int] = []  # filed in this transaction, not yet searchable
        _use_wal(conn, self.path)
        conn.create_function("normalised_subject", 1, normalise_subject, deterministic=True)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        # The pipeline's savepoint per message keeps a sub-journal of the pages it changes:
        # in memory, not in a temp file (5,000 mails ingested: 351k -> 83k pwrite calls).
        conn.execute("PRAGMA temp_store=MEMORY")
        # Whatever SQLite frees is overwritten with zeros, always: the search index merges
        # its segments as mail arrives and leaves copies of older ones in the free space of
        # its pages, so switching this on only while forgetting a person left their words
        # readable in the file.
        conn.execute("PRAGMA secure_delete=ON")
        self.migrate()

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the same connection, for writes and transactions.

        Made on first use: importing sqlite-utils costs a CLI command that only reads
        (``inbox show``) about 40 ms, a third of its run.
        """
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    # -- lifecycle -----------------------------------------------------------------

    @property
    def version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        """Bring an older database up to :data:`SCHEMA_VERSION`, one migration per transaction.

        Each step takes the write lock first (BEGIN IMMEDIATE) and then reads the version
        again: a daemon and an ``inbox status`` opening a new store at the same moment must
        not both run migration 1 (the second failed with "table contacts already exists").
        """
        current = self.version
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this program's"
                f" {SCHEMA_VERSION}: upgrade school-inbox or restore an older backup"
            )
        for number in range(current, SCHEMA_VERSION):
            with self._lock:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    if self.version == number:  # else another process has just done it
                        for statement in _statements(MIGRATIONS[number]):
                            if not self._column_there(statement):
                                self.conn.execute(statement)
                        self.conn.execute(f"PRAGMA user_version = {number + 1}")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):  # report the first error
                        self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")

    def _column_there(self, statement: str) -> bool:
        """Whether ``statement`` adds a column the table already has. Development builds of
        the seventh session made stores at version 13 that hold what 14 adds; SQLite has no
        ADD COLUMN IF NOT EXISTS, and a store must open whichever build made it."""
        found = _ADD_COLUMN.match(statement)
        return bool(found) and any(
            row[1] == found["column"]
            for row in self.conn.execute(f"PRAGMA table_info({found['table']})"))

    def close(self) -> None:
        self.conn.close()

    def write_failure(self, error: BaseException, outcome: str = "nothing was acknowledged at"
                      " the source, so nothing is lost", who: str = "the service user") -> str:
        """What ``error`` means to the admin when it is the store that cannot be written (a
        full disk, a read-only file or folder, an I/O error); "" for any other error.
        ``outcome`` says what became of the work that failed (the daemon's by default)."""
        if isinstance(error, sqlite3.OperationalError) and any(
                words in str(error) for words in _WRITE_FAILURES):
            what, reason, it = f"the store {self.path}", str(error), "the file and its folder"
        elif isinstance(error, OSError) and error.errno in _WRITE_ERRNOS:
            what, reason, it = (f"the store's attachments {self.attachments_dir}",
                                error.strerror, "that folder")
        else:
            return ""
        return (f"cannot write {what} ({reason}): check that its disk is not full or read-only"
                f" and that {who} may write {it}; {outcome}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together; nested use becomes a savepoint.

        The outermost transaction adds the messages filed in it to the search index just
        before it commits (see :meth:`_index_missing`).
        """
        with self._lock:
            if self.conn.in_transaction:
                # A savepoint (one per filed message). Not sqlite-utils' atomic(), which
                # names each one by 16 random bytes from the kernel: one name serves, since
                # ROLLBACK TO and RELEASE take the innermost savepoint of that name.
                self.conn.execute("SAVEPOINT step")
                try:
                    yield
                except BaseException:
                    if self.conn.in_transaction:  # an error may have ended it all already
                        self.conn.execute("ROLLBACK TO step")
                        self.conn.execute("RELEASE step")
                    raise
                self.conn.execute("RELEASE step")
                return
            try:
                # IMMEDIATE: the write lock first, waiting out another writer (the daemon's
                # batch, another command) for the busy timeout. A deferred transaction that
                # read first fails at once when that writer commits before it writes.
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    for start in range(0, len(self._unindexed), 500):
                        chunk = self._unindexed[start:start + 500]
                        self._index_missing(f"id IN ({','.join('?' * len(chunk))})", chunk)
                    self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:
                        with contextlib.suppress(sqlite3.Error):  # the first error is the one
                            self.conn.execute("ROLLBACK")        # to report (a full disk)
                    raise
            finally:
                self._unindexed = []

    @contextmanager
    def _writes(self) -> Iterator[None]:
        """A verb's few statements, atomic: inside a caller's transaction they simply join it.

        No savepoint of its own: a verb that fails half-way raises, and the caller's
        transaction or savepoint (the pipeline has one per message) rolls it all back.
        Saves two statements per verb on the ingest path.
        """
        if self.conn.in_transaction:
            with self._lock:
                yield
        else:
            with self.transaction():
                yield

    # -- contacts --------------------------------------------------------------------

    def contact_for(self, identity: Identity) -> Contact | None:
        row = self._one(
            "SELECT c.* FROM identities i JOIN contacts c ON c.id = i.contact_id"
            " WHERE i.kind = ? AND i.value = ?", (identity.kind, identity.value),
        )
        return self._contact(row) if row else None

    def ensure_contact(self, identity: Identity, name: str = "") -> Contact:
        """The contact this identity belongs to, created on first contact."""
        return self.contact_for(identity) or self.add_contact(identity, name)

    def add_contact(self, identity: Identity, name: str = "") -> Contact:
        """A new contact known by ``identity``, which the caller has just found no contact
        for. Returned as written (its other columns at their defaults), not read back."""
        name = name or identity.display_name or identity.value
        with self._writes():
            contact_id = self._insert("contacts", {"name": name, "created_at": iso(now_utc())})
            self._insert("identities", {"kind": identity.kind, "value": identity.value,
                                        "contact_id": contact_id,
                                        "display_name": identity.display_name})
        return Contact(contact_id, name)

    def contact(self, contact_id: int) -> Contact:
        row = self._one("SELECT * FROM contacts WHERE id = ?", (contact_id,))
        if row is None:
            raise NotFound(f"no contact {contact_id}")
        return self._contact(row)

    def identities(self, contact_id: int) -> tuple[Identity, ...]:
        """The addresses and accounts a contact writes from (read apart from the contact:
        filing a message, which reads its sender's contact, never needs them)."""
        return tuple(Identity(row["kind"], row["value"], row["display_name"]) for row in self._rows(
            "SELECT kind, value, display_name FROM identities WHERE contact_id = ?"
            " ORDER BY kind, value", [contact_id]))

    def _contact(self, row: dict) -> Contact:
        return Contact(
            id=row["id"], name=row["name"], segment=row["segment"],
            tags=_json_tuple(row["tags"]), language=row["language"],
            start_payload=row["start_payload"], unreachable=bool(row["unreachable"]),
        )

    def update_contact(self, contact_id: int, **fields: Any) -> None:
        if "tags" in fields:
            fields["tags"] = json.dumps(list(fields["tags"]))
        with self._writes():
            self._update("contacts", contact_id, fields)

    def import_contact(self, identities: Sequence[Identity], *, name: str, segment: str,
                       tags: Sequence[str], language: str = "") -> tuple[int, bool]:
        """File one roster entry: update the contact any identity belongs to, or create one.

        The roster is the most trusted source of segment and tags, so it
        overwrites them; a name is only filled in where none was known.
        Returns ``(contact_id, created)``.
        """
        with self._writes():
            existing = next(filter(None, map(self.contact_for, identities)), None)
            if existing is None:
                contact_id = self._insert(
                    "contacts", {"name": name or identities[0].value, "created_at": iso(now_utc())})
            else:
                contact_id = existing.id
            fields: dict[str, Any] = {"segment": segment, "tags": json.dumps(list(tags))}
            if name and (existing is None or existing.name in {i.value for i in identities}
                         or not existing.name):
                fields["name"] = name
            if language:
                fields["language"] = language
            self.db["contacts"].update(contact_id, fields)
            for identity in identities:
                if self.contact_for(identity) is None:
                    self.add_identity(contact_id, identity)
        return contact_id, existing is None

    def add_identity(self, contact_id: int, identity: Identity) -> None:
        with self._writes():
            self.db["identities"].insert(
                {"kind": identity.kind, "value": identity.value, "contact_id": contact_id,
                 "display_name": identity.display_name},
                replace=True,
            )

    # -- threads ---------------------------------------------------------------------

    def create_thread(self, *, channel: str, account: str, contact_id: int, subject: str,
                      created_at: datetime, conversation: str = "",
                      reopened_from: int | None = None, flags: Sequence[str] = (),
                      **columns: Any) -> int:
        """A new thread; ``columns`` sets any other column at once (a new thread's routing),
        encoded as :meth:`update_thread` does."""
        with self._writes():
            return self._insert("threads", _thread_columns({
                "channel": channel, "account": account, "contact_id": contact_id,
                "subject": subject, "subject_key": normalise_subject(subject),
                "conversation": conversation, "reopened_from": reopened_from, "flags": flags,
                "created_at": created_at, "last_message_at": created_at, **columns,
            }))

    def update_thread(self, thread_id: int, **fields: Any) -> None:
        """Set thread columns; datetimes, tags, flags and the routing record are encoded here.

        A change to what the SLA clocks run on has the timer job look at the thread on its
        next check: the time it had worked out to look again belongs to the old values. The
        new mark ('#' and a random number) sorts before every instant, and differs from the
        one a check running meanwhile read, so that check's result does not overwrite it.
        """
        if SLA_INPUTS.intersection(fields):
            fields["sla_check_at"] = f"#{random.getrandbits(64):016x}"
        with self._writes():
            self._update("threads", thread_id, _thread_columns(fields))

    def thread(self, thread_id: int) -> Thread:
        rows = list(self._thread_rows("t.id = ?", [thread_id]))
        if not rows:
            raise NotFound(f"no thread {thread_id}")
        return rows[0]

    def threads(self, *, status: str | None = None, team: str | None = None,
                agent: str | None = None, contact_id: int | None = None,
                since: datetime | None = None, limit: int | None = None) -> list[Thread]:
        where, params = ["1"], []
        for column, value in (("status", status), ("team", team), ("agent", agent),
                              ("contact_id", contact_id)):
            if value is not None:
                where.append(f"t.{column} = ?")
                params.append(value)
        if since is not None:
            where.append("t.created_at >= ?")
            params.append(iso(since))
        return list(self._thread_rows(" AND ".join(where), params, limit=limit))

    def threads_with_subject(self, channel: str, subject: str, since: datetime,
                             contact_id: int) -> dict[int, int]:
        """Thread id -> contact id of the channel's threads with this subject (prefixes and
        ticket token aside) that saw a message since ``since`` and are open, or are this
        contact's own: where a reply that lost its headers may belong."""
        return {row["id"]: row["contact_id"] for row in self._rows(
            "SELECT id, contact_id FROM threads WHERE subject_key = ? AND last_message_at >= ?"
            " AND channel = ? AND (status != 'closed' OR contact_id = ?)",
            [normalise_subject(subject), iso(since), channel, contact_id])}

    def latest_texts(self, thread_ids: Sequence[int], per_thread: int) -> list[tuple[int, str]]:
        """(thread id, visible text) of each thread's latest messages from the customer or
        an agent: notes never leave, and the daemon's own texts (acknowledgements, FAQ
        answers, surveys) are the same in many threads, so quoting them proves nothing."""
        if not thread_ids:
            return []
        marks = ",".join("?" * len(thread_ids))
        return [(row["thread_id"], row["text"]) for row in self._rows(
            "SELECT thread_id, text FROM (SELECT thread_id, coalesce(visible_text, text) AS text,"
            " row_number() OVER (PARTITION BY thread_id ORDER BY id DESC) AS n FROM messages"
            f" WHERE thread_id IN ({marks}) AND direction IN ('in', 'out')) WHERE n <= ?",
            [*thread_ids, per_thread])]

    def _thread_rows(self, where: str, params: list, limit: int | None = None) -> Iterator[Thread]:
        sql = f"""
            SELECT {_THREAD_COLUMNS}, c.name AS contact_name,
                   (SELECT count(*) FROM messages m WHERE m.thread_id = t.id) AS message_count
            FROM threads t JOIN contacts c ON c.id = t.contact_id
            WHERE {where} ORDER BY t.last_message_at DESC, t.id DESC
        """
        if limit:
            sql += f" LIMIT {int(limit)}"
        for row in self._rows(sql, params):
            yield _thread(row)

    def routing_record(self, thread_id: int) -> dict:
        row = self._one("SELECT routing FROM threads WHERE id = ?", (thread_id,))
        if row is None:
            raise NotFound(f"no thread {thread_id}")
        return json.loads(row["routing"])

    def thread_by_header_ids(self, header_ids: Sequence[str]) -> Thread | None:
        """The thread holding any of these Message-IDs (ours or the customer's), newest first."""
        ids = [h for h in header_ids if h]
        if not ids:
            return None
        marks = ",".join("?" * len(ids))
        row = self._one(
            # "!= ''" lets SQLite use the partial index messages_header_id; without it,
            # every filed mail scanned the whole table (54 ms at 300,000 messages).
            f"SELECT thread_id FROM messages WHERE header_message_id IN ({marks})"
            " AND header_message_id != '' ORDER BY id DESC LIMIT 1", ids,
        )
        return self.thread(row["thread_id"]) if row else None

    def continuation(self, thread_id: int, contact_id: int) -> Thread | None:
        """This contact's newest thread started by a reply to this one after it was closed
        too long (someone else's, a parent in Cc, is theirs to answer, not this contact's)."""
        row = self._one("SELECT id FROM threads WHERE reopened_from = ? AND contact_id = ?"
                        " ORDER BY id DESC LIMIT 1", (thread_id, contact_id))
        return self.thread(row["id"]) if row else None

    def latest_thread_for_conversation(self, account: str, conversation: str) -> Thread | None:
        row = self._one(
            "SELECT id FROM threads WHERE account = ? AND conversation = ?"
            " ORDER BY id DESC LIMIT 1",
            (account, conversation),
        )
        return self.thread(row["id"]) if row else None

    def open_counts(self, agents: Sequence[str]) -> dict[str, int]:
        """Open threads of each of these agents: what ``least_open`` assignment balances."""
        marks = ",".join("?" * len(agents))
        return {
            row["agent"]: row["n"]
            for row in self._rows(
                f"SELECT agent, count(*) AS n FROM threads WHERE agent IN ({marks})"
                f" AND status IN ({_NOT_CLOSED}) GROUP BY agent", list(agents))
        }

    def last_assigned(self, team: str) -> str:
        row = self._one(
            "SELECT agent FROM threads WHERE team = ? AND agent != '' ORDER BY id DESC LIMIT 1",
            (team,),
        )
        return row["agent"] if row else ""

    def previous_agent(self, contact_id: int) -> str:
        """The agent who last answered this contact ("" if none did): asked before a new
        thread of theirs is written, so every thread it looks at is an earlier one.

        Who answered, not who was assigned: a colleague who took over is the one the parent
        knows, and one assigned who never wrote helped nobody.
        """
        row = self._one(
            "SELECT m.sender FROM threads t JOIN messages m ON m.thread_id = t.id"
            " WHERE t.contact_id = ? AND m.direction = 'out' AND m.sender != ''"
            " ORDER BY m.id DESC LIMIT 1", (contact_id,),
        )
        return row["sender"] if row else ""

    # -- messages --------------------------------------------------------------------

    def find_message(self, account: str, external_id: str) -> Stored | None:
        row = self._one(
            "SELECT id, thread_id FROM messages WHERE account = ? AND external_id = ?",
            (account, external_id),
        )
        return Stored(row["id"], row["thread_id"], False) if row else None

    def find_mail(self, message_id: str) -> FoundMail | None:
        """A customer's mail filed under this Message-ID from any of our mailboxes, and which.

        The same mail in two of them (To one address, Cc the other; a channel renamed, so its
        mailbox is read anew) is one message, whatever the account.
        """
        row = self._one(
            "SELECT id, thread_id, account FROM messages WHERE header_message_id = ?"
            " AND header_message_id != ''"  # the partial index, not a scan
            " AND external_id = header_message_id AND channel = 'email' AND direction = 'in'"
            " ORDER BY id LIMIT 1", (message_id,))
        if row is None:
            return None
        return FoundMail(row["account"], Stored(row["id"], row["thread_id"], False))

    def add_message(self, *, thread_id: int, direction: Direction, channel: str, account: str,
                    text: str, created_at: datetime, sender: str = "", subject: str = "",
                    visible_text: str | None = None, html: str | None = None,
                    external_id: str | None = None, header_message_id: str = "",
                    flags: Sequence[str] = (), meta: dict | None = None,
                    raw: bytes | None = None, raw_kind: str = "",
                    attachments: Sequence[Attachment] = (), opens_thread: bool = False) -> Stored:
        """File one message; a re-delivered ``(account, external_id)`` returns the existing one.

        ``opens_thread``: the thread was just created for this message, at its time, so its
        last_message_at needs no update.

        Attachment bytes are written to content-addressed files before the
        commit: a crash leaves at most an unreferenced file, never a row
        pointing at nothing.
        """
        with self._writes():
            raw_id = None
            if raw is not None:
                raw_id = self._insert("raw", {"kind": raw_kind, "data": raw})
            message_id = self._insert("messages", {
                "thread_id": thread_id, "direction": str(direction), "channel": channel,
                "account": account, "external_id": external_id or None,
                "header_message_id": header_message_id, "sender": sender, "subject": subject,
                "text": text, "visible_text": text if visible_text is None else visible_text,
                "html": html, "flags": _json_list(sorted(flags)),
                "meta": json.dumps(meta, ensure_ascii=False) if meta else "{}", "raw_id": raw_id,
                "created_at": iso(created_at),
            }, unless="(account, external_id)")
            if not message_id:  # filed before (a re-delivery): the stored one stands
                if raw_id is not None:
                    self.db.execute("DELETE FROM raw WHERE id = ?", [raw_id])
                return self.find_message(account, external_id or "")
            self._unindexed.append(message_id)
            attachment_ids = tuple(self._add_attachment(message_id, attachment)
                                   for attachment in attachments)
            if not opens_thread:
                # Conditional, so that an older message arriving late rewrites none of the
                # three indexes that hold last_message_at.
                at = iso(created_at)
                self.db.execute(
                    "UPDATE threads SET last_message_at = ? WHERE id = ? AND last_message_at < ?",
                    [at, thread_id, at],
                )
        return Stored(message_id, thread_id, True, attachment_ids)

    def add_new_attachments(self, message_id: int, attachments: Sequence[Attachment]
                            ) -> list[tuple[int, Attachment]]:
        """Add the files a message does not have yet (a messenger edit that swapped its
        photo; the first one stays): (new id, file) of each added."""
        if not any(attachment.data is not None for attachment in attachments):
            return []  # a text edit: nothing to look up
        kept = {row["sha256"] for row in self._rows(
            "SELECT sha256 FROM attachments WHERE message_id = ?", [message_id])}
        new = [attachment for attachment in attachments if attachment.data is not None
               and content_hash(attachment.data) not in kept]
        with self._writes():
            return [(self._add_attachment(message_id, attachment), attachment)
                    for attachment in new]

    def update_message_text(self, message_id: int, text: str, visible_text: str) -> None:
        with self._writes():
            self._index_missing("id = ?", [message_id])  # the update trigger takes them out
            self.db["messages"].update(message_id, {"text": text, "visible_text": visible_text})

    def message(self, message_id: int) -> Message:
        rows = self._message_rows("m.id = ?", [message_id])
        if not rows:
            raise NotFound(f"no message {message_id}")
        return rows[0]

    def messages(self, thread_id: int) -> list[Message]:
        return self._message_rows("m.thread_id = ?", [thread_id])

    def header_ids(self, thread_id: int) -> list[tuple[str, str, str]]:
        """(direction, Message-ID, Outlook's Thread-Index or "") of a thread's messages,
        oldest first: what References lists, and the conversation an answer continues."""
        return [(row["direction"], row["header_message_id"], row["thread_index"] or "")
                for row in self._rows(
                    "SELECT direction, header_message_id,"
                    " json_extract(meta, '$.\"thread-index\"') AS thread_index FROM messages"
                    " WHERE thread_id = ? AND header_message_id != '' ORDER BY created_at, id",
                    [thread_id])]

    def message_meta(self, message_id: int) -> dict:
        row = self._one("SELECT meta FROM messages WHERE id = ?", (message_id,))
        return json.loads(row["meta"]) if row else {}

    def raw(self, message_id: int) -> bytes | None:
        row = self._one(
            "SELECT r.data FROM messages m JOIN raw r ON r.id = m.raw_id WHERE m.id = ?",
            (message_id,),
        )
        return row["data"] if row else None

    def _message_rows(self, where: str, params: list) -> list[Message]:
        rows = list(self._rows(
            f"""SELECT m.*, (SELECT o.state FROM outbox o WHERE o.message_id = m.id
                             ORDER BY o.id DESC LIMIT 1) AS delivery
                FROM messages m WHERE {where} ORDER BY m.created_at, m.id""", params))
        attachments: dict[int, list[Attachment]] = {}
        if rows:
            marks = ",".join("?" * len(rows))
            for a in self._rows(
                f"SELECT * FROM attachments WHERE message_id IN ({marks}) ORDER BY id",
                [r["id"] for r in rows],
            ):
                attachments.setdefault(a["message_id"], []).append(_attachment(a))
        return [_message(row, attachments.get(row["id"], [])) for row in rows]

    def search(self, query: str, limit: int = 50) -> list[tuple[Message, Thread]]:
        """Full-text search: best first among the SEARCH_WINDOW most recent matches, or
        newest first when a word of the query is common.

        The query is quoted per word so user input is never FTS syntax, and е and ё
        stand for each other (see :func:`_fts_word`). Ranking every
        match of a frequent word costs seconds on a large store (one bm25 per match),
        so only the newest matches are ranked: agents look for recent conversations.
        bm25 also weighs each word by how rare it is, which FTS5 learns by reading the
        word's whole list of messages on every search (20 ms for a word in nearly all of
        1,000,000 messages), and a word found in more than COMMON_WORD messages weighs
        next to nothing (none at all in more than half of them): such a query lists its
        matches newest first without ranking.
        """
        words = [_fts_word(word) for word in query.split()]
        if not words:
            return []
        terms = " AND ".join(words)
        if any(self._common(word) for word in words):
            sql = ("SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?"
                   " ORDER BY rowid DESC LIMIT ?")
            params: list[Any] = [terms, limit]
        else:
            sql = ("SELECT rowid FROM (SELECT rowid, rank FROM messages_fts"
                   " WHERE messages_fts MATCH ? ORDER BY rowid DESC LIMIT ?) ORDER BY rank LIMIT ?")
            params = [terms, SEARCH_WINDOW, limit]
        ids = [row["rowid"] for row in self._rows(sql, params)]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        messages = {m.id: m for m in self._message_rows(f"m.id IN ({marks})", ids)}
        thread_ids = list({m.thread_id for m in messages.values()})
        marks = ",".join("?" * len(thread_ids))
        threads = {t.id: t for t in self._thread_rows(f"t.id IN ({marks})", thread_ids)}
        return [(messages[i], threads[messages[i].thread_id]) for i in ids]

    def _common(self, word: str) -> bool:
        """Whether more than COMMON_WORD messages hold ``word`` (reads that many, ~2 ms)."""
        return self.conn.execute(
            "SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT 1 OFFSET ?",
            [word, COMMON_WORD]).fetchone() is not None

    # -- attachments -----------------------------------------------------------------

    def _add_attachment(self, message_id: int, attachment: Attachment) -> int:
        sha = attachment.sha256
        if attachment.data is not None:
            sha = content_hash(attachment.data)
            path = self.attachment_path(sha)
            if not path.exists():
                self.attachments_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                path.parent.mkdir(exist_ok=True)
                partial = path.with_suffix(".part")
                try:
                    partial.write_bytes(attachment.data)
                except OSError:
                    partial.unlink(missing_ok=True)  # half a file on a full disk: give it back
                    raise
                partial.replace(path)
        return self._insert("attachments", {
            "message_id": message_id, "filename": attachment.filename,
            "content_type": attachment.content_type, "size": attachment.size,
            "sha256": sha, "inline": int(attachment.inline), "content_id": attachment.content_id,
        })

    def attachment_path(self, sha256: str) -> Path:
        return self.attachments_dir / sha256[:2] / sha256

    def attachment_data(self, attachment: Attachment) -> bytes | None:
        if not attachment.sha256:
            return None
        path = self.attachment_path(attachment.sha256)
        return path.read_bytes() if path.exists() else None

    # -- events ----------------------------------------------------------------------

    def log_event(self, thread_id: int | None, actor: str, action: str,
                  detail: dict | None = None, at: datetime | None = None) -> None:
        self.log_events(thread_id, actor, [(action, detail or {})], at)

    def log_events(self, thread_id: int | None, actor: str,
                   events: Sequence[tuple[str, dict]], at: datetime | None = None) -> None:
        """Several events of one thread, in this order, in one statement (a new thread's
        three: created, routed, assigned)."""
        created_at = iso(at or now_utc())
        with self._writes():
            self.conn.executemany(
                "INSERT INTO events (thread_id, actor, action, detail, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(thread_id, actor, action, json.dumps(detail, ensure_ascii=False), created_at)
                 for action, detail in events])

    def events(self, thread_id: int) -> list[Event]:
        return [
            Event(row["id"], row["thread_id"], row["actor"], row["action"],
                  json.loads(row["detail"]), parse_time(row["created_at"]))
            for row in self._rows(
                "SELECT * FROM events WHERE thread_id = ? ORDER BY id", [thread_id]
            )
        ]

    # -- outbox ----------------------------------------------------------------------

    def queue_outbound(self, *, channel: str, account: str, recipient: str, text: str,
                       kind: str, thread_id: int | None = None, message_id: int | None = None,
                       subject: str = "", headers: dict | None = None,
                       attachment_ids: Sequence[int] = (), reply_to_external: str = "",
                       at: datetime | None = None, about_message_id: int | None = None) -> int:
        """Write what must leave; call it inside the transaction of the event that caused it.

        ``about_message_id``: the customer's message a notification quotes; the entry goes
        when that message does (forget-contact)."""
        moment = iso(at or now_utc())
        with self._writes():
            return self._insert("outbox", {
                "thread_id": thread_id, "message_id": message_id, "channel": channel,
                "account": account, "recipient": recipient, "kind": kind, "subject": subject,
                "text": text, "headers": json.dumps(headers or {}, ensure_ascii=False),
                "attachments": json.dumps(list(attachment_ids)),
                "reply_to_external": reply_to_external, "state": "queued",
                "next_attempt_at": moment, "created_at": moment,
                "about_message_id": about_message_id,
            })

    def due_outbound(self, now: datetime, limit: int = 100) -> list[Outbound]:
        """Entries to try now, oldest first; none overtakes a failed one to its recipient.

        A customer must read replies in the order agents wrote them, and a chat that
        Telegram told to wait (429 retry_after) must not get the next message before the
        retry: an entry waits while an earlier one to the same recipient waits for its
        retry. An entry merely scheduled for later (a notification held for an agent's
        working hours, one waiting for its forum topic) holds nothing back.
        """
        rows = self._rows(DUE_OUTBOUND, {"now": iso(now), "limit": limit})
        return [self._outbound(row) for row in rows]

    def outbound(self, outbox_id: int) -> Outbound:
        row = self._one("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
        if row is None:
            raise NotFound(f"no outbox entry {outbox_id}")
        return self._outbound(row)

    def _outbound(self, row: dict) -> Outbound:
        ids = json.loads(row["attachments"])
        attachments: tuple[Attachment, ...] = ()
        if ids:
            marks = ",".join("?" * len(ids))
            attachments = tuple(
                _attachment(a) for a in self._rows(
                    f"SELECT * FROM attachments WHERE id IN ({marks}) ORDER BY id", ids)
            )
        return Outbound(
            id=row["id"], channel=row["channel"], account=row["account"],
            recipient=row["recipient"], text=row["text"], kind=row["kind"],
            thread_id=row["thread_id"], message_id=row["message_id"], subject=row["subject"],
            headers=json.loads(row["headers"]), attachments=attachments,
            reply_to_external=row["reply_to_external"], attempts=row["attempts"],
            state=DeliveryState(row["state"]), about_message_id=row["about_message_id"],
        )

    def outbound_for_header_id(self, header_id: str) -> Outbound | None:
        """The outbox entry that carried our mail with this Message-ID (a bounce names it):
        a message of a thread, or a notification, which is sent under its own."""
        row = self._one(  # each branch an index search (a compound ORDER BY scans)
            "SELECT * FROM outbox WHERE id IN ("
            " SELECT o.id FROM messages m JOIN outbox o ON o.message_id = m.id"
            "  WHERE m.header_message_id = ? AND m.header_message_id != ''"
            " UNION ALL SELECT id FROM outbox WHERE external_id = ? AND external_id != ''"
            "  AND channel = 'email') ORDER BY id DESC LIMIT 1", (header_id, header_id))
        return self._outbound(row) if row else None

    def outbound_file_ids(self, outbox_id: int) -> list[int]:
        """The attachments an outbox entry sends, by id (to queue them again elsewhere)."""
        row = self._one("SELECT attachments FROM outbox WHERE id = ?", (outbox_id,))
        return json.loads(row["attachments"]) if row else []

    def attachment_ids(self, message_id: int) -> list[int]:
        return [r["id"] for r in self._rows(
            "SELECT id FROM attachments WHERE message_id = ? ORDER BY id", [message_id])]

    def begin_attempt(self, outbox_id: int) -> None:
        """Count an attempt at sending before it is made, and commit it. A store that cannot
        be written (a full disk, a read-only file) fails here, before anything leaves: a
        message whose sending could not be recorded would otherwise go out again at every
        flush. A crash after the send still sends it once more: the one duplicate allowed."""
        with self._writes():
            self.db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?",
                            [outbox_id])

    def record_delivery(self, outbox_id: int, state: DeliveryState, *, at: datetime,
                        next_attempt_at: datetime | None = None, error: str = "",
                        external_id: str = "") -> None:
        fields: dict[str, Any] = {"state": state.value, "last_error": error}
        if state is DeliveryState.SENT:
            fields["sent_at"] = iso(at)
            fields["external_id"] = external_id
        if next_attempt_at is not None:
            fields["next_attempt_at"] = iso(next_attempt_at)
        self._update("outbox", outbox_id, fields)

    def outbox_summary(self, now: datetime | None = None) -> dict[str, Any]:
        """Entries by state, and since when the oldest undelivered one has been due.

        A notification held for an agent's working hours is queued "at" their start: it
        waits for nobody until then.
        """
        counts = {row["state"]: row["n"] for row in self._rows(
            "SELECT state, count(*) AS n FROM outbox GROUP BY state")}
        oldest = self._one(
            "SELECT min(created_at) AS t FROM outbox WHERE state IN ('queued', 'retrying')"
            " AND created_at <= ?", (iso(now or now_utc()),))
        return {"counts": counts, "oldest_pending": parse_time(oldest["t"]) if oldest else None}

    # -- channel sync state ----------------------------------------------------------

    def sync_state(self, account: str) -> AccountState:
        return AccountState(self, account)

    def get_sync(self, account: str, key: str) -> str | None:
        row = self._one(
            "SELECT value FROM sync_state WHERE account = ? AND key = ?", (account, key))
        return row["value"] if row else None

    def first_form_tickets(self) -> int:
        """The highest thread number whose agents' reply addresses may be of the first form
        (signed without the thread's opening time): those numbered before migration 16."""
        return int(self.get_sync("", "reply-tokens:first-form-up-to") or 0)

    def set_sync(self, account: str, key: str, value: str) -> None:
        with self._writes():
            self.db["sync_state"].upsert(
                {"account": account, "key": key, "value": value,
                 "updated_at": iso(now_utc())}, pk=("account", "key"),
            )

    def delete_sync(self, account: str, key: str) -> None:
        with self._writes():
            self.db.execute("DELETE FROM sync_state WHERE account = ? AND key = ?",
                            [account, key])

    def sync_items(self, account: str) -> dict[str, str]:
        return {row["key"]: row["value"] for row in self._rows(
            "SELECT key, value FROM sync_state WHERE account = ?", [account])}

    # -- helpers ---------------------------------------------------------------------

    def _index_missing(self, where: str, params: Sequence[Any]) -> int:
        """Add the messages ``where`` selects that the search index lacks, in one statement.

        Not a trigger on INSERT: a statement that fires a trigger writing to FTS5, like every
        savepoint, makes FTS5 write its pending words out as a segment of their own, so a
        trigger meant one segment per message and a merge of segments nearly every message
        (a third of the SQL that filing a mail ran). Indexed at commit, a batch is one
        segment. Also called before anything that changes or removes a message's words
        (the update and delete triggers take out words that must be in) and when the daemon
        starts (:meth:`index_missing`). Whether a message is in the index is FTS5's own
        ``messages_fts_docsize`` row for it, so this is safe to repeat, whatever a savepoint
        rolled back, and an id reused after a rollback is indexed once, with its new words.
        """
        return self.db.execute(
            "INSERT INTO messages_fts(rowid, subject, text) SELECT id, subject, text"
            f" FROM messages m WHERE ({where}) AND NOT EXISTS (SELECT 1 FROM messages_fts_docsize d"
            " WHERE d.id = m.id) ORDER BY id", list(params)).rowcount

    def index_missing(self) -> int:
        """Index every message the search index lacks; how many. The daemon calls this as it
        starts: messages an older version filed after a newer one had upgraded the store
        (a new ``inbox status`` run before the daemon's restart) were never indexed. Two
        counts say whether any is missing (a few ms on 1,000,000 messages); only then are
        the messages gone through, and only then is anything written (a read-only store
        still starts)."""
        row = self._one("SELECT (SELECT count(*) FROM messages)"
                        " - (SELECT count(*) FROM messages_fts_docsize) AS missing", ())
        if not row["missing"]:
            return 0
        with self.transaction():
            return self._index_missing("1", [])

    def _insert(self, table: str, row: dict[str, Any], unless: str = "") -> int:
        """INSERT one row, returning its id; 0 when ``unless``, a unique key such as
        "(account, external_id)", names a row that exists already (nothing is inserted).

        Plain SQL on purpose: sqlite-utils' ``Table.insert`` re-reads the table's schema
        on every call (0.15 ms against 0.014 ms), the largest cost of filing a message.
        """
        columns = ", ".join(row)
        marks = ", ".join("?" * len(row))
        if table in NEVER_REUSED:  # numbered above any id it ever had (migration 15)
            columns, marks = f"id, {columns}", f"{_NEXT_ID.format(table=table)}, {marks}"
        conflict = f" ON CONFLICT {unless} DO NOTHING" if unless else ""
        done = self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks}){conflict}",
                               list(row.values()))
        return done.lastrowid if done.rowcount else 0

    def _update(self, table: str, row_id: int, fields: dict[str, Any]) -> None:
        """UPDATE one row by id (sqlite-utils' ``Table.update`` costs 0.3 ms, this 0.003 ms)."""
        if not fields:
            return
        assignments = ", ".join(f"{column} = ?" for column in fields)
        done = self.db.execute(f"UPDATE {table} SET {assignments} WHERE id = ?",
                               [*fields.values(), row_id])
        if done.rowcount == 0:
            raise NotFound(f"no {table} row {row_id}")

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict]:
        """A read as dicts, straight on the connection.

        sqlite-utils' ``query()`` wraps every SELECT in a savepoint of its own (three
        statements for one); reads here are plain SELECTs, so that guard is not needed.
        """
        cursor = self.conn.execute(
            sql, params if isinstance(params, Mapping) else list(params))
        keys = [column[0] for column in cursor.description]
        return [dict(zip(keys, row, strict=True)) for row in cursor]

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None


def _fts_word(word: str) -> str:
    """One query word as an FTS5 expression: quoted, with its е/ё spellings as alternatives.

    Russian is mostly typed without ё (еще, елка) but often written with it (ещё, ёлка),
    and the index's tokenizer folds Latin diacritics only, so a search for one spelling
    would miss the other. The spellings are the word with every ё read as е, and that
    with one or two of its е read as ё (трёхзвёздный has two), at most YO_SPELLINGS.
    """
    plain = word.replace("ё", "е").replace("Ё", "Е")
    places = [i for i, c in enumerate(plain) if c in "еЕ"]
    chosen = [(i,) for i in places] + list(combinations(places, 2))
    spellings = [plain] + ["".join("ё" if i in picked and c == "е" else "Ё" if i in picked
                                   else c for i, c in enumerate(plain))
                           for picked in chosen[:YO_SPELLINGS - 1]]
    quoted = ['"' + spelling.replace('"', '""') + '"' for spelling in spellings]
    return quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")"


class AccountState:
    """One channel's cursor in the store, in the shape :class:`inbox.channel.SyncState` asks for."""

    def __init__(self, store: Store, account: str):
        self._store = store
        self._account = account

    def get(self, key: str) -> str | None:
        return self._store.get_sync(self._account, key)

    def set(self, key: str, value: str) -> None:
        self._store.set_sync(self._account, key, value)

    def delete(self, key: str) -> None:
        self._store.delete_sync(self._account, key)


# The thread columns an SLA clock's next firing depends on (see QualityStore.sla_threads).
SLA_INPUTS = frozenset({"status", "sla_policy", "first_response_due", "resolution_due",
                        "first_response_at"})
# Tables whose ids people see and quote (tickets, contacts, messages, outbox entries):
# Store._insert gives a new row an id above both the largest in the table and the largest
# it ever deleted.
NEVER_REUSED = frozenset({"threads", "contacts", "messages", "outbox"})
# The highest id a table has given, held or deleted since (max(id) alone: an index seek).
HIGH_WATER = ("max(ifnull((SELECT max(id) FROM {table}), 0),"
              " ifnull((SELECT high FROM retired_ids WHERE name = '{table}'), 0))")
_NEXT_ID = HIGH_WATER + " + 1"
# Every status but closed, named: "status != 'closed'" reads an agent's closed threads in
# the (agent, status) index too, years of them, where this seeks the open ones only.
_NOT_CLOSED = ", ".join(f"'{status}'" for status in Status if status is not Status.CLOSED)
_ADD_COLUMN = re.compile(r"\s*ALTER\s+TABLE\s+(?P<table>\w+)\s+ADD\s+COLUMN\s+(?P<column>\w+)",
                         re.IGNORECASE)


def _statements(script: str) -> list[str]:
    """Split a migration into statements; CREATE TRIGGER bodies contain ';' and stay whole."""
    statements, buffer = [], ""
    for line in script.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


# What a Thread holds: not ``t.*``, whose routing record (a kilobyte of JSON) no caller of
# _thread_rows reads.
_THREAD_COLUMNS = ", ".join(f"t.{column}" for column in (
    "id", "status", "channel", "account", "subject", "contact_id", "created_at",
    "last_message_at", "language", "language_confidence", "segment", "team", "agent",
    "priority", "tags", "sla_policy", "first_response_due", "resolution_due",
    "first_response_at", "closed_at", "conversation", "flags", "reopened_from"))


def _json_fields(value: object) -> object:
    """A dataclass (a routing decision) as its fields, a datetime as ISO text: what the JSON
    encoder asks of values it cannot write itself, one object at a time.

    Not ``dataclasses.asdict``, which deep-copies every value first, nor a walk over the
    record before encoding it: both went through every string of the rule trace in
    Python, where the encoder writes them in C.
    """
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        if not is_dataclass(value) or isinstance(value, type):
            if isinstance(value, datetime):
                return value.isoformat()
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in fields(value))
    return {name: getattr(value, name) for name in names}


# A dataclass's field names by class: dataclasses.fields() builds its answer anew each time.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _json_list(values: list) -> str:
    """A list as stored JSON; the empty one (most flags and tags) without the encoder."""
    return json.dumps(values) if values else "[]"


def _thread_columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """Thread columns as stored: datetimes, tags, flags and the routing record encoded."""
    encoded = {}
    for key, value in values.items():
        if isinstance(value, datetime):
            value = iso(value)
        elif key in ("tags", "flags"):
            value = _json_list(sorted(set(value)) if key == "flags" else list(value))
        elif key == "routing":
            value = json.dumps(value, ensure_ascii=False, default=_json_fields)
        elif isinstance(value, Status):
            value = value.value
        encoded[key] = value
    return encoded


def _json_tuple(text: str) -> tuple:
    """A stored JSON list (tags, flags) as a tuple. Most are empty, and comparing is some
    fifty times cheaper than json.loads, which every thread and contact read paid twice."""
    return () if text == "[]" else tuple(json.loads(text))


def _thread(row: dict) -> Thread:
    return Thread(
        id=row["id"], status=Status(row["status"]), channel=row["channel"],
        account=row["account"], subject=row["subject"], contact_id=row["contact_id"],
        contact=row["contact_name"], created_at=parse_time(row["created_at"]),
        last_message_at=parse_time(row["last_message_at"]), language=row["language"],
        language_confidence=row["language_confidence"], segment=row["segment"],
        team=row["team"], agent=row["agent"], priority=row["priority"],
        tags=_json_tuple(row["tags"]), sla_policy=row["sla_policy"],
        first_response_due=parse_time(row["first_response_due"]),
        resolution_due=parse_time(row["resolution_due"]),
        first_response_at=parse_time(row["first_response_at"]),
        closed_at=parse_time(row["closed_at"]), messages=row["message_count"],
        conversation=row["conversation"], flags=_json_tuple(row["flags"]),
        reopened_from=row["reopened_from"],
    )


def _message(row: dict, attachments: list[Attachment]) -> Message:
    return Message(
        id=row["id"], thread_id=row["thread_id"], direction=Direction(row["direction"]),
        channel=row["channel"], sender=row["sender"], text=row["text"],
        created_at=parse_time(row["created_at"]), subject=row["subject"],
        visible_text=row["visible_text"], external_id=row["external_id"] or "",
        delivery=row["delivery"], attachments=tuple(attachments),
        flags=_json_tuple(row["flags"]),
    )


def _attachment(row: dict) -> Attachment:
    return Attachment(
        filename=row["filename"], content_type=row["content_type"], size=row["size"],
        sha256=row["sha256"], inline=bool(row["inline"]), content_id=row["content_id"],
    )
