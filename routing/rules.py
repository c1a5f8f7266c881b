"""routing.toml -> frozen :class:`Routing`; a rule's verdict on a thread, with its reasons.

Parsed once, with every problem reported at once and each naming the file and
the entry (``routing.toml: rule 3 "Billing": then.team "billng" is not a team
(teams: billing, general)``). Unknown keys are problems: a misspelt condition
must not quietly match everything. Keywords and regexes are compiled here, so
routing a thread does no parsing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from inbox.sections import Section
from routing.conditions import Condition, Known, Situation, check_known, read_conditions
from routing.directory import DirectoryMapping, as_tag, directory_mapping_from_section
from routing.segment import UNKNOWN, Segment, segment_from_section

PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class RuleTrace:
    """One rule tried on a thread: whether it matched and each condition's reason."""

    rule_name: str
    matched: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Action:
    """A rule's ``then``: where the thread goes and how it is marked ("" = the default)."""

    team: str = ""
    agent: str = ""
    priority: str = ""
    tags: tuple[str, ...] = ()
    sla: str = ""
    template: str = ""


@dataclass(frozen=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...]
    then: Action

    def evaluate(self, situation: Situation) -> RuleTrace:
        """All conditions are checked (not just up to the first miss) so the trace is complete."""
        if not self.conditions:
            return RuleTrace(self.name, True, ("no conditions: matches every thread",))
        results = [condition.check(situation) for condition in self.conditions]
        return RuleTrace(self.name, all(ok for ok, _ in results),
                         tuple(reason for _, reason in results))


@dataclass(frozen=True)
class Routing:
    """Everything routing.toml says; the empty default routes every thread to ``general``."""

    default_team: str = "general"
    default_priority: str = "normal"
    default_sla: str = ""
    segments: tuple[Segment, ...] = ()
    rules: tuple[Rule, ...] = ()
    directory: DirectoryMapping = field(default_factory=DirectoryMapping)

    @property
    def segment_names(self) -> tuple[str, ...]:
        return tuple(segment.name for segment in self.segments)


class _Part(Section):
    """``when`` or ``then`` of a rule: problems read ``rule 3 "X": then.team ...``."""

    def __init__(self, rule: Section, key: str):
        self.part = key
        rule.seen.add(key)
        data = rule.data.get(key, {})
        if not isinstance(data, Mapping):
            rule.problem(f"{key} must be a table ([rules.{key}])")
            data = {}
        super().__init__(data, rule.where, rule.problems)

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.where}: {self.part}.{text}")

    def unknown_key(self, key: str, known: str) -> None:
        self.problems.append(f"{self.where}: unknown key '{self.part}.{key}' (known keys: {known})")


def parse_routing(
    data: Mapping[str, Any],
    file: str,
    *,
    teams: Collection[str],
    agents: Collection[str],
    sla_policies: Collection[str],
    languages: Collection[str],
    channels: Collection[str] | None = None,
    accounts: Collection[str] | None = None,
    templates: Collection[str] | None = None,
) -> tuple[Routing, list[str]]:
    """Read a tomllib-parsed routing.toml; answer the routing and every problem found.

    ``file`` is the name problems start with. ``channels`` (kinds: "email",
    "telegram"), ``accounts`` (configured channel names) and ``templates``
    (auto-answer names) are checked only when given. Use the routing only when
    the problem list is empty; on a reload, keep the old one otherwise.
    """
    problems: list[str] = []
    top = Section(data, file, problems)
    segments = _segments(top, file, languages, accounts)
    names = [segment.name for segment in segments]
    known = Known(teams, agents, sla_policies, languages, names, channels, accounts, templates)
    default_team = top.text("default_team", "general")
    if "default_team" in data or teams is None or default_team in teams:
        check_known(top, "default_team", [default_team], teams, "a team", "teams")
    else:  # an empty file (or one without the key): say so, not "general is not a team"
        top.problem(f'default_team is not set and no team is named "{default_team}" (the'
                    f' default): set default_team = "NAME" (teams:'
                    f' {", ".join(sorted(teams)) or "none: add [[teams]] to inbox.toml"})')
    default_priority = top.text("default_priority", "normal")
    check_known(top, "default_priority", [default_priority], PRIORITIES, "a priority",
                "priorities")
    default_sla = top.text("default_sla", "")
    check_known(top, "default_sla", [default_sla] if default_sla else [], sla_policies,
                "an SLA policy", "policies")
    directory = directory_mapping_from_section(top.table("directory"), names)
    rules = _rules(top, file, known)
    top.done()
    routing = Routing(default_team, default_priority, default_sla, tuple(segments), tuple(rules),
                      directory)
    return routing, problems


def _entries(top: Section, key: str, file: str, label: str) -> list[Section]:
    """``[[rules]]`` / ``[[segments]]`` as sections named ``rule 3 "Billing"``."""
    top.seen.add(key)
    value = top.data.get(key, [])
    if not isinstance(value, list):
        top.problem(f"{key} must be an array of tables ([[{key}]])")
        return []
    sections = []
    for number, item in enumerate(value, start=1):
        name = item.get("name") if isinstance(item, Mapping) else None
        where = f"{file}: {label} {number}" + (f' "{name}"' if isinstance(name, str) else "")
        sections.append(Section(item, where, top.problems))
    return sections


def _segments(
    top: Section, file: str, languages: Collection[str], accounts: Collection[str] | None
) -> list[Segment]:
    segments: list[Segment] = []
    for section in _entries(top, "segments", file, "segment"):
        segment = segment_from_section(section, languages=languages, accounts=accounts)
        if any(other.name == segment.name for other in segments):
            section.problem(f'name "{segment.name}" is used by an earlier segment')
        elif segment.name and segment.name != UNKNOWN:
            segments.append(segment)
    return segments


def _rules(top: Section, file: str, known: Known) -> list[Rule]:
    rules: list[Rule] = []
    catch_all = ""
    for section in _entries(top, "rules", file, "rule"):
        name = section.text("name")
        if name is not None and any(rule.name == name for rule in rules):
            section.problem(f'name "{name}" is used by an earlier rule')
        if catch_all:
            section.problem(f"never tried: {catch_all} before it has no conditions"
                            " and matches every thread")
        when = _Part(section, "when")
        before = len(section.problems)
        conditions = read_conditions(when, known)
        when.done()
        mistyped = len(section.problems) > before  # "languge": not a rule for every thread
        if not section.has("then"):
            section.problem("then is required: it says where matching threads go"
                            " (then.team or then.agent)")
        then = _Part(section, "then")
        action = _action(then, known)
        if section.has("then") and not (action.team or action.agent):
            section.problem("then needs team or agent")
        then.done()
        section.done()
        if not conditions and not catch_all and not mistyped:
            catch_all = section.where.partition(": ")[2]
        rules.append(Rule(name or "", conditions, action))
    return rules


def _action(then: Section, known: Known) -> Action:
    team, agent = then.text("team", ""), then.text("agent", "")
    check_known(then, "team", [team] if team else [], known.teams, "a team", "teams")
    check_known(then, "agent", [agent] if agent else [], known.agents, "an agent", "agents")
    priority = then.text("priority", "")
    check_known(then, "priority", [priority] if priority else [], PRIORITIES, "a priority",
                "priorities")
    sla = then.text("sla", "")
    check_known(then, "sla", [sla] if sla else [], known.sla_policies, "an SLA policy",
                "policies")
    template = then.text("template", "")
    check_known(then, "template", [template] if template else [], known.templates,
                "a template", "templates")
    tags = tuple(dict.fromkeys(as_tag(tag) for tag in then.texts("tags")))
    return Action(team, agent, priority, tags, sla, template)
