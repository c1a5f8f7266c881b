"""Assignment: strategies, and who is eligible by language, duty hours, zone and availability."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from inbox.staff import Agent, Team, WorkingHours
from routing.assign import Assignment, assign

# Monday 2026-03-02 06:00 UTC = 11:00 in Almaty (UTC+5), 09:00 in Moscow, 01:00 in New York.
MONDAY = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
ALMATY_DAY = WorkingHours(start="09:00", end="18:00", timezone="Asia/Almaty")
AGENTS = {
    "aigerim": Agent("aigerim", "Aigerim", languages=("kk", "ru"), hours=ALMATY_DAY),
    "ivan": Agent("ivan", "Ivan", languages=("ru", "en"),
                  hours=WorkingHours(start="10:00", end="19:00", timezone="Europe/Moscow")),
    "olga": Agent("olga", "Olga"),  # speaks every language, always on duty
    "john": Agent("john", "John", languages=("en",),
                  hours=WorkingHours(start="09:00", end="17:00", timezone="America/New_York")),
    "away": Agent("away", "Away", available=False),
}


def pick(members: tuple[str, ...], strategy: str = "round_robin", *, language: str = "ru",
         now: datetime = MONDAY, open_counts=None, last: str = "", previous: str = "",
         fallback: str = "", lead: str = "") -> Assignment:
    team = Team("support", members, strategy, lead=lead, fallback=fallback)
    return assign(team, AGENTS, language=language, now=now, open_counts=open_counts or {},
                  last_assigned=last, previous_agent=previous)


def test_round_robin_takes_the_member_after_the_last_assigned():
    assert pick(("aigerim", "olga", "away"), last="aigerim") == Assignment(
        "olga", "round robin after aigerim: olga", False, ("olga",))
    assert pick(("aigerim", "olga")).agent == "aigerim"  # nobody before: the first member


def test_round_robin_wraps_around_and_skips_the_ineligible_saying_why():
    result = pick(("aigerim", "away", "john", "olga"), last="olga")
    assert result.agent == "aigerim"
    result = pick(("aigerim", "away", "john", "olga"), last="aigerim")
    assert result == Assignment(
        "olga", "round robin after aigerim: olga; away is unavailable; john does not speak ru"
        " (speaks en)", False, ("olga",))


def test_round_robin_after_a_member_who_left_the_team_starts_at_the_first():
    assert pick(("olga", "aigerim"), last="gone").agent == "olga"


def test_least_open_picks_fewest_open_threads_ties_by_member_order():
    counts = {"aigerim": 3, "ivan": 1, "olga": 1}
    assert pick(("aigerim", "olga", "ivan"), "least_open", open_counts=counts) == Assignment(
        "olga", "least open: olga has 1 open threads", False, ("olga",))
    assert pick(("aigerim", "ivan"), "least_open", open_counts={"ivan": 2}).agent == "aigerim"


def test_manual_team_queues_and_tells_the_members():
    assert pick(("aigerim", "olga"), "manual") == Assignment(
        "", "manual team: members are told", True, ("aigerim", "olga"))


def test_only_agents_who_speak_the_language_are_eligible():
    assert pick(("ivan", "aigerim"), language="kk").agent == "aigerim"
    assert pick(("john", "olga"), language="kk").agent == "olga"  # no languages: speaks all
    new_york_morning = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
    assert pick(("john",), language="", now=new_york_morning).agent == "john"  # unknown: anyone


def test_working_hours_are_read_in_each_agents_own_zone():
    # 06:00 UTC: Almaty 11:00 (on), Moscow 09:00 (before 10:00), New York 01:00 (off).
    result = pick(("ivan", "john", "aigerim"), language="")
    assert result.agent == "aigerim"
    assert "ivan is off duty (works Mon-Fri 10:00-19:00 Europe/Moscow)" in result.reason
    later = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # Moscow 17:30, New York 09:30
    assert pick(("aigerim", "ivan"), language="", now=later).agent == "ivan"
    assert pick(("aigerim", "john"), language="en", now=later).agent == "john"


def test_weekend_is_off_duty():
    saturday = datetime(2026, 3, 7, 6, 0, tzinfo=UTC)
    result = pick(("aigerim",), now=saturday, fallback="olga")
    assert result.queued and result.notify == ("olga",)


def test_a_returning_contact_gets_their_previous_agent_when_eligible():
    assert pick(("aigerim", "olga"), previous="olga", last="olga") == Assignment(
        "olga", "returning contact: olga answered them before", False, ("olga",))


def test_a_returning_contacts_agent_off_duty_or_outside_the_team_is_skipped_with_a_note():
    result = pick(("ivan", "olga"), previous="ivan")
    assert result.agent == "olga"
    assert result.reason == ("round robin from the first member: olga; returning contact's"
                             " agent: ivan is off duty (works Mon-Fri 10:00-19:00"
                             " Europe/Moscow)")
    assert pick(("olga",), previous="aigerim").reason == (
        "round robin from the first member: olga; returning contact's agent aigerim is not in"
        " the team")


def test_nobody_eligible_queues_and_names_why_and_the_fallback():
    result = pick(("away", "john"), fallback="olga")
    assert result == Assignment(
        "", "queued: nobody in team support can take it now (away is unavailable; john does not"
        " speak ru (speaks en)); tell fallback olga", True, ("olga",))


def test_nobody_eligible_without_fallback_tells_the_lead_or_says_nobody_can_be_told():
    assert pick(("away",), lead="aigerim").notify == ("aigerim",)
    result = pick(("away", "ghost"))
    assert result.reason == ("queued: nobody in team support can take it now (away is"
                             " unavailable; ghost is not a configured agent); the team has no"
                             " fallback or lead to tell")
    assert result.notify == ()
    assert pick(()).reason.startswith("queued: nobody in team support can take it now (the team"
                                      " has no members)")


def test_an_agent_with_unusable_hours_is_skipped_not_a_crash():
    agents = {**AGENTS, "empty": Agent("empty", "Empty", hours=WorkingHours(days=()))}
    team = Team("support", ("empty", "olga"))
    result = assign(team, agents, language="ru", now=MONDAY, open_counts={})
    assert result.reason == ("round robin from the first member: olga; empty has unusable"
                             " working hours (days must be weekday numbers 0-6, not ())")


def test_unknown_strategy_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown strategy 'lottery'"):
        pick(("olga",), "lottery")
