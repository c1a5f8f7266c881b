"""Configuration errors name the file, the entry and the fix; all problems come at once."""

from __future__ import annotations

import pytest

from inbox.config import load_config
from inbox.secrets import Secret, SecretError
from inbox.sections import ConfigError
from tests.conftest import INBOX_TOML, REPO


def _problems(school, inbox: str, routing: str | None = None) -> list[str]:
    school.write(inbox, routing)
    with pytest.raises(ConfigError) as caught:
        load_config(school.config)
    return caught.value.problems


def test_example_configuration_is_valid():
    config = load_config(REPO / "config" / "inbox.example.toml")
    assert config.channels
    assert config.routing.rules


def test_the_test_school_loads(school):
    config = load_config(school.config)
    assert [c.name for c in config.channels] == ["support"]
    assert config.teams["support"].members == ("boris", "aigerim")


def test_plain_password_is_refused_with_the_way_to_fix_it(school):
    problems = _problems(school, INBOX_TOML + """
[[email]]
name = "office"
address = "office@school.example"
host = "imap.school.example"
username = "office"
password = "hunter2"
""")
    assert any(
        p.startswith('inbox.toml: email 1 "office": password must not be written in the file')
        and "password_env" in p and "password_file" in p
        for p in problems), problems
    assert not any("hunter2" in p for p in problems)


def test_unknown_key_and_wrong_type_are_both_reported(school):
    problems = _problems(school, INBOX_TOML.replace(
        'strategy = "round_robin"', 'strategy = "round_robin"\nstrategi = "x"'
    ).replace('[store]', '[store]\nmax_attachment_mb = "big"'))
    assert 'inbox.toml: teams 1 "support": unknown key \'strategi\'' in problems[0] or any(
        "unknown key 'strategi'" in p and 'teams 1 "support"' in p for p in problems)
    assert any(p == 'inbox.toml: store: max_attachment_mb must be a number, not a string'
               for p in problems), problems


def test_team_member_that_is_not_an_agent(school):
    problems = _problems(school, INBOX_TOML.replace(
        'members = ["boris", "aigerim"]', 'members = ["boris", "aigrim"]'))
    assert problems == [
        "inbox.toml: teams 1 \"support\": member 'aigrim' is not an agent"
        " (agents: aigerim, boris)"]


def test_unknown_channel_table(school):
    problems = _problems(school, INBOX_TOML + '\n[[whatsapp]]\nname = "x"\n')
    assert len(problems) == 1
    assert problems[0].startswith("inbox.toml: unknown table [whatsapp]")
    assert "maildir" in problems[0] and "telegram" in problems[0]


def test_duplicate_channel_names(school):
    problems = _problems(school, INBOX_TOML + f'''
[[maildir]]
name = "support"
path = "{school.root}/Other"
''')
    assert problems == [
        "inbox.toml: maildir 2 \"support\": channel name 'support' is used twice;"
        " names must be unique"]


def test_toml_syntax_error_names_the_file_and_line(school):
    problems = _problems(school, INBOX_TOML + "\n[[agents]\n")
    assert len(problems) == 1
    assert problems[0].startswith("inbox.toml: not valid TOML:")
    assert "line" in problems[0]



def test_a_file_saved_in_a_windows_code_page_names_the_line_and_says_to_save_as_utf8(school):
    school.write(INBOX_TOML)
    routing = school.root / "routing.toml"
    text = routing.read_text(encoding="utf-8") + '\n# Школа "Рассвет"\n'
    routing.write_bytes(text.encode("cp1251"))
    with pytest.raises(ConfigError) as caught:
        load_config(school.config)
    line = text.count("\n")
    assert caught.value.problems == [
        f"{routing}: line {line} is not UTF-8 (byte 0xd8): save the file with the UTF-8 encoding"]


def test_the_byte_order_mark_windows_notepad_writes_is_accepted(school):
    school.write(INBOX_TOML)
    school.config.write_bytes(b"\xef\xbb\xbf" + school.config.read_bytes())
    assert [c.name for c in load_config(school.config).channels] == ["support"]

def test_missing_routing_file_is_named(school):
    (school.root / "routing.toml").unlink()
    with pytest.raises(ConfigError) as caught:
        load_config(school.config)
    assert caught.value.problems == [
        f"inbox.toml: routing: file {school.root / 'routing.toml'} does not exist: create it"
        " (config/routing.example.toml is a start) or set [routing] file to the routing"
        " file's name"]


def test_unknown_team_in_a_rule_names_rule_and_known_teams(school):
    problems = _problems(school, INBOX_TOML, """\
default_team = "support"

[[rules]]
name = "Billing"
[rules.when]
keywords = ["оплата"]
[rules.then]
team = "billng"
""")
    assert problems == [
        'routing.toml: rule 1 "Billing": then.team "billng" is not a team (teams: support)']


def test_default_language_must_be_one_of_the_languages(school):
    problems = _problems(school, INBOX_TOML.replace(
        'default_language = "ru"', 'default_language = "de"'))
    assert problems == [
        "inbox.toml: school: default_language 'de' is not in languages (ru, kk, en)"]


def test_every_mail_channel_knows_the_schools_other_mailboxes(school):
    (school.root / "Office").mkdir()
    school.write(INBOX_TOML + f'''
[[maildir]]
name = "office"
path = "{school.root}/Office"
address = "Office@School.example"
''')
    config = load_config(school.config)
    assert config.channel("support").settings.school_addresses == ("office@school.example",)
    assert config.channel("office").settings.school_addresses == ("support@school.example",)


def test_replies_carry_the_school_name_unless_the_channel_names_itself(school):
    school.write(INBOX_TOML.replace('from_name = "Test School"\n', ""))
    assert load_config(school.config).channel("support").settings.from_name == "Test School"
    school.write(INBOX_TOML.replace('from_name = "Test School"', 'from_name = "Приёмная"'))
    assert load_config(school.config).channel("support").settings.from_name == "Приёмная"


def test_a_rule_template_must_be_one_of_the_desk_templates(school):
    problems = _problems(school, INBOX_TOML, 'default_team = "support"\n\n[[rules]]\nname = "Pay"\n'
                         '[rules.when]\nsubject = ["оплата"]\n[rules.then]\nteam = "support"\n'
                         'template = "payment"\n')
    assert problems == ['routing.toml: rule 1 "Pay": then.template "payment" is not a template'
                        ' (templates: none)']


def test_the_store_attachment_cap_is_every_channels_default(school):
    school.write(INBOX_TOML.replace('[store]\n', '[store]\nmax_attachment_mb = 0.5\n'))
    assert load_config(school.config).channel("support").settings.max_attachment_bytes == 2**19
    school.write(INBOX_TOML.replace('[store]\n', '[store]\nmax_attachment_mb = 0.5\n')
                 .replace('from_name = "Test School"', 'from_name = "Test School"\n'
                          'max_attachment_mb = 2'))
    assert load_config(school.config).channel("support").settings.max_attachment_bytes == 2**21


def test_relative_paths_start_at_the_config_files_folder_wherever_the_daemon_runs(
        school, tmp_path, monkeypatch):
    (school.root / "secret-token").write_text("123:abc\n")
    school.write(INBOX_TOML.replace('path = "{dir}/state/inbox.db"', 'path = "state/inbox.db"')
                 .replace('path = "{dir}/Maildir"', 'path = "Maildir"')
                 + '\n[[telegram]]\nname = "bot"\ntoken_file = "secret-token"\n')
    monkeypatch.chdir(tmp_path.parent)
    config = load_config(school.config)
    assert config.store.path == school.root / "state" / "inbox.db"
    assert config.store.attachments == school.root / "state" / "attachments"
    assert config.channel("support").settings.path == school.root / "Maildir"
    assert config.channel("bot").settings.token.reveal() == "123:abc"


def test_language_codes_and_feature_channel_names_are_checked(school):
    problems = _problems(school, INBOX_TOML.replace('languages = ["ru", "kk", "en"]',
                                                    'languages = ["RU", "english"]')
                         + '\n[autoack]\nenabled = true\nchannels = ["suport"]\n')
    assert problems == [
        "inbox.toml: school: languages: 'english' is not a two-letter ISO 639-1 code"
        ' (e.g. "ru", "kk", "en")',
        "inbox.toml: autoack: channels ['suport'] are not configured channels (channels:"
        " support)"]


def test_a_country_code_for_a_language_is_refused_with_the_language_meant(school):
    problems = _problems(school, INBOX_TOML.replace('languages = ["ru", "kk", "en"]',
                                                    'languages = ["ru", "kz", "xx"]')
                         .replace('languages = ["kk", "ru"]', 'languages = ["KZ", "ru"]'))
    kz = """'kz' is not a language the detector knows; "kz" is a country code: did you mean "kk"?"""
    assert problems == [
        f"inbox.toml: school: languages: {kz}",
        "inbox.toml: school: languages: 'xx' is not a language the detector knows",
        f'inbox.toml: agents 1 "aigerim": languages: {kz}']


def test_sla_targets_that_make_every_thread_late_are_refused(school):
    problems = _problems(school, INBOX_TOML + """
[[sla]]
name = "zero"
first_response = "0m"
resolution = "1d"

[[sla]]
name = "upside-down"
first_response = "2d"
resolution = "4h"
""")
    assert problems == [
        'inbox.toml: sla 1 "zero": first_response must be longer than 0: every thread would'
        " be late at once",
        'inbox.toml: sla 2 "upside-down": first_response must not be longer than resolution'
        " (a thread is resolved after its first answer)"]


def test_a_greeting_with_a_mistyped_placeholder_is_refused(school):
    problems = _problems(school, INBOX_TOML + '\n[greeting]\ntext = { ru = "Привет от {schol}" }\n')
    assert problems == ["inbox.toml: greeting text: ru uses unknown placeholders ['{schol}']"
                        " (known: {school})"]


def test_a_maildir_address_that_is_no_address_is_refused(school):
    problems = _problems(school, INBOX_TOML.replace('address = "support@school.example"',
                                                    'address = "support"', 1))
    assert problems == ['inbox.toml: maildir 1 "support": address \'support\' is not an email'
                        ' address (write e.g. "support@school.example")']


def test_a_templates_folder_that_is_not_there_is_named_with_its_key(school):
    problems = _problems(school, INBOX_TOML + '\n[desk]\ntemplates_dir = "nope"\n')
    assert problems == [f"inbox.toml: desk: templates_dir '{school.root}/nope' is not a folder:"
                        " create it, or give the folder that holds the canned answers"]


def test_agent_hours_read_like_the_school_calendar(school):
    school.write(INBOX_TOML.replace('id = "boris"\nname = "Boris"\n',
                                    'id = "boris"\nname = "Boris"\nhours = "14:00-24:00"\n'
                                    'days = ["Mon", "SAT"]\n'))
    hours = load_config(school.config).agents["boris"].hours
    assert (hours.start, hours.end, hours.days) == ("14:00", "24:00", (0, 5))
    problems = _problems(school, INBOX_TOML.replace('id = "boris"\nname = "Boris"\n',
                                                    'id = "boris"\nname = "Boris"\n'
                                                    'hours = "24:00-09:00"\n'))
    assert problems == ['inbox.toml: agents 2 "boris": hours \'24:00-09:00\' must look like'
                        ' "09:00-18:00"']


def test_a_secret_pasted_into_an_env_key_is_refused_and_never_echoed(school):
    token, password = "999999:AAHsecretTOKENvalue-xyz", "hunter2 with spaces"
    school.write(school.config.read_text() + f"""
[[telegram]]
name = "bot"
token_env = "{token}"

[[email]]
name = "office"
address = "office@school.example"
host = "imap.school.example"
username = "office"
password_env = "OFFICE_PASSWORD"
smtp_password_env = "{password}"
""")
    for command in (("check",), ("check", "--connect"), ("run", "--once")):
        result = school.cli(*command, ok=False)
        assert result.exit_code == 1
        assert token not in result.output and password not in result.output
    lines = school.cli("check", ok=False).output.splitlines()
    assert lines[1:] == [
        f'inbox.toml: {entry}: {key} is not the name of an environment variable (letters,'
        f' digits and _); write the NAME of an environment variable that holds the secret'
        f' ({key} = "{example}"), never the secret itself'
        for entry, key, example in (
            ('telegram 1 "bot"', "token_env", "SCHOOL_INBOX_TOKEN"),
            ('email 1 "office"', "smtp_password_env", "SCHOOL_INBOX_SMTP_PASSWORD"))]


def test_a_secret_never_shows_an_env_value_that_cannot_be_a_name():
    from inbox.secrets import Secret, SecretError

    secret = Secret(env="999999:AAHsecretTOKENvalue-xyz")
    with pytest.raises(SecretError) as caught:
        secret.reveal()
    for text in (secret.describe(), repr(secret), str(caught.value)):
        assert "AAHsecret" not in text


def test_a_secret_pasted_into_a_file_key_is_never_echoed_but_a_path_is(school):
    school.write(INBOX_TOML + '''
[[telegram]]
name = "bot"
token_file = "987654:SECRET-pasted-TOKENxyzABC"
''')
    (secret,) = [c.settings.token for c in load_config(school.config).channels
                 if c.name == "bot"]
    with pytest.raises(SecretError) as caught:
        secret.reveal()
    assert "SECRET-pasted" not in str(caught.value) and "give the file's path" in str(
        caught.value)
    school.write(school.config.read_text().replace(
        "987654:SECRET-pasted-TOKENxyzABC", "Ab/cd+SECRETbase64xyz=="))  # a "/" in a secret
    (secret,) = [c.settings.token for c in load_config(school.config).channels
                 if c.name == "bot"]
    with pytest.raises(SecretError) as caught:
        secret.reveal()
    assert "SECRETbase64" not in str(caught.value)
    located = Secret(file="/etc/school-inbox/bot-token")
    assert "/etc/school-inbox/bot-token" in located.describe()


def test_an_unknown_agent_key_lists_every_key_the_table_accepts(school):
    problems = _problems(school, INBOX_TOML.replace('id = "boris"\n',
                                                    'id = "boris"\nemial = "b@school.example"\n'))
    assert problems == ["inbox.toml: agents 2 \"boris\": unknown key 'emial' (known keys:"
                        " available, client, days, email, hours, id, languages, name,"
                        " telegram_id, timezone)"]


def test_agents_and_teams_whose_client_no_channel_serves_are_refused(school):
    toml = INBOX_TOML.replace('name = "Aigerim"', 'name = "Aigerim"\nclient = "telegram"') + '''
[[teams]]
name = "staff"
members = ["boris"]
client = "telegram-group"
telegram_group = -1001234567890
'''
    assert _problems(school, toml) == [
        'inbox.toml: agents aigerim: client = "telegram" needs a [[telegram]] bot to reach'
        ' them: configure one, or give them another client ("email", "telegram" or "cli")',
        'inbox.toml: teams staff: client = "telegram-group" needs a [[telegram]] bot to post'
        " in the staff group: configure one, or remove client"]
