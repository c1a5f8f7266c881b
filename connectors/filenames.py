"""Attachment names safe to show and to write to disk; content types sniffed from bytes.

A sender controls both the name and the label of an attachment; agents' mail clients and
the file system trust them. So a name loses any path, control or bidi-override character
and leading dots, and a generic label is replaced by what the bytes say they are.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from inbox.model import PROGRAM

_MAX_NAME_BYTES = 200  # under the 255-byte limit of common file systems, with room for a suffix
_MAX_EXT_CHARS = 16
_GENERIC_TYPES = frozenset(
    {"", "application/octet-stream", "application/unknown", "application/x-unknown",
     "application/binary", "binary/octet-stream", "application/force-download",
     "application/download", "unknown/unknown"}
)
_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/octet-stream": ".bin",
}
# (offset, prefix, type): the first match wins, so longer/more specific prefixes come first.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (8, b"WEBP", "image/webp"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # old MS Office
    (0, b"{\\rtf", "application/rtf"),
    (4, b"ftyp", "video/mp4"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"BEGIN:VCALENDAR", "text/calendar"),
    (0, b"BEGIN:VCARD", "text/vcard"),
)
# What the bytes prove whatever the label says: an .exe sent as "application/pdf", a PNG
# as "image/jpeg". Containers (zip: .docx, .xlsx; OLE: .doc) keep their specific label.
_DEFINITE = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif",
                       "image/webp", PROGRAM})
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_WINDOWS_FORBIDDEN = str.maketrans(dict.fromkeys('<>:"|?*', "_"))  # agents save on Windows too
_RESERVED_WINDOWS = re.compile(r"(?i)^(con|prn|aux|nul|com\d|lpt\d)(\.|$)")


def sniff_content_type(data: bytes | None, label: str) -> str:
    """The type the bytes show when the label is generic or missing, or when they prove
    another (an agent must not open a program as a PDF); else the label."""
    label = label.lower()
    if not data:
        return label or "application/octet-stream"
    sniffed = PROGRAM if _is_windows_program(data) else next(
        (ctype for offset, prefix, ctype in _MAGIC if data.startswith(prefix, offset)), "")
    if sniffed and (label in _GENERIC_TYPES or sniffed in _DEFINITE):
        return sniffed
    return label or "application/octet-stream"


def _is_windows_program(data: bytes) -> bool:
    """An "MZ" header pointing at a "PE" one: more than two letters a text may start with."""
    if not data.startswith(b"MZ") or len(data) < 0x40:
        return False
    offset = int.from_bytes(data[0x3C:0x40], "little")
    return data[offset:offset + 4] == b"PE\0\0"


def extension_for(content_type: str) -> str:
    known = _EXTENSIONS.get(content_type)
    if known:
        return known
    return mimetypes.guess_extension(content_type, strict=False) or ".bin"


def safe_filename(name: str, index: int, content_type: str) -> str:
    """A name with no path, control characters or leading dots; ``attachment-N.ext`` when empty.

    ``index`` numbers the attachment within its message (from 1) so fallback names differ.
    """
    name = name.replace("\x00", "")
    name = name[max(name.rfind("/"), name.rfind("\\")) + 1 :]
    name = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in unicodedata.normalize("NFC", name)
        if ch in "\t\r\n" or unicodedata.category(ch) not in _DROP_CATEGORIES
    )
    name = " ".join(name.translate(_WINDOWS_FORBIDDEN).split()).lstrip(". ").rstrip(". ")
    if _RESERVED_WINDOWS.match(name):
        name = "_" + name
    name = _limit_length(name)
    return name or f"attachment-{index}{extension_for(content_type)}"


def _limit_length(name: str) -> str:
    if len(name.encode("utf-8")) <= _MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > _MAX_EXT_CHARS:
        stem, ext = name, ""
    suffix = "." + ext if ext else ""
    budget = _MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(". ")
    return stem + suffix
