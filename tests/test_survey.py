"""Satisfaction survey round trips by email (Maildir) and Telegram (Bot API server)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inbox.channel import Inbound
from inbox.config import load_config
from inbox.model import Identity, Status
from inbox.notify import Notifier
from inbox.sections import Section
from inbox.store import Store, now_utc
from inbox.survey import SurveySender, SurveySettings, score_of, survey_settings
from tests.conftest import mail
from tests.quality_school import add_bot, quality_school, queued, run_pass, sent_mail

ON = SurveySettings(enabled=True)


def survey(store, config, at=None, settings=ON) -> SurveySender:
    """The survey with its clock at ``at`` (the daemon pass's time), else the real clock."""
    return SurveySender(store, config, Notifier(store, config), settings,
                        clock=(lambda: at) if at else now_utc)


def asked(store, config, at) -> None:
    """One daemon pass at ``at`` with the survey on."""
    run_pass(config, store, [survey(store, config, at)], at)


@pytest.fixture
def world(school):
    config = quality_school(school)
    store = Store(config.store.path)
    yield school, config, store
    store.close()


def answered_and_closed(school, config, store) -> None:
    """A customer's mail, an agent's reply and a close, as they happen in real time."""
    run_pass(config, store, [], now_utc())
    school.cli("reply", "1", "--as", "boris", "-m", "Готово, проверьте.")
    school.cli("close", "1")


def later(minutes: int = 11):
    return now_utc() + timedelta(minutes=minutes)


def test_email_survey_round_trip_keeps_the_score_and_comment_on_the_closed_thread(world):
    school, config, store = world
    school.deliver(mail())
    answered_and_closed(school, config, store)
    asked(store, config, later())
    question = sent_mail(school)[-1]
    text = question.get_body(("plain",)).get_content().strip()
    assert text == ("Обращение #1 закрыто. Оцените, пожалуйста, как мы помогли: ответьте на это"
                    " письмо цифрой от 1 (плохо) до 5 (отлично). После цифры можно написать"
                    " комментарий.")
    assert question["Auto-Submitted"] == "auto-replied"
    school.deliver(mail(subject="Re: Оплата за декабрь [#1]", body="4 — всё хорошо, спасибо!",
                        message_id="m2@mail.example",
                        extra=f"In-Reply-To: {question['Message-ID']}\r\n"))
    asked(store, config, later(12))
    answer = store.survey(1)
    assert (answer.score, answer.comment) == (4, "всё хорошо, спасибо!")
    thread = store.thread(1)
    assert thread.status is Status.CLOSED  # the answer did not reopen it
    assert [m.direction.value for m in store.messages(1)] == ["in", "out", "auto", "in"]
    assert store.events(1)[-1].detail["score"] == 4


def test_the_question_is_asked_once_even_across_restarts(world):
    school, config, store = world
    school.deliver(mail())
    answered_and_closed(school, config, store)
    assert survey(store, config).check(later()) == [1]
    store.close()
    again = Store(config.store.path)
    try:
        assert survey(again, config).check(later(20)) == []
        assert len(queued(again, "survey")) == 1
    finally:
        again.close()


def test_nothing_is_asked_before_the_delay_or_without_an_agents_answer(world):
    school, config, store = world
    school.deliver(mail())
    run_pass(config, store, [], now_utc())
    school.cli("close", "1")  # closed without an answer: spam, a duplicate
    assert survey(store, config).check(later()) == []
    school.deliver(mail(message_id="m2@mail.example", sender="ivan@mail.example"))
    run_pass(config, store, [], now_utc())
    school.cli("reply", "2", "--as", "boris", "-m", "Ответ")
    school.cli("close", "2")
    assert survey(store, config).check(later(5)) == []
    assert survey(store, config).check(later()) == [2]


def test_no_question_is_queued_for_a_thread_whose_channel_is_gone(world):
    school, config, store = world
    school.deliver(mail())
    answered_and_closed(school, config, store)
    school.config.write_text(school.config.read_text().replace(
        'name = "support"\npath', 'name = "office"\npath'))
    assert survey(store, load_config(school.config)).check(later()) == []
    assert queued(store, "survey") == []


def test_a_low_score_tells_the_team_lead(world):
    school, config, store = world
    school.deliver(mail())
    answered_and_closed(school, config, store)
    asked(store, config, later())
    question = sent_mail(school)[-1]
    school.deliver(mail(subject="Re: [#1]", body="1 ждали ответа три дня",
                        message_id="m2@mail.example",
                        extra=f"In-Reply-To: {question['Message-ID']}\r\n"))
    asked(store, config, later(12))
    (told,) = [m for m in sent_mail(school) if m["To"] == "lena@school.example"]
    assert "Low satisfaction score 1/5 from Ольга: ждали ответа три дня" in \
        told.get_body(("plain",)).get_content()


def test_a_digit_that_answers_no_survey_is_an_ordinary_message(world):
    school, config, store = world
    school.deliver(mail())
    answered_and_closed(school, config, store)
    asked(store, config, later())
    school.deliver(mail(subject="Новый вопрос", body="5", message_id="m2@mail.example"))
    asked(store, config, later(12))
    assert store.survey(1).score is None
    assert store.thread(2).messages == 1


def test_a_follow_up_starting_with_a_digit_in_the_thread_is_a_question_not_a_score(world):
    school, config, store = world
    school.deliver(mail())
    answered_and_closed(school, config, store)
    asked(store, config, later())
    (ours,) = [m for m in sent_mail(school) if m["To"] == "olga@mail.example"
               and "Готово" in m.get_body(("plain",)).get_content()]
    school.deliver(mail(subject="Re: Оплата за декабрь [#1]", message_id="m2@mail.example",
                        body="2 урока в январе выпадают на праздники. Их перенесут?",
                        extra=f"In-Reply-To: {ours['Message-ID']}\r\n"))
    asked(store, config, later(12))
    assert store.survey(1).score is None
    assert store.thread(1).status is Status.OPEN  # a question reopens the thread


def test_telegram_survey_has_buttons_and_a_press_is_the_score(school, botapi, monkeypatch):
    quality_school(school)
    config = add_bot(school, botapi, monkeypatch)
    store = Store(config.store.path)
    try:
        botapi.user_message(501, "Не работает кнопка оплаты")
        answered_and_closed(school, config, store)
        asked(store, config, later())
        sent = botapi.wait_for_sent(2)
        assert sent[0].text == "Готово, проверьте."
        assert sent[1].text == ("Обращение #1 закрыто. Оцените, пожалуйста, как мы помогли:"
                                " от 1 (плохо) до 5 (отлично).")
        assert [b["callback_data"] for b in sent[1].reply_markup["inline_keyboard"][0]] == [
            "csat:1", "csat:2", "csat:3", "csat:4", "csat:5"]
        botapi.callback_query(501, "csat:5", message_id=sent[1].message_id)
        asked(store, config, later(12))
        assert store.survey(1).score == 5
        assert store.thread(1).status is Status.CLOSED
        assert botapi.answered  # the button's spinner was stopped
    finally:
        store.close()


def test_score_of_reads_buttons_a_bare_digit_in_chat_and_a_leading_digit_in_mail():
    def item(text: str, channel: str = "telegram", **meta: str) -> Inbound:
        return Inbound(channel, "bot", "1", Identity(channel, "5"), text, now_utc(), b"",
                       meta=meta)

    assert score_of(item("[button csat:3]", callback_data="csat:3")) == (3, "")
    assert score_of(item("5")) == (5, "")
    assert score_of(item(" 4! ")) == (4, "")
    # In a chat a digit-led sentence is a question ("5 детей хотят записаться").
    assert score_of(item("5 детей хотят записаться")) is None
    # A mail answering the survey may add a comment after the digit.
    assert score_of(item(" 2. долго\nи невежливо ", "email")) == (2, "долго\nи невежливо")
    assert score_of(item("25 тысяч", "email")) is None
    assert score_of(item("Спасибо, 5", "email")) is None
    assert score_of(item("[button csat:9]", callback_data="csat:9")) is None


def test_survey_settings_have_defaults_and_check_low_score():
    problems: list[str] = []
    assert survey_settings(Section({}, "inbox.toml: survey", problems)) == SurveySettings()
    found = survey_settings(Section({"enabled": True, "low_score": 7,
                                     "texts": {"ru": {"email": "Оцените #{ticket}"}}},
                                    "inbox.toml: survey", problems))
    assert found.texts["ru"].email == "Оцените #{ticket}"
    assert problems == ["inbox.toml: survey: low_score must be a score from 1 to 5, not 7"]
