"""Agents answering from their own mail client, through `inbox run --once` on a Maildir school.

The school's Maildir channel is the desk's email channel: notifications to agents
and replies to customers land in its outbox Maildir (``school.sent``), agents'
replies are delivered into its inbox like any mail.
"""

from __future__ import annotations

import email
import email.header
import json
from email.message import Message

import pytest

from inbox.config import load_config
from inbox.notify import Desk
from inbox.store import NotFound, Store, iso
from tests.conftest import SCHOOL_TOML, mail, mailbox_read_first

DESK_TOML = SCHOOL_TOML + """

[desk]
secret_file = "{dir}/desk-secret"
templates_dir = "{dir}/templates"

[[agents]]
id = "boris"
name = "Boris"
client = "email"
email = "boris@staff.example"

[[agents]]
id = "aigerim"
name = "Aigerim"
client = "email"
email = "aigerim@staff.example"

[[teams]]
name = "support"
members = ["boris", "aigerim"]
strategy = "round_robin"
"""

ROUTING = """\
default_team = "support"

[[rules]]
name = "Everything to Boris"
[rules.then]
team = "support"
agent = "boris"
"""


@pytest.fixture
def desk(school):
    (school.root / "desk-secret").write_text("a-long-random-key-for-tests\n")
    templates = school.root / "templates"
    templates.mkdir()
    (templates / "hello.ru.txt").write_text(
        "Здравствуйте, {customer_name}! Обращение №{ticket}. {agent_name}, {school_name}")
    (templates / "hello.en.txt").write_text(
        "Hello {customer_name}! Ticket {ticket}. {agent_name}, {school_name}")
    school.write(DESK_TOML, ROUTING)
    return school


def sent(school) -> list[Message]:
    """Everything the Maildir channel sent, oldest first."""
    if not (school.sent / "new").is_dir():
        return []
    files = sorted((school.sent / "new").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    return [email.message_from_bytes(p.read_bytes()) for p in files]


def header(msg: Message, name: str) -> str:
    return str(email.header.make_header(email.header.decode_header(msg[name] or "")))


def body(msg: Message) -> str:
    part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode().replace("\r\n", "\n")


def to_customer(school) -> list[Message]:
    return [m for m in sent(school) if m["To"] == "olga@mail.example"]


def notifications(school, address: str) -> list[Message]:
    return [m for m in sent(school) if m["To"] == address]


def reply_address(school, ticket: int, agent: str) -> str:
    """The address the desk gives ``agent`` for ``ticket`` (a ticket that does not exist gets
    the first form, which no thread numbered since migration 15 takes)."""
    config = load_config(school.config)
    store = Store(config.store.path)
    try:
        opened = iso(store.thread(ticket).created_at)
    except NotFound:
        opened = ""
    finally:
        store.close()
    return Desk.of(config).reply_address(ticket, agent, opened)


def agent_mail(to: str, text: str, *, sender: str = "Boris <boris@staff.example>",
               message_id: str = "r1@staff.example", extra: str = "") -> bytes:
    """A reply written in the agent's mail client: new text, the quoted notification, signature."""
    quoted = "\r\n".join([
        text, "", "-- ", "Boris Petrov, +7 700 000 00 00", "",
        "On Fri, 20 Nov 2026 at 09:01, Test School <support@school.example> wrote:",
        "> [#1] New thread for you", "> Как оплатить обучение?",
    ])
    return mail(subject="Re: [#1] Оплата за декабрь", body=quoted, sender=sender,
                message_id=message_id, extra=extra).replace(
        b"To: support@school.example", f"To: {to}".encode())


def show(school, thread: int) -> dict:
    return json.loads(school.cli("show", str(thread), "--json").output)


def test_notification_mail_comes_from_the_school_with_a_reply_token_and_the_ticket(desk):
    desk.deliver(mail(extra="Content-Language: ru\r\n"))
    desk.cli("run", "--once")
    (note,) = notifications(desk, "boris@staff.example")
    assert note["From"] == "Test School <support@school.example>"
    assert note["Reply-To"] == reply_address(desk, 1, "boris")
    assert note["Reply-To"].startswith("support+t1.")
    assert header(note, "Subject") == "[#1] Оплата за декабрь — New thread for you"
    assert note["Auto-Submitted"] == "auto-replied"
    text = body(note)
    assert text.startswith("[#1] New thread for you\nFrom: Ольга · email · ru\n"
                           "Subject: Оплата за декабрь\n")
    assert "Как оплатить обучение?" in text
    assert "#note TEXT      internal note, never sent" in text
    assert notifications(desk, "aigerim@staff.example") == []


def test_agent_reply_reaches_the_customer_threaded_without_quotes_signature_or_agent_address(
        desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), "Ссылка на оплату: pay.example/1"))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    assert answer["From"] == "Test School <support@school.example>"
    assert answer["In-Reply-To"] == "<m1@mail.example>"
    assert header(answer, "Subject") == "Re: Оплата за декабрь [#1]"
    assert body(answer).strip() == "Ссылка на оплату: pay.example/1"
    assert "staff.example" not in answer.as_string()
    thread = show(desk, 1)
    assert [(m["direction"], m["sender"]) for m in thread["messages"]] == [
        ("in", "Ольга <olga@mail.example>"), ("out", "boris")]


def test_the_same_agent_mail_delivered_twice_is_sent_once(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    reply = agent_mail(reply_address(desk, 1, "boris"), "Готово.")
    desk.deliver(reply)
    desk.cli("run", "--once")
    desk.deliver(reply)
    desk.cli("run", "--once")
    assert len(to_customer(desk)) == 1
    assert len(show(desk, 1)["messages"]) == 2


def agent_mail_with_pdf(school, text: str) -> bytes:
    return (
        "From: Boris <boris@staff.example>\r\n"
        f"To: {reply_address(school, 1, 'boris')}\r\nSubject: Re: [#1] Оплата\r\n"
        "Message-ID: <r2@staff.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        "--b\r\nContent-Type: application/pdf\r\n"
        'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n").encode()


def test_agent_attachments_go_to_the_customer(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail_with_pdf(desk, "Счёт во вложении."))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    files = [(p.get_filename(), p.get_payload(decode=True)) for p in answer.walk()
             if p.get_filename()]
    assert files == [("invoice.pdf", b"%PDF-1.4\n")]


def agent_mail_inline(school, subtype: str, body_part: str,
                      files: list[tuple[str, str, bytes, str]]) -> bytes:
    """Boris's answer as a client writes it with files shown inline: (type, name, bytes,
    Content-ID) each, after the body part (``Content-Type: …`` line, blank line, text)."""
    import base64

    parts = "".join(
        f"--b\r\nContent-Type: {kind}\r\n" + (f"Content-ID: <{cid}>\r\n" if cid else "")
        + f"Content-Disposition: inline; filename=\"{name}\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(data).decode()}\r\n"
        for kind, name, data, cid in files)
    return ("From: Boris <boris@staff.example>\r\n"
            f"To: {reply_address(school, 1, 'boris')}\r\nSubject: Re: [#1] Оплата\r\n"
            "Message-ID: <r2@staff.example>\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/{subtype}; boundary="b"\r\n\r\n'
            f"--b\r\n{body_part}\r\n{parts}--b--\r\n").encode()


def test_files_apple_mail_marks_inline_go_to_the_customer_but_not_a_signatures_logo(desk):
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 120  # a 30 KB photo
    logo = b"\x89PNG\r\n\x1a\n" + b"\0" * 900
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail_inline(
        desk, "mixed", "Content-Type: text/plain; charset=utf-8\r\n\r\nСчёт и фото квитанции.",
        [("application/pdf", "invoice.pdf", b"%PDF-1.4\n", ""),
         ("image/jpeg", "IMG_1.jpeg", photo, ""), ("image/png", "logo.png", logo, "")]))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    files = [(p.get_filename(), p.get_payload(decode=True)) for p in answer.walk()
             if p.get_filename()]
    assert files == [("invoice.pdf", b"%PDF-1.4\n"), ("IMG_1.jpeg", photo)]


def test_a_notification_pasted_below_the_answer_without_quote_marks_is_not_sent(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    (notification,) = notifications(desk, "boris@staff.example")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"),
                            "Оплата до пятницы.\r\n\r\n" + body(notification)))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    assert body(answer).strip() == "Оплата до пятницы."


def test_the_banner_of_an_outlook_signature_stays_behind_and_a_pasted_photo_goes(desk):
    photo, banner = (b"\xff\xd8\xff\xe0" + bytes([n]) * 40_000 for n in (1, 2))  # both > 20 KB
    html = ("<html><body><div>Вот фото расписания:</div><img src=\"cid:photo1\">"
            "<div id=\"Signature\"><div>Boris Petrov</div><img src=\"cid:image001.jpg@01DA\">"
            "</div><div id=\"divRplyFwdMsg\"><b>From:</b> Test School<br><b>Sent:</b> Monday,"
            " November 23, 2026 4:56 PM<br><b>To:</b> Boris<br><b>Subject:</b> [#1] Оплата</div>"
            "</body></html>")
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail_inline(
        desk, "related", f"Content-Type: text/html; charset=utf-8\r\n\r\n{html}",
        [("image/jpeg", "schedule.jpg", photo, "photo1"),
         ("image/jpeg", "image001.jpg", banner, "image001.jpg@01DA")]))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    assert body(answer).strip() == "Вот фото расписания:"
    assert [p.get_filename() for p in answer.walk() if p.get_filename()] == ["schedule.jpg"]


def test_an_agents_client_that_sets_reply_to_is_still_the_agent(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), "Ответ из Outlook",
                            extra="Reply-To: Office <office@staff.example>\r\n"))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    assert body(answer).startswith("Ответ из Outlook")


def test_a_hash_note_keeps_the_files_the_agent_attached_and_sends_nothing(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail_with_pdf(desk, "#note Скан справки во вложении"))
    desk.cli("run", "--once")
    assert to_customer(desk) == []
    note = show(desk, 1)["messages"][-1]
    assert (note["direction"], note["text"]) == ("note", "Скан справки во вложении")
    assert [(a["filename"], a["size"]) for a in note["attachments"]] == [("invoice.pdf", 9)]


@pytest.mark.parametrize("added", [
    "", "Sent from my iPhone", "-- \r\nBoris Petrov, +7 700 000 00 00", "pasted unquoted"])
def test_send_pressed_on_the_quoted_notification_sends_nothing_and_tells_the_agent(desk, added):
    """Whatever the client adds by itself (a signature, "Sent from my iPhone", the
    notification pasted without quote marks) is nothing of the agent's own."""
    desk.deliver(mail())
    desk.cli("run", "--once")
    (notification,) = notifications(desk, "boris@staff.example")
    lines = body(notification).split("\n")
    quoted = "\r\n".join(lines if added == "pasted unquoted" else [
        added, "", "On Fri, 20 Nov 2026 at 09:01, Test School <support@school.example> wrote:",
        *(f"> {line}" for line in lines)]).strip()
    desk.deliver(mail(subject="Re: [#1] Оплата за декабрь", body=quoted,
                      sender="Boris <boris@staff.example>", message_id="r1@staff.example")
                 .replace(b"To: support@school.example",
                          f"To: {reply_address(desk, 1, 'boris')}".encode()))
    desk.cli("run", "--once")
    assert to_customer(desk) == []
    assert [m["direction"] for m in show(desk, 1)["messages"]] == ["in"]
    explained = notifications(desk, "boris@staff.example")[-1]
    assert body(explained).startswith("[#1] Your mail was not used: the reply is empty\n")


@pytest.mark.parametrize(("case", "to", "extra", "reason", "filed_in"), [
    ("right From, no token", "support@school.example", "",
     "from an agent's address but not to a reply address (no token)", 2),
    ("token for another thread", "thread2", "",
     "the reply token does not belong to this agent and ticket", 1),
    ("token of another agent", "aigerim", "",
     "the reply token does not belong to this agent and ticket", 1),
    ("dkim=fail", "boris", "Authentication-Results: mx.school.example; dkim=fail"
                           " header.d=staff.example; spf=pass\r\n",
     "the receiving server says dkim=fail", 1),
])
def test_spoofed_agent_replies_are_filed_flagged_and_never_relayed(desk, case, to, extra,
                                                                   reason, filed_in):
    desk.deliver(mail())
    desk.cli("run", "--once")
    sent_before = len(sent(desk))
    address = {"thread2": _token_address(desk, 1, 2, "boris"),
               "aigerim": reply_address(desk, 1, "aigerim"),
               "boris": reply_address(desk, 1, "boris")}.get(to, to)
    desk.deliver(agent_mail(address, "Переведите деньги на карту 4400...", extra=extra))
    desk.cli("run", "--once")
    assert to_customer(desk) == []
    store_threads = json.loads(desk.cli("threads", "--json").output)
    # Beside the conversation its reply address names; without one, a thread of its own.
    assert {t["id"]: t["messages"] for t in store_threads} == (
        {1: 2} if filed_in == 1 else {1: 1, 2: 1})
    (flagged,) = [m for m in show(desk, filed_in)["messages"] if "карту" in m["text"]]
    assert "review" in flagged["flags"]
    store = Store(load_config(desk.config).store.path)
    assert store.message_meta(flagged["id"])["agent-reply-refused"] == reason
    assert show(desk, 1)["status"] == "open"
    # Agents hear about the flagged message; the customer hears nothing, and nothing
    # automatic answers the agent's address.
    assert all(m["To"] != "olga@mail.example" for m in sent(desk)[sent_before:])
    told = [header(m, "Subject") for m in sent(desk)[sent_before:]]
    assert any(f"NOT SENT: a mail from boris@staff.example was not taken as an agent's reply"
               f" ({reason})" in subject for subject in told), told
    assert all(m["Auto-Submitted"] is None or "New" in header(m, "Subject")
               or "[#" in header(m, "Subject") for m in sent(desk)[sent_before:])


def test_a_stranger_writing_to_a_made_up_reply_address_cannot_add_to_that_thread(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    real = reply_address(desk, 1, "boris")
    forged = real.replace(real.split(".")[1].split("@")[0], "0123456789abcdef0123")
    desk.deliver(agent_mail(forged, "Переведите деньги на карту 4400...",
                            sender="Someone <someone@else.example>"))
    desk.cli("run", "--once")
    threads = {t["id"]: t for t in json.loads(desk.cli("threads", "--json").output)}
    assert (threads[1]["messages"], threads[2]["messages"]) == (1, 1)
    assert "review" in threads[2]["flags"]


def test_an_answer_to_a_forgotten_tickets_notification_reaches_no_other_family(desk):
    """The next customer's thread does not get the forgotten ticket's number, so the reply
    address on the old notification (ticket + token) names no one's conversation."""
    desk.deliver(mail())
    desk.cli("run", "--once")
    olga = show(desk, 1)["contact_id"]
    answering = reply_address(desk, 1, "boris")  # on Boris's notification of her thread
    desk.cli("forget-contact", str(olga), "--yes")
    desk.deliver(mail(sender="Dana <dana@mail.example>", message_id="d1@mail.example",
                      body="Когда родительское собрание?"))
    desk.cli("run", "--once")
    (dana,) = json.loads(desk.cli("threads", "--json").output)
    assert dana["id"] == 2
    assert show(desk, 2)["contact_id"] != olga
    desk.deliver(agent_mail(answering, "Счёт на 45 000 тенге во вложении"))
    desk.cli("run", "--once")
    assert [m for m in sent(desk) if m["To"] == "dana@mail.example"] == []
    assert [m["direction"] for m in show(desk, 2)["messages"]] == ["in"]


def test_a_number_an_older_build_gave_twice_takes_no_reply_to_the_deleted_threads_notices(
        desk):
    """Before migration 15 a purge or forget-contact of the newest thread let its number go
    to the next one, and what was deleted then is known to no one: the first form of reply
    address (ticket and agent only) is taken for the threads numbered before the upgrade."""
    desk.deliver(mail())
    desk.deliver(mail(sender="Mark <mark@mail.example>", message_id="k1@mail.example",
                      subject="Физкультура", body="Можно пропустить физкультуру?"))
    desk.cli("run", "--once")
    config = load_config(desk.config)
    desk_of = Desk.of(config)
    first_form = {ticket: desk_of.reply_address(ticket, "boris", "") for ticket in (1, 2)}
    old = Store(config.store.path)  # as the build before migration 15 left it: #2 forgotten
    for trigger in ("threads_retire", "contacts_retire", "messages_retire", "outbox_retire"):
        old.conn.execute(f"DROP TRIGGER {trigger}")
    old.conn.execute("DROP TABLE retired_ids")
    old.conn.execute("DELETE FROM sync_state WHERE key = 'reply-tokens:first-form-up-to'")
    old.delete_threads([2])
    old.conn.execute("PRAGMA user_version = 14")
    old.close()
    desk.deliver(mail(sender="Dana <dana@mail.example>", message_id="d1@mail.example",
                      subject="Экскурсия", body="Когда экскурсия?"))
    desk.cli("run", "--once")  # the upgraded build: Dana's thread is #2 again
    assert show(desk, 2)["subject"] == "Экскурсия"
    desk.deliver(agent_mail(first_form[2], "Марк может пропустить физкультуру",
                            message_id="r2@staff.example"))
    desk.deliver(agent_mail(first_form[1], "Ссылка на оплату: pay.example/1"))
    desk.cli("run", "--once")
    assert [m for m in sent(desk) if m["To"] == "dana@mail.example"] == []
    assert [body(m).strip() for m in to_customer(desk)] == ["Ссылка на оплату: pay.example/1"]


def _token_address(school, shown_ticket: int, real_ticket: int, agent: str) -> str:
    """A valid token for ``real_ticket`` put into the address of ``shown_ticket``."""
    valid = reply_address(school, real_ticket, agent)
    return valid.replace(f"+t{real_ticket}.", f"+t{shown_ticket}.")


@pytest.mark.parametrize("command", ["#note", "*#note*", "_#NOTE_"])  # bold: Gmail's plain text
def test_hash_note_is_stored_and_never_sent(desk, command):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"),
                            f"{command}\nРодитель звонил, ждём квитанцию"))
    desk.cli("run", "--once")
    assert to_customer(desk) == []
    (first, note) = show(desk, 1)["messages"]
    assert (note["direction"], note["text"]) == ("note", "Родитель звонил, ждём квитанцию")


@pytest.mark.parametrize("first_line", ["#notes отец должен за 3 месяца", "#note: не звонить",
                                        "#priority urgent"])
def test_a_first_line_like_a_command_that_is_none_sends_nothing_and_says_why(desk, first_line):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), f"{first_line}\nСекрет"))
    desk.cli("run", "--once")
    assert to_customer(desk) == []
    explained = body(notifications(desk, "boris@staff.example")[-1])
    assert explained.startswith(f"[#1] Your mail was not used: {first_line.split()[0]} is not a"
                                " command, so nothing was sent.")


def test_a_reply_may_start_with_a_ticket_number(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), "#1 решён, спасибо"))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    assert body(answer).strip() == "#1 решён, спасибо"


def test_hash_pending_sends_the_rest_and_waits_for_the_customer(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), "#pending\nПришлите квитанцию."))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    assert body(answer).strip() == "Пришлите квитанцию."
    assert show(desk, 1)["status"] == "pending"


def test_hash_close_alone_closes_without_sending(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), "#close"))
    desk.cli("run", "--once")
    assert to_customer(desk) == []
    assert show(desk, 1)["status"] == "closed"


def test_hash_assign_hands_over_and_the_new_agent_is_notified(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"),
                            "#assign aigerim\nОна знает про скидки"))
    desk.cli("run", "--once")
    thread = show(desk, 1)
    assert thread["agent"] == "aigerim"
    assert thread["messages"][-1]["text"] == "Она знает про скидки"
    (note,) = notifications(desk, "aigerim@staff.example")
    assert body(note).startswith("[#1] boris assigned this thread to you\n")
    # What she needs to answer from her mail: the handover note and the customer's words.
    assert "boris's note: Она знает про скидки\n\nОльга wrote:\n" in body(note)
    assert "Как оплатить обучение?" in body(note)
    assert note["Reply-To"] == reply_address(desk, 1, "aigerim")


def test_the_threads_agent_is_told_when_a_colleague_answers_for_them(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.cli("assign", "1", "aigerim")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), "Ссылка на оплату: pay.example/1"))
    desk.cli("run", "--once")
    assert body(to_customer(desk)[0]).strip() == "Ссылка на оплату: pay.example/1"
    told = notifications(desk, "aigerim@staff.example")[-1]
    assert body(told).startswith("[#1] boris answered your thread\n")
    assert "boris wrote:\nСсылка на оплату: pay.example/1" in body(told)


def test_an_agents_out_of_office_reply_to_a_notice_never_reaches_the_parent(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"),
                            "Я в отпуске до 1 декабря. Мой личный телефон +7 700 123 45 67.",
                            extra="Auto-Submitted: auto-replied\r\n"))
    desk.cli("run", "--once")
    assert to_customer(desk) == []
    assert [m["direction"] for m in show(desk, 1)["messages"]] == ["in"]
    assert len(notifications(desk, "boris@staff.example")) == 1  # no notice to answer it


def test_the_threads_agent_is_told_when_the_admin_gives_it_to_someone_else(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.cli("assign", "1", "aigerim")
    desk.cli("run", "--once")
    told = notifications(desk, "boris@staff.example")[-1]
    assert body(told).startswith(
        "[#1] The admin (inbox command line) gave this thread to aigerim\n")


def test_the_threads_agent_is_told_when_a_colleague_takes_it(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "aigerim"), "#take\nОтвечу я: ссылка ниже",
                            sender="Aigerim <aigerim@staff.example>"))
    desk.cli("run", "--once")
    assert show(desk, 1)["agent"] == "aigerim"
    told = notifications(desk, "boris@staff.example")[-1]
    assert body(told).startswith("[#1] aigerim took this thread\n")


def test_a_handover_brings_the_notes_files_and_the_customers(desk):
    from tests.test_care import mail_with_file

    desk.deliver(mail_with_file("m1@mail.example", "Ольга <olga@mail.example>", "справка.pdf",
                                b"%PDF-1.4 spravka"))
    desk.cli("run", "--once")
    desk.deliver(agent_mail_with_pdf(desk, "#assign aigerim\nПроверь пункт 4 договора"))
    desk.cli("run", "--once")
    (note,) = notifications(desk, "aigerim@staff.example")
    assert "\nAttachments: справка.pdf (16 B), invoice.pdf (9 B)\n" in body(note)
    files = [(p.get_filename(), p.get_payload(decode=True)) for p in note.walk()
             if p.get_filename()]
    assert files == [("справка.pdf", b"%PDF-1.4 spravka"), ("invoice.pdf", b"%PDF-1.4\n")]


@pytest.mark.parametrize(("customer_text", "expected"), [
    ("Как оплатить обучение за декабрь месяц?",
     "Здравствуйте, Ольга! Обращение №1. Boris, Test School"),
    ("How do I pay the tuition fee for December?", "Hello Ольга! Ticket 1. Boris, Test School"),
])
def test_hash_t_sends_the_template_in_the_threads_language(desk, customer_text, expected):
    desk.deliver(mail(subject="Payment", body=customer_text))
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), "#t hello"))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    assert body(answer).strip() == expected


def test_an_unknown_template_is_explained_to_the_agent_and_nothing_is_sent(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), "#t helo"))
    desk.cli("run", "--once")
    assert to_customer(desk) == []
    explained = notifications(desk, "boris@staff.example")[-1]
    assert body(explained).startswith(
        "[#1] Your mail was not used: no template 'helo' (templates: hello)\n")


def test_an_agents_reply_copied_to_another_of_our_mailboxes_is_acted_on_once_and_not_filed(
        desk):
    parents = mailbox_read_first(desk, "parents", DESK_TOML.replace(
        "[desk]\n", '[desk]\nemail_channel = "support"\n'))  # the desk names its channel
    desk.deliver(mail())
    desk.cli("run", "--once")
    reply = agent_mail(reply_address(desk, 1, "boris"), "Счёт отправлен.",
                       extra="Cc: parents@school.example\r\n")
    (parents / "new" / "1700000100.cc.host").write_bytes(reply)  # read first
    desk.deliver(reply)
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    assert body(answer).startswith("Счёт отправлен.")
    # The copy in the other mailbox is no customer's thread (routed, told, answered to Boris).
    assert [t["id"] for t in json.loads(desk.cli("threads", "--json").output)] == [1]


def test_replies_to_a_reply_address_another_of_our_mailboxes_reads_are_acted_on(desk):
    agents = mailbox_read_first(desk, "agents", DESK_TOML.replace(
        "[desk]\n", '[desk]\nemail_channel = "support"\nreply_address = "agents@school.example"\n'))
    desk.deliver(mail())
    desk.cli("run", "--once")
    to = reply_address(desk, 1, "boris")
    assert to.startswith("agents+t1.")
    (agents / "new" / "1700000200.r.host").write_bytes(agent_mail(to, "Готово."))
    desk.cli("run", "--once")
    (answer,) = to_customer(desk)
    assert body(answer).startswith("Готово.")
    assert [t["id"] for t in json.loads(desk.cli("threads", "--json").output)] == [1]


def test_a_renamed_desk_channel_rereads_its_mailbox_and_acts_on_no_agent_reply_again(desk):
    desk.deliver(mail())
    desk.cli("run", "--once")
    desk.deliver(agent_mail(reply_address(desk, 1, "boris"), "Готово."))
    desk.cli("run", "--once")
    assert len(to_customer(desk)) == 1
    told = len(notifications(desk, "boris@staff.example"))
    desk.write(DESK_TOML.replace('name = "support"\npath', 'name = "office"\npath'))
    for read in (desk.maildir / "cur").iterdir():  # its mailbox read anew
        read.rename(desk.maildir / "new" / read.name.partition(":")[0])
    desk.cli("run", "--once")
    assert len(to_customer(desk)) == 1
    assert len(notifications(desk, "boris@staff.example")) == told  # nothing "not used"
    assert [t["id"] for t in json.loads(desk.cli("threads", "--json").output)] == [1]
