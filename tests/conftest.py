"""Shared fixtures: a school configured on a temporary Maildir, and the real test servers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from inbox.cli import main
from tests.botapi import botapi  # noqa: F401  (fixture)
from tests.processes import kill_leftovers
from tests.servers.dovecot import dovecot, dovecot_tls, mail_user, private_dovecot  # noqa: F401
from tests.servers.smtp import smtp_server, smtp_server_tls  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"

# The school, its store and a Maildir channel: what every test configuration starts with.
SCHOOL_TOML = """\
[school]
name = "Test School"
languages = ["ru", "kk", "en"]
default_language = "ru"

[store]
path = "{dir}/state/inbox.db"

[[maildir]]
name = "support"
path = "{dir}/Maildir"
outbox = "{dir}/Sent"
address = "support@school.example"
from_name = "Test School"
"""

INBOX_TOML = SCHOOL_TOML + """

[[agents]]
id = "aigerim"
name = "Aigerim"
languages = ["kk", "ru"]

[[agents]]
id = "boris"
name = "Boris"
languages = ["ru", "en"]

[[teams]]
name = "support"
members = ["boris", "aigerim"]
strategy = "round_robin"
"""

ROUTING_TOML = """\
default_team = "support"
"""

# A bot whose token's variable is not set, and how the daemon reports it.
MISSING_TOKEN = """
[[telegram]]
name = "bot"
token_env = "SCHOOL_BOT_TOKEN"
"""
MISSING_TOKEN_ERROR = (
    'bot: SecretError: inbox.toml: telegram 1 "bot": token_env: environment variable'
    " SCHOOL_BOT_TOKEN is empty or not set; set it in the daemon's environment, or keep the"
    " secret in a file (docs/install.md, Secrets)")


class School:
    """A configured school in a temp folder: write mail into its Maildir, run the CLI on it."""

    def __init__(self, root: Path):
        self.root = root
        self.config = root / "inbox.toml"
        self.maildir = root / "Maildir"
        self.sent = root / "Sent"
        for sub in ("new", "cur", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        self.write(INBOX_TOML, ROUTING_TOML)
        self._count = 0

    def write(self, inbox: str, routing: str | None = None) -> None:
        self.config.write_text(textwrap.dedent(inbox).replace("{dir}", str(self.root)))
        if routing is not None:
            (self.root / "routing.toml").write_text(textwrap.dedent(routing))

    def deliver(self, raw: bytes) -> Path:
        self._count += 1
        path = self.maildir / "new" / f"17000000{self._count:02d}.test{self._count}.host"
        path.write_bytes(raw)
        return path

    def cli(self, *args: str, input: str | None = None, ok: bool = True):
        result = CliRunner().invoke(main, ["--config", str(self.config), *args], input=input)
        if ok and result.exit_code != 0:
            raise AssertionError(f"inbox {' '.join(args)} exited {result.exit_code}:\n"
                                 f"{result.output}\n{result.exception!r}")
        return result


def mailbox_read_first(school: School, name: str, toml: str) -> Path:
    """Another Maildir of ours (``NAME@school.example``), listed before the school's own so it
    is read first: writes ``toml`` with it added and returns its folder."""
    folder = school.root / name.title()
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True)
    school.write(toml.replace("[[maildir]]", f"""[[maildir]]
name = "{name}"
path = "{folder}"
outbox = "{folder}-sent"
address = "{name}@school.example"

[[maildir]]""", 1))
    return folder


@pytest.fixture(autouse=True)
def no_daemon_left_behind():
    """A test that fails half-way must not leave `inbox run` processes running."""
    yield
    kill_leftovers()


@pytest.fixture
def school(tmp_path) -> School:
    return School(tmp_path)


def mail(subject: str = "Оплата за декабрь", body: str = "Как оплатить обучение?",
         sender: str = "Ольга <olga@mail.example>", message_id: str = "m1@mail.example",
         extra: str = "") -> bytes:
    """A small, well-formed customer email."""
    return (
        f"From: {sender}\r\nTo: support@school.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <{message_id}>\r\nDate: Fri, 20 Nov 2026 09:00:00 +0500\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n{extra}\r\n{body}\r\n"
    ).encode()
