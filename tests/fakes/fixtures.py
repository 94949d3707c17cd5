"""Pytest fixtures for the shared fakes.

Use them from a test package's ``conftest.py``::

    from tests.fakes.fixtures import fake_openai  # noqa: F401  (a fixture, used by name)

or list ``"tests.fakes.fixtures"`` in the top-level conftest's ``pytest_plugins``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_server import FakeOpenAIServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started :class:`FakeOpenAIServer` with no scripts; closed after the test."""
    with FakeOpenAIServer() as server:
        yield server
