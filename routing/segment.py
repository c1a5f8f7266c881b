"""Who is writing (student, parent, applicant, ...), with the evidence for it.

Sources are trusted in a fixed order, most reliable first: the directory (the
school's own roster), the sender's email domain, the account or bot written to,
the Telegram ``/start`` payload (the link the person came from), then keywords
in the first message. The first source that names a segment decides; the
others are still listed, so an admin can see a disagreement in
``inbox route --explain`` instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field

from inbox.model import Identity
from inbox.sections import Section
from routing.keywords import Keywords, Words, read_keywords

UNKNOWN = "unknown"  # what rules write for "no segment"; never a segment's name


# Letters, digits, hyphens and dots: "https://school.kz" or "school.kz/" never match a sender.
_DOMAIN = re.compile(r"[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True)
class Segment:
    """One ``[[segments]]`` entry: a segment's name and the signs that point to it."""

    name: str
    domains: tuple[str, ...] = ()  # lower case, no "@"; subdomains match too
    accounts: tuple[str, ...] = ()
    start_payloads: tuple[str, ...] = ()  # prefixes
    keywords: Keywords = field(default_factory=Keywords)


@dataclass(frozen=True)
class SegmentGuess:
    """The segment ("" when unknown) and why: the deciding evidence first."""

    segment: str
    evidence: tuple[str, ...]


def segment_from_section(
    section: Section, *, languages: Collection[str], accounts: Collection[str] | None = None
) -> Segment:
    """Read one ``[[segments]]`` table; ``accounts`` None means account names are not checked."""
    name = section.text("name")
    if name == UNKNOWN:
        section.problem(f'name "{UNKNOWN}" is reserved: rules use it for "no segment"')
    domains = []
    for domain in section.texts("domains"):
        clean = domain.strip().lower().removeprefix("@")
        if "." not in clean or not _DOMAIN.fullmatch(clean):
            section.problem(f'domains "{domain}" is not a domain like "school.kz"')
        else:
            domains.append(clean)
    segment_accounts = section.texts("accounts")
    if accounts is not None:
        for account in segment_accounts:
            if account not in accounts:
                known = ", ".join(sorted(accounts)) or "none"
                section.problem(f'accounts "{account}" is not a channel name (channels: {known})')
    payloads = section.texts("start_payloads")
    if "" in payloads:
        section.problem('start_payloads "" would match every /start; write a prefix')
    keywords = read_keywords(section, "keywords", languages)
    section.done()
    return Segment(name or "", tuple(domains), segment_accounts,
                   tuple(p for p in payloads if p), keywords)


def detect_segment(
    segments: Sequence[Segment],
    *,
    contact_segment: str,
    sender: Identity,
    account: str,
    start_payload: str,
    words: Words,
) -> SegmentGuess:
    """Decide the segment from the most trusted evidence; list all evidence found.

    ``contact_segment`` must come from the directory or an agent, never from an
    earlier guess of this function: a keyword guess stored as the contact's
    segment would then outrank a sender domain next time.
    """
    found = list(_evidence(segments, contact_segment, sender, account, start_payload, words))
    if not found:
        return SegmentGuess("", ("no directory entry, sender domain, account, /start payload"
                                 " or keyword points to a segment",))
    segment, reason = found[0]
    others = tuple(
        f"{'agrees' if other == segment else 'outweighed'}: {text}" for other, text in found[1:]
    )
    return SegmentGuess(segment, (reason, *others))


def _evidence(
    segments: Sequence[Segment],
    contact_segment: str,
    sender: Identity,
    account: str,
    start_payload: str,
    words: Words,
) -> Iterator[tuple[str, str]]:
    """(segment, evidence) pairs in order of trust, then file order."""
    if contact_segment:
        yield contact_segment, f'directory: the contact is in segment "{contact_segment}"'
    domain = sender.value.rpartition("@")[2].lower() if sender.kind == "email" else ""
    for segment in segments:
        listed = next((d for d in segment.domains if in_domain(domain, d)), "") if domain else ""
        if listed:
            yield segment.name, (f'sender domain "{domain}" is listed for segment'
                                 f' "{segment.name}" ({listed})')
    for segment in segments:
        if account in segment.accounts:
            yield segment.name, f'account "{account}" is listed for segment "{segment.name}"'
    for segment in segments:
        prefix = next((p for p in segment.start_payloads if start_payload.startswith(p)), "")
        if prefix:
            yield segment.name, (f'/start payload "{start_payload}" starts with "{prefix}"'
                                 f' (segment "{segment.name}")')
    for segment in segments:
        keyword = segment.keywords.find(words)
        if keyword:
            yield segment.name, (f'keyword "{keyword.text}" found in the message'
                                 f' (segment "{segment.name}")')


def in_domain(domain: str, listed: str) -> bool:
    """``students.school.kz`` is in ``school.kz``; ``myschool.kz`` is not."""
    return domain == listed or domain.endswith("." + listed)
