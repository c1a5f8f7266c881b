"""Data care: backup and restore, retention, a person's data exported or forgotten, reparse.

A school keeps students' and parents' messages for years and must be able to
prove it can restore them and delete them. The SQL lives in
:mod:`inbox.store.care`; this module owns the files around it (the backup
archive, an export folder) and the re-normalising of stored raw messages.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from inbox import running
from inbox.channel import Inbound
from inbox.config import Config
from inbox.config_file import StoreSettings
from inbox.sections import Section
from inbox.spans import AGE_UNITS, MIN_AGE_DAYS, parse_span
from inbox.store import Store, StoreDamaged, StoreError, iso, now_utc

BACKUP_FORMAT = "school-inbox-backup"
BACKUP_VERSION = 1
_ATTACHMENT_NAME = re.compile(r"attachments/([0-9a-f]{2})/([0-9a-f]{64})")


class CareError(Exception):
    """A data-care command cannot do what was asked; the text says why and what to do."""


# -- durations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionSettings:
    """The ``[retention]`` table: how long closed threads are kept."""

    closed_after: timedelta | None = None  # None: kept until an admin purges


def retention_settings(section: Section) -> RetentionSettings:
    """Read ``[retention]``: ``closed_after = "2y"`` (days/weeks/years; "" keeps forever)."""
    text = section.text("closed_after", "")
    closed_after = None
    if text:
        try:
            closed_after = parse_span(text, AGE_UNITS)
        except ValueError as exc:
            section.problem(f"closed_after {exc}")
        if closed_after is not None and closed_after < timedelta(days=MIN_AGE_DAYS):
            section.problem(f"closed_after {text!r} must be at least {MIN_AGE_DAYS}d")
            closed_after = None
    section.done()
    return RetentionSettings(closed_after)


# -- backup and restore ------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    created_at: str
    schema_version: int
    database_sha256: str
    counts: dict[str, int]
    files: int
    missing: tuple[str, ...] = ()  # attachment files referenced but absent when backed up

    def to_json(self) -> dict[str, Any]:
        return {"format": BACKUP_FORMAT, "version": BACKUP_VERSION,
                "created_at": self.created_at, "schema_version": self.schema_version,
                "database": {"name": "inbox.db", "sha256": self.database_sha256},
                "counts": self.counts, "attachments": {"files": self.files,
                                                       "missing": list(self.missing)}}

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        if not isinstance(data, dict) or data.get("format") != BACKUP_FORMAT:
            raise CareError("not a school-inbox backup (manifest.json has another format)")
        if data.get("version") != BACKUP_VERSION:
            raise CareError(f"backup format version {data.get('version')} is not supported"
                            f" (this program reads version {BACKUP_VERSION})")
        return cls(data["created_at"], data["schema_version"], data["database"]["sha256"],
                   data["counts"], data["attachments"]["files"],
                   tuple(data["attachments"]["missing"]))


def backup(store: Store, archive: Path) -> Manifest:
    """Write one ``.tar.gz``: manifest.json, inbox.db (online backup), attachments/.

    Safe while the daemon runs. Attachment files are content-addressed and never
    change, so copying those the snapshot refers to after it was taken is exact.
    The archive appears under its name only when complete, replacing any file there
    (a nightly job may reuse one name). Raises CareError naming ``archive`` as given
    when it cannot be written, never the scratch files made beside it. A folder that is
    not there is not made: a mistyped path, or a backup disk that is not mounted, must fail
    the nightly job rather than fill a new folder on another disk.
    """
    target = archive.resolve()
    try:
        return _write_backup(store, target)
    except OSError as exc:
        if not _about_archive(exc, target):
            raise  # an attachment that cannot be read names itself
        raise CareError(f"{archive}: cannot write the backup: {exc.strerror or exc}") from None
    except sqlite3.OperationalError as exc:  # the database's copy, made beside the archive
        raise CareError(f"{archive}: cannot write the backup: {exc}") from None
    except StoreDamaged as exc:
        raise CareError(
            f"{archive}: not written: the store {store.path} is damaged ({exc}); a backup of it"
            " would not restore. Keep the last good backup: docs/install.md, \"A damaged"
            " store\", says what to do") from None


_SCRATCH = ".inbox-backup-"  # the folder a backup is built in, beside the archive
_RESTORE_STAGE = ".inbox-restore-"  # where a restore unpacks, beside the store


_STALE_AFTER = 3600  # seconds: a live backup of another host's process looks dead from here


def _sweep(folder: Path, prefix: str) -> None:
    """Remove what a backup or restore killed half-way left (a full copy of the database,
    which would keep even a forgotten person's words): only folders named as we name them
    (prefix, pid, random part), ours, not links, whose process is gone and an hour old."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[a-z0-9_]{8}")
    try:
        leftovers = [(path, found) for path in folder.iterdir()
                     if (found := pattern.fullmatch(path.name))]
    except OSError:
        return
    for path, found in leftovers:
        try:
            info = path.lstat()
        except OSError:
            continue
        if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid()
                or time.time() - info.st_mtime < _STALE_AFTER or _running(int(found[1]))):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _about_archive(exc: OSError, archive: Path) -> bool:
    """Whether ``exc`` is about writing ``archive``: the archive, a folder above it, or
    the scratch folder beside it (or names no file, like a full disk)."""
    if exc.filename is None:
        return True
    path = Path(os.fsdecode(exc.filename))
    if archive.is_relative_to(path):
        return True
    return (path.is_relative_to(archive.parent)
            and path.relative_to(archive.parent).parts[0].startswith(_SCRATCH))


def _write_backup(store: Store, archive: Path) -> Manifest:
    _sweep(archive.parent, _SCRATCH)
    with tempfile.TemporaryDirectory(prefix=f"{_SCRATCH}{os.getpid()}-",
                                     dir=archive.parent) as scratch:
        snapshot = store.snapshot(Path(scratch) / "inbox.db")
        present = {sha for sha in snapshot.hashes if store.attachment_path(sha).is_file()}
        manifest = Manifest(
            created_at=iso(now_utc()) or "", schema_version=snapshot.schema_version,
            database_sha256=_sha256_file(snapshot.path), counts=snapshot.counts,
            files=len(present), missing=tuple(sorted(snapshot.hashes - present)))
        partial = Path(scratch) / "backup.tar.gz"  # removed with the scratch folder on failure
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            _add_bytes(tar, "manifest.json",
                       json.dumps(manifest.to_json(), indent=2).encode("utf-8"))
            tar.add(snapshot.path, "inbox.db")
            for sha in sorted(present):
                tar.add(store.attachment_path(sha), f"attachments/{sha[:2]}/{sha}")
        partial.chmod(0o600)  # it holds every message: readable by its owner only
        partial.replace(archive)
    return manifest


def restore(archive: Path, target: StoreSettings, *, force: bool = False) -> Manifest:
    """Unpack a backup into the configured store location after checking every byte.

    Refuses to overwrite a store that holds anything unless ``force``; the daemon
    must be stopped first. The database and each attachment are checked against
    the manifest (and SQLite's integrity check) before anything is replaced.
    """
    with running.holding(target.path, "inbox restore", "stop the daemon first"
                         " (systemctl stop school-inbox), then restore"):
        return _restore(archive, target, force)


def _numbers_given(path: Path) -> dict[str, int]:
    """The highest ids the store a restore replaces has given, so that the restored one gives
    none of them again (agents' notices name those tickets); {} when there is none to read
    (a new server, a damaged file): nothing more is known then."""
    if not path.is_file():
        return {}
    try:
        current = Store(path)
        try:
            return current.high_water()
        finally:
            current.close()
    except (StoreError, sqlite3.DatabaseError):
        return {}


def _restore(archive: Path, target: StoreSettings, force: bool) -> Manifest:
    _refuse_non_empty(target, force)
    stage = f"{_RESTORE_STAGE}{os.getpid()}-"
    for folder in {_parent(target.path), _parent(target.attachments)}:
        _sweep(folder, _RESTORE_STAGE)
    given = _numbers_given(target.path)
    db_stage = Path(tempfile.mkdtemp(prefix=stage, dir=_parent(target.path)))
    files_stage = Path(tempfile.mkdtemp(prefix=stage, dir=_parent(target.attachments)))
    try:
        manifest = _unpack(archive, db_stage / "inbox.db", files_stage / "attachments")
        try:
            staged = Store(db_stage / "inbox.db", files_stage / "attachments")  # migrates
            try:
                staged.index_missing()  # a backup made while an old daemon filed unindexed mail
                staged.retire_up_to(given)
                problems = staged.integrity_problems()
            finally:
                staged.close()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise  # the disk, not the backup: the command says so as for any write
            problems = [str(exc)]  # too damaged to be read
        if problems:
            raise CareError(f"{archive}: the database in the backup is damaged"
                            f" ({StoreDamaged(problems)}); nothing was replaced")
        for suffix in ("-wal", "-shm"):  # a stale WAL would be replayed into the restored file
            Path(f"{target.path}{suffix}").unlink(missing_ok=True)
        os.replace(db_stage / "inbox.db", target.path)
        old = target.attachments.with_name(target.attachments.name + ".replaced")
        shutil.rmtree(old, ignore_errors=True)
        if target.attachments.exists():
            target.attachments.rename(old)
        (files_stage / "attachments").rename(target.attachments)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(db_stage, ignore_errors=True)
        shutil.rmtree(files_stage, ignore_errors=True)
    return manifest


def _parent(path: Path) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path.parent


def _refuse_non_empty(target: StoreSettings, force: bool) -> None:
    if force:
        return
    files = target.attachments.is_dir() and any(target.attachments.iterdir())
    if target.path.exists():
        store = Store(target.path, target.attachments)
        try:
            empty = store.is_empty()
        finally:
            store.close()
        if not empty or files:
            raise CareError(f"refusing to overwrite {target.path}: the store is not empty"
                            " (stop the daemon, then use --force to replace it)")
    elif files:
        raise CareError(f"refusing to overwrite {target.attachments}: it holds files"
                        " (use --force to replace them)")


def _unpack(archive: Path, db_path: Path, attachments: Path) -> Manifest:
    """Extract only the names a backup has, verifying each; a hostile archive gets nowhere."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            manifest, db_sha, files = _extract(tar, archive, db_path, attachments)
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise CareError(f"{archive}: cannot be read as a backup: {exc}") from None
    if manifest is None or db_sha is None:
        raise CareError(f"{archive}: incomplete backup (manifest.json or inbox.db missing)")
    if db_sha != manifest.database_sha256:
        raise CareError(f"{archive}: inbox.db is damaged (checksum differs from the manifest)")
    if files != manifest.files:
        raise CareError(f"{archive}: {manifest.files} attachment files expected, {files} found")
    return manifest


def _extract(tar: tarfile.TarFile, archive: Path, db_path: Path,
             attachments: Path) -> tuple[Manifest | None, str | None, int]:
    manifest, db_sha, files = None, None, 0
    attachments.mkdir(mode=0o700, parents=True, exist_ok=True)  # mkdir's parents get the umask
    for member in tar:
        if not member.isfile():
            continue
        if member.name == "manifest.json":
            manifest = Manifest.from_json(json.loads(_member(tar, member).read()))
        elif member.name == "inbox.db":
            db_sha = _copy(_member(tar, member), db_path)
        elif match := _ATTACHMENT_NAME.fullmatch(member.name):
            sha = match.group(2)
            path = attachments / sha[:2] / sha
            path.parent.mkdir(mode=0o700, exist_ok=True)
            if _copy(_member(tar, member), path) != sha or match.group(1) != sha[:2]:
                raise CareError(f"{archive}: attachment {sha} is damaged (checksum differs)")
            files += 1
        else:
            raise CareError(f"{archive}: unexpected file {member.name!r} in the backup")
    return manifest, db_sha, files


def _member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    handle = tar.extractfile(member)
    if handle is None:
        raise CareError(f"cannot read {member.name!r} from the backup")
    return handle


def _copy(source: IO[bytes], target: Path) -> str:
    """Stream ``source`` into ``target``, readable by its owner only (children's personal
    data, whatever the umask of whoever restores); returns the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with source, open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        for chunk in iter(lambda: source.read(2**20), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- one person's data -------------------------------------------------------------------


def export_contact(store: Store, contact_id: int, output: Path) -> dict[str, int]:
    """Everything stored about one person into a folder, or a zip when ``output`` ends .zip.

    ``contact.json`` holds the rows (contact, identities, threads, messages,
    attachments, events, outbox, automatic answers); ``raw/`` each message as
    received; ``attachments/`` the files, named ``<id>-<filename>``.
    """
    record = store.contact_record(contact_id)
    thread_ids = [thread["id"] for thread in record["threads"]]
    with _sink(output) as write:
        write("contact.json", json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8"))
        raws = 0
        for message_id, kind, data in store.raw_of_messages(
                [message["id"] for message in record["messages"]]):
            write(f"raw/{message_id}.{'eml' if kind == 'rfc822' else 'json'}", data)
            raws += 1
        files = 0
        for row in record["attachments"]:
            path = store.attachment_path(row["sha256"]) if row["sha256"] else None
            if path is not None and path.is_file():
                write(f"attachments/{row['id']}-{_plain_name(row['filename'])}",
                      path.read_bytes())
                files += 1
    return {"threads": len(thread_ids), "messages": len(record["messages"]), "raw": raws,
            "attachments": files, "events": len(record["events"])}


def _plain_name(name: str) -> str:
    from connectors.filenames import safe_filename

    return safe_filename(name, 1, "application/octet-stream")


class _sink:  # noqa: N801 (used as a context manager, like open)
    """Write named files into a new folder or a zip archive."""

    def __init__(self, output: Path):
        self.output = output
        self.zip: zipfile.ZipFile | None = None

    def __enter__(self):
        if self.output.suffix.lower() == ".zip":
            if self.output.exists():
                raise CareError(f"{self.output} already exists; choose a new name")
            # Personal data: readable by its owner only, like a backup.
            self.output.touch(mode=0o600, exist_ok=False)
            self.zip = zipfile.ZipFile(self.output, "w", zipfile.ZIP_DEFLATED)
        elif self.output.exists() and any(self.output.iterdir()):
            raise CareError(f"{self.output} is not empty; choose a new folder")
        return self.write

    def write(self, name: str, data: bytes) -> None:
        if self.zip is not None:
            self.zip.writestr(name, data)
            return
        path = self.output / name
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(data)

    def __exit__(self, *exc: object) -> None:
        if self.zip is not None:
            self.zip.close()


# -- reparse -----------------------------------------------------------------------------


@dataclass
class ReparseReport:
    examined: int = 0
    changed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def reparse(store: Store, config: Config, *, since: datetime | None = None,
            thread_ids: Iterable[int] = ()) -> ReparseReport:
    """Run today's normalisers over stored raw messages; ids, threads and routing stay.

    Email is parsed again from its bytes (text, quotes, flags, attachments);
    Telegram updates from their JSON (text and flags; files stay as downloaded).
    A messenger message the customer edited keeps its edited text.
    """
    report = ReparseReport()
    after = 0
    ids = list(thread_ids)
    while batch := store.raw_messages(since=since, thread_ids=ids, after_id=after):
        for raw in batch:
            after = raw.id
            report.examined += 1
            if raw.edited:
                report.skip("edited by the customer")
                continue
            found = _normalise(raw.kind, raw.data, raw.account, config)
            if found is None:
                report.skip(f"raw kind {raw.kind!r} has no normaliser")
                continue
            inbound, attachments = found
            if store.renormalise_message(
                    raw.id, text=inbound.text, visible_text=inbound.visible, html=inbound.html,
                    flags=sorted(inbound.flags), meta=inbound.meta, attachments=attachments):
                report.changed += 1
    return report


def _normalise(kind: str, data: bytes, account: str,
               config: Config) -> tuple[Inbound, list | None] | None:
    settings = next((c.settings for c in config.channels if c.name == account), None)
    if kind == "rfc822":
        from connectors.mime import parse_email

        inbound = parse_email(
            data, account=account,
            max_attachment_bytes=getattr(settings, "max_attachment_bytes",
                                         config.store.max_attachment_bytes),
            own_addresses=(getattr(settings, "address", ""),
                           *getattr(settings, "own_addresses", ())),
            school_addresses=getattr(settings, "school_addresses", ()))
        return inbound, inbound.attachments
    if kind == "telegram":
        from telegram import Update

        from connectors.telegram_updates import normalise, unreadable

        try:
            found = normalise(Update.de_json(json.loads(data), None), data, account=account,
                              groups=True)
            inbound = found.inbound if found is not None else None
        except Exception:  # the same rule as at ingest: unreadable is kept, flagged
            inbound = unreadable(data, account)
        return (inbound, None) if inbound is not None else None
    return None
