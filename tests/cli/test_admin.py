"""``tmem keys`` and ``tmem migrate``, driven in-process on real SQLite files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tmem.cli.main import cli
from tmem.store.api_keys import KEY_PREFIX, hash_secret
from tmem.store.sqlite import SQLiteStore
from tmem.store.sqlite.schema import MIGRATIONS


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "admin.db")


def create_key(db: str, tenant: str = "acme", *extra: str) -> str:
    result = run("--db", db, "keys", "create", "--tenant", tenant, *extra)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


def test_keys_create_prints_only_the_key_on_stdout_and_stores_its_hash(db: str) -> None:
    result = run("--db", db, "keys", "create", "--tenant", "acme", "--label", "ci")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    secret = result.stdout.splitlines()[-1]
    assert secret.startswith(KEY_PREFIX) and len(secret) == len(KEY_PREFIX) + 43
    assert "created key key_" in result.stderr and secret not in result.stderr
    with SQLiteStore(db) as store:
        key = store.service().api_key_by_hash(hash_secret(secret))
        assert key is not None and (key.tenant, key.label) == ("acme", "ci")
        assert key.id in result.stderr


def test_the_secret_itself_is_never_written_to_the_store(db: str) -> None:
    secret = create_key(db)
    files = list(Path(db).parent.glob("admin.db*"))
    assert files
    assert not any(secret.encode() in path.read_bytes() for path in files)


def test_every_key_is_different(db: str) -> None:
    secrets = {create_key(db) for _ in range(3)}
    assert len(secrets) == 3


@pytest.mark.parametrize("tenant", ["", "a" * 65, "a b", "ä", "x/y", "t;drop", "a\n"])
def test_keys_create_refuses_a_bad_tenant_name(db: str, tenant: str) -> None:
    result = run("--db", db, "keys", "create", "--tenant", tenant)
    assert result.exit_code == 2
    assert "invalid tenant" in result.output
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("tenant", ["a", "a" * 64, "Acme.eu-1_prod"])
def test_keys_create_accepts_tenant_names_of_the_allowed_alphabet(db: str, tenant: str) -> None:
    secret = create_key(db, tenant)
    with SQLiteStore(db) as store:
        key = store.service().api_key_by_hash(hash_secret(secret))
    assert key is not None and key.tenant == tenant


def test_keys_list_shows_keys_without_secrets_or_hashes(db: str) -> None:
    acme = create_key(db, "acme", "--label", "app")
    create_key(db, "beta")
    listing = run("--db", db, "keys", "list", "--tenant", "acme")
    assert listing.exit_code == 0, listing.output
    (line,) = listing.stdout.splitlines()
    key_id, tenant, _created, status, label = line.split("\t")
    assert (tenant, status, label) == ("acme", "live", "app") and key_id.startswith("key_")
    everything = run("--json", "--db", db, "keys", "list")
    rows = json.loads(everything.stdout)
    assert [row["tenant"] for row in rows] == ["acme", "beta"]
    assert acme not in everything.stdout and hash_secret(acme) not in everything.stdout


def test_keys_revoke_stops_a_key_at_once(db: str) -> None:
    secret = create_key(db)
    with SQLiteStore(db) as store:
        key = store.service().api_key_by_hash(hash_secret(secret))
    assert key is not None
    revoked = run("--db", db, "keys", "revoke", key.id)
    assert revoked.exit_code == 0 and revoked.stdout.strip() == f"revoked {key.id}"
    with SQLiteStore(db) as store:
        assert store.service().api_key_by_hash(hash_secret(secret)) is None
    listing = run("--db", db, "keys", "list")
    assert "\trevoked " in listing.stdout
    again = run("--db", db, "keys", "revoke", key.id)
    assert again.exit_code == 1 and "no live key" in again.output


def test_migrate_creates_a_new_store_at_the_latest_schema(db: str) -> None:
    dry = run("--db", db, "migrate", "--dry-run")
    names = [name for name, _ in MIGRATIONS]
    assert dry.stdout.splitlines() == [
        f"schema version 0 (this tmem: {len(names)})",
        *(f"pending {name}" for name in names),
    ]
    assert not Path(db).exists()
    done = run("--db", db, "migrate")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [
        f"schema version 0 -> {len(names)}",
        *(f"applied {name}" for name in names),
    ]
    assert run("--db", db, "migrate", "--dry-run").stdout.splitlines()[-1] == "nothing to migrate"


def test_admin_commands_report_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    for args in (("migrate",), ("migrate", "--dry-run"), ("keys", "list")):
        result = run("--db", str(junk), *args)
        assert result.exit_code == 1, args
        assert "Error:" in result.output and "Traceback" not in result.output
