"""Messages the daemon writes to customers by itself: loop safety, rate limit, one queueing path.

The auto-acknowledgement, the FAQ answer and the satisfaction survey all go
through here, so each is stored as an ``auto`` message (agents see it in
``inbox show``), queued in the outbox in the caller's transaction, threaded like
an agent's reply, marked RFC 3834 automatic by the email composer, and counted
per recipient in ``automatic_sent`` for the hourly cap. Mail that is itself
automatic (an auto-reply, a bounce, a mailing list, our own address) never gets
one: two robots answering each other is the loop the design forbids.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from inbox.actions import Actions
from inbox.channel import Inbound
from inbox.config import Config
from inbox.model import MACHINE_WRITTEN, Contact, Direction, Flag, Thread
from inbox.store import Store

NEVER_ANSWERED = (*MACHINE_WRITTEN, Flag.QUARANTINED, Flag.NO_SENDER)


def loop_risk(item: Inbound) -> str:
    """Why no automatic answer may go to this message ("" when one may)."""
    for flag in NEVER_ANSWERED:
        if flag in item.flags:
            return f"the message is flagged {flag.value}"
    if item.meta.get("agent-reply-refused"):
        return "an agent's reply the desk refused"
    if item.meta.get("auto"):
        return f"the message is automatic ({item.meta['auto']})"
    return item.meta.get("no-auto-answer", "")


def language_for(thread: Thread, contact: Contact | None, known: Mapping[str, object],
                 default: str) -> str:
    """The customer's language among ``known`` texts: thread, contact, school default, English."""
    for language in (thread.language, contact.language if contact else "", default, "en"):
        if language and language in known:
            return language
    return next(iter(known))


class AutomaticSender:
    """Queues one automatic message to a thread's customer, under a per-recipient hourly cap."""

    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config
        self.actions = Actions(store, config)

    def recipient(self, thread: Thread) -> str:
        return self.actions._recipient(thread)  # the reply path agents use

    def over_limit(self, thread: Thread, kind: str, per_hour: int, now: datetime) -> bool:
        """True when ``per_hour`` messages of ``kind`` already went to this customer this hour."""
        sent = self.store.automatic_count(self.recipient(thread), kind, now - timedelta(hours=1))
        return sent >= per_hour

    def send(self, thread: Thread, text: str, *, kind: str, at: datetime,
             outbox_kind: str = "auto", headers: Mapping[str, str] | None = None,
             detail: Mapping[str, object] | None = None) -> int:
        """Store and queue ``text`` for the customer; returns the outbox id.

        ``kind`` names the feature ("ack", "faq", "survey") in the message's
        sender, the rate-limit log and the event log (with ``detail``);
        ``headers`` are extra channel headers (Telegram's ``reply_markup``).
        """
        recipient = self.recipient(thread)
        subject, mail_headers = (self.actions._email_headers(thread) if thread.channel == "email"
                                 else ("", {}))
        with self.store.transaction():
            stored = self.store.add_message(
                thread_id=thread.id, direction=Direction.AUTO, channel=thread.channel,
                account=thread.account, text=text, sender=f"auto:{kind}", subject=subject,
                header_message_id=mail_headers.get("Message-ID", "").strip("<>"),
                created_at=at, meta={"auto_kind": kind})
            outbox_id = self.store.queue_outbound(
                channel=thread.channel, account=thread.account, recipient=recipient, text=text,
                kind=outbox_kind, thread_id=thread.id, message_id=stored.message_id,
                subject=subject, headers={**mail_headers, **(headers or {})}, at=at)
            self.store.record_automatic(recipient, kind, at)
            self.store.log_event(thread.id, "system", f"auto-{kind}", {
                "message": stored.message_id, "outbox": outbox_id, **(detail or {})}, at=at)
        return outbox_id
