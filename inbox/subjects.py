"""Subject lines as people's mail clients mangle them: reply prefixes and our ticket token.

Used where a subject must be compared (threading a reply whose client dropped the
headers) or shown without the clutter (Outlook's Thread-Topic).
"""

from __future__ import annotations

import re

REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|ответ|отв|на|пересл)\s*(?:\[\d+\])?\s*:\s*)+",
    re.IGNORECASE)
FORWARD = re.compile(r"^\s*(?:fw|fwd|wg|tr|пересл)\s*:", re.IGNORECASE)
TICKET = re.compile(r"\[#(\d{1,18})\]")  # the token outgoing mail carries: "Re: Оплата [#42]"


def strip_prefixes(subject: str) -> str:
    """``Re: AW: Fwd: Оплата`` → ``Оплата``."""
    return REPLY_PREFIX.sub("", subject)


def is_reply(subject: str) -> bool:
    return bool(REPLY_PREFIX.match(subject))


def is_forward(subject: str) -> bool:
    """``Fwd: …``: a person passing a mail on (a bounce or an auto-reply never starts so)."""
    return bool(FORWARD.match(subject))


def tickets(subject: str) -> list[int]:
    """The ticket numbers a subject carries, in order (ours is the last: we append it)."""
    return [int(number) for number in TICKET.findall(subject)]


def without_tokens(subject: str) -> str:
    """The subject without ticket tokens, in single spaces."""
    return " ".join(TICKET.sub(" ", subject).split())


def normalise(subject: str) -> str:
    """The subject's words only: no prefixes, no ticket token, one space, lower case."""
    return without_tokens(strip_prefixes(subject)).casefold()
