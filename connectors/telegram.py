"""The ``[[telegram]]`` table and how its channel is made; the channel is in telegram_channel.

Kept free of python-telegram-bot and httpx, so reading the configuration (every
``inbox`` command does) does not pay for importing them; ``create`` imports the
channel only when the daemon opens it.
"""

from __future__ import annotations

from dataclasses import dataclass

from inbox.channel import Channel, SyncState
from inbox.secrets import Secret
from inbox.sections import Section

SECTION = "telegram"


@dataclass(frozen=True)
class Settings:
    """One ``[[telegram]]`` table; the comments are the config reference."""

    name: str  # the bot's name in the inbox (channel account); required, unique
    token: Secret | None  # token_env = "VAR" or token_file = "/path" (never the token itself)
    api_url: str = "https://api.telegram.org/bot"  # a self-hosted Bot API server's .../bot
    file_url: str = "https://api.telegram.org/file/bot"  # and its .../file/bot
    poll_timeout: int = 25  # longest getUpdates long poll, seconds (0..50; 0: every 5 s)
    groups: bool = False  # accept messages from group chats the bot is in
    max_attachment_bytes: int = 20 * 2**20  # config: max_attachment_mb (default 20)
    request_timeout: float = 30.0  # seconds one send or download may stall
    chat_interval: float = 1.0  # seconds between two messages to one chat
    group_interval: float = 3.0  # the same for group chats (Telegram: 20 per minute)
    messages_per_second: float = 30.0  # for the whole bot


def settings(section: Section) -> Settings:
    """Read one ``[[telegram]]`` table, recording every problem in the section."""
    defaults = Settings(name="", token=None)
    name, token = section.text("name") or "", section.secret("token")
    api_url = _url(section, "api_url", defaults.api_url)
    result = Settings(
        name=name,
        token=token,
        api_url=api_url,
        file_url=_url(section, "file_url", defaults.file_url),
        poll_timeout=_at_most(section, "poll_timeout", defaults.poll_timeout, 50),
        groups=section.flag("groups", defaults.groups),
        max_attachment_bytes=int(_download_cap(section, api_url != defaults.api_url) * 2**20),
        request_timeout=section.number("request_timeout", defaults.request_timeout, minimum=1),
        chat_interval=section.number("chat_interval", defaults.chat_interval, minimum=0),
        group_interval=section.number("group_interval", defaults.group_interval, minimum=0),
        messages_per_second=section.number(
            "messages_per_second", defaults.messages_per_second, minimum=0.1),
    )
    section.done()
    return result


def _url(section: Section, key: str, default: str) -> str:
    value = section.text(key, default) or default
    if not value.startswith(("http://", "https://")):
        section.problem(f"{key} must start with http:// or https://, not {value!r}")
        return default
    return value.rstrip("/")


def _download_cap(section: Section, self_hosted: bool) -> float:
    """max_attachment_mb: Telegram's Bot API hands bots files of at most 20 MB, whatever we
    allow; a self-hosted Bot API server (``api_url``), which schools run for bigger files,
    up to 2,000 MB."""
    cap = section.number("max_attachment_mb", 20, minimum=0)
    limit, why = (2000, "a self-hosted Bot API server hands a bot") if self_hosted else (
        20, "Telegram's Bot API hands a bot; a self-hosted Bot API server (api_url) allows"
            " up to 2000")
    if cap > limit:
        section.problem(f"max_attachment_mb must be at most {limit}, the largest file {why};"
                        f" not {cap:g}")
        return float(limit)
    return cap


def _at_most(section: Section, key: str, default: int, maximum: int) -> int:
    value = section.integer(key, default, minimum=0)
    if value is not None and value > maximum:
        section.problem(f"{key} must be at most {maximum}, not {value}")
        return maximum
    return value


def create(settings: Settings, state: SyncState) -> Channel:
    """The channel; reads the token now (raises SecretError when its source is missing)."""
    if settings.token is None:
        raise ValueError(f"telegram {settings.name!r}: no token_env or token_file configured")
    from connectors.telegram_channel import TelegramChannel

    return TelegramChannel(settings, state, settings.token.reveal())
