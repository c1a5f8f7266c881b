"""A team answering from a Telegram forum staff group, through `inbox run --once`.

The desk's bot is the Bot API test server; the team "staff" uses the forum
group STAFF (``client = "telegram-group"``). Customers write to the bot in
private chats; Boris (telegram_id 777) and Aigerim (linked with a code) answer in
the thread's topic.
"""

from __future__ import annotations

import json

import pytest

from inbox.config import load_config
from inbox.notify import Notifier
from inbox.sections import ConfigError
from inbox.store import Store
from tests.botapi import TOKEN

STAFF = -1001234567890
BORIS = {"id": 777, "is_bot": False, "first_name": "Boris"}
AIGERIM = {"id": 888, "is_bot": False, "first_name": "Aigerim"}
STRANGER = {"id": 555, "is_bot": False, "first_name": "Mallory"}

FORUM_TOML = """\
[school]
name = "Test School"
languages = ["ru", "en"]
default_language = "ru"

[store]
path = "{dir}/state/inbox.db"

[[telegram]]
name = "desk-bot"
token_env = "TEST_BOT_TOKEN"
api_url = "{api}/bot"
file_url = "{files}"

[[agents]]
id = "boris"
name = "Boris"
client = "telegram"
telegram_id = 777

[[agents]]
id = "aigerim"
name = "Aigerim"
client = "telegram"

[[teams]]
name = "staff"
members = ["boris", "aigerim"]
strategy = "manual"
client = "telegram-group"
telegram_group = {staff}
"""


@pytest.fixture
def forum(school, botapi, monkeypatch):
    monkeypatch.setenv("TEST_BOT_TOKEN", TOKEN)
    school.write(FORUM_TOML.replace("{api}", botapi.url).replace("{files}", botapi.file_url)
                 .replace("{staff}", str(STAFF)), 'default_team = "staff"\n')
    school.bot = botapi
    return school


def customer_writes(forum, user_id: int, name: str, text: str) -> None:
    forum.bot.user_message(user_id, text, user={"id": user_id, "is_bot": False,
                                                "first_name": name, "language_code": "ru"})
    forum.cli("run", "--once")


def in_topic(forum, topic: int) -> list:
    return [m for m in forum.bot.sent if m.chat_id == STAFF and m.message_thread_id == topic]


def sent_to(forum, chat: int) -> list:
    return [m for m in forum.bot.sent if m.chat_id == chat]


def topic_of(forum, ticket: int) -> int:
    (topic,) = [t for (chat, t), name in forum.bot.topics.items()
                if chat == STAFF and name.startswith(f"#{ticket} ")]
    return topic


def member_writes(forum, topic: int, text: str, user: dict = BORIS) -> None:
    forum.bot.topic_message(STAFF, topic, text, user=user)
    forum.cli("run", "--once")


def show(forum, thread: int) -> dict:
    return json.loads(forum.cli("show", str(thread), "--json").output)


def test_a_new_thread_gets_a_topic_in_the_staff_group_and_its_notification_lands_there(forum):
    customer_writes(forum, 501, "Марат", "Не могу войти в личный кабинет")
    topic = topic_of(forum, 1)
    assert forum.bot.topics == {(STAFF, topic): "#1 Не могу войти в личный кабинет"}
    (note,) = forum.bot.sent
    assert (note.chat_id, note.message_thread_id) == (STAFF, topic)
    assert note.text.startswith("[#1] New thread for team staff, not assigned: manual team:"
                                " members are told\nFrom: Марат · telegram · ru\n")
    assert "Не могу войти в личный кабинет" in note.text
    assert "Write in this topic to answer the customer" in note.text
    assert note.reply_markup == {"inline_keyboard": [[
        {"text": "Take", "callback_data": "take:1"},
        {"text": "Close", "callback_data": "close:1"}]]}
    customer_writes(forum, 501, "Марат", "Алло?")
    assert len(forum.bot.topics) == 1  # the same thread keeps its topic
    assert in_topic(forum, topic)[-1].text.startswith("[#1] Марат wrote again")
    assert sent_to(forum, 777) == [] and sent_to(forum, 888) == []  # not the members' chats


def test_notifications_queued_before_the_topic_exists_wait_for_it_and_land_in_it(forum):
    user = {"id": 501, "is_bot": False, "first_name": "Марат", "language_code": "ru"}
    forum.bot.user_message(501, "Не могу войти", user=user)
    forum.bot.user_message(501, "Пишет: неверный пароль", user=user)
    forum.cli("run", "--once")
    topic = topic_of(forum, 1)
    assert [m.text.partition("\n")[0] for m in in_topic(forum, topic)] == [
        "[#1] New thread for team staff, not assigned: manual team: members are told",
        "[#1] Марат wrote again"]
    assert len(forum.bot.sent) == 2


def test_when_the_topic_cannot_be_created_the_notification_still_reaches_the_group(forum):
    forum.bot.fail_next("createForumTopic", 400)
    customer_writes(forum, 501, "Марат", "Не могу войти")
    assert forum.bot.topics == {}
    (note,) = sent_to(forum, STAFF)
    assert note.message_thread_id is None
    assert note.text.startswith("[#1] New thread for team staff")
    customer_writes(forum, 501, "Марат", "Алло?")  # the next one asks for a topic again
    assert in_topic(forum, topic_of(forum, 1))[0].text.startswith("[#1] Марат wrote again")


def test_a_deleted_topic_is_made_again_and_the_notification_lands_in_the_new_one(forum):
    customer_writes(forum, 501, "Марат", "Не могу войти")
    old = topic_of(forum, 1)
    del forum.bot.topics[(STAFF, old)]  # a member deleted the topic in Telegram
    customer_writes(forum, 501, "Марат", "Почему мне никто не отвечает?")
    forum.cli("run", "--once")
    new = topic_of(forum, 1)
    assert new != old
    assert in_topic(forum, new)[-1].text.startswith("[#1] Марат wrote again")
    customer_writes(forum, 501, "Марат", "Алло?")
    assert in_topic(forum, new)[-1].text.startswith("[#1] Марат wrote again")
    assert len(forum.bot.topics) == 1


def test_a_file_waiting_for_a_deleted_topic_lands_in_the_new_one_with_its_notification(forum):
    customer_writes(forum, 501, "Марат", "Не могу войти")
    del forum.bot.topics[(STAFF, topic_of(forum, 1))]
    file_id = forum.bot.add_file("scan", b"%PDF-1.4 scan")
    forum.bot.user_message(501, user={"id": 501, "is_bot": False, "first_name": "Марат"},
                           caption="Вот справка",
                           document=forum.bot.file_meta(file_id, file_name="справка.pdf",
                                                        mime_type="application/pdf"))
    forum.cli("run", "--once")
    forum.cli("run", "--once")
    note, document = in_topic(forum, topic_of(forum, 1))[-2:]
    assert note.text.startswith("[#1] Марат wrote again")
    assert [(f.filename, f.data) for f in document.files] == [("справка.pdf", b"%PDF-1.4 scan")]


def test_news_for_several_members_lands_once_in_the_topic(forum):
    customer_writes(forum, 501, "Марат", "Не могу войти")
    store = Store(load_config(forum.config).store.path)
    Notifier(store, load_config(forum.config)).tell_all(
        ["boris", "aigerim"], 1, "SLA warning: first response is due Mon 09:00")
    store.close()
    forum.cli("run", "--once")
    warned = [m for m in in_topic(forum, topic_of(forum, 1)) if "SLA warning" in m.text]
    assert [m.text.partition("\n")[0] for m in warned] == [
        "[#1] SLA warning: first response is due Mon 09:00"]


def test_a_member_writing_in_the_topic_answers_the_customer_in_their_chat(forum):
    customer_writes(forum, 501, "Марат", "Не могу войти в личный кабинет")
    topic = topic_of(forum, 1)
    member_writes(forum, topic, "Сбросили пароль, попробуйте снова.")
    (answer,) = sent_to(forum, 501)
    assert answer.text == "Сбросили пароль, попробуйте снова."
    assert in_topic(forum, topic)[-1].text == "Queued for Марат (#1)."
    assert [(m["direction"], m["sender"]) for m in show(forum, 1)["messages"]] == [
        ("in", "Марат <501>"), ("out", "boris")]


def test_a_linked_member_answers_and_commands_without_a_number_act_on_the_topics_thread(
        forum):
    linked = json.loads(forum.cli("agents", "link", "aigerim", "--json").output)
    forum.bot.user_message(888, linked["command"], user=AIGERIM)
    customer_writes(forum, 501, "Марат", "Не могу войти")
    topic = topic_of(forum, 1)
    member_writes(forum, topic, "/take", user=AIGERIM)
    assert show(forum, 1)["agent"] == "aigerim"
    member_writes(forum, topic, "#close\nГотово, пароль сброшен.", user=AIGERIM)
    assert sent_to(forum, 501)[-1].text == "Готово, пароль сброшен."
    assert show(forum, 1)["status"] == "closed"
    assert [m.text for m in in_topic(forum, topic)][-2:] == [
        "#1 taken.", "#1 closed (reply queued)."]


def test_a_colleague_answering_in_the_topic_is_not_echoed_back_into_it(forum):
    linked = json.loads(forum.cli("agents", "link", "aigerim", "--json").output)
    forum.bot.user_message(888, linked["command"], user=AIGERIM)
    customer_writes(forum, 501, "Марат", "Не могу войти")
    topic = topic_of(forum, 1)
    member_writes(forum, topic, "Сбросили пароль.")  # Boris answers first: his thread now
    assert show(forum, 1)["agent"] == "boris"
    member_writes(forum, topic, "И проверьте почту.", user=AIGERIM)
    assert [m.text for m in in_topic(forum, topic)][-1] == "Queued for Марат (#1)."
    assert not [m for m in forum.bot.sent if "answered your thread" in m.text]


def test_a_second_customer_thread_gets_its_own_topic(forum):
    customer_writes(forum, 501, "Марат", "Не могу войти")
    customer_writes(forum, 502, "Дана", "Где расписание?")
    first, second = topic_of(forum, 1), topic_of(forum, 2)
    assert first != second
    assert in_topic(forum, second)[0].text.startswith("[#2] New thread for team staff")
    member_writes(forum, second, "Расписание на сайте.")
    assert sent_to(forum, 502)[-1].text == "Расписание на сайте."
    assert sent_to(forum, 501) == []


def test_a_strangers_message_in_the_topic_is_not_relayed_nor_filed(forum):
    customer_writes(forum, 501, "Марат", "Не могу войти")
    topic = topic_of(forum, 1)
    before = len(forum.bot.sent)
    member_writes(forum, topic, "Оплатите на карту 4400 0000 0000 0000", user=STRANGER)
    assert sent_to(forum, 501) == []
    assert len(forum.bot.sent) == before  # not even an answer in the group
    assert len(show(forum, 1)["messages"]) == 1
    assert [t["id"] for t in json.loads(forum.cli("threads", "--json").output)] == [1]


def test_hash_note_in_the_topic_stays_internal(forum):
    customer_writes(forum, 501, "Марат", "Не могу войти")
    topic = topic_of(forum, 1)
    member_writes(forum, topic, "#note позвонить родителям")
    assert sent_to(forum, 501) == []
    assert show(forum, 1)["messages"][-1]["direction"] == "note"
    assert in_topic(forum, topic)[-1].text == "Note added to #1."


def test_a_telegram_group_team_needs_its_groups_chat_id(forum):
    forum.write(FORUM_TOML.replace("telegram_group = {staff}\n", "")
                .replace("{staff}", str(STAFF)), 'default_team = "staff"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(forum.config)
    assert 'inbox.toml: teams 1 "staff": client = "telegram-group" needs telegram_group =' \
           " <the forum group's chat id, e.g. -1001234567890>" in raised.value.problems


def test_a_staff_group_the_bot_was_removed_from_makes_status_unhealthy(forum):
    forum.bot.block(STAFF)  # Telegram answers 403 to a bot no longer in the group
    customer_writes(forum, 501, "Марат", "Не могу войти")
    status = forum.cli("status", ok=False)
    assert status.exit_code == 1
    assert "notifications to the staff group of team staff have failed since" in status.output
    assert "(the bot is not in the group: add it back)" in status.output
