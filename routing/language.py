"""Which of the school's languages a message is written in.

Evidence is combined from the cheapest and most certain to the weakest: the script (Armenian
letters can only be Armenian), letters only one candidate writes (Kazakh "ә", Ukrainian "ї"),
word frequencies, langdetect restricted to the configured languages, and finally what the
channel says (Telegram's language_code, an email's Content-Language) and the language the
contact wrote in before. The answer is always one of the configured languages; when the text
says too little, the hints decide and the confidence stays low.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

from routing.lang_profiles import NgramModel, profile_languages
from routing.lang_script import (
    ALPHABETS,
    LANGUAGE_SCRIPTS,
    dominant_script,
    foreign_letters,
    letter_counts,
    script_of,
    scripts_of,
    unique_letters,
)
from routing.lang_words import WordFrequencies, words_of

# Weights of the log-linear combination (natural-log units). Few and coarse on purpose: they
# were set on the shared langid corpus and must hold on text the detector has never seen.
NGRAM_WEIGHT = 1.0
NGRAM_FLOOR = 0.25  # langdetect does not report languages it rates below 0.1
WORD_WEIGHT = 2.0  # per Zipf unit of each word a language knows
SUFFIX_WEIGHT = 0.5  # per log share of the language's word forms with an unknown word's ending
FOREIGN_LETTER_PENALTY = 6.0  # per distinct letter the language's alphabet lacks
# A hint outweighs langdetect's largest swing (-log NGRAM_FLOOR), so it settles words that are
# as common in two languages ("модель"), but not a word only one of them uses.
HINT_BONUS = {"previous": 1.5, "telegram": 1.5, "content-language": 1.0}
COMMON_ZIPF = 3.0  # a word at least this frequent (1 in a million) is a common word
# Confidence of an answer taken from hints alone, when the text says nothing.
UNKNOWN_WORDS_CONFIDENCE = 0.5  # the script's one language, which knows few of the words
FALLBACK_CONFIDENCE = {"previous": 0.4, "telegram": 0.3, "content-language": 0.3, "default": 0.1}


MAX_CHARS = 1200  # of a message looked at
MAX_WORDS = 40  # of those words weighed against the word lists


@dataclass(frozen=True)
class LanguageGuess:
    """The detected language, how sure the detector is (0..1) and why, for ``route --explain``.

    ``detected`` is False when neither the text nor any hint told: ``language`` is then the
    school's default, which greetings use, while routing rules see "unknown".
    """

    language: str
    confidence: float
    evidence: tuple[str, ...]
    detected: bool = True


# Country codes written where a language is meant, and the language they stand for.
_COUNTRY_CODES = {"kz": "kk", "ua": "uk", "by": "be", "cz": "cs", "gr": "el", "dk": "da",
                  "se": "sv", "jp": "ja", "cn": "zh", "kr": "ko", "ee": "et", "il": "he",
                  "gb": "en", "us": "en", "at": "de", "ge": "ka", "am": "hy", "kg": "ky",
                  "tj": "tg", "vn": "vi", "ir": "fa", "rs": "sr", "si": "sl"}


def unknown_language(code: str) -> str:
    """Why ``code`` cannot be a school language ("" when the detector knows it).

    A language the detector has no letters, words or n-gram profile for would never be
    detected, and "kz" (Kazakhstan) for "kk" (Kazakh) is an easy slip in a school's config.
    """
    known = profile_languages() | ALPHABETS.keys() | LANGUAGE_SCRIPTS.keys()
    if code in known:
        return ""
    meant = _COUNTRY_CODES.get(code, "")
    hint = f'; "{code}" is a country code: did you mean "{meant}"?' if meant in known else ""
    return f"{code!r} is not a language the detector knows{hint}"


def _hint_language(value: str, languages: Sequence[str]) -> str:
    """The first configured language named by a hint like "en-US" or "ru, en;q=0.5"."""
    for part in value.split(","):
        code = part.split(";")[0].strip().lower().replace("_", "-").split("-")[0]
        if code in languages:
            return code
    return ""


class LanguageDetector:
    """Detects the language of inbound messages among the ``languages`` a school configures.

    Construct it once (it loads the bundled data and langdetect profiles of those languages
    only, a few MB); ``detect`` is pure and deterministic.
    """

    def __init__(self, languages: Sequence[str], default: str) -> None:
        self.languages = tuple(dict.fromkeys(lang.lower() for lang in languages))
        self.default = default.lower()
        if self.default not in self.languages:
            raise ValueError(f"default language {default!r} is not one of {list(languages)}")
        self._ngrams = NgramModel(self.languages)
        self._words = WordFrequencies(self.languages)

    def detect(
        self, text: str, hints: Mapping[str, str] | None = None, previous: str = ""
    ) -> LanguageGuess:
        """Detect the language of ``text``.

        ``hints``: "telegram" (the sender's language_code) and "content-language" (the email
        header); ``previous``: the contact's last confidently detected language.
        """
        priors = self._priors(hints or {}, previous)
        # A long email says no more about its language than its first lines do, and
        # every extra word costs a lookup per candidate language.
        text = text[:MAX_CHARS]
        letters = letter_counts(text)
        script = dominant_script(letters)
        if not script:
            return self._fallback(priors, ["no letters"])
        evidence = [f"script: {script.title()}"]
        candidates = [lang for lang in self.languages if script in scripts_of(lang)]
        if not candidates:
            return self._fallback(priors, [*evidence, "no configured language uses it"])
        words = [word for word in words_of(text) if script_of(word[0]) == script][:MAX_WORDS]
        if len(candidates) == 1:
            guess = self._only(candidates[0], words, evidence)
        else:
            guess = self._weigh(candidates, text, letters, script, words, priors, evidence)
        return self._transliterated(guess, candidates, words, priors)

    def _weigh(
        self,
        candidates: list[str],
        text: str,
        letters: Mapping[str, int],
        script: str,
        words: list[str],
        priors: list[tuple[str, str, str]],
        evidence: list[str],
    ) -> LanguageGuess:
        """Sum the evidence for each candidate written in the text's script."""
        scores = dict.fromkeys(candidates, 0.0)
        self._score_letters(scores, [ch for ch in letters if script_of(ch) == script], evidence)
        self._score_words(scores, words, evidence)
        for lang, kind, reason in priors:
            if lang in scores:
                scores[lang] += HINT_BONUS[kind]
                evidence.append(reason)
        first, second = sorted(scores.values(), reverse=True)[:2]
        if first - second > NGRAM_WEIGHT * -math.log(NGRAM_FLOOR):
            # langdetect could not change the answer: spare its ~0.3 ms
            evidence.append("langdetect: not needed")
        else:
            self._score_ngrams(scores, text, evidence)
        return _decide(scores, evidence)

    def _only(self, lang: str, words: list[str], evidence: list[str]) -> LanguageGuess:
        """The one school language written in the text's script: sure, unless it knows few
        of the words ("privet, ne mogu voiti" or German in a school whose Latin language is
        English), when ``min_language_confidence`` must be able to doubt it."""
        evidence.append(f"only {lang} uses it")
        confidence = 0.99
        if words and lang in self._words.languages:
            common = self._common(lang, words)
            if common * 2 < len(words):
                evidence.append(f"{lang}: {common}/{len(words)} common words")
                confidence = UNKNOWN_WORDS_CONFIDENCE
        return LanguageGuess(lang, confidence, tuple(evidence))

    def _transliterated(
        self,
        guess: LanguageGuess,
        candidates: list[str],
        words: list[str],
        priors: list[tuple[str, str, str]],
    ) -> LanguageGuess:
        """Trust a hint for another script when the guessed language knows few of the words.

        "privet, ne mogu voiti" is Russian in Latin letters: no Latin-script language knows
        most of its words, and the sender's Telegram language says "ru". Without such a hint
        the text's script wins, since the words alone cannot tell Russian from noise.
        """
        elsewhere = [prior for prior in priors if prior[0] not in candidates]
        if not elsewhere or not words or guess.language not in self._words.languages:
            return guess
        common = self._common(guess.language, words)
        if common * 2 >= len(words):
            return guess
        lang, kind, reason = elsewhere[0]
        count = f"{guess.language}: {common}/{len(words)} common words"
        said = guess.evidence if count in guess.evidence else (*guess.evidence, count)
        return LanguageGuess(lang, FALLBACK_CONFIDENCE[kind], (*said, "transliterated?", reason))

    def _priors(self, hints: Mapping[str, str], previous: str) -> list[tuple[str, str, str]]:
        """(language, kind, evidence) of each usable hint, the most trusted kind first."""
        priors = []
        if previous.lower() in self.languages:
            priors.append((previous.lower(), "previous", f"previous: {previous}"))
        for kind, label in (("telegram", "telegram language_code"), ("content-language", "")):
            lang = _hint_language(hints.get(kind, ""), self.languages)
            if lang:
                priors.append((lang, kind, f"{label or kind}: {hints[kind]}"))
        return priors

    def _fallback(self, priors: list[tuple[str, str, str]], evidence: list[str]) -> LanguageGuess:
        """The text tells nothing: trust the contact's history, then the channel, then config."""
        if priors:
            lang, kind, reason = priors[0]
            return LanguageGuess(lang, FALLBACK_CONFIDENCE[kind], (*evidence, reason))
        reason = f"default: {self.default}"
        return LanguageGuess(self.default, FALLBACK_CONFIDENCE["default"], (*evidence, reason),
                             detected=False)

    def _score_letters(
        self, scores: dict[str, float], letters: list[str], evidence: list[str]
    ) -> None:
        for lang in scores:
            scores[lang] -= FOREIGN_LETTER_PENALTY * len(foreign_letters(lang, letters))
            own = unique_letters(lang, [other for other in scores if other != lang], letters)
            if own:
                evidence.append(f"letters only {lang} uses: {','.join(own)}")

    def _score_words(self, scores: dict[str, float], words: list[str], evidence: list[str]) -> None:
        listed = [lang for lang in scores if lang in self._words.languages]
        if not words or not listed:
            return
        # Each word's frequencies in the listed languages, in their order; then by language.
        pick = itemgetter(*listed) if len(listed) > 1 else lambda known: (known[listed[0]],)
        rows = [pick(self._words.zipfs(word)) for word in words]
        zipf = dict(zip(listed, zip(*rows, strict=True), strict=True))
        common = [f"{lang} {len([z for z in zipf[lang] if z >= COMMON_ZIPF])}/{len(words)}"
                  for lang in listed]
        evidence.append("common words: " + ", ".join(common))
        # A word no list has (a rare inflection, a new loanword) still has a telling ending.
        unknown = [word for word, row in zip(words, rows, strict=True) if not any(row)]
        word_scores = {
            lang: WORD_WEIGHT * sum(zipf[lang])
            + SUFFIX_WEIGHT * sum(self._words.suffix_log_share(lang, w) for w in unknown)
            for lang in listed
        }
        # A language without a word list might know the words as well as the best one does;
        # the other evidence (letters, langdetect) then decides between them.
        neutral = max(word_scores.values())
        for lang in scores:
            scores[lang] += word_scores.get(lang, neutral)

    def _common(self, lang: str, words: list[str]) -> int:
        return sum(self._words.zipf(lang, word) >= COMMON_ZIPF for word in words)

    def _score_ngrams(self, scores: dict[str, float], text: str, evidence: list[str]) -> None:
        probabilities = self._ngrams.probabilities(text, scores)
        if not probabilities:
            return
        profiled = [lang for lang in scores if lang in self._ngrams.languages]
        logs = {lang: math.log(max(probabilities.get(lang, 0.0), NGRAM_FLOOR)) for lang in profiled}
        # A language langdetect has no profile for is neither helped nor hurt by it, which keeps
        # every swing within -log(NGRAM_FLOOR), the bound ``_weigh`` relies on to skip this.
        neutral = sum(logs.values()) / len(logs)
        for lang in scores:
            scores[lang] += NGRAM_WEIGHT * logs.get(lang, neutral)
        best = max(probabilities, key=probabilities.__getitem__)
        evidence.append(f"langdetect: {best} {probabilities[best]:.2f}")


def _decide(scores: Mapping[str, float], evidence: list[str]) -> LanguageGuess:
    """The best-scoring language, with its softmax share of the scores as confidence."""
    best = max(scores, key=scores.__getitem__)
    top = scores[best]
    total = sum(math.exp(score - top) for score in scores.values())
    return LanguageGuess(best, round(1.0 / total, 3), tuple(evidence))
