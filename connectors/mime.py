"""Raw RFC 5322 bytes -> :class:`inbox.channel.Inbound`, never raising.

The message is parsed once into the stdlib's ``compat32`` tree (five times cheaper than
``policy.default``; ``connectors.mimetree`` builds it) and every header and body is
decoded here, from bytes, per part: charset labels lie
(koi8-r labelled windows-1251 and back), 8-bit text arrives unlabelled, and one bad part
must not cost the rest of the message. A failure anywhere still yields an Inbound,
flagged QUARANTINED, so the message reaches an agent and its raw bytes are kept.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import re
import zlib
from base64 import b64decode
from collections import Counter
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from email.policy import Compat32, compat32
from email.utils import getaddresses, parsedate_tz
from functools import lru_cache

import html2text

from connectors import automail, mimetree, quotes, signatures
from connectors.filenames import safe_filename, sniff_content_type
from connectors.printable import one_line, printable
from inbox import subjects
from inbox.channel import Inbound, ThreadKeys
from inbox.model import Attachment, Flag, Identity

_ANGLE_ID = re.compile(r"<([^<>\s]+)>")
_MAX_REFERENCES = 100
_MAX_HTML_CHARS = 256_000  # html2text takes ~0.7 s/MB; a longer HTML-only body is cut short
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?([\w.:-]{1,40})""", re.I)
_LENIENT_FROM = re.compile(rb"(?im)^from:[ \t]*([^\r\n]*)")
_LENIENT_MSGID = re.compile(rb"(?im)^message-id:[ \t]*<([^<>\s]+)>")
_LENIENT_SUBJECT = re.compile(rb"(?im)^subject:[ \t]*([^\r\n]*)")
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*")

# Labels seen in the wild that the stdlib does not know, or knows as a narrower set.
_ALIASES = {
    "x-mac-cyrillic": "mac-cyrillic",
    "x-mac-ukrainian": "mac-cyrillic",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "unicode-1-1-utf-7": "utf-7",
    "uft-8": "utf-8",
    "utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "iso-8859-1": "cp1252",  # what senders mean: WHATWG maps latin-1 to windows-1252
    "latin1": "cp1252",
    "us-ascii": "ascii",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso8859-8",
    "shift-jis": "shift_jis",
    "x-sjis": "shift_jis",
    "iso-2022-jp": "iso2022_jp_ext",
}
_STATEFUL = ("utf-7", "utf-16", "utf-32", "iso2022", "hz")  # ASCII bytes may not mean ASCII
_MULTIBYTE = ("gb", "big5", "shift_jis", "euc", "cp932", "cp949", "cp950", "iso2022", "hz", "johab")
_CYRILLIC_CODECS = frozenset({"cp1251", "koi8-r", "koi8-u", "mac-cyrillic", "iso8859-5", "cp866"})
_CYRILLIC_GUESSES = ("cp1251", "koi8-r")
# Letter weights: frequent lowercase letters say "real Russian text"; a wrong single-byte
# guess turns them into capitals or symbols.
_WEIGHTS = dict.fromkeys("оеаинтсрвл", 3) | dict.fromkeys("кмдпуяыьгзбчйхжшюцщэфъёіїєґ", 1)
_IMPORTANCE = {"high": "high", "urgent": "high", "1": "high", "2": "high", "normal": "normal",
               "3": "normal", "non-urgent": "low", "low": "low", "4": "low", "5": "low"}
_PLAIN, _HTML = "text/plain", "text/html"
_BACKSLASH_PARKING = "\ue05c"  # stands in for "\\" while html2text runs (see _html_to_text)


class _RawHeaders(Compat32):
    """compat32, except that 8-bit header values stay strings (bytes as surrogates).

    compat32 wraps them in a Header whose str() turns every such byte into U+FFFD, so
    UTF-8 or koi8-r in a raw Subject or filename would be lost before we could decode it.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


_POLICY = _RawHeaders()


def parse_email(
    raw: bytes,
    *,
    account: str,
    source_ref: str = "",
    received_at: datetime | None = None,
    max_attachment_bytes: int = 25 * 2**20,
    own_addresses: Collection[str] = (),
    school_addresses: Collection[str] = (),
) -> Inbound:
    """Normalise one message; it never raises.

    A failure gives an Inbound flagged QUARANTINED with ``raw`` kept, a best-effort text
    and the sender read leniently. ``max_attachment_bytes``: larger attachments keep their
    metadata with ``data=None`` and the message is flagged ATTACHMENT_DROPPED. Mail from
    ``own_addresses`` (with any ``+tag``) is flagged OWN_ADDRESS; from ``school_addresses``
    (the school's other mailboxes, where a person may write) it gets no automatic answer.
    """
    try:
        return _normalise(raw, account, source_ref, received_at, max_attachment_bytes,
                          own_addresses, school_addresses)
    except Exception:  # the invariant: one bad message never stops the daemon
        return _quarantined(raw, account, source_ref, received_at)


def _normalise(raw: bytes, account: str, source_ref: str, received_at: datetime | None,
               max_attachment_bytes: int, own_addresses: Collection[str],
               school_addresses: Collection[str]) -> Inbound:
    # Some stores prepend blank lines, which would turn every header into body text.
    msg = mimetree.parse_bytes(raw.lstrip(b" \t\r\n"), _POLICY)
    head = _Headers(msg)
    lossy: list[bool] = []
    subject = decode_header_value(head["Subject"], lossy)
    name, address = _sender(msg, lossy)
    body = _Body(max_attachment_bytes)
    body.collect(msg)
    text, visible = body.text()
    headers = automail.header_map(msg, head.first)
    auto = automail.classify(msg, headers, subject)
    message_id = _first_id(head["Message-ID"])
    tickets = subjects.tickets(subject)
    flags = set(body.flags) | set(_AUTO_FLAGS.get(auto, ()))
    own = {_untagged(a.lower()) for a in own_addresses if a}
    school = {_untagged(a.lower()) for a in school_addresses if a}
    if any(lossy):
        flags.add(Flag.UNDECODABLE)
    if not address:
        flags.add(Flag.NO_SENDER)
    elif _untagged(address) in own:  # support+t12.token@ is support@'s
        flags.add(Flag.OWN_ADDRESS)
    meta = {"auto": auto, "importance": _importance(head), "content": _content_hash(raw, head)}
    if body.signature_pictures:  # no file its sender meant to send (connectors.signatures)
        meta["signature-pictures"] = " ".join(sorted(body.signature_pictures))
    if "Authentication-Results" in head:
        meta["authentication-results"] = _unfold(head["Authentication-Results"])
    if auto == "bounce" or msg.get_content_type() == "multipart/report":
        # A report (a failure, a delay, a read receipt) belongs with the message it is about;
        # only one that says it failed marks it failed.
        reported = automail.reported_message_id(msg)
        if reported and reported != message_id:
            meta["reported-message-id"] = reported
            if auto == "bounce" and automail.reports_failure(msg):
                meta["bounced-message-id"] = reported
    if auto == "bounce":
        reason = automail.bounce_reason(msg)
        if reason:
            meta["bounce-reason"] = reason
    if why_not := automail.why_not_answer(msg, own | school, headers):
        meta["no-auto-answer"] = why_not
    elif _untagged(address) in school:
        meta["no-auto-answer"] = "it comes from another of the school's mailboxes"
    if outlook := _thread_index(head):  # so our answer joins the customer's conversation
        meta["thread-index"] = outlook
    answer_to = _reply_to(msg, lossy)
    if address and answer_to and answer_to[1] not in {address, *own} and not auto:
        # A web form's mail comes From noreply@ with the parent in Reply-To: the parent is
        # the contact, and answers go to them. The From is kept (agents are known by it).
        meta["from"] = address
        name, address = answer_to  # not the form's own name ("Website Form") for the parent
    hints = {}
    if "Content-Language" in head:
        hints["content-language"] = _unfold(head["Content-Language"]).strip()
    return Inbound(
        channel="email",
        account=account,
        external_id=message_id or _digest_id(raw),
        sender=Identity("email", address or "unknown", name),
        text=text,
        received_at=received_at or _date(head["Date"]),
        raw=raw,
        source_ref=source_ref,
        subject=subject,
        visible_text=None if visible == text else visible,
        html=body.html(),
        attachments=body.attachments,
        recipients=_recipients(msg),
        language_hints=hints,
        keys=ThreadKeys(
            message_id=message_id,
            in_reply_to=_first_id(head["In-Reply-To"]),
            references=_references(head["References"]),
            ticket=tickets[-1] if tickets else None,
        ),
        flags=flags,
        meta=meta,
    )


def _untagged(address: str) -> str:
    """The address without its plus tag: ``support+t12.ab@x`` is ``support@x``."""
    local, at, domain = address.rpartition("@")
    return f"{local.partition('+')[0]}{at}{domain}" if at else address


_AUTO_FLAGS = {
    "auto-replied": (Flag.AUTOMATIC,),
    "bounce": (Flag.BOUNCE, Flag.AUTOMATIC),
    "list": (Flag.MAILING_LIST,),
}


def _quarantined(raw: bytes, account: str, source_ref: str,
                 received_at: datetime | None) -> Inbound:
    head = raw[: raw.find(b"\n\n") if b"\n\n" in raw else 65536]
    sender = Identity("email", "unknown")
    found = _LENIENT_FROM.search(head)
    if found:
        line = found.group(1).decode("utf-8", "replace")
        address = _ADDRESS.search(line)
        if address:
            sender = Identity("email", address.group(0).lower())
    msgid = _LENIENT_MSGID.search(head)
    return Inbound(
        channel="email",
        account=account,
        external_id=msgid.group(1).decode("ascii", "replace") if msgid else _digest_id(raw),
        sender=sender,
        subject=_lenient_subject(head),
        text=raw.decode("utf-8", "replace"),
        received_at=received_at or datetime.now(UTC),
        raw=raw,
        source_ref=source_ref,
        flags={Flag.QUARANTINED},
        meta={"auto": ""},
    )


def _lenient_subject(head: bytes) -> str:
    """The Subject line of a message the parser failed on, so its thread is named by it."""
    found = _LENIENT_SUBJECT.search(head)
    line = found.group(1).decode("utf-8", "replace")[:500] if found else ""
    try:
        return one_line(decode_header_value(line))
    except Exception:  # this runs when parsing already failed: it must not fail too
        return one_line(line)


def _digest_id(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _content_hash(raw: bytes, head: _Headers) -> str:
    """What two copies of one mail share: From, Subject, Date and the body.

    Copies differ only in what servers add on the way (Received, Delivered-To), so they
    are one message; a different mail reusing a Message-ID (some web forms send one
    fixed id) differs here and must not be taken for a re-delivery. Copies in one mailbox
    share its server's line ends; trailing blank lines do not count. CRC-32 and Adler-32
    together (64 bits) tell apart the few mails sharing an id, at a twentieth of SHA-256's
    cost: every message pays for this, and almost none reuses an id.
    """
    start = raw.find(b"\r\n\r\n")
    if start >= 0:
        start += 4
    else:
        start = raw.find(b"\n\n")
        start = len(raw) if start < 0 else start + 2
    end = len(raw)
    while end > start and raw[end - 1] in b"\r\n \t":
        end -= 1
    body = memoryview(raw)[start:end]
    heads = "\0".join(_unfold(head[name]) for name in ("From", "Subject", "Date"))
    heads_bytes = heads.encode("utf-8", "surrogateescape")
    crc = zlib.crc32(heads_bytes, zlib.crc32(body))
    adler = zlib.adler32(heads_bytes, zlib.adler32(body))
    return f"{crc:08x}{adler:08x}"


# --- charsets -------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _codec(label: str | None) -> str | None:
    """The stdlib codec name for a charset label, or None when nobody knows it."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_bytes(data: bytes, label: str | None) -> tuple[str, bool]:
    """Text from ``data`` whose charset is claimed to be ``label``; True when lossy.

    The label is a hint: valid UTF-8 wins over a single-byte label, Cyrillic single-byte
    labels are checked against each other for plausibility, and unlabelled 8-bit text
    is tried as UTF-8, then windows-1251/koi8-r, then windows-1252.
    """
    codec = _codec(label)
    stateful = codec is not None and codec.startswith(_STATEFUL)
    if data.isascii() and not stateful:
        return data.decode("ascii"), False
    if not stateful and not (codec or "").startswith(_MULTIBYTE):
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    if codec in _CYRILLIC_CODECS:
        return _best_cyrillic(data, codec)[0], False
    if codec in (None, "ascii", "utf-8", "cp1252", "iso8859-15"):
        text, lossy = _guess(data, codec)
        # A guess for a charset we do not know ("x-made-up") that reads as no letters: say so.
        return text, lossy or (bool(label) and codec is None and not _letters(text))
    text = data.decode(codec, "replace")
    return text, "\ufffd" in text and b"\xef\xbf\xbd" not in data


def _guess(data: bytes, codec: str | None) -> tuple[str, bool]:
    """Unlabelled, ASCII-labelled or invalid-UTF-8 bytes: mostly-UTF-8 stays UTF-8."""
    as_utf8 = data.decode("utf-8", "replace")
    broken = as_utf8.count("\ufffd")
    if codec != "cp1252" and broken * 10 < _non_ascii(as_utf8):
        return as_utf8, True
    cyrillic, score = _best_cyrillic(data, "cp1251")
    if score > 0.5 * _non_ascii(cyrillic):  # it reads as Cyrillic rather than cp1252 mojibake
        return cyrillic, False
    return data.decode("cp1252", "replace").replace("\ufffd", ""), False


def _letters(text: str) -> bool:
    """Whether most of a guess's non-ASCII characters are letters ("Größe", not "‚ƒ„")."""
    foreign = [ch for ch in text if not ch.isascii()]
    return sum(ch.isalpha() for ch in foreign) * 2 >= len(foreign)


def _non_ascii(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))


def _best_cyrillic(data: bytes, labelled: str) -> tuple[str, float]:
    """The text in ``labelled`` or the other Cyrillic guess that reads far better, and its
    score."""
    best = labelled
    label_score = best_score = _cyrillic_score(data, labelled)
    for other in _CYRILLIC_GUESSES:
        if other == labelled:
            continue
        score = _cyrillic_score(data, other)
        if score > best_score and score > max(label_score, 0) * 1.3 + 4:
            best, best_score = other, score
    return data.decode(best, "replace"), best_score


def _cyrillic_score(data: bytes, codec: str) -> float:
    """How much ``data`` decoded by a single-byte ``codec`` reads as Cyrillic: frequent
    lowercase letters count for it, symbols against, Latin letters glued to Cyrillic ones
    (a wrong guess's mix) against. Scored on the bytes (one character each), so a guess
    is decoded only once it has won."""
    weights, mixed = _byte_weights(codec)
    score = 0.0
    for byte, n in Counter(data).items():
        score += weights[byte] * n
    return score - 4 * len(mixed.findall(data))


@lru_cache(maxsize=16)
def _byte_weights(codec: str) -> tuple[tuple[int, ...], re.Pattern[bytes]]:
    """Each byte's letter weight in ``codec``, and what a Latin letter next to a Cyrillic one
    is in its bytes."""
    weights, cyrillic = [0] * 256, []
    for byte in range(0x80, 0x100):
        char = bytes([byte]).decode(codec, "replace")
        weight = _WEIGHTS.get(char)
        weights[byte] = (0 if char.isupper() else -2) if weight is None else weight
        if "\u0400" <= char <= "\u04ff":
            cyrillic.append(re.escape(bytes([byte])))
    letters = b"[" + b"".join(cyrillic) + b"]" if cyrillic else b"(?!)"
    return tuple(weights), re.compile(b"[A-Za-z]" + letters + b"|" + letters + b"[A-Za-z]")


# --- headers --------------------------------------------------------------------------


def _get(msg: Message, name: str) -> str:
    value = msg.get(name)
    return "" if value is None else str(value)


class _Headers:
    """A message's headers by name (the first of each; "" when absent), read once
    (:func:`automail.first_headers`) for the twenty names a mail is asked. A value holding
    8-bit bytes is still taken from ``Message.get``, which gives it as compat32 does.
    """

    def __init__(self, msg: Message) -> None:
        self._msg = msg
        self.first = automail.first_headers(msg)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self.first

    def __getitem__(self, name: str) -> str:
        value = self.first.get(name.lower())
        if value is None:
            return ""
        return value if isinstance(value, str) and value.isascii() else _get(self._msg, name)


def _unfold(value: str) -> str:
    if "\n" not in value and "\r" not in value:  # most headers: one line
        return value.strip()
    return _FOLD.sub("", value).strip()


def _raw_bytes(value: str) -> bytes:
    """Undo compat32's surrogateescape so 8-bit header bytes can be decoded properly."""
    return value.encode("utf-8", "surrogateescape")


def decode_header_value(value: str, lossy: list[bool] | None = None) -> str:
    """An RFC 2047 / raw 8-bit header as text; broken encoded words stay as written.

    Adjacent encoded words in one charset are joined as bytes before decoding, so a
    character split across two words does not become two halves and a stray space.
    """
    value = _unfold(value)
    if value.isascii() and "=?" not in value:  # nothing encoded, nothing 8-bit: as it is
        return one_line(value)
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset = ""
    last_end = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending:
            out.append(_decode_piece(bytes(pending), pending_charset, lossy))
            pending.clear()
        pending_charset = ""

    for word in _ENCODED_WORD.finditer(value):
        between = value[last_end : word.start()]
        charset = word.group(1).split("*", 1)[0]
        decoded = _decode_word(word.group(2), word.group(3))
        if decoded is None:  # not really an encoded word: keep the text as it is
            continue
        if between and not (between.isspace() and last_end):  # RFC 2047: space between words goes
            flush()
            out.append(_decode_piece(_raw_bytes(between), None, lossy))
        if pending and charset.lower() != pending_charset.lower():
            flush()
        pending.extend(decoded)
        pending_charset = charset
        last_end = word.end()
    flush()
    rest = value[last_end:]
    if rest:
        out.append(_decode_piece(_raw_bytes(rest), None, lossy))
    return one_line("".join(out))


def _decode_word(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding in "bB":
            if _NOT_BASE64.search(payload):
                return None
            cleaned = payload.rstrip("=")
            if len(cleaned) % 4 == 1:
                cleaned = cleaned[:-1]
            return binascii.a2b_base64(cleaned + "=" * (-len(cleaned) % 4))
        return binascii.a2b_qp(payload.encode("ascii", "surrogateescape"), header=True)
    except (binascii.Error, ValueError):
        return None


def _decode_piece(data: bytes, charset: str | None, lossy: list[bool] | None) -> str:
    text, was_lossy = decode_bytes(data, charset)
    if was_lossy and lossy is not None:
        lossy.append(True)
    return text


def _addresses(msg: Message, *names: str) -> list[tuple[str, str]]:
    values = [_unfold(str(v)) for name in names for v in (msg.get_all(name) or [])]
    simple = [_SIMPLE_ADDRESS.fullmatch(value) for value in values]
    if all(simple):  # what getaddresses gives for these, without its character walk
        pairs = [(found[1] if found[1] is not None else _SPACES.sub(" ", found[2] or ""),
                  found[3] or found[4]) for found in simple]
    else:
        pairs = getaddresses(values)
    return [(n, a) for n, a in pairs if a and "@" in a]


# One "Name <local@domain>" or a bare address, the form nearly every From, To and Cc has,
# in words with no character RFC 5322 gives a meaning (no comments, dots in the name,
# groups), or with the whole name in one quoted string without escapes (what most mail
# clients write): email.utils.getaddresses reads it as the name's words joined by one
# space, a quoted name as written between its quotes, and the address as written
# (tests/test_mime.py holds the two together on the corpus and on tricky forms).
_ATOM = r"""[^ \t\r\n()<>@,:;."\[\]\\]+"""  # and only these four are its white space
_DOTTED = rf"{_ATOM}(?:\.{_ATOM})*"
_WS = r"[ \t\r\n]"
_SIMPLE_ADDRESS = re.compile(
    rf'{_WS}*(?:"([^"\\\r\n]*)"{_WS}*|((?:{_ATOM}{_WS}+)*{_ATOM}){_WS}*)?'
    rf"<({_DOTTED}@{_DOTTED})>{_WS}*"
    rf"|{_WS}*({_DOTTED}@{_DOTTED}){_WS}*")
_SPACES = re.compile(rf"{_WS}+")


def _sender(msg: Message, lossy: list[bool]) -> tuple[str, str]:
    for header in ("From", "Sender", "Reply-To"):
        found = _addresses(msg, header)
        if found:
            name, address = found[0]
            address = decode_header_value(address, lossy).lower()
            return decode_header_value(name, lossy).strip("\"' "), address
    return "", ""


def _reply_to(msg: Message, lossy: list[bool]) -> tuple[str, str] | None:
    """(name, address) of a Reply-To naming one address; None otherwise (a list of them
    is a group's, not the writer's)."""
    found = _addresses(msg, "Reply-To")
    if len(found) != 1 or "@" not in found[0][1]:
        return None
    name, address = found[0]
    return decode_header_value(name, lossy).strip("\"' "), decode_header_value(address).lower()


def _recipients(msg: Message) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for _, address in _addresses(msg, "To", "Cc"):
        seen.setdefault(decode_header_value(address).lower(), None)
    return tuple(seen)


def _first_id(value: str) -> str:
    found = _ANGLE_ID.search(value)
    if found:
        return found.group(1)
    parts = value.split()
    return parts[0].strip("<>") if parts else ""


def _references(value: str) -> tuple[str, ...]:
    ids = _ANGLE_ID.findall(value) or [p.strip("<>") for p in value.split() if "@" in p]
    return tuple(dict.fromkeys(ids))[-_MAX_REFERENCES:]


def _date(value: str) -> datetime:
    """The Date header; now (whole seconds, as a Date header has) when it is missing or bad."""
    parsed = parsedate_tz(_unfold(value)) if value else None
    if parsed is not None:
        try:
            offset = timezone(timedelta(seconds=parsed[9] or 0))
            return datetime(*parsed[:6], tzinfo=offset)
        except (ValueError, OverflowError, TypeError):
            pass
    return datetime.now(UTC).replace(microsecond=0)


def _thread_index(head: _Headers) -> str:
    """Outlook's conversation index (22 bytes, then 5 per reply), when the mail has a valid
    one; else ""."""
    value = "".join(head["Thread-Index"].split())
    try:
        size = len(b64decode(value, validate=True)) if value else 0
    except (ValueError, binascii.Error):
        return ""
    return value if size >= 22 and (size - 22) % 5 == 0 else ""


def _importance(head: _Headers) -> str:
    for header in ("Importance", "X-Priority", "X-MSMail-Priority", "Priority"):
        words = head[header].strip().lower().replace("(", " ").split()
        if words and words[0] in _IMPORTANCE:
            return _IMPORTANCE[words[0]]
    return "normal"


# --- bodies and attachments -------------------------------------------------------------


class _Body:
    """Walks the part tree once, sorting leaves into body text, HTML and attachments."""

    def __init__(self, max_attachment_bytes: int) -> None:
        self.max_attachment_bytes = max_attachment_bytes
        self.plain: list[str] = []
        self.html_parts: list[str] = []
        self.attachments: list[Attachment] = []
        self.enclosed: list[Message] = []  # attached messages, for a forward with no text
        self.signature_pictures: frozenset[str] = frozenset()  # Content-IDs a signature shows
        self.flags: set[str] = set()

    def collect(self, msg: Message) -> None:
        leaves = []
        for part in _leaves(msg):
            disposition = _get(part, "Content-Disposition").split(";", 1)[0].strip().lower()
            ctype = part.get_content_type()
            if ctype.startswith("multipart/"):  # no boundary to split it by: read it as text
                ctype = _PLAIN
                self.flags.add(Flag.UNDECODABLE)
            leaves.append((part, ctype, disposition, self._filename(part)))
        # A named text part is also the body text when nothing else is (one .txt file).
        named_body = not any(_is_body(c, d) and not f for _, c, d, f in leaves)
        for part, ctype, disposition, filename in leaves:
            if _is_body(ctype, disposition) and (not filename or named_body):
                self._add_text(part, ctype)
                if not filename:
                    continue
                named_body = False
            self._attach(part, ctype, disposition, filename)

    def _add_text(self, part: Message, ctype: str) -> None:
        data = _payload(part)
        label = _charset(part)
        # HTML that names no charset in its Content-Type may name one in a <meta> tag (not
        # when it names one we cannot read: that one is as good as none).
        if ctype == _HTML and not label and not part.get_param("charset"):
            meta = _META_CHARSET.search(data[:4096])
            label = meta.group(1).decode("ascii") if meta else None
        text, lossy = decode_bytes(data, label)
        if lossy:
            self.flags.add(Flag.UNDECODABLE)
        text = printable(text.replace("\r\n", "\n").replace("\r", "\n"))
        if (ctype == _PLAIN and _may_hold(part, "format", "Content-Type")
                and str(part.get_param("format", "")).lower() == "flowed"):
            text = unflow(text, delsp=str(part.get_param("delsp", "")).lower() == "yes")
        (self.plain if ctype == _PLAIN else self.html_parts).append(text)
        if ctype == _HTML and "data:image/" in text:
            self._keep_embedded_images(text)

    def _keep_embedded_images(self, html: str) -> None:
        """Save pictures pasted into HTML as ``data:`` URIs: a receipt or a sick note may be
        the whole message, and html2text drops every image."""
        for found in _DATA_IMAGE.finditer(html[:_MAX_HTML_CHARS]):
            try:
                data = b64decode("".join(found[2].split()), validate=True)
            except (ValueError, binascii.Error):
                self.flags.add(Flag.UNDECODABLE)
                continue
            self._keep(data, found[1].lower(), "", inline=True, content_id="")

    def _filename(self, part: Message) -> str:
        if not _may_hold(part, "name", "Content-Disposition", "Content-Type"):
            return ""  # (filename=, name=, name*0*=): what get_filename would find
        try:
            name = part.get_filename() or ""
        except (ValueError, LookupError, TypeError):
            name = ""
        lossy: list[bool] = []
        name = decode_header_value(name, lossy) if name else ""
        if lossy:
            self.flags.add(Flag.UNDECODABLE)
        return name

    def _attach(self, part: Message, ctype: str, disposition: str, filename: str) -> None:
        if ctype.startswith("message/"):
            data, inner = _enclosed(part)
            if inner is not None and ctype in ("message/rfc822", "message/global"):
                self.enclosed.append(inner)
                subject = decode_header_value(_get(inner, "Subject"))
                filename = filename or (f"{subject}.eml" if subject else "")
        else:
            data = _payload(part)
        content_id = _first_id(_get(part, "Content-ID"))
        self._keep(data, ctype, filename, content_id=content_id,
                   inline=disposition == "inline" or (not disposition and bool(content_id)))

    def _keep(self, data: bytes, ctype: str, filename: str, *, inline: bool,
              content_id: str) -> None:
        content_type = sniff_content_type(data, ctype)
        size = len(data)
        if size > self.max_attachment_bytes:
            self.flags.add(Flag.ATTACHMENT_DROPPED)
            data = None
        self.attachments.append(Attachment(
            filename=safe_filename(filename, len(self.attachments) + 1, content_type),
            content_type=content_type,
            size=size,
            data=data,
            inline=inline,
            content_id=content_id,
        ))

    def text(self) -> tuple[str, str]:
        """The full plain text and the visible reply.

        A forward sent as an attachment (a teacher passing a parent's question on) shows
        the forwarded text when the mail has none of its own; otherwise that text follows
        the mail's own, below a forward line, so it is searchable and in the full text
        while the visible reply stays the sender's own words.
        """
        if self.plain:
            text = "\n".join(self.plain)
        elif self.html_parts:
            text = _html_to_text("\n".join(self.html_parts))
        else:
            text = ""
        if self.enclosed:
            forwarded = self.enclosed[0]
            inner = _Body(self.max_attachment_bytes)
            inner.collect(forwarded)
            self.flags |= inner.flags & {Flag.UNDECODABLE}
            if not text.strip():
                return inner.text()
            header = "\n".join(f"{name}: {decode_header_value(_get(forwarded, name))}"
                               for name in ("From", "Date", "Subject") if forwarded.get(name))
            text = (f"{text.rstrip()}\n\n---------- Forwarded message ----------\n{header}"
                    f"\n\n{inner.text()[0]}")
        reply = quotes.split_reply(text)
        visible = reply.visible
        if self.html_parts and not reply.quoted_only:  # Outlook marks its signature there
            html = "\n".join(self.html_parts)[:_MAX_HTML_CHARS]  # as much as is read as text
            first, self.signature_pictures = signatures.marked(html)
            own = signatures.cut(visible, first)
            if own is None and reply.rest:  # Send pressed: the signature above the quote
                self.flags.add(Flag.QUOTED_ONLY)
                return text, text.strip()
            visible = own or visible
        if reply.quoted_only:
            self.flags.add(Flag.QUOTED_ONLY)
        return text, visible

    def html(self) -> str | None:
        return "\n".join(self.html_parts) if self.html_parts else None


def unflow(text: str, *, delsp: bool = False) -> str:
    """RFC 3676 format=flowed as its writer meant it: a line ending in a space goes on in the
    next line of the same quote depth (Thunderbird and Apple Mail wrap so at 72 columns)."""
    lines: list[str] = []
    joined: str | None = None
    depth_of_joined = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content[1:] if content.startswith(" ") else content  # space-stuffing
        flowed = content.endswith(" ") and content != "-- "  # a signature line never flows
        if flowed and delsp:
            content = content[:-1]
        if joined is not None and depth == depth_of_joined:
            joined += content
        else:
            if joined is not None:
                lines.append(_quoted(depth_of_joined, joined))
            joined, depth_of_joined = content, depth
        if not flowed:
            lines.append(_quoted(depth, joined))
            joined = None
    if joined is not None:
        lines.append(_quoted(depth_of_joined, joined))
    return "\n".join(lines)


def _quoted(depth: int, text: str) -> str:
    return f"{'>' * depth} {text}" if depth else text


def _may_hold(part: Message, param: str, *headers: str) -> bool:
    """Whether a parameter named with ``param`` can be in these headers at all: asking the
    stdlib for one parses every parameter of the header, and most headers hold none such."""
    return any(param in _get(part, header).lower() for header in headers)


def _is_body(ctype: str, disposition: str) -> bool:
    return ctype in (_PLAIN, _HTML) and disposition != "attachment"


def _leaves(msg: Message) -> Iterator[Message]:
    """Leaf parts in document order; message/* parts are leaves (kept whole, not opened)."""
    stack = [msg]
    while stack:
        part = stack.pop()
        if part.get_content_maintype() != "message" and part.is_multipart():
            children = part.get_payload()
            stack.extend(reversed([c for c in children if isinstance(c, Message)]))
        else:
            yield part


def _charset(part: Message) -> str | None:
    value = part.get("content-type")  # a Header object when it holds 8-bit bytes
    found = _SIMPLE_CHARSET.fullmatch(value) if isinstance(value, str) else None
    if found:  # what get_content_charset reads there, without its parameter parser
        return (found[1] or found[2]).lower()
    try:
        return part.get_content_charset()
    except (ValueError, LookupError, TypeError):
        return None


# "type/subtype; charset=name" (name plain or in quotes; plain parameters after it), the
# form of nearly every text part's Content-Type: the stdlib parses all parameters to find
# the first charset, which is this one. RFC 2231 parameters ("x*=", "x*0=") after it go to
# the stdlib, which can fail on them (and then the body's charset is guessed);
# tests/test_mime.py holds the two together on the corpus and on tricky forms.
_TOKEN = r"[!#-'*+\-.0-9A-Z^-~]+"  # RFC 2045: printable ASCII but tspecials
_SIMPLE_CHARSET = re.compile(
    rf"[ \t\r\n]*{_TOKEN}/{_TOKEN}[ \t\r\n]*;[ \t\r\n]*charset[ \t\r\n]*=[ \t\r\n]*"
    rf'(?:"({_TOKEN})"|({_TOKEN}))[ \t\r\n]*(?:;[^*]*)?', re.IGNORECASE | re.ASCII)


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""


def _enclosed(part: Message) -> tuple[bytes, Message | None]:
    """A message/* part's bytes and, for message/rfc822, the message inside.

    compat32 parses the payload as a message even when it is (illegally) base64 or
    quoted-printable encoded; then the parsed body is the encoded text, decoded here.
    """
    payload = part.get_payload()
    messages = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
    data = b"\n".join(p.as_bytes(policy=compat32) for p in messages) if messages else _payload(part)
    inner = messages[0] if len(messages) == 1 else None
    encoding = _get(part, "Content-Transfer-Encoding").strip().lower()
    if encoding in ("base64", "quoted-printable") and inner is not None:
        encoded = inner.as_bytes(policy=compat32)
        try:
            data = (binascii.a2b_base64(encoded) if encoding == "base64"
                    else binascii.a2b_qp(encoded))
        except (binascii.Error, ValueError):
            return data, inner
        inner = mimetree.parse_bytes(data, _POLICY)
    return data, inner


# A picture pasted into HTML mail: <img src="data:image/png;base64,...">
_DATA_IMAGE = re.compile(
    r"""src\s*=\s*["']?data:(image/[\w.+-]{1,40});base64,([A-Za-z0-9+/=\s]+)""", re.IGNORECASE)


def _html_to_text(html: str) -> str:
    r"""Readable text from HTML, with the customer's characters exactly as written.

    html2text writes Markdown, so it escapes: "\\server\share" came out as "\\\server\share"
    and a line starting "500." as "500\.". Every backslash of the input is parked on a
    private-use character while it runs; the backslashes in its output are then its own
    escapes, dropped, and the parked ones come back unchanged.
    """
    html = html[:_MAX_HTML_CHARS]
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    if _BACKSLASH_PARKING in html:  # nowhere to park: keep html2text's escapes
        text = converter.handle(html)
    else:
        text = converter.handle(html.replace("\\", _BACKSLASH_PARKING))
        text = text.replace("\\", "").replace(_BACKSLASH_PARKING, "\\")
    text = _MARKDOWN_LINK.sub(_plain_link, _AUTOLINK.sub(r"\1", text))
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


# html2text's links, as Markdown: "[расписание](https://…)", "<https://…>". A parent reading
# an agent's answer, or an agent a parent's, should see "расписание (https://…)" instead.
_URL = r"(?:https?|ftp|mailto|tel):[^\s()<>]+"
_MARKDOWN_LINK = re.compile(rf"\[([^\[\]\n]*)\]\(({_URL})(?: \"[^\"\n]*\")?\)")
_AUTOLINK = re.compile(rf"<({_URL})>")


def _plain_link(found: re.Match[str]) -> str:
    text, url = found.group(1).strip(), found.group(2)
    bare = url.removeprefix("mailto:")  # an address reads as itself
    if not text or text in (url, bare, url.removeprefix("tel:")):
        return bare
    return f"{text} ({url})"
