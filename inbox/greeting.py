"""Messenger ``/start``: greet the user in their language and remember the deep-link payload.

A bare ``/start`` (``/start course-42`` from a link on the school's site) is
not a question, so it opens no thread: the payload is kept on the contact,
where segment rules read it when the user's first real message arrives, and a
greeting in the user's language tells them to write their question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from inbox.channel import Inbound
from inbox.model import Contact
from inbox.sections import Section
from inbox.store import Store, now_utc
from routing.language import LanguageDetector

DEFAULT_TEXTS = {
    "ru": "Здравствуйте! Это служба поддержки {school}. Напишите ваш вопрос одним сообщением —"
          " мы ответим здесь же.",
    "kk": "Сәлеметсіз бе! Бұл {school} қолдау қызметі. Сұрағыңызды жазыңыз — біз осында"
          " жауап береміз.",
    "uk": "Вітаємо! Це служба підтримки {school}. Напишіть ваше питання — ми відповімо тут.",
    "en": "Hello! This is {school} support. Write your question here and we will answer"
          " in this chat.",
    "de": "Hallo! Hier ist der Support von {school}. Schreiben Sie Ihre Frage, wir antworten"
          " hier.",
    "fr": "Bonjour ! Ici le support de {school}. Écrivez votre question, nous répondrons ici.",
}


@dataclass(frozen=True)
class GreetingSettings:
    enabled: bool = True
    texts: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_TEXTS))


def greeting_settings(section: Section) -> GreetingSettings:
    """Read ``[greeting]``: ``enabled`` and ``text`` (a table: language = text, ``{school}``)."""
    enabled = section.flag("enabled", True)
    texts = dict(DEFAULT_TEXTS)
    given = section.table("text")
    for language in given.data:
        value = given.placeholder_text(language, "", ("school",))
        if value:
            texts[language] = value
    given.done()
    section.done()
    return GreetingSettings(enabled, texts)


class Greeter:
    """Inbound hook: claims bare ``/start`` commands from messenger users."""

    def __init__(self, store: Store, settings: GreetingSettings, school_name: str,
                 detector: LanguageDetector):
        self.store = store
        self.settings = settings
        self.school_name = school_name
        self.detector = detector

    def claim(self, item: Inbound, contact: Contact) -> bool:
        if item.meta.get("command") != "start":
            return False
        if self.store.was_claimed(item.account, item.external_id):
            return True
        payload = item.meta.get("start_payload", "")
        with self.store.transaction():
            if payload:
                self.store.update_contact(contact.id, start_payload=payload)
            if self.settings.enabled and item.keys.conversation:
                language = self.detector.detect("", item.language_hints, contact.language).language
                text = self.settings.texts.get(language) or self.settings.texts.get("en", "")
                self.store.queue_outbound(
                    channel=item.channel, account=item.account,
                    recipient=item.keys.conversation, kind="auto",
                    text=text.replace("{school}", self.school_name))
            self.store.record_claim(item.account, item.external_id, "", None, now_utc())
            self.store.log_event(None, "system", "start", {
                "contact": contact.id, "payload": payload, "account": item.account})
        return True
