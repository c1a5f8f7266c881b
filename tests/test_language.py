"""Behaviour of the language detector (routing/language.py) on short support messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.language import LanguageDetector, LanguageGuess

SCHOOL = ("ru", "uk", "en", "kk", "de", "fr")
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "langid"


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(SCHOOL, default="ru")


def test_kazakh_letters_decide_kazakh_and_are_named_in_the_evidence(detector):
    guess = detector.detect("Сабақ кестесі қашан болады?")
    assert guess.language == "kk"
    assert "letters only kk uses: ң" in detector.detect("Кеңес").evidence
    assert any(item.startswith("letters only kk uses: ") for item in guess.evidence)


def test_ukrainian_letters_decide_ukrainian(detector):
    guess = detector.detect("Підкажіть, будь ласка, їхній розклад")
    assert guess.language == "uk"
    assert "letters only uk uses: ї" in guess.evidence


def test_short_russian_sentence_is_russian(detector):
    guess = detector.detect("не могу войти")
    assert (guess.language, guess.evidence[0]) == ("ru", "script: Cyrillic")
    assert guess.confidence > 0.9


def test_one_english_word_is_english(detector):
    assert detector.detect("payment?").language == "en"


def test_a_foreign_letter_in_a_name_does_not_outweigh_the_words(detector):
    assert detector.detect("The café is closed today, can we meet at the library?").language == "en"
    assert detector.detect("Ich habe René gestern gesehen").language == "de"


def test_mixed_scripts_follow_the_script_most_letters_use(detector):
    assert detector.detect("Zoom ссылка не работает, помогите").language == "ru"
    assert detector.detect("My Kaspi перевод did not arrive yesterday").language == "en"


@pytest.mark.parametrize("text", ["", "   ", "😀😀👍", "12:30 !!!", "+7 701 000 00 00"])
def test_text_without_letters_falls_back_to_the_default_undetected(detector, text):
    assert detector.detect(text) == LanguageGuess("ru", 0.1, ("no letters", "default: ru"),
                                                  detected=False)


def test_text_without_letters_prefers_previous_then_telegram_then_content_language(detector):
    hints = {"telegram": "en-US", "content-language": "de"}
    assert detector.detect("👍", hints, previous="kk").language == "kk"
    assert detector.detect("👍", hints, previous="kk").detected  # a hint is evidence
    assert detector.detect("👍", hints).language == "en"
    assert detector.detect("👍", {"content-language": "de, en;q=0.5"}).language == "de"
    assert detector.detect("👍", {"telegram": "es"}).language == "ru"  # not configured
    assert detector.detect("👍", hints).confidence < 0.5


def test_hint_settles_a_word_that_is_common_in_two_languages(detector):
    assert detector.detect("модель", {"telegram": "uk"}).language == "uk"
    assert detector.detect("модель", previous="ru").language == "ru"
    assert "telegram language_code: uk" in detector.detect("модель", {"telegram": "uk"}).evidence


def test_hint_does_not_override_a_word_only_one_language_uses(detector):
    assert detector.detect("дякую", {"telegram": "ru"}).language == "uk"
    assert detector.detect("спасибо", {"telegram": "uk"}).language == "ru"


def test_transliterated_russian_is_russian_only_with_a_hint(detector):
    text = "privet, ne mogu voiti"
    assert detector.detect(text).language in ("en", "de", "fr")
    guess = detector.detect(text, {"telegram": "ru"})
    assert guess.language == "ru"
    assert guess.confidence <= 0.5
    assert "telegram language_code: ru" in guess.evidence


@pytest.mark.parametrize("text", ["privet, ne mogu voiti v lichnyi kabinet",
                                  "Guten Tag, ich habe eine Frage zur Anmeldung"])
def test_the_scripts_only_language_is_doubted_when_it_knows_few_of_the_words(text):
    detector = LanguageDetector(["ru", "kk", "en"], default="ru")
    guess = detector.detect(text)
    assert (guess.language, guess.confidence) == ("en", 0.5)  # min_language_confidence can act
    assert any(line.startswith("en: ") and line.endswith(" common words")
               for line in guess.evidence)
    assert detector.detect("Hello, I cannot log in to the portal").confidence == 0.99


def test_latin_text_the_hinted_language_knows_stays_latin(detector):
    assert detector.detect("Hello, I cannot log in", {"telegram": "ru"}).language == "en"


def test_answer_is_always_a_configured_language():
    detector = LanguageDetector(["ru", "en"], default="en")
    for text in ("Кеңес беріңіз", "Підкажіть, будь ласка", "Guten Tag", "Բարև", "مرحبا", "你好"):
        assert detector.detect(text, {"telegram": "de"}).language in ("ru", "en")


def test_a_script_only_one_configured_language_uses_decides_alone():
    detector = LanguageDetector(["ru", "hy", "ka", "en"], default="ru")
    assert detector.detect("Բարև ձեզ").language == "hy"
    assert detector.detect("გამარჯობა").language == "ka"
    assert detector.detect("Բարև ձեզ").evidence == ("script: Armenian", "only hy uses it")


def test_a_script_no_configured_language_uses_falls_back():
    guess = LanguageDetector(["ru", "en"], default="en").detect("مرحبا", {"telegram": "ru"})
    assert guess.language == "ru"
    assert guess.evidence[:2] == ("script: Arabic", "no configured language uses it")


def test_works_without_kazakh_or_word_lists_for_a_language():
    detector = LanguageDetector(["be", "ru"], default="ru")
    assert detector.detect("Дзякуй, у мяне ўсё добра").language == "be"
    assert detector.detect("Спасибо, всё хорошо").language == "ru"


def test_same_answer_every_time(detector):
    texts = ["профиль", "Schule", "école", "кесте", "ok", "привіт"]
    first = [detector.detect(text) for text in texts]
    for _ in range(50):
        assert [detector.detect(text) for text in texts] == first
    assert [LanguageDetector(SCHOOL, "ru").detect(text) for text in texts] == first


def test_default_must_be_a_configured_language():
    with pytest.raises(ValueError, match="default language 'de' is not one of"):
        LanguageDetector(["ru", "en"], default="de")


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no langid corpus at {CORPUS}")
def test_accuracy_floor_on_the_shared_corpus(detector):
    def accuracy(granularity: str) -> float:
        hits = total = 0
        for lang in SCHOOL:
            lines = (CORPUS / granularity / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
            hits += sum(detector.detect(line).language == lang for line in lines)
            total += len(lines)
        return hits / total

    short = [accuracy(g) for g in ("single-words", "word-pairs", "short-3to5")]
    assert sum(short) / len(short) >= 0.96
    assert accuracy("sentences") >= 0.995
