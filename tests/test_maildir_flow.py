"""The Maildir channel end to end through `inbox run --once`: in, threaded, out, acknowledged."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime

from inbox.channel import Inbound
from inbox.config import load_config
from inbox.daemon import Daemon
from inbox.model import Identity
from inbox.store import Store
from tests.conftest import INBOX_TOML, mail, mailbox_read_first


def answered(school, text: str = "Ответ") -> email.message.Message:
    """A customer mail in, an agent's reply out through the daemon: the reply as sent."""
    school.deliver(mail())
    school.cli("run", "--once")
    school.cli("reply", "1", "--as", "boris", "-m", text)
    school.cli("run", "--once")
    (sent_file,) = (school.sent / "new").iterdir()
    return email.message_from_bytes(sent_file.read_bytes())


def _threads(school):
    return json.loads(school.cli("threads", "--json").output)


def test_new_mail_becomes_a_routed_thread_and_moves_to_cur(school):
    school.deliver(mail())
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["subject"] == "Оплата за декабрь"
    assert thread["channel"] == "email"
    assert thread["team"] == "support"
    assert thread["agent"] in ("boris", "aigerim")
    assert thread["language"] == "ru"
    assert thread["messages"] == 1
    assert list((school.maildir / "new").iterdir()) == []
    assert len(list((school.maildir / "cur").iterdir())) == 1


def test_running_again_stores_nothing_twice(school):
    school.deliver(mail())
    school.cli("run", "--once")
    # The same message delivered again (e.g. a crash before the move to cur/).
    school.deliver(mail())
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["messages"] == 1


def test_a_different_mail_reusing_a_message_id_is_kept_and_a_relayed_copy_is_not(school):
    school.deliver(mail())
    # The same mail once more, through another relay: only the servers' headers differ.
    school.deliver(b"Received: from relay2.mail.example\r\nDelivered-To: office@school.example\r\n"
                   + mail())
    # A web form that sends every mail with one fixed Message-ID.
    school.deliver(mail(subject="Заявка с сайта", body="Хочу записаться на курс",
                        sender="Форма <noreply@site.example>"))
    school.cli("run", "--once")
    school.deliver(mail(subject="Заявка с сайта", body="Хочу записаться на курс",
                        sender="Форма <noreply@site.example>"))  # re-delivered
    school.cli("run", "--once")
    assert sorted(t["subject"] for t in _threads(school)) == ["Заявка с сайта", "Оплата за декабрь"]
    assert sum(t["messages"] for t in _threads(school)) == 2


def test_a_mail_filed_from_one_of_our_mailboxes_is_not_filed_again_from_another(school):
    school.deliver(mail())
    school.cli("run", "--once")
    # The admin renames the channel: its mailbox is read anew, as a second mailbox of ours
    # would read a mail sent to both addresses.
    school.write(INBOX_TOML.replace('name = "support"\npath', 'name = "office"\npath'))
    school.deliver(mail())
    school.deliver(mail(subject="Экскурсия", body="Когда экскурсия?", message_id="m2@mail.example"))
    school.cli("run", "--once")
    threads = _threads(school)
    assert sorted(t["subject"] for t in threads) == ["Оплата за декабрь", "Экскурсия"]
    assert sum(t["messages"] for t in threads) == 2


def test_another_mail_reusing_an_id_in_another_mailbox_and_a_copy_of_our_reply_are_filed(
        school):
    reply = answered(school)  # customer mail m1@mail.example in "support", and our answer
    office = mailbox_read_first(school, "office", INBOX_TOML)
    (office / "new" / "1.other.host").write_bytes(mail(  # a form reusing one fixed id
        subject="Заявка", body="Хочу записаться на курс", sender="Форма <noreply@site.example>"))
    (office / "new" / "2.copy.host").write_bytes(reply.as_bytes())  # Bcc'd to office
    school.cli("run", "--once")
    shown = [json.loads(school.cli("show", str(t["id"]), "--json").output)
             for t in _threads(school)]
    texts = [m["text"] for thread in shown for m in thread["messages"]]
    assert len(texts) == 4
    assert any(text.startswith("Хочу записаться") for text in texts)
    assert sum(text.startswith("Ответ") for text in texts) == 2  # ours, and the copy filed


def test_a_reply_on_a_channel_no_longer_configured_is_refused_not_queued(school):
    school.deliver(mail())
    school.cli("run", "--once")
    school.write(INBOX_TOML.replace('name = "support"\npath', 'name = "office"\npath'))
    result = school.cli("reply", "1", "--as", "boris", "-m", "Ответ", ok=False)
    assert result.exit_code == 1
    assert ("#1 came in on the channel 'support', which inbox.toml no longer has"
            " (channels: office)") in result.output
    assert json.loads(school.cli("show", "1", "--json").output)["messages"][-1]["direction"] == "in"


def test_a_customer_writing_again_after_a_rename_moves_the_thread_to_the_channel_read_now(
        school):
    our_id = answered(school)["Message-ID"]
    school.write(INBOX_TOML.replace('name = "support"\npath', 'name = "office"\npath'))
    school.deliver(mail(subject="Re: Оплата за декабрь", body="Я папа, тоже вопрос.",
                        sender="papa@mail.example", message_id="papa@mail.example",
                        extra=f"In-Reply-To: {our_id}\r\n"))
    school.cli("run", "--once")  # someone else answering by headers moves nothing
    assert school.cli("reply", "1", "--as", "boris", "-m", "Ответ", ok=False).exit_code == 1
    school.deliver(mail(subject="Re: Оплата за декабрь", body="А квитанция?",
                        message_id="m2@mail.example", extra=f"In-Reply-To: {our_id}\r\n"))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["messages"] == 4
    school.cli("reply", "1", "--as", "boris", "-m", "Квитанция в приложении")  # answerable


def test_reply_by_in_reply_to_joins_the_thread(school):
    school.deliver(mail())
    school.deliver(mail(subject="Re: Оплата за декабрь", body="И ещё вопрос про скидку",
                        message_id="m2@mail.example",
                        extra="In-Reply-To: <m1@mail.example>\r\n"))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["messages"] == 2


def test_a_reply_waits_in_the_outbox_until_the_daemon_runs(school):
    school.deliver(mail())
    school.cli("run", "--once")
    school.cli("reply", "1", "--as", "boris", "-m", "Ответ")
    shown = json.loads(school.cli("show", "1", "--json").output)
    assert shown["messages"][-1]["delivery"] == "queued"
    assert not (school.sent / "new").exists() or not list((school.sent / "new").iterdir())


def test_agent_reply_is_written_to_the_outbox_maildir_with_threading_headers(school):
    sent = answered(school, "Счёт отправили повторно.")
    assert sent["To"] == "olga@mail.example"
    assert sent["In-Reply-To"] == "<m1@mail.example>"
    assert "[#1]" in str(email.header.make_header(email.header.decode_header(sent["Subject"])))
    body = next(p for p in sent.walk() if p.get_content_type() == "text/plain")
    charset = body.get_content_charset() or "utf-8"
    assert "Счёт отправили повторно." in body.get_payload(decode=True).decode(charset)
    shown = json.loads(school.cli("show", "1", "--json").output)
    out = shown["messages"][-1]
    assert (out["direction"], out["delivery"]) == ("out", "sent")


def test_customer_answer_to_our_reply_threads_by_our_message_id(school):
    our_id = answered(school)["Message-ID"]
    school.deliver(mail(subject="Re: something else", body="Спасибо!",
                        message_id="m3@mail.example", extra=f"In-Reply-To: {our_id}\r\n"))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["messages"] == 3


def test_ticket_token_from_a_stranger_starts_a_flagged_thread(school):
    school.deliver(mail())
    school.cli("run", "--once")
    school.deliver(mail(subject="Re: [#1] hello", sender="stranger@evil.example",
                        message_id="m9@evil.example", body="show me the thread"))
    school.cli("run", "--once")
    threads = {t["id"]: t for t in _threads(school)}
    assert threads[1]["messages"] == 1
    assert "review" in threads[2]["flags"]


def test_ticket_token_from_the_contact_joins_the_thread(school):
    school.deliver(mail())
    school.cli("run", "--once")
    school.deliver(mail(subject="Re: [#1] Оплата", message_id="m4@mail.example",
                        body="Вот квитанция"))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["messages"] == 2


def test_a_subject_with_another_threads_token_carries_only_ours_and_the_answer_finds_us(school):
    school.deliver(mail(subject="Re: [#41] старый вопрос"))
    school.cli("run", "--once")
    school.cli("reply", "1", "--as", "boris", "-m", "Ответ")
    school.cli("run", "--once")
    (sent_file,) = (school.sent / "new").iterdir()
    sent = email.message_from_bytes(sent_file.read_bytes())
    subject = str(email.header.make_header(email.header.decode_header(sent["Subject"])))
    assert subject == "Re: старый вопрос [#1]"
    school.deliver(mail(subject="Re: [#41] Re: старый вопрос [#1]", body="Спасибо",
                        message_id="m7@mail.example"))  # a client that dropped the headers
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["messages"] == 3


def test_mail_to_a_closed_thread_reopens_it(school):
    school.deliver(mail())
    school.cli("run", "--once")
    school.cli("close", "1")
    school.deliver(mail(message_id="m5@mail.example", extra="References: <m1@mail.example>\r\n"))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["status"] == "open"


def test_late_replies_to_a_long_closed_thread_all_join_the_one_thread_continuing_it(school):
    school.write(school.config.read_text() + "\n[threads]\nreopen_days = 0\n")
    school.deliver(mail())
    school.cli("run", "--once")
    school.cli("close", "1")
    for n in (5, 6):  # the parent answers the same old mail twice
        school.deliver(mail(message_id=f"m{n}@mail.example", body=f"Ещё вопрос {n}",
                            extra="In-Reply-To: <m1@mail.example>\r\n"))
        school.cli("run", "--once")
    assert [(t["id"], t["status"], t["reopened_from"], t["messages"])
            for t in _threads(school)] == [(2, "open", 1, 2), (1, "closed", None, 1)]


def test_a_reply_by_subject_alone_joins_the_continuation_of_a_long_closed_thread(school):
    school.write(school.config.read_text() + "\n[threads]\nreopen_days = 0\n")
    school.deliver(mail())
    school.cli("run", "--once")
    school.cli("close", "1")
    school.deliver(mail(message_id="m5@mail.example", body="Ещё вопрос",
                        extra="In-Reply-To: <m1@mail.example>\r\n"))
    school.cli("run", "--once")
    school.deliver(mail(subject="Re: Оплата за декабрь", body="И ещё один",
                        message_id="m6@mail.example"))  # her client dropped the headers
    school.cli("run", "--once")
    assert [(t["id"], t["reopened_from"], t["messages"], t["flags"])
            for t in _threads(school)] == [(2, 1, 2, []), (1, None, 1, [])]


def test_the_office_mailbox_writing_to_a_closed_thread_is_a_person_who_gets_no_ack(school):
    (school.root / "Office").mkdir()
    school.write(school.config.read_text() + f"""
[[maildir]]
name = "office"
path = "{school.root}/Office"
outbox = "{school.root}/OfficeSent"
address = "office@school.example"

[autoack]
enabled = true
""")
    school.deliver(mail())
    school.cli("run", "--once")
    school.cli("close", "1")
    acks = len(list((school.sent / "new").iterdir()))
    school.deliver(mail(sender="Канцелярия <office@school.example>", message_id="o1@x",
                        body="Мама звонила, просит перезвонить",
                        extra="In-Reply-To: <m1@mail.example>\r\n"))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert (thread["status"], thread["messages"]) == ("open", 3)  # a person: it reopens
    assert len(list((school.sent / "new").iterdir())) == acks  # but no acknowledgement


def test_a_late_reply_never_joins_a_continuation_someone_else_started(school):
    school.write(school.config.read_text() + "\n[threads]\nreopen_days = 0\n")
    school.deliver(mail())
    school.cli("run", "--once")
    school.cli("close", "1")
    for n, sender in ((5, "Папа <papa@mail.example>"), (6, "Ольга <olga@mail.example>")):
        school.deliver(mail(message_id=f"m{n}@mail.example", sender=sender,
                            extra="In-Reply-To: <m1@mail.example>\r\n"))
        school.cli("run", "--once")
    assert sorted((t["id"], t["contact"], t["reopened_from"]) for t in _threads(school)) == [
        (1, "Ольга", None), (2, "Папа", 1), (3, "Ольга", 1)]


def test_an_out_of_office_reply_is_filed_in_the_closed_thread_without_reopening_it(school):
    our_id = answered(school)["Message-ID"]
    school.cli("close", "1")
    school.deliver(mail(subject="Автоответ: Оплата за декабрь", body="Я в отпуске до 1 декабря.",
                        message_id="ooo@mail.example",
                        extra=f"In-Reply-To: {our_id}\r\nAuto-Submitted: auto-replied\r\n"))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert (thread["status"], thread["messages"]) == ("closed", 3)
    shown = json.loads(school.cli("show", "1", "--json").output)
    (ooo,) = [m for m in shown["messages"] if "отпуске" in m["text"]]
    assert "automatic" in ooo["flags"]
    assert "review" not in ooo["flags"]


def test_someone_else_answering_by_headers_is_filed_in_the_thread_flagged_for_review(school):
    our_id = answered(school)["Message-ID"]
    school.deliver(mail(subject="Re: Оплата за декабрь", body="Я папа, тоже вопрос.",
                        sender="papa@mail.example", message_id="papa@mail.example",
                        extra=f"In-Reply-To: {our_id}\r\n"))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["messages"] == 3
    shown = json.loads(school.cli("show", "1", "--json").output)
    (papa,) = [m for m in shown["messages"] if "папа" in m["text"]]
    assert papa["flags"] == ["review"]
    assert shown["contact"] == thread["contact"]  # answers still go to the contact
    # Filing decided it, not the parser: re-normalising after an upgrade keeps it.
    school.cli("reparse")
    shown = json.loads(school.cli("show", "1", "--json").output)
    assert [m["flags"] for m in shown["messages"] if "папа" in m["text"]] == [["review"]]


def test_a_message_that_cannot_even_be_quarantined_as_sent_is_filed_under_unknown(school):
    """The safety net under quarantine: a batch that fails whole is never acknowledged, and
    its channel would stall on this one message for every customer."""
    daemon = Daemon(load_config(school.config))
    broken = Inbound(channel="email", account="support", external_id="odd@mail.example",
                     sender=Identity("email", "odd@mail.example", None),  # type: ignore[arg-type]
                     text="Вопрос", received_at=datetime.now(UTC), raw=b"raw")
    fine = Inbound(channel="email", account="support", external_id="ok@mail.example",
                   sender=Identity("email", "ok@mail.example", "Ok"), text="Тоже вопрос",
                   received_at=datetime.now(UTC), raw=b"raw2")
    report = daemon.pipeline.ingest([broken, fine])
    assert (report.stored, report.quarantined) == (1, 1)
    daemon.store.close()
    shown = {t["contact"]: t["flags"] for t in json.loads(school.cli("threads", "--json").output)}
    assert shown == {"unknown": ["quarantined"], "Ok": []}


def test_a_web_forms_mail_is_the_parents_and_the_answer_goes_to_reply_to(school):
    for n, parent in enumerate(("Анна <anna@mail.example>", "Борис <boris@mail.example>",
                                "carl@mail.example")):
        school.deliver(mail(sender="School site <noreply@school-site.example>",
                            message_id=f"form-{n}@school-site.example",
                            extra=f"Reply-To: {parent}\r\n"))
    school.cli("run", "--once")
    assert sorted(t["contact"] for t in _threads(school)) == [
        "carl@mail.example", "Анна", "Борис"]  # not the form's name for Carl
    school.cli("reply", "1", "--as", "boris", "-m", "Ответ")
    school.cli("run", "--once")
    (sent_file,) = (school.sent / "new").iterdir()
    assert email.message_from_bytes(sent_file.read_bytes())["To"] == "anna@mail.example"


def test_the_daemon_indexes_at_start_what_an_older_version_filed_unindexed(school):
    school.deliver(mail())
    school.cli("run", "--once")
    store = Store(load_config(school.config).store.path)
    store.conn.execute("INSERT INTO messages (thread_id, direction, channel, account, text,"
                       " created_at) VALUES (1, 'in', 'email', 'support', 'квитанция отца',"
                       " '2026-11-20T10:00:00+00:00')")
    store.close()
    assert school.cli("search", "квитанция").output.strip() == "nothing found"
    school.cli("run", "--once")
    assert "квитанция отца" in school.cli("search", "квитанция").output


def test_garbage_file_still_reaches_an_agent_and_does_not_block_the_next(school):
    school.deliver(b"\x00\xff\xfe not an email at all \x81\x82")
    school.deliver(mail(message_id="good@mail.example"))
    school.cli("run", "--once")
    threads = _threads(school)
    assert len(threads) == 2
    assert list((school.maildir / "new").iterdir()) == []


def dsn_for(message_id: str) -> bytes:
    """A delivery status notification (RFC 3464) returning our message ``message_id``."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.mail.example>\r\n"
        "To: support@school.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.mail.example>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        ' boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n'
        "Your message could not be delivered: mailbox unavailable.\r\n\r\n--B\r\n"
        "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.mail.example\r\n\r\n"
        "Final-Recipient: rfc822; olga@mail.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <olga@mail.example>:\r\n User unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@school.example\r\n"
        f"To: olga@mail.example\r\nMessage-ID: {message_id}\r\nSubject: Re: Оплата\r\n\r\n--B--\r\n"
    ).encode()


def test_a_bounce_marks_our_reply_failed_and_joins_its_thread(school):
    our_id = answered(school)["Message-ID"]
    school.deliver(dsn_for(our_id))
    school.cli("run", "--once")
    assert len(_threads(school)) == 1
    shown = json.loads(school.cli("show", "1", "--json").output)
    assert [(m["direction"], m["delivery"]) for m in shown["messages"]] == [
        ("in", None), ("out", "failed"), ("in", None)]
    assert "bounce" in shown["messages"][-1]["flags"]
    store = Store(load_config(school.config).store.path)
    (failed,) = [e.detail for e in store.events(1) if e.action == "delivery-failed"]
    assert failed["error"] == ("bounced: olga@mail.example: 5.1.1"
                               " (smtp; 550 5.1.1 <olga@mail.example>: User unknown)")


def test_a_reply_without_headers_joins_the_senders_thread_with_the_same_subject(school):
    school.deliver(mail())
    school.cli("run", "--once")
    school.deliver(mail(subject="RE: Оплата за декабрь", message_id="no-headers@mail.example",
                        body="Забыла приложить квитанцию"))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    assert thread["messages"] == 2


def test_the_same_subject_from_someone_else_starts_a_new_thread(school):
    school.deliver(mail())
    school.cli("run", "--once")
    school.deliver(mail(subject="Re: Оплата за декабрь", sender="other@mail.example",
                        message_id="other@mail.example"))
    school.cli("run", "--once")
    assert [t["messages"] for t in _threads(school)] == [1, 1]


QUESTION = ("Как оплатить обучение за декабрь, если карта не проходит?\n"
            "Банк пишет, что операция отклонена.")


def quoted(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines())


def quoting(text: str) -> str:
    return (f"Добавлю от себя: квитанция во вложении.\n\nОльга <olga@mail.example> пишет:\n"
            f"{quoted(text)}")


def test_a_reply_without_headers_that_quotes_a_thread_joins_it_even_from_someone_else(school):
    school.deliver(mail(body=QUESTION))
    school.cli("run", "--once")
    school.deliver(mail(subject="Re: Оплата за декабрь", sender="Папа <papa@mail.example>",
                        message_id="papa@mail.example", body=quoting(QUESTION)))
    school.cli("run", "--once")
    (thread,) = _threads(school)
    shown = json.loads(school.cli("show", str(thread["id"]), "--json").output)
    assert [m["sender"] for m in shown["messages"]] == [
        "Ольга <olga@mail.example>", "Папа <papa@mail.example>"]
    # The thread's contact stays the one answered; an agent decides about the other person.
    assert thread["contact"] == "Ольга"
    assert "review" in shown["messages"][1]["flags"]


def test_two_parents_forwarding_the_same_letter_get_a_thread_each(school):
    letter = ("---------- Forwarded message ---------\nFrom: Классный руководитель"
              " <teacher@school.example>\nSubject: Родительское собрание\n\n"
              "Уважаемые родители! Собрание в четверг в 18:00 в кабинете 12.\n"
              "Просьба не опаздывать, будем обсуждать экскурсию.")
    school.deliver(mail(subject="Fwd: Родительское собрание", body=letter,
                        sender="Мария <maria@mail.example>", message_id="f1@mail.example"))
    school.cli("run", "--once")
    school.deliver(mail(subject="Fwd: Родительское собрание", sender="Ольга <olga@mail.example>",
                        message_id="f2@mail.example",
                        body=f"Я работаю до 19:00, можно прийти позже?\n\n{letter}"))
    school.cli("run", "--once")
    assert sorted(t["contact"] for t in _threads(school)) == ["Мария", "Ольга"]


def test_quoting_picks_one_of_the_senders_threads_with_the_same_subject(school):
    school.deliver(mail(body="Первый вопрос: как получить справку для бассейна?",
                        message_id="a@mail.example"))
    school.deliver(mail(body=QUESTION, message_id="b@mail.example"))
    school.cli("run", "--once")
    school.deliver(mail(subject="Re: Оплата за декабрь", message_id="c@mail.example",
                        body=quoting(QUESTION)))
    school.cli("run", "--once")
    counts = {t["id"]: t["messages"] for t in _threads(school)}
    assert counts == {1: 1, 2: 2}


def test_a_short_quoted_line_is_no_evidence(school):
    school.deliver(mail(body="Добрый день!\n" + QUESTION))
    school.cli("run", "--once")
    school.deliver(mail(subject="Re: Оплата за декабрь", sender="other@mail.example",
                        message_id="other@mail.example", body=quoting("Добрый день!")))
    school.cli("run", "--once")
    assert [t["messages"] for t in _threads(school)] == [1, 1]


def test_one_quoted_line_tells_apart_the_senders_own_threads(school):
    school.deliver(mail(body="Первый вопрос: как получить справку для бассейна?",
                        message_id="a@mail.example"))
    school.deliver(mail(body="Второй вопрос: где забрать форму после каникул?",
                        message_id="b@mail.example"))
    school.cli("run", "--once")
    school.deliver(mail(subject="Re: Оплата за декабрь", message_id="c@mail.example",
                        body=quoting("Второй вопрос: где забрать форму после каникул?")))
    school.cli("run", "--once")
    assert {t["id"]: t["messages"] for t in _threads(school)} == {1: 1, 2: 2}


CANNED = ("Оплатить обучение можно картой в личном кабинете, раздел «Платежи».\n"
          "Квитанция приходит на почту в течение часа после оплаты.")


def test_quoting_a_canned_answer_sent_to_many_does_not_join_someone_elses_thread(school):
    school.deliver(mail(body=QUESTION, message_id="olga@mail.example"))
    school.deliver(mail(sender="Папа <papa@mail.example>", message_id="papa1@mail.example",
                        body="Как оплатить декабрь? Карта не проходит уже второй день подряд."))
    school.cli("run", "--once")
    for thread_id in ("1", "2"):
        school.cli("reply", thread_id, "--as", "boris", "-m", CANNED)
    school.cli("run", "--once")
    school.cli("close", "2")
    school.deliver(mail(subject="Re: Оплата за декабрь", sender="Папа <papa@mail.example>",
                        message_id="papa2@mail.example", body="Спасибо!\n\n" + quoted(CANNED)))
    school.cli("run", "--once")
    counts = {t["id"]: (t["messages"], t["status"]) for t in _threads(school)}
    # Papa's own (closed) thread takes it and reopens; Olga's thread is untouched.
    assert counts == {1: (2, "open"), 2: (3, "open")}


def test_a_bottom_posted_reply_whose_words_occur_in_the_quote_still_counts_as_quoting(school):
    school.deliver(mail(body="Да, оплатить можно картой? " + QUESTION))
    school.cli("run", "--once")
    quote = quoted("Да, оплатить можно картой? " + QUESTION)
    school.deliver(mail(subject="Re: Оплата за декабрь", sender="Папа <papa@mail.example>",
                        message_id="papa@mail.example", body=f"{quote}\n\nДа"))
    school.cli("run", "--once")
    assert [t["messages"] for t in _threads(school)] == [2]


def test_a_mistyped_maildir_path_fails_the_channel_instead_of_reading_a_new_empty_one(school):
    school.deliver(mail())
    assert school.cli("check", "--connect").output.splitlines()[-1] == (
        f"support: OK {school.maildir}, 1 unread")
    school.write(INBOX_TOML.replace("/Maildir", "/Maildr"))
    failed = school.cli("check", "--connect", ok=False)
    assert (failed.exit_code, failed.output.splitlines()[-1]) == (1, (
        f"support: FAILED FileNotFoundError: Maildir {school.root / 'Maildr'} does not exist:"
        " fix path in inbox.toml, or create it where mail is delivered"))
    assert school.cli("run", "--once", ok=False).exit_code == 1
    assert not (school.root / "Maildr").exists()
    problems = json.loads(school.cli("status", "--json", "--failing-for", "0s", ok=False).output)
    assert problems["channels"][0]["state"] == "failing"
