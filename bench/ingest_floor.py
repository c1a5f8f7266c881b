"""Benchmark: the floor under mail ingestion — what the standard library and SQLite cost alone.

    .venv/bin/python bench/ingest_floor.py [--n 2000] [--seed 42]

Writes the benchmark mailbox (``../shared/bench/gen_mailbox.py --no-imap --eml-dir``) and,
with nothing of the product, parses every mail with the stdlib (``BytesParser``, compat32;
text parts decoded by their label) and stores it in a fresh SQLite file in WAL mode: the raw
bytes, a message row and an FTS5 row, 200 mails per transaction. Prints CPU per mail
(``time.process_time``) of each half. Set beside ``bench/ingest_stages.py``'s figures it says
how much of the CPU per mail is the product's own work rather than the floor it stands on.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.ingest_stages import write_mailbox  # noqa: E402

BATCH = 200


def bare_parse(raw: bytes) -> tuple[str, str, str]:
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    texts = []
    for part in msg.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        data = part.get_payload(decode=True) or b""
        try:
            texts.append(data.decode(part.get_content_charset() or "utf-8", "replace"))
        except LookupError:
            texts.append(data.decode("utf-8", "replace"))
    return str(msg.get("Message-ID", "")), str(msg.get("Subject", "")), "\n".join(texts)


def bare_store(path: Path, raws: list[bytes], parsed: list[tuple[str, str, str]]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, data BLOB)")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, mid TEXT, subject TEXT, text TEXT)")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(text, content='m', content_rowid='id')")
    for start in range(0, len(raws), BATCH):
        db.execute("BEGIN")
        for raw, (mid, subject, text) in zip(raws[start:start + BATCH],
                                             parsed[start:start + BATCH], strict=True):
            row = db.execute("INSERT INTO raw (data) VALUES (?)", (raw,)).lastrowid
            db.execute("INSERT INTO m VALUES (?, ?, ?, ?)", (row, mid, subject, text))
            db.execute("INSERT INTO f (rowid, text) VALUES (?, ?)", (row, text))
        db.execute("COMMIT")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ingest-floor-") as temp:
        raws = write_mailbox(args.n, args.seed, Path(temp) / "mail")
        began = time.process_time()
        parsed = [bare_parse(raw) for raw in raws]
        middle = time.process_time()
        bare_store(Path(temp) / "floor.db", raws, parsed)
        done = time.process_time()
    n = len(raws)
    print(f"N = {n:,}: stdlib parse {(middle - began) / n * 1000:.3f} ms, SQLite (raw + row"
          f" + FTS5) {(done - middle) / n * 1000:.3f} ms, together"
          f" {(done - began) / n * 1000:.3f} ms CPU per mail")


if __name__ == "__main__":
    main()
