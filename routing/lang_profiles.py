"""langdetect, restricted to the school's languages and made deterministic.

Loading only the configured profiles (instead of all 55 and filtering the answer) keeps the
detector at a few MB, makes it several times faster, and stops short texts from being pulled
towards languages the school does not have. langdetect has no Kazakh profile; ours is
bundled in ``routing/data/profiles`` (see the README there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

BUNDLED_PROFILES = Path(__file__).resolve().parent / "data" / "profiles"
SEED = 0
# langdetect splits some languages in several profiles; the school configures ISO 639-1 codes.
PROFILE_NAMES: Mapping[str, tuple[str, ...]] = {"zh": ("zh-cn", "zh-tw"), "nb": ("no",)}


@cache
def profile_languages() -> frozenset[str]:
    """The ISO 639-1 codes there is an n-gram profile for (langdetect's and ours).

    Listed once per process: the configuration asks for every school and agent language.
    """
    language_of = {name: lang for lang, names in PROFILE_NAMES.items() for name in names}
    return frozenset(language_of.get(path.name, path.name)
                     for folder in (BUNDLED_PROFILES, Path(PROFILES_DIRECTORY))
                     for path in folder.iterdir() if path.is_file())


def _profile_path(name: str) -> Path | None:
    for folder in (BUNDLED_PROFILES, Path(PROFILES_DIRECTORY)):
        if (folder / name).is_file():
            return folder / name
    return None


class NgramModel:
    """Seeded langdetect over the profiles of ``languages`` that exist (others are ignored)."""

    def __init__(self, languages: Iterable[str]) -> None:
        self._language_of: dict[str, str] = {}
        texts = []
        for lang in languages:
            for name in PROFILE_NAMES.get(lang, (lang,)):
                path = _profile_path(name)
                if path is not None:
                    self._language_of[name] = lang
                    texts.append(path.read_text(encoding="utf-8"))
        self._factory: DetectorFactory | None = None
        if len(texts) >= 2:  # langdetect refuses fewer, and one profile tells nothing
            self._factory = DetectorFactory()
            self._factory.load_json_profile(texts)
            self._factory.set_seed(SEED)

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._language_of.values()) if self._factory else frozenset()

    def probabilities(self, text: str, candidates: Iterable[str]) -> dict[str, float]:
        """langdetect's probabilities for the ``candidates`` it has profiles for.

        Returns {} when it has fewer than two of them or finds no known n-gram. Languages
        langdetect rates below its reporting threshold (0.1) are absent from the answer.
        """
        wanted = {name for name, lang in self._language_of.items() if lang in candidates}
        if self._factory is None or len({self._language_of[n] for n in wanted}) < 2:
            return {}
        detector = self._factory.create()
        detector.set_prior_map({name: 1.0 for name in wanted})
        detector.append(text)
        try:
            found = detector.get_probabilities()
        except LangDetectException:  # no n-gram of any profile in the text
            return {}
        result: dict[str, float] = {}
        for item in found:
            lang = self._language_of[item.lang]
            result[lang] = result.get(lang, 0.0) + item.prob
        return result
