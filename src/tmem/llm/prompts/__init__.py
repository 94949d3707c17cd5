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

    def schema(self) -> dict[str, Any]:
        """The JSON schema sent with each request (see :func:`decoding_schema`)."""
        return decoding_schema(self.output.model_json_schema())


def decoding_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with every object property required, in declaration order.

    Grammar-constrained decoders (llama.cpp) emit required properties first and may stop after
    them: with only ``scene`` required, a 1.5B model wrote the scene and closed the object, so
    no item was ever extracted. Requiring every property makes the model write each field in
    the order the prompt explains them. Validation still uses the pydantic model, whose
    defaults keep accepting replies from backends that omit a field.
    """
    out = dict(schema)
    properties = out.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {name: decoding_schema(sub) for name, sub in properties.items()}
        out["required"] = list(properties)
    for key in ("$defs", "definitions"):
        if isinstance(out.get(key), dict):
            out[key] = {name: decoding_schema(sub) for name, sub in out[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = decoding_schema(out[key])
    for key in ("anyOf", "allOf", "oneOf", "prefixItems"):
        if isinstance(out.get(key), list):
            out[key] = [decoding_schema(sub) for sub in out[key]]
    return out


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
