"""split_reply: the customer's new words apart from quoted history and signature."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from connectors.mime import _html_to_text
from connectors.quotes import split_reply, split_signature, strip_quotes

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "email"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared email corpus not present")


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("history", [
    "On Fri, Nov 20, 2026 at 10:00 AM Ivan Petrov <ivan@example.com> wrote:\n> old",
    "On Fri, Nov 20, 2026 at 10:00 AM Ivan Petrov <ivan@example.com>\nwrote:\n\nold unquoted",
    "пт, 20 нояб. 2026 г. в 10:00, Иван <ivan@example.ru>:\n> старое",
    "20.11.2026, 10:00, \"Иван Петров\" <ivan@example.ru>:\n> старое",
    "20 листопада 2026 р. о 10:00 Іван <ivan@example.ua> пише:\n> старе",
    "2026 ж. 20 қар., жұма, 10:00 Айгерім <a@example.kz> жазды:\n> ескі",
    "Am 20.11.2026 um 10:00 schrieb Max Muster <max@example.de>:\n> alt",
    "-----Original Message-----\nFrom: x\nold",
    "-------- Пересылаемое сообщение --------\n20.11.2026, 10:00, Иван\nстарое",
    "-------- Исходное сообщение --------\nОт: Иван\nстарое",
    "From: Ivan [mailto:ivan@example.com]\nSent: Friday, November 20, 2026 10:00 AM\n"
    "To: Support\nSubject: Question\n\nold",
    "От: Иван Петров <ivan@example.ru>\nОтправлено: 20 ноября 2026 г. 10:00\nКому: Школа\n"
    "Тема: Вопрос\n\nстарое",
    "Von: Max <max@example.de>\nGesendet: Freitag, 20. November 2026 10:00\nAn: Schule\n"
    "Betreff: Frage\n\nalt",
    "________________________________\nFrom: Ivan\nSent: Friday, November 20, 2026 10:00 AM\n"
    "To: Support\n\nold",
    "> just a quote\n> more",
    "Am 20.11.26 um 10:00 schrieb Test School:\n> alt",  # Thunderbird de
    "20.11.2026 10:00, Test School пишет:\n> старое",  # Thunderbird ru
])
def test_history_is_cut_in_every_language(history):
    visible, rest, _ = split_reply(f"Новый ответ.\nВторая строка.\n\n{history}\n")
    assert visible == "Новый ответ.\nВторая строка."
    assert rest.split()[0] in history


@pytest.mark.parametrize("signature", [
    "-- \nИван Петров\n+7 700 000 00 00",
    "Sent from my iPhone",
    "Отправлено с iPhone",
    "Отправлено из мобильной Почты Mail.ru",
    "Sent from Yandex Mail",
    "Von meinem iPhone gesendet",
    "Get Outlook for Android",
    "Получить Outlook для Android<https://aka.ms/AAb9ysg>",
])
def test_signature_is_split_off(signature):
    body, found = split_signature(f"Спасибо!\n\n{signature}")
    assert (body, found) == ("Спасибо!", signature)


def test_text_that_only_mentions_sending_is_not_a_signature():
    text = "Here is another email\n\nSent from my desk, is much easier then my mobile phone."
    assert split_reply(text) == (text, "", False)


def test_inline_answers_after_a_quote_are_kept():
    text = ("On Tue, Apr 29, 2014 at 4:22 PM, Dev <dev@example.com> wrote:\n\n> question one\n\n"
            "answer one\n\n> question two\n\nanswer two\n")
    assert words(strip_quotes(text)[0]) == "answer one answer two"


def test_a_message_that_is_only_a_quote_stays_visible_and_says_so():
    assert split_reply("> all quoted\n> text") == ("> all quoted\n> text", "", True)
    assert split_reply("On Fri, 20 Nov 2026, Anna <a@b.kz> wrote:\n> text").quoted_only
    assert not split_reply("new words\n> text").quoted_only
    assert not split_reply("").quoted_only


QUOTED_NOTIFICATION = ("On Mon, 23 Nov 2026 at 10:00, School <support@school.example> wrote:\n"
                       "> [#1] New thread for you\n> From: Ольга · email · ru\n"
                       "> Subject: Оплата\n>\n> Как оплатить?")


@pytest.mark.parametrize("own", ["-- \nOlga Ivanova\nSunny School office",
                                 "--\nС уважением,\nОльга", "Sent from my iPhone",
                                 "Отправлено с iPhone", "-----Original Message-----",
                                 "Sent from my Pixel 7", "Sent from Mail for Windows",
                                 "Sent with Proton Mail secure email."])
def test_only_what_the_client_adds_above_a_quote_is_no_new_words(own):
    assert split_reply(f"{own}\n\n{QUOTED_NOTIFICATION}").quoted_only
    assert not split_reply(f"Спасибо!\n{own}\n\n{QUOTED_NOTIFICATION}").quoted_only


def test_a_one_line_answer_like_a_client_footer_is_an_answer():
    for own in ("Отправлено с опозданием из-за праздников", "Sent with the invoice attached"):
        assert not split_reply(f"{own}\n\n{QUOTED_NOTIFICATION}").quoted_only


@pytest.mark.parametrize("own", [
    "Проверьте почту.\nОтправлено: вчера в 15:00\nСсылка действует 3 дня.",
    "Расписание:\nDate: 28.11, 18:00\nTo: родителям 5А\nКабинет 12.",
    "Из бухгалтерии:\nFrom: бухгалтерия\nSent: вчера\nСумма к оплате 5000 тг.",
])
def test_field_like_lines_above_a_quote_do_not_join_its_quoted_fields(own):
    assert split_reply(f"{own}\n\n{QUOTED_NOTIFICATION}").visible == own


@pytest.mark.parametrize("text", [
    'Здравствуйте!\nВ дневнике учитель написал:\n"Не выполнил домашнее задание"\n'
    "Но сын болел, справка есть. Прошу исправить оценку.",
    'Hi,\nOn Monday my son wrote:\n"I don\'t want to go to school"\nCan the psychologist call?',
    "Добрый день!\nКому: директору школы №5\nОт: Ивановой Марии Петровны\nДата: 23.11.2026\n"
    "Тема: заявление\n\nПрошу освободить моего сына от физкультуры.",
    "Что нужно купить на урок технологии:\n-ткань\n-нитки\n-иголки?",
])
def test_a_parents_own_lines_that_look_like_a_quote_or_signature_are_kept(text):
    assert split_reply(text).visible == text


def test_a_line_like_a_field_above_an_outlook_block_is_the_reply_not_the_history():
    text = ("#close\n\nNB: the payment arrived, thank you\n\nFrom: School <s@school.example>\n"
            "Sent: Monday, November 23, 2026 10:00\nTo: Olga\nSubject: [#1] Q\n\nold")
    assert split_reply(text).visible == "#close\n\nNB: the payment arrived, thank you"


@pytest.mark.parametrize("line", [
    "В 10:00 учитель пишет: приходите к началу урока",
    "В 10:00 пишет олимпиаду 7А класс:\n- Иванов\n- Петров",
    "Уроки 20.11.2026 начинаются в 9:00.\nВот что учитель пишет:\n\nПриходите к 8:45.",
    "Собрание 25.11.2026 в 18:00, классный руководитель пишет:\nприходите все.",
    "On Monday at 10:00 writes the whole class:\n1. Math",
    "Звоните 8-701-555-12-34 с 9.00, директор пишет:\nждём вас",
])
def test_a_time_and_a_verb_in_a_sentence_are_text(line):
    text = f"Здравствуйте!\n{line}"
    assert split_reply(text).visible == text


def test_line_starting_with_on_without_wrote_is_text():
    text = "On your remote host you can run:\n\n    telnet 127.0.0.1 52698"
    assert split_reply(text)[0] == text


def test_pathological_inputs_take_linear_time():
    started = time.perf_counter()
    split_reply("a\n" + ">" * 60_000 + "\n" + ("On " + "x " * 300 + "\n") * 2000)
    split_reply(("20.11.2026 10:00 " + "a@b " * 100 + "\n") * 2000)
    assert time.perf_counter() - started < 2.0, "quote splitting took too long"


def _reply_parser_cases() -> list[tuple[str, str, str]]:
    cases = []
    for folder in ("github-email_reply_parser", "zapier-email-reply-parser"):
        expected = json.loads((CORPUS / folder / "expected.json").read_text())["fixtures"]
        for name, fixture in expected.items():
            if fixture.get("expected_visible_text") is not None:
                cases.append((f"{folder}/{name}", fixture["file"],
                              fixture["expected_visible_text"]))
    return cases


def _talon_cases() -> list[tuple[str, str, str]]:
    expected = json.loads((CORPUS / "talon" / "expected.json").read_text())["fixtures"]
    return [(path, f["kind"], f["expected_reply_text"]) for path, f in expected.items()
            if f["kind"] in ("plain_reply", "html_reply") and "expected_reply_text" in f]


# Measured: 45/45 reply-parser fixtures and 21/21 talon fixtures (bench/results/email_corpus.md).
REPLY_PARSER_FLOOR = 45
TALON_FLOOR = 21


@needs_corpus
def test_reply_parser_fixtures_pass_rate():
    failures, cases = [], _reply_parser_cases()
    for label, file, expected in cases:
        visible = split_reply((CORPUS / file).read_text(encoding="utf-8")).visible
        if words(visible) != words(expected):  # upstream ports differ in trailing spaces
            failures.append(label)
    assert len(cases) - len(failures) >= REPLY_PARSER_FLOOR, failures


@needs_corpus
def test_talon_fixtures_pass_rate():
    from connectors.mime import parse_email

    failures, cases = [], _talon_cases()
    for path, kind, expected in cases:
        if kind == "plain_reply":  # talon removes quotations only, signatures stay
            text = parse_email((CORPUS / path).read_bytes(), account="t").text
            ok = strip_quotes(text)[0] == expected
        else:  # compared with all whitespace removed, as upstream does
            visible = split_reply(_html_to_text((CORPUS / path).read_text()))[0]
            ok = "".join(visible.split()) == "".join(expected.split())
        if not ok:
            failures.append(path)
    assert len(cases) - len(failures) >= TALON_FLOOR, failures


@needs_corpus
def test_regex_dos_fixtures_finish_quickly():
    for name in ("pathological.txt", "email_long_quote.txt"):
        text = (CORPUS / "github-email_reply_parser" / name).read_text(encoding="utf-8")
        started = time.perf_counter()
        split_reply(text)
        assert time.perf_counter() - started < 1.0, f"{name} took too long"
