"""Benchmark: CPU per message of each ingest stage, in-process, without an IMAP server.

    .venv/bin/python bench/ingest_stages.py [--n 5000] [--seed 42] [--repeats 3]
                                            [--profile FILE] [--once]

Writes the benchmark mailbox (``../shared/bench/gen_mailbox.py --no-imap --eml-dir``)
once into a temp dir, then, ``--repeats`` times on a fresh store with the same
configuration as ``bench/email_ingest.py`` (five languages, three teams, two rules, a
business-hours SLA, the daemon's real hooks):

- ``parse``: ``connectors.mime.parse_email`` on every message (what the IMAP worker does
  after FETCH);
- ``ingest``: ``Pipeline.ingest`` in batches of 200 (``[[email]] batch_size``), split
  into the part before routing and ``route`` (language, rules, assignment, SLA);
- the SQL statements per message the store ran.

``time.process_time`` of this process, best of the repeats. It isolates what
``bench/email_ingest.py`` measures end to end (which also counts IMAP, start-up and
imports), so a change to one stage can be measured before and after on its own.
``--profile`` writes a cProfile of one repeat (parse and ingest) and prints the top.
``--once`` parses and files once and prints nothing, for counting instructions, which
this shared VM does not blur as it does seconds::

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/ingest_stages.py --n 300 --once    # and --n 1: the fixed cost
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.email_ingest import GENERATOR, INBOX_TOML, ROUTING_TOML  # noqa: E402
from connectors.mime import parse_email  # noqa: E402
from inbox.channel import Inbound  # noqa: E402
from inbox.config import load_config  # noqa: E402
from inbox.daemon import Daemon  # noqa: E402
from inbox.pipeline import Pipeline  # noqa: E402

BATCH = 200


def write_mailbox(n: int, seed: int, directory: Path) -> list[bytes]:
    subprocess.run([sys.executable, str(GENERATOR), "--n", str(n), "--seed", str(seed),
                    "--no-imap", "--eml-dir", str(directory)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [path.read_bytes() for path in sorted(directory.glob("*.eml"))]


def make_config(work: Path) -> Path:
    (work / "imap-password").write_text("unused", encoding="utf-8")
    config = work / "inbox.toml"
    config.write_text(INBOX_TOML.format(store=work / "store", account="support", port=1,
                                        user="helpdesk", secret=work / "imap-password"),
                      encoding="utf-8")
    (work / "routing.toml").write_text(ROUTING_TOML, encoding="utf-8")
    return config


class Timed:
    """Wraps one Pipeline method to add up the CPU spent inside it."""

    def __init__(self, pipeline: Pipeline, name: str):
        self.seconds = 0.0
        inner = getattr(pipeline, name)

        def timed(*args: object, **kwargs: object) -> object:
            started = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - started
        setattr(pipeline, name, timed)


def one_run(raws: list[bytes], config_path: Path, store_dir: Path,
            count_statements: bool = False) -> dict[str, float]:
    for old in store_dir.glob("*"):
        if old.is_file():
            old.unlink()
    daemon = Daemon(load_config(config_path))
    statements = 0

    def count(_: str) -> None:
        nonlocal statements
        statements += 1
    if count_statements:  # a Python call per statement: not while timing
        daemon.store.conn.set_trace_callback(count)
    route = Timed(daemon.pipeline, "_route")
    parsing = ingesting = 0.0
    for start in range(0, len(raws), BATCH):  # as the daemon: parse a batch, file it, drop it
        began = time.process_time()
        items: list[Inbound] = [
            parse_email(raw, account="support", source_ref=f"INBOX:1:{uid}",
                        own_addresses=("support@example.com",))
            for uid, raw in enumerate(raws[start:start + BATCH], start + 1)]
        parsed = time.process_time()
        daemon.pipeline.ingest(items)
        parsing += parsed - began
        ingesting += time.process_time() - parsed
    daemon.store.close()
    n = len(raws)
    return {"parse": parsing / n * 1000, "ingest": ingesting / n * 1000,
            "route": route.seconds / n * 1000, "statements": statements / n}


def best(runs: list[dict[str, float]], key: str) -> float:
    return min(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", type=Path, metavar="FILE")
    parser.add_argument("--once", action="store_true",
                        help="parse and file once, print nothing: for counting instructions"
                             " under valgrind (the mailbox generator is a child, not counted)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ingest-stages-") as temp:
        work = Path(temp)
        raws = write_mailbox(args.n, args.seed, work / "mail")
        config = make_config(work)
        store_dir = work / "store"
        store_dir.mkdir()
        run: Callable[[], dict[str, float]] = lambda: one_run(raws, config, store_dir)  # noqa: E731
        if args.once:
            run()
            return
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(run)
            profile.dump_stats(args.profile)
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(30)
            print(text.getvalue())
            return
        runs = [run() for _ in range(args.repeats)]
        statements = one_run(raws[:1000], config, store_dir, count_statements=True)["statements"]
    parse, ingest, route = best(runs, "parse"), best(runs, "ingest"), best(runs, "route")
    print(f"N = {args.n:,}, seed {args.seed}, best of {args.repeats} (CPU ms per message,"
          f" process_time; Python {sys.version.split()[0]})\n")
    print("| stage | ms / message |\n|---|---|")
    print(f"| parse (`parse_email`) | {parse:.3f} |")
    print(f"| ingest (`Pipeline.ingest`, batches of {BATCH}) | {ingest:.3f} |")
    print(f"| … of which routing new threads (`Pipeline._route`) | {route:.3f} |")
    print(f"| **parse + ingest** | **{parse + ingest:.3f}** |")
    print(f"\nSQL statements per message (first 1,000, FTS5's own included): {statements:.1f}")


if __name__ == "__main__":
    main()
