"""compose_email: what we send must thread, round-trip through a parser and not loop."""

from __future__ import annotations

import re
from base64 import b64decode, b64encode
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header

from connectors.compose import compose_email, make_message_id
from connectors.mime import parse_email
from inbox.model import Attachment, Flag

LONG_SUBJECT = ("[#42] Re: Вопрос о расписании занятий для первого курса и о переносе "
                "экзамена по математике на следующую неделю")


def compose(**overrides) -> bytes:
    args = dict(from_addr="help@school.example", from_name="Служба поддержки Школы Кузнецова",
                to="Иван Петров <ivan@example.ru>", subject=LONG_SUBJECT,
                text="Здравствуйте!\n\nФайл: C:\\Users\\ivan\\отчёт.pdf\n<b>не тег</b>",
                message_id="<reply-1@school.example>")
    args.update(overrides)
    return compose_email(**args)


def test_long_cyrillic_subject_and_display_names_round_trip():
    raw = compose()
    inbound = parse_email(raw, account="t")
    assert inbound.subject == LONG_SUBJECT
    assert inbound.sender.display_name == "Служба поддержки Школы Кузнецова"
    assert inbound.sender.value == "help@school.example"
    assert inbound.recipients == ("ivan@example.ru",)
    assert inbound.keys.ticket == 42
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_body_is_text_plus_escaped_html_with_crlf_line_ends():
    raw = compose()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = message_from_bytes(raw)
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = (part.get_payload(decode=True).decode() for part in msg.get_payload())
    text = "Здравствуйте!\n\nФайл: C:\\Users\\ivan\\отчёт.pdf\n<b>не тег</b>"
    assert plain == text.replace("\n", "\r\n")  # on the wire, line ends are CRLF
    assert "<p>Здравствуйте!</p>" in html and "&lt;b&gt;не тег&lt;/b&gt;" in html
    assert parse_email(raw, account="t").text == text


def test_threading_headers():
    raw = compose(in_reply_to="p3@x", references=["<r1@x>", "p2@x"],
                  date=datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    msg = message_from_bytes(raw)
    assert msg["Message-ID"] == "<reply-1@school.example>"
    assert msg["In-Reply-To"] == "<p3@x>"
    assert msg["References"].split() == ["<r1@x>", "<p2@x>", "<p3@x>"]
    assert msg["Date"] == "Fri, 20 Nov 2026 10:00:00 +0000"
    assert msg["Thread-Index"] and msg["Thread-Topic"]
    inbound = parse_email(raw, account="t")
    assert inbound.keys.references == ("r1@x", "p2@x", "p3@x")


def test_messages_of_one_thread_share_outlook_thread_index():
    first = message_from_bytes(compose(in_reply_to="root@x", references=["root@x"]))
    second = message_from_bytes(compose(message_id="reply-2@x", in_reply_to="p@x",
                                        references=["root@x", "p@x"]))
    assert first["Thread-Index"] == second["Thread-Index"]


def test_an_answer_to_outlook_mail_extends_its_thread_index_and_keeps_its_topic():
    outlook = "AdtBmR7QAAECAwQFBgcICQoLDA0ODw=="  # 22 bytes: a conversation header block
    sent = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    first, second = (message_from_bytes(compose(
        continues_thread_index=outlook, subject="Re: Справка для бассейна [#7]", date=sent)
        ) for _ in range(2))
    index = b64decode(first["Thread-Index"])
    assert index[:22] == b64decode(outlook) and len(index) == 27  # one reply block more
    assert first["Thread-Index"] != second["Thread-Index"]  # each answer its own block
    topic = str(make_header(decode_header(first["Thread-Topic"])))
    assert topic == "Справка для бассейна"  # the customer's, without "Re:" or our token


def test_the_reply_block_counts_the_time_since_the_conversation_began_in_either_form():
    sent = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    began = int((sent - timedelta(hours=3) - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds()
                * 10_000_000)  # a FILETIME: 100 ns since 1601
    exchange = b"\x01" + (began >> 24).to_bytes(5, "big") + bytes(16)  # the spec's header
    desktop = (began >> 16).to_bytes(6, "big") + bytes(16)  # Outlook desktop's header
    for header in (exchange, desktop):
        parent = b64encode(header).decode()
        block = b64decode(message_from_bytes(compose(
            continues_thread_index=parent, date=sent))["Thread-Index"])[22:]
        delta = int.from_bytes(block[:4], "big") << 18  # delta code 0: bits 49..18
        assert abs(delta / 10_000_000 / 3600 - 3) < 0.01


def test_references_are_capped_keeping_root_and_latest():
    refs = [f"r{i}@x" for i in range(50)]
    msg = message_from_bytes(compose(in_reply_to="last@x", references=refs))
    ids = msg["References"].split()
    assert len(ids) == 20 and ids[0] == "<r0@x>" and ids[-1] == "<last@x>"


def test_automatic_mail_says_so_and_is_recognised_by_our_own_parser():
    raw = compose(automatic=True)
    msg = message_from_bytes(raw)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert Flag.AUTOMATIC in parse_email(raw, account="t").flags
    assert message_from_bytes(compose())["Auto-Submitted"] is None


def test_attachments_make_multipart_mixed_with_exact_bytes_and_names():
    pdf = b"%PDF-1.4\x00\xff" * 10
    raw = compose(attachments=[
        Attachment("отчёт за ноябрь.pdf", "application/pdf", len(pdf), data=pdf),
        Attachment("logo.png", "image/png", 4, data=b"\x89PNG", inline=True, content_id="logo@x"),
    ])
    assert message_from_bytes(raw).get_content_type() == "multipart/mixed"
    inbound = parse_email(raw, account="t")
    assert [(a.filename, a.data, a.content_type) for a in inbound.attachments] == [
        ("отчёт за ноябрь.pdf", pdf, "application/pdf"),
        ("logo.png", b"\x89PNG", "image/png"),
    ]
    assert inbound.attachments[1].inline and inbound.attachments[1].content_id == "logo@x"
    assert inbound.text.startswith("Здравствуйте!")


def test_a_saved_mail_or_a_reports_part_goes_along_as_bytes():
    files = [Attachment(name, ctype, len(data), data) for name, ctype, data in (
        ("forwarded.eml", "message/rfc822", b"From: a@b.c\r\nSubject: hi\r\n\r\nhello\r\n"),
        ("attachment-1.txt", "message/delivery-status", b"Action: failed\r\n"),
        ("attachment-2.bin", "multipart/mixed", b"no boundary here"))]
    msg = message_from_bytes(compose(attachments=files))
    sent = [part for part in msg.walk() if part.get_filename()]
    assert [(p.get_filename(), p.get_payload(decode=True)) for p in sent] == [
        (f.filename, f.data) for f in files]


def test_reply_to_and_extra_headers_without_duplicates():
    raw = compose(reply_to="Школа <reply+42@school.example>",
                  extra_headers={"X-Ticket": "42", "Subject": "Другая тема"})
    msg = message_from_bytes(raw)
    assert "reply+42@school.example" in msg["Reply-To"]
    assert msg["X-Ticket"] == "42"
    assert len(msg.get_all("Subject")) == 1
    assert parse_email(raw, account="t").subject == "Другая тема"


def test_make_message_id_is_unique_and_bare():
    first, second = make_message_id("school.example"), make_message_id("school.example")
    assert first != second
    assert re.fullmatch(r"[\w.]+@school\.example", first)


def test_empty_message_id_gets_a_new_one_in_sender_domain():
    msg = message_from_bytes(compose(message_id=""))
    assert re.fullmatch(r"<[\w.]+@school\.example>", msg["Message-ID"])
