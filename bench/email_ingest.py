"""Benchmark: ingest the shared support mailbox from a local Dovecot with ``inbox run --once``.

    .venv/bin/python bench/email_ingest.py [--n 5000] [--seed 42] [--output FILE]
    .venv/bin/python bench/email_ingest.py --profile /tmp/ingest.prof   # cProfile, in-process

Starts a private Dovecot (``tests.servers.dovecot.Dovecot``, mail on /dev/shm), fills INBOX
with ``../shared/bench/gen_mailbox.py`` (MULTIAPPEND, UIDs in generation order, INTERNALDATE
= Date) and keeps its ground-truth manifest, writes an inbox.toml for one ``[[email]]``
account (security = "none", 127.0.0.1) with a few routing rules and an SLA, then runs:

1. ``inbox run --once`` as a child process (bytecode compiled first, as ``pip install``
   does): wall time, CPU (user + sys) and peak RSS of that
   child alone (``os.wait4``, the per-child form of ``getrusage(RUSAGE_CHILDREN)``);
2. ``inbox run --once`` again (nothing new): the same figures, plus how much of it is
   Python start-up and imports (a child that only imports the daemon);
3. in this process: ``Daemon.run_once()`` once to log in, then repeatedly on the warm
   daemon: the daemon's own incremental work;

and checks the store against the manifest (threads, decoded text, attachments, raw bytes,
duplicates, backslashes). Prints a markdown table. With ``--profile`` step 1 runs in this
process under cProfile instead and the top functions are printed; nothing else is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import cProfile
import hashlib
import io
import json
import os
import platform
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from inbox.config import load_config  # noqa: E402
from inbox.daemon import Daemon, close_channels  # noqa: E402
from inbox.model import Direction, Flag  # noqa: E402
from inbox.store import Store  # noqa: E402
from tests.servers.dovecot import Dovecot  # noqa: E402

GENERATOR = REPO.parent / "shared" / "bench" / "gen_mailbox.py"
ACCOUNT = "support"
USER, PASSWORD = "helpdesk", "hdpass123"  # gen_mailbox.py's defaults
TARGETS = {"rate": 500, "cpu_ms": 1.0, "rss_mb": 100, "incremental_ms": 50}

INBOX_TOML = """\
[school]
name = "Benchmark School"
languages = ["ru", "en", "kk", "uk", "de"]
default_language = "ru"
timezone = "Europe/Moscow"

[store]
path = "{store}/inbox.db"

[[sla]]
name = "standard"
first_response = "4h"
resolution = "2d"
business_hours = true

[[email]]
name = "{account}"
address = "support@example.com"
from_name = "Support Desk"
host = "127.0.0.1"
port = {port}
security = "none"
username = "{user}"
password_file = "{secret}"
smtp_host = "127.0.0.1"
smtp_port = 2525
smtp_security = "none"
idle = false

[[agents]]
id = "boris"
name = "Boris"
languages = ["ru", "en"]

[[agents]]
id = "emma"
name = "Emma"
languages = ["en", "de"]

[[agents]]
id = "olga"
name = "Olga"
languages = ["ru", "uk", "kk"]

[[teams]]
name = "general"
members = ["boris", "olga"]
strategy = "least_open"

[[teams]]
name = "english"
members = ["emma", "boris"]
strategy = "round_robin"

[[teams]]
name = "billing"
members = ["olga", "boris"]
strategy = "round_robin"
"""

ROUTING_TOML = """\
default_team = "general"
default_sla = "standard"

[[segments]]
name = "parent"
keywords = { ru = ["мой сын", "моя дочь", "родител*"], en = ["my son", "my daughter", "parent*"] }

[[rules]]
name = "Billing"
[rules.when]
keywords = { ru = ["оплат*", "счет", "счёт", "возврат*"], en = ["payment*", "invoice*", "refund*"] }
[rules.then]
team = "billing"
priority = "high"

[[rules]]
name = "English speakers"
[rules.when]
language = "en"
[rules.then]
team = "english"
"""


@dataclass
class Run:
    """One child process: its wall time, CPU and peak RSS (``os.wait4`` of that child)."""

    wall: float
    cpu: float
    sys: float
    rss_mb: float
    code: int
    stderr: str = field(repr=False, default="")


def run_child(args: list[str], env: dict[str, str] | None = None) -> Run:
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    stderr = proc.stderr.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_stime, usage.ru_maxrss / 1024,
               proc.returncode, stderr)


def compile_bytecode() -> None:
    """Write the .pyc files ``pip install`` writes, so commands are timed as installed.

    An editable install (and PYTHONDONTWRITEBYTECODE, set on the build machine) would
    otherwise make every command compile the product's sources again: ~60 ms each.
    """
    for package in ("inbox", "connectors", "routing"):
        compileall.compile_dir(REPO / package, quiet=1)


def inbox_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "inbox", "--config", str(config), "--log-level", "warning",
            "run", "--once"]


# -- setting up ----------------------------------------------------------------------


def seed_mailbox(server: Dovecot, n: int, seed: int, manifest: Path) -> dict:
    """APPEND the generated mailbox; returns the generator's summary."""
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--n", str(n), "--seed", str(seed), "--manifest",
         str(manifest), "--host", server.host, "--port", str(server.port), "--user", USER,
         "--password", PASSWORD, "--clear"],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"gen_mailbox.py failed ({done.returncode}):\n{done.stderr}")
    summary = json.loads(done.stderr.strip().splitlines()[-1])
    if summary["folder_exists_after"] != n:
        raise SystemExit(f"INBOX holds {summary['folder_exists_after']} messages, not {n}")
    return summary


def write_config(work: Path, store_dir: Path, server: Dovecot) -> Path:
    secret = work / "imap-password"
    secret.write_text(PASSWORD, encoding="utf-8")
    config = work / "inbox.toml"
    config.write_text(INBOX_TOML.format(store=store_dir, account=ACCOUNT, port=server.port,
                                        user=USER, secret=secret), encoding="utf-8")
    (work / "routing.toml").write_text(ROUTING_TOML, encoding="utf-8")
    return config


def read_manifest(path: Path) -> tuple[dict, list[dict]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return json.loads(lines[0])["summary"], [json.loads(line) for line in lines[1:]]


# -- in-process measurements -----------------------------------------------------------


async def warm_incremental(config_path: Path, repeats: int) -> tuple[float, list[float],
                                                                   list[float]]:
    """Seconds of the first run_once (log in, select), of each later one on the warm daemon,
    and of its timers alone (``Daemon.run_timers``: SLA clocks, surveys), timed apart."""
    daemon = Daemon(load_config(config_path))
    try:
        started = time.perf_counter()
        await daemon.run_once()
        first = time.perf_counter() - started
        times, timers = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            await daemon.run_once()
            times.append(time.perf_counter() - started)
            started = time.perf_counter()
            daemon.run_timers()
            timers.append(time.perf_counter() - started)
        return first, times, timers
    finally:
        await close_channels(daemon.channels)
        daemon.store.close()


def profile_ingest(config_path: Path, output: Path) -> str:
    """The cold ingest in this process under cProfile, the IMAP worker thread included."""
    main_profile, worker_profile = cProfile.Profile(), cProfile.Profile()

    async def ingest() -> None:
        daemon = Daemon(load_config(config_path))
        for channel in daemon.channels.values():  # fetch runs in a worker thread
            fetch = channel.mailbox.fetch
            channel.mailbox.fetch = lambda wait=0, fetch=fetch: worker_profile.runcall(fetch, wait)
        try:
            await daemon.run_once()
        finally:
            await close_channels(daemon.channels)
            daemon.store.close()

    started = time.perf_counter()
    main_profile.runcall(asyncio.run, ingest())
    wall = time.perf_counter() - started
    text = io.StringIO()
    stats = pstats.Stats(main_profile, stream=text)
    stats.add(worker_profile)
    stats.dump_stats(output)
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(60)
    stats.print_callees(r"pipeline.py:\d+\((_file|_route)\)|imap.py:\d+\(_fetch_folder\)")
    return f"profiled wall time {wall:.2f} s (cProfile slows Python ~2x)\n{text.getvalue()}"


# -- correctness -----------------------------------------------------------------------


def words(text: str) -> str:
    return " ".join(text.split())


@dataclass
class Line:
    """One correctness line: how many of how many were right."""

    name: str
    ok: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, passed: bool, what: str) -> None:
        self.total += 1
        if passed:
            self.ok += 1
        elif len(self.failures) < 5:
            self.failures.append(what)

    @property
    def percent(self) -> str:
        return f"{100 * self.ok / self.total:.1f} %" if self.total else "n/a"


def check_store(store: Store, metas: list[dict]) -> list[Line]:
    """Compare what the store holds with the generator's manifest."""
    by_external: dict[str, list] = defaultdict(list)
    threads = store.threads()
    language = {}
    for thread in threads:
        language[thread.id] = thread.language
        for message in store.messages(thread.id):
            if message.direction is Direction.IN:
                by_external[message.external_id].append(message)

    lines: dict[str, Line] = {}

    def line(name: str) -> Line:
        return lines.setdefault(name, Line(name))

    stored = sum(len(found) for found in by_external.values())
    line("messages stored, once each").check(
        stored == len(metas) and all(len(by_external[m["message_id"].strip("<>")]) == 1
                                     for m in metas),
        f"{stored} stored for {len(metas)} in the mailbox")
    line("messages stored, once each").total = len(metas)
    line("messages stored, once each").ok = sum(
        len(by_external[m["message_id"].strip("<>")]) == 1 for m in metas)

    thread_of: dict[str, int] = {}
    for meta in metas:
        found = by_external[meta["message_id"].strip("<>")]
        if found:
            thread_of[meta["message_id"]] = found[0].thread_id
    # Threads: each reply in its root's thread; each root in a thread of its own.
    root_threads = Counter(thread_of.get(m["message_id"]) for m in metas
                           if m["reply_kind"] == "root")
    by_id = {m["message_id"]: m for m in metas}

    def below_subject_only(meta: dict) -> bool:
        """Whether a subject-only reply sits between this message and its root."""
        parent = by_id.get(meta["parent"])
        while parent is not None and parent["reply_kind"] != "root":
            if parent["reply_kind"] == "subject_only":
                return True
            parent = by_id.get(parent["parent"])
        return False

    for meta in metas:
        kind = meta["reply_kind"]
        name = f"threads: {kind} replies in the root's thread"
        if kind in ("irt+refs", "refs_only") and below_subject_only(meta):
            name = f"threads: {kind} replies below a subject-only reply, in the root's thread"
        mine = thread_of.get(meta["message_id"])
        if kind == "root":
            line("threads: each root starts its own thread").check(
                mine is not None and root_threads[mine] == 1, meta["message_id"])
        else:
            line(name).check(
                mine is not None and mine == thread_of.get(meta["thread_root"]),
                f"#{meta['i']} {meta['message_id']}")
    expected_groups = len({m["thread_root"] for m in metas})
    line("threads: as many threads as the manifest has").check(
        len(threads) == expected_groups, f"{len(threads)} threads, manifest {expected_groups}")

    raw_line = line("raw bytes kept (sha256 of the stored RFC 5322 bytes)")
    for meta in metas:
        found = by_external[meta["message_id"].strip("<>")]
        if not found:
            for name in ("text", "backslash", "subject", "sender", "attachments"):
                line(name)  # keep the order stable
            continue
        message = found[0]
        raw = store.raw(message.id)
        raw_line.check(raw is not None and hashlib.sha256(raw).hexdigest() == meta["sha256"],
                       meta["message_id"])
        text = words(message.text)
        visible = words(message.visible_text or message.text)
        kind = f"{meta['charset']} {meta['cte']}"
        if meta["lang"] == "ru" and meta["charset"] in ("koi8-r", "windows-1251"):
            group = f"decoded text: {kind} bodies"
        elif meta["lang"] == "ru":
            group = "decoded text: ru utf-8 bodies"
        else:
            group = "decoded text: en bodies (utf-8 / us-ascii)"
        decoded = (all(words(s) in text for s in meta["expect_text"]) and "\ufffd" not in text
                   and Flag.UNDECODABLE not in message.flags)
        line(group).check(decoded, f"#{meta['i']} {kind} {meta['structure']}")
        line("visible reply: new text kept, quoted history cut").check(
            all(words(s) in visible for s in meta["expect_text"])
            and (meta["parent"] is None or "wrote:" not in visible and "пишет:" not in visible),
            f"#{meta['i']}")
        if meta["backslash_text"]:
            line("Windows paths: backslashes intact").check(
                all(words(p) in text for p in meta["backslash_text"]), f"#{meta['i']}")
        line("subject decoded").check(words(message.subject) == words(meta["subject"]),
                                      f"#{meta['i']} {message.subject!r}")
        line("sender name and address decoded").check(
            message.sender == f"{meta['from_name']} <{meta['from_addr']}>",
            f"#{meta['i']} {message.sender!r}")
        if meta["reply_kind"] == "root":
            line("thread language = message language").check(
                language.get(message.thread_id) == meta["lang"],
                f"#{meta['i']} {meta['lang']} -> {language.get(message.thread_id)}")
        stored_atts = {a.sha256: a for a in message.attachments}
        for want in meta["attachments"]:
            got = stored_atts.get(want["sha256"])
            on_disk = store.attachment_data(got) if got else None
            exact = on_disk is not None and hashlib.sha256(on_disk).hexdigest() == want["sha256"]
            line("attachments kept byte-exact (sha256 of the stored file)").check(
                exact, f"#{meta['i']} {want['filename']}")
            if want["ext"] in ("txt", "log", "csv"):
                line("text attachments (.txt .log .csv) kept as attachments").check(
                    exact, f"#{meta['i']} {want['filename']}")
            line("attachment file names decoded").check(
                got is not None and got.filename == want["filename"],
                f"#{meta['i']} {want['filename']!r} -> {got.filename if got else None!r}")
        line("no extra attachments").check(
            len(message.attachments) == len(meta["attachments"]), f"#{meta['i']}")
    return list(lines.values())


# -- report ------------------------------------------------------------------------------


def report(n: int, summary: dict, cold: Run, again: Run, startup: Run,
           first_in_process: float, warm: list[float], timers: list[float],
           lines: list[Line]) -> str:
    rate = n / cold.wall
    cpu_ms = 1000 * cold.cpu / n
    warm_ms = 1000 * statistics.median(warm)
    timers_ms = 1000 * statistics.median(timers)
    fetch_ms = warm_ms - timers_ms

    def mark(ok: bool) -> str:
        return "✅" if ok else "❌"

    rows = [
        ("messages / second, end to end (`inbox run --once`, wall)", f"{rate:,.0f}",
         f"≥ {TARGETS['rate']} (aim 1,000)", mark(rate >= TARGETS["rate"])),
        ("CPU per message (user + sys of the child / N)", f"{cpu_ms:.2f} ms",
         f"< {TARGETS['cpu_ms']:g} ms", mark(cpu_ms < TARGETS["cpu_ms"])),
        ("peak RSS of the child", f"{cold.rss_mb:.0f} MB", f"< {TARGETS['rss_mb']} MB",
         mark(cold.rss_mb < TARGETS["rss_mb"])),
        ("incremental run, in-process `Daemon.run_once()` on the warm daemon (median of "
         f"{len(warm)})", f"{warm_ms:.1f} ms", f"< {TARGETS['incremental_ms']} ms",
         mark(warm_ms < TARGETS["incremental_ms"])),
        ("… of which the timers (`Daemon.run_timers()`: SLA clocks, surveys)",
         f"{timers_ms:.1f} ms", "", ""),
        ("… and the rest: IMAP SELECT/SEARCH of nothing new, outbox", f"{fetch_ms:.1f} ms",
         f"< {TARGETS['incremental_ms']} ms", mark(fetch_ms < TARGETS["incremental_ms"])),
        ("incremental run, in-process, first call (includes IMAP connect + login)",
         f"{1000 * first_in_process:.0f} ms", "", ""),
        ("incremental run, whole `inbox run --once` process (wall)",
         f"{1000 * again.wall:.0f} ms", "", ""),
        ("… of which Python start-up + imports (a child that only imports the daemon)",
         f"{1000 * startup.wall:.0f} ms", "", ""),
    ]
    out = [
        f"Mailbox: gen_mailbox.py seed {summary['seed']}, N = {n:,}, "
        f"{summary['bytes'] / 2**20:.1f} MiB, digest `{summary['mailbox_digest'][:16]}…`; "
        f"roots {summary['roots']}, replies {summary['replies']}, "
        f"attachments {summary['attachments']}.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared), Python "
        f"{platform.python_version()}, load {os.getloadavg()[0]:.2f}. Cold run: "
        f"{cold.wall:.2f} s wall, {cold.cpu:.2f} s CPU ({cold.sys:.2f} s of it in the kernel).",
        "",
        "| measure | result | target | |",
        "|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows),
        "",
        "| correctness | right | of | |",
        "|---|---|---|---|",
        *(f"| {line.name} | {line.ok:,} | {line.total:,} | {line.percent} |" for line in lines),
    ]
    misses = [line for line in lines if line.failures]
    if misses:
        out += ["", "First misses per line:", ""]
        out += [f"- {line.name}: {', '.join(line.failures)}" for line in misses]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--store-dir", type=Path,
                        help="where the SQLite store goes (default: a temp dir on disk)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="warm in-process incremental runs to take the median of")
    parser.add_argument("--output", type=Path, help="also write the markdown here")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="profile the cold ingest in-process, write pstats here, stop")
    parser.add_argument("--serve", action="store_true",
                        help="only seed the mailbox and write the config; print its path and"
                             " keep Dovecot up until stdin closes (for measuring by hand)")
    args = parser.parse_args(argv)

    # SIGTERM (e.g. ending a --serve run) must still stop Dovecot and delete its files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    server = Dovecot()
    work = Path(tempfile.mkdtemp(prefix="email-ingest-"))
    try:
        server.start()
        server.add_user(USER, PASSWORD)
        store_dir = args.store_dir or work / "state"
        store_dir.mkdir(parents=True, exist_ok=True)
        if any(store_dir.iterdir()):
            raise SystemExit(f"{store_dir} is not empty: the benchmark needs a fresh store")
        manifest = work / "manifest.jsonl"
        print(f"seeding {args.n} messages into Dovecot on port {server.port} ...",
              file=sys.stderr)
        summary = seed_mailbox(server, args.n, args.seed, manifest)
        config = write_config(work, store_dir, server)
        if args.profile:
            print(profile_ingest(config, args.profile))
            return 0
        if args.serve:
            print(config, flush=True)
            sys.stdin.read()
            return 0

        compile_bytecode()
        print("cold ingest: inbox run --once ...", file=sys.stderr)
        cold = run_child(inbox_command(config))
        if cold.code != 0:
            raise SystemExit(f"inbox run --once exited {cold.code}:\n{cold.stderr}")
        again = run_child(inbox_command(config))
        if again.code != 0:
            raise SystemExit(f"second inbox run --once exited {again.code}:\n{again.stderr}")
        startup = run_child([sys.executable, "-c", "import inbox.cli, inbox.daemon, "
                             "connectors.email, routing.language"])
        first, warm, timers = asyncio.run(warm_incremental(config, args.repeats))

        _, metas = read_manifest(manifest)
        store = Store(store_dir / "inbox.db")
        try:
            lines = check_store(store, metas)
        finally:
            store.close()
        text = report(args.n, summary, cold, again, startup, first, warm, timers, lines)
        print(text)
        if args.output:  # the table only; the file adds the commands and comparison by hand
            args.output.write_text(text, encoding="utf-8")
        return 0 if all(line.ok == line.total for line in lines) else 1
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
