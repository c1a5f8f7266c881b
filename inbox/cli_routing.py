"""The admin's routing tools: ``route --explain``, ``rules test`` and ``contacts import``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from inbox.cli import ID, Context, Span, domain_errors, emit_json, json_option
from inbox.config import load_routing
from inbox.model import Identity
from inbox.replay import explain_lines, replay, routing_record, summary
from inbox.store import now_utc
from routing.directory import decode_export, parse_contacts_csv


@click.command()
@click.argument("thread_id", type=ID)
@click.option("--explain", is_flag=True, required=True,
              help="Show the language evidence, segment evidence, every rule tried, assignment.")
@json_option
@click.pass_obj
@domain_errors
def route(obj: Context, thread_id: int, explain: bool, as_json: bool) -> None:
    """Why a thread went where it went.

    \b
    Example:
      inbox route --explain 12
    """
    store = obj.kept_store  # the record of what was decided: the rules now do not matter
    if as_json:
        store.thread(thread_id)  # a clear error for an unknown id
        emit_json(routing_record(store, thread_id))
        return
    click.echo("\n".join(explain_lines(store, thread_id)))


@click.group()
def rules() -> None:
    """Work with routing.toml before deploying it.

    \b
    Example:
      inbox rules test --rules /tmp/routing.new.toml --since 30d
    """


@rules.command("test")
@click.option("--rules", "rules_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A routing file to try (default: the configured routing.toml).")
@click.option("--since", type=Span("hdw"), default="30d", show_default=True,
              help="Replay threads created in this period (e.g. 7d, 12h, 2w).")
@json_option
@click.pass_obj
@domain_errors
def rules_test(obj: Context, rules_file: Path | None, since: timedelta,
               as_json: bool) -> None:
    """Replay routing rules over stored threads and show what would change.

    The detected language is kept; segments and rules are evaluated again with
    the contact's current directory data. Nothing is changed in the store.

    \b
    Example:
      inbox rules test --rules routing.new.toml --since 30d
    """
    routing = load_routing(obj.config, rules_file)
    threads = obj.store.threads(since=now_utc() - since)
    changes = replay(obj.store, obj.config, routing, since=now_utc() - since)
    if as_json:
        emit_json({"threads": len(threads), "changes": [
            {"thread": c.thread.id, "subject": c.thread.subject, "fields": c.fields,
             "before": c.before, "after": c.after} for c in changes]})
        return
    for change in changes:
        click.echo(change.describe())
    click.echo(summary(changes, len(threads)))


@click.group()
def contacts() -> None:
    """The contact directory (roster) that segments are read from.

    \b
    Example:
      inbox contacts import moodle-users.csv
    """


@contacts.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.pass_obj
@domain_errors
def contacts_import(obj: Context, csv_file: Path) -> None:
    """Load a roster CSV (Moodle user export, LMS or CRM) into the directory.

    Columns are recognised by their headers (email, username/Telegram, name,
    cohort/group/class, role); routing.toml's [directory] table says which
    columns give the segment and tags.

    \b
    Example:
      inbox contacts import moodle-users.csv
    """
    entries, problems = parse_contacts_csv(decode_export(csv_file.read_bytes()),
                                           obj.config.routing.directory)
    created = updated = 0
    store = obj.open_store(create=True)  # a roster may come before the daemon's first run
    for entry in entries:
        identities = []
        if entry.email:
            identities.append(Identity("email", entry.email.lower()))
        if entry.telegram:
            kind = "telegram" if entry.telegram.isdigit() else "telegram-username"
            identities.append(Identity(kind, entry.telegram.lower()))
        _, new = store.import_contact(identities, name=entry.name, segment=entry.segment,
                                      tags=entry.tags, language=entry.language)
        created += new
        updated += not new
    for problem in problems:
        click.echo(f"{csv_file.name}: {problem}", err=True)
    if not entries and problems:  # a wrong file or export format: not a success to a script
        raise click.ClickException(f"{csv_file.name}: nothing imported")
    click.echo(f"{created} contacts created, {updated} updated, {len(problems.rows)} rows"
               " skipped or doubtful")
