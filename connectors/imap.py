"""Incremental IMAP sync of one account, blocking (imapclient), run in a worker thread.

The cursor per folder is ``(UIDVALIDITY, highest acknowledged UID)`` kept in the
channel's :class:`~inbox.channel.SyncState` under ``"{folder}:uidvalidity"`` and
``"{folder}:last_uid"``. ``fetch`` only reads it: it hands out the next UIDs above
the cursor (peeking, so nothing is marked seen), and only ``ack`` - called after
the store committed them - changes the server (seen/move) and then the cursor. A
crash anywhere therefore re-fetches at most what was not yet acknowledged, and the
store's unique key turns that into a no-op. A folder whose UIDVALIDITY changed is
fetched again from the start for the same reason.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from imapclient import DELETED, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from connectors.mime import parse_email
from inbox.channel import HEALTH_WARNING, Inbound, SyncState
from inbox.secrets import SecretError

if TYPE_CHECKING:
    from connectors.email import Settings

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.25, 0.5, 1.0, 2.0, 4.0)  # seconds before each retry, +-50 % jitter
IDLE_RENEW = 25 * 60  # re-issue IDLE well before the 29 minutes of RFC 2177
_IDLE_SLICE = 0.5  # how often a waiting IDLE looks at close()
# What a dropped connection, a timeout or a restarted server raise inside imapclient.
_DROPPED = (OSError, IMAPClientAbortError, EOFError)

T = TypeVar("T")


class ImapError(Exception):
    """The mailbox cannot be used now: unreachable, login refused, or a command failed.

    The text names the account and server and never holds a password or token; the
    daemon logs it and calls again later. Nothing was acknowledged.
    """


class ImapUnreachable(ImapError):
    """The server did not answer or hung up, even after reconnecting with backoff."""


class ImapMailbox:
    """One IMAP connection, opened on demand and kept between calls; all calls take turns."""

    def __init__(self, settings: Settings, state: SyncState):
        self.settings = settings
        self.server = settings.imap
        self.state = state
        self.retry_delays: Sequence[float] = RECONNECT_DELAYS
        self._client: IMAPClient | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._backlog: dict[str, int] = {}  # folder -> size of a big sync in progress
        self._resync_logged: dict[str, int] = {}
        self._missing_logged: set[str] = set()  # configured folders found missing, said once
        self._warning = state.get(HEALTH_WARNING)  # what inbox status shows; kept in step
        self._uidnext: dict[str, int] = {}  # as seen by the last look into each folder

    # -- the channel's calls -----------------------------------------------------

    def fetch(self, wait: float = 0) -> list[Inbound]:
        """The next messages above the cursor; when none, wait up to ``wait`` s (IDLE or poll)."""
        deadline = time.monotonic() + wait
        with self._lock:
            items = self._run(self._fetch_new)
            while not items and time.monotonic() < deadline and not self._closing.is_set():
                self._run(lambda client: self._wait(client, deadline))
                items = self._run(self._fetch_new)
            return items

    def ack(self, items: Sequence[Inbound]) -> None:
        """Apply ``after`` to these messages, then advance each folder's cursor to the highest.

        Acknowledging a message acknowledges every earlier one of its folder too:
        the cursor is one number. Safe to repeat.
        """
        batches: dict[tuple[str, int], list[int]] = {}
        for item in items:
            folder, validity, uid = parse_ref(item.source_ref)
            batches.setdefault((folder, validity), []).append(uid)
        if batches:
            with self._lock:
                self._run(lambda client: self._ack(client, batches))

    def append(self, folder: str, raw: bytes) -> None:
        """Store a copy of a sent message, over a connection of its own (fetch may be in IDLE)."""
        client = self._connect_once()
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=(SEEN,))
        except (IMAPClientError, *_DROPPED) as exc:
            raise ImapError(f"{self._label}: cannot append to {folder}: "
                            f"{self.server.mask(exc)}") from None
        finally:
            _logout(client)

    def check(self) -> str:
        """Log in and look at every folder; a one-line summary for ``inbox check --connect``."""
        def look(client: IMAPClient) -> str:
            counts = []
            for folder in self.settings.folders:
                if not client.folder_exists(folder):
                    raise ImapError(f"{self._label}: folder {folder!r} does not exist at "
                                    f"{self.server.where}")
                status = client.folder_status(folder, [b"MESSAGES"])
                counts.append(f"{folder} {status[b'MESSAGES']} messages")
            idle = "IDLE" if client.has_capability("IDLE") else "no IDLE, polling"
            return (f"imap {self.server.where} ({self.server.security}) as "
                    f"{self.server.username}: {', '.join(counts)}; {idle}")

        with self._lock:
            return self._run(look)

    def close(self) -> None:
        """Log out; a fetch waiting in IDLE returns within half a second."""
        self._closing.set()
        with self._lock:
            self._drop(logout=True)
            self._closing.clear()

    # -- connection ---------------------------------------------------------------

    @property
    def _label(self) -> str:
        return self.settings.label

    def _run(self, operation: Callable[[IMAPClient], T]) -> T:
        """Run on a live connection; reconnect once if it dropped (each operation is repeatable)."""
        for attempt in (1, 2):
            client = self._connect()
            try:
                return operation(client)
            except _DROPPED as exc:
                self._drop(logout=False)
                if attempt == 2:
                    raise ImapUnreachable(f"{self._label}: connection to {self.server.where} "
                                          f"lost: {self.server.mask(exc)}") from None
                log.warning("%s: connection to %s lost (%s); reconnecting", self._label,
                            self.server.where, self.server.mask(exc))
            except IMAPClientError as exc:
                raise ImapError(f"{self._label}: {self.server.where} refused: "
                                f"{self.server.mask(exc)}") from None
        raise AssertionError("unreachable")

    def _connect(self) -> IMAPClient:
        """The open connection, or a new one after retries with exponential backoff and jitter."""
        if self._client is not None:
            return self._client
        failure: Exception | None = None
        for delay in (0.0, *self.retry_delays):
            if self._closing.wait(delay * random.uniform(0.5, 1.5)):
                break
            try:
                self._client = self._connect_once()
                return self._client
            except ImapUnreachable as exc:
                failure = exc
        raise failure or ImapError(f"{self._label}: closed")

    def _connect_once(self) -> IMAPClient:
        server = self.server
        implicit = server.security == "ssl"
        try:
            client = IMAPClient(server.host, server.port, ssl=implicit, timeout=server.timeout,
                                ssl_context=server.tls_context() if implicit else None)
        except ssl.SSLCertVerificationError as exc:
            raise ImapError(self._untrusted(exc)) from None
        except _DROPPED as exc:
            raise ImapUnreachable(f"{self._label}: cannot connect to {server.where}: "
                                  f"{self.server.mask(exc)}") from None
        # imapclient turns imaplib's protocol trace on (debug 5) and hands it to a logger.
        # Shown or not, imaplib formats it first: every FETCH batch's message bodies go
        # through repr() (60 % of fetching, 0.7 M instructions a mail), and a daemon run at
        # DEBUG would write parents' mail into its log. Off.
        client._imap.debug = 0
        try:
            if server.security == "starttls":
                client.starttls(server.tls_context())
            self._login(client)
        except ssl.SSLCertVerificationError as exc:
            _shutdown(client)
            raise ImapError(self._untrusted(exc)) from None
        except LoginError as exc:
            _shutdown(client)
            raise ImapError(f"{self._label}: login as {server.username!r} at {server.where} "
                            f"failed: {self.server.mask(exc)}") from None
        except SecretError as exc:
            _shutdown(client)
            raise ImapError(f"{self._label}: no credentials: {exc}") from None
        except _DROPPED as exc:
            _shutdown(client)
            raise ImapUnreachable(f"{self._label}: {server.where} hung up at login: "
                                  f"{self.server.mask(exc)}") from None
        except IMAPClientError as exc:
            _shutdown(client)
            raise ImapError(f"{self._label}: cannot log in at {server.where}: "
                            f"{self.server.mask(exc)}") from None
        client.normalise_times = False  # INTERNALDATE with its zone, not naive local time
        return client

    def _untrusted(self, exc: ssl.SSLCertVerificationError) -> str:
        return (f"{self._label}: the TLS certificate of {self.server.where} is not trusted"
                f" ({exc.verify_message}); if the server uses its own CA, set ca_file")

    def _login(self, client: IMAPClient) -> None:
        if self.server.token:
            client.oauth2_login(self.server.username, self.server.token.reveal())
        elif client.has_capability("AUTH=PLAIN"):
            # AUTHENTICATE PLAIN carries UTF-8; LOGIN's quoted string is ASCII-only in imaplib.
            client.plain_login(self.server.username, self.server.password.reveal())
        else:
            client.login(self.server.username, self.server.password.reveal())

    def _drop(self, *, logout: bool) -> None:
        client, self._client = self._client, None
        if client is not None:
            (_logout if logout else _shutdown)(client)

    # -- sync ---------------------------------------------------------------------

    def _fetch_new(self, client: IMAPClient) -> list[Inbound]:
        items: list[Inbound] = []
        for folder in self.settings.folders:
            room = self.settings.batch_size - len(items)
            if room <= 0:
                return items
            items += self._fetch_folder(client, folder, room)
        self._report_missing()  # every folder was looked at
        return items

    def _report_missing(self) -> None:
        """Keep ``inbox status``'s warning in step with the folders that do not exist."""
        missing = [folder for folder in self.settings.folders if folder in self._missing_logged]
        warning = (f"folder{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
                   f" not found at {self.server.where}: not read (fix folders in inbox.toml)"
                   if missing else None)
        if warning != self._warning:  # written on a change only: not a store read per poll
            if warning is None:
                self.state.delete(HEALTH_WARNING)
            else:
                self.state.set(HEALTH_WARNING, warning)
            self._warning = warning

    def _fetch_folder(self, client: IMAPClient, folder: str, room: int) -> list[Inbound]:
        try:
            selected = client.select_folder(folder)
        except IMAPClientError:
            if client.folder_exists(folder):
                raise
            # Deleted or renamed in webmail: the other folders (INBOX) are still read.
            if folder not in self._missing_logged:
                self._missing_logged.add(folder)
                log.error("%s: folder %r does not exist at %s; reading the others (fix"
                          " folders in inbox.toml; inbox check --connect lists them)",
                          self._label, folder, self.server.where)
            return []
        self._missing_logged.discard(folder)
        validity = selected[b"UIDVALIDITY"]
        cursor = self._cursor(folder, validity)
        last = cursor or 0
        self._uidnext[folder] = selected.get(b"UIDNEXT", 0)
        uids: list[int] = []
        if selected.get(b"UIDNEXT", last + 2) > last + 1:
            criteria: list = ["UID", f"{last + 1}:*"]
            if self.settings.since:
                criteria += ["SINCE", self.settings.since]
            # "n:*" always matches the newest message, even when its UID is below n.
            uids = sorted(uid for uid in client.search(criteria) if uid > last)
        if not uids:
            if cursor is None:  # a new or re-created folder with nothing in it: its
                # UIDVALIDITY is kept now, or every run would warn and resync until mail came
                self._advance(folder, validity, 0)
            return []
        batch = uids[:room]
        self._log_progress(folder, len(uids), len(batch))
        if not batch:
            return []
        fetched = client.fetch(batch, ["BODY.PEEK[]", "INTERNALDATE"])
        items = []
        for uid in batch:
            data = fetched.get(uid, {})
            raw = data.get(b"BODY[]")
            if raw is None:  # expunged between SEARCH and FETCH
                continue
            received = data.get(b"INTERNALDATE")
            items.append(parse_email(
                raw, account=self.settings.name, source_ref=f"{folder}:{validity}:{uid}",
                received_at=received if isinstance(received, datetime) else None,
                max_attachment_bytes=self.settings.max_attachment_bytes,
                own_addresses=(self.settings.address, *self.settings.own_addresses),
                school_addresses=self.settings.school_addresses,
            ))
        return items

    def _cursor(self, folder: str, validity: int) -> int | None:
        """The last acknowledged UID; None when the folder is new to us or was re-created."""
        stored = self.state.get(f"{folder}:uidvalidity")
        if stored is None:
            return None
        if int(stored) != validity:
            if self._resync_logged.get(folder) != validity:
                self._resync_logged[folder] = validity
                log.warning("%s: %s has a new UIDVALIDITY (%s, was %s); resync: fetching the "
                            "whole folder again", self._label, folder, validity, stored)
            return None
        return int(self.state.get(f"{folder}:last_uid") or 0)

    def _log_progress(self, folder: str, waiting: int, taking: int) -> None:
        """On a big sync (more than one batch waiting), say how far it is at INFO."""
        total = self._backlog.get(folder)
        if total is None:
            if waiting <= taking:
                return
            total = self._backlog[folder] = waiting
        log.info("%s: %s %d/%d", self._label, folder, total - waiting + taking, total)
        if waiting <= taking:
            del self._backlog[folder]

    def _wait(self, client: IMAPClient, deadline: float) -> None:
        """Until mail may have arrived or ``deadline``: IDLE on the first folder, else sleep.

        With several folders the wait is capped at ``poll_interval`` so the others
        are looked at too.
        """
        seconds = deadline - time.monotonic()
        if len(self.settings.folders) > 1:
            seconds = min(seconds, self.settings.poll_interval)
        if seconds <= 0:
            return
        folder = self.settings.folders[0]
        if self.settings.idle and client.has_capability("IDLE") and (
                folder not in self._missing_logged):
            selected = client.select_folder(folder)
            if selected.get(b"UIDNEXT", 0) != self._uidnext.get(folder):
                return  # mail arrived since we looked; IDLE would not announce it again
            self._idle(client, min(seconds, IDLE_RENEW))
        else:  # no IDLE, or its folder is missing: poll
            self._closing.wait(min(seconds, self.settings.poll_interval))

    def _idle(self, client: IMAPClient, seconds: float) -> None:
        client.idle()
        try:
            end = time.monotonic() + seconds
            while not self._closing.is_set() and (left := end - time.monotonic()) > 0:
                step = min(left, _IDLE_SLICE)
                started = time.monotonic()
                responses = client.idle_check(timeout=step)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return
                if not responses and time.monotonic() - started < step / 2:
                    # idle_check answers [] at once on EOF: the server hung up.
                    # idle_done() below raises, and _run reconnects.
                    return
        finally:
            client.idle_done()

    def _ack(self, client: IMAPClient, batches: dict[tuple[str, int], list[int]]) -> None:
        for (folder, validity), uids in batches.items():
            current = client.select_folder(folder)[b"UIDVALIDITY"]
            if current != validity:
                log.warning("%s: %s was re-created since UIDs %s.. were fetched; not marking "
                            "them (the resync fetches them again)", self._label, folder, min(uids))
                continue
            if self.settings.after == "seen":
                client.add_flags(uids, [SEEN], silent=True)
            elif self.settings.after == "move":
                self._move(client, uids)
            self._advance(folder, validity, max(uids))

    def _move(self, client: IMAPClient, uids: list[int]) -> None:
        target = self.settings.move_to
        if not client.folder_exists(target):
            client.create_folder(target)
        if client.has_capability("MOVE"):
            client.move(uids, target)
            return
        client.copy(uids, target)
        client.add_flags(uids, [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.expunge(uids)
        else:
            client.expunge()

    def _advance(self, folder: str, validity: int, uid: int) -> None:
        """Move the cursor forward, never back; last_uid first, so a crash between the two
        writes leaves an old UIDVALIDITY that forces a (harmless) resync, never a skip."""
        same = self.state.get(f"{folder}:uidvalidity") == str(validity)
        last = int(self.state.get(f"{folder}:last_uid") or 0) if same else 0
        if same and uid <= last:
            return
        self.state.set(f"{folder}:last_uid", str(max(uid, last)))
        self.state.set(f"{folder}:uidvalidity", str(validity))


def parse_ref(source_ref: str) -> tuple[str, int, int]:
    """``"INBOX:1700000000:42"`` -> ``("INBOX", 1700000000, 42)`` (folder names may hold ':')."""
    folder, validity, uid = source_ref.rsplit(":", 2)
    return folder, int(validity), int(uid)


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except (IMAPClientError, *_DROPPED):
        _shutdown(client)


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except (IMAPClientError, *_DROPPED):
        pass
