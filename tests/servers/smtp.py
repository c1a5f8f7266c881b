"""An in-process SMTP server (aiosmtpd) on 127.0.0.1 that records what it accepts.

Tests script its answers (``fail_next("451 4.3.0 Try later")``) to prove how a
sender treats temporary and permanent refusals, and wait on a condition
(``wait_for(1)``) instead of sleeping.
"""

from __future__ import annotations

import ssl
import tempfile
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers import free_port, self_signed_certificate


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope, the exact bytes, and who logged in (or None)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None


class RecordingHandler:
    """aiosmtpd handler: accept and record, unless a scripted refusal is queued."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self._refusals: deque[str] = deque()
        self._changed = threading.Condition()

    def fail_next(self, reply: str, count: int = 1) -> None:
        """Answer the next ``count`` messages with ``reply`` (e.g. ``"550 5.1.1 No such user"``)."""
        with self._changed:
            self._refusals.extend([reply] * count)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook)
        with self._changed:
            if self._refusals:
                return self._refusals.popleft()
            login = session.auth_data.login.decode() if session.auth_data else None
            self.messages.append(Received(
                envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content, login,
            ))
            self._changed.notify_all()
        return "250 2.0.0 OK"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until ``count`` messages were accepted; fail naming what was awaited."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"SMTP server got {len(self.messages)} message(s), "
                                   f"waited {timeout} s for {count}")
            return list(self.messages)


class SmtpServer:
    """aiosmtpd on a free loopback port.

    ``users`` turns on AUTH (PLAIN/LOGIN) and requires it; ``starttls=True`` makes a
    self-signed certificate (``cafile``), offers STARTTLS and requires it before AUTH.
    """

    host = "127.0.0.1"

    def __init__(self, *, users: Mapping[str, str] | None = None, starttls: bool = False):
        self.handler = RecordingHandler()
        self.users = dict(users or {})
        self.port = free_port()
        self.running = False
        self._dir = tempfile.TemporaryDirectory(prefix="smtp-test-")
        self.cafile: Path | None = None
        options: dict = {}
        if starttls:
            cert, key = self_signed_certificate(Path(self._dir.name))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            self.cafile = cert
            options.update(tls_context=context, require_starttls=True)
        if self.users:
            options.update(authenticator=self._authenticate, auth_required=True,
                           auth_require_tls=starttls)
        self._controller = Controller(self.handler, hostname=self.host, port=self.port,
                                      **options)

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        # auth_data must be returned, or aiosmtpd does not record the login on the session;
        # handled=False, or aiosmtpd sends no reply at all to a failed AUTH.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def fail_next(self, reply: str, count: int = 1) -> None:
        self.handler.fail_next(reply, count)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        return self.handler.wait_for(count, timeout)

    def start(self) -> None:
        self._controller.start()
        self.running = True

    def stop(self) -> None:
        """Stop listening (a test may do it early to make the server unreachable)."""
        if self.running:
            self._controller.stop()
            self.running = False

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server without AUTH, recording every message."""
    server = SmtpServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def smtp_server_tls() -> Iterator[SmtpServer]:
    """STARTTLS required, then AUTH as ``support`` / ``пароль-smtp``."""
    server = SmtpServer(users={"support": "пароль-smtp"}, starttls=True)
    server.start()
    yield server
    server.close()
