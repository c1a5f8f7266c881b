"""SLA timers: warn before a target is missed, escalate when it is, pause while pending.

The pipeline stores each thread's ``first_response_due``/``resolution_due`` when
it routes it; :meth:`SlaClock.check` (an APScheduler interval job, and ``inbox run
--once``) reads them, and stores with each thread the earliest instant one of its
timers can fire, so later checks (in this process or the next) read only the threads
whose instant has come, or whose clocks changed since. Each (thread, target,
stage) fires once, ever: the store's primary key says so, so a restart, a second
check in the same second or a daemon that was down for a day fires nothing
twice, and timers that fell due meanwhile fire once at the next check.

Pauses come from the event log, not from a hook: a ``pending`` event starts one
and the next event that ends waiting (``opened``, ``reopened``, ``customer-replied``,
``closed``) ends it. :meth:`SlaClock.resume` then moves the due times later by
the paused span (in business time when the policy counts business hours) and
records the pause, so it shifts them once. Because every check applies pauses
before it fires anything, no status-changing code needs to call us.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from inbox.actions import Actions
from inbox.config import Config, SlaPolicy
from inbox.model import Event, SlaClocks, Thread
from inbox.sections import Section
from inbox.store import Store
from routing.assign import assign

log = logging.getLogger("inbox.sla")

NEVER = datetime.max.replace(tzinfo=UTC)  # no timer left to fire
# Events that end a wait for the customer: the status left ``pending``.
# What stops the clocks, and what starts them again. Mail no person wrote to a closed thread
# (an out-of-office reply to the survey) is logged "customer-replied" but leaves it closed.
RESUMING = {
    "pending": frozenset({"opened", "reopened", "customer-replied", "closed"}),
    "closed": frozenset({"opened", "reopened"}),
}


class Teller(Protocol):
    """What the SLA clock and the survey need from :class:`inbox.notify.Notifier`."""

    def tell(self, agent_id: str, thread_id: int, what: str, *, urgent: bool = False) -> None: ...

    def tell_all(self, agent_ids: Sequence[str], thread_id: int, what: str, *,
                 urgent: bool = False) -> None: ...

    def audience(self, thread: Thread) -> list[str]: ...


@dataclass(frozen=True)
class EscalationSettings:
    """``[escalation]``: how often timers are checked and whether a breach reassigns."""

    interval_seconds: float = 30.0
    reassign_on_breach: bool = False  # give a breached thread to the next available member



def escalation_settings(section: Section) -> EscalationSettings:
    settings = EscalationSettings(
        interval_seconds=section.number("interval_seconds", 30.0, minimum=1),
        reassign_on_breach=section.flag("reassign_on_breach", False),
    )
    section.done()
    return settings


@dataclass(frozen=True)
class Fired:
    """One timer that went off: who was told and, on a breach, who the thread went to."""

    thread_id: int
    target: str  # "first_response" | "resolution"
    stage: str  # "warning" | "breach"
    due: datetime
    told: tuple[str, ...]
    reassigned_to: str = ""


class SlaClock:
    def __init__(self, store: Store, config: Config, notifier: Teller,
                 settings: EscalationSettings = EscalationSettings()):
        self.store = store
        self.config = config
        self.notifier = notifier
        self.settings = settings
        self._plan_checked = False

    def check(self, now: datetime) -> list[Fired]:
        """Apply finished pauses, then fire every warning and breach that is due at ``now``."""
        self._forget_other_plans()
        self.apply_pauses()
        fired: list[Fired] = []
        looked: list[tuple[SlaClocks, datetime]] = []
        for thread in self.store.sla_threads(now):
            policy = self.config.sla.get(thread.sla_policy)
            if policy is None:  # its policy left the config: back if it does (a new plan)
                looked.append((thread, NEVER))
                continue
            done = thread.fired
            look_again = NEVER
            for target, due, span in self._targets(thread, policy):
                if (target, "breach") in done:
                    continue
                stage, until = self._stage(policy, due, span, now,
                                           warned=(target, "warning") in done)
                if stage is not None:
                    found = self._fire(self.store.thread(thread.id), policy, target, stage,
                                       due, now)
                    if found is not None:
                        fired.append(found)
                if stage != "breach":
                    look_again = min(look_again, until)
            looked.append((thread, look_again))
        self.store.set_sla_checks(looked)
        return fired

    def _forget_other_plans(self) -> None:
        """The times to look again that the store holds were worked out with some SLA
        policies and calendar; under others (a changed config) warnings may fall due
        earlier, so every thread is looked at once more. Asked once per configuration."""
        if self._plan_checked:
            return
        plan = _plan(self.config)
        if self.store.sla_plan() != plan:
            self.store.reset_sla_checks(plan)
        self._plan_checked = True

    # -- pauses ----------------------------------------------------------------------------

    def apply_pauses(self) -> None:
        """Shift due times for every finished pause that has not shifted them yet."""
        for thread_id in self.store.unapplied_pauses():
            applied = self.store.applied_pauses(thread_id)
            events = self.store.events(thread_id)
            finished = list(pauses(events))
            for paused_from, resumed_at in finished:
                if paused_from not in applied:
                    self.resume(self.store.thread(thread_id), paused_from, resumed_at)
            # A stop inside a stop (pending twice, closed again) starts none: noted as done,
            # so the thread is not looked at again on every check.
            known = applied | {paused_from for paused_from, _ in finished}
            for event in events:
                if event.action in RESUMING and event.created_at not in known and (
                        finished and event.created_at < finished[-1][1]):
                    self.store.record_pause(thread_id, event.created_at, event.created_at)

    def resume(self, thread: Thread, paused_from: datetime, now: datetime) -> Thread:
        """The thread waited for the customer from ``paused_from`` to ``now``: move its due times.

        A target already missed before the pause stays missed; a met first
        response is not moved. Calling it again for the same pause does nothing.
        """
        policy = self.config.sla.get(thread.sla_policy)
        changes: dict[str, datetime] = {}
        if policy is not None:
            for target, due, _ in self._targets(thread, policy):
                if due > paused_from:
                    changes[f"{target}_due"] = self._shift(policy, due, paused_from, now)
        with self.store.transaction():
            if self.store.record_pause(thread.id, paused_from, now) and changes:
                self.store.update_thread(thread.id, **changes)
                self.store.log_event(thread.id, "system", "sla-resumed", {
                    "paused_from": paused_from.isoformat(), "resumed_at": now.isoformat(),
                    **{key: value.isoformat() for key, value in changes.items()}}, at=now)
        return self.store.thread(thread.id)

    def _shift(self, policy: SlaPolicy, due: datetime, paused_from: datetime,
               now: datetime) -> datetime:
        calendar = self.config.calendar
        return policy.add(now, policy.elapsed(paused_from, due, calendar), calendar)

    # -- firing ----------------------------------------------------------------------------

    @staticmethod
    def _targets(thread: Thread | SlaClocks,
                 policy: SlaPolicy) -> Iterator[tuple[str, datetime, timedelta]]:
        """(target, due, full span) of each clock still running on the thread."""
        if thread.first_response_at is None and thread.first_response_due is not None:
            yield "first_response", thread.first_response_due, policy.first_response
        if thread.resolution_due is not None:
            yield "resolution", thread.resolution_due, policy.resolution

    def _stage(self, policy: SlaPolicy, due: datetime, span: timedelta, now: datetime, *,
               warned: bool) -> tuple[str | None, datetime]:
        """("breach", due) once due, ("warning", due) once ``warn_at`` of the span is used
        (unless ``warned`` already), else (None, the earliest instant the next stage can
        come): business time never runs faster than the clock on the wall, so a warning
        not before the business time left to it has passed on the wall."""
        if now >= due:
            return "breach", due
        if warned:  # only the breach is left: no calendar sums
            return None, due
        left = policy.elapsed(now, due, self.config.calendar)
        margin = span * (1 - policy.warn_at)
        if left <= margin:
            return "warning", due
        return None, now + (left - margin)

    def _fire(self, thread: Thread, policy: SlaPolicy, target: str, stage: str,
              due: datetime, now: datetime) -> Fired | None:
        team = self.config.teams.get(thread.team)
        lead = team.lead if team else ""
        urgent = stage == "breach"
        with self.store.transaction():
            if not self.store.record_timer(thread.id, target, stage, due, now):
                return None  # another check got there first
            if urgent:
                # A warning that never fired (down all along) is superseded, not sent late.
                self.store.record_timer(thread.id, target, "warning", due, now, notified=False)
            # The agent, else the lead; a team without one must still hear (the members,
            # the fallback, the admins), or a breach goes to nobody.
            audience = ([thread.agent] if thread.agent in self.config.agents
                        else [lead] if lead else self.notifier.audience(thread))
            if urgent and lead:
                audience.append(lead)
            audience = list(dict.fromkeys(audience))
            what = _describe(target, stage, due.astimezone(self.config.calendar.zone), policy)
            self.notifier.tell_all(audience, thread.id, what, urgent=urgent)
            moved_to = self._reassign(thread, now) if urgent else ""
            self.store.log_event(thread.id, "sla", f"sla-{stage}", {
                "target": target, "due": due.isoformat(), "policy": policy.name,
                "told": audience, "reassigned_to": moved_to}, at=now)
        log.info("thread %s: SLA %s %s (due %s); told %s", thread.id, target, stage,
                 due.isoformat(), ", ".join(audience) or "nobody")
        return Fired(thread.id, target, stage, due, tuple(audience), moved_to)

    def _reassign(self, thread: Thread, now: datetime) -> str:
        """Give a breached thread to the team's next eligible member; "" when nobody else can."""
        team = self.config.teams.get(thread.team)
        if not self.settings.reassign_on_breach or team is None or team.strategy == "manual":
            return ""
        picked = assign(replace(team, strategy="round_robin"), self.config.agents,
                        language=thread.language, now=now, open_counts={},  # round robin
                        last_assigned=thread.agent)
        if not picked.agent or picked.agent == thread.agent:
            return ""
        Actions(self.store, self.config).assign(thread.id, picked.agent, by="sla")  # tells them
        return picked.agent


def pauses(events: list[Event]) -> Iterator[tuple[datetime, datetime]]:
    """Finished stops of the clocks, (from, to), read from a thread's event log: waits for
    the customer (pending), and the time a thread stayed closed before it was reopened.
    Closing stops the clocks, so a thread answered and closed in time and reopened later
    goes on from where it stopped instead of breaching at once."""
    paused_from: datetime | None = None
    paused_by = ""
    for event in events:
        if paused_from is not None and event.action in RESUMING[paused_by]:
            yield paused_from, event.created_at
            paused_from = None
        if event.action in RESUMING and paused_from is None:
            paused_from, paused_by = event.created_at, event.action


def _plan(config: Config) -> str:
    """What the times to look again depend on, the policies and the calendar, as text."""
    calendar = config.calendar
    return repr((
        sorted((p.name, p.first_response, p.resolution, p.business_hours, p.warn_at)
               for p in config.sla.values()),
        (calendar.timezone, calendar.days, calendar.start, calendar.end,
         sorted(calendar.holidays)),
    ))


def _describe(target: str, stage: str, due: datetime, policy: SlaPolicy) -> str:
    words = "first response" if target == "first_response" else "resolution"
    when = due.strftime("%a %d %b %H:%M")
    if stage == "breach":
        return f"SLA breached: {words} was due {when} (policy {policy.name})"
    return f"SLA warning: {words} is due {when} (policy {policy.name})"
