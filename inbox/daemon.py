"""The daemon: channels → pipeline → store → outbox, driven by APScheduler on one asyncio loop.

Each channel has its own poll job that reschedules itself when it finishes
(right away after a batch or a wait for news, POLL_GAP after the start of a poll
that found nothing without waiting, after a back-off after an error), so one failing
mailbox never stops the others and a long poll (IDLE, getUpdates) never piles up
overlapping runs. Acknowledgement at the source happens only after the batch's
transaction has committed. SIGTERM/SIGINT stop cleanly; SIGHUP reloads the
configuration and keeps the old one when the new one is invalid.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from inbox import running, systemd
from inbox.agentbot import AgentBot
from inbox.agentmail import AgentMail
from inbox.channel import Channel
from inbox.config import ChannelConfig, Config, load_config, load_routing
from inbox.greeting import Greeter
from inbox.notify import Notifier
from inbox.outbox import OutboxSender
from inbox.pipeline import IngestReport, Pipeline
from inbox.quality import quality_hooks
from inbox.replay import replay
from inbox.sections import ConfigError
from inbox.store import Store, iso, now_utc, parse_time
from routing.language import LanguageDetector
from routing.rules import Routing

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("inbox.daemon")

# How long one fetch may wait for news: each channel waits its own way (IMAP IDLE,
# Telegram long poll, a Maildir looked into every poll_interval) and returns early.
PUSH_WAIT = 25.0
# At least this long between the starts of two polls of a channel that was asked to wait for
# news, found none and came back sooner (a bot with poll_timeout = 0 does not long-poll).
POLL_GAP = 5.0
EARLY_RETURN = 1.0  # a fetch asked to wait that is back sooner than this did not wait
ERROR_BACKOFF = (5.0, 300.0)  # first and largest pause after a failed poll, seconds
ROUTING_WATCH_SECONDS = 5.0  # how often routing.toml's modification time is looked at


@dataclass
class ChannelHealth:
    """What ``inbox status`` shows per channel; mirrored into the store's sync state."""

    failures: int = 0
    alerted: bool = False  # the admins were told that this channel keeps failing
    error_since: datetime | None = None
    last_error: str = ""
    last_ok: datetime | None = None
    written: datetime | None = field(default=None, repr=False)


def open_store(config: Config) -> Store:
    return Store(config.store.path, config.store.attachments)


def open_channel(channel: ChannelConfig, store: Store) -> Channel:
    """The channel object; reading its secrets may raise (SecretError)."""
    return channel.module.create(channel.settings, store.sync_state(channel.name))


async def close_channels(channels: dict[str, Channel]) -> None:
    for channel in channels.values():
        if hasattr(channel, "close"):
            try:
                await channel.close()
            except Exception:
                log.exception("%s: error while closing", channel.name)


def build_hooks(store: Store, config: Config, detector: LanguageDetector) -> list[object]:
    """The objects that extend the flows (see inbox.hooks), in the order they run.

    Agents' messages must be claimed before anything treats them as a customer's.
    """
    notifier = Notifier(store, config)
    return [
        AgentMail(store, config), AgentBot(store, config),
        Greeter(store, config.greeting, config.school.name, detector),
        notifier,
        *quality_hooks(store, config, notifier),
    ]


class Daemon:
    def __init__(self, config: Config, store: Store | None = None):
        self.config = config
        self.store = store or open_store(config)
        self.channels: dict[str, Channel] = {}  # the open ones; the outbox sends through them
        for channel in config.channels:
            # Open what opens now, so callers may reach a channel before its first poll;
            # one that fails is tried again, and reported, by its poll.
            with contextlib.suppress(Exception):
                self._open(channel)
        self.pipeline = Pipeline(self.store, config)
        self.outbox = OutboxSender(self.store, self.channels, config.outbox)
        self._install_hooks()
        self.health = {channel.name: self._stored_health(channel.name)
                       for channel in config.channels}
        self.stopping = asyncio.Event()
        self.polling: set[asyncio.Task] = set()  # poll and flush jobs running now
        self._outbox_failure = ""  # why the outbox cannot record what it sends (said once)
        self.scheduler: AsyncIOScheduler | None = None
        self.on_ingest: list = []  # callables(channel_name, report); the demo prints from here
        self.routing_mtime = _mtime(config.routing_path)

    def _install_hooks(self) -> None:
        """(Re)build the hook objects from the current config; both flows share them."""
        hooks = build_hooks(self.store, self.config, self.pipeline.detector)
        self.pipeline.hooks = self.outbox.hooks = hooks
        self.notifier = next((h for h in hooks if isinstance(h, Notifier)), None)

    def _open(self, configured: ChannelConfig) -> Channel:
        """The channel, opened on first use. Opening reads secrets and may make folders:
        when that fails only this channel fails, and its next poll tries again (a token
        file put in place later is picked up without a restart)."""
        channel = self.channels.get(configured.name)
        if channel is None:
            channel = self.channels[configured.name] = open_channel(configured, self.store)
        return channel

    # -- one pass ------------------------------------------------------------------

    async def poll(self, channel: Channel, wait: float = 0) -> IngestReport | None:
        """Fetch one batch, commit it, then acknowledge it. Returns None when nothing came."""
        batch = await channel.fetch(wait)
        if not batch:
            return None
        report = self.pipeline.ingest(batch)  # commits before returning
        await channel.ack(batch)
        log.info("%s: %d stored, %d duplicate, %d edited, %d quarantined, %d new threads",
                 channel.name, report.stored, report.duplicates, report.edited,
                 report.quarantined, len(report.new_threads))
        for callback in self.on_ingest:
            callback(channel.name, report)
        return report

    async def run_once(self) -> bool:
        """Poll every channel until it is empty, then flush the outbox. True if all went well."""
        healthy = True
        for configured in self.config.channels:
            try:
                channel = self._open(configured)
                while await self.poll(channel) is not None:
                    pass
                self._healthy(configured.name)
            except Exception as exc:
                healthy = False
                self._failed(configured.name, exc)
        self.run_timers()
        await self.flush_outbox()
        return healthy

    def run_timers(self) -> None:
        """Fire what is due now in every hook with a ``check`` (SLA timers, surveys)."""
        now = self.pipeline.clock()
        for hook in self.pipeline.hooks:
            check = getattr(hook, "check", None)
            if check is not None:
                try:
                    check(now)
                except Exception:  # a timer bug must not stop the daemon; next run retries
                    log.exception("%s: timer check failed", type(hook).__name__)

    async def flush_outbox(self) -> None:
        """Deliver everything due now; entries scheduled for a later retry stay queued."""
        while True:
            report = await self.outbox.flush()
            if report.sent + report.failed + report.retrying == 0:
                return
            if report.sent + report.failed == 0:
                return  # only retries left, all pushed into the future

    # -- forever -------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        # Imported here: `inbox run --once` (cron) and every other command never schedule,
        # and APScheduler's import scans all installed packages' entry points (0.15 s).
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.scheduler = AsyncIOScheduler(event_loop=loop)
        for channel in self.config.channels:
            self._schedule_poll(channel, delay=0)
        self.scheduler.add_job(self._watch_routing, "interval", seconds=ROUTING_WATCH_SECONDS,
                               id="routing-watch", max_instances=1, coalesce=True)
        self.scheduler.add_job(self.run_timers, "interval",
                               seconds=self.config.escalation.interval_seconds,
                               id="timers", max_instances=1, coalesce=True)
        self.scheduler.add_job(self._flush_job, "interval",
                               seconds=self.config.outbox.interval_seconds,
                               id="outbox", max_instances=1, coalesce=True)
        watchdog = systemd.watchdog_interval()
        if watchdog:
            self.scheduler.add_job(systemd.notify, "interval", args=["WATCHDOG=1"],
                                   seconds=watchdog, id="watchdog")
        self.scheduler.start()
        systemd.notify("READY=1")
        names = [channel.name for channel in self.config.channels]
        log.info("school-inbox running: %d channel(s): %s", len(names),
                 ", ".join(names) or "none")
        try:
            await self.stopping.wait()
        finally:
            systemd.notify("STOPPING=1")
            self.scheduler.shutdown(wait=False)
            # Waiting fetches are abandoned (ingest never awaits, so no commit is cut).
            for task in list(self.polling):
                task.cancel()
            await asyncio.gather(*self.polling, return_exceptions=True)
            await close_channels(self.channels)
            self.store.close()
            log.info("stopped")

    def stop(self) -> None:
        log.info("stop requested; finishing the current transaction")
        self.stopping.set()

    def reload(self) -> None:
        """Re-read the configuration; on any problem keep running with the old one."""
        try:
            config = load_config(self.config.path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration:\n%s", exc)
            return
        old = self.config
        unapplied = [what for what, changed in (
            ("channels", [(c.kind, c.name, c.settings) for c in config.channels]
             != [(c.kind, c.name, c.settings) for c in old.channels]),
            ("[store]", config.store != old.store),
            ("[escalation] interval_seconds",
             config.escalation.interval_seconds != old.escalation.interval_seconds),
            ("[outbox] interval_seconds",
             config.outbox.interval_seconds != old.outbox.interval_seconds),
        ) if changed]
        if unapplied:
            log.warning("changed in %s: %s; that takes effect after a restart (systemctl restart"
                        " school-inbox), and until then the daemon goes on with what it started"
                        " with", config.path, ", ".join(unapplied))
        # What it has open stays until the restart: the store, and the channels, so that
        # replies on threads of a channel renamed in the file still go out through it.
        kept: dict = {"store": old.store}
        if "channels" in unapplied:
            kept["channels"] = old.channels
            kept["desk"] = replace(config.desk, email_channel=old.desk.email_channel,
                                   telegram_channel=old.desk.telegram_channel)
        config = replace(config, **kept)
        self._log_routing_diff(self.config.routing, config.routing)
        self.config = config
        self.pipeline.reconfigure(config)
        self.outbox.settings = config.outbox
        self._install_hooks()
        self.routing_mtime = _mtime(config.routing_path)
        log.info("configuration reloaded from %s", config.path)

    def _watch_routing(self) -> None:
        """Reload routing.toml when it changes on disk; a broken file keeps the old rules."""
        mtime = _mtime(self.config.routing_path)
        if mtime == self.routing_mtime:
            return
        self.routing_mtime = mtime
        try:
            routing = load_routing(self.config)
        except ConfigError as exc:
            log.error("%s changed but is invalid; keeping the running rules:\n%s",
                      self.config.routing_path, exc)
            return
        self._log_routing_diff(self.config.routing, routing)
        self.config = replace(self.config, routing=routing)
        self.pipeline.reconfigure(self.config)
        log.info("routing reloaded from %s", self.config.routing_path)

    def _log_routing_diff(self, old: Routing, new: Routing) -> None:
        """Say which recent threads the new rules would route differently."""
        if old == new:
            return
        if old.rules and not new.rules:  # an editor that empties the file before writing it
            log.warning("%s has no rules now (it had %d): every new thread goes to the default"
                        " team %r", self.config.routing_path, len(old.rules), new.default_team)
        since = now_utc() - timedelta(days=30)
        changes = replay(self.store, self.config, new, since=since, baseline=old)
        log.info("new routing rules: %d thread(s) of the last 30 days would now go elsewhere",
                 len(changes))
        for change in changes[:20]:
            log.info("  %s", change.describe())

    def _schedule_poll(self, channel: ChannelConfig, delay: float) -> None:
        if self.stopping.is_set() or self.scheduler is None:
            return
        self.scheduler.add_job(
            self._poll_job, "date", args=[channel],
            run_date=datetime.now().astimezone() + timedelta(seconds=max(delay, 0.0)),
            id=f"poll:{channel.name}", replace_existing=True, misfire_grace_time=None,
            # The job schedules its successor just before it returns: two instances
            # overlap for that instant only, never while fetching.
            max_instances=2,
        )

    @contextlib.asynccontextmanager
    async def _job(self) -> AsyncIterator[None]:
        """A scheduled job's body: stop() can abandon it, and an abandoned one ends quietly.

        Ingest never awaits inside its transaction, so a cancelled fetch or send
        leaves nothing half-committed: what was fetched comes again, what was being
        sent stays queued.
        """
        task = asyncio.current_task()
        self.polling.add(task)
        try:
            yield
        except asyncio.CancelledError:
            if not self.stopping.is_set():
                raise
        finally:
            self.polling.discard(task)

    async def _poll_job(self, configured: ChannelConfig) -> None:
        name = configured.name
        async with self._job():
            try:
                # Until a channel has worked once, look without waiting for pushed mail:
                # `inbox status` then sees it healthy within seconds of a start.
                wait = PUSH_WAIT if self.health[name].last_ok else 0
                started = time.monotonic()
                report = await self.poll(self._open(configured), wait)
                self._healthy(name)
                # Fetch itself waited (IDLE, long poll, Maildir look-ups), unless it came
                # back empty at once although asked to wait: then it is paced, not spun.
                # (Back early with updates that were nothing to file, it did wait.)
                took = time.monotonic() - started
                spun = wait and not report and took < EARLY_RETURN
                delay = POLL_GAP - took if spun else 0.0
            except Exception as exc:
                delay = self._failed(name, exc)
            self._schedule_poll(configured, delay)

    async def _flush_job(self) -> None:
        async with self._job():
            try:
                await self.flush_outbox()
            except Exception as exc:
                failure = self.store.write_failure(
                    exc, "nothing more is sent until it can be recorded")
                if not failure:
                    log.exception("outbox flush failed; will try again")
                elif failure != self._outbox_failure:  # once per outage, not every flush
                    log.error("outbox: %s", failure)
                self._outbox_failure = failure
            else:
                if self._outbox_failure:
                    log.info("outbox: the store can be written again; sending")
                self._outbox_failure = ""

    # -- health ----------------------------------------------------------------------

    def _stored_health(self, name: str) -> ChannelHealth:
        """An outage that began before this start goes on from when it began, and the
        admins already told about it are not told again (only that it works again):
        a restart, by hand or by systemd, must not make a failing channel look new."""
        state = self.store.sync_state(name)
        return ChannelHealth(error_since=parse_time(state.get("health:error_since")),
                             alerted=bool(state.get("health:alerted")))

    def _healthy(self, name: str) -> None:
        health = self.health[name]
        now = now_utc()
        recovered = health.failures > 0
        health.failures, health.error_since, health.last_ok = 0, None, now
        if recovered:
            log.info("%s: working again", name)
        if health.alerted:
            health.alerted = False
            self._alert(f"{name} is working again", f"The channel {name} works again;"
                        " messages that waited are being processed now.")
        if recovered or health.written is None or now - health.written > timedelta(minutes=1):
            self._write_health(name, health, now)

    def _failed(self, name: str, exc: Exception) -> float:
        health = self.health[name]
        now = now_utc()
        health.failures += 1
        health.error_since = health.error_since or now
        health.last_error = self.store.write_failure(exc) or f"{type(exc).__name__}: {exc}"
        log.error("%s: %s (attempt %d; other channels carry on)", name, health.last_error,
                  health.failures)
        alert = not health.alerted and now - health.error_since >= self.config.desk.alert_after
        health.alerted = health.alerted or alert
        self._write_health(name, health, now)
        if alert:
            self._alert(f"{name} has been failing since {iso(health.error_since)}",
                        f"The channel {name} has failed for {now - health.error_since}."
                        f"\nLast error: {health.last_error}\nNothing is lost: messages wait"
                        f" at the source and are fetched when it works again.\nSee: inbox"
                        f" status")
        first, largest = ERROR_BACKOFF
        return min(first * 2 ** (health.failures - 1), largest) * random.uniform(0.8, 1.2)

    def _alert(self, subject: str, text: str) -> None:
        log.warning("%s", subject)
        if self.notifier is None:
            return
        try:
            with self.store.transaction():
                self.notifier.alert(subject, text)
        except sqlite3.Error as exc:  # the store itself may be what is failing
            log.error("cannot queue the alert for the admins: %s", exc)

    def _write_health(self, name: str, health: ChannelHealth, now: datetime) -> None:
        """Mirror health into the store for ``inbox status``; never fatal to the poll loop.

        On a full disk or a read-only store this write fails like everything else;
        the poll must still be rescheduled so the channel recovers by itself.
        """
        state = self.store.sync_state(name)
        try:
            with self.store.transaction():
                if health.last_ok is not None:  # else the stored one, from before a restart
                    state.set("health:last_ok", iso(health.last_ok))
                state.set("health:error_since", iso(health.error_since) or "")
                state.set("health:last_error", health.last_error if health.failures else "")
                state.set("health:alerted", "1" if health.alerted else "")
        except sqlite3.Error as exc:
            log.error("%s: cannot record channel health in the store: %s", name, exc)
            return
        health.written = now


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


async def run_daemon(config_path: Path, once: bool) -> int:
    """Entry point for ``inbox run``: returns the process exit code."""
    config = load_config(config_path)
    with running.holding(config.store.path, "inbox run",
                         "only one daemon may run on a store (is the service running?)"):
        daemon = Daemon(config)
        # What start-up loaded lives as long as the daemon (language profiles with a dict
        # entry per n-gram, rules, config): out of the collector's sight, or every full
        # collection walks all of it again (~20 ms each on a small VM).
        gc.freeze()
        added = daemon.store.index_missing()
        if added:
            log.warning("%d messages were missing from the search index (filed by an older"
                        " version after a newer one upgraded the store); added", added)
        if once:
            try:
                ok = await daemon.run_once()
            finally:
                await close_channels(daemon.channels)
                daemon.store.close()
            return 0 if ok else 1
        await daemon.run()
        return 0
