"""Typed reading of one TOML table, collecting every problem instead of stopping at the first.

Each part of the configuration (a channel, an agent, a rule) is read through a
:class:`Section` that knows where it is (``inbox.toml: email "school"``), so
every message names the file and the entry. Problems are appended to a shared
list; the loader raises one :class:`ConfigError` with all of them, so an admin
fixes a file in one pass. Unknown keys are errors: a typo must not silently
fall back to a default.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inbox.spans import parse_span

if TYPE_CHECKING:
    from inbox.secrets import Secret

_REQUIRED: Any = object()


# Called with every section when its reading is done: how a test learns every key the code
# reads (docs/configuration.md must list them all). Empty in normal runs.
OBSERVERS: list = []


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists each one, file and entry first."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class Section:
    """A reader for one table. Call :meth:`done` last to report unknown keys."""

    def __init__(self, data: Any, where: str, problems: list[str], base: Path | None = None):
        self.where = where
        self.problems = problems
        self.base = base  # the file's folder: relative paths written in it start there
        if not isinstance(data, Mapping):
            self.problem(f"must be a table, not {type(data).__name__}")
            data = {}
        self.data: Mapping[str, Any] = data
        self.seen: set[str] = set()

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, default: Any, types: tuple[type, ...], what: str) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                self.problem(f"{key} is required")
                return None
            return default
        value = self.data[key]
        # bool is an int in Python; a TOML boolean is never a number here.
        if isinstance(value, bool) and bool not in types:
            value_ok = False
        else:
            value_ok = isinstance(value, types)
        if not value_ok:
            self.problem(f"{key} must be {what}, not {_toml_type(value)}")
            return None if default is _REQUIRED else default
        return value

    def text(self, key: str, default: Any = _REQUIRED) -> str:
        return self._get(key, default, (str,), "a string")

    def integer(self, key: str, default: Any = _REQUIRED, minimum: int | None = None) -> int:
        value = self._get(key, default, (int,), "an integer")
        if value is not None and minimum is not None and value < minimum:
            self.problem(f"{key} must be at least {minimum}, not {value}")
            return default if default is not _REQUIRED else minimum
        return value

    def number(self, key: str, default: Any = _REQUIRED, minimum: float | None = None) -> float:
        value = self._get(key, default, (int, float), "a number")
        if value is not None and minimum is not None and value < minimum:
            self.problem(f"{key} must be at least {minimum}, not {value}")
            return default if default is not _REQUIRED else minimum
        return float(value) if value is not None else value

    def day(self, key: str) -> date | None:
        """A calendar day, written as a TOML date (2026-09-01) or a string ("2026-09-01")."""
        value = self._get(key, None, (date, str), "a date (2026-09-01)")
        if isinstance(value, datetime):
            self.problem(f"{key} must be a day, not a date and time")
            return None
        if isinstance(value, str):
            try:
                return date.fromisoformat(value) if value else None
            except ValueError:
                self.problem(f"{key} {value!r} is not a date (YYYY-MM-DD)")
                return None
        return value

    def flag(self, key: str, default: Any = _REQUIRED) -> bool:
        return self._get(key, default, (bool,), "true or false")

    def texts(self, key: str, default: Any = ()) -> tuple[str, ...]:
        value = self._get(key, default, (list, str), "a list of strings")
        if isinstance(value, str):
            return (value,)
        if value is None:
            return ()
        if not all(isinstance(item, str) for item in value):
            self.problem(f"{key} must be a list of strings")
            return tuple(str(item) for item in value)
        return tuple(value)

    def path(self, key: str, default: str = "") -> Path | None:
        """A file or folder; relative to the config file's folder (not to wherever the
        daemon was started: systemd starts it in /). None when neither given nor defaulted."""
        text = self.text(key, default)
        if not text:
            return None
        path = Path(text).expanduser()
        return path if path.is_absolute() or self.base is None else self.base / path

    def choice(self, key: str, options: Iterable[str], default: Any = _REQUIRED) -> str:
        options = tuple(options)
        value = self.text(key, default)
        if value is not None and value not in options:
            self.problem(f"{key} {value!r} is not one of: {', '.join(options)}")
            return default if default is not _REQUIRED else options[0]
        return value

    def placeholder_text(self, key: str, default: str, known: tuple[str, ...]) -> str:
        """A text with ``{placeholders}``; one not in ``known`` (a typo: "{schol}") is a
        problem here, not a customer reading the braces."""
        value = self.text(key, default) or default
        try:
            found = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError:
            self.problem(f"{key} has an unmatched brace (write a literal brace as {{{{ or }}}})")
            return default
        unknown = [f"{{{name}}}" for name in found if name not in known]
        if unknown:
            self.problem(f"{key} uses unknown placeholders {unknown}"
                         f" (known: {', '.join('{' + name + '}' for name in known)})")
        return value

    def address(self, key: str, default: str = "") -> str:
        """An email address, in lower case; a value without "@" is a problem."""
        value = (self.text(key, default) or "").strip().lower()
        if value and "@" not in value:
            self.problem(f'{key} {value!r} is not an email address (write e.g.'
                         ' "support@school.example")')
        return value

    def duration(self, key: str, default: Any = _REQUIRED) -> timedelta:
        """A span written as "15m", "4h", "2d" or "1h30m" (s, m, h, d units)."""
        text = self.text(key, default if default is _REQUIRED else "")
        if not text:
            return default if default is not _REQUIRED else timedelta(0)
        try:
            return parse_span(text, "smhd")
        except ValueError:
            self.problem(f'{key} {text!r} is not a duration (write e.g. "15m", "4h", "2d")')
            return default if default is not _REQUIRED else timedelta(0)

    def table(self, key: str) -> Section:
        """A sub-table (``[store]`` in the file); missing means empty."""
        self.seen.add(key)
        where = f"{self.where} {key}" if ":" in self.where else f"{self.where}: {key}"
        return Section(self.data.get(key, {}), where, self.problems, self.base)

    def tables(self, key: str, label: str = "name") -> list[Section]:
        """An array of tables (``[[email]]``), each named by its ``label`` key when it has one."""
        self.seen.add(key)
        value = self.data.get(key, [])
        if isinstance(value, Mapping):
            value = [value]
        if not isinstance(value, list):
            self.problem(f"{key} must be an array of tables ([[{key}]])")
            return []
        sections = []
        for number, item in enumerate(value, start=1):
            name = item.get(label) if isinstance(item, Mapping) else None
            name = name if isinstance(name, str) else None
            where = f"{key} {number}" + (f" {name!r}".replace("'", '"') if name else "")
            prefix = self.where.split(":")[0] if ":" in self.where else self.where
            sections.append(Section(item, f"{prefix}: {where}", self.problems, self.base))
        return sections

    def secret(self, stem: str, required: bool = True, command: bool = False) -> Secret | None:
        """Read ``{stem}_env`` / ``{stem}_file`` (/ ``{stem}_command``); refuse a plain ``{stem}``.

        A value written into the file itself is refused: config files are
        copied, backed up and pasted into chats, and a password must not travel
        with them.
        """
        keys = [f"{stem}_env", f"{stem}_file"] + ([f"{stem}_command"] if command else [])
        if stem in self.data:
            self.seen.add(stem)
            self.problem(
                f"{stem} must not be written in the file; put it in an environment variable"
                f" ({stem}_env = \"NAME\") or a file readable only by the service"
                f" ({stem}_file = \"/etc/school-inbox/{stem}\")"
            )
        given = {key: self.text(key, "") for key in keys}
        given = {key: value for key, value in given.items() if value}
        if len(given) > 1:
            self.problem(f"give only one of {', '.join(given)}")
        if not given:
            if required and stem not in self.data:
                self.problem(f"{' or '.join(keys)} is required")
            return None
        # Imported here, not at the top: every command reads a [store] table through this
        # module, and only channel tables hold secrets.
        from inbox.secrets import Secret, is_env_name

        key, value = next(iter(given.items()))
        kind = key.rsplit("_", 1)[1]
        if kind == "env" and not is_env_name(value):  # the value may be the secret: not echoed
            self.problem(
                f"{key} is not the name of an environment variable (letters, digits and _);"
                f" write the NAME of an environment variable that holds the secret"
                f' ({key} = "SCHOOL_INBOX_{stem.upper()}"), never the secret itself')
        # A value not written as a path may be a password pasted in by mistake: never shown.
        return Secret(**{kind: str(self.path(key)) if kind == "file" else value},
                      where=f"{self.where}: {key}",
                      file_shown=kind != "file" or value.startswith(("/", "~", "./", "../")))

    def done(self) -> None:
        for observer in OBSERVERS:
            observer(self)
        known = ", ".join(sorted(self.seen)) or "none"
        for key in self.data:
            if key not in self.seen:
                self.unknown_key(key, known)

    def unknown_key(self, key: str, known: str) -> None:
        self.problem(f"unknown key {key!r} (known keys: {known})")


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)
