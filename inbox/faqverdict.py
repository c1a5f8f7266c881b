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
    """"solved", "person" or "" for a customer's message after an FAQ answer."""
    data = item.meta.get("callback_data", "")
    if data in ("faq:yes", "faq:no"):
        return "solved" if data == "faq:yes" else "person"
    found = _DIGIT_ANSWER.match(item.visible)
    if found is None:
        return ""
    return "solved" if found[1] == "1" else "person"


def pending_verdict(store: Store, thread: Thread, item: Inbound) -> str:
    """The verdict ``item`` gives on the thread's FAQ answer, while one is awaited; else ""."""
    offer = store.faq_offer(thread.id)
    if offer is None or offer.outcome or thread.status is not Status.OPEN:
        return ""
    return faq_answer(item)
