"""Email end to end through the daemon: real Dovecot in, real SMTP (aiosmtpd) out.

A customer's mail is delivered into Dovecot, ``Daemon.run_once()`` files and routes it,
an agent answers with ``inbox reply``, the next pass sends the answer over SMTP, and the
customer's answer to that comes back into the same thread. Around that round trip: a
restart stores nothing twice, ``after = "seen"`` marks only committed mail, automatic
mail is recognised, and the whole public corpus goes through without a crash.
"""

from __future__ import annotations

import email
import hashlib
import json
import re
from email.policy import default as default_policy
from email.utils import parseaddr
from pathlib import Path

import pytest

from connectors.mime import parse_email
from inbox.config import load_config
from inbox.daemon import Daemon, close_channels
from inbox.model import DeliveryState, Direction, Flag
from inbox.pipeline import IngestReport
from tests.conftest import SHARED, School, mail
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.anyio
CORPUS = SHARED / "corpus" / "email"
CUSTOMER = "olga@mail.example"

EMAIL_TOML = """\
[school]
name = "Test School"
languages = ["ru", "en"]
default_language = "ru"

[store]
path = "{dir}/state/inbox.db"

[[email]]
name = "school"
address = "support@school.example"
from_name = "Test School"
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{user}"
password_file = "{dir}/imap-password"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "none"
after = "seen"
idle = false

[[agents]]
id = "boris"
name = "Boris"
languages = ["ru", "en"]

[[teams]]
name = "support"
members = ["boris"]
"""


class Desk:
    """A school whose one ``[[email]]`` account is a Dovecot user, answering via aiosmtpd."""

    def __init__(self, root: Path, dovecot: Dovecot, user: MailUser, smtp: SmtpServer):
        self.dovecot, self.user, self.smtp = dovecot, user, smtp
        self.school = School(root)
        (root / "imap-password").write_text(user.password, encoding="utf-8")
        self.school.write(EMAIL_TOML.replace("{imap_port}", str(dovecot.port))
                          .replace("{smtp_port}", str(smtp.port)).replace("{user}", user.name))
        self.daemon: Daemon | None = None
        self.reports: list[IngestReport] = []

    def deliver(self, raw: bytes) -> None:
        self.dovecot.append(self.user, "INBOX", raw)

    def start(self) -> Daemon:
        if self.daemon is None:
            self.daemon = Daemon(load_config(self.school.config))
            self.daemon.channels["school"].mailbox.retry_delays = (0.1,)
            self.daemon.on_ingest.append(lambda _name, report: self.reports.append(report))
        return self.daemon

    async def run_once(self) -> list[IngestReport]:
        """One pass of the daemon; the reports of the batches it filed (none: nothing new)."""
        self.reports = []
        assert await self.start().run_once(), "run_once reported an unhealthy channel"
        return self.reports

    async def stop(self) -> None:
        if self.daemon is not None:
            await close_channels(self.daemon.channels)
            self.daemon.store.close()
            self.daemon = None

    @property
    def store(self):
        return self.start().store

    def only_thread(self):
        threads = self.store.threads()
        assert len(threads) == 1, [t.subject for t in threads]
        return threads[0]

    def seen(self) -> dict[int, bool]:
        return {uid: "\\Seen" in flags
                for uid, flags in self.dovecot.flags(self.user, "INBOX").items()}


@pytest.fixture
async def desk(tmp_path, dovecot, mail_user, smtp_server):
    desk = Desk(tmp_path, dovecot, mail_user, smtp_server)
    yield desk
    await desk.stop()


def stored(reports: list[IngestReport]) -> int:
    return sum(r.stored for r in reports)


async def answered_thread(desk: Desk) -> tuple[int, int, email.message.EmailMessage]:
    """A customer question, filed, answered by an agent and sent.

    Returns the thread id, the reply's outbox id and the mail the customer received.
    """
    desk.deliver(mail(subject="Оплата за декабрь", message_id="q1@mail.example",
                      sender=f"Ольга <{CUSTOMER}>"))
    assert stored(await desk.run_once()) == 1
    thread = desk.only_thread()
    done = desk.school.cli("reply", str(thread.id), "--as", "boris", "-m",
                           "Здравствуйте! Счёт отправлен на почту.")
    queued = re.fullmatch(rf"reply to #{thread.id} queued \(outbox (\d+)\); "
                          r"the daemon delivers it\n", done.output)
    assert queued, done.output
    await desk.run_once()
    # Only a person's answer lacks Auto-Submitted (an auto-acknowledgement may be there too).
    ours = [parsed for parsed in received_by(desk, CUSTOMER) if parsed["Auto-Submitted"] is None]
    assert len(ours) == 1
    return thread.id, int(queued.group(1)), ours[0]


def received_by(desk: Desk, address: str) -> list[email.message.EmailMessage]:
    """Every mail the SMTP server accepted for ``address``, parsed."""
    return [email.message_from_bytes(m.data, policy=default_policy)
            for m in desk.smtp.messages if m.rcpt_tos == (address,)]


async def test_round_trip_customer_mail_agent_reply_over_smtp_and_the_answer_threads_back(desk):
    thread_id, _, sent = await answered_thread(desk)

    assert parseaddr(sent["From"]) == ("Test School", "support@school.example")
    assert parseaddr(sent["To"])[1] == CUSTOMER
    assert sent["In-Reply-To"] == "<q1@mail.example>"
    assert sent["References"] == "<q1@mail.example>"
    assert sent["Subject"] == f"Re: Оплата за декабрь [#{thread_id}]"
    assert sent["Auto-Submitted"] is None  # a person's answer, not automatic mail
    assert "Счёт отправлен на почту." in sent.get_body(("plain",)).get_content()
    ours = sent["Message-ID"]
    out = [m for m in desk.store.messages(thread_id) if m.direction is Direction.OUT]
    assert [m.delivery for m in out] == ["sent"]

    desk.deliver(mail(subject=f"Re: Оплата за декабрь [#{thread_id}]",
                      message_id="q2@mail.example", sender=f"Ольга <{CUSTOMER}>",
                      body="Спасибо, получила.",
                      extra=f"In-Reply-To: {ours}\r\nReferences: <q1@mail.example> {ours}\r\n"))
    assert stored(await desk.run_once()) == 1

    thread = desk.only_thread()
    assert thread.id == thread_id and thread.messages == 3
    directions = [m.direction for m in desk.store.messages(thread_id)]
    assert directions == [Direction.IN, Direction.OUT, Direction.IN]
    assert desk.store.messages(thread_id)[-1].text.strip() == "Спасибо, получила."


async def test_customer_answer_with_only_our_message_id_in_references_threads_back(desk):
    thread_id, _, sent = await answered_thread(desk)
    desk.deliver(mail(subject="Ещё вопрос", message_id="q3@mail.example",
                      sender=f"Ольга <{CUSTOMER}>", extra=f"References: {sent['Message-ID']}\r\n"))
    await desk.run_once()
    assert desk.only_thread().id == thread_id
    assert desk.only_thread().messages == 3


async def test_restart_stores_nothing_twice_and_refetched_mail_is_recognised(desk):
    for number in range(3):
        desk.deliver(mail(message_id=f"r{number}@mail.example", body=f"Вопрос {number}"))
    assert stored(await desk.run_once()) == 3
    await desk.stop()

    assert await desk.run_once() == []  # a restart: nothing new, nothing fetched

    # A crash after the commit but before the cursor moved: the same mail comes again.
    desk.store.sync_state("school").set("INBOX:last_uid", "0")
    await desk.stop()
    again = await desk.run_once()
    assert (stored(again), sum(r.duplicates for r in again)) == (0, 3)
    assert len(desk.store.threads()) == 3


async def test_after_seen_flags_only_mail_the_store_has_committed(desk):
    desk.deliver(mail(message_id="s1@mail.example"))
    desk.deliver(mail(message_id="s2@mail.example"))
    channel = desk.start().channels["school"]

    batch = await channel.fetch()  # fetched with BODY.PEEK: the server marks nothing
    assert len(batch) == 2 and desk.seen() == {1: False, 2: False}
    desk.start().pipeline.ingest(batch[:1])  # committed, but the daemon died before ack
    assert desk.seen() == {1: False, 2: False}

    reports = await desk.run_once()
    assert (stored(reports), sum(r.duplicates for r in reports)) == (1, 1)
    assert desk.seen() == {1: True, 2: True}

    desk.deliver(mail(message_id="s3@mail.example"))  # arrives after the pass
    assert desk.seen() == {1: True, 2: True, 3: False}


async def test_out_of_office_reply_is_stored_flagged_automatic_and_never_answered(desk):
    thread_id, _, sent = await answered_thread(desk)
    before = len(desk.smtp.messages)
    desk.deliver(mail(subject="Автоответ: Re: Оплата за декабрь", message_id="oof@mail.example",
                      sender=f"Ольга <{CUSTOMER}>", body="Я в отпуске до 1 декабря.",
                      extra="Auto-Submitted: auto-replied\r\n"
                            f"In-Reply-To: {sent['Message-ID']}\r\n"))
    await desk.run_once()

    message = desk.store.messages(thread_id)[-1]
    assert message.text.strip() == "Я в отпуске до 1 декабря."
    assert Flag.AUTOMATIC in message.flags
    assert len(desk.smtp.messages) == before  # never answered


def bounce_for(message_id: str, action: str = "failed", status: str = "5.1.1") -> bytes:
    """A Postfix-style delivery status notification (RFC 3464) for one of our messages."""
    return (
        "From: MAILER-DAEMON@mx.mail.example (Mail Delivery System)\r\n"
        "To: support@school.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@mx.mail.example>\r\n"
        "Date: Fri, 20 Nov 2026 09:05:00 +0500\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        f"<{CUSTOMER}>: host mx.mail.example said: 550 5.1.1 User unknown\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.mail.example\r\n\r\n"
        f"Final-Recipient: rfc822; {CUSTOMER}\r\nAction: {action}\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Test School <support@school.example>\r\nTo: {CUSTOMER}\r\n"
        f"Message-ID: {message_id}\r\nSubject: Re: Оплата за декабрь\r\n"
        "\r\n--B--\r\n"
    ).encode()


async def test_bounce_for_our_reply_marks_that_outbox_entry_failed_on_its_thread(desk):
    thread_id, outbox_id, sent = await answered_thread(desk)
    before = len(desk.smtp.messages)
    desk.deliver(bounce_for(sent["Message-ID"]))
    await desk.run_once()

    assert [t.id for t in desk.store.threads()] == [thread_id]  # no thread for the daemon
    bounce = desk.store.messages(thread_id)[-1]
    assert {Flag.BOUNCE, Flag.AUTOMATIC} <= set(bounce.flags)
    assert desk.store.outbound(outbox_id).state is DeliveryState.FAILED
    failed = [e.detail for e in desk.store.events(thread_id) if e.action == "delivery-failed"]
    assert failed == [{"outbox": outbox_id, "error": ("bounced: olga@mail.example: 5.1.1"
                                                     " (smtp; 550 5.1.1 User unknown)"),
                       "bounce": True}]
    assert len(desk.smtp.messages) == before  # never answered


async def test_an_answer_to_outlook_continues_its_conversation_with_one_re_and_our_token(desk):
    outlook = "AdtBmR7QAAECAwQFBgcICQoLDA0ODw=="
    desk.deliver(mail(subject="RE: AW: Fwd: Справка для бассейна", message_id="o1@mail.example",
                      sender=f"Ольга <{CUSTOMER}>", extra=f"Thread-Index: {outlook}\r\n"))
    await desk.run_once()
    thread = desk.only_thread()
    desk.school.cli("reply", str(thread.id), "--as", "boris", "-m", "Справку принесите.")
    await desk.run_once()
    (answer,) = [m for m in received_by(desk, CUSTOMER) if m["Auto-Submitted"] is None]
    assert answer["Subject"] == f"Re: Справка для бассейна [#{thread.id}]"
    assert answer["Thread-Index"].startswith(outlook[:28])  # the customer's header block


async def test_a_delay_report_joins_the_replys_thread_and_does_not_mark_it_failed(desk):
    thread_id, outbox_id, sent = await answered_thread(desk)
    desk.deliver(bounce_for(sent["Message-ID"], action="delayed", status="4.4.7"))
    await desk.run_once()

    assert [t.id for t in desk.store.threads()] == [thread_id]
    assert Flag.BOUNCE in desk.store.messages(thread_id)[-1].flags  # a DSN all the same
    assert desk.store.outbound(outbox_id).state is DeliveryState.SENT  # the server still tries
    assert not [e for e in desk.store.events(thread_id) if e.action == "delivery-failed"]


def as_imap_serves(raw: bytes) -> bytes:
    """What FETCH BODY[] gives for a file: lines end in CRLF and, as RFC 3501 forbids NUL
    in a literal, Dovecot sends each NUL byte as 0x80 (a binary UTF-16 part has some)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n").replace(b"\0", b"\x80")


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared email corpus not present")
async def test_whole_public_corpus_is_ingested_from_imap_without_a_crash_raw_bytes_kept(desk):
    files = [path.read_bytes() for path in sorted(CORPUS.glob("**/*.eml"))]
    assert desk.dovecot.seed(desk.user, "INBOX", files) == len(files)
    raws = [as_imap_serves(raw) for raw in files]
    # The store keeps one message per (Message-ID, else a hash of the bytes; content
    # fingerprint): files with one Message-ID and the same From, Subject, Date and body are
    # one message, whichever of them Dovecot served first; a different body is another.
    versions: dict[tuple[str, str], set[str]] = {}
    for raw in raws:
        parsed = parse_email(raw, account="school")
        versions.setdefault((parsed.external_id, parsed.meta.get("content", "")), set()).add(
            hashlib.sha256(raw).hexdigest())

    reports = await desk.run_once()

    assert (sum(r.quarantined for r in reports), sum(r.claimed for r in reports)) == (0, 0)
    assert stored(reports) == len(versions)
    kept = {}
    for thread in desk.store.threads():
        for message in desk.store.messages(thread.id):
            content = desk.store.message_meta(message.id).get("content", "")
            external_id = (message.external_id.removesuffix(f"~{content}") if content
                           else message.external_id)
            kept[external_id, content] = hashlib.sha256(desk.store.raw(message.id)).hexdigest()
    assert kept.keys() == versions.keys()
    assert [key for key, digest in kept.items() if digest not in versions[key]] == []
    assert all(desk.seen().values())


async def test_html_only_mail_keeps_backslashes_and_line_leading_numbers_as_written(desk):
    html = ("<html><body><p>Папка \\\\fileserver\\new_projects\\12 не открывается,\n"
            "ошибка\n500. Лог: C:\\Users\\olga\\report_1.txt</p></body></html>")
    desk.deliver(mail(message_id="h1@mail.example", body=html).replace(
        b"text/plain", b"text/html"))
    await desk.run_once()

    text = desk.store.messages(desk.only_thread().id)[0].text
    assert " ".join(text.split()) == ("Папка \\\\fileserver\\new_projects\\12 не открывается, "
                                      "ошибка 500. Лог: C:\\Users\\olga\\report_1.txt")


async def test_a_configured_folder_that_does_not_exist_makes_status_unhealthy_until_it_does(desk):
    desk.school.write(desk.school.config.read_text().replace(
        "idle = false", 'idle = false\nfolders = ["Parents", "INBOX"]'))
    desk.deliver(mail())
    assert stored(await desk.run_once()) == 1  # INBOX is still read
    status = desk.school.cli("status", "--json", ok=False)
    assert status.exit_code == 1
    problem = (f"email 'school': folder 'Parents' not found at 127.0.0.1:{desk.dovecot.port}:"
               " not read (fix folders in inbox.toml)")
    assert json.loads(status.output)["problems"] == [problem]
    desk.dovecot.create_folder(desk.user, "Parents")
    await desk.run_once()
    assert json.loads(desk.school.cli("status", "--json").output)["channels"][0]["warning"] == ""
