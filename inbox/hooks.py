"""Extension points of the inbound and outbound flows, one docstringed method each.

The pipeline and the outbox sender call every configured hook object's methods
that it has (found with ``hasattr``; none is required). Inbound hooks run inside
the transaction that files the message, so whatever they queue (a notification,
an auto-acknowledgement) commits together with it or not at all; they must not
do network I/O. A hook that raises rolls back that one message, which is then
quarantined like any other failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from inbox.channel import Delivery, Inbound
from inbox.model import Contact, Outbound, Thread


@dataclass(frozen=True)
class Filed:
    """A customer message that has just been stored, with its (routed) thread."""

    thread: Thread
    message_id: int
    item: Inbound
    contact: Contact
    new_thread: bool
    reopened: bool = False
    template: str = ""  # a new thread's automatic answer, named by its routing rule
    unassigned: str = ""  # why nobody could take a new thread (each member's reason)
    attachment_ids: tuple[int, ...] = ()  # the stored files of item.attachments, in order


class InboundHook(Protocol):
    def claim(self, item: Inbound, contact: Contact) -> bool:
        """Handle a message that is not a customer's (an agent's reply, a link code).

        Return True when handled: the pipeline then files nothing for it. Must be
        idempotent: a re-delivered message must not be acted on twice.
        """

    def thread_created(self, filed: Filed) -> None:
        """A new thread was created and routed (also a new thread linked to an old one)."""

    def customer_wrote(self, filed: Filed) -> None:
        """The customer wrote again in an existing thread (``filed.reopened`` if it was closed)."""

    def message_edited(self, thread_id: int, message_id: int, previous_text: str,
                       files: Sequence[tuple[int, int]] = ()) -> None:
        """The customer edited a message (messengers); the new text is already stored, and
        ``files`` (id, size) are the ones the edit added (a photo swapped for another)."""


class OutboundHook(Protocol):
    def delivered(self, entry: Outbound, delivery: Delivery) -> None:
        """An outbox entry reached its channel; ``delivery.external_id`` is the channel's id."""

    def delivery_failed(self, entry: Outbound, delivery: Delivery) -> None:
        """An outbox entry failed for good (permanent error, blocked bot, attempts used up)."""


def call(hooks: list[object], method: str, *args: object) -> None:
    """Call ``method`` on every hook that has it, in order."""
    for hook in hooks:
        function = getattr(hook, method, None)
        if function is not None:
            function(*args)
