"""parse_email: raw bytes in, a normalised Inbound out, whatever the bytes are."""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import mime, mimetree
from connectors.filenames import safe_filename, sniff_content_type
from connectors.mime import decode_bytes, decode_header_value, parse_email, unflow
from connectors.printable import printable
from inbox.model import Flag

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "email"
RUSSIAN = "Здравствуйте, прошу перенести экзамен по математике на следующую неделю."


def message(headers: str, body: bytes = b"hello\n") -> bytes:
    return headers.strip("\n").replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


def multipart(*parts: bytes, subtype: str = "mixed") -> bytes:
    head = (f"From: a@example.com\nSubject: parts\nMIME-Version: 1.0\n"
            f"Content-Type: multipart/{subtype}; boundary=XYZ")
    body = b"".join(b"--XYZ\r\n" + part + b"\r\n" for part in parts) + b"--XYZ--\r\n"
    return message(head, body)


def parse(raw: bytes, **kwargs) -> object:
    return parse_email(raw, account="support", **kwargs)


# --- headers and identity ---------------------------------------------------------------


ADDRESS_FORMS = [
    "Ivan\xa0Petrov <a@b.c>", "a  b <x@y>", "<x@y>", "x@y", " x@y ", "Иван <a@b>", "a..b@c",
    "J. Smith <j@x>", "a@b, c@d", '"Q" <a@b>', "a <b@c> d", "=?utf-8?b?0JjQsg==?= <a@b.ru>",
    "a\t\tb\r\n <c@d>", "x <a.@b>", "x <.a@b>", "x<a@b>", "x < a@b >", "(c) a@b",
    "Undisclosed recipients:;", "a@b (Ann)", "Ann <a@b>,", "\udcd0\udc98 <a@b>",
    '"Brown, Michael" <m@x>', '""<a@b>', '" Spaced  Name " <a@b>', '"a\\"b" <c@d>',
    '"unterminated <a@b>', '"A" "B" <a@b>', '"A"B <a@b>', 'B"A" <a@b>', '"Иван Петров" <a@b>',
    '"a(b)c" <a@b>', '"x" <a@b> (c)', '"x"', '"x" a@b', '"a\tb" <c@d>', '"<a@b>" <c@d>',
    '"=?utf-8?b?0JjQsg==?=" <a@b.ru>', '"x" <a@b>, "y" <c@d>', "\"x\" <a@b>",
]


def corpus_addresses() -> list[str]:
    values = []
    for path in sorted(CORPUS.glob("**/*.eml")):
        msg = mimetree.parse_bytes(path.read_bytes().lstrip(), mime._POLICY)
        for name in ("From", "To", "Cc", "Reply-To", "Sender"):
            values += [mime._unfold(str(value)) for value in msg.get_all(name) or []]
    return values


def test_addresses_read_without_the_stdlib_parser_are_read_as_it_reads_them() -> None:
    values = ADDRESS_FORMS + corpus_addresses()
    simple = 0
    for value in values:
        msg = Message(mime._POLICY)  # 8-bit bytes stay as surrogates, as in mail read
        msg["To"] = value
        assert mime._addresses(msg, "To") == [
            (n, a) for n, a in getaddresses([value]) if a and "@" in a], value
        simple += mime._SIMPLE_ADDRESS.fullmatch(value) is not None
    assert simple > len(values) // 2  # the comparison is mostly of the fast path


CHARSET_FORMS = [
    'text/plain; charset="utf-8"', "TEXT/HTML;CHARSET=KOI8-R", "text/plain;\r\n\tcharset=us-ascii",
    'text/plain; charset="utf-8"; format=flowed', "text/plain; charset=a; charset=b",
    "text/plain; format=flowed; charset=utf-8", "text/plain; charset*=utf-8''x",
    'text/plain; charset="a;b"', 'text/plain; charset="a\\"b"', 'text/plain; charset="utf-8',
    "text/plain; charset=\u017f", "text/plain; charset=\u212a", 'text/plain; charset=""',
    "text/plain; charset=utf=8", "text/plain; charset*0=utf; charset*1=-8", "text/plain",
    "charset=utf-8", "text/plain; charset = utf-8 ; x", 'text/plain; charset="utf 8"',
    "text/plain; charset=utf-8; x*=a; x*0=b", "text/plain; charset=utf-8;\r\n format=flowed",
]


def test_charset_read_without_the_stdlib_parser_is_read_as_it_reads_it() -> None:
    def stdlib(part: Message) -> str | None:
        try:
            return part.get_content_charset()
        except (ValueError, LookupError, TypeError):
            return None

    parts = []
    for value in CHARSET_FORMS:
        part = Message(mime._POLICY)
        part["Content-Type"] = value
        parts.append(part)
    for path in sorted(CORPUS.glob("**/*.eml")):
        parts += mimetree.parse_bytes(path.read_bytes().lstrip(), mime._POLICY).walk()
    assert [mime._charset(part) for part in parts] == [stdlib(part) for part in parts]
    fast = sum(isinstance(value := part.get("content-type"), str)
               and mime._SIMPLE_CHARSET.fullmatch(value) is not None for part in parts)
    assert fast > len(parts) // 5  # a quarter of all parts (containers and files have none)


def test_sender_is_lowercased_address_with_decoded_display_name():
    raw = message("From: =?utf-8?b?0JjQstCw0L0g0J/QtdGC0YDQvtCy?= <Ivan.Petrov@Example.RU>\n"
                  "To: Support <Support@School.example>, b@x.org\nCc: C <c@x.org>")
    msg = parse(raw)
    assert (msg.sender.kind, msg.sender.value) == ("email", "ivan.petrov@example.ru")
    assert msg.sender.display_name == "Иван Петров"
    assert msg.recipients == ("support@school.example", "b@x.org", "c@x.org")
    assert msg.channel == "email" and msg.account == "support" and msg.raw == raw


def test_display_name_split_mid_character_across_encoded_words_has_no_stray_space():
    name = "Кузнецов".encode()
    first, second = base64.b64encode(name[:5]).decode(), base64.b64encode(name[5:]).decode()
    raw = message(f"From: =?utf-8?b?{first}?= =?utf-8?b?{second}?= <k@example.ru>")
    assert parse(raw).sender.display_name == "Кузнецов"


def test_subject_keeps_space_between_encoded_word_and_plain_text():
    assert decode_header_value("=?utf-8?q?=D0=9F=D1=80=D0=B8=D0=B2=D0=B5=D1=82?= world") == (
        "Привет world")


def test_broken_encoded_word_is_kept_as_written():
    assert decode_header_value("=?utf-8?b?@@@?= ok") == "=?utf-8?b?@@@?= ok"
    assert decode_header_value("=?no-such-charset?q?abc?=") == "abc"


def test_raw_8bit_utf8_and_koi8r_subjects_are_decoded():
    assert parse("Subject: Привет, мир\r\n\r\nx".encode()).subject == "Привет, мир"
    raw = b"Subject: " + RUSSIAN.encode("koi8-r") + b"\r\n\r\nx"
    assert parse(raw).subject == RUSSIAN


def test_ids_ticket_and_threading_keys():
    raw = message("From: a@b.c\nSubject: Re: [#123] Оплата\nMessage-ID: <m1@x>\n"
                  "In-Reply-To: message from x <p1@x>\nReferences: <r1@x>\n <p1@x>")
    msg = parse(raw)
    assert msg.external_id == "m1@x"
    assert msg.keys.message_id == "m1@x" and msg.keys.in_reply_to == "p1@x"
    assert msg.keys.references == ("r1@x", "p1@x")
    assert msg.keys.ticket == 123


def test_terminal_escapes_and_control_characters_never_reach_subject_or_text():
    raw = message("From: a@b.c\nSubject: Hi \x1b[2J\x1b[31mRED\x1b[0m =?x-unknown?B?AAAA?= there",
                  body=b"line one\x1b]0;owned\x07\x00\nline\ttwo\x1b[1m!\r\n")
    msg = parse(raw)
    assert msg.subject == "Hi RED there"
    assert msg.text == "line one\nline\ttwo!\n"
    assert msg.raw == raw
    # A stray escape loses itself, never the text after it.
    assert printable("Dear school,\x1b]0;\nmy son is sick.\x1b[") == (
        "Dear school,]0;\nmy son is sick.[")


def test_missing_message_id_gives_content_hash():
    raw = message("From: a@b.c")
    msg = parse(raw)
    assert msg.external_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert msg.keys.ticket is None


def test_date_header_gives_aware_received_at_and_broken_date_falls_back_to_now_utc():
    msg = parse(message("From: a@b.c\nDate: Fri, 20 Nov 2026 10:00:00 +0300"))
    assert msg.received_at == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    before = datetime.now(UTC).replace(microsecond=0)
    broken = parse(message("From: a@b.c\nDate: the day after tomorrow"))
    assert broken.received_at.tzinfo is not None and broken.received_at >= before
    assert broken.received_at.microsecond == 0  # whole seconds, like every other time
    given_time = datetime(2020, 1, 1, tzinfo=UTC)
    assert parse(message("From: a@b.c"), received_at=given_time).received_at == given_time


@pytest.mark.parametrize(("header", "expected"), [
    ("Importance: High", "high"), ("X-Priority: 1 (Highest)", "high"),
    ("X-Priority: 5 (Lowest)", "low"), ("Importance: low", "low"), ("X-Priority: 3", "normal"),
])
def test_importance_is_normalised(header, expected):
    assert parse(message(f"From: a@b.c\n{header}")).meta["importance"] == expected


def test_meta_keeps_authentication_results_and_language_hint():
    msg = parse(message("From: a@b.c\nAuthentication-Results: mx; dkim=pass\n"
                        "Content-Language: ru-RU"))
    assert msg.meta["authentication-results"] == "mx; dkim=pass"
    assert msg.language_hints == {"content-language": "ru-RU"}
    assert msg.meta["auto"] == ""


def test_own_address_is_flagged():
    msg = parse(message("From: Support <SUPPORT@school.example>"),
                own_addresses=("support@school.example",))
    assert Flag.OWN_ADDRESS in msg.flags


# --- charsets -------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "label"), [
    ("koi8-r", "windows-1251"),  # the lie seen from old clients
    ("cp1251", "koi8-r"),
    ("cp1251", None),
    ("koi8-r", None),
    ("utf-8", None),
    ("utf-8", "iso-8859-1"),
    ("cp1251", "cp1251"),
    ("mac-cyrillic", "x-mac-cyrillic"),
    ("cp1251", "iso-8859-1"),  # old Russian clients labelled everything latin-1
])
def test_cyrillic_body_decodes_whatever_the_label_says(encoding, label):
    text, lossy = decode_bytes(RUSSIAN.encode(encoding), label)
    assert text == RUSSIAN and not lossy


@pytest.mark.parametrize(("text", "label"), [
    ("안녕하세요 학교", "ks_c_5601-1987"), ("学校的课程表", "gb2312"), ("Größe und Maße", None),
    ("Größe und Maße", "unknown-8bit"), ("Hi Mom -+ACE-", "unicode-1-1-utf-7"),
])
def test_aliases_and_fallbacks(text, label):
    codec = {"ks_c_5601-1987": "cp949", "gb2312": "gb18030", None: "cp1252",
             "unknown-8bit": "cp1252", "unicode-1-1-utf-7": "ascii"}[label]
    decoded, lossy = decode_bytes(text.encode(codec), label)
    expected = "Hi Mom -!" if label == "unicode-1-1-utf-7" else text
    assert decoded == expected and not lossy


@pytest.mark.parametrize("text", [
    "Très bien, merci à vous. Où êtes-vous? Ça va très bien, déjà fait.",
    "Größe und Maße für die Schüler, bitte prüfen Sie die Übersicht.",
])
@pytest.mark.parametrize("label", ["iso-8859-1", "windows-1252", None])
def test_western_text_is_not_mistaken_for_cyrillic(text, label):
    assert decode_bytes(text.encode("cp1252"), label) == (text, False)


def test_backslashes_in_body_are_data():
    raw = message("From: a@b.c\nContent-Type: text/plain; charset=utf-8",
                  "Файл лежит в C:\\Users\\new\\table.xlsx\n".encode())
    assert parse(raw).text == "Файл лежит в C:\\Users\\new\\table.xlsx\n"


def test_broken_utf8_is_decoded_with_replacement_and_flagged():
    body = ("Привет, " * 20).encode() + b"\xd0"
    raw = message("From: a@b.c\nContent-Type: text/plain; charset=utf-8", body)
    msg = parse(raw)
    assert msg.text.startswith("Привет, Привет") and msg.text.endswith("\ufffd")
    assert Flag.UNDECODABLE in msg.flags


# --- bodies -----------------------------------------------------------------------------


def test_plain_text_is_preferred_and_html_kept_aside():
    raw = multipart(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + RUSSIAN.encode(),
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>" + RUSSIAN.encode() + b"</p>",
        subtype="alternative")
    msg = parse(raw)
    assert msg.text == RUSSIAN and msg.html == f"<p>{RUSSIAN}</p>"


def test_html_only_becomes_readable_text_with_charset_from_meta():
    html = ('<html><head><meta charset="windows-1251"><style>p{color:red}</style></head>'
            f"<body><p>{RUSSIAN}</p><p>Second &amp; last</p></body></html>")
    raw = message("From: a@b.c\nContent-Type: text/html", html.encode("cp1251"))
    msg = parse(raw)
    assert msg.text == f"{RUSSIAN}\n\nSecond & last"


def test_links_in_html_read_as_text_and_address_not_as_markdown():
    html = ('<p>См. <a href="https://school.example/schedule">расписание</a>,'
            ' <a href="https://school.example/a_b">https://school.example/a_b</a>,'
            ' <a href="mailto:office@school.example">office@school.example</a>.'
            " Literal [x](y) stays.</p>")
    msg = parse(message("From: a@b.c\nContent-Type: text/html; charset=utf-8", html.encode()))
    assert msg.text == ("См. расписание (https://school.example/schedule),"
                        " https://school.example/a_b, office@school.example. Literal [x](y)"
                        " stays.")


def test_format_flowed_lines_are_joined_as_their_writer_meant():
    body = ("Продлёнка работает до \r\n18:00, по пятницам до \r\n17:00.\r\n\r\n"
            "-- \r\nБорис\r\n> старый \r\n> вопрос\r\n")
    raw = message("From: a@b.c\nContent-Type: text/plain; charset=utf-8; format=flowed",
                  body.encode())
    assert parse(raw).text == ("Продлёнка работает до 18:00, по пятницам до 17:00.\n\n-- \nБорис"
                               "\n> старый вопрос\n")
    assert unflow("a-\nb", delsp=True) == "a-\nb"
    assert unflow("split here \nend", delsp=True) == "split hereend"


def test_a_message_forwarded_as_an_attachment_is_in_the_text_below_the_senders_own():
    inner = ("From: =?utf-8?b?0JzQsNC80LA=?= <mama@mail.example>\r\nSubject: Экскурсия\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n\r\nКогда будет экскурсия в музей?\r\n")
    raw = multipart(
        "Content-Type: text/plain; charset=utf-8\r\n\r\nПересылаю вопрос родителя.".encode(),
        f"Content-Type: message/rfc822\r\n\r\n{inner}".encode())
    msg = parse(raw)
    assert msg.visible == "Пересылаю вопрос родителя."
    assert msg.text.endswith("---------- Forwarded message ----------\nFrom: Мама"
                             " <mama@mail.example>\nSubject: Экскурсия\n\n"
                             "Когда будет экскурсия в музей?\n")
    assert [a.content_type for a in msg.attachments] == ["message/rfc822"]


def test_text_attachment_beside_body_is_an_attachment_not_text():
    raw = multipart(
        b"Content-Type: text/plain\r\n\r\nSee the log.",
        b"Content-Type: text/plain; name=log.txt\r\nContent-Disposition: inline; "
        b"filename=log.txt\r\n\r\nERROR line 1",
    )
    msg = parse(raw)
    assert msg.text == "See the log."
    assert [(a.filename, a.data) for a in msg.attachments] == [("log.txt", b"ERROR line 1")]


def test_quoted_history_is_split_from_visible_text():
    body = ("Спасибо, всё понятно.\n\n"
            "пт, 20 нояб. 2026 г. в 10:00, Школа <help@school.example>:\n> Ваш вопрос\n")
    raw = message("From: a@b.c\nContent-Type: text/plain; charset=utf-8", body.encode())
    msg = parse(raw)
    assert msg.text == body and msg.visible == "Спасибо, всё понятно."


def test_forward_as_attachment_without_text_shows_the_forwarded_text():
    inner = b"From: x@y.z\r\nSubject: Original\r\n\r\nThe original question."
    raw = multipart(b"Content-Type: text/plain\r\n\r\n",
                    b"Content-Type: message/rfc822\r\n\r\n" + inner)
    msg = parse(raw)
    assert msg.text == "The original question."
    assert [a.filename for a in msg.attachments] == ["Original.eml"]
    assert msg.attachments[0].content_type == "message/rfc822"


OUTLOOK_QUOTE = ("<div id=\"divRplyFwdMsg\"><b>From:</b> School &lt;support@school.example&gt;"
                 "<br><b>Sent:</b> Monday, November 23, 2026 4:56 PM<br><b>To:</b> Olga<br>"
                 "<b>Subject:</b> [#1] Оплата</div><div>[#1] New thread for you</div>")
OWA_SIGNATURE = ("<div id=\"Signature\"><div>Olga Ivanova<br>olga@staff.example |"
                 " +7 701 111 22 33</div></div>")
WORD_SIGNATURE = ("<p class=MsoNormal><a name=\"_MailAutoSig\"><span>С уважением,<o:p></o:p>"
                  "</span></a></p><p class=MsoNormal>Ольга Иванова<br>olga@staff.example</p>")


def outlook(html: str, plain: str = "") -> bytes:
    head = "From: Olga <olga@staff.example>\nSubject: RE: [#1] Оплата\nMIME-Version: 1.0\n"
    html_part = f"<html><body>{html}</body></html>".encode()
    if not plain:
        return message(head + "Content-Type: text/html; charset=utf-8", html_part)
    return message(head + "Content-Type: multipart/alternative; boundary=XYZ",
                   b"--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain.encode()
                   + b"\r\n--XYZ\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html_part
                   + b"\r\n--XYZ--\r\n")


@pytest.mark.parametrize("signature", [
    # Word's bookmark around the crest only, or empty: the signature is the text from it on
    "<p class=MsoNormal><a name=\"_MailAutoSig\"><img src=\"cid:image001.gif@01CB\"></a><br>"
    "<b>Ольга Иванова</b><br>olga@staff.example</p>",
    "<p class=MsoNormal><a name=\"_MailAutoSig\"></a><b><span>&nbsp;</span></b></p>"
    "<p class=MsoNormal><span style='mso-bookmark:_MailAutoSig'>Ольга Иванова<br>"
    "olga@staff.example<img src=\"cid:banner@01CB\"></span></p>",
])
def test_a_signature_words_bookmark_starts_is_cut_and_its_pictures_known(signature):
    parsed = parse(outlook(f"<div>Собрание в четверг.</div>{signature}{OUTLOOK_QUOTE}"))
    assert parsed.visible == "Собрание в четверг."
    assert parsed.meta["signature-pictures"] in ("image001.gif@01CB", "banner@01CB")


@pytest.mark.parametrize("signature", [OWA_SIGNATURE, WORD_SIGNATURE])
def test_the_signature_outlook_marks_in_its_html_is_not_the_reply(signature):
    html = f"<div>Собрание в четверг.</div>{signature}{OUTLOOK_QUOTE}"
    assert parse(outlook(html)).visible == "Собрание в четверг."
    plain = ("Собрание в четверг.\n\nOlga Ivanova\nolga@staff.example | +7 701 111 22 33\n\n"
             if signature == OWA_SIGNATURE else
             "Собрание в четверг.\n\nС уважением,\nОльга Иванова\nolga@staff.example\n\n")
    plain += ("From: School <support@school.example>\nSent: Monday, November 23, 2026 4:56 PM\n"
              "To: Olga\nSubject: [#1] Оплата\n\n[#1] New thread for you")
    parsed = parse(outlook(html, plain))
    assert parsed.visible == "Собрание в четверг."
    assert "olga@staff.example" in parsed.text  # the full text keeps it


@pytest.mark.parametrize(("reply", "quoted"), [
    # an empty placeholder (a signature deleted by hand): the words after it are the reply
    ("<div>Здравствуйте!</div><div id=\"Signature\"><br></div>"
     "<div>Оплата прошла, квитанция в приложении.</div><div>Ольга</div>", ""),
    # a signature in the quoted mail (Outlook prefixes its ids with x_ there)
    ("<div>Здравствуйте!</div><div>Оплата прошла, квитанция в приложении.</div><div>Ольга</div>",
     "<div id=\"x_Signature\"><p>Ольга</p></div>"),
])
def test_words_outside_a_marked_signature_are_never_cut(reply, quoted):
    parsed = parse(outlook(f"{reply}{OUTLOOK_QUOTE}{quoted}"))
    assert " ".join(parsed.visible.split()) == (
        "Здравствуйте! Оплата прошла, квитанция в приложении. Ольга")
    assert Flag.QUOTED_ONLY not in parsed.flags


def test_only_the_signature_outlook_marks_above_the_quote_is_no_new_words():
    parsed = parse(outlook(f"{OWA_SIGNATURE}{OUTLOOK_QUOTE}"))
    assert Flag.QUOTED_ONLY in parsed.flags


# --- attachments ------------------------------------------------------------------------


def test_attachment_bytes_are_kept_exactly_and_generic_type_is_sniffed():
    pdf = b"%PDF-1.4\n\x00\x01\xff binary"
    raw = multipart(
        b"Content-Type: text/plain\r\n\r\nbody",
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf"
        b"\r\n\r\n" + base64.b64encode(pdf),
    )
    [attachment] = parse(raw).attachments
    assert attachment.data == pdf and attachment.size == len(pdf)
    assert attachment.filename == "отчёт.pdf"
    assert attachment.content_type == "application/pdf"


def test_attachment_over_the_cap_keeps_metadata_only():
    raw = multipart(
        b"Content-Type: text/plain\r\n\r\nbody",
        b"Content-Type: image/png; name=\"=?utf-8?q?=D1=84=D0=BE=D1=82=D0=BE.png?=\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"\x89PNG" + b"x" * 996),
    )
    msg = parse(raw, max_attachment_bytes=999)
    [attachment] = msg.attachments
    assert (attachment.filename, attachment.size, attachment.data) == ("фото.png", 1000, None)
    assert Flag.ATTACHMENT_DROPPED in msg.flags


def test_inline_image_has_content_id():
    raw = multipart(
        b"Content-Type: text/html\r\n\r\n<img src=\"cid:logo@x\">",
        b"Content-Type: image/gif\r\nContent-ID: <logo@x>\r\nContent-Disposition: inline\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"GIF89a..."),
        subtype="related")
    [attachment] = parse(raw).attachments
    assert attachment.inline and attachment.content_id == "logo@x"
    assert attachment.filename == "attachment-1.gif"


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\report.docx", "report.docx"),
    ("...hidden", "hidden"),
    ("evil\x00name\x07.txt", "evilname.txt"),
    ("photo\u202egpj.exe", "photogpj.exe"),  # a right-to-left override hides the real extension
    ("", "attachment-3.pdf"),
    ("   ", "attachment-3.pdf"),
    ("CON.txt", "_CON.txt"),
    ('Re: "plan" <v2>?.doc', "Re_ _plan_ _v2__.doc"),
])
def test_safe_filename(name, expected):
    assert safe_filename(name, 3, "application/pdf") == expected


def test_long_filename_is_cut_keeping_extension():
    name = safe_filename("я" * 300 + ".pdf", 1, "application/pdf")
    assert name.endswith(".pdf") and len(name.encode()) <= 200


def test_the_bytes_decide_the_type_when_they_prove_it_and_a_container_keeps_its_label():
    program = b"MZ" + b"\0" * 0x3A + (0x40).to_bytes(4, "little") + b"PE\0\0" + b"\0" * 64
    assert sniff_content_type(program, "application/pdf") == "application/x-msdownload"
    assert sniff_content_type(b"%PDF-1.4", "image/png") == "application/pdf"
    assert sniff_content_type(b"\x89PNG\r\n\x1a\n....", "image/jpeg") == "image/png"
    assert sniff_content_type(b"PK\x03\x04", "") == "application/zip"
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert sniff_content_type(b"PK\x03\x04", docx) == docx
    assert sniff_content_type(b"MZ-1234 order list", "text/plain") == "text/plain"


# --- never raising ----------------------------------------------------------------------


def test_internal_failure_quarantines_with_lenient_sender_and_raw_kept():
    raw = message("From: Ivan <IVAN@example.ru>\nMessage-ID: <q1@x>\n"
                  "Subject: =?utf-8?B?0KHQv9GA0LDQstC60LA=?=")
    msg = parse(raw, own_addresses=[1])  # a caller's bad argument makes the normaliser fail
    assert msg.flags == {Flag.QUARANTINED}
    assert msg.subject == "Справка"  # names its thread, not the first raw line
    assert msg.sender.value == "ivan@example.ru" and msg.external_id == "q1@x"
    assert msg.raw == raw and "hello" in msg.text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw):
    msg = parse(raw)
    assert msg.raw == raw and msg.channel == "email" and msg.received_at.tzinfo is not None


@functools.cache
def _corpus_sample() -> tuple[bytes, ...]:
    files = sorted(CORPUS.glob("**/*.eml"))
    return tuple(f.read_bytes() for f in files if f.stat().st_size < 30_000)[::7]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared email corpus not present")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_corpus_messages_never_raise(data):
    raw = bytearray(data.draw(st.sampled_from(_corpus_sample())))
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[pos : pos + data.draw(st.integers(1, 200))]
        else:
            raw[pos:pos] = data.draw(st.sampled_from(
                [b"\r\n\r\n", b"=?utf-8?b?", b"--", b"boundary=", b"\xff\xfe", b"\x00", b">"]))
    msg = parse(bytes(raw))
    assert msg.raw == bytes(raw)


def test_a_picture_pasted_into_html_is_kept_as_an_inline_attachment():
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    encoded = base64.b64encode(picture).decode()
    html = (f'<div>Вот квитанция об оплате:</div><div><img src="data:image/png;base64,'
            f'{encoded[:40]}\r\n{encoded[40:]}" alt="квитанция"></div>')
    msg = parse(message("From: a@example.com\nContent-Type: text/html; charset=utf-8",
                        html.encode()))
    assert msg.text == "Вот квитанция об оплате:"
    (kept,) = msg.attachments
    assert (kept.content_type, kept.data, kept.inline) == ("image/png", picture, True)


def test_text_in_a_charset_nobody_knows_is_guessed_and_flagged_unless_it_reads_cyrillic():
    guessed = parse(message("From: a@example.com\nContent-Type: text/plain; charset=x-made-up",
                            b"\x81\x82\x83\x84 unknown\n"))
    assert Flag.UNDECODABLE in guessed.flags
    cyrillic = parse(message("From: a@example.com\nContent-Type: text/plain; charset=x-made-up",
                             "Привет мир\n".encode("cp1251")))
    assert (cyrillic.text.strip(), cyrillic.flags) == ("Привет мир", set())


def test_a_multipart_without_a_boundary_is_read_as_text_and_flagged():
    msg = parse(message("From: a@example.com\nContent-Type: multipart/mixed",
                        b"Hello, this is the body\n"))
    assert (msg.text.strip(), msg.attachments) == ("Hello, this is the body", [])
    assert Flag.UNDECODABLE in msg.flags
