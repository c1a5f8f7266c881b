"""The ``inbox`` command: thin commands over the store, actions, routing and daemon.

Domain errors (bad config, unknown thread, unknown agent) become ``Error: …`` and
exit 1 here and only here; everything below raises named exceptions.
"""

from __future__ import annotations

import functools
import importlib
import json
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from inbox import __version__, views
from inbox.config_file import StoreSettings, config_path, store_settings
from inbox.model import Status
from inbox.sections import ConfigError
from inbox.spans import AGE_UNITS, parse_cutoff, parse_span
from inbox.store import IN_MEMORY, Store, missing_store, now_utc

if TYPE_CHECKING:
    from inbox.actions import Actions
    from inbox.config import Config


class Context:
    """Loads the config and store lazily, so ``--help`` and ``demo`` need neither."""

    def __init__(self, path: str | None):
        self.path = config_path(path)
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            # Here, not at the top: threads/show/search read only [store] (inbox.config_file),
            # and the whole configuration's classes would cost their start-up ~3 ms.
            from inbox.config import load_config

            self._config = load_config(self.path)
        return self._config

    @property
    def store(self) -> Store:
        """The existing store, after the whole configuration has been read and validated;
        a missing one is an error (backup, export, purge: never of a new empty store)."""
        return self.open_store(create=False)

    def open_store(self, *, create: bool) -> Store:
        """The store; ``create`` for commands that may fill it before the daemon's first
        run (a roster, an agent's link code). Others never make an empty one."""
        config = self.config  # validated even when read_store opened the file first
        if self._store is None:
            self._store = Store(config.store.path, config.store.attachments, create=create)
        return self._store

    @property
    def report_store(self) -> Store:
        """For commands that report on the store (status, stats): a missing one reads as
        empty, with a word on stderr, and no file is made (a mistyped path stays visible)."""
        config = self.config
        if self._store is None:
            self._store = _existing_or_empty(config.store)
        return self._store

    @property
    def read_store(self) -> Store:
        """The store for commands that only read threads: [store] alone is read (see
        store_settings), so they start fast and work while another table has a mistake."""
        if self._store is None:
            self._store = _existing_or_empty(self._store_settings())
        return self._store

    @property
    def kept_store(self) -> Store:
        """For commands that copy or explain what is stored (backup, export-contact, route
        --explain): [store] alone is read, so a mistake elsewhere, which the running daemon
        ignores, does not stop a nightly backup. The store must exist."""
        if self._store is None:
            settings = self._store_settings()
            self._store = Store(settings.path, settings.attachments, create=False)
        return self._store

    def _store_settings(self) -> StoreSettings:
        return self._config.store if self._config else store_settings(self.path)

    @property
    def actions(self) -> Actions:
        from inbox.actions import Actions

        return Actions(self.store, self.config)


def _existing_or_empty(settings: StoreSettings) -> Store:
    if settings.path.exists():
        return Store(settings.path, settings.attachments)
    click.echo(f"warning: {missing_store(settings.path)}; showing an empty store", err=True)
    return Store(IN_MEMORY)


def refusals() -> tuple[type[Exception], ...]:
    """The product's own "cannot do that" errors.

    A function, not a tuple at the top: an ``except`` clause's expression is evaluated
    only when an exception reaches it, so commands that never touch actions or
    secrets do not import them (start-up is most of a command's time).
    """
    from inbox.actions import ActionError
    from inbox.secrets import SecretError
    from inbox.store import NotFound, StoreError

    return (NotFound, ActionError, StoreError, SecretError)


def domain_errors(function: Callable) -> Callable:
    """Turn the product's own exceptions into ``Error: …`` with exit status 1."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ConfigError as exc:
            raise click.ClickException("invalid configuration:\n" + str(exc)) from None
        except refusals() as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # a file or folder given on the command line, or the store's
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None
        except sqlite3.OperationalError as exc:  # the store's disk is full or read-only
            store = next((arg._store for arg in args if isinstance(arg, Context)), None)
            failure = store.write_failure(exc, "nothing was changed", "you") if store else ""
            if not failure and store and "locked" in str(exc):
                failure = (f"the store {store.path} stayed locked by another program (a"
                           " backup? an sqlite3 shell?): nothing was changed; try again")
            raise click.ClickException(failure or f"the store: {exc}") from None
    return wrapper


class RowId(click.IntRange):
    """A thread or contact id as SQLite can hold it; ``#12``, as the tables and subjects
    print it, is 12. Anything else is a usage error (exit 2) saying what such an id is,
    where click would say "not a valid integer range"."""

    def __init__(self, kind: str, example: str) -> None:
        super().__init__(1, 2**63 - 1)
        self.kind = kind
        self.example = example

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        number = value[1:] if isinstance(value, str) and value.startswith("#") else value
        try:
            return super().convert(number, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r} is not a {self.kind} id ({self.example})", param, ctx)


ID = RowId("thread", "a number such as 12 or #12")
CONTACT_ID = RowId("contact", "a number such as 42")
# A count as SQLite can hold it: anything else is a usage error (exit 2).
COUNT = click.IntRange(1, 2**63 - 1)


class Span(click.ParamType):
    """A duration option: "15m", "1h", "2d" (in ``units``; see inbox.spans)."""

    name = "duration"

    def __init__(self, units: str = "smhd") -> None:
        self.units = units

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_span(value, self.units)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Cutoff(click.ParamType):
    """A span before now ("2y", "180d", in ``units``) or a date ("2024-09-01"), at least
    ``min_days`` in the past; to the second, so the cutoff printed is the one used."""

    name = "age-or-date"

    def __init__(self, units: str = AGE_UNITS, min_days: int = 0) -> None:
        self.units = units
        self.min_days = min_days

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_cutoff(value, now_utc().replace(microsecond=0), self.units,
                                min_days=self.min_days)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def json_option(function: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        function)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


class LazyGroup(click.Group):
    """A group whose commands in other modules are imported only when used.

    Every ``inbox`` call would otherwise import the whole product (statistics,
    reports, Telegram, backups) to run one command; start-up is most of a CLI
    command's time.
    """

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}  # command name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, _, attribute = self.lazy[name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)


# The commands that only read threads (Context.read_store). Nothing they run logs, so
# they leave logging unconfigured: importing logging would add ~3 ms to their start-up.
READ_COMMANDS = frozenset({"threads", "show", "search"})

# Commands kept in their own modules: name -> where the click command is.
LAZY_COMMANDS = {
    "route": "inbox.cli_routing:route",
    "rules": "inbox.cli_routing:rules",
    "contacts": "inbox.cli_routing:contacts",
    "agents": "inbox.cli_agents:agents",
    "templates": "inbox.cli_agents:templates",
    "stats": "inbox.cli_stats:stats",
    "status": "inbox.cli_care:status",
    "backup": "inbox.cli_care:backup_command",
    "restore": "inbox.cli_care:restore_command",
    "purge": "inbox.cli_care:purge",
    "export-contact": "inbox.cli_care:export_contact_command",
    "forget-contact": "inbox.cli_care:forget_contact",
    "reparse": "inbox.cli_care:reparse_command",
}


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config", metavar="PATH", envvar="INBOX_CONFIG",
              help="inbox.toml to use (default: $INBOX_CONFIG or /etc/school-inbox/inbox.toml).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
              help="How much the daemon logs to stderr.")
@click.version_option(__version__, package_name="school-inbox")
@click.pass_context
def main(ctx: click.Context, config: str | None, log_level: str) -> None:
    """school-inbox: one support inbox for a school's mail and messengers.

    \b
    Example:
      inbox demo --once                 # see it work with bundled sample mail
      inbox --config /etc/school-inbox/inbox.toml run
    """
    if ctx.invoked_subcommand not in READ_COMMANDS:
        from inbox.cli_logging import setup_logging

        setup_logging(log_level)
    ctx.obj = Context(config)


@main.command()
@click.option("--once", is_flag=True,
              help="Poll every channel once, process everything, flush the outbox, exit.")
@click.pass_obj
@domain_errors
def run(obj: Context, once: bool) -> None:
    """Run the daemon in the foreground (SIGTERM stops, SIGHUP reloads).

    \b
    Example:
      inbox --config /etc/school-inbox/inbox.toml run --once
    """
    import asyncio

    from inbox.daemon import run_daemon

    sys.exit(asyncio.run(run_daemon(obj.path, once)))


@main.command()
@click.option("--once", is_flag=True, help="Process the sample mail once and exit.")
@click.option("--dir", "directory", type=click.Path(path_type=Path),
              default=Path("school-inbox-demo"), show_default=True,
              help="Where the demo keeps its config, Maildir and store.")
@domain_errors
def demo(once: bool, directory: Path) -> None:
    """Run the embedded demo: a local Maildir with sample mail in ru/en/kk, routed live.

    \b
    Example:
      inbox demo --once
    """
    import asyncio

    from inbox.demo import run_demo

    sys.exit(asyncio.run(run_demo(directory, once)))


@main.command()
@click.option("--connect", is_flag=True, help="Also log in to every channel.")
@click.pass_obj
@domain_errors
def check(obj: Context, connect: bool) -> None:
    """Validate inbox.toml and routing.toml (and with --connect, every channel's login).

    \b
    Example:
      inbox --config config/inbox.example.toml check
    """
    config = obj.config
    counts = ", ".join(f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in (
        (len(config.channels), "channel"), (len(config.agents), "agent"),
        (len(config.teams), "team"), (len(config.routing.rules), "rule")))
    click.echo(f"{config.path}: OK ({counts} in {config.routing_path.name})")
    if connect:
        import asyncio

        ok = asyncio.run(_check_connect(config))
        if not ok:
            sys.exit(1)


async def _check_connect(config: Config) -> bool:
    """One line per channel, and one for the desk's secret; a secret that cannot be read
    fails its own line only."""
    from inbox.daemon import close_channels, open_channel
    from inbox.secrets import SecretError

    # Before the daemon's first run there is no store yet, and a check makes none.
    store = (Store(config.store.path, config.store.attachments) if config.store.path.exists()
             else Store(IN_MEMORY))
    opened = {}
    ok = True
    try:
        for configured in config.channels:
            name = configured.name
            try:
                channel = opened[name] = open_channel(configured, store)
                if not hasattr(channel, "check_connect"):
                    click.echo(f"{name}: nothing to connect to")
                    continue
                click.echo(f"{name}: OK {await channel.check_connect()}")
            except Exception as exc:
                ok = False
                click.echo(f"{name}: FAILED {type(exc).__name__}: {exc}")
        if config.desk.secret is not None:  # reply addresses need it: agents answering by mail
            try:
                config.desk.secret.reveal()
                click.echo("desk secret: OK")
            except SecretError as exc:
                ok = False
                click.echo(f"desk secret: FAILED {exc}")
    finally:
        await close_channels(opened)
        store.close()
    return ok


@main.command()
@click.option("--status", type=click.Choice([s.value for s in Status]), help="Only this status.")
@click.option("--team", help="Only this team's threads.")
@click.option("--agent", help="Only threads assigned to this agent.")
@click.option("--limit", type=COUNT, default=None, help="At most this many (newest first).")
@json_option
@click.pass_obj
@domain_errors
def threads(obj: Context, status: str | None, team: str | None, agent: str | None,
            limit: int | None, as_json: bool) -> None:
    """List threads, newest activity first.

    \b
    Example:
      inbox threads --status open --team admissions --json
    """
    found = obj.read_store.threads(status=status, team=team, agent=agent, limit=limit)
    if as_json:
        emit_json([views.thread_json(t) for t in found])
        return
    click.echo(views.table(
        ["ID", "STATUS", "CHANNEL", "LANG", "SEGMENT", "TEAM", "AGENT", "MSGS", "LAST", "SUBJECT"],
        [[f"#{t.id}", t.status.value, t.channel, t.language, t.segment, t.team, t.agent,
          t.messages, views.short_time(t.last_message_at), t.subject] for t in found],
    ) if found else "no threads")


@main.command()
@click.argument("thread_id", type=ID)
@json_option
@click.pass_obj
@domain_errors
def show(obj: Context, thread_id: int, as_json: bool) -> None:
    """Show one thread with all its messages.

    \b
    Example:
      inbox show 12
    """
    thread = obj.read_store.thread(thread_id)
    messages = obj.read_store.messages(thread_id)
    if as_json:
        emit_json(views.thread_json(thread, messages))
        return
    click.echo(views.thread_text(thread, messages))


def _read_text(message: str | None) -> str:
    if message is not None:
        return message
    if sys.stdin.isatty():
        raise click.ClickException("give the text with -m TEXT or on standard input")
    return sys.stdin.read()


@main.command()
@click.argument("thread_id", type=ID)
@click.option("--as", "agent", required=True, help="The agent answering (an id from inbox.toml).")
@click.option("-m", "--message", help="The answer; read from standard input when omitted.")
@click.pass_obj
@domain_errors
def reply(obj: Context, thread_id: int, agent: str, message: str | None) -> None:
    """Answer a thread as an agent; it is sent over the thread's channel.

    \b
    Example:
      inbox reply 12 --as aigerim -m "Здравствуйте! Ссылка на оплату: ..."
      echo "Thanks, fixed." | inbox reply 12 --as boris
    """
    done = obj.actions.reply(thread_id, agent, _read_text(message))
    if done.collided_with:
        click.echo(f"note: {done.collided_with} also answered #{thread_id} a moment ago;"
                   " yours goes out too", err=True)
    click.echo(f"reply to #{thread_id} queued (outbox {done.outbox_id}); the daemon delivers it")


@main.command()
@click.argument("thread_id", type=ID)
@click.option("--as", "agent", required=True, help="The agent writing the note.")
@click.option("-m", "--message", help="The note; read from standard input when omitted.")
@click.pass_obj
@domain_errors
def note(obj: Context, thread_id: int, agent: str, message: str | None) -> None:
    """Add an internal note (never sent to the customer).

    \b
    Example:
      inbox note 12 --as boris -m "Called the parent, waiting for the receipt"
    """
    obj.actions.note(thread_id, agent, _read_text(message))
    click.echo(f"note added to #{thread_id}")


@main.command()
@click.argument("thread_id", type=ID)
@click.argument("agent")
@click.pass_obj
@domain_errors
def assign(obj: Context, thread_id: int, agent: str) -> None:
    """Assign a thread to an agent.

    \b
    Example:
      inbox assign 12 aigerim
    """
    already = obj.store.thread(thread_id).agent == agent
    obj.actions.assign(thread_id, agent)
    click.echo(f"#{thread_id} {'is already ' if already else ''}assigned to {agent}")


def _status_command(name: str, status: Status, help_text: str) -> None:
    @main.command(name=name, help=help_text)
    @click.argument("thread_id", type=ID)
    @click.pass_obj
    @domain_errors
    def command(obj: Context, thread_id: int) -> None:
        obj.actions.set_status(thread_id, status)
        click.echo(f"#{thread_id} is {status.value}")


_status_command("close", Status.CLOSED,
                "Close a thread.\n\n\b\nExample:\n  inbox close 12")
_status_command("reopen", Status.OPEN,
                "Reopen a closed or pending thread.\n\n\b\nExample:\n  inbox reopen 12")
_status_command("pending", Status.PENDING,
                "Mark a thread as waiting for the customer (SLA clocks pause).\n\n\b\n"
                "Example:\n  inbox pending 12")


@main.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", type=COUNT, default=50, show_default=True)
@json_option
@click.pass_obj
@domain_errors
def search(obj: Context, query: Sequence[str], limit: int, as_json: bool) -> None:
    """Full-text search over all messages.

    \b
    Example:
      inbox search оплата сертификат
    """
    found = obj.read_store.search(" ".join(query), limit)
    if as_json:
        emit_json([{"thread": views.thread_json(t), "message": views.message_json(m)}
                   for m, t in found])
        return
    click.echo(views.table(
        ["THREAD", "MSG", "DIR", "WHEN", "SUBJECT", "TEXT"],
        [[f"#{t.id}", m.id, m.direction.value, views.short_time(m.created_at),
          views.snippet(t.subject, 40), views.snippet(m.text)] for m, t in found],
    ) if found else "nothing found")


def command_names() -> Iterable[str]:
    """Every command path, for the test that keeps the README in step."""
    context = click.Context(main)

    def walk(group: click.Group, prefix: str) -> Iterable[str]:
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            yield f"{prefix}{name}"
            if isinstance(command, click.Group):
                yield from walk(command, f"{prefix}{name} ")
    return list(walk(main, ""))
