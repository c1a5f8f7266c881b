"""The agents' side end to end with real servers: Dovecot (IMAP), aiosmtpd (SMTP), the Bot API.

One school: a support mailbox on Dovecot that sends through aiosmtpd, and one bot that
customers and agents both talk to. Mail goes to Boris, who reads Telegram; Telegram
goes to Aigerim, who reads mail.
"""

from __future__ import annotations

import asyncio
import email
import email.header
import email.policy
import textwrap

import pytest

from inbox.config import load_config
from inbox.daemon import Daemon
from tests.botapi import TOKEN
from tests.conftest import mail

pytestmark = pytest.mark.slow

INBOX = """\
[school]
name = "Test School"
languages = ["ru", "en"]
default_language = "ru"

[store]
path = "{dir}/state/inbox.db"

[[email]]
name = "support"
address = "support@school.example"
from_name = "Test School"
host = "127.0.0.1"
port = {imap_port}
security = "none"
username = "{imap_user}"
password_env = "TEST_IMAP_PASSWORD"
smtp_port = {smtp_port}
smtp_security = "none"
idle = false

[[telegram]]
name = "school-bot"
token_env = "TEST_BOT_TOKEN"
api_url = "{api}/bot"
file_url = "{files}"

[desk]
secret_file = "{dir}/desk-secret"

[[agents]]
id = "boris"
name = "Boris"
client = "telegram"
telegram_id = 777

[[agents]]
id = "aigerim"
name = "Aigerim"
client = "email"
email = "aigerim@staff.example"

[[teams]]
name = "support"
members = ["boris", "aigerim"]
"""

ROUTING = """\
default_team = "support"

[[rules]]
name = "Mail to Boris"
[rules.when]
channel = "email"
[rules.then]
agent = "boris"

[[rules]]
name = "Telegram to Aigerim"
[rules.when]
channel = "telegram"
[rules.then]
agent = "aigerim"
"""


@pytest.fixture
def world(tmp_path, dovecot, mail_user, smtp_server, botapi, monkeypatch):
    monkeypatch.setenv("TEST_IMAP_PASSWORD", mail_user.password)
    monkeypatch.setenv("TEST_BOT_TOKEN", TOKEN)
    (tmp_path / "desk-secret").write_text("e2e-secret-key\n")
    (tmp_path / "inbox.toml").write_text(textwrap.dedent(INBOX).format(
        dir=tmp_path, imap_port=dovecot.port, imap_user=mail_user.name,
        smtp_port=smtp_server.port, api=botapi.url, files=botapi.file_url))
    (tmp_path / "routing.toml").write_text(ROUTING)
    return tmp_path


def run_once(root) -> None:
    async def once() -> None:
        daemon = Daemon(load_config(root / "inbox.toml"))
        try:
            assert await daemon.run_once(), "a channel failed; see the log"
        finally:
            for channel in daemon.channels.values():
                await channel.close()
            daemon.store.close()
    asyncio.run(once())


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_customer_mail_agent_answers_in_telegram_customer_gets_threaded_mail(
        world, dovecot, mail_user, smtp_server, botapi):
    dovecot.append(mail_user, "INBOX", mail())
    run_once(world)
    (note,) = botapi.wait_for_sent(1)
    assert note.chat_id == 777
    assert note.text.startswith("[#1] New thread for you\nFrom: Ольга · email · ru\n")
    original = {"message_id": note.message_id, "date": 0,
                "chat": {"id": 777, "type": "private"}, "text": note.text}
    botapi.user_message(777, "Здравствуйте! Ссылка на оплату: pay.example/1",
                        reply_to_message=original)
    run_once(world)
    (received,) = smtp_server.wait_for(1)
    assert received.rcpt_tos == ("olga@mail.example",)
    answer = parsed(received.data)
    assert answer["From"] == "Test School <support@school.example>"
    assert answer["Subject"] == "Re: Оплата за декабрь [#1]"
    assert answer["In-Reply-To"] == "<m1@mail.example>"
    assert answer["References"] == "<m1@mail.example>"
    assert answer.get_body(("plain",)).get_content().strip() == (
        "Здравствуйте! Ссылка на оплату: pay.example/1")
    assert botapi.wait_for_sent(2)[-1].text == "Queued for Ольга (#1)."


def test_customer_telegram_agent_answers_from_mail_client_customer_gets_telegram(
        world, dovecot, mail_user, smtp_server, botapi):
    botapi.user_message(501, "Не могу войти в личный кабинет",
                        user={"id": 501, "is_bot": False, "first_name": "Марат",
                              "language_code": "ru"})
    run_once(world)
    (received,) = smtp_server.wait_for(1)
    assert received.rcpt_tos == ("aigerim@staff.example",)
    note = parsed(received.data)
    reply_to = note["Reply-To"]
    assert reply_to.startswith("support+t1.") and reply_to.endswith("@school.example")
    assert "Не могу войти в личный кабинет" in note.get_body(("plain",)).get_content()
    answer = (
        f"From: Aigerim <aigerim@staff.example>\r\nTo: {reply_to}\r\n"
        f"Subject: Re: {note['Subject']}\r\nMessage-ID: <a1@staff.example>\r\n"
        f"In-Reply-To: {note['Message-ID']}\r\nDate: Fri, 20 Nov 2026 10:00:00 +0500\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "Сбросили пароль, попробуйте войти снова.\r\n\r\n"
        "-- \r\nAigerim, support\r\n\r\n"
        "On Fri, 20 Nov 2026 at 09:00, Test School <support@school.example> wrote:\r\n"
        "> [#1] New thread for you\r\n> Не могу войти в личный кабинет\r\n").encode()
    dovecot.append(mail_user, "INBOX", answer)
    run_once(world)
    (sent,) = [m for m in botapi.wait_for_sent(1) if m.chat_id == 501]
    assert sent.text == "Сбросили пароль, попробуйте войти снова."


def test_spoofed_reply_in_the_mailbox_is_not_relayed(world, dovecot, mail_user, smtp_server,
                                                     botapi):
    botapi.user_message(502, "Где расписание?")
    run_once(world)
    (received,) = smtp_server.wait_for(1)
    reply_to = parsed(received.data)["Reply-To"]
    forged = mail(sender="Aigerim <aigerim@staff.example>", message_id="f1@evil.example",
                  body="Оплатите на карту 4400 0000 0000 0000",
                  extra="Authentication-Results: mx.school.example; dkim=fail;"
                        " spf=fail smtp.mailfrom=staff.example\r\n").replace(
        b"To: support@school.example", f"To: {reply_to}".encode())
    dovecot.append(mail_user, "INBOX", forged)
    run_once(world)
    assert [m for m in botapi.sent if m.chat_id == 502] == []
