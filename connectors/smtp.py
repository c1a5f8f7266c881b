"""Sending one outbox entry over SMTP (smtplib, blocking; run in a worker thread).

A connection per message: the outbox sends a few messages a minute at most, and a
fresh connection never fails on a server's idle timeout. Every failure becomes a
:class:`~inbox.channel.Delivery`: 4xx answers and network trouble are temporary (the
outbox retries with backoff), 5xx answers are permanent with the server's words.
"""

from __future__ import annotations

import base64
import smtplib
from email.utils import parseaddr
from typing import TYPE_CHECKING

from connectors.compose import compose_outbound
from inbox.channel import Delivery
from inbox.model import Outbound
from inbox.secrets import SecretError

if TYPE_CHECKING:
    from connectors.email import Server, Settings

class SmtpError(Exception):
    """``check`` could not connect or log in; the text names account and server, never secrets."""


class SmtpSender:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.server: Server = settings.smtp
        self.domain = settings.address.rpartition("@")[2] or "localhost"

    def send(self, msg: Outbound) -> tuple[Delivery, bytes]:
        """Compose and send ``msg``; the delivery and the exact bytes sent (for the sent folder).

        Never raises for a delivery problem.
        """
        message_id, raw = compose_outbound(
            msg, from_addr=self.settings.address, from_name=self.settings.from_name)
        return self._deliver(message_id, msg.recipient, raw), raw

    def _deliver(self, message_id: str, recipient: str, raw: bytes) -> Delivery:
        rcpt = parseaddr(recipient)[1] or recipient
        options = ["SMTPUTF8"] if not (rcpt + self.settings.address).isascii() else []
        try:
            with self._connect() as smtp:
                smtp.sendmail(self.settings.address, [rcpt], raw, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return self._refused(code, text, f"refused recipient {rcpt}")
        except smtplib.SMTPAuthenticationError as exc:
            # The account, not the message, is wrong: keep the reply queued until fixed.
            return Delivery(ok=False, error=self._login_failed(exc))
        except smtplib.SMTPResponseException as exc:
            return self._refused(exc.smtp_code, exc.smtp_error, "refused the message")
        except (OSError, smtplib.SMTPException, SecretError) as exc:
            return Delivery(ok=False, error=(
                f"{self.settings.label}: cannot send via {self.server.where}: "
                f"{self.server.mask(exc)}"))
        return Delivery(ok=True, external_id=message_id.strip().strip("<>"))

    def _refused(self, code: int, text: bytes | str, what: str) -> Delivery:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return Delivery(ok=False, permanent=code >= 500,
                        error=f"{self.settings.label}: {self.server.where} {what}: "
                              f"{code} {self.server.mask(text)}")

    def check(self) -> str:
        """Connect and log in without sending; a summary for ``inbox check --connect``."""
        try:
            with self._connect() as smtp:
                authenticated = smtp.does_esmtp and smtp.has_extn("auth")
        except smtplib.SMTPAuthenticationError as exc:
            raise SmtpError(self._login_failed(exc)) from None
        except (OSError, smtplib.SMTPException, SecretError) as exc:
            raise SmtpError(f"{self.settings.label}: cannot connect to {self.server.where}: "
                            f"{self.server.mask(exc)}") from None
        login = f"as {self.server.username}" if authenticated else "without login"
        return f"smtp {self.server.where} ({self.server.security}) {login}"

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        if server.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, local_hostname=self.domain, timeout=server.timeout,
                context=server.tls_context())
        else:
            smtp = smtplib.SMTP(server.host, server.port, local_hostname=self.domain,
                                timeout=server.timeout)
        try:
            smtp.ehlo()
            if server.security == "starttls":
                smtp.starttls(context=server.tls_context())
                smtp.ehlo()
            # A local relay on loopback often takes mail without AUTH; log in when offered.
            if smtp.has_extn("auth"):
                self._login(smtp)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        server = self.server
        if server.token:
            token = server.token.reveal()
            smtp.auth("XOAUTH2", lambda challenge=None: (
                f"user={server.username}\1auth=Bearer {token}\1\1"))
            return
        password = server.password.reveal()
        if "PLAIN" in smtp.esmtp_features.get("auth", "").upper().split():
            # smtplib.login() encodes credentials as ASCII; AUTH PLAIN carries UTF-8.
            blob = f"\0{server.username}\0{password}".encode()
            code, text = smtp.docmd("AUTH", "PLAIN " + base64.b64encode(blob).decode("ascii"))
            if code != 235:
                raise smtplib.SMTPAuthenticationError(code, text)
        else:
            smtp.login(server.username, password)

    def _login_failed(self, exc: smtplib.SMTPAuthenticationError) -> str:
        text = exc.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return (f"{self.settings.label}: login as {self.server.username!r} at "
                f"{self.server.where} failed: {exc.smtp_code} {self.server.mask(text)}")
