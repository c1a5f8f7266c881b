"""Benchmark: plain langdetect against school-inbox's LanguageDetector on short texts.

    .venv/bin/python bench/langid.py [--corpus PATH] [--languages ru,uk,en,kk,de,fr]

Prints a markdown table: accuracy per granularity (1 word, 2 words, 3-5 words, sentences),
per language on the short texts, mean milliseconds per message and the resident memory each
detector adds to a fresh process. The corpus is the lingua test-data subset in
``../shared/corpus/langid`` (one sample per line, ``<granularity>/<lang>.txt``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus" / "langid"
GRANULARITIES = ("single-words", "word-pairs", "short-3to5", "sentences")
SHORT = GRANULARITIES[:3]
LANGUAGES = ("ru", "uk", "en", "kk", "de", "fr")

Samples = dict[str, dict[str, list[str]]]  # granularity -> language -> lines


def load_corpus(corpus: Path, languages: tuple[str, ...]) -> Samples:
    return {
        granularity: {
            lang: (corpus / granularity / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
            for lang in languages
        }
        for granularity in GRANULARITIES
    }


def plain_langdetect() -> Callable[[str], str]:
    """Unrestricted langdetect.detect() (all 55 profiles), seeded for repeatable figures."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0

    def run(text: str) -> str:
        try:
            return detect(text).split("-")[0]
        except LangDetectException:
            return ""

    return run


def school_detector(languages: tuple[str, ...]) -> Callable[[str], str]:
    from routing.language import LanguageDetector

    detector = LanguageDetector(languages, default=languages[0])
    return lambda text: detector.detect(text).language


def evaluate(detect: Callable[[str], str], samples: Samples) -> dict[str, object]:
    """Accuracy per granularity and per (granularity, language), and mean ms per message."""
    detect("warm up")  # the first call loads langdetect's profiles lazily
    correct: dict[str, dict[str, int]] = {}
    elapsed, count = 0.0, 0
    for granularity, by_lang in samples.items():
        correct[granularity] = {}
        for lang, lines in by_lang.items():
            start = time.perf_counter()
            answers = [detect(line) for line in lines]
            elapsed += time.perf_counter() - start
            count += len(lines)
            correct[granularity][lang] = sum(answer == lang for answer in answers)
    sizes = {g: {lang: len(lines) for lang, lines in by.items()} for g, by in samples.items()}
    return {"correct": correct, "sizes": sizes, "ms": elapsed / count * 1000}


def accuracy(result: dict[str, object], granularities: tuple[str, ...], lang: str = "") -> float:
    correct, sizes = result["correct"], result["sizes"]
    hits = sum(v for g in granularities for k, v in correct[g].items() if lang in ("", k))
    total = sum(v for g in granularities for k, v in sizes[g].items() if lang in ("", k))
    return hits / total


def rss_delta_mb(which: str, languages: tuple[str, ...]) -> float:
    """Resident memory the detector adds to a fresh interpreter, after a few detections."""
    code = f"""
import sys
sys.path.insert(0, {str(REPO)!r})
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
before = rss()
import bench.langid as b
detect = b.plain_langdetect() if {which!r} == 'plain' else b.school_detector({languages!r})
for text in ('не могу войти', 'payment?', 'Кеңес', 'Guten Tag', 'merci beaucoup'):
    detect(text)
print(rss() - before)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def table(
    results: dict[str, dict[str, object]], rss: dict[str, float], langs: tuple[str, ...]
) -> str:
    names = list(results)
    rows = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label: str, values: list[str]) -> None:
        rows.append(f"| {label} | " + " | ".join(values) + " |")

    for granularity in GRANULARITIES:
        row(granularity, [f"{accuracy(results[n], (granularity,)):.1%}" for n in names])
    row(
        "**mean of 1, 2, 3-5 words**",
        [f"**{sum(accuracy(results[n], (g,)) for g in SHORT) / len(SHORT):.1%}**" for n in names],
    )
    for lang in langs:
        row(f"short texts, {lang}", [f"{accuracy(results[n], SHORT, lang):.1%}" for n in names])
    row("mean ms / message", [f"{results[n]['ms']:.3f}" for n in names])
    row("RSS added (MB)", [f"{rss[n]:.1f}" for n in names])
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--json", action="store_true", help="also print raw counts as JSON")
    args = parser.parse_args()
    languages = tuple(args.languages.split(","))
    samples = load_corpus(args.corpus, languages)
    detectors = {
        "plain langdetect (detect(), seeded)": ("plain", plain_langdetect()),
        "LanguageDetector": ("school", school_detector(languages)),
    }
    results = {name: evaluate(detect, samples) for name, (_, detect) in detectors.items()}
    rss = {name: rss_delta_mb(which, languages) for name, (which, _) in detectors.items()}
    total = sum(len(lines) for by in samples.values() for lines in by.values())
    print(f"Languages: {', '.join(languages)}; {total} samples from {args.corpus}\n")
    print(table(results, rss, languages))
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
