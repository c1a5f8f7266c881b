"""How ``inbox`` commands log: to stderr, with journald priorities when run under systemd.

Its own module, imported by :func:`inbox.cli.main` only for the commands that may log:
the commands that only read threads log nothing, and importing :mod:`logging` is
a noticeable part of their start-up.
"""

from __future__ import annotations

import logging
import os
import sys

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# journald reads "<N>" at the start of a line as the syslog priority of that line.
JOURNAL_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{JOURNAL_PRIORITY.get(record.levelname, 6)}>{super().format(record)}"


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter_class = JournalFormatter if os.environ.get("JOURNAL_STREAM") else logging.Formatter
    handler.setFormatter(formatter_class(LOG_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # These libraries log request URLs, which contain a bot token: keep them quiet.
    for noisy in ("httpx", "httpcore", "telegram"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # APScheduler warns whenever a job is still running at its next tick (a long outbox
    # flush at 1 message per second per chat): expected here, so only its errors show.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
