"""The [[email]] channel's sending side against a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from imapclient import IMAPClient

from connectors.email import EmailChannel, create, settings
from inbox.channel import Delivery
from inbox.model import Outbound
from inbox.sections import Section
from tests.memory_state import MemoryState
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp import SmtpServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def connect(tmp_path: Path):
    """A channel whose SMTP side points at ``server``; IMAP at a Dovecot user when given."""

    def make(server: SmtpServer, *, imap: tuple[Dovecot, MailUser] | None = None,
             smtp_password: str = "", **keys) -> EmailChannel:
        dovecot, user = imap if imap else (None, None)
        imap_secret = tmp_path / "imap.password"
        imap_secret.write_text(user.password if user else "unused", encoding="utf-8")
        table = {"name": "school", "address": "support@school.test", "from_name": "School Support",
                 "host": dovecot.host if dovecot else "127.0.0.1",
                 "port": dovecot.port if dovecot else 1, "security": "none",
                 "username": user.name if user else "support",
                 "password_file": str(imap_secret),
                 "smtp_port": server.port, "smtp_security": "none"} | keys
        if smtp_password:
            smtp_secret = tmp_path / "smtp.password"
            smtp_secret.write_text(smtp_password, encoding="utf-8")
            table["smtp_password_file"] = str(smtp_secret)
        problems: list[str] = []
        parsed = settings(Section(table, 'inbox.toml: email 1 "school"', problems))
        assert problems == []
        return create(parsed, MemoryState())

    return make


def reply(**fields) -> Outbound:
    values = {"id": 7, "channel": "email", "account": "school",
              "recipient": "Анна Петрова <anna@example.org>", "subject": "Re: Расписание [#42]",
              "text": "Здравствуйте! Занятия начинаются в 9:00.",
              "headers": {"Message-ID": "<r42.1@school.test>",
                          "In-Reply-To": "<q1@example.org>",
                          "References": "<q0@example.org> <q1@example.org>"}} | fields
    return Outbound(**values)


def parsed(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)


async def test_reply_leaves_with_threading_headers(connect, smtp_server):
    delivery = await connect(smtp_server).send(reply())
    assert delivery == Delivery(ok=True, external_id="r42.1@school.test")
    [received] = smtp_server.wait_for(1)
    assert (received.mail_from, received.rcpt_tos) == ("support@school.test",
                                                       ("anna@example.org",))
    message = parsed(received.data)
    assert message["From"].addresses[0].addr_spec == "support@school.test"
    assert message["From"].addresses[0].display_name == "School Support"
    assert message["To"].addresses[0].addr_spec == "anna@example.org"
    assert message["Subject"] == "Re: Расписание [#42]"
    assert message["Message-ID"] == "<r42.1@school.test>"
    assert message["In-Reply-To"] == "<q1@example.org>"
    assert message["References"].split() == ["<q0@example.org>", "<q1@example.org>"]
    assert message.get("Auto-Submitted", "no") == "no"
    body = message.get_body(("plain",)).get_content()
    assert body.strip() == "Здравствуйте! Занятия начинаются в 9:00."


async def test_automatic_mail_says_so(connect, smtp_server):
    await connect(smtp_server).send(reply(kind="auto", headers={}))
    [received] = smtp_server.wait_for(1)
    assert parsed(received.data)["Auto-Submitted"].startswith("auto-")


async def test_a_message_id_is_made_when_the_outbox_has_none(connect, smtp_server):
    delivery = await connect(smtp_server).send(reply(headers={}))
    [received] = smtp_server.wait_for(1)
    assert delivery.ok
    assert delivery.external_id.endswith("@school.test")
    assert parsed(received.data)["Message-ID"] == f"<{delivery.external_id}>"


async def test_temporary_refusal_is_retried_later(connect, smtp_server):
    smtp_server.fail_next("451 4.3.0 Mailbox busy, try later")
    delivery = await connect(smtp_server).send(reply())
    assert delivery == Delivery(
        ok=False, permanent=False,
        error=f'email "school": 127.0.0.1:{smtp_server.port} refused the message:'
              f" 451 4.3.0 Mailbox busy, try later")
    assert smtp_server.messages == []


async def test_permanent_refusal_carries_the_servers_words(connect, smtp_server):
    smtp_server.fail_next("550 5.1.1 No such user here")
    delivery = await connect(smtp_server).send(reply())
    assert delivery == Delivery(
        ok=False, permanent=True,
        error=f'email "school": 127.0.0.1:{smtp_server.port} refused the message:'
              f" 550 5.1.1 No such user here")


async def test_unreachable_server_is_temporary(connect, smtp_server):
    channel = connect(smtp_server)
    smtp_server.stop()
    delivery = await channel.send(reply())
    assert (delivery.ok, delivery.permanent) == (False, False)
    assert delivery.error == (f'email "school": cannot send via 127.0.0.1:{smtp_server.port}:'
                              f" [Errno 111] Connection refused")


async def test_starttls_and_login_with_a_cyrillic_password(connect, smtp_server_tls):
    channel = connect(smtp_server_tls, smtp_security="starttls", smtp_username="support",
                      smtp_password="пароль-smtp", ca_file=str(smtp_server_tls.cafile))
    assert (await channel.send(reply())).ok
    [received] = smtp_server_tls.wait_for(1)
    assert received.login == "support"


async def test_wrong_smtp_password_keeps_the_reply_queued_and_hides_the_password(
        connect, smtp_server_tls):
    channel = connect(smtp_server_tls, smtp_security="starttls", smtp_username="support",
                      smtp_password="wrong-secret-99", ca_file=str(smtp_server_tls.cafile))
    delivery = await channel.send(reply())
    assert (delivery.ok, delivery.permanent) == (False, False)
    assert delivery.error == (
        f"email \"school\": login as 'support' at 127.0.0.1:{smtp_server_tls.port} failed:"
        f" 535 5.7.8 Authentication credentials invalid")
    assert "wrong-secret-99" not in delivery.error


async def test_sent_folder_gets_a_copy_of_what_customers_get_only(connect, smtp_server, dovecot,
                                                                  mail_user):
    channel = connect(smtp_server, imap=(dovecot, mail_user), sent_folder="Sent")
    notification = reply(kind="notification", recipient="boris@school.test",
                         subject="[#42] New thread for you", headers={})
    assert (await channel.send(notification)).ok  # internal: not for the school's Sent
    assert (await channel.send(reply())).ok
    [_, received] = smtp_server.wait_for(2)
    assert "\\Seen" in dovecot.flags(mail_user, "Sent")[1]
    with IMAPClient(dovecot.host, dovecot.port, ssl=False) as client:
        client.login(mail_user.name, mail_user.password)
        client.select_folder("Sent", readonly=True)
        assert client.fetch([1], ["BODY.PEEK[]"])[1][b"BODY[]"] == received.data


async def test_check_connect_logs_in_to_both_servers(connect, smtp_server_tls, dovecot,
                                                     mail_user):
    channel = connect(smtp_server_tls, imap=(dovecot, mail_user), smtp_security="starttls",
                      smtp_username="support", smtp_password="пароль-smtp",
                      ca_file=str(smtp_server_tls.cafile))
    assert await channel.check_connect() == (
        f"imap 127.0.0.1:{dovecot.port} (none) as {mail_user.name}: INBOX 0 messages; IDLE;"
        f" smtp 127.0.0.1:{smtp_server_tls.port} (starttls) as support")
