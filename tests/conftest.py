"""Suite-wide fixtures: no test sees the caller's TMEM_* settings or API keys."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("TMEM_") or name.endswith("_API_KEY"):
            monkeypatch.delenv(name, raising=False)
