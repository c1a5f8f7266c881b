"""``inbox status``: is every channel read, does the outbox drain, are SLAs kept — for humans
and for a monitoring check.

The daemon mirrors each channel's health into the store (``health:last_ok``,
``health:error_since``, ``health:last_error`` in its sync state, refreshed at
least once a minute while it polls; a connector keeps its own standing warning,
``health:warning``, there too), so this works from any process without
talking to the daemon. "Unhealthy" is defined by :class:`Thresholds` and
nothing else; SLA breaches are shown but are the agents' business, not the
admin's, unless a limit is given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.maildir_unread import unread_names
from inbox import views
from inbox.channel import DESK_SECRET_FAILING, HEALTH_WARNING, NOTICES_FAILING
from inbox.config import ChannelConfig, Config
from inbox.store import Store, iso, parse_time
from inbox.store.care import SlaBreach

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Thresholds:
    """When ``inbox status`` calls the service unhealthy (and exits 1)."""

    failing_for: timedelta = timedelta(minutes=15)  # a channel failing longer than this
    stale_after: timedelta = timedelta(minutes=15)  # no successful poll for this long
    outbox_age: timedelta = timedelta(hours=1)  # oldest undelivered outbox entry
    max_failed: int | None = None  # failed deliveries in the last 24 h; None: not judged
    max_breaches: int | None = None  # threads past an SLA deadline; None: not judged
    min_free_mb: int = 100  # free space on the store's disk(s); below it mail soon stops


@dataclass(frozen=True)
class ChannelHealth:
    name: str
    kind: str
    state: str  # "ok" | "failing" | "stale" (no success lately) | "never" (never polled)
    last_ok: datetime | None
    error_since: datetime | None
    last_error: str
    lag: int | None  # messages waiting at the source, where cheaply known (Maildir new/)
    warning: str = ""  # a standing problem the channel reads around (a missing folder)
    notices_failing: tuple[str, ...] = ()  # staff its notifications no longer reach, and why
    desk_secret: str = ""  # why the desk secret cannot be read (reply addresses need it)


@dataclass
class Health:
    checked_at: datetime
    channels: list[ChannelHealth]
    outbox: dict[str, int]  # state -> entries
    oldest_pending: datetime | None
    failed_last_day: int
    breaches: int
    breached: list[SlaBreach]
    store_path: str = ""
    store_free: int | None = None  # bytes free on the fuller disk of the database's and files'
    store_unwritable: str = ""  # a store file or folder the service cannot write, if any
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def check_health(config: Config, store: Store, now: datetime,
                 thresholds: Thresholds = Thresholds()) -> Health:
    channels = [_channel(channel, config, store, now, thresholds)
                for channel in config.channels]
    summary = store.outbox_summary(now)
    breaches, breached = store.sla_breaches(now, limit=20)
    health = Health(
        checked_at=now, channels=channels,
        outbox={state: summary["counts"].get(state, 0)
                for state in ("queued", "retrying", "sent", "failed")},
        oldest_pending=summary["oldest_pending"],
        failed_last_day=store.failed_deliveries_since(now - DAY),
        breaches=breaches, breached=breached, store_path=str(config.store.path),
        store_free=_free_bytes([config.store.path.parent, config.store.attachments]),
        store_unwritable=_unwritable([config.store.path, Path(f"{config.store.path}-wal"),
                                      config.store.path.parent, config.store.attachments]))
    health.problems = list(_problems(health, thresholds, now))
    return health


def _channel(channel: ChannelConfig, config: Config, store: Store, now: datetime,
             limits: Thresholds) -> ChannelHealth:
    items = store.sync_items(channel.name)
    last_ok = parse_time(items.get("health:last_ok"))
    error_since = parse_time(items.get("health:error_since"))
    if error_since is not None:
        state = "failing"
    elif last_ok is None:
        state = "never"
    elif now - last_ok > limits.stale_after:
        state = "stale"
    else:
        state = "ok"
    return ChannelHealth(channel.name, channel.kind, state, last_ok, error_since,
                         items.get("health:last_error", "") if error_since else "",
                         _lag(channel), items.get(HEALTH_WARNING, ""),
                         tuple(_notices_failing(items, config, store)),
                         items.get(DESK_SECRET_FAILING, "") if _answering_by_mail(config) else "")


def _answering_by_mail(config: Config) -> bool:
    """Whether the desk secret still matters: configured, and an agent answers by mail."""
    return config.desk.secret is not None and any(
        agent.client == "email" for agent in config.agents.values())


def _notices_failing(items: dict[str, str], config: Config, store: Store) -> Iterator[str]:
    """What ``Notifier`` kept of notifications that fail for good, one line per recipient.

    Only while that recipient is still where the agent's or team's notices go: one who
    left the configuration, was linked to another chat or changed address waits there
    for nothing.
    """
    failing_keys = sorted(key for key in items if key.startswith(NOTICES_FAILING))
    links = store.agent_links("telegram") if failing_keys else {}
    for key in failing_keys:
        recipient = key.removeprefix(NOTICES_FAILING)
        failing = json.loads(items[key])
        agent, team = failing.get("agent", ""), failing.get("team", "")
        if recipient.lower() not in _notices_go_to(config, links, agent, team):
            continue
        who = f"agent {agent}" if agent else f"the staff group of team {team}"
        fix = ""
        if failing["unreachable"]:
            fix = (" (the bot is not in the group: add it back)" if team else
                   " (they blocked the bot: ask them to open it and press Start)")
        since = views.short_time(parse_time(failing["since"]))
        yield f"notifications to {who} have failed since {since}: {failing['error']}{fix}"


def _notices_go_to(config: Config, links: dict[str, str], agent: str, team: str) -> set[str]:
    """Where notifications for this agent or team's staff group are sent now."""
    if team in config.teams:
        group = config.teams[team].telegram_group
        return {str(group)} if group is not None else set()
    if agent not in config.agents:
        return set()
    staff = config.agents[agent]
    return {address for address in (staff.email.lower(), staff.telegram_chat(lambda: links))
            if address}


def _free_bytes(folders: list[Path]) -> int | None:
    """Space left on the fuller of the disks these folders are on (those that exist).

    A full disk stops the daemon writing, its channels' health included, so the channels
    would look fine here until --stale-after: the space itself says it at once.
    """
    free = []
    for folder in folders:
        try:
            stat = os.statvfs(folder)
        except OSError:
            continue
        free.append(stat.f_bavail * stat.f_frsize)
    return min(free, default=None)


def _unwritable(paths: list[Path]) -> str:
    """The first of the store's files and folders that cannot be written (a disk remounted
    read-only, an immutable file), judged by the service user (who owns the database) or
    root only: a monitoring user may read and not write. The daemon cannot record its own
    health then either, so the channels would look fine until --stale-after."""
    try:
        owner = paths[0].stat().st_uid
    except OSError:
        return ""
    if os.geteuid() not in (0, owner):
        return ""
    return next((str(path) for path in paths if path.exists()
                 and not os.access(path, os.W_OK)), "")


def _lag(channel: ChannelConfig) -> int | None:
    """Unread messages waiting at the source, when counting them costs nothing."""
    if channel.kind == "maildir":
        try:
            return len(unread_names(channel.settings.path))
        except OSError:
            return None
    return None


def _problems(health: Health, limits: Thresholds, now: datetime):
    for channel in health.channels:
        label = f"{channel.kind} {channel.name!r}"
        if channel.error_since and now - channel.error_since > limits.failing_for:
            yield (f"{label} has been failing for {_age(now - channel.error_since)}:"
                   f" {channel.last_error}")
        elif channel.state == "never":
            yield (f"{label} has never been polled (is the daemon running? one added or renamed"
                   " since it started is read after its restart)")
        elif channel.state == "stale" and channel.last_ok is not None:
            yield (f"{label}: no successful poll for {_age(now - channel.last_ok)}"
                   " (is the daemon running?)")
        if channel.warning:
            yield f"{label}: {channel.warning}"
        for failing in channel.notices_failing:
            yield f"{label}: {failing}"
        if channel.desk_secret:
            yield f"{label}: agents cannot answer notifications by mail: {channel.desk_secret}"
    if health.oldest_pending and now - health.oldest_pending > limits.outbox_age:
        waiting = health.outbox["queued"] + health.outbox["retrying"]
        yield (f"outbox: {waiting} waiting, the oldest for"
               f" {_age(now - health.oldest_pending)}")
    if limits.max_failed is not None and health.failed_last_day > limits.max_failed:
        yield f"outbox: {health.failed_last_day} deliveries failed in the last 24 h"
    if limits.max_breaches is not None and health.breaches > limits.max_breaches:
        yield f"SLA: {health.breaches} threads past their deadline"
    if health.store_unwritable:
        yield (f"store: {health.store_unwritable} cannot be written (a read-only disk or"
               " file): nothing is filed or sent until it can")
    if health.store_free is not None and health.store_free < limits.min_free_mb * 2**20:
        yield (f"store: {_megabytes(health.store_free)} free on the disk of"
               f" {health.store_path} (less than {limits.min_free_mb} MB): mail stops being"
               " filed when it is full")


def health_json(health: Health) -> dict[str, Any]:
    now = health.checked_at
    return {
        "healthy": health.healthy,
        "checked_at": iso(now),
        "problems": health.problems,
        "channels": [{
            "name": c.name, "kind": c.kind,
            "state": c.state,
            "last_ok": iso(c.last_ok), "error_since": iso(c.error_since),
            "last_error": c.last_error, "lag": c.lag, "warning": c.warning,
        } for c in health.channels],
        "outbox": {
            **health.outbox,
            "oldest_pending": iso(health.oldest_pending),
            "oldest_pending_seconds": _seconds(now, health.oldest_pending),
            "failed_last_day": health.failed_last_day,
        },
        "store": {"path": health.store_path, "free_bytes": health.store_free},
        "sla": {
            "breaches": health.breaches,
            "threads": [{"id": b.thread.id, "target": b.target, "due": iso(b.due),
                         "team": b.thread.team, "agent": b.thread.agent,
                         "subject": b.thread.subject} for b in health.breached],
        },
    }


def health_text(health: Health) -> str:
    now = health.checked_at
    count = len(health.problems)
    verdict = "healthy" if health.healthy else (
        f"UNHEALTHY ({count} problem{'' if count == 1 else 's'})")
    lines = [f"school-inbox: {verdict}"] + [f"  ! {p}" for p in health.problems] + [""]
    lines.append(views.table(
        ["CHANNEL", "KIND", "STATE", "LAST OK", "ERROR SINCE", "LAG", "LAST ERROR"],
        [[c.name, c.kind, c.state,
          views.short_time(c.last_ok), views.short_time(c.error_since),
          "" if c.lag is None else c.lag, c.last_error] for c in health.channels],
    ) if health.channels else "no channels configured")
    box = health.outbox
    oldest = (f"; oldest waiting {_age(now - health.oldest_pending)}"
              if health.oldest_pending else "")
    lines += ["", f"outbox: {box['queued']} queued, {box['retrying']} retrying,"
                  f" {box['sent']} sent, {box['failed']} failed"
                  f" ({health.failed_last_day} in the last 24 h){oldest}"]
    if health.store_free is not None:
        lines.append(f"store: {health.store_path}, {_megabytes(health.store_free)} free")
    lines.append(f"SLA: {health.breaches} open threads past a deadline" + (
        ": " + ", ".join(f"#{b.thread.id} {b.target.replace('_', ' ')} due"
                         f" {views.short_time(b.due)}" for b in health.breached[:5])
        if health.breaches else ""))
    return "\n".join(lines)


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.0f} MB"


def _seconds(now: datetime, then: datetime | None) -> int | None:
    return None if then is None else int((now - then).total_seconds())


def _age(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return f"{int(span.total_seconds())} s"
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"
