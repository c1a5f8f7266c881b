"""Nothing is lost, nothing is stored twice: the daemon as a real process, SIGKILLed at random
moments while it ingests mail from Dovecot and updates from the Bot API server and delivers
replies through servers that refuse for a while; plus a full disk, and secrets kept out of
every log and `inbox check`."""

from __future__ import annotations

import base64
import logging
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pytest

from inbox import running
from inbox.store import Store
from tests.botapi import TOKEN, BotApiServer
from tests.conftest import INBOX_TOML, School, mail
from tests.processes import DaemonProcess, stored_count, wait_for
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.slow

SEED = 20261120
EMAILS, UPDATES, KILLS, CHATS = 2000, 500, 12, 50
TOTAL = EMAILS + UPDATES
PASSWORD = "Crash-Test-Пароль-7f3a"

CRASH_TOML = """\
[school]
name = "Test School"
languages = ["ru", "en"]
default_language = "ru"

[store]
path = "{dir}/state/inbox.db"

[outbox]
first_retry_seconds = 0.2
max_retry_seconds = 1
interval_seconds = 0.2
max_attempts = 100

[greeting]
enabled = false

[[email]]
name = "school"
address = "support@school.example"
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{user}"
password_env = "CRASH_IMAP_PASSWORD"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
after = "seen"
batch_size = 40

[[telegram]]
name = "bot"
token_env = "CRASH_BOT_TOKEN"
api_url = "{api_url}/bot"
file_url = "{file_url}"
poll_timeout = 2
chat_interval = 0.2

[[agents]]
id = "boris"
name = "Boris"
languages = ["ru", "en"]

[[teams]]
name = "support"
members = ["boris"]
"""


def mixed_email(n: int) -> bytes:
    """Plain UTF-8, koi8-r, HTML-only and multipart with a file, from 97 senders."""
    sender, message_id = f"parent{n % 97}@mail.example", f"crash-{n}@mail.example"
    kind = n % 4
    if kind == 0:
        return mail(subject=f"Вопрос {n}", body=f"Здравствуйте, вопрос номер {n}",
                    sender=sender, message_id=message_id)
    if kind == 1:
        return (f"From: {sender}\r\nSubject: koi8 {n}\r\nMessage-ID: <{message_id}>\r\n"
                "Content-Type: text/plain; charset=koi8-r\r\n\r\n").encode() + (
            f"Оплата за обучение {n}").encode("koi8-r")
    if kind == 2:
        return (f"From: {sender}\r\nSubject: html {n}\r\nMessage-ID: <{message_id}>\r\n"
                "Content-Type: text/html; charset=utf-8\r\n\r\n"
                f"<p>Расписание <b>{n}</b></p>").encode()
    data = base64.b64encode(f"file {n % 50}".encode()).decode()
    return (f"From: {sender}\r\nSubject: file {n}\r\nMessage-ID: <{message_id}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
            "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nСправка во вложении\r\n"
            f"--B\r\nContent-Type: text/plain\r\nContent-Disposition: attachment;"
            f" filename=\"note{n % 50}.txt\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{data}\r\n--B--\r\n").encode()


class Desk:
    """A school on Dovecot + aiosmtpd + the Bot API server, with its daemon run as a process."""

    def __init__(self, root: Path, dovecot: Dovecot, user: MailUser, smtp: SmtpServer,
                 bot: BotApiServer):
        self.school = School(root)
        self.dovecot, self.user, self.smtp, self.bot = dovecot, user, smtp, bot
        self.school.write(CRASH_TOML.replace("{imap_port}", str(dovecot.port))
                          .replace("{smtp_port}", str(smtp.port)).replace("{user}", user.name)
                          .replace("{api_url}", bot.url).replace("{file_url}", bot.file_url))
        self.db = root / "state" / "inbox.db"
        self.logs: list[str] = []

    def query(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.db, timeout=10) as conn:
            return conn.execute(sql).fetchall()

    def inbound(self) -> int:
        if not self.db.exists():
            return 0
        try:
            return self.query("SELECT count(*) FROM messages WHERE direction = 'in'")[0][0]
        except sqlite3.OperationalError:  # not created yet
            return 0

    def pending_outbox(self) -> int:
        return self.query("SELECT count(*) FROM outbox WHERE state IN ('queued', 'retrying')")[
            0][0]

    def diagnosis(self) -> str:
        return (f"stored {self.inbound()} of {TOTAL}; outbox: "
                f"{self.query('SELECT state, attempts, last_error FROM outbox')}")

    def start(self) -> DaemonProcess:
        return DaemonProcess(self.school)

    def reply(self, thread_id: int, text: str) -> None:
        self.school.cli("reply", str(thread_id), "--as", "boris", "-m", text)


@pytest.fixture
def desk(tmp_path, private_dovecot, smtp_server, botapi, monkeypatch):
    monkeypatch.setenv("CRASH_IMAP_PASSWORD", PASSWORD)
    monkeypatch.setenv("CRASH_BOT_TOKEN", TOKEN)
    user = private_dovecot.add_user(password=PASSWORD)
    return Desk(tmp_path, private_dovecot, user, smtp_server, botapi)


def test_sigkill_at_random_moments_loses_nothing_and_sends_each_reply_about_once(
        desk, record_property):
    rng = random.Random(SEED)
    daemon = None
    try:
        desk.dovecot.seed(desk.user, "INBOX", (mixed_email(n) for n in range(EMAILS // 2)))
        for n in range(UPDATES // 2):
            desk.bot.user_message(1000 + n % CHATS, f"сообщение {n}")
        markers: list[str] = []
        at_kills: list[int] = []  # messages stored when each kill landed
        available = TOTAL // 2  # at the sources so far
        for kill in range(KILLS):
            if kill == KILLS // 2:  # the second half arrives while the daemon keeps dying
                available = TOTAL
                desk.dovecot.seed(desk.user, "INBOX",
                                  (mixed_email(n) for n in range(EMAILS // 2, EMAILS)))
                for n in range(UPDATES // 2, UPDATES):
                    desk.bot.user_message(1000 + n % CHATS, f"сообщение {n}")
            if kill == 2:
                desk.smtp.fail_next("451 4.3.0 Try again later", count=6)
            if kill == 4:
                desk.bot.fail_next("sendMessage", 502, count=4)
                desk.bot.fail_next("sendMessage", 429, count=3, retry_after=1)
            before = desk.inbound()
            daemon = desk.start()
            wait_for(lambda before=before, available=available: desk.inbound() > before
                     or desk.inbound() == available, 60,
                     f"progress after restart {kill}", interval=0.01)
            if kill == 6:  # IMAP goes away mid-IDLE and comes back
                desk.dovecot.stop()
                time.sleep(rng.uniform(0.5, 2.0))  # the outage itself, not a wait for a result
                desk.dovecot.start()
            time.sleep(rng.uniform(0.0, 1.5))  # a random moment: the point of the test
            daemon.kill()
            at_kills.append(desk.inbound())
            desk.logs.append(daemon.log)
            for channel in ("email", "telegram"):
                found = desk.query(f"SELECT id FROM threads WHERE channel = '{channel}'")
                if found:
                    marker = f"reply-marker-{kill}-{channel}"
                    desk.reply(rng.choice(found)[0], f"{marker} Ответ агента")
                    markers.append(marker)

        daemon = desk.start()
        wait_for(lambda: desk.inbound() == TOTAL and desk.pending_outbox() == 0,
                 150, "every message stored and every reply delivered")
        daemon.signal(signal.SIGTERM)
        assert daemon.finish() == 0, daemon.log[-3000:]
        desk.logs.append(daemon.log)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{desk.diagnosis()}\nlast daemon log:\n"
                             f"{daemon.log[-3000:] if daemon else ''}") from None
    finally:  # a failed wait must not leave a daemon running
        if daemon is not None and daemon.proc.poll() is None:
            daemon.kill()
    stored = desk.query("SELECT account, external_id FROM messages WHERE direction = 'in'")
    assert len(stored) == len(set(stored)), "a message was stored twice"
    assert {e for a, e in stored if a == "school"} == {
        f"crash-{n}@mail.example" for n in range(EMAILS)}
    assert len([1 for a, _ in stored if a == "bot"]) == UPDATES
    assert desk.query("SELECT DISTINCT state FROM outbox") == [("sent",)]

    delivered = Counter()
    for message in desk.smtp.messages:
        delivered.update(m for m in markers if m.encode() in message.data)
    for sent in desk.bot.sent:
        delivered.update(m for m in markers if m in sent.text)
    assert set(delivered) == set(markers), "a queued reply was never delivered"
    duplicates = sum(n - 1 for n in delivered.values())
    record_property("duplicate_sends", duplicates)
    print(f"\n{len(markers)} replies, {KILLS} kills (stored then: {at_kills}),"
          f" {duplicates} duplicate sends")
    assert duplicates <= KILLS
    store = Store(desk.db)
    assert store.integrity_problems() == []
    store.close()
    logs = "".join(desk.logs)
    assert PASSWORD not in logs and TOKEN not in logs


def test_secrets_stay_out_of_logs_and_check_output_when_logins_fail(desk, monkeypatch):
    monkeypatch.setenv("CRASH_IMAP_PASSWORD", "Wrong-Secret-Пароль-1234")
    monkeypatch.setenv("CRASH_BOT_TOKEN", "654321:WRONG-token-never-to-be-logged")
    config = str(desk.school.config)
    outputs = []
    for args in (["check", "--connect"], ["run", "--once"]):
        done = subprocess.run(
            [sys.executable, "-m", "inbox", "--config", config, "--log-level", "debug", *args],
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stdout + done.stderr
        outputs.append(done.stdout + done.stderr)
    text = "\n".join(outputs)
    assert "FAILED" in outputs[0]
    assert "Wrong-Secret-Пароль-1234" not in text
    assert "WRONG-token-never-to-be-logged" not in text
    assert "654321:" not in text


# -- a full disk ---------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs for the store; skipped where mounting is not allowed (unprivileged CI)."""
    mount_point = tmp_path / "state"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_is_reported_and_the_daemon_recovers_when_space_returns(
        school, small_disk):
    db = small_disk / "inbox.db"
    school.deliver(mail(message_id="before@mail.example"))
    daemon = DaemonProcess(school)
    try:
        wait_for(lambda: stored_count(db) == 1, 30, "the first mail stored")
        ballast = small_disk / "ballast"
        subprocess.run(["dd", "if=/dev/zero", f"of={ballast}", "bs=1M", "count=64"],
                       capture_output=True)  # fails when the disk is full: that is the point
        ids = {f"full-{n}@mail.example" for n in range(20)}
        for message_id in sorted(ids):
            school.deliver(mail(message_id=message_id, body="Длинное письмо " * 2000))
        daemon.wait_log("database or disk is full", timeout=30)
        assert daemon.proc.poll() is None, "the daemon died on a full disk"
        ballast.unlink()
        daemon.wait(lambda: stored_count(db) == 21, 30, "the mail stored once space returned")
        # Acknowledged at the source only after that commit: moved to cur/ a moment later.
        daemon.wait(lambda: not list((school.maildir / "new").iterdir()), 30,
                    "the stored mail acknowledged (moved to cur/)")
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()
    assert_intact_and_stored_once(db, ids | {"before@mail.example"})
    with sqlite3.connect(db) as conn:  # filed properly once space returned, not set aside
        assert conn.execute("SELECT count(*) FROM messages WHERE flags LIKE '%quarantined%'"
                            ).fetchone() == (0,)


def test_an_attachment_that_cannot_be_written_waits_for_space_and_is_filed_whole(
        school, small_disk):
    school.write(INBOX_TOML.replace('path = "{dir}/state/inbox.db"',
                                    'path = "{dir}/db/inbox.db"\n'
                                    'attachments = "{dir}/state/attachments"'))
    db = school.root / "db" / "inbox.db"
    ballast = small_disk / "ballast"
    subprocess.run(["dd", "if=/dev/zero", f"of={ballast}", "bs=1M", "count=64"],
                   capture_output=True)  # fills the attachments' disk
    letter = EmailMessage()
    letter["From"], letter["To"] = "Ольга <olga@mail.example>", "support@school.example"
    letter["Subject"], letter["Message-ID"] = "Справка", "<scan@mail.example>"
    letter.set_content("Справка во вложении.")
    scan = random.Random(7).randbytes(300_000)
    letter.add_attachment(scan, maintype="application", subtype="pdf", filename="справка.pdf")
    school.deliver(letter.as_bytes())
    daemon = DaemonProcess(school)
    try:
        daemon.wait_log(f"cannot write the store's attachments {small_disk / 'attachments'}",
                        timeout=30)
        assert daemon.proc.poll() is None, "the daemon died on a full attachments disk"
        assert stored_count(db) == 0 and len(list((school.maildir / "new").iterdir())) == 1
        ballast.unlink()
        daemon.wait(lambda: stored_count(db) == 1, 30, "the mail stored once space returned")
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()
    store = Store(db, small_disk / "attachments")
    try:
        [message] = store.messages(store.threads()[0].id)
        assert "quarantined" not in message.flags
        [attachment] = message.attachments
        assert store.attachment_data(attachment) == scan
    finally:
        store.close()


def assert_intact_and_stored_once(db: Path, message_ids: set[str]) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = [row[0] for row in conn.execute("SELECT external_id FROM messages")]
    assert sorted(stored) == sorted(message_ids)


# -- a read-only store ---------------------------------------------------------------------


def _immutable(paths: list[Path], on: bool) -> None:
    """chattr +i: a write fails even for root (chmod does not stop root; tests run as root)."""
    for path in paths:
        done = subprocess.run(["chattr", "+i" if on else "-i", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0 and on:
            _immutable(paths, False)
            pytest.skip(f"cannot make files immutable here: {done.stderr.strip()}")


@pytest.mark.slow
def test_a_store_that_turns_read_only_is_reported_and_the_daemon_recovers(school):
    state = school.root / "state"
    db = state / "inbox.db"
    school.deliver(mail(message_id="before@mail.example"))
    daemon = DaemonProcess(school)
    locked = [db, state / "inbox.db-wal", state]
    try:
        wait_for(lambda: stored_count(db) == 1, 30, "the first mail stored")
        _immutable(locked, True)
        try:
            ids = {f"ro-{n}@mail.example" for n in range(5)}
            for message_id in sorted(ids):
                school.deliver(mail(message_id=message_id))
            daemon.wait_log(f"cannot write the store {db} (disk I/O error)", timeout=30)
            assert daemon.proc.poll() is None, "the daemon died on a read-only store"
            assert len(list((school.maildir / "new").iterdir())) == 5, "acknowledged unstored mail"
            refused = school.cli("reply", "1", "--as", "boris", "-m", "Ответ", ok=False)
            assert refused.exit_code == 1
            assert refused.output.startswith(f"Error: cannot write the store {db} (")
            assert refused.output.endswith(" may write the file and its folder; nothing was"
                                           " changed\n")
        finally:
            _immutable(locked, False)
        daemon.wait(lambda: stored_count(db) == 6, 30, "the mail stored once writable again")
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()
    assert_intact_and_stored_once(db, ids | {"before@mail.example"})


@pytest.mark.slow
def test_a_reply_waiting_while_the_store_is_read_only_is_not_sent_until_it_can_be_recorded(
        school):
    """Sent but not marked sent, it would go out again at every flush: to one family, once
    every two seconds, for as long as the store stayed read-only (or its disk full)."""
    school.write(school.config.read_text() + "\n[outbox]\nfirst_retry_seconds = 1\n")
    state, sent = school.root / "state", school.root / "Sent"
    db = state / "inbox.db"
    school.deliver(mail())
    school.cli("run", "--once")
    school.cli("reply", "1", "--as", "boris", "-m", "Ответ один раз")
    sent.write_text("not a folder")  # the first attempt fails: the reply waits
    daemon = DaemonProcess(school)
    try:
        daemon.wait(lambda: _states(db) == ["retrying"], 30, "the reply waiting for a retry")
        _immutable([db, state / "inbox.db-wal", state], True)
        try:
            sent.unlink()  # the Maildir could take it now
            daemon.wait_log(f"outbox: cannot write the store {db} (", timeout=30)
            time.sleep(5)  # flushes come every 2 s
            assert not (sent / "new").exists() or list((sent / "new").iterdir()) == []
            status = school.cli("status", ok=False)
            assert status.exit_code == 1
            assert (f"store: {db} cannot be written (a read-only disk or file): nothing is"
                    " filed or sent until it can") in status.output
        finally:
            _immutable([db, state / "inbox.db-wal", state], False)
        daemon.wait(lambda: _states(db) == ["sent"], 30, "the reply sent once writable again")
        daemon.wait_log("outbox: the store can be written again; sending", timeout=10)
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()
    assert len(list((sent / "new").iterdir())) == 1
    assert daemon.log.count("outbox: cannot write the store") == 1


def _states(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM outbox WHERE kind = 'reply'")]


def test_a_lock_on_a_read_only_disk_says_read_only(small_disk, caplog):
    if subprocess.run(["mount", "-o", "remount,ro", str(small_disk)]).returncode != 0:
        pytest.skip("cannot remount the tmpfs read-only here")
    with caplog.at_level(logging.WARNING, logger="inbox.running"), \
            running.holding(small_disk / "inbox.db", "inbox run", "stop it"):
        pass
    assert caplog.messages == [f"cannot open {small_disk / 'inbox.db.lock'} (Read-only file"
                               " system): running without the one-daemon lock"]
