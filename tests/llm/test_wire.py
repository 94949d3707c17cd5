"""Pure wire-format helpers of the OpenAI-compatible client."""

from __future__ import annotations

from tmem.llm.base import ChatMessage, LLMRequest
from tmem.llm.wire import (
    parameter_quirk,
    response_format,
    retry_after_seconds,
    usage_from,
)
from tmem.models import Usage

REQUEST = LLMRequest(
    (ChatMessage("user", "hi"),), prompt_id="scene@2", json_schema={"type": "object"}
)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    future = retry_after_seconds("Fri, 01 Jan 2999 00:00:00 GMT")
    assert future is not None and future > 0


def test_other_400s_are_not_parameter_quirks() -> None:
    assert parameter_quirk(400, "context length exceeded") is None
    assert parameter_quirk(500, "Use 'max_completion_tokens' not 'max_tokens'") is None


def test_response_format_per_mode() -> None:
    assert response_format(REQUEST, "json_object") == {"type": "json_object"}
    assert response_format(REQUEST, "none") is None
    assert response_format(LLMRequest(()), "json_schema") is None
    schema_format = response_format(REQUEST, "json_schema")
    assert schema_format is not None
    assert schema_format["json_schema"]["name"] == "scene_2"
    assert schema_format["json_schema"]["strict"] is False


def test_usage_from_tolerates_missing_or_odd_usage() -> None:
    """Hand-authored response bodies."""
    assert usage_from({"usage": {"prompt_tokens": 5, "completion_tokens": 2}}) == Usage(1, 5, 2)
    assert usage_from({"usage": None}) == Usage(1)
    assert usage_from({"usage": {"prompt_tokens": "many"}}) == Usage(1)
    assert usage_from([]) == Usage(1)
