"""FAQ matching: which knowledge-base entry a customer's first message asks, if any, and how sure.

Pure: entries come in as parsed TOML tables, text and language as strings; no I/O.

Method, and why. Each text becomes a set of stems: words lower-cased (ё → е),
stop words dropped, then stemmed for the message's language — Snowball for
Russian, English, German and French (``snowballstemmer``), longest-suffix
stripping for Kazakh (agglutinative: ``сабақтың`` → ``сабақ``; no Snowball
stemmer exists), and a six-letter prefix for any other language (a crude stem
that still joins most inflected forms). A stem weighs its inverse document
frequency over the entries of that language, so "урок", shared by five entries,
counts little and "пароль" much. The score of an entry is the best cosine
similarity between the message and one of the entry's question variants. Two
checks make an answer *confident*: the score reaches ``threshold`` and beats the
best other entry by ``margin``; a long message with several concerns dilutes
its cosine and falls below the threshold, which is what we want — a wrong
automatic answer is worse than none. Both numbers were chosen on
``tests/data/faq_labelled.csv`` (see ``bench/faq.py`` and its results).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from inbox.sections import Section

SNOWBALL = {"ru": "russian", "en": "english", "de": "german", "fr": "french"}
THRESHOLD = 0.5
MARGIN = 0.1
_WORD = re.compile(r"[^\W\d_]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS: dict[str, frozenset[str]] = {
    "ru": _words(
        "а и в во на с со к ко у о об от до по за из для не ни но да же ли бы то это этот эта"
        " я мы вы ты он она они мне нам вам вас нас меня его ее их мой моя мое мои наш наша"
        " ваш ваша ваши как где когда что чтобы какой какая какие можно нужно надо ли уже"
        " здравствуйте добрый день вечер утро привет спасибо пожалуйста подскажите скажите"
        " хочу хотел хотела хотим есть был была было были будет очень просто еще также тоже"
        " или так там тут сейчас сегодня вот все всё"),
    "en": _words(
        "a an the and or but if of to in on at for from by with about as is are was were be"
        " been do does did i me my we our you your he she it its they them their this that"
        " these those can could would should will how where when what which who please hi"
        " hello thanks thank dear there here any some have has had just also so not no yes"
        " am get"),
    "kk": _words(
        "және мен бен пен да де та те ма ме ба бе па пе бар жоқ бұл осы сол мен біз сіз сен"
        " ол олар менің біздің сіздің оның қалай қайда қашан не неге қандай ма ме бола"
        " болады болама сәлеметсіз сәлем рахмет өтінемін айтыңызшы еді ғой ғана әлі"
        " бүгін енді"),
}

# Kazakh inflection, longest first: plural, possessive, case and common verb endings.
KAZAKH_SUFFIXES = tuple(sorted({
    "лар", "лер", "дар", "дер", "тар", "тер",
    "ымыз", "іміз", "мыз", "міз", "ыңыз", "іңіз", "ңыз", "ңіз", "ым", "ім", "ың", "ің",
    "сы", "сі", "ы", "і", "м", "ң",
    "ның", "нің", "дың", "дің", "тың", "тің",
    "ға", "ге", "қа", "ке", "на", "не", "а", "е",
    "ды", "ді", "ты", "ті", "ны", "ні", "н",
    "да", "де", "та", "те", "нда", "нде",
    "дан", "ден", "тан", "тен", "нан", "нен",
    "мен", "бен", "пен", "ша", "ше",
    "ған", "ген", "қан", "кен", "атын", "етін", "йтын", "йтін",
    "мын", "мін", "бын", "бін", "пын", "пін", "сыз", "сіз", "быз", "біз",
    "у", "уге", "уға", "ып", "іп", "п", "майды", "мейді",
    "алмай", "ғым", "гім", "қым", "кім", "ғыңыз", "гіңіз", "ңызшы", "ңізші", "шы", "ші",
}, key=len, reverse=True))
KAZAKH_MIN_STEM = 3


def kazakh_stem(word: str) -> str:
    """Strip Kazakh endings, longest first, while at least three letters remain."""
    changed = True
    while changed:
        changed = False
        for suffix in KAZAKH_SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= KAZAKH_MIN_STEM:
                word = word[: -len(suffix)]
                changed = True
                break
    return word


@cache
def _snowball(language: str) -> Any:
    # Imported on first use: its stemmers for every language it knows take 60 ms to
    # import, which every `inbox` command paid and which a school without FAQ never needs.
    import snowballstemmer

    return snowballstemmer.stemmer(SNOWBALL[language])


def stems(text: str, language: str) -> frozenset[str]:
    """The stems of ``text`` as the matcher compares them (stop words and digits dropped)."""
    words = [w for w in _WORD.findall(text.lower().replace("ё", "е"))
             if len(w) > 1 and w not in STOP_WORDS.get(language, ())]
    if language in SNOWBALL:
        return frozenset(_snowball(language).stemWords(words))
    if language == "kk":
        return frozenset(kazakh_stem(word) for word in words)
    return frozenset(word[:6] for word in words)


@dataclass(frozen=True)
class FaqEntry:
    """One knowledge-base article: question variants and the answer, per language."""

    id: str
    questions: Mapping[str, tuple[str, ...]]
    answers: Mapping[str, str]
    tags: tuple[str, ...] = ()


def parse_entry(data: Any, entry_id: str, where: str, problems: list[str]) -> FaqEntry:
    """An entry from its TOML table: ``tags`` and one ``[<language>]`` table of
    ``questions`` (a list) and ``answer`` per language."""
    section = Section(data, where, problems)
    tags = section.texts("tags", ())
    questions, answers = {}, {}
    for language in [key for key in section.data if key != "tags"]:
        if not isinstance(section.data[language], dict):  # "category = ...": not a language
            section.seen.add(language)
            section.problem(f"unknown key {language!r}: an entry holds tags and one table per"
                            " language ([ru] with questions and answer)")
            continue
        part = section.table(language)
        variants = part.texts("questions", ())
        answer = part.text("answer")
        if not variants:
            part.problem("questions must list at least one way to ask")
        part.done()
        questions[language] = variants
        answers[language] = (answer or "").strip()
    if not questions:
        section.problem("no language table (e.g. [ru] with questions and answer)")
    section.done()
    return FaqEntry(entry_id, questions, answers, tags)


@dataclass(frozen=True)
class FaqMatch:
    """The best entry for a message, its score, the runner-up and whether to answer."""

    entry: str
    score: float
    runner_up: str
    runner_up_score: float
    confident: bool


@dataclass
class _Index:
    weights: dict[str, float]
    variants: list[tuple[str, frozenset[str], float]]  # entry, stems, norm
    unknown_weight: float


@dataclass
class KnowledgeBase:
    """Entries plus the per-language index the scorer uses (built on first use)."""

    entries: tuple[FaqEntry, ...]
    threshold: float = THRESHOLD
    margin: float = MARGIN
    _indexes: dict[str, _Index] = field(default_factory=dict, repr=False)

    def entry(self, entry_id: str) -> FaqEntry:
        return next(entry for entry in self.entries if entry.id == entry_id)

    def languages(self) -> set[str]:
        return {language for entry in self.entries for language in entry.questions}

    def match(self, text: str, language: str) -> FaqMatch | None:
        """The best entry for ``text`` in ``language``; None when nothing shares a stem."""
        index = self._index(language)
        if index is None:
            return None
        words = stems(text, language)
        if not words:
            return None
        weight = {w: index.weights.get(w, index.unknown_weight) for w in words}
        norm = math.sqrt(sum(v * v for v in weight.values()))
        best: dict[str, float] = {}
        for entry_id, variant, variant_norm in index.variants:
            shared = sum(weight[w] ** 2 for w in words & variant)
            if shared:
                score = shared / (norm * variant_norm)
                best[entry_id] = max(best.get(entry_id, 0.0), score)
        if not best:
            return None
        ranked = sorted(best.items(), key=lambda item: item[1], reverse=True)
        (top, score), (second, second_score) = ranked[0], (ranked[1] if len(ranked) > 1
                                                           else ("", 0.0))
        confident = score >= self.threshold and score - second_score >= self.margin
        return FaqMatch(top, round(score, 4), second, round(second_score, 4), confident)

    def _index(self, language: str) -> _Index | None:
        if language not in self._indexes:
            self._indexes[language] = _build_index(
                [(e.id, e.questions[language]) for e in self.entries if language in e.questions],
                language)
        return self._indexes[language]


def _build_index(entries: Iterable[tuple[str, tuple[str, ...]]], language: str) -> _Index | None:
    per_entry = [(entry_id, [stems(q, language) for q in variants])
                 for entry_id, variants in entries]
    if not per_entry:
        return None
    count = len(per_entry)
    frequency: dict[str, int] = {}
    for _, variants in per_entry:
        for word in set().union(*variants):
            frequency[word] = frequency.get(word, 0) + 1
    weights = {w: math.log(1 + count / n) for w, n in frequency.items()}
    unknown = math.log(1 + count / 0.5)  # a word no entry uses weighs like the rarest
    indexed = []
    for entry_id, variants in per_entry:
        for variant in variants:
            norm = math.sqrt(sum(weights[w] ** 2 for w in variant))
            if norm:
                indexed.append((entry_id, variant, norm))
    return _Index(weights, indexed, unknown)
