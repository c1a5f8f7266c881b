"""Real daemon processes for tests, and waiting on conditions instead of sleeping."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

LIVE: set[DaemonProcess] = set()


def wait_for(condition, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stored_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def external_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT external_id FROM messages")]


class DaemonProcess:
    """`inbox run` in its own process group, its log collected line by line as it comes."""

    def __init__(self, school):
        # Own process group, stdout to /dev/null: a daemon a failed test leaves behind
        # can be killed whole and never holds pytest's output open.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inbox", "--config", str(school.config), "run"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        LIVE.add(self)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait(self, condition, timeout: float, what: str):
        """wait_for, and on a timeout the daemon's last log lines in the failure."""
        try:
            return wait_for(condition, timeout, what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the daemon's log:\n{self.log[-3000:]}") from None

    def wait_log(self, text: str, timeout: float = 30) -> None:
        self.wait(lambda: text in self.log, timeout, f"{text!r} in the daemon's log")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        LIVE.discard(self)

    def finish(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        LIVE.discard(self)
        return code


def kill_leftovers() -> None:
    """Kill every daemon a test started and did not finish (a failed assertion mid-test)."""
    for daemon in list(LIVE):
        daemon.kill()
