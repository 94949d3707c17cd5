"""The wire format of OpenAI-compatible chat completions: pure helpers, no I/O.

Kept apart from :mod:`tmem.llm.openai` so the client holds policy (retries, fallbacks,
concurrency) and this module holds what the bytes look like.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

from tmem.config import JsonMode
from tmem.llm.base import LLMRequest
from tmem.models import Usage

# Adaptations for servers (OpenAI's reasoning models) that refuse standard parameters.
RENAME_MAX_TOKENS = "max_completion_tokens"
DROP_TEMPERATURE = "default_temperature"


def parameter_quirk(status: int, text: str) -> str | None:
    """Which adaptation a 400 asks for: renaming ``max_tokens`` or dropping ``temperature``."""
    if status != 400:
        return None
    lowered = text.lower()
    if "max_completion_tokens" in lowered and "max_tokens" in lowered.replace(
        "max_completion_tokens", ""
    ):
        return RENAME_MAX_TOKENS
    if "temperature" in lowered and ("unsupported" in lowered or "does not support" in lowered):
        return DROP_TEMPERATURE
    return None


def usage_from(body: Any) -> Usage:
    """One call and the tokens the server reported (zero when it reported none)."""
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return Usage(1)
    try:
        return Usage(
            1, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        )
    except (TypeError, ValueError):
        return Usage(1)


def response_format(request: LLMRequest, mode: JsonMode) -> dict[str, Any] | None:
    if request.json_schema is None or mode == "none":
        return None
    if mode == "json_object":
        return {"type": "json_object"}
    name = schema_name(request)
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": request.json_schema, "strict": False},
    }


def schema_name(request: LLMRequest) -> str:
    # OpenAI allows [a-zA-Z0-9_-]{1,64} here.
    title = (request.json_schema or {}).get("title")
    raw = title if isinstance(title, str) and title else request.prompt_id
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)[:64]
    return name or "output"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    # The library's only clock read outside tmem.clock: an HTTP date needs "now" to mean anything.
    return max(0.0, when.timestamp() - time.time())
