"""Docs stay true to the code: every config key read is documented, and nothing more."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from inbox import sections
from inbox.config import load_config
from tests.conftest import REPO

# Sections whose keys are free-form (languages, patterns): documented in prose.
FREE_FORM = {"greeting text", "directory segments", "autoack texts", "faq texts",
             "survey texts"}
# Top-level keys of routing.toml that are tables with sections of their own.
ROUTING_TABLES = {"directory", "rules", "segments"}


def kind_of(section: sections.Section) -> str:
    file, _, rest = section.where.partition(": ")
    words = rest.split()
    if "/" in file:  # an FAQ entry file (faq/payment.toml): its top, or one language's table
        kind = "faq entry.LANG" if words else "faq entry"
    elif not words:
        kind = "routing.toml" if "routing" in file else "inbox.toml"
    elif len(words) > 1 and words[1].isdigit():
        kind = words[0]
    elif len(words) == 3 and words[1] == "texts":
        kind = f"{words[0]} texts.LANG"  # [autoack.texts.ru]: one table per language
    else:
        kind = " ".join(words)
    part = getattr(section, "part", "")
    return f"{kind}.{part}" if part else kind


HEADINGS = {
    "school": "[school]", "store": "[store]", "threads": "[threads]", "outbox": "[outbox]",
    "routing": "[routing]", "desk": "[desk]", "greeting": "[greeting]",
    "agents": "[[agents]]", "teams": "[[teams]]", "sla": "[[sla]]", "email": "[[email]]",
    "telegram": "[[telegram]]", "maildir": "[[maildir]]", "segment": "[[segments]]",
    "rule": "[[rules]]", "rule.when": "[rules.when]", "rule.then": "[rules.then]",
    "directory": "[directory]", "directory columns": "[directory.columns]",
    "routing.toml": "top level", "escalation": "[escalation]", "autoack": "[autoack]",
    "autoack texts.LANG": "[autoack.texts.LANG]", "faq": "[faq]",
    "faq texts.LANG": "[faq.texts.LANG]", "survey": "[survey]",
    "survey texts.LANG": "[survey.texts.LANG]", "faq entry": "FAQ entry file",
    "faq entry.LANG": "[LANG] in an FAQ entry file", "retention": "[retention]",
}


def read_keys(config_files: list[Path]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = defaultdict(set)

    def observe(section: sections.Section) -> None:
        kind = kind_of(section)
        seen[kind].update(section.seen - ROUTING_TABLES if kind == "routing.toml"
                          else section.seen)

    sections.OBSERVERS.append(observe)
    try:
        for path in config_files:
            load_config(path)
    finally:
        sections.OBSERVERS.remove(observe)
    return seen


def documented_keys() -> dict[str, set[str]]:
    keys: dict[str, set[str]] = defaultdict(set)
    heading = ""
    for line in (REPO / "docs" / "configuration.md").read_text().splitlines():
        if line.startswith("### "):
            heading = line[4:].strip().strip("`")
        elif line.startswith("| `") and heading:
            first_cell = line.split("|")[1]
            keys[heading].update(re.findall(r"`([a-z_0-9]+)`", first_cell))
    return keys


@pytest.fixture(scope="module")
def code_keys(tmp_path_factory) -> dict[str, set[str]]:
    from inbox.demo import prepare
    from tests.conftest import School

    school = School(tmp_path_factory.mktemp("school"))
    demo = prepare(tmp_path_factory.mktemp("demo") / "demo")
    return read_keys([REPO / "config" / "inbox.example.toml", school.config, demo])


def test_every_key_the_code_reads_is_documented(code_keys):
    docs = documented_keys()
    missing = []
    for kind, keys in code_keys.items():
        if kind in FREE_FORM or kind == "inbox.toml":
            continue
        assert kind in HEADINGS, f"no docs heading known for config section {kind!r}"
        missing += [f"{HEADINGS[kind]} {key}" for key in sorted(keys - docs[HEADINGS[kind]])]
    assert missing == [], "keys read by the code but missing in docs/configuration.md"


def test_every_documented_key_is_read_by_the_code(code_keys):
    by_heading: dict[str, set[str]] = defaultdict(set)
    for kind, keys in code_keys.items():
        if kind in HEADINGS:
            by_heading[HEADINGS[kind]] |= keys
    extra = [f"{heading} {key}" for heading, keys in documented_keys().items()
             for key in sorted(keys - by_heading[heading])]
    assert extra == [], "documented in docs/configuration.md but never read by the code"


def test_every_inbox_table_has_a_section_in_the_docs(code_keys):
    docs = documented_keys()
    for table in code_keys["inbox.toml"]:
        heading = f"[{table}]" if f"[{table}]" in docs else f"[[{table}]]"
        assert heading in docs, f"inbox.toml table {table!r} is not documented"


def test_every_shell_command_in_the_docs_units_parses():
    """A unit copied from install.md must run: one unclosed quote and the timer never mails."""
    commands = [match.group(1) for doc in (REPO / "docs").glob("*.md")
                for match in re.finditer(r"^ExecStart=/bin/sh -c '(.*)'$", doc.read_text(),
                                         re.MULTILINE)]
    assert len(commands) >= 2
    for command in commands:
        checked = subprocess.run(["sh", "-n", "-c", command.replace("%%", "%")],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, f"{command}\n{checked.stderr}"


def test_the_benchmarks_page_is_what_bench_results_hold():
    """A figure edited into the page only would be lost by the next bench/collect.py."""
    from bench.collect import render

    page, _ = render()
    assert page == (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8"), (
        "docs/benchmarks.md differs from bench/results/: edit the result file and run"
        " .venv/bin/python bench/collect.py")
