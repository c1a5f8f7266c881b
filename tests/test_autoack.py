"""Auto-acknowledgement through the real daemon and Maildir: texts, hours, loop safety, limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inbox.autoack import (
    AckTexts,
    AutoAck,
    AutoackSettings,
    autoack_settings,
    opening_words,
    span_words,
)
from inbox.config import load_config
from inbox.sections import Section
from inbox.store import Store, now_utc
from tests.conftest import mail
from tests.quality_school import (
    QUALITY_TOML,
    ROUTING_TOML,
    quality_school,
    queued,
    run_pass,
    sent_mail,
    utc,
)

ON = AutoackSettings(enabled=True)


@pytest.fixture
def world(school):
    config = quality_school(school)
    store = Store(config.store.path)
    yield school, config, store
    store.close()


def run(config, store, at, settings=ON) -> None:
    """One ``inbox run --once`` pass at ``at`` with the acknowledgement hook on."""
    run_pass(config, store, [AutoAck(store, config, settings, clock=lambda: at)], at)


def body(message) -> str:
    return message.get_body(("plain",)).get_content().strip()


def test_an_email_during_opening_hours_is_told_the_first_response_target(world):
    school, config, store = world
    school.deliver(mail(subject="Запись урока", body="Где найти запись вчерашнего урока?"))
    run(config, store, utc("2026-03-30 08:00"))  # Monday 10:00 CEST
    (ack,) = sent_mail(school)
    assert body(ack) == ("Здравствуйте! Мы получили ваше обращение, его номер #1."
                         " Ответим в течение 2 часов.")
    assert ack["To"] == "olga@mail.example"
    assert ack["Subject"] == "Re: Запись урока [#1]"
    assert ack["In-Reply-To"] == "<m1@mail.example>"
    assert ack["Auto-Submitted"] == "auto-replied"
    auto = store.messages(1)[-1]
    assert (auto.direction.value, auto.sender, auto.delivery) == ("auto", "auto:ack", "sent")


def test_near_closing_the_customer_is_promised_the_real_wait_not_the_target(world):
    school, config, store = world
    school.deliver(mail(subject="Запись урока", body="Где найти запись вчерашнего урока?"))
    run(config, store, utc("2026-03-30 15:30"))  # Monday 17:30 CEST: the clock stops at 18:00
    (ack,) = sent_mail(school)
    due = store.thread(1).first_response_due
    assert due is not None and due.date().isoformat() == "2026-03-31"
    assert body(ack) == ("Здравствуйте! Мы получили ваше обращение, его номер #1."
                         " Ответим в течение 17 часов.")


@pytest.mark.parametrize(("at", "expected"), [
    ("2026-03-27 18:30", "в понедельник после 09:00"),  # Friday 19:30 CET
    ("2026-03-28 10:00", "в понедельник после 09:00"),  # Saturday
    ("2026-04-02 17:00", "в понедельник после 09:00"),  # Thursday night before Good Friday
    ("2026-03-31 05:00", "сегодня после 09:00"),  # Tuesday 07:00 CEST
    ("2026-03-31 17:00", "завтра после 09:00"),  # Tuesday 19:00 CEST
])
def test_outside_hours_the_customer_is_told_when_we_open(world, at, expected):
    school, config, store = world
    school.deliver(mail())
    run(config, store, utc(at))
    (ack,) = sent_mail(school)
    assert body(ack) == ("Здравствуйте! Мы получили ваше обращение, его номер #1."
                         f" Сейчас мы не работаем; ответим {expected}.")


def test_the_acknowledgement_is_in_the_customers_language(world):
    school, config, store = world
    school.deliver(mail(subject="Lesson recording",
                        body="Hello, where can I find the recording of yesterday's lesson?"))
    school.deliver(mail(subject="Сабақ жазбасы", sender="asel@mail.example",
                        body="Сәлеметсіз бе, кешегі сабақтың жазбасын қайдан табуға болады?",
                        message_id="m2@mail.example"))
    run(config, store, utc("2026-03-30 08:00"))
    texts = sorted(body(message) for message in sent_mail(school))
    assert texts == [
        "Hello! We have received your message; its number is #1. We answer within 2 hours.",
        "Сәлеметсіз бе! Өтінішіңізді алдық, оның нөмірі #2. 2 сағат ішінде жауап береміз.",
    ]


def test_a_wall_clock_policy_promises_its_target_even_at_night(world):
    school, config, store = world
    school.deliver(mail(subject="wall: урок сорван"))
    run(config, store, utc("2026-03-28 01:00"))
    (ack,) = sent_mail(school)
    assert body(ack).endswith("Ответим в течение 1 часа.")


@pytest.mark.parametrize("extra", [
    "Auto-Submitted: auto-replied\r\n",
    "Precedence: bulk\r\nList-Id: <parents.school.example>\r\n",
])
def test_automatic_mail_and_mailing_lists_get_no_acknowledgement(world, extra):
    school, config, store = world
    school.deliver(mail(subject="Out of office", body="I am away until Monday.", extra=extra))
    run(config, store, utc("2026-03-30 08:00"))
    assert sent_mail(school) == []
    (event,) = [e for e in store.events(1) if e.action == "auto-ack-skipped"]
    assert event.detail["reason"].startswith("the message is flagged ")


def test_mail_from_our_own_address_gets_no_acknowledgement(world):
    school, config, store = world
    school.deliver(mail(sender="Test School <support@school.example>", body="Тест"))
    run(config, store, utc("2026-03-30 08:00"))
    assert sent_mail(school) == []


def test_one_sender_gets_at_most_the_hourly_limit(world):
    school, config, store = world
    school.deliver(mail(message_id="a@mail.example", subject="Первый вопрос"))
    school.deliver(mail(message_id="b@mail.example", subject="Второй вопрос"))
    run(config, store, utc("2026-03-30 08:00"))
    assert [m["Subject"] for m in sent_mail(school)] == ["Re: Первый вопрос [#1]"]
    (skipped,) = [e for e in store.events(2) if e.action == "auto-ack-skipped"]
    assert skipped.detail == {"reason": "already 1 acknowledgement(s) this hour"}
    school.deliver(mail(message_id="c@mail.example", subject="Третий вопрос"))
    run(config, store, utc("2026-03-30 08:00") + timedelta(minutes=61))
    assert [m["Subject"] for m in sent_mail(school)][-1] == "Re: Третий вопрос [#3]"


def test_a_channel_left_out_of_the_list_sends_none(world):
    school, config, store = world
    school.deliver(mail())
    run(config, store, utc("2026-03-30 08:00"), AutoackSettings(enabled=True, channels=("bot",)))
    assert sent_mail(school) == [] and queued(store, "auto") == []


def test_off_by_default(world):
    school, config, store = world
    school.deliver(mail())
    run(config, store, utc("2026-03-30 08:00"), AutoackSettings())
    assert sent_mail(school) == []


def test_span_and_opening_words_follow_each_languages_grammar():
    assert span_words(timedelta(minutes=15), "ru") == "15 минут"
    assert span_words(timedelta(minutes=21), "ru") == "21 минуты"
    assert span_words(timedelta(hours=4), "uk") == "4 годин"
    assert span_words(timedelta(minutes=90), "en") == "1 hour 30 minutes"
    assert span_words(timedelta(days=2), "de") == "2 Tagen"
    assert span_words(timedelta(hours=1), "de") == "1 Stunde"
    assert span_words(timedelta(minutes=10), "kk") == "10 минут"
    opening, now = utc("2026-03-30 07:00"), utc("2026-03-27 20:00")
    assert opening_words(opening, now, "de") == "am Montag nach 07:00 Uhr"
    assert opening_words(opening, now, "kk") == "дүйсенбі күні сағат 07:00-ден кейін"


def test_an_opening_after_a_long_break_names_its_date():
    opening, now = utc("2027-01-07 08:00"), utc("2026-12-23 17:30")  # the winter break
    assert opening_words(opening, now, "en") == "on Thursday 7 January after 08:00"
    assert opening_words(opening, now, "ru") == "в четверг, 7 января после 08:00"
    assert opening_words(opening, now, "de") == "am Donnerstag, 7. Januar nach 08:00 Uhr"
    assert opening_words(opening, utc("2027-01-01 10:00"), "en") == "on Thursday after 08:00"


def test_settings_override_texts_and_report_unknown_placeholders():
    problems: list[str] = []
    settings = autoack_settings(Section({
        "enabled": True, "channels": ["support"], "max_per_hour": 2,
        "texts": {"ru": {"open": "Обращение #{ticket}: ответим за {response_time}."},
                  "fr": {"open": "Demande #{ticket}, réponse sous {delai}."}},
    }, "inbox.toml: autoack", problems))
    assert (settings.enabled, settings.channels, settings.max_per_hour) == (True, ("support",), 2)
    assert settings.texts["ru"].open == "Обращение #{ticket}: ответим за {response_time}."
    assert settings.texts["ru"].closed.startswith("Здравствуйте!")
    assert isinstance(settings.texts["fr"], AckTexts)
    assert problems == ["inbox.toml: autoack texts fr: open uses unknown placeholders"
                        " ['{delai}'] (known: {ticket}, {response_time})"]


def test_a_rule_template_is_sent_in_the_customers_language_even_with_autoack_off(school):
    (school.root / "templates").mkdir()
    (school.root / "templates" / "billing.toml").write_text(
        '[billing]\nru = "Здравствуйте, {customer_name}! Вопрос об оплате #{ticket} получен."\n'
        'en = "Hello {customer_name}! Payment question #{ticket} received."\n')
    (school.root / "desk-secret").write_text("a-long-random-test-secret-0123456789\n")
    school.write(QUALITY_TOML.replace("[desk]\n", '[desk]\ntemplates_dir = "templates"\n'),
                 ROUTING_TOML + '\n[[rules]]\nname = "Billing"\n[rules.when]\n'
                 'keywords = { ru = ["оплат*"] }\n[rules.then]\nteam = "support"\n'
                 'template = "billing"\n')
    config = load_config(school.config)
    store = Store(config.store.path)
    try:
        school.deliver(mail(subject="Оплата", body="Как оплатить обучение за декабрь?"))
        school.deliver(mail(subject="Оплата", body="Оплата не прошла, помогите",
                            message_id="m2@mail.example", sender="robot@mail.example",
                            extra="Auto-Submitted: auto-replied\r\n"))
        school.deliver(mail(subject="Расписание", body="Какое расписание на завтра?",
                            message_id="m3@mail.example", sender="asel@mail.example"))
        # [autoack] is off: only the daemon's own hook acts, on the real clock, so the
        # pass runs a minute ahead for what it queued to be due.
        run_pass(config, store, [], now_utc() + timedelta(minutes=1))
        # no answer to automatic mail, and no acknowledgement where no rule names a template
        (answer,) = [m for m in sent_mail(school) if m["To"].endswith("@mail.example")]
        assert body(answer) == "Здравствуйте, Ольга! Вопрос об оплате #1 получен."
        assert answer["Auto-Submitted"] == "auto-replied"
        assert store.messages(1)[-1].sender == "auto:ack"
    finally:
        store.close()
