"""Auto-acknowledgement: a new thread gets one message with its ticket number and when to expect us.

The expected time comes from the thread's SLA policy and the school's calendar:
"we answer within 15 minutes" while the school is open (or for a wall-clock
policy), "we are closed now, we will answer on Monday after 09:00" when it is
not. Texts are built in for ru/kk/en/uk/de with each language's plural and
weekday forms; ``[autoack.texts.<language>]`` overrides the sentences.
Never to automatic mail (:func:`inbox.automatic.loop_risk`), at most
``max_per_hour`` per sender, only on the channels listed (all when empty).

A routing rule that names a ``template`` has that canned answer sent instead, in the
thread's language, whether or not ``[autoack]`` is enabled: the admin asked for it on
that rule. Loop safety and the hourly cap hold all the same.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from inbox.automatic import AutomaticSender, language_for, loop_risk
from inbox.config import Config
from inbox.hooks import Filed
from inbox.model import Thread
from inbox.sections import Section
from inbox.store import Store, now_utc
from inbox.templates import TemplateError

log = logging.getLogger("inbox.autoack")


@dataclass(frozen=True)
class AckTexts:
    """The three sentences; ``{ticket}``, ``{response_time}``, ``{opening}`` are filled in."""

    open: str  # the school is open (or the policy counts wall time)
    closed: str  # outside business hours
    received: str  # the thread has no SLA policy


@dataclass(frozen=True)
class Grammar:
    """How one language writes "within N units" and "on <day> after HH:MM"."""

    units: dict[str, tuple[str, str]]  # minute/hour/day -> (form for one, form for many)
    slavic: bool  # 21 takes the "one" form (ru, uk); else only 1 does
    weekdays: tuple[str, ...]  # as used in "on Monday" (Monday first)
    today: str
    tomorrow: str
    opening: str  # "{day} after {time}"
    months: tuple[str, ...]  # as used after a day of the month (January first)
    dated: str  # "{weekday} {date} {month}": a day a week or more away


GRAMMAR: dict[str, Grammar] = {
    "ru": Grammar({"minute": ("минуты", "минут"), "hour": ("часа", "часов"),
                   "day": ("дня", "дней")}, True,
                  ("в понедельник", "во вторник", "в среду", "в четверг", "в пятницу",
                   "в субботу", "в воскресенье"), "сегодня", "завтра", "{day} после {time}",
                  ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа",
                   "сентября", "октября", "ноября", "декабря"), "{weekday}, {date} {month}"),
    "uk": Grammar({"minute": ("хвилини", "хвилин"), "hour": ("години", "годин"),
                   "day": ("дня", "днів")}, True,
                  ("у понеділок", "у вівторок", "у середу", "у четвер", "у п'ятницю",
                   "у суботу", "у неділю"), "сьогодні", "завтра", "{day} після {time}",
                  ("січня", "лютого", "березня", "квітня", "травня", "червня", "липня",
                   "серпня", "вересня", "жовтня", "листопада", "грудня"),
                  "{weekday}, {date} {month}"),
    "kk": Grammar({"minute": ("минут", "минут"), "hour": ("сағат", "сағат"),
                   "day": ("күн", "күн")}, False,
                  ("дүйсенбі күні", "сейсенбі күні", "сәрсенбі күні", "бейсенбі күні",
                   "жұма күні", "сенбі күні", "жексенбі күні"), "бүгін", "ертең",
                  "{day} сағат {time}-ден кейін",
                  ("қаңтар", "ақпан", "наурыз", "сәуір", "мамыр", "маусым", "шілде", "тамыз",
                   "қыркүйек", "қазан", "қараша", "желтоқсан"), "{date} {month}, {weekday}"),
    "en": Grammar({"minute": ("minute", "minutes"), "hour": ("hour", "hours"),
                   "day": ("day", "days")}, False,
                  ("on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday",
                   "on Saturday", "on Sunday"), "today", "tomorrow", "{day} after {time}",
                  ("January", "February", "March", "April", "May", "June", "July", "August",
                   "September", "October", "November", "December"), "{weekday} {date} {month}"),
    "de": Grammar({"minute": ("Minute", "Minuten"), "hour": ("Stunde", "Stunden"),
                   "day": ("Tag", "Tagen")}, False,
                  ("am Montag", "am Dienstag", "am Mittwoch", "am Donnerstag", "am Freitag",
                   "am Samstag", "am Sonntag"), "heute", "morgen", "{day} nach {time} Uhr",
                  ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
                   "September", "Oktober", "November", "Dezember"), "{weekday}, {date}. {month}"),
}

DEFAULT_TEXTS: dict[str, AckTexts] = {
    "ru": AckTexts(
        open="Здравствуйте! Мы получили ваше обращение, его номер #{ticket}."
             " Ответим в течение {response_time}.",
        closed="Здравствуйте! Мы получили ваше обращение, его номер #{ticket}."
               " Сейчас мы не работаем; ответим {opening}.",
        received="Здравствуйте! Мы получили ваше обращение, его номер #{ticket}."
                 " Скоро ответим."),
    "kk": AckTexts(
        open="Сәлеметсіз бе! Өтінішіңізді алдық, оның нөмірі #{ticket}."
             " {response_time} ішінде жауап береміз.",
        closed="Сәлеметсіз бе! Өтінішіңізді алдық, оның нөмірі #{ticket}."
               " Қазір біз жұмыс істемейміз; {opening} жауап береміз.",
        received="Сәлеметсіз бе! Өтінішіңізді алдық, оның нөмірі #{ticket}."
                 " Жақын арада жауап береміз."),
    "en": AckTexts(
        open="Hello! We have received your message; its number is #{ticket}."
             " We answer within {response_time}.",
        closed="Hello! We have received your message; its number is #{ticket}."
               " We are closed now; we will answer {opening}.",
        received="Hello! We have received your message; its number is #{ticket}."
                 " We will answer soon."),
    "uk": AckTexts(
        open="Вітаємо! Ми отримали ваше звернення, його номер #{ticket}."
             " Відповімо протягом {response_time}.",
        closed="Вітаємо! Ми отримали ваше звернення, його номер #{ticket}."
               " Зараз ми не працюємо; відповімо {opening}.",
        received="Вітаємо! Ми отримали ваше звернення, його номер #{ticket}."
                 " Незабаром відповімо."),
    "de": AckTexts(
        open="Guten Tag! Wir haben Ihre Nachricht erhalten, ihre Nummer ist #{ticket}."
             " Wir antworten innerhalb von {response_time}.",
        closed="Guten Tag! Wir haben Ihre Nachricht erhalten, ihre Nummer ist #{ticket}."
               " Wir sind gerade nicht erreichbar und antworten {opening}.",
        received="Guten Tag! Wir haben Ihre Nachricht erhalten, ihre Nummer ist #{ticket}."
                 " Wir antworten bald."),
}
_MINUTE, _HOUR = timedelta(minutes=1), timedelta(hours=1)
PLACEHOLDERS = {"open": ("ticket", "response_time"), "closed": ("ticket", "opening"),
                "received": ("ticket",)}


@dataclass(frozen=True)
class AutoackSettings:
    """``[autoack]``: on/off, which channels, the hourly cap per sender, texts per language."""

    enabled: bool = False
    channels: tuple[str, ...] = ()  # channel names; empty = every channel
    max_per_hour: int = 1
    texts: dict[str, AckTexts] = field(default_factory=lambda: dict(DEFAULT_TEXTS))



def autoack_settings(section: Section) -> AutoackSettings:
    """Read ``[autoack]``; ``[autoack.texts.<lang>]`` may set ``open``, ``closed``, ``received``."""
    enabled = section.flag("enabled", False)
    channels = section.texts("channels", ())
    max_per_hour = section.integer("max_per_hour", 1, minimum=1)
    texts = dict(DEFAULT_TEXTS)
    table = section.table("texts")
    for language in table.data:
        given = table.table(language)
        base = texts.get(language, DEFAULT_TEXTS["en"])
        values = {}
        for key, names in PLACEHOLDERS.items():
            values[key] = given.placeholder_text(key, getattr(base, key), names)
        given.done()
        texts[language] = AckTexts(**values)
    table.done()
    section.done()
    return AutoackSettings(enabled, channels, max_per_hour, texts)


def span_words(span: timedelta, language: str) -> str:
    """A target as words after "within": "15 minutes", "1 hour 30 minutes", "2 days".

    Days only for whole days; otherwise hours and minutes.
    """
    grammar = GRAMMAR.get(language, GRAMMAR["en"])
    minutes = int(span.total_seconds() // 60)
    parts = []
    if minutes and minutes % (24 * 60) == 0:
        parts.append(("day", minutes // (24 * 60)))
    else:
        if minutes >= 60:
            parts.append(("hour", minutes // 60))
        if minutes % 60 or not parts:
            parts.append(("minute", minutes % 60))
    return " ".join(f"{n} {_form(grammar, unit, n)}" for unit, n in parts)


def _form(grammar: Grammar, unit: str, n: int) -> str:
    one, many = grammar.units[unit]
    if grammar.slavic:
        return one if n % 10 == 1 and n % 100 != 11 else many
    return one if n == 1 else many


def opening_words(opening: datetime, now: datetime, language: str) -> str:
    """When the school opens again, as "on Monday after 09:00" / "tomorrow after 09:00";
    a week or more away (a holiday) with its date, or "on Thursday" reads as this week's."""
    grammar = GRAMMAR.get(language, GRAMMAR["en"])
    days = (opening.date() - now.astimezone(opening.tzinfo).date()).days
    weekday = grammar.weekdays[opening.weekday()]
    day = (grammar.today if days == 0 else grammar.tomorrow if days == 1 else weekday
           if days < 7 else grammar.dated.format(weekday=weekday, date=opening.day,
                                                 month=grammar.months[opening.month - 1]))
    return grammar.opening.format(day=day, time=opening.strftime("%H:%M"))


class AutoAck:
    """The hook: ``thread_created`` queues the acknowledgement in the filing transaction."""

    def __init__(self, store: Store, config: Config, settings: AutoackSettings,
                 clock: Callable[[], datetime] = now_utc):
        self.store = store
        self.config = config
        self.settings = settings
        self.clock = clock
        self.sender = AutomaticSender(store, config)

    def thread_created(self, filed: Filed) -> None:
        thread, now, template = filed.thread, self.clock(), filed.template
        acknowledge = self.settings.enabled and (
            not self.settings.channels or thread.account in self.settings.channels)
        if not (template or acknowledge):
            return
        why_not = loop_risk(filed.item)
        if not why_not and self.sender.over_limit(thread, "ack", self.settings.max_per_hour,
                                                  now):
            why_not = f"already {self.settings.max_per_hour} acknowledgement(s) this hour"
        if why_not:
            self.store.log_event(thread.id, "system", "auto-ack-skipped", {"reason": why_not},
                                 at=now)
            log.info("thread %s: no acknowledgement: %s", thread.id, why_not)
            return
        if template:
            agent = self.config.agents.get(thread.agent)
            try:
                text = self.sender.actions.template_text(thread, template,
                                                         agent.name if agent else "")
            except TemplateError as exc:  # no version in the thread's language
                log.warning("thread %s: rule template not sent: %s", thread.id, exc)
                self.store.log_event(thread.id, "system", "auto-ack-skipped",
                                     {"reason": str(exc)}, at=now)
            else:
                self.sender.send(thread, text, kind="ack", at=now,
                                 detail={"template": template})
                return
        if acknowledge:
            language = language_for(thread, filed.contact, self.settings.texts,
                                    self.config.school.default_language)
            self.sender.send(thread, self.text(thread, language, now), kind="ack", at=now)

    def text(self, thread: Thread, language: str, now: datetime) -> str:
        """The acknowledgement for ``thread`` received at ``now``, in ``language``."""
        texts = self.settings.texts.get(language, DEFAULT_TEXTS["en"])
        policy = self.config.sla.get(thread.sla_policy)
        if policy is None:
            return texts.received.format(ticket=thread.ticket)
        calendar = self.config.calendar
        if policy.business_hours and not calendar.is_open(now):
            opening = opening_words(calendar.next_opening(now), now, language)
            return texts.closed.format(ticket=thread.ticket, opening=opening)
        wait = policy.first_response
        if thread.first_response_due and thread.first_response_due - now > wait + _MINUTE:
            # The business-hours clock stops at closing: promise the real wait, to the hour.
            wait = timedelta(hours=math.ceil((thread.first_response_due - now) / _HOUR))
        return texts.open.format(ticket=thread.ticket, response_time=span_words(wait, language))
