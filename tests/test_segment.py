"""Segment detection: the order of trust between sources, and the evidence shown for it."""

from __future__ import annotations

import tomllib

from inbox.model import Identity
from routing.keywords import Words
from routing.rules import parse_routing
from routing.segment import SegmentGuess, detect_segment

SEGMENTS = """
[[segments]]
name = "student"
domains = ["@students.school.kz"]
keywords = ["мой класс", "my homework"]

[[segments]]
name = "applicant"
accounts = ["admissions-bot"]
start_payloads = ["course-", "apply"]
keywords = { ru = ["поступ*"], en = ["admission*"] }

[[segments]]
name = "parent"
keywords = { ru = ["мой сын", "родител*"], kk = ["ұлым"] }

[[segments]]
name = "teacher"
"""


def segments():
    routing, problems = parse_routing(
        tomllib.loads(SEGMENTS), "routing.toml", teams={"general"}, agents=(), sla_policies=(),
        languages={"ru", "kk", "en"})
    assert problems == []
    return routing.segments


def detect(*, contact_segment: str = "", sender: str = "someone@mail.ru",
           account: str = "school-mail", start_payload: str = "", text: str = "") -> SegmentGuess:
    kind, _, value = sender.rpartition(":") if sender.startswith("telegram:") else ("", "", sender)
    identity = Identity(kind or "email", value)
    return detect_segment(segments(), contact_segment=contact_segment, sender=identity,
                          account=account, start_payload=start_payload, words=Words.of(text))


def test_no_evidence_leaves_the_segment_unknown_and_says_so():
    guess = detect(text="Здравствуйте")
    assert guess == SegmentGuess("", ("no directory entry, sender domain, account, /start"
                                      " payload or keyword points to a segment",))


def test_directory_outranks_every_other_source():
    guess = detect(contact_segment="teacher", sender="t@students.school.kz",
                   text="родители спрашивают")
    assert guess.segment == "teacher"
    assert guess.evidence == (
        'directory: the contact is in segment "teacher"',
        'outweighed: sender domain "students.school.kz" is listed for segment "student"'
        " (students.school.kz)",
        'outweighed: keyword "родител*" found in the message (segment "parent")',
    )


def test_sender_domain_and_subdomains_outrank_account_payload_and_keywords():
    guess = detect(sender="a@grade10.students.school.kz", account="admissions-bot",
                   text="мой сын")
    assert guess.segment == "student"
    assert guess.evidence[1:] == (
        'outweighed: account "admissions-bot" is listed for segment "applicant"',
        'outweighed: keyword "мой сын" found in the message (segment "parent")',
    )


def test_a_lookalike_domain_is_not_a_subdomain():
    assert detect(sender="a@notstudents.school.kz").segment == ""


def test_account_outranks_start_payload_and_keywords():
    guess = detect(sender="telegram:42", account="admissions-bot", start_payload="course-python",
                   text="мой сын хочет поступить")
    assert guess.segment == "applicant"
    assert guess.evidence == (
        'account "admissions-bot" is listed for segment "applicant"',
        'agrees: /start payload "course-python" starts with "course-" (segment "applicant")',
        'agrees: keyword "поступ*" found in the message (segment "applicant")',
        'outweighed: keyword "мой сын" found in the message (segment "parent")',
    )


def test_start_payload_outranks_keywords():
    guess = detect(sender="telegram:42", account="school-bot", start_payload="apply-2026",
                   text="Ұлым оқуға түскісі келеді")
    assert guess.segment == "applicant"
    assert guess.evidence[0] == ('/start payload "apply-2026" starts with "apply"'
                                 ' (segment "applicant")')


def test_keywords_decide_last_in_file_order_of_segments():
    guess = detect(text="My homework and my son's admission")
    assert guess.segment == "student"
    assert guess.evidence == (
        'keyword "my homework" found in the message (segment "student")',
        'outweighed: keyword "admission*" found in the message (segment "applicant")',
    )


def test_keywords_in_kazakh_find_the_parent():
    assert detect(text="Сәлеметсіз бе, ұлым сабаққа келмейді").segment == "parent"


def test_a_url_or_a_path_is_not_a_segment_domain():
    _, problems = parse_routing(
        {"segments": [{"name": "staff", "domains": ["https://school.kz", "school.kz/", "@ok.kz"]}]},
        "routing.toml", teams={"general"}, agents=(), sla_policies=(), languages=("ru",),
        channels={"email"}, accounts=None, templates=())
    assert [p.rpartition(": ")[2] for p in problems] == [
        'domains "https://school.kz" is not a domain like "school.kz"',
        'domains "school.kz/" is not a domain like "school.kz"']
