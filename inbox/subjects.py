"""Subject lines as people's mail clients mangle them: reply prefixes and our ticket token.

Used where a subject must be compared (threading a reply whose client dropped the
headers) or shown without the clutter (Outlook's Thread-Topic).
"""

from __future__ import annotations

import re

REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|ответ|отв|на|пересл)\s*(?:\[\d+\])?\s*:\s*)+",
    re.IGNORECASE)
TICKET_TOKEN = re.compile(r"\s*\[#\d+\]\s*")


def strip_prefixes(subject: str) -> str:
    """``Re: AW: Fwd: Оплата`` → ``Оплата``."""
    return REPLY_PREFIX.sub("", subject)


def is_reply(subject: str) -> bool:
    return bool(REPLY_PREFIX.match(subject))


def normalise(subject: str) -> str:
    """The subject's words only: no prefixes, no ticket token, one space, lower case."""
    return " ".join(TICKET_TOKEN.sub(" ", strip_prefixes(subject)).split()).casefold()
