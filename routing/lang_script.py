"""Writing systems and alphabets: the cheap, certain part of language detection.

A message in Armenian letters can only be Armenian among the school's languages, and a
Cyrillic word with "ә" cannot be Russian; both facts are decided here before any statistics.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping

_CYRILLIC_RU = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_LATIN = "abcdefghijklmnopqrstuvwxyz"

# The script each language is written in, by the first word of the Unicode character names
# ("CYRILLIC SMALL LETTER A"). Languages not listed are written in Latin letters.
LANGUAGE_SCRIPTS: Mapping[str, frozenset[str]] = {
    **dict.fromkeys(
        ("ru", "uk", "be", "kk", "bg", "mk", "sr", "ky", "mn", "tt", "tg", "ba", "cv"),
        frozenset({"CYRILLIC"}),
    ),
    **dict.fromkeys(("ar", "fa", "ur", "ps", "ug", "ku"), frozenset({"ARABIC"})),
    **dict.fromkeys(("he", "yi"), frozenset({"HEBREW"})),
    **dict.fromkeys(("hi", "mr", "ne", "sa"), frozenset({"DEVANAGARI"})),
    "hy": frozenset({"ARMENIAN"}),
    "ka": frozenset({"GEORGIAN"}),
    "el": frozenset({"GREEK"}),
    "zh": frozenset({"CJK"}),
    "ja": frozenset({"CJK", "HIRAGANA", "KATAKANA"}),
    "ko": frozenset({"HANGUL"}),
    "th": frozenset({"THAI"}),
    "bn": frozenset({"BENGALI"}),
    "ta": frozenset({"TAMIL"}),
    "te": frozenset({"TELUGU"}),
    "kn": frozenset({"KANNADA"}),
    "ml": frozenset({"MALAYALAM"}),
    "gu": frozenset({"GUJARATI"}),
    "pa": frozenset({"GURMUKHI"}),
    "am": frozenset({"ETHIOPIC"}),
}
LATIN_SCRIPT = frozenset({"LATIN"})

# Lowercase letters of each language's standard orthography. A language without an entry is
# never ruled out by its letters.
ALPHABETS: Mapping[str, frozenset[str]] = {
    lang: frozenset(letters)
    for lang, letters in {
        "ru": _CYRILLIC_RU,
        "uk": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",
        "be": "абвгдеёжзійклмнопрстуўфхцчшыьэюя",
        "kk": _CYRILLIC_RU + "әғқңөұүһі",
        "bg": "абвгдежзийклмнопрстуфхцчшщъьюя",
        "mk": "абвгдѓежзѕијклљмнњопрстќуфхцчџш",
        "sr": "абвгдђежзијклљмнњопрстћуфхцчџш",
        "ky": _CYRILLIC_RU + "ңөү",
        "mn": _CYRILLIC_RU + "өү",
        "tt": _CYRILLIC_RU + "әөүҗңһ",
        "tg": "абвгдеёжзийклмнопрстуфхчшъэюяғӣқӯҳҷ",
        "en": _LATIN,
        "de": _LATIN + "äöüß",
        "fr": _LATIN + "àâæçéèêëîïôœùûüÿ",
        "es": _LATIN + "áéíñóúü",
        "it": _LATIN + "àèéìíîòóù",
        "pt": _LATIN + "áâãàçéêíóôõú",
        "pl": _LATIN + "ąćęłńóśźż",
        "tr": _LATIN + "çğıöşüâîû",
        "az": _LATIN + "çəğıöşü",
        "uz": _LATIN,
        "nl": _LATIN + "éèëïöü",
        "cs": _LATIN + "áčďéěíňóřšťúůýž",
        "sk": _LATIN + "áäčďéíĺľňóôŕšťúýž",
        "ro": _LATIN + "ăâîșşțţ",
        "hu": _LATIN + "áéíóöőúüű",
        "sv": _LATIN + "åäöé",
        "da": _LATIN + "æøåé",
        "no": _LATIN + "æøåé",
        "nb": _LATIN + "æøåé",
        "fi": _LATIN + "åäö",
    }.items()
}

class _Scripts(dict[str, str]):
    """Script by character, worked out from its Unicode name the first time it is seen."""

    def __missing__(self, ch: str) -> str:
        script = unicodedata.name(ch, "").split(" ", 1)[0] if ch.isalpha() else ""
        script = "LATIN" if script == "FULLWIDTH" else script
        self[ch] = script
        return script


# The script of a letter ("LATIN", "CYRILLIC", "CJK", ...); "" for anything else. A dict
# lookup in C once a character is known: detection asks it of every letter and word.
script_of = _Scripts().__getitem__


def scripts_of(language: str) -> frozenset[str]:
    return LANGUAGE_SCRIPTS.get(language, LATIN_SCRIPT)


def letter_counts(text: str) -> Counter[str]:
    """Lowercase letters of ``text`` with how often each occurs."""
    every = Counter(text.lower())  # counted in C; then only the distinct characters are tested
    return Counter({ch: n for ch, n in every.items() if ch.isalpha()})


def dominant_script(letters: Mapping[str, int]) -> str:
    """The script most letters are written in ("" when there are no letters)."""
    by_script: Counter[str] = Counter()
    for ch, count in letters.items():
        script = script_of(ch)
        if script:
            by_script[script] += count
    return by_script.most_common(1)[0][0] if by_script else ""


def foreign_letters(language: str, letters: Iterable[str]) -> frozenset[str]:
    """Letters the language's alphabet lacks (none when its alphabet is not known)."""
    alphabet = ALPHABETS.get(language)
    return frozenset() if alphabet is None else frozenset(letters) - alphabet


def unique_letters(language: str, others: Iterable[str], letters: Iterable[str]) -> list[str]:
    """Letters of the text that ``language`` writes and none of ``others`` does."""
    alphabet = ALPHABETS.get(language, frozenset())
    shared: set[str] = set()
    for other in others:
        shared |= ALPHABETS.get(other, frozenset())
    return sorted(ch for ch in set(letters) if ch in alphabet and ch not in shared)
