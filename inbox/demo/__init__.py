"""``inbox demo``: the product working with no server and no account.

It writes a demo configuration (a local Maildir channel, three agents, two
teams, a few rules) into a folder, drops the bundled sample mail (Russian,
English, Kazakh) into the Maildir and runs the real daemon on it, printing
where each new thread was routed. Left running, it keeps watching the Maildir,
so a user can drop their own ``.eml`` files in and see them routed.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import click

from inbox.config import load_config
from inbox.daemon import Daemon, close_channels
from inbox.pipeline import IngestReport
from inbox.store import Store

MARKER = ".school-inbox-demo"


def prepare(directory: Path) -> Path:
    """Create a fresh demo folder (replacing an earlier demo's) and return its inbox.toml."""
    directory = directory.resolve()
    if directory.exists():
        if not (directory / MARKER).exists():
            raise click.ClickException(
                f"{directory} exists and is not a demo folder; choose another with --dir")
        shutil.rmtree(directory)
    (directory / "Maildir" / "new").mkdir(parents=True)
    (directory / MARKER).write_text("created by `inbox demo`; safe to delete\n")
    bundled = resources.files(__package__)
    for name in ("inbox.toml", "routing.toml"):
        text = bundled.joinpath(name).read_text(encoding="utf-8")
        (directory / name).write_text(text.replace("{demo}", str(directory)), encoding="utf-8")
    samples = sorted(p.name for p in bundled.iterdir() if p.name.endswith(".eml"))
    for number, name in enumerate(samples):
        target = directory / "Maildir" / "new" / f"1700000000.demo{number:02d}.localhost"
        target.write_bytes(bundled.joinpath(name).read_bytes())
    return directory / "inbox.toml"


def describe(store: Store, thread_ids: list[int]) -> list[str]:
    lines = []
    for thread_id in thread_ids:
        t = store.thread(thread_id)
        who = f"agent {t.agent}" if t.agent else "queue"
        rule = store.routing_record(thread_id).get("decision", {}).get("rule") or "default team"
        flags = f"  [{', '.join(t.flags)}]" if t.flags else ""
        lines.append(f"  #{t.id:<3} {t.language or '?':<3} {t.segment or '-':<10}"
                     f" → {t.team or '-'} / {who:<14} ({rule})  {t.contact}: {t.subject}{flags}")
    return lines


async def run_demo(directory: Path, once: bool) -> int:
    config_file = prepare(directory)
    config = load_config(config_file)
    daemon = Daemon(config)
    maildir = config.channels[0].settings.path

    def show(channel: str, report: IngestReport) -> None:
        if report.new_threads:
            click.echo(f"{channel}: {report.stored} message(s), new threads:")
            click.echo("\n".join(describe(daemon.store, report.new_threads)))
        elif report.stored:
            click.echo(f"{channel}: {report.stored} message(s) added to existing threads")

    daemon.on_ingest.append(show)
    click.echo(f"demo folder: {config_file.parent}")
    click.echo(f"config: {config_file}  (try: inbox --config {config_file} threads)")
    if once:
        try:
            await daemon.run_once()
        finally:
            await close_channels(daemon.channels)
        click.echo(f"\n{len(daemon.store.threads())} threads stored in {config.store.path}")
        daemon.store.close()
        return 0
    click.echo(f"watching {maildir / 'new'}: drop .eml files there; Ctrl-C stops\n")
    await daemon.run()
    return 0

