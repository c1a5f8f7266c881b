"""The people who answer: agents, their working hours, and the teams they share queues in.

Read from ``inbox.toml`` by the configuration and used by routing to pick an assignee;
the store only keeps agent ids, so it does not import this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkingHours:
    """When an agent is on duty: weekdays (0 = Monday), local start/end, IANA zone."""

    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    start: str = "09:00"
    end: str = "18:00"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Agent:
    """A person who answers; ``client`` is where the daemon meets them."""

    id: str
    name: str
    languages: tuple[str, ...] = ()
    client: str = "cli"  # "email" | "telegram" | "cli"
    email: str = ""
    telegram_id: int | None = None
    hours: WorkingHours | None = None  # None: always on duty
    available: bool = True

    def telegram_chat(self, links: Callable[[], Mapping[str, str]]) -> str:
        """Where their Telegram notifications go: the configured ``telegram_id``, else the
        account ``inbox agents link`` linked (``links()``: agent id -> Telegram user id,
        read only then)."""
        return str(self.telegram_id) if self.telegram_id else links().get(self.id, "")


@dataclass(frozen=True)
class Team:
    """A group of agents sharing a queue; ``strategy`` picks who gets a new thread."""

    name: str
    members: tuple[str, ...] = ()
    strategy: str = "round_robin"  # "round_robin" | "least_open" | "manual"
    lead: str = ""
    fallback: str = ""
    client: str = ""  # "" = each member's own client; "telegram-group": a forum staff group
    telegram_group: int | None = None  # chat id of that forum supergroup

