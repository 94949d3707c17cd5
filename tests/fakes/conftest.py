"""Fixtures for testing the fakes themselves."""

from tests.fakes.fixtures import fake_openai

__all__ = ["fake_openai"]
