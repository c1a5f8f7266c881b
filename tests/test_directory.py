"""Contacts CSV import: Moodle's export, Excel's Russian-locale CSV, and problems by line."""

from __future__ import annotations

import tomllib

from routing.directory import (
    DirectoryEntry,
    DirectoryMapping,
    decode_export,
    parse_contacts_csv,
)
from routing.rules import parse_routing

ROUTING = """
[[segments]]
name = "student"
[[segments]]
name = "parent"
[[segments]]
name = "teacher"

[directory]
segment_from = ["role", "cohort", "group"]
tags_from = ["group", "cohort"]
default_segment = "student"
[directory.segments]
"Родител*" = "parent"
"Parents*" = "parent"
"Учитель" = "teacher"
"editingteacher" = "teacher"
"""


def mapping(extra: str = "") -> DirectoryMapping:
    routing, problems = parse_routing(tomllib.loads(ROUTING + extra), "routing.toml",
                                      teams={"general"}, agents=(), sla_policies=(), languages=())
    assert problems == []
    return routing.directory


def test_moodle_bulk_user_export_with_bom_cohorts_and_profile_field():
    text = (
        "\ufeffid,username,email,firstname,lastname,idnumber,institution,department,phone1,"
        "city,country,lang,cohort1,cohort2,profile_field_telegram\n"
        "12,aseitkali,A.Seitkali@Mail.KZ,Айгуль,Сейткали,,,,,Almaty,KZ,kk,Parents 2026,10A,"
        "@Aigul_S\n"
        "13,ipetrov,ipetrov@school.kz,Иван,Петров,,,,,Almaty,KZ,ru,Grade 10,,\n"
    )
    entries, problems = parse_contacts_csv(text, mapping())
    assert problems == []
    assert entries == [
        DirectoryEntry("a.seitkali@mail.kz", "aigul_s", "Айгуль Сейткали", "parent",
                       ("parents-2026", "10a"), "", "kk", 2),
        DirectoryEntry("ipetrov@school.kz", "", "Иван Петров", "student", ("grade-10",), "",
                       "ru", 3),
    ]


def test_moodle_upload_format_with_numbered_roles_and_groups():
    text = ("username,firstname,lastname,email,course1,role1,group1\n"
            "teacher1,Olga,K,olga@school.kz,math102,editingteacher,Section 1\n")
    entries, problems = parse_contacts_csv(text, mapping())
    assert problems == []
    assert (entries[0].segment, entries[0].group, entries[0].tags) == (
        "teacher", "Section 1", ("section-1",))


def test_russian_excel_export_in_cp1251_with_semicolons():
    text = ("ФИО;Эл. почта;Класс;Роль;Телеграм\r\n"
            "Ким Анна Сергеевна;anna.kim@mail.ru;5А;Родитель;https://t.me/anna_kim\r\n"
            "Ли Сергей;;5А;Ученик;123456789\r\n")
    decoded = decode_export(text.encode("cp1251"))
    assert decoded == text
    entries, problems = parse_contacts_csv(decoded, mapping())
    assert problems == []
    assert entries == [
        DirectoryEntry("anna.kim@mail.ru", "anna_kim", "Ким Анна Сергеевна", "parent", ("5а",),
                       "5А", "", 2),
        DirectoryEntry("", "123456789", "Ли Сергей", "student", ("5а",), "5А", "", 3),
    ]


def test_excel_unicode_text_is_utf16_with_tabs():
    text = "Name\tE-mail\tGroup\nAsel\tasel@school.kz\t11B\n"
    decoded = decode_export(text.encode("utf-16"))
    entries, problems = parse_contacts_csv(decoded, mapping())
    assert (problems, [(e.name, e.email, e.group) for e in entries]) == (
        [], [("Asel", "asel@school.kz", "11B")])


def test_utf8_with_bom_decodes_without_the_bom():
    assert decode_export("\ufeffemail\n".encode()) == "email\n"


def test_problems_name_the_line_and_quoted_newlines_are_counted():
    text = ('email,name,telegram\n'
            'ok@school.kz,"Two\nLines",\n'
            'not-an-address,Bad,\n'
            ',Nobody,\n'
            'OK@school.kz,Again,\n'
            'x@school.kz,Extra,,surplus\n'
            'y@school.kz,Odd,@no\n')
    entries, problems = parse_contacts_csv(text, mapping())
    assert [entry.email for entry in entries] == ["ok@school.kz", "x@school.kz", "y@school.kz"]
    assert entries[0].name == "Two\nLines"
    assert problems == [
        'line 4: email "not-an-address" is not an address; ignored',
        "line 4: no email or Telegram; row skipped",
        "line 5: no email or Telegram; row skipped",
        "line 6: ok@school.kz is also on line 2; row skipped",
        "line 7: 4 fields, the header has 3",
        'line 8: Telegram "@no" is not a username or numeric id; ignored',
    ]


def test_a_file_without_an_address_column_is_refused_whole():
    assert parse_contacts_csv("Name;Phone\nAsel;+7 777\n", mapping()) == (
        [], ["line 1: no email or Telegram column (columns: Name, Phone)"])
    assert parse_contacts_csv("\n\n", mapping()) == ([], ["the file is empty"])


def test_columns_override_names_an_unrecognised_header_and_segment_from_a_custom_header():
    extra = ('[directory.columns]\nemail = "Адрес для связи"\n')
    text = "Ученик,Адрес для связи,Статус\nАсель,asel@mail.kz,Родитель\n"
    custom = mapping(extra)
    entries, problems = parse_contacts_csv(text, custom)
    assert (problems, entries[0].email, entries[0].segment) == ([], "asel@mail.kz", "student")
    by_status = DirectoryMapping(("Статус",), custom.segments, "student", (), custom.columns)
    assert parse_contacts_csv(text, by_status)[0][0].segment == "parent"


def test_a_segment_from_column_missing_in_the_file_is_reported():
    plain = DirectoryMapping(("Статус",), (("*", "parent"),), "", ())
    _, problems = parse_contacts_csv("email\na@b.kz\n", plain)
    assert problems[0] == 'line 1: segment_from "Статус" is not a column (columns: email)'


def test_rows_no_pattern_maps_get_the_default_segment():
    text = "email,role\na@b.kz,Parents\nc@d.kz,Manager\ne@f.kz,\n"
    entries, problems = parse_contacts_csv(text, mapping())
    assert ([entry.segment for entry in entries], problems) == (
        ["parent", "student", "student"], [])


def test_rows_no_pattern_maps_are_listed_when_there_is_no_default():
    no_default = DirectoryMapping(segments=(("Parent*", "parent"),))
    text = "email,role\na@b.kz,Parents\nc@d.kz,Manager\ne@f.kz,\n"
    entries, problems = parse_contacts_csv(text, no_default)
    assert [entry.segment for entry in entries] == ["parent", "", ""]
    assert problems == ["lines 3, 4: no value matched [directory.segments] and there is no"
                        " default_segment; segment left unknown"]
    assert problems.rows == {3, 4}  # one text, two doubtful rows


def test_moodle_bulk_download_segments_from_a_custom_profile_field():
    by_status = DirectoryMapping(("profile_field_status",), (("Родител*", "parent"),), "student")
    text = ("id,username,email,firstname,lastname,profile_field_status\n"
            "7,kim,kim@mail.ru,Анна,Ким,Родитель\n8,li,li@mail.ru,Сергей,Ли,\n")
    entries, problems = parse_contacts_csv(text, by_status)
    assert (problems, [entry.segment for entry in entries]) == ([], ["parent", "student"])
