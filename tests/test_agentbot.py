"""Agents on Telegram through `inbox run --once`: linking, notifications, replies, commands.

Customers write to the school's Maildir; the desk's bot is the Bot API test server.
Boris links his Telegram account (user 777) with a one-time code; Aigerim's
telegram_id is configured.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.botapi import TOKEN
from tests.conftest import SCHOOL_TOML, mail
from tests.test_agentmail import ROUTING, body, to_customer
from tests.test_care import mail_with_file

BOT_TOML = SCHOOL_TOML + """

[[telegram]]
name = "desk-bot"
token_env = "TEST_BOT_TOKEN"
api_url = "{api}/bot"
file_url = "{files}"

[desk]
templates_dir = "{dir}/templates"

[[agents]]
id = "boris"
name = "Boris"
client = "telegram"

[[agents]]
id = "aigerim"
name = "Aigerim"
client = "telegram"
telegram_id = 888

[[teams]]
name = "support"
members = ["boris", "aigerim"]
strategy = "round_robin"
"""

BORIS = 777


@pytest.fixture
def bot_desk(school, botapi, monkeypatch):
    monkeypatch.setenv("TEST_BOT_TOKEN", TOKEN)
    templates = school.root / "templates"
    templates.mkdir()
    (templates / "hello.toml").write_text(
        '[hello]\nru = "Здравствуйте, {customer_name}!"\nen = "Hello {customer_name}!"\n')
    school.write(BOT_TOML.replace("{api}", botapi.url).replace("{files}", botapi.file_url),
                 ROUTING)
    school.bot = botapi
    return school


def link_boris(desk) -> None:
    linked = json.loads(desk.cli("agents", "link", "boris", "--json").output)
    desk.bot.user_message(BORIS, linked["command"])
    desk.cli("run", "--once")


def sent_to(desk, chat: int):
    return [m for m in desk.bot.sent if m.chat_id == chat]


def notified(desk):
    """Boris is linked and notified of Olga's mail; returns the notification."""
    link_boris(desk)
    desk.deliver(mail())
    desk.cli("run", "--once")
    return sent_to(desk, BORIS)[-1]


def as_replied_to(desk, notification) -> dict:
    """The bot's message as Telegram puts it in a reply: text, or a file with its caption."""
    original = {"message_id": notification.message_id, "date": 0, "from": desk.bot.bot_user,
                "chat": {"id": BORIS, "type": "private"}}
    if notification.files:
        original.update(caption=notification.text,
                        document={"file_id": "sent", "file_unique_id": "u-sent"})
    else:
        original["text"] = notification.text
    return original


def reply_to(desk, notification, text: str) -> None:
    """Boris answers with Telegram's reply to ``notification``."""
    original = as_replied_to(desk, notification)
    desk.bot.user_message(BORIS, text, reply_to_message=original)
    desk.cli("run", "--once")


def show(desk, thread: int) -> dict:
    return json.loads(desk.cli("show", str(thread), "--json").output)


def test_link_prints_a_one_time_deep_link_with_the_bots_name(bot_desk):
    linked = json.loads(bot_desk.cli("agents", "link", "boris", "--json").output)
    code = linked["code"]
    assert linked["bot"] == "@school_inbox_test_bot"
    assert linked["link"] == f"https://t.me/school_inbox_test_bot?start=link-{code}"
    assert linked["command"] == f"/start link-{code}"
    text = bot_desk.cli("agents", "link", "boris").output
    assert "  open https://t.me/school_inbox_test_bot?start=link-" in text


def test_link_gives_the_code_when_the_admins_shell_cannot_read_the_bots_token(
        bot_desk, monkeypatch):
    monkeypatch.delenv("TEST_BOT_TOKEN")
    result = bot_desk.cli("agents", "link", "boris", "--json")
    linked = json.loads(result.stdout)
    assert (linked["bot"], linked["link"]) == (None, None)
    assert linked["command"] == f"/start link-{linked['code']}"
    assert "TEST_BOT_TOKEN" in result.stderr


def test_a_colleagues_code_from_an_agents_own_account_links_nobody(bot_desk):
    linked = json.loads(bot_desk.cli("agents", "link", "boris", "--json").output)
    bot_desk.bot.user_message(BORIS, linked["command"])
    hers = json.loads(bot_desk.cli("agents", "link", "aigerim", "--json").output)
    bot_desk.bot.user_message(BORIS, hers["command"])  # Boris tries Aigerim's code
    bot_desk.cli("run", "--once")
    agents = json.loads(bot_desk.cli("agents", "list", "--json").output)
    assert [(a["id"], a["telegram"]) for a in agents] == [("boris", "777"), ("aigerim", "888")]
    refused = sent_to(bot_desk, BORIS)[-1].text
    assert refused == ("Not done: this Telegram account is already boris's. That code links"
                       " aigerim's own account, and stays valid for it.")
    bot_desk.bot.user_message(888, hers["command"])  # still good for her
    bot_desk.cli("run", "--once")
    assert sent_to(bot_desk, 888)[-1].text.startswith("Linked: you are Aigerim (aigerim)")


def test_linking_an_agent_whose_client_is_not_telegram_says_where_notifications_go(bot_desk):
    bot_desk.write(bot_desk.config.read_text().replace(
        'id = "boris"\nname = "Boris"\nclient = "telegram"', 'id = "boris"\nname = "Boris"'))
    result = bot_desk.cli("agents", "link", "boris", "--json")
    assert 'boris has client = "cli"' in result.stderr
    bot_desk.bot.user_message(BORIS, json.loads(result.stdout)["command"])
    bot_desk.cli("run", "--once")
    (welcome,) = sent_to(bot_desk, BORIS)
    assert "Notifications come here" not in welcome.text
    assert ('Notifications still go nowhere: you read inbox threads (client = "cli" in'
            ' inbox.toml); ask the admin for client = "telegram" to get them here.'
            ) in welcome.text


def test_start_with_the_code_links_the_sender_once(bot_desk):
    linked = json.loads(bot_desk.cli("agents", "link", "boris", "--json").output)
    bot_desk.bot.user_message(BORIS, linked["command"])
    bot_desk.cli("run", "--once")
    (welcome,) = sent_to(bot_desk, BORIS)
    assert welcome.text.startswith("Linked: you are Boris (boris) at Test School."
                                   " Notifications come here.")
    agents = json.loads(bot_desk.cli("agents", "list", "--json").output)
    assert [(a["id"], a["telegram"]) for a in agents] == [("boris", "777"), ("aigerim", "888")]
    # The same code from someone else links nobody: it is just a customer's message.
    bot_desk.bot.user_message(555, linked["command"])
    bot_desk.cli("run", "--once")
    agents = json.loads(bot_desk.cli("agents", "list", "--json").output)
    assert agents[0]["telegram"] == "777"


def test_linking_lists_the_threads_notified_before_the_link(bot_desk):
    bot_desk.deliver(mail())
    bot_desk.cli("run", "--once")  # assigned to Boris, who is not linked yet: told nowhere
    link_boris(bot_desk)
    (welcome,) = sent_to(bot_desk, BORIS)
    assert "Yours:\n#1 open · Ольга · Оплата за декабрь" in welcome.text


def test_the_customers_file_follows_the_notification_in_the_agents_chat(bot_desk):
    link_boris(bot_desk)
    bot_desk.deliver(mail_with_file("f1@mail.example", "olga@mail.example", "scan.pdf",
                                    b"%PDF-1.4 scan"))
    bot_desk.cli("run", "--once")
    note, document = sent_to(bot_desk, BORIS)[-2:]
    assert note.text.startswith("[#1] New thread for you") and note.reply_markup
    assert document.method == "sendDocument"
    assert [(f.filename, f.data) for f in document.files] == [("scan.pdf", b"%PDF-1.4 scan")]
    assert document.text == "[#1] scan.pdf"  # whose it is: answering the file answers #1
    reply_to(bot_desk, document, "Справку получили, спасибо")
    assert body(to_customer(bot_desk)[-1]).strip() == "Справку получили, спасибо"


def test_a_caption_alone_does_not_steer_an_answer_to_its_thread(bot_desk):
    notified(bot_desk)
    forged = {"message_id": 9999, "date": 0, "from": bot_desk.bot.bot_user,
              "chat": {"id": BORIS, "type": "private"}, "caption": "[#1] old.pdf",
              "document": {"file_id": "old", "file_unique_id": "u-old"}}
    bot_desk.bot.user_message(BORIS, "Это ответ?", reply_to_message=forged)
    bot_desk.cli("run", "--once")  # no notification about #1 just before message 9999
    assert to_customer(bot_desk) == []
    assert sent_to(bot_desk, BORIS)[-1].text.startswith(
        "Not done: that message is not a notification about a thread")


@pytest.mark.parametrize("status", [400, 502])
def test_a_file_telegram_refuses_leaves_the_notification_delivered_and_answerable(bot_desk,
                                                                                  status):
    link_boris(bot_desk)
    bot_desk.bot.fail_next("sendDocument", status, count=20)
    bot_desk.deliver(mail_with_file("f1@mail.example", "olga@mail.example", "scan.pdf",
                                    b"%PDF-1.4 scan"))
    bot_desk.cli("run", "--once")
    note = sent_to(bot_desk, BORIS)[-1]
    assert note.text.startswith("[#1] New thread for you")
    assert bot_desk.cli("status", ok=False).exit_code == 0  # nothing failed for good
    reply_to(bot_desk, note, "Справку получили, спасибо")
    assert body(to_customer(bot_desk)[-1]).strip() == "Справку получили, спасибо"


def test_notification_arrives_with_ticket_text_and_buttons(bot_desk):
    note = notified(bot_desk)
    assert note.text.startswith("[#1] New thread for you\nFrom: Ольга · email · ru\n")
    assert "Как оплатить обучение?" in note.text
    assert "/take 1 · /close 1" in note.text
    assert note.reply_markup == {"inline_keyboard": [[
        {"text": "Take", "callback_data": "take:1"},
        {"text": "Close", "callback_data": "close:1"},
        {"text": "Templates", "callback_data": "templates:1"}]]}
    assert sent_to(bot_desk, 888) == []  # the thread is Boris's


def test_a_telegram_reply_to_the_notification_reaches_the_customer_by_email(bot_desk):
    note = notified(bot_desk)
    reply_to(bot_desk, note, "Ссылка на оплату: pay.example/1")
    (answer,) = to_customer(bot_desk)
    assert answer["In-Reply-To"] == "<m1@mail.example>"
    assert body(answer).strip() == "Ссылка на оплату: pay.example/1"
    assert sent_to(bot_desk, BORIS)[-1].text == "Queued for Ольга (#1)."
    events = [m["direction"] for m in show(bot_desk, 1)["messages"]]
    assert events == ["in", "out"]


def test_the_bot_says_a_reply_is_queued_not_sent_and_then_if_it_could_not_be_delivered(
        bot_desk):
    link_boris(bot_desk)
    bot_desk.bot.user_message(501, "Не могу войти", user={"id": 501, "is_bot": False,
                                                           "first_name": "Марат"})
    bot_desk.cli("run", "--once")
    bot_desk.bot.block(501)
    reply_to(bot_desk, sent_to(bot_desk, BORIS)[-1], "Сбросили пароль")
    assert [m.text.splitlines()[0] for m in sent_to(bot_desk, BORIS)[-2:]] == [
        "Queued for Марат (#1).",
        "[#1] Your reply could not be delivered: Forbidden: bot was blocked by the user"]


def test_hash_note_in_a_telegram_reply_stays_internal(bot_desk):
    note = notified(bot_desk)
    reply_to(bot_desk, note, "#note позвонить маме")
    assert to_customer(bot_desk) == []
    assert show(bot_desk, 1)["messages"][-1]["direction"] == "note"


def test_a_mistyped_command_in_a_telegram_reply_sends_nothing_and_says_why(bot_desk):
    note = notified(bot_desk)
    reply_to(bot_desk, note, "#notes отец должен за 3 месяца")
    assert to_customer(bot_desk) == []
    assert sent_to(bot_desk, BORIS)[-1].text.startswith(
        "Not done: #notes is not a command, so nothing was sent.")


def reply_with_file(desk, notification, caption: str, size: int) -> None:
    original = as_replied_to(desk, notification)
    file_id = desk.bot.add_file(f"f{size}", b"%PDF" + b"x" * (size - 4))
    document = desk.bot.file_meta(file_id, file_name="scan.pdf", mime_type="application/pdf")
    desk.bot.user_message(BORIS, reply_to_message=original, document=document,
                          **({"caption": caption} if caption else {}))
    desk.cli("run", "--once")


def test_a_file_too_big_for_the_bot_refuses_the_reply_and_says_so(bot_desk):
    bot_desk.write(bot_desk.config.read_text().replace(
        'file_url = "', 'max_attachment_mb = 0.001\nfile_url = "'), ROUTING)
    reply_with_file(bot_desk, notified(bot_desk), "Большой файл", 5000)
    assert to_customer(bot_desk) == []
    assert [m["direction"] for m in show(bot_desk, 1)["messages"]] == ["in"]
    assert sent_to(bot_desk, BORIS)[-1].text == (
        "Not done: scan.pdf (5 KB): too big for this channel, so nothing was done; send a"
        " smaller file, or a link to it")


def test_a_file_sent_without_a_caption_reaches_the_customer_without_our_placeholder(bot_desk):
    reply_with_file(bot_desk, notified(bot_desk), "", 900)
    bot_desk.cli("run", "--once")
    (answer,) = to_customer(bot_desk)
    assert "[document" not in body(answer)
    assert [p.get_filename() for p in answer.walk() if p.get_filename()] == ["scan.pdf"]


def test_a_hash_note_from_telegram_keeps_its_file(bot_desk):
    reply_with_file(bot_desk, notified(bot_desk), "#note скрин для коллег", 900)
    note = show(bot_desk, 1)["messages"][-1]
    assert (note["direction"], note["text"]) == ("note", "скрин для коллег")
    assert [(a["filename"], a["size"]) for a in note["attachments"]] == [("scan.pdf", 900)]
    assert to_customer(bot_desk) == []


def test_a_second_member_of_a_customers_group_is_told_as_writing_in_the_group(bot_desk):
    bot_desk.write(bot_desk.config.read_text().replace(
        'file_url = "', 'groups = true\nfile_url = "'), ROUTING)
    link_boris(bot_desk)
    for user_id, text in ((601, "Вопрос про экскурсию"), (602, "И я хочу знать")):
        bot_desk.bot.user_message(-100555, text, chat_type="supergroup", user={
            "id": user_id, "is_bot": False, "first_name": f"Родитель {user_id}"})
        bot_desk.cli("run", "--once")
    told = [m.text.partition("\n")[0] for m in bot_desk.bot.sent if m.chat_id in (777, 888)]
    assert told[-1] == "[#1] Родитель 602 wrote in the group"


def test_slash_commands_act_on_the_numbered_thread(bot_desk):
    notified(bot_desk)
    for command in ("/note 1 ждём квитанцию", "/assign 1 aigerim", "/close 1"):
        bot_desk.bot.user_message(BORIS, command)
    bot_desk.cli("run", "--once")
    thread = show(bot_desk, 1)
    assert (thread["agent"], thread["status"]) == ("aigerim", "closed")
    assert {m.text for m in sent_to(bot_desk, BORIS)[-3:]} == {
        "Note added to #1.", "#1 assigned to aigerim.", "#1 closed."}
    assert sent_to(bot_desk, 888)[-1].text.startswith("[#1] boris assigned this thread to you")
    bot_desk.bot.user_message(BORIS, "/threads")
    bot_desk.bot.user_message(BORIS, "/reopen 1")
    bot_desk.cli("run", "--once")
    # Telegram's per-chat rate limit (429 retry_after) holds the answers back, in order.
    for _ in range(5):
        if sent_to(bot_desk, BORIS)[-1].text == "#1 reopened.":
            break
        time.sleep(1)
        bot_desk.cli("run", "--once")
    assert [m.text for m in sent_to(bot_desk, BORIS)[-2:]] == ["Yours:\n(none)", "#1 reopened."]
    assert show(bot_desk, 1)["status"] == "open"


def test_buttons_take_and_send_a_template_in_the_threads_language(bot_desk):
    note = notified(bot_desk)
    bot_desk.bot.callback_query(888, "take:1", message_id=1)
    bot_desk.cli("run", "--once")
    assert show(bot_desk, 1)["agent"] == "aigerim"
    assert sent_to(bot_desk, BORIS)[-1].text.startswith("[#1] aigerim took this thread\n")
    time.sleep(1.1)  # Telegram's one message a second to a chat: that notice went just now
    bot_desk.bot.callback_query(BORIS, "templates:1", message_id=note.message_id)
    bot_desk.cli("run", "--once")
    offer = sent_to(bot_desk, BORIS)[-1]
    assert offer.reply_markup == {"inline_keyboard": [[
        {"text": "hello", "callback_data": "t:1:hello"}]]}
    bot_desk.bot.callback_query(BORIS, "t:1:hello", message_id=offer.message_id)
    bot_desk.cli("run", "--once")
    (answer,) = to_customer(bot_desk)
    assert body(answer).strip() == "Здравствуйте, Ольга!"
    assert len(bot_desk.bot.answered) == 3  # every button's spinner was stopped


def test_second_agent_answering_at_once_is_told_and_still_sent(bot_desk):
    note = notified(bot_desk)
    bot_desk.cli("reply", "1", "--as", "aigerim", "-m", "Сейчас проверю.")
    reply_to(bot_desk, note, "Ссылка на оплату: pay.example/1")
    assert len(to_customer(bot_desk)) == 2
    told = [m.text for m in sent_to(bot_desk, BORIS)]
    (collision,) = [t for t in told if t.startswith(
        "[#1] aigerim also answered #1 a moment ago; yours goes out too")]
    assert "aigerim wrote:\nСейчас проверю." in collision  # what the customer got from her


def test_commands_from_an_unlinked_user_are_a_customers_message(bot_desk):
    notified(bot_desk)
    bot_desk.bot.user_message(555, "/close 1")
    bot_desk.cli("run", "--once")
    assert show(bot_desk, 1)["status"] == "open"
    assert show(bot_desk, 2)["messages"][0]["text"] == "/close 1"


def test_a_plain_message_that_is_no_reply_gets_help_not_relayed(bot_desk):
    notified(bot_desk)
    bot_desk.bot.user_message(BORIS, "Привет")
    bot_desk.cli("run", "--once")
    assert to_customer(bot_desk) == []
    assert sent_to(bot_desk, BORIS)[-1].text.startswith(
        "Not done: to answer a customer, reply to their notification.")


def test_delivery_failure_of_a_reply_tells_the_agent_urgently(bot_desk):
    bot_desk.bot.user_message(501, "Не могу войти", user={"id": 501, "is_bot": False,
                                                           "first_name": "Марат"})
    link_boris(bot_desk)
    bot_desk.bot.block(501)
    bot_desk.cli("reply", "1", "--as", "boris", "-m", "Сбросили пароль")
    bot_desk.cli("run", "--once")
    told = sent_to(bot_desk, BORIS)[-1].text
    assert told.startswith("[#1] Your reply could not be delivered: Forbidden: bot was blocked"
                           " by the user\nThe customer has blocked the bot")


def boris_blocks_the_bot_and_is_handed_a_thread(desk) -> None:
    link_boris(desk)
    desk.bot.block(BORIS)
    desk.bot.user_message(501, "Не могу войти", user={"id": 501, "is_bot": False,
                                                       "first_name": "Марат"})
    desk.cli("run", "--once")
    desk.cli("assign", "1", "boris")
    desk.cli("run", "--once")


def test_an_agent_who_blocked_the_bot_makes_status_unhealthy_until_a_notice_reaches_them(
        bot_desk):
    boris_blocks_the_bot_and_is_handed_a_thread(bot_desk)
    status = bot_desk.cli("status", ok=False)
    assert status.exit_code == 1
    assert ("telegram 'desk-bot': notifications to agent boris have failed since"
            in status.output)
    assert "(they blocked the bot: ask them to open it and press Start)" in status.output
    # The customer did not block anything: a survey or reply to Марат still goes out.
    bot_desk.cli("export-contact", str(show(bot_desk, 1)["contact_id"]),
                 "-o", str(bot_desk.root / "marat"))
    exported = json.loads((bot_desk.root / "marat" / "contact.json").read_text())
    assert exported["contact"]["unreachable"] == 0
    bot_desk.bot.unblock(BORIS)
    bot_desk.bot.user_message(501, "Всё ещё не могу", user={"id": 501, "is_bot": False,
                                                             "first_name": "Марат"})
    bot_desk.cli("run", "--once")
    assert sent_to(bot_desk, BORIS)[-1].text.startswith("[#1]")
    assert "notifications to" not in bot_desk.cli("status", ok=False).output


def test_an_agent_who_pressed_start_again_or_left_is_no_longer_a_problem(bot_desk):
    boris_blocks_the_bot_and_is_handed_a_thread(bot_desk)
    assert "notifications to agent boris" in bot_desk.cli("status", ok=False).output
    bot_desk.bot.unblock(BORIS)
    bot_desk.bot.user_message(BORIS, "/start")
    bot_desk.cli("run", "--once")
    assert "notifications to agent boris" not in bot_desk.cli("status", ok=False).output
    bot_desk.bot.block(BORIS)
    bot_desk.cli("assign", "1", "aigerim")
    bot_desk.cli("assign", "1", "boris")
    bot_desk.cli("run", "--once")
    assert "notifications to agent boris" in bot_desk.cli("status", ok=False).output
    bot_desk.write(bot_desk.config.read_text().replace('members = ["boris", "aigerim"]',
                                                       'members = ["aigerim"]').replace(
        '[[agents]]\nid = "boris"\nname = "Boris"\nclient = "telegram"\n', ""),
        'default_team = "support"\n')
    left = bot_desk.cli("status", ok=False).output
    assert left.startswith("school-inbox:") and "notifications to" not in left  # Boris left


def test_a_forwarded_message_and_the_message_a_customer_answers_are_told_to_the_agent(
        bot_desk):
    link_boris(bot_desk)
    parent = {"id": 601, "is_bot": False, "first_name": "Айгуль"}
    bot_desk.bot.user_message(601, "Завтра экскурсия, взнос 5000", user=parent, forward_origin={
        "type": "hidden_user", "sender_user_name": "Мария Ивановна", "date": 1763800000})
    bot_desk.cli("run", "--once")
    (told,) = [m for m in bot_desk.bot.sent if m.chat_id in (777, 888) and "[#1]" in m.text]
    assert told.text.startswith(
        "[#1] New thread for you (forwarded from Мария Ивановна)\n")
    bot_desk.cli("reply", "1", "--as", "boris", "-m", "Взнос до пятницы.\nРебёнок едет?")
    bot_desk.cli("run", "--once")
    (answer,) = sent_to(bot_desk, 601)
    bot_desk.bot.user_message(601, "Да", user=parent, reply_to_message={
        "message_id": answer.message_id, "date": 0, "from": bot_desk.bot.bot_user,
        "chat": {"id": 601, "type": "private"}, "text": answer.text})
    bot_desk.cli("run", "--once")
    told = [m for m in bot_desk.bot.sent if m.chat_id in (777, 888)][-1]
    assert told.text.startswith("[#1] Айгуль wrote again\n")
    assert "\n\n> Взнос до пятницы. Ребёнок едет?\nДа\n" in told.text
