"""Where secrets come from: an environment variable, a file or a command, never the TOML.

A :class:`Secret` only knows *where* the value lives, so it can be printed, logged
and compared freely; :meth:`Secret.reveal` reads the value at the moment it is
needed (login time), which also picks up a rotated password without a restart.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
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
    # Where it is configured ('inbox.toml: telegram 1 "bot": token_env'), so an admin
    # reading the journal knows which line to fix; not part of what the secret is.
    where: str = field(default="", compare=False)
    # A ``*_file`` value not written as a path could be the secret itself: not echoed.
    file_shown: bool = field(default=True, compare=False)

    def __repr__(self) -> str:
        return f"Secret({self.describe()})"

    @property
    def kind(self) -> str:
        return "env" if self.env else "file" if self.file else "command"

    def describe(self) -> str:
        if self.env:
            shown = self.env if is_env_name(self.env) else "(not a valid name: not shown)"
            return f"environment variable {shown}"
        if self.file and not self.file_shown:
            return ("the file the config names (not shown: it may be a secret pasted there;"
                    " give the file's path, starting with / or ./)")
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
                raise self._error(f"cannot be read ({exc.strerror})") from None
        else:
            import subprocess  # here, not at the top: every CLI command loads this module

            try:
                done = subprocess.run(
                    self.command, shell=True, capture_output=True, text=True, timeout=60
                )
            except subprocess.TimeoutExpired:
                raise self._error("did not finish within 60 s") from None
            if done.returncode != 0:
                raise self._error(f"exited with {done.returncode}")
            value = done.stdout
        value = value.strip()
        if not value:
            raise self._error(_EMPTY[self.kind])
        return value

    def _error(self, problem: str) -> SecretError:
        """File, entry and key first, then the source, what is wrong with it and the fix."""
        where = f"{self.where}: " if self.where else ""
        return SecretError(f"{where}{self.describe()} {problem}; {_FIX[self.kind]}")


_EMPTY = {"env": "is empty or not set", "file": "is empty", "command": "printed nothing"}
_FIX = {
    "env": "set it in the daemon's environment, or keep the secret in a file"
           " (docs/install.md, Secrets)",
    "file": "put the secret in it, readable by the service's user (docs/install.md, Secrets)",
    "command": "run it as the service's user to see why",
}
