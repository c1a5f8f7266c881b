"""The conversation model every part of school-inbox speaks.

Connectors turn a channel's raw form into an :class:`Inbound`; the store keeps
:class:`Thread`, :class:`Message`, :class:`Contact` and :class:`Outbound`; routing
reads them and answers with a decision. Nothing here does I/O, so connectors and
routing can import this module without learning about SQL or the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class Direction(StrEnum):
    """Who a stored message came from, as shown in `inbox show`."""

    IN = "in"  # from the customer
    OUT = "out"  # an agent's reply to the customer
    NOTE = "note"  # internal, never leaves
    AUTO = "auto"  # written by the daemon: auto-ack, FAQ answer, survey


class Status(StrEnum):
    OPEN = "open"
    PENDING = "pending"  # waiting for the customer; SLA clocks pause
    CLOSED = "closed"


class DeliveryState(StrEnum):
    """Where an outbox entry is on its way to the customer or agent."""

    QUEUED = "queued"
    RETRYING = "retrying"  # a temporary failure; next attempt is scheduled
    SENT = "sent"
    FAILED = "failed"  # permanent: the agent is told


class Flag(StrEnum):
    """Marks a message carries so agents see what the daemon could not do cleanly."""

    UNDECODABLE = "undecodable"  # some text could not be decoded; raw is kept
    QUARANTINED = "quarantined"  # the normaliser failed; only the raw form is reliable
    AUTOMATIC = "automatic"  # auto-reply / auto-generated (RFC 3834)
    BOUNCE = "bounce"  # delivery status notification (RFC 3464)
    MAILING_LIST = "mailing-list"
    OWN_ADDRESS = "own-address"  # came from one of our own addresses
    REVIEW = "review"  # a subject token from a stranger; a human must look
    ATTACHMENT_DROPPED = "attachment-dropped"  # over the size cap; metadata kept
    NO_SENDER = "no-sender"  # no address to answer could be read (a headerless file)


@dataclass(frozen=True)
class Identity:
    """One address a person writes from: an email address or a messenger user.

    ``kind`` is the identity's namespace ("email", "telegram"); ``value`` is
    normalised by the connector (lower-cased address, numeric user id) so the
    same person is found again.
    """

    kind: str
    value: str
    display_name: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Attachment:
    """A file carried by a message.

    Inbound, ``data`` holds the bytes (or is ``None`` when the connector dropped
    them for being over the cap: ``size`` still says how big they were). Once
    stored, ``sha256`` names the content-addressed file and ``data`` is ``None``.
    """

    filename: str
    content_type: str
    size: int
    data: bytes | None = None
    sha256: str = ""
    inline: bool = False
    content_id: str = ""


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
class Contact:
    id: int
    name: str
    identities: tuple[Identity, ...] = ()
    segment: str = ""
    tags: tuple[str, ...] = ()
    language: str = ""
    start_payload: str = ""
    unreachable: bool = False


@dataclass(frozen=True)
class Message:
    id: int
    thread_id: int
    direction: Direction
    channel: str
    sender: str
    text: str
    created_at: datetime
    subject: str = ""
    visible_text: str = ""
    external_id: str = ""
    delivery: str | None = None
    attachments: tuple[Attachment, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thread:
    id: int
    status: Status
    channel: str
    account: str
    subject: str
    contact_id: int
    contact: str
    created_at: datetime
    last_message_at: datetime
    language: str = ""
    language_confidence: float = 0.0
    segment: str = ""
    team: str = ""
    agent: str = ""
    priority: str = "normal"
    tags: tuple[str, ...] = ()
    sla_policy: str = ""
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_response_at: datetime | None = None
    closed_at: datetime | None = None
    messages: int = 0
    conversation: str = ""
    flags: tuple[str, ...] = ()

    @property
    def ticket(self) -> int:
        """The number customers and agents see (``[#42]``); the thread id itself."""
        return self.id


@dataclass(frozen=True)
class SlaClocks:
    """What the SLA timer job needs of a thread: its policy and the clocks still running.

    A slim view, so checking hundreds of open threads every half minute does not
    load each one whole.
    """

    id: int
    status: Status
    sla_policy: str
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_response_at: datetime | None


@dataclass(frozen=True)
class Event:
    id: int
    thread_id: int | None
    actor: str
    action: str
    detail: dict
    created_at: datetime


@dataclass(frozen=True)
class Outbound:
    """One entry of the outbox: something that must leave, written before it leaves.

    ``kind`` is "reply", "auto", "notification" or "survey"; ``recipient`` is
    the address or chat the channel sends to. Email threading headers travel in
    ``headers``; ``reply_to_external`` lets a messenger quote the customer's
    message.
    """

    id: int
    channel: str
    account: str
    recipient: str
    text: str
    kind: str = "reply"
    thread_id: int | None = None
    message_id: int | None = None
    subject: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    reply_to_external: str = ""
    attempts: int = 0
    state: DeliveryState = DeliveryState.QUEUED


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


class SyncState(Protocol):
    """A channel's own durable cursor (IMAP UIDVALIDITY/last UID, Telegram offset).

    Backed by the store, handed to a connector so it never imports the store.
    Write the cursor in ``ack`` (after the commit), never in ``fetch``.
    """

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class WorkingHours:
    """When an agent is on duty: weekdays (0 = Monday), local start/end, IANA zone."""

    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: str = "09:00"
    end: str = "18:00"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Agent:
    """A person who answers; ``client`` is where the daemon meets them."""

    id: str
    name: str
    languages: tuple[str, ...] = ()
    client: str = "cli"  # "email" | "telegram" | "cli"
    email: str = ""
    telegram_id: int | None = None
    hours: WorkingHours | None = None  # None: always on duty
    available: bool = True


@dataclass(frozen=True)
class Team:
    """A group of agents sharing a queue; ``strategy`` picks who gets a new thread."""

    name: str
    members: tuple[str, ...] = ()
    strategy: str = "round_robin"  # "round_robin" | "least_open" | "manual"
    lead: str = ""
    fallback: str = ""
    client: str = ""  # "" = each member's own client; "telegram-group": a forum staff group
    telegram_group: int | None = None  # chat id of that forum supergroup
