"""How much erasing one row from tmem's FTS5 table costs, per strategy and SQLite build.

The table is the store's own (``porter unicode61``, an indexed per-user scope token), filled
with ``--rows`` synthetic turns spread over ``--users`` users. For each strategy the script
deletes ``--deletes`` rows one at a time, each in its own transaction, and reports the median
and worst wall time per delete, and whether the deleted row's unique word is still a term of
the index afterwards (``fts5vocab``) and still in the database file's bytes.

Strategies:

* ``optimize``: delete the row, then merge the whole index (``'optimize'``), what stores on
  SQLite < 3.44 must do so the deleted terms leave the file;
* ``secure-delete``: FTS5's ``secure-delete`` option (SQLite >= 3.44) removes the row's
  entries from the index segments in place;
* ``plain``: delete the row only (the deleted terms stay until segments merge); a floor.

Run with the standard library's sqlite3, or with a wheel that bundles a newer SQLite::

    python benchmarks/fts_erase.py --driver sqlite3 --out benchmarks/results/fts-erase/stdlib.json
    pip install pysqlite3-binary
    python benchmarks/fts_erase.py --driver pysqlite3 \
        --out benchmarks/results/fts-erase/pysqlite3.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = [
    "dinner",
    "venue",
    "allergy",
    "colleague",
    "shellfish",
    "cello",
    "lesson",
    "teacher",
    "porto",
    "lisbon",
    "river",
    "moved",
    "garden",
    "project",
    "deadline",
    "review",
    "budget",
    "travel",
    "flight",
    "hotel",
    "museum",
    "weekend",
    "family",
    "birthday",
    "present",
    "recipe",
    "kitchen",
    "running",
    "marathon",
    "training",
    "knee",
    "doctor",
    "appointment",
    "insurance",
    "car",
]


def _driver(name: str) -> Any:
    return importlib.import_module("pysqlite3.dbapi2" if name == "pysqlite3" else "sqlite3")


def _build(sqlite: Any, path: Path, rows: int, users: int, secure: bool) -> Any:
    conn = sqlite.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute(
        "CREATE VIRTUAL TABLE fts USING fts5(body, scope, user_id UNINDEXED, kind UNINDEXED,"
        " owner_id UNINDEXED, tokenize = 'porter unicode61')"
    )
    conn.execute("CREATE VIRTUAL TABLE fts_terms USING fts5vocab(fts, row)")
    if secure:
        conn.execute("INSERT INTO fts (fts, rank) VALUES ('secure-delete', 1)")
    rng = random.Random(7)
    conn.execute("BEGIN")
    for i in range(rows):
        user = f"user{i % users}"
        body = " ".join(rng.choice(WORDS) for _ in range(14)) + f" canary{i}x"
        conn.execute(
            "INSERT INTO fts (rowid, body, scope, user_id, kind, owner_id)"
            " VALUES (?, ?, ?, ?, 'turn', ?)",
            (i + 1, body, f"u{user}xturn", user, f"t{i}"),
        )
    conn.execute("COMMIT")
    conn.execute("INSERT INTO fts (fts, rank) VALUES ('automerge', 8)")
    return conn


def _run(sqlite: Any, strategy: str, rows: int, users: int, deletes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fts.db"
        conn = _build(sqlite, path, rows, users, strategy == "secure-delete")
        rng = random.Random(11)
        victims = rng.sample(range(1, rows + 1), deletes)
        times: list[float] = []
        for rowid in victims:
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
            if strategy == "optimize":
                conn.execute("INSERT INTO fts (fts) VALUES ('optimize')")
            conn.execute("COMMIT")
            times.append((time.perf_counter() - started) * 1000)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        left = [
            rowid
            for rowid in victims
            if conn.execute(
                "SELECT 1 FROM fts_terms WHERE term = ?", (f"canary{rowid - 1}x",)
            ).fetchone()
        ]
        conn.close()
        data = path.read_bytes()
        in_file = sum(1 for rowid in victims if f"canary{rowid - 1}x".encode() in data)
    return {
        "strategy": strategy,
        "median_ms": round(statistics.median(times), 2),
        "max_ms": round(max(times), 2),
        "terms_left": len(left),
        "words_left_in_file": in_file,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("sqlite3", "pysqlite3"), default="sqlite3")
    parser.add_argument("--rows", type=int, default=35_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--deletes", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sqlite = _driver(args.driver)
    secure = tuple(int(p) for p in sqlite.sqlite_version.split(".")) >= (3, 44, 0)
    strategies = ["plain", "optimize", *(["secure-delete"] if secure else [])]
    results = {
        "driver": args.driver,
        "sqlite_version": sqlite.sqlite_version,
        "rows": args.rows,
        "users": args.users,
        "deletes": args.deletes,
        "strategies": [_run(sqlite, s, args.rows, args.users, args.deletes) for s in strategies],
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
