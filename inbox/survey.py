"""Satisfaction survey (CSAT): after a thread is closed, one question; the answer is kept on it.

:meth:`SurveySender.check` runs with the other timers: a thread an agent
answered and closed at least ``delay_minutes`` ago (so an accidental close
can be undone first) and not longer than ``max_age_days`` ago gets one
question in the customer's language — Telegram: buttons 1–5 (``csat:N``);
email: "reply with a digit", a comment may follow the digit. The answer is
claimed before the pipeline files it (it must not reopen the closed thread):
it is stored in that thread with the score and comment, and a score at or
below ``low_score`` tells the team lead. Threads the FAQ answer solved are not
surveyed: the customer already told us.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from inbox.automatic import AutomaticSender, language_for
from inbox.channel import Inbound
from inbox.config import Config
from inbox.model import Contact, Direction, Thread
from inbox.sections import Section
from inbox.sla import Teller
from inbox.store import Store, now_utc
from inbox.store.quality import Survey

log = logging.getLogger("inbox.survey")

_SCORE = re.compile(r"\s*([1-5])(?:\s*[.,:;!)\-–—]?\s+(.*?))?\s*", re.DOTALL)
_BARE_SCORE = re.compile(r"\s*([1-5])\s*[.!]?\s*")


@dataclass(frozen=True)
class SurveyTexts:
    """The question by email (answer with a digit) and on a messenger (buttons); ``{ticket}``."""

    email: str
    buttons: str


DEFAULT_TEXTS = {
    "ru": SurveyTexts(
        "Обращение #{ticket} закрыто. Оцените, пожалуйста, как мы помогли: ответьте на это"
        " письмо цифрой от 1 (плохо) до 5 (отлично). После цифры можно написать комментарий.",
        "Обращение #{ticket} закрыто. Оцените, пожалуйста, как мы помогли: от 1 (плохо)"
        " до 5 (отлично)."),
    "kk": SurveyTexts(
        "#{ticket} өтініш жабылды. Біздің көмегімізді бағалаңызшы: осы хатқа 1-ден (нашар)"
        " 5-ке (өте жақсы) дейінгі санмен жауап беріңіз. Саннан кейін пікір жазуға болады.",
        "#{ticket} өтініш жабылды. Біздің көмегімізді бағалаңызшы: 1 (нашар) — 5 (өте жақсы)."),
    "en": SurveyTexts(
        "Request #{ticket} is closed. How well did we help? Reply to this message with a digit"
        " from 1 (poor) to 5 (excellent); you may add a comment after the digit.",
        "Request #{ticket} is closed. How well did we help? 1 (poor) to 5 (excellent)."),
    "uk": SurveyTexts(
        "Звернення #{ticket} закрито. Оцініть, будь ласка, нашу допомогу: дайте відповідь"
        " цифрою від 1 (погано) до 5 (відмінно). Після цифри можна додати коментар.",
        "Звернення #{ticket} закрито. Оцініть, будь ласка, нашу допомогу: від 1 (погано)"
        " до 5 (відмінно)."),
    "de": SurveyTexts(
        "Anfrage #{ticket} ist abgeschlossen. Wie gut haben wir geholfen? Antworten Sie mit"
        " einer Ziffer von 1 (schlecht) bis 5 (sehr gut); danach gern ein Kommentar.",
        "Anfrage #{ticket} ist abgeschlossen. Wie gut haben wir geholfen? 1 (schlecht) bis"
        " 5 (sehr gut)."),
}


@dataclass(frozen=True)
class SurveySettings:
    """``[survey]``: on/off, timing, what counts as low, channels, texts per language."""

    enabled: bool = False
    delay_minutes: int = 10
    max_age_days: int = 2  # threads closed longer ago are never surveyed (enabling is no flood)
    answer_days: int = 7  # an answer later than this is an ordinary message
    low_score: int = 2
    channels: tuple[str, ...] = ()
    texts: dict[str, SurveyTexts] = field(default_factory=lambda: dict(DEFAULT_TEXTS))



def survey_settings(section: Section) -> SurveySettings:
    """Read ``[survey]``; ``[survey.texts.<lang>]`` may set ``email`` and ``buttons``."""
    enabled = section.flag("enabled", False)
    delay = section.integer("delay_minutes", 10, minimum=0)
    max_age = section.integer("max_age_days", 2, minimum=1)
    answer_days = section.integer("answer_days", 7, minimum=1)
    low = section.integer("low_score", 2, minimum=1)
    if low > 5:
        section.problem(f"low_score must be a score from 1 to 5, not {low}")
    channels = section.texts("channels", ())
    texts = dict(DEFAULT_TEXTS)
    table = section.table("texts")
    for language in table.data:
        given = table.table(language)
        base = texts.get(language, DEFAULT_TEXTS["en"])
        texts[language] = SurveyTexts(given.text("email", base.email),
                                      given.text("buttons", base.buttons))
        given.done()
    table.done()
    section.done()
    return SurveySettings(enabled, delay, max_age, answer_days, low, channels, texts)


def score_of(item: Inbound) -> tuple[int, str] | None:
    """(score, comment) when the message can be a survey answer: ``csat:N`` (a button), a
    mail starting with a digit (the question asks for one, a comment may follow: whether it
    answers the survey is :meth:`SurveySender._survey_for`'s to say), or a chat message that
    is a digit alone ("2 урока в январе выпадают…" is a question, not a score)."""
    data = item.meta.get("callback_data", "")
    if data.startswith("csat:"):
        digit = data.removeprefix("csat:")
        return (int(digit), "") if digit in ("1", "2", "3", "4", "5") else None
    pattern = _SCORE if item.channel == "email" else _BARE_SCORE
    found = pattern.fullmatch(item.visible)
    if found is None:
        return None
    comment = found[2] if pattern is _SCORE else ""
    return int(found[1]), (comment or "").strip()


class SurveySender:
    """A timer (:meth:`check` asks) and an inbound hook (:meth:`claim` takes the answers)."""

    def __init__(self, store: Store, config: Config, notifier: Teller,
                 settings: SurveySettings, clock: Callable[[], datetime] = now_utc):
        self.store = store
        self.config = config
        self.notifier = notifier
        self.settings = settings
        self.clock = clock
        self.sender = AutomaticSender(store, config)

    def check(self, now: datetime) -> list[int]:
        """Ask every thread that is due; returns the thread ids asked."""
        if not self.settings.enabled:
            return []
        settings, asked = self.settings, []
        for thread in self.store.threads_to_survey(now - timedelta(days=settings.max_age_days),
                                                   now - timedelta(minutes=settings.delay_minutes)):
            if settings.channels and thread.account not in settings.channels:
                continue
            if not self.config.has_channel(thread.account):
                continue  # closed after its channel was removed or renamed: nothing carries it
            contact = self.store.contact(thread.contact_id)
            if contact.unreachable:
                continue
            with self.store.transaction():
                if self.store.record_survey(thread.id, now):
                    self._ask(thread, contact, now)
                    asked.append(thread.id)
        return asked

    def _ask(self, thread: Thread, contact: Contact, now: datetime) -> None:
        language = language_for(thread, contact, self.settings.texts,
                                self.config.school.default_language)
        texts = self.settings.texts[language]
        if thread.channel == "email":
            self.sender.send(thread, texts.email.format(ticket=thread.ticket), kind="survey",
                             outbox_kind="survey", at=now)
            return
        buttons = [{"text": str(n), "callback_data": f"csat:{n}"} for n in range(1, 6)]
        self.sender.send(thread, texts.buttons.format(ticket=thread.ticket), kind="survey",
                         outbox_kind="survey", at=now,
                         headers={"reply_markup": json.dumps({"inline_keyboard": [buttons]})})

    def claim(self, item: Inbound, contact: Contact) -> bool:
        """Take a survey answer so it does not reopen the closed thread; False for anything else."""
        if not self.settings.enabled:
            return False
        answer = score_of(item)
        if answer is None:
            return False
        survey = self._survey_for(item, contact)
        if survey is None:
            return False
        score, comment = answer
        now = self.clock()
        with self.store.transaction():
            thread = self.store.thread(survey.thread_id)
            stored = self.store.add_message(
                thread_id=thread.id, direction=Direction.IN, channel=item.channel,
                account=item.account, text=item.text, visible_text=item.visible,
                subject=item.subject, external_id=item.external_id,
                header_message_id=item.keys.message_id, sender=item.sender.value,
                flags=sorted(item.flags), meta=item.meta, raw=item.raw,
                raw_kind="telegram" if item.channel == "telegram" else "rfc822", created_at=now)
            self.store.answer_survey(thread.id, score, comment, now)
            self.store.log_event(thread.id, "customer", "csat", {
                "score": score, "comment": comment, "message": stored.message_id}, at=now)
            if score <= self.settings.low_score:
                self._tell_low(thread, score, comment)
        return True

    def _survey_for(self, item: Inbound, contact: Contact) -> Survey | None:
        """Email: the survey the mail answers (a reply to the survey mail itself; a reply to
        anything else in the thread is a message, even when it starts with a digit).
        Messenger: the contact's open survey."""
        since = self.clock() - timedelta(days=self.settings.answer_days)
        if item.channel != "email":
            return self.store.unanswered_survey(contact.id, since)
        keys = item.keys
        replied = keys.in_reply_to or (keys.references[-1] if keys.references else "")
        thread_id = self.store.survey_asked_in(replied) if replied else None
        if thread_id is None:
            return None
        survey = self.store.survey(thread_id)
        if survey is None or survey.score is not None or survey.asked_at < since:
            return None
        return survey

    def _tell_low(self, thread: Thread, score: int, comment: str) -> None:
        team = self.config.teams.get(thread.team)
        lead = (team.lead if team else "") or thread.agent
        what = f"Low satisfaction score {score}/5 from {thread.contact}" + (
            f": {comment}" if comment else "")
        if lead:
            self.notifier.tell(lead, thread.id, what)
        log.info("thread %s: %s (told %s)", thread.id, what, lead or "nobody")
