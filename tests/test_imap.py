"""The [[email]] channel's IMAP side against a real Dovecot: sync, cursor, IDLE, reconnects."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connectors.email import EmailChannel, create, settings
from connectors.imap import ImapError, ImapUnreachable, parse_ref
from inbox.channel import HEALTH_WARNING
from inbox.sections import Section
from tests.memory_state import MemoryState
from tests.servers.dovecot import Dovecot, MailUser

pytestmark = pytest.mark.anyio
WHERE = 'inbox.toml: email 1 "school"'


def message(number: int, subject: str = "Question") -> bytes:
    return (f"From: Parent {number} <parent{number}@example.org>\r\n"
            f"To: support@school.test\r\n"
            f"Subject: {subject} {number}\r\n"
            f"Message-ID: <q{number}@example.org>\r\n"
            f"Date: Mon, 2 Sep 2024 10:00:00 +0000\r\n\r\n"
            f"Message number {number}.\r\n").encode()


def read_settings(data: dict):
    problems: list[str] = []
    result = settings(Section(data, WHERE, problems))
    return result, problems


@pytest.fixture
def connect(tmp_path: Path, dovecot: Dovecot):
    """Build a channel for a user the way the daemon does: from a TOML table, via settings()."""
    channels: list[EmailChannel] = []

    def make(user: MailUser, state: MemoryState | None = None, server: Dovecot = dovecot,
             password: str | None = None, **keys) -> EmailChannel:
        table = {"name": "school", "address": "support@school.test", "host": server.host,
                 "port": server.port, "security": "none", "username": user.name,
                 "smtp_security": "none"} | keys
        if "oauth2_token_command" not in keys:
            secret = tmp_path / f"{user.name}.password"
            secret.write_text(user.password if password is None else password, encoding="utf-8")
            table["password_file"] = str(secret)
        parsed, problems = read_settings(table)
        assert problems == []
        channel = create(parsed, MemoryState() if state is None else state)
        channel.mailbox.retry_delays = (0.1, 0.2, 0.4)
        channels.append(channel)
        return channel

    yield make
    for channel in channels:
        channel.mailbox.close()


def subjects(items) -> list[str]:
    return [item.subject for item in items]


# -- settings -------------------------------------------------------------------------


def test_settings_defaults_are_implicit_tls_and_submission_with_starttls():
    parsed, problems = read_settings({"name": "school", "address": "Support@School.test",
                                      "host": "mail.school.test", "username": "support",
                                      "password_env": "MAIL_PASSWORD"})
    assert problems == []
    assert (parsed.imap.port, parsed.imap.security) == (993, "ssl")
    assert (parsed.smtp.host, parsed.smtp.port, parsed.smtp.security) == (
        "mail.school.test", 587, "starttls")
    assert parsed.smtp.username == "support"
    assert parsed.smtp.password == parsed.imap.password
    assert parsed.address == "support@school.test"
    assert (parsed.folders, parsed.after, parsed.batch_size, parsed.idle) == (
        ("INBOX",), "leave", 200, True)


def test_settings_refuse_plain_text_to_a_remote_server():
    _, problems = read_settings({"name": "school", "address": "support@school.test",
                                 "host": "mail.school.test", "security": "none",
                                 "username": "support", "password_env": "MAIL_PASSWORD"})
    assert problems == [
        f'{WHERE}: security = "none" sends the password unencrypted; it is allowed only for a'
        f" server on this machine (localhost, 127.0.0.1, ::1), not 'mail.school.test' — use"
        f' "ssl" or "starttls"']


def test_settings_name_each_problem():
    _, problems = read_settings({"name": "school", "address": "support", "host": "mail.test",
                                 "username": "support", "after": "move", "since": "2024-13-01",
                                 "smtp_port": 70000, "colour": "blue"})
    assert problems == [
        f"{WHERE}: address 'support' is not an email address (write e.g."
        ' "support@school.example")',
        f"{WHERE}: password_env, password_file or oauth2_token_command is required",
        f"{WHERE}: smtp_port must be at most 65535, not 70000",
        f'{WHERE}: after = "move" needs move_to = "the folder to move fetched mail to"',
        f"{WHERE}: since '2024-13-01' is not a date (YYYY-MM-DD)",
        f"{WHERE}: unknown key 'colour' (known keys: address, after, batch_size, ca_file,"
        " folders, from_name, host, idle, max_attachment_mb, move_to, name,"
        " oauth2_token_command, password_env, password_file, poll_interval, port, security,"
        " sent_folder, since, smtp_host, smtp_password_env, smtp_password_file, smtp_port,"
        " smtp_security, smtp_username, timeout, username)",
    ]


def test_source_ref_keeps_colons_in_folder_names():
    assert parse_ref("Support:Parents:1700000000:42") == ("Support:Parents", 1700000000, 42)


# -- sync -----------------------------------------------------------------------------


async def test_fetch_hands_out_mail_until_acked_then_only_newer(connect, dovecot, mail_user):
    dovecot.append(mail_user, "INBOX", message(1))
    dovecot.append(mail_user, "INBOX", message(2))
    state = MemoryState()
    channel = connect(mail_user, state)

    first = await channel.fetch()
    assert subjects(first) == ["Question 1", "Question 2"]
    validity = dovecot.uidvalidity(mail_user, "INBOX")
    assert [item.source_ref for item in first] == [f"INBOX:{validity}:1", f"INBOX:{validity}:2"]
    assert (first[0].channel, first[0].account, first[0].external_id) == (
        "email", "school", "q1@example.org")
    # Not acknowledged (the commit may have failed): handed out again, the cursor stays put.
    assert subjects(await channel.fetch()) == ["Question 1", "Question 2"]
    assert state == {}

    await channel.ack(first)
    assert state == {"INBOX:uidvalidity": str(validity), "INBOX:last_uid": "2"}
    assert await channel.fetch() == []
    dovecot.append(mail_user, "INBOX", message(3))
    assert subjects(await channel.fetch()) == ["Question 3"]


async def test_a_debug_log_never_holds_the_mail_it_fetched(connect, dovecot, mail_user, caplog):
    dovecot.append(mail_user, "INBOX", message(1))
    caplog.set_level(logging.DEBUG)  # imapclient's and imaplib's loggers included
    [item] = await connect(mail_user).fetch()
    assert item.text.strip() == "Message number 1."
    assert "Message number 1" not in caplog.text
    assert mail_user.password not in caplog.text


async def test_fetch_uses_arrival_time_and_leaves_mail_unseen(connect, dovecot, mail_user):
    arrived = datetime(2024, 9, 3, 8, 30, tzinfo=UTC)
    dovecot.seed(mail_user, "INBOX", [message(1)], received=arrived)
    channel = connect(mail_user)
    [item] = await channel.fetch()
    assert item.received_at == arrived
    await channel.ack([item])
    assert "\\Seen" not in dovecot.flags(mail_user, "INBOX")[1]


async def test_a_new_channel_with_the_same_state_fetches_only_new_mail(connect, dovecot,
                                                                       mail_user):
    state = MemoryState()
    dovecot.seed(mail_user, "INBOX", [message(1), message(2)])
    first = connect(mail_user, state)
    await first.ack(await first.fetch())
    await first.close()

    dovecot.append(mail_user, "INBOX", message(3))
    restarted = connect(mail_user, state)
    assert subjects(await restarted.fetch()) == ["Question 3"]


async def test_recreated_folder_is_fetched_again_from_the_start(connect, dovecot, mail_user,
                                                                caplog):
    dovecot.seed(mail_user, "Support", [message(1), message(2)])
    state = MemoryState()
    channel = connect(mail_user, state, folders=["Support"])
    await channel.ack(await channel.fetch())
    old = dovecot.uidvalidity(mail_user, "Support")

    dovecot.recreate_folder(mail_user, "Support")
    new = dovecot.uidvalidity(mail_user, "Support")
    with caplog.at_level(logging.WARNING, logger="connectors.imap"):
        again = await channel.fetch()
    assert subjects(again) == ["Question 1", "Question 2"]
    assert [item.source_ref for item in again] == [f"Support:{new}:1", f"Support:{new}:2"]
    assert caplog.messages == [
        f'email "school": Support has a new UIDVALIDITY ({new}, was {old}); resync: fetching'
        f" the whole folder again"]
    await channel.ack(again)
    assert state == {"Support:uidvalidity": str(new), "Support:last_uid": "2"}


async def test_a_recreated_empty_folder_is_resynced_once_not_at_every_start(
        connect, dovecot, mail_user, caplog):
    dovecot.seed(mail_user, "Support", [message(1)])
    state = MemoryState()
    channel = connect(mail_user, state, folders=["Support"])
    await channel.ack(await channel.fetch())
    dovecot.recreate_folder(mail_user, "Support")
    dovecot.doveadm("expunge", "-u", mail_user.name, "mailbox", "Support", "all")
    with caplog.at_level(logging.WARNING, logger="connectors.imap"):
        assert await channel.fetch() == []
        await channel.close()
        assert await connect(mail_user, state, folders=["Support"]).fetch() == []  # a restart
    assert len(caplog.messages) == 1
    new = dovecot.uidvalidity(mail_user, "Support")
    assert state == {"Support:uidvalidity": str(new), "Support:last_uid": "0"}
    dovecot.append(mail_user, "Support", message(2))
    assert subjects(await connect(mail_user, state, folders=["Support"]).fetch()) == [
        "Question 2"]


async def test_ack_of_mail_fetched_before_the_folder_was_recreated_marks_nothing(
        connect, dovecot, mail_user):
    dovecot.seed(mail_user, "Support", [message(1)])
    state = MemoryState()
    channel = connect(mail_user, state, folders=["Support"], after="seen")
    stale = await channel.fetch()
    dovecot.recreate_folder(mail_user, "Support")
    await channel.ack(stale)
    assert state == {}
    assert "\\Seen" not in dovecot.flags(mail_user, "Support")[1]


async def test_first_big_sync_comes_in_batches_and_skips_mail_before_since(
        connect, dovecot, mail_user, caplog):
    dovecot.seed(mail_user, "INBOX", (message(n, "Old") for n in range(1200)),
                 received=datetime(2023, 6, 1, 12, 0))
    dovecot.seed(mail_user, "INBOX", (message(n, "New") for n in range(1100)),
                 received=datetime(2024, 9, 2, 12, 0))
    channel = connect(mail_user, since="2024-09-01", batch_size=500)
    sizes = []
    with caplog.at_level(logging.INFO, logger="connectors.imap"):
        while batch := await channel.fetch():
            assert all(item.subject.startswith("New") for item in batch)
            sizes.append(len(batch))
            await channel.ack(batch)
    assert sizes == [500, 500, 100]
    assert caplog.messages == ['email "school": INBOX 500/1100', 'email "school": INBOX 1000/1100',
                               'email "school": INBOX 1100/1100']


async def test_batches_span_several_folders_in_order(connect, dovecot, mail_user):
    dovecot.seed(mail_user, "INBOX", [message(1), message(2)])
    dovecot.seed(mail_user, "Parents", [message(3), message(4)])
    channel = connect(mail_user, folders=["INBOX", "Parents"], batch_size=3)
    first = await channel.fetch()
    assert [item.source_ref.split(":")[0] for item in first] == ["INBOX", "INBOX", "Parents"]
    await channel.ack(first)
    assert subjects(await channel.fetch()) == ["Question 4"]


async def test_a_folder_deleted_in_webmail_is_skipped_and_inbox_still_read(
        connect, dovecot, mail_user, caplog):
    dovecot.seed(mail_user, "INBOX", [message(1)])
    state = MemoryState()
    channel = connect(mail_user, state, folders=["Gone", "INBOX"], poll_interval=1)
    first = await channel.fetch()
    assert subjects(first) == ["Question 1"]
    assert "folder 'Gone' does not exist" in caplog.text
    assert state[HEALTH_WARNING] == ("folder 'Gone' not found at 127.0.0.1:"
                                     f"{dovecot.port}: not read (fix folders in inbox.toml)")
    await channel.ack(first)
    assert await channel.fetch(wait=1.5) == []  # no IDLE on the missing first folder: polls
    dovecot.seed(mail_user, "INBOX", [message(2)])
    assert subjects(await channel.fetch(wait=5)) == ["Question 2"]
    dovecot.create_folder(mail_user, "Gone")  # the admin puts it back
    await channel.close()
    again = await connect(mail_user, state, folders=["Gone", "INBOX"]).fetch()
    assert subjects(again) == ["Question 2"]  # fetched before, never acknowledged
    assert HEALTH_WARNING not in state


# -- after = seen / move --------------------------------------------------------------


async def test_after_seen_marks_only_acknowledged_mail(connect, dovecot, mail_user):
    dovecot.seed(mail_user, "INBOX", [message(1), message(2)])
    channel = connect(mail_user, after="seen")
    items = await channel.fetch()
    assert not any("\\Seen" in flags for flags in dovecot.flags(mail_user, "INBOX").values())
    await channel.ack(items[:1])
    flags = dovecot.flags(mail_user, "INBOX")
    assert ("\\Seen" in flags[1], "\\Seen" in flags[2]) == (True, False)


async def test_after_move_moves_only_acknowledged_mail_and_is_safe_to_repeat(
        connect, dovecot, mail_user):
    dovecot.seed(mail_user, "INBOX", [message(1), message(2)])
    state = MemoryState()
    channel = connect(mail_user, state, after="move", move_to="Done")
    items = await channel.fetch()
    assert dovecot.status(mail_user, "INBOX")["messages"] == 2
    await channel.ack(items)
    await channel.ack(items)
    assert dovecot.status(mail_user, "INBOX")["messages"] == 0
    assert dovecot.status(mail_user, "Done")["messages"] == 2
    assert state["INBOX:last_uid"] == "2"
    dovecot.append(mail_user, "INBOX", message(3))
    assert subjects(await channel.fetch()) == ["Question 3"]


# -- waiting: IDLE and polling --------------------------------------------------------


async def test_idle_returns_soon_after_new_mail_arrives(connect, dovecot, mail_user):
    channel = connect(mail_user)
    waiting = asyncio.create_task(channel.fetch(wait=10))
    await asyncio.to_thread(dovecot.wait_until_idle, mail_user)
    delivered = time.monotonic()
    await asyncio.to_thread(dovecot.append, mail_user, "INBOX", message(1))
    items = await asyncio.wait_for(waiting, 5)
    assert subjects(items) == ["Question 1"]
    # Dovecot announces a change ~0.5 s after it happened.
    assert time.monotonic() - delivered < 1.5


@pytest.mark.slow
async def test_without_idle_a_wait_polls_the_folder(connect, dovecot, mail_user):
    channel = connect(mail_user, idle=False, poll_interval=1)
    started = time.monotonic()
    assert await channel.fetch(wait=1.2) == []
    assert 1.0 <= time.monotonic() - started < 3
    assert not dovecot.idling(mail_user)
    threading.Timer(0.3, dovecot.append, (mail_user, "INBOX", message(1))).start()
    assert subjects(await channel.fetch(wait=5)) == ["Question 1"]


@pytest.mark.slow
async def test_close_ends_a_waiting_fetch(connect, dovecot, mail_user):
    channel = connect(mail_user)
    waiting = asyncio.create_task(channel.fetch(wait=30))
    await asyncio.to_thread(dovecot.wait_until_idle, mail_user)
    started = time.monotonic()
    await channel.close()
    assert await asyncio.wait_for(waiting, 5) == []
    assert time.monotonic() - started < 1.5
    assert not dovecot.idling(mail_user)


# -- failures -------------------------------------------------------------------------


@pytest.mark.slow
async def test_sync_survives_a_server_restart_between_batches(connect, private_dovecot):
    user = private_dovecot.add_user()
    private_dovecot.seed(user, "INBOX", [message(n) for n in range(1, 6)])
    channel = connect(user, server=private_dovecot, batch_size=2)
    await channel.ack(await channel.fetch())

    private_dovecot.stop()
    private_dovecot.start()
    second = await channel.fetch()
    assert subjects(second) == ["Question 3", "Question 4"]
    await channel.ack(second)

    # Down while the channel tries: the backoff outlasts a short outage.
    private_dovecot.stop()
    threading.Timer(0.2, private_dovecot.start).start()
    assert subjects(await channel.fetch()) == ["Question 5"]


@pytest.mark.slow
async def test_restart_during_idle_reconnects_and_still_sees_new_mail(connect, private_dovecot):
    user = private_dovecot.add_user()
    channel = connect(user, server=private_dovecot)
    waiting = asyncio.create_task(channel.fetch(wait=15))
    await asyncio.to_thread(private_dovecot.wait_until_idle, user)
    await asyncio.to_thread(private_dovecot.stop)
    await asyncio.to_thread(private_dovecot.start)
    await asyncio.to_thread(private_dovecot.wait_until_idle, user)
    await asyncio.to_thread(private_dovecot.append, user, "INBOX", message(1))
    assert subjects(await asyncio.wait_for(waiting, 5)) == ["Question 1"]


@pytest.mark.slow
async def test_an_unreachable_server_is_a_clear_error(connect, private_dovecot):
    user = private_dovecot.add_user()
    channel = connect(user, server=private_dovecot)
    private_dovecot.stop()
    with pytest.raises(ImapUnreachable) as failure:
        await channel.fetch()
    assert str(failure.value) == (
        f'email "school": cannot connect to 127.0.0.1:{private_dovecot.port}:'
        f" [Errno 111] Connection refused")


async def test_wrong_password_names_the_account_and_never_the_password(connect, dovecot,
                                                                       mail_user):
    channel = connect(mail_user, password="not-the-password-42")
    with pytest.raises(ImapError) as failure:
        await channel.fetch()
    assert str(failure.value) == (
        f"email \"school\": login as '{mail_user.name}' at 127.0.0.1:{dovecot.port} failed:"
        f" [AUTHENTICATIONFAILED] Authentication failed.")
    assert "not-the-password-42" not in str(failure.value)


# -- authentication and TLS -----------------------------------------------------------


async def test_cyrillic_password_logs_in(connect, dovecot):
    user = dovecot.add_user(password="пароль-Ёжик-2024")
    dovecot.append(user, "INBOX", message(1))
    assert subjects(await connect(user).fetch()) == ["Question 1"]


async def test_oauth2_token_from_a_command_logs_in(connect, dovecot, tmp_path):
    # Dovecot's passwd-file passdb checks an XOAUTH2 token as the password.
    user = dovecot.add_user()
    token = tmp_path / "token"
    token.write_text(user.password + "\n", encoding="utf-8")
    dovecot.append(user, "INBOX", message(1))
    channel = connect(user, oauth2_token_command=f"cat {token}")
    assert channel.settings.imap.password is None
    assert subjects(await channel.fetch()) == ["Question 1"]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_tls_with_the_schools_own_ca(connect, dovecot_tls, security):
    user = dovecot_tls.add_user()
    dovecot_tls.append(user, "INBOX", message(1))
    port = dovecot_tls.tls_port if security == "ssl" else dovecot_tls.port
    channel = connect(user, server=dovecot_tls, security=security, port=port,
                      ca_file=str(dovecot_tls.cafile))
    assert subjects(await channel.fetch()) == ["Question 1"]
    summary = await asyncio.to_thread(channel.mailbox.check)
    assert summary == (f"imap 127.0.0.1:{port} ({security}) as {user.name}: "
                       f"INBOX 1 messages; IDLE")


async def test_tls_refuses_an_untrusted_certificate(connect, dovecot_tls):
    user = dovecot_tls.add_user()
    channel = connect(user, server=dovecot_tls, security="ssl", port=dovecot_tls.tls_port)
    with pytest.raises(ImapError) as failure:
        await channel.fetch()
    assert str(failure.value) == (
        f'email "school": the TLS certificate of 127.0.0.1:{dovecot_tls.tls_port} is not trusted'
        f" (self-signed certificate); if the server uses its own CA, set ca_file")


@pytest.mark.parametrize("written", ["2024-09-01", date(2024, 9, 1)])
def test_since_is_a_date_written_as_a_string_or_a_toml_date(written):
    parsed, problems = read_settings({"name": "s", "address": "a@b.c", "host": "h",
                                      "username": "u", "password_env": "P", "since": written})
    assert (parsed.since, problems) == (date(2024, 9, 1), [])


def test_an_empty_folder_list_is_refused():
    _, problems = read_settings({"name": "s", "address": "a@b.c", "host": "h", "username": "u",
                                 "password_env": "P", "folders": []})
    assert problems == [f'{WHERE}: folders is empty: name at least one folder to read'
                        ' (["INBOX"])']
