"""Where a mail client says its signature starts: Outlook marks it in the HTML it writes.

Outlook on the web and the new Outlook wrap the signature in ``<div id="Signature">``;
Outlook for Windows puts a ``_MailAutoSig`` bookmark at its start. An agent's signature
(their own address and phone) must not reach the parents, and few write the "-- " line
that :mod:`connectors.quotes` knows. The plain-text part of the same mail carries no
marker, so the signature's first line of text is what :func:`cut` looks for in the text
the reply was taken from, whichever part that was.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_IDS = frozenset({"signature"})  # not "x_signature": that is a quoted mail's, in the history
_BOOKMARKS = frozenset({"_mailautosig"})
_BOOKMARK_STYLE = "mso-bookmark:_mailautosig"
_MARKERS = re.compile(r"signature|_mailautosig", re.IGNORECASE)
_LINE_ENDS = frozenset({"p", "div", "br", "li", "tr", "table"})


def marked(html: str) -> tuple[str, frozenset[str]]:
    """The first line of text of the signature the HTML marks ("" when it marks none), and
    the Content-IDs of the pictures in it (a crest, a banner: no file the sender meant)."""
    if not _MARKERS.search(html):
        return "", frozenset()  # most mail: no second pass over the HTML
    finder = _Finder()
    finder.feed(html)
    finder.close()
    return _words(finder.line), frozenset(finder.pictures)


def cut(text: str, signature: str) -> str | None:
    """``text`` without the signature starting at its last line that reads ``signature``;
    None when nothing stands above it (all there is, is the signature); ``text`` itself
    when no line reads so."""
    if not signature:
        return text
    lines = text.split("\n")
    for index in range(len(lines) - 1, -1, -1):
        if _words(lines[index]) == signature:
            above = "\n".join(lines[:index]).rstrip()
            return above if above.strip() else None
    return text


def _words(text: str) -> str:
    return " ".join(text.split())  # no-break spaces too: Outlook pads with &nbsp;


class _Finder(HTMLParser):
    """Reads the marked signature: its first line of text (up to the first line break after
    some text: a paragraph's or a division's end, a <br>) and its pictures.

    ``div#Signature`` is a container: nothing beyond its end is read (an empty placeholder
    marks nothing). Word's ``_MailAutoSig`` bookmark is an anchor that often holds only the
    crest, or nothing: the first line is the first text from it on, and the signature goes
    on in spans styled ``mso-bookmark:_MailAutoSig``, whose pictures are its own too.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.marked = ""  # the marked element's tag while inside it
        self.depth = 0  # of that tag, nested inside the marked element
        self.bookmark = False  # Word's: read on after the anchor ends
        self.spans: list[bool] = []  # open <span>s: whether each continues the bookmark
        self.finished = False  # the container has ended
        self.line_done = False
        self.line = ""
        self.pictures: list[str] = []  # cid: sources of its <img>s

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.finished:
            return
        values = {name: (value or "") for name, value in attrs}
        if tag == "span":
            self.spans.append(_BOOKMARK_STYLE in values.get("style", "").lower().replace(" ", ""))
        if self.marked or self.bookmark:
            self.depth += tag == self.marked
            self._line_break(tag)
            source = values.get("src", "")
            inside = self.marked or any(self.spans)
            if inside and tag == "img" and source.lower().startswith("cid:") and (
                    source[4:].strip("<>")):
                self.pictures.append(source[4:].strip("<>"))
            return
        if values.get("id", "").lower() in _IDS:
            self.marked, self.depth = tag, 1
        elif values.get("name", "").lower() in _BOOKMARKS:
            self.marked, self.depth, self.bookmark = tag, 1, True

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self.spans:
            self.spans.pop()
        if self.finished or not (self.marked or self.bookmark):
            return
        self._line_break(tag)
        if tag == self.marked:
            self.depth -= 1
            if self.depth == 0:
                self.marked = ""
                self.finished = not self.bookmark  # a container holds all there is

    def handle_data(self, data: str) -> None:
        if (self.marked or self.bookmark) and not self.line_done and not self.finished:
            self.line += data

    def _line_break(self, tag: str) -> None:
        if tag in _LINE_ENDS and self.line.strip():
            self.line_done = True
