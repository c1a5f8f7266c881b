"""The school's roster from a contacts CSV (Moodle, an LMS or a CRM export) -> directory entries.

Exports differ in delimiter (Excel in a Russian locale writes ``;``), encoding
(a BOM, or cp1251), and header names (``email``, ``E-mail``, ``Почта``), so the
headers are recognised by meaning; ``[directory.columns]`` names a column the
recognition misses. Which column says the segment (``role``, a Moodle
``cohort1``, a ``Класс``) and how its values map to segments is the admin's
``[directory]`` table, so a roster of "Родители 5А" rows becomes segment
``parent`` without editing the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from inbox.sections import Section
from routing.keywords import normalise

FIELDS = ("email", "telegram", "name", "first_name", "middle_name", "last_name", "group",
          "role", "cohort", "language", "username")
_MANY = {"group", "role", "cohort"}  # Moodle numbers these: group1, group2, cohort1, role1
_ALIASES = {
    "email": {"email", "mail", "emailaddress", "почта", "элпочта", "электроннаяпочта",
              "адресэлектроннойпочты", "емейл", "электрондықпошта"},
    "telegram": {"telegram", "telegramusername", "telegramid", "tg", "телеграм", "телеграмм"},
    "name": {"name", "fullname", "displayname", "фио", "полноеимя", "атыжөні"},
    "first_name": {"firstname", "givenname", "имя", "аты"},
    "middle_name": {"middlename", "отчество"},
    "last_name": {"lastname", "surname", "familyname", "фамилия", "тегі"},
    "group": {"group", "class", "группа", "класс", "сынып", "топ"},
    "role": {"role", "sysrole", "роль", "рөл"},
    "cohort": {"cohort", "когорта", "поток"},
    "language": {"lang", "language", "язык", "тіл"},
    "username": {"username", "login", "логин"},
}
_TELEGRAM_NAME = re.compile(r"[a-z0-9_]{4,32}")
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


@dataclass(frozen=True)
class DirectoryMapping:
    """The ``[directory]`` table of routing.toml: how a roster's columns become segments and tags.

    ``segment_from`` and ``tags_from`` name fields (``role``, ``cohort``,
    ``group``) or headers as written in the file; ``segments`` maps a value
    pattern (``*`` and ``?``, case-insensitive) to a segment, first match wins.
    """

    segment_from: tuple[str, ...] = ("role", "cohort", "group")
    segments: tuple[tuple[str, str], ...] = ()
    default_segment: str = ""
    tags_from: tuple[str, ...] = ()
    columns: tuple[tuple[str, tuple[str, ...]], ...] = ()  # field -> headers it is written as


@dataclass(frozen=True)
class DirectoryEntry:
    """One person from the roster; ``telegram`` is a username without "@" or a numeric id."""

    email: str
    telegram: str
    name: str
    segment: str
    tags: tuple[str, ...]
    group: str
    language: str = ""
    line: int = 0


def as_tag(text: str) -> str:
    """Tags compare in one form: ``"Grade 10 A"`` and ``"grade-10-a"`` are one tag."""
    return "-".join(normalise(text).split())


def directory_mapping_from_section(section: Section, segments: Collection[str]) -> DirectoryMapping:
    """Read ``[directory]``; every segment it names must be declared in ``[[segments]]``."""

    def known_segment(name: str, label: str) -> str:
        if name and name not in segments:
            listed = ", ".join(segments) or "none"
            section.problem(f'{label} "{name}" is not a segment (segments: {listed})')
            return ""
        return name

    segment_from = section.texts("segment_from", ("role", "cohort", "group"))
    tags_from = section.texts("tags_from")
    default = known_segment(section.text("default_segment", ""), "default_segment")
    patterns = section.table("segments")
    pairs = []
    for pattern, segment in patterns.data.items():
        patterns.seen.add(pattern)
        if not isinstance(segment, str):
            section.problem(f'segments."{pattern}" must be a segment name, not {segment!r}')
        elif known_segment(segment, f'segments."{pattern}" ='):
            pairs.append((pattern, segment))
    columns = section.table("columns")
    columns.seen.update(FIELDS)  # the known keys, listed when one is misspelt
    overrides = tuple((name, columns.texts(name)) for name in FIELDS if columns.has(name))
    columns.done()
    section.done()
    return DirectoryMapping(segment_from, tuple(pairs), default, tags_from, overrides)


def decode_export(data: bytes) -> str:
    """Text of an exported file: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1251.

    cp1251 is what Excel writes for "CSV" on a Russian-locale Windows; it decodes
    any byte, so it is the last resort.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251")


class RowProblems(list[str]):
    """Problems with a roster, one text each ("line 7: ..."), and the lines they are about.

    One row can have two problems (an email that is not an address, then no identity
    left); ``rows`` counts it once, for "N rows skipped or doubtful".
    """

    def __init__(self, texts: Iterable[str] = ()) -> None:
        super().__init__(texts)
        self.rows: set[int] = set()

    def add(self, line: int, text: str) -> None:
        self.rows.add(line)
        self.append(f"line {line}: {text}")


def parse_contacts_csv(
    text: str, mapping: DirectoryMapping
) -> tuple[list[DirectoryEntry], RowProblems]:
    """Entries for every usable row, and the problems of skipped or doubtful rows
    ("line 7: ...", a row may have more than one).

    A row needs an email address or a Telegram name; the first row with an
    address wins over later duplicates.
    """
    text = text.removeprefix("\ufeff")
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    if not header_line:
        return [], RowProblems(["the file is empty"])
    delimiter = max(",;\t", key=header_line.count)  # on a tie max keeps the first: ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] = []
    while not any(cell.strip() for cell in header):
        header = next(reader)
    line = reader.line_num
    columns = _Columns.of(header, mapping)
    problems = RowProblems()
    if not columns.fields.get("email") and not columns.fields.get("telegram"):
        found = ", ".join(cell.strip() for cell in header)
        problems.add(line, f"no email or Telegram column (columns: {found})")
        return [], problems
    for key, names in (("segment_from", mapping.segment_from), ("tags_from", mapping.tags_from)):
        for name in names:
            if not columns.indexes(name) and name not in FIELDS:
                problems.add(line, f'{key} "{name}" is not a column'
                                   f' (columns: {", ".join(header)})')
    entries: list[DirectoryEntry] = []
    seen: dict[str, int] = {}
    unmapped: list[int] = []
    for row in reader:
        start, line = line + 1, reader.line_num  # a quoted cell may span lines
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            problems.add(start, f"{len(row)} fields, the header has {len(header)}")
        cells = _Cells(row, columns)
        identity = _identity(cells, start, problems)
        if identity is None:
            continue
        email, telegram = identity
        keys = [key for key in (email, telegram and f"telegram {telegram}") if key]
        earlier = next((seen[key] for key in keys if key in seen), 0)
        if earlier:
            problems.add(start, f"{keys[0]} is also on line {earlier}; row skipped")
            continue
        seen.update(dict.fromkeys(keys, start))
        segment = cells.segment(mapping)
        if segment is None and mapping.segments and not mapping.default_segment:
            unmapped.append(start)
        name = cells.first("name") or " ".join(filter(None, map(
            cells.first, ("first_name", "middle_name", "last_name")))) or cells.first("username")
        tags = tuple(dict.fromkeys(
            as_tag(value) for column in mapping.tags_from for value in cells.values(column)))
        entries.append(DirectoryEntry(
            email, telegram, name, mapping.default_segment if segment is None else segment, tags,
            cells.first("group"), cells.first("language").lower(), start))
    if unmapped:
        shown = ", ".join(map(str, unmapped[:10])) + (" ..." if len(unmapped) > 10 else "")
        problems.rows.update(unmapped)
        problems.append(f"line{'s' if len(unmapped) > 1 else ''} {shown}: no value matched"
                        " [directory.segments] and there is"
                        " no default_segment; segment left unknown")
    return entries, problems


@dataclass(frozen=True)
class _Columns:
    """Where each field (``email``, ``cohort``) and each header (by its key) is in a row."""

    fields: Mapping[str, list[int]]
    headers: Mapping[str, list[int]]

    @classmethod
    def of(cls, header: list[str], mapping: DirectoryMapping) -> _Columns:
        fields: dict[str, list[int]] = {}
        headers: dict[str, list[int]] = {}
        overrides = {_key(h): name for name, names in mapping.columns for h in names}
        for index, cell in enumerate(header):
            headers.setdefault(_key(cell), []).append(index)
            field = overrides.get(_key(cell)) or _field(cell)
            if field and (field in _MANY or field not in fields):
                fields.setdefault(field, []).append(index)
        return cls(fields, headers)

    def indexes(self, name: str) -> list[int]:
        """A field's columns, else the columns whose header is ``name`` (any case/spacing)."""
        return self.fields.get(name) or self.headers.get(_key(name)) or []


@dataclass(frozen=True)
class _Cells:
    row: list[str]
    columns: _Columns

    def values(self, name: str) -> list[str]:
        cells = (self.row[i].strip() for i in self.columns.indexes(name) if i < len(self.row))
        return [cell for cell in cells if cell]

    def first(self, name: str) -> str:
        return next(iter(self.values(name)), "")

    def segment(self, mapping: DirectoryMapping) -> str | None:
        """The first pattern any ``segment_from`` value matches; None when none does."""
        return next(
            (segment for column in mapping.segment_from for value in self.values(column)
             for pattern, segment in mapping.segments
             if fnmatchcase(normalise(value), normalise(pattern))),
            None,
        )


def _key(header: str) -> str:
    return re.sub(r"[\W_]+", "", normalise(header))


def _field(header: str) -> str:
    """The field a header means: ``E-mail`` -> email, ``cohort2`` -> cohort, ``Класс`` -> group."""
    cell = header.strip().lower()
    if cell.startswith("profile_field_"):  # Moodle's custom profile fields
        custom = _key(cell.removeprefix("profile_field_"))
        return "telegram" if custom in _ALIASES["telegram"] else ""
    key = _key(cell)
    numbered = re.fullmatch(r"(\D+)\d+", key)
    if numbered and numbered[1] in {"group", "role", "sysrole", "cohort"}:
        key = numbered[1]
    return next((field for field, names in _ALIASES.items() if key in names), "")


def _identity(cells: _Cells, line: int, problems: RowProblems) -> tuple[str, str] | None:
    """(email, telegram) of a row, at least one of them; None (with a problem) when neither."""
    email = cells.first("email").lower()
    if email and not _EMAIL.fullmatch(email):
        problems.add(line, f'email "{email}" is not an address; ignored')
        email = ""
    written = cells.first("telegram")
    telegram = _telegram(written)
    if telegram is None:
        problems.add(line, f'Telegram "{written}" is not a username or numeric id; ignored')
        telegram = ""
    if not email and not telegram:
        problems.add(line, "no email or Telegram; row skipped")
        return None
    return email, telegram


def _telegram(cell: str) -> str | None:
    """``@Name``, ``t.me/name`` or ``123456`` -> ``name`` / ``123456``; "" if empty, None if bad."""
    value = re.sub(r"^(https?://)?(t\.me|telegram\.me)/", "", cell.strip()).lstrip("@").lower()
    if not value or value.isdigit() or _TELEGRAM_NAME.fullmatch(value):
        return value
    return None
