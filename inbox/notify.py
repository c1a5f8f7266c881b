"""Tell agents what needs them, in the client they already use (mail, Telegram).

The ``[desk]`` table of ``inbox.toml`` says which channels carry the agents'
side; :func:`desk_settings` reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from inbox.model import Agent
from inbox.secrets import Secret
from inbox.sections import Section


@dataclass(frozen=True)
class DeskSettings:
    """Where the agents' side lives.

    ``email_channel``/``telegram_channel`` name configured channels ("" = the
    first of that kind); ``secret`` keys the HMAC reply tokens of agents'
    mail; ``reply_address`` "" means plus-addressing on the email channel's
    own address (``support+t12.<token>@school.example``).
    """

    email_channel: str = ""
    telegram_channel: str = ""
    secret: Secret | None = None
    reply_address: str = ""
    templates_dir: Path | None = None


def desk_settings(section: Section, agents: Iterable[Agent] = ()) -> DeskSettings:
    """Read ``[desk]``; pass the agents so a missing reply-token secret is reported."""
    secret = section.secret("secret", required=False)
    reply_address = section.text("reply_address", "").strip().lower()
    if reply_address and "@" not in reply_address:
        section.problem(f'reply_address {reply_address!r} must be an address like '
                        f'"agents@school.example"')
    folder = section.text("templates_dir", "")
    settings = DeskSettings(
        email_channel=section.text("email_channel", ""),
        telegram_channel=section.text("telegram_channel", ""),
        secret=secret,
        reply_address=reply_address,
        templates_dir=Path(folder).expanduser() if folder else None,
    )
    email_agents = [agent.id for agent in agents if agent.client == "email"]
    if email_agents and secret is None:
        section.problem(
            f"secret_file is required when agents answer by email ({', '.join(email_agents)}):"
            f" a file readable only by the service holding a long random key, e.g."
            f' secret_file = "/etc/school-inbox/desk-secret"')
    section.done()
    return settings
