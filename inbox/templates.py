"""Canned answers: one text per language, with the thread's details filled in.

A templates folder holds ``NAME.LANG.txt`` files (``payment.ru.txt``,
``payment.en.txt``; ``NAME.txt`` serves any language) and/or TOML files whose
tables are templates keyed by language::

    [payment]
    ru = "Здравствуйте, {customer_name}! ..."
    en = "Hello {customer_name}! ..."

The thread's language picks the version; then the school's default language;
then a ``NAME.txt``. Variables are checked when the folder is read, so a typo
is a configuration error, not a surprise in front of a parent.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from inbox.config_file import read_text, read_toml

VARIABLES = ("customer_name", "ticket", "agent_name", "school_name")
ANY_LANGUAGE = ""  # the key of a NAME.txt template


class TemplateError(Exception):
    """A template is unknown or has no version for the thread; the text is shown to the agent."""


@dataclass(frozen=True)
class Templates:
    """Every template by name, then by language ("" = any language)."""

    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted(self.texts)

    def languages(self, name: str) -> list[str]:
        return sorted(lang or "*" for lang in self.texts.get(name, {}))

    def render(self, name: str, languages: Sequence[str], values: Mapping[str, object]) -> str:
        """The first version found for ``languages`` (in order), variables filled in."""
        versions = self.texts.get(name.lower())
        if versions is None:
            known = ", ".join(self.names()) or "none configured"
            raise TemplateError(f"no template {name!r} (templates: {known})")
        for language in [*languages, ANY_LANGUAGE]:
            if language in versions:
                return versions[language].format_map({key: values.get(key, "")
                                                      for key in VARIABLES})
        raise TemplateError(
            f"template {name!r} has no version in {', '.join(filter(None, languages))}"
            f" (it has: {', '.join(self.languages(name))})")


def load_templates(folder: Path, problems: list[str]) -> Templates:
    """Read a templates folder (which exists: [desk] says so when not); each problem names
    the file."""
    texts: dict[str, dict[str, str]] = {}

    def add(name: str, language: str, text: str, where: str) -> None:
        name = name.lower()
        if language in texts.get(name, {}):
            problems.append(f"{where}: template {name!r} ({language or 'any language'})"
                            f" is defined twice")
            return
        for problem in _check(text):
            problems.append(f"{where}: template {name!r}: {problem}")
        texts.setdefault(name, {})[language] = text.strip() + "\n"

    for path in sorted(folder.iterdir()):
        if path.suffix == ".txt":
            stem, _, language = path.stem.partition(".")
            try:
                add(stem, language.lower(), read_text(path), str(path))
            except OSError as exc:
                problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            except ValueError as exc:  # not UTF-8
                problems.append(str(exc))
        elif path.suffix == ".toml":
            data = read_toml(path, problems)
            if data is None:
                continue
            for name, versions in data.items():
                if not isinstance(versions, dict) or not all(
                        isinstance(text, str) for text in versions.values()):
                    problems.append(f"{path}: [{name}] must be a table of language = \"text\"")
                    continue
                for language, text in versions.items():
                    add(name, "" if language == "*" else language.lower(), text, str(path))
    return Templates(texts)


def _check(text: str) -> list[str]:
    """Unknown or malformed ``{variables}``; literal braces are written ``{{`` and ``}}``."""
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        return [f"{exc} (write a literal brace as {{{{ or }}}})"]
    unknown = sorted({name for name in fields if name not in VARIABLES})
    if unknown:
        return [f"unknown variable {{{unknown[0]}}} (variables: "
                + ", ".join(f"{{{v}}}" for v in VARIABLES) + ")"]
    return []
