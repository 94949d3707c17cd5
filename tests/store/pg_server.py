"""A throwaway PostgreSQL 16 + pgvector server for the store tests.

The binaries come from the ``pgserver`` wheel, but we drive ``initdb`` and ``pg_ctl`` ourselves
instead of calling ``pgserver.get_server``: as root that helper runs ``useradd``, widens the
permissions of every parent directory up to ``/`` and keeps a global lock file, and merely
importing ``pgserver`` emits a platformdirs warning that ``filterwarnings = error`` turns into a
failure. Locating the package with ``importlib.util.find_spec`` imports none of it.

PostgreSQL refuses to run as root, so under root (as in CI) the server runs as ``nobody`` in a
temporary directory owned by that user. If that user cannot reach the wheel's binaries (a
checkout inside a private directory, such as one made by ``mktemp -d``), they are copied into
that directory first. It listens only on a unix socket in that directory (no
TCP port, so nothing to collide with). The template database gets ``CREATE EXTENSION vector``,
so every database created from it has pgvector without superuser rights.

Tests connect as ``tmem_owner``, a role that is *not* a superuser: superusers bypass Row-Level
Security, and the store forces RLS on its tables, so every contract test also proves the store
sets its tenant for each transaction.

Import the fixtures into a conftest or test module: ``pg_url`` is the session's server (as
superuser), ``pg_store_url`` a fresh schema per test in the session's database, ``pg_new_url``
a factory of more, and :func:`open_postgres_store` the contract suite's backend factory.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tmem.store.base import Store
from tmem.store.postgres import PostgresStore

OWNER_ROLE = "tmem_owner"
TEST_DATABASE = "tmem_tests"
_SERVER_OPTIONS = (
    # Durability buys nothing for a test server that is deleted afterwards.
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c shared_buffers=32MB"
)
_schema_numbers = itertools.count()


@dataclass(frozen=True)
class PgServer:
    """A running server: where it lives and how to reach it."""

    root: Path
    socket_dir: Path
    bin_dir: Path
    run_as: pwd.struct_passwd | None
    startup_seconds: float

    def url(self, database: str = "postgres", role: str = "postgres") -> str:
        return f"postgresql://{role}@/{database}?host={self.socket_dir}"


def _bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver package is not installed (pip install pgserver)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run(server_user: pwd.struct_passwd | None, *args: str) -> None:
    extra: dict[str, Any] = {}
    if server_user is not None:
        extra = {"user": server_user.pw_uid, "group": server_user.pw_gid, "extra_groups": []}
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, **extra)
    if result.returncode != 0:
        raise RuntimeError(
            f"{args[0]} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


def _reachable_bin_dir(run_as: pwd.struct_passwd | None, root: Path) -> Path:
    """The wheel's bin directory, or a copy in ``root`` if ``run_as`` cannot execute it.

    The binaries find ``lib`` and ``share`` relative to themselves, and the wheel's bundled
    shared libraries through ``$ORIGIN/../../../pgserver.libs``, so the copy keeps that layout.
    """
    bin_dir = _bin_dir()
    if run_as is None:
        return bin_dir
    try:
        _run(run_as, "test", "-x", str(bin_dir / "initdb"))
    except RuntimeError:
        install, package = bin_dir.parent, bin_dir.parent.parent
        shutil.copytree(install, root / package.name / install.name, symlinks=True)
        libs = package.with_name(f"{package.name}.libs")
        if libs.is_dir():
            shutil.copytree(libs, root / libs.name, symlinks=True)
        return root / package.name / install.name / "bin"
    return bin_dir


def _server_user() -> pwd.struct_passwd | None:
    # postgres exits with "root execution of the PostgreSQL server is not permitted".
    return pwd.getpwnam("nobody") if os.geteuid() == 0 else None


def start_server() -> PgServer:
    """initdb, start and prepare a server in a new temporary directory."""
    started = time.perf_counter()
    run_as = _server_user()
    root = Path(tempfile.mkdtemp(prefix="tmem-pg-"))  # short: unix socket paths max ~107 bytes
    data, socket_dir = root / "data", root / "socket"
    if run_as is not None:
        os.chown(root, run_as.pw_uid, run_as.pw_gid)
    bin_dir = _reachable_bin_dir(run_as, root)
    for path in (data, socket_dir):
        _run(run_as, "mkdir", "-m", "0700", str(path))
    _run(run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
         "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")  # fmt: skip
    _run(run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
         "-o", f"-h '' -k {socket_dir} {_SERVER_OPTIONS}", "start")  # fmt: skip
    os.chmod(socket_dir, 0o711)  # root (the test process) connects through it when run_as is set
    server = PgServer(root, socket_dir, bin_dir, run_as, 0.0)
    _prepare_template(server)
    return PgServer(root, socket_dir, bin_dir, run_as, time.perf_counter() - started)


def _prepare_template(server: PgServer) -> None:
    with psycopg.connect(server.url("template1"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(f"CREATE ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
    create_database(server, TEST_DATABASE)


def stop_server(server: PgServer) -> None:
    """Stop the server fast and delete its directory."""
    data = server.root / "data"
    pg_ctl = str(server.bin_dir / "pg_ctl")
    _run(server.run_as, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
    shutil.rmtree(server.root, ignore_errors=True)


def create_database(server: PgServer, name: str) -> str:
    """A new, empty database (with pgvector) owned by ``tmem_owner``; return its URL."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} OWNER {OWNER_ROLE} TEMPLATE template1")
    return server.url(name, OWNER_ROLE)


def create_schema(database_url: str) -> tuple[str, str]:
    """A new schema in the database; return its name and a URL whose search_path starts there.

    A schema per store is about four times faster to make than a database (0.1 s vs 0.4 s)
    and isolates just as well: every tmem table is found through ``search_path``.
    """
    name = f"t_{os.getpid()}_{next(_schema_numbers)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    return name, f"{database_url}&options=-csearch_path%3D{name},public"


def drop_schema(database_url: str, name: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


class _Shared:
    """One server per test process, however many modules import the fixtures.

    pytest makes a separate session fixture for every module that imports ``pg_server``, so
    without this each such module would start its own server.
    """

    lock = threading.Lock()
    server: PgServer | None = None
    users = 0


def _acquire() -> PgServer:
    with _Shared.lock:
        if _Shared.server is None:
            _Shared.server = start_server()
        _Shared.users += 1
        return _Shared.server


def _release(server: PgServer) -> None:
    with _Shared.lock:
        _Shared.users -= 1
        if _Shared.users == 0:
            _Shared.server = None
            stop_server(server)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = _acquire()
    try:
        yield server
    finally:
        _release(server)


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    """The session server's superuser URL (database ``postgres``)."""
    return pg_server.url()


@pytest.fixture(scope="session")
def pg_database_url(pg_server: PgServer) -> str:
    """The session's test database, reached as the non-superuser ``tmem_owner``."""
    return pg_server.url(TEST_DATABASE, OWNER_ROLE)


@pytest.fixture
def pg_new_url(pg_database_url: str) -> Iterator[Callable[[], str]]:
    """Make URLs of fresh, empty schemas for one test; the schemas are dropped after it."""
    made: list[str] = []

    def make() -> str:
        name, url = create_schema(pg_database_url)
        made.append(name)
        return url

    yield make
    for name in made:
        drop_schema(pg_database_url, name)


@pytest.fixture
def pg_store_url(pg_new_url: Callable[[], str]) -> str:
    """The URL of a fresh, empty schema for one test, reached as ``tmem_owner``."""
    return pg_new_url()


def open_postgres_store(request: pytest.FixtureRequest, index: int) -> Store:
    """A :class:`PostgresStore` on a fresh database: the contract suite's backend factory.

    The conftest that lists it must also import the ``pg_server``, ``pg_database_url`` and
    ``pg_new_url`` fixtures so that ``getfixturevalue`` can find them.
    """
    make: Callable[[], str] = request.getfixturevalue("pg_new_url")
    return PostgresStore(make())
