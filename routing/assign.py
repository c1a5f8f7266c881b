"""Who in a team takes a new thread: round robin, least open, or manual (the team is told).

Only an eligible member is picked: available, speaking the thread's language
(an agent with no languages listed speaks all) and on duty now by their own
working hours and zone. A returning contact gets the agent who answered them
before, when that agent is eligible. When nobody is, the thread waits in the
team's queue and the team's fallback (else its lead) is the one to tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from inbox.staff import Agent, Team
from routing.calendar import BusinessCalendar

STRATEGIES = ("round_robin", "least_open", "manual")


@dataclass(frozen=True)
class Assignment:
    """The agent picked ("" when queued), why, and who must be told now."""

    agent: str
    reason: str
    queued: bool
    notify: tuple[str, ...] = ()


def assign(
    team: Team,
    agents: Mapping[str, Agent],
    *,
    language: str,
    now: datetime,
    open_counts: Mapping[str, int],
    last_assigned: str = "",
    previous_agent: str = "",
) -> Assignment:
    """Pick the member who takes a new thread of ``team``; ``now`` must be aware.

    ``open_counts`` is open threads per agent (least_open); ``last_assigned``
    the member who got the team's previous thread (round_robin);
    ``previous_agent`` who answered this contact last. Raises ValueError for
    an unknown strategy (config loading should have refused it).
    """
    if team.strategy not in STRATEGIES:
        raise ValueError(f"team {team.name!r}: unknown strategy {team.strategy!r}")
    if team.strategy == "manual":
        return Assignment("", "manual team: members are told", True, team.members)
    why_not = {member: _why_not(member, agents, language, now) for member in team.members}
    notes = []
    if previous_agent:
        if previous_agent not in why_not:
            notes.append(f"returning contact's agent {previous_agent} is not in the team")
        elif why_not[previous_agent]:
            notes.append(f"returning contact's agent: {why_not[previous_agent]}")
        else:
            return Assignment(previous_agent, f"returning contact: {previous_agent} answered"
                              " them before", False, (previous_agent,))
    eligible = [member for member in team.members if not why_not[member]]
    if not eligible:
        return _nobody(team, [why_not[m] for m in team.members], notes)
    if team.strategy == "least_open":
        agent = min(eligible, key=lambda member: open_counts.get(member, 0))
        reason = f"least open: {agent} has {open_counts.get(agent, 0)} open threads"
    else:
        after = team.members.index(last_assigned) + 1 if last_assigned in team.members else 0
        turn = team.members[after:] + team.members[:after]
        agent = next(member for member in turn if not why_not[member])
        skipped = [why_not[member] for member in turn[: turn.index(agent)]
                   if member != previous_agent]  # already noted above
        reason = (f"round robin after {last_assigned}" if last_assigned in team.members
                  else "round robin from the first member") + f": {agent}"
        notes += skipped
    return Assignment(agent, "; ".join([reason, *notes]), False, (agent,))


def named_by_rule(agent: str) -> Assignment:
    """What a rule naming ``agent`` amounts to: assign() never runs, and that agent is
    told like any other assigned agent (``route --explain`` shows it in this shape)."""
    return Assignment(agent, "named by the rule", False, (agent,))


def _why_not(member: str, agents: Mapping[str, Agent], language: str, now: datetime) -> str:
    """"" when ``member`` can take the thread now, else the reason, naming them."""
    agent = agents.get(member)
    if agent is None:
        return f"{member} is not a configured agent"
    if not agent.available:
        return f"{member} is unavailable"
    if language and agent.languages and language not in agent.languages:
        return f"{member} does not speak {language} (speaks {', '.join(agent.languages)})"
    if agent.hours is not None:
        try:
            hours = BusinessCalendar.for_hours(agent.hours)
        except ValueError as error:  # config loading should refuse these; never crash routing
            return f"{member} has unusable working hours ({error})"
        if not hours.is_open(now):
            return f"{member} is off duty (works {hours.describe()})"
    return ""


def _nobody(team: Team, reasons: list[str], notes: list[str]) -> Assignment:
    if team.fallback:
        tell, notify = f"tell fallback {team.fallback}", (team.fallback,)
    elif team.lead:
        tell, notify = f"tell team lead {team.lead}", (team.lead,)
    else:
        tell, notify = "the team has no fallback or lead to tell", ()
    why = "; ".join(reasons) or "the team has no members"
    reason = f"queued: nobody in team {team.name} can take it now ({why}); {tell}"
    return Assignment("", "; ".join([reason, *notes]), True, notify)
