"""Data care on real stores: backup while writing, verified restore, purge, a person's data
exported and forgotten, reparse after a parser change, and the durations they accept."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inbox.care import retention_settings
from inbox.config import load_config
from inbox.model import Direction, Identity, Status
from inbox.sections import Section
from inbox.spans import parse_cutoff, parse_span
from inbox.store import Store, now_utc
from tests.conftest import School, mail

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def mail_with_file(message_id: str, sender: str, filename: str, data: bytes,
                   body: str = "Документ во вложении") -> bytes:
    import base64

    encoded = base64.b64encode(data).decode()
    return (
        f"From: {sender}\r\nTo: support@school.example\r\nSubject: Документы {message_id}\r\n"
        f"Message-ID: <{message_id}>\r\nDate: Fri, 20 Nov 2026 09:00:00 +0500\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        f"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        f"--XX\r\nContent-Type: application/pdf\r\n"
        f"Content-Disposition: attachment; filename=\"{filename}\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--XX--\r\n"
    ).encode()


def open_store(school: School) -> Store:
    config = load_config(school.config)
    return Store(config.store.path, config.store.attachments)


def count(store: Store, table: str) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# -- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("2y", NOW - timedelta(days=730)),
    ("180d", NOW - timedelta(days=180)),
    ("8w", NOW - timedelta(weeks=8)),
    ("1y30d", NOW - timedelta(days=395)),
    ("2024-09-01", datetime(2024, 9, 1, tzinfo=UTC)),
    ("2024-09-01T10:00:00+05:00", datetime(2024, 9, 1, 5, tzinfo=UTC)),
])
def test_cutoffs_are_ages_in_days_weeks_years_or_dates(text, expected):
    assert parse_cutoff(text, NOW) == expected


def test_months_are_refused_as_ambiguous():
    with pytest.raises(ValueError) as caught:
        parse_cutoff("6m", NOW)
    assert str(caught.value) == (
        "'6m' is not a duration (units: d, w, y (365 days)); \"m\" is ambiguous (minutes or"
        ' months?): write days ("180d"), weeks ("8w") or years ("1y"), or a date like 2024-09-01')


def test_status_spans_take_seconds_to_days():
    assert parse_span("1h30m") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="'soon' is not a duration"):
        parse_span("soon")


def test_retention_table_reads_closed_after_and_names_bad_values():
    problems: list[str] = []
    settings = retention_settings(Section({"closed_after": "2y"}, "inbox.toml: retention",
                                          problems))
    assert settings.closed_after == timedelta(days=730)
    assert problems == []
    retention_settings(Section({"closed_after": "6m", "keep": 1}, "inbox.toml: retention",
                               problems))
    assert problems == [
        "inbox.toml: retention: closed_after '6m' is not a duration (units: d, w, y (365 days));"
        ' "m" is ambiguous (minutes or months?): write days ("180d"), weeks ("8w") or years'
        ' ("1y")',
        "inbox.toml: retention: unknown key 'keep' (known keys: closed_after)"]


# -- backup and restore ------------------------------------------------------------------


@pytest.fixture
def filled(school):
    """Three threads from two people; one PDF shared by two messages, one of its own."""
    school.deliver(mail_with_file("a1@mail.example", "anna@mail.example", "счёт.pdf", b"%PDF-1"))
    school.deliver(mail_with_file("b1@mail.example", "boris@mail.example", "same.pdf",
                                  b"%PDF-1", body="Тот же файл"))
    school.deliver(mail_with_file("b2@mail.example", "boris@mail.example", "own.pdf",
                                  b"%PDF-own", body="Уникальное слово зебра"))
    school.cli("run", "--once")
    return school


def test_backup_while_the_store_is_written_restores_to_a_consistent_copy(filled, tmp_path):
    archive = tmp_path / "today.tar.gz"
    stop = threading.Event()
    written = []

    def keep_writing() -> None:
        store = open_store(filled)
        contact = store.ensure_contact(Identity("email", "writer@mail.example"))
        thread_id = store.create_thread(channel="email", account="support",
                                        contact_id=contact.id, subject="load",
                                        created_at=now_utc())
        while not stop.is_set():
            store.add_message(thread_id=thread_id, direction=Direction.IN, channel="email",
                              account="support", text=f"строка {len(written)}",
                              external_id=f"load-{len(written)}", created_at=now_utc())
            written.append(1)
        store.close()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(written) < 50:
            threading.Event().wait(0.01)
        output = filled.cli("backup", str(archive)).output
    finally:
        stop.set()
        writer.join()
    assert output.startswith(f"{archive}: 4 threads, ")
    assert output.rstrip().endswith("2 attachment files (schema "
                                    f"{open_store(filled).version})")
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert manifest["counts"]["messages"] >= 3 + 50

    elsewhere = School(tmp_path / "elsewhere")
    restored = elsewhere.cli("restore", str(archive)).output
    assert restored.startswith(f"restored {elsewhere.root}/state/inbox.db from {archive}")
    store = open_store(elsewhere)
    assert count(store, "messages") == manifest["counts"]["messages"]
    assert store.integrity_problems() == []
    pdfs = {a.filename: store.attachment_data(a) for t in store.threads()
            for m in store.messages(t.id) for a in m.attachments}
    assert pdfs == {"счёт.pdf": b"%PDF-1", "same.pdf": b"%PDF-1", "own.pdf": b"%PDF-own"}
    store.close()


def test_a_backup_that_cannot_be_written_names_the_path_given_and_one_that_can_replaces(
        filled, tmp_path):
    result = filled.cli("backup", "/proc/nope.tar.gz", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("Error: /proc/nope.tar.gz: cannot write the backup: ")
    assert ".inbox-backup-" not in result.output
    nightly = tmp_path / "backups" / "nightly.tar.gz"
    result = filled.cli("backup", str(nightly), ok=False)  # a folder not there (not mounted?)
    assert result.output == (f"Error: {nightly}: cannot write the backup:"
                             " No such file or directory\n")
    assert not nightly.parent.exists()
    nightly.parent.mkdir()
    for _ in range(2):  # a cron job reusing one name
        assert filled.cli("backup", str(nightly)).output.startswith(f"{nightly}: 3 threads")
    assert [p.name for p in nightly.parent.iterdir()] == ["nightly.tar.gz"]


def test_restore_refuses_a_store_that_is_not_empty_unless_forced(filled, tmp_path):
    archive = tmp_path / "b.tar.gz"
    filled.cli("backup", str(archive))
    result = filled.cli("restore", str(archive), ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: refusing to overwrite {filled.root}/state/inbox.db: the store is not empty"
        " (stop the daemon, then use --force to replace it)")
    filled.cli("close", "1")
    filled.cli("restore", str(archive), "--force")
    assert json.loads(filled.cli("show", "1", "--json").output)["status"] == "open"


def test_what_a_killed_backup_or_restore_left_is_removed_by_the_next_one(filled, tmp_path):
    dead = 2**22 + 7  # above Linux's largest pid_max: no process has it
    killed_backup = tmp_path / f".inbox-backup-{dead}-abcd1234"
    killed_restore = filled.root / "state" / f".inbox-restore-{dead}-efgh5678"
    running = tmp_path / f".inbox-backup-{os.getpid()}-ijkl9012"  # a backup still at work
    just_killed = tmp_path / f".inbox-backup-{dead + 1}-mnop3456"  # or another host's
    not_ours = tmp_path / ".inbox-backup-old"  # a folder someone named so
    for leftover in (killed_backup, killed_restore, running, just_killed, not_ours):
        leftover.mkdir()
        (leftover / "inbox.db").write_bytes(b"a full copy of the store")
        if leftover != just_killed:
            os.utime(leftover, (time.time() - 7200, time.time() - 7200))
    filled.cli("backup", str(tmp_path / "b.tar.gz"))
    filled.cli("restore", str(tmp_path / "b.tar.gz"), "--force")
    assert [path.exists() for path in (killed_backup, killed_restore, running, just_killed,
                                       not_ours)] == [False, False, True, True, True]


def test_a_restored_backup_gives_no_number_the_replaced_store_had_given(filled, tmp_path):
    archive = tmp_path / "b.tar.gz"
    filled.cli("backup", str(archive))
    filled.deliver(mail(sender="Dana <dana@mail.example>", message_id="d1@mail.example"))
    filled.cli("run", "--once")
    dana = json.loads(filled.cli("show", "4", "--json").output)["contact_id"]
    gc.collect()  # the in-process commands' connections close, as the processes' would
    filled.cli("restore", str(archive), "--force")
    filled.deliver(mail(sender="Emil <emil@mail.example>", message_id="e1@mail.example"))
    filled.cli("run", "--once")
    (emil,) = [t for t in json.loads(filled.cli("threads", "--json").output)
               if t["contact"] == "Emil"]
    assert emil["id"] == 5  # #4 was Dana's: her agent's notice names it
    assert json.loads(filled.cli("show", "5", "--json").output)["contact_id"] > dana


def test_a_restored_store_is_readable_by_its_owner_only_whatever_the_umask(filled, tmp_path):
    archive = tmp_path / "b.tar.gz"
    filled.cli("backup", str(archive))
    target = tmp_path / "elsewhere"
    filled.write(filled.config.read_text().replace(
        str(filled.root / "state"), str(target)))
    old = os.umask(0o022)
    try:
        filled.cli("restore", str(archive))
    finally:
        os.umask(old)
    files = [target / "inbox.db", *(p for p in (target / "attachments").rglob("*"))]
    assert len(files) > 3
    modes = {oct(p.stat().st_mode & 0o777) for p in [target, target / "attachments", *files]}
    assert modes <= {"0o600", "0o700"}, modes


def test_a_damaged_archive_is_refused_before_anything_is_replaced(filled, tmp_path):
    archive, damaged = tmp_path / "b.tar.gz", tmp_path / "damaged.tar.gz"
    filled.cli("backup", str(archive))
    bad = ""
    with tarfile.open(archive) as source, tarfile.open(damaged, "w:gz") as target:
        for member in source:
            data = source.extractfile(member).read()
            if member.name.startswith("attachments/") and not bad:
                data = data[:-1] + b"X"
                bad = member.name.rsplit("/", 1)[1]
            target.addfile(member, io.BytesIO(data))
    elsewhere = School(tmp_path / "elsewhere")
    result = elsewhere.cli("restore", str(damaged), ok=False)
    assert result.output.strip() == (
        f"Error: {damaged}: attachment {bad} is damaged (checksum differs)")
    assert not (elsewhere.root / "state" / "inbox.db").exists()
    result = elsewhere.cli("restore", str(tmp_path / "missing.tar.gz"), ok=False)
    assert result.exit_code == 2  # click: the path does not exist


def damage_a_page(database: Path, page: int = 4) -> None:
    """What a bad disk sector does: part of one page overwritten (the file checkpointed first,
    so the page is in it)."""
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with database.open("r+b") as file:
        file.seek(4096 * (page - 1))
        file.write(b"A" * 2000)


def test_a_damaged_store_makes_no_backup_and_says_so_in_one_line(filled, tmp_path):
    gc.collect()  # the in-process commands' connections close, as the processes' would
    database = load_config(filled.config).store.path
    damage_a_page(database)
    archive = tmp_path / "nightly.tar.gz"
    result = filled.cli("backup", str(archive), ok=False)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: {archive}: not written: the store {database} is damaged (")
    assert not archive.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".inbox-backup-")] == []


def test_an_archive_whose_database_is_damaged_is_refused_in_one_line(filled, tmp_path):
    archive, damaged = tmp_path / "b.tar.gz", tmp_path / "damaged.tar.gz"
    filled.cli("backup", str(archive))
    with tarfile.open(archive) as source:
        source.extractall(tmp_path / "unpacked", filter="data")
    database = tmp_path / "unpacked" / "inbox.db"
    damage_a_page(database)
    manifest = json.loads((tmp_path / "unpacked" / "manifest.json").read_text())
    manifest["database"]["sha256"] = hashlib.sha256(database.read_bytes()).hexdigest()
    (tmp_path / "unpacked" / "manifest.json").write_text(json.dumps(manifest))
    with tarfile.open(damaged, "w:gz") as target:
        for name in ("manifest.json", "inbox.db", "attachments"):
            target.add(tmp_path / "unpacked" / name, name)
    elsewhere = School(tmp_path / "elsewhere")
    result = elsewhere.cli("restore", str(damaged), ok=False)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: {damaged}: the database in the backup is damaged (")
    assert line.endswith("); nothing was replaced")
    assert not (elsewhere.root / "state" / "inbox.db").exists()


# -- purge -------------------------------------------------------------------------------


def close_long_ago(school: School, *thread_ids: int, days: int = 800) -> None:
    store = open_store(school)
    for thread_id in thread_ids:
        moment = now_utc() - timedelta(days=days)
        store.update_thread(thread_id, status=Status.CLOSED, closed_at=moment,
                            last_message_at=moment)
    store.close()


def test_purge_removes_old_closed_threads_and_only_unshared_files(filled):
    close_long_ago(filled, 2, 3)
    close_long_ago(filled, 1, days=10)
    store = open_store(filled)
    shared, own = (store.attachment_path(m.attachments[0].sha256)
                   for m in (store.messages(2)[0], store.messages(3)[0]))
    store.close()
    dry = filled.cli("purge", "--older-than", "2y", "--dry-run").output.strip()
    assert dry.startswith("would remove 2 threads, 2 messages, 2 raw, 2 attachments, ")
    assert dry.endswith(", 0 outbox, 1 files (threads closed before "
                        f"{printed_cutoff(dry).isoformat()})")
    assert abs(printed_cutoff(dry) - (now_utc() - timedelta(days=730))) < timedelta(seconds=5)
    assert own.exists()
    done = filled.cli("purge", "--older-than", "2y").output
    assert done.startswith("removed 2 threads, 2 messages, 2 raw, 2 attachments, ")
    assert shared.exists(), "still used by thread 1"
    assert not own.exists()
    assert filled.cli("search", "зебра").output.strip() == "nothing found"
    assert [t["id"] for t in json.loads(filled.cli("threads", "--json").output)] == [1]
    store = open_store(filled)
    assert (count(store, "raw"), count(store, "messages")) == (1, 1)
    assert store.integrity_problems() == []
    store.close()


def test_purge_keeps_a_long_closed_thread_answered_since_or_with_a_reply_still_to_send(
        filled):
    close_long_ago(filled, 1, 2, 3)
    filled.cli("reply", "2", "--as", "boris", "-m", "Простите за долгий ответ")  # queued
    store = open_store(filled)
    store.add_message(thread_id=3, direction=Direction.NOTE, channel="email", account="support",
                      text="звонили родителям", created_at=now_utc())
    store.close()
    done = filled.cli("purge", "--older-than", "2y").output
    assert done.startswith("removed 1 threads, 1 messages, ")
    assert [t["id"] for t in json.loads(filled.cli("threads", "--json").output)] == [3, 2]
    filled.cli("run", "--once")  # the reply goes; the thread still counts from it
    assert filled.cli("purge", "--older-than", "2y").output.startswith("removed 0 threads, ")


def test_purge_keeps_a_thread_whose_reply_waits_and_not_one_whose_staff_notice_waits(filled):
    close_long_ago(filled, 1, 2, 3)
    store = open_store(filled)
    for thread, kind in ((2, "reply"), (3, "notification")):  # no message since: only these
        store.queue_outbound(channel="email", account="support", recipient="x@mail.example",
                             text="waiting", kind=kind, thread_id=thread,
                             at=now_utc() + timedelta(days=300))
    store.close()
    assert filled.cli("purge", "--older-than", "2y").output.startswith("removed 2 threads, ")
    assert [t["id"] for t in json.loads(filled.cli("threads", "--json").output)] == [2]


def printed_cutoff(output: str) -> datetime:
    return datetime.fromisoformat(output.rsplit("closed before ", 1)[1].rstrip(")\n"))


def test_purge_refuses_a_cutoff_less_than_a_day_ago_and_prints_the_exact_one(filled):
    close_long_ago(filled, 1, days=0)  # closed a moment ago
    tomorrow = (now_utc() + timedelta(days=1)).date().isoformat()
    latest = (now_utc() - timedelta(days=1)).date().isoformat()
    for too_recent in ("0d", tomorrow, "2099-01-01"):
        result = filled.cli("purge", "--older-than", too_recent, ok=False)
        assert result.exit_code == 2, too_recent
        assert (f"Invalid value for '--older-than': '{too_recent}' is not at least 1d in the"
                f" past: write an age of 1d or more, or a date up to {latest}") in result.output
    done = filled.cli("purge", "--older-than", "1d").output
    assert done.startswith("removed 0 threads, ")
    assert abs(printed_cutoff(done) - (now_utc() - timedelta(days=1))) < timedelta(seconds=5)
    assert sorted(t["id"] for t in json.loads(filled.cli("threads", "--json").output)) == [
        1, 2, 3]


def test_purge_without_a_cutoff_asks_for_one(filled):
    result = filled.cli("purge", ok=False)
    assert result.exit_code == 2
    assert 'give --older-than (e.g. "2y") or set closed_after in [retention]' in result.output


# -- one person --------------------------------------------------------------------------


def test_export_contact_writes_rows_raw_messages_and_files(filled, tmp_path):
    boris = json.loads(filled.cli("show", "2", "--json").output)["contact_id"]
    output = tmp_path / "boris.zip"
    printed = filled.cli("export-contact", str(boris), "-o", str(output)).output.strip()
    assert printed == f"{output}: 2 threads, 2 messages, 2 raw, 2 attachments, 6 events"
    assert output.stat().st_mode & 0o777 == 0o600  # personal data, like a backup
    with zipfile.ZipFile(output) as archive:
        names = sorted(archive.namelist())
        record = json.loads(archive.read("contact.json"))
        raw = archive.read(next(n for n in names if n.startswith("raw/")))
    assert [n for n in names if n.startswith("attachments/")] == [
        "attachments/2-same.pdf", "attachments/3-own.pdf"]
    assert record["identities"] == [
        {"kind": "email", "value": "boris@mail.example", "display_name": ""}]
    assert [m["text"].strip() for m in record["messages"]] == ["Тот же файл",
                                                               "Уникальное слово зебра"]
    assert raw.startswith(b"From: boris@mail.example")
    assert {"subject", "status", "sla_policy"} <= set(record["threads"][0])
    assert "sla_check_at" not in record["threads"][0]  # the timer job's, not theirs
    folder = tmp_path / "boris"
    filled.cli("export-contact", str(boris), "-o", str(folder))
    assert (folder / "attachments" / "3-own.pdf").read_bytes() == b"%PDF-own"


def test_forget_contact_deletes_the_person_and_everything_about_them(filled):
    boris = json.loads(filled.cli("show", "2", "--json").output)["contact_id"]
    store = open_store(filled)
    store.record_claim("staff", "answer-1@school.example", "aigerim", 2, now_utc())
    store.close()
    refused = filled.cli("forget-contact", str(boris), ok=False, input="")
    assert refused.output.strip() == (
        "Error: this deletes 'boris@mail.example' and 1 contacts, 2 threads, 2 messages,"
        " 2 raw, 2 attachments, 6 events, 0 outbox, 1 files; add --yes")
    done = filled.cli("forget-contact", str(boris), "--yes").output.strip()
    assert done == (f"forgot contact {boris}: removed 1 contacts, 2 threads, 2 messages, 2 raw,"
                    " 2 attachments, 6 events, 0 outbox, 1 files")
    assert filled.cli("show", "2", ok=False).output.strip() == "Error: no thread 2"
    assert filled.cli("search", "зебра").output.strip() == "nothing found"
    store = open_store(filled)
    assert store.contact_for(Identity("email", "boris@mail.example")) is None
    assert (count(store, "raw"), count(store, "attachments")) == (1, 1)
    assert store.integrity_problems() == []
    assert store.was_claimed("staff", "answer-1@school.example")  # still never acted on twice
    assert store.db.execute("SELECT thread_id FROM agent_claims").fetchall() == [(None,)]
    store.close()
    assert filled.cli("forget-contact", str(boris), "--yes", ok=False).output.strip() == (
        f"Error: no contact {boris}")


def test_what_a_person_wrote_in_someone_elses_thread_is_exported_and_forgotten(
        filled, tmp_path):
    """Anna's mother answers by headers in Anna's thread (filed there, flagged review)."""
    mother = mail_with_file("m1@mail.example", "Мама Анны <mama@mail.example>", "справка.pdf",
                            b"%PDF-mama", body="Мой телефон +7 701 555 1234, квокка")
    filled.deliver(mother.replace(b"Message-ID: <m1@mail.example>", b"Message-ID:"
                                  b" <m1@mail.example>\r\nIn-Reply-To: <a1@mail.example>"))
    filled.cli("run", "--once")
    shown = json.loads(filled.cli("show", "1", "--json").output)
    assert [m["flags"] for m in shown["messages"]] == [[], ["review"]]  # in Anna's thread
    store = open_store(filled)
    mama = store.contact_for(Identity("email", "mama@mail.example")).id
    store.close()
    output = tmp_path / "mama.zip"
    printed = filled.cli("export-contact", str(mama), "-o", str(output)).output.strip()
    assert printed == f"{output}: 0 threads, 1 messages, 1 raw, 1 attachments, 1 events"
    with zipfile.ZipFile(output) as archive:
        assert "attachments/4-справка.pdf" in archive.namelist()
    done = filled.cli("forget-contact", str(mama), "--yes").output.strip()
    assert done == (f"forgot contact {mama}: removed 1 contacts, 0 threads, 1 messages, 1 raw,"
                    " 1 attachments, 1 events, 0 outbox, 1 files")
    assert filled.cli("search", "квокка").output.strip() == "nothing found"
    shown = json.loads(filled.cli("show", "1", "--json").output)
    assert [m["text"].strip() for m in shown["messages"]] == ["Документ во вложении"]
    store = open_store(filled)
    assert store.integrity_problems() == []
    store.close()


def test_a_forgotten_persons_words_are_nowhere_in_the_database_files(school):
    school.deliver(mail(subject="Question about xylophonist", sender="zebra@mail.example",
                        body="My secretword quokkaminder", message_id="z1@mail.example"))
    school.deliver(mail(subject="Lunch menu", sender="other@mail.example",
                        body="What is for lunch tomorrow?", message_id="o1@mail.example"))
    school.cli("run", "--once")
    school.cli("reply", "2", "--as", "boris", "-m", "Pasta.")
    school.cli("run", "--once")
    zebra = json.loads(school.cli("show", "1", "--json").output)["contact_id"]
    school.cli("forget-contact", str(zebra), "--yes")
    gc.collect()  # the in-process commands' connections close, as the processes' would
    files = [p for p in school.root.rglob("*") if p.name.endswith((".db", ".db-wal"))]
    stored = b"".join(p.read_bytes() for p in files)
    assert b"lunch" in stored  # what others wrote is still there
    for trace in (b"secretword", b"quokkaminder", b"xylophonist", b"zebra@mail.example"):
        assert trace not in stored, trace


# -- reparse -----------------------------------------------------------------------------


def test_reparse_restores_what_the_parser_derives_and_keeps_ids(filled):
    store = open_store(filled)
    (message,) = store.messages(3)
    store.update_message_text(message.id, "испорчено старым парсером", "испорчено")
    store.db.execute("UPDATE attachments SET filename = 'old.bin' WHERE message_id = ?",
                     [message.id])
    attachment_id = store.attachment_ids(message.id)
    store.close()
    output = filled.cli("reparse", "3").output.strip()
    assert output == "1 messages examined, 1 changed"
    store = open_store(filled)
    (again,) = store.messages(3)
    assert (again.id, again.thread_id) == (message.id, 3)
    assert again.text == message.text
    assert [a.filename for a in again.attachments] == ["own.pdf"]
    assert store.attachment_ids(message.id) == attachment_id
    store.close()
    assert filled.cli("reparse").output.strip() == "3 messages examined, 0 changed"


def test_reparse_reads_telegram_json_and_keeps_edited_text(school):
    store = open_store(school)
    contact = store.ensure_contact(Identity("telegram", "42"))
    thread_id = store.create_thread(channel="telegram", account="bot", contact_id=contact.id,
                                    subject="", created_at=now_utc(), conversation="42")
    update = {"update_id": 7, "message": {
        "message_id": 3, "date": 1_790_000_000, "chat": {"id": 42, "type": "private"},
        "from": {"id": 42, "is_bot": False, "first_name": "Dana"}, "caption": "Справка",
        "document": {"file_id": "f1", "file_unique_id": "u1", "file_name": "a.pdf"}}}
    raw = json.dumps(update).encode()
    ids = []
    for n in range(2):
        stored = store.add_message(
            thread_id=thread_id, direction=Direction.IN, channel="telegram", account="bot",
            text="old", external_id=f"42:{3 + n}", raw=raw, raw_kind="telegram",
            created_at=now_utc())
        ids.append(stored.message_id)
    store.log_event(thread_id, "42", "edited", {"message": ids[1], "previous_text": "x"})
    store.close()
    output = school.cli("reparse").output.strip()
    assert output == "2 messages examined, 1 changed, 1 skipped (edited by the customer)"
    store = open_store(school)
    assert [m.text for m in store.messages(thread_id)] == ["Справка", "old"]
    store.close()


def test_reparse_of_an_unknown_thread_is_an_error(filled):
    result = filled.cli("reparse", "999", ok=False)
    assert (result.exit_code, result.output.strip()) == (1, "Error: no thread 999")
