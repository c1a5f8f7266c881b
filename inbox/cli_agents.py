"""``inbox agents`` (link, list) and ``inbox templates``: the agents' side from the shell."""

from __future__ import annotations

import asyncio

import click

from inbox import views
from inbox.actions import ActionError
from inbox.agentbot import LINK_PREFIX, new_link_code
from inbox.cli import Context, domain_errors, emit_json, json_option
from inbox.config import Config
from inbox.notify import Desk, Notifier
from inbox.store import Store, iso


@click.group()
def agents() -> None:
    """Agents: who they are, where they are notified, linking Telegram accounts.

    \b
    Example:
      inbox agents list
      inbox agents link boris
    """


@agents.command()
@click.argument("agent")
@json_option
@click.pass_obj
@domain_errors
def link(obj: Context, agent: str, as_json: bool) -> None:
    """Print a one-time code and deep link that links AGENT's Telegram account.

    The agent opens the link (or sends the bot /start link-CODE) from their own
    Telegram account within a day; from then on the bot takes their replies, and
    notifies them there when their client is "telegram" (others keep theirs).

    \b
    Example:
      inbox agents link boris
    """
    config, store = obj.config, obj.open_store(create=True)
    if agent not in config.agents:
        raise ActionError(f"unknown agent {agent!r} (agents: {', '.join(config.agents)})")
    desk = Desk.of(config)
    if desk.telegram is None:
        raise ActionError("no [[telegram]] bot is configured for agents to link with")
    if config.agents[agent].client != "telegram":
        click.echo(f"note: {agent} has client = \"{config.agents[agent].client}\": linking lets"
                   " them answer from Telegram, but notifications go to Telegram only with"
                   ' client = "telegram"', err=True)
    code, expires = new_link_code(store, agent)
    bot = _bot_username(config, store, desk)
    command = f"/start {LINK_PREFIX}{code}"
    url = f"https://t.me/{bot.lstrip('@')}?start={LINK_PREFIX}{code}" if bot else None
    if as_json:
        emit_json({"agent": agent, "code": code, "command": command, "bot": bot or None,
                   "link": url, "expires_at": iso(expires)})
        return
    click.echo(f"Link {agent}'s Telegram account (one use, valid until {iso(expires)}):")
    if url:
        click.echo(f"  open {url}")
    click.echo(f"  {'or ' if url else ''}send the bot{f' {bot}' if bot else ''}: {command}")


@agents.command(name="list")
@json_option
@click.pass_obj
@domain_errors
def list_agents(obj: Context, as_json: bool) -> None:
    """Agents, their client and whether their Telegram account is linked.

    \b
    Example:
      inbox agents list --json
    """
    notifier = Notifier(obj.store, obj.config)
    rows = [{"id": a.id, "name": a.name, "client": a.client, "email": a.email or None,
             "telegram": notifier.telegram_chat(a.id) or None,
             "hours": (f"{a.hours.start}-{a.hours.end} {a.hours.timezone}" if a.hours
                       else None)} for a in obj.config.agents.values()]
    if as_json:
        emit_json(rows)
        return
    click.echo(views.table(["ID", "NAME", "CLIENT", "EMAIL", "TELEGRAM", "HOURS"], [
        [r["id"], r["name"], r["client"], r["email"] or "-", r["telegram"] or "-",
         r["hours"] or "always"] for r in rows]) if rows else "no agents configured")


@click.command()
@json_option
@click.pass_obj
@domain_errors
def templates(obj: Context, as_json: bool) -> None:
    """Canned answers from [desk] templates_dir, with their languages.

    \b
    Example:
      inbox templates --json
    """
    found = obj.config.desk.templates
    if as_json:
        emit_json([{"name": name, "languages": found.languages(name)} for name in found.names()])
        return
    click.echo(views.table(["NAME", "LANGUAGES"], [
        [name, ", ".join(found.languages(name))] for name in found.names()])
        if found.names() else "no templates configured ([desk] templates_dir)")


def _bot_username(config: Config, store: Store, desk: Desk) -> str:
    """``@name`` of the desk's bot, asked from Telegram; "" when it cannot be reached, or
    when the admin's shell cannot read the service's token: the code needs neither."""
    from inbox.secrets import SecretError

    channel_config = desk.telegram
    try:
        channel = channel_config.module.create(channel_config.settings,
                                               store.sync_state(channel_config.name))
    except SecretError as exc:  # says which variable or file, never the token
        click.echo(f"(could not ask Telegram for the bot's name: {exc})", err=True)
        return ""

    async def ask() -> str:
        try:
            return await channel.check_connect()
        finally:
            await channel.close()
    try:
        return asyncio.run(ask())
    except Exception as exc:  # offline: the code still works, typed by hand. Only the
        # type: a network error's text may hold the bot's URL, which holds its token.
        click.echo(f"(could not ask Telegram for the bot's name: {type(exc).__name__})",
                   err=True)
        return ""
