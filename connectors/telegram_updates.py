"""Telegram updates -> :class:`inbox.channel.Inbound`, pure: files named here, fetched elsewhere.

Every kind of message a customer can send becomes text an agent can read: the
text or caption, or a placeholder in brackets (``[sticker 😀]``, ``[location 43.2,
76.9]``) when there is none. Files are returned as :class:`FileRef`, with names made safe, for the
channel to download, so this module does no I/O.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telegram import (
    Bot,
    CallbackQuery,
    Chat,
    Message,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
    User,
)

from connectors.filenames import safe_filename
from connectors.printable import one_line, printable
from inbox.channel import Inbound, ThreadKeys
from inbox.model import Flag, Identity

log = logging.getLogger("connectors.telegram")

KIND = "telegram"
UNREADABLE = "[an update the inbox could not read; its raw JSON is kept]"
_TICKET_LEAD = re.compile(r"\[#(\d{1,12})\] ")  # how our notifications' files are captioned
_FILE_KINDS = ("document", "photo", "video", "audio", "voice", "animation")
_REPLIED_CHARS = 200  # of the message a customer answers, quoted to the agents


@dataclass(frozen=True)
class FileRef:
    """A file a message carries, still on Telegram's side."""

    file_id: str
    filename: str
    content_type: str
    size: int | None


@dataclass
class Normalised:
    inbound: Inbound
    files: list[FileRef] = field(default_factory=list)


def normalise(update: Update, raw: bytes, *, account: str, groups: bool,
              bot_username: str = "") -> Normalised | None:
    """One update as an Inbound, or None when it is nothing for the inbox.

    None covers group messages while ``groups`` is off, channel posts and
    membership changes: the caller confirms them without storing anything.
    May raise on data PTB accepted but that makes no sense; see :func:`unreadable`.
    """
    source_ref = str(update.update_id)
    if update.message:
        return _message(update.message, raw, source_ref, account, groups, bot_username)
    if update.edited_message:
        found = _message(update.edited_message, raw, source_ref, account, groups, bot_username)
        if found is not None:
            inbound = found.inbound
            inbound.edit_of = inbound.external_id
            inbound.external_id = f"{inbound.external_id}:edit:{update.update_id}"
            inbound.meta["edited"] = "1"
        return found
    if update.callback_query:
        return _callback(update.callback_query, raw, source_ref, account)
    return None


def parse_update(raw: Any, bot: Bot | None = None) -> Update | None:
    """PTB's reading of one update's JSON, or None when PTB cannot make sense of it."""
    try:
        return Update.de_json(raw, bot)
    except Exception:
        return None


def read_update(update: Update | None, raw: Any, *, account: str, groups: bool,
                bot_username: str = "") -> Normalised | None:
    """Whatever arrives becomes something an agent can see: normalised, or flagged unreadable.

    None only for updates that are nothing for the inbox (see :func:`normalise`).
    One hostile or odd update never raises out of here and never stops the batch.
    """
    raw_bytes = json.dumps(raw, ensure_ascii=False).encode("utf-8")
    if update is None:
        return Normalised(unreadable(raw_bytes, account))
    try:
        return normalise(update, raw_bytes, account=account, groups=groups,
                         bot_username=bot_username)
    except Exception:
        log.exception("%s: update %s could not be read; kept flagged", account,
                      update.update_id)
        return Normalised(unreadable(raw_bytes, account))


def unreadable(raw: bytes, account: str) -> Inbound:
    """The Inbound for an update that could not be parsed: flagged, raw JSON kept for an agent."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    data = data if isinstance(data, dict) else {}
    update_id = data.get("update_id")
    body = next((v for k, v in data.items() if k != "update_id" and isinstance(v, dict)), {})
    user = body.get("from") if isinstance(body.get("from"), dict) else {}
    chat = body.get("chat") if isinstance(body.get("chat"), dict) else {}
    ref = str(update_id) if isinstance(update_id, int) else ""
    return Inbound(
        channel=KIND,
        account=account,
        external_id=f"update:{ref}" if ref else "sha256:" + hashlib.sha256(raw).hexdigest(),
        sender=Identity(KIND, str(user.get("id", "unknown"))),
        text=UNREADABLE,
        received_at=datetime.now(UTC),
        raw=raw,
        source_ref=ref,
        keys=ThreadKeys(conversation=str(chat.get("id", ""))),
        flags={Flag.QUARANTINED},
    )


# Service messages: what Telegram itself says in a chat (the bot added to a group, a member
# left, a pinned message, a forum topic made), not a customer's words.
_SERVICE = ("new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo",
            "delete_chat_photo", "group_chat_created", "supergroup_chat_created",
            "channel_chat_created", "migrate_to_chat_id", "migrate_from_chat_id",
            "pinned_message", "message_auto_delete_timer_changed", "forum_topic_created",
            "forum_topic_edited", "forum_topic_closed", "forum_topic_reopened",
            "general_forum_topic_hidden", "general_forum_topic_unhidden",
            "video_chat_scheduled", "video_chat_started", "video_chat_ended",
            "video_chat_participants_invited", "write_access_allowed")


def _message(message: Message, raw: bytes, source_ref: str, account: str, groups: bool,
             bot_username: str) -> Normalised | None:
    chat = message.chat
    if chat.type == Chat.CHANNEL or (chat.type != Chat.PRIVATE and not groups):
        return None
    if any(getattr(message, name, None) for name in _SERVICE):
        return None  # Telegram's note that someone joined, a title changed...: nobody wrote
    text = message.text or message.caption or ""
    kind, files, placeholder = _content(message)
    meta = {"chat_id": str(chat.id), "kind": kind}
    if not text and placeholder:
        meta["placeholder"] = "1"  # our words, not the customer's: no clue to their language
    if chat.type != Chat.PRIVATE:
        meta["chat_type"] = str(chat.type)
    origin = _forwarded_from(message.forward_origin)
    if origin:  # someone else's words, a teacher's message passed on: agents must know
        meta["forwarded_from"] = origin
    if message.reply_to_message:
        replied = message.reply_to_message
        meta["reply_to"] = f"{chat.id}:{replied.message_id}"
        # What the customer answers (one of several questions the agent asked, or an old
        # message): the part they quoted, else the start of the message.
        answered = message.quote.text if message.quote else (replied.text or replied.caption)
        if answered and not replied.forum_topic_created:
            meta["replied_text"] = one_line(printable(answered))[:_REPLIED_CHARS]
        # A file of a notification is captioned "[#12] scan.pdf" by our bot (the agent bot
        # checks that such a notification went to this chat just before it).
        ticket = _TICKET_LEAD.match(replied.caption or "")
        ours = bool(replied.from_user and bot_username
                    and replied.from_user.username == bot_username)
        if ticket and ours and any(getattr(replied, kind, None) for kind in _FILE_KINDS):
            meta["reply_to_ticket"] = ticket[1]
    meta.update(_command(printable(message.text or ""), bot_username))
    inbound = Inbound(
        channel=KIND,
        account=account,
        external_id=f"{chat.id}:{message.message_id}",
        sender=_sender(message.from_user, message.sender_chat or chat, meta),
        text=printable(text or placeholder),  # a venue or poll of anyone's words too
        received_at=message.edit_date or message.date,
        raw=raw,
        source_ref=source_ref,
        language_hints=_language(message.from_user),
        keys=ThreadKeys(conversation=str(chat.id)),
        meta=meta,
    )
    return Normalised(inbound, files)


def _forwarded_from(origin: MessageOrigin | None) -> str:
    """Who first wrote a forwarded message, as Telegram names them; "" when not forwarded."""
    if isinstance(origin, MessageOriginUser):
        name = origin.sender_user.full_name
    elif isinstance(origin, MessageOriginHiddenUser):
        name = origin.sender_user_name
    elif isinstance(origin, MessageOriginChat):
        name = origin.sender_chat.title or origin.sender_chat.full_name or ""
    elif isinstance(origin, MessageOriginChannel):
        name = origin.chat.title or ""
    else:
        return ""
    signature = getattr(origin, "author_signature", None)
    return one_line(printable(", ".join(filter(None, (name, signature))))) or "someone"


def _content(message: Message) -> tuple[str, list[FileRef], str]:
    """(kind, files, placeholder text) for what the message carries besides its text."""
    number = message.message_id
    if message.photo:
        best = max(message.photo, key=lambda size: (size.width * size.height, size.file_size or 0))
        return "photo", [_ref(best, f"photo_{number}.jpg", "image/jpeg")], "[photo]"
    for kind, default_name, default_type in (
        ("animation", "animation_{}.mp4", "video/mp4"),
        ("video", "video_{}.mp4", "video/mp4"),
        ("audio", "audio_{}.mp3", "audio/mpeg"),
        ("voice", "voice_{}.ogg", "audio/ogg"),
        ("video_note", "video_note_{}.mp4", "video/mp4"),
        ("document", "document_{}", "application/octet-stream"),
    ):
        media = getattr(message, kind)
        if media is not None:
            name = getattr(media, "file_name", None) or default_name.format(number)
            content_type = getattr(media, "mime_type", None) or default_type
            ref = _ref(media, name, content_type)
            label = kind.replace("_", " ")
            # to_dict: the attribute warns while PTB moves durations to timedelta
            seconds = media.to_dict().get("duration")
            if isinstance(seconds, int | float):
                label += f" {int(seconds) // 60}:{int(seconds) % 60:02d}"
            return kind, [ref], f"[{label} {ref.filename}]" if kind == "document" else f"[{label}]"
    if message.sticker:
        return "sticker", [], f"[sticker {message.sticker.emoji or ''}]".replace(" ]", "]")
    if message.contact:
        contact = message.contact
        name = one_line(" ".join(filter(None, (contact.first_name, contact.last_name))))
        return "contact", [], f"[contact {name}, {contact.phone_number}]"
    if message.venue:
        venue = message.venue
        return "venue", [], f"[venue {venue.title}, {venue.address}]"
    if message.location:
        location = message.location
        return "location", [], f"[location {location.latitude}, {location.longitude}]"
    if message.poll:
        return "poll", [], f"[poll {message.poll.question}]"
    if message.dice:
        return "dice", [], f"[dice {message.dice.emoji} {message.dice.value}]"
    if message.text is not None:
        return "text", [], ""
    return "other", [], "[a kind of message the inbox cannot show]"


def _ref(media: object, filename: str, content_type: str) -> FileRef:
    return FileRef(
        file_id=media.file_id,  # type: ignore[attr-defined]
        filename=safe_filename(filename, 1, content_type),
        content_type=content_type,
        size=getattr(media, "file_size", None),
    )


def _command(text: str, bot_username: str) -> dict[str, str]:
    """``/start payload`` -> command "start" and its payload; ``/cmd@otherbot`` is not ours."""
    if not text.startswith("/"):
        return {}
    head, _, rest = text.partition(" ")
    name, _, addressed_to = head[1:].partition("@")
    if not name or (addressed_to and addressed_to.lower() != bot_username.lower()):
        return {}
    found = {"command": name.lower()}
    if name.lower() == "start" and rest.strip():
        found["start_payload"] = rest.strip()
    return found


def _callback(query: CallbackQuery, raw: bytes, source_ref: str, account: str) -> Normalised:
    message = query.message
    chat_id = message.chat.id if message else query.from_user.id
    meta = {"chat_id": str(chat_id), "kind": "callback", "callback_data": query.data or "",
            "callback_id": query.id}
    if message:
        meta["callback_message"] = f"{chat_id}:{message.message_id}"
    inbound = Inbound(
        channel=KIND,
        account=account,
        external_id=f"callback:{query.id}",
        sender=_sender(query.from_user, None, meta),
        text=f"[button {printable(query.data or '')}]",
        received_at=datetime.now(UTC),  # a callback query carries no date of its own
        raw=raw,
        source_ref=source_ref,
        language_hints=_language(query.from_user),
        keys=ThreadKeys(conversation=str(chat_id)),
        meta=meta,
    )
    return Normalised(inbound)


def _sender(user: User | None, chat: Chat | None, meta: dict[str, str]) -> Identity:
    if user is None and chat is not None:  # an anonymous group admin or a channel
        return Identity(KIND, f"chat:{chat.id}", one_line(chat.title or chat.full_name or ""))
    if user is None:
        return Identity(KIND, "unknown")
    if user.username:
        meta["username"] = user.username
    return Identity(KIND, str(user.id), one_line(user.full_name or ""))  # "" first name: None


def _language(user: User | None) -> dict[str, str]:
    return {KIND: user.language_code} if user and user.language_code else {}
