"""The admin's routing tools through the CLI: explain, rules test, roster import."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from inbox.config import load_config
from tests.conftest import INBOX_TOML, mail

ROUTING = """\
default_team = "support"

[[segments]]
name = "parent"
keywords = ["мой сын", "my son"]

[[segments]]
name = "student"

[[rules]]
name = "Billing"
[rules.when]
keywords = ["оплат*", "invoice"]
[rules.then]
team = "office"
priority = "high"
"""

TEAMS = """
[[teams]]
name = "office"
members = ["aigerim"]
strategy = "round_robin"
"""


@pytest.fixture
def routed(school):
    school.write(school.config.read_text() + TEAMS, ROUTING)
    school.deliver(mail(subject="Оплата", body="Как оплатить за мой сын?"))
    school.deliver(mail(subject="Расписание", body="Где расписание?",
                        sender="pupil@school.example", message_id="m2@school.example"))
    school.cli("run", "--once")
    return school


def test_explain_shows_language_segment_each_rule_and_assignment(routed):
    lines = routed.cli("route", "--explain", "1").output.splitlines()
    assert lines[0] == "#1 Оплата"
    assert lines[1].startswith("language: ru (confidence ")
    assert "segment: parent" in lines
    assert 'rule "Billing": matched' in lines
    assert 'rule "Billing" -> team office; priority high' in lines
    assert lines[-1].startswith("assignment: aigerim: ")


def test_explain_json_is_the_stored_routing_record(routed):
    record = json.loads(routed.cli("route", "--explain", "2", "--json").output)
    assert record["decision"]["rule"] == ""
    assert record["decision"]["team"] == "support"
    assert [t["rule_name"] for t in record["decision"]["trace"]] == ["Billing"]


def test_explain_json_carries_the_assignment_a_rule_made_as_the_text_does(routed):
    routed.write(routed.config.read_text(), ROUTING + """
[[rules]]
name = "Timetable"
[rules.when]
keywords = ["расписание"]
[rules.then]
agent = "boris"
""")
    routed.deliver(mail(subject="Расписание", body="Где расписание на завтра?",
                        message_id="m3@school.example"))
    routed.cli("run", "--once")
    assert routed.cli("route", "--explain", "3").output.splitlines()[-1] == (
        "assignment: boris: named by the rule")
    by_rule = json.loads(routed.cli("route", "--explain", "3", "--json").output)["assignment"]
    assert by_rule == {"agent": "boris", "reason": "named by the rule", "queued": False,
                       "notify": ["boris"]}
    round_robin = json.loads(routed.cli("route", "--explain", "1", "--json").output)
    assert by_rule.keys() == round_robin["assignment"].keys()


def test_explain_unknown_thread(routed):
    result = routed.cli("route", "--explain", "9", ok=False)
    assert result.output.strip() == "Error: no thread 9"


def test_rules_test_shows_what_a_new_file_would_change_without_changing_anything(routed):
    new_rules = routed.root / "routing.new.toml"
    new_rules.write_text(ROUTING.replace('team = "office"', 'team = "support"'))
    output = routed.cli("rules", "test", "--rules", str(new_rules)).output.splitlines()
    assert output == ["#1 'Оплата': team office → support", "1 of 2 threads would be routed"
                      " differently"]
    assert json.loads(routed.cli("threads", "--json").output)[-1]["team"] == "office"


def test_rules_test_with_a_broken_file_names_the_problem(routed):
    broken = routed.root / "broken.toml"
    broken.write_text(ROUTING.replace('team = "office"', 'team = "ofice"'))
    result = routed.cli("rules", "test", "--rules", str(broken), ok=False)
    assert result.exit_code == 1
    assert 'broken.toml: rule 1 "Billing": then.team "ofice" is not a team' in result.output


def test_rules_test_unchanged_rules_change_nothing(routed):
    output = routed.cli("rules", "test").output
    assert output.strip() == "0 of 2 threads would be routed differently"


def test_rules_test_reads_time_rules_at_the_routing_time_not_the_senders_date(school):
    """A sender's clock (or a queue) puts Date in another slot than the mail's arrival."""
    school.write(school.config.read_text() + TEAMS, ROUTING + """
[[rules]]
name = "Weekend"
[rules.when]
time = "weekend"
[rules.then]
team = "office"
""")
    calendar = load_config(school.config).calendar
    now_weekend = not calendar.is_working_day(calendar.local(datetime.now(UTC)).date())
    date = "Tue, 17 Nov 2026 12:00:00 +0500" if now_weekend else "Sat, 21 Nov 2026 12:00:00 +0500"
    school.deliver(mail(subject="Вопрос", body="Когда начинаются занятия?").replace(
        b"Fri, 20 Nov 2026 09:00:00 +0500", date.encode()))
    school.cli("run", "--once")
    output = school.cli("rules", "test").output
    assert output.strip() == "0 of 1 threads would be routed differently"


MOODLE_CSV = """\
username,firstname,lastname,email,cohort1,profile_field_telegram
tsadykov,Тимур,Садыков,pupil@school.example,Students 9B,timur_s
omother,Ольга,Петрова,olga@mail.example,Parents,
"""


def test_roster_import_gives_segments_that_routing_trusts_first(routed):
    routed.write(routed.config.read_text(), ROUTING + """
[directory]
segment_from = ["cohort"]
[directory.segments]
"Students*" = "student"
"Parents" = "parent"
""")
    roster = routed.root / "users.csv"
    roster.write_text(MOODLE_CSV, encoding="utf-8")
    result = routed.cli("contacts", "import", str(roster))
    assert result.output.strip().splitlines()[-1] == (
        "0 contacts created, 2 updated, 0 rows skipped or doubtful")
    routed.deliver(mail(subject="Вопрос", body="Когда экзамен?", sender="pupil@school.example",
                        message_id="m3@school.example"))
    routed.cli("run", "--once")
    record = json.loads(routed.cli("route", "--explain", "3", "--json").output)
    assert record["decision"]["segment"] == "student"
    assert "directory" in record["decision"]["segment_evidence"][0]


def test_roster_import_counts_each_doubtful_row_once_however_many_problems_it_has(school):
    roster = school.root / "moodle.csv"
    roster.write_text(MOODLE_CSV + "nomail,Нет,Почты,not-an-address,Students 9B,\n"
                      "asel,Асель,Ким,asel@mail.kz,Students 9B,\n"
                      "olga2,Ольга,Петрова,olga@mail.example,Parents,\n", encoding="utf-8")
    result = school.cli("contacts", "import", str(roster))
    assert result.output.splitlines() == [
        'moodle.csv: line 4: email "not-an-address" is not an address; ignored',
        "moodle.csv: line 4: no email or Telegram; row skipped",
        "moodle.csv: line 6: olga@mail.example is also on line 3; row skipped",
        "3 contacts created, 0 updated, 2 rows skipped or doubtful"]


def test_a_roster_with_no_email_or_telegram_column_imports_nothing_and_fails(school):
    roster = school.root / "grades.csv"
    roster.write_text("name,grade\nАсель,5\n", encoding="utf-8")
    result = school.cli("contacts", "import", str(roster), ok=False)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "grades.csv: line 1: no email or Telegram column (columns: name, grade)",
        "Error: grades.csv: nothing imported"]


def test_a_message_nothing_tells_the_language_of_matches_language_unknown(school):
    school.write(school.config.read_text() + TEAMS, ROUTING + """
[[rules]]
name = "Language unknown"
[rules.when]
language = "unknown"
[rules.then]
team = "office"
""")
    school.deliver(mail(subject="12345", body="12345 :) !!!"))
    school.deliver(mail(subject="Расписание", body="Где расписание на завтра?",
                        sender="pupil@school.example", message_id="m2@school.example"))
    school.cli("run", "--once")
    unsure = json.loads(school.cli("route", "--explain", "1", "--json").output)
    assert (unsure["decision"]["rule"], unsure["language"]["detected"]) == (
        "Language unknown", False)
    assert unsure["language"]["language"] == "ru"  # the default still greets the customer
    sure = json.loads(school.cli("route", "--explain", "2", "--json").output)
    assert (sure["decision"]["rule"], sure["language"]["detected"]) == ("", True)
    assert "0 of 2 threads" in school.cli("rules", "test").output


def test_a_rule_naming_an_agent_on_leave_hands_the_thread_to_the_teams_strategy(school):
    school.write(INBOX_TOML.replace('languages = ["ru", "en"]\n',
                                    'languages = ["ru", "en"]\navailable = false\n'),
                 'default_team = "support"\n[[rules]]\nname = "To Boris"\n'
                 '[rules.then]\nteam = "support"\nagent = "boris"\n')
    school.deliver(mail())
    school.cli("run", "--once")
    (thread,) = json.loads(school.cli("threads", "--json").output)
    assert thread["agent"] == "aigerim"
    explained = json.loads(school.cli("route", "--explain", "1", "--json").output)
    assert explained["assignment"]["reason"].startswith(
        "the rule names boris, who is unavailable;")
