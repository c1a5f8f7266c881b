"""Outgoing mail as bytes: text + minimal HTML, attachments, threading headers.

Built with compat32 and ``email.header.Header`` on purpose: ``EmailMessage`` folding of
a long Cyrillic subject can drop the space between two words ("обучениидля"); Header
keeps spaces inside the encoded words. Lines end in CRLF, as SMTP and IMAP APPEND want.
"""

from __future__ import annotations

import hashlib
import html
import re
import secrets
from base64 import b64decode, b64encode
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email import encoders
from email.charset import QP, Charset
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, getaddresses

from inbox.model import Attachment, Outbound
from inbox.subjects import strip_prefixes, without_tokens

# Headers compose_outbound sets from its own arguments; other Outbound headers pass through.
_THREADING = frozenset({"message-id", "in-reply-to", "references", "reply-to", "thread-index"})
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_MAX_REFERENCES = 20  # the first (thread root) and the most recent ones, as RFC 5322 suggests
_POLICY = compat32.clone(linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def make_message_id(domain: str) -> str:
    """A new, globally unique Message-ID without angle brackets (as ThreadKeys stores ids)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return f"{stamp}.{secrets.token_hex(8)}@{domain}"


def compose_email(
    *,
    from_addr: str,
    from_name: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    in_reply_to: str = "",
    references: Sequence[str] = (),
    automatic: bool = False,
    reply_to: str = "",
    attachments: Sequence[Attachment] = (),
    date: datetime | None = None,
    extra_headers: Mapping[str, str] | None = None,
    continues_thread_index: str = "",
) -> bytes:
    """The RFC 5322 bytes of one message, ready for SMTP or IMAP APPEND.

    Ids may come with or without angle brackets; an empty ``message_id`` gets a new one
    in the sender's domain. ``references`` are the replied-to
    message's References; ``in_reply_to`` is appended to them. ``automatic`` marks the
    message as RFC 3834 auto-replied so well-behaved responders do not answer it.
    ``continues_thread_index``: the Outlook Thread-Index of the mail answered, which this
    one extends so Outlook files it in the customer's conversation.
    Every attachment must carry its ``data``.
    """
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(text, "plain", _UTF8_QP))  # QP also keeps long ASCII lines legal
    body.attach(MIMEText(_html(text), "html", _UTF8_QP))
    if attachments:
        msg = MIMEMultipart("mixed")
        msg.attach(body)
        for attachment in attachments:
            msg.attach(_attachment_part(attachment))
    else:
        msg = body
    msg["From"] = formataddr((from_name, from_addr), charset="utf-8")
    msg["To"] = _addresses(to)
    if reply_to:
        msg["Reply-To"] = _addresses(reply_to)
    msg["Subject"] = _header(subject, "Subject")
    date = date or datetime.now(UTC)
    msg["Date"] = format_datetime(date)
    message_id = message_id.strip("<> ") or make_message_id(from_addr.rpartition("@")[2])
    msg["Message-ID"] = _bracket(message_id)
    refs = _references(references, in_reply_to)
    if in_reply_to:
        msg["In-Reply-To"] = _bracket(in_reply_to)
    if refs:
        msg["References"] = " ".join(refs)
    msg["Thread-Topic"] = _header(strip_prefixes(without_tokens(subject)), "Thread-Topic")
    msg["Thread-Index"] = (_child_index(continues_thread_index, date) if continues_thread_index
                           else _thread_index(refs[0] if refs else _bracket(message_id)))
    if automatic:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    for name, value in (extra_headers or {}).items():
        del msg[name]  # the caller's value wins over ours; never two of one header
        msg[name] = _header(value, name)
    return msg.as_bytes(policy=_POLICY)


def _bracket(message_id: str) -> str:
    return f"<{message_id.strip().strip('<>')}>"


def _references(references: Sequence[str], in_reply_to: str) -> list[str]:
    refs = [_bracket(r) for r in references if r.strip("<> ")]
    if in_reply_to and _bracket(in_reply_to) not in refs[-1:]:
        refs.append(_bracket(in_reply_to))
    refs = list(dict.fromkeys(refs))
    if len(refs) > _MAX_REFERENCES:
        refs = refs[:1] + refs[-(_MAX_REFERENCES - 1) :]
    return refs


def _thread_index(root_id: str) -> str:
    """Outlook's conversation key: 22 bytes, here derived from the thread's first message.

    Outlook groups by it, so every message of one thread gets the same value.
    """
    return b64encode(b"\x01" + hashlib.sha256(root_id.encode()).digest()[:21]).decode("ascii")


def _child_index(parent: str, moment: datetime) -> str:
    """``parent`` with one 5-byte reply block appended ([MS-OXOMSG] 2.2.1.3): the time
    since the conversation began, in the units the spec gives, and a random byte."""
    data = b64decode(parent)
    now = int((moment - _FILETIME_EPOCH).total_seconds() * 10_000_000)
    # The header's FILETIME: the spec's top 40 bits after a 0x01 byte (Exchange Online), or
    # Outlook desktop's top 48 bits; the reading that falls before now is the one meant.
    began = next((t for t in (int.from_bytes(data[1:6], "big") << 24,
                              int.from_bytes(data[0:6], "big") << 16) if 0 < t <= now), now)
    delta = now - began
    code, value = (0, delta >> 18) if delta < 1 << 49 else (1, delta >> 23)
    block = ((code << 31) | (value & 0x7FFFFFFF)).to_bytes(4, "big") + secrets.token_bytes(1)
    return b64encode(data + block).decode("ascii")


def _header(value: str, name: str) -> str | Header:
    value = " ".join(value.split())
    return value if value.isascii() else Header(value, "utf-8", header_name=name)


def _addresses(value: str) -> str:
    pairs = getaddresses([value])
    return ", ".join(formataddr((name, addr), charset="utf-8") for name, addr in pairs if addr)


def _html(text: str) -> str:
    paragraphs = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.split("\n")) + "</p>"
        for p in paragraphs
        if p.strip()
    )
    head = '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head><body>'
    return f"{head}\n{body}\n</body></html>\n"


def _attachment_part(attachment: Attachment) -> MIMEBase:
    if attachment.data is None:
        raise ValueError(f"attachment {attachment.filename!r} has no data loaded")
    maintype, _, subtype = (attachment.content_type or "application/octet-stream").partition("/")
    if maintype in ("message", "multipart"):  # a saved .eml, a report's part: bytes to us, and
        maintype, subtype = "application", "octet-stream"  # the generator wants those parsed
    part = MIMEBase(maintype, subtype or "octet-stream")
    part.set_payload(attachment.data)
    encoders.encode_base64(part)
    name = attachment.filename or "attachment"
    if not name.isascii():
        part.set_param("name", Header(name, "utf-8").encode())
        name_param: str | tuple[str, str, str] = ("utf-8", "", name)
    else:
        part.set_param("name", name)
        name_param = name
    disposition = "inline" if attachment.inline else "attachment"
    part.add_header("Content-Disposition", disposition, filename=name_param)
    if attachment.content_id:
        part["Content-ID"] = _bracket(attachment.content_id)
    return part


def compose_outbound(msg: Outbound, *, from_addr: str, from_name: str) -> tuple[str, bytes]:
    """An outbox entry as mail: its bare Message-ID and the bytes to send or store.

    Everything but an agent's reply is written by the daemon, so it is marked
    automatic (RFC 3834) and no auto-responder answers it.
    """
    headers = {key.lower(): value for key, value in msg.headers.items()}
    message_id = (headers.get("message-id", "").strip("<> ")
                  or make_message_id(from_addr.rpartition("@")[2] or "localhost"))
    raw = compose_email(
        from_addr=from_addr, from_name=from_name, to=msg.recipient, subject=msg.subject,
        text=msg.text, message_id=message_id, in_reply_to=headers.get("in-reply-to", ""),
        references=tuple(headers.get("references", "").split()),
        automatic=msg.kind != "reply", reply_to=headers.get("reply-to", ""),
        attachments=msg.attachments,
        extra_headers={key: value for key, value in msg.headers.items()
                       if key.lower() not in _THREADING} or None,
        continues_thread_index=headers.get("thread-index", ""),
    )
    return message_id, raw
