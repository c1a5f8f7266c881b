"""Inbound flow: normalised messages → de-duplicated, threaded, routed, stored.

The daemon hands a channel's batch to :meth:`Pipeline.ingest`, which commits the
whole batch in one transaction and only then returns; the daemon acknowledges at
the source afterwards. Each message is filed inside its own savepoint: one that
fails is rolled back and filed again as quarantined (raw kept, flagged), so it
reaches an agent and never blocks the messages after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from inbox import subjects
from inbox.channel import Delivery, Inbound
from inbox.config import Config
from inbox.hooks import Filed, call
from inbox.model import (
    MACHINE_WRITTEN,
    TO_STAFF,
    Contact,
    DeliveryState,
    Direction,
    Flag,
    Identity,
    Outbound,
    Status,
    Thread,
    machine_written,
)
from inbox.quoted import MIN_LINE, best_quoted
from inbox.store import NotFound, Store, Stored, now_utc
from routing.assign import Assignment, assign, named_by_rule
from routing.conditions import Facts
from routing.decide import route
from routing.language import LanguageDetector

log = logging.getLogger("inbox.pipeline")

# What a thread's first message shows about the whole thread in `inbox threads`.
THREAD_FLAGS = {*MACHINE_WRITTEN, Flag.UNDECODABLE, Flag.QUARANTINED, Flag.NO_SENDER}

# A reply that lost its headers joins the sender's thread with the same subject only when
# that thread saw a message within this window.
SUBJECT_WINDOW = timedelta(days=14)

# How many of a candidate thread's latest messages a header-less reply may be quoting.
QUOTED_MESSAGES = 3

# A message whose Date lies this far in the future is dated when it arrived instead.
CLOCK_SKEW = timedelta(minutes=10)


@dataclass
class IngestReport:
    stored: int = 0
    claimed: int = 0  # handled by a hook: agents' replies, link codes
    duplicates: int = 0
    edited: int = 0
    quarantined: int = 0
    new_threads: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Placement:
    """Which thread a message joins, and why (kept in the event log)."""

    thread: Thread | None
    reason: str
    reopen: bool = False
    review: bool = False
    linked_to: int | None = None


@dataclass(frozen=True)
class Routed:
    """Where a new thread goes: its columns, the events that say why, the contact as now
    stored, the template the matching rule names and why nobody was assigned ("" if
    someone was)."""

    columns: dict[str, object]
    events: list[tuple[str, dict]]
    contact: Contact
    template: str
    unassigned: str


class Pipeline:
    def __init__(self, store: Store, config: Config,
                 clock: Callable[[], datetime] = now_utc, hooks: Sequence[object] = ()):
        self.store = store
        self.config = config
        self.clock = clock
        self.hooks = list(hooks)  # see inbox.hooks
        self.detector = LanguageDetector(config.school.languages, config.school.default_language)

    def reconfigure(self, config: Config) -> None:
        """Take a reloaded config; the detector is rebuilt only if the languages changed."""
        if config.school.languages != self.config.school.languages or (
                config.school.default_language != self.config.school.default_language):
            self.detector = LanguageDetector(
                config.school.languages, config.school.default_language)
        self.config = config

    def ingest(self, items: Sequence[Inbound]) -> IngestReport:
        """Store a batch in one transaction. The caller acknowledges only after this returns."""
        report = IngestReport()
        with self.store.transaction():
            for item in items:
                try:
                    with self.store.transaction():
                        self._file(item, report)
                except Exception as exc:  # one message must never stop the batch...
                    if self.store.write_failure(exc):
                        raise  # ...unless no message can be stored now: all wait at the source
                    log.exception("%s: message %s could not be filed; quarantined",
                                  item.account, item.external_id)
                    self._quarantine_safely(item, exc, report)
        return report

    def _quarantine_safely(self, item: Inbound, error: Exception, report: IngestReport) -> None:
        """Quarantine; when even that fails on something the sender sent (their name, say),
        file it under an unknown sender: a batch that fails whole is never acknowledged,
        and its channel would stall on that one message for every customer."""
        try:
            with self.store.transaction():
                self._quarantine(item, error, report)
        except Exception as again:
            if self.store.write_failure(again):
                raise
            log.exception("%s: message %s could not be quarantined as sent; filed under an"
                          " unknown sender", item.account, item.external_id)
            with self.store.transaction():
                self._quarantine(replace(item, sender=Identity(item.sender.kind, "unknown")),
                                 error, report)

    # -- one message ---------------------------------------------------------------

    def _file(self, item: Inbound, report: IngestReport) -> None:
        if item.edit_of:
            original = self.store.find_message(item.account, item.edit_of)
            if original:
                self._edit(original.message_id, original.thread_id, item, report)
                return
        external_id = self._filing_id(item)
        if external_id is None:
            report.duplicates += 1
            return
        item.external_id = external_id
        now = self.clock()
        contact, first_contact = self._contact_for(item)
        for hook in self.hooks:
            claim = getattr(hook, "claim", None)
            if claim is not None and claim(item, contact):
                report.claimed += 1
                return
        if self._filed_from_another_mailbox(item):
            report.duplicates += 1
            return
        if self._about_staff_mail(item):
            report.claimed += 1
            return
        contact = self._remember_contact(contact, item)  # before routing, which reads it
        placement = self._place(item, contact)
        created_at = _arrival_time(item.received_at, now)
        thread = placement.thread
        new_thread = thread is None or placement.linked_to is not None
        if new_thread:
            # Routed before the thread exists, so that it is written once, routing and all.
            routed = self._route(item, contact, now, returning=not first_contact)
            thread_id = self.store.create_thread(
                channel=item.channel, account=item.account, contact_id=contact.id,
                subject=item.subject or _first_line(item.visible), created_at=created_at,
                conversation=item.keys.conversation, reopened_from=placement.linked_to,
                flags={*(item.flags & THREAD_FLAGS), *([Flag.REVIEW] if placement.review else [])},
                **routed.columns,
            )
        else:
            thread_id = thread.id
            if (thread.channel == item.channel and contact.id == thread.contact_id
                    and not placement.review and not self.config.has_channel(thread.account)):
                # Its channel was renamed or removed: the thread follows the mailbox the
                # customer writes to now, or no one could answer it.
                self.store.update_thread(thread_id, account=item.account)
                self.store.log_event(thread_id, "system", "moved",
                                     {"from": thread.account, "to": item.account})
        stored = self.store.add_message(
            thread_id=thread_id, direction=Direction.IN, channel=item.channel,
            account=item.account, text=item.text, visible_text=item.visible,
            subject=item.subject, html=item.html, external_id=item.external_id,
            header_message_id=item.keys.message_id, sender=_sender(item),
            flags=sorted(item.flags), meta=item.meta, raw=item.raw,
            raw_kind="telegram" if item.channel == "telegram" else "rfc822",
            attachments=item.attachments, created_at=created_at, opens_thread=new_thread,
        )
        if Flag.QUARANTINED in item.flags:  # set aside by its connector (PTB could not read it)
            report.quarantined += 1
        else:
            report.stored += 1
        if Flag.BOUNCE in item.flags and item.meta.get("bounced-message-id"):
            self._bounced(self.store.outbound_for_header_id(item.meta["bounced-message-id"]),
                          item)
        template = unassigned = ""
        if new_thread:
            report.new_threads.append(thread_id)
            self.store.log_events(thread_id, "system", [
                ("created", {"reason": placement.reason, "message": stored.message_id}),
                *routed.events])
            contact, template, unassigned = routed.contact, routed.template, routed.unassigned
        elif placement.reopen:
            self.store.update_thread(thread_id, status=Status.OPEN, closed_at=None)
            self.store.log_event(thread_id, "system", "reopened",
                                 {"reason": placement.reason, "message": stored.message_id})
        else:
            if thread.status is Status.PENDING and _moves_threads(item):
                self.store.update_thread(thread_id, status=Status.OPEN)
            self.store.log_event(thread_id, "system", "customer-replied",
                                 {"reason": placement.reason, "message": stored.message_id})
        filed = Filed(self.store.thread(thread_id), stored.message_id, item, contact, new_thread,
                      placement.reopen, template, unassigned, stored.attachment_ids)
        call(self.hooks, "thread_created" if new_thread else "customer_wrote", filed)

    def _filing_id(self, item: Inbound) -> str | None:
        """The id to file this message under, or None when it was filed before.

        Its id says which, unless the connector gave a content fingerprint
        (``meta["content"]``) that differs from the stored message's: then it is another
        message reusing the id (a web form sending one fixed Message-ID), filed under
        ``id~fingerprint``. A message stored without a fingerprint matches by id alone.
        """
        found = self.store.find_message(item.account, item.external_id)
        content = item.meta.get("content", "")
        if found is None:
            return item.external_id
        if self._same_content(found, content):
            return None
        own_id = f"{item.external_id}~{content}"
        if self.store.find_message(item.account, own_id) is not None:
            return None
        log.warning("%s: %s is a different message reusing that id; filed as %s",
                    item.account, item.external_id, own_id)
        return own_id

    def _filed_from_another_mailbox(self, item: Inbound) -> bool:
        """A customer's mail already filed from another of our mailboxes is the same message
        (sent to two of our addresses, or read anew after its channel was renamed).

        Asked after the claims: an agent's reply that Cc's a second mailbox of ours must
        still be acted on by the desk, whichever mailbox is read first.
        """
        if item.channel != "email" or item.external_id != item.keys.message_id:
            return False  # a messenger's ids are its own; a digest id is no Message-ID
        found = self.store.find_mail(item.external_id)
        if found is None or not self._same_content(found.stored, item.meta.get("content", "")):
            return False
        log.info("%s: %s was filed from %s already", item.account, item.external_id,
                 found.account)
        return True

    def _same_content(self, found: Stored, content: str) -> bool:
        """Whether a stored message with the same id is this one (no fingerprint: trust the id)."""
        return not content or self.store.message_meta(found.message_id).get(
            "content", content) == content

    def _edit(self, message_id: int, thread_id: int, item: Inbound,
              report: IngestReport) -> None:
        before = self.store.message(message_id)
        added = self.store.add_new_attachments(message_id, item.attachments)
        if before.text == item.text and not added:
            report.duplicates += 1
            return
        self.store.update_message_text(message_id, item.text, item.visible)
        self.store.log_event(thread_id, _sender(item), "edited",
                             {"message": message_id, "previous_text": before.text,
                              "files_added": len(added)})
        call(self.hooks, "message_edited", thread_id, message_id, before.text,
             [(file_id, attachment.size) for file_id, attachment in added])
        report.edited += 1

    def _place(self, item: Inbound, contact: Contact) -> Placement:
        """Find the conversation: headers, then a ticket token from a known sender, then chat."""
        keys = item.keys
        refused = item.meta.get("agent-reply-ticket")  # see inbox.agentmail
        if refused:
            try:
                return self._continue(self.store.thread(int(refused)),
                                      "an agent's reply that was refused", item, contact)
            except NotFound:
                pass
        # A bounce or delay report names the message it is about; it belongs with it.
        header_ids = [keys.in_reply_to, *reversed(keys.references),
                      item.meta.get("reported-message-id", "")]
        thread = self.store.thread_by_header_ids(header_ids)
        if thread:
            return self._continue(thread, "in-reply-to/references", item, contact)
        if keys.ticket is not None:
            try:
                thread = self.store.thread(keys.ticket)
            except NotFound:
                thread = None
            if thread and thread.contact_id == contact.id:
                return self._continue(thread, f"ticket token [#{keys.ticket}]", item, contact)
            if thread:
                # A token alone from a stranger must not leak the thread to them.
                return Placement(None, f"ticket token [#{keys.ticket}] from an unknown sender",
                                 review=True)
        # A forward passes on someone else's mail: two parents forwarding the teacher's
        # letter quote the same text, which proves nothing about either's thread.
        if (item.channel == "email" and subjects.is_reply(item.subject)
                and not subjects.is_forward(item.subject)):
            placement = self._by_subject(item, contact)
            if placement is not None:
                return placement
        if keys.conversation:
            thread = self.store.latest_thread_for_conversation(item.account, keys.conversation)
            if thread:
                return self._continue(thread, "same chat", item, contact)
        return Placement(None, "new conversation")

    def _by_subject(self, item: Inbound, contact: Contact) -> Placement | None:
        """A reply that lost its headers: a thread with its subject, active within
        SUBJECT_WINDOW (an old topic starts anew), that it quotes or that is the sender's own.

        Quoting a thread's message (see inbox.quoted) picks one thread among several
        and admits a sender other than the thread's contact, who is flagged for review:
        an agent decides whether that person needs an answer too. Only open threads of
        other contacts are candidates; the sender's own closed one reopens as a header
        reply would. A subject alone admits only the contact's one such thread, so a
        stranger copying it learns nothing.
        """
        since = _arrival_time(item.received_at, self.clock()) - SUBJECT_WINDOW
        candidates = self.store.threads_with_subject("email", item.subject, since, contact.id)
        texts = self.store.latest_texts(list(candidates), QUOTED_MESSAGES)
        quoted = best_quoted(item.text, texts)
        if quoted is not None:  # a quoting stranger is flagged by _continue
            return self._continue(self.store.thread(quoted),
                                  "same subject, quotes this thread's message", item, contact)
        own = [thread_id for thread_id, owner in candidates.items() if owner == contact.id]
        if len(own) > 1:
            # A closed thread another one continues (reopen_days) lives on in that one.
            continued = {self.store.thread(thread_id).reopened_from for thread_id in own}
            own = [thread_id for thread_id in own if thread_id not in continued]
        if len(own) > 1:
            # Among the sender's own threads one quoted line is enough to tell which.
            mine = best_quoted(item.text, [(t, text) for t, text in texts if t in own], MIN_LINE)
            own = own if mine is None else [mine]
        if len(own) == 1:
            return self._continue(self.store.thread(own[0]),
                                  "reply from the same sender with the same subject", item, contact)
        if own:
            return Placement(None, "same subject as several threads of this sender",
                             review=True)
        return None

    def _continue(self, thread: Thread, reason: str, item: Inbound,
                  contact: Contact) -> Placement:
        """The message joins ``thread``; whether that reopens it, or starts a linked one.

        Someone other than the thread's contact (a parent in Cc answering our reply) is
        filed there, since they had the thread's mail, but flagged ``review``: answers go
        to the contact only, and an agent decides whether this person needs one too. In a
        group chat everyone is the conversation, and answers go to the chat.
        """
        person = _moves_threads(item)
        # A group chat is one conversation with many people, and answers go to the chat.
        if person and thread.contact_id != contact.id and not thread.conversation:
            item.flags.add(Flag.REVIEW)
            reason = f"{reason}, from someone other than the thread's contact"
        if thread.status is not Status.CLOSED:
            return Placement(thread, reason)
        if not person:
            return Placement(thread, f"{reason}; not a person writing to it, it stays closed")
        window = timedelta(days=self.config.threads.reopen_days)  # 0: never reopen
        if window and thread.closed_at and self.clock() - thread.closed_at <= window:
            return Placement(thread, f"{reason}; closed thread reopened", reopen=True)
        # Mail clients answer the old mail again and again: one continuation, not one each.
        later = self.store.continuation(thread.id, contact.id)
        if later is not None:
            return self._continue(later, f"{reason}; #{thread.id} continues in #{later.id}",
                                  item, contact)
        return Placement(thread, f"{reason}; closed too long ago, new thread linked",
                         linked_to=thread.id)

    def _contact_for(self, item: Inbound) -> tuple[Contact, bool]:
        """The sender's contact, and whether it is new (it then has no threads yet); a
        Telegram user the roster knows by username joins that contact."""
        contact = self.store.contact_for(item.sender)
        if contact:
            return contact, False
        username = item.meta.get("username", "").lower()
        if item.sender.kind == "telegram" and username:
            known = self.store.contact_for(Identity("telegram-username", username))
            if known:
                self.store.add_identity(known.id, item.sender)
                return self.store.contact(known.id), False
        return self.store.add_contact(item.sender), True

    def _remember_contact(self, contact: Contact, item: Inbound) -> Contact:
        """The contact as it is now stored (a /start payload waits on it for routing)."""
        payload = item.meta.get("start_payload", "")
        if not payload or payload == contact.start_payload:
            return contact
        self.store.update_contact(contact.id, start_payload=payload)
        return replace(contact, start_payload=payload)

    def _about_staff_mail(self, item: Inbound) -> bool:
        """Whether this is a delivery report about an agent's notification: its failure is
        recorded (``inbox status`` names the agent), and the report is not filed. It quotes
        our internal copy, which has no place in the customer's thread (export-contact
        hands that to the customer), and a thread of its own would notify the same full
        mailbox again, and again."""
        about = item.meta.get("reported-message-id")
        entry = self.store.outbound_for_header_id(about) if about else None
        if entry is None or entry.kind not in TO_STAFF:
            return False
        log.info("%s: a delivery report about notification %s to %s: %s", item.account,
                 entry.id, entry.recipient, item.meta.get("bounce-reason") or item.subject)
        if Flag.BOUNCE in item.flags and item.meta.get("bounced-message-id"):
            self._bounced(entry, item)
        return True

    def _bounced(self, entry: Outbound | None, item: Inbound) -> None:
        """Our message came back undelivered: mark it failed and let the hooks tell the agent."""
        if entry is None or entry.state is DeliveryState.FAILED:
            return
        reason = item.meta.get("bounce-reason") or item.subject or "delivery status notification"
        delivery = Delivery(ok=False, permanent=True, error=f"bounced: {reason}")
        self.store.record_delivery(entry.id, DeliveryState.FAILED, at=self.clock(),
                                   error=delivery.error)
        self.store.log_event(entry.thread_id, "system", "delivery-failed",
                             {"outbox": entry.id, "error": delivery.error, "bounce": True})
        call(self.hooks, "delivery_failed", entry, delivery)

    # -- routing -------------------------------------------------------------------

    def _route(self, item: Inbound, contact: Contact, now: datetime, *,
               returning: bool) -> Routed:
        """Decide where the new thread ``item`` starts goes (the contact's language is
        recorded here; the thread's columns and events are the caller's to write).
        ``returning``: the contact may have written before (a new one has had no agent)."""
        # A placeholder ("[sticker 😀]") is the connector's wording: the hints decide.
        text = "" if item.meta.get("placeholder") else item.visible
        if item.subject and item.channel == "email":
            text = f"{item.subject}\n{text}"
        guess = self.detector.detect(text, item.language_hints, contact.language)
        facts = Facts(
            channel=item.channel, account=item.account, sender=item.sender,
            subject=item.subject, text=item.visible,
            language=guess.language if guess.detected else "",
            language_confidence=guess.confidence, contact_segment=contact.segment,
            contact_tags=contact.tags, start_payload=contact.start_payload, received_at=now,
        )
        decision = route(facts, self.config.routing, self.config.calendar)
        machine = machine_written(item.flags)
        agent, assignment = decision.agent, None
        named = self.config.agents.get(agent)
        on_leave = named is not None and not named.available
        if on_leave:  # never assigned, even by a rule: the team's strategy picks instead
            agent = ""
            assignment = Assignment("", f"the rule names {decision.agent}, who is unavailable;"
                                        " no team to pick another", True)
        elif agent:
            assignment = named_by_rule(agent)
        team = self.config.teams.get(decision.team)
        if not agent and team is not None:
            assignment = assign(
                team, self.config.agents, language=guess.language, now=now,
                open_counts=self.store.open_counts(team.members)
                if team.strategy == "least_open" else {},
                last_assigned=self.store.last_assigned(team.name)
                if team.strategy == "round_robin" else "",
                previous_agent=self.store.previous_agent(contact.id) if returning else "",
            )
            if on_leave:
                assignment = replace(assignment, reason=f"the rule names {decision.agent}, who"
                                                        f" is unavailable; {assignment.reason}")
            agent = assignment.agent
        columns = dict(
            language=guess.language, language_confidence=guess.confidence,
            segment=decision.segment, team=decision.team, agent=agent,
            priority=decision.priority, tags=decision.tags,
            # Mail no person wrote (out-of-office, bulk) is nobody's to answer in time.
            sla_policy="" if machine else decision.sla,
            **({} if machine else self._due_times(decision.sla, now)),
            routing={
                "at": now.isoformat(),  # what time rules saw; replays use it again
                "language": {"language": guess.language, "confidence": guess.confidence,
                             "evidence": list(guess.evidence), "detected": guess.detected},
                "decision": decision,  # dataclasses: the store writes them as their fields
                "explain": decision.explain(),
                "assignment": assignment,
            },
        )
        if guess.confidence >= 0.8 and guess.language != contact.language:
            self.store.update_contact(contact.id, language=guess.language)
            contact = replace(contact, language=guess.language)
        events: list[tuple[str, dict]] = [("routed", {
            "team": decision.team, "agent": agent, "rule": decision.rule,
            "language": guess.language, "segment": decision.segment})]
        if agent and assignment is not None:
            events.append(("assigned", {"agent": agent, "reason": assignment.reason}))
        unassigned = assignment.reason if assignment is not None and not agent else ""
        return Routed(columns, events, contact, decision.template, unassigned)

    def _due_times(self, policy_name: str, now: datetime) -> dict[str, datetime]:
        """First-response and resolution deadlines, in business time when the policy says so."""
        policy = self.config.sla.get(policy_name)
        if policy is None:
            return {}
        calendar = self.config.calendar
        return {"first_response_due": policy.add(now, policy.first_response, calendar),
                "resolution_due": policy.add(now, policy.resolution, calendar)}

    # -- failures ------------------------------------------------------------------

    def _quarantine(self, item: Inbound, error: Exception, report: IngestReport) -> None:
        """File the raw message on its own flagged thread so an agent still sees it."""
        if self.store.find_message(item.account, item.external_id):
            return
        now = self.clock()
        contact = self.store.ensure_contact(item.sender)
        thread_id = self.store.create_thread(
            channel=item.channel, account=item.account, contact_id=contact.id,
            subject=item.subject or "(message could not be processed)", created_at=now,
            conversation=item.keys.conversation, flags=[Flag.QUARANTINED],
            team=self.config.routing.default_team,
        )
        self.store.add_message(
            thread_id=thread_id, direction=Direction.IN, channel=item.channel,
            account=item.account, text=item.text, external_id=item.external_id,
            sender=_sender(item), flags=sorted({*item.flags, Flag.QUARANTINED}),
            meta={"error": f"{type(error).__name__}: {error}"}, raw=item.raw,
            raw_kind="telegram" if item.channel == "telegram" else "rfc822", created_at=now,
        )
        self.store.log_event(thread_id, "system", "quarantined",
                             {"error": f"{type(error).__name__}: {error}"})
        report.quarantined += 1
        report.new_threads.append(thread_id)


def _arrival_time(claimed: datetime, now: datetime) -> datetime:
    if claimed.tzinfo is None or claimed > now + CLOCK_SKEW:
        return now
    return claimed


def _sender(item: Inbound) -> str:
    name = item.sender.display_name
    return f"{name} <{item.sender.value}>" if name else item.sender.value


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:80]
    return ""


def _moves_threads(item: Inbound) -> bool:
    """Whether the message may reopen a closed thread, start a linked one or end "pending".

    Only a person writing to the thread may. Automatic mail and an agent's reply the desk
    refused are filed where they belong and change nothing else.
    """
    return not (machine_written(item.flags) or "agent-reply-refused" in item.meta)
