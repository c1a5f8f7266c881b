"""Keyword and phrase matching on whole words, in any script, that admins can predict.

Python's ``\\b`` is Unicode-aware, but stems and phrases need more than a regex:
both the text and each keyword are cut into the same words (runs of letters and
digits, after NFKC, case folding, ``ё`` -> ``е`` and dropping stress accents), so
"Оплата курса" and "оплата" meet on the word ``оплата``. A keyword matches whole
words only: ``оплата`` does not match "предоплата" nor "оплатой". A trailing
``*`` makes a word a stem: ``оплат*`` matches "оплата", "оплатой", "оплатить",
still not "предоплата". A phrase ("не могу войти") matches those words in a row;
any of its words may be a stem.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from inbox.sections import Section

_WORD = re.compile(r"\w+")
_ACCENTS = dict.fromkeys(map(ord, "\u0300\u0301"))  # stress marks some writers type on vowels


def normalise(text: str) -> str:
    """The form both sides are compared in; ``ё`` and ``е`` are one letter in practice."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_ACCENTS)
    return folded.replace("ё", "е")


@dataclass(frozen=True)
class Words:
    """A text cut into normalised words, made once per message and shared by every rule."""

    tokens: tuple[str, ...]

    @classmethod
    def of(cls, *texts: str) -> Words:
        return cls(tuple(word for text in texts for word in _WORD.findall(normalise(text))))

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        return frozenset(self.tokens)

    @cached_property
    def _sorted(self) -> list[str]:
        return sorted(self.vocabulary)

    def has_prefix(self, stem: str) -> bool:
        """Whether any word starts with ``stem``: a binary search, as every rule's stems ask."""
        words = self._sorted
        at = bisect_left(words, stem)
        return at < len(words) and words[at].startswith(stem)


@dataclass(frozen=True)
class Keyword:
    """One keyword or phrase as the admin wrote it, with the language list it came from."""

    text: str
    language: str
    words: tuple[tuple[str, bool], ...]  # (normalised word, is a stem)

    def found_in(self, words: Words) -> bool:
        first, first_is_stem = self.words[0]
        if not (words.has_prefix(first) if first_is_stem else first in words.vocabulary):
            return False
        if len(self.words) == 1:
            return True
        tokens = words.tokens
        last = len(tokens) - len(self.words)  # the last place the phrase can start
        return any(
            all(_word_matches(tokens[start + i], word, stem)
                for i, (word, stem) in enumerate(self.words[1:], 1))
            for start in _places(tokens, first, first_is_stem, last)
        )


def _places(tokens: tuple[str, ...], word: str, stem: bool, last: int) -> Iterator[int]:
    """Where ``word`` stands among ``tokens[:last + 1]``: a phrase is tried only where its
    first word is (a mail has hundreds of words, and a phrase's first word is rare)."""
    if stem:
        yield from (i for i in range(last + 1) if tokens[i].startswith(word))
        return
    start = 0
    while start <= last:  # (index() would read a negative end from the back)
        try:
            start = tokens.index(word, start, last + 1)
        except ValueError:
            return
        yield start
        start += 1


def _word_matches(token: str, word: str, stem: bool) -> bool:
    return token.startswith(word) if stem else token == word


@dataclass(frozen=True)
class Keywords:
    """A list of keywords; the first one (in file order) found in a text is reported."""

    items: tuple[Keyword, ...] = ()

    def find(self, words: Words) -> Keyword | None:
        return next((keyword for keyword in self.items if keyword.found_in(words)), None)

    def __bool__(self) -> bool:
        return bool(self.items)

    def summary(self, limit: int = 5) -> str:
        """The keywords for a trace line, shortened so a long list stays readable."""
        shown = ", ".join(f'"{keyword.text}"' for keyword in self.items[:limit])
        more = len(self.items) - limit
        return shown + (f" and {more} more" if more > 0 else "")


def parse_keyword(text: str, language: str = "") -> Keyword | str:
    """A :class:`Keyword`, or the reason it cannot be one (for the config problem)."""
    words = []
    for part in normalise(text).split():
        stem = part.endswith("*")
        body = part.removesuffix("*")
        if "*" in body:
            return "may have * only at the end of a word"
        pieces = _WORD.findall(body)
        if not pieces:
            if stem:
                return "has no letters or digits before *"
            continue  # punctuation alone ("-", "&") is no word in the text either
        # "e-mail" is the words e, mail in the text too; only the last piece can be a stem.
        words.extend((piece, False) for piece in pieces[:-1])
        words.append((pieces[-1], stem))
    if not words:
        return "has no letters or digits"
    return Keyword(text, language, tuple(words))


def keywords_of(texts: Iterable[str], language: str = "") -> tuple[list[Keyword], list[str]]:
    """Parse many keywords; answer the good ones and a problem per bad one."""
    good, bad = [], []
    for text in texts:
        keyword = parse_keyword(text, language)
        if isinstance(keyword, Keyword):
            good.append(keyword)
        else:
            bad.append(f'"{text}" {keyword}')
    return good, bad


def read_keywords(section: Section, key: str, languages: Collection[str]) -> Keywords:
    """Read ``key`` as a list of keywords or a table of lists per language (``{ru = [...]}``).

    Per-language lists are for the admin's reading and for the trace; all of them
    are searched whatever language the message was detected in, because short
    messages are often detected wrongly and a Russian parent may write "invoice".
    """
    section.seen.add(key)  # known whether given or not: "unknown key" lists it
    if key not in section.data:
        return Keywords()
    value = section.data[key]
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        groups = {"": value}
    elif isinstance(value, Mapping):
        groups = dict(value)
    else:
        section.problem(f"{key} must be a list of keywords or a table of lists per language")
        return Keywords()
    found: list[Keyword] = []
    for language, texts in groups.items():
        label = f"{key}.{language}" if language else key
        if language and language not in languages:
            known = ", ".join(sorted(languages)) or "none"
            section.problem(f'{label}: "{language}" is not a school language (languages: {known})')
            continue
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            section.problem(f"{label} must be a list of strings")
            continue
        if not texts:
            section.problem(f"{label} is empty: it would never match")
        good, bad = keywords_of(texts, language)
        found.extend(good)
        for problem in bad:
            section.problem(f"{label} {problem}")
    return Keywords(tuple(found))
