"""Raw RFC 5322 bytes -> the ``email.message.Message`` tree the stdlib parser makes, faster.

``email.parser.BytesParser`` reads every line of a body through a Python loop and
compiles a regular expression for every MIME boundary (a fresh one per multipart, so its
cache never helps): for the benchmark mailbox that is a fifth of ingesting a mail. Here
the well-formed common case is split with ``str.find`` and a fixed expression, and every
header block still goes through the policy's own ``header_source_parse``: the tree is
the stdlib's to the byte (``tests/test_mimetree.py`` compares the two on every corpus
mail and on generated ones). Anything the stdlib would record a defect for, and every
``message/*`` part (parsed as a message inside), goes to the stdlib parser whole, so
malformed mail is read exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import Message
from email.parser import BytesParser
from email.policy import Policy

# feedparser.headerRE: what the stdlib takes for a header line (the rest ends the block).
_HEADER_LINES = re.compile(r"(?:(?:[\041-\071\073-\176]+:|[\t ])[^\r\n]*(?:\r\n|\r|\n))*")
_LAST_HEADER_LINE = re.compile(r"(?:[\041-\071\073-\176]+:|[\t ])[^\r\n]*\Z")
_EOL = re.compile(r"\r\n|\r|\n")
# What may follow "--boundary" on a boundary line (feedparser's boundaryre, less the boundary).
_BOUNDARY_TAIL = re.compile(r"(--)?[ \t]*(\r\n|\r|\n|\Z)")
# Lines as the stdlib's reader cuts them (io.StringIO(newline="")): not str.splitlines,
# which also breaks at form feeds and other controls a header may hold.
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_ENCODINGS_OF_MULTIPART = ("7bit", "8bit", "binary")


class _Unusual(Exception):
    """The fast path does not handle this mail: the stdlib parser reads it."""


def parse_bytes(raw: bytes, policy: Policy) -> Message:
    """What ``BytesParser(policy=policy).parsebytes(raw)`` returns, for any input."""
    text = raw.decode("ascii", "surrogateescape")  # as BytesParser does
    if not text.startswith("From "):  # an mbox envelope line: the stdlib keeps it apart
        try:
            return _message(text, policy)
        except _Unusual:
            pass
    return BytesParser(policy=policy).parsebytes(raw)


def _message(text: str, policy: Policy, *, part: bool = False) -> Message:
    """A message or, with ``part``, a part, whose last line end belongs to the boundary
    line after it (RFC 2046 5.1.1)."""
    msg = Message(policy)
    body = _headers(text, msg, policy)
    kind = msg.get_content_type()
    if kind.startswith("message/") or kind == "multipart/digest":
        raise _Unusual  # parsed as messages inside (a digest's parts are message/rfc822)
    if kind.startswith("multipart/"):
        _parts(msg, body, policy)
        if part:
            msg.epilogue = _without_last_eol(msg.epilogue) if msg.epilogue else None
    else:
        msg.set_payload(_without_last_eol(body) if part else body)
    return msg


def _headers(text: str, msg: Message, policy: Policy) -> str:
    """Set ``msg``'s headers from the block at the start of ``text``; returns the body."""
    end = _HEADER_LINES.match(text).end()
    rest = text[end:]
    if not rest:
        body = ""
    elif (eol := _EOL.match(rest)) is not None:
        body = rest[eol.end():]  # the blank line between header and body
    elif _LAST_HEADER_LINE.match(rest):
        end, body = len(text), ""  # a last header line without a line end
    else:
        raise _Unusual  # a line that is no header before any blank line: a defect
    lines = _LINES.findall(text, 0, end)
    if lines and lines[0][0] in " \t":
        raise _Unusual  # a continuation with nothing to continue: a defect
    field: list[str] = []
    for line in lines:
        if line[0] not in " \t" and field:
            msg.set_raw(*policy.header_source_parse(field))
            field = []
        field.append(line)
    if field:
        msg.set_raw(*policy.header_source_parse(field))
    return body


def _parts(msg: Message, body: str, policy: Policy) -> None:
    """Split a multipart body at its boundary lines as the stdlib does."""
    boundary = msg.get_boundary()
    if boundary is None or "\r" in boundary or "\n" in boundary:
        raise _Unusual  # the stdlib matches a boundary line by line: one with a break never
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in _ENCODINGS_OF_MULTIPART:
        raise _Unusual
    separator = "--" + boundary
    lines = _boundary_lines(body, separator)
    first = next(lines, None)
    if first is None or first[2]:
        raise _Unusual  # no opening boundary line
    start, end, closing = first
    if start:
        msg.preamble = _without_last_eol(body[:start])
    while not closing:
        after = next(lines, None)
        if after is None:
            raise _Unusual  # no closing boundary line
        if after[0] == end:
            raise _Unusual  # boundary lines one after the other
        msg.attach(_message(body[end:after[0]], policy, part=True))
        start, end, closing = after
    msg.epilogue = body[end:]


def _boundary_lines(body: str, separator: str) -> Iterator[tuple[int, int, bool]]:
    """(start, end, closing) of each line of ``body`` that is a boundary line."""
    size = len(separator)
    position = body.find(separator)
    while position >= 0:
        if position == 0 or body[position - 1] in "\r\n":
            tail = _BOUNDARY_TAIL.match(body, position + size)
            if tail is not None:
                yield position, tail.end(), tail.group(1) is not None
        position = body.find(separator, position + 1)


def _without_last_eol(text: str) -> str:
    """``text`` less one line end (feedparser's NLCRE_eol, without its scan of the text)."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\r", "\n")) else text
