"""The CLI contract: commands, exact errors, exit codes and the --json shapes of DESIGN.md."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from inbox.cli import command_names
from inbox.store import Store
from tests.conftest import REPO, mail

THREAD_KEYS = {"id", "status", "channel", "subject", "contact", "language", "segment", "team",
               "agent", "priority", "messages", "created_at", "last_message_at"}
MESSAGE_KEYS = {"id", "direction", "channel", "sender", "text", "created_at", "delivery"}


@pytest.fixture
def one_thread(school):
    school.deliver(mail())
    school.cli("run", "--once")
    return school


def test_threads_json_has_the_contract_keys_and_iso_times(one_thread):
    (thread,) = json.loads(one_thread.cli("threads", "--json").output)
    assert thread.keys() >= THREAD_KEYS
    assert thread["contact"] == "Ольга"
    for key in ("created_at", "last_message_at"):
        assert datetime.fromisoformat(thread[key]).utcoffset() is not None


def test_show_json_lists_messages_with_the_contract_keys(one_thread):
    shown = json.loads(one_thread.cli("show", "1", "--json").output)
    assert json.loads(one_thread.cli("show", "#1", "--json").output) == shown  # as printed
    assert THREAD_KEYS - {"messages"} <= shown.keys()
    (message,) = shown["messages"]
    assert message.keys() >= MESSAGE_KEYS
    assert message["direction"] == "in"
    assert message["delivery"] is None
    assert message["text"].startswith("Как оплатить обучение?")


def test_threads_table_is_readable(one_thread):
    output = one_thread.cli("threads").output
    header, row = output.splitlines()
    assert header.split()[:3] == ["ID", "STATUS", "CHANNEL"]
    assert row.startswith("#1  open")
    assert "Оплата за декабрь" in row


def test_threads_filters(one_thread):
    assert json.loads(one_thread.cli("threads", "--status", "closed", "--json").output) == []
    assert one_thread.cli("threads", "--team", "nobody").output.strip() == "no threads"


def test_note_assign_close_reopen_are_logged_and_visible(one_thread):
    s = one_thread
    s.cli("note", "1", "--as", "aigerim", "-m", "позвонить маме")
    assert s.cli("assign", "1", "aigerim").output.strip() == "#1 assigned to aigerim"
    assert s.cli("close", "1").output.strip() == "#1 is closed"
    assert json.loads(s.cli("threads", "--json").output)[0]["status"] == "closed"
    assert s.cli("reopen", "1").output.strip() == "#1 is open"
    shown = json.loads(s.cli("show", "1", "--json").output)
    assert shown["agent"] == "aigerim"
    assert [m["direction"] for m in shown["messages"]] == ["in", "note"]


def test_assigning_a_thread_to_the_agent_who_has_it_again_changes_nothing(one_thread):
    s = one_thread
    other = {"boris": "aigerim", "aigerim": "boris"}[
        json.loads(s.cli("show", "1", "--json").output)["agent"]]
    assert s.cli("assign", "1", other).output.strip() == f"#1 assigned to {other}"
    assert s.cli("assign", "1", other).output.strip() == f"#1 is already assigned to {other}"
    store = Store(s.root / "state" / "inbox.db")
    assert [e.action for e in store.events(1)].count("assigned") == 2  # routing, then once


def test_reply_reads_text_from_stdin(one_thread):
    one_thread.cli("reply", "1", "--as", "boris", input="Добрый день!\nСчёт в приложении.\n")
    shown = json.loads(one_thread.cli("show", "1", "--json").output)
    assert shown["messages"][-1]["text"] == "Добрый день!\nСчёт в приложении.\n"


def test_reply_as_unknown_agent_is_a_clear_error(one_thread):
    result = one_thread.cli("reply", "1", "--as", "nobody", "-m", "x", ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: unknown agent 'nobody' (agents: aigerim, boris)"


def test_show_unknown_thread_is_a_clear_error(one_thread):
    result = one_thread.cli("show", "42", ok=False)
    assert (result.exit_code, result.output.strip()) == (1, "Error: no thread 42")


def test_search_finds_the_message(one_thread):
    found = json.loads(one_thread.cli("search", "оплатить", "--json").output)
    assert [hit["thread"]["id"] for hit in found] == [1]
    assert one_thread.cli("search", "nothinglikethis").output.strip() == "nothing found"


def test_check_accepts_a_good_config_and_names_problems_in_a_bad_one(school):
    assert school.cli("check").output.startswith(f"{school.config}: OK (1 channel, 2 agents")
    school.write(school.config.read_text().replace('strategy = "round_robin"',
                                                   'strategy = "random"'))
    result = school.cli("check", ok=False)
    assert result.exit_code == 1
    assert ('inbox.toml: teams 1 "support": strategy \'random\' is not one of: round_robin,'
            ' least_open, manual') in result.output


def test_missing_config_file_is_named(tmp_path):
    from click.testing import CliRunner

    from inbox.cli import main

    result = CliRunner().invoke(main, ["--config", str(tmp_path / "none.toml"), "threads"])
    assert result.exit_code == 1
    assert f"{tmp_path / 'none.toml'}: file not found" in result.output

def test_reading_threads_needs_only_the_store_table(one_thread, tmp_path):
    """An agent can still read the inbox while the admin fixes a mistake in routing.toml,
    and the nightly backup still runs (the daemon goes on with the rules it has)."""
    (one_thread.root / "routing.toml").write_text("default_team = 'nobody'\n[[rules]]\nif = 1\n")
    assert one_thread.cli("check", ok=False).exit_code == 1
    assert json.loads(one_thread.cli("show", "1", "--json").output)["id"] == 1
    assert one_thread.cli("threads").output.startswith("ID")
    assert one_thread.cli("search", "оплатить").output.startswith("THREAD")
    assert "threads" in one_thread.cli("backup", str(tmp_path / "b.tar.gz")).output
    one_thread.cli("export-contact", "1", "-o", str(tmp_path / "c.zip"))
    assert one_thread.cli("route", "--explain", "1").output.startswith("#1 ")
    # ... but a command that acts still refuses the broken configuration.
    for command in (["close", "1"], ["forget-contact", "1", "--yes"], ["purge", "--older-than",
                                                                         "1d", "--dry-run"]):
        result = one_thread.cli(*command, ok=False)
        assert (result.exit_code, "invalid configuration" in result.output) == (1, True), command
    assert json.loads(one_thread.cli("show", "1", "--json").output)["contact_id"] == 1


def test_reading_a_store_that_is_not_there_shows_nothing_and_makes_no_file(school, tmp_path):
    """A mistyped [store] path, or a school whose daemon never ran: no empty store appears,
    and a backup of nothing is an error, not a good-looking archive."""
    db = school.root / "state" / "inbox.db"
    listed = school.cli("threads", "--json")
    assert json.loads(listed.stdout) == []
    assert listed.stderr.startswith(f"warning: no store at {db}: the daemon makes it")
    assert school.cli("stats", "--json").exit_code == 0
    backup = school.cli("backup", str(tmp_path / "b.tar.gz"), ok=False)
    assert backup.exit_code == 1
    assert backup.output.strip() == (
        f"Error: no store at {db}: the daemon makes it on its first run (inbox run);"
        " if it has run, check [store] path in inbox.toml")
    assert not db.exists() and not (tmp_path / "b.tar.gz").exists()


def test_check_connect_before_the_first_run_makes_no_store(school):
    school.cli("check", "--connect")
    assert not (school.root / "state" / "inbox.db").exists()


def test_a_mistake_in_the_store_table_stops_even_reading(one_thread):
    one_thread.write(one_thread.config.read_text().replace("[store]", "[store]\npth = 'x'"))
    result = one_thread.cli("threads", ok=False)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "inbox.toml: store: unknown key 'pth' (known keys: attachments, max_attachment_mb, path)")



def test_every_command_has_an_example_in_its_help_and_is_in_the_readme(school):
    readme = (REPO / "README.md").read_text()
    for name in command_names():
        help_text = school.cli(*name.split(), "--help").output
        assert "Example:" in help_text, f"inbox {name} --help has no example"
        assert f"inbox {name}" in readme, f"inbox {name} is not in the README"


def test_a_second_agent_answering_at_once_is_told_and_still_sent(one_thread):
    one_thread.cli("reply", "1", "--as", "boris", "-m", "Первый ответ")
    result = one_thread.cli("reply", "1", "--as", "aigerim", "-m", "Второй ответ")
    assert "note: boris also answered #1 a moment ago; yours goes out too" in result.output
    shown = json.loads(one_thread.cli("show", "1", "--json").output)
    assert [m["text"] for m in shown["messages"] if m["direction"] == "out"] == [
        "Первый ответ", "Второй ответ"]


@pytest.mark.parametrize("args", [["show", "0"], ["show", "99999999999999999999"],
                                  ["close", "--", "-3"], ["threads", "--limit", "0"],
                                  ["search", "оплата", "--limit", "-1"],
                                  ["reparse", "99999999999999999999"]])
def test_ids_and_limits_sqlite_cannot_hold_are_usage_errors(one_thread, args):
    result = one_thread.cli(*args, ok=False)
    assert result.exit_code == 2
    assert "Invalid value" in result.output


@pytest.mark.parametrize("command", [
    ["show"], ["reply", "--as", "boris", "-m", "x"], ["note", "--as", "boris", "-m", "x"],
    ["assign", "--", "abc", "boris"], ["close"], ["reopen"], ["pending"],
    ["route", "--explain"], ["reparse"], ["export-contact"], ["forget-contact", "--yes"]])
def test_an_id_that_is_not_a_number_is_explained_as_an_id(one_thread, command):
    args = command if "abc" in command else [*command, "abc"]
    kind, example = (("contact", "a number such as 42") if "contact" in command[0]
                     else ("thread", "a number such as 12 or #12"))
    result = one_thread.cli(*args, ok=False)
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].endswith(
        f"'abc' is not a {kind} id ({example})"), result.output


def test_a_path_that_cannot_be_written_is_an_error_not_a_traceback(one_thread):
    result = one_thread.cli("backup", "/proc/no-such-dir/inbox.tar.gz", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("Error: /proc/no-such-dir")
    result = one_thread.cli("export-contact", "1", "-o", "/proc/contact.zip", ok=False)
    assert (result.exit_code, result.output[:7]) == (1, "Error: ")


def test_only_reopening_a_closed_thread_counts_and_closing_again_keeps_closed_at(one_thread):
    def reopened() -> int:
        return json.loads(one_thread.cli("stats", "--json").output)["total"]["reopened"]

    one_thread.cli("pending", "1")
    one_thread.cli("reopen", "1")
    assert reopened() == 0
    one_thread.cli("close", "1")
    first = one_thread.cli("show", "1", "--json").output
    one_thread.cli("close", "1")
    again = one_thread.cli("show", "1", "--json").output
    assert json.loads(again)["closed_at"] == json.loads(first)["closed_at"] is not None
    one_thread.cli("reopen", "1")
    assert reopened() == 1


def test_an_empty_note_is_refused_and_json_with_csv_is_a_usage_error(one_thread):
    result = one_thread.cli("note", "1", "--as", "boris", "-m", "  ", ok=False)
    assert (result.exit_code, result.output.strip()) == (1, "Error: the note is empty")
    assert one_thread.cli("stats", "--json", "--csv", ok=False).exit_code == 2


def test_check_connect_reports_an_unreadable_secret_on_its_channels_line(school, monkeypatch):
    monkeypatch.delenv("NO_SUCH_BOT_TOKEN", raising=False)
    school.write(school.config.read_text()
                 + '\n[[telegram]]\nname = "bot"\ntoken_env = "NO_SUCH_BOT_TOKEN"\n')
    assert school.cli("check").exit_code == 0  # the files are valid; secrets are read on use
    result = school.cli("check", "--connect", ok=False)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[1].startswith("support: ")
    assert lines[2].startswith("bot: FAILED SecretError: ")
    assert "NO_SUCH_BOT_TOKEN" in lines[2]


def test_a_file_without_a_sender_is_flagged_and_cannot_be_answered(school):
    school.deliver(b"\x00\x01\x02 not a mail at all \xff\xfe\n\nstill nothing")
    school.cli("run", "--once")
    shown = json.loads(school.cli("show", "1", "--json").output)
    assert "no-sender" in shown["flags"]
    assert "no-sender" in shown["messages"][0]["flags"]
    refused = school.cli("reply", "1", "--as", "boris", "-m", "Здравствуйте", ok=False)
    assert refused.output.strip() == ("Error: thread 1: the sender's address could not be read"
                                      " from the message; there is no one to answer")
