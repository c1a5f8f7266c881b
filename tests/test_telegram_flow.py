"""Telegram end to end through the daemon and the CLI, against the Bot API test server."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime

import pytest

from inbox.channel import Inbound
from inbox.config import load_config
from inbox.daemon import POLL_GAP
from inbox.model import Identity
from inbox.pipeline import Pipeline
from inbox.store import Store
from tests.botapi import TOKEN
from tests.conftest import INBOX_TOML
from tests.processes import DaemonProcess

ROUTING = """\
default_team = "support"

[[segments]]
name = "applicant"
start_payloads = ["course-"]

[[rules]]
name = "Applicants"
[rules.when]
segment = "applicant"
[rules.then]
team = "support"
agent = "aigerim"
priority = "high"
"""


@pytest.fixture
def bot_school(school, botapi, monkeypatch):
    monkeypatch.setenv("TEST_BOT_TOKEN", TOKEN)
    school.write(school.config.read_text() + f"""
[[telegram]]
name = "school-bot"
token_env = "TEST_BOT_TOKEN"
api_url = "{botapi.url}/bot"
file_url = "{botapi.file_url}"
""", ROUTING)
    school.bot = botapi
    return school


def threads(school):
    return json.loads(school.cli("threads", "--json").output)


def user(user_id: int, language: str = "ru", username: str = "") -> dict:
    data = {"id": user_id, "is_bot": False, "first_name": "Марат", "language_code": language}
    if username:
        data["username"] = username
    return data


def test_a_user_without_a_first_name_is_filed_and_the_chat_goes_on(bot_school):
    nameless = {"id": 520, "is_bot": False, "first_name": ""}
    bot_school.bot.user_message(520, "Здравствуйте, вопрос", user=nameless)
    bot_school.bot.user_message(521, "И у меня вопрос", user=user(521))
    bot_school.cli("run", "--once")
    assert sorted(t["contact"] for t in threads(bot_school)) == ["520", "Марат"]


def test_terminal_escapes_in_a_name_or_a_message_never_reach_the_agents_terminal(bot_school):
    sly = {"id": 522, "is_bot": False, "first_name": "Ol\x1b[2Jga\x1b]0;pwned\x07",
           "last_name": "\u202eP\n  team support · agent boris"}
    bot_school.bot.user_message(522, "Вопрос\x1b[31m об оплате\x00", user=sly)
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    shown = bot_school.cli("show", str(thread["id"])).output
    assert thread["contact"] == "Olga P team support · agent boris"  # one line, no override
    assert "Вопрос об оплате" in shown
    assert "\x1b" not in shown and "\x00" not in shown


def test_an_update_the_library_cannot_read_is_counted_quarantined_without_a_critical_log(
        bot_school):
    bot_school.bot.add_update({"message": {"message_id": 9, "text": "без чата и даты"}})
    bot_school.bot.user_message(523, "Обычный вопрос", user=user(523))
    result = bot_school.cli("run", "--once")
    assert "CRITICAL" not in result.stderr and "Обычный вопрос" not in result.stderr
    assert "1 stored, 0 duplicate, 0 edited, 1 quarantined" in result.stderr
    assert sorted(t["flags"] for t in threads(bot_school)) == [[], ["quarantined"]]


def test_message_in_reply_out_over_the_same_chat(bot_school):
    bot_school.bot.user_message(501, "Не могу войти в личный кабинет", user=user(501))
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    assert (thread["channel"], thread["account"], thread["language"]) == (
        "telegram", "school-bot", "ru")
    bot_school.cli("reply", str(thread["id"]), "--as", "boris", "-m", "Сбросили пароль, попробуйте")
    bot_school.cli("run", "--once")
    (sent,) = bot_school.bot.wait_for_sent(1)
    assert (sent.chat_id, sent.text) == (501, "Сбросили пароль, попробуйте")
    shown = json.loads(bot_school.cli("show", str(thread["id"]), "--json").output)
    assert [(m["direction"], m["delivery"]) for m in shown["messages"]] == [
        ("in", None), ("out", "sent")]


def test_more_messages_from_the_chat_join_its_open_thread_and_nothing_twice(bot_school):
    for text in ("Здравствуйте", "Где расписание на завтра?"):
        bot_school.bot.user_message(502, text, user=user(502))
    bot_school.cli("run", "--once")
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    assert thread["messages"] == 2


def test_start_with_payload_greets_in_the_users_language_and_routes_the_question(bot_school):
    bot_school.bot.user_message(503, "/start course-42", user=user(503, language="kk"))
    bot_school.cli("run", "--once")
    assert threads(bot_school) == []
    (greeting,) = bot_school.bot.wait_for_sent(1)
    assert greeting.chat_id == 503
    assert greeting.text.startswith("Сәлеметсіз бе!")
    bot_school.bot.user_message(503, "Курс қашан басталады?", user=user(503, language="kk"))
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    assert (thread["segment"], thread["agent"], thread["priority"]) == (
        "applicant", "aigerim", "high")


def test_an_edit_updates_the_stored_text_and_keeps_the_old_one_in_the_log(bot_school):
    update = bot_school.bot.user_message(504, "Оплата за октябрь", user=user(504))
    bot_school.cli("run", "--once")
    bot_school.bot.user_edit(504, update["message"]["message_id"], "Оплата за ноябрь")
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    shown = json.loads(bot_school.cli("show", str(thread["id"]), "--json").output)
    assert [m["text"] for m in shown["messages"]] == ["Оплата за ноябрь"]
    from inbox.store import Store

    store = Store(bot_school.root / "state" / "inbox.db")
    edits = [e for e in store.events(thread["id"]) if e.action == "edited"]
    assert edits[0].detail["previous_text"] == "Оплата за октябрь"
    store.close()


def test_an_edit_that_swaps_the_photo_keeps_both_and_the_new_caption(bot_school):
    first = bot_school.bot.add_file("receipt-1", b"\xff\xd8\xff first receipt")
    update = bot_school.bot.user_message(
        506, user=user(506), caption="Квитанция",
        photo=[bot_school.bot.file_meta(first, width=800, height=600)])
    bot_school.cli("run", "--once")
    second = bot_school.bot.add_file("receipt-2", b"\xff\xd8\xff the right receipt")
    bot_school.bot.user_edit(506, update["message"]["message_id"],
                             caption="Квитанция (правильная)",
                             photo=[bot_school.bot.file_meta(second, width=800, height=600)])
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    (message,) = json.loads(bot_school.cli("show", str(thread["id"]), "--json").output)[
        "messages"]
    assert message["text"] == "Квитанция (правильная)"
    assert [a["size"] for a in message["attachments"]] == [17, 21]  # the first stays too


def test_a_user_who_blocked_the_bot_is_marked_and_the_reply_fails_once(bot_school):
    bot_school.bot.user_message(505, "Вопрос про экзамен", user=user(505))
    bot_school.cli("run", "--once")
    bot_school.bot.block(505)
    bot_school.cli("reply", "1", "--as", "boris", "-m", "Ответ")
    bot_school.cli("run", "--once")
    shown = json.loads(bot_school.cli("show", "1", "--json").output)
    assert shown["messages"][-1]["delivery"] == "failed"
    from inbox.store import Store

    store = Store(bot_school.root / "state" / "inbox.db")
    assert store.contact(shown["contact_id"]).unreachable
    store.close()


def test_a_roster_username_joins_the_telegram_user_to_the_imported_contact(bot_school):
    roster = bot_school.root / "roster.csv"
    roster.write_text("Name,Email,Telegram,Role\nМарат Алиев,marat@mail.example,@marat_a,"
                      "parent\n", encoding="utf-8")
    bot_school.write(bot_school.config.read_text(), ROUTING + '\n[[segments]]\nname = "parent"\n'
                     '\n[directory]\nsegment_from = ["role"]\n[directory.segments]\n'
                     '"parent" = "parent"\n')
    bot_school.cli("contacts", "import", str(roster))
    bot_school.bot.user_message(506, "Добрый день", user=user(506, username="Marat_A"))
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    assert thread["contact"] == "Марат Алиев"
    assert thread["segment"] == "parent"


def test_a_message_after_closing_reopens_within_the_window(bot_school):
    bot_school.bot.user_message(507, "Вопрос", user=user(507))
    bot_school.cli("run", "--once")
    bot_school.cli("close", "1")
    bot_school.bot.user_message(507, "Ещё вопрос", user=user(507))
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    assert (thread["status"], thread["messages"]) == ("open", 2)


def test_a_message_after_the_window_starts_a_new_thread(bot_school):
    bot_school.write(bot_school.config.read_text() + "\n[threads]\nreopen_days = 0\n")
    bot_school.bot.user_message(508, "Вопрос", user=user(508))
    bot_school.cli("run", "--once")
    bot_school.cli("close", "1")
    bot_school.bot.user_message(508, "Новый вопрос", user=user(508))
    bot_school.cli("run", "--once")
    assert [(t["id"], t["status"], t["reopened_from"]) for t in threads(bot_school)] == [
        (2, "open", 1), (1, "closed", None)]
    assert "continues #1 (closed; inbox show 1)" in bot_school.cli("show", "2").output


def test_replies_reach_the_chat_in_order_and_wait_out_telegrams_retry_after(bot_school):
    bot_school.bot.user_message(510, "Вопрос про оплату", user=user(510))
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    bot_school.bot.fail_next("sendMessage", 429, retry_after=1)
    for text in ("Первое", "Второе"):
        bot_school.cli("reply", str(thread["id"]), "--as", "boris", "-m", text)
    bot_school.cli("run", "--once")
    tried = [params.get("text") for method, params in bot_school.bot.calls
             if method == "sendMessage"]
    assert tried == ["Первое"]  # the second did not overtake the first inside the wait
    time.sleep(1.1)
    bot_school.cli("run", "--once")
    sent = bot_school.bot.wait_for_sent(2)
    assert [(m.chat_id, m.text) for m in sent] == [(510, "Первое"), (510, "Второе")]


def test_a_sticker_first_takes_the_language_telegram_reports_not_the_placeholders(bot_school):
    bot_school.bot.user_message(511, user=user(511, language="ru"),
                                sticker={"file_id": "st1", "file_unique_id": "u1", "width": 512,
                                         "height": 512, "is_animated": False,
                                         "is_video": False, "type": "regular", "emoji": "👍"})
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    assert thread["language"] == "ru"
    shown = json.loads(bot_school.cli("show", str(thread["id"]), "--json").output)
    assert shown["messages"][0]["text"] == "[sticker 👍]"


def test_a_bot_without_long_polling_is_asked_every_few_seconds_not_in_a_loop(bot_school):
    """poll_timeout = 0 (allowed) makes getUpdates answer at once: the daemon paces it."""
    bot_school.write(bot_school.config.read_text() + "poll_timeout = 0\n")
    began = time.monotonic()
    daemon = DaemonProcess(bot_school)
    try:
        daemon.wait(lambda: bot_school.cli("status", ok=False).exit_code == 0, 15,
                    "inbox status healthy")
        bot_school.bot.user_message(509, "Вопрос", user=user(509))
        daemon.wait(lambda: threads(bot_school), 2 * POLL_GAP + 5, "the message stored")
    finally:
        daemon.signal(signal.SIGTERM)
        daemon.finish()
    polls = [params for method, params in bot_school.bot.calls if method == "getUpdates"]
    assert {str(params.get("timeout")) for params in polls} == {"0"}
    # The first look (no waiting), one straight after the message's batch, one per gap.
    assert len(polls) <= 3 + (time.monotonic() - began) / POLL_GAP


def test_in_a_customer_group_chat_everyone_joins_the_thread_without_review(bot_school):
    bot_school.write(bot_school.config.read_text() + "groups = true\n")
    bot_school.bot.user_message(-100555, "Вопрос про экскурсию", user=user(601),
                                chat_type="supergroup")
    bot_school.bot.user_message(-100555, "И я тоже хочу знать", user=user(602),
                                chat_type="supergroup")
    bot_school.cli("run", "--once")
    (thread,) = threads(bot_school)
    shown = json.loads(bot_school.cli("show", str(thread["id"]), "--json").output)
    assert [m["flags"] for m in shown["messages"]] == [[], []]


def test_a_first_message_carrying_a_start_payload_is_routed_by_it(school):
    """The payload is the contact's before the new thread is routed (no hook claimed it:
    in the daemon the greeting claims every /start, but the pipeline must not rely on it)."""
    school.write(INBOX_TOML, ROUTING)
    config = load_config(school.config)
    store = Store(config.store.path, config.store.attachments)
    item = Inbound(channel="telegram", account="support", external_id="u1",
                   sender=Identity("telegram", "503", "Марат"), text="/start course-42",
                   received_at=datetime.now(UTC), raw=b"{}",
                   meta={"command": "start", "start_payload": "course-42"})
    report = Pipeline(store, config).ingest([item])
    thread = store.thread(report.new_threads[0])
    assert (thread.segment, thread.agent, thread.priority) == ("applicant", "aigerim", "high")
    assert store.contact(thread.contact_id).start_payload == "course-42"
    store.close()
