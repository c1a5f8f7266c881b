"""Tell agents what needs them, in the client they already use (mail, Telegram).

The ``[desk]`` table of ``inbox.toml`` says which channels carry the agents'
side (:func:`desk_settings`). A :class:`Notifier` is an inbound and outbound
hook: a new or reopened thread, a customer writing again, an edit, a failed
delivery each queue a notification into the outbox, inside the transaction
that caused it. Email notifications come from the school's support address
with a per-thread, per-agent Reply-To (``support+t12.<token>@school.example``)
whose token is an HMAC only the daemon can make; Telegram ones come from the
bot with buttons. Agents with ``client = "cli"`` get nothing sent. Outside an
agent's working hours a non-urgent notification waits for the next start.

A team with ``client = "telegram-group"`` is told in its forum staff group
instead: the thread's first notification asks the channel to create a topic
(an outbox entry of kind "topic"), and every notification about the thread goes
into that topic (``headers["message_thread_id"]``), whoever it is for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors.printable import one_line
from inbox.channel import DESK_SECRET_FAILING, NOTICES_FAILING, Delivery, Inbound
from inbox.config import ChannelConfig, Config
from inbox.faqverdict import after_verdict, pending_verdict
from inbox.hooks import Filed
from inbox.model import (
    TO_STAFF,
    Attachment,
    Flag,
    Message,
    Outbound,
    Status,
    Thread,
    machine_written,
)
from inbox.secrets import Secret, SecretError
from inbox.sections import Section
from inbox.staff import Agent
from inbox.store import NotFound, Store, iso, now_utc
from inbox.store.topics import HELD
from inbox.templates import Templates, load_templates
from routing.calendar import BusinessCalendar

log = logging.getLogger("inbox.notify")

TOKEN_LENGTH = 20  # hex digits of the HMAC in a reply address: 80 bits
_TOKEN_ADDRESS = re.compile(
    r"^(?P<local>[^@+\s]+)\+t(?P<ticket>\d{1,12})\.(?P<token>[0-9a-f]{"
    + str(TOKEN_LENGTH) + r"})@(?P<domain>[^@\s]+)$")
_NOTICE_FILES_BYTES = 7 * 2**20  # files mailed with one notification: ~9.5 MB once encoded
_ERROR_SHOWN = 200  # characters of a channel's error that inbox status repeats
# How a failed outbox entry is named to the agent ("auto" is an acknowledgement, FAQ answer...)
_SENT_AS = {"reply": "Your reply", "auto": "The automatic answer", "survey": "The survey"}
MAX_TELEGRAM_TEXT = 2500  # of the customer's text in a Telegram notification (limit: 4096)
MAX_EMAIL_TEXT = 20000
MAIL_FOOTER = (
    "Reply to this mail to answer the customer: your text goes out from the school's address"
    " (quoted text and your signature are removed; attachments go along).\n"
    "Or start your reply with a command on the first line:\n"
    "  #note TEXT      internal note, never sent\n"
    "  #pending        send the rest and wait for the customer\n"
    "  #close          send the rest (if any) and close\n"
    "  #reopen         open the thread again (and send the rest, if any)\n"
    "  #assign NAME    hand the thread to another agent\n"
    "  #take           assign it to yourself\n"
    "  #t TEMPLATE     send a canned answer"
)
TELEGRAM_FOOTER = (
    "Reply to this message to answer the customer (#note on the first line: internal).\n"
    "/take {n} · /close {n} · /reopen {n} · /note {n} TEXT · /assign {n} NAME · /t NAME"
    " (as a reply) · /threads"
)
GROUP_FOOTER = (
    "Write in this topic to answer the customer (#note on the first line: internal).\n"
    "/take · /close · /reopen · /pending · /note TEXT · /assign NAME · /t NAME · /threads"
)
MAX_TOPIC_NAME = 128  # Telegram's limit for a forum topic's name
_TOPIC_GONE = "message thread not found"  # Telegram's answer when a topic was deleted


@dataclass(frozen=True)
class DeskSettings:
    """Where the agents' side lives.

    ``email_channel``/``telegram_channel`` name configured channels ("" = the
    first of that kind); ``secret`` keys the HMAC reply tokens of agents'
    mail; ``reply_address`` "" means plus-addressing on the email channel's
    own address (``support+t12.<token>@school.example``).
    """

    email_channel: str = ""
    telegram_channel: str = ""
    secret: Secret | None = None
    reply_address: str = ""
    templates: Templates = field(default_factory=Templates, compare=False)
    admins: tuple[str, ...] = ()  # agents told when a channel keeps failing
    alert_after: timedelta = timedelta(minutes=30)


def desk_settings(section: Section, agents: Iterable[Agent] = ()) -> DeskSettings:
    """Read ``[desk]``; ``agents`` lets a missing secret be reported."""
    secret = section.secret("secret", required=False)
    reply_address = section.address("reply_address")
    folder = section.path("templates_dir")
    templates = Templates()
    if folder and not folder.is_dir():
        section.problem(f"templates_dir {str(folder)!r} is not a folder: create it, or give"
                        " the folder that holds the canned answers")
    elif folder:
        templates = load_templates(folder, section.problems)
    agents = list(agents)
    admins = section.texts("admins", ())
    known = [agent.id for agent in agents]
    for admin in admins:
        if admin not in known:
            section.problem(f"admins: {admin!r} is not an agent (agents: {', '.join(known)})")
    settings = DeskSettings(
        email_channel=section.text("email_channel", ""),
        telegram_channel=section.text("telegram_channel", ""),
        secret=secret,
        reply_address=reply_address,
        templates=templates,
        admins=admins,
        alert_after=section.duration("alert_after", timedelta(minutes=30)),
    )
    email_agents = [agent.id for agent in agents if agent.client == "email"]
    if email_agents and secret is None:
        section.problem(
            f"secret_file is required when agents answer by email ({', '.join(email_agents)}):"
            f" a file readable only by the service holding a long random key, e.g."
            f' secret_file = "/etc/school-inbox/desk-secret"')
    section.done()
    return settings


@dataclass(frozen=True)
class Desk:
    """The ``[desk]`` settings resolved against the configured channels."""

    settings: DeskSettings
    email: ChannelConfig | None
    telegram: ChannelConfig | None

    @classmethod
    def of(cls, config: Config) -> Desk:
        settings = config.desk
        return cls(settings, _channel(config, "email", settings.email_channel),
                   _channel(config, "telegram", settings.telegram_channel))

    @property
    def support_address(self) -> str:
        return getattr(self.email.settings, "address", "") if self.email else ""

    def token(self, ticket: int, agent_id: str, opened: str = "") -> str:
        """HMAC(secret, "ticket:agent:opened"): proof a reply address was handed out to this
        agent for this thread. ``opened``, the thread's ``created_at``, tells it apart from a
        thread that had its number before: a store from before migration 15 may have given a
        deleted thread's number again. Without it, the first form, which only threads
        numbered before migration 16 accept (their agents' older notifications)."""
        if self.settings.secret is None:
            raise LookupError("[desk] has no secret_file: agents cannot answer by email")
        key = self.settings.secret.reveal().encode()
        signed = f"{ticket}:{agent_id}" + (f":{opened}" if opened else "")
        return hmac.new(key, signed.encode(), hashlib.sha256).hexdigest()[:TOKEN_LENGTH]

    def reply_address(self, ticket: int, agent_id: str, opened: str) -> str:
        local, _, domain = (self.settings.reply_address or self.support_address).partition("@")
        return f"{local}+t{ticket}.{self.token(ticket, agent_id, opened)}@{domain}"

    def parse_reply_address(self, address: str) -> tuple[int, str] | None:
        """(ticket, token) when ``address`` is one of our reply addresses."""
        found = _TOKEN_ADDRESS.match(address.strip().lower())
        base = self.settings.reply_address or self.support_address
        if not found or f"{found['local']}@{found['domain']}" != base.lower():
            return None
        return int(found["ticket"]), found["token"]


def _channel(config: Config, kind: str, name: str) -> ChannelConfig | None:
    """The named channel (load_config checked its kind), else the first of that kind."""
    if name:
        return config.channel(name)
    return next((channel for channel in config.channels
                 if getattr(channel.module, "KIND", channel.kind) == kind), None)


class Notifier:
    """The hook that queues agents' notifications; :meth:`tell` is for SLA timers and others."""

    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config
        self.desk = Desk.of(config)

    # -- hooks ---------------------------------------------------------------------------

    def thread_created(self, filed: Filed) -> None:
        thread = filed.thread
        headline = "New thread for you"
        if not thread.agent:  # the fallback or lead must learn why nobody could take it
            why = f": {filed.unassigned}" if filed.unassigned else ""
            headline = f"New thread for team {thread.team or '(none)'}, not assigned{why}"
        headline = (_refused(filed) or headline) + _forwarded(filed.item)
        self._notify(self.audience(thread), thread, headline, _answering(filed.item),
                     filed.item.attachments, files=self._kept_files(filed),
                     about=filed.message_id)

    def customer_wrote(self, filed: Filed) -> None:
        thread = filed.thread
        machine = machine_written(filed.item.flags)
        # A bounce of our reply is told as that reply's failure (delivery_failed); mail no
        # person wrote to a closed thread changes nothing and needs nobody.
        bounced = filed.item.meta.get("bounced-message-id", "")
        told_as_failure = Flag.BOUNCE in filed.item.flags and bool(bounced) and (
            self.store.outbound_for_header_id(bounced) is not None)
        if told_as_failure or (machine and thread.status is Status.CLOSED):
            return
        text = _answering(filed.item)
        verdict = pending_verdict(self.store, thread, filed.item)
        if verdict == "solved":
            return  # "it helped": the FAQ hook closes the thread, nobody needs to act
        if verdict:
            headline, text = (f"{filed.contact.name}: the automatic FAQ answer did not help;"
                              " they want a person", after_verdict(filed.item))
        else:
            headline = (_refused(filed) or self._who_wrote(filed, machine)) + _forwarded(
                filed.item)
        if filed.reopened:
            headline += "; the thread is open again"
        self._notify(self.audience(thread), thread, headline, text, filed.item.attachments,
                     files=self._kept_files(filed), about=filed.message_id)

    @staticmethod
    def _who_wrote(filed: Filed, machine: bool) -> str:
        thread = filed.thread
        meta = filed.item.meta
        if (Flag.BOUNCE in filed.item.flags and "reported-message-id" in meta
                and "bounced-message-id" not in meta):
            # A delay or success report about our mail: resending would give the customer
            # the answer twice.
            return "a delivery report about our mail: delayed or delivered, not failed"
        if machine:
            return f"an automatic reply from {filed.contact.name or filed.item.sender.value}"
        if thread.conversation and filed.item.meta.get("chat_type"):  # a customers' group
            return f"{filed.contact.name} wrote in the group"
        if filed.contact.id != thread.contact_id:  # someone in copy, the other parent
            who = filed.contact.name or filed.item.sender.value
            return (f"{who}, not {thread.contact}, wrote in this thread;"
                    f" answers go to {thread.contact} only")
        return f"{filed.contact.name} wrote again"

    def message_edited(self, thread_id: int, message_id: int, previous_text: str,
                       files: Sequence[tuple[int, int]] = ()) -> None:
        thread = self.store.thread(thread_id)
        message = self.store.message(message_id)
        self._notify(self.audience(thread), thread,
                     f"{thread.contact} edited a message (it said: {previous_text[:200]})",
                     message.visible_text, files=files, about=message_id)

    def delivered(self, entry: Outbound, delivery: Delivery) -> None:
        if entry.kind == "topic" and entry.thread_id is not None:
            self.store.topic_created(entry.thread_id, int(delivery.external_id), now_utc())
        if entry.kind in TO_STAFF:
            self.store.delete_sync(entry.account, NOTICES_FAILING + entry.recipient)

    def delivery_failed(self, entry: Outbound, delivery: Delivery) -> None:
        if entry.kind == "topic" and entry.thread_id is not None:
            # What waited for the topic goes to the group's General topic instead.
            self.store.topic_created(entry.thread_id, None, now_utc())
        if (entry.kind == "notification" and entry.thread_id is not None
                and "message_thread_id" in entry.headers
                and _TOPIC_GONE in delivery.error.lower()):
            # Someone deleted the thread's topic: a new one, and this waits for it (else every
            # later notification about the thread would fail too, and the team hear nothing).
            self.store.forget_topic(entry.thread_id, int(entry.headers["message_thread_id"]))
            if not self._still_there(entry):
                return
            headers = {k: v for k, v in entry.headers.items() if k != "message_thread_id"}
            self._queue_in_topic(self.store.thread(entry.thread_id), entry.recipient,
                                 entry.text, headers, self.store.outbound_file_ids(entry.id),
                                 entry.about_message_id)
            return
        if entry.kind in TO_STAFF:
            # Never notify about a notification: a broken agent channel must not loop.
            log.warning("notification %s to %s failed: %s", entry.id, entry.recipient,
                        delivery.error)
            if entry.attachments and not delivery.unreachable:
                self._again_without_files(entry, delivery)
            else:
                self._notices_failing(entry, delivery)
            return
        if entry.thread_id is None:
            return
        thread = self.store.thread(entry.thread_id)
        sent = _SENT_AS.get(entry.kind, f"The {entry.kind}")
        what = f"{sent} could not be delivered: {delivery.error}"
        if delivery.unreachable:
            what += ("\nThe customer has blocked the bot or cannot be reached on this channel;"
                     " contact them another way.")
        self._notify(self.audience(thread), thread, what, entry.text, urgent=True)

    def _again_without_files(self, entry: Outbound, delivery: Delivery) -> None:
        """A notification its files made fail (a mailbox refusing the size) goes once more
        without them: the agent must still learn that the customer wrote."""
        if not self._still_there(entry):
            return
        where = f"; inbox show {entry.thread_id} lists them" if entry.thread_id else ""
        why = one_line(delivery.error)[:_ERROR_SHOWN]
        self.store.queue_outbound(
            channel=entry.channel, account=entry.account, recipient=entry.recipient,
            subject=entry.subject, headers=entry.headers, kind=entry.kind,
            thread_id=entry.thread_id, about_message_id=entry.about_message_id,
            text=f"{entry.text}\n\n(Its files could not be sent along: {why}{where}.)")

    def _still_there(self, entry: Outbound) -> bool:
        """Whether the message a notification quotes is still stored (forget-contact may
        have deleted it while the notification was being sent): else it goes no more."""
        if entry.about_message_id is None:
            return True
        try:
            self.store.message(entry.about_message_id)
        except NotFound:
            return False
        return True

    def _notices_failing(self, entry: Outbound, delivery: Delivery) -> None:
        """Keep, for ``inbox status``, that what the staff are told no longer reaches someone.

        Nobody else would notice: the person is the one the daemon can no longer tell. The
        first failure's time stays until a notification to the same recipient goes through.
        """
        key = NOTICES_FAILING + entry.recipient
        known = json.loads(self.store.get_sync(entry.account, key) or "{}")
        self.store.set_sync(entry.account, key, json.dumps({
            "since": known.get("since") or iso(now_utc()),
            "error": one_line(delivery.error)[:_ERROR_SHOWN],  # shown by inbox status
            "unreachable": delivery.unreachable, **self._staff_at(entry)}))

    def _staff_at(self, entry: Outbound) -> dict[str, str]:
        """Who a notification's recipient is: ``{"agent": id}`` or ``{"team": name}``."""
        recipient = entry.recipient
        if entry.channel == "telegram":
            team = next((team.name for team in self.config.teams.values()
                         if str(team.telegram_group) == recipient), "")
            return {"team": team} if team else {"agent": self.agent_for_telegram(recipient)}
        return {"agent": next((agent.id for agent in self.config.agents.values()
                               if agent.email.lower() == recipient.lower()), "")}

    # -- for other parts -----------------------------------------------------------------

    def tell(self, agent_id: str, thread_id: int, what: str, text: str = "", *,
             urgent: bool = False, about: int | None = None,
             files_of: Sequence[Message] = ()) -> None:
        """Notify one agent about a thread (SLA warning, collision, assignment, failure);
        ``about``: the customer's message ``text`` quotes; ``files_of``: stored messages
        whose files are listed and go along (a handover's note and the customer's)."""
        self.tell_all([agent_id], thread_id, what, text, urgent=urgent, about=about,
                      files_of=files_of)

    def tell_all(self, agent_ids: Sequence[str], thread_id: int, what: str, text: str = "",
                 *, urgent: bool = False, about: int | None = None,
                 files_of: Sequence[Message] = ()) -> None:
        """Notify several agents of one thing: a staff group gets it once, not once each."""
        self._notify(agent_ids, self.store.thread(thread_id), what, text,
                     [a for message in files_of for a in message.attachments], urgent=urgent,
                     files=self._stored_files(files_of), about=about)

    def _stored_files(self, messages: Sequence[Message]) -> list[tuple[int, int]]:
        return [file for message in messages for file in _sendable(
            self.store.attachment_ids(message.id), message.attachments)]

    def alert(self, subject: str, text: str) -> None:
        """Tell the admins (``[desk] admins``) about the service itself, e.g. a failing mailbox.

        Sent at once, whatever the hour. An alert about the very channel that
        would carry it waits in the outbox like any other message.
        """
        for agent_id in self.desk.settings.admins:
            agent = self.config.agents.get(agent_id)
            if agent is None:
                continue
            if agent.client == "email" and agent.email and self.desk.email is not None:
                self.store.queue_outbound(
                    channel="email", account=self.desk.email.name, recipient=agent.email,
                    subject=f"[school-inbox] {subject}", text=text, kind="notification")
            elif agent.client == "telegram" and self.telegram_chat(agent_id) and (
                    self.desk.telegram is not None):
                self.store.queue_outbound(
                    channel="telegram", account=self.desk.telegram.name,
                    recipient=self.telegram_chat(agent_id), text=f"{subject}\n\n{text}",
                    kind="notification")

    def chat(self, agent_id: str, text: str, thread_id: int | None = None,
             buttons: Sequence[tuple[str, str]] = ()) -> None:
        """A short answer in the agent's Telegram chat (a command's result); sent now.

        ``buttons`` are (label, callback data) pairs, one per row.
        """
        chat_id = self.telegram_chat(agent_id)
        if not chat_id or self.desk.telegram is None:
            return
        headers = {"reply_markup": _keyboard([[button] for button in buttons])} if buttons else {}
        self.store.queue_outbound(
            channel="telegram", account=self.desk.telegram.name, recipient=chat_id,
            text=text, kind="notification", thread_id=thread_id, headers=headers)

    def topic_post(self, thread_id: int, text: str,
                   buttons: Sequence[tuple[str, str]] = ()) -> None:
        """A command's result in the thread's topic of its team's staff group; sent now."""
        thread = self.store.thread(thread_id)
        self._to_group(thread, self._group_chat(thread), text,
                       [[button] for button in buttons])

    def telegram_chat(self, agent_id: str) -> str:
        """The agent's Telegram user id: configured ``telegram_id``, else a linked account."""
        agent = self.config.agents.get(agent_id)
        if agent is None:
            return self.store.agent_links("telegram").get(agent_id, "")
        return agent.telegram_chat(lambda: self.store.agent_links("telegram"))

    def agent_for_telegram(self, user_id: str) -> str:
        """The agent a Telegram user id belongs to ("" for a customer)."""
        for agent in self.config.agents.values():
            if agent.telegram_id and str(agent.telegram_id) == user_id:
                return agent.id
        links = self.store.agent_links("telegram")
        return next((agent for agent, value in links.items()
                     if value == user_id and agent in self.config.agents), "")

    # -- queueing ------------------------------------------------------------------------

    def audience(self, thread: Thread) -> list[str]:
        """Who hears of this thread: the assigned agent; unassigned, a manual team's members,
        else its fallback or lead; when that is nobody, the ``[desk] admins``.

        A thread whose agent has left the configuration counts as unassigned: its customer
        would otherwise write into a thread nobody hears of.
        """
        if thread.agent in self.config.agents:
            return [thread.agent]
        team = self.config.teams.get(thread.team)
        if team is not None and team.strategy != "manual" and (team.fallback or team.lead):
            return [team.fallback or team.lead]
        return list(team.members if team is not None and team.members
                    else self.desk.settings.admins)

    @staticmethod
    def _kept_files(filed: Filed) -> list[tuple[int, int]]:
        return _sendable(filed.attachment_ids, filed.item.attachments)

    def _notify(self, agents: Sequence[str], thread: Thread, headline: str, text: str,
                attachments: Sequence[Attachment] = (), urgent: bool = False,
                files: Sequence[tuple[int, int]] = (), about: int | None = None) -> None:
        """``attachments`` are listed by name; ``files`` (stored ids and sizes) go along, each
        that the channel carrying the notification can take; ``about`` is the customer's
        message quoted (forgetting its writer deletes the notification too)."""
        group = self._group_chat(thread)
        if group:  # the staff group instead of the members' own clients; it has no quiet hours
            names = [self.config.agents[a].name for a in agents if a in self.config.agents]
            if len(names) == 1:
                headline = f"{names[0]}: {headline}"
            sent = _fitting(files, self.desk.telegram)
            body = self._body(thread, headline, text, attachments, MAX_TELEGRAM_TEXT,
                              GROUP_FOOTER, len(files) - len(sent))
            self._to_group(thread, group, body, [self._buttons(thread)], sent, about)
            return
        now = now_utc()
        for agent_id in dict.fromkeys(agents):
            agent = self.config.agents.get(agent_id)
            if agent is None or agent.client == "cli":
                continue
            at = _next_duty(agent, now, urgent)
            if agent.client == "email":
                sent = _fitting(files, self.desk.email, _NOTICE_FILES_BYTES)
                self._email(agent, thread, headline, text, attachments, at, urgent, sent,
                            about, len(files) - len(sent))
            elif agent.client == "telegram":
                sent = _fitting(files, self.desk.telegram)
                self._telegram(agent, thread, headline, text, attachments, at, sent, about,
                               len(files) - len(sent))

    def _email(self, agent: Agent, thread: Thread, headline: str, text: str,
               attachments: Sequence[Attachment], at: datetime, urgent: bool = False,
               files: Sequence[int] = (), about: int | None = None,
               left_out: int = 0) -> None:
        """``files`` go along; ``left_out`` more did not fit (see _body)."""
        if self.desk.email is None or not agent.email:
            log.warning("agent %s reads mail but no email channel is configured", agent.id)
            return
        domain = self.desk.support_address.rpartition("@")[2] or "localhost"
        root = f"<ticket.{thread.id}.{agent.id}@{domain}>"  # groups one thread in mail clients
        footer, reply_to = MAIL_FOOTER, self._reply_address(thread, agent.id)
        if not reply_to:  # still told: a notification matters more than answering by mail
            footer = ("Replies to this mail cannot be taken now (the desk's secret cannot be"
                      " read: see inbox status); answer with the inbox command or in Telegram.")
        self.store.queue_outbound(
            channel="email", account=self.desk.email.name, recipient=agent.email,
            subject=f"[#{thread.id}] {thread.subject or '(no subject)'} — {_first(headline)}",
            text=self._body(thread, headline, text, attachments, MAX_EMAIL_TEXT, footer,
                            left_out),
            headers={**({"Reply-To": reply_to} if reply_to else {}),
                     "In-Reply-To": root, "References": root,
                     # urgent (a breach, a failed delivery): mail clients flag it
                     **({"Importance": "high", "X-Priority": "1"} if urgent else {})},
            attachment_ids=files, kind="notification", thread_id=thread.id, at=at,
            about_message_id=about)

    def _reply_address(self, thread: Thread, agent_id: str) -> str:
        """The agent's reply address for this thread; "" when the desk's secret cannot be
        read (a variable missing from the service's EnvironmentFile), which ``inbox status``
        then shows until it can. Filing the customer's message must not fail for it."""
        name = self.desk.email.name if self.desk.email else ""
        # What the store says, not what this process last saw: a command run from a shell
        # without the service's environment must not leave the daemon's status wrong.
        recorded = self.store.get_sync(name, DESK_SECRET_FAILING)
        try:
            address = self.desk.reply_address(thread.id, agent_id, iso(thread.created_at))
        except SecretError as exc:
            log.error("%s: agents cannot answer notifications by mail: %s", name, exc)
            if recorded != str(exc):
                self.store.set_sync(name, DESK_SECRET_FAILING, str(exc))
            return ""
        if recorded is not None:
            self.store.delete_sync(name, DESK_SECRET_FAILING)
        return address

    def _telegram(self, agent: Agent, thread: Thread, headline: str, text: str,
                  attachments: Sequence[Attachment], at: datetime,
                  files: Sequence[int] = (), about: int | None = None,
                  left_out: int = 0) -> None:
        chat_id = self.telegram_chat(agent.id)
        if self.desk.telegram is None or not chat_id:
            log.warning("agent %s uses Telegram but is not linked (inbox agents link %s)",
                        agent.id, agent.id)
            return
        footer = TELEGRAM_FOOTER.format(n=thread.id)
        self.store.queue_outbound(
            channel="telegram", account=self.desk.telegram.name, recipient=chat_id,
            text=self._body(thread, headline, text, attachments, MAX_TELEGRAM_TEXT, footer,
                            left_out),
            headers={"reply_markup": _keyboard([self._buttons(thread)])},
            attachment_ids=files, kind="notification", thread_id=thread.id, at=at,
            about_message_id=about)

    def _buttons(self, thread: Thread) -> list[tuple[str, str]]:
        buttons = [("Take", f"take:{thread.id}"), ("Close", f"close:{thread.id}")]
        if self.desk.settings.templates.names():
            buttons.append(("Templates", f"templates:{thread.id}"))
        return buttons

    def in_staff_group(self, thread: Thread) -> bool:
        """Whether the thread's team talks in a Telegram staff group: its members see there
        what a colleague does, and need no notice of it."""
        return bool(self._group_chat(thread))

    def _group_chat(self, thread: Thread) -> str:
        """The chat id of the staff group the thread's team uses ("" = members' own clients)."""
        team = self.config.teams.get(thread.team)
        if team is None or team.client != "telegram-group" or team.telegram_group is None:
            return ""
        return str(team.telegram_group)

    def _to_group(self, thread: Thread, chat_id: str, text: str,
                  buttons: Sequence[Sequence[tuple[str, str]]], files: Sequence[int] = (),
                  about: int | None = None) -> None:
        """Queue ``text`` into the thread's topic; the first one also asks for the topic.

        Until Telegram has created the topic the message waits in the outbox
        (see :mod:`inbox.store.topics`).
        """
        if self.desk.telegram is None or not chat_id:
            log.warning("#%s: team %r has no Telegram staff group or no Telegram channel is"
                        " configured; not sent: %s", thread.id, thread.team, _first(text))
            return
        headers = {"reply_markup": _keyboard(buttons)} if any(buttons) else {}
        self._queue_in_topic(thread, chat_id, text, headers, files, about)

    def _queue_in_topic(self, thread: Thread, chat_id: str, text: str,
                        headers: dict[str, str], files: Sequence[int] = (),
                        about: int | None = None) -> None:
        now = now_utc()
        topic = self.store.topic_of(thread.id)
        if topic is None and self.store.request_topic(thread.id, chat_id, now):
            name = f"#{thread.id} {thread.subject or thread.contact}"
            self.store.queue_outbound(
                channel="telegram", account=self.desk.telegram.name, recipient=chat_id,
                text=name[:MAX_TOPIC_NAME], kind="topic", thread_id=thread.id, at=now)
        if topic is not None:
            headers["message_thread_id"] = str(topic)
        self.store.queue_outbound(
            channel="telegram", account=self.desk.telegram.name, recipient=chat_id, text=text,
            headers=headers, attachment_ids=files, kind="notification", thread_id=thread.id,
            at=now if topic is not None else HELD, about_message_id=about)

    def _body(self, thread: Thread, headline: str, text: str,
              attachments: Sequence[Attachment], limit: int, footer: str,
              left_out: int = 0) -> str:
        """``left_out``: files kept in the store that do not fit here (over what the channel
        carries in one file, or in one notification mail)."""
        contact = self.store.contact(thread.contact_id)
        who = contact.name + (f" ({thread.segment or contact.segment})"
                              if thread.segment or contact.segment else "")
        lines = [f"[#{thread.id}] {headline}",
                 f"From: {who} · {thread.channel} · {thread.language or '?'}",
                 f"Subject: {thread.subject or '(none)'}",
                 f"Team: {thread.team or '-'} · Agent: {thread.agent or '-'} · "
                 f"Priority: {thread.priority} · Status: {thread.status.value}"]
        if thread.flags:
            lines.append(f"Flags: {', '.join(thread.flags)}")
        if text.strip():
            shown = text.strip()
            if len(shown) > limit:
                shown = shown[:limit].rstrip() + f"\n[… {len(text) - limit} more characters:"\
                                                  f" inbox show {thread.id}]"
            lines += ["", shown]
        if attachments:  # as received (bytes) or stored (a file): neither, over the size cap
            lines += ["", "Attachments: " + ", ".join(
                f"{a.filename} ({size_text(a.size)}"
                f"{', too big: not kept' if a.data is None and not a.sha256 else ''}"
                f"{', a program: not sent along' if a.program else ''})"
                for a in attachments)]
        if left_out:
            lines.append(f"{'One file' if left_out == 1 else f'{left_out} files'} did not fit in"
                         f" this message: inbox show {thread.id} has"
                         f" {'it' if left_out == 1 else 'them'}.")
        return "\n".join([*lines, "", "—", footer])


# The first lines of a notification (Notifier._body): "[#12] headline", "From: … · …", "Subject:".
_NOTIFICATION_START = re.compile(r"^\[#\d+\] [^\n]*\n\s*From: [^\n]* · [^\n]*\n\s*Subject: ",
                                 re.MULTILINE)


def without_notification(text: str) -> str:
    """An agent's reply up to our notification, which some mail clients paste below the
    answer with no quote marks or header ("include original"): its routing details and
    help are for agents, never for the customer."""
    found = _NOTIFICATION_START.search(text)
    return text[:found.start()].rstrip() if found else text


def _sendable(ids: Sequence[int], attachments: Sequence[Attachment]) -> list[tuple[int, int]]:
    """(id, size) of the files (stored under ``ids``) that go along with a notification, as
    an agent on mail or Telegram can open them nowhere else: those the store kept (bytes
    in hand, or stored), not empty (Telegram refuses those), not a signature's logo, not a
    program (a parent's infected PC, or a phisher, must not reach staff through us)."""
    if len(ids) != len(attachments):
        return []
    return [(file_id, attachment.size)
            for file_id, attachment in zip(ids, attachments, strict=True)
            if (attachment.data is not None or attachment.sha256) and attachment.size
            and not attachment.decoration and not attachment.program]


def _fitting(files: Sequence[tuple[int, int]], channel: ChannelConfig | None,
             budget: int | None = None) -> list[int]:
    """The files to send with a notification: each within the cap the channel has for one
    file, and in all within ``budget`` (one mail: a mailbox refuses one too big, and the
    notification with it); the others stay listed by name."""
    cap = getattr(channel.settings, "max_attachment_bytes", 0) if channel else 0
    chosen, total = [], 0
    for file_id, size in files:
        if size <= cap and (budget is None or total + size <= budget):
            chosen.append(file_id)
            total += size
    return chosen


def _forwarded(item: Inbound) -> str:
    """Said after the headline when the customer passed on someone else's message."""
    origin = item.meta.get("forwarded_from", "")
    return f" (forwarded from {origin})" if origin else ""


def _answering(item: Inbound) -> str:
    """The customer's words, below the message of ours (or theirs) they reply to in Telegram:
    "yes" means little without the question."""
    replied = item.meta.get("replied_text", "")
    return f"> {replied}\n{item.visible}" if replied else item.visible


def _refused(filed: Filed) -> str:
    """The headline of mail that came as an agent's reply and was refused, else "".

    Its writer must learn it did not go out, and its reader who really sent it (a display
    name can claim to be anyone).
    """
    why = filed.item.meta.get("agent-reply-refused")
    if not why:
        return ""
    sender = filed.item.meta.get("from") or filed.item.sender.value
    return f"NOT SENT: a mail from {sender} was not taken as an agent's reply ({why})"


def _next_duty(agent: Agent, now: datetime, urgent: bool) -> datetime:
    """Now, or when the agent's working hours next start (quiet hours hold non-urgent news)."""
    if urgent or agent.hours is None:
        return now
    return BusinessCalendar.for_hours(agent.hours).next_opening(now)


def _keyboard(rows: Sequence[Sequence[tuple[str, str]]]) -> str:
    """Telegram's InlineKeyboardMarkup as JSON, for the channel to send with the message."""
    return json.dumps({"inline_keyboard": [
        [{"text": label, "callback_data": data} for label, data in row] for row in rows]},
        ensure_ascii=False)


def _first(text: str) -> str:
    return text.splitlines()[0] if text else ""


def size_text(size: int) -> str:
    """A file's size as people read it: 5,009 bytes is "5 KB", not "4 KB"."""
    if size < 1024:
        return f"{size} B"
    return f"{round(size / 1024)} KB" if size < 2**20 - 512 else f"{size / 2**20:.1f} MB"
