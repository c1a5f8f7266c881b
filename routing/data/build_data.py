"""Rebuild the bundled language data in this folder (build time only; the product never runs it).

Why it exists: langdetect ships no Kazakh profile and the word-frequency check needs compact
word lists, so both are derived here from freely licensed packages, reproducibly:

- ``profiles/kk``: a langdetect profile (same JSON format as ``langdetect/profiles/<lang>``),
  built with langdetect's own ``LangProfile`` from the Kazakh UI translations of the Debian
  packages ``libreoffice-l10n-kk`` and ``firefox-esr-l10n-kk`` (MPL-2.0), plus the stems of
  ``hunspell-kk`` (GPL-2+ / LGPL-2.1+ / MPL-1.1).
- ``words/kk.bin``: word frequencies counted in the same Kazakh UI text, plus every word
  form ``unmunch`` (Debian ``hunspell-tools``) generates from ``hunspell-kk``, as rare words.
- ``words/<lang>.bin`` for the other languages: the words of the ``wordfreq`` package
  (data CC-BY-SA 4.0, see README.md for the attribution).

The word tables hold hashes, not words (format in ``routing/lang_words.py``).

Run from the repository root (needs network to Debian's mirror and ``wordfreq`` in the venv):

    .venv/bin/pip install wordfreq==3.1.1
    .venv/bin/python -m routing.data.build_data
"""

from __future__ import annotations

import argparse
import collections
import gettext
import json
import math
import re
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from langdetect.utils.lang_profile import LangProfile

from routing.lang_words import WORD, encode_suffixes, encode_table, words_of

HERE = Path(__file__).resolve().parent
KAZAKH_PACKAGES = ("libreoffice-l10n-kk", "firefox-esr-l10n-kk", "hunspell-kk", "hunspell-tools")
HUNSPELL_FORM_ZIPF = 1.5  # generated forms have no frequency: treat them as rare words
SUFFIX_MIN_ZIPF = 1.5  # rarer words are mostly names and typos, whose endings mislead
WORDFREQ_LANGUAGES = ("ru", "uk", "en", "de", "fr")
MARKUP = re.compile(r"\{[^{}]*\}|<[^<>]*>|&\w+;|%\d*\$?[a-zA-Z]|\$\w+|\\[nt]|https?://\S+|[~&_]")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def unpack_debs(names: Iterable[str], into: Path) -> None:
    """Download the named Debian packages and unpack them under ``into``."""
    subprocess.run(["apt-get", "download", *names], cwd=into, check=True)
    for deb in into.glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(into / "root")], check=True)


def gettext_strings(root: Path) -> Iterator[str]:
    for mo in sorted(root.rglob("LC_MESSAGES/*.mo")):
        with mo.open("rb") as handle:
            catalog = gettext.GNUTranslations(handle)._catalog  # noqa: SLF001 - the only API
        for key, value in catalog.items():
            if key:  # key "" is the .mo header
                yield value


def mozilla_strings(root: Path) -> Iterator[str]:
    for xpi in sorted(root.rglob("*.xpi")):
        with zipfile.ZipFile(xpi) as archive:
            for name in sorted(archive.namelist()):
                if not name.endswith((".ftl", ".properties", ".dtd")):
                    continue
                for line in archive.read(name).decode("utf-8", "replace").splitlines():
                    line = line.strip()
                    if line.startswith("<!ENTITY"):
                        yield line.partition('"')[2].rpartition('"')[0]
                    elif "=" in line and not line.startswith("#"):
                        yield line.partition("=")[2]


def hunspell_stems(root: Path) -> list[str]:
    dic = next(root.rglob("kk_KZ.dic"))
    return [line.partition("/")[0] for line in dic.read_text(encoding="utf-8-sig").splitlines()[1:]]


def hunspell_forms(root: Path) -> list[str]:
    """Every word form the Kazakh dictionary's affix rules generate (about 1.5 million)."""
    dic, aff = next(root.rglob("kk_KZ.dic")), next(root.rglob("kk_KZ.aff"))
    unmunch = next(root.rglob("bin/unmunch"))
    out = subprocess.run([unmunch, dic, aff], capture_output=True, check=True).stdout
    return out.decode("utf-8").lower().split()


def kazakh_lines(strings: Iterable[str]) -> list[str]:
    """Keep translated strings that are mostly Cyrillic, with markup and placeholders removed."""
    lines = []
    for raw in strings:
        text = MARKUP.sub(" ", raw)
        letters = [ch for ch in text if ch.isalpha()]
        if letters and sum(bool(CYRILLIC.match(ch)) for ch in letters) >= 0.8 * len(letters):
            lines.append(" ".join(text.split()))
    return lines


def build_profile(name: str, lines: Iterable[str]) -> dict[str, object]:
    profile = LangProfile(name)
    for line in lines:
        profile.update(" " + line + " ")
    profile.omit_less_freq()
    return {"freq": dict(sorted(profile.freq.items())), "n_words": profile.n_words, "name": name}


def count_words(lines: Iterable[str], min_count: int) -> dict[str, float]:
    """Zipf values (log10 of occurrences per billion words) of the Cyrillic words in ``lines``."""
    counts = collections.Counter(
        word for line in lines for word in words_of(line) if CYRILLIC.match(word)
    )
    total = sum(counts.values())
    return {
        word: math.log10(count / total * 1e9)
        for word, count in counts.items()
        if count >= min_count
    }


def wordfreq_words(lang: str, min_zipf: float) -> dict[str, float]:
    import wordfreq  # build-time only

    return {
        word: zipf
        for word, frequency in wordfreq.get_frequency_dict(lang, wordlist="best").items()
        if WORD.fullmatch(word) and (zipf := math.log10(frequency * 1e9)) >= min_zipf
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-zipf", type=float, default=1.0, help="rarest wordfreq word kept")
    args = parser.parse_args()
    (HERE / "profiles").mkdir(exist_ok=True)
    (HERE / "words").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        unpack_debs(KAZAKH_PACKAGES, work)
        root = work / "root"
        running_text = kazakh_lines([*gettext_strings(root), *mozilla_strings(root)])
        stems = hunspell_stems(root)
        forms = hunspell_forms(root)
    profile = build_profile("kk", [*running_text, *stems])
    (HERE / "profiles" / "kk").write_text(
        json.dumps(profile, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )
    kazakh = dict.fromkeys(forms, HUNSPELL_FORM_ZIPF) | count_words(running_text, min_count=2)
    write_words("kk", kazakh)
    for lang in WORDFREQ_LANGUAGES:
        write_words(lang, wordfreq_words(lang, args.min_zipf))


def write_words(lang: str, zipf: dict[str, float]) -> None:
    """The word table, and suffix counts over the word forms that are not very rare."""
    (HERE / "words" / f"{lang}.bin").write_bytes(encode_table(zipf))
    typical = [word for word, value in zipf.items() if value >= SUFFIX_MIN_ZIPF]
    (HERE / "words" / f"{lang}.suffixes.gz").write_bytes(encode_suffixes(typical))


if __name__ == "__main__":
    main()
