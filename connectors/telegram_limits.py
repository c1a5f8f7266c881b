"""Telegram's sending limits: how long one message may be, and how often the bot may send.

Telegram answers a flood with 429 and, if it goes on, bans the bot for minutes;
it documents about one message per second per chat, 20 per minute per group and
30 per second per bot. :class:`SendLimiter` keeps below that by making senders
wait, whether the outbox sends one at a time or many at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

MAX_TEXT = 4096  # per message, counted in UTF-16 code units (the stricter reading)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most ``limit`` UTF-16 units, cut at paragraphs, then lines, words, anywhere.

    The separator at a cut is dropped and blank pieces are left out (Telegram
    refuses them); a text within the limit comes back whole.
    """
    pieces: list[str] = []
    rest = text
    while _units(rest) > limit:
        head = _prefix(rest, limit)
        for separator in ("\n\n", "\n", " "):
            cut = head.rfind(separator)
            if cut > 0:
                pieces.append(rest[:cut])
                rest = rest[cut + len(separator):]
                break
        else:
            pieces.append(head)
            rest = rest[len(head):]
    pieces.append(rest)
    return [piece for piece in pieces if piece.strip()] or [text]


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prefix(text: str, limit: int) -> str:
    """The longest prefix within ``limit`` UTF-16 units that does not split a character."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


class SendLimiter:
    """Spaces sends: ``chat_interval`` seconds apart per chat, ``bot_interval`` apart per bot.

    Group chats (negative ids) get ``group_interval``. Reservations are made
    without awaiting between the check and the booking, so concurrent senders
    on one event loop never share a slot.
    """

    def __init__(self, chat_interval: float = 1.0, group_interval: float = 3.0,
                 bot_interval: float = 1 / 30, clock: Callable[[], float] = time.monotonic):
        self.chat_interval = chat_interval
        self.group_interval = group_interval
        self.bot_interval = bot_interval
        self.clock = clock
        self._chat_next: dict[int, float] = {}
        self._bot_next = 0.0

    async def acquire(self, chat_id: int) -> None:
        """Wait until one message may go to ``chat_id``, and book it."""
        while True:
            now = self.clock()
            start = max(now, self._chat_next.get(chat_id, now), self._bot_next)
            if start <= now:
                interval = self.group_interval if chat_id < 0 else self.chat_interval
                self._chat_next[chat_id] = now + interval
                self._bot_next = now + self.bot_interval
                return
            await asyncio.sleep(start - now)

    def pause(self, chat_id: int, seconds: float) -> None:
        """Telegram said to wait (429): hold this chat back for ``seconds``."""
        until = self.clock() + seconds
        self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), until)
