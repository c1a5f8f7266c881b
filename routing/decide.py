"""route(): one new thread's facts -> where it goes and why. Pure: time comes in the facts."""

from __future__ import annotations

from dataclasses import dataclass

from routing.calendar import BusinessCalendar
from routing.conditions import Facts, Situation
from routing.rules import Routing, RuleTrace
from routing.segment import detect_segment


@dataclass(frozen=True)
class Decision:
    """Where a thread goes, and why.

    ``agent`` is set only when a rule names one (then the pipeline skips
    assign()); ``rule`` is "" when no rule matched and the defaults applied;
    ``trace`` holds every rule tried, in order, the matching one last.
    """

    segment: str
    segment_evidence: tuple[str, ...]
    team: str
    agent: str
    priority: str
    tags: tuple[str, ...]
    sla: str
    template: str
    rule: str
    trace: tuple[RuleTrace, ...]

    def explain(self) -> list[str]:
        """Lines for ``inbox route --explain``: segment and evidence, each rule tried, outcome."""
        lines = [f"segment: {self.segment or 'unknown'}"]
        lines += [f"  {evidence}" for evidence in self.segment_evidence]
        for tried in self.trace:
            lines.append(f"rule \"{tried.rule_name}\": {'matched' if tried.matched else 'no'}")
            lines += [f"  {reason}" for reason in tried.reasons]
        outcome = f'rule "{self.rule}"' if self.rule else "no rule matched: defaults"
        target = f"team {self.team}" + (f", agent {self.agent}" if self.agent else "")
        marks = [f"priority {self.priority}"]
        for label, value in (("sla", self.sla), ("template", self.template),
                             ("tags", ", ".join(self.tags))):
            if value:
                marks.append(f"{label} {value}")
        lines.append(f"{outcome} -> {target}; {'; '.join(marks)}")
        return lines


def route(facts: Facts, routing: Routing, calendar: BusinessCalendar) -> Decision:
    """Decide the segment, then try the rules in order; the first that matches wins."""
    guess = detect_segment(
        routing.segments,
        contact_segment=facts.contact_segment,
        sender=facts.sender,
        account=facts.account,
        start_payload=facts.start_payload,
        words=facts.words,
    )
    situation = Situation(facts, guess.segment, calendar)
    trace: list[RuleTrace] = []
    for rule in routing.rules:
        trace.append(rule.evaluate(situation))
        if trace[-1].matched:
            then = rule.then
            return Decision(
                guess.segment, guess.evidence, then.team or routing.default_team, then.agent,
                then.priority or routing.default_priority, then.tags,
                then.sla or routing.default_sla, then.template, rule.name, tuple(trace),
            )
    return Decision(guess.segment, guess.evidence, routing.default_team, "",
                    routing.default_priority, (), routing.default_sla, "", "", tuple(trace))
