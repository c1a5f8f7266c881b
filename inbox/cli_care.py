"""Operations commands: ``status`` for monitoring, and data care (backup, restore, purge,
export-contact, forget-contact, reparse). Thin: parse, call inbox.health/inbox.care, print."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from inbox.care import CareError, backup, export_contact, reparse, restore
from inbox.cli import CONTACT_ID, ID, Context, Cutoff, Span, domain_errors, emit_json, json_option
from inbox.health import Thresholds, check_health, health_json, health_text
from inbox.spans import MIN_AGE_DAYS
from inbox.store import iso, now_utc


def care_errors(function: Callable) -> Callable:
    """CareError becomes ``Error: …`` (exit 1), like the product's other domain errors."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except CareError as exc:
            raise click.ClickException(str(exc)) from None
    return wrapper


@click.command()
@click.option("--failing-for", type=Span(), default="15m", show_default=True,
              help="Unhealthy when a channel has failed for longer than this.")
@click.option("--stale-after", type=Span(), default="15m", show_default=True,
              help="Unhealthy when a channel had no successful poll for this long.")
@click.option("--outbox-age", type=Span(), default="1h", show_default=True,
              help="Unhealthy when an undelivered outbox entry is older than this.")
@click.option("--max-failed", type=click.IntRange(min=0), default=None,
              help="Unhealthy when more deliveries failed for good in the last 24 h.")
@click.option("--max-breaches", type=click.IntRange(min=0), default=None,
              help="Unhealthy when more open threads are past an SLA deadline.")
@click.option("--min-free-mb", type=click.IntRange(min=0), default=100, show_default=True,
              help="Unhealthy when the store's disk has less free space than this.")
@json_option
@click.pass_obj
@domain_errors
def status(obj: Context, failing_for: timedelta, stale_after: timedelta,
           outbox_age: timedelta, max_failed: int | None, max_breaches: int | None,
           min_free_mb: int, as_json: bool) -> None:
    """Health of every channel, the outbox and SLAs; exit 1 when unhealthy.

    Unhealthy means any of: a channel failing for longer than --failing-for; a
    channel never polled, or without a successful poll for --stale-after (the
    daemon is down or stuck); an outbox entry undelivered for longer than
    --outbox-age; more than --max-failed deliveries failed in the last 24 h or
    more than --max-breaches threads past an SLA deadline (only when given); less than
    --min-free-mb free on the disk of the store or its attachments.

    \b
    Example:
      inbox status --json
      inbox status --outbox-age 30m || mail -s "school-inbox" admin@school.example
    """
    limits = Thresholds(failing_for, stale_after, outbox_age, max_failed, max_breaches,
                        min_free_mb)
    health = check_health(obj.config, obj.report_store, now_utc(), limits)
    if as_json:
        emit_json(health_json(health))
    else:
        click.echo(health_text(health))
    if not health.healthy:
        sys.exit(1)


@click.command(name="backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
@domain_errors
@care_errors
def backup_command(obj: Context, path: Path) -> None:
    """Back up the store and its attachments into one .tar.gz (safe while the daemon runs).

    A store with a damaged page makes no archive (exit 1): the last good ones stay.

    \b
    Example:
      inbox backup /var/backups/school-inbox/$(date +%F).tar.gz
    """
    manifest = backup(obj.kept_store, path)
    counts = manifest.counts
    click.echo(f"{path}: {counts['threads']} threads, {counts['messages']} messages,"
               f" {manifest.files} attachment files (schema {manifest.schema_version})")
    if manifest.missing:
        click.echo(f"warning: {len(manifest.missing)} attachment files were already missing",
                   err=True)


@click.command(name="restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a store that is not empty.")
@click.pass_obj
@domain_errors
@care_errors
def restore_command(obj: Context, archive: Path, force: bool) -> None:
    """Restore a backup into the configured store location, verifying every file first.

    Stop the daemon first (a running one holds the store, and restore is refused). A
    store that holds anything is only replaced with --force.

    \b
    Example:
      systemctl stop school-inbox
      inbox restore /var/backups/school-inbox/2026-11-20.tar.gz --force
    """
    manifest = restore(archive, obj.config.store, force=force)
    click.echo(f"restored {obj.config.store.path} from {archive} (made {manifest.created_at}):"
               f" {manifest.counts['threads']} threads, {manifest.counts['messages']} messages,"
               f" {manifest.files} attachment files")
    click.echo(f"What came after {manifest.created_at} is not in it: IMAP mail is fetched again"
               " when the daemon starts (not mail moved out of a watched folder, nor a"
               " Maildir's), and agents' answers by mail with it: those to threads the backup"
               " has go out again, those to newer threads are refused (such threads come back"
               " under new numbers); Telegram messages and the agents' other replies, notes"
               " and changes since then are gone.")


@click.command()
@click.option("--older-than", type=Cutoff(min_days=MIN_AGE_DAYS), default=None,
              help='Closed before this: an age ("2y", "180d", "8w") or a date (2024-09-01),'
                   " at least a day ago. Default: [retention] closed_after.")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.pass_obj
@domain_errors
def purge(obj: Context, older_than: datetime | None, dry_run: bool) -> None:
    """Delete closed threads (messages, raw forms, events, files) closed before a cutoff.

    A thread with a message after the cutoff (an agent may answer a closed thread), or an
    agent's answer still waiting to be sent, is kept. Attachment files still used by
    another message stay. Contacts stay (use forget-contact for a person).

    \b
    Example:
      inbox purge --older-than 2y --dry-run
      inbox purge --older-than 2023-09-01
    """
    if older_than is None:
        retention = obj.config.retention
        if retention.closed_after is None:
            raise click.UsageError(
                'give --older-than (e.g. "2y") or set closed_after in [retention]')
        older_than = now_utc().replace(microsecond=0) - retention.closed_after
    thread_ids = obj.store.closed_threads_before(older_than)
    removed = obj.store.delete_threads(thread_ids, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {_counts(removed.counts(), skip=('contacts',))}"
               f" (threads closed before {iso(older_than)})")


@click.command(name="export-contact")
@click.argument("contact_id", type=CONTACT_ID)
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="A new folder, or a file ending .zip (default: contact-ID.zip).")
@click.pass_obj
@domain_errors
@care_errors
def export_contact_command(obj: Context, contact_id: int, output: Path | None) -> None:
    """Export everything stored about one person: JSON, raw messages and files.

    \b
    Example:
      inbox export-contact 42 -o contact-42.zip
    """
    output = output or Path(f"contact-{contact_id}.zip")
    counts = export_contact(obj.kept_store, contact_id, output)
    click.echo(f"{output}: {_counts(counts)}")


@click.command(name="forget-contact")
@click.argument("contact_id", type=CONTACT_ID)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
@domain_errors
def forget_contact(obj: Context, contact_id: int, yes: bool) -> None:
    """Delete a person and everything about them: threads, messages, raw forms, files,
    events and outbox entries. Cannot be undone (except from a backup).

    \b
    Example:
      inbox forget-contact 42 --yes
    """
    contact = obj.store.contact(contact_id)
    if not yes:
        planned = obj.store.delete_contact(contact_id, dry_run=True)
        if not sys.stdin.isatty():
            raise click.ClickException(
                f"this deletes {contact.name!r} and {_counts(planned.counts())}; add --yes")
        click.confirm(f"Delete {contact.name!r} and {_counts(planned.counts())}?", abort=True)
    removed = obj.store.delete_contact(contact_id)
    click.echo(f"forgot contact {contact_id}: removed {_counts(removed.counts())}")


@click.command(name="reparse")
@click.argument("thread_ids", nargs=-1, type=ID)
@click.option("--since", type=Cutoff(), default=None,
              help='Only messages received since: an age ("30d") or a date (2026-09-01).')
@click.pass_obj
@domain_errors
def reparse_command(obj: Context, thread_ids: Sequence[int], since: datetime | None) -> None:
    """Re-normalise stored raw messages with this version's parsers (after an upgrade).

    Text, quotes, flags and attachment details are recomputed; ids, threads and
    routing do not change.

    \b
    Example:
      inbox reparse --since 30d
      inbox reparse 12 31
    """
    for thread_id in thread_ids:
        obj.store.thread(thread_id)  # an unknown thread is an error (exit 1), not "0 examined"
    report = reparse(obj.store, obj.config, since=since, thread_ids=thread_ids)
    skipped = "".join(f", {n} skipped ({why})" for why, n in report.skipped.items())
    click.echo(f"{report.examined} messages examined, {report.changed} changed{skipped}")


def _counts(counts: dict[str, int], skip: Sequence[str] = ()) -> str:
    return ", ".join(f"{value} {name}" for name, value in counts.items() if name not in skip)
