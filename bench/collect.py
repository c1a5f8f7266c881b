"""Write docs/benchmarks.md from the latest results in bench/results/.

Each benchmark writes (or its runner pastes) a markdown section into
bench/results/<name>.md together with the exact command that made it; this
script puts them into one page in a fixed order, so the page never drifts from
the measured files.

    .venv/bin/python bench/collect.py
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["summary", "email_ingest", "email_corpus", "langid", "telegram_latency", "faq", "ops"]

HEADER = """\
# Benchmarks

Every figure here was measured on the project's 2-core development machine with the
command shown beside it; the machine is shared, so wall-clock figures are upper bounds.
Speed and memory targets are checked here, not in timed unit tests. Re-run a benchmark,
save its output to `bench/results/<name>.md`, then `python bench/collect.py` rebuilds
this page.

| benchmark | targets (from the issues) |
|---|---|
| email ingest, 5,000 messages from Dovecot | ≥ 500 msg/s, < 1 ms CPU/msg, < 100 MB, < 50 ms |
| email normalisation, public corpus | no crash; reply extraction pass rate |
| language detection, 6 languages | ≥ 96 % (1–5 words), ≥ 99.5 % (sentences), < 0.5 ms |
| Telegram update → notification queued | p95 < 200 ms |
| FAQ answers | precision first: a wrong answer is worse than none |
| idle daemon; 1,000,000 messages; crashes | < 80 MB, < 1 % CPU; p95 < 100 ms |

"""


def demote(text: str) -> str:
    """Headings shifted so the file's top level is a section (##); code blocks untouched."""
    lines = text.splitlines()
    fenced = _fenced(lines)
    levels = [len(line) - len(line.lstrip("#")) for line, code in zip(lines, fenced, strict=True)
              if not code and line.startswith("#")]
    shift = 2 - min(levels, default=2)
    return "\n".join("#" * shift + line if line.startswith("#") and not code and shift > 0
                     else line for line, code in zip(lines, fenced, strict=True))


def _fenced(lines: list[str]) -> list[bool]:
    inside, flags = False, []
    for line in lines:
        if line.startswith("```"):
            inside = not inside
        flags.append(inside)
    return flags


def render() -> tuple[str, int]:
    """The page, and how many result files it was made from."""
    results = ROOT / "bench" / "results"
    names = ORDER + sorted(p.stem for p in results.glob("*.md") if p.stem not in ORDER)
    parts = [HEADER]
    for name in names:
        path = results / f"{name}.md"
        if path.exists():
            parts.append(demote(path.read_text(encoding="utf-8").strip()) + "\n")
    return "\n".join(parts), len(parts) - 1


def main() -> None:
    page, count = render()
    (ROOT / "docs" / "benchmarks.md").write_text(page, encoding="utf-8")
    print(f"wrote docs/benchmarks.md from {count} result files")


if __name__ == "__main__":
    main()
