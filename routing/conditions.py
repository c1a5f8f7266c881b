"""What a rule's ``[rules.when]`` can ask about a new thread, each answer with its reason.

Every condition answers ``(matched, reason)`` and the reason is written for the
admin reading ``inbox route --explain``: it says what the thread had and, when
it failed, what the rule wanted ("language is ru, wanted kk").
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Protocol

from inbox.model import Identity
from inbox.sections import Section
from routing.calendar import BusinessCalendar
from routing.directory import as_tag
from routing.keywords import Keywords, Words, read_keywords
from routing.segment import UNKNOWN, in_domain

TIMES = ("business_hours", "after_hours", "weekend", "holiday")
WHEN_KEYS = ("channel", "account", "language", "segment", "min_language_confidence", "tags",
             "keywords", "subject", "subject_regex", "text_regex", "sender", "time",
             "start_payload")


@dataclass(frozen=True)
class Facts:
    """What routing knows about a new thread; built by the pipeline, language already detected.

    ``text`` is the visible text of the first message (quotes stripped).
    ``contact_segment``/``contact_tags`` come from the directory import or an
    agent, never from an earlier routing guess. ``received_at`` must be aware.
    """

    channel: str
    account: str
    sender: Identity
    subject: str
    text: str
    received_at: datetime
    language: str = ""
    language_confidence: float = 0.0
    contact_segment: str = ""
    contact_tags: tuple[str, ...] = ()
    start_payload: str = ""

    @cached_property
    def words(self) -> Words:
        """Subject and text: a keyword in either counts."""
        return Words.of(self.subject, self.text)

    @cached_property
    def subject_words(self) -> Words:
        return Words.of(self.subject)


@dataclass(frozen=True)
class Situation:
    """Facts plus what routing worked out before the rules run."""

    facts: Facts
    segment: str
    calendar: BusinessCalendar


class Condition(Protocol):
    def check(self, situation: Situation) -> tuple[bool, str]: ...


def _listed(values: Collection[str]) -> str:
    items = [f'"{value}"' for value in values]
    return items[0] if len(items) == 1 else "one of " + ", ".join(items)


@dataclass(frozen=True)
class Among:
    """channel / account / language / segment is one of the listed values ("unknown" = none)."""

    what: str
    values: tuple[str, ...]

    def check(self, situation: Situation) -> tuple[bool, str]:
        facts = situation.facts
        value = situation.segment if self.what == "segment" else getattr(facts, self.what)
        shown = value or UNKNOWN
        matched = shown in self.values
        if matched:
            return True, f'{self.what} is "{shown}"'
        return False, f'{self.what} is "{shown}", wanted {_listed(self.values)}'


@dataclass(frozen=True)
class MinConfidence:
    minimum: float

    def check(self, situation: Situation) -> tuple[bool, str]:
        confidence = situation.facts.language_confidence
        reason = f"language confidence {confidence:.2f}"
        if confidence >= self.minimum:
            return True, reason
        return False, f"{reason}, wanted at least {self.minimum:.2f}"


@dataclass(frozen=True)
class TagsAny:
    tags: tuple[str, ...]

    def check(self, situation: Situation) -> tuple[bool, str]:
        have = [as_tag(tag) for tag in situation.facts.contact_tags]
        found = next((tag for tag in self.tags if tag in have), "")
        if found:
            return True, f'contact has tag "{found}"'
        shown = ", ".join(have) or "none"
        return False, f"contact has none of the tags {_listed(self.tags)} (tags: {shown})"


@dataclass(frozen=True)
class KeywordsFound:
    """``keywords`` searches subject and text; ``subject`` searches the subject only."""

    what: str
    keywords: Keywords

    def check(self, situation: Situation) -> tuple[bool, str]:
        facts = situation.facts
        words = facts.subject_words if self.what == "subject" else facts.words
        label = "subject keyword" if self.what == "subject" else "keyword"
        keyword = self.keywords.find(words)
        if keyword:
            language = f" ({keyword.language})" if keyword.language else ""
            return True, f'{label} "{keyword.text}"{language} found'
        return False, f"no {label} found ({self.keywords.summary()})"


@dataclass(frozen=True)
class PatternFound:
    """A regular expression searched (not anchored) in the subject or the text."""

    what: str  # "subject" | "text"
    pattern: re.Pattern[str]

    def check(self, situation: Situation) -> tuple[bool, str]:
        match = self.pattern.search(getattr(situation.facts, self.what))
        if match:
            return True, f'{self.what} matches /{self.pattern.pattern}/ at "{match[0][:40]}"'
        return False, f"{self.what} does not match /{self.pattern.pattern}/"


@dataclass(frozen=True)
class SenderIs:
    """Senders written as ``a@b.kz``, ``@b.kz`` (domain and its subdomains) or ``telegram:ID``."""

    senders: tuple[str, ...]

    def check(self, situation: Situation) -> tuple[bool, str]:
        sender = situation.facts.sender
        shown = sender.value if sender.kind == "email" else sender.key
        found = next((wanted for wanted in self.senders if _sender_matches(sender, wanted)), "")
        if found:
            return True, f'sender "{shown}" matches "{found}"'
        return False, f'sender "{shown}" is not {_listed(self.senders)}'


def _sender_matches(sender: Identity, wanted: str) -> bool:
    if wanted.startswith("@"):
        domain = sender.value.rpartition("@")[2].lower()
        return sender.kind == "email" and in_domain(domain, wanted[1:])
    if "@" in wanted:
        return sender.kind == "email" and sender.value.lower() == wanted
    return sender.key.lower() == wanted


@dataclass(frozen=True)
class TimeIs:
    """business_hours / after_hours (closed, weekends and holidays included) / weekend / holiday."""

    times: tuple[str, ...]

    def check(self, situation: Situation) -> tuple[bool, str]:
        calendar = situation.calendar
        local = calendar.local(situation.facts.received_at)
        states = ["business_hours" if calendar.is_open(local) else "after_hours"]
        if local.weekday() not in calendar.days:
            states.append("weekend")
        if local.date() in calendar.holidays:
            states.append("holiday")
        reason = (f"received {local:%a %Y-%m-%d %H:%M} {calendar.timezone}:"
                  f" {', '.join(states)}")
        if any(state in self.times for state in states):
            return True, reason
        return False, f"{reason}, wanted {' or '.join(self.times)}"


@dataclass(frozen=True)
class StartPayload:
    prefixes: tuple[str, ...]

    def check(self, situation: Situation) -> tuple[bool, str]:
        payload = situation.facts.start_payload
        found = next((prefix for prefix in self.prefixes if payload.startswith(prefix)), "")
        if found:
            return True, f'/start payload "{payload}" starts with "{found}"'
        shown = f'/start payload "{payload}"' if payload else "no /start payload"
        return False, f"{shown}, wanted one starting with {_listed(self.prefixes)}"


@dataclass(frozen=True)
class Known:
    """Names a rule may refer to; None means "not checked" (the caller did not say)."""

    teams: Collection[str]
    agents: Collection[str]
    sla_policies: Collection[str]
    languages: Collection[str]
    segments: Collection[str]
    channels: Collection[str] | None = None
    accounts: Collection[str] | None = None
    templates: Collection[str] | None = None


def check_known(
    section: Section, key: str, values: Collection[str], known: Collection[str] | None,
    what: str, plural: str,
) -> None:
    """One problem per value that names nothing: ``team "billng" is not a team (teams: ...)``.

    Known names are listed sorted, except a tuple, whose order means something (priorities).
    """
    if known is None:
        return
    listed = ", ".join(known if isinstance(known, tuple) else sorted(known)) or "none"
    for value in values:
        if value not in known:
            section.problem(f'{key} "{value}" is not {what} ({plural}: {listed})')


def read_conditions(when: Section, known: Known) -> tuple[Condition, ...]:
    """Every condition of one ``when`` table, in a fixed order (the trace's order)."""
    when.seen.update(WHEN_KEYS)  # all of them are known keys, given or not
    conditions: list[Condition] = []

    def listed(key: str) -> tuple[str, ...]:
        values = when.texts(key)
        if when.has(key) and not values:
            when.problem(f"{key} is empty: it would never match")
        return values

    for key, names, what, plural in (
        ("channel", known.channels, "a channel kind", "channels"),
        ("account", known.accounts, "a channel name", "accounts"),
        ("language", {*known.languages, UNKNOWN}, "a school language", "languages"),
        ("segment", {*known.segments, UNKNOWN}, "a segment", "segments"),
    ):
        values = listed(key)
        check_known(when, key, values, names, what, plural)
        if values:
            conditions.append(Among(key, values))
    if when.has("min_language_confidence"):
        minimum = when.number("min_language_confidence", 0.0, minimum=0.0)
        if minimum > 1:
            when.problem(f"min_language_confidence must be at most 1, not {minimum}")
        conditions.append(MinConfidence(minimum))
    tags = listed("tags")
    if tags:
        conditions.append(TagsAny(tuple(as_tag(tag) for tag in tags)))
    for key in ("keywords", "subject"):
        keywords = read_keywords(when, key, known.languages)
        if keywords:
            conditions.append(KeywordsFound(key, keywords))
    for key, what in (("subject_regex", "subject"), ("text_regex", "text")):
        pattern = _regex(when, key)
        if pattern is not None:
            conditions.append(PatternFound(what, pattern))
    senders = listed("sender")
    for sender in senders:
        problem = _sender_problem(sender.strip().lower())
        if problem:
            when.problem(f'sender "{sender}" {problem}')
    if senders:
        conditions.append(SenderIs(tuple(sender.strip().lower() for sender in senders)))
    times = listed("time")
    for value in times:
        if value not in TIMES:
            when.problem(f'time "{value}" is not one of: {", ".join(TIMES)}')
    if times:
        conditions.append(TimeIs(times))
    payloads = listed("start_payload")
    if "" in payloads:
        when.problem('start_payload "" would match every /start; write a prefix')
    if payloads:
        conditions.append(StartPayload(payloads))
    return tuple(conditions)


def _sender_problem(sender: str) -> str:
    """Why a ``sender`` pattern could never match ("" when it can): what SenderIs compares."""
    kind, colon, value = sender.partition(":")
    if not colon:
        if "<" in sender or ">" in sender:  # pasted from a mail client's From
            inner = sender.rpartition("<")[2].partition(">")[0].strip()
            return f'is written as a mail client shows it: write the address alone ("{inner}")'
        if any(ch.isspace() for ch in sender):
            return 'contains a space: write the address alone, as "name@school.kz"'
        if "@" not in sender or sender == "@":
            return 'is not an address, "@domain" or "telegram:ID"'
        if sender.startswith("@") and "." not in sender:  # a domain has a dot; this is a nick
            return ('looks like a Telegram @username, and usernames change: write the'
                    ' user\'s number, "telegram:123456"')
        local, _, domain = sender.rpartition("@")
        if not sender.startswith("@") and not (local and domain):
            return 'is not a whole address ("name@school.kz") nor a domain ("@school.kz")'
        return ""
    if kind == "telegram":
        return "" if value.isdigit() else (
            'is not a Telegram user\'s number ("telegram:123456"); names and @usernames change')
    if kind == "email":
        return f'needs no "email:": write the address alone ("{value}")'
    return 'names no kind of sender: write an address, "@domain" or "telegram:ID"'


def _regex(when: Section, key: str) -> re.Pattern[str] | None:
    if not when.has(key):
        return None
    text = when.text(key, "")
    if not text:  # a wrong type is reported by text(); an empty pattern would match everything
        if isinstance(when.data[key], str):
            when.problem(f"{key} is empty: it would match every message")
        return None
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as error:
        when.problem(f'{key} "{text}" is not a valid regular expression: {error}')
        return None
