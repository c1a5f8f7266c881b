"""Split an email body into the new reply and what it carries along: quoted history, signature.

Agents and the language detector should see only what the customer just wrote. The scan is
line by line with bounded, anchored patterns, so a 700 KB quote or a 60 KB line of ">"
costs linear time (regex backtracking is capped by ``_MAX_HEADER_LINE``).

Recognised history starts: "On ... wrote:" in several languages (also split over up to
four lines), Gmail's localized "<date> <time>, Name <addr>:" lines, Thunderbird's German
and Russian "Am <date> um <time> schrieb Name:" / "<date> <time>, Name пишет:", "-----Original
Message-----" and forwarded-message separators, Outlook "From:/Sent:/To:/Subject:" blocks
(en, ru, uk, de, fr, es, kk), and ">" quotes. A ">" block after an "On ... wrote:" line may be
answered inline: text after it is kept.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_MAX_HEADER_LINE = 400  # longer lines are text, never a quote header
_HEADER_SPAN = 4  # an "On ... wrote:" line may be wrapped over this many lines

_WROTE = (
    r"wrote|writes|schrieb|a\s+écrit|escribió|ha\s+scritto|schreef|napisał|"
    r"написал|написала|написал\(а\)|пишет|пише|написав|написала|жазды|yazdı|kirjoitti|skrev"
)
_ON_START = re.compile(r"(?:on|le|am|el|il|op|em|w\s+dniu|в|у|den|pe|dne)\s", re.IGNORECASE)
_WROTE_END = re.compile(rf"(?:{_WROTE})\s*:?\s*$", re.IGNORECASE)
# Thunderbird's own forms, whole lines only: the date and time first, no address. Looser
# patterns ("a date, a time, and 'пишет:' at the end") cut a teacher's "Собрание 25.11 в
# 18:00, классный руководитель пишет:" out of the reply.
_THUNDERBIRD = re.compile(
    r"^(?:am\s+\d{1,2}\.\d{1,2}\.\d{2,4}\s+um\s+\d{1,2}:\d{2}\s+schrieb\s+[^:]{1,80}"  # de
    r"|\d{1,2}\.\d{1,2}\.\d{2,4}\s+\d{1,2}:\d{2},\s+[^:]{1,80}\s+пишет):\s*$",  # ru
    re.IGNORECASE)
_TIME = re.compile(r"\d{1,2}[:.]\d{2}")
# An attribution has a date or an address: "В дневнике учитель написал:" is the parent's own
_DATED = re.compile(r"\d|@")
_CLOCK = re.compile(r"\d{1,2}[\u200e\u200f]*:[\u200e\u200f]*\d{2}")  # Windows Mail: "15‎:‎05"
# Gmail in other locales: "пт, 20 нояб. 2026 г. в 10:00, Иван <ivan@example.ru>:"
_ADDRESS_END = re.compile(
    r"(?:@[^\s<>]+\s*>|\[mailto:[^\]]+\]|@[^\s<>]+\.\w+)\s*\)?\s*(?:(?:" + _WROTE + r")\s*)?:\s*$",
    re.IGNORECASE,
)
_TAIL = 160  # header patterns anchored at the end look only this far back: no backtracking blowup
_SEPARATOR = re.compile(
    r"^[-_=*\s]*(?:original\s+message|forwarded\s+message|begin\s+forwarded\s+message|"
    r"исходное\s+сообщение|пересылаемое\s+сообщение|пересланное\s+сообщение|"
    r"оригинальное\s+сообщение|початкове\s+повідомлення|переслане\s+повідомлення|"
    r"ursprüngliche\s+nachricht|weitergeleitete\s+nachricht|originalnachricht|"
    r"message\s+d['’]origine|message\s+transféré|mensaje\s+original|mensaje\s+reenviado|"
    r"бастапқы\s+хабар|жіберілген\s+хабар)[-_=*\s:]*$",
    re.IGNORECASE,
)
_FIELD = re.compile(r"^[\s*>]*([^\s:*][^:*]{0,30}?)\s*\*?\s*:\s*\*?", re.IGNORECASE)
_FROM_FIELDS = frozenset({"from", "от", "от кого", "від", "von", "de", "da", "van", "od",
                          "кімнен", "жіберуші"})
_DATE_FIELDS = frozenset({"sent", "date", "отправлено", "дата", "надіслано", "gesendet", "datum",
                          "envoyé", "enviado", "fecha", "inviato", "verzonden", "wysłano",
                          "жіберілді", "күні"})
_TO_FIELDS = frozenset({"to", "subject", "кому", "тема", "an", "betreff", "à", "para", "asunto",
                        "objet", "a", "oggetto", "aan", "onderwerp", "do", "temat", "кімге",
                        "тақырып", "cc", "копия"})
_HEADER_FIELDS = _FROM_FIELDS | _DATE_FIELDS | _TO_FIELDS
_SIG_DELIMITER = re.compile(r"^(?:--|__+)\s*$")
_RULE = re.compile(r"^\s*(?:-{5,}|_{5,}|={5,}|\*\s\*\s\*)\s*$")  # "* * *": html2text's <hr>
_NAME_SIGNATURE = re.compile(r"^-\w[^-]{0,40}$")  # "-Abhishek Kona"
_HEADER_START = re.compile(r"^(?:(?:on|le|am|el|il|op|em|w|в|у|den|pe|dne)\s|.{0,40}?\d)", re.I)
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(?:sent\s+from\s+(?:my|yandex|mail\.ru|outlook|mail\s+for|samsung|gmail|yahoo|aol)"
    r"|sent\s+with\s+\w+|get\s+outlook\s+for|получить\s+outlook\s+для|отримати\s+outlook\s+для"
    r"|von\s+meinem\s+\w+|envoyé\s+de\s+mon"
    r"|отправлено\s+(?:с|со|из)\s|надіслано\s+(?:з|із)\s|"
    r"(?:iphone|android|samsung)\s+(?:арқылы|жіберілді))[^,!?]{0,80}$",
    re.IGNORECASE,
)
_TAIL_LINES = 3  # a mobile or "-Name" signature is only the last few lines of a reply
# Footers that open like a person's sentence: only a named device or app makes them one
_AMBIGUOUS_FOOTER = re.compile(r"^\s*(?:отправлено|надіслано|sent\s+with)\b", re.I)
_DEVICE = re.compile(r"iphone|ipad|android|samsung|galaxy|outlook|yandex|яндекс|mail\.ru|почт|"
                     r"gmail|yahoo|aol|huawei|xiaomi|proton|spark|tuta|blackberry|windows|mobile|мобильн|"
                     r"устройств|device", re.I)


class Reply(NamedTuple):
    visible: str  # the new words; the whole text when there are none
    rest: str  # signature and quoted history; may be ""
    quoted_only: bool  # nothing but quoted history: nobody wrote anything new


def split_reply(text: str) -> Reply:
    """The visible reply apart from the rest: signature and quoted history.

    Both parts are stripped; ``visible`` falls back to the whole text when the rules
    would leave nothing (a message that is only a quote is still shown), and
    ``quoted_only`` says so: an agent who pressed Send on the quoted notification
    must not have it sent to the customer.
    """
    reply, quoted = _split_quotes(text)
    if not reply:
        return Reply(text.strip(), "", bool(quoted))
    if quoted and _nothing_of_their_own(reply):  # Send pressed: the client's additions only
        return Reply(text.strip(), "", True)
    body, signature = split_signature(reply)
    return Reply(body, "\n\n".join(p for p in (signature, quoted) if p), False)


def _nothing_of_their_own(reply: str) -> bool:
    """Whether the text above a quote is only what mail clients add by themselves: a
    signature ("-- " first), "Sent from my iPhone", an "Original Message" line."""
    lines = [line.strip() for line in reply.split("\n") if line.strip()]
    return bool(_SIG_DELIMITER.match(lines[0])) or all(
        _client_footer(line) or _SEPARATOR.match(line) or _RULE.match(line) for line in lines)


def _client_footer(line: str) -> bool:
    """ "Sent from my Pixel 7", "Отправлено с iPhone"; not "Отправлено с опозданием…", a
    person's answer, which only a named device or app tells apart."""
    return bool(_MOBILE_SIGNATURE.match(line)) and (
        not _AMBIGUOUS_FOOTER.match(line) or bool(_DEVICE.search(line)))


def strip_quotes(text: str) -> tuple[str, str]:
    """(reply including any signature, quoted history); the history may be interleaved.

    A message that is nothing but a quote is all reply: there is nothing else to show.
    """
    reply, quoted = _split_quotes(text)
    return (reply, quoted) if reply else (text.strip(), "")


def _split_quotes(text: str) -> tuple[str, str]:
    """(reply, quoted history), the reply "" when everything is quoted."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    dropped: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        span = _history_header(lines, i)
        if span:
            after = _next_nonblank(lines, i + span)
            if _is_on_wrote(lines, i, span) and after < n and _is_quote(lines[after]):
                dropped.extend(lines[i:after])  # a quote that may be answered inline
                i = after
                continue
            if _has_text(kept):
                dropped.extend(lines[i:])
                break
        if _is_quote(line):
            dropped.append(line)
        else:
            kept.append(line)
        i += 1
    return "\n".join(kept).strip(), "\n".join(dropped).strip()


def split_signature(reply: str) -> tuple[str, str]:
    """(body, signature): a "-- " or "__" delimiter, or a "Sent from my iPhone" tail."""
    lines = reply.split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        if i and _SIG_DELIMITER.match(line):
            cut = i
            break
    nonblank = [i for i in range(cut) if lines[i].strip()]
    for i in nonblank[-_TAIL_LINES:]:
        if i and (_MOBILE_SIGNATURE.match(lines[i]) or _name_signature(lines, nonblank, i)):
            cut = i
            break
    body = "\n".join(lines[:cut]).strip()
    if not body:
        return reply, ""
    return body, "\n".join(lines[cut:]).strip()


def _depth(line: str) -> int:
    """How deeply a line is quoted: the ">" before its text."""
    return line[:len(line) - len(line.lstrip("> \t"))].count(">")


def _name_signature(lines: list[str], nonblank: list[int], i: int) -> bool:
    """ "-Abhishek Kona" as the last line; not the last item of a list ("-ткань", "-нитки")."""
    if i != nonblank[-1] or not _NAME_SIGNATURE.match(lines[i].strip()):
        return False
    before = nonblank[-2] if len(nonblank) > 1 else None
    return before is None or not lines[before].strip().startswith("-")


def _is_quote(line: str) -> bool:
    return line.lstrip(" \t").startswith(">")


def _has_text(lines: list[str]) -> bool:
    return any(line.strip() for line in lines)


def _next_nonblank(lines: list[str], start: int) -> int:
    while start < len(lines) and not lines[start].strip():
        start += 1
    return start


def _history_header(lines: list[str], i: int) -> int:
    """How many lines the history header starting at ``i`` spans; 0 when there is none."""
    line = lines[i].strip()
    if not line or len(line) > _MAX_HEADER_LINE:
        return 0
    if _SEPARATOR.match(line):
        return 1
    if _outlook_block(lines, i):
        return 1
    if _RULE.match(line) and _outlook_block(lines, _next_nonblank(lines, i + 1)):
        return 1
    if not _HEADER_START.match(line):
        return 0
    return _wrapped_header(lines, i)


def _wrapped_header(lines: list[str], i: int) -> int:
    joined = ""
    for span in range(1, _HEADER_SPAN + 1):
        if i + span > len(lines):
            return 0
        part = lines[i + span - 1].strip()
        if span > 1 and (not part or _is_quote(part)):
            return 0
        joined = f"{joined} {part}".strip()
        if len(joined) > _MAX_HEADER_LINE:
            return 0
        if _is_header_text(joined):
            return span
    return 0


def _is_on_wrote(lines: list[str], i: int, span: int) -> bool:
    return _is_header_text(" ".join(line.strip() for line in lines[i : i + span]))


def _is_header_text(joined: str) -> bool:
    """ "On <date>, <name> wrote:" or "<date> <time>, Name <address>:" in any of our
    languages, or Thunderbird's de/ru line ("Am <date> um <time> schrieb <name>:")."""
    tail = joined[-_TAIL:]
    if _ON_START.match(joined) and _WROTE_END.search(tail) and _DATED.search(joined):
        return True
    if _THUNDERBIRD.match(joined):
        return True
    return bool(_TIME.search(joined) and _ADDRESS_END.search(tail))


def _field(line: str) -> str:
    if ":" not in line:  # most lines of a mail: no field, and no regex run to say so
        return ""
    found = _FIELD.match(line) if len(line) <= _MAX_HEADER_LINE * 4 else None
    return found.group(1).strip().lower() if found else ""


def _outlook_block(lines: list[str], i: int) -> bool:
    """A From/Sent/To/Subject block (in any order) starting at line ``i``.

    It starts with one of those fields: "NB: the payment arrived" above the block is the
    reply, not the history.
    """
    if i >= len(lines) or _field(lines[i]) not in _HEADER_FIELDS:
        return False
    depth = _depth(lines[i])
    seen_from = seen_date = seen_to = False
    for line in lines[i : i + 7]:
        if line.strip() and _depth(line) != depth:
            break  # "Date: 28.11" typed above a quoted notification's "> From:" is text
        name = _field(line)
        seen_from = seen_from or name in _FROM_FIELDS
        # a client stamps the time it was sent; a form a parent types has a date at most
        seen_date = seen_date or (name in _DATE_FIELDS and bool(_CLOCK.search(line)))
        seen_to = seen_to or name in _TO_FIELDS
    return seen_from and seen_date and seen_to
