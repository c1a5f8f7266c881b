"""The service-quality tests' school: SLA policies, a team lead, agents who read mail.

The calendar is Europe/Berlin (so DST changes on 2026-03-29 and 2026-10-25 are
crossed) with Good Friday 2026-04-03 as a holiday. Agents read notifications by
email, so what the real :class:`inbox.notify.Notifier` queues is visible in the
outbox.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from datetime import UTC, datetime

from inbox.channel import Inbound
from inbox.config import Config, load_config
from inbox.daemon import Daemon, close_channels
from inbox.model import Identity, Outbound
from inbox.pipeline import Pipeline
from inbox.store import Store
from tests.botapi import TOKEN

QUALITY_TOML = """\
[school]
name = "Test School"
languages = ["ru", "kk", "en"]
default_language = "ru"
timezone = "Europe/Berlin"
opens = "09:00"
closes = "18:00"
holidays = ["2026-04-03"]

[store]
path = "{dir}/state/inbox.db"

[[maildir]]
name = "support"
path = "{dir}/Maildir"
outbox = "{dir}/Sent"
address = "support@school.example"
from_name = "Test School"

[desk]
secret_file = "{dir}/desk-secret"

[[agents]]
id = "aigerim"
name = "Aigerim"
client = "email"
email = "aigerim@school.example"

[[agents]]
id = "boris"
name = "Boris"
client = "email"
email = "boris@school.example"

[[agents]]
id = "lena"
name = "Lena"
client = "email"
email = "lena@school.example"

[[teams]]
name = "support"
members = ["aigerim", "boris"]
strategy = "round_robin"
lead = "lena"

[[sla]]
name = "chat"
first_response = "2h"
resolution = "8h"
warn_at = 0.75

[[sla]]
name = "wall"
first_response = "1h"
resolution = "1d"
business_hours = false
"""

ROUTING_TOML = """\
default_team = "support"
default_sla = "chat"

[[rules]]
name = "Wall-clock SLA"
[rules.when]
subject = ["wall"]
[rules.then]
team = "support"
sla = "wall"
"""


def utc(text: str) -> datetime:
    """``"2026-03-27 16:00"`` as an aware UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def quality_school(school) -> Config:
    """Write the quality config into a ``School`` fixture's folder and load it."""
    (school.root / "desk-secret").write_text("a-long-random-test-secret-0123456789\n")
    school.write(QUALITY_TOML, ROUTING_TOML)
    return load_config(school.config)


def customer_mail(number: int, text: str, at: datetime, *, sender: str = "olga@mail.example",
                  subject: str = "Вопрос", **fields) -> Inbound:
    """A customer email as the Maildir connector would hand it over."""
    return Inbound(
        channel="email", account="support", external_id=f"<m{number}@mail.example>",
        sender=Identity("email", sender, fields.pop("name", "Ольга")), text=text,
        received_at=at, raw=f"Subject: {subject}\r\n\r\n{text}".encode(), subject=subject,
        **fields)


def file_at(store: Store, config: Config, item: Inbound, hooks=()) -> int:
    """Run one message through the real pipeline with the clock stopped at its arrival."""
    pipeline = Pipeline(store, config, clock=lambda: item.received_at, hooks=hooks)
    report = pipeline.ingest([item])
    return report.new_threads[0] if report.new_threads else store.find_message(
        item.account, item.external_id).thread_id


def queued(store: Store, kind: str | None = None) -> list[Outbound]:
    """Every outbox entry still to be sent (of one kind), oldest first."""
    far = datetime(2100, 1, 1, tzinfo=UTC)
    return [entry for entry in store.due_outbound(far, limit=1000)
            if kind is None or entry.kind == kind]



def run_pass(config: Config, store: Store, hooks: list, at: datetime) -> None:
    """One ``inbox run --once`` of the real daemon, clocks stopped at ``at``, with extra hooks."""
    async def once() -> None:
        daemon = Daemon(config, store)
        daemon.pipeline.clock = daemon.outbox.clock = lambda: at
        daemon.pipeline.hooks = daemon.outbox.hooks = [*daemon.pipeline.hooks, *hooks]
        try:
            assert await daemon.run_once(), "a channel failed; see the log"
        finally:
            await close_channels(daemon.channels)

    asyncio.run(once())


def add_bot(school, botapi, monkeypatch) -> Config:
    """Add a Telegram bot on the test Bot API server to the quality school; reload."""
    monkeypatch.setenv("TEST_BOT_TOKEN", TOKEN)
    school.write(school.config.read_text() + f"""
[[telegram]]
name = "school-bot"
token_env = "TEST_BOT_TOKEN"
api_url = "{botapi.url}/bot"
file_url = "{botapi.file_url}"
""")
    return load_config(school.config)


def sent_mail(school) -> list[email.message.Message]:
    """What the Maildir channel wrote to the school's Sent folder, oldest first."""
    folder = school.sent / "new"
    files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in files]
