"""The ``[[email]]`` channel: one mailbox read over IMAP, replies sent over SMTP.

This module reads the settings and wires the two halves together; the IMAP sync
lives in :mod:`connectors.imap`, sending in :mod:`connectors.smtp`. Both are
blocking libraries (imapclient, smtplib), so every call runs in a worker thread
and the daemon's event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from connectors.imap import ImapError, ImapMailbox
from connectors.smtp import SmtpSender
from inbox.channel import Delivery, Inbound, SyncState
from inbox.model import Outbound
from inbox.secrets import Secret, SecretError
from inbox.sections import Section

SECTION = "email"
SECURITY = ("ssl", "starttls", "none")
AFTER = ("leave", "seen", "move")
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SMTP_PORTS = {"ssl": 465, "starttls": 587, "none": 25}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Server:
    """Where and how to log in, once for IMAP and once for SMTP.

    Exactly one of ``password`` and ``token`` (an OAuth2 access token printed by a
    command, used with XOAUTH2) is set.
    """

    host: str
    port: int
    security: str  # "ssl" (implicit TLS) | "starttls" | "none" (loopback only)
    username: str
    password: Secret | None = None
    token: Secret | None = None
    ca_file: str = ""  # PEM file of CAs to trust instead of the system's (a self-signed server)
    timeout: float = 30.0

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)

    def mask(self, error: BaseException | str) -> str:
        """An error's text with the credential blanked out (servers echo odd things)."""
        text = str(error) or type(error).__name__
        for secret in (self.password, self.token):
            if secret is None:
                continue
            try:
                text = text.replace(secret.reveal(), "***")
            except SecretError:
                continue
        return text


@dataclass(frozen=True)
class Settings:
    name: str
    address: str  # the support address customers write to; From of every reply
    imap: Server
    smtp: Server
    from_name: str = ""
    folders: tuple[str, ...] = ("INBOX",)
    after: str = "leave"  # what ack does at the server: "leave" | "seen" | "move"
    move_to: str = ""  # the folder for after = "move"
    since: date | None = None  # never fetch mail that arrived before this day
    batch_size: int = 500
    idle: bool = True
    poll_interval: float = 60.0
    sent_folder: str = ""  # append a copy of what customers are sent here ("" = don't)
    max_attachment_bytes: int = 25 * 2**20
    own_addresses: tuple[str, ...] = ()  # ours besides address: the desk's reply address
    school_addresses: tuple[str, ...] = ()  # the school's other mailboxes: never auto-answered

    @property
    def label(self) -> str:
        """How log lines and errors name this account: ``email "school"``."""
        return f'email "{self.name}"'


def settings(section: Section) -> Settings:
    """Read one ``[[email]]`` table; every problem is recorded on ``section``."""
    name = section.text("name") or ""
    address = section.address("address")
    timeout = section.number("timeout", 30.0, minimum=1)
    ca_file = str(section.path("ca_file") or "")

    host = section.text("host") or ""
    security = section.choice("security", SECURITY, "ssl")
    username = section.text("username") or ""
    password = section.secret("password", required=False)
    token_command = section.text("oauth2_token_command", "")
    token = Secret(command=token_command) if token_command else None
    if password and token:
        section.problem("give either password_env/password_file or oauth2_token_command, not both")
    elif not password and not token and not section.has("password"):
        section.problem("password_env, password_file or oauth2_token_command is required")
    imap = Server(host, _port(section, "port", IMAP_PORTS[security]), security, username,
                  None if token else password, token, ca_file, timeout)
    _refuse_plain_text(section, "security", imap)

    smtp_security = section.choice("smtp_security", SECURITY, "starttls")
    smtp_password = section.secret("smtp_password", required=False) or imap.password
    smtp = Server(
        section.text("smtp_host", host), _port(section, "smtp_port", SMTP_PORTS[smtp_security]),
        smtp_security, section.text("smtp_username", username),
        None if token else smtp_password, token, ca_file, timeout,
    )
    _refuse_plain_text(section, "smtp_security", smtp)

    after = section.choice("after", AFTER, "leave")
    move_to = section.text("move_to", "")
    if after == "move" and not move_to:
        section.problem('after = "move" needs move_to = "the folder to move fetched mail to"')
    if move_to and after != "move":
        section.problem(f'move_to is only used with after = "move" (after is "{after}")')
    result = Settings(
        name=name,
        address=address,
        imap=imap,
        smtp=smtp,
        from_name=section.text("from_name", ""),
        folders=_folders(section),
        after=after,
        move_to=move_to,
        since=section.day("since"),
        batch_size=section.integer("batch_size", 200, minimum=1),
        idle=section.flag("idle", True),
        poll_interval=section.number("poll_interval", 60.0, minimum=1),
        sent_folder=section.text("sent_folder", ""),
        max_attachment_bytes=int(section.number("max_attachment_mb", 25, minimum=0) * 2**20),
    )
    section.done()
    return result


def _port(section: Section, key: str, default: int) -> int:
    port = section.integer(key, default, minimum=1)
    if port > 65535:
        section.problem(f"{key} must be at most 65535, not {port}")
        return default
    return port


def _refuse_plain_text(section: Section, key: str, server: Server) -> None:
    """Passwords and mail in clear text only ever stay on this machine."""
    if server.security == "none" and not _is_loopback(server.host):
        section.problem(f'{key} = "none" sends the password unencrypted; it is allowed only'
                        f' for a server on this machine (localhost, 127.0.0.1, ::1), not'
                        f' {server.host!r} — use "ssl" or "starttls"')


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _folders(section: Section) -> tuple[str, ...]:
    folders = section.texts("folders", ("INBOX",))
    if not folders:
        section.problem('folders is empty: name at least one folder to read (["INBOX"])')
    return folders or ("INBOX",)


def create(settings: Settings, state: SyncState) -> EmailChannel:
    return EmailChannel(settings, state)


class EmailChannel:
    """The :class:`inbox.channel.Channel` for one IMAP/SMTP account.

    Calls that use the IMAP connection (fetch, ack) take turns; a ``fetch`` that is
    waiting in IDLE holds it until mail arrives, ``wait`` runs out or :meth:`close`.
    """

    kind = "email"

    def __init__(self, settings: Settings, state: SyncState):
        self.settings = settings
        self.name = settings.name
        self.mailbox = ImapMailbox(settings, state)
        self.sender = SmtpSender(settings)

    async def fetch(self, wait: float = 0) -> list[Inbound]:
        """Up to ``batch_size`` messages above the acked cursor; raises :class:`ImapError`."""
        return await asyncio.to_thread(self.mailbox.fetch, wait)

    async def ack(self, items: Sequence[Inbound]) -> None:
        """Mark/move at the server, then move the cursor. Only after the commit; safe to repeat."""
        await asyncio.to_thread(self.mailbox.ack, items)

    async def send(self, msg: Outbound) -> Delivery:
        delivery, raw = await asyncio.to_thread(self.sender.send, msg)
        # Sent shows what customers were sent; agents' notifications carry other
        # accounts' conversations and stay out of this mailbox.
        if delivery.ok and raw and self.settings.sent_folder and msg.kind != "notification":
            try:
                await asyncio.to_thread(self.mailbox.append, self.settings.sent_folder, raw)
            except ImapError as exc:  # the customer has the reply; only our copy is missing
                log.warning("%s: sent, but no copy in %s: %s", self.settings.label,
                            self.settings.sent_folder, exc)
        return delivery

    async def check_connect(self) -> str:
        """Log in to both servers and say what was found; raises on the first failure."""
        imap = await asyncio.to_thread(self.mailbox.check)
        smtp = await asyncio.to_thread(self.sender.check)
        return f"{imap}; {smtp}"

    async def close(self) -> None:
        await asyncio.to_thread(self.mailbox.close)
