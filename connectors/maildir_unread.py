"""What waits in a Maildir's ``new/``: read by the channel, counted by ``inbox status``.

A module of its own, so the status check counts without importing the mail parser.
"""

from __future__ import annotations

import os
from pathlib import Path


def unread_names(path: Path) -> list[str]:
    """The messages waiting in ``path/new`` (dot files are a writer's, unfinished)."""
    return [entry.name for entry in os.scandir(path / "new")
            if entry.is_file() and not entry.name.startswith(".")]
