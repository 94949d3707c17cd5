"""Versioned prompts. Each prompt module defines one :class:`PromptSpec`.

A spec pairs a render function (inputs + the current time -> chat messages) with a pydantic
response model that every reply is validated against. Changing a prompt's wording or schema
means bumping its ``version``; stored objects record ``id@version``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from tmem.llm.base import ChatMessage

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class PromptSpec(Generic[T]):
    id: str
    version: str
    output: type[T]
    render: Callable[[Any, datetime], list[ChatMessage]]
    max_tokens: int = 2048
    """The reply budget; long structured replies (segmentation, extraction) need more."""

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


# Modules in this package that define a module-level ``SPEC``.
PROMPT_MODULES: tuple[str, ...] = ("segment", "extract", "answer")


def all_specs() -> list[PromptSpec[Any]]:
    specs = []
    for name in PROMPT_MODULES:
        module = importlib.import_module(f"tmem.llm.prompts.{name}")
        specs.append(module.SPEC)
    return specs


def prompt_versions() -> dict[str, str]:
    """``{prompt id: version}`` for every prompt tmem uses (part of the config fingerprint)."""
    return {spec.id: spec.version for spec in all_specs()}
