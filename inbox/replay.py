"""Replay routing over stored threads: ``inbox rules test`` and the diff logged on reload.

An admin changes routing.toml and wants to know, before deploying, which
threads would now go elsewhere. The facts routing saw are rebuilt from the
store (first message, sender, detected language, the contact's directory
segment) and :func:`routing.decide.route` runs again with the new rules; the
language is not detected again, so only the rules' effect shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from inbox.config import Config
from inbox.model import Direction, Identity, Thread
from inbox.store import Store
from routing.assign import named_by_rule
from routing.conditions import Facts
from routing.decide import Decision, route
from routing.rules import Routing

COMPARED = ("segment", "team", "agent", "priority", "sla", "template", "rule")


@dataclass(frozen=True)
class Change:
    thread: Thread
    before: dict[str, object]
    after: dict[str, object]

    @property
    def fields(self) -> list[str]:
        return [key for key in COMPARED if self.before.get(key) != self.after.get(key)]

    def describe(self) -> str:
        parts = [f"{key} {self.before.get(key) or '-'} → {self.after.get(key) or '-'}"
                 for key in self.fields]
        return f"#{self.thread.id} {self.thread.subject[:50]!r}: " + "; ".join(parts)


def facts_for(store: Store, thread: Thread) -> Facts | None:
    """What routing saw when the thread arrived; None for a thread with no customer message."""
    first = next((m for m in store.messages(thread.id) if m.direction is Direction.IN), None)
    if first is None:
        return None
    contact = store.contact(thread.contact_id)
    identities = store.identities(contact.id)
    kind = "telegram" if thread.channel == "telegram" else thread.channel
    sender = next((i for i in identities if i.kind == kind),
                  identities[0] if identities else Identity(kind, ""))
    record = store.routing_record(thread.id)
    detected = record.get("language", {}).get("detected", True)
    # The time rules saw: when the thread was routed, not the sender's Date header (a wrong
    # clock, or mail held in a queue, moved a "time" rule's answer in every replay).
    routed_at = datetime.fromisoformat(record["at"]) if record.get("at") else thread.created_at
    return Facts(
        channel=thread.channel, account=thread.account, sender=sender, subject=thread.subject,
        text=first.visible_text or first.text, received_at=routed_at,
        language=thread.language if detected else "",
        language_confidence=thread.language_confidence,
        contact_segment=contact.segment, contact_tags=contact.tags,
        start_payload=contact.start_payload,
    )


def decision_fields(decision: Decision) -> dict[str, object]:
    return {key: getattr(decision, key) for key in COMPARED}


def replay(store: Store, config: Config, routing: Routing, *,
           since: datetime | None = None, baseline: Routing | None = None) -> list[Change]:
    """Threads whose routing would differ under ``routing``.

    Compared with ``baseline`` routing replayed the same way when given (a
    reload: old rules vs new), else with what was stored when each thread was
    routed (``rules test``: what happened vs what would happen now).
    """
    changes = []
    for thread in store.threads(since=since):
        facts = facts_for(store, thread)
        if facts is None:
            continue
        after = decision_fields(route(facts, routing, config.calendar))
        if baseline is not None:
            before = decision_fields(route(facts, baseline, config.calendar))
        else:
            stored = store.routing_record(thread.id).get("decision") or {}
            before = {key: stored.get(key, "") for key in COMPARED}
        if before != after:
            changes.append(Change(thread, before, after))
    return changes


def routing_record(store: Store, thread_id: int) -> dict:
    """The routing record kept when the thread was routed, for ``route --explain``.

    The pipeline records every assignment, a rule's too; a thread routed before it did
    has none when a rule named the agent, so it is filled in here (as
    :func:`routing.assign.named_by_rule`) and the text and ``--json`` tell the same.
    """
    record = store.routing_record(thread_id)
    agent = (record.get("decision") or {}).get("agent")
    if agent and not record.get("assignment"):
        record["assignment"] = asdict(named_by_rule(agent))
    return record


def explain_lines(store: Store, thread_id: int) -> list[str]:
    """Why this thread went where it went, from the record kept when it was routed."""
    thread = store.thread(thread_id)
    record = routing_record(store, thread_id)
    lines = [f"#{thread.id} {thread.subject}"]
    if not record:
        return lines + ["not routed by rules (quarantined or filed before routing existed)"]
    language = record.get("language") or {}
    lines.append(f"language: {language.get('language') or '?'}"
                 f" (confidence {language.get('confidence', 0):.2f})")
    lines += [f"  {evidence}" for evidence in language.get("evidence", [])]
    lines += record.get("explain", [])
    assignment = record.get("assignment")
    if assignment:
        who = assignment.get("agent") or "nobody (queued)"
        lines.append(f"assignment: {who}: {assignment.get('reason', '')}")
    if thread.agent and assignment and thread.agent != assignment.get("agent"):
        lines.append(f"now assigned to {thread.agent} (changed after routing; see the event log)")
    return lines


def summary(changes: Sequence[Change], total: int) -> str:
    return f"{len(changes)} of {total} threads would be routed differently"
