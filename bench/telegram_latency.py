"""Telegram latency: an update appears on the Bot API server → its thread and the agent's
notification are committed by the daemon. p50/p95 over N updates, on loopback.

    .venv/bin/python bench/telegram_latency.py [--updates 1000] [--interval 0.02]

The real daemon runs in this process (its APScheduler poll job, long polling the
test Bot API server from tests/botapi.py); a hook object notes when each message
is filed, inside the transaction that also queues the notification.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inbox.config import load_config  # noqa: E402
from inbox.daemon import Daemon  # noqa: E402
from tests.botapi import TOKEN, BotApiServer  # noqa: E402

CONFIG = """\
[school]
languages = ["ru", "kk", "en"]
default_language = "ru"

[store]
path = "{dir}/inbox.db"

[[telegram]]
name = "bot"
token_env = "BENCH_BOT_TOKEN"
api_url = "{url}/bot"
file_url = "{url}/file/bot"

[[agents]]
id = "boris"
languages = ["ru", "kk", "en"]
client = "telegram"      # so every filed message queues a Telegram notification for him
telegram_id = 999

[[teams]]
name = "support"
members = ["boris"]
"""


class FiledClock:
    """Inbound hook: when each message (by its text's sequence number) was filed."""

    def __init__(self, store) -> None:
        self.store = store
        self.filed: dict[int, float] = {}
        self.notified = 0

    def thread_created(self, filed) -> None:
        # Runs after the Notifier in the same transaction: its outbox entry already exists.
        if self.store.db.execute(
                "SELECT count(*) FROM outbox WHERE kind = 'notification' AND thread_id = ?",
                [filed.thread.id]).fetchone()[0]:
            self.notified += 1
        self.filed[int(filed.item.text.rsplit("#", 1)[1])] = time.perf_counter()

    customer_wrote = thread_created


async def measure(updates: int, interval: float, root: Path) -> list[float]:
    with BotApiServer() as server:
        os.environ["BENCH_BOT_TOKEN"] = TOKEN
        (root / "inbox.toml").write_text(CONFIG.format(dir=root, url=server.url))
        (root / "routing.toml").write_text('default_team = "support"\n')
        daemon = Daemon(load_config(root / "inbox.toml"))
        clock = FiledClock(daemon.store)
        daemon.pipeline.hooks.append(clock)
        runner = asyncio.create_task(daemon.run())
        await asyncio.sleep(0.5)  # let the first long poll start
        sent: dict[int, float] = {}
        for n in range(updates):
            # A new chat per 50 updates: some land on new threads, most on open ones.
            server.user_message(10_000 + n // 50, f"Вопрос номер #{n}")
            sent[n] = time.perf_counter()
            await asyncio.sleep(interval)
        deadline = time.monotonic() + 30
        while len(clock.filed) < updates and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        daemon.stop()
        await runner
    missing = updates - len(clock.filed)
    if missing:
        raise SystemExit(f"{missing} updates were not filed within 30 s")
    if clock.notified < updates:
        raise SystemExit(f"only {clock.notified} of {updates} filed messages queued a"
                         " notification")
    return [clock.filed[n] - sent[n] for n in range(updates)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=0.02,
                        help="seconds between two updates appearing on the server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as d:
        latencies = asyncio.run(measure(args.updates, args.interval, Path(d)))
    ms = sorted(value * 1000 for value in latencies)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"| updates | interval | p50 ms | p95 ms | max ms |\n|---|---|---|---|---|\n"
          f"| {len(ms)} | {args.interval * 1000:.0f} ms | {statistics.median(ms):.1f} |"
          f" {p95:.1f} | {ms[-1]:.1f} |")


if __name__ == "__main__":
    main()
