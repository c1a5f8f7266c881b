"""The public email corpus (../shared/corpus/email) through parse_email.

Every message must come through without quarantine and with its raw bytes intact; the
decoded fields are compared with what other parsers' tests assert. Those references
disagree with us in known places (they concatenate text from attached messages, keep
mojibake, name generated files "noname"), so each field has a floor measured here, not
100 %; the figures are in bench/results/email_corpus.md.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.mime import parse_email
from inbox.channel import Inbound
from inbox.model import Flag

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "email"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared email corpus not present")

# field -> (passed, checked) measured on the corpus; a lower pass count fails the test.
FLOORS = {
    "imap_tools:subject": (111, 113),
    "imap_tools:from": (110, 110),
    "imap_tools:recipients": (113, 113),
    "imap_tools:text": (86, 96),
    "imap_tools:attachment-bytes": (35, 38),
    "imap_tools:attachment-names": (37, 38),
    "php:subject": (21, 21),
    "php:from": (21, 21),
    "php:text": (21, 21),
    "php:attachment-name": (19, 20),
    "php:attachment-size": (19, 20),
    "flanker:subject": (6, 6),
    "flanker:references": (1, 1),
    "flanker:bounce": (5, 5),
    "flanker:from": (1, 1),
    "flanker:attachment": (4, 4),
}


def words(text: str | None) -> str:
    return " ".join((text or "").split())


def parse(path: str) -> Inbound:
    return parse_email((CORPUS / path).read_bytes(), account="corpus")


def fixtures(folder: str) -> dict:
    return json.loads((CORPUS / folder / "expected.json").read_text())["fixtures"]


def test_every_message_parses_without_quarantine_and_keeps_raw_bytes():
    files = sorted(CORPUS.glob("**/*.eml"))
    assert len(files) == 748
    quarantined = []
    for path in files:
        raw = path.read_bytes()
        inbound = parse_email(raw, account="corpus", source_ref=path.name)
        assert inbound.raw == raw and inbound.source_ref == path.name
        assert inbound.received_at.tzinfo is not None and inbound.external_id
        if Flag.QUARANTINED in inbound.flags:
            quarantined.append(path.name)
    assert quarantined == []


def from_address(got: Inbound) -> str:
    """The From header's address: the sender is the Reply-To's when that names another."""
    return got.meta.get("from") or got.sender.value


def _imap_tools_checks() -> Iterator[tuple[str, bool]]:
    for path, want in fixtures("imap_tools").items():
        got = parse(path)
        yield "imap_tools:subject", words(got.subject) == words(want["subject"])
        if want["from_"]:
            yield "imap_tools:from", from_address(got) == want["from_"].lower()
        recipients = [a.lower() for a in want["to"] + want["cc"] if a]
        yield "imap_tools:recipients", list(got.recipients) == list(dict.fromkeys(recipients))
        undecodable = any(0xDC00 <= ord(c) <= 0xDCFF for c in want["text"])
        if want["text"] and not undecodable:
            yield "imap_tools:text", words(got.text) == words(want["text"])
        expected = [a for a in want["attachments"] if isinstance(a.get("payload"), dict)]
        if expected:
            kept = {(a.size, hashlib.sha256(a.data).hexdigest())
                    for a in got.attachments if a.data is not None}
            yield "imap_tools:attachment-bytes", all(
                (a["payload"]["size"], a["payload"]["sha256"]) in kept for a in expected)
            names = {a.filename for a in got.attachments}
            yield "imap_tools:attachment-names", all(
                a["filename"] in names for a in expected if a["filename"])


def _php_checks() -> Iterator[tuple[str, bool]]:
    for path, want in fixtures("php-mime-mail-parser").items():
        got = parse(path)
        yield "php:subject", words(got.subject) == words(want["subject"])
        if want["from_addresses"]:
            yield "php:from", from_address(got) == want["from_addresses"][0]["address"].lower()
        body = want["text_body"]
        if "match" in body:
            yield "php:text", words(got.text) == words(body["match"])
        elif body.get("count"):
            yield "php:text", got.text.count(body["substring"]) == body["count"]
        for attachment in want["attachments"]:
            yield "php:attachment-name", attachment["filename"] in {
                a.filename for a in got.attachments}
            yield "php:attachment-size", attachment["size"] in {a.size for a in got.attachments}


def _flanker_checks() -> Iterator[tuple[str, bool]]:
    for path, want in fixtures("flanker").items():
        got = parse(path)
        if "subject" in want:
            yield "flanker:subject", got.subject == want["subject"]
        if "subject_non_empty" in want:
            yield "flanker:subject", bool(got.subject)
        if "references" in want:
            yield "flanker:references", set(got.keys.references) == set(want["references"])
        if "is_bounce" in want:
            yield "flanker:bounce", (Flag.BOUNCE in got.flags) == want["is_bounce"]
        if "from_decoded" in want:
            yield "flanker:from", got.sender.display_name == "Ingo Lütkebohle"
        if "part_1_detected_file_name" in want:
            yield "flanker:attachment", any(
                a.filename == want["part_1_detected_file_name"] for a in got.attachments)
            yield "flanker:attachment", any(
                a.content_type == want["part_1_detected_content_type"] for a in got.attachments)


@pytest.mark.parametrize("checks", [_imap_tools_checks, _php_checks, _flanker_checks])
def test_decoded_fields_match_reference_parsers(checks):
    passed, checked = Counter(), Counter()
    for field, ok in checks():
        checked[field] += 1
        passed[field] += ok
    for field in checked:
        floor, expected_count = FLOORS[field]
        assert checked[field] == expected_count, f"{field}: corpus changed"
        assert passed[field] >= floor, f"{field}: {passed[field]}/{checked[field]} < {floor}"


def test_cyrillic_corpus_samples_decode_to_plausible_text():
    koi8_bounce = parse("flufl-bounce/newmailru_01.eml")
    assert "Сообщение" in koi8_bounce.text or "сообщение" in koi8_bounce.text
    cp1251 = parse("imap_tools/attachment_8bit.eml")
    assert "отдел расписания" in cp1251.text
    mac = parse("php-mime-mail-parser/issue230.eml")
    assert any("\u0400" <= ch <= "\u04ff" for ch in mac.text)
