"""Benchmark: `inbox threads`, `inbox search` and `inbox show` on a store of 1,000,000 messages.

    .venv/bin/python bench/store_scale.py [--messages 1000000] [--dir /dev/shm/inbox-scale]
                                          [--runs 50] [--cli-runs 10] [--editable]

Fills a store (once; reused when ``--dir`` already holds one of that size) through the
Store's own verbs — ensure_contact, create_thread, add_message — in transactions of
20,000 messages, so the search index and the indexes are the product's: 5 messages per
thread, 1 contact per 4 threads, texts drawn from a 20,000-word Zipf-like vocabulary
(Russian-looking and English words). Then measures p50/p95/max of:

- in-process (a warm Store, what the CLI command body does): ``threads`` (all, and
  ``--limit 50``, and ``--status open --limit 50``), ``search`` for a frequent, a middling
  and a rare word (limit 50), ``show`` of a random thread;
- the ``inbox`` command as a child process, from a copy installed the way README's
  install step does it (``pip install .`` into ``DIR/venv``, refreshed every run;
  ``--editable`` times this checkout's own venv instead, bytecode compiled first), whose
  wall time includes the interpreter's start and imports (measured separately with
  ``--version``), the commands taking turns round by round, and that venv's
  ``python -c pass`` among them as the machine's own noise floor.

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.email_ingest import compile_bytecode  # noqa: E402
from inbox.model import Direction, Identity, Status  # noqa: E402
from inbox.store import Store  # noqa: E402

PER_THREAD, THREADS_PER_CONTACT, BATCH = 5, 4, 20_000
SYLLABLES = ["ка", "ро", "ми", "на", "то", "ле", "ст", "ва", "ри", "до", "по", "ше", "ну",
             "ба", "ги", "ze", "ta", "lo", "mi", "ra", "en", "sh", "ol", "ar"]

INBOX_TOML = """\
[school]
name = "Scale School"
languages = ["ru", "en"]
default_language = "ru"

[store]
path = "{db}"

[[agents]]
id = "boris"
name = "Boris"

[[teams]]
name = "support"
members = ["boris"]
"""


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def fill(store: Store, messages: int, rng: random.Random) -> list[str]:
    words = vocabulary(rng)
    # Zipf: a few words everywhere, most rare; cumulative once (choices() is O(n) otherwise)
    cumulative = list(accumulate(1 / (rank + 1) for rank in range(len(words))))
    start = datetime(2024, 1, 1, tzinfo=UTC)
    threads = messages // PER_THREAD
    contact_id = 0
    began = time.perf_counter()
    for first in range(0, threads, BATCH // PER_THREAD):
        with store.transaction():
            for n in range(first, min(first + BATCH // PER_THREAD, threads)):
                if n % THREADS_PER_CONTACT == 0:
                    contact_id = store.ensure_contact(
                        Identity("email", f"parent{n}@mail.example", f"Родитель {n}")).id
                when = start + timedelta(minutes=n)
                thread_id = store.create_thread(
                    channel="email", account="school", contact_id=contact_id,
                    subject=" ".join(rng.choices(words, cum_weights=cumulative, k=4)),
                    created_at=when)
                if n % 3:
                    store.update_thread(thread_id, status=Status.CLOSED)
                for m in range(PER_THREAD):
                    text = " ".join(rng.choices(words, cum_weights=cumulative,
                                                k=rng.randint(20, 80)))
                    store.add_message(
                        thread_id=thread_id, direction=Direction.IN if m % 2 == 0 else
                        Direction.OUT, channel="email", account="school", text=text,
                        external_id=f"{n}.{m}@mail.example", sender=f"parent{n}@mail.example",
                        created_at=when + timedelta(minutes=m))
        done = min(first + BATCH // PER_THREAD, threads) * PER_THREAD
        rate = done / (time.perf_counter() - began)
        print(f"  {done:>9,} messages ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    return words


def timed(function: Callable[[], object], runs: int) -> list[float]:
    function()  # warm the page cache and statement cache once
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        function()
        times.append((time.perf_counter() - began) * 1000)
    return times


def row(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)]
    return (f"| {name} | {statistics.median(ordered):.1f} | {p95:.1f} | {ordered[-1]:.1f} |"
            f" {len(ordered)} |")


def installed_copy(directory: Path) -> Path:
    """The product as README's install step leaves it, ``pip install .`` into its own venv.

    A development checkout's editable install adds a path hook that imports pathlib, re
    and urllib.parse at every start; an admin's install has none. The checkout is
    reinstalled on every run, so the figures are its code. Returns the venv's ``bin``.
    """
    venv = directory / "venv"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([*pip, str(REPO)], check=True)
    else:
        subprocess.run([*pip, "--no-deps", "--force-reinstall", str(REPO)], check=True)
    return venv / "bin"


def cli(bin_dir: Path, config: Path, *args: str) -> Callable[[], object]:
    """The ``inbox`` command, as an agent or a script runs it."""
    command = [str(bin_dir / "inbox"), "--config", str(config), *args]
    return lambda: subprocess.run(command, check=True, capture_output=True, cwd=REPO)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm/inbox-scale"))
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--cli-runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--editable", action="store_true",
                        help="time this checkout's own venv (editable install) instead of an"
                             " installed copy")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    args.dir.mkdir(parents=True, exist_ok=True)
    db = args.dir / "inbox.db"
    config = args.dir / "inbox.toml"
    config.write_text(INBOX_TOML.replace("{db}", str(db)))
    (args.dir / "routing.toml").write_text('default_team = "support"\n')
    store = Store(db)
    have = store.db.execute("SELECT count(*) FROM messages").fetchone()[0]
    if have != args.messages:
        if have:
            sys.exit(f"{db} holds {have} messages, not {args.messages}: remove it first")
        began = time.perf_counter()
        words = fill(store, args.messages, rng)
        print(f"filled in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    else:
        words = vocabulary(rng)
    threads = args.messages // PER_THREAD
    frequent, middling, rare = words[0], words[200], words[-1]
    pick = random.Random(1)
    cases = [
        ("threads (all, in-process)", lambda: store.threads(), max(3, args.runs // 10)),
        ("threads --limit 50", lambda: store.threads(limit=50), args.runs),
        ("threads --status open --limit 50",
         lambda: store.threads(status="open", limit=50), args.runs),
        (f"search {frequent!r} (frequent)", lambda: store.search(frequent, 50), args.runs),
        (f"search {middling!r} (middling)", lambda: store.search(middling, 50), args.runs),
        (f"search {rare!r} (rare)", lambda: store.search(rare, 50), args.runs),
        ("show (random thread)", lambda: (store.thread(t := pick.randint(1, threads)),
                                          store.messages(t)), args.runs),
    ]
    size = db.stat().st_size / 2**20
    print(f"\nStore: {args.messages:,} messages, {threads:,} threads, {size:,.0f} MiB"
          f" ({sys.platform}, Python {sys.version.split()[0]})\n")
    print("| in-process | p50 ms | p95 ms | max ms | runs |\n|---|---|---|---|---|")
    for name, function, runs in cases:
        print(row(name, timed(function, runs)), flush=True)
    if args.editable:
        compile_bytecode()
        bin_dir = Path(sys.executable).parent
    else:
        bin_dir = installed_copy(args.dir)
    commands = [
        ("python -c pass (the interpreter alone)",
         lambda: subprocess.run([str(bin_dir / "python"), "-c", "pass"], check=True)),
        ("inbox --version (start-up only)", cli(bin_dir, config, "--version")),
        ("inbox threads --limit 50", cli(bin_dir, config, "threads", "--limit", "50")),
        ("inbox threads --status open --limit 50",
         cli(bin_dir, config, "threads", "--status", "open", "--limit", "50")),
        (f"inbox search {frequent}", cli(bin_dir, config, "search", frequent)),
        (f"inbox search {rare}", cli(bin_dir, config, "search", rare)),
        ("inbox show ID", cli(bin_dir, config, "show", str(threads // 2))),
    ]
    # Round-robin, one run of each command per round: a slow stretch of this shared
    # machine then weighs on every row alike, and the interpreter's row shows how much.
    times: dict[str, list[float]] = {name: [] for name, _ in commands}
    for round_ in range(args.cli_runs + 1):  # round 0 warms the page cache
        for name, function in commands:
            began = time.perf_counter()
            function()
            if round_:
                times[name].append((time.perf_counter() - began) * 1000)
    print("\n| CLI (child process, round-robin) | p50 ms | p95 ms | max ms | runs |"
          "\n|---|---|---|---|---|")
    for name, _ in commands:
        print(row(name, times[name]), flush=True)
    store.close()


if __name__ == "__main__":
    main()
