"""The customer's verdict on an automatic FAQ answer: "1"/"2" by mail, or its buttons.

Read by the FAQ hook, which closes the thread on "it helped", and by the notifier, which
tells the agent what the verdict means instead of relaying "[button faq:yes]".
"""

from __future__ import annotations

import re

from inbox.channel import Inbound
from inbox.model import Status, Thread
from inbox.store import Store

_DIGIT_ANSWER = re.compile(r"\s*([12])\s*[.!)]?\s*(?:\n|$)")


def faq_answer(item: Inbound) -> str:
    """"solved", "person" or "" for a customer's message after an FAQ answer.

    "1" is "solved" only alone: "1, and another question: ..." must reach an agent, not
    close the thread. "2" may go on with the question the answer did not cover.
    """
    data = item.meta.get("callback_data", "")
    if data in ("faq:yes", "faq:no"):
        return "solved" if data == "faq:yes" else "person"
    found = _DIGIT_ANSWER.match(item.visible)
    if found is None:
        return ""
    if found[1] == "2":
        return "person"
    return "solved" if not item.visible[found.end():].strip() else ""


def after_verdict(item: Inbound) -> str:
    """What the customer wrote besides the digit ("2" and the question behind it)."""
    found = _DIGIT_ANSWER.match(item.visible)
    return item.visible[found.end():].strip() if found else ""


def pending_verdict(store: Store, thread: Thread, item: Inbound) -> str:
    """The verdict ``item`` gives on the thread's FAQ answer, while one is awaited; else "".

    Not once an agent has answered: their "1) or 2)?" is answered with the same digits.
    """
    verdict = faq_answer(item)  # nearly never one: the offer is looked up only then
    if not verdict or thread.first_response_at is not None or thread.status is not Status.OPEN:
        return ""
    offer = store.faq_offer(thread.id)
    return verdict if offer is not None and not offer.outcome else ""
