"""A local Maildir as a channel: the embedded demo's mailbox, or a server's local delivery.

New mail is what Postfix or Dovecot's LDA drop into ``new/``. A message stays
there until the daemon has committed it; ``ack`` then moves it to ``cur/`` with
the seen flag, so a crash in between leaves it in ``new/`` to be read again (the
store's unique key makes that second read a no-op). Replies are written as
complete messages into another Maildir (``outbox``), from where a local MTA or
an admin's script can pick them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import mailbox
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from connectors.compose import compose_outbound
from connectors.maildir_unread import unread_names
from connectors.mime import parse_email
from inbox.channel import Channel, Delivery, Inbound, SyncState
from inbox.model import Outbound
from inbox.sections import Section

SECTION = "maildir"
KIND = "email"  # threads from a Maildir are email threads: rules say channel = "email"


@dataclass(frozen=True)
class Settings:
    name: str
    path: Path  # the Maildir read from (has new/, cur/, tmp/)
    outbox: Path  # the Maildir replies are written into
    address: str = "support@localhost"  # our address: From of replies, never auto-answered
    from_name: str = ""  # display name on replies (load_config: the school's name if unset)
    batch_size: int = 200
    poll_interval: float = 2.0  # seconds between looks into new/ while waiting
    max_attachment_bytes: int = 25 * 2**20
    own_addresses: tuple[str, ...] = ()  # ours besides address: the desk's reply address
    school_addresses: tuple[str, ...] = ()  # the school's other mailboxes: never auto-answered


def settings(section: Section) -> Settings:
    name = section.text("name") or ""
    path = section.path("path") or Path(".")
    if not section.has("path"):
        section.problem('path is required (the Maildir to read, e.g. "/var/mail/support")')
    result = Settings(
        name=name,
        path=path,
        outbox=section.path("outbox", str(path.parent / f"{path.name}-outbox")),
        address=section.address("address", "support@localhost"),
        from_name=section.text("from_name", ""),
        batch_size=section.integer("batch_size", 200, minimum=1),
        poll_interval=section.number("poll_interval", 2.0, minimum=0.1),
        max_attachment_bytes=int(section.number("max_attachment_mb", 25, minimum=0) * 2**20),
    )
    section.done()
    return result


def create(settings: Settings, state: SyncState) -> Channel:
    return MaildirChannel(settings)


class MaildirChannel:
    kind = KIND

    def __init__(self, settings: Settings):
        self.settings = settings
        self.name = settings.name
        if not settings.path.is_dir():  # a mistyped path must fail, not read an empty new one
            raise FileNotFoundError(
                f"Maildir {settings.path} does not exist: fix path in inbox.toml, or create it"
                " where mail is delivered")
        for sub in ("new", "cur", "tmp"):  # an empty folder given as a Maildir becomes one
            (settings.path / sub).mkdir(exist_ok=True)

    async def check_connect(self) -> str:
        waiting = await asyncio.to_thread(unread_names, self.settings.path)
        return f"{self.settings.path}, {len(waiting)} unread"

    async def fetch(self, wait: float = 0) -> list[Inbound]:
        deadline = time.monotonic() + wait
        while True:
            batch = await asyncio.to_thread(self._read_batch)
            if batch or time.monotonic() >= deadline:
                return batch
            await asyncio.sleep(min(self.settings.poll_interval, deadline - time.monotonic()))

    def _read_batch(self) -> list[Inbound]:
        new = self.settings.path / "new"
        names = sorted(unread_names(self.settings.path))
        batch = []
        for name in names[: self.settings.batch_size]:
            try:
                raw = (new / name).read_bytes()
            except FileNotFoundError:  # taken by another reader between scandir and open
                continue
            batch.append(parse_email(
                raw, account=self.name, source_ref=name,
                max_attachment_bytes=self.settings.max_attachment_bytes,
                own_addresses=(self.settings.address, *self.settings.own_addresses),
                school_addresses=self.settings.school_addresses))
        return batch

    async def ack(self, items: Sequence[Inbound]) -> None:
        await asyncio.to_thread(self._move_to_cur, [item.source_ref for item in items])

    def _move_to_cur(self, names: list[str]) -> None:
        for name in names:
            source = self.settings.path / "new" / name
            # Already gone means already acknowledged: ack is safe to repeat.
            with contextlib.suppress(FileNotFoundError):
                source.rename(self.settings.path / "cur" / f"{name}:2,S")

    async def send(self, msg: Outbound) -> Delivery:
        message_id, data = compose_outbound(
            msg, from_addr=self.settings.address, from_name=self.settings.from_name)
        try:
            await asyncio.to_thread(self._deliver, data)
        except OSError as exc:
            return Delivery(ok=False, error=f"cannot write to {self.settings.outbox}: {exc}")
        return Delivery(ok=True, external_id=message_id)

    def _deliver(self, data: bytes) -> None:
        mailbox.Maildir(self.settings.outbox, create=True).add(data)
