"""The conversation model every part of school-inbox speaks: what the store keeps.

The store keeps :class:`Thread`, :class:`Message`, :class:`Contact` and the outbox's
:class:`Outbound`; routing reads them and answers with a decision. What connectors hand
in lives in :mod:`inbox.channel`, the people who answer in :mod:`inbox.staff`, so a
command that only reads the store builds no more of these classes than it shows.
Nothing here does I/O, so connectors and routing can import this module without
learning about SQL or the network.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


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
    QUOTED_ONLY = "quoted-only"  # nothing but quoted history: no new words (shown whole)


# What filing decided about a message, against its thread, rather than read from the message
# itself: re-normalising the raw form (inbox reparse) cannot work it out again, so keeps it.
FILING_FLAGS = frozenset({Flag.REVIEW})

# Mail no person wrote (out-of-office, bounces, lists, our own loops): never answered
# automatically, and it never reopens a thread or ends its "pending".
MACHINE_WRITTEN = (Flag.AUTOMATIC, Flag.BOUNCE, Flag.MAILING_LIST, Flag.OWN_ADDRESS)


def machine_written(flags: Collection[str]) -> bool:
    """Whether a message with these flags is mail no person wrote."""
    return any(flag in flags for flag in MACHINE_WRITTEN)


DECORATION_BYTES = 20 * 1024  # an inline picture smaller than this is a logo (Attachment)
PROGRAM = "application/x-msdownload"  # a Windows program, whatever its name or label says


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

    @property
    def decoration(self) -> bool:
        """A small picture shown inside a mail: a signature's logo, a social-network icon. It
        stays with the message but is no file anyone meant to send on. A pasted screenshot
        or photo is larger, and Apple Mail marks every attachment inline (a PDF too)."""
        return self.inline and self.content_type.startswith("image/") and (
            self.size < DECORATION_BYTES)

    @property
    def program(self) -> bool:
        """Bytes that are a Windows program (connectors.filenames sniffs them): kept, shown by
        name, never passed on to a staff mailbox or chat, where one click would run it."""
        return self.content_type == PROGRAM


@dataclass(frozen=True)
class Contact:
    """A person who writes to the school, however many addresses they write from.

    Routing reads ``segment`` and ``language``; ``unreachable`` is set when a channel
    said the person shut us out (a blocked bot), so nobody waits on a reply that
    cannot arrive.
    """

    id: int
    name: str
    segment: str = ""
    tags: tuple[str, ...] = ()
    language: str = ""
    start_payload: str = ""
    unreachable: bool = False


@dataclass(frozen=True)
class Message:
    """One stored message of a thread, in either direction.

    ``text`` is everything that was written; ``visible_text`` the part agents read
    first (quotes and signature cut). ``delivery`` is the outbox state of one that
    leaves, ``None`` for what came in.
    """

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
    """One conversation with one contact over one channel account: the unit agents own.

    The ``*_due`` times are the SLA clocks routing set; ``messages`` is a count, so a
    listing does not load the conversation.
    """

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
    reopened_from: int | None = None  # the closed thread this one continues

    @property
    def ticket(self) -> int:
        """The number customers and agents see (``[#42]``); the thread id itself."""
        return self.id


@dataclass(frozen=True)
class SlaClocks:
    """What the SLA timer job needs of an open thread: its policy, the clocks still running
    and the timers already fired.

    A slim view, so checking hundreds of open threads every half minute does not
    load each one whole.
    """

    id: int
    sla_policy: str
    first_response_due: datetime | None
    resolution_due: datetime | None
    first_response_at: datetime | None
    fired: frozenset[tuple[str, str]]  # (target, stage), e.g. ("resolution", "warning")
    mark: str  # the thread's sla_check_at as read: the job's next look is written over it only


@dataclass(frozen=True)
class Event:
    """An entry of a thread's history (assigned, closed, replied...): who did what, when."""

    id: int
    thread_id: int | None
    actor: str
    action: str
    detail: dict
    created_at: datetime


# Outbox kinds that go to the staff (an agent's client, a team's group), not to the customer.
TO_STAFF = frozenset({"notification", "topic"})


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
    about_message_id: int | None = None  # the customer's message a notification quotes
