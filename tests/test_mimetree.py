"""connectors.mimetree builds exactly the tree the stdlib's BytesParser builds.

Compared on every mail of the public corpus and the test data, and on generated mail
made of the pieces the fast path has to get right: header blocks with folded lines,
the three line ends, boundary lines with trailing blanks or a close mark, look-alike
lines, nested multiparts, preambles and epilogues, and the broken forms (no closing
boundary, no opening one, a non-header line in a header block) that go to the stdlib.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import mimetree
from connectors.mime import _POLICY

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "email"
DATA = Path(__file__).resolve().parent / "data"


def tree(msg: Message) -> tuple:
    """Everything the parser sets on a message, recursively."""
    payload = msg._payload
    return (type(msg), msg._headers, msg._unixfrom, msg._default_type, msg._charset,
            msg.preamble, msg.epilogue, [type(defect) for defect in msg.defects],
            [tree(part) for part in payload] if isinstance(payload, list) else payload)


def same_as_stdlib(raw: bytes) -> None:
    expected = BytesParser(policy=_POLICY).parsebytes(raw)
    assert tree(mimetree.parse_bytes(raw, _POLICY)) == tree(expected)


def fast_path_takes(raw: bytes) -> bool:
    try:
        mimetree._message(raw.decode("ascii", "surrogateescape"), _POLICY)
    except mimetree._Unusual:
        return False
    return True


def mail_files() -> list[Path]:
    found = [p for p in CORPUS.glob("**/*") if p.is_file() and p.suffix not in (".json", ".md")]
    return sorted(found + list(DATA.glob("**/*.eml")))


def test_every_corpus_mail_gives_the_stdlib_tree() -> None:
    files = mail_files()
    if len(files) < 100:
        pytest.skip("shared email corpus not present")
    fast = 0
    for path in files:
        raw = path.read_bytes().lstrip(b" \t\r\n")
        same_as_stdlib(raw)
        fast += fast_path_takes(raw)
    assert fast > len(files) * 0.4  # not only the stdlib compared with itself (bounces are
    # message/* parts, which it reads)


MULTIPART = (b"From: a@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed;\r\n boundary=\"==b1==\"\r\n\r\n"
             b"preamble\r\n--==b1==\r\nContent-Type: multipart/alternative; boundary=inner\r\n"
             b"\r\n--inner\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"
             b"\xf0\xd2\xc9\xd7\xc5\xd4"
             b"\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--inner--\r\n"
             b"\r\n--==b1==\r\nContent-Type: text/plain; name=a.txt\r\n"
             b"Content-Disposition: attachment\r\n\r\nC:\\path\\file\r\n--==b1==--\r\nepilogue\r\n")


def test_a_well_formed_multipart_is_split_without_the_stdlib_parser() -> None:
    assert fast_path_takes(MULTIPART)
    msg = mimetree.parse_bytes(MULTIPART, _POLICY)
    same_as_stdlib(MULTIPART)
    inner, attached = msg.get_payload()
    assert [p.get_payload(decode=True) for p in inner.get_payload()] == [
        b"\xf0\xd2\xc9\xd7\xc5\xd4", b"<p>hi</p>"]
    assert attached.get_payload(decode=True) == b"C:\\path\\file"
    assert msg.preamble == "preamble" and msg.epilogue == "epilogue\r\n"


@pytest.mark.parametrize("raw", [
    MULTIPART.replace(b"--==b1==--\r\n", b""),  # no closing boundary
    MULTIPART.replace(b"--==b1==\r\n", b""),  # no opening one
    MULTIPART.replace(b"Subject: files\r\n", b"Subject files\r\n"),  # a non-header line
    b"From someone Mon Jan 1 00:00:00 2026\nSubject: mbox\n\nbody\n",
    b"Content-Type: message/rfc822\n\nSubject: inner\n\nbody\n",
    b"Content-Type: multipart/mixed\n\nno boundary\n",
    b" folded: first\nSubject: x\n\nbody\n",
    # a boundary holding a line break (folded, or %0A encoded) is never matched by a line
    b'Content-Type: multipart/mixed; boundary="a\n b"\n\n--a\n b\nContent-Type: text/plain\n'
    b"\nhi\n--a\n b--\n",
    b"Content-Type: multipart/mixed; boundary*=''a%0Ab\n\n--a\nb\n\nhi\n--a\nb--\n",
])
def test_broken_or_enclosing_mail_goes_to_the_stdlib(raw: bytes) -> None:
    assert not fast_path_takes(raw)
    same_as_stdlib(raw)


EOLS = st.sampled_from(["\r\n", "\n", "\r"])
WORDS = st.sampled_from(["text", "--", "--b", "--b--", "--bb", "--b  ", " --b", "From x",
                         "x: y", "", "\u00e9", "\x0c", "=?utf-8?q?a?=", "\t", "-- "])


@st.composite
def lines(draw: st.DrawFn, boundaries: list[str]) -> str:
    pieces = draw(st.lists(st.one_of(WORDS, st.sampled_from(boundaries)), max_size=4))
    return "".join(pieces) + draw(EOLS)


@st.composite
def headers(draw: st.DrawFn, content_type: str) -> str:
    eol = draw(EOLS)
    fields = draw(st.lists(st.sampled_from(
        ["Subject: hi", "X-A: 1", "To: a@b.c,\n c@d.e", "X-Odd:", "X-Fold: a\r\n\tb",
         "From: x@y.z"] * 3 + ["Bad line", ":empty"]), max_size=3))
    return "".join(f + eol for f in [f"Content-Type: {content_type}", *fields])


@st.composite
def part(draw: st.DrawFn, depth: int, outer: list[str]) -> str:
    if depth and draw(st.booleans()):
        boundary = draw(st.sampled_from(["b", "bb", "b b", "x.y"]))
        seps = [f"--{boundary}", *outer]
        eol = draw(EOLS)
        text = headers_text = draw(headers(f'multipart/mixed; boundary="{boundary}"'))
        text += draw(st.sampled_from(["", eol])) + "".join(draw(st.lists(lines(seps), max_size=2)))
        for _ in range(draw(st.integers(1, 3))):
            text += f"--{boundary}" + draw(st.sampled_from(["", "  ", "\t", "x"])) + eol
            text += draw(part(depth - 1, seps)) + eol
        if draw(st.booleans()):
            text += f"--{boundary}--" + draw(st.sampled_from(["", " "])) + eol
        text += "".join(draw(st.lists(lines(seps), max_size=2)))
        assert text.startswith(headers_text)
        return text
    kind = draw(st.sampled_from(["text/plain", "text/html; charset=koi8-r"] * 3
                                + ["message/rfc822", "multipart/digest; boundary=b"]))
    return (draw(headers(kind)) + draw(st.sampled_from(["", "\n", "\r\n"]))
            + "".join(draw(st.lists(lines(outer or ["--b"]), max_size=4))))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(part(2, []))
def test_generated_mail_gives_the_stdlib_tree(text: str) -> None:
    raw = text.encode("utf-8")
    same_as_stdlib(raw)
    FAST_PATH_SEEN.append(fast_path_takes(raw))


FAST_PATH_SEEN: list[bool] = []


def test_generated_mail_reaches_the_fast_path_and_the_stdlib_both() -> None:
    """Run after the generated comparison: both paths were compared, not only one."""
    if not FAST_PATH_SEEN:
        pytest.skip("run with the generated comparison")
    assert 0.1 < sum(FAST_PATH_SEEN) / len(FAST_PATH_SEEN) < 0.9
