"""FAQ matcher on the labelled set: precision, recall and deflection, and a threshold sweep.

Run from the repository root::

    .venv/bin/python bench/faq.py            # prints and writes bench/results/faq.md

Each message's language comes from the real detector (as in production: the
thread's language), not from the label. *Precision*: of the automatic answers,
how many were the right entry. *Recall*: of the messages an entry answers, how
many got it. *Deflection*: share of all messages answered correctly — the
upper bound of threads the FAQ can close. A wrong answer to a "none" message
counts against precision like any other wrong answer.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routing.faq import MARGIN, THRESHOLD, KnowledgeBase  # noqa: E402
from routing.language import LanguageDetector  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "faq_labelled.csv"
FAQ = ROOT / "faq"
RESULTS = ROOT / "bench" / "results" / "faq.md"
LANGUAGES = ("ru", "kk", "en")


@dataclass(frozen=True)
class Scores:
    answered: int
    correct: int
    answerable: int
    total: int
    wrong: list[tuple[str, str, str]]  # text, expected, answered

    @property
    def precision(self) -> float:
        return self.correct / self.answered if self.answered else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.answerable if self.answerable else 0.0

    @property
    def deflection(self) -> float:
        return self.correct / self.total if self.total else 0.0


def labelled() -> list[dict[str, str]]:
    with LABELLED.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def knowledge_base(threshold: float = THRESHOLD, margin: float = MARGIN) -> KnowledgeBase:
    from inbox.faqanswer import load_entries

    problems: list[str] = []
    entries = load_entries(FAQ, problems)
    if problems:
        raise SystemExit("\n".join(problems))
    return KnowledgeBase(entries, threshold, margin)


def evaluate(kb: KnowledgeBase, rows: list[dict[str, str]],
             detector: LanguageDetector | None = None) -> Scores:
    detector = detector or LanguageDetector(LANGUAGES, "ru")
    answered = correct = answerable = 0
    wrong = []
    for row in rows:
        language = detector.detect(row["text"]).language
        found = kb.match(row["text"], language)
        answerable += row["expected"] != "none"
        if found is None or not found.confident:
            continue
        answered += 1
        if found.entry == row["expected"]:
            correct += 1
        else:
            wrong.append((row["text"], row["expected"], found.entry))
    return Scores(answered, correct, answerable, len(rows), wrong)


def report() -> str:
    rows = labelled()
    detector = LanguageDetector(LANGUAGES, "ru")
    chosen = evaluate(knowledge_base(), rows, detector)
    counts = {lang: sum(r["language"] == lang for r in rows) for lang in LANGUAGES}
    lines = [
        "# FAQ matcher on the labelled set",
        "",
        f"`{LABELLED.relative_to(ROOT)}`: {len(rows)} messages"
        f" ({sum(r['expected'] != 'none' for r in rows)} answerable,"
        f" {sum(r['expected'] == 'none' for r in rows)} none), languages"
        f" {', '.join(f'{lang} {counts[lang]}' for lang in LANGUAGES)};"
        f" knowledge base `faq/` ({len(knowledge_base().entries)} entries).",
        "Command: `.venv/bin/python bench/faq.py`.",
        "",
        f"## Chosen setting: threshold {THRESHOLD}, margin {MARGIN}",
        "",
        "| | value |",
        "|---|---|",
        f"| precision | {chosen.precision:.3f} ({chosen.correct}/{chosen.answered}) |",
        f"| recall | {chosen.recall:.3f} ({chosen.correct}/{chosen.answerable}) |",
        f"| deflection (all messages) | {chosen.deflection:.3f} |",
        "",
        "Per language:",
        "",
        "| language | precision | recall |",
        "|---|---|---|",
    ]
    for lang in LANGUAGES:
        part = evaluate(knowledge_base(), [r for r in rows if r["language"] == lang], detector)
        lines.append(f"| {lang} | {part.precision:.3f} ({part.correct}/{part.answered}) |"
                     f" {part.recall:.3f} ({part.correct}/{part.answerable}) |")
    lines += ["", "Wrong automatic answers at this setting:", ""]
    lines += [f"- {text!r}: expected {expected}, answered {answered}"
              for text, expected, answered in chosen.wrong] or ["- none"]
    lines += ["", "## Sweep", "", "| threshold | margin | precision | recall | deflection |",
              "|---|---|---|---|---|"]
    for threshold in (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7):
        for margin in (0.0, 0.05, 0.1, 0.15):
            s = evaluate(knowledge_base(threshold, margin), rows, detector)
            lines.append(f"| {threshold} | {margin} | {s.precision:.3f} | {s.recall:.3f} |"
                         f" {s.deflection:.3f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = report()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
