"""tmem libraries that outlive a benchmark run, so search-only changes rerun without ingest.

A kept library is named by a hash of every input that shapes what ingest writes: the
conversation's sessions, the user id, the ingest clock, the embedder, the LLM model, the write
settings and the prompt versions. A later run whose inputs hash the same reuses the file; one
that differs in any of them builds its own. Retrieval settings are not part of the name, which
is the point. Changes to ingest *code* are not detected: empty the directory after one.

Runs only ever read copies of a kept library, never the file itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tmem.config import Config
from tmem.eval.systems import IngestStats, MemoryFactory, Sessions, ingest_sessions
from tmem.llm.prompts import prompt_versions

SQLITE_SIDE_FILES = ("-wal", "-shm")


@dataclass(frozen=True)
class Shelf:
    """Where kept libraries live (``None``: nowhere, build in scratch) and the run's inputs that
    name them; :attr:`tmem.eval.harness.Harness.shelf` gives a run's."""

    directory: Path | None
    config: Config
    embedder: str
    """The embedder's name."""
    memory_factory: MemoryFactory


def library_key(shelf: Shelf, sessions: Sessions, user_id: str, now: datetime) -> str:
    """A hash of every input that shapes a library's content (retrieval settings excluded)."""
    config = shelf.config
    inputs = {
        "sessions": sessions,
        "user_id": user_id,
        "now": now.isoformat(),
        "embedder": shelf.embedder,
        "llm_model": config.llm.model or config.llm.local_model_path or None,
        "write": config.write,
        "prompts": prompt_versions(),
    }
    blob = json.dumps(inputs, sort_keys=True, default=repr).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def built_library(
    shelf: Shelf,
    stats: IngestStats,
    sessions: Sessions,
    user_id: str,
    now: datetime,
    scratch: Path,
) -> Path:
    """The library of ``sessions``: built at ``scratch``, or kept and reused when
    ``shelf.directory`` is set. Its ingest is charged to ``stats`` only when it is built."""
    if shelf.directory is None:
        path = scratch
    else:
        path = shelf.directory / f"base-{library_key(shelf, sessions, user_id, now)}.sqlite"
    if path.exists():
        return path
    memory = shelf.memory_factory(scratch, now)
    try:
        ingest_sessions(memory, sessions, user_id, stats)
    finally:
        memory.close()
    if path != scratch:
        # Only a finished library is given its kept name, so an interrupted build is never reused.
        copy_sqlite(scratch, path)
        remove_sqlite(scratch)
    return path


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy a closed SQLite database with any journal side files."""
    shutil.copyfile(source, target)
    for suffix in SQLITE_SIDE_FILES:
        side = source.with_name(source.name + suffix)
        if side.exists():
            shutil.copyfile(side, target.with_name(target.name + suffix))


def remove_sqlite(path: Path) -> None:
    """Delete a SQLite database and its side files."""
    for suffix in ("", *SQLITE_SIDE_FILES):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
