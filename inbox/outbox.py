"""Delivers what the outbox holds, with retries and backoff; records every attempt.

Entries were written in the same transaction as the event that caused them, so
nothing that must leave can be lost. A crash between a channel accepting a
message and the ``sent`` mark being written can send that one entry twice on
restart; that is the one duplicate the design allows per crash.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from inbox.channel import Channel, Delivery
from inbox.config import OutboxSettings
from inbox.hooks import call
from inbox.model import TO_STAFF, DeliveryState, Outbound
from inbox.store import Store, now_utc

log = logging.getLogger("inbox.outbox")


@dataclass
class FlushReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


class OutboxSender:
    def __init__(self, store: Store, channels: Mapping[str, Channel], settings: OutboxSettings,
                 clock: Callable[[], datetime] = now_utc, hooks: Sequence[object] = ()):
        self.store = store
        self.channels = channels
        self.settings = settings
        self.clock = clock
        self.hooks = list(hooks)  # see inbox.hooks

    async def flush(self, limit: int = 100) -> FlushReport:
        """Try every entry that is due now, oldest first, in order per recipient.

        After a failure, the recipient's later entries wait for that one's retry, so no
        message overtakes another (see :meth:`Store.due_outbound`).
        """
        report = FlushReport()
        waiting: set[tuple[str, str]] = set()
        for entry in self.store.due_outbound(self.clock(), limit):
            recipient = (entry.account, entry.recipient)
            if recipient in waiting:
                continue
            self.store.begin_attempt(entry.id)  # raises while the result could not be kept
            delivery = await self._send(entry)
            self._record(entry, delivery, report)
            if not delivery.ok:
                waiting.add(recipient)
        return report

    async def _send(self, entry: Outbound) -> Delivery:
        channel = self.channels.get(entry.account)
        if channel is None:
            return Delivery(ok=False, error=f"channel {entry.account!r} is not open (not"
                                            " configured, or failing: see inbox status)")
        files = []
        for attachment in entry.attachments:
            data = self.store.attachment_data(attachment)
            if data is None:
                return Delivery(ok=False, permanent=True,
                                error=f"attachment {attachment.filename!r} is missing from disk")
            files.append(replace(attachment, data=data))
        try:
            return await channel.send(replace(entry, attachments=tuple(files)))
        except Exception as exc:  # a connector bug must not stop the outbox
            log.exception("%s: sending outbox entry %s failed", entry.account, entry.id)
            return Delivery(ok=False, error=f"{type(exc).__name__}: {exc}")

    def _record(self, entry: Outbound, delivery: Delivery, report: FlushReport) -> None:
        now = self.clock()
        if delivery.ok:
            with self.store.transaction():
                self.store.record_delivery(entry.id, DeliveryState.SENT, at=now,
                                           external_id=delivery.external_id)
                call(self.hooks, "delivered", entry, delivery)
            report.sent += 1
            return
        attempts = entry.attempts + 1
        if delivery.permanent or attempts >= self.settings.max_attempts:
            with self.store.transaction():
                self.store.record_delivery(entry.id, DeliveryState.FAILED, at=now,
                                           error=delivery.error)
                if (delivery.unreachable and entry.thread_id is not None
                        and entry.kind not in TO_STAFF):  # not an agent who blocked the bot
                    contact_id = self.store.thread(entry.thread_id).contact_id
                    self.store.update_contact(contact_id, unreachable=True)
                self.store.log_event(entry.thread_id, "system", "delivery-failed", {
                    "outbox": entry.id, "error": delivery.error,
                    "unreachable": delivery.unreachable})
                call(self.hooks, "delivery_failed", entry, delivery)
            log.warning("%s: outbox entry %s failed for good: %s",
                        entry.account, entry.id, delivery.error)
            report.failed += 1
            return
        wait = delivery.retry_after
        if wait is None:
            wait = min(self.settings.first_retry_seconds * 2 ** (attempts - 1),
                       self.settings.max_retry_seconds)
            wait *= random.uniform(0.8, 1.2)  # jitter: retries of many entries spread out
        self.store.record_delivery(entry.id, DeliveryState.RETRYING, at=now,
                                   next_attempt_at=now + timedelta(seconds=wait),
                                   error=delivery.error)
        log.info("%s: outbox entry %s will be retried in %.0f s: %s",
                 entry.account, entry.id, wait, delivery.error)
        report.retrying += 1
