"""A Telegram bot as a channel, polled with getUpdates inside the daemon's own event loop.

The offset that confirms updates at Telegram moves only in :meth:`TelegramChannel.ack`,
after the daemon has committed them, and is kept in the channel's SyncState: a
crash between receiving and committing makes Telegram deliver the batch again
(PTB's Updater would have confirmed it on the next poll; it is not used).

Updates that are nothing for the inbox (group messages while ``groups`` is off,
membership changes, channel posts) are never returned: the channel remembers
them as settled, and the offset moves past an update once it and every update
before it are either committed (acked) or settled. So they are confirmed
without being stored, and never hold back or skip a real message.

An outbox entry of kind "topic" creates a forum topic named by its text (its
delivery's ``external_id`` is the topic's id); ``headers["message_thread_id"]``
sends a message into a topic. Only a team's staff group gets topics, so a chat
the bot has created one in is a staff group: it is read even while ``groups``
is off (remembered in SyncState), and a message in one of its topics carries
``meta["message_thread_id"]``.

PTB and httpx log request URLs, which contain the bot token, at DEBUG/INFO;
importing this module raises those loggers to INFO/WARNING.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import Sequence
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from connectors.filenames import sniff_content_type
from connectors.telegram import Settings
from connectors.telegram_limits import SendLimiter, split_text
from connectors.telegram_updates import Normalised, parse_update, read_update
from inbox.channel import Delivery, Inbound, SyncState
from inbox.model import Attachment, Flag, Outbound

ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})
MAX_PHOTO_BYTES = 10 * 2**20  # bigger images go as documents (Telegram's sendPhoto limit)

log = logging.getLogger("connectors.telegram")  # one name for the whole channel
# python-telegram-bot's request layer logs a whole traceback at ERROR for every 502 page it
# cannot read as JSON, then raises; the channel logs that failure in one line of its own.
for _name, _level in (("httpx", logging.WARNING), ("httpcore", logging.WARNING),
                      ("telegram", logging.INFO), ("telegram.request", logging.CRITICAL)):
    logging.getLogger(_name).setLevel(_level)


def _not_parse_failure(record: logging.LogRecord) -> bool:
    """PTB logs a batch it cannot parse at CRITICAL, every customer's words in it; the channel
    reads that batch one update at a time and says so in one line of its own."""
    return not str(record.msg).startswith("Error while parsing updates")


logging.getLogger("telegram.Bot").addFilter(_not_parse_failure)


class _RecordingRequest(HTTPXRequest):
    """Keeps the raw JSON of the last answer, so one update PTB cannot parse loses no other."""

    last_result: Any = None

    async def post(self, *args: Any, **kwargs: Any) -> Any:
        self.last_result = None
        self.last_result = await super().post(*args, **kwargs)
        return self.last_result


class TelegramChannel:
    kind = "telegram"

    def __init__(self, settings: Settings, state: SyncState, token: str):
        self.name = settings.name
        self.settings = settings
        self._state = state
        self._token = token
        self._poll_request = _RecordingRequest(connection_pool_size=1, read_timeout=10.0)
        self.bot = Bot(
            token,
            base_url=settings.api_url,
            base_file_url=settings.file_url,
            request=HTTPXRequest(
                read_timeout=settings.request_timeout,
                write_timeout=settings.request_timeout,
                media_write_timeout=settings.request_timeout,
            ),
            # its read timeout is 10 s plus the long poll's own timeout (PTB adds it)
            get_updates_request=self._poll_request,
        )
        self._limiter = SendLimiter(settings.chat_interval, settings.group_interval,
                                    1 / settings.messages_per_second)
        self._offset = _stored_offset(state, self.name)
        self._staff_groups = {int(chat) for chat in (state.get("staff_groups") or "").split(",")
                              if chat.lstrip("-").isdigit()}
        self._batch: list[int] = []  # update ids of the last fetch, ascending
        self._settled: set[int] = set()  # acked, or nothing to store
        self._started = False
        self._start_lock = asyncio.Lock()
        self._poll_lock = asyncio.Lock()

    async def _start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            try:
                await self.bot.initialize()  # calls getMe: learns our @username
            except InvalidToken:  # PTB's message quotes the token itself
                raise self._rejected() from None
            self._started = True

    def _rejected(self) -> InvalidToken:
        """The error for a token Telegram refuses, at start or revoked while running."""
        source = self.settings.token.describe() if self.settings.token else "?"
        return InvalidToken(f"Telegram rejected the token of bot {self.name!r} (from {source})")

    async def check_connect(self) -> str:
        await self._start()
        return f"@{self.bot.username}"

    async def close(self) -> None:
        if self._started:
            await self.bot.shutdown()
            self._started = False

    # -- receiving -----------------------------------------------------------------------

    async def fetch(self, wait: float = 0) -> list[Inbound]:
        """The updates after the last acknowledged one; the same again until :meth:`ack`.

        A batch of only settled updates (group chatter) is passed over at once, so
        an empty answer means Telegram has nothing new. Raises TelegramError when
        Telegram cannot be reached or a file download fails for a reason retrying
        may cure; nothing is confirmed then.
        """
        async with self._poll_lock:
            await self._start()
            timeout = int(max(0, min(wait, self.settings.poll_timeout)))
            while True:
                found, received = await self._poll(timeout)
                if found or not received:
                    return found
                timeout = 0

    async def _poll(self, timeout: int) -> tuple[list[Inbound], int]:
        """One getUpdates: (Inbounds, number of updates received)."""
        self._offset = self._advance()  # in memory: past settled updates, none of them new
        try:
            updates: list[Update | None] = list(await self.bot.get_updates(
                offset=self._offset or None, timeout=timeout,
                allowed_updates=list(ALLOWED_UPDATES)))
        except InvalidToken:  # revoked in @BotFather while we run (PTB says just "Error")
            raise self._rejected() from None
        except TelegramError:
            raise
        except Exception:
            log.warning("%s: an update could not be parsed; reading them one by one", self.name)
            updates = []
        raws = self._poll_request.last_result or []
        if len(updates) != len(raws):
            updates = [parse_update(raw, self.bot) for raw in raws]
        self._batch = sorted(raw["update_id"] for raw in raws
                             if isinstance(raw, dict) and isinstance(raw.get("update_id"), int))
        found = []
        for update, raw in zip(updates, raws, strict=True):
            inbound = await self._inbound(update, raw)
            if inbound is not None:
                found.append(inbound)
        return found, len(raws)

    async def _inbound(self, update: Update | None, raw: Any) -> Inbound | None:
        message = update.effective_message if update else None
        staff = message is not None and message.chat.id in self._staff_groups
        found = read_update(update, raw, account=self.name,
                            groups=self.settings.groups or staff,
                            bot_username=self.bot.username or "")
        if found is None:
            self._settled.add(update.update_id)
            return None
        if message is not None and message.is_topic_message and message.message_thread_id:
            found.inbound.meta["message_thread_id"] = str(message.message_thread_id)
        await self._download(found)
        return found.inbound

    async def _download(self, found: Normalised) -> None:
        cap = self.settings.max_attachment_bytes
        inbound = found.inbound
        for ref in found.files:
            data: bytes | None = None
            size = ref.size or 0
            if size <= cap:
                try:
                    file = await self.bot.get_file(ref.file_id)
                    size = file.file_size or size
                    if size <= cap:
                        data = bytes(await file.download_as_bytearray())
                        size = len(data)
                except BadRequest as exc:  # "file is too big" and the like: retrying won't help
                    inbound.meta["attachment_error"] = self._describe(exc)
            if data is None or size > cap:
                data = None
                inbound.flags.add(Flag.ATTACHMENT_DROPPED)
            inbound.attachments.append(Attachment(
                filename=ref.filename, content_type=sniff_content_type(data, ref.content_type),
                size=size, data=data))

    async def ack(self, items: Sequence[Inbound]) -> None:
        """Confirm committed updates at Telegram by moving the stored offset; safe to repeat."""
        callbacks = []
        for item in items:
            if item.account == self.name and item.source_ref.isdigit():
                self._settled.add(int(item.source_ref))
                if "callback_id" in item.meta:
                    callbacks.append(item.meta["callback_id"])
        offset = self._advance()
        if offset != self._offset:
            self._offset = offset
            self._state.set("offset", str(offset))
        for query_id in callbacks:  # stops the spinner on the customer's button
            try:
                await self.bot.answer_callback_query(query_id)
            except TelegramError as exc:
                log.info("%s: could not answer button press: %s", self.name,
                         self._describe(exc))

    def _advance(self) -> int:
        """The offset past the longest run of settled updates at the start of the batch."""
        offset = self._offset
        for update_id in self._batch:
            if update_id < offset:
                continue
            if update_id not in self._settled:
                break
            offset = update_id + 1
        self._settled = {update_id for update_id in self._settled if update_id >= offset}
        return offset

    # -- sending -------------------------------------------------------------------------

    async def send(self, msg: Outbound) -> Delivery:
        """Text (split at 4096) then attachments; a retry resumes after the parts already sent.

        How far an entry of several parts got is kept in the channel's durable state after
        each part, so the retry resumes there in a new process too (the next ``run
        --once``, a restart): the customer never gets part 1 twice. Only a kill between a
        part leaving and its note being written can repeat that one part.
        """
        try:
            chat_id = int(msg.recipient)
        except ValueError:
            return Delivery(ok=False, permanent=True,
                            error=f"recipient {msg.recipient!r} is not a Telegram chat id")
        if msg.kind == "topic":
            return await self._create_topic(chat_id, msg.text)
        parts: list[str | Attachment] = [*split_text(msg.text)] if msg.text.strip() else []
        parts += [attachment for attachment in msg.attachments if attachment.data is not None]
        if not parts:
            return Delivery(ok=False, permanent=True, error="nothing to send: no text, no files")
        reply_to = _message_id(msg.reply_to_external)
        progress = f"sending:{msg.id}"  # "PARTS_SENT FIRST_ID" while an entry is half out
        saved, _, first = (self._state.get(progress) or "0 ").partition(" ")
        done = int(saved)
        try:
            await self._start()
            # Buttons (an agent's notification) go under the first part: the one replied to.
            markup = _markup(msg.headers.get("reply_markup", ""), self.bot)
            topic = int(msg.headers.get("message_thread_id") or 0) or None
            for index in range(done, len(parts)):
                try:
                    sent = await self._send_part(chat_id, parts[index],
                                                 reply_to if index == 0 else 0,
                                                 markup if index == 0 else None, topic,
                                                 _caption(msg, parts[index]))
                except TelegramError as exc:
                    if not (first and _spare(msg, parts[index], exc)):
                        raise
                    log.warning("%s: outbox entry %s: %s not sent to chat %s: %s", self.name,
                                msg.id, parts[index].filename, chat_id, self._describe(exc))
                else:
                    first = first or f"{chat_id}:{sent.message_id}"
                if index + 1 < len(parts):
                    self._state.set(progress, f"{index + 1} {first}")
        except TelegramError as exc:
            failure = self._failure(chat_id, exc)
            if failure.permanent and len(parts) > 1:
                self._state.delete(progress)
            return failure
        if len(parts) > 1:
            self._state.delete(progress)
        return Delivery(ok=True, external_id=first)

    async def _send_part(self, chat_id: int, part: str | Attachment, reply_to: int,
                         markup: InlineKeyboardMarkup | None = None,
                         topic: int | None = None, caption: str | None = None) -> Message:
        await self._limiter.acquire(chat_id)
        reply = (ReplyParameters(reply_to, allow_sending_without_reply=True)
                 if reply_to else None)
        common = {"reply_parameters": reply, "reply_markup": markup, "message_thread_id": topic}
        if caption:
            common["caption"] = caption
        if isinstance(part, str):
            return await self.bot.send_message(chat_id, part, **common)
        if part.content_type in PHOTO_TYPES and (part.size or 0) <= MAX_PHOTO_BYTES:
            try:
                return await self.bot.send_photo(chat_id, part.data, filename=part.filename,
                                                 **common)
            except BadRequest:  # a long screenshot's proportions: it still goes, as a file
                pass
        return await self.bot.send_document(chat_id, part.data, filename=part.filename,
                                            **common)

    async def _create_topic(self, chat_id: int, name: str) -> Delivery:
        """A forum topic in a staff group; the delivery's external_id is its message_thread_id."""
        try:
            await self._start()
            await self._limiter.acquire(chat_id)
            topic = await self.bot.create_forum_topic(chat_id, name)
        except TelegramError as exc:
            return self._failure(chat_id, exc)
        if chat_id not in self._staff_groups:
            self._staff_groups.add(chat_id)
            self._state.set("staff_groups", ",".join(map(str, sorted(self._staff_groups))))
        return Delivery(ok=True, external_id=str(topic.message_thread_id))

    def _failure(self, chat_id: int, exc: TelegramError) -> Delivery:
        error = self._describe(exc)
        if isinstance(exc, RetryAfter):
            seconds = _seconds(exc)
            self._limiter.pause(chat_id, seconds)
            return Delivery(ok=False, error=error, retry_after=seconds)
        if isinstance(exc, Forbidden):  # blocked by the user, or kicked from the group
            return Delivery(ok=False, error=error, permanent=True, unreachable=True)
        if isinstance(exc, BadRequest | ChatMigrated):
            return Delivery(ok=False, error=error, permanent=True)
        return Delivery(ok=False, error=error)  # NetworkError, TimedOut: worth a retry

    def _describe(self, exc: Exception) -> str:
        """The error for logs and agents, never with the token (PTB errors can quote URLs)."""
        kind, text = type(exc).__name__, str(exc)
        described = text if text.startswith(kind) else f"{kind}: {text}"
        return described.replace(self._token, "<token>")


def _stored_offset(state: SyncState, name: str) -> int:
    value = state.get("offset")
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        log.warning("%s: stored offset %r is not a number; starting from Telegram's", name, value)
        return 0


def _caption(msg: Outbound, part: str | Attachment) -> str | None:
    """A notification's file says whose it is ("[#12] scan.pdf"), so that an agent who
    answers the file, as they would the message, answers the thread."""
    if msg.kind != "notification" or msg.thread_id is None or not isinstance(part, Attachment):
        return None
    return f"[#{msg.thread_id}] {part.filename[:200]}"  # Telegram takes 1024 at most


def _spare(msg: Outbound, part: str | Attachment, exc: TelegramError) -> bool:
    """Whether a file of an agent's notification may be left out after its text went: the
    agent must be able to answer the notification they got, and a file Telegram will not
    take (or not now) must not hold back the chat's next ones. A customer's files are the
    answer itself: never spared. A flood wait is waited out, not spared."""
    return (msg.kind == "notification" and isinstance(part, Attachment)
            and not isinstance(exc, RetryAfter))


def _message_id(external_id: str) -> int:
    """``"chat:message"`` (or a bare message id) -> the message id; 0 when there is none."""
    tail = external_id.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def _markup(text: str, bot: Bot) -> InlineKeyboardMarkup | None:
    """``Outbound.headers["reply_markup"]`` (InlineKeyboardMarkup JSON) for PTB; "" = none."""
    return InlineKeyboardMarkup.de_json(json.loads(text), bot) if text else None


def _seconds(exc: RetryAfter) -> float:
    """PTB gives seconds, or a timedelta when PTB_TIMEDELTA is set (and warns while it moves)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return float(value.total_seconds() if hasattr(value, "total_seconds") else value)
