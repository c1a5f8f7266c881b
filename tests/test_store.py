"""The store on a real SQLite file: round trips, idempotence, search, outbox, migrations."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from inbox.model import Attachment, Contact, DeliveryState, Direction, Identity, Status
from inbox.store import SCHEMA_VERSION, NotFound, Store, StoreError, iso, now_utc
from inbox.store.core import DUE_OUTBOUND
from inbox.store.schema import MIGRATIONS
from inbox.store.topics import HELD


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "inbox.db")
    yield s
    s.close()


ANNA = Identity("email", "anna@example.org", "Anna")


def _thread(store, identity=ANNA):
    contact = store.ensure_contact(identity)
    return store.create_thread(channel="email", account="school", contact_id=contact.id,
                               subject="Оплата", created_at=now_utc())


def test_a_new_contact_is_returned_as_it_reads_back(store):
    made = store.ensure_contact(ANNA)
    assert made == store.contact(made.id) == Contact(made.id, "Anna")
    assert store.ensure_contact(ANNA) == made  # found, not made twice
    assert store.identities(made.id) == (ANNA,)


def test_store_uses_wal_and_foreign_keys(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.version == SCHEMA_VERSION


def test_message_round_trip_keeps_text_flags_and_attachment_bytes(store):
    thread_id = _thread(store)
    stored = store.add_message(
        thread_id=thread_id, direction=Direction.IN, channel="email", account="school",
        text="Здравствуйте", visible_text="Здравствуйте", external_id="m1@example.org",
        flags=["undecodable"], raw=b"raw bytes", raw_kind="rfc822", created_at=now_utc(),
        attachments=[Attachment("счёт.pdf", "application/pdf", 4, b"%PDF")],
    )
    (message,) = store.messages(thread_id)
    assert message.id == stored.message_id
    assert message.text == "Здравствуйте"
    assert message.flags == ("undecodable",)
    assert store.raw(message.id) == b"raw bytes"
    (attachment,) = message.attachments
    assert attachment.filename == "счёт.pdf"
    assert store.attachment_data(attachment) == b"%PDF"


def test_a_later_message_moves_its_thread_up_and_a_late_older_one_does_not(store):
    thread_id = _thread(store)
    opened = store.thread(thread_id).last_message_at
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                      account="school", text="first", external_id="m1", created_at=opened,
                      opens_thread=True)
    store.conn.set_trace_callback(None)
    assert not [sql for sql in statements if sql.startswith("UPDATE threads")]
    for minutes, text in ((5, "later"), (-60, "an old one, delivered late")):
        store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                          account="school", text=text, external_id=text,
                          created_at=opened + timedelta(minutes=minutes))
        assert store.thread(thread_id).last_message_at == opened + timedelta(minutes=5)


def test_redelivered_message_is_a_no_op(store):
    thread_id = _thread(store)
    kwargs = dict(thread_id=thread_id, direction=Direction.IN, channel="email",
                  account="school", text="hi", external_id="same@example.org",
                  created_at=now_utc(), raw=b"raw bytes",
                  attachments=[Attachment("a.txt", "text/plain", 3, b"abc")])
    first = store.add_message(**kwargs)
    again = store.add_message(**kwargs)
    assert first.created and not again.created
    assert again.message_id == first.message_id
    (message,) = store.messages(thread_id)
    assert len(message.attachments) == 1 and store.raw(message.id) == b"raw bytes"
    assert store.conn.execute("SELECT count(*) FROM raw").fetchone()[0] == 1  # no second copy


def test_same_external_id_on_another_account_is_another_message(store):
    thread_id = _thread(store)
    for account in ("school", "admissions"):
        store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                          account=account, text="hi", external_id="x@example.org",
                          created_at=now_utc())
    assert len(store.messages(thread_id)) == 2


def test_identical_attachments_are_stored_once_on_disk(store):
    thread_id = _thread(store)
    for n in range(2):
        store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                          account="school", text="x", external_id=f"a{n}", created_at=now_utc(),
                          attachments=[Attachment("a.txt", "text/plain", 3, b"abc")])
    files = [p for p in store.attachments_dir.rglob("*") if p.is_file()]
    assert len(files) == 1


def test_full_text_search_finds_cyrillic_words_and_survives_fts_syntax(store):
    thread_id = _thread(store)
    store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                      account="school", text="Как оплатить обучение?", external_id="s1",
                      created_at=now_utc())
    assert [m.text for m, _ in store.search("оплатить")] == ["Как оплатить обучение?"]
    assert store.search('оплатить" OR "') == []
    assert store.search("   ") == []


def test_search_finds_a_word_whether_it_is_spelt_with_yo_or_ye(store):
    thread_id = _thread(store)
    for n, text in enumerate(["Можно ещё одну справку?", "Еще вопрос про ЁЛКУ", "Елка в пятницу",
                              "Трёхзвёздный отель"]):
        store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                          account="school", text=text, external_id=f"yo{n}",
                          created_at=now_utc())
    found = {query: sorted(m.text for m, _ in store.search(query))
             for query in ("еще", "ещё", "елку", "ёлка", "Ёлку справку", "трехзвездный")}
    assert found == {
        "еще": ["Еще вопрос про ЁЛКУ", "Можно ещё одну справку?"],
        "ещё": ["Еще вопрос про ЁЛКУ", "Можно ещё одну справку?"],
        "елку": ["Еще вопрос про ЁЛКУ"],
        "ёлка": ["Елка в пятницу"],
        "Ёлку справку": [],
        "трехзвездный": ["Трёхзвёздный отель"],
    }


def test_one_contact_can_have_email_and_telegram_identities(store):
    email = Identity("email", "anna@example.org", "Anna")
    contact = store.ensure_contact(email)
    store.add_identity(contact.id, Identity("telegram", "12345", "Anna"))
    assert store.contact_for(Identity("telegram", "12345")).id == contact.id
    assert {i.kind for i in store.identities(contact.id)} == {"email", "telegram"}


def test_thread_found_by_any_stored_message_id(store):
    thread_id = _thread(store)
    store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                      account="school", text="x", external_id="a", header_message_id="a@x",
                      created_at=now_utc())
    assert store.thread_by_header_ids(["nope@x", "a@x"]).id == thread_id
    assert store.thread_by_header_ids(["nope@x"]) is None


def test_an_entry_waits_behind_a_failed_one_to_its_recipient_found_by_index(store):
    thread_id = _thread(store)
    now = now_utc()
    first, second, other, held, urgent = (
        store.queue_outbound(channel="telegram", account="bot", recipient=chat, text=text,
                             kind="reply", thread_id=thread_id, at=at)
        for chat, text, at in (("501", "first", now), ("501", "second", now),
                               ("502", "other", now), ("503", "tomorrow", now + timedelta(days=1)),
                               ("503", "urgent", now)))
    store.record_delivery(first, DeliveryState.RETRYING, at=now,
                          next_attempt_at=now + timedelta(seconds=30), error="429")
    # "second" waits for "first"'s retry; a notification held for tomorrow holds nothing back.
    assert [o.id for o in store.due_outbound(now)] == [other, urgent]
    assert [o.id for o in store.due_outbound(now + timedelta(minutes=1))] == [
        first, second, other, urgent]
    plan = " ".join(row[3] for row in store.conn.execute(
        "EXPLAIN QUERY PLAN " + DUE_OUTBOUND, {"now": iso(now), "limit": 100}))
    assert "outbox_retrying" in plan  # not a scan of everything waiting
    assert held not in [o.id for o in store.due_outbound(now)]


def test_outbox_entry_moves_from_queued_to_retrying_to_sent(store):
    thread_id = _thread(store)
    now = now_utc()
    outbox_id = store.queue_outbound(channel="email", account="school", recipient="a@x",
                                     text="hello", kind="reply", thread_id=thread_id, at=now)
    assert [o.id for o in store.due_outbound(now)] == [outbox_id]
    store.begin_attempt(outbox_id)  # counted before the try
    store.record_delivery(outbox_id, DeliveryState.RETRYING, at=now,
                          next_attempt_at=now + timedelta(minutes=1), error="451 try later")
    assert store.due_outbound(now) == []
    later = now + timedelta(minutes=2)
    assert store.due_outbound(later)[0].attempts == 1
    store.record_delivery(outbox_id, DeliveryState.SENT, at=later, external_id="abc")
    assert store.due_outbound(later) == []
    assert store.outbound(outbox_id).state is DeliveryState.SENT


def test_missing_thread_raises_not_found(store):
    with pytest.raises(NotFound, match="no thread 99"):
        store.thread(99)


def test_failed_transaction_leaves_nothing_behind(store):
    thread_id = _thread(store)
    with pytest.raises(RuntimeError), store.transaction():
        store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                          account="school", text="x", external_id="rolled-back",
                          created_at=now_utc())
        raise RuntimeError("crash in the middle")
    assert store.find_message("school", "rolled-back") is None


def _add(store, thread_id, external_id, text):
    return store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                             account="school", text=text, external_id=external_id,
                             created_at=now_utc()).message_id


def _found(store, word):
    return sorted(m.text for m, _ in store.search(word))


def test_messages_of_a_rolled_back_savepoint_are_never_searchable_nor_their_reused_id(store):
    thread_id = _thread(store)
    with store.transaction():
        _add(store, thread_id, "kept", "первое письмо")
        with pytest.raises(RuntimeError), store.transaction():
            lost = _add(store, thread_id, "lost", "пропавшее письмо")
            raise RuntimeError("this message is quarantined")
        reused = _add(store, thread_id, "later", "второе письмо")
    assert reused == lost  # SQLite handed the rolled-back id out again
    assert _found(store, "письмо") == ["второе письмо", "первое письмо"]
    assert _found(store, "пропавшее") == []
    assert store.integrity_problems() == []


def test_an_edit_in_the_transaction_that_filed_the_message_replaces_its_words(store):
    thread_id = _thread(store)
    with store.transaction():
        message_id = _add(store, thread_id, "tg-1", "приду завтра")
        store.update_message_text(message_id, "приду послезавтра", "приду послезавтра")
    assert _found(store, "завтра") == []
    assert _found(store, "послезавтра") == ["приду послезавтра"]
    assert store.integrity_problems() == []


def test_a_savepoint_rolled_back_after_indexing_leaves_earlier_messages_to_be_indexed(store):
    thread_id = _thread(store)
    with store.transaction():
        first = _add(store, thread_id, "a", "справка готова")
        with pytest.raises(RuntimeError), store.transaction():
            store.update_message_text(first, "справка будет завтра", "справка будет завтра")
            raise RuntimeError("the edit failed half-way")
    assert _found(store, "справка") == ["справка готова"]
    assert store.integrity_problems() == []


def test_messages_an_older_daemon_filed_are_indexed_at_start_and_can_be_deleted(store):
    """Upgrade window: a new command migrated the store (no insert trigger) while the old
    daemon went on filing; those messages reach the index when the new daemon starts, and
    deleting one before that leaves the index whole."""
    thread_id = _thread(store)
    insert = ("INSERT INTO messages (thread_id, direction, channel, account, text, created_at)"
              " VALUES (?, 'in', 'email', 'school', ?, ?)")
    store.conn.execute(insert, (thread_id, "старый демон записал", iso(now_utc())))
    store.conn.execute(insert, (thread_id, "и ещё одно", iso(now_utc())))
    assert store.integrity_problems() != []  # the content check sees what the index lacks
    (first,) = [m.id for m in store.messages(thread_id) if m.text.startswith("старый")]
    store.update_message_text(first, "исправленный текст", "исправленный текст")
    assert _found(store, "исправленный") == ["исправленный текст"]
    assert store.index_missing() == 1
    assert store.index_missing() == 0
    assert _found(store, "ещё") == ["и ещё одно"]
    assert store.integrity_problems() == []


def test_a_batch_is_written_to_the_search_index_as_one_segment(store):
    """A statement that writes to FTS5 through a trigger, or inside a savepoint, makes it
    write a segment of its own; 200 segments per batch meant a merge nearly every message."""
    thread_id = _thread(store)
    statements = []
    store.conn.set_trace_callback(statements.append)
    with store.transaction():
        for n in range(50):
            with store.transaction():
                _add(store, thread_id, f"m{n}", f"письмо номер {n}")
    store.conn.set_trace_callback(None)
    merges = [s for s in statements if "DELETE FROM 'main'.'messages_fts_idx'" in s]
    assert merges == []
    assert len(_found(store, "номер")) == 50


def test_status_update_and_filters(store):
    thread_id = _thread(store)
    store.update_thread(thread_id, status=Status.CLOSED, closed_at=now_utc(), team="office")
    assert store.threads(status="closed", team="office")[0].id == thread_id
    assert store.threads(status="open") == []


def test_older_database_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("INSERT INTO contacts (id, name, created_at) VALUES (1, 'Old', '2025-01-01')")
    conn.execute("INSERT INTO threads (id, channel, account, subject, contact_id, created_at,"
                 " last_message_at) VALUES (7, 'email', 'school', 'Оплата  ЗА декабрь', 1,"
                 " '2025-01-01T00:00:00+00:00', '2025-01-02T00:00:00+00:00')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.version == SCHEMA_VERSION > 1
    assert store.contact(1).name == "Old"
    assert "agent_links" in store.db.table_names()
    # Migration 8 filled in the normalised subject of the threads already there.
    since = datetime(2025, 1, 1, tzinfo=UTC)
    assert store.threads_with_subject("email", "RE: [#7] оплата за Декабрь", since, 1) == {7: 1}
    store.close()


def test_database_from_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        Store(path)


def _open_and_close(path, barrier):
    barrier.wait()
    Store(path).close()


def test_processes_opening_a_new_store_at_the_same_moment_all_get_it(tmp_path):
    """The daemon and a status check on a fresh install: WAL switch and migrations race."""
    for attempt in range(5):
        path = tmp_path / f"{attempt}.db"
        barrier = multiprocessing.Barrier(4)
        opening = [multiprocessing.Process(target=_open_and_close, args=(path, barrier))
                   for _ in range(4)]
        for process in opening:
            process.start()
        for process in opening:
            process.join(60)
        assert [process.exitcode for process in opening] == [0, 0, 0, 0]
        store = Store(path)
        assert store.version == SCHEMA_VERSION
        store.close()


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a school-inbox database"):
        Store(path)


def test_search_ranks_only_the_most_recent_matches(store, monkeypatch):
    from inbox.store import core

    monkeypatch.setattr(core, "SEARCH_WINDOW", 2)
    thread_id = _thread(store)
    for n, text in enumerate(["оплата оплата оплата", "оплата раз", "оплата два"]):
        store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                          account="school", text=text, external_id=f"w{n}",
                          created_at=now_utc())
    assert sorted(m.text for m, _ in store.search("оплата")) == ["оплата два", "оплата раз"]


def test_search_ranks_the_best_match_first(store):
    thread_id = _thread(store)
    for n, text in enumerate(["долг долг долг", "долг и ещё много других слов в письме",
                              "совсем другое"]):
        store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                          account="school", text=text, external_id=f"r{n}",
                          created_at=now_utc())
    assert [m.text for m, _ in store.search("долг")] == [
        "долг долг долг", "долг и ещё много других слов в письме"]


def test_search_lists_newest_first_when_a_word_is_too_common_to_rank(store, monkeypatch):
    from inbox.store import core

    monkeypatch.setattr(core, "COMMON_WORD", 2)
    thread_id = _thread(store)
    for n, text in enumerate(["оплата оплата оплата", "оплата раз", "оплата два", "долг"]):
        store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                          account="school", text=text, external_id=f"c{n}",
                          created_at=now_utc())
    assert [m.text for m, _ in store.search("оплата")] == [
        "оплата два", "оплата раз", "оплата оплата оплата"]
    assert [m.text for m, _ in store.search("долг")] == ["долг"]


def test_a_new_store_and_its_files_are_readable_by_their_owner_only(tmp_path):
    old = os.umask(0o022)  # what a shell gives; systemd's UMask=0077 is not there to help
    try:
        store = Store(tmp_path / "state" / "inbox.db")
        thread_id = _thread(store)
        store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                          account="school", text="x", external_id="p1", created_at=now_utc(),
                          attachments=[Attachment("a.txt", "text/plain", 3, b"abc")])
        store.close()
    finally:
        os.umask(old)
    modes = {path.name: path.stat().st_mode & 0o777
             for path in [tmp_path / "state", tmp_path / "state" / "inbox.db",
                          tmp_path / "state" / "attachments"]}
    assert modes == {"state": 0o700, "inbox.db": 0o600, "attachments": 0o700}


def test_a_returning_contacts_previous_agent_is_who_answered_them_not_who_was_assigned(store):
    first = _thread(store)
    contact = store.thread(first).contact_id
    assert store.previous_agent(contact) == ""  # nobody has answered them yet
    store.update_thread(first, agent="olga")
    store.add_message(thread_id=first, direction=Direction.OUT, channel="email",
                      account="school", text="Расписание на сайте.", sender="petr",
                      created_at=now_utc())
    unanswered = _thread(store)
    store.update_thread(unanswered, agent="aigerim")
    assert store.previous_agent(contact) == "petr"


def test_a_notification_released_into_its_topic_counts_as_waiting_from_then(store):
    thread = _thread(store)
    store.request_topic(thread, "-100", now_utc())
    store.queue_outbound(channel="telegram", account="bot", recipient="-100", text="news",
                         kind="notification", thread_id=thread, at=HELD)
    assert store.outbox_summary(now_utc())["oldest_pending"] is None  # waits for its topic
    released = now_utc()
    assert store.topic_created(thread, 7, released) == 1
    assert store.outbox_summary(released + timedelta(hours=5))["oldest_pending"] is not None


def test_a_report_and_an_agents_reply_find_our_outbox_entry_by_index_not_by_scan(store):
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    assert store.outbound_for_header_id("lost@elsewhere.example") is None
    assert store.notification_by_external("bot", "12:34") is None
    store.conn.set_trace_callback(None)
    plans = [" ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql))
             for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(plans) == 2 and not any("SCAN" in plan for plan in plans), plans


def test_least_open_counts_open_threads_without_reading_closed_ones(store):
    for agent, status in (("olga", Status.OPEN), ("olga", Status.PENDING),
                          ("olga", Status.CLOSED), ("boris", Status.CLOSED)):
        store.update_thread(_thread(store), agent=agent, status=status)
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)
    assert store.open_counts(["olga", "boris"]) == {"olga": 2}
    store.conn.set_trace_callback(None)
    plan = " ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + statements[0]))
    assert "threads_agent_status (agent=? AND status=?)" in plan, plan


def test_round_robin_finds_a_teams_last_thread_by_index_not_by_scan(store):
    plan = " ".join(row[3] for row in store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT agent FROM threads WHERE team = ? AND agent != ''"
        " ORDER BY id DESC LIMIT 1", ["office"]))
    assert "SCAN" not in plan and "threads_team" in plan, plan
    other = _thread(store)
    store.update_thread(other, team="office", agent="olga")
    store.update_thread(_thread(store), team="teachers", agent="boris")
    assert store.last_assigned("office") == "olga"
    assert store.last_assigned("nobody's") == ""


def test_a_write_waits_for_another_processs_write_instead_of_failing(tmp_path):
    first, second = Store(tmp_path / "inbox.db"), Store(tmp_path / "inbox.db")
    holding = threading.Event()

    def daemon_batch() -> None:
        with first.transaction():
            first.set_sync("mail", "cursor", "1")
            holding.set()
            time.sleep(0.5)

    batch = threading.Thread(target=daemon_batch)
    batch.start()
    holding.wait()
    with second.transaction():  # a command reading, then writing, while the batch runs
        assert second.get_sync("mail", "cursor") in (None, "1")
        second.set_sync("cli", "note", "2")
    batch.join()
    assert (second.get_sync("mail", "cursor"), second.get_sync("cli", "note")) == ("1", "2")
    first.close()
    second.close()


@pytest.mark.parametrize("made_with", ["index", "index and column", "everything"])
def test_a_store_at_version_13_of_any_build_gains_the_outbox_link_of_14(tmp_path, made_with):
    old = Store(tmp_path / "inbox.db")  # what a build of this session left at version 13
    if made_with == "index":
        old.conn.execute("DROP INDEX outbox_about")
        old.conn.execute("DROP INDEX outbox_message")
        old.conn.execute("ALTER TABLE outbox DROP COLUMN about_message_id")
    elif made_with == "index and column":
        old.conn.execute("DROP INDEX outbox_about")
        old.conn.execute("ALTER TABLE outbox DROP COLUMN about_message_id")
    old.conn.execute("PRAGMA user_version = 13")
    for trigger in ("threads_retire", "contacts_retire", "messages_retire",
                    "outbox_retire"):  # what 15 adds
        old.conn.execute(f"DROP TRIGGER {trigger}")
    old.conn.execute("DROP TABLE retired_ids")
    old.close()
    store = Store(tmp_path / "inbox.db")
    assert store.version == SCHEMA_VERSION
    thread = _thread(store)
    entry = store.queue_outbound(channel="email", account="school", recipient="a@b.c",
                                 text="news", kind="notification", thread_id=thread)
    assert store.outbound(entry).about_message_id is None
    store.close()


def _message(store, thread_id, external_id):
    return store.add_message(
        thread_id=thread_id, direction=Direction.IN, channel="email", account="school",
        text="Здравствуйте", visible_text="Здравствуйте", external_id=external_id,
        raw=b"raw", raw_kind="rfc822", created_at=now_utc()).message_id


def test_ids_of_deleted_threads_contacts_and_messages_are_never_given_again(store):
    """SQLite alone numbers a row after the largest id left, so deleting the newest thread
    would give its number (and the reply addresses quoting it) to the next one."""
    kept = _thread(store)
    _message(store, kept, "k1")
    gone = _thread(store, Identity("email", "boris@example.org"))
    gone_message = _message(store, gone, "g1")
    gone_contact = store.thread(gone).contact_id
    gone_entry = store.queue_outbound(channel="email", account="school", recipient="b@c.d",
                                      text="answer", kind="reply", thread_id=gone)
    store.delete_contact(gone_contact)
    newer = _thread(store, Identity("email", "dana@example.org"))
    assert newer == gone + 1
    assert store.thread(newer).contact_id == gone_contact + 1
    assert _message(store, newer, "d1") == gone_message + 1
    assert store.queue_outbound(channel="email", account="school", recipient="d@c.d",
                                text="answer", kind="reply", thread_id=newer) == gone_entry + 1
    store.delete_threads([kept])  # an older id lost changes nothing
    assert _thread(store, Identity("email", "emil@example.org")) == newer + 1


def test_a_store_a_build_left_at_version_15_learns_which_tickets_take_the_first_form(tmp_path):
    old = Store(tmp_path / "inbox.db")
    for identity in (ANNA, Identity("email", "boris@example.org")):
        _thread(old, identity)
    old.conn.execute("DELETE FROM sync_state WHERE key = 'reply-tokens:first-form-up-to'")
    old.conn.execute("PRAGMA user_version = 15")  # what the builds before 16 left
    old.close()
    store = Store(tmp_path / "inbox.db")
    assert store.first_form_tickets() == 2  # their notices were all of the first form
    store.close()
