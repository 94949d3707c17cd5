"""Upgrading persona profiles to persona entries (SQLite ``0008_persona_entries``, Postgres
``0004_persona_entries``) and adding per-user instructions (``0009`` / ``0005``).

A store is made at the schema before these migrations, and profiles are written into it as
the code before them wrote them (:func:`tmem.store.codec.persona_to_dict`, stored the way that
code stored it: SQLite's ``personas`` columns as JSON text, Postgres' ``tmem_personas.profile``
as jsonb, under the user's Row-Level Security setting); then the store is opened again and what
it reads back is compared with the profiles the old code would have read.
"""

# The pg_* fixtures are imported from pg_server, so their names reappear as test parameters.
# ruff: noqa: F811

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.store.pg_server import (  # noqa: F401
    pg_database_url,
    pg_new_url,
    pg_server,
    pg_store_url,
)
from tmem.clock import FixedClock
from tmem.config import Config, EmbedderConfig
from tmem.embed.hashing import HashEmbedder
from tmem.memory import Memory
from tmem.models import PersonaProfile
from tmem.persona import PersonaEdit, profiles, render_profile
from tmem.persona.entries import legacy_entry_id
from tmem.store.base import Store
from tmem.store.codec import persona_to_dict
from tmem.store.postgres import PostgresStore
from tmem.store.postgres import migrate as postgres_migrate
from tmem.store.postgres import schema as postgres_schema
from tmem.store.sqlite import SQLiteStore
from tmem.store.sqlite import schema as sqlite_schema

PLUS_TWO = timezone(timedelta(hours=2))
WRITTEN = datetime(2025, 5, 4, 9, 30, tzinfo=PLUS_TWO)
PROFILES = {
    "alice": [
        PersonaProfile(
            "alice",
            "Zoë",
            identity=(("occupation", "café owner ✓"), ("current_location", "Lyon")),
            preferences=(("hobbies", ("chess", "yoga")), ("food", ("figs",))),
            traits=(("values", ("rest", "honesty")),),
            relations=(("Ben", "colleague"), ("Jo", "sister")),
            updated_at=WRITTEN,
            sources=(
                ("identity", "occupation", "café owner ✓", ("alice-t1", "alice-t2")),
                ("preferences", "hobbies", "yoga", ("alice-t3",)),
                ("relations", "Jo", "sister", ("alice-t1",)),
            ),
        ),
        PersonaProfile("alice", "Ben", traits=(("style", ("calm",)),), updated_at=WRITTEN),
    ],
    "bob": [PersonaProfile("bob", "Bob", identity=(("age", "41"),), updated_at=WRITTEN)],
}
NEW = ("0008_persona_entries", "0009_instructions", "0010_page_order")
NEW_PG = ("0004_persona_entries", "0005_instructions", "0006_page_indexes")
CONFIG = Config(embedder=EmbedderConfig(kind="hash", dim=64))


def _sqlite_before(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:7])
    SQLiteStore(path).close()
    monkeypatch.undo()
    conn = sqlite3.connect(path)
    for user, found in PROFILES.items():
        for profile in found:
            row = persona_to_dict(profile)
            columns = ("identity", "preferences", "traits", "relations", "sources")
            conn.execute(
                "INSERT INTO personas (user_id, speaker, identity, preferences, traits,"
                " relations, sources, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user,
                    row["speaker"],
                    *(json.dumps(row[c], ensure_ascii=False) for c in columns),
                    row["updated_at"],
                ),
            )
    conn.commit()
    conn.close()


def _postgres_before(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_migrate, "MIGRATIONS", postgres_schema.MIGRATIONS[:3])
    PostgresStore(url, pool_size=1).close()
    monkeypatch.undo()
    with psycopg.connect(url) as conn:
        for user, found in PROFILES.items():
            conn.execute("SELECT set_config('tmem.user_id', %s, true)", (user,))
            for profile in found:
                conn.execute(
                    "INSERT INTO tmem_personas (user_id, speaker, profile) VALUES (%s, %s, %s)",
                    (user, profile.speaker, Jsonb(persona_to_dict(profile))),
                )
            conn.commit()


def _assert_entries_read_like_the_profiles(store: Store) -> None:
    for user, found in PROFILES.items():
        entries = store.persona_entries(user)
        # Speakers in byte order, as the old read path listed profiles.
        assert profiles(entries) == sorted(found, key=lambda p: p.speaker.encode())
        rendered = [render_profile(p) for p in profiles(entries)]
        assert rendered == [render_profile(p) for p in sorted(found, key=lambda p: p.speaker)]
        for entry in entries:
            assert entry.id == legacy_entry_id(entry.speaker, entry.section, entry.key, entry.value)
            assert (entry.origin, entry.pinned) == ("model", False)
            assert entry.created_at == entry.updated_at == WRITTEN
            assert entry.created_at.utcoffset() == timedelta(hours=2)


def _assert_entries_work(store: Store) -> None:
    """A migrated entry edits, keeps the model's text in its history, and is deleted."""
    mem = Memory(
        store, HashEmbedder(64), None, CONFIG, FixedClock(datetime(2025, 6, 1, tzinfo=UTC))
    )
    jo = next(e for e in mem.persona("alice") if e.key == "Jo")
    assert [(h.event, h.text, h.detail) for h in mem.history(jo.id, "alice")] == [
        ("created", "sister", "model")
    ]
    store.edit_persona("alice", PersonaEdit(id=jo.id, value="older sister"), mem.clock.now())
    assert [(h.event, h.text, h.detail, h.at) for h in mem.history(jo.id, "alice")] == [
        ("created", "sister", "model", WRITTEN),
        ("updated", "older sister", "hand", mem.clock.now()),
    ]
    assert mem.instructions("bob") == ""
    mem.set_instructions("bob", "remember birthdays")
    assert store.instructions("bob") == "remember birthdays"


def test_sqlite_profiles_become_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.db"
    _sqlite_before(path, monkeypatch)
    with SQLiteStore(path) as store:
        assert store.applied_migrations == NEW
        _assert_entries_read_like_the_profiles(store)
        _assert_entries_work(store)
    conn = sqlite3.connect(path)
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "personas" not in tables and {"persona_entries", "instructions"} <= tables
    with SQLiteStore(path) as again:
        assert again.applied_migrations == ()


def test_a_profile_without_a_time_gets_the_migrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", sqlite_schema.MIGRATIONS[:7])
    SQLiteStore(path).close()
    monkeypatch.undo()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO personas (user_id, speaker, identity, preferences, traits, relations)"
        """ VALUES ('u', 'Mel', '[["age", "30"]]', '[]', '[]', '[]')"""
    )
    conn.commit()
    conn.close()
    before = datetime.now(UTC)
    with SQLiteStore(path) as store:
        (entry,) = store.persona_entries("u")
    assert (entry.key, entry.value, entry.source_turns) == ("age", "30", ())
    assert before - timedelta(seconds=1) <= entry.created_at <= datetime.now(UTC)


@pytest.mark.postgres
def test_postgres_profiles_become_entries(
    pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _postgres_before(pg_store_url, monkeypatch)
    with PostgresStore(pg_store_url) as store:
        assert store.applied_migrations == NEW_PG
        _assert_entries_read_like_the_profiles(store)
        _assert_entries_work(store)
    with psycopg.connect(pg_store_url) as conn:
        gone, new = conn.execute(
            "SELECT to_regclass('tmem_personas') IS NULL,"
            " to_regclass('tmem_persona_entries') IS NOT NULL"
        ).fetchone() or (False, False)
        forced = conn.execute(
            "SELECT relforcerowsecurity FROM pg_class WHERE relname = 'tmem_persona_entries'"
        ).fetchone()
        # Row-Level Security binds the new table again: nothing shows without the setting.
        hidden = conn.execute("SELECT count(*) FROM tmem_persona_entries").fetchone()
    assert gone and new and forced == (True,) and hidden == (0,)
    with PostgresStore(pg_store_url) as again:
        assert again.applied_migrations == ()
