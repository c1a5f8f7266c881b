"""The Telegram channel against the loopback Bot API server, through python-telegram-bot."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace

import pytest
from telegram.error import InvalidToken

from connectors import telegram, telegram_channel
from connectors.telegram_limits import SendLimiter, split_text
from inbox.channel import Channel
from inbox.model import Attachment, Flag, Identity, Outbound
from inbox.secrets import Secret
from inbox.sections import Section
from tests.botapi import BotApiServer
from tests.memory_state import MemoryState

TOKEN_ENV = "SCHOOL_INBOX_TEST_TELEGRAM_TOKEN"
USER = {"id": 501, "is_bot": False, "first_name": "Aigerim", "last_name": "Nurlanova",
        "username": "aigerim_n", "language_code": "kk"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BotApiServer]:
    with BotApiServer() as running:
        monkeypatch.setenv(TOKEN_ENV, running.token)
        yield running


@pytest.fixture
async def connect(
        server: BotApiServer) -> AsyncIterator[Callable[..., telegram_channel.TelegramChannel]]:
    """Make channels to the server (same state = the same bot after a restart); all closed after."""
    made: list[telegram_channel.TelegramChannel] = []

    def make(state: MemoryState | None = None, **overrides) -> telegram_channel.TelegramChannel:
        settings = telegram.Settings(
            name="school-bot", token=Secret(env=TOKEN_ENV), api_url=f"{server.url}/bot",
            file_url=server.file_url, **overrides)
        channel = telegram.create(settings, MemoryState() if state is None else state)
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.close()


def outbound(text: str, recipient: str = "501", **fields) -> Outbound:
    return Outbound(id=fields.pop("id", 1), channel="telegram", account="school-bot",
                    recipient=recipient, text=text, **fields)


# -- configuration -------------------------------------------------------------------------


def test_a_self_hosted_bot_api_server_may_hand_over_files_up_to_2000_mb():
    problems: list[str] = []
    hosted = {"name": "b", "token_env": "T", "api_url": "http://127.0.0.1:8081/bot"}
    found = telegram.settings(Section({**hosted, "max_attachment_mb": 500}, "t", problems))
    assert (problems, found.max_attachment_bytes) == ([], 500 << 20)
    telegram.settings(Section({**hosted, "max_attachment_mb": 3000}, "t", problems))
    assert problems == ["t: max_attachment_mb must be at most 2000, the largest file a"
                        " self-hosted Bot API server hands a bot; not 3000"]


def test_settings_have_defaults_and_refuse_a_written_token():
    problems: list[str] = []
    section = Section({"name": "school-bot", "token_env": "TG_TOKEN"}, 'inbox.toml: telegram 1',
                      problems)
    found = telegram.settings(section)
    assert problems == []
    assert found == telegram.Settings(name="school-bot", token=Secret(env="TG_TOKEN"))
    assert (found.poll_timeout, found.groups, found.max_attachment_bytes) == (25, False, 20 << 20)

    bad = Section({"name": "x", "token": "123:abc", "poll_timeout": 90, "api_url": "ftp://h",
                   "max_attachment_mb": 50, "grups": True}, 'inbox.toml: telegram 1 "x"',
                  problems)
    telegram.settings(bad)
    assert problems == [
        'inbox.toml: telegram 1 "x": token must not be written in the file; put it in an'
        ' environment variable (token_env = "NAME") or a file readable only by the service'
        ' (token_file = "/etc/school-inbox/token")',
        "inbox.toml: telegram 1 \"x\": api_url must start with http:// or https://, not 'ftp://h'",
        'inbox.toml: telegram 1 "x": poll_timeout must be at most 50, not 90',
        'inbox.toml: telegram 1 "x": max_attachment_mb must be at most 20, the largest file'
        " Telegram's Bot API hands a bot; a self-hosted Bot API server (api_url) allows up to"
        " 2000; not 50",
        "inbox.toml: telegram 1 \"x\": unknown key 'grups' (known keys: api_url, chat_interval,"
        " file_url, group_interval, groups, max_attachment_mb, messages_per_second, name,"
        " poll_timeout, request_timeout, token, token_env, token_file)",
    ]


# -- receiving -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_text_message_becomes_a_normalised_inbound(server, connect):
    update = server.user_message(501, "Сәлеметсіз бе, when is the exam?", user=USER)
    channel = connect()
    assert isinstance(channel, Channel)

    [item] = await channel.fetch()

    assert (item.channel, item.account, item.external_id, item.source_ref) == (
        "telegram", "school-bot", f"501:{update['message']['message_id']}",
        str(update["update_id"]))
    assert item.sender == Identity("telegram", "501", "Aigerim Nurlanova")
    assert item.text == "Сәлеметсіз бе, when is the exam?"
    assert item.keys.conversation == "501"
    assert item.language_hints == {"telegram": "kk"}
    assert item.meta == {"chat_id": "501", "kind": "text", "username": "aigerim_n"}
    assert json.loads(item.raw) == update
    assert item.received_at.tzinfo is not None


@pytest.mark.anyio
async def test_every_media_kind_arrives_with_its_file(server, connect):
    files = {kind: server.add_file(kind, f"{kind} bytes".encode()) for kind in
             ("small", "large", "document", "voice", "video_note", "video", "audio")}
    meta = server.file_meta
    server.user_message(501, user=USER, caption="my homework", photo=[
        meta(files["small"], width=90, height=90), meta(files["large"], width=800, height=600)])
    server.user_message(501, user=USER, document=meta(
        files["document"], file_name="../../etc/Отчёт.pdf", mime_type="application/pdf"))
    server.user_message(501, user=USER, voice=meta(files["voice"], duration=75,
                                                   mime_type="audio/ogg"))
    server.user_message(501, user=USER, video_note=meta(files["video_note"], length=240,
                                                        duration=9))
    server.user_message(501, user=USER, video=meta(files["video"], width=640, height=480,
                                                   duration=3))
    server.user_message(501, user=USER, audio=meta(files["audio"], duration=200,
                                                   file_name="song.mp3", mime_type="audio/mpeg"))
    server.user_message(501, user=USER, sticker={
        "file_id": "st", "file_unique_id": "ust", "type": "regular", "width": 512,
        "height": 512, "is_animated": False, "is_video": False, "emoji": "😀"})
    server.user_message(501, user=USER, contact={"phone_number": "+77011234567",
                                                 "first_name": "Dana", "last_name": "K"})
    server.user_message(501, user=USER, location={"latitude": 43.2567, "longitude": 76.9286})

    items = await connect().fetch()

    seen = [(i.meta["kind"], i.text, [(a.filename, a.content_type, a.data)
                                      for a in i.attachments]) for i in items]
    assert seen == [
        ("photo", "my homework", [("photo_1.jpg", "image/jpeg", b"large bytes")]),
        ("document", "[document Отчёт.pdf]", [("Отчёт.pdf", "application/pdf",
                                                b"document bytes")]),
        ("voice", "[voice 1:15]", [("voice_3.ogg", "audio/ogg", b"voice bytes")]),
        ("video_note", "[video note 0:09]", [("video_note_4.mp4", "video/mp4",
                                              b"video_note bytes")]),
        ("video", "[video 0:03]", [("video_5.mp4", "video/mp4", b"video bytes")]),
        ("audio", "[audio 3:20]", [("song.mp3", "audio/mpeg", b"audio bytes")]),
        ("sticker", "[sticker 😀]", []),
        ("contact", "[contact Dana K, +77011234567]", []),
        ("location", "[location 43.2567, 76.9286]", []),
    ]
    assert all(a.size == len(a.data) for i in items for a in i.attachments)


@pytest.mark.anyio
async def test_a_file_over_the_cap_is_dropped_with_its_size_and_a_flag(server, connect):
    big = server.add_file("big", b"x" * 5000)
    server.user_message(501, "see file", user=USER, document={
        "file_id": big, "file_unique_id": "ubig", "file_name": "scan.pdf"})  # no size given
    server.user_message(501, user=USER, document=server.file_meta(big, file_name="again.pdf"))

    items = await connect(max_attachment_bytes=1000).fetch()

    for item in items:
        [attachment] = item.attachments
        assert (attachment.data, attachment.size) == (None, 5000)
        assert Flag.ATTACHMENT_DROPPED in item.flags
    downloads = [params for method, params in server.calls if method == "getFile"]
    assert len(downloads) == 1, "a size known from the message needs no getFile"


@pytest.mark.anyio
async def test_the_offset_moves_only_when_the_batch_is_acked(server, connect):
    server.user_message(501, "first", user=USER)
    server.user_message(501, "second", user=USER)
    state = MemoryState()
    channel = connect(state)

    batch = await channel.fetch()
    assert [i.text for i in await channel.fetch()] == ["first", "second"] == [
        i.text for i in batch], "without an ack the same updates come again"
    assert state == {}

    await channel.ack(batch)
    assert state == {"offset": str(int(batch[-1].source_ref) + 1)}
    assert await channel.fetch() == []
    assert server.pending_updates == [], "Telegram was told the batch is confirmed"
    assert await connect(MemoryState(state)).fetch() == [], "a restart redelivers nothing"


@pytest.mark.anyio
async def test_a_batch_received_but_not_committed_is_delivered_again_after_a_crash(
        server, connect):
    server.user_message(501, "please answer", user=USER)
    state = MemoryState()
    await connect(state).fetch()  # the daemon dies before its commit: no ack

    again = await connect(MemoryState(state)).fetch()
    assert [i.text for i in again] == ["please answer"]


@pytest.mark.anyio
async def test_an_ack_never_confirms_an_update_that_was_not_acked(server, connect):
    server.user_message(501, "one", user=USER)
    server.user_message(501, "two", user=USER)
    state = MemoryState()
    channel = connect(state)
    one, two = await channel.fetch()

    await channel.ack([two])
    assert state == {}, "update one is not committed, so nothing may be confirmed"
    await channel.ack([one])
    assert state == {"offset": str(int(two.source_ref) + 1)}


@pytest.mark.anyio
async def test_updates_with_nothing_to_store_are_confirmed_without_an_inbound(server, connect):
    server.add_update({"my_chat_member": {
        "chat": {"id": 501, "type": "private"}, "from": USER, "date": 1,
        "old_chat_member": {"status": "member", "user": server.bot_user},
        "new_chat_member": {"status": "kicked", "user": server.bot_user, "until_date": 0}}})
    server.user_message(-100777, "group chatter", user=USER)
    last = server.user_message(501, "real question", user=USER)
    state = MemoryState()
    channel = connect(state)

    items = await channel.fetch()
    assert [i.text for i in items] == ["real question"]
    await channel.ack(items)
    assert state == {"offset": str(last["update_id"] + 1)}

    for n in range(150):  # more than one getUpdates batch (100) of nothing for the inbox
        server.user_message(-100777, f"chatter {n}", user=USER)
    server.user_message(501, "behind the chatter", user=USER)
    items = await channel.fetch()
    assert [i.text for i in items] == ["behind the chatter"]
    assert len(server.pending_updates) == 51, "the first 100 are confirmed by the second poll"
    await channel.ack(items)
    assert await channel.fetch() == []
    assert server.pending_updates == []


@pytest.mark.anyio
async def test_group_messages_are_read_when_groups_are_on(server, connect):
    server.user_message(-100777, "in the group", user=USER)
    [item] = await connect(groups=True).fetch()
    assert (item.keys.conversation, item.meta["chat_type"]) == ("-100777", "supergroup")


@pytest.mark.anyio
async def test_telegrams_own_service_messages_in_a_group_are_not_a_customers(server, connect):
    bot = {"id": 42, "is_bot": True, "first_name": "School bot", "username": "school_bot"}
    server.user_message(-100777, user=USER, new_chat_members=[bot])
    server.user_message(-100777, user=USER, new_chat_title="9Б родители")
    server.user_message(-100777, "а вот вопрос", user=USER)
    channel = connect(groups=True)
    assert [item.text for item in await channel.fetch()] == ["а вот вопрос"]


@pytest.mark.anyio
async def test_an_edit_points_at_the_original_message(server, connect):
    original = server.user_message(501, "exam at 9", user=USER)
    message_id = original["message"]["message_id"]
    edit = server.user_edit(501, message_id, "exam at 10")

    first, edited = await connect().fetch()

    assert edited.edit_of == first.external_id == f"501:{message_id}"
    assert edited.external_id == f"501:{message_id}:edit:{edit['update_id']}"
    assert (edited.text, edited.meta["edited"]) == ("exam at 10", "1")


@pytest.mark.anyio
async def test_start_with_a_payload_is_a_command_with_its_payload(server, connect):
    server.user_message(501, "/start parent-7B", user=USER)
    server.user_message(501, "/help@someone_elses_bot", user=USER)
    server.user_message(501, "/help@school_inbox_test_bot", user=USER)

    start, other, ours = await connect().fetch()

    assert (start.meta["command"], start.meta["start_payload"]) == ("start", "parent-7B")
    assert "command" not in other.meta
    assert ours.meta["command"] == "help"


@pytest.mark.anyio
async def test_a_button_press_is_an_inbound_and_answered_after_the_ack(server, connect):
    server.callback_query(501, "take:42", user=USER)
    channel = connect()
    [press] = await channel.fetch()
    assert (press.meta["callback_data"], press.keys.conversation) == ("take:42", "501")
    assert server.answered == []

    await channel.ack([press])
    assert server.answered == [press.meta["callback_id"]]


@pytest.mark.anyio
async def test_a_malformed_update_is_kept_flagged_and_the_batch_survives(server, connect):
    server.user_message(501, "before", user=USER)
    broken = server.add_update({"message": {"message_id": "x", "chat": "nonsense", "from": USER}})
    server.user_message(501, "after", user=USER)
    channel = connect()

    before, flagged, after = await channel.fetch()

    assert (before.text, after.text) == ("before", "after")
    assert Flag.QUARANTINED in flagged.flags
    assert json.loads(flagged.raw) == broken
    assert (flagged.source_ref, flagged.sender.value) == (str(broken["update_id"]), "501")
    await channel.ack([before, flagged, after])
    assert await channel.fetch() == []


@pytest.mark.anyio
async def test_fetch_long_polls_until_a_message_arrives(server, connect):
    channel = connect(poll_timeout=5)
    await channel.check_connect()
    asyncio.get_running_loop().call_later(
        0.3, lambda: server.user_message(501, "late", user=USER))
    started = time.monotonic()
    [item] = await channel.fetch(wait=10)
    assert item.text == "late"
    assert 0.25 < time.monotonic() - started < 3


@pytest.mark.anyio
async def test_the_token_never_reaches_the_logs(server, connect, caplog):
    caplog.set_level(logging.DEBUG)
    channel = connect()
    server.callback_query(501, "take:1", user=USER)
    [press] = await channel.fetch()
    await channel.ack([press])
    await channel.ack([press])  # answering the same press twice is refused and logged
    await channel.send(outbound("hello"))
    assert "could not answer button press: BadRequest: Query is too old" in caplog.text
    assert server.token not in caplog.text
    assert server.token.split(":")[1] not in caplog.text


# -- sending -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_reply_quotes_the_customers_message_and_returns_its_id(server, connect):
    asked = server.user_message(501, "question", user=USER)
    channel = connect(chat_interval=0.05)
    [item] = await channel.fetch()

    delivery = await channel.send(outbound("answer", reply_to_external=item.external_id))

    [sent] = server.sent
    assert delivery.ok and delivery.external_id == f"501:{sent.message_id}"
    assert (sent.chat_id, sent.text, sent.reply_to) == (501, "answer",
                                                       asked["message"]["message_id"])
    gone = await channel.send(outbound("to a deleted message", id=2, reply_to_external="501:999"))
    assert gone.ok, "a reply to a message that is gone is still sent"


@pytest.mark.anyio
async def test_a_long_text_is_split_at_paragraphs(server, connect):
    paragraphs = [f"{n} " + "слово " * 500 for n in range(3)]  # ~3000 characters each
    delivery = await connect(chat_interval=0.05).send(outbound("\n\n".join(paragraphs)))

    assert delivery.ok
    assert [m.text for m in server.sent] == [p for p in paragraphs]
    assert delivery.external_id == f"501:{server.sent[0].message_id}"


@pytest.mark.anyio
async def test_attachments_go_as_photo_and_document(server, connect):
    files = (Attachment("diagram.png", "image/png", 8, b"\x89PNG\r\n\x1a\n"),
             Attachment("Расписание.pdf", "application/pdf", 5, b"%PDF-"))
    delivery = await connect(chat_interval=0.05).send(outbound("see attached",
                                                               attachments=files))
    assert delivery.ok
    assert [(m.method, [(f.filename, f.data) for f in m.files]) for m in server.sent] == [
        ("sendMessage", []),
        ("sendPhoto", [("diagram.png", b"\x89PNG\r\n\x1a\n")]),
        ("sendDocument", [("Расписание.pdf", b"%PDF-")]),
    ]


@pytest.mark.anyio
async def test_a_retry_resumes_after_the_parts_already_sent(server, connect):
    text = "\n\n".join(f"part {n} " + "x" * 4000 for n in range(3))
    channel = connect(chat_interval=0.05)
    server.fail_next("sendMessage", 502, after=1)

    failed = await channel.send(outbound(text, id=7))
    assert not failed.ok and not failed.permanent
    retried = await channel.send(outbound(text, id=7))

    assert retried.ok
    assert [m.text[:6] for m in server.sent] == ["part 0", "part 1", "part 2"]
    assert retried.external_id == f"501:{server.sent[0].message_id}"


@pytest.mark.anyio
async def test_a_retry_in_a_new_process_resumes_too_and_leaves_no_note_behind(server, connect):
    text = "\n\n".join(f"part {n} " + "x" * 4000 for n in range(3))
    state = MemoryState()
    server.fail_next("sendMessage", 429, after=1, retry_after=1)
    failed = await connect(state, chat_interval=0.05).send(outbound(text, id=8))
    assert not failed.ok
    restarted = connect(state, chat_interval=0.05)  # the next `run --once`, or a restart
    await asyncio.sleep(1)
    assert (await restarted.send(outbound(text, id=8))).ok
    assert [m.text[:6] for m in server.sent] == ["part 0", "part 1", "part 2"]
    assert "sending:8" not in state


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's RetryAfter
@pytest.mark.parametrize(("fault", "expected"), [
    ((429, 17), {"retry_after": 17.0, "permanent": False, "unreachable": False}),
    ((502, None), {"retry_after": None, "permanent": False, "unreachable": False}),
    ((500, None), {"retry_after": None, "permanent": False, "unreachable": False}),
    ((400, None), {"retry_after": None, "permanent": True, "unreachable": False}),
])
async def test_send_errors_map_to_deliveries(server, connect, fault, expected, caplog):
    status, retry_after = fault
    server.fail_next("sendMessage", status, retry_after=retry_after)
    delivery = await connect().send(outbound("hello"))
    assert not delivery.ok
    assert {key: getattr(delivery, key) for key in expected} == expected
    assert delivery.error
    # No library traceback per failure (a 502's HTML page is not JSON): the error is ours.
    assert [r.getMessage()[:60] for r in caplog.records if r.name.startswith("telegram")
            and r.levelno >= logging.ERROR] == []


@pytest.mark.anyio
async def test_a_blocked_bot_makes_the_contact_unreachable(server, connect):
    server.block(501)
    delivery = await connect().send(outbound("hello"))
    assert (delivery.ok, delivery.permanent, delivery.unreachable) == (False, True, True)
    assert delivery.error == "Forbidden: bot was blocked by the user"


@pytest.mark.anyio
async def test_a_dropped_connection_is_a_temporary_failure(server, connect):
    channel = connect(chat_interval=0.05)
    await channel.check_connect()
    server.drop_next("sendMessage")
    delivery = await channel.send(outbound("hello"))
    assert (delivery.ok, delivery.permanent) == (False, False)
    assert (await channel.send(outbound("hello"))).ok


@pytest.mark.anyio
async def test_bad_recipients_and_empty_messages_fail_permanently(connect):
    channel = connect()
    assert (await channel.send(outbound("hi", recipient="aigerim@example.org"))).permanent
    assert (await channel.send(outbound("  "))).permanent


@pytest.mark.anyio
async def test_check_connect_names_the_bot(connect):
    assert await connect().check_connect() == "@school_inbox_test_bot"


@pytest.mark.anyio
async def test_a_rejected_token_is_reported_without_the_token(connect, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "999:revoked-token")
    channel = connect()
    with pytest.raises(InvalidToken) as raised:
        await channel.check_connect()
    assert str(raised.value) == ("Telegram rejected the token of bot 'school-bot'"
                                 f" (from environment variable {TOKEN_ENV})")
    delivery = await channel.send(outbound("hello"))
    assert (delivery.ok, delivery.permanent, delivery.error) == (
        False, False, f"InvalidToken: {raised.value}")


@pytest.mark.anyio
async def test_a_token_revoked_while_running_is_named_as_at_start(server, connect):
    channel = connect()
    await channel.check_connect()
    server.fail_next("getUpdates", 401)  # the token was revoked in @BotFather
    with pytest.raises(InvalidToken) as raised:
        await channel.fetch()
    assert str(raised.value) == ("Telegram rejected the token of bot 'school-bot'"
                                 f" (from environment variable {TOKEN_ENV})")


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_burst_to_many_chats_is_paced_below_telegrams_limits(server, connect):
    channel = connect()
    messages = [outbound(f"notice {n}", recipient=str(1000 + n % 20), id=n) for n in range(200)]
    started = time.monotonic()

    deliveries = await asyncio.gather(*(channel.send(m) for m in messages))

    assert all(d.ok for d in deliveries), [d.error for d in deliveries if not d.ok][:3]
    assert len(server.sent) == 200
    assert server.rate_limited == 0
    assert 8.5 < time.monotonic() - started < 20, "10 messages per chat at 1 per second"


# -- the pure parts ------------------------------------------------------------------------


def test_split_text_prefers_paragraphs_then_lines_then_words_then_anything():
    assert split_text("short") == ["short"]
    assert split_text("aaaa\n\nbb\ncc", limit=8) == ["aaaa", "bb\ncc"]
    assert split_text("aaaa bb\ncc dd", limit=8) == ["aaaa bb", "cc dd"]
    assert split_text("aaaa bbbb", limit=6) == ["aaaa", "bbbb"]
    assert split_text("abcdefghij", limit=4) == ["abcd", "efgh", "ij"]
    assert split_text("🙂🙂🙂", limit=3) == ["🙂", "🙂", "🙂"], "UTF-16 units, no split pair"


@pytest.mark.anyio
async def test_the_limiter_spaces_one_chat_but_not_different_chats():
    limiter = SendLimiter(chat_interval=0.2, bot_interval=0.01)
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire(chat) for chat in (1, 2, 3)))
    assert time.monotonic() - started < 0.1
    await asyncio.gather(*(limiter.acquire(1) for _ in range(3)))  # 3 more: 0.2 s apart
    assert 0.55 < time.monotonic() - started < 0.9


def test_settings_dataclass_is_frozen():
    settings = telegram.Settings(name="a", token=None)
    with pytest.raises(AttributeError):
        settings.name = "b"  # type: ignore[misc]
    assert replace(settings, groups=True).groups
