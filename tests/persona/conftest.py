"""The store fixtures (every backend) and the fake OpenAI server, for the full-mode tests."""

from tests.fakes.fixtures import fake_openai
from tests.store.conftest import backend, make_store, store
from tests.store.pg_server import open_postgres_store, pg_database_url, pg_new_url, pg_server

__all__ = [
    "backend",
    "fake_openai",
    "make_store",
    "open_postgres_store",
    "pg_database_url",
    "pg_new_url",
    "pg_server",
    "store",
]
