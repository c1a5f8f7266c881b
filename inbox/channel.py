"""What a connector and the core say to each other: the channel contract.

A connector turns its channel's raw form into :class:`Inbound` items, hands them over
without acknowledging them, and answers each :class:`~inbox.model.Outbound` it is asked
to send with a :class:`Delivery`. Its durable cursor is a :class:`SyncState` the store
backs, so connectors never import the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from inbox.model import Attachment, Identity, Outbound


@dataclass(frozen=True)
class ThreadKeys:
    """What a connector knows that ties a message to an existing conversation.

    Email fills the header fields and ``ticket`` (the ``[#123]`` token found in
    the subject); a messenger fills ``conversation`` (e.g. ``"12345"`` for the
    chat), which the pipeline matches against the thread's open conversation.
    """

    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    ticket: int | None = None
    conversation: str = ""


@dataclass
class Inbound:
    """A normalised message from a channel, not yet stored or acknowledged.

    ``channel`` is the kind ("email", "telegram"); ``account`` is the configured
    ``name`` of the mailbox or bot. ``(account, external_id)`` is unique, so a
    re-delivered message is recognised and stored once. ``source_ref`` is what
    the connector needs to acknowledge it later (a Maildir file name, an IMAP
    UID, a Telegram update id); ``raw`` is the exact form received.
    """

    channel: str
    account: str
    external_id: str
    sender: Identity
    text: str
    received_at: datetime
    raw: bytes
    source_ref: str = ""
    subject: str = ""
    visible_text: str | None = None  # the reply without quotes/signature; None = same as text
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    recipients: tuple[str, ...] = ()
    language_hints: dict[str, str] = field(default_factory=dict)
    keys: ThreadKeys = field(default_factory=ThreadKeys)
    flags: set[str] = field(default_factory=set)
    meta: dict[str, str] = field(default_factory=dict)
    edit_of: str = ""  # external_id of the message this one edits (messenger edits)

    @property
    def visible(self) -> str:
        return self.text if self.visible_text is None else self.visible_text


@dataclass(frozen=True)
class Delivery:
    """What a channel says after trying to send one :class:`Outbound`.

    ``ok`` with the channel's id for the sent message; otherwise ``permanent``
    says whether retrying can help, ``retry_after`` (seconds) when the channel
    was told how long to wait, and ``unreachable`` when the recipient has shut
    us out (a blocked bot) so the contact is marked and the agent told.
    """

    ok: bool
    external_id: str = ""
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None
    unreachable: bool = False


@runtime_checkable
class Channel(Protocol):
    """The interface every connector offers; the daemon owns retries and ordering.

    ``fetch`` returns the next batch of new messages without acknowledging them
    (``wait`` is how many seconds it may block for new ones: long poll, IDLE);
    ``ack`` is called only after the batch is committed to the store, and must be
    safe to repeat; ``send`` delivers one outbox entry (its attachments arrive
    with ``data`` loaded) and never raises for a delivery problem: it answers
    with a :class:`Delivery`. Optional extras
    (``check_connect``, ``close``) are found with ``hasattr``.
    """

    name: str
    kind: str

    async def fetch(self, wait: float = 0) -> Sequence[Inbound]: ...

    async def ack(self, items: Sequence[Inbound]) -> None: ...

    async def send(self, msg: Outbound) -> Delivery: ...


# The key under which a channel keeps, in its SyncState, a standing problem that does not
# stop it (a configured IMAP folder that does not exist): ``inbox status`` shows it.
HEALTH_WARNING = "health:warning"
# Keys, one per recipient, under which the channel that carries the staff's notifications
# keeps that they fail for good there (an agent blocked the bot): ``inbox status`` shows it.
NOTICES_FAILING = "health:notices-failing:"
# The key under which the desk's mail channel keeps that the desk secret cannot be read:
# notifications still go, but agents cannot answer them by mail.
DESK_SECRET_FAILING = "health:desk-secret"


class SyncState(Protocol):
    """A channel's own durable cursor (IMAP UIDVALIDITY/last UID, Telegram offset).

    Backed by the store, handed to a connector so it never imports the store.
    Move the cursor past a message only in ``ack`` (after the commit), never in ``fetch``.
    """

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...

    def delete(self, key: str) -> None: ...
