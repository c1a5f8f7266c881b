"""One daemon per store: a lock file beside the database, held while the daemon runs.

Two daemons on one store would both deliver what the outbox holds. A restore under a
running daemon is worse: the daemon keeps writing into the old database file, which the
restore has unlinked, and acknowledges mail at its source that then exists nowhere. So
``inbox run`` (``--once`` too) and ``inbox restore`` each hold the lock, and the second
one is refused with who holds it. ``flock`` locks go with the process that took them,
even on kill -9, so a crashed daemon never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from inbox.store import StoreError

log = logging.getLogger("inbox.running")


class StoreBusy(StoreError):
    """Another process holds the store's lock; the message says which and what to do."""


def lock_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".lock")


@contextmanager
def holding(store_path: Path, holder: str, advice: str) -> Iterator[None]:
    """Hold the store's lock as ``holder`` (e.g. "inbox run"); :class:`StoreBusy` naming the
    process that has it, followed by ``advice``, when another one does."""
    path = lock_path(store_path)
    fd, error = None, ""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        error = exc.strerror
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):  # flock works on either
        try:
            fd = os.open(path, flags, 0o600)
            break
        except OSError as exc:
            error = error or exc.strerror  # the first reason ("Read-only file system")
    if fd is None:  # a read-only folder without the file: the store cannot be written
        # either, and the daemon must still start to say so (and file mail once it can)
        log.warning("cannot open %s (%s): running without the one-daemon lock", path, error)
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise StoreBusy(f"{store_path} is in use by {other}: {advice}") from None
        try:  # who holds it, for the message above; a full disk must not stop the start
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{holder} (pid {os.getpid()})".encode(), 0)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)
