"""Fixtures for the LLM tests."""

from tests.fakes.fixtures import fake_openai

__all__ = ["fake_openai"]
