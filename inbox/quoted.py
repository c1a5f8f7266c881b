"""Whether a message quotes an earlier one: proof that its sender has seen it.

A reply whose mail client dropped In-Reply-To and References can still be placed:
it nearly always quotes the message it answers. Quoted text is evidence a subject
alone is not: a stranger who copies a subject learns nothing, but only someone who
received the thread's mail can quote it. (The thread's replies still go only to the
thread's contact, so placing a message never sends anyone the thread.)
"""

from __future__ import annotations

from collections.abc import Iterable

# Shorter lines ("Hello,", "Best regards,", a name) are common to many messages.
MIN_LINE = 30
# A quote must carry at least this much of the earlier text: one stock sentence is not proof.
MIN_QUOTED = 60
# ... and most of it: a reply quotes the whole message it answers, save greeting and signature.
MIN_SHARE = 0.6


def best_quoted(text: str, candidates: Iterable[tuple[int, str]],
                minimum: int = MIN_QUOTED) -> int | None:
    """The id of the (id, earlier text) candidate that ``text`` quotes, or None.

    Each earlier text scores the characters of its substantial lines found in ``text``,
    however they were re-wrapped or marked (``>``, indentation); it must reach ``minimum``
    and MIN_SHARE. None when no candidate is quoted enough or two score the same (a
    canned answer sent to both): a guess between two threads is worse than a new thread.
    """
    flat = _flat(text)
    scores: dict[int, int] = {}
    for key, earlier in candidates if flat else ():
        lines = [line for line in map(_flat, earlier.splitlines()) if len(line) >= MIN_LINE]
        quoted = sum(len(line) for line in lines if line in flat)
        if quoted >= minimum and quoted >= MIN_SHARE * sum(map(len, lines)):
            scores[key] = max(scores.get(key, 0), quoted)
    ranked = sorted(scores.values(), reverse=True)
    if not ranked or (len(ranked) > 1 and ranked[0] == ranked[1]):
        return None
    return next(key for key, score in scores.items() if score == ranked[0])


def _flat(text: str) -> str:
    return " ".join(text.replace(">", " ").split()).casefold()
