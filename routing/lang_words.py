"""Word frequencies: the strongest evidence for one- and two-word messages.

n-gram statistics cannot tell the Ukrainian "торбу" from a Russian word with certainty; a list
of the words each language actually uses often can. The lists are large (hundreds of thousands
of word forms per language, 1.5 million Kazakh forms), so they are kept as sorted 32-bit word
hashes with a Zipf byte each: about 5 bytes a word in memory instead of ~100 for a dict entry.
A hash collision makes an unknown word look known with probability n/2**32 (< 0.1%), which
only adds a little noise to one piece of evidence. The tables are built by
``routing/data/build_data.py`` (sources and licences in ``routing/data/README.md``).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import re
import sys
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

SEEN_LIMIT = 10_000  # remembered words (~3 MB with five languages) before the memo starts over
WORDS_DIR = Path(__file__).resolve().parent / "data" / "words"
MAGIC = b"SIWF1\n"  # school-inbox word frequencies, format 1
SUFFIX_LENGTH = 3
WORD = re.compile(r"[^\W\d_]{2,}")


def words_of(text: str) -> list[str]:
    """Lowercase words of two or more letters (apostrophes and hyphens split words)."""
    return WORD.findall(text.lower())


def word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=4).digest(), "little")


def encode_table(zipf: dict[str, float]) -> bytes:
    """The file form of a word table: magic, count, sorted hashes (uint32 LE), Zipf x 10 bytes.

    Not compressed: hashes hardly compress (gzip kept 77 %), and inflating the five
    tables a school configures was a third of the daemon's start-up instructions.
    """
    by_hash: dict[int, int] = {}
    for word, value in zipf.items():
        key = word_hash(word)
        by_hash[key] = max(by_hash.get(key, 0), min(255, max(1, round(value * 10))))
    keys = sorted(by_hash)
    hashes = array("I", keys)
    if sys.byteorder == "big":
        hashes.byteswap()
    count = len(keys).to_bytes(4, "little")
    return MAGIC + count + hashes.tobytes() + bytes(map(by_hash.get, keys))


class WordTable:
    """One language's word table: Zipf frequency by word, 0.0 for words it does not have."""

    def __init__(self, data: bytes) -> None:
        if not data.startswith(MAGIC):
            raise ValueError("not a school-inbox word table")
        count = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "little")
        start = len(MAGIC) + 4
        self._hashes = array("I")  # bisect on an array is faster than on a memoryview
        self._hashes.frombytes(data[start : start + 4 * count])
        if sys.byteorder == "big":
            self._hashes.byteswap()
        self._zipf = data[start + 4 * count :]  # a copy, so the whole buffer can be freed

    @classmethod
    def load(cls, path: Path) -> WordTable:
        return cls(path.read_bytes())

    def __len__(self) -> int:
        return len(self._hashes)

    def zipf(self, word: str) -> float:
        key = word_hash(word)
        i = bisect_left(self._hashes, key)
        if i < len(self._hashes) and self._hashes[i] == key:
            return self._zipf[i] / 10
        return 0.0


def suffix_of(word: str) -> str:
    """The ending whose statistics stand in for a word no table has ("" for short words)."""
    return word[-SUFFIX_LENGTH:] if len(word) > SUFFIX_LENGTH else ""


def encode_suffixes(words: Iterable[str]) -> bytes:
    """The file form of suffix counts: how many word forms of a language end in each suffix."""
    counts = Counter(filter(None, map(suffix_of, words)))
    lines = [f"{suffix}\t{count}" for suffix, count in sorted(counts.items())]
    return gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)


class SuffixTable:
    """Log share of a language's word forms that end like a given word."""

    def __init__(self, data: bytes) -> None:
        self._counts = {
            suffix: int(count)
            for suffix, _, count in (line.partition("\t") for line in data.decode().splitlines())
        }
        self._total = sum(self._counts.values())

    @classmethod
    def load(cls, path: Path) -> SuffixTable:
        return cls(gzip.decompress(path.read_bytes()))

    def log_share(self, suffix: str) -> float:
        return math.log((self._counts.get(suffix, 0) + 0.5) / self._total)


class WordFrequencies:
    """The word and suffix tables of the configured languages that have them."""

    def __init__(self, languages: Iterable[str]) -> None:
        present = [lang for lang in languages if (WORDS_DIR / f"{lang}.bin").is_file()]
        self._tables = {lang: WordTable.load(WORDS_DIR / f"{lang}.bin") for lang in present}
        self._suffixes = {
            lang: SuffixTable.load(WORDS_DIR / f"{lang}.suffixes.gz") for lang in present
        }
        self._seen: dict[str, dict[str, float]] = {}

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._tables)

    def zipf(self, lang: str, word: str) -> float:
        """The word's Zipf frequency in ``lang``; 0.0 when unknown there."""
        return self.zipfs(word).get(lang, 0.0)

    def zipfs(self, word: str) -> dict[str, float]:
        """The word's Zipf frequency in each language with a table (0.0 where unknown).

        Support mail reuses a small vocabulary, so answers are remembered (bounded), all
        languages of a word at once: a text's words are weighed in every one of them.
        """
        found = self._seen.get(word)
        if found is None:
            found = {lang: table.zipf(word) for lang, table in self._tables.items()}
            if len(self._seen) >= SEEN_LIMIT:
                self._seen.clear()
            self._seen[word] = found
        return found

    def suffix_log_share(self, lang: str, word: str) -> float:
        """How typical the word's ending is in ``lang`` (log share; 0.0 without a table)."""
        table = self._suffixes.get(lang)
        suffix = suffix_of(word)
        return table.log_share(suffix) if table is not None and suffix else 0.0
