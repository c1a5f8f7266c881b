"""Where secrets come from: an environment variable, a file or a command, never the TOML.

A :class:`Secret` only knows *where* the value lives, so it can be printed, logged
and compared freely; :meth:`Secret.reveal` reads the value at the moment it is
needed (login time), which also picks up a rotated password without a restart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class SecretError(Exception):
    """The secret's source is missing or empty; the message names the source, never a value."""


@dataclass(frozen=True)
class Secret:
    env: str = ""
    file: str = ""
    command: str = ""

    def describe(self) -> str:
        if self.env:
            return f"environment variable {self.env}"
        if self.file:
            return f"file {self.file}"
        return f"command {self.command!r}"

    def reveal(self) -> str:
        """Read the secret now. Raises :class:`SecretError` when it cannot be had."""
        if self.env:
            value = os.environ.get(self.env, "")
        elif self.file:
            try:
                value = Path(self.file).read_text(encoding="utf-8")
            except OSError as exc:
                raise SecretError(f"cannot read {self.describe()}: {exc.strerror}") from None
        else:
            import subprocess  # here, not at the top: every CLI command loads this module

            try:
                done = subprocess.run(
                    self.command, shell=True, capture_output=True, text=True, timeout=60
                )
            except subprocess.TimeoutExpired:
                raise SecretError(f"{self.describe()} did not finish within 60 s") from None
            if done.returncode != 0:
                raise SecretError(f"{self.describe()} exited with {done.returncode}")
            value = done.stdout
        value = value.strip()
        if not value:
            raise SecretError(f"{self.describe()} is empty or not set")
        return value
