"""routing.toml parsing and validation, every condition and action, and route() itself."""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from inbox.model import Identity
from routing.calendar import BusinessCalendar
from routing.conditions import Facts
from routing.decide import route
from routing.rules import Routing, parse_routing

ROOT = Path(__file__).resolve().parent.parent
ALMATY = ZoneInfo("Asia/Almaty")
# The names config/routing.example.toml and the recipes in docs/routing.md use.
KNOWN = dict(
    teams={"general", "billing", "admissions", "duty", "teachers"},
    agents={"aigerim", "ivan", "olga"},
    sla_policies={"standard", "urgent"},
    languages={"ru", "kk", "en"},
    channels={"email", "telegram", "maildir"},
    accounts={"school-mail", "admissions-bot", "school-bot"},
    templates={"billing-received", "after-hours"},
)
CALENDAR = BusinessCalendar("Asia/Almaty", holidays=frozenset({date(2026, 3, 9)}))
MONDAY_NOON = datetime(2026, 3, 2, 12, 0, tzinfo=ALMATY)


def parse(text: str, **known) -> tuple[Routing, list[str]]:
    return parse_routing(tomllib.loads(text), "routing.toml", **{**KNOWN, **known})


def routing_of(text: str) -> Routing:
    routing, problems = parse(text)
    assert problems == []
    return routing


def facts(**given) -> Facts:
    values = dict(channel="email", account="school-mail",
                  sender=Identity("email", "parent@mail.ru"), subject="", text="",
                  received_at=MONDAY_NOON, language="ru", language_confidence=0.95)
    return Facts(**{**values, **given})


def one_rule(when: str, then: str = 'team = "billing"') -> Routing:
    return routing_of(f'[[segments]]\nname = "parent"\n[[rules]]\nname = "R"\n'
                      f"[rules.when]\n{when}\n[rules.then]\n{then}\n")


def matches(when: str, **given) -> bool:
    decision = route(facts(**given), one_rule(when), CALENDAR)
    return decision.rule == "R"


# --- the shipped example and the cookbook stay valid -------------------------------------

def test_example_routing_file_parses_without_problems():
    routing, problems = parse((ROOT / "config/routing.example.toml").read_text())
    assert problems == []
    assert [rule.name for rule in routing.rules][:2] == ["Urgent after hours", "Billing"]
    assert routing.segment_names == ("student", "applicant", "parent", "teacher")


def test_every_toml_recipe_in_the_cookbook_parses_without_problems():
    text = (ROOT / "docs/routing.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert len(blocks) >= 10
    segments = '[[segments]]\nname = "parent"\n[[segments]]\nname = "applicant"\n'
    for block in blocks:
        prefix = "" if "[[segments]]" in block or "[directory" in block else segments
        routing, problems = parse(prefix + block)
        assert problems == [], block


def test_the_cookbook_names_every_condition_and_action():
    text = (ROOT / "docs/routing.md").read_text()
    for key in ("channel", "account", "language", "min_language_confidence", "segment", "tags",
                "keywords", "subject", "subject_regex", "text_regex", "sender", "time",
                "start_payload", "team", "agent", "priority", "sla", "template"):
        assert f"`{key}`" in text, key


# --- validation: exact messages -----------------------------------------------------------

def test_unknown_team_names_the_rule_and_lists_the_teams():
    _, problems = parse('[[rules]]\nname = "Billing"\n[rules.then]\nteam = "billng"\n',
                        teams={"billing", "general"})
    assert problems == ['routing.toml: rule 1 "Billing": then.team "billng" is not a team'
                        " (teams: billing, general)"]


def test_a_mistyped_condition_is_one_problem_not_every_later_rule_never_tried():
    _, problems = parse('[[rules]]\nname = "A"\n[rules.when]\nlanguge = "ru"\n'
                        '[rules.then]\nteam = "general"\n'
                        '[[rules]]\nname = "B"\n[rules.when]\nlanguage = "kk"\n'
                        '[rules.then]\nteam = "general"\n')
    assert len(problems) == 1
    assert problems[0].startswith('routing.toml: rule 1 "A": unknown key \'when.languge\'')


def test_a_mistyped_segment_key_lists_keywords_among_the_known_keys():
    _, problems = parse('[[segments]]\nname = "parent"\nkeyword = ["мама"]\n')
    assert problems == ['routing.toml: segment 1 "parent": unknown key \'keyword\' (known keys:'
                        " accounts, domains, keywords, name, start_payloads)"]


def test_an_empty_routing_file_says_default_team_is_not_set():
    _, problems = parse("", teams={"support", "office"})
    assert problems == ['routing.toml: default_team is not set and no team is named "general"'
                        ' (the default): set default_team = "NAME" (teams: office, support)']


def test_unknown_keys_are_problems_at_every_level():
    _, problems = parse(
        'default_teem = "general"\n'
        '[[rules]]\nname = "A"\ncolour = "red"\n'
        '[rules.when]\nlanguge = "kk"\n[rules.then]\nteam = "general"\nqueue = "x"\n'
    )
    assert problems == [
        "routing.toml: rule 1 \"A\": unknown key 'when.languge' (known keys: account, channel,"
        " keywords, language, min_language_confidence, segment, sender, start_payload, subject,"
        " subject_regex, tags, text_regex, time)",
        "routing.toml: rule 1 \"A\": unknown key 'then.queue' (known keys: agent, priority,"
        " sla, tags, team, template)",
        "routing.toml: rule 1 \"A\": unknown key 'colour' (known keys: name, then, when)",
        "routing.toml: unknown key 'default_teem' (known keys: default_priority, default_sla,"
        " default_team, directory, rules, segments)",
    ]


def test_bad_regex_is_reported_with_the_reason():
    _, problems = parse('[[rules]]\nname = "Ticket"\n[rules.when]\nsubject_regex = "(ticket"\n'
                        '[rules.then]\nteam = "general"\n')
    assert problems == ['routing.toml: rule 1 "Ticket": when.subject_regex "(ticket" is not a'
                        " valid regular expression: missing ), unterminated subpattern at"
                        " position 0"]


def test_bad_time_value_lists_the_allowed_ones():
    _, problems = parse('[[rules]]\nname = "Night"\n[rules.when]\ntime = ["after_hours", "night"]'
                        '\n[rules.then]\nteam = "duty"\n')
    assert problems == ['routing.toml: rule 1 "Night": when.time "night" is not one of:'
                        " business_hours, after_hours, weekend, holiday"]


def test_rule_without_then_is_refused():
    _, problems = parse('[[rules]]\nname = "Lost"\n[rules.when]\nlanguage = "kk"\n')
    assert problems == ['routing.toml: rule 1 "Lost": then is required: it says where matching'
                        " threads go (then.team or then.agent)"]


def test_then_without_team_or_agent_is_refused():
    _, problems = parse('[[rules]]\nname = "Tag only"\n[rules.then]\ntags = ["x"]\n')
    assert problems == ['routing.toml: rule 1 "Tag only": then needs team or agent']


def test_unknown_names_in_when_and_then_are_each_reported():
    _, problems = parse(
        '[[segments]]\nname = "parent"\n'
        '[[rules]]\nname = "X"\n[rules.when]\nlanguage = "kz"\nsegment = "parnet"\n'
        'account = "school-mial"\n[rules.then]\nagent = "aigerm"\npriority = "asap"\n'
        'sla = "fast"\ntemplate = "thanks"\n'
    )
    where = 'routing.toml: rule 1 "X": '
    assert problems == [
        where + 'when.account "school-mial" is not a channel name'
                " (accounts: admissions-bot, school-bot, school-mail)",
        where + 'when.language "kz" is not a school language (languages: en, kk, ru, unknown)',
        where + 'when.segment "parnet" is not a segment (segments: parent, unknown)',
        where + 'then.agent "aigerm" is not an agent (agents: aigerim, ivan, olga)',
        where + 'then.priority "asap" is not a priority (priorities: low, normal, high, urgent)',
        where + 'then.sla "fast" is not an SLA policy (policies: standard, urgent)',
        where + 'then.template "thanks" is not a template (templates: after-hours,'
                " billing-received)",
    ]


def test_keyword_problems_name_the_language_list():
    _, problems = parse('[[rules]]\nname = "K"\n[rules.when]\n'
                        'keywords = { ru = ["опл*ата", "*"], kz = ["төлем"], en = [] }\n'
                        '[rules.then]\nteam = "billing"\n')
    where = 'routing.toml: rule 1 "K": when.keywords'
    assert problems == [
        where + '.ru "опл*ата" may have * only at the end of a word',
        where + '.ru "*" has no letters or digits before *',
        where + '.kz: "kz" is not a school language (languages: en, kk, ru)',
        where + ".en is empty: it would never match",
    ]


def test_duplicate_and_unreachable_rules_are_reported():
    _, problems = parse('[[rules]]\nname = "All"\n[rules.then]\nteam = "general"\n'
                        '[[rules]]\nname = "All"\n[rules.when]\nchannel = "email"\n'
                        '[rules.then]\nteam = "billing"\n')
    assert problems == [
        'routing.toml: rule 2 "All": name "All" is used by an earlier rule',
        'routing.toml: rule 2 "All": never tried: rule 1 "All" before it has no conditions and'
        " matches every thread",
    ]


def test_bad_default_team_and_empty_condition_list():
    _, problems = parse('default_team = "support"\n[[rules]]\nname = "E"\n[rules.when]\n'
                        'channel = []\n[rules.then]\nteam = "general"\n',
                        teams={"general"})
    assert problems == [
        'routing.toml: default_team "support" is not a team (teams: general)',
        'routing.toml: rule 1 "E": when.channel is empty: it would never match',
    ]


def test_rule_without_a_name_is_named_by_its_number():
    _, problems = parse('[[rules]]\n[rules.then]\nteam = "general"\n')
    assert problems == ["routing.toml: rule 1: name is required"]


def test_segments_and_directory_are_validated():
    _, problems = parse(
        '[[segments]]\nname = "parent"\ndomains = ["parents"]\nstart_payloads = [""]\n'
        '[[segments]]\nname = "unknown"\n'
        '[directory]\ndefault_segment = "pupil"\n[directory.segments]\n"Родител*" = "parnt"\n'
    )
    assert problems == [
        'routing.toml: segment 1 "parent": domains "parents" is not a domain like "school.kz"',
        'routing.toml: segment 1 "parent": start_payloads "" would match every /start;'
        " write a prefix",
        'routing.toml: segment 2 "unknown": name "unknown" is reserved: rules use it for'
        ' "no segment"',
        'routing.toml: directory: default_segment "pupil" is not a segment (segments: parent)',
        'routing.toml: directory: segments."Родител*" = "parnt" is not a segment (segments:'
        " parent)",
    ]


# --- conditions ---------------------------------------------------------------------------

def test_channel_and_account_conditions_match_any_listed_value():
    assert matches('channel = ["telegram", "email"]', channel="email")
    assert not matches('channel = "telegram"', channel="email")
    assert matches('account = "school-bot"', account="school-bot", channel="telegram")
    assert not matches('account = "school-bot"', account="school-mail")


def test_language_condition_and_unknown_language():
    assert matches('language = "kk"', language="kk")
    assert not matches('language = "kk"', language="ru")
    assert matches('language = "unknown"', language="")


def test_min_language_confidence_refuses_unsure_detection():
    when = 'language = "kk"\nmin_language_confidence = 0.7'
    assert matches(when, language="kk", language_confidence=0.7)
    assert not matches(when, language="kk", language_confidence=0.4)


def test_segment_condition_uses_the_detected_segment():
    assert matches('segment = "parent"', contact_segment="parent")
    assert not matches('segment = "parent"')
    assert matches('segment = "unknown"')


def test_tags_condition_matches_any_contact_tag_in_any_spelling():
    assert matches('tags = ["Grade 10 A", "vip"]', contact_tags=("grade-10-a",))
    assert not matches('tags = ["vip"]', contact_tags=("debt",))


def test_keywords_match_whole_words_case_insensitively_in_cyrillic():
    when = 'keywords = ["оплата"]'
    assert matches(when, text="Оплата курса за март")
    assert matches(when, subject="ОПЛАТА", text="см. вложение")
    assert not matches(when, text="Вопрос по предоплатами")
    assert not matches(when, text="проблема с оплатой")


def test_a_trailing_star_is_a_stem_but_never_matches_inside_a_word():
    when = 'keywords = ["оплат*"]'
    assert matches(when, text="проблема с оплатой")
    assert matches(when, text="Как ОПЛАТИТЬ обучение?")
    assert not matches(when, text="внесли предоплату")


def test_keywords_treat_yo_as_ye_and_ignore_stress_marks():
    assert matches('keywords = ["счёт"]', text="пришлите счет")
    assert matches('keywords = ["счет"]', text="Пришлите счёт, пожалуйста")
    assert matches('keywords = ["оплата"]', text="опла\u0301та")


def test_phrases_need_their_words_in_a_row():
    when = 'keywords = ["не могу войти"]'
    assert matches(when, text="Здравствуйте, не  могу\nвойти в Moodle!")
    assert not matches(when, text="не могу сейчас войти")
    assert matches('keywords = ["e-mail"]', text="my E-Mail changed")


def test_keywords_in_kazakh_and_english_lists():
    when = 'keywords = { kk = ["төлем*"], en = ["refund"] }'
    assert matches(when, text="Төлемді қалай жасауға болады?")
    assert matches(when, text="I want a refund.")
    assert not matches(when, text="refunds are slow")


def test_keyword_trace_says_which_keyword_and_list_matched():
    decision = route(facts(text="Төлем жасадым"),
                     one_rule('keywords = { ru = ["оплат*"], kk = ["төлем*"] }'), CALENDAR)
    assert decision.trace[0].reasons == ('keyword "төлем*" (kk) found',)


def test_subject_condition_looks_at_the_subject_only():
    assert matches('subject = ["срочно"]', subject="СРОЧНО: справка")
    assert not matches('subject = ["срочно"]', subject="справка", text="срочно нужна")


def test_regex_conditions_search_subject_or_text_ignoring_case():
    assert matches(r'subject_regex = "^\\[staff\\]"', subject="[STAFF] meeting")
    assert not matches(r'subject_regex = "^\\[staff\\]"', subject="Re: [staff] meeting")
    assert matches(r'text_regex = "INV-\\d{4}"', text="invoice inv-2026 attached")


def test_sender_condition_by_address_domain_and_identity_key():
    assert matches('sender = "Parent@Mail.ru"', sender=Identity("email", "parent@mail.ru"))
    assert matches('sender = "@school.kz"', sender=Identity("email", "a@students.school.kz"))
    assert not matches('sender = "@school.kz"', sender=Identity("email", "a@myschool.kz"))
    assert matches('sender = "telegram:123456"', channel="telegram",
                   sender=Identity("telegram", "123456"))
    assert not matches('sender = "@school.kz"', channel="telegram",
                       sender=Identity("telegram", "123456"))


def test_sender_patterns_that_could_never_match_are_refused_naming_the_fix():
    _, problems = parse('[[rules]]\nname = "VIP"\n[rules.when]\nsender = ["telegrm:123",'
                        ' "telegram:@ivan", "email:boss@x.example", "boss", "telegram:42",'
                        ' "@school.kz", "@ivan_petrov", "Пётр Должников <debtor@mail.ru>",'
                        ' "<gulnar@mail.kz>", "teach@", "@", "ivan@localhost", "a b@x.kz"]\n'
                        '[rules.then]\nteam = "general"\n',
                        teams={"general"})
    where = 'routing.toml: rule 1 "VIP": when.sender'
    assert problems == [
        f'{where} "telegrm:123" names no kind of sender: write an address, "@domain"'
        ' or "telegram:ID"',
        f'{where} "telegram:@ivan" is not a Telegram user\'s number ("telegram:123456");'
        " names and @usernames change",
        f'{where} "email:boss@x.example" needs no "email:": write the address alone'
        ' ("boss@x.example")',
        f'{where} "boss" is not an address, "@domain" or "telegram:ID"',
        f'{where} "@ivan_petrov" looks like a Telegram @username, and usernames change: write'
        ' the user\'s number, "telegram:123456"',
        f'{where} "Пётр Должников <debtor@mail.ru>" is written as a mail client shows it:'
        ' write the address alone ("debtor@mail.ru")',
        f'{where} "<gulnar@mail.kz>" is written as a mail client shows it: write the address'
        ' alone ("gulnar@mail.kz")',
        f'{where} "teach@" is not a whole address ("name@school.kz") nor a domain'
        ' ("@school.kz")',
        f'{where} "@" is not an address, "@domain" or "telegram:ID"',
        f'{where} "a b@x.kz" contains a space: write the address alone, as "name@school.kz"']


def test_time_condition_follows_the_school_calendar():
    evening = datetime(2026, 3, 2, 20, 15, tzinfo=ALMATY)
    saturday = datetime(2026, 3, 7, 11, 0, tzinfo=ALMATY)
    holiday = datetime(2026, 3, 9, 11, 0, tzinfo=ALMATY)
    assert matches('time = "business_hours"', received_at=MONDAY_NOON)
    assert matches('time = "after_hours"', received_at=evening)
    assert not matches('time = "after_hours"', received_at=MONDAY_NOON)
    assert matches('time = "weekend"', received_at=saturday)
    assert matches('time = "after_hours"', received_at=saturday)
    assert not matches('time = "weekend"', received_at=holiday)
    assert matches('time = "holiday"', received_at=holiday)
    # Same instant written in UTC: the calendar's zone decides, not the datetime's.
    assert matches('time = "after_hours"', received_at=evening.astimezone(ZoneInfo("UTC")))


def test_start_payload_condition_matches_prefixes():
    assert matches('start_payload = "course-"', channel="telegram", start_payload="course-python")
    assert not matches('start_payload = "course-"', channel="telegram", start_payload="")


def test_conditions_in_one_rule_all_must_hold():
    when = 'language = "kk"\nkeywords = ["төлем*"]'
    assert matches(when, language="kk", text="төлем")
    assert not matches(when, language="ru", text="төлем")
    decision = route(facts(language="ru", text="төлем"), one_rule(when), CALENDAR)
    assert decision.trace[0].reasons == ('language is "ru", wanted "kk"',
                                         'keyword "төлем*" found')


# --- actions, precedence, defaults ----------------------------------------------------------

def test_then_sets_team_priority_tags_sla_and_template():
    routing = one_rule('language = "ru"', 'team = "billing"\npriority = "high"\n'
                       'tags = ["Money Talk", "vip"]\nsla = "urgent"\n'
                       'template = "billing-received"')
    decision = route(facts(), routing, CALENDAR)
    assert (decision.team, decision.agent, decision.priority, decision.tags, decision.sla,
            decision.template, decision.rule) == (
        "billing", "", "high", ("money-talk", "vip"), "urgent", "billing-received", "R")


def test_then_agent_without_team_files_the_thread_in_the_default_team():
    decision = route(facts(), one_rule('language = "ru"', 'agent = "aigerim"'), CALENDAR)
    assert (decision.team, decision.agent, decision.priority, decision.sla) == (
        "general", "aigerim", "normal", "")


def test_first_matching_rule_wins_and_later_rules_are_not_tried():
    routing = routing_of(
        '[[rules]]\nname = "Kazakh"\n[rules.when]\nlanguage = "kk"\n[rules.then]\nteam = "duty"\n'
        '[[rules]]\nname = "Russian"\n[rules.when]\nlanguage = "ru"\n'
        '[rules.then]\nteam = "billing"\n'
        '[[rules]]\nname = "Email"\n[rules.when]\nchannel = "email"\n'
        '[rules.then]\nteam = "admissions"\n'
    )
    decision = route(facts(language="ru"), routing, CALENDAR)
    assert decision.team == "billing"
    assert [(t.rule_name, t.matched) for t in decision.trace] == [("Kazakh", False),
                                                                  ("Russian", True)]


def test_default_team_priority_and_sla_catch_what_no_rule_matched():
    routing = routing_of('default_team = "general"\ndefault_priority = "low"\n'
                         'default_sla = "standard"\n'
                         '[[rules]]\nname = "Kazakh"\n[rules.when]\nlanguage = "kk"\n'
                         '[rules.then]\nteam = "duty"\n')
    decision = route(facts(), routing, CALENDAR)
    assert (decision.team, decision.priority, decision.sla, decision.rule) == (
        "general", "low", "standard", "")
    assert decision.trace[0].reasons == ('language is "ru", wanted "kk"',)


def test_empty_routing_sends_everything_to_general():
    decision = route(facts(), Routing(), CALENDAR)
    assert (decision.team, decision.rule, decision.trace) == ("general", "", ())


def test_explain_shows_segment_rules_and_outcome():
    routing = routing_of((ROOT / "config/routing.example.toml").read_text())
    evening = datetime(2026, 3, 2, 20, 15, tzinfo=ALMATY)
    decision = route(facts(text="Мой сын не может оплатить курс", received_at=evening),
                     routing, CALENDAR)
    assert decision.explain() == [
        "segment: parent",
        '  keyword "мой сын" found in the message (segment "parent")',
        'rule "Urgent after hours": no',
        '  no keyword found ("срочно", "экстренн*", "шұғыл", "тез арада", "urgent*" and 1 more)',
        "  received Mon 2026-03-02 20:15 Asia/Almaty: after_hours",
        'rule "Billing": matched',
        '  keyword "оплат*" (ru) found',
        'rule "Billing" -> team billing; priority high; sla standard; template billing-received',
    ]


def test_route_refuses_a_naive_time():
    naive = datetime(2026, 3, 2, 12, 0)
    with pytest.raises(ValueError, match="naive"):
        route(facts(received_at=naive), one_rule('time = "after_hours"'), CALENDAR)
