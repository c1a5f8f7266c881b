"""What an agent can do to a thread, whichever client they use (CLI, mail, Telegram).

Each action is one transaction: the thread change, the stored message, the
event-log entry and, for a reply, the outbox entry that will carry it to the
customer. Nothing leaves from here; the outbox sender delivers after the commit.
``via`` says which client the agent used ("cli", "email", "telegram"); it is
kept in the event log. Two agents answering one thread within
:data:`COLLISION_WINDOW`: both replies go out and the second agent is told.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from inbox import subjects
from inbox.config import Config
from inbox.model import Attachment, Direction, Flag, Message, Status, Thread
from inbox.notify import Notifier
from inbox.store import Store, now_utc
from inbox.templates import TemplateError

COLLISION_WINDOW = timedelta(minutes=5)
# Who did it, for the actors that are not an agent's id.
_NOT_A_PERSON = {"sla": "An SLA breach", "cli": "The admin (inbox command line)"}


class ActionError(Exception):
    """The action cannot be done as asked; the message is shown to the agent verbatim."""


@dataclass(frozen=True)
class Replied:
    message_id: int
    outbox_id: int
    thread: Thread
    collided_with: str = ""  # another agent who answered within COLLISION_WINDOW


class Actions:
    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config
        self.notifier = Notifier(store, config)

    def _agent(self, agent_id: str) -> str:
        if agent_id not in self.config.agents:
            known = ", ".join(self.config.agents) or "none configured"
            raise ActionError(f"unknown agent {agent_id!r} (agents: {known})")
        return agent_id

    def reply(self, thread_id: int, agent_id: str, text: str,
              attachment_ids: Sequence[int] = (), at: datetime | None = None, *,
              attachments: Sequence[Attachment] = (), via: str = "cli") -> Replied:
        """Store the agent's answer and queue it to the customer on the thread's channel.

        ``attachment_ids`` are stored files to send again; ``attachments`` are new
        ones with their bytes (what the agent attached in their mail client).
        """
        self._agent(agent_id)
        if not text.strip() and not attachments:
            raise ActionError("the reply is empty")
        thread = self.store.thread(thread_id)
        now = at or now_utc()
        self._configured_channel(thread)
        recipient = self._recipient(thread)
        subject, headers = self._email_headers(thread) if thread.channel == "email" else ("", {})
        with self.store.transaction():
            colliding = self.store.other_reply_since(thread.id, agent_id, now - COLLISION_WINDOW)
            other, their_text = colliding or ("", "")
            stored = self.store.add_message(
                thread_id=thread.id, direction=Direction.OUT, channel=thread.channel,
                account=thread.account, text=text, sender=agent_id, subject=subject,
                header_message_id=headers.get("Message-ID", "").strip("<>"), created_at=now,
                attachments=attachments, meta={"via": via},
            )
            files = [*attachment_ids, *(self.store.attachment_ids(stored.message_id)
                                        if attachments else ())]
            outbox_id = self.store.queue_outbound(
                channel=thread.channel, account=thread.account, recipient=recipient,
                text=text, kind="reply", thread_id=thread.id, message_id=stored.message_id,
                subject=subject, headers=headers, attachment_ids=files, at=now,
            )
            changes: dict = {}
            if thread.first_response_at is None:
                changes["first_response_at"] = now
            if not thread.agent:
                changes["agent"] = agent_id
            if changes:
                self.store.update_thread(thread.id, **changes)
            self.store.log_event(thread.id, agent_id, "replied",
                                 {"message": stored.message_id, "outbox": outbox_id,
                                  "via": via}, at=now)
            if other:
                self.store.log_event(thread.id, agent_id, "collision", {"other": other}, at=now)
                self.notifier.tell(
                    agent_id, thread.id,
                    f"{other} also answered #{thread.id} a moment ago; yours goes out too",
                    f"{other} wrote:\n{their_text}", urgent=True)
            if self._someone_elses(thread, agent_id):  # a colleague, or who handed it on
                self.notifier.tell(thread.agent, thread.id, f"{agent_id} answered your thread",
                                   f"{agent_id} wrote:\n{text}")
        return Replied(stored.message_id, outbox_id, self.store.thread(thread.id), other)

    def send_template(self, thread_id: int, agent_id: str, name: str, via: str = "cli", *,
                      attachments: Sequence[Attachment] = ()) -> Replied:
        """Send a canned answer in the thread's language (then the school's default), with
        any files the agent attached."""
        agent = self.config.agents[self._agent(agent_id)]
        try:
            text = self.template_text(self.store.thread(thread_id), name, agent.name)
        except TemplateError as exc:
            raise ActionError(str(exc)) from None
        return self.reply(thread_id, agent_id, text, via=via, attachments=attachments)

    def template_text(self, thread: Thread, name: str, agent_name: str) -> str:
        """Canned answer ``name`` filled in for ``thread``, in its language (then the
        school's default); :class:`TemplateError` when it has no such version."""
        school = self.config.school
        return self.config.desk.templates.render(
            name, [thread.language, school.default_language],
            {"customer_name": thread.contact, "ticket": thread.id,
             "agent_name": agent_name, "school_name": school.name})

    def note(self, thread_id: int, agent_id: str, text: str, *,
             attachments: Sequence[Attachment] = ()) -> int:
        """An internal note, with any files the agent attached: stored and logged, never sent."""
        self._agent(agent_id)
        if not text.strip() and not attachments:
            raise ActionError("the note is empty")
        thread = self.store.thread(thread_id)
        with self.store.transaction():
            stored = self.store.add_message(
                thread_id=thread.id, direction=Direction.NOTE, channel=thread.channel,
                account=thread.account, text=text, sender=agent_id, created_at=now_utc(),
                attachments=attachments,
            )
            self.store.log_event(thread.id, agent_id, "note", {"message": stored.message_id})
        return stored.message_id

    def assign(self, thread_id: int, agent_id: str, by: str = "cli", note: str = "",
               note_id: int | None = None) -> Thread:
        """Give the thread to an agent; they are notified unless they took it themselves.

        The notification carries ``note`` (what the one handing over wrote) and what the
        customer last wrote, with the files of both (``note_id``: the note they were filed
        with): an agent on mail or Telegram has nothing else to answer from. Giving it to
        the agent who has it changes nothing and tells no one again.
        """
        self._agent(agent_id)
        thread = self.store.thread(thread_id)
        if thread.agent == agent_id:
            return thread
        with self.store.transaction():
            self.store.update_thread(thread.id, agent=agent_id)
            self.store.log_event(thread.id, by, "assigned",
                                 {"agent": agent_id, "previous": thread.agent})
            who = _NOT_A_PERSON.get(by, by)
            if self._someone_elses(thread, by):  # they must not answer it any more
                taken = "took this thread" if by == agent_id else f"gave this thread to {agent_id}"
                self.notifier.tell(thread.agent, thread.id, f"{who} {taken}")
            if by != agent_id:
                text, last, with_files = self._handover(thread, who, note, note_id)
                self.notifier.tell(agent_id, thread.id, f"{who} assigned this thread to you",
                                   text, about=last, files_of=with_files)
        return self.store.thread(thread.id)

    def _someone_elses(self, thread: Thread, agent_id: str) -> bool:
        """Whether the thread is another agent's, who must hear what ``agent_id`` did to it
        (not in a staff group, where everyone sees it)."""
        return bool(thread.agent) and thread.agent != agent_id and (
            thread.agent in self.config.agents) and not self.notifier.in_staff_group(thread)

    def _handover(self, thread: Thread, who: str, note: str, note_id: int | None
                  ) -> tuple[str, int | None, list[Message]]:
        """The handover note and what the customer last wrote; that message's id; and the
        messages whose files go along (the note's, the customer's)."""
        messages = self.store.messages(thread.id)
        last = next((m for m in reversed(messages) if m.direction is Direction.IN), None)
        parts = [f"{who}'s note: {note}"] if note else []
        if last is not None:  # one flagged review came from someone else (a parent in Cc)
            writer = last.sender if Flag.REVIEW in last.flags else thread.contact
            parts.append(f"{writer} wrote:\n{last.visible_text or last.text}")
        with_files = [m for m in messages if m.id == note_id or m is last]
        return "\n\n".join(parts), last.id if last is not None else None, with_files

    def set_status(self, thread_id: int, status: Status, by: str = "cli") -> Thread:
        """Close, reopen or mark pending; doing it again is harmless and still logged.

        Only a closed thread is "reopened" (what the reopen rate counts); a pending or
        open one is "opened". Closing again keeps the first ``closed_at``, which the
        resolution time and the retention cutoff count from.
        """
        thread = self.store.thread(thread_id)
        action = {Status.CLOSED: "closed", Status.PENDING: "pending",
                  Status.OPEN: "reopened" if thread.status is Status.CLOSED else "opened"}[status]
        closed_at = None
        if status is Status.CLOSED:
            closed_at = thread.closed_at if thread.status is Status.CLOSED else now_utc()
        with self.store.transaction():
            self.store.update_thread(thread.id, status=status, closed_at=closed_at)
            self.store.log_event(thread.id, by, action, {"previous": thread.status.value})
        return self.store.thread(thread.id)

    def _configured_channel(self, thread: Thread) -> None:
        """Refuse a reply no channel could carry, rather than queue it for hours of retries."""
        if not self.config.has_channel(thread.account):
            names = ", ".join(channel.name for channel in self.config.channels) or "none"
            raise ActionError(
                f"#{thread.id} came in on the channel {thread.account!r}, which inbox.toml no"
                f" longer has (channels: {names}), so no reply can reach the customer; name"
                f" the channel {thread.account!r} again to answer there")

    def _recipient(self, thread: Thread) -> str:
        if thread.conversation:
            return thread.conversation
        if Flag.NO_SENDER in thread.flags:
            raise ActionError(f"thread {thread.id}: the sender's address could not be read"
                              " from the message; there is no one to answer")
        for identity in self.store.identities(thread.contact_id):
            if identity.kind == thread.channel:
                return identity.value
        raise ActionError(
            f"thread {thread.id}: the contact has no {thread.channel} address to answer to")

    def _email_headers(self, thread: Thread) -> tuple[str, dict[str, str]]:
        """Subject with the ticket token and the headers that thread the reply for the customer."""
        ids = self.store.header_ids(thread.id)
        last_inbound, outlook = next(((h, index) for direction, h, index in reversed(ids)
                                      if direction == "in"), ("", ""))
        references = [h for _, h, _ in ids][-10:]
        domain = self._domain(thread.account)
        message_id = f"<inbox.{thread.id}.{secrets.token_hex(8)}@{domain}>"
        headers = {"Message-ID": message_id}
        if last_inbound:
            headers["In-Reply-To"] = f"<{last_inbound}>"
        if references:
            headers["References"] = " ".join(f"<{h}>" for h in references)
        if outlook:  # the customer's Outlook index: the mail composer continues it
            headers["Thread-Index"] = outlook
        # Only our token, and last: a subject that carried another thread's token (a
        # customer answering one ticket about another) would otherwise be read as that
        # one when the customer's client drops the headers.
        subject = subjects.strip_prefixes(subjects.without_tokens(thread.subject))
        return f"Re: {subject or '(no subject)'} [#{thread.id}]", headers

    def _domain(self, account: str) -> str:
        try:
            address = getattr(self.config.channel(account).settings, "address", "") or ""
        except KeyError:
            address = ""
        return address.rpartition("@")[2] or "school-inbox.invalid"
