"""Where secrets come from: an environment variable, a file or a command, never the TOML.

A :class:`Secret` only knows *where* the value lives, so it can be printed, logged
and compared freely; :meth:`Secret.reveal` reads the value at the moment it is
needed (login time), which also picks up a rotated password without a restart.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretError(Exception):
    """The secret's source is missing or empty; the message names the source, never a value."""


def is_env_name(text: str) -> bool:
    """Whether ``text`` can name an environment variable; anything else may be a pasted
    secret (a bot token has a colon), so it is refused in the file and never shown."""
    return _ENV_NAME.fullmatch(text) is not None


@dataclass(frozen=True)
class Secret:
    env: str = ""
    file: str = ""
    command: str = ""

    def __repr__(self) -> str:
        return f"Secret({self.describe()})"

    def describe(self) -> str:
        if self.env:
            shown = self.env if is_env_name(self.env) else "(not a valid name: not shown)"
            return f"environment variable {shown}"
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
