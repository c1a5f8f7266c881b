"""Where ``inbox.toml`` is, how a TOML file is read, and what its ``[store]`` table says.

All that the commands which only read threads (``inbox threads``, ``show``,
``search``) need of the configuration. Kept apart from :mod:`inbox.config`, which
builds on it, so that their start-up does not pay for the whole configuration's
classes; :func:`inbox.config.load_config` reads the same table the same way.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inbox.sections import ConfigError, Section

DEFAULT_CONFIG = "/etc/school-inbox/inbox.toml"


@dataclass(frozen=True)
class StoreSettings:
    path: Path
    attachments: Path
    max_attachment_bytes: int = 25 * 2**20


def config_path(given: str | None) -> Path:
    return Path(given or os.environ.get("INBOX_CONFIG") or DEFAULT_CONFIG)


def read_text(path: Path) -> str:
    """A file the admin edits, as UTF-8; the byte-order mark Windows Notepad writes is allowed.

    Raises ``ValueError`` naming the line that is not UTF-8: a file saved in a Windows
    or KOI8 code page is the usual slip when Russian text is edited on Windows, and
    the decoder's own message does not say what to do.
    """
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{path}: line {line} is not UTF-8 (byte 0x{data[exc.start]:02x}):"
                         " save the file with the UTF-8 encoding") from None


def read_toml(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """Parse one TOML file; any reason it cannot be read becomes a problem naming the file."""
    try:
        return tomllib.loads(read_text(path))
    except FileNotFoundError:
        problems.append(f"{path}: file not found")
    except PermissionError:
        problems.append(f"{path}: permission denied (the service user must be able to read it)")
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror or exc}")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path.name}: not valid TOML: {exc}")
    except ValueError as exc:  # not UTF-8
        problems.append(str(exc))
    return None


def read_or_refuse(path: Path) -> tuple[dict[str, Any], list[str]]:
    """A file that must be read, and the list its later problems join; unreadable: refused."""
    problems: list[str] = []
    data = read_toml(path, problems)
    if data is None:
        raise ConfigError(problems)
    return data, problems


def store_settings(path: str | Path) -> StoreSettings:
    """Only the ``[store]`` table: all that commands which just read threads need.

    ``inbox show`` and ``inbox search`` stay fast (no routing, no channels) and keep
    working while the admin fixes a mistake in another table.
    """
    path = Path(path)
    data, problems = read_or_refuse(path)
    settings = store_settings_from(
        Section(data, path.name, problems, base=path.parent).table("store"))
    if problems:
        raise ConfigError(problems)
    return settings


def store_settings_from(section: Section) -> StoreSettings:
    """The ``[store]`` table's settings; its problems join the section's list."""
    database = section.path("path", str(default_state_dir() / "inbox.db"))
    attachments = section.path("attachments", str(database.parent / "attachments"))
    megabytes = section.number("max_attachment_mb", 25, minimum=0)
    section.done()
    return StoreSettings(database, attachments, int(megabytes * 2**20))


def default_state_dir() -> Path:
    """systemd's StateDirectory when run as the service, else the FHS place."""
    given = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(given or "/var/lib/school-inbox")
