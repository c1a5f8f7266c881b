"""Text as it may reach an agent's terminal or a mail header: no escape sequences.

Whatever a customer sends, by mail or by messenger, is shown by ``inbox show`` and copied
into our replies' subjects. Terminal escape sequences (CSI, OSC) and the control characters
text has no use for (all of C0 and C1 but tab and line breaks) are taken out as the message
is normalised; the raw form keeps them.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")  # ESC among them
# A sequence counts only when it is whole and on one line: a stray ESC then loses itself,
# never the customer's text after it.
_UNPRINTABLE = re.compile(r"\x1b\[[0-?]{0,32}[ -/]{0,8}[@-~]"  # CSI: colours, cursor
                          r"|\x1b\][^\x07\x1b\n]{0,512}(?:\x07|\x1b\\)|"  # OSC: window title
                          + _CONTROL.pattern)
# Embeddings, overrides and isolates: in a one-line name they turn what follows around
# ("U+202E" makes "cod.exe" read "exe.doc").
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` without terminal escape sequences and control characters (tab and line
    breaks stay)."""
    # Nearly all text has none: one scan for a single character class is the cheap test.
    return _UNPRINTABLE.sub("", text) if _CONTROL.search(text) else text


def one_line(text: str) -> str:
    """A name, title or subject as one line of printable text: line breaks and runs of
    spaces fold into one space (a name cannot forge a line of ``inbox show``), and bidi
    controls go."""
    return " ".join(_BIDI.sub("", printable(text)).split())
