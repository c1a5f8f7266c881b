"""FAQ answers: a new thread whose first message confidently matches an article gets it at once.

The answer ends with "did this solve it? reply 1 = yes, 2 = I need a person"
(Telegram: two inline buttons whose data is ``faq:yes``/``faq:no``). "1" closes
the thread as resolved by the FAQ; "2" or silence leaves it with its agent as
usual, who sees the answer in the thread (an ``auto`` message and an
``auto-faq`` event naming the entry and score). Matching is
:mod:`routing.faq`; the knowledge base is the ``*.toml`` files of ``[faq]``
``folder``, read when the configuration is loaded so a broken article is a
configuration error, not a surprise at 3 a.m.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from inbox.actions import Actions
from inbox.automatic import AutomaticSender, loop_risk
from inbox.config import Config
from inbox.config_file import read_toml
from inbox.faqverdict import pending_verdict
from inbox.hooks import Filed
from inbox.model import Status
from inbox.sections import Section
from inbox.store import Store, now_utc
from routing.faq import MARGIN, THRESHOLD, FaqEntry, KnowledgeBase, parse_entry

log = logging.getLogger("inbox.faq")



@dataclass(frozen=True)
class FaqTexts:
    """The question under an answer and the two button labels."""

    prompt: str
    yes: str
    person: str


DEFAULT_TEXTS = {
    "ru": FaqTexts("Это помогло? Ответьте 1 — да, 2 — нужен сотрудник.", "1 — да, помогло",
                   "2 — нужен сотрудник"),
    "kk": FaqTexts("Бұл көмектесті ме? 1 — иә, 2 — маманмен сөйлескім келеді деп жауап беріңіз.",
                   "1 — иә, көмектесті", "2 — маман керек"),
    "en": FaqTexts("Did this solve it? Reply 1 = yes, 2 = I need a person.", "1 = yes, solved",
                   "2 = I need a person"),
    "uk": FaqTexts("Це допомогло? Відповідайте 1 — так, 2 — потрібен співробітник.",
                   "1 — так, допомогло", "2 — потрібен співробітник"),
    "de": FaqTexts("Hat das geholfen? Antworten Sie 1 = ja, 2 = ich brauche eine Person.",
                   "1 = ja, gelöst", "2 = ich brauche eine Person"),
}


@dataclass(frozen=True)
class FaqSettings:
    """``[faq]``: on/off, the knowledge base, the confidence bar, channels, cap, texts."""

    enabled: bool = False
    folder: Path | None = None
    entries: tuple[FaqEntry, ...] = ()
    threshold: float = THRESHOLD
    margin: float = MARGIN
    channels: tuple[str, ...] = ()
    max_per_hour: int = 3
    texts: dict[str, FaqTexts] = field(default_factory=lambda: dict(DEFAULT_TEXTS))

    def knowledge_base(self) -> KnowledgeBase:
        return KnowledgeBase(self.entries, self.threshold, self.margin)


def load_entries(folder: Path, problems: list[str]) -> tuple[FaqEntry, ...]:
    """Every ``*.toml`` in ``folder`` as one entry named by its file, in name order."""
    if not folder.is_dir():
        problems.append(f"{folder}: the FAQ folder does not exist")
        return ()
    entries = []
    for path in sorted(folder.glob("*.toml")):
        data = read_toml(path, problems)
        if data is not None:
            entries.append(parse_entry(data, path.stem, f"{folder.name}/{path.name}", problems))
    return tuple(entries)



def faq_settings(section: Section) -> FaqSettings:
    """Read ``[faq]``; a relative ``folder`` is taken from the config's folder."""
    enabled = section.flag("enabled", False)
    folder = section.path("folder")
    if enabled and folder is None:
        section.problem('folder is required when enabled (e.g. folder = "faq")')
    threshold = section.number("threshold", THRESHOLD, minimum=0)
    margin = section.number("margin", MARGIN, minimum=0)
    channels = section.texts("channels", ())
    max_per_hour = section.integer("max_per_hour", 3, minimum=1)
    texts = dict(DEFAULT_TEXTS)
    table = section.table("texts")
    for language in table.data:
        given = table.table(language)
        base_texts = texts.get(language, DEFAULT_TEXTS["en"])
        texts[language] = FaqTexts(*(given.text(key, getattr(base_texts, key))
                                     for key in ("prompt", "yes", "person")))
        given.done()
    table.done()
    section.done()
    entries = load_entries(folder, section.problems) if folder is not None else ()
    return FaqSettings(enabled, folder, entries, threshold, margin, channels, max_per_hour, texts)


class FaqAnswerer:
    """The hook: answers confident matches on new threads and reads the customer's verdict."""

    def __init__(self, store: Store, config: Config, settings: FaqSettings,
                 clock: Callable[[], datetime] = now_utc):
        self.store = store
        self.config = config
        self.settings = settings
        self.clock = clock
        self.kb = settings.knowledge_base()
        self.sender = AutomaticSender(store, config)

    def thread_created(self, filed: Filed) -> None:
        settings, thread, item = self.settings, filed.thread, filed.item
        if not settings.enabled or (settings.channels and thread.account not in settings.channels):
            return
        if loop_risk(item):
            return
        text = item.visible
        if item.channel == "email" and item.subject and item.subject not in text:
            text = f"{item.subject}\n{text}"
        found = self.kb.match(text, thread.language)
        if found is None or not found.confident:
            return
        entry = self.kb.entry(found.entry)
        answer = entry.answers.get(thread.language, "")
        now = self.clock()
        if not answer or self.sender.over_limit(thread, "faq", settings.max_per_hour, now):
            return
        texts = settings.texts.get(thread.language, DEFAULT_TEXTS["en"])
        headers = {}
        if thread.channel == "telegram":
            buttons = [{"text": texts.yes, "callback_data": "faq:yes"},
                       {"text": texts.person, "callback_data": "faq:no"}]
            headers["reply_markup"] = json.dumps({"inline_keyboard": [buttons]},
                                                 ensure_ascii=False)
        with self.store.transaction():
            self.sender.send(thread, f"{answer}\n\n{texts.prompt}", kind="faq", at=now,
                             headers=headers,
                             detail={"entry": found.entry, "score": found.score})
            self.store.record_faq_offer(thread.id, found.entry, found.score, now)
            if set(entry.tags) - set(thread.tags):  # the entry's tags say what the thread is about
                self.store.update_thread(thread.id, tags=[
                    *thread.tags, *(tag for tag in entry.tags if tag not in thread.tags)])
        log.info("thread %s: FAQ answer %r sent (score %.2f)", thread.id, found.entry,
                 found.score)

    def customer_wrote(self, filed: Filed) -> None:
        thread = filed.thread
        outcome = pending_verdict(self.store, thread, filed.item)
        if not outcome:
            return
        offer = self.store.faq_offer(thread.id)
        now = self.clock()
        self.store.answer_faq_offer(thread.id, outcome, now)
        self.store.log_event(thread.id, "customer", f"faq-{outcome}", {"entry": offer.entry},
                             at=now)
        if outcome == "solved":
            Actions(self.store, self.config).set_status(thread.id, Status.CLOSED, by="faq")
